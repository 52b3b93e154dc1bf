//! A real nginx with the stream module on loopback, passing TLS through to another port as a 443-style polling front end does (seed 003).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running private nginx, stopped and reaped on drop.
pub struct Nginx {
    child: Option<Child>,
    /// Where it listens (127.0.0.1).
    pub port: u16,
    upstream: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx forwarding 127.0.0.1:`port` (0 = any free port) to 127.0.0.1:`upstream` at the TCP level.
    pub fn start(port: u16, upstream: u16) -> Nginx {
        assert!(
            std::path::Path::new("/usr/sbin/nginx").exists()
                && std::path::Path::new("/usr/lib/nginx/modules/ngx_stream_module.so").exists(),
            "nginx with the stream module is not installed; run `cargo xtask test`, which installs nginx and libnginx-mod-stream"
        );
        let port = if port == 0 { crate::free_port() } else { port };
        let mut n = Nginx {
            child: None,
            port,
            upstream,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let conf = d.join("nginx.conf");
        let text = format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\ndaemon off;\nworker_processes 1;\npid {pid};\nerror_log {err} info;\nevents {{ worker_connections 64; }}\nstream {{\n  server {{\n    listen 127.0.0.1:{port};\n    proxy_pass 127.0.0.1:{up};\n    proxy_timeout 10m;\n  }}\n}}\n",
            pid = d.join("nginx.pid").display(),
            err = d.join("error.log").display(),
            port = self.port,
            up = self.upstream
        );
        #[allow(clippy::disallowed_methods)] // a throwaway test config
        std::fs::write(&conf, text).expect("write nginx.conf");
        let child = Command::new("/usr/sbin/nginx")
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not start listening on {}: {}",
            self.port,
            self.log()
        );
    }

    /// Stops nginx, cutting every connection through it. SIGTERM is nginx's fast shutdown:
    /// the master closes its workers and their connections before exiting.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            for _ in 0..100 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Its error log (connections are logged at info).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
