//! The discrete-event engine: hosts at locations, paths between locations, one event
//! queue, one seeded generator.
//!
//! - **Events** are packet deliveries and host wake-ups, ordered by (time, insertion
//!   counter): two events at the same time run in the order they were scheduled. Nothing
//!   that affects order iterates a hash map.
//! - **Randomness** (loss, jitter, duplication, reordering, and the seeds handed to hosts
//!   through [`Sim::fork_rng`]) all comes from one SplitMix64 generator seeded with the
//!   run's seed: the same seed gives the same run, bit for bit ([`Sim::digest`] hashes
//!   every delivered packet with its time and endpoints).
//! - **Paths.** A packet sent from location `a` to location `b` takes the [`LinkParams`]
//!   of the pair: [`Sim::set_link`] if set, else the default link with the one-way latency
//!   of the matrix ([`Sim::set_latency`]). Both are symmetric. Jitter, bandwidth queueing
//!   and the FIFO order of a path are per (sender, receiver) host pair; a packet picked
//!   for reordering is held back by up to `reorder_delay` and overtaken.
//! - **Routing** is by IPv6 destination address: its owner, or for an address owned by
//!   several hosts (anycast) the owner whose location is nearest to the sender's (lowest
//!   latency, ties to the lowest [`HostId`]). A host's addresses are re-read after each
//!   of its calls, so a host that stops owning an address leaves the route at once.
//! - **Drops** are counted by reason ([`DropStats`]): loss, larger than the path MTU, no
//!   route, receiver down, a scenario's [`Filter`], malformed. A link with
//!   [`LinkParams::packet_too_big`] answers a packet larger than its MTU with an ICMPv6
//!   Packet Too Big from [`PTB_ROUTER`] (RFC 4443 §3.2), routed back to the packet's
//!   source from the receiver's location; one without drops it silently (a PMTU black
//!   hole, as where ICMPv6 is filtered).
//! - **Wake-ups.** After every call into a host the engine asks [`Host::next_wake`] and
//!   keeps one pending wake per host: an earlier deadline supersedes it (the old one is
//!   skipped when it comes up), a later one leaves it in place and it moves itself on
//!   without polling the host when it comes up. Hosts are polled exactly when due. A
//!   host that keeps asking to be woken at the current instant is moved on by 1 µs after
//!   [`SPIN_LIMIT`] polls (counted in [`SimStats::spin_guards`]).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io;
use std::net::Ipv6Addr;
use std::path::Path;

use rustc_hash::FxHashMap as HashMap;
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::PacketTooBigRepr;

use super::pcap::{Capture, CaptureSink, PcapWriter};
use super::{Host, HostId};

mod network;

/// Polls of one host at one instant, asked for by the host itself, before the engine moves
/// its next wake 1 µs on.
pub const SPIN_LIMIT: u32 = 1000;

/// The source address of the Packet Too Big messages links send (a router on the path).
pub const PTB_ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xffff, 0, 0, 0, 0, 0, 1);

/// The behaviour of the path between two locations (both directions).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkParams {
    /// One-way latency.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet. Packets of one path stay
    /// in order (FIFO) unless picked for reordering.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by an extra delay drawn uniformly from
    /// `0..=reorder_delay`, letting later packets overtake it.
    pub reorder: f64,
    /// The largest extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Largest packet (whole IPv6 packet, bytes) the path carries; larger ones are dropped.
    pub mtu: usize,
    /// Whether a packet larger than `mtu` is answered with an ICMPv6 Packet Too Big
    /// (RFC 4443 §3.2, RFC 8201) or dropped silently (a black hole).
    #[serde(default)]
    pub packet_too_big: bool,
    /// Bytes per second a sender can put on the path (queueing without limit), or
    /// unlimited.
    pub bandwidth: Option<u64>,
}

impl Default for LinkParams {
    /// 1 ms, no jitter, no loss, no duplication, no reordering, MTU 1500, unlimited rate.
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            mtu: 1500,
            packet_too_big: false,
            bandwidth: None,
        }
    }
}

impl LinkParams {
    /// The default link with this one-way latency.
    pub fn with_latency(latency: Duration) -> LinkParams {
        LinkParams {
            latency,
            ..LinkParams::default()
        }
    }
}

