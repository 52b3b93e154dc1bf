//! Registration against loopback servers that redirect: the API key never follows a redirect off https or to another host.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::http::redirect_refusal;
use super::{Auth, OctopusClient, RegisterError, Secret, ServerOptions};

const KEY: &str = "API-REDIRECTSECRET0000000000";

/// A listener that records every byte any client sends it (and answers nothing useful).
async fn recorder() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    let _ = s
                        .write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (port, seen)
}

/// Answers every request on `stream` with a redirect to `location`.
async fn redirect_once<S>(mut stream: S, location: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 8192];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn options(server: &str) -> ServerOptions {
    let mut opts = ServerOptions::new(
        url::Url::parse(server).unwrap(),
        Auth::ApiKey(Secret::new(KEY.to_owned())),
    );
    opts.ignore_ssl_errors = true;
    opts.proxy = Some(crate::instance::ProxySettings {
        mode: crate::instance::ProxyMode::None,
        ..Default::default()
    });
    opts
}

fn assert_refused(result: Result<OctopusClient, RegisterError>, why: &str, seen: &Mutex<Vec<u8>>) {
    let err = match result {
        Ok(_) => panic!("the redirect was followed to a working server"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        matches!(&err, RegisterError::UnsafeRedirect { why: w, .. } if *w == why),
        "{text}"
    );
    assert!(
        text.contains("was not followed") && text.contains("--server"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(sent.is_empty(), "the redirect target received: {sent}");
}

#[tokio::test]
async fn redirect_from_https_to_plain_http_never_carries_the_api_key() {
    let (plain, seen) = recorder().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tls_acceptor();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(tls) = acceptor.accept(tcp).await {
                tokio::spawn(redirect_once(tls, format!("http://127.0.0.1:{plain}/api")));
            }
        }
    });
    let result = OctopusClient::connect(&options(&format!("https://127.0.0.1:{port}/"))).await;
    assert_refused(result, "leaves https", &seen);
}

#[tokio::test]
async fn redirect_to_another_host_never_carries_the_api_key() {
    let (other, seen) = recorder().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(redirect_once(tcp, format!("http://localhost:{other}/api")));
        }
    });
    let result = OctopusClient::connect(&options(&format!("http://127.0.0.1:{port}/"))).await;
    assert_refused(result, "is another host", &seen);
}

#[test]
fn only_same_host_moves_and_the_https_upgrade_are_followed() {
    let u = |s: &str| url::Url::parse(s).unwrap();
    let https = u("https://octopus.example/");
    let http = u("http://octopus.example/");
    let follow = |origin: &url::Url, from: &url::Url, to: &str| {
        redirect_refusal(origin, from, &u(to)).map(|r| r.to_string())
    };
    assert_eq!(
        follow(&https, &https, "https://octopus.example/app/api"),
        None
    );
    assert_eq!(follow(&https, &https, "https://OCTOPUS.example/api"), None);
    assert_eq!(follow(&http, &http, "https://octopus.example/api"), None);
    assert_eq!(follow(&http, &http, "http://octopus.example/api"), None);
    for (to, why) in [
        ("http://octopus.example/api", "leaves https"),
        ("ftp://octopus.example/api", "leaves https"),
        ("https://evil.example/api", "is another host"),
        (
            "https://octopus.example.evil.example/api",
            "is another host",
        ),
        ("https://octopus.example:8443/api", "is another port"),
    ] {
        let got = follow(&https, &https, to).unwrap_or_default();
        assert!(got.contains(why), "{to}: {got}");
    }
    // After an upgrade to https, the chain may not drop back to http.
    let upgraded = u("https://octopus.example/");
    let got = follow(&http, &upgraded, "http://octopus.example/api").unwrap_or_default();
    assert!(got.contains("leaves https"), "{got}");
}
