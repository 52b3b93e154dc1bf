//! Halibut transports against real peers on loopback: openssl-made Halibut-style certificates, openssl s_client/s_server, tinyproxy CONNECT tunnels, WebSocket over TLS, and the welcome page seen by curl.
//!
//! Needs `openssl`, `curl` and `tinyproxy` (Debian `openssl`, `curl`, `tinyproxy-bin`), which
//! `cargo xtask test` installs; without them the tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::Engine;
use tentacle_core::certificate::{TentacleCertificate, generate};
use tentacle_core::halibut::tls;
use tentacle_core::halibut::transport::proxy::{ProxySettings, connect_via_proxy};
use tentacle_core::halibut::transport::websocket::{ServerAccept, client_handshake, server_accept};
use tentacle_core::halibut::transport::{TransportError, tcp};
use tentacle_core::halibut::welcome::{self, AlreadyRead};
use tentacle_core::trust::Thumbprint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Every test finishes within this or fails.
const LIMIT: Duration = Duration::from_secs(60);
/// Connect and handshake timeout for each step.
const STEP: Duration = Duration::from_secs(10);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("the test did not finish within 60 s")
}

/// (Octopus Server, Tentacle) certificates, made once: RSA key generation is slow.
static CERTS: LazyLock<(TentacleCertificate, TentacleCertificate)> =
    LazyLock::new(|| (generate().unwrap(), generate().unwrap()));

fn octopus() -> &'static TentacleCertificate {
    &CERTS.0
}

fn tentacle() -> &'static TentacleCertificate {
    &CERTS.1
}

/// The path of a required tool, or a failure that says how to get it.
fn tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed, and this test needs the real thing. Run `cargo xtask test`, which installs it (Debian package {package}), or: apt-get install {package}"
            )
        })
}

/// Kills and reaps a child process when the test ends, however it ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct ToolOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Runs a command with `stdin` as its input, without blocking the runtime; output goes
/// through files in `dir` so a chatty tool cannot fill a pipe and hang.
async fn run_tool(mut cmd: Command, stdin: &[u8], dir: &Path) -> ToolOutput {
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!("run{n}.out"));
    let err_path = dir.join(format!("run{n}.err"));
    cmd.stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut guard = ChildGuard(cmd.spawn().unwrap());
    if let Some(mut input) = guard.0.stdin.take() {
        input.write_all(stdin).unwrap();
    }
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ToolOutput {
        status,
        stdout: String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned(),
    }
}

fn write_file(path: &Path, contents: &[u8]) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(contents)
        .unwrap();
}

/// A port that was free a moment ago, for tools that must be told their port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = tokio::time::Instant::now() + STEP;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not start listening on port {port}; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A certificate as Halibut's test suite has them (Bob/Alice/Eve): RSA 2048, SHA-1 signed,
/// with a critical Authority Key Identifier that webpki refuses. Returns it and its PEM paths.
async fn halibut_style_certificate(
    dir: &Path,
    name: &str,
) -> (TentacleCertificate, PathBuf, PathBuf) {
    let openssl = tool("openssl", "openssl");
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let mut cmd = Command::new(&openssl);
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha1", "-days", "3650",
    ])
    .arg("-subj")
    .arg(format!("/CN=Halibut {name}"))
    .args(["-addext", "authorityKeyIdentifier=critical,keyid:always"])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    let made = run_tool(cmd, b"", dir).await;
    assert!(made.status.success(), "openssl req failed: {}", made.stderr);

    let mut cmd = Command::new(&openssl);
    cmd.args(["x509", "-noout", "-text", "-in"]).arg(&cert);
    let text = run_tool(cmd, b"", dir).await.stdout;
    assert!(
        text.contains("X509v3 Authority Key Identifier: critical"),
        "{text}"
    );
    assert!(
        text.contains("Signature Algorithm: sha1WithRSAEncryption"),
        "{text}"
    );

    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    (TentacleCertificate::from_pem(&pem).unwrap(), cert, key)
}

