//! WebSocket polling's transport (§7), framed by hand because Halibut sends one endless fragmented binary message that message-level libraries never deliver.
//!
//! Layers: [`frame`] encodes and decodes headers (no I/O), [`WebSocketStream`] turns frames
//! into a byte stream, and the handshake functions open one as a client or server.

pub mod frame;
mod handshake;
mod stream;

pub use frame::FrameError;
pub use handshake::{
    HANDSHAKE_TIMEOUT, SUBPROTOCOL, ServerAccept, accept_key, client_handshake, server_accept,
};
pub use stream::{MAX_FRAME_PAYLOAD, Role, WebSocketStream};

#[cfg(test)]
mod tests {
    use super::frame::{OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
    use super::*;
    use crate::halibut::transport::TransportError;
    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    fn url() -> url::Url {
        url::Url::parse("wss://octopus.example.com/OctopusComms/").unwrap()
    }

    /// A client and server WebSocket over an in-memory pipe with `capacity` bytes of buffer.
    async fn pair(
        capacity: usize,
    ) -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (a, b) = duplex(capacity);
        let url = url();
        let (client, server) = tokio::join!(client_handshake(a, &url), server_accept(b));
        let client = client.unwrap();
        let ServerAccept::WebSocket { stream, request } = server.unwrap() else {
            panic!("not accepted as a WebSocket");
        };
        assert_eq!(request.target, "/OctopusComms/");
        assert_eq!(request.header("host"), Some("octopus.example.com"));
        assert!(
            request
                .header("x-octopus-requestid")
                .is_some_and(|v| v.len() == 36)
        );
        (client, stream)
    }

    /// Reads one raw frame from `raw`: (fin, opcode, unmasked payload, was masked).
    async fn raw_frame(raw: &mut DuplexStream) -> (bool, u8, Vec<u8>, bool) {
        let mut buf = Vec::new();
        loop {
            if let Some((h, hlen)) = frame::decode_header(&buf, u64::MAX >> 1).unwrap()
                && buf.len() >= hlen + h.len as usize
            {
                let mut payload = buf[hlen..hlen + h.len as usize].to_vec();
                if let Some(m) = h.mask {
                    frame::apply_mask(&mut payload, m, 0);
                }
                assert_eq!(buf.len(), hlen + h.len as usize, "read past one frame");
                return (h.fin, h.opcode, payload, h.mask.is_some());
            }
            let mut byte = [0u8; 1];
            assert_eq!(raw.read(&mut byte).await.unwrap(), 1, "EOF inside a frame");
            buf.push(byte[0]);
        }
    }

