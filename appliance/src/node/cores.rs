//! The links between the cores of one node (`[io] cores = N`, see docs/cores.md).
//!
//! Each core runs its own group member on its own rx/tx queue pair and shares nothing
//! with the others but these links: for every ordered pair of cores, a bounded
//! single-producer channel of packets and one that brings the emptied buffers back (so a
//! steady hand-over allocates nothing).
//!
//! **Who owns a packet.** Core `k` serves the clients whose sessions its member holds. A
//! packet to core `k`'s care-of address (a client's packet with a Type 2 Routing header,
//! a peer message, a forwarded packet) belongs to core `k`; a packet to the anycast
//! address belongs to core [`shard`]`(source)`, the core that is the contact node for that
//! client; anything else stays where it arrived. The NIC's RSS spreads packets over the
//! queues by its own hash, so a core hands each packet it receives for another core to
//! that core ([`CoreLinks::hand_over`]); a full channel drops the packet and counts it
//! (TCP and the peer protocol recover, as from any loss). A packet a core's member sends
//! to another core's care-of address (the handoff protocol between two cores of one
//! node) is handed over the same way instead of leaving through the port.

use std::net::Ipv6Addr;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde::Serialize;

pub use crate::group::shard::shard;

/// Packets a link holds before it drops (per ordered pair of cores).
pub const LINK_CAPACITY: usize = 4096;
/// Most packets taken from one link per [`CoreLinks::receive`] call (the core's own queue
/// gets its turn in between).
const RECEIVE_BATCH: usize = 256;
/// Emptied buffers a core keeps beyond what its links bring back.
const SPARE_BUFFERS: usize = 256;
/// Layer-2 frames (Neighbor Advertisements) a link holds before it drops.
const L2_CAPACITY: usize = 64;

/// Counters of one core's links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Packets this core handed to another core.
    pub handed_over: u64,
    /// Packets dropped because the other core's link was full.
    pub handover_full: u64,
    /// Packets other cores handed to this one.
    pub taken_over: u64,
}

/// One direction between two cores.
#[derive(Debug)]
struct Link {
    packets: Sender<Vec<u8>>,
    /// Layer-2 frames every queue's neighbor discovery must see.
    l2: Sender<Vec<u8>>,
    /// Buffers the other core has emptied, back for reuse.
    returned: Receiver<Vec<u8>>,
}

/// What another core sends this one.
#[derive(Debug)]
struct Inbound {
    packets: Receiver<Vec<u8>>,
    l2: Receiver<Vec<u8>>,
    /// Where emptied buffers go back.
    give_back: Sender<Vec<u8>>,
}

/// One core's ends of the links to every other core of its node.
#[derive(Debug)]
pub struct CoreLinks {
    me: usize,
    care_of: Vec<Ipv6Addr>,
    anycast: Ipv6Addr,
    /// `out[k]`: towards core `k` (`None` for this core).
    out: Vec<Option<Link>>,
    /// `inbound[k]`: from core `k`.
    inbound: Vec<Option<Inbound>>,
    spare: Vec<Vec<u8>>,
    stats: LinkStats,
}

/// The links of a node whose core `k` has care-of address `care_of[k]`; element `k` of
/// the result belongs to core `k`.
pub fn links(care_of: &[Ipv6Addr], anycast: Ipv6Addr) -> Vec<CoreLinks> {
    links_with(care_of, anycast, LINK_CAPACITY)
}

/// [`links`] with channels of `capacity` packets.
pub fn links_with(care_of: &[Ipv6Addr], anycast: Ipv6Addr, capacity: usize) -> Vec<CoreLinks> {
    let n = care_of.len();
    let mut cores: Vec<CoreLinks> = (0..n)
        .map(|me| CoreLinks {
            me,
            care_of: care_of.to_vec(),
            anycast,
            out: (0..n).map(|_| None).collect(),
            inbound: (0..n).map(|_| None).collect(),
            spare: Vec::new(),
            stats: LinkStats::default(),
        })
        .collect();
    for from in 0..n {
        for to in (0..n).filter(|t| *t != from) {
            let (packets, packets_rx) = bounded(capacity);
            let (give_back, returned) = bounded(capacity);
            let (l2, l2_rx) = bounded(L2_CAPACITY);
            cores[from].out[to] = Some(Link {
                packets,
                l2,
                returned,
            });
            cores[to].inbound[from] = Some(Inbound {
                packets: packets_rx,
                l2: l2_rx,
                give_back,
            });
        }
    }
    cores
}

