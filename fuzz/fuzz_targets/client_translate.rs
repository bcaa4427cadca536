//! Fuzz target `client_translate`: packets from the kernel (`outbound`) and from the
//! uplink (`inbound`) into the `vany client` translator, interleaved with time steps
//! (`handle_timeout`), its answers (`poll_transmit`) and a real mobile node that runs
//! return routability and sends genuine, signed BUs from four care-of addresses (so
//! bindings come, move and go, and the fuzzer can mutate or replay real HoTI, CoTI, BU,
//! HoT, CoT and BA packets taken from the exchange).
//!
//! Checks, after every step: no panic; `outbound` answers only `Uplink` or `Drop`, and
//! `inbound` never `Uplink`; a packet sent to the uplink changed its destination only to
//! the care-of address of a live binding for it, with an RH2 holding the anycast
//! destination (never an RH2 the translator added for an address without a binding); a
//! packet given to the kernel came with a HAO from the care-of address of a live binding
//! for that home address, and now has the home address as source and no HAO; every
//! packet it outputs re-parses when its input did, with a valid checksum when its input
//! had one; a SYN it outputs has an MSS of at most the configured maximum; every packet
//! `poll_transmit` hands out passes `parse_verified`; the counters match the verdicts.
//!
//! Input: a sequence of records, each an opcode byte then its arguments:
//! - 0/1: raw bytes (2-byte length + data) to `outbound` / `inbound`;
//! - 2/3: a packet of the pool (1-byte index) with up to four bit flips (count byte,
//!   then 2-byte position + bit byte each) to `outbound` / `inbound`;
//! - 4/5: a packet of the pool as is to `outbound` / `inbound` (a replay);
//! - 6: time passes (2-byte amount, 1 byte: milliseconds or seconds), timers fire;
//! - 7: the mobile node acts (1 byte: home test, care-of test, BU or deregistration,
//!   and which of four care-of addresses), its packets go to `inbound`, the answers back;
//! - 8: a TCP packet built from 8 bytes (direction, addresses, HAO/RH2, flags, MSS,
//!   payload length) to `outbound` or `inbound`.
//!
//! The pool starts with the packets of the set-up exchange and a few data packets, and
//! gains every packet the translator emits or the mobile node sends (up to 64).
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vany_appliance::client_host::translate::{
    claimed, DropReason, TranslateStats, Translator, Verdict,
};
use vany_stack::mip6::cn::{CnConfig, CorrespondentNode};
use vany_stack::mip6::mn::MobileNode;
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::rewrite::ipv6_total;
use vany_stack::wire::{self, PacketRepr, TcpControl, TcpRepr, TcpSeqNumber, Upper};

const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);
const ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 1);
const OTHER_ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 2);
const NOT_ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xb, 0, 0, 0, 0, 0, 1);
const MAX_MSS: u16 = 1416;
const POOL: usize = 64;

fn care_of(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10 + u16::from(n % 4), 0, 0, 0, 0, 0, 1)
}

fn addr(n: u8) -> Ipv6Addr {
    match n % 6 {
        0 => CLIENT,
        1 => ANYCAST,
        2 => OTHER_ANYCAST,
        3 => NOT_ANYCAST,
        k => care_of(k),
    }
}

fn emit(repr: &PacketRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0; repr.buffer_len()];
    let n = repr.emit(&mut buf).expect("a built packet emits");
    buf.truncate(n);
    buf
}

fn tcp_packet(b: &[u8; 8]) -> Vec<u8> {
    let payload = vec![0x5a; usize::from(b[6]) * 8];
    let control = match b[3] % 5 {
        0 => TcpControl::None,
        1 => TcpControl::Psh,
        2 => TcpControl::Syn,
        3 => TcpControl::Fin,
        _ => TcpControl::Rst,
    };
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        control,
        seq_number: TcpSeqNumber(i32::from_be_bytes([b[7], b[3], b[4], b[5]])),
        ack_number: (b[3] & 0x80 != 0).then_some(TcpSeqNumber(1)),
        window_len: 1000,
        window_scale: None,
        max_seg_size: (b[4] & 1 != 0).then_some(u16::from_be_bytes([b[4], b[5]])),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &payload,
    };
    let repr = PacketRepr {
        src: addr(b[1]),
        dst: addr(b[1] >> 4),
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        rh2: (b[2] & 1 != 0).then(|| addr(b[2] >> 2)),
        hao: (b[2] & 2 != 0).then(|| addr(b[2] >> 5)),
        upper: Upper::Tcp(tcp),
    };
    emit(&repr)
}

