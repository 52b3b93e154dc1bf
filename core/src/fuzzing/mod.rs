//! Fuzz bodies for every parser that reads a peer's bytes, shared by the cargo-fuzz targets in `core/fuzz` and the proptests `cargo test` runs.
//!
//! Each body takes arbitrary bytes and drives one parser the way the agent does. Errors
//! are expected; a panic, an over-consumed buffer or an unbounded allocation is a bug.
//! The bodies are hidden from the docs: they are test entry points, not an API.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use ::bson::{Bson, Document, doc};
use tokio::io::{AsyncRead, ReadBuf};

use crate::agent::scripts::contracts::{
    StartScriptCommand, StartScriptCommandV2, TicketRequest, isolation, single_param, timespan,
};
use crate::agent::scripts::isolation::{deadline_after, effective_timeout};
use crate::halibut::bson::{self as hbson, Guid};
use crate::halibut::connection::{Connection, Limits};
use crate::halibut::frame;
use crate::halibut::message::{DataStreamRef, Envelope, RequestMessage};
use crate::halibut::transport::http_head::{HttpRequest, HttpResponse};
use crate::halibut::transport::proxy::{ProxySettings, tunnel};
use crate::halibut::transport::websocket::frame::decode_header;
use crate::halibut::transport::websocket::{
    MAX_FRAME_PAYLOAD, Role, WebSocketStream, client_handshake, server_accept,
};
use crate::halibut::welcome::{AlreadyRead, serve_welcome};

#[cfg(test)]
mod proptests;

/// A fuzz body: arbitrary peer bytes in, a panic out only on a bug.
pub type Body = fn(&[u8]);

/// Every body by name, as `cargo xtask fuzz` and the fuzz targets call them.
pub const TARGETS: &[(&str, Body)] = &[
    ("frame_lines", frame_lines),
    ("message_decode", message_decode),
    ("stream_reader", stream_reader),
    ("websocket_frames", websocket_frames),
    ("websocket_handshake", websocket_handshake),
    ("proxy_reply", proxy_reply),
    ("welcome_request", welcome_request),
    ("script_commands", script_commands),
];

/// The peer's bytes handed out `step` at a time, so incremental parsers see every split.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.data.len().min(self.step).min(buf.remaining());
        let (now, later) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}

/// The first byte picks the read size (1..=64), the rest is the peer's stream.
fn trickle(data: &[u8]) -> Trickle<'_> {
    match data.split_first() {
        Some((first, rest)) => Trickle {
            data: rest,
            step: usize::from(first % 64) + 1,
        },
        None => Trickle { data, step: 1 },
    }
}

fn duplex(data: &[u8]) -> tokio::io::Join<Trickle<'_>, tokio::io::Sink> {
    tokio::io::join(trickle(data), tokio::io::sink())
}

/// Runs `fut` to completion on a fresh single-threaded runtime. The readers never wait:
/// [`Trickle`] is always ready and ends in EOF, so a timeout here would itself be a bug.
fn run<F: std::future::Future<Output = ()>>(fut: F) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    rt.block_on(fut);
}

/// Where spooled DataStreams of the fuzz inputs go (one folder per process).
fn spool_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tentacle-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
    .clone()
}

fn small_limits() -> Limits {
    Limits {
        max_message: 1 << 20,
        max_stream: 1 << 16,
        temp_dir: spool_dir(),
        ..Limits::default()
    }
}

const WAIT: Duration = Duration::from_secs(5);

/// Preamble, identity and control lines: the pure parsers, then the connection's reader
/// over the same bytes delivered in small pieces.
pub fn frame_lines(data: &[u8]) {
    for eof in [false, true] {
        if let Some((_, used)) = frame::take_preamble(data, eof) {
            assert!(used <= data.len(), "take_preamble consumed past the end");
        }
    }
    if let Ok(Some((_, used))) = frame::take_line(data) {
        assert!(used <= data.len());
    }
    if let Ok(Some((_, used))) = frame::parse_identity(data) {
        assert!(used <= data.len());
    }
    if let Ok(Some((_, used))) = frame::parse_control(data, "NEXT or END") {
        assert!(used <= data.len());
    }
    run(async {
        let mut conn = Connection::new(duplex(data), small_limits());
        if conn.read_preamble(WAIT).await.is_err() {
            return;
        }
        if conn.read_identity(WAIT).await.is_err() {
            return;
        }
        while let Ok(Some(_)) = conn.read_control("NEXT or END", WAIT).await {}
    });
}

