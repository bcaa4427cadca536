//! IPv6 Neighbor Discovery (RFC 4861) for one Ethernet interface, sans-IO.
//!
//! [`Neighbors`] answers Neighbor Solicitations for the node's own addresses, resolves
//! next hops through a bounded neighbor cache with the states of RFC 4861 §7.3.2, queues
//! a bounded number of packets while a neighbor is being resolved, and answers ICMPv6
//! echo requests. Received frames go in through [`Neighbors::ingress`]; packets to send
//! go through [`Neighbors::egress`] (or [`Neighbors::resolve`] for backends that write
//! the Ethernet header in place); frames the module itself sends (advertisements,
//! solicitations, echo replies, packets released from the resolution queue) come out of
//! [`Neighbors::poll_transmit`]. Timers: [`Neighbors::poll_at`] and
//! [`Neighbors::handle_timeout`]. Nothing here reads a clock.

use core::cell::Cell;
use core::net::Ipv6Addr;
use std::collections::VecDeque;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetProtocol, EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr,
    NdiscNeighborFlags, NdiscRepr, RawHardwareAddress,
};

use super::cache::{Cache, Entry, Evict, NeighborState, Room};
use super::ethernet::{self, Mac, HEADER_LEN};
use crate::time::{Duration, Instant};

/// Initial multicast solicitations before address resolution gives up (RFC 4861 §10).
pub const MAX_MULTICAST_SOLICIT: u8 = 3;
/// Unicast solicitations in PROBE before the entry is deleted (RFC 4861 §10).
pub const MAX_UNICAST_SOLICIT: u8 = 3;
/// Time between retransmitted solicitations (RFC 4861 §10 RETRANS_TIMER).
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
/// How long a neighbor stays REACHABLE after a confirmation (RFC 4861 §10
/// REACHABLE_TIME; not randomized, see docs/l2.md).
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
/// Time in DELAY before the first probe (RFC 4861 §10 DELAY_FIRST_PROBE_TIME).
pub const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
/// Hop limit of every ND message, sent and required on receipt (RFC 4861 §7.1.1).
pub const ND_HOP_LIMIT: u8 = 255;
/// Hop limit of echo replies.
pub const ECHO_HOP_LIMIT: u8 = 64;

/// An address of this node that it answers solicitations and echo requests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnAddr {
    /// The address.
    pub addr: Ipv6Addr,
    /// An anycast address (RFC 4861 §7.2.7): advertised with Override = 0, never used as
    /// the source of our own solicitations.
    pub anycast: bool,
}

/// Where packets without an explicit on-link next hop go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// No router: every destination is treated as on-link and resolved itself.
    OnLink,
    /// A router resolved by Neighbor Discovery.
    Ipv6(Ipv6Addr),
    /// A router with a static MAC: no resolution at all.
    Mac(Mac),
}

/// Configuration of [`Neighbors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdConfig {
    /// The interface's MAC.
    pub mac: Mac,
    /// The node's addresses: the care-of address, and the anycast address on a contact
    /// node. At least one must be unicast (it is the source of our solicitations).
    pub addrs: Vec<OwnAddr>,
    /// The default next hop.
    pub gateway: Gateway,
    /// Most neighbor cache entries (default 1024).
    pub cache_capacity: usize,
    /// Most packets queued for one neighbor being resolved (default 64).
    pub queue_per_neighbor: usize,
    /// Most packets queued for all neighbors being resolved (default 256).
    pub queue_total: usize,
    /// Most frames waiting in [`Neighbors::poll_transmit`] (default 1024).
    pub tx_capacity: usize,
    /// Solicitations sent per second at most, all neighbors together (default 100).
    pub solicit_rate: u32,
    /// Solicitations that may be sent back to back before the rate applies (default 10).
    pub solicit_burst: u32,
}

impl NdConfig {
    /// A configuration with the default bounds.
    pub fn new(mac: Mac, addrs: Vec<OwnAddr>, gateway: Gateway) -> Self {
        NdConfig {
            mac,
            addrs,
            gateway,
            cache_capacity: 1024,
            queue_per_neighbor: 64,
            queue_total: 256,
            tx_capacity: 1024,
            solicit_rate: 100,
            solicit_burst: 10,
        }
    }
}