/// The MSS a SYN in `p` carries, if `p` parses as one.
fn syn_mss(p: &[u8]) -> Option<u16> {
    let parsed = wire::parse(p).ok()?;
    match parsed.repr.upper {
        Upper::Tcp(t) if t.control == TcpControl::Syn => t.max_seg_size,
        _ => None,
    }
}

struct World {
    t: Translator,
    mn: MobileNode,
    rng: SeededRandom,
    now: Instant,
    pool: Vec<Vec<u8>>,
    out: Vec<u8>,
    /// The counters as the verdicts say they must be.
    expect: TranslateStats,
}

impl World {
    fn new() -> World {
        let mut rng = SeededRandom::new(7);
        let cn = CorrespondentNode::new(CnConfig::default(), &mut rng);
        let t = Translator::new(
            cn,
            vec!["fd00:a::/64".parse().unwrap()],
            MAX_MSS,
            Box::new(SeededRandom::new(8)),
        );
        let mut w = World {
            t,
            mn: MobileNode::new(ANYCAST, Duration::from_secs(420)),
            rng: SeededRandom::new(3),
            now: Instant::from_secs(10),
            pool: Vec::new(),
            out: Vec::new(),
            expect: TranslateStats::default(),
        };
        // A real binding to care_of(0): HoTI, CoTI, HoT, CoT, BU, BA all join the pool.
        w.mn.start_home_test(w.now, CLIENT, *b"va\0\x01salt");
        w.mn.start_care_of_test(w.now, &mut w.rng, CLIENT, care_of(0));
        w.exchange();
        let _ = w.mn.send_bu(w.now, CLIENT, care_of(0));
        w.exchange();
        assert!(
            w.t.cn().binding(&ANYCAST).is_some(),
            "the set-up exchange binds"
        );
        for b in [
            [0, 0x10, 0, 2, 0x05, 0xb4, 0, 0], // SYN client -> anycast, MSS 1460
            [0, 0x10, 0, 1, 0, 0, 20, 0],      // data client -> anycast
            [0, 0x14, 2 | (1 << 5), 0, 0, 0, 10, 0], // care_of(0)+HAO(anycast) -> client
            [0, 0x15, 2 | (1 << 5), 0, 0, 0, 10, 0], // care_of(1)+HAO(anycast) -> client
        ] {
            w.pool.push(tcp_packet(&b));
        }
        w
    }

    fn remember(&mut self, p: &[u8]) {
        if self.pool.len() < POOL {
            self.pool.push(p.to_vec());
        }
    }

    /// The translator's answers: each must pass `parse_verified`; the mobile node reads
    /// them.
    fn drain(&mut self) {
        for _ in 0..1000 {
            let Some(p) = self.t.poll_transmit() else {
                return;
            };
            let parsed = wire::parse_verified(&p).expect("poll_transmit packets verify");
            let _ = self.mn.handle_mh(self.now, &parsed);
            self.remember(&p);
        }
        panic!("poll_transmit never ran dry");
    }

    /// Every packet the mobile node queued goes inbound, the answers back.
    fn exchange(&mut self) {
        for _ in 0..100 {
            let Some(p) = self.mn.poll_transmit() else {
                return;
            };
            self.remember(&p);
            self.inbound(&p);
        }
    }

    /// The care-of address of a live binding for `home`, as `egress`/`ingress` see it.
    fn bound(&self, home: &Ipv6Addr) -> Option<Ipv6Addr> {
        self.t
            .cn()
            .binding(home)
            .filter(|b| b.expires > self.now)
            .map(|b| b.care_of)
    }

    fn check_stats(&self) {
        assert_eq!(self.t.stats(), self.expect, "counters match the verdicts");
    }

