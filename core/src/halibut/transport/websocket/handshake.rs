//! The RFC 6455 opening handshake with Halibut's rules (§7.1, §7.2): the `Octopus` sub-protocol and the initial `MX` text message.

use std::future::poll_fn;
use std::time::Duration;

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::frame::{FrameError, OP_CONTINUATION, OP_TEXT};
use super::stream::{Role, WebSocketStream};
use crate::halibut::transport::TransportError;
use crate::halibut::transport::http_head::{HttpRequest, HttpResponse, read_head};

/// The sub-protocol both ends must agree on.
pub const SUBPROTOCOL: &str = "Octopus";

/// How long each side of the handshake may take (Halibut's recommended `TcpClientTimeout`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// RFC 6455's fixed GUID for `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The longest first message we read while waiting for `MX`.
const MAX_FIRST_MESSAGE: u64 = 1024;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{ACCEPT_GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Upgrades `stream` (normally TLS to `url`'s host) to a WebSocket as Tentacle does, then
/// sends the `MX` text message. The result is the byte stream the protocol runs over.
pub async fn client_handshake<S>(
    mut stream: S,
    url: &url::Url,
) -> Result<WebSocketStream<S>, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let host = url
        .host_str()
        .ok_or_else(|| TransportError::WebSocketHandshake {
            problem: format!("the URL has no host: {url}"),
        })?;
    let host_header = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut target = url.path().to_owned();
    if target.is_empty() {
        target.push('/');
    }
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\nX-Octopus-RequestId: {}\r\n\r\n",
        uuid::Uuid::new_v4()
    );
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;

    let (head, leftover) =
        read_head(&mut stream, "WebSocket upgrade response", HANDSHAKE_TIMEOUT).await?;
    let response = HttpResponse::parse(&head)?;
    if response.status != 101 {
        return Err(TransportError::WebSocketRejected {
            status: response.status,
            hint: rejection_hint(response.status),
            reason: response.reason,
            url: url.to_string(),
        });
    }
    if !response.has_token("upgrade", "websocket") || !response.has_token("connection", "upgrade") {
        return Err(TransportError::WebSocketHandshake {
            problem: "the 101 response lacks 'Upgrade: websocket' or 'Connection: Upgrade'"
                .to_owned(),
        });
    }
    let expected = accept_key(&key);
    if response.header("sec-websocket-accept") != Some(expected.as_str()) {
        return Err(TransportError::WebSocketHandshake {
            problem: format!(
                "Sec-WebSocket-Accept is {:?}, expected {expected:?}; something in between rewrote the handshake",
                response.header("sec-websocket-accept").unwrap_or("missing")
            ),
        });
    }
    match response.header("sec-websocket-protocol") {
        Some(p) if p.eq_ignore_ascii_case(SUBPROTOCOL) => {}
        Some(p) => {
            return Err(TransportError::WebSocketNoOctopusProtocol {
                detail: format!("the server chose '{p}'"),
            });
        }
        None => {
            return Err(TransportError::WebSocketNoOctopusProtocol {
                detail: "the server chose none".to_owned(),
            });
        }
    }

    let mut ws = WebSocketStream::new(stream, Role::Client, leftover);
    // The text message MX replaces the TCP transport's MX preamble line (§7.2).
    ws.queue_frame(true, OP_TEXT, b"MX");
    ws.flush().await?;
    tracing::debug!(%url, "WebSocket open");
    Ok(ws)
}

/// What usually makes a server answer an upgrade with `status`.
fn rejection_hint(status: u16) -> &'static str {
    match status {
        200 => {
            "the address serves a web page, not a WebSocket endpoint; check the path (Octopus uses e.g. wss://host/OctopusComms)"
        }
        404 => {
            "no WebSocket endpoint at that path; check the URL against the Octopus Server's listen prefix (e.g. /OctopusComms/)"
        }
        400 | 426 => {
            "the server refused the upgrade request; the endpoint may not be an Octopus WebSocket listener"
        }
        401 | 403 => "the server or a proxy in front of it refused access",
        407 => "a proxy wants credentials",
        502..=504 => "a proxy or load balancer could not reach the Octopus Server",
        _ => "check the WebSocket URL",
    }
}

/// What [`server_accept`] found on the connection.
#[derive(Debug)]
pub enum ServerAccept<S> {
    /// An upgrade offering `Octopus`, accepted, whose first message was `MX`.
    WebSocket {
        /// The byte stream for the protocol.
        stream: WebSocketStream<S>,
        /// The upgrade request (path, headers).
        request: HttpRequest,
    },
    /// An ordinary HTTP request: answer it with the welcome page
    /// (`welcome::serve_welcome(stream, AlreadyRead::Headers)`). Any body is left unread.
    NotWebSocket {
        /// The connection, positioned after the request headers.
        stream: S,
        /// The request.
        request: HttpRequest,
    },
}

