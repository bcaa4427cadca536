//! The bounded neighbor cache of RFC 4861 §5.1 with the reachability states of §7.3.2.
//!
//! It holds at most `capacity` entries. When it is full, a new entry takes the place of
//! the oldest STALE entry; entries that only exist because a neighbor solicited us (we
//! never sent to them) go first, and an unsolicited Neighbor Solicitation may only evict
//! such an entry, never one we use: a flood of solicitations from random sources churns
//! among its own entries and cannot push out the gateway.

use core::net::Ipv6Addr;
use std::collections::{HashMap, VecDeque};

use super::ethernet::Mac;
use crate::time::Instant;

/// Reachability state of a neighbor (RFC 4861 §7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborState {
    /// Address resolution is in progress: solicitations sent, no link-layer address yet.
    Incomplete,
    /// Positive confirmation of reachability was received within ReachableTime.
    Reachable,
    /// Reachability unknown; nothing is done until a packet is sent to the neighbor.
    Stale,
    /// A packet was sent while STALE; waiting DELAY_FIRST_PROBE_TIME for upper-layer
    /// confirmation before probing.
    Delay,
    /// Unicast solicitations are being sent to confirm reachability.
    Probe,
}

/// One neighbor.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) mac: Option<Mac>,
    pub(crate) state: NeighborState,
    /// When the current state was entered (REACHABLE expiry, STALE age).
    pub(crate) since: Instant,
    /// When the next solicitation (INCOMPLETE, PROBE) or the move to PROBE (DELAY) is due.
    pub(crate) timer: Instant,
    /// Solicitations sent in the current INCOMPLETE or PROBE round.
    pub(crate) probes: u8,
    /// Whether we ever sent (or tried to send) a packet to this neighbor.
    pub(crate) used: bool,
    /// Packets waiting for resolution (IPv6 packets, not yet framed).
    pub(crate) queue: VecDeque<Vec<u8>>,
}

/// What [`Cache::make_room`] may evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evict {
    /// Only STALE entries never used for sending (for unsolicited NS).
    UnusedStaleOnly,
    /// Any STALE entry, unused ones first (for our own traffic).
    AnyStale,
}

/// The outcome of [`Cache::make_room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// There was room.
    Free,
    /// An entry was evicted; it had this many packets queued.
    Evicted(usize),
    /// Full, and nothing may be evicted.
    Full,
}

/// The neighbor cache.
#[derive(Debug)]
pub(crate) struct Cache {
    pub(crate) entries: HashMap<Ipv6Addr, Entry>,
    pub(crate) capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            entries: HashMap::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    /// Makes room for one more entry if the cache is full.
    pub(crate) fn make_room(&mut self, policy: Evict) -> Room {
        if self.entries.len() < self.capacity {
            return Room::Free;
        }
        let oldest = |want_used: bool| {
            self.entries
                .iter()
                .filter(|(_, e)| e.state == NeighborState::Stale && e.used == want_used)
                .min_by_key(|(_, e)| e.since)
                .map(|(a, _)| *a)
        };
        let victim = match policy {
            Evict::UnusedStaleOnly => oldest(false),
            Evict::AnyStale => oldest(false).or_else(|| oldest(true)),
        };
        match victim.and_then(|v| self.entries.remove(&v)) {
            Some(e) => Room::Evicted(e.queue.len()),
            None => Room::Full,
        }
    }

    /// A new entry (the caller made room).
    pub(crate) fn insert(&mut self, addr: Ipv6Addr, entry: Entry) {
        debug_assert!(self.entries.len() < self.capacity || self.entries.contains_key(&addr));
        self.entries.insert(addr, entry);
    }
}
