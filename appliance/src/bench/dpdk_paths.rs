//! The packet paths of `vany bench dpdk`: the `vany client` translation and a group
//! member's forwarding, each fed from a `net_null` port through vany's DPDK backend
//! ([`DpdkIo`]), its output sent on another port.
//!
//! - `client-out`: [`Translator::outbound`] on a TCP/IPv6 packet from the client host to
//!   the anycast address, for which the translator holds a binding (made by a real
//!   return-routability exchange with the mobile-node code the members run): sent to
//!   the care-of address with a Type 2 Routing Header inserted.
//! - `client-in`: [`Translator::inbound`] on a TCP/IPv6 packet from that care-of
//!   address carrying a Home Address option, as a member sends it: the option stripped,
//!   the anycast address put in the source field.
//! - `member-fwd`: [`Member::receive`] on a client's TCP segment to the anycast
//!   address arriving at the contact node after the client's session was handed off to
//!   another member (a real handoff in the simulator, committed), the member's output
//!   taken once per receive burst as `vany node` does: the burst's packets passed on to
//!   that member together, as peer `Forwards` messages (HMAC-authenticated UDP
//!   datagrams of about 16 small packets; a 1500-byte packet goes alone, as a `Forward`
//!   of two datagrams).
//!
//! Each packet handled is checked: a phase counts the packets actually translated (the
//! translator's counters) or forwarded (the member's), and one that handled none is an
//! error, never a rate. A TCP/IPv6 packet needs a frame of 74 bytes (98 with a HAO), so
//! a smaller size class is measured with frames of that length; an RH2 that would not fit
//! a 2048-byte mbuf skips `client-out` at that size, with a note.
//!
//! DPDK is used in two small functions only ([`open_port`] and [`pump`]), through
//! [`PacketIo`] and [`DpdkIo::prime_pool`].

use std::net::Ipv6Addr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use serde::Serialize;
use vany_stack::l2::{Gateway, OwnAddr};
use vany_stack::mip6::cn::{CnConfig, CorrespondentNode};
use vany_stack::mip6::mn::{MnEvent, MobileNode};
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::UdpDatagram;
use vany_stack::wire::{parse, PacketRepr, TcpControl, TcpRepr, TcpSeqNumber, Upper};

use super::{BenchError, Cancel};
use crate::client_host::translate::{Prefix, Translator, Verdict};
use crate::demo::{member_config, ANYCAST};
use crate::group::member::{HandoffOutcome, Member};
use crate::group::peer::{MemberId, PEER_PORT};
use crate::io::dpdk::{DpdkConfig, DpdkIo, Mac, ETHERNET_HEADER_LEN};
use crate::io::{PacketIo, IPV6_HEADER_LEN};
use crate::sim::client::{Client, ClientConfig};
use crate::sim::{HostId, Sim};

/// `net_null` ports each frame size needs: one source per path (the sink is a port the
/// rx/tx/io phases are done with).
pub const PORTS_PER_SIZE: usize = 3;
/// The largest frame an mbuf holds (DPDK's default data room).
const MAX_FRAME: usize = 2048;
/// Mbufs of a source port's pool: its receive bursts recycle a few dozen.
pub const SOURCE_MBUFS: u32 = 2047;
/// Bytes of a TCP header without options.
const TCP_HEADER_LEN: usize = 20;
/// Bytes an RH2 or a Destination Options header with a HAO adds.
const MIP6_HEADER_LEN: usize = 24;

/// The measured paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PathKind {
    /// `vany client` outbound: RH2 inserted.
    #[serde(rename = "client-out")]
    ClientOut,
    /// `vany client` inbound: HAO stripped.
    #[serde(rename = "client-in")]
    ClientIn,
    /// A contact node passing a client's packet to the member serving it.
    #[serde(rename = "member-fwd")]
    MemberFwd,
}

impl PathKind {
    /// Every path, in the order measured.
    pub const ALL: [PathKind; 3] = [PathKind::ClientOut, PathKind::ClientIn, PathKind::MemberFwd];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            PathKind::ClientOut => "client-out",
            PathKind::ClientIn => "client-in",
            PathKind::MemberFwd => "member-fwd",
        }
    }

    /// The frame length used for size class `size`: a TCP/IPv6 packet needs 74 bytes,
    /// 98 with a HAO.
    pub fn frame_len(self, size: usize) -> usize {
        let min = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + TCP_HEADER_LEN;
        match self {
            PathKind::ClientIn => size.max(min + MIP6_HEADER_LEN),
            _ => size.max(min),
        }
    }
}

