//! Fuzz target `tcp_segments`: arbitrary segments and application calls into a TCP
//! endpoint with a listener and one established connection, with time passing and
//! snapshot/restore moves. Nothing may panic, and the engine's output must always parse
//! as a valid segment.
//!
//! Input: a sequence of records. Each starts with an opcode byte:
//! - 0..=3: a segment built from the next 12 bytes (flags, sequence and acknowledgement
//!   numbers relative to what the engine last sent, window, options, payload length),
//!   to the established connection or, for opcode 3, to the listener from a new port;
//! - 4: raw bytes (2-byte length + data) parsed as a TCP header and delivered as is;
//! - 5: the application sends; 6: reads; 7: closes; 8: aborts;
//! - 9: time passes (2 bytes of milliseconds) and timers fire;
//! - 10: the connection is frozen, snapshotted, restored on another clock, and put back;
//! - 11: raw TCP bytes (a flag byte, 2-byte length + data) in an IPv6 packet through the
//!   data path's deferred parse and `handle_segment_deferred` (the checksum finished while
//!   the payload is copied in), with the TCP checksum filled in correctly or not;
//! - 12: an ICMPv6 Packet Too Big (2-byte MTU, 2-byte sequence number relative to what
//!   the engine last sent, 1 byte of extension-header length): the path MTU stays within
//!   1280 ..= the configured MTU, and no segment outgrows the configured MTU.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, FourTuple, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{PacketTooBigRepr, QuotedTcp};

const LOCAL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

struct World {
    ep: Endpoint,
    now: Instant,
    tuple: FourTuple,
    /// What the engine last sent: (its seq, its ack).
    last: (u32, u32),
    buf: Vec<u8>,
    port: u16,
}