/// A configuration [`Neighbors::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdConfigError {
    /// No unicast address to solicit from.
    #[error("neighbor discovery needs at least one unicast (non-anycast) address of the node")]
    NoUnicastAddress,
    /// An own address that cannot be assigned to an interface.
    #[error("{0} cannot be an address of the node (multicast, unspecified or loopback)")]
    BadAddress(Ipv6Addr),
    /// The interface MAC is not a unicast MAC.
    #[error("interface MAC {0} is not a unicast MAC")]
    BadMac(Mac),
    /// A bound of zero.
    #[error("{0} must be at least 1")]
    ZeroBound(&'static str),
}

/// Counters of everything [`Neighbors`] received, sent and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Frames handed to [`Neighbors::ingress`].
    pub rx_frames: u64,
    /// Frames whose EtherType is not IPv6 (dropped).
    pub rx_not_ipv6: u64,
    /// Frames to another station's unicast MAC (dropped).
    pub rx_not_our_mac: u64,
    /// Frames too short, from a group source MAC, or not carrying a whole IPv6 packet
    /// (dropped).
    pub rx_malformed: u64,
    /// IPv6 packets passed up.
    pub rx_ipv6: u64,
    /// ND messages with a hop limit other than 255 (RFC 4861 §7.1.1, dropped).
    pub nd_bad_hop_limit: u64,
    /// ND or echo messages with a wrong ICMPv6 checksum (dropped).
    pub icmp_bad_checksum: u64,
    /// ND messages with a code other than 0 (RFC 4861 §7.1.1, dropped).
    pub nd_bad_code: u64,
    /// ND messages with a zero-length, truncated or wrongly sized option (dropped).
    pub nd_bad_option: u64,
    /// ND messages too short or breaking another §7.1 rule: multicast target, NS from the
    /// unspecified address with a source link-layer option or not to a solicited-node
    /// address, NA with Solicited set to a multicast destination (dropped).
    pub nd_invalid: u64,
    /// Router Solicitations/Advertisements and Redirects (not acted on, dropped).
    pub nd_ignored: u64,
    /// Valid Neighbor Solicitations received.
    pub ns_rx: u64,
    /// Valid solicitations for a target that is not ours (dropped).
    pub ns_not_ours: u64,
    /// Neighbor Advertisements sent.
    pub na_tx: u64,
    /// Valid Neighbor Advertisements received.
    pub na_rx: u64,
    /// Advertisements for a neighbor not in the cache (ignored, RFC 4861 §7.2.5).
    pub na_unsolicited: u64,
    /// Advertisements for one of our own addresses: a duplicate on the link (ignored).
    pub na_for_own_address: u64,
    /// Neighbor Solicitations sent.
    pub ns_tx: u64,
    /// Solicitations postponed by the global rate limit.
    pub ns_rate_limited: u64,
    /// Echo requests answered.
    pub echo_replies: u64,
    /// Echo requests not answered (multicast or unspecified source, bad code).
    pub echo_ignored: u64,
    /// Neighbor cache entries created.
    pub cache_created: u64,
    /// Entries evicted to make room.
    pub cache_evicted: u64,
    /// Entries not created because the cache was full of entries that may not be evicted
    /// (solicitations from new sources during a flood).
    pub cache_full: u64,
    /// Neighbors that did not answer MAX_MULTICAST_SOLICIT solicitations.
    pub resolution_failed: u64,
    /// Neighbors deleted after MAX_UNICAST_SOLICIT unanswered probes (RFC 4861 §7.3.3).
    pub probe_failed: u64,
    /// Packets queued waiting for resolution.
    pub queued: u64,
    /// Packets dropped because the resolution queue (per neighbor or total) was full.
    pub queue_full: u64,
    /// Queued packets dropped because resolution failed or their entry was evicted.
    pub queue_dropped_unresolved: u64,
    /// Packets dropped because there was no route (cache full, not even an entry).
    pub egress_no_entry: u64,
    /// Packets dropped by [`Neighbors::egress`] as not IPv6.
    pub egress_malformed: u64,
    /// Frames dropped because the transmit queue was full.
    pub tx_full: u64,
}

