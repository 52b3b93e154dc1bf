//! Official-Tentacle fixtures built from scratch with the openssl CLI (never our crypto): a PFX, its machine-key encryption, the XML config, the JSON instance record, a systemd unit and a recording `systemctl`.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tentacle_tests::{Run, Sandbox};

/// The machine id the fixtures use (32 hex characters, as in `/etc/machine-id`).
pub const MACHINE_ID: &str = "4f1c8e2a9b7d46e3a05c1d2e3f4a5b6c";
/// Tentacle's fixed IV for the machine-id key, as ASCII.
pub const MACHINE_ID_IV: &str = "743677397A244326";

/// Which key the fixture's secrets are encrypted with, and which key files exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `/etc/machine-id` exists; secrets use its key.
    MachineId,
    /// No usable machine id; `/etc/octopus/machinekey` holds a generated key.
    MachineKeyFile,
    /// The machine id exists, but secrets were encrypted with some other machine's key.
    Foreign,
}

/// A PFX made by openssl, with what identifies it.
pub struct Pfx {
    /// The PFX (no password).
    pub file: PathBuf,
    /// SHA-1 thumbprint, uppercase, from `openssl x509 -fingerprint`.
    pub thumbprint: String,
    /// `openssl rsa -modulus` of the key.
    pub modulus: String,
}

/// One sandbox holding an official Tentacle install and our config root.
pub struct Official {
    /// Our config root and the temp folder.
    pub s: Sandbox,
    /// `TentacleMachineConfigurationHomeDirectory`.
    pub machine_home: PathBuf,
    /// Stands in for `/etc/machine-id`.
    pub machine_id: PathBuf,
    /// Stands in for `/etc/octopus/machinekey`.
    pub machine_key: PathBuf,
    /// Stands in for `/etc/systemd/system`.
    pub units: PathBuf,
    /// The recording systemctl's folder.
    pub fake_bin: PathBuf,
    /// What systemctl was asked.
    pub log: PathBuf,
    /// AES key and IV (hex) the fixture's secrets are encrypted with.
    pub key_hex: String,
    /// See `key_hex`.
    pub iv_hex: String,
}

pub fn openssl<I, S>(args: I, stdin: Option<&[u8]>) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is not installed; run `cargo xtask test`, which installs it");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap().trim().to_owned()
}

/// Hex of the ASCII bytes of `s`.
pub fn ascii_hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// A new RSA-2048 certificate and key as a PFX with no password, all by openssl.
pub fn make_pfx(dir: &Path, name: &str) -> Pfx {
    let key = dir.join(format!("{name}-key.pem"));
    let cert = dir.join(format!("{name}-cert.pem"));
    let file = dir.join(format!("{name}.pfx"));
    openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Octopus Tentacle",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            "-keyout".into(),
            key.display().to_string(),
            "-out".into(),
            cert.display().to_string(),
        ]),
        None,
    );
    openssl(
        ["pkcs12", "-export", "-passout", "pass:", "-in"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                cert.display().to_string(),
                "-inkey".into(),
                key.display().to_string(),
                "-out".into(),
                file.display().to_string(),
            ]),
        None,
    );
    pfx_identity(&std::fs::read(&file).unwrap(), file)
}

/// Thumbprint and modulus of a password-less PFX, read by openssl.
pub fn pfx_identity(pfx: &[u8], file: PathBuf) -> Pfx {
    let pem = openssl(["pkcs12", "-passin", "pass:", "-nodes"], Some(pfx));
    let fp = text(openssl(
        ["x509", "-noout", "-fingerprint", "-sha1"],
        Some(&pem),
    ));
    let thumbprint = fp
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_uppercase();
    let modulus = text(openssl(["rsa", "-noout", "-modulus"], Some(&pem)));
    Pfx {
        file,
        thumbprint,
        modulus,
    }
}

impl Official {
    pub fn new(source: KeySource) -> Official {
        let s = Sandbox::new();
        let root = s.root().to_path_buf();
        let fake_bin = root.join("bin");
        std::fs::create_dir_all(&fake_bin).unwrap();
        let log = root.join("systemctl.log");
        // An official service that is enabled and running: is-enabled and is-active succeed.
        let script = fake_bin.join("systemctl");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit 0\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let machine_id = root.join("machine-id");
        let machine_key = root.join("machinekey");
        let (key_hex, iv_hex) = match source {
            KeySource::MachineId => {
                std::fs::write(&machine_id, format!("{MACHINE_ID}\n")).unwrap();
                (ascii_hex(MACHINE_ID), ascii_hex(MACHINE_ID_IV))
            }
            KeySource::MachineKeyFile => {
                // A container without a machine id: Tentacle falls back to its generated key.
                let key = text(openssl(["rand", "-hex", "32"], None));
                let iv = text(openssl(["rand", "-hex", "16"], None));
                let b64 = |hex: &str| {
                    let bytes: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect();
                    text(openssl(["base64", "-A"], Some(&bytes)))
                };
                std::fs::write(&machine_key, format!("{}.{}", b64(&key), b64(&iv))).unwrap();
                (key, iv)
            }
            KeySource::Foreign => {
                std::fs::write(&machine_id, format!("{MACHINE_ID}\n")).unwrap();
                (
                    ascii_hex("99999999999999999999999999999999"),
                    ascii_hex(MACHINE_ID_IV),
                )
            }
        };
        Official {
            machine_home: root.join("etc-octopus"),
            units: root.join("units"),
            machine_id,
            machine_key,
            fake_bin,
            log,
            key_hex,
            iv_hex,
            s,
        }
    }

