//! Tentacle's machine-key protection: AES-CBC/PKCS7 keyed by `/etc/machine-id` or `/etc/octopus/machinekey` on Linux, DPAPI (LocalMachine, no entropy) on Windows.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::OfficialError;

/// Moves `/etc/machine-id` (tests; the real file is what Tentacle uses).
pub const MACHINE_ID_ENV: &str = "TENTACLE_OFFICIAL_MACHINE_ID";
/// Moves `/etc/octopus/machinekey` (tests; the real file is what Tentacle uses).
pub const MACHINE_KEY_ENV: &str = "TENTACLE_OFFICIAL_MACHINEKEY";
/// Tentacle's fixed IV for the machine-id key: the ASCII bytes of this text.
const MACHINE_ID_IV: &[u8; 16] = b"743677397A244326";

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySourceKind {
    /// `/etc/machine-id`: its 32 ASCII characters are the AES-256 key.
    MachineId,
    /// `/etc/octopus/machinekey`: `base64(key).base64(iv)`.
    MachineKeyFile,
    /// Windows DPAPI, LocalMachine scope.
    Dpapi,
}

/// One usable key source.
pub struct MachineKey {
    kind: KeySourceKind,
    origin: PathBuf,
    key: Zeroizing<Vec<u8>>,
    iv: [u8; 16],
}

impl std::fmt::Debug for MachineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key bytes.
        f.debug_struct("MachineKey")
            .field("kind", &self.kind)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn machine_id_path() -> PathBuf {
    std::env::var_os(MACHINE_ID_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/machine-id"))
}

fn machine_key_path() -> PathBuf {
    std::env::var_os(MACHINE_KEY_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/octopus/machinekey"))
}

impl MachineKey {
    /// Every key source in Tentacle's order; an `Err` says why that source cannot be used.
    pub fn candidates() -> Vec<Result<MachineKey, String>> {
        if cfg!(windows) {
            return vec![Ok(MachineKey {
                kind: KeySourceKind::Dpapi,
                origin: PathBuf::from("DPAPI (LocalMachine)"),
                key: Zeroizing::new(Vec::new()),
                iv: [0; 16],
            })];
        }
        vec![load_machine_id(), load_machine_key()]
    }

    /// The key Tentacle would encrypt with: the first source that loads. On Linux, when neither
    /// exists, a new `machinekey` file is generated (owner-only), as Tentacle does.
    pub fn for_encryption() -> Result<MachineKey, OfficialError> {
        let mut reasons = Vec::new();
        for candidate in MachineKey::candidates() {
            match candidate {
                Ok(k) => return Ok(k),
                Err(why) => reasons.push(why),
            }
        }
        let path = machine_key_path();
        if path.exists() {
            return Err(OfficialError::NoMachineKey(reasons.join("; ")));
        }
        let key: [u8; 32] = rand::random();
        let iv: [u8; 16] = rand::random();
        let text = Zeroizing::new(format!("{}.{}", STANDARD.encode(key), STANDARD.encode(iv)));
        crate::instance::atomic::write_atomic(
            &path,
            text.as_bytes(),
            crate::instance::atomic::FileMode::OwnerOnly,
        )
        .map_err(|e| OfficialError::io("create the machine key file", &path, e))?;
        load_machine_key().map_err(OfficialError::NoMachineKey)
    }

    /// Which source this is.
    pub fn kind(&self) -> KeySourceKind {
        self.kind
    }

    /// The file (or DPAPI) it came from, for messages.
    pub fn describe(&self) -> String {
        self.origin.display().to_string()
    }

    /// Decrypts a protected value (base64 text) to its UTF-8 text.
    pub fn decrypt(&self, protected: &str) -> Result<Zeroizing<String>, String> {
        let compact: String = protected.chars().filter(|c| !c.is_whitespace()).collect();
        let data = STANDARD
            .decode(compact)
            .map_err(|e| format!("the value is not base64 ({e})"))?;
        let plain = Zeroizing::new(match self.kind {
            KeySourceKind::Dpapi => dpapi::unprotect(&data)?,
            _ => aes_cbc(&self.key, &self.iv, &data, false)?,
        });
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| "the decrypted value is not text (wrong key)".to_owned())
    }

    /// Encrypts UTF-8 text to a protected value (base64 text).
    pub fn encrypt(&self, plain: &str) -> Result<String, String> {
        let sealed = match self.kind {
            KeySourceKind::Dpapi => dpapi::protect(plain.as_bytes())?,
            _ => aes_cbc(&self.key, &self.iv, plain.as_bytes(), true)?,
        };
        Ok(STANDARD.encode(sealed))
    }
}

fn load_machine_id() -> Result<MachineKey, String> {
    let path = machine_id_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{} could not be read ({e})", path.display()))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.len() != 32 || !first.is_ascii() {
        return Err(format!(
            "{} does not hold a 32-character machine id",
            path.display()
        ));
    }
    Ok(MachineKey {
        kind: KeySourceKind::MachineId,
        origin: path,
        key: Zeroizing::new(first.as_bytes().to_vec()),
        iv: *MACHINE_ID_IV,
    })
}