/// What one path phase counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PathCount {
    /// IPv6 packets received from the source port.
    pub received: u64,
    /// Of those, packets translated (RH2 inserted, HAO stripped) or forwarded.
    pub handled: u64,
    /// Frames the sink port took (a forwarded packet may make two datagrams).
    pub sent: u64,
    /// Seconds measured.
    pub secs: f64,
}

/// One path measurement.
#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    /// The path.
    pub path: PathKind,
    /// The size class (a `--sizes` value).
    pub size: usize,
    /// Bytes of each frame received (Ethernet header included).
    pub frame: usize,
    /// What was counted.
    #[serde(flatten)]
    pub count: PathCount,
    /// Million packets handled per second (one core).
    pub mpps: f64,
    /// Nanoseconds per packet handled (receive, work, send).
    pub ns_per_packet: f64,
}

impl PathRow {
    fn new(path: PathKind, size: usize, frame: usize, count: PathCount) -> PathRow {
        let secs = count.secs.max(1e-9);
        PathRow {
            path,
            size,
            frame,
            count,
            mpps: count.handled as f64 / secs / 1e6,
            ns_per_packet: if count.handled == 0 {
                0.0
            } else {
                secs * 1e9 / count.handled as f64
            },
        }
    }
}

/// The `--vdev` arguments of the source ports of one size, `first` to `first + 2`.
pub fn vdevs(first: usize, size: usize) -> Vec<String> {
    PathKind::ALL
        .iter()
        .enumerate()
        .map(|(i, k)| format!("--vdev=net_null{},size={}", first + i, k.frame_len(size)))
        .collect()
}

/// Opens `port` for a bench phase (frames from and to `mac`, a static next hop; a pool of
/// `mbufs`, or the backend's default) and primes its pool with `frame`.
pub fn open_port(
    eal: &vany_ffi::Eal,
    port: &str,
    mac: Mac,
    burst: usize,
    mbufs: Option<u32>,
    frame: &[u8],
) -> Result<DpdkIo, BenchError> {
    let addrs = vec![OwnAddr {
        addr: "fd00:6d::2".parse().expect("address"),
        anycast: false,
    }];
    let mut c = DpdkConfig::new(port, addrs, Gateway::Mac(mac));
    c.mac = Some(mac);
    c.burst = burst;
    c.mbufs = mbufs.unwrap_or(c.mbufs);
    let mut io = DpdkIo::open(eal, &c)?;
    io.prime_pool(frame)?;
    Ok(io)
}

/// A packet path: a received packet in, packets to send out.
pub trait PathWork {
    /// Handles one packet, handing what it sends to `send`.
    fn handle(&mut self, packet: &[u8], send: &mut dyn FnMut(&[u8]));
    /// After a receive burst: hands what the burst made to send, if the path sends once
    /// per burst (a group member does, as `vany node` drives it).
    fn end_burst(&mut self, _send: &mut dyn FnMut(&[u8])) {}
}

/// Receives on `rx`, runs every packet through `work` and sends its output on `tx`,
/// for `phase` or until the run is interrupted (the other function that uses DPDK).
/// Returns (received, sent, seconds).
pub fn pump(
    rx: &mut DpdkIo,
    tx: &mut DpdkIo,
    work: &mut dyn PathWork,
    phase: StdDuration,
    cancel: &Cancel,
) -> Result<(u64, u64, f64), BenchError> {
    let (mut received, mut sent) = (0u64, 0u64);
    let start = StdInstant::now();
    let mut rounds = 0u32;
    loop {
        // Each packet is handled in its mbuf (rx_each); the path's output is copied into
        // an mbuf of the other port.
        let mut failed = None;
        let mut send = |p: &[u8]| match tx.send(p) {
            Ok(taken) => sent += u64::from(taken),
            Err(e) => failed = Some(e),
        };
        received += rx.rx_each(64, &mut |packet| work.handle(packet, &mut send))? as u64;
        work.end_burst(&mut send);
        if let Some(e) = failed {
            return Err(e.into());
        }
        rounds = rounds.wrapping_add(1);
        if rounds & 63 == 0 && (start.elapsed() >= phase || cancel.interrupted()) {
            break;
        }
    }
    tx.flush();
    cancel.check()?;
    Ok((received, sent, start.elapsed().as_secs_f64()))
}

