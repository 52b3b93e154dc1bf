//! A WebSocket connection seen as a byte stream (§7.3): each write one data frame, reads the payload of any data frames.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{
    self, FrameError, FrameHeader, MAX_HEADER_LEN, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING,
    OP_PONG,
};
use crate::halibut::transport::TransportError;

/// Largest data frame payload we accept from a peer.
pub const MAX_FRAME_PAYLOAD: u64 = 16 * 1024 * 1024;

/// Largest data frame we send; a longer write is reported as partially written.
const MAX_SEND_FRAME: usize = 1024 * 1024;

/// Unsent bytes beyond which pings go unanswered (one data frame plus room for pongs).
pub(crate) const MAX_PENDING_WRITE: usize = MAX_SEND_FRAME + 64 * 1024;

/// Size of the read buffer; must hold a whole control frame (header plus 125 bytes).
const READ_BUFFER: usize = 16 * 1024;

/// Which end we are: clients mask what they send and expect unmasked frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the upgrade request (Tentacle).
    Client,
    /// The end that accepted it (Octopus Server).
    Server,
}

/// Which half of the stream is driving the transport's write side.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// `poll_read`, sending the pongs and Close replies it queued.
    Reader,
    /// `poll_write`, `poll_flush` or `poll_shutdown`.
    Writer,
}

