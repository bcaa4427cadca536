//! A deterministic pair of TCP connections over a simulated link (latency, jitter, loss,
//! reordering, duplication, MTU), with optional snapshot/restore moves onto fresh
//! connection instances with another clock. Seeded: the same seed gives the same run.

#![allow(dead_code, missing_docs)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv6Addr;

use ring::digest;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpPacket, TcpRepr};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, FourTuple, Seq, State, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, DeferredChecksum};

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub latency: Duration,
    pub jitter: Duration,
    /// Probability of loss, per packet.
    pub loss: f64,
    /// Probability of duplication.
    pub dup: f64,
    /// Probability a packet is held back by up to `reorder_delay` extra.
    pub reorder: f64,
    pub reorder_delay: Duration,
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            mtu: 1500,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub link: LinkConfig,
    pub client: TcpConfig,
    pub server: TcpConfig,
    /// Bytes each side sends.
    pub bytes_a_to_b: usize,
    pub bytes_b_to_a: usize,
    /// Snapshot moves at random moments (in addition to the targeted ones).
    pub random_moves: u32,
    /// Move at the first fast recovery, the first zero window and the first FIN states.
    pub targeted_moves: bool,
    /// The receiver pauses reading now and then (creates zero windows).
    pub reader_stalls: bool,
    /// Simulated-time limit.
    pub time_limit: Duration,
}

