//! PEM text for certificates and keys: encode, and decode a certificate with its PKCS#8 or PKCS#1 key.

use base64::Engine;
use rustls_pki_types::pem::{PemObject, SectionKind};

use super::{CertificateError, TentacleCertificate};

/// Wraps DER in a PEM block with 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first certificate and the first private key in PEM text.
pub fn decode(text: &[u8]) -> Result<TentacleCertificate, CertificateError> {
    let mut cert = None;
    let mut key = None;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(text) {
        let (kind, der) = item.map_err(|_| CertificateError::UnknownFormat)?;
        match kind {
            SectionKind::Certificate if cert.is_none() => cert = Some(der),
            SectionKind::PrivateKey if key.is_none() => key = Some(der),
            SectionKind::RsaPrivateKey if key.is_none() => key = Some(pkcs1_to_pkcs8(&der)?),
            SectionKind::EcPrivateKey if key.is_none() => {
                return Err(CertificateError::UnusableKey(
                    "The key is a SEC1 \"EC PRIVATE KEY\"; convert it to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt -in key.pem".to_owned(),
                ));
            }
            _ => {}
        }
    }
    match (cert, key) {
        (Some(c), Some(k)) => TentacleCertificate::from_parts(c, k),
        (None, _) => Err(CertificateError::NoCertificate),
        (Some(_), None) => Err(CertificateError::NoPrivateKey),
    }
}

fn pkcs1_to_pkcs8(der: &[u8]) -> Result<Vec<u8>, CertificateError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(|e| {
        CertificateError::UnusableKey(format!("The RSA PRIVATE KEY block does not parse: {e}"))
    })?;
    let doc = key.to_pkcs8_der().map_err(|e| {
        CertificateError::UnusableKey(format!("The RSA key cannot be converted to PKCS#8: {e}"))
    })?;
    Ok(doc.as_bytes().to_vec())
}