// ---- the client translation ------------------------------------------------------------

/// The client host's address in the translation phases.
const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x1, 0, 0, 0, 0, 0, 1);
/// The care-of address the client's binding points at.
const CARE_OF: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 1);

/// A TCP segment of `payload` bytes (ACK, no options) from `src_port` to `dst_port`.
fn segment(payload: &[u8], src_port: u16, dst_port: u16) -> TcpRepr<'_> {
    TcpRepr {
        src_port,
        dst_port,
        control: TcpControl::None,
        seq_number: TcpSeqNumber(1000),
        ack_number: Some(TcpSeqNumber(2000)),
        window_len: 1000,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    }
}

/// An Ethernet frame to `mac` of exactly `len` bytes carrying a TCP/IPv6 packet (with a
/// HAO if given) whose payload fills it.
fn tcp_frame(
    mac: Mac,
    len: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hao: Option<Ipv6Addr>,
    ports: (u16, u16),
) -> Result<Vec<u8>, BenchError> {
    let fixed = ETHERNET_HEADER_LEN
        + IPV6_HEADER_LEN
        + TCP_HEADER_LEN
        + if hao.is_some() { MIP6_HEADER_LEN } else { 0 };
    let payload = vec![0x5a; len.saturating_sub(fixed)];
    let upper = Upper::Tcp(segment(&payload, ports.0, ports.1));
    let repr = PacketRepr {
        hao,
        ..PacketRepr::new(src, dst, upper)
    };
    let mut f = vec![0u8; ETHERNET_HEADER_LEN + repr.buffer_len()];
    f[..6].copy_from_slice(&mac.0);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xfe]);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    repr.emit(&mut f[ETHERNET_HEADER_LEN..])
        .map_err(|e| BenchError::Check(format!("building a {len}-byte test frame: {e}")))?;
    Ok(f)
}

/// `vany client`'s translator with a binding of the anycast address to [`CARE_OF`], made
/// by a return-routability exchange and a Binding Update from the mobile-node code.
fn bound_translator(now: Instant) -> Result<Translator, BenchError> {
    let mut rng = SeededRandom::new(0x6d70);
    let cn = CorrespondentNode::new(CnConfig::default(), &mut rng);
    // The /64 of the anycast address, as `vany client --anycast` is given it.
    let network = Ipv6Addr::from(u128::from(ANYCAST) & !u128::from(u64::MAX));
    let prefix =
        Prefix::new(network, 64).map_err(|e| BenchError::Check(format!("anycast prefix: {e}")))?;
    let mut t = Translator::new(cn, vec![prefix], 1440, Box::new(SeededRandom::new(0x6d71)));
    let mut mn = MobileNode::new(ANYCAST, Duration::from_secs(420));
    mn.start_home_test(now, CLIENT, *b"vany\0bnc");
    mn.start_care_of_test(now, &mut rng, CLIENT, CARE_OF);
    exchange(now, &mut mn, &mut t);
    mn.send_bu(now, CLIENT, CARE_OF)
        .map_err(|e| BenchError::Check(format!("binding update not sent: {e}")))?;
    let bound = exchange(now, &mut mn, &mut t)
        .iter()
        .any(|e| matches!(e, MnEvent::Bound { .. }));
    if !bound || t.cn().binding(&ANYCAST).map(|b| b.care_of) != Some(CARE_OF) {
        return Err(BenchError::Check(
            "the translator did not bind the anycast address to the care-of address".into(),
        ));
    }
    Ok(t)
}

/// Passes the mobile node's messages through the translator and its answers back.
fn exchange(now: Instant, mn: &mut MobileNode, t: &mut Translator) -> Vec<MnEvent> {
    let mut events = Vec::new();
    let mut out = Vec::new();
    for _ in 0..16 {
        let Some(p) = mn.poll_transmit() else {
            break;
        };
        t.inbound(now, &p, &mut out);
        while let Some(answer) = t.poll_transmit() {
            if let Ok(parsed) = parse(&answer) {
                events.extend(mn.handle_mh(now, &parsed));
            }
        }
    }
    events
}