/// What [`Neighbors::ingress`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress<'a> {
    /// An IPv6 packet for the upper layers (without Ethernet header or padding).
    Ipv6(&'a [u8]),
    /// ND or echo, handled here (any answer is in [`Neighbors::poll_transmit`]).
    Handled,
    /// Dropped and counted.
    Dropped,
}

/// What [`Neighbors::egress`] did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Egress {
    /// The packet in a frame, ready to send.
    Frame(Vec<u8>),
    /// Waiting for address resolution; it will come out of [`Neighbors::poll_transmit`]
    /// or be dropped and counted.
    Queued,
    /// Dropped and counted.
    Dropped(EgressDrop),
}

/// Why [`Neighbors::egress`] dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressDrop {
    /// Not an IPv6 packet.
    Malformed,
    /// The resolution queue is full.
    QueueFull,
    /// The cache is full and nothing in it may be evicted.
    CacheFull,
}

/// The result of looking up the MAC of a next hop.
pub(crate) enum Lookup {
    Mac(Mac),
    Resolve(Ipv6Addr),
}

/// Neighbor Discovery state of one interface. See the module documentation.
#[derive(Debug)]
pub struct Neighbors {
    pub(crate) cfg: NdConfig,
    pub(crate) cache: Cache,
    pub(crate) tx: VecDeque<Vec<u8>>,
    pub(crate) queued_total: usize,
    /// GCRA theoretical arrival time of the solicitation rate limit.
    pub(crate) solicit_tat: Instant,
    /// [`Neighbors::poll_at`]'s answer, computed once after the timers changed (`None`:
    /// to be recomputed), so that a poll loop asking every iteration does not scan the
    /// cache. STALE entries have no timer, so creating or evicting them (a flood of
    /// solicitations) leaves it valid.
    pub(crate) next_timer: Cell<Option<Option<Instant>>>,
    pub(crate) counters: Counters,
}

impl Neighbors {
    /// Checks `cfg` and starts with an empty cache.
    pub fn new(cfg: NdConfig) -> Result<Self, NdConfigError> {
        if !cfg.mac.is_unicast() {
            return Err(NdConfigError::BadMac(cfg.mac));
        }
        for a in &cfg.addrs {
            if a.addr.is_multicast() || a.addr.is_unspecified() || a.addr.is_loopback() {
                return Err(NdConfigError::BadAddress(a.addr));
            }
        }
        if !cfg.addrs.iter().any(|a| !a.anycast) {
            return Err(NdConfigError::NoUnicastAddress);
        }
        for (name, v) in [
            ("cache_capacity", cfg.cache_capacity),
            ("queue_per_neighbor", cfg.queue_per_neighbor),
            ("queue_total", cfg.queue_total),
            ("tx_capacity", cfg.tx_capacity),
            ("solicit_rate", cfg.solicit_rate as usize),
            ("solicit_burst", cfg.solicit_burst as usize),
        ] {
            if v == 0 {
                return Err(NdConfigError::ZeroBound(name));
            }
        }
        Ok(Neighbors {
            cache: Cache::new(cfg.cache_capacity),
            cfg,
            tx: VecDeque::new(),
            queued_total: 0,
            solicit_tat: Instant::ZERO,
            next_timer: Cell::new(Some(None)),
            counters: Counters::default(),
        })
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The interface's MAC.
    #[inline]
    pub fn mac(&self) -> Mac {
        self.cfg.mac
    }

    /// Entries in the neighbor cache (never more than `cache_capacity`).
    pub fn cache_len(&self) -> usize {
        self.cache.entries.len()
    }

    /// Packets waiting for resolution, all neighbors together.
    pub fn queued(&self) -> usize {
        self.queued_total
    }

    /// The state and MAC of a neighbor, if it is in the cache.
    pub fn neighbor(&self, addr: Ipv6Addr) -> Option<(NeighborState, Option<Mac>)> {
        self.cache.entries.get(&addr).map(|e| (e.state, e.mac))
    }

    /// The next frame to send that this module produced, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    pub(crate) fn own(&self, addr: Ipv6Addr) -> Option<OwnAddr> {
        self.cfg.addrs.iter().copied().find(|a| a.addr == addr)
    }