/// The thumbprint of the first PEM certificate in a tool's output.
fn first_pem_thumbprint(text: &str) -> Thumbprint {
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("no certificate in output");
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start;
    let b64: String = text[start + 27..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Thumbprint::of_der(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

/// What a test server saw of each connection: the client's certificate thumbprint.
type Seen = mpsc::UnboundedReceiver<Option<Thumbprint>>;

/// A TLS server with our server config that reads `MX\r\n\r\n` and answers
/// `SEEN <client thumbprint or none>\n`, then closes.
async fn start_seen_server(cert: &TentacleCertificate) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls::server_config(cert).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            tcp::configure_accepted(&tcp);
            let (config, tx) = (config.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = tls::accept(tcp, config, &peer.to_string(), STEP).await else {
                    return;
                };
                let seen = tls::peer_thumbprint(stream.get_ref().1);
                let _ = tx.send(seen.clone());
                let mut preamble = [0u8; 6];
                if stream.read_exact(&mut preamble).await.is_ok() {
                    let name = seen.map_or("none".to_owned(), |t| t.to_string());
                    let _ = stream.write_all(format!("SEEN {name}\n").as_bytes()).await;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, rx)
}

/// A listening port as Halibut's acceptor treats it (§2.1/§2.3): TLS, then the first line;
/// anything but `MX` gets the welcome page.
async fn start_listening_port(cert: &TentacleCertificate) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls::server_config(cert).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let (config, tx) = (config.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = tls::accept(tcp, config, &peer.to_string(), STEP).await else {
                    return;
                };
                let _ = tx.send(tls::peer_thumbprint(stream.get_ref().1));
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while line.len() < 20_000 && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                    if byte[0] == b'\n' {
                        break;
                    }
                    line.push(byte[0]);
                }
                if line.starts_with(b"MX") {
                    let _ = stream.shutdown().await;
                } else {
                    welcome::serve_welcome(stream, AlreadyRead::FirstLine)
                        .await
                        .unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// A WebSocket endpoint over TLS: upgrades get an `MX-SERVER` identity and an echo;
/// other HTTPS requests get the welcome page.
async fn start_websocket_server(cert: &TentacleCertificate) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls::server_config(cert).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let (config, tx) = (config.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(stream) = tls::accept(tcp, config, &peer.to_string(), STEP).await else {
                    return;
                };
                match server_accept(stream).await {
                    Ok(ServerAccept::WebSocket {
                        mut stream,
                        request,
                    }) => {
                        assert_eq!(request.target, "/OctopusComms/");
                        let _ = tx.send(tls::peer_thumbprint(stream.get_ref().get_ref().1));
                        let mut identity = [0u8; 17];
                        stream.read_exact(&mut identity).await.unwrap();
                        assert_eq!(&identity, b"MX-CLIENT 1.0\r\n\r\n");
                        stream.write_all(b"MX-SERVER 1.0\r\n\r\n").await.unwrap();
                        stream.flush().await.unwrap();
                        let mut buf = vec![0u8; 8192];
                        loop {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            stream.write_all(&buf[..n]).await.unwrap();
                            stream.flush().await.unwrap();
                        }
                        stream.shutdown().await.unwrap();
                    }
                    Ok(ServerAccept::NotWebSocket { stream, .. }) => {
                        welcome::serve_welcome(stream, AlreadyRead::Headers)
                            .await
                            .unwrap();
                    }
                    Err(e) => panic!("WebSocket accept failed: {e}"),
                }
            });
        }
    });
    (port, rx)
}

/// A real tinyproxy with a private config, killed when dropped.
struct Tinyproxy {
    port: u16,
    log: PathBuf,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    async fn start(connect_port: u16, basic_auth: Option<(&str, &str)>) -> Tinyproxy {
        let bin = tool("tinyproxy", "tinyproxy-bin");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort {connect_port}\nLogLevel Info\nMaxClients 20\nTimeout 30\n"
        );
        if let Some((user, password)) = basic_auth {
            conf.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        write_file(&conf_path, conf.as_bytes());
        let log = dir.path().join("tinyproxy.log");
        // -d: stay in the foreground and log to stderr; no pid file, no syslog.
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let proxy = Tinyproxy {
            port,
            log,
            _child: ChildGuard(child),
            _dir: dir,
        };
        wait_for_port(port, "tinyproxy", &proxy.log).await;
        proxy
    }