/// The destination (bytes 24..40) and source (8..24) of an IPv6 packet.
fn addresses(packet: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr)> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let at = |i: usize| -> Option<Ipv6Addr> {
        let b: [u8; 16] = packet.get(i..i + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    };
    Some((at(24)?, at(8)?))
}

impl CoreLinks {
    /// This core's index.
    pub fn core(&self) -> usize {
        self.me
    }

    /// How many cores the node has.
    pub fn cores(&self) -> usize {
        self.care_of.len()
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The core a received packet belongs to (see the module doc).
    pub fn owner(&self, packet: &[u8]) -> usize {
        let Some((dst, src)) = addresses(packet) else {
            return self.me;
        };
        if dst == self.anycast {
            return shard(src, self.cores());
        }
        self.care_of
            .iter()
            .position(|a| *a == dst)
            .unwrap_or(self.me)
    }

    /// The other core a packet this core sends is for, if it is for one (its destination
    /// is another core's care-of address).
    pub fn local_destination(&self, packet: &[u8]) -> Option<usize> {
        let (dst, _) = addresses(packet)?;
        self.care_of
            .iter()
            .position(|a| *a == dst)
            .filter(|k| *k != self.me)
    }

    /// A buffer for a packet to `core`: one it gave back, a spare one, or a new one.
    fn buffer(&mut self, core: usize) -> Vec<u8> {
        let returned = self.out[core]
            .as_ref()
            .and_then(|l| l.returned.try_recv().ok());
        let mut b = returned.or_else(|| self.spare.pop()).unwrap_or_default();
        b.clear();
        b
    }

    /// Hands a copy of `packet` to `core`; false (counted) if its link is full.
    pub fn hand_over(&mut self, core: usize, packet: &[u8]) -> bool {
        let mut b = self.buffer(core);
        b.extend_from_slice(packet);
        self.hand_over_owned(core, b)
    }

    /// Hands `packet` itself to `core`; false (counted) if its link is full or `core` is
    /// not another core of this node.
    pub fn hand_over_owned(&mut self, core: usize, packet: Vec<u8>) -> bool {
        let Some(link) = self.out.get(core).and_then(Option::as_ref) else {
            self.stats.handover_full += 1;
            return false;
        };
        match link.packets.try_send(packet) {
            Ok(()) => {
                self.stats.handed_over += 1;
                true
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                self.stats.handover_full += 1;
                if self.spare.len() < SPARE_BUFFERS {
                    self.spare.push(b);
                }
                false
            }
        }
    }

    /// Gives every packet other cores handed this one to `handle` (a bounded number per
    /// link), and their buffers back; returns how many.
    pub fn receive(&mut self, handle: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        for inbound in self.inbound.iter().flatten() {
            for packet in inbound.packets.try_iter().take(RECEIVE_BATCH) {
                handle(&packet);
                n += 1;
                if let Err(e) = inbound.give_back.try_send(packet) {
                    if self.spare.len() < SPARE_BUFFERS {
                        self.spare.push(e.into_inner());
                    }
                }
            }
        }
        self.stats.taken_over += n as u64;
        n
    }

    /// Gives every other core a copy of a layer-2 frame its port's queue must see too (a
    /// Neighbor Advertisement that answers a solicitation of any queue); a full link
    /// drops it (counted).
    pub fn share_l2(&mut self, frame: &[u8]) {
        for link in self.out.iter().flatten() {
            if link.l2.try_send(frame.to_vec()).is_err() {
                self.stats.handover_full += 1;
            }
        }
    }

    /// Gives `handle` the layer-2 frames other cores shared.
    pub fn receive_l2(&mut self, handle: &mut dyn FnMut(&[u8])) {
        for inbound in self.inbound.iter().flatten() {
            for frame in inbound.l2.try_iter().take(L2_CAPACITY) {
                handle(&frame);
            }
        }
    }

    /// Whether another core has handed this one packets not yet taken.
    pub fn pending(&self) -> bool {
        self.inbound.iter().flatten().any(|i| !i.packets.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 1);

    fn care_of(k: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x20, 3 + k, 0, 0, 0, 0, 1)
    }

    fn packet(src: Ipv6Addr, dst: Ipv6Addr, tag: u8) -> Vec<u8> {
        let mut p = vec![0u8; 41];
        p[0] = 0x60;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p[40] = tag;
        p
    }

    fn client(i: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x99, 0x10, 0, 0, 0, 0, i)
    }