    /// The source of our solicitations: `preferred` if it is one of our unicast addresses
    /// (RFC 4861 §7.2.2), else the first unicast address.
    fn solicit_source(&self, preferred: Option<Ipv6Addr>) -> Ipv6Addr {
        let unicast = |a: &&OwnAddr| !a.anycast;
        preferred
            .and_then(|p| self.cfg.addrs.iter().filter(unicast).find(|a| a.addr == p))
            .or_else(|| self.cfg.addrs.iter().find(unicast))
            .map_or(Ipv6Addr::UNSPECIFIED, |a| a.addr)
    }

    pub(crate) fn push_tx(&mut self, frame: Vec<u8>) {
        if self.tx.len() >= self.cfg.tx_capacity {
            self.counters.tx_full += 1;
        } else {
            self.tx.push_back(frame);
        }
    }

    /// The MAC to send a packet to `dst` through `next_hop` (an on-link neighbor; `None`
    /// for the configured gateway) to, if it is known now. Moves a STALE neighbor to
    /// DELAY (RFC 4861 §7.3.3). `None` means resolution is needed: hand the packet to
    /// [`Neighbors::egress`], which queues it and solicits.
    pub fn resolve(
        &mut self,
        now: Instant,
        dst: Ipv6Addr,
        next_hop: Option<Ipv6Addr>,
    ) -> Option<Mac> {
        match self.lookup(now, dst, next_hop) {
            Lookup::Mac(m) => Some(m),
            Lookup::Resolve(_) => None,
        }
    }

    /// Whether every unicast destination goes to one next hop (a gateway, by MAC or by
    /// address) rather than to itself on the link: then, at one `now` and with nothing
    /// else done to the cache, what [`resolve`](Self::resolve) answered for one unicast
    /// destination it answers for every other (a forwarding loop may reuse it).
    pub fn one_next_hop(&self) -> bool {
        !matches!(self.cfg.gateway, Gateway::OnLink)
    }

    pub(crate) fn lookup(
        &mut self,
        now: Instant,
        dst: Ipv6Addr,
        next_hop: Option<Ipv6Addr>,
    ) -> Lookup {
        if dst.is_multicast() {
            return Lookup::Mac(ethernet::multicast_mac(dst));
        }
        let target = match (next_hop, self.cfg.gateway) {
            (Some(h), _) => h,
            (None, Gateway::Mac(m)) => return Lookup::Mac(m),
            (None, Gateway::Ipv6(g)) => g,
            (None, Gateway::OnLink) => dst,
        };
        let Some(e) = self.cache.entries.get_mut(&target) else {
            return Lookup::Resolve(target);
        };
        e.used = true;
        if e.state == NeighborState::Reachable && now.saturating_since(e.since) >= REACHABLE_TIME {
            // RFC 4861 §7.3.3: REACHABLE becomes STALE when ReachableTime has passed.
            self.next_timer.set(None);
            e.state = NeighborState::Stale;
            e.since = now;
        }
        match (e.state, e.mac) {
            (NeighborState::Incomplete, _) | (_, None) => Lookup::Resolve(target),
            (NeighborState::Stale, Some(m)) => {
                // RFC 4861 §7.3.3: the first packet to a STALE neighbor moves it to DELAY.
                self.next_timer.set(None);
                e.state = NeighborState::Delay;
                e.since = now;
                e.timer = now + DELAY_FIRST_PROBE_TIME;
                Lookup::Mac(m)
            }
            (_, Some(m)) => Lookup::Mac(m),
        }
    }