/// Packets dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DropStats {
    /// Lost on the path (`LinkParams::loss`).
    pub loss: u64,
    /// Larger than the path MTU.
    pub mtu: u64,
    /// No host owns the destination address.
    pub no_route: u64,
    /// The receiver was down when the packet arrived.
    pub host_down: u64,
    /// Dropped by the scenario's [`Filter`].
    pub filtered: u64,
    /// Not an IPv6 packet (too short or wrong version).
    pub malformed: u64,
}

impl DropStats {
    /// All drops.
    pub fn total(&self) -> u64 {
        self.loss + self.mtu + self.no_route + self.host_down + self.filtered + self.malformed
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    /// Events processed (deliveries and wakes that were still current).
    pub events: u64,
    /// Packets hosts sent.
    pub sent: u64,
    /// Packets delivered to a host (duplicates included).
    pub delivered: u64,
    /// Bytes delivered.
    pub delivered_bytes: u64,
    /// Extra copies made by `LinkParams::duplicate`.
    pub duplicated: u64,
    /// Packets held back by `LinkParams::reorder`.
    pub reordered: u64,
    /// Drops by reason.
    pub dropped: DropStats,
    /// Host polls run by wake-ups.
    pub wakes: u64,
    /// Wake-ups skipped because the host had asked for an earlier time since.
    pub stale_wakes: u64,
    /// Wake-ups that found the host's deadline moved later, and moved on without a poll.
    pub deferred_wakes: u64,
    /// Wakes moved 1 µs on because a host kept asking for the current instant.
    pub spin_guards: u64,
    /// ICMPv6 Packet Too Big messages links sent ([`LinkParams::packet_too_big`]).
    pub packet_too_big: u64,
}

/// A packet about to go on a path, shown to a [`Filter`].
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo<'a> {
    /// When it is sent.
    pub at: Instant,
    /// Sending host.
    pub from: HostId,
    /// Receiving host (after routing).
    pub to: HostId,
    /// The whole IPv6 packet.
    pub packet: &'a [u8],
}

/// A scenario's packet filter: returns `false` to drop the packet (counted as
/// [`DropStats::filtered`]). Runs after routing, before the path's loss.
pub type Filter = Box<dyn FnMut(&PacketInfo<'_>) -> bool>;

#[derive(Debug)]
enum EventKind {
    Deliver {
        from: HostId,
        to: HostId,
        packet: Vec<u8>,
    },
    Wake {
        host: HostId,
        generation: u64,
    },
}

/// A queue entry: the order key and where the event's body waits. Kept small so that
/// the heap moves 24 bytes per swap, not packets.
#[derive(Debug, Clone, Copy)]
struct Event {
    at: Instant,
    seq: u64,
    slot: u32,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Per (sender, receiver) host pair: FIFO and bandwidth queue.
#[derive(Debug, Clone, Copy, Default)]
struct PathState {
    last_arrival: Instant,
    busy_until: Instant,
}

struct HostSlot {
    host: Box<dyn Host>,
    location: usize,
    /// The addresses as last read from the host.
    addresses: Vec<Ipv6Addr>,
    up: bool,
    /// The pending wake: its time and generation.
    wake: Option<(Instant, u64)>,
    spin_at: Instant,
    spins: u32,
    dirty: bool,
    capture: Option<Capture>,
}

/// The simulator. See the [module documentation](self).
pub struct Sim {
    seed: u64,
    now: Instant,
    rng: SeededRandom,
    hosts: Vec<HostSlot>,
    /// Owners of each address, sorted by host id.
    routes: HashMap<Ipv6Addr, Vec<HostId>>,
    /// Anycast choices per (sender location, address); cleared when routes or links change.
    route_cache: HashMap<(usize, Ipv6Addr), HostId>,
    default_link: LinkParams,
    latency: HashMap<(usize, usize), Duration>,
    links: HashMap<(usize, usize), LinkParams>,
    paths: HashMap<(HostId, HostId), PathState>,
    queue: BinaryHeap<Event>,
    /// Event bodies, by slot; free slots are reused.
    bodies: Vec<Option<EventKind>>,
    free: Vec<u32>,
    next_seq: u64,
    next_generation: u64,
    popped: u64,
    stats: SimStats,
    digest: u64,
    out: Vec<Vec<u8>>,
    dirty: Vec<HostId>,
    filter: Option<Filter>,
    event_limit: Option<u64>,
    limit_reached: bool,
    capture_error: Option<io::Error>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

/// The IPv6 destination address of a packet, if it is one.
/// The IPv6 source address of a packet.
fn source(packet: &[u8]) -> Option<Ipv6Addr> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&packet[8..24]);
    Some(Ipv6Addr::from(a))
}

fn destination(packet: &[u8]) -> Option<Ipv6Addr> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&packet[24..40]);
    Some(Ipv6Addr::from(a))
}

