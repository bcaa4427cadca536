//! The echo and HTTP apps over real TCP connections (vany's engine on both ends of an
//! in-memory link), including a server connection moved by snapshot/restore, with its
//! app state serialized, in the middle of a response (what a handoff does).

use std::net::Ipv6Addr;

use vany_appliance::apps::source::stream_byte;
use vany_appliance::apps::{App, AppKind, AppState, AppTimeouts};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, FourTuple, State, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::TCP_PROTOCOL;
use vany_stack::wire::{self, PacketRepr, Upper};

const SERVER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 1);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xc, 0, 0, 0, 0, 0, 1);
const PORT: u16 = 80;

/// A server endpoint hosting one app and a client endpoint, joined by a lossless link
/// with 1 ms latency each way.
struct Pair {
    now: Instant,
    server: Endpoint,
    client: Endpoint,
    apps: Vec<(FourTuple, AppState)>,
    kind: AppKind,
    timeouts: AppTimeouts,
    tuple: FourTuple,
    in_flight: Vec<(Instant, bool, Vec<u8>)>,
}

fn config() -> TcpConfig {
    TcpConfig::default()
}

impl Pair {
    fn new(kind: AppKind, seed: u64) -> Pair {
        let mut rng = SeededRandom::new(seed);
        let mut server = Endpoint::new(config(), &mut rng);
        server.listen(PORT);
        let mut client = Endpoint::new(config(), &mut rng);
        let tuple = FourTuple {
            local: CLIENT,
            local_port: 40_000,
            remote: SERVER,
            remote_port: PORT,
        };
        client.connect(Instant::ZERO, tuple).expect("connect");
        Pair {
            now: Instant::ZERO,
            server,
            client,
            apps: Vec::new(),
            kind,
            timeouts: AppTimeouts::default(),
            tuple,
            in_flight: Vec::new(),
        }
    }

    fn emit(
        ep: &mut Endpoint,
        now: Instant,
        to_client: bool,
        out: &mut Vec<(Instant, bool, Vec<u8>)>,
    ) {
        let mut buf = vec![0u8; 70_000];
        // Bounded by what the endpoint has to send.
        for _ in 0..10_000 {
            let Some(t) = ep.poll_transmit(now, &mut buf[40..]) else {
                return;
            };
            let repr = PacketRepr::new(t.tuple.local, t.tuple.remote, Upper::None);
            let len = repr
                .emit_headers(&mut buf, TCP_PROTOCOL, t.len)
                .expect("headers fit");
            out.push((
                now + Duration::from_millis(1),
                to_client,
                buf[..len].to_vec(),
            ));
        }
    }

    /// One millisecond of time: deliver due packets, run timers, the apps and output.
    fn tick(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.0 <= now);
        self.in_flight = rest;
        for (_, to_client, packet) in due {
            let parsed = wire::parse_verified(&packet).expect("valid packet");
            let Upper::Tcp(seg) = &parsed.repr.upper else {
                panic!("not TCP")
            };
            let ep = if to_client {
                &mut self.client
            } else {
                &mut self.server
            };
            ep.handle_segment(now, parsed.repr.src, parsed.repr.dst, seg);
        }
        for ep in [&mut self.server, &mut self.client] {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
        }
        while let Some(t) = self.server.accept() {
            self.apps.push((t, self.kind.start_with(self.timeouts)));
        }
        for (t, app) in &mut self.apps {
            if let Some(c) = self.server.connection_mut(t) {
                app.poll(now, c);
            }
        }
        let mut out = Vec::new();
        Pair::emit(&mut self.server, now, true, &mut out);
        Pair::emit(&mut self.client, now, false, &mut out);
        self.in_flight.extend(out);
    }

    fn client_conn(&mut self) -> &mut Connection {
        let t = self.tuple;
        self.client.connection_mut(&t).expect("client connection")
    }

    /// Sends `data` from the client (as the window allows), reading everything that
    /// comes back, until `done(received)` or `max_ms`.
    fn exchange(&mut self, data: &[u8], max_ms: u64, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut got = Vec::new();
        self.exchange_into(&mut got, data, max_ms, done);
        got
    }

    /// [`Pair::exchange`], appending to `got` (which `done` sees whole).
    fn exchange_into(
        &mut self,
        got: &mut Vec<u8>,
        data: &[u8],
        max_ms: u64,
        done: impl Fn(&[u8]) -> bool,
    ) {
        let mut sent = 0;
        for _ in 0..max_ms {
            self.tick();
            let c = self.client_conn();
            if sent < data.len() {
                sent += c.send(&data[sent..]).unwrap_or(0);
            }
            let mut buf = [0u8; 65536];
            while let Ok(n) = c.recv(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if sent == data.len() && done(got) {
                break;
            }
        }
    }

    /// Moves the server's connection and app state to a fresh endpoint, as a handoff
    /// does: freeze, snapshot, serialize (postcard), restore on another clock.
    fn move_server(&mut self, seed: u64) {
        let now = self.now;
        let (t, app) = self.apps.pop().expect("a server connection");
        let mut conn = self.server.remove(&t).expect("server connection");
        conn.freeze();
        let tcp = conn.snapshot_bytes(now).unwrap();
        let app_bytes = postcard::to_allocvec(&app).expect("app state serializes");
        let mut rng = SeededRandom::new(seed);
        let mut fresh = Endpoint::new(config(), &mut rng);
        fresh.listen(PORT);
        let restored = Connection::restore_bytes(&tcp, now).expect("restores");
        fresh.insert(restored).expect("inserts");
        let app: AppState = postcard::from_bytes(&app_bytes).expect("app state deserializes");
        self.server = fresh;
        self.apps.push((t, app));
    }
}