fn load_machine_key() -> Result<MachineKey, String> {
    let path = machine_key_path();
    let text = Zeroizing::new(
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{} could not be read ({e})", path.display()))?,
    );
    let corrupt = || {
        format!(
            "{} is not base64(key).base64(iv) as Tentacle writes it",
            path.display()
        )
    };
    let mut parts = text.trim().split('.');
    let key = parts
        .next()
        .and_then(|k| STANDARD.decode(k.trim()).ok())
        .ok_or_else(corrupt)?;
    let iv: [u8; 16] = parts
        .next()
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| v.try_into().ok())
        .ok_or_else(corrupt)?;
    if ![16, 24, 32].contains(&key.len()) {
        return Err(corrupt());
    }
    Ok(MachineKey {
        kind: KeySourceKind::MachineKeyFile,
        origin: path,
        key: Zeroizing::new(key),
        iv,
    })
}

fn aes_cbc(key: &[u8], iv: &[u8; 16], data: &[u8], encrypt: bool) -> Result<Vec<u8>, String> {
    use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
    macro_rules! run {
        ($aes:ty) => {{
            if encrypt {
                let c = cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| "the key has the wrong length".to_owned())?;
                Ok(c.encrypt_padded_vec::<Pkcs7>(data))
            } else {
                let c = cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| "the key has the wrong length".to_owned())?;
                c.decrypt_padded_vec::<Pkcs7>(data)
                    .map_err(|_| "the padding is wrong (wrong key)".to_owned())
            }
        }};
    }
    match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        n => Err(format!("a {n}-byte key is not an AES key")),
    }
}

#[cfg(windows)]
mod dpapi {
    //! DPAPI through the `windows-dpapi` crate, which keeps the FFI (and its `unsafe`) out of this crate.
    use windows_dpapi::{Scope, decrypt_data, encrypt_data};

    pub fn unprotect(data: &[u8]) -> Result<Vec<u8>, String> {
        decrypt_data(data, Scope::Machine, None).map_err(|e| {
            format!("DPAPI could not decrypt it ({e:#}); it was protected on another machine")
        })
    }

    pub fn protect(data: &[u8]) -> Result<Vec<u8>, String> {
        encrypt_data(data, Scope::Machine, None).map_err(|e| format!("DPAPI failed ({e:#})"))
    }
}

#[cfg(not(windows))]
mod dpapi {
    //! DPAPI exists only on Windows.
    pub fn unprotect(_: &[u8]) -> Result<Vec<u8>, String> {
        Err("DPAPI is only available on Windows".to_owned())
    }

    pub fn protect(_: &[u8]) -> Result<Vec<u8>, String> {
        Err("DPAPI is only available on Windows".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: KeySourceKind, key: &[u8], iv: [u8; 16]) -> MachineKey {
        MachineKey {
            kind,
            origin: PathBuf::from("test"),
            key: Zeroizing::new(key.to_vec()),
            iv,
        }
    }

    #[test]
    fn round_trips_and_wrong_keys_fail() {
        let k = key(
            KeySourceKind::MachineId,
            b"0123456789abcdef0123456789abcdef",
            *MACHINE_ID_IV,
        );
        let sealed = k.encrypt("TUlJ secret text").unwrap();
        assert_eq!(k.decrypt(&sealed).unwrap().as_str(), "TUlJ secret text");
        let other = key(
            KeySourceKind::MachineKeyFile,
            b"fedcba9876543210fedcba9876543210",
            [7; 16],
        );
        assert!(!matches!(other.decrypt(&sealed), Ok(t) if t.as_str() == "TUlJ secret text"));
        assert!(k.decrypt("not base64!").is_err());
        assert!(!format!("{k:?}").contains("0123"), "keys never print");
    }
}