/// The client translation, one direction at a time.
pub struct ClientPath {
    t: Translator,
    now: Instant,
    inbound: bool,
    out: Vec<u8>,
}

impl ClientPath {
    /// A translator bound as `vany client` is after a member's Binding Update.
    pub fn new() -> Result<ClientPath, BenchError> {
        let now = Instant::from_secs(10);
        Ok(ClientPath {
            t: bound_translator(now)?,
            now,
            inbound: false,
            out: Vec::with_capacity(MAX_FRAME + MIP6_HEADER_LEN),
        })
    }

    /// The frame of `kind` (client-out or client-in) for size class `size`.
    pub fn frame(kind: PathKind, size: usize, mac: Mac) -> Result<Vec<u8>, BenchError> {
        let len = kind.frame_len(size);
        match kind {
            PathKind::ClientIn => tcp_frame(mac, len, CARE_OF, CLIENT, Some(ANYCAST), (80, 40000)),
            _ => tcp_frame(mac, len, CLIENT, ANYCAST, None, (40000, 80)),
        }
    }

    /// Translates `packet` once and checks the result byte for byte (checksum over the
    /// home address, the addresses a peer expects).
    fn check(&mut self, packet: &[u8]) -> Result<(), BenchError> {
        let mut made = None;
        self.handle(packet, &mut |p| made = Some(p.to_vec()));
        let fail = |what: &str| {
            BenchError::Check(format!(
                "vany client translation ({}) {what}",
                if self.inbound { "inbound" } else { "outbound" }
            ))
        };
        let out = made.ok_or_else(|| fail("made no packet"))?;
        let p = parse(&out).map_err(|_| fail("made a packet that does not parse"))?;
        let want = if self.inbound {
            (ANYCAST, CLIENT, None, None)
        } else {
            (CLIENT, CARE_OF, Some(ANYCAST), None)
        };
        if (p.repr.src, p.repr.dst, p.repr.rh2, p.repr.hao) != want || !p.checksum_ok {
            return Err(fail("made the wrong packet"));
        }
        Ok(())
    }

    /// Packets translated so far in the current direction.
    fn translated(&self) -> u64 {
        let s = self.t.stats();
        if self.inbound {
            s.in_hao_translated
        } else {
            s.out_via_binding
        }
    }
}

impl PathWork for ClientPath {
    fn handle(&mut self, packet: &[u8], send: &mut dyn FnMut(&[u8])) {
        let v = if self.inbound {
            self.t.inbound(self.now, packet, &mut self.out)
        } else {
            self.t.outbound(self.now, packet, &mut self.out)
        };
        if matches!(v, Verdict::Uplink | Verdict::Kernel) {
            send(&self.out);
        }
    }
}

// ---- the member's forwarding -----------------------------------------------------------

/// The member that forwards (the contact node, which served the client first).
const DONOR: MemberId = 1;
/// The member that serves the client after the handoff.
const ACCEPTOR: MemberId = 2;
/// The simulated client's address.
const SIM_CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xc1, 0, 0, 0, 0, 0, 1);

/// Care-of address of member `id`, as in the demo.
fn member_addr(id: MemberId) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10 + id - 1, 0, 0, 0, 0, 0, 1)
}

/// A two-member group (as `vany demo` configures members) in the simulator, whose
/// contact node handed its one client off to the other member: its packets are
/// forwarded.
pub struct GroupPath {
    sim: Sim,
    donor: HostId,
    now: Instant,
}

