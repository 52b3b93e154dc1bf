//! Keeping the certificate on disk: one owner-only PEM file per certificate, named by thumbprint.

use std::fs;
use std::path::{Path, PathBuf};

use super::{CertificateError, TentacleCertificate};
use crate::instance::atomic::{FileMode, write_atomic};

/// Writes certificate and key to `<dir>/<THUMBPRINT>.pem`, readable by the owner only,
/// and returns the path. The name is new for each certificate, so the file the config
/// points at is never overwritten: a crash leaves the old certificate in use.
pub fn save_to_dir(cert: &TentacleCertificate, dir: &Path) -> Result<PathBuf, CertificateError> {
    let path = dir.join(format!("{}.pem", cert.thumbprint()));
    write_atomic(&path, cert.to_pem().as_bytes(), FileMode::OwnerOnly).map_err(|source| {
        CertificateError::Io {
            action: "write the certificate and private key",
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Reads a certificate file written by [`save_to_dir`].
pub fn load_from_file(path: &Path) -> Result<TentacleCertificate, CertificateError> {
    let bytes = fs::read(path).map_err(|source| CertificateError::Io {
        action: "read the certificate file",
        path: path.to_path_buf(),
        source,
    })?;
    TentacleCertificate::from_pem(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_and_pfx_round_trip() {
        let cert = crate::certificate::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = save_to_dir(&cert, dir.path()).unwrap();
        assert!(path.ends_with(format!("{}.pem", cert.thumbprint())));
        let back = load_from_file(&path).unwrap();
        assert_eq!(back.thumbprint(), cert.thumbprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let pfx = cert.to_pfx("s3cret").unwrap();
        assert_eq!(
            TentacleCertificate::from_pfx(&pfx, "s3cret")
                .unwrap()
                .thumbprint(),
            cert.thumbprint()
        );
        assert!(TentacleCertificate::from_pfx(&pfx, "wrong").is_err());
        assert!(matches!(
            cert.to_pfx(""),
            Err(CertificateError::PasswordRequired)
        ));
    }

    #[test]
    fn key_from_another_certificate_is_refused() {
        let a = crate::certificate::generate().unwrap();
        let b = crate::certificate::generate().unwrap();
        let err =
            TentacleCertificate::from_parts(a.cert_der().to_vec(), b.key_pkcs8_der().to_vec())
                .unwrap_err();
        assert!(matches!(err, CertificateError::KeyMismatch), "{err}");
    }

    #[test]
    fn garbage_is_unknown_format() {
        let err = TentacleCertificate::from_any(b"hello world", "").unwrap_err();
        assert!(matches!(err, CertificateError::UnknownFormat), "{err}");
    }
}