/// Reads an HTTP request and, if it is a WebSocket upgrade offering `Octopus`, accepts it
/// and waits for the `MX` text message (§7.1). Upgrades without `Octopus` get a 400 and an
/// error; a first message other than `MX` is an error with nothing sent back.
pub async fn server_accept<S>(mut stream: S) -> Result<ServerAccept<S>, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (head, leftover) = read_head(&mut stream, "HTTP request", HANDSHAKE_TIMEOUT).await?;
    let request = HttpRequest::parse(&head)?;
    if !request.method.eq_ignore_ascii_case("GET") || !request.has_token("upgrade", "websocket") {
        return Ok(ServerAccept::NotWebSocket { stream, request });
    }
    let Some(key) = request.header("sec-websocket-key").map(str::to_owned) else {
        refuse(
            &mut stream,
            "400 Bad Request",
            "",
            "Missing Sec-WebSocket-Key.",
        )
        .await;
        return Err(TransportError::WebSocketHandshake {
            problem: "the upgrade request has no Sec-WebSocket-Key".to_owned(),
        });
    };
    if request.header("sec-websocket-version") != Some("13") {
        refuse(
            &mut stream,
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "Only WebSocket version 13 is supported.",
        )
        .await;
        return Err(TransportError::WebSocketHandshake {
            problem: format!(
                "the client asked for WebSocket version {:?}; only 13 exists",
                request.header("sec-websocket-version").unwrap_or("none")
            ),
        });
    }
    if !request.has_token("sec-websocket-protocol", SUBPROTOCOL) {
        refuse(
            &mut stream,
            "400 Bad Request",
            "",
            "This endpoint speaks only the 'Octopus' WebSocket sub-protocol.",
        )
        .await;
        return Err(TransportError::WebSocketNoOctopusProtocol {
            detail: format!(
                "the client offered {:?}",
                request.header("sec-websocket-protocol").unwrap_or("none")
            ),
        });
    }
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
        accept_key(&key)
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;

    let mut ws = WebSocketStream::new(stream, Role::Server, leftover);
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_message(&mut ws))
        .await
        .map_err(|_| TransportError::Timeout {
            what: "wait for the WebSocket client's MX message",
            secs: HANDSHAKE_TIMEOUT.as_secs(),
        })??;
    match first {
        Some((OP_TEXT, text)) if text.starts_with(b"MX") => Ok(ServerAccept::WebSocket {
            stream: ws,
            request,
        }),
        Some((opcode, text)) => Err(TransportError::WebSocketNoMx {
            detail: format!(
                "got a {} message starting {:?}",
                if opcode == OP_TEXT { "text" } else { "binary" },
                String::from_utf8_lossy(&text[..text.len().min(16)])
            ),
        }),
        None => Err(TransportError::WebSocketNoMx {
            detail: "the client closed the connection first".to_owned(),
        }),
    }
}

/// Writes a short refusal and closes; errors are moot since we are hanging up anyway.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, status: &str, extra: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one whole message (frames up to FIN), at most [`MAX_FIRST_MESSAGE`] bytes.
/// `None` if the peer closed first.
async fn read_message<S>(
    ws: &mut WebSocketStream<S>,
) -> Result<Option<(u8, Vec<u8>)>, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut opcode = None;
    let mut message = Vec::new();
    loop {
        let Some(header) = poll_fn(|cx| ws.poll_next_data_header(cx)).await? else {
            return Ok(None);
        };
        match (opcode, header.opcode) {
            (None, OP_CONTINUATION) => return Err(FrameError::UnexpectedContinuation.into()),
            (None, op) => opcode = Some(op),
            (Some(_), OP_CONTINUATION) => {}
            (Some(_), _) => return Err(FrameError::UnfinishedMessage.into()),
        }
        if message.len() as u64 + header.len > MAX_FIRST_MESSAGE {
            return Err(TransportError::WebSocketNoMx {
                detail: format!("the first message is longer than {MAX_FIRST_MESSAGE} bytes"),
            });
        }
        ws.begin_payload(&header);
        while ws.payload_left() > 0 {
            let mut chunk = [0u8; 256];
            let mut buf = ReadBuf::new(&mut chunk);
            poll_fn(|cx| ws.poll_read_payload(cx, &mut buf)).await?;
            message.extend_from_slice(buf.filled());
        }
        if header.fin {
            return Ok(opcode.map(|op| (op, message)));
        }
    }
}