impl GroupPath {
    /// Runs the simulation until the handoff committed (about 2 s of simulated time).
    pub fn new() -> Result<GroupPath, BenchError> {
        let mut sim = Sim::new(0x6d66);
        let addrs = [DONOR, ACCEPTOR]
            .into_iter()
            .map(|id| (id, member_addr(id)))
            .collect();
        let mut hosts = Vec::new();
        for id in [DONOR, ACCEPTOR] {
            let seed = sim.fork_rng().next_u64();
            let cfg = member_config(id, &format!("m{id}"), id == DONOR, &addrs, seed);
            let member = Member::new(cfg, sim.now());
            hosts.push(sim.add_host(Box::new(member), usize::from(id - 1)));
        }
        sim.set_latency(0, 1, Duration::from_millis(5));
        sim.set_latency(2, 0, Duration::from_millis(10));
        sim.set_latency(2, 1, Duration::from_millis(10));
        let cfg = ClientConfig::new(SIM_CLIENT, ANYCAST).download(
            Instant::ZERO,
            80,
            500,
            50_000_000,
            Some(1_000_000),
        );
        let rng = sim.fork_rng();
        sim.add_host(Box::new(Client::new(cfg, rng)), 2);
        sim.run_until(Instant::from_millis(1500));
        let donor = hosts[0];
        match sim.host_as::<Member>(donor) {
            Some(m) if m.clients().contains(&SIM_CLIENT) => m.manual_move(SIM_CLIENT, ACCEPTOR),
            _ => {
                return Err(BenchError::Check(
                    "the simulated client did not reach the contact node".into(),
                ))
            }
        }
        for _ in 0..100 {
            let step = sim.now() + Duration::from_millis(100);
            sim.run_until(step);
            let committed = sim.host_as::<Member>(donor).is_some_and(|m| {
                m.handoffs()
                    .iter()
                    .any(|h| h.outcome == HandoffOutcome::Committed)
            });
            if committed {
                let now = sim.now();
                return Ok(GroupPath { sim, donor, now });
            }
        }
        Err(BenchError::Check(
            "the simulated handoff did not commit within 10 s".into(),
        ))
    }

    /// The frame of a client packet to the anycast address for size class `size`.
    pub fn frame(size: usize, mac: Mac) -> Result<Vec<u8>, BenchError> {
        let len = PathKind::MemberFwd.frame_len(size);
        tcp_frame(mac, len, SIM_CLIENT, ANYCAST, None, (49152, 80))
    }

    fn member(&mut self) -> Result<&mut Member, BenchError> {
        self.sim
            .host_as::<Member>(self.donor)
            .ok_or_else(|| BenchError::Check("the donor is not a member".into()))
    }

    /// Packets the donor forwarded so far.
    fn forwarded(&mut self) -> Result<u64, BenchError> {
        Ok(self.member()?.stats().forwarded)
    }

    /// Forwards `packet` once and checks that peer datagrams to the acceptor came out:
    /// how many.
    fn check(&mut self, packet: &[u8]) -> Result<usize, BenchError> {
        let acceptor = member_addr(ACCEPTOR);
        let mut work = self.work()?;
        let mut out = Vec::new();
        work.handle(packet, &mut |d| out.push(d.to_vec()));
        work.end_burst(&mut |d| out.push(d.to_vec()));
        let ok = !out.is_empty()
            && out.iter().all(|d| {
                parse(d).is_ok_and(|p| {
                    p.checksum_ok
                        && p.repr.dst == acceptor
                        && matches!(p.repr.upper, Upper::Udp(UdpDatagram { dst_port, .. }) if dst_port == PEER_PORT)
                })
            });
        if !ok {
            return Err(BenchError::Check(
                "the member did not forward the client's packet to the serving member".into(),
            ));
        }
        Ok(out.len())
    }

    /// The donor's per-packet work.
    fn work(&mut self) -> Result<MemberWork<'_>, BenchError> {
        let now = self.now;
        let member = self
            .sim
            .host_as::<Member>(self.donor)
            .ok_or_else(|| BenchError::Check("the donor is not a member".into()))?;
        Ok(MemberWork { member, now })
    }
}

/// The donor's per-packet work, borrowed from the simulation.
struct MemberWork<'a> {
    member: &'a mut Member,
    now: Instant,
}

impl PathWork for MemberWork<'_> {
    /// As `vany node` does: each packet of a burst received, then what the burst made
    /// taken once (client packets to forward to the same member travel together).
    fn handle(&mut self, packet: &[u8], _send: &mut dyn FnMut(&[u8])) {
        self.member.receive(self.now, packet);
    }

    fn end_burst(&mut self, send: &mut dyn FnMut(&[u8])) {
        while let Some(p) = self.member.poll_transmit() {
            send(&p);
            // Copied into an mbuf: the member reuses the buffer.
            self.member.recycle(p);
        }
    }
}

// ---- the phases -----------------------------------------------------------------------

/// The client translator and the forwarding member, set up once per run.
pub struct Paths {
    client: ClientPath,
    group: GroupPath,
}