/// The tasks waiting for the transport's write side. Both halves of a split stream write to
/// it (the reader its control replies), but a transport keeps one waker per direction: the
/// last poll's. So every write-side poll passes a waker that wakes both recorded tasks, and
/// neither half can take the other's wake-up. An extra wake-up only costs a re-poll.
#[derive(Debug, Default)]
struct WriteWakers {
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl WriteWakers {
    fn slot(&self, side: Side) -> &Mutex<Option<Waker>> {
        match side {
            Side::Reader => &self.reader,
            Side::Writer => &self.writer,
        }
    }

    /// Records `waker` as `side`'s, to be woken when the transport's write side is ready.
    fn register(&self, side: Side, waker: &Waker) {
        let mut slot = self
            .slot(side)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for side in [Side::Reader, Side::Writer] {
            // Take the waker out first: never wake a task while holding the lock.
            let waker = self
                .slot(side)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// A WebSocket connection after the handshake, read and written as one endless byte stream.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    inner: S,
    role: Role,
    max_payload: u64,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Payload bytes of the current data frame not yet handed out.
    payload_left: u64,
    payload_mask: Option<[u8; 4]>,
    mask_offset: usize,
    read_closed: bool,
    /// Whole encoded frames waiting to go out; never a partial frame, so control replies
    /// can be appended between data frames.
    wbuf: Vec<u8>,
    wpos: usize,
    sent_first_data_frame: bool,
    close_sent: bool,
    /// The read side queued a pong or Close reply that is not yet written and flushed; it
    /// pushes them out itself rather than wait for the writer, which may be idle for long.
    control_unflushed: bool,
    /// Tasks parked on the transport's write side, and the waker that wakes them all.
    write_wakers: Arc<WriteWakers>,
    write_waker: Waker,
}

impl<S> WebSocketStream<S> {
    /// Wraps a stream whose handshake is done; `leftover` is what was read past the HTTP head.
    pub(crate) fn new(inner: S, role: Role, leftover: Vec<u8>) -> WebSocketStream<S> {
        let mut rbuf = vec![0u8; READ_BUFFER.max(leftover.len())];
        rbuf[..leftover.len()].copy_from_slice(&leftover);
        let write_wakers = Arc::new(WriteWakers::default());
        WebSocketStream {
            inner,
            role,
            max_payload: MAX_FRAME_PAYLOAD,
            rbuf,
            rstart: 0,
            rend: leftover.len(),
            payload_left: 0,
            payload_mask: None,
            mask_offset: 0,
            read_closed: false,
            wbuf: Vec::new(),
            wpos: 0,
            sent_first_data_frame: false,
            close_sent: false,
            control_unflushed: false,
            write_wakers: Arc::clone(&write_wakers),
            write_waker: Waker::from(write_wakers),
        }
    }

    /// The underlying stream (e.g. the TLS stream, for the peer's certificate).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The underlying stream, mutably. Writing to it directly corrupts the framing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Queued bytes not yet written to the transport.
    #[cfg(test)]
    pub(crate) fn pending_write(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Appends one whole frame to the write buffer, masked when we are the client.
    pub(crate) fn queue_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else if self.wpos >= self.wbuf.len() / 2 {
            // Pongs appended while a slow peer drains the buffer would otherwise keep the
            // sent prefix forever; dropping it here costs at most what was sent since.
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        let mask = match self.role {
            Role::Client => Some(rand::random::<[u8; 4]>()),
            Role::Server => None,
        };
        frame::encode_frame(fin, opcode, mask, payload, &mut self.wbuf);
    }

    /// Queues a Close frame with `code` and `reason` unless one was already sent.
    fn queue_close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.queue_frame(true, OP_CLOSE, &payload);
        self.close_sent = true;
    }
}

fn protocol_error(e: FrameError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        TransportError::WebSocketFrame(e),
    )
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the connection closed in the middle of a WebSocket frame",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Writes queued frames until none are left. `side` is who is asking: its task is woken
    /// when the transport can take more (see [`WriteWakers`]).
    fn poll_drain(&mut self, side: Side, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_wakers.register(side, cx.waker());
        let mut write_cx = Context::from_waker(&self.write_waker);
        while self.wpos < self.wbuf.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(&mut write_cx, &self.wbuf[self.wpos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes queued frames and flushes the transport.
    fn poll_drain_and_flush(&mut self, side: Side, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(side, cx))?;
        let mut write_cx = Context::from_waker(&self.write_waker);
        ready!(Pin::new(&mut self.inner).poll_flush(&mut write_cx))?;
        // Everything queued, control replies included, is now with the peer's transport.
        self.control_unflushed = false;
        Poll::Ready(Ok(()))
    }

    /// From the read side: sends and flushes queued pongs and Close replies, as far as the
    /// transport takes them without waiting. Reads never wait on writes (a peer that pings
    /// but does not read must not stall them); if the transport is busy, the next poll of
    /// either half carries on, and this task is woken when the transport can take more.
    /// A write error is left for the writer to report.
    fn poll_send_control_replies(&mut self, cx: &mut Context<'_>) {
        if !self.control_unflushed {
            return;
        }
        if let Poll::Ready(Err(e)) = self.poll_drain_and_flush(Side::Reader, cx) {
            tracing::debug!(error = %e, "could not send a WebSocket control reply");
            self.control_unflushed = false;
        }
    }

    /// Reads more bytes into the read buffer; `Ok(0)` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rend == self.rbuf.len() {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() {
            // Cannot happen with a 16 KiB buffer and frames needing at most 139 bytes of
            // lookahead, but an empty read buffer would look like EOF, so never offer one.
            self.rbuf.resize(self.rbuf.len() * 2, 0);
        }
        let mut read = ReadBuf::new(&mut self.rbuf[self.rend..]);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.rend += n;
        Poll::Ready(Ok(n))
    }

    /// Handles control frames until the next data frame header, which it consumes and
    /// returns. `None` means the peer closed (Close frame, or EOF between frames).
    pub(crate) fn poll_next_data_header(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<FrameHeader>>> {
        loop {
            if self.read_closed {
                return Poll::Ready(Ok(None));
            }
            let available = &self.rbuf[self.rstart..self.rend];
            let Some((header, header_len)) =
                frame::decode_header(available, self.max_payload).map_err(protocol_error)?
            else {
                if ready!(self.poll_fill(cx))? == 0 {
                    if self.rstart == self.rend {
                        // EOF without a Close frame: abnormal, but it still means "no more data".
                        self.read_closed = true;
                        return Poll::Ready(Ok(None));
                    }
                    return Poll::Ready(Err(truncated()));
                }
                continue;
            };
            let masked = header.mask.is_some();
            match (self.role, masked) {
                (Role::Server, false) => {
                    return Poll::Ready(Err(protocol_error(FrameError::Masking {
                        from: "client",
                        masked,
                    })));
                }
                (Role::Client, true) => {
                    return Poll::Ready(Err(protocol_error(FrameError::Masking {
                        from: "server",
                        masked,
                    })));
                }
                _ => {}
            }
            if !header.is_control() {
                self.rstart += header_len;
                return Poll::Ready(Ok(Some(header)));
            }
            // Control payloads are at most 125 bytes; wait until the whole frame is buffered.
            let total = header_len + header.len as usize;
            debug_assert!(total <= MAX_HEADER_LEN + 125);
            if self.rend - self.rstart < total {
                if ready!(self.poll_fill(cx))? == 0 {
                    return Poll::Ready(Err(truncated()));
                }
                continue;
            }
            let mut payload = self.rbuf[self.rstart + header_len..self.rstart + total].to_vec();
            self.rstart += total;
            if let Some(mask) = header.mask {
                frame::apply_mask(&mut payload, mask, 0);
            }
            match header.opcode {
                // No pong once our Close is out: nothing may follow it (RFC 6455 §5.5.1).
                // And none while a backlog of them is unsent: a peer that pings but never
                // reads must not grow our buffer; RFC 6455 §5.5.3 lets us skip them.
                OP_PING if !self.close_sent && self.wbuf.len() - self.wpos <= MAX_PENDING_WRITE => {
                    self.queue_frame(true, OP_PONG, &payload);
                    self.control_unflushed = true;
                }
                OP_CLOSE => {
                    tracing::debug!(
                        code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])),
                        "WebSocket peer sent Close"
                    );
                    self.queue_close(1000, "");
                    self.control_unflushed = true;
                    self.read_closed = true;
                }
                // Unsolicited pongs are keep-alives (§7.3).
                _ => {}
            }
            self.poll_send_control_replies(cx);
        }
    }