    /// Frames an IPv6 packet for its next hop (`next_hop` is an on-link neighbor; `None`
    /// means the configured gateway), or queues it while the next hop is resolved
    /// (RFC 4861 §7.2.2), or drops it (counted).
    pub fn egress(&mut self, now: Instant, packet: &[u8], next_hop: Option<Ipv6Addr>) -> Egress {
        let Ok(ip) = Ipv6Packet::new_checked(packet) else {
            self.counters.egress_malformed += 1;
            return Egress::Dropped(EgressDrop::Malformed);
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let target = match self.lookup(now, dst, next_hop) {
            Lookup::Mac(m) => return Egress::Frame(ethernet::frame(m, self.cfg.mac, packet)),
            Lookup::Resolve(t) => t,
        };
        if !self.cache.entries.contains_key(&target) {
            if !self.make_room(Evict::AnyStale) {
                self.counters.egress_no_entry += 1;
                return Egress::Dropped(EgressDrop::CacheFull);
            }
            self.counters.cache_created += 1;
            self.cache.insert(
                target,
                Entry {
                    mac: None,
                    state: NeighborState::Incomplete,
                    since: now,
                    timer: now,
                    probes: 0,
                    used: true,
                    queue: VecDeque::new(),
                    id: 0,
                },
            );
            self.solicit(now, target, Some(src));
        }
        let per = self.cfg.queue_per_neighbor;
        let room_total = self.queued_total < self.cfg.queue_total;
        let Some(e) = self.cache.entries.get_mut(&target) else {
            return Egress::Dropped(EgressDrop::CacheFull);
        };
        if e.queue.len() >= per || !room_total {
            self.counters.queue_full += 1;
            return Egress::Dropped(EgressDrop::QueueFull);
        }
        e.queue.push_back(packet.to_vec());
        self.queued_total += 1;
        self.counters.queued += 1;
        Egress::Queued
    }

    /// Makes room for one more cache entry under `policy`, counting evictions; `false`
    /// (counted by the caller) if the cache is full of entries the policy keeps.
    pub(crate) fn make_room(&mut self, policy: Evict) -> bool {
        match self.cache.make_room(policy) {
            Room::Free => true,
            Room::Evicted(queued) => {
                self.counters.cache_evicted += 1;
                self.drop_queued(queued);
                true
            }
            Room::Full => false,
        }
    }

    pub(crate) fn drop_queued(&mut self, n: usize) {
        self.queued_total = self.queued_total.saturating_sub(n);
        self.counters.queue_dropped_unresolved += n as u64;
    }

    /// Sends a solicitation for `target`: multicast to its solicited-node address while
    /// INCOMPLETE, unicast to its cached MAC in PROBE (RFC 4861 §7.2.2, §7.3.3), unless the
    /// global rate limit says to wait (then the entry's timer is set to when it may).
    pub(crate) fn solicit(
        &mut self,
        now: Instant,
        target: Ipv6Addr,
        preferred_src: Option<Ipv6Addr>,
    ) {
        let interval_us = 1_000_000 / u64::from(self.cfg.solicit_rate).max(1);
        let interval = Duration::from_micros(interval_us);
        let burst = Duration::from_micros(
            interval_us * u64::from(self.cfg.solicit_burst.saturating_sub(1)),
        );
        let tat = self.solicit_tat.max(now);
        let allowed = tat.saturating_since(now) <= burst;
        let src = self.solicit_source(preferred_src);
        let mac = self.cfg.mac;
        let Some(e) = self.cache.entries.get_mut(&target) else {
            return;
        };
        self.next_timer.set(None);
        if !allowed {
            self.counters.ns_rate_limited += 1;
            e.timer = now
                + Duration::from_micros(
                    tat.saturating_since(now).total_micros() - burst.total_micros(),
                );
            return;
        }
        self.solicit_tat = tat + interval;
        e.probes = e.probes.saturating_add(1);
        e.timer = now + RETRANS_TIMER;
        let (ip_dst, mac_dst) = match (e.state, e.mac) {
            (NeighborState::Probe, Some(m)) => (target, m),
            _ => {
                let sn = ethernet::solicited_node(target);
                (sn, ethernet::multicast_mac(sn))
            }
        };
        let ns = NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from(mac)),
        };
        let frame = icmp_frame(
            mac_dst,
            mac,
            src,
            ip_dst,
            ND_HOP_LIMIT,
            &Icmpv6Repr::Ndisc(ns),
        );
        self.counters.ns_tx += 1;
        self.push_tx(frame);
    }

    /// When [`Neighbors::handle_timeout`] next has work: a retransmission, the end of a
    /// DELAY, or the expiry of a REACHABLE entry.
    pub fn poll_at(&self) -> Option<Instant> {
        if let Some(at) = self.next_timer.get() {
            return at;
        }
        let at = self
            .cache
            .entries
            .values()
            .filter_map(|e| match e.state {
                NeighborState::Incomplete | NeighborState::Delay | NeighborState::Probe => {
                    Some(e.timer)
                }
                NeighborState::Reachable => Some(e.since + REACHABLE_TIME),
                NeighborState::Stale => None,
            })
            .min();
        self.next_timer.set(Some(at));
        at
    }

    /// Runs the timers that are due at `now` (RFC 4861 §7.3.3): retransmits solicitations,
    /// gives up on neighbors that did not answer (dropping and counting their queued
    /// packets), moves DELAY to PROBE and expired REACHABLE to STALE.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_at().is_none_or(|at| at > now) {
            return;
        }
        self.next_timer.set(None);
        let due: Vec<Ipv6Addr> = self
            .cache
            .entries
            .iter()
            .filter(|(_, e)| match e.state {
                NeighborState::Reachable => now.saturating_since(e.since) >= REACHABLE_TIME,
                NeighborState::Stale => false,
                _ => e.timer <= now,
            })
            .map(|(a, _)| *a)
            .collect();
        for target in due {
            self.timeout_one(now, target);
        }
    }

    fn timeout_one(&mut self, now: Instant, target: Ipv6Addr) {
        let Some(e) = self.cache.entries.get_mut(&target) else {
            return;
        };
        match e.state {
            NeighborState::Reachable => {
                e.state = NeighborState::Stale;
                e.since = now;
            }
            NeighborState::Stale => {}
            NeighborState::Delay => {
                e.state = NeighborState::Probe;
                e.since = now;
                e.probes = 0;
                self.solicit(now, target, None);
            }
            NeighborState::Incomplete | NeighborState::Probe => {
                let limit = if e.state == NeighborState::Incomplete {
                    MAX_MULTICAST_SOLICIT
                } else {
                    MAX_UNICAST_SOLICIT
                };
                if e.probes < limit {
                    self.solicit(now, target, None);
                    return;
                }
                let incomplete = e.state == NeighborState::Incomplete;
                let Some(gone) = self.cache.entries.remove(&target) else {
                    return;
                };
                if incomplete {
                    self.counters.resolution_failed += 1;
                } else {
                    self.counters.probe_failed += 1;
                }
                self.drop_queued(gone.queue.len());
            }
        }
    }
}