fn header_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Splits `data` into (status line, headers, body) responses, using Content-Length.
fn responses(mut data: &[u8], head_only: &[bool]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for &head in head_only {
        let Some(end) = header_end(data) else { break };
        let text = String::from_utf8_lossy(&data[..end]).to_string();
        let status = text.lines().next().unwrap_or_default().to_string();
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let body_len = if head { 0 } else { len };
        if data.len() < end + body_len {
            break;
        }
        out.push((status, text, data[end..end + body_len].to_vec()));
        data = &data[end + body_len..];
    }
    out
}

fn is_stream(id: u64, body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .all(|(i, b)| *b == stream_byte(id, i as u64))
}

#[test]
fn echo_returns_every_byte_in_order_and_closes_after_the_client() {
    let mut p = Pair::new(AppKind::Echo, 1);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let got = p.exchange(&data, 20_000, |g| g.len() >= 1_000_000);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echo differs");
    p.client_conn().close();
    let mut closed = false;
    for _ in 0..1000 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the server closed after the client did");
}

#[test]
fn http_answers_pipelined_requests_on_one_keep_alive_connection() {
    let mut p = Pair::new(AppKind::Http, 2);
    let req = b"GET /bytes/300000 HTTP/1.1\r\nHost: vany\r\n\r\nHEAD / HTTP/1.1\r\nHost: vany\r\n\r\nGET /health HTTP/1.1\r\nHost: vany\r\n\r\nGET /missing HTTP/1.1\r\nHost: vany\r\n\r\n";
    let kinds = [false, true, false, false];
    let got = p.exchange(req, 20_000, |g| responses(g, &kinds).len() == 4);
    let r = responses(&got, &kinds);
    assert_eq!(
        r.len(),
        4,
        "{}",
        String::from_utf8_lossy(&got[..got.len().min(400)])
    );
    assert_eq!(r[0].0, "HTTP/1.1 200 OK");
    assert_eq!(r[0].2.len(), 300_000);
    assert!(is_stream(300_000, &r[0].2));
    assert!(r[0].1.contains("Connection: keep-alive"));
    assert_eq!(r[1].0, "HTTP/1.1 200 OK");
    assert!(r[1].2.is_empty());
    assert_eq!(r[2].2, b"ok\n");
    assert_eq!(r[3].0, "HTTP/1.1 404 Not Found");
    assert!(!p.client_conn().is_read_closed(), "kept alive");
    // Connection: close is honoured.
    let got = p.exchange(
        b"GET /health HTTP/1.1\r\nHost: vany\r\nConnection: close\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    assert_eq!(responses(&got, &[false])[0].2, b"ok\n");
    let mut closed = false;
    for _ in 0..200 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed, "closed after Connection: close");
}