impl World {
    fn new() -> Self {
        let cfg = TcpConfig {
            send_buffer: 8192,
            recv_buffer: 8192,
            accept_backlog: 2,
            ..TcpConfig::default()
        };
        let mut ep = Endpoint::new(cfg, &mut SeededRandom::new(1));
        ep.listen(80);
        let tuple = FourTuple {
            local: LOCAL,
            local_port: 80,
            remote: PEER,
            remote_port: 40000,
        };
        let mut w = World {
            ep,
            now: Instant::from_secs(100),
            tuple,
            last: (0, 0),
            buf: vec![0u8; 65536],
            port: 41000,
        };
        // Handshake: SYN in, SYN-ACK out, ACK in.
        let syn = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(1000),
            ack_number: None,
            window_len: 65535,
            window_scale: Some(2),
            max_seg_size: Some(1400),
            sack_permitted: true,
            sack_ranges: [None; 3],
            timestamp: Some(TcpTimestampRepr::new(1, 0)),
            payload: &[],
        };
        w.ep.handle_segment(w.now, PEER, LOCAL, &syn);
        w.drain();
        let ack = TcpRepr {
            control: TcpControl::None,
            seq_number: TcpSeqNumber(1001),
            ack_number: Some(TcpSeqNumber(w.last.0.wrapping_add(1) as i32)),
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            timestamp: Some(TcpTimestampRepr::new(2, 0)),
            ..syn
        };
        w.ep.handle_segment(w.now, PEER, LOCAL, &ack);
        w.ep.accept();
        w.drain();
        w
    }

    /// Runs the engine's output and checks every segment parses with a valid checksum.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            let Some(t) = self.ep.poll_transmit(self.now, &mut self.buf) else {
                return;
            };
            let packet =
                TcpPacket::new_checked(&self.buf[..t.len]).expect("engine output is a TCP segment");
            let repr = TcpRepr::parse(
                &packet,
                &IpAddress::Ipv6(t.tuple.local),
                &IpAddress::Ipv6(t.tuple.remote),
                &ChecksumCapabilities::default(),
            )
            .expect("engine output parses with a valid checksum");
            // The configured MTU (1500) less IPv6 (40) and RH2/HAO (24), probes included.
            assert!(t.len <= 1500 - 40 - 24, "a {} byte segment", t.len);
            if t.tuple == self.tuple {
                self.last = (
                    repr.seq_number.0 as u32,
                    repr.ack_number.map_or(self.last.1, |a| a.0 as u32),
                );
            }
        }
        panic!("poll_transmit never ran dry");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut w = World::new();
    let mut i = 0;
    let payload = [0x42u8; 2048];
    let mut read_buf = [0u8; 4096];
    let mut steps = 0;
    while i < data.len() && steps < 512 {
        steps += 1;
        let op = data[i] % 13;
        i += 1;
        match op {
            0..=3 => {
                let Some(b) = data.get(i..i + 12) else { break };
                i += 12;
                let flags = b[0];
                let control = match flags & 7 {
                    0 => TcpControl::None,
                    1 => TcpControl::Psh,
                    2 => TcpControl::Syn,
                    3 => TcpControl::Fin,
                    4 => TcpControl::Rst,
                    _ => TcpControl::None,
                };
                let seq = w
                    .last
                    .1
                    .wrapping_add(i16::from_be_bytes([b[1], b[2]]) as i32 as u32);
                let ack = w
                    .last
                    .0
                    .wrapping_add(i16::from_be_bytes([b[3], b[4]]) as i32 as u32);
                let sack_l = ack.wrapping_add(u32::from(b[8]) * 100);
                let len = usize::from(u16::from_be_bytes([b[10], b[11]])) % payload.len();
                let to_listener = op == 3;
                let src_port = if to_listener {
                    w.port = w.port.wrapping_add(1);
                    w.port
                } else {
                    40000
                };
                let repr = TcpRepr {
                    src_port,
                    dst_port: 80,
                    control,
                    seq_number: TcpSeqNumber(seq as i32),
                    ack_number: (flags & 8 != 0).then_some(TcpSeqNumber(ack as i32)),
                    window_len: u16::from_be_bytes([b[5], b[6]]),
                    window_scale: (flags & 16 != 0).then_some(b[7] % 16),
                    max_seg_size: (flags & 32 != 0).then_some(u16::from(b[9]) * 8),
                    sack_permitted: flags & 64 != 0,
                    sack_ranges: if flags & 128 != 0 {
                        [
                            Some((sack_l, sack_l.wrapping_add(u32::from(b[9]) * 50))),
                            None,
                            None,
                        ]
                    } else {
                        [None; 3]
                    },
                    timestamp: (b[7] & 1 != 0)
                        .then(|| TcpTimestampRepr::new(u32::from(b[8]) << 8, u32::from(b[9]))),
                    payload: &payload[..len],
                };
                w.ep.handle_segment(w.now, PEER, LOCAL, &repr);
            }
            4 => {
                let Some(l) = data.get(i..i + 2) else { break };
                i += 2;
                let n = usize::from(u16::from_be_bytes([l[0], l[1]])).min(data.len() - i);
                let raw = &data[i..i + n];
                i += n;
                if let Ok(packet) = TcpPacket::new_checked(raw) {
                    if let Ok(repr) = TcpRepr::parse(
                        &packet,
                        &IpAddress::Ipv6(PEER),
                        &IpAddress::Ipv6(LOCAL),
                        &ChecksumCapabilities::ignored(),
                    ) {
                        w.ep.handle_segment(w.now, PEER, LOCAL, &repr);
                    }
                }
            }
            11 => {
                let Some(h) = data.get(i..i + 3) else { break };
                i += 3;
                let n = usize::from(u16::from_be_bytes([h[1], h[2]])).min(data.len() - i);
                let mut tcp = data[i..i + n].to_vec();
                i += n;
                if tcp.len() >= 20 && h[0] & 1 != 0 {
                    let mut p = TcpPacket::new_unchecked(&mut tcp[..]);
                    p.fill_checksum(&IpAddress::Ipv6(PEER), &IpAddress::Ipv6(LOCAL));
                }
                let mut packet = vec![0u8; 40];
                packet[0] = 0x60;
                packet[4..6].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
                packet[6] = 6;
                packet[7] = 64;
                packet[8..24].copy_from_slice(&PEER.octets());
                packet[24..40].copy_from_slice(&LOCAL.octets());
                packet.extend_from_slice(&tcp);
                if let Ok(Some(t)) = vany_stack::wire::parse_tcp_deferred(&packet) {
                    match t.deferred {
                        Some(check) => {
                            w.ep.handle_segment_deferred(
                                w.now,
                                t.pseudo_src(),
                                t.pseudo_dst(),
                                &t.segment,
                                check,
                            );
                        }
                        None => {
                            w.ep.handle_segment(w.now, t.pseudo_src(), t.pseudo_dst(), &t.segment)
                        }
                    }
                }
            }
            5 => {
                let n = usize::from(data.get(i).copied().unwrap_or(0)) * 16;
                i += 1;
                let tuple = w.tuple;
                if let Some(c) = w.ep.connection_mut(&tuple) {
                    let _ = c.send(&payload[..n.min(payload.len())]);
                }
            }
            6 => {
                let tuple = w.tuple;
                if let Some(c) = w.ep.connection_mut(&tuple) {
                    let _ = c.recv(&mut read_buf);
                }
            }
            7 => {
                let tuple = w.tuple;
                if let Some(c) = w.ep.connection_mut(&tuple) {
                    c.close();
                }
            }
            8 => {
                let tuple = w.tuple;
                if let Some(c) = w.ep.connection_mut(&tuple) {
                    c.abort();
                }
            }
            9 => {
                let Some(b) = data.get(i..i + 2) else { break };
                i += 2;
                w.now = w.now + Duration::from_millis(u64::from(u16::from_be_bytes([b[0], b[1]])));
                if w.ep.poll_timeout().is_some_and(|t| t <= w.now) {
                    w.ep.handle_timeout(w.now);
                }
            }
            12 => {
                let Some(b) = data.get(i..i + 5) else { break };
                i += 5;
                let seq = w
                    .last
                    .0
                    .wrapping_add(i16::from_be_bytes([b[2], b[3]]) as i32 as u32);
                let ptb = PacketTooBigRepr {
                    mtu: u32::from(u16::from_be_bytes([b[0], b[1]])),
                    src: LOCAL,
                    dst: PEER,
                    rh2: None,
                    hao: None,
                    ext_len: usize::from(b[4] % 64),
                    next_header: 6,
                    original_len: 1500,
                    tcp: Some(QuotedTcp {
                        src_port: 80,
                        dst_port: 40000,
                        seq,
                    }),
                };
                w.ep.handle_packet_too_big(w.now, LOCAL, PEER, &ptb);
                if let Some(c) = w.ep.connection(&w.tuple) {
                    assert!((1280..=1500).contains(&c.path_mtu()), "{}", c.path_mtu());
                }
            }
            _ => {
                let tuple = w.tuple;
                if let Some(mut c) = w.ep.remove(&tuple) {
                    c.freeze();
                    let bytes = c.snapshot_bytes(w.now).expect("encodes");
                    let other = Instant::from_secs(7);
                    let restored =
                        Connection::restore_bytes(&bytes, other).expect("own snapshot restores");
                    let back = Connection::restore_bytes(&restored.snapshot_bytes(other).expect("encodes"), w.now)
                        .expect("restores");
                    assert_eq!(back.state(), c.state());
                    w.ep.insert(back).expect("tuple is free");
                }
            }
        }
        w.drain();
    }
});