impl Paths {
    /// Binds the translator and runs the group's handoff.
    pub fn new() -> Result<Paths, BenchError> {
        Ok(Paths {
            client: ClientPath::new()?,
            group: GroupPath::new()?,
        })
    }

    /// The frame a source port of `kind` is primed with, for size class `size`; `None`
    /// when the path cannot run at that size (an RH2 would not fit the mbuf).
    pub fn frame(kind: PathKind, size: usize, mac: Mac) -> Result<Option<Vec<u8>>, BenchError> {
        if kind == PathKind::ClientOut && kind.frame_len(size) + MIP6_HEADER_LEN > MAX_FRAME {
            return Ok(None);
        }
        match kind {
            PathKind::MemberFwd => GroupPath::frame(size, mac).map(Some),
            _ => ClientPath::frame(kind, size, mac).map(Some),
        }
    }

    /// One phase of `kind`: frames from `rx` (primed with [`Paths::frame`]) through the
    /// path to `tx` for `phase`. The path is checked on the primed frame first; a phase
    /// that handled no packet is an error.
    pub fn phase(
        &mut self,
        kind: PathKind,
        frame: &[u8],
        rx: &mut DpdkIo,
        tx: &mut DpdkIo,
        phase: StdDuration,
        cancel: &Cancel,
    ) -> Result<PathCount, BenchError> {
        let packet = &frame[ETHERNET_HEADER_LEN..];
        let (before, (received, sent, secs), after) = match kind {
            PathKind::ClientOut | PathKind::ClientIn => {
                let c = &mut self.client;
                c.inbound = kind == PathKind::ClientIn;
                c.check(packet)?;
                let before = c.translated();
                let r = pump(rx, tx, c, phase, cancel)?;
                (before, r, c.translated())
            }
            PathKind::MemberFwd => {
                let g = &mut self.group;
                g.check(packet)?;
                let before = g.forwarded()?;
                let r = pump(rx, tx, &mut g.work()?, phase, cancel)?;
                (before, r, g.forwarded()?)
            }
        };
        let handled = after - before;
        if handled == 0 {
            return Err(BenchError::Check(format!(
                "{}: none of the {received} packets received was {}",
                kind.name(),
                if kind == PathKind::MemberFwd {
                    "forwarded"
                } else {
                    "translated"
                }
            )));
        }
        Ok(PathCount {
            received,
            handled,
            sent,
            secs,
        })
    }
}

/// Runs every path at size class `size`: source ports `net_null{first}` to
/// `net_null{first + 2}` (see [`vdevs`]), output to `sink`. Returns the rows and notes.
#[allow(clippy::too_many_arguments)]
pub fn run_size(
    eal: &vany_ffi::Eal,
    paths: &mut Paths,
    first: usize,
    size: usize,
    sink: &mut DpdkIo,
    burst: usize,
    phase: StdDuration,
    cancel: &Cancel,
    log: &mut dyn std::io::Write,
) -> Result<(Vec<PathRow>, Vec<String>), BenchError> {
    let mac = Mac([0x02, 0, 0, 0, 0x6d, 2]);
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    for (i, kind) in PathKind::ALL.into_iter().enumerate() {
        cancel.check()?;
        let Some(frame) = Paths::frame(kind, size, mac)? else {
            notes.push(format!(
                "{} skipped at {size} B: with the RH2 the frame exceeds the {MAX_FRAME}-byte mbuf",
                kind.name()
            ));
            continue;
        };
        let mut rx = open_port(
            eal,
            &format!("net_null{}", first + i),
            mac,
            burst,
            Some(SOURCE_MBUFS),
            &frame,
        )?;
        let _ = writeln!(log, "vany {} {size} B ...", kind.name());
        let count = paths.phase(kind, &frame, &mut rx, sink, phase, cancel)?;
        rows.push(PathRow::new(kind, size, frame.len(), count));
    }
    Ok((rows, notes))
}