#[test]
fn http_errors_close_the_connection() {
    let mut p = Pair::new(AppKind::Http, 3);
    let got = p.exchange(
        b"DELETE / HTTP/1.1\r\nHost: vany\r\n\r\nGET / HTTP/1.1\r\nHost: vany\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    let r = responses(&got, &[false]);
    assert_eq!(r[0].0, "HTTP/1.1 405 Method Not Allowed");
    let mut closed = false;
    for _ in 0..200 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed);
    // A head longer than the limit.
    let mut p = Pair::new(AppKind::Http, 4);
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    while req.len() < 9000 {
        req.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let got = p.exchange(&req, 2000, |g| responses(g, &[false]).len() == 1);
    assert_eq!(
        responses(&got, &[false])[0].0,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn an_http_response_continues_intact_after_the_server_connection_moves() {
    let mut p = Pair::new(AppKind::Http, 5);
    let req = b"GET /bytes/2000000 HTTP/1.1\r\nHost: vany\r\n\r\nGET /bytes/1000 HTTP/1.1\r\nHost: vany\r\n\r\n";
    // Part of the first body, then the move, then the rest.
    let kinds = [false, false];
    let mut got = p.exchange(req, 20_000, |g| g.len() > 700_000);
    assert!(got.len() > 700_000 && got.len() < 2_000_000);
    p.move_server(99);
    p.exchange_into(&mut got, &[], 20_000, |g| g.len() > 1_400_000);
    assert!(got.len() > 1_400_000 && got.len() < 2_000_000);
    p.move_server(100);
    p.exchange_into(&mut got, &[], 20_000, |g| responses(g, &kinds).len() == 2);
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].2.len(), 2_000_000);
    assert!(is_stream(2_000_000, &r[0].2), "first body intact");
    assert!(is_stream(1000, &r[1].2), "second body intact");
}

/// Short timeouts for the tests below: 300 ms for a request, 800 ms idle.
fn short() -> AppTimeouts {
    AppTimeouts {
        header: Duration::from_millis(300),
        idle: Duration::from_millis(800),
    }
}

impl Pair {
    fn with_timeouts(kind: AppKind, seed: u64, timeouts: AppTimeouts) -> Pair {
        let mut p = Pair::new(kind, seed);
        p.timeouts = timeouts;
        p
    }

    /// Ticks until the server closed its side (the client saw its FIN), at most `max_ms`;
    /// returns the milliseconds it took and what arrived meanwhile.
    fn until_server_closes(&mut self, max_ms: u64) -> Option<(u64, Vec<u8>)> {
        let start = self.now;
        let mut got = Vec::new();
        for _ in 0..max_ms {
            self.tick();
            let c = self.client_conn();
            let mut buf = [0u8; 4096];
            while let Ok(n) = c.recv(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if c.is_read_closed() {
                let ms = self.now.saturating_since(start).total_micros() / 1000;
                return Some((ms, got));
            }
        }
        None
    }
}

#[test]
fn http_answers_408_to_a_head_that_does_not_arrive_in_time_and_closes() {
    let mut p = Pair::with_timeouts(AppKind::Http, 11, short());
    let got = p.exchange(b"GET /health HTTP/1.1\r\nHo", 50, |_| false);
    assert!(got.is_empty());
    let (ms, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!((200..=400).contains(&ms), "closed after {ms} ms");
    let r = responses(&got, &[false]);
    assert_eq!(r[0].0, "HTTP/1.1 408 Request Timeout");
    assert!(r[0].1.contains("Connection: close"));
}

#[test]
fn http_closes_a_connection_that_never_sends_a_request_and_an_idle_keep_alive_one() {
    let mut p = Pair::with_timeouts(AppKind::Http, 12, short());
    let (_, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!(got.is_empty(), "nothing but a FIN for no request at all");

    let mut p = Pair::with_timeouts(AppKind::Http, 13, short());
    let got = p.exchange(b"GET /health HTTP/1.1\r\nHost: vany\r\n\r\n", 2000, |g| {
        responses(g, &[false]).len() == 1
    });
    assert_eq!(responses(&got, &[false])[0].2, b"ok\n");
    let (ms, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!(
        got.is_empty(),
        "an idle connection is closed without a response"
    );
    assert!((600..=1000).contains(&ms), "closed after {ms} ms idle");
}

#[test]
fn a_client_that_does_not_close_after_the_server_is_reset_after_the_idle_timeout() {
    let mut p = Pair::with_timeouts(AppKind::Http, 14, short());
    p.exchange(
        b"GET /health HTTP/1.1\r\nHost: vany\r\nConnection: close\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    p.until_server_closes(2_000).expect("the server closes");
    // The client acknowledged the FIN but keeps its side open: FIN-WAIT-2 at the server,
    // until the app resets the connection.
    let mut reset = false;
    for _ in 0..5_000 {
        p.tick();
        if p.client_conn().state() == State::Closed {
            reset = true;
            break;
        }
    }
    assert!(reset, "the server reset its FIN-WAIT-2 connection");
    let t = p.tuple;
    let server = FourTuple {
        local: t.remote,
        local_port: t.remote_port,
        remote: t.local,
        remote_port: t.local_port,
    };
    let state = p.server.connection(&server).map(Connection::state);
    assert!(matches!(state, None | Some(State::Closed)), "{state:?}");
}

#[test]
fn echo_and_source_close_connections_that_wait_too_long() {
    let mut p = Pair::with_timeouts(AppKind::Echo, 15, short());
    let got = p.exchange(b"hello", 2000, |g| g.len() == 5);
    assert_eq!(got, b"hello");
    let (ms, _) = p.until_server_closes(5_000).expect("echo closes when idle");
    assert!((600..=1000).contains(&ms), "closed after {ms} ms idle");
    // The stream source needs its 24-byte request in time; 10 bytes are not one.
    let mut p = Pair::with_timeouts(AppKind::Source, 16, short());
    p.exchange(&[0u8; 10], 50, |_| false);
    let (_, got) = p.until_server_closes(5_000).expect("source closes");
    assert!(got.is_empty());
}
