//! One Halibut connection over any byte stream: preamble, identity, control lines and messages with their DataStreams, each bounded in time and size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::HalibutError;
use super::bson::Guid;
use super::frame::{
    self, Control, FrameError, Identity, Inflater, Preamble, STREAM_HEADER_LEN, STREAM_TRAILER_LEN,
};
use super::message::{DataStreamRef, Envelope, data_streams};
pub use super::spool::ReceivedStream;
use super::spool::Spool;

/// Size limits that protect memory and disk from a hostile or broken peer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest inflated message document. Real ones are a few KiB; scripts travel as DataStreams.
    pub max_message: usize,
    /// Largest single DataStream.
    pub max_stream: u64,
    /// Where received DataStreams are spooled.
    pub temp_dir: PathBuf,
    /// What a peer may cost before it proves a trusted thumbprint (acceptors only).
    pub preauth: super::preauth::PreauthLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 16 * 1024 * 1024,
            max_stream: 64 * 1024 * 1024 * 1024,
            temp_dir: std::env::temp_dir(),
            preauth: Default::default(),
        }
    }
}

/// How long each step may take (§3.5, Tentacle's recommended values).
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// TLS handshake, preamble, identity, and a whole message once its first byte arrived.
    pub io: Duration,
    /// NEXT / PROCEED / END.
    pub control: Duration,
    /// A listening service waiting for the next request on an idle connection.
    pub listening_idle: Duration,
    /// A polling Tentacle waiting for the next request or keep-alive (30 s queue wait + 30 s).
    pub polling_receive: Duration,
    /// A caller waiting for the first byte of a response (the longest a call may run).
    pub response: Duration,
    /// The acceptor's idle wait before sending a null keep-alive to a subscriber.
    pub polling_queue_wait: Duration,
    /// The longest a request waits for a polling Tentacle to collect it.
    pub polling_request_queue: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            io: Duration::from_secs(60),
            control: Duration::from_secs(60),
            listening_idle: Duration::from_secs(600),
            polling_receive: Duration::from_secs(60),
            response: Duration::from_secs(300),
            polling_queue_wait: Duration::from_secs(30),
            polling_request_queue: Duration::from_secs(120),
        }
    }
}

/// Bytes to send as a DataStream.
#[derive(Debug, Clone)]
pub enum StreamSource {
    /// Small payloads held in memory.
    Bytes(Vec<u8>),
    /// A file streamed from disk; its length is checked when sending.
    File(PathBuf),
}

/// A DataStream to send after a message, matched to its placeholder by id.
#[derive(Debug, Clone)]
pub struct OutgoingStream {
    /// The placeholder's id.
    pub id: Guid,
    /// Declared length (must equal the placeholder's).
    pub length: u64,
    /// Where the bytes come from.
    pub source: StreamSource,
}

impl OutgoingStream {
    /// An in-memory stream with a fresh id; returns it and its placeholder.
    pub fn bytes(data: Vec<u8>) -> (OutgoingStream, DataStreamRef) {
        let id = Guid::new_random();
        let length = data.len() as u64;
        (
            OutgoingStream {
                id,
                length,
                source: StreamSource::Bytes(data),
            },
            DataStreamRef {
                id,
                length: length as i64,
            },
        )
    }

    /// A file with a fresh id; returns it and its placeholder.
    pub fn file(path: &Path) -> std::io::Result<(OutgoingStream, DataStreamRef)> {
        let length = std::fs::metadata(path)?.len();
        let id = Guid::new_random();
        Ok((
            OutgoingStream {
                id,
                length,
                source: StreamSource::File(path.to_path_buf()),
            },
            DataStreamRef {
                id,
                length: length as i64,
            },
        ))
    }
}

const CHUNK: usize = 64 * 1024;