/// DEFLATE + BSON messages: the one-shot decoder, BSON on its own, and the envelope reader.
pub fn message_decode(data: &[u8]) {
    if let Ok(Some((_, used))) = frame::decode_message(data, 1 << 20) {
        assert!(used <= data.len());
    }
    if let Ok(doc) = hbson::decode(data) {
        let _ = Envelope::from_document(&doc);
    }
    let mut inflater = frame::Inflater::new(1 << 16);
    for piece in data.chunks(7) {
        match inflater.feed(piece) {
            Ok((used, done)) => {
                assert!(used <= piece.len());
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // It may hold one byte past the limit: that is how "over" is told from "exactly at".
    assert!(
        inflater.inflated() <= (1 << 16) + 1,
        "the inflater buffered {} bytes past its limit",
        inflater.inflated() - (1 << 16)
    );
}

/// A message announcing DataStreams, then the peer's frames. The first byte says how many
/// streams the (valid) message references and how long it says they are, so the fuzzer
/// spends its time on the frames instead of rediscovering DEFLATE.
pub fn stream_reader(data: &[u8]) {
    let (head, rest) = data.split_at(data.len().min(3));
    let count = head.first().map_or(0, |b| b % 4);
    let length = head
        .get(1..3)
        .map_or(0, |b| i64::from(u16::from_le_bytes([b[0], b[1]])));
    let params = (0..count)
        .map(|i| {
            DataStreamRef {
                id: Guid::from_dotnet_bytes([i; 16]),
                length: length >> i,
            }
            .to_bson_typed()
        })
        .collect();
    let request = RequestMessage::new("IFileTransferService", "UploadFile", params, 1);
    let Ok(mut wire) = frame::encode_message(&Envelope::Request(request)) else {
        return;
    };
    wire.extend_from_slice(rest);
    for bytes in [&wire[..], data] {
        run(async {
            let mut conn = Connection::new(duplex(bytes), small_limits());
            let _ = conn.read_message(WAIT, WAIT).await;
        });
    }
}

/// WebSocket frames: the header decoder on its own, then a server-side stream reading
/// every message the client bytes hold.
pub fn websocket_frames(data: &[u8]) {
    let mut at = 0;
    while let Ok(Some((header, used))) = decode_header(&data[at..], MAX_FRAME_PAYLOAD) {
        assert!(used > 0 && at + used <= data.len());
        let payload = usize::try_from(header.len).unwrap_or(usize::MAX);
        match at.checked_add(used).and_then(|a| a.checked_add(payload)) {
            Some(next) if next <= data.len() => at = next,
            _ => break,
        }
    }
    for role in [Role::Server, Role::Client] {
        run(async {
            use tokio::io::AsyncReadExt;
            let (leftover, stream) = data.split_at(data.len().min(5));
            let mut ws = WebSocketStream::new(duplex(stream), role, leftover.to_vec());
            let mut buf = [0u8; 4096];
            // Each read returns data or ends; the cap bounds a body that keeps answering pings.
            for _ in 0..10_000 {
                match ws.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
    }
}

/// The upgrade handshake both ways: a request to our acceptor, a response to our dialler.
pub fn websocket_handshake(data: &[u8]) {
    let _ = HttpRequest::parse(data);
    let _ = HttpResponse::parse(data);
    run(async {
        let _ = server_accept(duplex(data)).await;
    });
    if let Ok(url) = url::Url::parse("wss://octopus.example:443/OctopusComms") {
        run(async {
            let _ = client_handshake(duplex(data), &url).await;
        });
    }
}

/// The HTTP proxy's answer to CONNECT, with and without credentials configured.
pub fn proxy_reply(data: &[u8]) {
    let plain = ProxySettings::new("proxy.example", 3128);
    let with_user = ProxySettings::new("proxy.example", 3128).with_credentials("user", "pass");
    for proxy in [plain, with_user] {
        run(async {
            let _ = tunnel(&mut duplex(data), &proxy, "octopus.example", 10943).await;
        });
    }
}

/// A browser's request on the Halibut port: the preamble classifier, then the welcome
/// page's header skipping from each starting point.
pub fn welcome_request(data: &[u8]) {
    let _ = frame::take_preamble(data, true);
    let _ = HttpRequest::parse(data);
    for already in [AlreadyRead::Nothing, AlreadyRead::FirstLine] {
        run(async {
            let _ = serve_welcome(duplex(data), already).await;
        });
    }
}

/// The script services' commands: V1 and V2 StartScript and the ticket requests from BSON,
/// with every TimeSpan in them turned into a wait the way the engine does.
pub fn script_commands(data: &[u8]) {
    if let Ok(doc) = hbson::decode(data) {
        script_documents(doc);
    }
    // Text fields straight from the bytes: the TimeSpan parser sees arbitrary strings, and
    // the commands get values the fuzzer can shape without rebuilding BSON.
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{0}');
    let mut next = || fields.next().map(str::to_owned);
    let (wait, mutex, name, ticket) = (next(), next(), next(), next());
    let isolation_level = data.first().map_or(0, |b| i32::from(*b) - 128);
    let mut v2 = doc! {
        "Isolation": isolation_level,
        "ScriptBody": "echo hi",
        "ScriptTicket": { "TaskId": ticket.clone() },
    };
    if let Some(w) = &wait {
        v2.insert("DurationToWaitForScriptToFinish", w.as_str());
    }
    if let Some(m) = &mutex {
        v2.insert("ScriptIsolationMutexTimeout", m.as_str());
    }
    if let Some(n) = &name {
        v2.insert("IsolationMutexName", n.as_str());
    }
    script_documents(v2);
}

fn script_documents(doc: Document) {
    let as_param = || vec![Bson::Document(doc.clone())];
    if let Ok(cmd) = single_param::<StartScriptCommandV2>(as_param(), "StartScriptCommandV2") {
        let _ = isolation(cmd.isolation);
        for t in [
            cmd.duration_to_wait_for_script_to_finish.as_deref(),
            cmd.script_isolation_mutex_timeout.as_deref(),
        ] {
            if let Ok(d) = timespan(t, "TimeSpan") {
                wait_for(d);
            }
        }
    }
    if let Ok(cmd) = single_param::<StartScriptCommand>(as_param(), "StartScriptCommand") {
        let _ = isolation(cmd.isolation);
        if let Ok(d) = timespan(cmd.script_isolation_mutex_timeout.as_deref(), "TimeSpan") {
            wait_for(d);
        }
    }
    let _ = single_param::<TicketRequest>(as_param(), "ScriptStatusRequest");
}

/// What the engine does with a peer's TimeSpan: a deadline for the mutex wait, and a
/// round trip through the .NET text form.
fn wait_for(d: Duration) {
    let _ = deadline_after(tokio::time::Instant::now(), effective_timeout(d));
    let text = hbson::format_timespan(d);
    assert_eq!(
        hbson::parse_timespan(&text),
        Some(d),
        "TimeSpan {d:?} printed as {text:?} does not read back"
    );
}