/// A whole frame: Ethernet to `mac_dst`, IPv6 from `src` to `dst`, the ICMPv6 message
/// `repr` with its checksum.
pub(crate) fn icmp_frame(
    mac_dst: Mac,
    mac_src: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    repr: &Icmpv6Repr<'_>,
) -> Vec<u8> {
    let icmp_len = repr.buffer_len();
    let mut buf = vec![0u8; HEADER_LEN + 40 + icmp_len];
    let eth = EthernetRepr {
        src_addr: mac_src,
        dst_addr: mac_dst,
        ethertype: EthernetProtocol::Ipv6,
    };
    eth.emit(&mut smoltcp::wire::EthernetFrame::new_unchecked(
        &mut buf[..],
    ));
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp_len,
        hop_limit,
    };
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut buf[HEADER_LEN..]));
    repr.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(&mut buf[HEADER_LEN + 40..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// Neighbor Advertisement flags for an answer about `own` (RFC 4861 §7.2.4, §7.2.7):
/// Solicited unless the solicitation came from the unspecified address, Override unless
/// the target is an anycast address. Never Router.
pub(crate) fn na_flags(own: OwnAddr, solicited: bool) -> NdiscNeighborFlags {
    let mut f = NdiscNeighborFlags::empty();
    if solicited {
        f |= NdiscNeighborFlags::SOLICITED;
    }
    if !own.anycast {
        f |= NdiscNeighborFlags::OVERRIDE;
    }
    f
}