    fn settings(&self) -> ProxySettings {
        ProxySettings::new("127.0.0.1", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Through the proxy to the SEEN server, pinned both ways; returns what the server said.
async fn pinned_exchange(proxy: &ProxySettings, server_port: u16) -> Result<String, String> {
    let tcp = connect_via_proxy(proxy, "127.0.0.1", server_port, STEP)
        .await
        .map_err(|e| e.to_string())?;
    let config = tls::client_config(tentacle(), &octopus().thumbprint()).unwrap();
    let mut stream = tls::connect(tcp, config, "127.0.0.1", STEP)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        tls::peer_thumbprint(stream.get_ref().1),
        Some(octopus().thumbprint())
    );
    stream.write_all(b"MX\r\n\r\n").await.unwrap();
    stream.flush().await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    Ok(reply)
}

#[tokio::test]
async fn tls_through_tinyproxy_pins_both_ways() {
    within(async {
        let (server_port, mut seen) = start_seen_server(octopus()).await;
        let proxy = Tinyproxy::start(server_port, None).await;
        let reply = pinned_exchange(&proxy.settings(), server_port)
            .await
            .unwrap();
        assert_eq!(reply, format!("SEEN {}\n", tentacle().thumbprint()));
        assert_eq!(seen.recv().await.unwrap(), Some(tentacle().thumbprint()));
        assert!(
            proxy
                .log()
                .contains(&format!("CONNECT 127.0.0.1:{server_port} HTTP/1.0")),
            "tinyproxy did not log our CONNECT:\n{}",
            proxy.log()
        );

        // A wrong pin through the tunnel is still our typed pinning error.
        let tcp = connect_via_proxy(&proxy.settings(), "127.0.0.1", server_port, STEP)
            .await
            .unwrap();
        let wrong = tls::client_config(tentacle(), &tentacle().thumbprint()).unwrap();
        let err = tls::connect(tcp, wrong, "127.0.0.1", STEP)
            .await
            .unwrap_err();
        assert!(
            matches!(err, tls::TlsError::UnexpectedServerCertificate { .. }),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_refusing_the_port_is_a_typed_403() {
    within(async {
        let (server_port, _seen) = start_seen_server(octopus()).await;
        let proxy = Tinyproxy::start(server_port, None).await;
        let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other_port = other.local_addr().unwrap().port();
        let err = connect_via_proxy(&proxy.settings(), "127.0.0.1", other_port, STEP)
            .await
            .unwrap_err();
        let TransportError::ProxyRefused {
            status,
            target,
            hint,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(status, "403");
        assert_eq!(target, &format!("127.0.0.1:{other_port}"));
        assert!(hint.contains("ConnectPort"), "{hint}");
        assert!(
            err.to_string()
                .ends_with(&format!("Proxy: 127.0.0.1:{}", proxy.port)),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_basic_auth_accepts_credentials_and_407s_without() {
    within(async {
        let (server_port, _seen) = start_seen_server(octopus()).await;
        let proxy = Tinyproxy::start(server_port, Some(("tentacle", "s3cret"))).await;

        let with = proxy.settings().with_credentials("tentacle", "s3cret");
        let reply = pinned_exchange(&with, server_port).await.unwrap();
        assert_eq!(reply, format!("SEEN {}\n", tentacle().thumbprint()));

        let err = connect_via_proxy(&proxy.settings(), "127.0.0.1", server_port, STEP)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::ProxyRefused { status, .. } if status == "407"),
            "{err:?}"
        );
        assert!(err.to_string().contains("the proxy wants credentials: set them with tentacle polling-proxy --proxyUsername/--proxyPassword"), "{err}");

        let wrong = proxy.settings().with_credentials("tentacle", "wrong-password");
        let err = connect_via_proxy(&wrong, "127.0.0.1", server_port, STEP)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("rejected the user name or password"), "{err}");
        assert!(!err.to_string().contains("wrong-password"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn websocket_over_tls_end_to_end() {
    within(async {
        let (port, mut seen) = start_websocket_server(octopus()).await;
        let tcp = tcp::connect("127.0.0.1", port, STEP).await.unwrap();
        let config = tls::client_config(tentacle(), &octopus().thumbprint()).unwrap();
        let tls_stream = tls::connect(tcp, config, "127.0.0.1", STEP).await.unwrap();
        let url = url::Url::parse(&format!("wss://127.0.0.1:{port}/OctopusComms/")).unwrap();
        let mut ws = client_handshake(tls_stream, &url).await.unwrap();
        assert_eq!(seen.recv().await.unwrap(), Some(tentacle().thumbprint()));

        ws.write_all(b"MX-CLIENT 1.0\r\n\r\n").await.unwrap();
        ws.flush().await.unwrap();
        let mut identity = [0u8; 17];
        ws.read_exact(&mut identity).await.unwrap();
        assert_eq!(&identity, b"MX-SERVER 1.0\r\n\r\n");

        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (mut r, mut w) = tokio::io::split(ws);
        let expected = data.clone();
        let writer = async move {
            for chunk in data.chunks(9000) {
                w.write_all(chunk).await.unwrap();
                w.flush().await.unwrap();
            }
            w
        };
        let reader = async {
            let mut got = vec![0u8; expected.len()];
            r.read_exact(&mut got).await.unwrap();
            got
        };
        let (mut w, got) = tokio::join!(writer, reader);
        assert_eq!(got, expected);

        // Close: the server reads EOF, finishes, and its Close reads as EOF here.
        w.shutdown().await.unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    })
    .await;
}

#[tokio::test]
async fn plain_https_request_to_the_websocket_endpoint_gets_the_welcome_page() {
    within(async {
        let (port, _seen) = start_websocket_server(octopus()).await;
        let tcp = tcp::connect("127.0.0.1", port, STEP).await.unwrap();
        let mut stream = tls::connect(tcp, tls::probe_config(), "localhost", STEP)
            .await
            .unwrap();
        assert_eq!(
            tls::peer_thumbprint(stream.get_ref().1),
            Some(octopus().thumbprint())
        );
        stream
            .write_all(b"GET /OctopusComms/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut page = Vec::new();
        stream.read_to_end(&mut page).await.unwrap();
        assert_eq!(page, welcome::response());

        // And a real client: curl.
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(tool("curl", "curl"));
        cmd.args(["-k", "-sS", "-D", "-", "--max-time", "10"])
            .arg(format!("https://127.0.0.1:{port}/OctopusComms/"));
        let out = run_tool(cmd, b"", dir.path()).await;
        assert!(out.status.success(), "curl failed: {}", out.stderr);
        assert!(
            out.stdout.starts_with("HTTP/1.0 200 OK\r\n"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains(welcome::HEADING), "{}", out.stdout);
    })
    .await;
}

#[tokio::test]
async fn curl_gets_the_welcome_page_with_security_headers() {
    within(async {
        let (port, mut seen) = start_listening_port(tentacle()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(tool("curl", "curl"));
        cmd.args(["-k", "-sS", "-D", "-", "--max-time", "10"])
            .arg(format!("https://127.0.0.1:{port}/"));
        let out = run_tool(cmd, b"", dir.path()).await;
        assert!(
            out.status.success(),
            "curl exited with {}: {}",
            out.status,
            out.stderr
        );
        let text = out.stdout;
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200 OK"), "{head}");
        for header in [
            "Content-Type: text/html; charset=utf-8",
            "Content-Security-Policy: default-src 'none'; style-src 'sha256-",
            "Referrer-Policy: no-referrer",
            "X-Content-Type-Options: nosniff",
            "X-Frame-Options: DENY",
            "X-XSS-Protection: 1; mode=block",
            "Strict-Transport-Security: max-age=31536000",
        ] {
            assert!(head.contains(header), "missing {header}: {head}");
        }
        // curl stops at Content-Length, so Halibut's trailing blank line is not shown.
        assert_eq!(body, welcome::body());
        assert!(body.contains(&format!("<h1>{}</h1>", welcome::HEADING)));
        // curl sends no client certificate; the server still completed the handshake.
        assert_eq!(seen.recv().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn openssl_s_client_gets_the_page_and_our_certificate() {
    within(async {
        let (port, mut seen) = start_listening_port(tentacle()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(tool("openssl", "openssl"));
        cmd.args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-showcerts", "-ign_eof"]);
        let out = run_tool(cmd, b"GET / HTTP/1.0\r\n\r\n", dir.path()).await;
        assert!(
            out.status.success(),
            "s_client failed: {}\n{}",
            out.stderr,
            out.stdout
        );
        assert!(out.stdout.contains("HTTP/1.0 200 OK"), "{}", out.stdout);
        assert!(out.stdout.contains(welcome::HEADING), "{}", out.stdout);
        assert_eq!(first_pem_thumbprint(&out.stdout), tentacle().thumbprint());
        assert_eq!(seen.recv().await.unwrap(), None);

        // With a client certificate (OpenSSL's own), over TLS 1.2 and 1.3: the server sees it.
        let (_, alice_crt, alice_key) = halibut_style_certificate(dir.path(), "Alice").await;
        let alice = first_pem_thumbprint(&std::fs::read_to_string(&alice_crt).unwrap());
        for version in ["-tls1_2", "-tls1_3"] {
            let mut cmd = Command::new(tool("openssl", "openssl"));
            cmd.args(["s_client", "-connect"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-ign_eof", version, "-cert"])
                .arg(&alice_crt)
                .arg("-key")
                .arg(&alice_key);
            let out = run_tool(cmd, b"HELLO\r\n\r\n", dir.path()).await;
            assert!(
                out.status.success(),
                "s_client {version} failed: {}",
                out.stderr
            );
            assert!(out.stdout.contains(welcome::HEADING), "{}", out.stdout);
            assert_eq!(seen.recv().await.unwrap(), Some(alice.clone()), "{version}");
        }
    })
    .await;
}

#[tokio::test]
async fn halibut_style_certificates_work_as_server_and_client() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let (bob, bob_crt, bob_key) = halibut_style_certificate(dir.path(), "Bob").await;
        let (alice, _, _) = halibut_style_certificate(dir.path(), "Alice").await;

        // The thumbprint is what openssl calls the SHA-1 fingerprint.
        let mut cmd = Command::new(tool("openssl", "openssl"));
        cmd.args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&bob_crt);
        let fp = run_tool(cmd, b"", dir.path()).await.stdout;
        assert_eq!(
            Thumbprint::parse(fp.trim().split('=').nth(1).unwrap()).unwrap(),
            bob.thumbprint()
        );

        // rustls' standard certificate loading parses with webpki and refuses it…
        let standard = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![bob.cert_der().to_vec().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(bob.key_pkcs8_der().to_vec().into()),
        );
        let refused = format!(
            "{:?}",
            standard.expect_err("webpki accepted a critical AKI")
        );
        assert!(
            refused.contains("UnsupportedCriticalExtension"),
            "{refused}"
        );

        // …while ours uses it on both ends: Bob serves, Alice is the client.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server_config = tls::server_config(&bob).unwrap();
        let server = async {
            let (tcp, _) = listener.accept().await.unwrap();
            let s = tls::accept(tcp, server_config, "alice", STEP)
                .await
                .unwrap();
            tls::peer_thumbprint(s.get_ref().1)
        };
        let client = async {
            let tcp = tcp::connect("127.0.0.1", port, STEP).await.unwrap();
            let config = tls::client_config(&alice, &bob.thumbprint()).unwrap();
            let c = tls::connect(tcp, config, "127.0.0.1", STEP).await.unwrap();
            tls::peer_thumbprint(c.get_ref().1)
        };
        let (server_saw, client_saw) = tokio::join!(server, client);
        assert_eq!(server_saw, Some(alice.thumbprint()));
        assert_eq!(client_saw, Some(bob.thumbprint()));

        // Against OpenSSL's server holding Bob, TLS 1.2 and 1.3: pinning and signatures hold.
        for version in ["-tls1_2", "-tls1_3"] {
            let port = free_port();
            let log = dir.path().join(format!("s_server{version}.log"));
            let mut cmd = Command::new(tool("openssl", "openssl"));
            cmd.args(["s_server", "-accept"])
                .arg(port.to_string())
                .args([version, "-verify", "1", "-cert"])
                .arg(&bob_crt)
                .arg("-key")
                .arg(&bob_key)
                // s_server shuts down when its stdin closes, so keep a pipe open.
                .stdin(Stdio::piped())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(Stdio::null());
            let _server = ChildGuard(cmd.spawn().unwrap());
            wait_for_port(port, "openssl s_server", &log).await;
            let config = tls::client_config(&alice, &bob.thumbprint()).unwrap();
            let tcp = tcp::connect("127.0.0.1", port, STEP).await.unwrap();
            let mut c = tls::connect(tcp, config, "127.0.0.1", STEP).await.unwrap();
            let expected_version = if version == "-tls1_2" {
                rustls::ProtocolVersion::TLSv1_2
            } else {
                rustls::ProtocolVersion::TLSv1_3
            };
            assert_eq!(c.get_ref().1.protocol_version(), Some(expected_version));
            assert_eq!(tls::peer_thumbprint(c.get_ref().1), Some(bob.thumbprint()));
            let _ = c.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn csp_style_hash_matches_openssl() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let body = welcome::body();
        let start = body.find("<style>").unwrap() + "<style>".len();
        let end = body.find("</style>").unwrap();
        let style_path = dir.path().join("style.css");
        write_file(&style_path, &body.as_bytes()[start..end]);
        let digest_path = dir.path().join("style.sha256");
        let mut cmd = Command::new(tool("openssl", "openssl"));
        cmd.args(["dgst", "-sha256", "-binary", "-out"])
            .arg(&digest_path)
            .arg(&style_path);
        let out = run_tool(cmd, b"", dir.path()).await;
        assert!(out.status.success(), "openssl dgst failed: {}", out.stderr);
        let digest = std::fs::read(&digest_path).unwrap();
        let expected = format!(
            "style-src 'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let response = String::from_utf8(welcome::response()).unwrap();
        assert!(response.contains(&expected), "{expected} not in {response}");
    })
    .await;
}