    /// Machine-key protects `plain` as Tentacle does: AES-CBC of the UTF-8 text, then base64.
    pub fn protect(&self, plain: &str) -> String {
        let sealed = openssl(
            [
                "enc",
                "-aes-256-cbc",
                "-K",
                &self.key_hex,
                "-iv",
                &self.iv_hex,
            ],
            Some(plain.as_bytes()),
        );
        text(openssl(["base64", "-A"], Some(&sealed)))
    }

    /// Reverses [`Official::protect`] with `openssl enc -d`.
    pub fn unprotect(&self, protected: &str) -> Vec<u8> {
        let sealed = openssl(["base64", "-d", "-A"], Some(protected.as_bytes()));
        openssl(
            [
                "enc",
                "-d",
                "-aes-256-cbc",
                "-K",
                &self.key_hex,
                "-iv",
                &self.iv_hex,
            ],
            Some(&sealed),
        )
    }

    /// The official home folder of `name`.
    pub fn home(&self, name: &str) -> PathBuf {
        self.s.root().join("official-home").join(name)
    }

    /// The official config path of `name`.
    pub fn config(&self, name: &str) -> PathBuf {
        self.machine_home
            .join(name)
            .join(format!("tentacle-{name}.config"))
    }

    /// Writes an official instance: its Tentacle.config (with `pfx` machine-key protected and the
    /// given extra settings), its JSON index record and its systemd unit.
    pub fn install(&self, name: &str, pfx: &Pfx, settings: &[(&str, String)]) -> PathBuf {
        let pfx_b64 = text(openssl(
            ["base64", "-A"],
            Some(&std::fs::read(&pfx.file).unwrap()),
        ));
        let mut all: Vec<(String, String)> = vec![
            ("Octopus.Home".into(), self.home(name).display().to_string()),
            ("Tentacle.Certificate".into(), self.protect(&pfx_b64)),
            (
                "Tentacle.CertificateThumbprint".into(),
                pfx.thumbprint.clone(),
            ),
        ];
        all.extend(settings.iter().map(|(k, v)| (k.to_string(), v.clone())));
        all.sort();
        let mut xml = String::from(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<octopus-settings xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        );
        for (k, v) in all {
            let v = v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            xml.push_str(&format!("  <set key=\"{k}\">{v}</set>\n"));
        }
        xml.push_str("</octopus-settings>");
        let config = self.config(name);
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::create_dir_all(self.home(name).join("Applications")).unwrap();
        std::fs::write(&config, xml).unwrap();
        let index = self.machine_home.join("Tentacle").join("Instances");
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(
            index.join(format!("{}.config", name.replace(' ', "-").to_lowercase())),
            format!(
                "{{\n  \"Name\": \"{name}\",\n  \"ConfigurationFilePath\": \"{}\"\n}}",
                config.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(&self.units).unwrap();
        std::fs::write(
            self.units.join(format!("{}.service", name.replace(' ', "-"))),
            format!("[Unit]\nDescription=Octopus Deploy: Tentacle deployment agent\nAfter=network.target\n\n[Service]\nType=simple\nUser=root\nExecStart=/opt/octopus/tentacle/Tentacle run --instance={name} --noninteractive\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"),
        )
        .unwrap();
        config
    }

    /// A `tentacle` command with the fixture's machine files, index, units and systemctl.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut path = std::ffi::OsString::from(&self.fake_bin);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut cmd = self.s.command(args);
        cmd.env(
            "TentacleMachineConfigurationHomeDirectory",
            &self.machine_home,
        )
        .env("TENTACLE_OFFICIAL_MACHINE_ID", &self.machine_id)
        .env("TENTACLE_OFFICIAL_MACHINEKEY", &self.machine_key)
        .env("TENTACLE_SYSTEMD_UNIT_DIR", &self.units)
        .env("PATH", path);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let o = self.command(args).output().expect("start tentacle");
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// The systemctl calls since the last look.
    pub fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        text.lines().map(str::to_owned).collect()
    }

    /// A setting's value in an official config file (the fixture's own simple reading).
    pub fn setting(config: &Path, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(config).unwrap();
        let open = format!("<set key=\"{key}\">");
        let at = text.find(&open)? + open.len();
        let end = text[at..].find("</set>")?;
        Some(
            text[at..at + end]
                .replace("&quot;", "\"")
                .replace("&amp;", "&"),
        )
    }
}