const DIGEST_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(DIGEST_MUL).rotate_left(29) ^ (h >> 17)
}

impl Sim {
    /// An empty network at time zero whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            now: Instant::ZERO,
            rng: SeededRandom::new(seed),
            hosts: Vec::new(),
            routes: HashMap::default(),
            route_cache: HashMap::default(),
            default_link: LinkParams::default(),
            latency: HashMap::default(),
            links: HashMap::default(),
            paths: HashMap::default(),
            queue: BinaryHeap::new(),
            bodies: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            next_generation: 0,
            popped: 0,
            stats: SimStats::default(),
            digest: 0xCBF2_9CE4_8422_2325,
            out: Vec::new(),
            dirty: Vec::new(),
            filter: None,
            event_limit: None,
            limit_reached: false,
            capture_error: None,
        }
    }

    /// The seed of this run (print it with any failure so that it can be replayed).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// A hash of every packet delivered so far (its first 128 bytes, which hold every
    /// header and the upper-layer checksum that covers the rest, and its length), with
    /// its time, sender and receiver: equal digests mean identical runs.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// A new generator seeded from the run's generator: how hosts get their randomness
    /// (keys, initial sequence numbers, nonces) so that it too follows from the seed.
    pub fn fork_rng(&mut self) -> SeededRandom {
        SeededRandom::new(self.rng.next_u64())
    }

    /// Attaches a host at `location`; it is asked for its addresses and next wake at once.
    pub fn add_host(&mut self, host: Box<dyn Host>, location: usize) -> HostId {
        let id = self.hosts.len();
        self.hosts.push(HostSlot {
            host,
            location,
            addresses: Vec::new(),
            up: true,
            wake: None,
            spin_at: Instant::ZERO,
            spins: 0,
            dirty: false,
            capture: None,
        });
        self.refresh_addresses(id);
        self.schedule_wake(id);
        id
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// A host's location.
    pub fn location(&self, id: HostId) -> usize {
        self.hosts[id].location
    }

    /// A host's addresses, as last read.
    pub fn addresses(&self, id: HostId) -> &[Ipv6Addr] {
        &self.hosts[id].addresses
    }

    /// A host, to inspect or command. Its addresses and next wake are read again before
    /// the next event. Panics if `id` is not a host.
    pub fn host_mut(&mut self, id: HostId) -> &mut dyn Host {
        self.mark_dirty(id);
        self.hosts[id].host.as_mut()
    }

    /// A host of a known type, or `None` if it is of another type (see [`Sim::host_mut`]).
    pub fn host_as<T: 'static>(&mut self, id: HostId) -> Option<&mut T> {
        self.mark_dirty(id);
        self.hosts[id].host.as_any().downcast_mut::<T>()
    }

    fn mark_dirty(&mut self, id: HostId) {
        let slot = &mut self.hosts[id];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Takes a host off the network (`false`: it was killed) or puts it back. A host that
    /// is down owns no addresses, receives nothing (packets reaching it are dropped as
    /// [`DropStats::host_down`]) and is not woken.
    pub fn set_up(&mut self, id: HostId, up: bool) {
        if self.hosts[id].up == up {
            return;
        }
        self.hosts[id].up = up;
        if up {
            self.refresh_addresses(id);
            self.schedule_wake(id);
        } else {
            let old = std::mem::take(&mut self.hosts[id].addresses);
            self.update_routes(id, &old, &[]);
            self.hosts[id].wake = None;
        }
    }

    /// Whether a host is up.
    pub fn is_up(&self, id: HostId) -> bool {
        self.hosts[id].up
    }

    /// Sets the one-way latency between two locations (both directions), unless
    /// [`Sim::set_link`] set the pair's whole link.
    pub fn set_latency(&mut self, a: usize, b: usize, one_way: Duration) {
        self.latency.insert(pair(a, b), one_way);
        self.route_cache.clear();
    }

    /// Sets every parameter of the path between two locations (both directions).
    pub fn set_link(&mut self, a: usize, b: usize, params: LinkParams) {
        self.links.insert(pair(a, b), params);
        self.route_cache.clear();
    }

    /// The parameters of pairs without [`Sim::set_link`]; their latency comes from the
    /// matrix when set there.
    pub fn set_default_link(&mut self, params: LinkParams) {
        self.default_link = params;
        self.route_cache.clear();
    }

    /// The path between two locations.
    pub fn link(&self, a: usize, b: usize) -> LinkParams {
        let key = pair(a, b);
        if let Some(l) = self.links.get(&key) {
            return *l;
        }
        let mut l = self.default_link;
        if let Some(d) = self.latency.get(&key) {
            l.latency = *d;
        }
        l
    }

    /// Installs a packet filter (see [`Filter`]), replacing any other.
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
    }

    /// Stops [`Sim::run_until`] once this many events have been processed in all, so that
    /// a run that would never end (a packet storm at one instant) ends anyway.
    pub fn set_event_limit(&mut self, limit: Option<u64>) {
        self.event_limit = limit;
    }

    /// Whether the event limit stopped a run.
    pub fn limit_reached(&self) -> bool {
        self.limit_reached
    }

    /// Writes every packet `host` sends or receives to a pcap file at `path` (created or
    /// truncated). Call [`Sim::flush_captures`] before reading the file.
    pub fn capture(&mut self, host: HostId, path: &Path) -> io::Result<()> {
        let writer = PcapWriter::new(CaptureSink::file(path)?)?;
        self.attach_capture(host, writer);
        Ok(())
    }

    /// Writes every packet `host` sends or receives to `writer` (see [`Sim::capture`]).
    pub fn attach_capture(&mut self, host: HostId, writer: PcapWriter<CaptureSink>) {
        self.hosts[host].capture = Some(writer);
    }

    /// Captures every packet `host` sends or receives into memory; see
    /// [`Sim::take_capture`].
    pub fn capture_in_memory(&mut self, host: HostId) {
        let writer = PcapWriter::new(CaptureSink::Memory(Vec::new())).expect("writing to memory");
        self.hosts[host].capture = Some(writer);
    }

    /// Ends `host`'s capture; returns the pcap bytes of an in-memory capture (a file
    /// capture is flushed and closed, and `None` returned).
    pub fn take_capture(&mut self, host: HostId) -> io::Result<Option<Vec<u8>>> {
        match self.hosts[host].capture.take().map(PcapWriter::into_inner) {
            Some(CaptureSink::Memory(v)) => Ok(Some(v)),
            Some(CaptureSink::File(mut f)) => {
                io::Write::flush(&mut f)?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Flushes every file capture; reports the first write error of any capture so far.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        if let Some(e) = self.capture_error.take() {
            return Err(e);
        }
        for slot in &mut self.hosts {
            if let Some(c) = &mut slot.capture {
                c.flush()?;
            }
        }
        Ok(())
    }

    /// When the next event is due, if any.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.refresh_dirty();
        self.queue.peek().map(|e| e.at)
    }

    /// Processes the next event; returns `false` when there is none.
    pub fn step(&mut self) -> bool {
        self.refresh_dirty();
        let Some(event) = self.queue.pop() else {
            return false;
        };
        self.popped += 1;
        let kind = self.bodies[event.slot as usize]
            .take()
            .expect("a queued event has a body");
        self.free.push(event.slot);
        debug_assert!(event.at >= self.now);
        self.now = self.now.max(event.at);
        match kind {
            EventKind::Deliver { from, to, packet } => self.deliver(from, to, packet),
            EventKind::Wake { host, generation } => self.wake(host, event.at, generation),
        }
        true
    }

    /// Processes every event due at or before `t`, then sets the clock to `t` (unless the
    /// event limit stopped the run first). Returns the number of events taken off the
    /// queue (stale and deferred wakes included).
    pub fn run_until(&mut self, t: Instant) -> u64 {
        let start = self.popped;
        // Bounded: events are finite at each instant (the spin guard moves wakes on), and
        // the event limit bounds the total.
        loop {
            if let Some(limit) = self.event_limit {
                if self.stats.events >= limit {
                    self.limit_reached = true;
                    break;
                }
            }
            match self.next_event_time() {
                Some(at) if at <= t => {
                    self.step();
                }
                _ => break,
            }
        }
        if !self.limit_reached && self.now < t {
            self.now = t;
        }
        self.popped - start
    }

    /// [`Sim::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) -> u64 {
        self.run_until(self.now + d)
    }

    // ---- internals --------------------------------------------------------------------

    fn push(&mut self, at: Instant, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.bodies[slot as usize] = Some(kind);
                slot
            }
            None => {
                self.bodies.push(Some(kind));
                u32::try_from(self.bodies.len() - 1).expect("fewer than 2^32 queued events")
            }
        };
        self.queue.push(Event { at, seq, slot });
    }

    fn refresh_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            self.hosts[id].dirty = false;
            if self.hosts[id].up {
                self.refresh_addresses(id);
                self.schedule_wake(id);
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn refresh_addresses(&mut self, id: HostId) {
        if !self.hosts[id].up {
            return;
        }
        let new = self.hosts[id].host.addresses();
        if new == self.hosts[id].addresses {
            return;
        }
        let old = std::mem::replace(&mut self.hosts[id].addresses, new.clone());
        self.update_routes(id, &old, &new);
    }

    fn update_routes(&mut self, id: HostId, old: &[Ipv6Addr], new: &[Ipv6Addr]) {
        for a in old {
            if !new.contains(a) {
                if let Some(owners) = self.routes.get_mut(a) {
                    owners.retain(|&h| h != id);
                    if owners.is_empty() {
                        self.routes.remove(a);
                    }
                }
            }
        }
        for a in new {
            let owners = self.routes.entry(*a).or_default();
            if let Err(at) = owners.binary_search(&id) {
                owners.insert(at, id);
            }
        }
        self.route_cache.clear();
    }

    fn wake(&mut self, id: HostId, at: Instant, generation: u64) {
        let slot = &mut self.hosts[id];
        if !slot.up || slot.wake != Some((at, generation)) {
            self.stats.stale_wakes += 1;
            return;
        }
        slot.wake = None;
        // A wake is kept when the host postpones its deadline (see `schedule_wake`):
        // if the deadline is now later, move the wake there instead of polling.
        if slot.host.next_wake().is_some_and(|t| t > at) {
            self.stats.deferred_wakes += 1;
            self.schedule_wake(id);
            return;
        }
        if slot.spin_at == at {
            slot.spins += 1;
        } else {
            slot.spin_at = at;
            slot.spins = 1;
        }
        self.stats.events += 1;
        self.stats.wakes += 1;
        let mut out = std::mem::take(&mut self.out);
        self.hosts[id].host.poll(self.now, &mut out);
        self.after_call(id, &mut out);
        self.out = out;
    }

    /// Sends what a host produced, re-reads its addresses and reschedules its wake.
    fn after_call(&mut self, id: HostId, out: &mut Vec<Vec<u8>>) {
        for packet in out.drain(..) {
            self.send(id, packet);
        }
        self.refresh_addresses(id);
        self.schedule_wake(id);
    }

    fn schedule_wake(&mut self, id: HostId) {
        let now = self.now;
        let slot = &mut self.hosts[id];
        if !slot.up {
            slot.wake = None;
            return;
        }
        let Some(mut t) = slot.host.next_wake() else {
            slot.wake = None;
            return;
        };
        if t <= now {
            t = now;
            if slot.spin_at == now && slot.spins >= SPIN_LIMIT {
                t = now + Duration::from_micros(1);
                self.stats.spin_guards += 1;
            }
        }
        // One pending wake per host. A later deadline keeps the pending, earlier wake
        // (which then moves itself on when it comes up, without polling): deadlines that
        // keep moving later, such as a retransmission timer restarted by every ACK, cost
        // no queue operations.
        if slot.wake.is_some_and(|(at, _)| at <= t) {
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        slot.wake = Some((t, generation));
        self.push(
            t,
            EventKind::Wake {
                host: id,
                generation,
            },
        );
    }

    fn fold_digest(&mut self, from: HostId, to: HostId, packet: &[u8]) {
        let mut h = self.digest;
        h = mix(h, self.now.total_micros() as u64);
        h = mix(h, ((from as u64) << 32) ^ to as u64);
        h = mix(h, packet.len() as u64);
        // Headers and checksums are enough to tell runs apart; hashing every payload byte
        // cost a tenth of a large simulation's time.
        let packet = &packet[..packet.len().min(128)];
        let mut words = packet.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = mix(h, u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(b));
        }
        self.digest = h;
    }
}
