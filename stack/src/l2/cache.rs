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
    /// Set by [`Cache::insert`]: tells this entry from an earlier one for the same address.
    pub(crate) id: u64,
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
    /// Entries created unused, oldest first, as (address, id): eviction candidates found
    /// in O(1) during a flood. Records of entries since used or removed are skipped when
    /// popped, and purged when the list grows past twice the capacity.
    unused: VecDeque<(Ipv6Addr, u64)>,
    next_id: u64,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            entries: HashMap::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            unused: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Makes room for one more entry if the cache is full.
    pub(crate) fn make_room(&mut self, policy: Evict) -> Room {
        if self.entries.len() < self.capacity {
            return Room::Free;
        }
        let victim = match policy {
            Evict::UnusedStaleOnly => self.oldest_unused(),
            Evict::AnyStale => self.oldest_unused().or_else(|| {
                // Rare (our own traffic to a new neighbor with a full cache): a scan.
                self.entries
                    .iter()
                    .filter(|(_, e)| e.state == NeighborState::Stale)
                    .min_by_key(|(_, e)| e.since)
                    .map(|(a, _)| *a)
            }),
        };
        match victim.and_then(|v| self.entries.remove(&v)) {
            Some(e) => Room::Evicted(e.queue.len()),
            None => Room::Full,
        }
    }

    /// Records in the unused list (for tests of its bound).
    #[cfg(test)]
    pub(crate) fn unused_len(&self) -> usize {
        self.unused.len()
    }

    /// The oldest entry that is still unused and STALE, taken off the unused list.
    fn oldest_unused(&mut self) -> Option<Ipv6Addr> {
        while let Some((addr, id)) = self.unused.pop_front() {
            let live = self
                .entries
                .get(&addr)
                .is_some_and(|e| e.id == id && !e.used && e.state == NeighborState::Stale);
            if live {
                return Some(addr);
            }
        }
        None
    }

    /// A new entry (the caller made room).
    pub(crate) fn insert(&mut self, addr: Ipv6Addr, mut entry: Entry) {
        debug_assert!(self.entries.len() < self.capacity || self.entries.contains_key(&addr));
        entry.id = self.next_id;
        self.next_id += 1;
        if !entry.used {
            self.unused.push_back((addr, entry.id));
        }
        self.entries.insert(addr, entry);
        if self.unused.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.unused
                .retain(|(a, id)| entries.get(a).is_some_and(|e| e.id == *id && !e.used));
        }
    }
}