    fn outbound(&mut self, p: &[u8]) {
        let input = wire::parse(p).ok();
        let dst = (p.len() >= 40).then(|| {
            let mut d = [0u8; 16];
            d.copy_from_slice(&p[24..40]);
            Ipv6Addr::from(d)
        });
        let binding = dst.and_then(|d| self.bound(&d));
        let before = self.t.stats().mss_clamped;
        let mut out = std::mem::take(&mut self.out);
        let v = self.t.outbound(self.now, p, &mut out);
        match v {
            Verdict::Uplink => {
                let dst = dst.expect("an uplinked packet has a destination");
                assert!(self.t.is_anycast(&dst), "only anycast destinations go out");
                self.expect.out_packets += 1;
                let clamped = self.t.stats().mss_clamped - before;
                assert!(clamped <= 1, "one SYN, one clamp");
                self.expect.mss_clamped += clamped;
                let mut od = [0u8; 16];
                od.copy_from_slice(&out[24..40]);
                let out_dst = Ipv6Addr::from(od);
                match binding {
                    Some(coa) => {
                        self.expect.out_via_binding += 1;
                        assert_eq!(out_dst, coa, "sent through the binding");
                        let total = ipv6_total(p).expect("an uplinked packet has a length");
                        assert_eq!(out.len(), total + 24, "one RH2 added, link padding cut");
                    }
                    None => {
                        self.expect.out_plain += 1;
                        assert_eq!(out_dst, dst, "no binding: destination unchanged");
                        assert_eq!(out.len(), p.len());
                    }
                }
                if let Some(input) = input {
                    let o = wire::parse(&out).expect("the output of a parsing packet parses");
                    assert_eq!(o.repr.src, input.repr.src);
                    if binding.is_some() {
                        assert_eq!(o.repr.rh2, Some(dst), "RH2 holds the anycast address");
                    } else {
                        assert_eq!(o.repr.rh2, input.repr.rh2, "no RH2 added without a binding");
                    }
                    assert_eq!(o.repr.hao, input.repr.hao);
                    if input.checksum_ok {
                        assert!(o.checksum_ok, "the rewrite keeps the checksum valid");
                    }
                    if let Some(m) = syn_mss(&out) {
                        assert!(m <= MAX_MSS, "SYN left with MSS {m}");
                    }
                }
                self.remember(&out);
            }
            Verdict::Drop(DropReason::NotAnycast) => {
                assert!(!dst.is_some_and(|d| self.t.is_anycast(&d)));
                self.expect.out_not_anycast += 1;
            }
            Verdict::Drop(DropReason::Malformed) => {
                assert!(input.is_none(), "a packet that parses is not malformed");
            }
            Verdict::Drop(DropReason::Untranslatable(_)) => {
                assert!(binding.is_some(), "only the RH2 insertion can fail");
                self.expect.out_packets += 1;
                self.expect.out_untranslatable += 1;
            }
            other => panic!("outbound verdict {other:?}"),
        }
        self.out = out;
        self.check_stats();
    }

    fn inbound(&mut self, p: &[u8]) {
        let is_claimed = claimed(p);
        let input = wire::parse(p).ok();
        let before = self.t.stats().mss_clamped;
        let home_binding = input
            .as_ref()
            .and_then(|i| i.repr.hao)
            .and_then(|h| self.bound(&h));
        let mut out = std::mem::take(&mut self.out);
        let v = self.t.inbound(self.now, p, &mut out);
        match v {
            Verdict::Ignore => {
                assert!(!is_claimed);
                self.expect.in_ignored += 1;
            }
            Verdict::Consumed { .. } => {
                let input = input.expect("a consumed packet parsed");
                assert!(matches!(input.repr.upper, Upper::Mh(_)));
                self.expect.in_mh += 1;
            }
            Verdict::Kernel => {
                let input = input.expect("a packet for the kernel parsed");
                let home = input.repr.hao.expect("only HAO packets are translated");
                assert_eq!(
                    home_binding,
                    Some(input.repr.src),
                    "from the care-of address of a live binding"
                );
                let o = wire::parse(&out).expect("the packet for the kernel parses");
                assert_eq!(
                    (o.repr.src, o.repr.dst, o.repr.hao),
                    (home, input.repr.dst, None)
                );
                assert_eq!(o.repr.rh2, input.repr.rh2);
                if input.checksum_ok {
                    assert!(o.checksum_ok, "HAO removal keeps the checksum valid");
                }
                if let Some(m) = syn_mss(&out) {
                    assert!(m <= MAX_MSS, "SYN to the kernel with MSS {m}");
                }
                self.expect.in_hao_translated += 1;
                let clamped = self.t.stats().mss_clamped - before;
                assert!(clamped <= 1, "one SYN, one clamp");
                self.expect.mss_clamped += clamped;
            }
            Verdict::Drop(DropReason::NoBinding) => {
                let input = input.expect("parsed");
                assert!(input.repr.hao.is_some());
                assert_ne!(
                    home_binding,
                    Some(input.repr.src),
                    "a bound HAO is not dropped"
                );
                self.expect.in_hao_dropped += 1;
            }
            Verdict::Drop(DropReason::Malformed | DropReason::Untranslatable(_)) => {
                assert!(is_claimed);
                self.expect.in_malformed += 1;
            }
            other => panic!("inbound verdict {other:?}"),
        }
        self.out = out;
        self.check_stats();
        self.drain();
    }