/// A Halibut connection over `S`.
pub struct Connection<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    read_size: usize,
    limits: Limits,
    write_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Wraps an established (TLS or WebSocket) stream.
    pub fn new(stream: S, limits: Limits) -> Connection<S> {
        Connection {
            stream,
            buf: Vec::new(),
            start: 0,
            eof: false,
            read_size: 4096,
            limits,
            write_timeout: Timeouts::default().io,
        }
    }

    /// How long any one write may wait for the peer to take bytes (the I/O timeout by
    /// default): a peer that stops reading is dropped instead of holding a task for ever.
    pub fn set_write_timeout(&mut self, limit: Duration) {
        self.write_timeout = limit;
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > 2 * CHUNK {
                self.buf.shrink_to(CHUNK);
            }
        }
    }

    /// Reads more bytes before `deadline`; false at EOF.
    async fn fill(
        &mut self,
        deadline: Instant,
        what: &'static str,
        after: Duration,
    ) -> Result<bool, HalibutError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // Idle connections (most polling ones) keep a small buffer; bulk transfers grow it.
        self.buf.reserve(self.read_size);
        let r = timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
        let n = match r {
            Err(_) => return Err(HalibutError::Timeout { what, after }),
            // A peer that closes without TLS close_notify (as .NET does on rejection) has still closed.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(e)) => return Err(HalibutError::Io { what, source: e }),
            Ok(Ok(n)) => n,
        };
        if n >= self.read_size && self.read_size < CHUNK {
            self.read_size *= 2;
        }
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    async fn write_unit(&mut self, bytes: &[u8], what: &'static str) -> Result<(), HalibutError> {
        // One write and one flush per protocol unit, so old peers that read per TLS record cope (§3.6).
        self.write_raw(bytes, what).await?;
        self.flush_raw(what).await
    }

    /// `write_all` bounded by the write timeout.
    async fn write_raw(&mut self, bytes: &[u8], what: &'static str) -> Result<(), HalibutError> {
        let limit = self.write_timeout;
        match tokio::time::timeout(limit, self.stream.write_all(bytes)).await {
            Err(_) => Err(HalibutError::Timeout {
                what: "the peer to read what we sent",
                after: limit,
            }),
            Ok(r) => r.map_err(HalibutError::io(what)),
        }
    }

    /// `flush` bounded by the write timeout.
    async fn flush_raw(&mut self, what: &'static str) -> Result<(), HalibutError> {
        let limit = self.write_timeout;
        match tokio::time::timeout(limit, self.stream.flush()).await {
            Err(_) => Err(HalibutError::Timeout {
                what: "the peer to read what we sent",
                after: limit,
            }),
            Ok(r) => r.map_err(HalibutError::io(what)),
        }
    }

    /// Initiator: `MX\r\n\r\n`.
    pub async fn send_preamble(&mut self) -> Result<(), HalibutError> {
        self.write_unit(b"MX\r\n\r\n", "sending the MX preamble")
            .await
    }

    /// Acceptor: reads the preamble (§2.1).
    pub async fn read_preamble(&mut self, within: Duration) -> Result<Preamble, HalibutError> {
        let deadline = Instant::now() + within;
        let mut reader = frame::PreambleReader::default();
        loop {
            // Each byte is handed to the reader once and dropped from the buffer.
            let eof = self.eof;
            let (used, done) = reader.feed(self.pending(), eof);
            self.consume(used);
            if let Some(p) = done {
                return Ok(p);
            }
            self.fill(deadline, "the MX preamble", within).await?;
        }
    }

    /// Sends an identity line with its blank line in one write.
    pub async fn send_identity(&mut self, identity: &Identity) -> Result<(), HalibutError> {
        self.write_unit(
            &frame::encode_identity(identity),
            "sending the identity line",
        )
        .await
    }

    /// Reads the peer's identity.
    pub async fn read_identity(&mut self, within: Duration) -> Result<Identity, HalibutError> {
        let deadline = Instant::now() + within;
        let mut reader = frame::IdentityReader::default();
        loop {
            let (used, done) = reader.feed(self.pending())?;
            self.consume(used);
            if let Some(id) = done {
                return Ok(id);
            }
            if !self.fill(deadline, "the remote identity", within).await? {
                return Err(HalibutError::Closed("waiting for the remote identity"));
            }
        }
    }

    /// Sends NEXT, PROCEED or END.
    pub async fn send_control(&mut self, c: Control) -> Result<(), HalibutError> {
        self.write_unit(frame::encode_control(c), "sending a control line")
            .await
    }

    /// Reads a control line; `None` when the peer closed (treated like END by callers).
    pub async fn read_control(
        &mut self,
        expected: &'static str,
        within: Duration,
    ) -> Result<Option<Control>, HalibutError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((c, used)) = frame::parse_control(self.pending(), expected)? {
                self.consume(used);
                return Ok(Some(c));
            }
            if !self.fill(deadline, expected, within).await? {
                return Ok(None);
            }
        }
    }

    /// Sends a message and then its DataStreams, in placeholder order (§5.2).
    pub async fn send_message(
        &mut self,
        envelope: &Envelope,
        mut streams: Vec<OutgoingStream>,
    ) -> Result<(), HalibutError> {
        let refs = data_streams(envelope);
        if refs.len() != streams.len() {
            return Err(HalibutError::DataStream(format!(
                "the message references {} DataStreams but {} were supplied",
                refs.len(),
                streams.len()
            )));
        }
        let bytes = frame::encode_message(envelope)?;
        self.write_raw(&bytes, "sending a message").await?;
        for r in refs {
            let index = streams.iter().position(|s| s.id == r.id).ok_or_else(|| {
                HalibutError::DataStream(format!("no data supplied for DataStream {}", r.id))
            })?;
            let s = streams.swap_remove(index);
            if s.length as i64 != r.length {
                return Err(HalibutError::DataStream(format!(
                    "DataStream {} is declared as {} bytes but {} were supplied",
                    r.id, r.length, s.length
                )));
            }
            self.send_stream(s).await?;
        }
        self.flush_raw("sending a message").await
    }

    async fn send_stream(&mut self, s: OutgoingStream) -> Result<(), HalibutError> {
        let what = "sending a DataStream";
        self.write_unit(&frame::encode_stream_header(s.id, s.length), what)
            .await?;
        let sent = match s.source {
            StreamSource::Bytes(b) => {
                self.write_raw(&b, what).await?;
                b.len() as u64
            }
            StreamSource::File(path) => {
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(HalibutError::io(what))?;
                let mut chunk = vec![0u8; CHUNK];
                let mut total = 0u64;
                loop {
                    let want = (s.length - total).min(CHUNK as u64) as usize;
                    if want == 0 {
                        break;
                    }
                    let n = file
                        .read(&mut chunk[..want])
                        .await
                        .map_err(HalibutError::io(what))?;
                    if n == 0 {
                        break;
                    }
                    self.write_raw(&chunk[..n], what).await?;
                    total += n as u64;
                }
                total
            }
        };
        if sent != s.length {
            // Writing the trailer anyway would desynchronise the peer; abandon the connection.
            return Err(HalibutError::DataStream(format!(
                "DataStream {} changed while it was being sent: declared {} bytes, found {sent}",
                s.id, s.length
            )));
        }
        self.flush_raw(what).await?;
        self.write_unit(&frame::encode_stream_trailer(s.length), what)
            .await
    }

    /// Waits up to `first_byte` for the next message to start arriving; false when the peer
    /// closed first. Cancel-safe (a read either lands in the buffer or never happened), so a
    /// caller may give up on an idle connection without losing a message that began.
    pub async fn wait_for_message(&mut self, first_byte: Duration) -> Result<bool, HalibutError> {
        if !self.pending().is_empty() {
            return Ok(true);
        }
        self.fill(Instant::now() + first_byte, "the next message", first_byte)
            .await
    }

    /// Reads the next message and its DataStreams. `first_byte` bounds the wait for the message
    /// to start; after that the message must complete within the I/O timeout. `None` when
    /// the peer closed cleanly before starting one.
    pub async fn read_message(
        &mut self,
        first_byte: Duration,
        io: Duration,
    ) -> Result<Option<(Envelope, Vec<ReceivedStream>)>, HalibutError> {
        if self.pending().is_empty()
            && !self
                .fill(Instant::now() + first_byte, "the next message", first_byte)
                .await?
        {
            return Ok(None);
        }
        let deadline = Instant::now() + io;
        let mut inflater = Inflater::new(self.limits.max_message);
        loop {
            let (used, done) = inflater.feed(self.pending())?;
            self.consume(used);
            if done {
                break;
            }
            if !self.fill(deadline, "the rest of a message", io).await? {
                return Err(HalibutError::Closed("receiving a message"));
            }
        }
        let doc = super::bson::decode(&inflater.into_inner()).map_err(FrameError::from)?;
        let envelope = Envelope::from_document(&doc).map_err(FrameError::from)?;
        let refs = data_streams(&envelope);
        let streams = self.read_streams(&refs, io).await?;
        Ok(Some((envelope, streams)))
    }

    async fn read_streams(
        &mut self,
        refs: &[DataStreamRef],
        io: Duration,
    ) -> Result<Vec<ReceivedStream>, HalibutError> {
        let mut expected: HashMap<Guid, i64> = refs.iter().map(|r| (r.id, r.length)).collect();
        let mut out = Vec::with_capacity(refs.len());
        for _ in refs {
            let header: [u8; STREAM_HEADER_LEN] =
                self.read_exact_array(io, "a DataStream header").await?;
            let (id, length) = frame::decode_stream_header(&header, self.limits.max_stream)?;
            if expected.remove(&id).is_none() {
                return Err(HalibutError::DataStream(format!(
                    "Unexpected stream! {id} is not referenced by the message, or came twice"
                )));
            }
            let mut spool = Spool::start(self.limits.temp_dir.clone());
            let mut batch = Vec::with_capacity(CHUNK.min(length as usize));
            let mut left = length;
            while left > 0 {
                if self.pending().is_empty() {
                    // Each chunk must arrive within the I/O timeout; a large stream may take longer overall.
                    let deadline = Instant::now() + io;
                    if !self.fill(deadline, "DataStream bytes", io).await? {
                        return Err(HalibutError::Closed("receiving a DataStream"));
                    }
                }
                let take = (self.pending().len() as u64)
                    .min(left)
                    .min((CHUNK - batch.len()) as u64) as usize;
                batch.extend_from_slice(&self.pending()[..take]);
                self.consume(take);
                left -= take as u64;
                if batch.len() == CHUNK || left == 0 {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(CHUNK));
                    spool.write(full).await.map_err(HalibutError::DataStream)?;
                }
            }
            let trailer: [u8; STREAM_TRAILER_LEN] =
                self.read_exact_array(io, "a DataStream trailer").await?;
            frame::decode_stream_trailer(&trailer, length)?;
            let file = spool.finish().await.map_err(HalibutError::DataStream)?;
            out.push(ReceivedStream::new(id, length, file));
        }
        Ok(out)
    }

    async fn read_exact_array<const N: usize>(
        &mut self,
        io: Duration,
        what: &'static str,
    ) -> Result<[u8; N], HalibutError> {
        let deadline = Instant::now() + io;
        while self.pending().len() < N {
            if !self.fill(deadline, what, io).await? {
                return Err(HalibutError::Closed("receiving a DataStream"));
            }
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.pending()[..N]);
        self.consume(N);
        Ok(out)
    }

    /// Best-effort END and close; errors are irrelevant once we are leaving.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = self
                .stream
                .write_all(frame::encode_control(Control::End))
                .await;
            let _ = self.stream.flush().await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }

    /// Close without END (after a protocol error).
    pub async fn abort(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }

    /// Hands back the stream and any bytes read past the last unit (for the welcome page).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buf[self.start..].to_vec();
        (self.stream, rest)
    }
}
