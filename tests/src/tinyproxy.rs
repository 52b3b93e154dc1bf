//! A real tinyproxy on loopback with a private config, for tests that poll through an HTTP proxy.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running tinyproxy, killed and reaped on drop.
pub struct Tinyproxy {
    child: Child,
    /// Where it listens (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Starts tinyproxy allowing CONNECT only to `allowed_port`.
    pub fn start(allowed_port: u16) -> Tinyproxy {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect(
                "tinyproxy is not installed; run `cargo xtask test`, which installs tinyproxy-bin",
            );
        let port = crate::free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("tinyproxy.conf");
        let text = format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort {allowed_port}\nTimeout 600\nLogLevel Info\nLogFile \"{}\"\nMaxClients 50\n",
            dir.path().join("tinyproxy.log").display()
        );
        #[allow(clippy::disallowed_methods)] // a throwaway test config
        std::fs::write(&conf, text).expect("write tinyproxy.conf");
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy");
        let proxy = Tinyproxy { child, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tinyproxy did not start listening on {port}");
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
