//! The TCP engine driven by explicit segments and times: segment builders, the
//! connection harness and the handshake, shared by the TCP test files.

#![allow(dead_code)]

use std::net::Ipv6Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr};
use vany_stack::tcp::{Connection, Event, FourTuple, Seq, State, TcpConfig};
use vany_stack::testing::TcpSegment;
use vany_stack::time::Instant;

pub const LOCAL: &str = "fd00::1";
pub const REMOTE: &str = "fd00::2";
pub const ISS: u32 = 1000;
pub const IRS: u32 = 5000;

pub fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn tuple() -> FourTuple {
    FourTuple {
        local: addr(LOCAL),
        local_port: 80,
        remote: addr(REMOTE),
        remote_port: 40000,
    }
}

pub fn ms(n: i64) -> Instant {
    Instant::from_millis(10_000 + n)
}

/// A segment as the peer sends it (owned payload).
#[derive(Debug, Clone, Default)]
pub struct Seg {
    pub control: Option<TcpControl>,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

impl Seg {
    /// The segment, from the peer's port 40000 to port 80.
    pub fn repr(&self) -> TcpRepr<'_> {
        let mut s = TcpSegment::new(40000, 80)
            .control(self.control.unwrap_or(TcpControl::None))
            .seq(self.seq)
            .window(self.window)
            .payload(&self.payload);
        if let Some(ack) = self.ack {
            s = s.ack(ack);
        }
        if let Some(shift) = self.wscale {
            s = s.window_scale(shift);
        }
        if let Some(mss) = self.mss {
            s = s.mss(mss);
        }
        if self.sack_perm {
            s = s.sack_permitted();
        }
        if let Some((tsval, tsecr)) = self.ts {
            s = s.timestamp(tsval, tsecr);
        }
        let mut r = s.repr();
        for (i, block) in self.sack.iter().take(3).enumerate() {
            r.sack_ranges[i] = Some(*block);
        }
        r
    }

    /// This segment with sequence number `seq`.
    pub fn with_seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// This segment acknowledging `ack`.
    pub fn with_ack(mut self, ack: u32) -> Self {
        self.ack = Some(ack);
        self
    }

    /// This segment with timestamps `(tsval, tsecr)`.
    pub fn with_ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.ts = Some((tsval, tsecr));
        self
    }

    /// This segment carrying `payload`.
    pub fn with_payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }
}

/// What the connection sent.
#[derive(Debug, Clone)]
pub struct Out {
    pub control: TcpControl,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

pub fn parse_out(bytes: &[u8]) -> Out {
    let packet = TcpPacket::new_checked(bytes).unwrap();
    let r = TcpRepr::parse(
        &packet,
        &IpAddress::Ipv6(addr(LOCAL)),
        &IpAddress::Ipv6(addr(REMOTE)),
        &ChecksumCapabilities::default(),
    )
    .expect("the engine's output parses with a valid checksum");
    Out {
        control: r.control,
        seq: r.seq_number.0 as u32,
        ack: r.ack_number.map(|a| a.0 as u32),
        window: r.window_len,
        mss: r.max_seg_size,
        wscale: r.window_scale,
        sack_perm: r.sack_permitted,
        sack: r.sack_ranges.iter().flatten().copied().collect(),
        ts: r.timestamp.map(|t| (t.tsval, t.tsecr)),
        payload: r.payload.to_vec(),
    }
}

pub struct Harness {
    pub conn: Connection,
    pub buf: Vec<u8>,
}

impl Harness {
    pub fn out(&mut self, now: Instant) -> Option<Out> {
        self.conn
            .poll_transmit(now, &mut self.buf)
            .map(|n| parse_out(&self.buf[..n]))
    }
    pub fn all_out(&mut self, now: Instant) -> Vec<Out> {
        let mut v = Vec::new();
        while let Some(o) = self.out(now) {
            v.push(o);
            assert!(v.len() < 10_000);
        }
        v
    }
    pub fn input(&mut self, now: Instant, seg: &Seg) {
        self.conn.handle_segment(now, &seg.repr());
    }
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }
    pub fn fire(&mut self, now: Instant) {
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
    }
}

pub fn config() -> TcpConfig {
    TcpConfig {
        send_buffer: 64 * 1024,
        recv_buffer: 64 * 1024,
        ..TcpConfig::default()
    }
}

pub fn peer_syn() -> Seg {
    peer_syn_announcing(1400)
}

/// The peer's SYN, announcing MSS `mss`.
pub fn peer_syn_announcing(mss: u16) -> Seg {
    Seg {
        control: Some(TcpControl::Syn),
        seq: IRS,
        window: 65535,
        mss: Some(mss),
        wscale: Some(7),
        sack_perm: true,
        ts: Some((777, 0)),
        ..Seg::default()
    }
}

/// A passive open completed: ESTABLISHED, with timestamps, SACK and window scale 7.
pub fn established_with(cfg: TcpConfig) -> Harness {
    established_announcing(cfg, 1400)
}

/// ESTABLISHED as [`established_with`], the peer announcing MSS `mss`.
pub fn established_announcing(cfg: TcpConfig, mss: u16) -> Harness {
    let syn = peer_syn_announcing(mss);
    let mut h = Harness {
        conn: Connection::accept(&cfg, tuple(), Seq(ISS), ms(0), &syn.repr()),
        buf: vec![0; 65536],
    };
    let synack = h.out(ms(0)).unwrap();
    assert_eq!(synack.control, TcpControl::Syn);
    let ts = synack.ts.map(|t| t.0).unwrap_or(0);
    h.input(
        ms(10),
        &Seg {
            seq: IRS + 1,
            ack: Some(ISS + 1),
            window: 512, // << 7 = 65536
            ts: cfg.timestamps.then_some((778, ts)),
            ..Seg::default()
        },
    );
    assert_eq!(h.conn.state(), State::Established);
    assert_eq!(h.events(), vec![Event::Connected]);
    h
}

pub fn established() -> Harness {
    established_with(config())
}
