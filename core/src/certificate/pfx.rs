//! PKCS#12 (PFX) files: open legacy 3DES and modern AES files, write AES-256 ones with a password.

use p12_keystore::{
    Certificate, KeyStore, KeyStoreEntry, Pkcs12ImportPolicy, PrivateKey, PrivateKeyChain,
};

use super::{CertificateError, TentacleCertificate};

/// Opens a PFX and returns the certificate that goes with its private key.
pub fn decode(data: &[u8], password: &str) -> Result<TentacleCertificate, CertificateError> {
    let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| CertificateError::Pfx(e.to_string()))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or(CertificateError::NoPrivateKey)?;
    let key = chain.key().as_der().to_vec();
    let certs = chain.certs();
    if certs.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    // The chain may carry issuers too; the end-entity is the one the key matches.
    let mut last_err = CertificateError::KeyMismatch;
    for cert in certs {
        match TentacleCertificate::from_parts(cert.as_der().to_vec(), key.clone()) {
            Ok(c) => return Ok(c),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// Writes a password-protected PFX.
pub fn encode(cert: &TentacleCertificate, password: &str) -> Result<Vec<u8>, CertificateError> {
    if password.is_empty() {
        return Err(CertificateError::PasswordRequired);
    }
    let key = PrivateKey::from_der(cert.key_pkcs8_der())
        .map_err(|e| CertificateError::Pfx(e.to_string()))?;
    let c =
        Certificate::from_der(cert.cert_der()).map_err(|e| CertificateError::Pfx(e.to_string()))?;
    let thumb = cert.thumbprint();
    let local_key_id = hex::decode(thumb.as_str()).unwrap_or_default();
    let chain = PrivateKeyChain::new(local_key_id, key, [c]);
    let mut store = KeyStore::new();
    store.add_entry("octopus tentacle", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .write()
        .map_err(|e| CertificateError::Pfx(e.to_string()))
}