    #[test]
    fn packets_belong_to_the_care_of_owner_or_the_clients_shard() {
        let cores = links(&[care_of(0), care_of(1)], ANYCAST);
        for c in &cores {
            assert_eq!(c.owner(&packet(client(1), care_of(1), 0)), 1);
            assert_eq!(c.owner(&packet(client(1), care_of(0), 0)), 0);
            for i in 1..50 {
                let p = packet(client(i), ANYCAST, 0);
                assert_eq!(c.owner(&p), shard(client(i), 2), "the same on every core");
            }
            // Not ours, not IPv6, too short: stays where it arrived.
            assert_eq!(c.owner(&packet(client(1), client(2), 0)), c.core());
            assert_eq!(c.owner(&[0x45; 60]), c.core());
            assert_eq!(c.owner(&[0x60; 20]), c.core());
        }
        let spread: usize = (1..200).map(|i| shard(client(i), 2)).sum();
        assert!(
            (60..140).contains(&spread),
            "clients spread over both cores: {spread}"
        );
        assert_eq!(
            cores[0].local_destination(&packet(care_of(0), care_of(1), 0)),
            Some(1)
        );
        assert_eq!(
            cores[0].local_destination(&packet(care_of(0), care_of(0), 0)),
            None
        );
        assert_eq!(
            cores[0].local_destination(&packet(care_of(0), client(1), 0)),
            None
        );
    }

    #[test]
    fn handed_over_packets_arrive_in_order_and_a_full_link_drops_and_counts() {
        let mut cores = links_with(&[care_of(0), care_of(1), care_of(2)], ANYCAST, 4);
        let (a, rest) = cores.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut rest[0]);
        for tag in 0..6 {
            a.hand_over(1, &packet(client(1), care_of(1), tag));
        }
        assert_eq!((a.stats().handed_over, a.stats().handover_full), (4, 2));
        assert!(b.pending());
        let mut got = Vec::new();
        assert_eq!(b.receive(&mut |p| got.push(p[40])), 4);
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert!(!b.pending());
        assert_eq!(b.stats().taken_over, 4);
        // The emptied buffers come back and are used again.
        let ptr = |v: &Vec<u8>| v.as_ptr() as usize;
        let reused = a.buffer(1);
        assert!(
            reused.capacity() >= 41 && reused.is_empty(),
            "{}",
            ptr(&reused)
        );
        assert!(!a.hand_over_owned(0, Vec::new()), "not to itself");
        assert!(
            !a.hand_over_owned(9, Vec::new()),
            "not to a core it does not have"
        );
    }

    #[test]
    fn a_single_core_keeps_everything() {
        let cores = links(&[care_of(0)], ANYCAST);
        let c = &cores[0];
        assert_eq!(c.owner(&packet(client(7), ANYCAST, 0)), 0);
        assert_eq!(
            c.local_destination(&packet(care_of(0), care_of(0), 0)),
            None
        );
        assert!(!c.pending());
    }
}
