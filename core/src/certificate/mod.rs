//! This Tentacle's own certificate: generate, import (PFX, PEM), export (PFX, PEM), thumbprint, and the owner-only key file.

mod generate;
mod pem;
mod pfx;
mod store;

use zeroize::Zeroizing;

use crate::trust::Thumbprint;

pub use generate::{CERTIFICATE_SUBJECT, generate};
pub use store::{load_from_file, save_to_dir};

/// Why a certificate could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Key generation or signing failed in the crypto library.
    #[error("Could not generate the certificate: {0}")]
    Generate(String),
    /// The PFX would not open.
    #[error(
        "Could not open the PFX file: {0}. Check the password (--pfx-password) and that the file is a PKCS#12 (.pfx/.p12) export with its private key"
    )]
    Pfx(String),
    /// No private key in the PFX or PEM.
    #[error(
        "The file holds no private key. Export the certificate together with its private key (PFX: \"Yes, export the private key\"; PEM: include the PRIVATE KEY block)"
    )]
    NoPrivateKey,
    /// No certificate in the PFX or PEM.
    #[error("The file holds no certificate. Export the certificate together with its private key")]
    NoCertificate,
    /// Neither PFX nor PEM nor base64 PFX.
    #[error(
        "The file is neither a PFX (PKCS#12), a base64-encoded PFX, nor PEM with a CERTIFICATE and a PRIVATE KEY block"
    )]
    UnknownFormat,
    /// The key does not belong to the certificate.
    #[error(
        "The private key does not belong to the certificate (their public keys differ). Export both from the same certificate"
    )]
    KeyMismatch,
    /// Key we cannot use for TLS.
    #[error("{0}")]
    UnusableKey(String),
    /// The DER does not parse as X.509.
    #[error("The certificate is not valid X.509: {0}")]
    BadCertificate(String),
    /// Exporting a PFX without a password would leave the private key unprotected.
    #[error(
        "A password is required to export a PFX: it protects the private key. Pass --pfx-password"
    )]
    PasswordRequired,
    /// A file could not be read or written.
    #[error("Could not {action}: {source}: {}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A certificate with its private key. The key bytes are wiped from memory on drop.
#[derive(Clone)]
pub struct TentacleCertificate {
    cert_der: Vec<u8>,
    key_pkcs8_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TentacleCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TentacleCertificate")
            .field("thumbprint", &self.thumbprint().as_str())
            .finish_non_exhaustive()
    }
}

impl TentacleCertificate {
    /// Pairs a DER certificate with its PKCS#8 key after checking they belong together
    /// and that the key can sign TLS handshakes.
    pub fn from_parts(
        cert_der: Vec<u8>,
        key_pkcs8_der: Vec<u8>,
    ) -> Result<TentacleCertificate, CertificateError> {
        let key_pkcs8_der = Zeroizing::new(key_pkcs8_der);
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| CertificateError::BadCertificate(e.to_string()))?;
        let spki = cert.public_key();
        if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() {
            let bits = rsa.key_size();
            if bits < 2048 {
                return Err(CertificateError::UnusableKey(format!(
                    "The certificate's RSA key has {bits} bits; Tentacle needs at least 2048 (TLS peers refuse smaller keys). Create a new one with: tentacle new-certificate"
                )));
            }
        }
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(key_pkcs8_der.as_slice());
        let key_pair = rcgen::KeyPair::try_from(&pkcs8).map_err(|e| {
            CertificateError::UnusableKey(format!(
                "The private key cannot be used for TLS ({e}); use an RSA key of 2048 to 4096 bits or an ECDSA P-256/P-384 key"
            ))
        })?;
        if key_pair.public_key_raw() != spki.subject_public_key.data.as_ref() {
            return Err(CertificateError::KeyMismatch);
        }
        Ok(TentacleCertificate {
            cert_der,
            key_pkcs8_der,
        })
    }

    /// The DER-encoded certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The PKCS#8 DER private key.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_pkcs8_der
    }

    /// Uppercase hex SHA-1 of the DER certificate, as .NET and Octopus show it.
    pub fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_der(&self.cert_der)
    }

    /// The subject, such as `CN=Octopus Tentacle`.
    pub fn subject(&self) -> String {
        x509_parser::parse_x509_certificate(&self.cert_der)
            .map(|(_, c)| c.subject().to_string())
            .unwrap_or_default()
    }

    /// The certificate alone as PEM (safe to share).
    pub fn cert_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.cert_der)
    }

    /// Certificate and private key as PEM (keep private).
    pub fn to_pem(&self) -> Zeroizing<String> {
        let mut out = self.cert_pem();
        out.push_str(&pem::encode("PRIVATE KEY", &self.key_pkcs8_der));
        Zeroizing::new(out)
    }

    /// Reads PEM text with a certificate and a private key (PKCS#8 or PKCS#1 RSA).
    pub fn from_pem(text: &[u8]) -> Result<TentacleCertificate, CertificateError> {
        pem::decode(text)
    }

    /// Opens a PFX (PKCS#12), legacy 3DES or modern AES, with the given password ("" for none).
    pub fn from_pfx(data: &[u8], password: &str) -> Result<TentacleCertificate, CertificateError> {
        pfx::decode(data, password)
    }

    /// A password-protected PFX (AES-256, PBES2) that Windows and OpenSSL 3 import.
    pub fn to_pfx(&self, password: &str) -> Result<Vec<u8>, CertificateError> {
        pfx::encode(self, password)
    }

    /// Reads any format we accept: PFX, base64 text of a PFX, or PEM.
    pub fn from_any(data: &[u8], password: &str) -> Result<TentacleCertificate, CertificateError> {
        let text = std::str::from_utf8(data).ok().map(str::trim);
        if text.is_some_and(|t| t.starts_with("-----BEGIN")) {
            return Self::from_pem(data);
        }
        if data.first() == Some(&0x30) {
            return Self::from_pfx(data, password);
        }
        if let Some(t) = text {
            use base64::Engine;
            let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(compact)
                && raw.first() == Some(&0x30)
            {
                return Self::from_pfx(&raw, password);
            }
        }
        Err(CertificateError::UnknownFormat)
    }
}