    fn mn_act(&mut self, b: u8) {
        let coa = care_of(b >> 2);
        match b % 4 {
            0 => self.mn.start_home_test(self.now, CLIENT, [b; 8]),
            1 => self
                .mn
                .start_care_of_test(self.now, &mut self.rng, CLIENT, coa),
            2 => {
                let _ = self.mn.send_bu(self.now, CLIENT, coa);
            }
            _ => {
                let _ = self.mn.deregister(self.now, CLIENT, coa);
            }
        }
        self.exchange();
    }

    fn time(&mut self, amount: u16, unit: u8) {
        let step = if unit & 1 == 0 {
            Duration::from_millis(u64::from(amount))
        } else {
            Duration::from_secs(u64::from(amount))
        };
        self.now = self.now + step;
        if unit & 2 != 0 || self.t.poll_timeout().is_some_and(|t| t <= self.now) {
            self.t.handle_timeout(self.now);
        }
        if self.mn.poll_timeout().is_some_and(|t| t <= self.now) {
            self.mn.handle_timeout(self.now);
        }
        self.drain();
        self.exchange();
        self.check_stats();
    }
}

/// Reads `n` bytes at `*i`, moving on; `None` past the end.
fn take<'a>(data: &'a [u8], i: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = data.get(*i..*i + n)?;
    *i += n;
    Some(s)
}

fn mutated(p: &[u8], data: &[u8], i: &mut usize) -> Option<Vec<u8>> {
    let mut p = p.to_vec();
    let flips = take(data, i, 1)?[0] % 5;
    for _ in 0..flips {
        let f = take(data, i, 3)?;
        if !p.is_empty() {
            let at = usize::from(u16::from_be_bytes([f[0], f[1]])) % p.len();
            p[at] ^= 1 << (f[2] % 8);
        }
    }
    Some(p)
}

fuzz_target!(|data: &[u8]| {
    let mut w = World::new();
    let mut i = 0;
    for _ in 0..128 {
        let Some(&[op]) = take(data, &mut i, 1) else {
            break;
        };
        match op % 9 {
            op @ (0 | 1) => {
                let Some(l) = take(data, &mut i, 2) else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes([l[0], l[1]])).min(data.len() - i);
                let p = take(data, &mut i, len).unwrap_or_default().to_vec();
                if op == 0 {
                    w.outbound(&p);
                } else {
                    w.inbound(&p);
                }
            }
            op @ (2..=5) => {
                let Some(&[k]) = take(data, &mut i, 1) else {
                    break;
                };
                let p = w.pool[usize::from(k) % w.pool.len()].clone();
                let p = if op <= 3 {
                    match mutated(&p, data, &mut i) {
                        Some(p) => p,
                        None => break,
                    }
                } else {
                    p
                };
                if op % 2 == 0 {
                    w.outbound(&p);
                } else {
                    w.inbound(&p);
                }
            }
            6 => {
                let Some(a) = take(data, &mut i, 3) else {
                    break;
                };
                w.time(u16::from_be_bytes([a[0], a[1]]), a[2]);
            }
            7 => {
                let Some(&[b]) = take(data, &mut i, 1) else {
                    break;
                };
                w.mn_act(b);
            }
            _ => {
                let Some(b) = take(data, &mut i, 8) else {
                    break;
                };
                let b: [u8; 8] = b.try_into().unwrap();
                let p = tcp_packet(&b);
                if b[0] & 1 == 0 {
                    w.outbound(&p);
                } else {
                    w.inbound(&p);
                }
            }
        }
    }
});