    /// Copies payload bytes of the current data frame into `buf`, unmasking them.
    pub(crate) fn poll_read_payload(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.rstart == self.rend && ready!(self.poll_fill(cx))? == 0 {
            return Poll::Ready(Err(truncated()));
        }
        let take = (self.rend - self.rstart)
            .min(buf.remaining())
            .min(usize::try_from(self.payload_left).unwrap_or(usize::MAX));
        let chunk = &mut self.rbuf[self.rstart..self.rstart + take];
        if let Some(mask) = self.payload_mask {
            frame::apply_mask(chunk, mask, self.mask_offset);
        }
        buf.put_slice(chunk);
        self.rstart += take;
        self.mask_offset = self.mask_offset.wrapping_add(take);
        self.payload_left -= take as u64;
        Poll::Ready(Ok(()))
    }

    /// Makes `header` (just returned by `poll_next_data_header`) the frame being read.
    pub(crate) fn begin_payload(&mut self, header: &FrameHeader) {
        self.payload_left = header.len;
        self.payload_mask = header.mask;
        self.mask_offset = 0;
    }

    /// Payload bytes of the current frame still to read.
    pub(crate) fn payload_left(&self) -> u64 {
        self.payload_left
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WebSocketStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // Finish sending any pong or Close reply a previous read queued.
        this.poll_send_control_replies(cx);
        loop {
            if this.payload_left > 0 {
                return this.poll_read_payload(cx, buf);
            }
            // Message boundaries mean nothing here: text or binary, FIN or not (§7.3).
            match ready!(this.poll_next_data_header(cx))? {
                None => return Poll::Ready(Ok(())),
                Some(header) => this.begin_payload(&header),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WebSocketStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.close_sent {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the WebSocket connection is closing; nothing more can be sent",
            )));
        }
        // A zero-length data frame reads as EOF on a .NET peer (§7.3): never send one.
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Backpressure: queue a new frame only once earlier ones are on their way.
        ready!(this.poll_drain(Side::Writer, cx))?;
        let n = buf.len().min(MAX_SEND_FRAME);
        let opcode = if this.sent_first_data_frame {
            OP_CONTINUATION
        } else {
            OP_BINARY
        };
        // One never-ending binary message: FIN stays clear (§7.3).
        this.queue_frame(false, opcode, &buf[..n]);
        this.sent_first_data_frame = true;
        // The frame is queued, so the bytes count as written; start sending, and let
        // flush finish if the transport is busy.
        if let Poll::Ready(Err(e)) = this.poll_drain(Side::Writer, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain_and_flush(Side::Writer, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.queue_close(1000, "Closing");
        ready!(this.poll_drain_and_flush(Side::Writer, cx))?;
        this.write_wakers.register(Side::Writer, cx.waker());
        let mut write_cx = Context::from_waker(&this.write_waker);
        Pin::new(&mut this.inner).poll_shutdown(&mut write_cx)
    }
}
