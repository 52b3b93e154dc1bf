//! Sensitive script files, written AES-encrypted as Tentacle writes them for Calamari: `IV__`, the IV, then AES-128-CBC with a PBKDF2-SHA1 key (contract O10).

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};

/// Sensitive-variable files are small; refuse to pull a huge one into memory to encrypt it.
pub const MAX_ENCRYPTED_FILE: u64 = 64 * 1024 * 1024;

const SALT: &[u8] = b"Octopuss";
const ITERATIONS: u32 = 1000;
const PREFIX: &[u8] = b"IV__";

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

fn key(password: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), SALT, ITERATIONS, &mut key);
    key
}

/// The stream read as text and re-encoded as UTF-8 without a BOM, as .NET does before encrypting.
pub fn as_utf8_text(bytes: &[u8]) -> Vec<u8> {
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8_lossy(body).into_owned().into_bytes()
}

/// `IV__` + a random IV + AES-128-CBC/PKCS7 of `plaintext` under `password`.
pub fn encrypt(password: &str, plaintext: &[u8]) -> Vec<u8> {
    let iv: [u8; 16] = rand::random();
    let cipher = Enc::new(&key(password).into(), &iv.into());
    let sealed = cipher.encrypt_padded_vec::<Pkcs7>(plaintext);
    let mut out = Vec::with_capacity(PREFIX.len() + 16 + sealed.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    out
}

/// The reverse of [`encrypt`]; `None` for a file that is not in this format or a wrong password.
pub fn decrypt(password: &str, file: &[u8]) -> Option<Vec<u8>> {
    let rest = file.strip_prefix(PREFIX)?;
    if rest.len() < 16 {
        return None;
    }
    let (iv, body) = rest.split_at(16);
    let iv: [u8; 16] = iv.try_into().ok()?;
    Dec::new(&key(password).into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(body)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_openssl() {
        let sealed = encrypt("s3cret", b"OctopusPrintVariables=true");
        assert!(sealed.starts_with(b"IV__"));
        assert_eq!(
            decrypt("s3cret", &sealed).unwrap(),
            b"OctopusPrintVariables=true"
        );
        assert!(decrypt("wrong", &sealed).is_none_or(|p| p != b"OctopusPrintVariables=true"));
        // The same bytes through OpenSSL: PBKDF2-SHA1 ("Octopuss", 1000) key, AES-128-CBC.
        let k = hex::encode(key("s3cret"));
        let iv = hex::encode(&sealed[4..20]);
        let dir = tempfile::tempdir().unwrap();
        let body = dir.path().join("body.bin");
        crate::instance::atomic::write_atomic(
            &body,
            &sealed[20..],
            crate::instance::atomic::FileMode::Public,
        )
        .unwrap();
        let out = std::process::Command::new("openssl")
            .args(["enc", "-d", "-aes-128-cbc", "-K", &k, "-iv", &iv, "-in"])
            .arg(&body)
            .output();
        if let Ok(out) = out {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, b"OctopusPrintVariables=true");
        }
        // And OpenSSL derives the same key.
        let derived = std::process::Command::new("openssl")
            .args([
                "kdf",
                "-keylen",
                "16",
                "-kdfopt",
                "digest:SHA1",
                "-kdfopt",
                "pass:s3cret",
                "-kdfopt",
                "salt:Octopuss",
                "-kdfopt",
                "iter:1000",
                "PBKDF2",
            ])
            .output();
        if let Ok(d) = derived
            && d.status.success()
        {
            assert_eq!(
                String::from_utf8_lossy(&d.stdout)
                    .trim()
                    .replace(':', "")
                    .to_lowercase(),
                k
            );
        }
    }

    #[test]
    fn bom_is_dropped_and_text_is_utf8() {
        assert_eq!(as_utf8_text(&[0xEF, 0xBB, 0xBF, b'a']), b"a");
        assert_eq!(as_utf8_text("é".as_bytes()), "é".as_bytes());
    }
}
