//! A server endpoint hosting one app and a client endpoint over an in-memory link
//! (vany's TCP on both ends), for the app tests: requests, responses split by
//! Content-Length, and a server connection moved by snapshot/restore as a handoff does.
#![allow(dead_code)]

use std::net::Ipv6Addr;

use vany_appliance::apps::{AppEnv, AppKind, AppState, AppTimeouts};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, FourTuple, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::TCP_PROTOCOL;
use vany_stack::wire::{self, PacketRepr, Upper};

pub const SERVER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 1);
pub const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xc, 0, 0, 0, 0, 0, 1);
pub const PORT: u16 = 80;

/// A server endpoint hosting one app and a client endpoint, joined by a lossless link
/// with 1 ms latency each way.
pub struct Pair {
    pub now: Instant,
    /// What the server's apps reach beyond their connection (a files app's directory).
    pub env: AppEnv,
    /// Real time each tick lasts at least (a proxy's backend is a real server).
    pub tick_sleep: std::time::Duration,
    pub server: Endpoint,
    pub client: Endpoint,
    pub apps: Vec<(FourTuple, AppState)>,
    kind: AppKind,
    pub timeouts: AppTimeouts,
    pub tuple: FourTuple,
    in_flight: Vec<(Instant, bool, Vec<u8>)>,
}

fn config() -> TcpConfig {
    TcpConfig::default()
}

impl Pair {
    pub fn new(kind: AppKind, seed: u64) -> Pair {
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
            env: AppEnv::new(),
            tick_sleep: std::time::Duration::ZERO,
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
    pub fn tick(&mut self) {
        if !self.tick_sleep.is_zero() {
            std::thread::sleep(self.tick_sleep);
        }
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
                app.poll(now, c, &mut self.env);
            }
        }
        let mut out = Vec::new();
        Pair::emit(&mut self.server, now, true, &mut out);
        Pair::emit(&mut self.client, now, false, &mut out);
        self.in_flight.extend(out);
    }

    pub fn client_conn(&mut self) -> &mut Connection {
        let t = self.tuple;
        self.client.connection_mut(&t).expect("client connection")
    }

    /// Sends `data` from the client (as the window allows), reading everything that
    /// comes back, until `done(received)` or `max_ms`.
    pub fn exchange(&mut self, data: &[u8], max_ms: u64, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut got = Vec::new();
        self.exchange_into(&mut got, data, max_ms, done);
        got
    }

    /// [`Pair::exchange`], appending to `got` (which `done` sees whole).
    pub fn exchange_into(
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
    pub fn move_server(&mut self, seed: u64) {
        self.move_server_to(seed, None)
            .expect("nothing refuses a move without an env");
    }

    /// [`Pair::move_server`] to a server with its own `env` (another member's copy of a
    /// directory), if given; the move is refused, nothing changed, and the reason
    /// returned, when the app cannot go on there ([`AppState::check_restore`]).
    pub fn move_server_to(&mut self, seed: u64, env: Option<AppEnv>) -> Result<(), String> {
        let now = self.now;
        let (t, app) = self.apps.pop().expect("a server connection");
        let app_bytes = postcard::to_allocvec(&app).expect("app state serializes");
        let moved: AppState = postcard::from_bytes(&app_bytes).expect("app state deserializes");
        let mut env = env;
        if let Some(env) = env.as_mut() {
            if let Err(why) = moved.check_restore(t.local_port, env) {
                // Refused: the donor keeps the connection and goes on.
                self.apps.push((t, app));
                return Err(why);
            }
        }
        let mut conn = self.server.remove(&t).expect("server connection");
        conn.freeze();
        let tcp = conn.snapshot_bytes(now).unwrap();
        let mut rng = SeededRandom::new(seed);
        let mut fresh = Endpoint::new(config(), &mut rng);
        fresh.listen(PORT);
        let restored = Connection::restore_bytes(&tcp, now).expect("restores");
        fresh.insert(restored).expect("inserts");
        self.server = fresh;
        if let Some(env) = env {
            self.env = env;
        }
        self.apps.push((t, moved));
        Ok(())
    }
}

pub fn header_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Splits `data` into (status line, headers, body) responses, using Content-Length.
pub fn responses(mut data: &[u8], head_only: &[bool]) -> Vec<(String, String, Vec<u8>)> {
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

impl Pair {
    pub fn with_timeouts(kind: AppKind, seed: u64, timeouts: AppTimeouts) -> Pair {
        let mut p = Pair::new(kind, seed);
        p.timeouts = timeouts;
        p
    }

    /// Ticks until the server closed its side (the client saw its FIN), at most `max_ms`;
    /// returns the milliseconds it took and what arrived meanwhile.
    pub fn until_server_closes(&mut self, max_ms: u64) -> Option<(u64, Vec<u8>)> {
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