    fn raw_bytes(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::encode_frame(fin, opcode, mask, payload, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn arbitrary_chunks_cross_both_ways(
            up in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5000), 0..12),
            down in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5000), 0..12),
            capacity in prop::sample::select(vec![7usize, 100, 4096, 65536]),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let run = async {
                let (client, server) = pair(capacity).await;
                let (mut client_r, mut client_w) = tokio::io::split(client);
                let (mut server_r, mut server_w) = tokio::io::split(server);
                let up_all: Vec<u8> = up.concat();
                let down_all: Vec<u8> = down.concat();
                let send_up = async {
                    for chunk in &up {
                        client_w.write_all(chunk).await.unwrap();
                        client_w.flush().await.unwrap();
                    }
                };
                let send_down = async {
                    for chunk in &down {
                        server_w.write_all(chunk).await.unwrap();
                    }
                    server_w.flush().await.unwrap();
                };
                let recv_up = async {
                    let mut got = vec![0u8; up_all.len()];
                    server_r.read_exact(&mut got).await.unwrap();
                    got
                };
                let recv_down = async {
                    let mut got = vec![0u8; down_all.len()];
                    client_r.read_exact(&mut got).await.unwrap();
                    got
                };
                let ((), (), got_up, got_down) = tokio::join!(send_up, send_down, recv_up, recv_down);
                assert_eq!(got_up, up_all);
                assert_eq!(got_down, down_all);

                // Close from the client reads as EOF on the server, and the reply as EOF back.
                // Concurrently: a small pipe cannot hold a whole Close frame.
                let mut rest_server = Vec::new();
                let mut rest_client = Vec::new();
                let (shut, eof) = tokio::join!(client_w.shutdown(), server_r.read_to_end(&mut rest_server));
                shut.unwrap();
                eof.unwrap();
                let (flushed, eof) = tokio::join!(server_w.flush(), client_r.read_to_end(&mut rest_client));
                flushed.unwrap();
                eof.unwrap();
                assert!(rest_server.is_empty() && rest_client.is_empty());
            };
            let limit = std::time::Duration::from_secs(60);
            rt.block_on(async { tokio::time::timeout(limit, run).await.expect("stalled") });
        }
    }

    #[tokio::test]
    async fn client_frames_are_mx_then_one_endless_binary_message() {
        let (a, mut raw) = duplex(64 * 1024);
        let mut ws = WebSocketStream::new(a, Role::Client, Vec::new());
        ws.queue_frame(true, OP_TEXT, b"MX");
        ws.write_all(b"MX-SUBSCRIBER 1.0 poll://x/\r\n\r\n")
            .await
            .unwrap();
        ws.write_all(b"").await.unwrap();
        ws.write_all(b"NEXT\r\n").await.unwrap();
        ws.flush().await.unwrap();
        assert_eq!(
            raw_frame(&mut raw).await,
            (true, OP_TEXT, b"MX".to_vec(), true)
        );
        assert_eq!(
            raw_frame(&mut raw).await,
            (
                false,
                OP_BINARY,
                b"MX-SUBSCRIBER 1.0 poll://x/\r\n\r\n".to_vec(),
                true
            )
        );
        // The empty write produced no frame.
        assert_eq!(
            raw_frame(&mut raw).await,
            (false, OP_CONTINUATION, b"NEXT\r\n".to_vec(), true)
        );
        ws.shutdown().await.unwrap();
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"Closing");
        assert_eq!(raw_frame(&mut raw).await, (true, OP_CLOSE, close, true));
    }

    #[tokio::test]
    async fn server_frames_are_unmasked() {
        let (a, mut raw) = duplex(64 * 1024);
        let mut ws = WebSocketStream::new(a, Role::Server, Vec::new());
        ws.write_all(b"MX-SERVER 1.0\r\n\r\n").await.unwrap();
        ws.flush().await.unwrap();
        assert_eq!(
            raw_frame(&mut raw).await,
            (false, OP_BINARY, b"MX-SERVER 1.0\r\n\r\n".to_vec(), false)
        );
    }

    #[tokio::test]
    async fn pings_between_data_frames_get_pongs_and_pongs_are_ignored() {
        let (a, mut raw) = duplex(64 * 1024);
        let mut ws = WebSocketStream::new(a, Role::Client, Vec::new());
        let mut wire = raw_bytes(false, OP_BINARY, None, b"hello ");
        wire.extend(raw_bytes(true, OP_PING, None, b"keepalive"));
        wire.extend(raw_bytes(true, OP_PONG, None, b"unsolicited"));
        wire.extend(raw_bytes(false, OP_CONTINUATION, None, b"world"));
        // FIN set and a new message: boundaries still mean nothing to the byte stream.
        wire.extend(raw_bytes(true, OP_CONTINUATION, None, b"!"));
        wire.extend(raw_bytes(true, OP_TEXT, None, b"?"));
        raw.write_all(&wire).await.unwrap();
        let mut got = vec![0u8; 13];
        ws.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"hello world!?");
        assert_eq!(
            raw_frame(&mut raw).await,
            (true, OP_PONG, b"keepalive".to_vec(), true)
        );
    }

    /// Reader and writer halves in separate tasks over a tiny pipe, with pings arriving while
    /// the writer is parked: every pong must still go out and neither task may stall.
    /// Pongs queued by the last reads go out with the next poll of either half (nothing runs
    /// in the background), so the halves are flushed once both tasks are done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_tasks_with_pings_do_not_stall() {
        const PINGS: usize = 40;
        const UP: usize = 40_000;
        let (a, raw) = duplex(64);
        let (client_r, client_w) =
            tokio::io::split(WebSocketStream::new(a, Role::Client, Vec::new()));
        let (mut raw_r, mut raw_w) = tokio::io::split(raw);
        let writer = tokio::spawn(async move {
            let mut client_w = client_w;
            for chunk in vec![7u8; UP].chunks(1000) {
                client_w.write_all(chunk).await.unwrap();
                client_w.flush().await.unwrap();
            }
            client_w
        });
        let reader = tokio::spawn(async move {
            let mut client_r = client_r;
            let mut got = vec![0u8; PINGS * 100];
            client_r.read_exact(&mut got).await.unwrap();
            assert!(got.iter().all(|b| *b == 9));
            client_r
        });
        let pinger = tokio::spawn(async move {
            for i in 0..PINGS {
                let mut wire = raw_bytes(true, OP_PING, None, &[i as u8]);
                wire.extend(raw_bytes(false, OP_CONTINUATION, None, &[9u8; 100]));
                raw_w.write_all(&wire).await.unwrap();
            }
            raw_w
        });
        let collector = tokio::spawn(async move {
            let (mut pongs, mut data) = (Vec::new(), 0usize);
            while pongs.len() < PINGS || data < UP {
                let mut buf = Vec::new();
                let (h, hlen) = loop {
                    if let Some(found) = frame::decode_header(&buf, u64::MAX >> 1).unwrap() {
                        break found;
                    }
                    let mut byte = [0u8; 1];
                    raw_r.read_exact(&mut byte).await.unwrap();
                    buf.push(byte[0]);
                };
                let mut payload = vec![0u8; h.len as usize];
                raw_r.read_exact(&mut payload).await.unwrap();
                assert_eq!(hlen, buf.len());
                frame::apply_mask(&mut payload, h.mask.unwrap(), 0);
                match h.opcode {
                    OP_PONG => pongs.push(payload[0]),
                    OP_BINARY | OP_CONTINUATION => data += payload.len(),
                    other => panic!("unexpected opcode {other}"),
                }
            }
            (pongs, data)
        });
        let all = async {
            let (w, r) = tokio::join!(writer, reader);
            let mut ws = r.unwrap().unsplit(w.unwrap());
            ws.flush().await.unwrap();
            let (p, c) = tokio::join!(pinger, collector);
            (ws, p.unwrap(), c.unwrap())
        };
        let (_ws, _p, (pongs, data)) =
            tokio::time::timeout(std::time::Duration::from_secs(30), all)
                .await
                .expect("a task stalled");
        assert_eq!(pongs, (0..PINGS as u8).collect::<Vec<_>>());
        assert_eq!(data, UP);
    }

    /// A write abandoned while it waits for the transport (a timeout, a `select!`) must not
    /// leave the reader thinking a writer will send its pongs.
    #[tokio::test]
    async fn pongs_go_out_after_a_parked_write_was_abandoned() {
        let (a, mut raw) = duplex(64);
        let (mut client_r, mut client_w) =
            tokio::io::split(WebSocketStream::new(a, Role::Client, Vec::new()));
        // The first write is queued; the second waits for the full pipe and is abandoned.
        client_w.write_all(&[1; 1000]).await.unwrap();
        let wait = std::time::Duration::from_millis(20);
        assert!(
            tokio::time::timeout(wait, client_w.write_all(&[2; 1000]))
                .await
                .is_err()
        );
        raw.write_all(&raw_bytes(true, OP_PING, None, b"p"))
            .await
            .unwrap();
        // Only the reader is polled from now on: it must send the queued frame and the pong.
        let read = async {
            let mut got = [0u8; 4];
            client_r.read_exact(&mut got).await.unwrap();
            got
        };
        let peer = async {
            assert_eq!(
                raw_frame(&mut raw).await,
                (false, OP_BINARY, vec![1; 1000], true)
            );
            assert_eq!(
                raw_frame(&mut raw).await,
                (true, OP_PONG, b"p".to_vec(), true)
            );
            raw.write_all(&raw_bytes(false, OP_BINARY, None, b"done"))
                .await
                .unwrap();
        };
        let limit = std::time::Duration::from_secs(30);
        let (got, ()) = tokio::time::timeout(limit, async { tokio::join!(read, peer) })
            .await
            .expect("the pong never went out");
        assert_eq!(&got, b"done");
    }

    /// Over a transport that buffers until flushed (TLS does), the reader flushes its pongs.
    #[tokio::test]
    async fn pongs_are_flushed_through_a_buffering_transport() {
        let (a, mut raw) = duplex(64 * 1024);
        let mut ws = WebSocketStream::new(tokio::io::BufWriter::new(a), Role::Client, Vec::new());
        raw.write_all(&raw_bytes(true, OP_PING, None, b"p"))
            .await
            .unwrap();
        let read = async {
            let mut got = [0u8; 4];
            ws.read_exact(&mut got).await.unwrap();
            got
        };
        let peer = async {
            assert_eq!(
                raw_frame(&mut raw).await,
                (true, OP_PONG, b"p".to_vec(), true)
            );
            raw.write_all(&raw_bytes(false, OP_BINARY, None, b"done"))
                .await
                .unwrap();
        };
        let limit = std::time::Duration::from_secs(30);
        let (got, ()) = tokio::time::timeout(limit, async { tokio::join!(read, peer) })
            .await
            .expect("the pong was never flushed");
        assert_eq!(&got, b"done");
    }

    #[tokio::test]
    async fn a_peer_that_pings_but_never_reads_cannot_grow_our_buffer() {
        let (a, raw) = duplex(256);
        let mut ws = WebSocketStream::new(a, Role::Client, Vec::new());
        let (_raw_r, mut raw_w) = tokio::io::split(raw);
        let flood = tokio::spawn(async move {
            let ping = raw_bytes(true, OP_PING, None, &[0x55; 125]);
            for _ in 0..20_000 {
                raw_w.write_all(&ping).await.unwrap();
            }
            raw_w
                .write_all(&raw_bytes(false, OP_BINARY, None, b"end"))
                .await
                .unwrap();
            raw_w
        });
        let mut got = [0u8; 3];
        ws.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"end");
        assert!(
            ws.pending_write() <= stream::MAX_PENDING_WRITE + 200,
            "{}",
            ws.pending_write()
        );
        drop(flood.await.unwrap());
    }

    #[tokio::test]
    async fn close_reads_as_eof_and_is_answered() {
        let (a, mut raw) = duplex(64 * 1024);
        let mut ws = WebSocketStream::new(a, Role::Server, Vec::new());
        let mut close = 1001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"Going away");
        let mut wire = raw_bytes(false, OP_BINARY, Some([1, 2, 3, 4]), b"last");
        wire.extend(raw_bytes(true, OP_CLOSE, Some([9, 8, 7, 6]), &close));
        raw.write_all(&wire).await.unwrap();
        let mut got = Vec::new();
        ws.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last");
        assert_eq!(
            raw_frame(&mut raw).await,
            (true, OP_CLOSE, 1000u16.to_be_bytes().to_vec(), false)
        );
        let err = ws.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        // Shutting down after the reply sends no second Close.
        ws.shutdown().await.unwrap();
        drop(ws);
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }

    #[tokio::test]
    async fn protocol_violations_are_errors() {
        let cases: Vec<(Role, Vec<u8>)> = vec![
            // Unmasked frame to a server.
            (Role::Server, raw_bytes(false, OP_BINARY, None, b"x")),
            // Masked frame to a client.
            (
                Role::Client,
                raw_bytes(false, OP_BINARY, Some([1, 1, 1, 1]), b"x"),
            ),
            // Reserved bit.
            (Role::Client, vec![0x42, 0x01, b'x']),
            // Unknown opcode.
            (Role::Client, vec![0x83, 0x01, b'x']),
            // Over the payload limit.
            (Role::Client, {
                let mut v = vec![0x02, 127];
                v.extend_from_slice(&(MAX_FRAME_PAYLOAD + 1).to_be_bytes());
                v
            }),
        ];
        for (role, wire) in cases {
            let (a, mut raw) = duplex(1024);
            let mut ws = WebSocketStream::new(a, role, Vec::new());
            raw.write_all(&wire).await.unwrap();
            let mut buf = [0u8; 8];
            let err = ws.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{wire:?}");
            let inner = err
                .get_ref()
                .unwrap()
                .downcast_ref::<TransportError>()
                .unwrap();
            assert!(
                matches!(inner, TransportError::WebSocketFrame(_)),
                "{inner:?}"
            );
        }
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_an_error_and_between_frames_is_eof() {
        let (a, mut raw) = duplex(1024);
        let mut ws = WebSocketStream::new(a, Role::Client, Vec::new());
        raw.write_all(&raw_bytes(false, OP_BINARY, None, b"complete")[..])
            .await
            .unwrap();
        raw.write_all(&raw_bytes(false, OP_CONTINUATION, None, b"cut")[..3])
            .await
            .unwrap();
        drop(raw);
        let mut buf = vec![0u8; 8];
        ws.read_exact(&mut buf).await.unwrap();
        // The one payload byte that arrived is delivered; then the cut shows.
        assert_eq!(ws.read(&mut buf).await.unwrap(), 1);
        let err = ws.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);

        let (a, raw) = duplex(1024);
        let mut ws = WebSocketStream::new(a, Role::Client, Vec::new());
        drop(raw);
        assert_eq!(ws.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn big_writes_are_split_into_bounded_frames() {
        let (client, server) = pair(1 << 20).await;
        let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
        let (mut server_r, _server_w) = tokio::io::split(server);
        let (_client_r, mut client_w) = tokio::io::split(client);
        let expected = data.clone();
        let writer = async move {
            client_w.write_all(&data).await.unwrap();
            client_w.flush().await.unwrap();
            client_w
        };
        let reader = async {
            let mut got = vec![0u8; expected.len()];
            server_r.read_exact(&mut got).await.unwrap();
            got
        };
        let (_w, got) = tokio::join!(writer, reader);
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn plain_http_request_is_not_a_websocket() {
        let (mut a, b) = duplex(4096);
        a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        match server_accept(b).await.unwrap() {
            ServerAccept::NotWebSocket { request, .. } => assert_eq!(request.target, "/"),
            ServerAccept::WebSocket { .. } => panic!("accepted a plain GET"),
        }
    }

    #[tokio::test]
    async fn upgrade_without_octopus_protocol_is_refused_with_400() {
        let (mut a, b) = duplex(4096);
        a.write_all(b"GET /OctopusComms/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n").await.unwrap();
        let err = server_accept(b).await.unwrap_err();
        assert!(
            matches!(err, TransportError::WebSocketNoOctopusProtocol { .. }),
            "{err:?}"
        );
        let mut reply = String::new();
        a.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    }

    #[tokio::test]
    async fn first_message_must_be_text_mx() {
        for (opcode, payload) in [(OP_BINARY, &b"MX"[..]), (OP_TEXT, &b"HELLO"[..])] {
            let (mut a, b) = duplex(4096);
            let client = async move {
                a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Octopus\r\n\r\n").await.unwrap();
                a.write_all(&raw_bytes(true, opcode, Some([5, 6, 7, 8]), payload))
                    .await
                    .unwrap();
                a
            };
            let (a, result) = tokio::join!(client, server_accept(b));
            let err = result.unwrap_err();
            assert!(
                matches!(err, TransportError::WebSocketNoMx { .. }),
                "{err:?}"
            );
            drop(a);
        }
    }

    #[tokio::test]
    async fn mx_split_over_fragments_with_a_ping_between_is_accepted() {
        let (mut a, b) = duplex(4096);
        let client = async move {
            a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Octopus\r\n\r\n").await.unwrap();
            let mut wire = raw_bytes(false, OP_TEXT, Some([1, 2, 3, 4]), b"M");
            wire.extend(raw_bytes(true, OP_PING, Some([1, 2, 3, 4]), b""));
            wire.extend(raw_bytes(true, OP_CONTINUATION, Some([1, 2, 3, 4]), b"X"));
            wire.extend(raw_bytes(
                false,
                OP_BINARY,
                Some([1, 2, 3, 4]),
                b"MX-CLIENT",
            ));
            a.write_all(&wire).await.unwrap();
            a
        };
        let (mut a, result) = tokio::join!(client, server_accept(b));
        let ServerAccept::WebSocket { mut stream, .. } = result.unwrap() else {
            panic!("not accepted");
        };
        let mut got = [0u8; 9];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"MX-CLIENT");
        // 101 response, then the pong.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            a.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{head}"
        );
        assert!(
            head.contains("Sec-WebSocket-Protocol: Octopus\r\n"),
            "{head}"
        );
        assert_eq!(raw_frame(&mut a).await, (true, OP_PONG, Vec::new(), false));
    }

    #[tokio::test]
    async fn client_checks_status_accept_key_and_protocol() {
        async fn answer(response: &'static str) -> TransportError {
            let (a, mut b) = duplex(4096);
            let server = async move {
                let mut req = vec![0u8; 4096];
                let n = b.read(&mut req).await.unwrap();
                let req = String::from_utf8_lossy(&req[..n]).to_string();
                b.write_all(response.as_bytes()).await.unwrap();
                (b, req)
            };
            let url = url();
            let (result, (_b, req)) = tokio::join!(client_handshake(a, &url), server);
            assert!(req.contains("Sec-WebSocket-Protocol: Octopus\r\n"));
            assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
            result.unwrap_err()
        }
        let e = answer("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
        assert!(
            matches!(e, TransportError::WebSocketRejected { status: 404, .. }),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .ends_with("URL: wss://octopus.example.com/OctopusComms/"),
            "{e}"
        );
        let e = answer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\nSec-WebSocket-Protocol: Octopus\r\n\r\n").await;
        assert!(
            matches!(e, TransportError::WebSocketHandshake { .. }),
            "{e:?}"
        );
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