/// Renders the path rows as a table.
pub fn render(rows: &[PathRow], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<11} {:>6} {:>6} {:>12} {:>12} {:>12} {:>9} {:>10}",
        "path", "bytes", "frame", "received", "handled", "frames sent", "Mpps", "ns/packet"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<11} {:>6} {:>6} {:>12} {:>12} {:>12} {:>9.2} {:>10.1}",
            r.path.name(),
            r.size,
            r.frame,
            r.count.received,
            r.count.handled,
            r.count.sent,
            r.mpps,
            r.ns_per_packet
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x02, 0, 0, 0, 0, 1]);

    #[test]
    fn frames_are_tcp_of_the_size_class_or_the_smallest() {
        for (size, out, inb) in [(64, 74, 98), (98, 98, 98), (1500, 1500, 1500)] {
            let o = Paths::frame(PathKind::ClientOut, size, MAC)
                .unwrap()
                .unwrap();
            let i = Paths::frame(PathKind::ClientIn, size, MAC)
                .unwrap()
                .unwrap();
            let f = Paths::frame(PathKind::MemberFwd, size, MAC)
                .unwrap()
                .unwrap();
            assert_eq!((o.len(), i.len(), f.len()), (out, inb, out));
            for frame in [&o, &i, &f] {
                let p = parse(&frame[ETHERNET_HEADER_LEN..]).unwrap();
                assert!(p.checksum_ok && matches!(p.repr.upper, Upper::Tcp(_)));
            }
        }
        // With the RH2, a 2048-byte frame would not fit an mbuf: skipped, not failed.
        assert!(Paths::frame(PathKind::ClientOut, 2048, MAC)
            .unwrap()
            .is_none());
        assert!(Paths::frame(PathKind::ClientIn, 2048, MAC)
            .unwrap()
            .is_some());
    }

    #[test]
    fn client_translates_both_ways_through_its_binding() {
        let mut c = ClientPath::new().unwrap();
        for size in [64, 1500] {
            for kind in [PathKind::ClientOut, PathKind::ClientIn] {
                c.inbound = kind == PathKind::ClientIn;
                let frame = ClientPath::frame(kind, size, MAC).unwrap();
                let before = c.translated();
                c.check(&frame[ETHERNET_HEADER_LEN..]).unwrap();
                assert_eq!(c.translated(), before + 1, "{kind:?} {size}");
                let len = frame.len() - ETHERNET_HEADER_LEN;
                let want = if c.inbound { len - 24 } else { len + 24 };
                let mut made = Vec::new();
                c.handle(&frame[ETHERNET_HEADER_LEN..], &mut |p| made.push(p.len()));
                assert_eq!(made, [want]);
            }
        }
        // A packet the path does not translate is counted as such, and sends nothing.
        c.inbound = false;
        let other = tcp_frame(MAC, 74, CLIENT, CARE_OF, None, (1, 2)).unwrap();
        let before = c.translated();
        let mut made = 0;
        c.handle(&other[ETHERNET_HEADER_LEN..], &mut |_| made += 1);
        assert_eq!(c.translated(), before);
        assert_eq!(made, 0);
        assert!(c.check(&other[ETHERNET_HEADER_LEN..]).is_err());
    }

    #[test]
    fn contact_node_forwards_a_handed_off_clients_packets() {
        let mut g = GroupPath::new().unwrap();
        for (size, datagrams) in [(64, 1), (1500, 2)] {
            let frame = GroupPath::frame(size, MAC).unwrap();
            let before = g.forwarded().unwrap();
            let sent = g.check(&frame[ETHERNET_HEADER_LEN..]).unwrap();
            assert_eq!(g.forwarded().unwrap(), before + 1);
            assert_eq!(sent, datagrams, "{size} B");
        }
        // A burst of small packets goes as one datagram (`Forwards`); of large ones, as
        // a `Forward` each.
        for (size, burst, datagrams) in [(64, 16, 1), (64, 64, 4), (1500, 8, 16)] {
            let frame = GroupPath::frame(size, MAC).unwrap();
            let before = g.forwarded().unwrap();
            let mut work = g.work().unwrap();
            for _ in 0..burst {
                work.handle(&frame[ETHERNET_HEADER_LEN..], &mut |_| panic!("sent early"));
            }
            let mut sent = 0;
            work.end_burst(&mut |_| sent += 1);
            assert_eq!(g.forwarded().unwrap(), before + burst, "{size} B x {burst}");
            assert_eq!(sent, datagrams, "{size} B x {burst}");
        }
        // Another client's packet is not forwarded (no session, nothing moved).
        let stranger = tcp_frame(MAC, 74, CLIENT, ANYCAST, None, (1, 80)).unwrap();
        assert!(g.check(&stranger[ETHERNET_HEADER_LEN..]).is_err());
    }
}
