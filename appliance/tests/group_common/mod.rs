//! Scenario helpers shared by the `group_*` tests: a group of real [`Member`]s (configured
//! as `vany demo` configures them) and real [`Client`]s in the simulator, packet
//! classifiers for filters, an attacker host that injects packets into the network, and
//! the stream checks every campaign makes.

#![allow(dead_code)]

#[path = "../sim_common/mod.rs"]
mod sim_common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

pub use sim_common::{client_addr, Recorder};
use vany_appliance::apps::source::expected_sha256;
use vany_appliance::demo::{self, ANYCAST};
use vany_appliance::group::member::{HandoffRecord, Member, MemberConfig};
use vany_appliance::group::peer::{MemberId, PEER_PORT};
use vany_appliance::sim::client::{Client, ClientConfig, DownloadReport, DownloadStatus};
use vany_appliance::sim::{HostId, LinkParams, Sim};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::TcpConfig;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{parse_verified, MhMessage, PacketRepr, UdpDatagram, Upper};

/// The group key `demo::member_config` gives every member.
pub const GROUP_KEY: &[u8] = b"vany demo group key";

/// A campaign's size: the environment variable `var` if set, else `default`; printed so
/// that a CI log says which count ran.
pub fn env_count(var: &str, default: u64) -> u64 {
    let n = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    println!("{var}={n} (default {default}; set {var} for the full campaign)");
    n
}

/// Care-of address of member `id` (1-based), as in the demo.
pub fn member_addr(id: MemberId) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10 + id - 1, 0, 0, 0, 0, 0, 1)
}

/// An address no group host owns, for the attacker.
pub fn attacker_addr() -> Ipv6Addr {
    "fd00:bad::1".parse().unwrap()
}

/// A client TCP configuration that notices a dead server: keepalive after 5 s idle, 3
/// probes 2 s apart (so a download from a killed member fails in about 11 s instead of
/// waiting forever for data that never comes).
pub fn client_tcp() -> TcpConfig {
    TcpConfig {
        keepalive: Some(Duration::from_secs(5)),
        keepalive_interval: Duration::from_secs(2),
        keepalive_probes: 3,
        ..TcpConfig::default()
    }
}

/// A group of members and clients in one simulation. Member `id` (1-based) sits at
/// location `id - 1`; other locations are made by [`Group::place`].
pub struct Group {
    /// The simulation.
    pub sim: Sim,
    /// Host of member `id` at index `id - 1`.
    pub members: Vec<HostId>,
    /// Every member's care-of address.
    pub addrs: BTreeMap<MemberId, Ipv6Addr>,
    /// Client hosts, in the order added.
    pub clients: Vec<HostId>,
    /// Their addresses.
    pub client_addrs: Vec<Ipv6Addr>,
    next_location: usize,
}

impl Group {
    /// `n` members; member 1 is the contact node (it runs the home tests for everyone),
    /// and so are the members listed in `extra_contacts`. `l_ss(i, j)` is the one-way
    /// latency between members `i` and `j`. `configure` adjusts each member's
    /// configuration (taken from `demo::member_config`).
    pub fn new(
        seed: u64,
        n: usize,
        extra_contacts: &[MemberId],
        l_ss: impl Fn(MemberId, MemberId) -> Duration,
        configure: impl Fn(&mut MemberConfig),
    ) -> Group {
        let mut sim = Sim::new(seed);
        let addrs: BTreeMap<MemberId, Ipv6Addr> = (1..=n as MemberId)
            .map(|id| (id, member_addr(id)))
            .collect();
        for i in 1..=n as MemberId {
            for j in (i + 1)..=n as MemberId {
                sim.set_latency(usize::from(i - 1), usize::from(j - 1), l_ss(i, j));
            }
        }
        let mut members = Vec::new();
        for id in 1..=n as MemberId {
            let contact = id == 1 || extra_contacts.contains(&id);
            let member_seed = sim.fork_rng().next_u64();
            let mut cfg = demo::member_config(id, &format!("m{id}"), contact, &addrs, member_seed);
            assert_eq!(cfg.group_key, GROUP_KEY);
            configure(&mut cfg);
            let host = Member::new(cfg, sim.now());
            members.push(sim.add_host(Box::new(host), usize::from(id - 1)));
        }
        Group {
            sim,
            members,
            addrs,
            clients: Vec::new(),
            client_addrs: Vec::new(),
            next_location: n,
        }
    }

    /// A new location with one-way latency `to_members[i]` to member `i + 1` and packet
    /// loss `loss` on those paths.
    pub fn place(&mut self, to_members: &[Duration], loss: f64) -> usize {
        let loc = self.next_location;
        self.next_location += 1;
        for (i, l) in to_members.iter().enumerate() {
            self.sim.set_link(
                loc,
                i,
                LinkParams {
                    latency: *l,
                    loss,
                    ..LinkParams::default()
                },
            );
        }
        loc
    }

