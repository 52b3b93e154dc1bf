//! The real `openssl` command for odd TLS peers: SHA-1 signed certificates made with `openssl req`, and `openssl s_server` restricted to old protocol versions or ciphers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tentacle_core::certificate::TentacleCertificate;

/// A certificate made by `openssl req -x509 -sha1`, with its files.
pub struct Sha1Certificate {
    /// The certificate and key, loaded.
    pub cert: TentacleCertificate,
    /// `cert.pem`.
    pub cert_file: PathBuf,
    /// `key.pem` (PKCS#8, unencrypted).
    pub key_file: PathBuf,
}

/// Makes an RSA-2048 self-signed certificate signed with SHA-1 (`sha1WithRSAEncryption`) in `dir`.
pub fn sha1_certificate(dir: &Path) -> Sha1Certificate {
    let cert_file = dir.join("sha1-cert.pem");
    let key_file = dir.join("sha1-key.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=Octopus Deploy SHA1 test"])
        .arg("-keyout")
        .arg(&key_file)
        .arg("-out")
        .arg(&cert_file)
        .output()
        .expect("openssl is not installed; run `cargo xtask test`, which installs it");
    assert!(out.status.success(), "openssl req failed: {out:?}");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert_file)
        .output()
        .expect("openssl x509");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("sha1WithRSAEncryption"),
        "openssl did not make a SHA-1 signed certificate"
    );
    let mut pem = std::fs::read(&cert_file).expect("read cert");
    pem.extend(std::fs::read(&key_file).expect("read key"));
    let cert = TentacleCertificate::from_pem(&pem).expect("load the openssl certificate");
    Sha1Certificate {
        cert,
        cert_file,
        key_file,
    }
}

/// A running `openssl s_server`, killed on drop.
pub struct SServer {
    child: Child,
    /// Its loopback port.
    pub port: u16,
}

impl SServer {
    /// Starts `openssl s_server` on a free loopback port with `cert`/`key` and `extra` options
    /// (e.g. `-tls1_1`), answering HTTP requests with its status page (`-www`).
    pub fn start(cert: &Path, key: &Path, extra: &[&str]) -> SServer {
        let port = crate::free_port();
        let child = Command::new("openssl")
            .arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(["-www", "-quiet"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let mut server = SServer { child, port };
        for _ in 0..100 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("openssl s_server exited at once with {status}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("openssl s_server did not listen on {port}");
    }
}

impl SServer {
    /// The process id of `openssl s_server`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