impl Scenario {
    pub fn new(seed: u64) -> Self {
        Scenario {
            seed,
            link: LinkConfig::default(),
            client: TcpConfig::default(),
            server: TcpConfig::default(),
            bytes_a_to_b: 1 << 20,
            bytes_b_to_a: 1 << 20,
            random_moves: 0,
            targeted_moves: false,
            reader_stalls: false,
            time_limit: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub a_received: Vec<u8>,
    pub b_received: Vec<u8>,
    pub sim_time: Duration,
    pub moves: u32,
    pub moved_in_recovery: bool,
    pub moved_in_zero_window: bool,
    pub moved_in_fin_state: bool,
    pub retransmits: u64,
    pub timeouts: u64,
    pub snapshot_bytes_max: usize,
    pub a_final: Option<State>,
    pub b_final: Option<State>,
    pub resets: bool,
}

struct Packet {
    to_b: bool,
    data: Vec<u8>,
}

/// One side: its connection, its clock offset, its app.
struct Side {
    conn: Option<Connection>,
    clock_offset: i64,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed_sent: bool,
    stalled_until: Option<Instant>,
    tuple: FourTuple,
    reset: bool,
}

impl Side {
    fn local(&self, now: Instant) -> Instant {
        Instant::from_micros(now.total_micros() + self.clock_offset)
    }
    fn global(&self, t: Instant) -> Instant {
        Instant::from_micros(t.total_micros() - self.clock_offset)
    }
}

pub fn stream(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SeededRandom::new(seed);
    let mut v = vec![0u8; len];
    vec_fill(&mut rng, &mut v);
    v
}

fn vec_fill(rng: &mut SeededRandom, v: &mut [u8]) {
    use vany_stack::rand::RandomSource;
    rng.fill(v);
}

fn trace() -> bool {
    std::env::var_os("VANY_TRACE").is_some()
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

fn chance(rng: &mut SeededRandom, p: f64) -> bool {
    p > 0.0 && (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
}

pub fn run(s: &Scenario) -> Outcome {
    let mut rng = SeededRandom::new(s.seed ^ 0x5eed);
    let a_addr: Ipv6Addr = "fd00::a".parse().unwrap();
    let b_addr: Ipv6Addr = "fd00::b".parse().unwrap();
    let a_tuple = FourTuple {
        local: a_addr,
        local_port: 40000,
        remote: b_addr,
        remote_port: 80,
    };
    let b_tuple = FourTuple {
        local: b_addr,
        local_port: 80,
        remote: a_addr,
        remote_port: 40000,
    };
    let mut now = Instant::from_secs(1);
    let mut a = Side {
        conn: None,
        clock_offset: (rng.next_u64() % 1_000_000_000) as i64,
        to_send: stream(s.seed.wrapping_mul(3), s.bytes_a_to_b),
        sent: 0,
        received: Vec::new(),
        closed_sent: false,
        stalled_until: None,
        tuple: a_tuple,
        reset: false,
    };
    let mut b = Side {
        conn: None,
        clock_offset: (rng.next_u64() % 1_000_000_000) as i64,
        to_send: stream(s.seed.wrapping_mul(5), s.bytes_b_to_a),
        sent: 0,
        received: Vec::new(),
        closed_sent: false,
        stalled_until: None,
        tuple: b_tuple,
        reset: false,
    };
    a.conn = Some(Connection::connect(
        &s.client,
        a_tuple,
        Seq(rng.next_u64() as u32),
        a.local(now),
    ));
    let mut heap: BinaryHeap<Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut store: Vec<Option<Packet>> = Vec::new();
    let mut counter = 0u64;
    let mut out = Outcome::default();
    let mut buf = vec![0u8; 65536];
    let mut read_buf = vec![0u8; 65536];
    // Random moves happen at random points of progress (bytes delivered), so that every
    // run gets them however fast it goes.
    let total = (s.bytes_a_to_b + s.bytes_b_to_a) as u64;
    let mut move_points: Vec<u64> = (0..s.random_moves)
        .map(|_| 1 + rng.next_u64() % (total * 95 / 100).max(1))
        .collect();
    move_points.sort_unstable();
    move_points.reverse();
    let deadline = now + s.time_limit;
    let mut iterations = 0u64;
    loop {
        iterations += 1;
        assert!(
            iterations < 50_000_000,
            "seed {}: iteration bound hit",
            s.seed
        );
        assert!(
            now < deadline,
            "seed {}: simulated time limit hit at {now}",
            s.seed
        );
        // Applications.
        for side in [&mut a, &mut b] {
            let local = side.local(now);
            let Some(conn) = side.conn.as_mut() else {
                continue;
            };
            while let Some(ev) = conn.poll_event() {
                if ev == vany_stack::tcp::Event::Reset {
                    side.reset = true;
                }
                assert!(
                    ev != vany_stack::tcp::Event::TimedOut,
                    "seed {}: {} timed out at {now}: {:?}",
                    s.seed,
                    side.tuple,
                    conn.stats()
                );
            }
            if side.sent < side.to_send.len() {
                if let Ok(n) = conn.send(&side.to_send[side.sent..]) {
                    side.sent += n;
                }
            }
            if side.sent == side.to_send.len()
                && !side.closed_sent
                && conn.state().is_synchronized()
            {
                conn.close();
                side.closed_sent = true;
            }
            let stalled = side.stalled_until.is_some_and(|t| t > now);
            if !stalled {
                loop {
                    match conn.recv(&mut read_buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => side.received.extend_from_slice(&read_buf[..n]),
                    }
                }
                if s.reader_stalls && chance(&mut rng, 0.002) {
                    side.stalled_until = Some(now + Duration::from_millis(rng.next_u64() % 3000));
                }
            }
            let _ = local;
        }
        // Snapshot moves.
        let mut move_side: Option<bool> = None;
        let progress = (a.received.len() + b.received.len()) as u64;
        if move_points.last().is_some_and(|p| progress >= *p) {
            move_points.pop();
            move_side = Some(rng.next_u64().is_multiple_of(2));
        }
        if s.targeted_moves && move_side.is_none() {
            for (is_a, side) in [(true, &a), (false, &b)] {
                let Some(c) = side.conn.as_ref() else {
                    continue;
                };
                if !out.moved_in_recovery && c.in_recovery() {
                    out.moved_in_recovery = true;
                    move_side = Some(is_a);
                    break;
                }
                if !out.moved_in_zero_window && c.peer_window() == 0 && c.state().is_synchronized()
                {
                    out.moved_in_zero_window = true;
                    move_side = Some(is_a);
                    break;
                }
                if !out.moved_in_fin_state
                    && matches!(
                        c.state(),
                        State::FinWait1
                            | State::FinWait2
                            | State::CloseWait
                            | State::LastAck
                            | State::Closing
                    )
                {
                    out.moved_in_fin_state = true;
                    move_side = Some(is_a);
                    break;
                }
            }
        }
        if let Some(is_a) = move_side {
            let side = if is_a { &mut a } else { &mut b };
            if let Some(conn) = side.conn.take() {
                let old_local = side.local(now);
                let mut conn = conn;
                // Half the moves copy part of the send buffer ahead (as a handoff's
                // pre-copy does) and snapshot only the rest.
                let (start, end) = conn.send_stream_range();
                let precopied = if rng.next_u64().is_multiple_of(2) {
                    start + rng.next_u64() % (end - start + 1)
                } else {
                    start
                };
                let mut ahead = vec![0u8; (precopied - start) as usize];
                conn.copy_send_stream(start, &mut ahead);
                let (bytes, left_out) = conn.snapshot_bytes_from(old_local, precopied).unwrap();
                assert_eq!(left_out, (start, precopied));
                out.snapshot_bytes_max = out.snapshot_bytes_max.max(bytes.len());
                side.clock_offset = (rng.next_u64() % 1_000_000_000) as i64;
                let mut restored =
                    Connection::restore_bytes(&bytes, side.local(now)).expect("restore");
                restored.fill_send_prefix(start, &ahead).expect("fill");
                assert_eq!(restored.state(), conn.state());
                side.conn = Some(restored);
                out.moves += 1;
            }
        }
        // Transmit.
        for (to_b, side) in [(true, &mut a), (false, &mut b)] {
            let local = side.local(now);
            let Some(conn) = side.conn.as_mut() else {
                continue;
            };
            let mut guard = 0;
            while let Some(len) = conn.poll_transmit(local, &mut buf) {
                guard += 1;
                assert!(guard < 100_000, "seed {}: transmit loop", s.seed);
                if len + 40 > s.link.mtu {
                    panic!(
                        "seed {}: segment of {len} bytes exceeds MTU {}",
                        s.seed, s.link.mtu
                    );
                }
                let copies = if chance(&mut rng, s.link.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    if chance(&mut rng, s.link.loss) {
                        continue;
                    }
                    let mut delay = s.link.latency.total_micros();
                    if s.link.jitter.total_micros() > 0 {
                        delay += rng.next_u64() % s.link.jitter.total_micros();
                    }
                    if chance(&mut rng, s.link.reorder) {
                        delay += rng.next_u64() % s.link.reorder_delay.total_micros().max(1);
                    }
                    counter += 1;
                    store.push(Some(Packet {
                        to_b,
                        data: buf[..len].to_vec(),
                    }));
                    heap.push(Reverse((
                        now.total_micros() + delay as i64,
                        counter,
                        store.len() - 1,
                    )));
                }
            }
        }
        // Done?
        let a_done = a.received.len() == s.bytes_b_to_a
            && a.conn
                .as_ref()
                .is_some_and(|c| matches!(c.state(), State::TimeWait | State::Closed));
        let b_done = b.received.len() == s.bytes_a_to_b
            && b.conn.as_ref().is_some_and(|c| c.state() == State::Closed);
        if (a_done && b_done) || a.reset || b.reset {
            break;
        }
        // Next event.
        let mut next = heap
            .peek()
            .map(|Reverse((t, _, _))| Instant::from_micros(*t));
        for side in [&a, &b] {
            if let Some(t) = side.conn.as_ref().and_then(|c| c.poll_timeout()) {
                let g = side.global(t);
                next = Some(next.map_or(g, |n| n.min(g)));
            }
            if let Some(t) = side.stalled_until {
                if t > now {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        let Some(next) = next else {
            panic!(
                "seed {}: stalled with nothing scheduled: a {:?} sent {}/{} recv {}/{}, b {:?} sent {}/{} recv {}/{}",
                s.seed,
                a.conn.as_ref().map(|c| c.debug_summary()),
                a.sent,
                a.to_send.len(),
                a.received.len(),
                s.bytes_b_to_a,
                b.conn.as_ref().map(|c| c.debug_summary()),
                b.sent,
                b.to_send.len(),
                b.received.len(),
                s.bytes_a_to_b
            );
        };
        now = now.max(next);
        // Deliver.
        while let Some(Reverse((t, _, idx))) = heap.peek().copied() {
            if t > now.total_micros() {
                break;
            }
            heap.pop();
            let Some(p) = store[idx].take() else { continue };
            let (side, src, dst) = if p.to_b {
                (&mut b, a_addr, b_addr)
            } else {
                (&mut a, b_addr, a_addr)
            };
            let packet = TcpPacket::new_checked(&p.data[..]).expect("segment");
            let repr = TcpRepr::parse(
                &packet,
                &IpAddress::Ipv6(src),
                &IpAddress::Ipv6(dst),
                &ChecksumCapabilities::default(),
            )
            .expect("valid segment");
            if trace() {
                eprintln!("{now} {} {repr}", if p.to_b { "a->b" } else { "b->a" });
            }
            let local = side.local(now);
            match side.conn.as_mut() {
                // The data path's way in: the payload's checksum verified while it is
                // copied into the receive buffer (`Connection::handle_segment_deferred`).
                Some(c) => {
                    let payload_at = usize::from(packet.header_len());
                    if !repr.payload.is_empty() && idx % 7 == 3 {
                        // A corrupted copy first: refused, and nothing changed.
                        let mut bad = p.data.clone();
                        bad[payload_at + idx % repr.payload.len()] ^= 0x5a;
                        let bad_repr = wire::tcp::parse_header(&bad).expect("segment");
                        let check = DeferredChecksum::new(&src, &dst, &bad, payload_at);
                        let before = c.clone();
                        assert!(
                            !c.handle_segment_deferred(local, &bad_repr, check),
                            "seed {}: a corrupted segment was taken",
                            s.seed
                        );
                        assert!(
                            *c == before,
                            "seed {}: a corrupted segment left a trace",
                            s.seed
                        );
                    }
                    let check = DeferredChecksum::new(&src, &dst, &p.data, payload_at);
                    assert!(c.handle_segment_deferred(local, &repr, check));
                }
                None if p.to_b
                    && repr.control == smoltcp::wire::TcpControl::Syn
                    && repr.ack_number.is_none() =>
                {
                    side.conn = Some(Connection::accept(
                        &s.server,
                        side.tuple,
                        Seq(rng.next_u64() as u32),
                        local,
                        &repr,
                    ));
                }
                None => {}
            }
        }
        if store.len() > 4096 && heap.is_empty() {
            store.clear();
        }
        // Timers.
        for side in [&mut a, &mut b] {
            let local = side.local(now);
            if let Some(c) = side.conn.as_mut() {
                if c.poll_timeout().is_some_and(|t| t <= local) {
                    c.handle_timeout(local);
                }
            }
        }
    }
    out.sim_time = now.saturating_since(Instant::from_secs(1));
    for side in [&a, &b] {
        if let Some(c) = side.conn.as_ref() {
            out.retransmits += c.stats().retransmits;
            out.timeouts += c.stats().timeouts;
        }
    }
    out.a_final = a.conn.as_ref().map(|c| c.state());
    out.b_final = b.conn.as_ref().map(|c| c.state());
    out.resets = a.reset || b.reset;
    out.a_received = a.received;
    out.b_received = b.received;
    out
}

/// Checks both streams arrived intact, printing the seed on failure.
pub fn check(s: &Scenario, o: &Outcome) {
    let a_sent = stream(s.seed.wrapping_mul(3), s.bytes_a_to_b);
    let b_sent = stream(s.seed.wrapping_mul(5), s.bytes_b_to_a);
    assert!(!o.resets, "seed {}: connection reset", s.seed);
    assert_eq!(
        o.b_received.len(),
        a_sent.len(),
        "seed {}: a->b length",
        s.seed
    );
    assert_eq!(
        o.a_received.len(),
        b_sent.len(),
        "seed {}: b->a length",
        s.seed
    );
    assert_eq!(
        sha256(&o.b_received),
        sha256(&a_sent),
        "seed {}: a->b SHA-256 differs",
        s.seed
    );
    assert_eq!(
        sha256(&o.a_received),
        sha256(&b_sent),
        "seed {}: b->a SHA-256 differs",
        s.seed
    );
}