    /// Adds a client at `location`; its address is `client_addr(index)`.
    pub fn add_client(
        &mut self,
        location: usize,
        configure: impl FnOnce(ClientConfig) -> ClientConfig,
    ) -> usize {
        let index = self.clients.len();
        let addr = client_addr(index);
        let mut cfg = ClientConfig::new(addr, ANYCAST);
        cfg.tcp = client_tcp();
        let cfg = configure(cfg);
        let rng = self.sim.fork_rng();
        let host = self.sim.add_host(Box::new(Client::new(cfg, rng)), location);
        self.clients.push(host);
        self.client_addrs.push(addr);
        index
    }

    /// Member `id`.
    pub fn member(&mut self, id: MemberId) -> &mut Member {
        let host = self.members[usize::from(id - 1)];
        self.sim.host_as::<Member>(host).expect("a member")
    }

    /// Client `index`.
    pub fn client(&mut self, index: usize) -> &mut Client {
        let host = self.clients[index];
        self.sim.host_as::<Client>(host).expect("a client")
    }

    /// Members whose `clients()` list client `index`.
    pub fn serving(&mut self, index: usize) -> Vec<MemberId> {
        let addr = self.client_addrs[index];
        (1..=self.members.len() as MemberId)
            .filter(|&id| self.member(id).clients().contains(&addr))
            .collect()
    }

    /// Every member's handoff log, by start time.
    pub fn handoffs(&mut self) -> Vec<HandoffRecord> {
        let mut all: Vec<HandoffRecord> = (1..=self.members.len() as MemberId)
            .flat_map(|id| self.member(id).handoffs().to_vec())
            .collect();
        all.sort_by_key(|r| (r.started, r.transfer));
        all
    }

    /// Whether every client is done.
    pub fn all_done(&mut self) -> bool {
        (0..self.clients.len()).all(|i| self.client(i).is_done())
    }

    /// Runs in `step`s until every client is done or `limit`; returns whether all are.
    pub fn run_until_done(&mut self, limit: Instant, step: Duration) -> bool {
        loop {
            if self.all_done() {
                return true;
            }
            if self.sim.now() >= limit || self.sim.limit_reached() {
                return false;
            }
            let next = (self.sim.now() + step).min(limit);
            self.sim.run_until(next);
        }
    }

    /// Every download of every client, with the client's index.
    pub fn reports(&mut self) -> Vec<(usize, DownloadReport)> {
        (0..self.clients.len())
            .flat_map(|i| {
                self.client(i)
                    .reports()
                    .into_iter()
                    .map(move |r| (i, r))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Adds an attacker host (owning [`attacker_addr`]) at a new location `latency` away
    /// from every other location used so far; see [`inject`].
    pub fn add_attacker(&mut self, latency: Duration) -> HostId {
        let loc = self.next_location;
        self.next_location += 1;
        for other in 0..loc {
            self.sim.set_latency(loc, other, latency);
        }
        self.sim
            .add_host(Box::new(Recorder::new(vec![attacker_addr()])), loc)
    }
}

/// Makes the attacker host `attacker` send `packets` at `at` (routed by their
/// destination addresses like any other packet).
pub fn inject(sim: &mut Sim, attacker: HostId, at: Instant, packets: Vec<Vec<u8>>) {
    let a = sim
        .host_as::<Recorder>(attacker)
        .expect("the attacker host");
    a.to_send.extend(packets.into_iter().map(|p| (at, p)));
}

/// Whether a packet is a peer-protocol datagram (UDP to port 4600), without parsing the
/// whole packet (members send them with no extension headers).
pub fn is_peer_datagram(packet: &[u8]) -> bool {
    packet.len() >= 48
        && packet[6] == 17
        && u16::from_be_bytes([packet[42], packet[43]]) == PEER_PORT
}

/// The destination port of a TCP segment with RST set, if the packet is one (an IPv6
/// header, optionally one Destination Options header such as a HAO, then TCP).
pub fn rst_to_port(packet: &[u8]) -> Option<u16> {
    if packet.len() < 40 {
        return None;
    }
    let mut next = packet[6];
    let mut at = 40;
    if next == 60 {
        let len = (usize::from(*packet.get(41)?) + 1) * 8;
        next = *packet.get(40)?;
        at += len;
    }
    if next != 6 || packet.len() < at + 20 || packet[at + 13] & 0x04 == 0 {
        return None;
    }
    Some(u16::from_be_bytes([packet[at + 2], packet[at + 3]]))
}

/// The UDP payload of a peer datagram.
pub fn peer_payload(packet: &[u8]) -> Option<Vec<u8>> {
    let p = parse_verified(packet).ok()?;
    match &p.repr.upper {
        Upper::Udp(u) if u.dst_port == PEER_PORT => Some(u.payload.to_vec()),
        _ => None,
    }
}

/// `PeerBody` variant names, in declaration order (postcard numbers them so).
const PEER_KINDS: [&str; 15] = [
    "HomeTestRequest",
    "HomeToken",
    "Probe",
    "ProbeResult",
    "Transfer",
    "Restored",
    "Refused",
    "Commit",
    "Forward",
    "Ack",
    "Abandon",
    "Serving",
    "Load",
    "RefreshRequested",
    "Precopy",
];

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*at)?;
        *at += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A peer datagram's header: sender, message sequence number, chunk index, chunk count.
pub fn peer_header(packet: &[u8]) -> Option<(MemberId, u64, u16, u16)> {
    let d = peer_payload(packet)?;
    if d.len() < 19 || &d[..4] != b"VANY" {
        return None;
    }
    let from = u16::from_be_bytes([d[5], d[6]]);
    let seq = u64::from_be_bytes(d[7..15].try_into().ok()?);
    let index = u16::from_be_bytes([d[15], d[16]]);
    let count = u16::from_be_bytes([d[17], d[18]]);
    Some((from, seq, index, count))
}

/// The kind of message (`PeerBody` variant name) a peer datagram carries, read from its
/// first chunk (`None` for later chunks and non-peer packets).
pub fn peer_kind(packet: &[u8]) -> Option<&'static str> {
    let (_, _, index, _) = peer_header(packet)?;
    if index != 0 {
        return None;
    }
    let d = peer_payload(packet)?;
    let body = &d[19..];
    let mut at = 0;
    varint(body, &mut at)?; // from
    varint(body, &mut at)?; // to
    varint(body, &mut at)?; // seq
    let variant = varint(body, &mut at)?;
    PEER_KINDS.get(usize::try_from(variant).ok()?).copied()
}

/// An IPv6/UDP packet carrying a peer datagram from `src` to `dst` (port 4600 both ways).
pub fn peer_packet(src: Ipv6Addr, dst: Ipv6Addr, datagram: &[u8]) -> Vec<u8> {
    let repr = PacketRepr::new(
        src,
        dst,
        Upper::Udp(UdpDatagram {
            src_port: PEER_PORT,
            dst_port: PEER_PORT,
            payload: datagram,
        }),
    );
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).expect("a peer packet fits");
    buf
}

/// The sequence number of a Binding Update, if the packet is one.
pub fn bu_seq(packet: &[u8]) -> Option<u16> {
    let p = parse_verified(packet).ok()?;
    match &p.repr.upper {
        Upper::Mh(mh) => match &mh.message {
            MhMessage::Bu(bu) => Some(bu.seq),
            _ => None,
        },
        _ => None,
    }
}

/// A small deterministic generator for scenario choices.
pub struct Dice(SeededRandom);

impl Dice {
    /// Seeded.
    pub fn new(seed: u64) -> Dice {
        Dice(SeededRandom::new(seed ^ 0x005e_ed0f_6a0c_u64))
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.0.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform duration in `lo..=hi` milliseconds, at microsecond resolution.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(self.range(lo * 1000, hi * 1000))
    }

    /// A generator for another purpose (e.g. a filter's losses).
    pub fn fork(&mut self) -> SeededRandom {
        SeededRandom::new(self.0.next_u64())
    }
}

/// What is wrong with a finished download, if anything: a wrong byte, or "complete"
/// without every byte and the right SHA-256, or closed early without a reset or timeout
/// (a silently short stream).
pub fn download_problem(r: &DownloadReport) -> Option<String> {
    let req = r.spec.request;
    if let Some(m) = r.mismatch {
        return Some(format!("corrupted: {m}"));
    }
    match r.status {
        DownloadStatus::Complete => {
            let want = hex::encode(expected_sha256(req.id, req.length));
            if r.bytes_verified != req.length || r.sha256.as_deref() != Some(want.as_str()) {
                return Some(format!(
                    "complete but {} of {} bytes, sha256 {:?}",
                    r.bytes_verified, req.length, r.sha256
                ));
            }
            None
        }
        DownloadStatus::Failed if r.resets == 0 && !r.timed_out => Some(format!(
            "closed early at {} of {} bytes without a reset or timeout",
            r.bytes_verified, req.length
        )),
        DownloadStatus::Failed => None,
        s => Some(format!("not finished: {s:?}")),
    }
}
