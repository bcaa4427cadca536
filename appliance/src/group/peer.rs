//! The peer protocol between members: postcard messages authenticated with HMAC-SHA256
//! under the group key, numbered per sender with a replay window, split into datagrams
//! that fit the path MTU. A forged, replayed or malformed message is dropped and counted.
//!
//! Datagram layout (UDP payload, port [`PEER_PORT`]):
//! `magic "VANY" | version u8 | from u16 | msg seq u64 | chunk index u16 | chunk count u16 |
//! chunk bytes`; the message is `postcard(PeerMessage) | HMAC-SHA256(key, that)` split
//! into chunks. The MAC covers the sender and the sequence number (inside the message).

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use ring::hmac;
use serde::{Deserialize, Serialize};
use vany_stack::time::{Duration, Instant};

/// UDP port of the peer protocol.
pub const PEER_PORT: u16 = 4600;
/// Bytes of message per datagram (fits a 1280-byte IPv6 MTU with headers).
pub const CHUNK: usize = 1100;
const MAGIC: &[u8; 4] = b"VANY";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 2 + 8 + 2 + 2;
const TAG: usize = 32;
/// Most chunks a message may have (about 4.5 MB); more is malformed.
const MAX_CHUNKS: u16 = 4096;
/// Most messages being reassembled at once; the oldest is dropped beyond.
const MAX_PARTIAL: usize = 256;
/// How many recent sequence numbers per sender the replay window remembers.
const WINDOW: u64 = 1024;
/// Reassembly state older than this is discarded.
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A member's identity in the group.
pub type MemberId = u16;

/// A home keygen token as it travels between members (times relative to sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedToken {
    /// The token.
    pub token: [u8; 8],
    /// The CN's nonce index.
    pub nonce_index: u16,
    /// How long ago (microseconds) the HoT arrived.
    pub age_micros: u64,
}

/// What members say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerBody {
    /// Member -> contact node: run a home test for `client` on my behalf.
    HomeTestRequest {
        /// The client (correspondent node).
        client: Ipv6Addr,
    },
    /// Contact node -> member: the home token the init cookie named you for.
    HomeToken {
        /// The client.
        client: Ipv6Addr,
        /// The token.
        token: RelayedToken,
    },
    /// Serving member -> others: measure your round trip to `client` (CoTI/CoT), which
    /// also gives you a care-of token for it.
    Probe {
        /// The client.
        client: Ipv6Addr,
    },
    /// Answer to a probe.
    ProbeResult {
        /// The client.
        client: Ipv6Addr,
        /// Measured CoTI -> CoT round trip in microseconds.
        rtt_micros: u64,
    },
    /// Donor -> acceptor: the whole client session.
    Transfer {
        /// Names this handoff.
        transfer: u64,
        /// postcard-encoded `SessionSnapshot`.
        session: Vec<u8>,
    },
    /// Acceptor -> donor: restored, BU sent.
    Restored {
        /// The handoff.
        transfer: u64,
    },
    /// Acceptor -> donor: cannot take it; thaw.
    Refused {
        /// The handoff.
        transfer: u64,
        /// Why.
        reason: String,
    },
    /// Acceptor -> donor: the client's binding points at the acceptor; drop the copy.
    Commit {
        /// The handoff.
        transfer: u64,
    },
    /// Donor -> acceptor: a client packet that still reached the donor.
    Forward {
        /// The handoff.
        transfer: u64,
        /// The whole IPv6 packet.
        packet: Vec<u8>,
    },
    /// Contact node -> members: who serves a client now (for BRR relaying and load).
    Serving {
        /// The client.
        client: Ipv6Addr,
        /// The member.
        member: MemberId,
    },
}

/// A sealed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerMessage {
    /// Sender.
    pub from: MemberId,
    /// Receiver: a message recorded on its way to one member is refused by the others.
    pub to: MemberId,
    /// Sender's message counter (replay protection).
    pub seq: u64,
    /// Content.
    pub body: PeerBody,
}

/// Why a datagram or message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Not a vany peer datagram, or inconsistent chunk header.
    #[error("malformed peer datagram")]
    Malformed,
    /// The MAC does not verify with the group key.
    #[error("peer message fails authentication (forged or wrong group key)")]
    Forged,
    /// A sequence number already seen or too old.
    #[error("replayed peer message")]
    Replayed,
    /// Still waiting for more chunks.
    #[error("incomplete")]
    Incomplete,
}

/// Counters of the peer channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PeerStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages accepted.
    pub accepted: u64,
    /// Forged messages dropped.
    pub forged: u64,
    /// Replayed messages dropped.
    pub replayed: u64,
    /// Malformed datagrams dropped.
    pub malformed: u64,
}

#[derive(Debug, Default)]
struct ReplayWindow {
    highest: u64,
    seen: std::collections::BTreeSet<u64>,
}

impl ReplayWindow {
    /// Accepts `seq` once, if it is not older than the window.
    fn accept(&mut self, seq: u64) -> bool {
        if seq + WINDOW <= self.highest || self.seen.contains(&seq) {
            return false;
        }
        self.seen.insert(seq);
        self.highest = self.highest.max(seq);
        let floor = self.highest.saturating_sub(WINDOW);
        while self.seen.first().is_some_and(|s| *s < floor) {
            self.seen.pop_first();
        }
        true
    }
}

struct Partial {
    count: u16,
    chunks: BTreeMap<u16, Vec<u8>>,
    started: Instant,
}

/// One member's end of the peer channel.
pub struct PeerChannel {
    me: MemberId,
    key: hmac::Key,
    next_seq: u64,
    windows: BTreeMap<MemberId, ReplayWindow>,
    partial: BTreeMap<(MemberId, u64), Partial>,
    stats: PeerStats,
}

impl PeerChannel {
    /// A channel for member `me` with the shared group key.
    pub fn new(me: MemberId, group_key: &[u8]) -> Self {
        PeerChannel {
            me,
            key: hmac::Key::new(hmac::HMAC_SHA256, group_key),
            next_seq: 1,
            windows: BTreeMap::new(),
            partial: BTreeMap::new(),
            stats: PeerStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// Seals `body` for member `to` into datagrams (UDP payloads).
    pub fn seal(&mut self, to: MemberId, body: PeerBody) -> Vec<Vec<u8>> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.sent += 1;
        let msg = PeerMessage {
            from: self.me,
            to,
            seq,
            body,
        };
        let mut bytes = postcard::to_allocvec(&msg).unwrap_or_default();
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(tag.as_ref());
        let count = bytes.len().div_ceil(CHUNK).max(1) as u16;
        bytes
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                let mut d = Vec::with_capacity(HEADER + chunk.len());
                d.extend_from_slice(MAGIC);
                d.push(VERSION);
                d.extend_from_slice(&self.me.to_be_bytes());
                d.extend_from_slice(&seq.to_be_bytes());
                d.extend_from_slice(&(i as u16).to_be_bytes());
                d.extend_from_slice(&count.to_be_bytes());
                d.extend_from_slice(chunk);
                d
            })
            .collect()
    }

    /// Takes one datagram; returns a message once complete and authentic.
    pub fn open(&mut self, now: Instant, datagram: &[u8]) -> Result<PeerMessage, PeerError> {
        self.partial
            .retain(|_, p| now.saturating_since(p.started) < REASSEMBLY_TIMEOUT);
        let result = self.open_inner(now, datagram);
        match result {
            Err(PeerError::Malformed) => self.stats.malformed += 1,
            Err(PeerError::Forged) => self.stats.forged += 1,
            Err(PeerError::Replayed) => self.stats.replayed += 1,
            Ok(_) => self.stats.accepted += 1,
            Err(PeerError::Incomplete) => {}
        }
        result
    }

    fn open_inner(&mut self, now: Instant, d: &[u8]) -> Result<PeerMessage, PeerError> {
        if d.len() < HEADER || &d[..4] != MAGIC || d[4] != VERSION {
            return Err(PeerError::Malformed);
        }
        let from = u16::from_be_bytes([d[5], d[6]]);
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&d[7..15]);
        let seq = u64::from_be_bytes(seq_bytes);
        let index = u16::from_be_bytes([d[15], d[16]]);
        let count = u16::from_be_bytes([d[17], d[18]]);
        if count == 0 || count > MAX_CHUNKS || index >= count {
            return Err(PeerError::Malformed);
        }
        // Cheap early replay check on the (unauthenticated) header.
        if let Some(w) = self.windows.get(&from) {
            if seq + WINDOW <= w.highest || w.seen.contains(&seq) {
                return Err(PeerError::Replayed);
            }
        }
        let chunk = d[HEADER..].to_vec();
        if count > 1
            && !self.partial.contains_key(&(from, seq))
            && self.partial.len() >= MAX_PARTIAL
        {
            let oldest = self
                .partial
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.partial.remove(&k);
            }
        }
        let whole = if count == 1 {
            chunk
        } else {
            let entry = self.partial.entry((from, seq)).or_insert_with(|| Partial {
                count,
                chunks: BTreeMap::new(),
                started: now,
            });
            if entry.count != count {
                return Err(PeerError::Malformed);
            }
            entry.chunks.insert(index, chunk);
            if entry.chunks.len() < usize::from(count) {
                return Err(PeerError::Incomplete);
            }
            let done = self
                .partial
                .remove(&(from, seq))
                .map(|p| p.chunks)
                .unwrap_or_default();
            done.into_values().flatten().collect()
        };
        if whole.len() < TAG {
            return Err(PeerError::Malformed);
        }
        let (body, tag) = whole.split_at(whole.len() - TAG);
        hmac::verify(&self.key, body, tag).map_err(|_| PeerError::Forged)?;
        let msg: PeerMessage = postcard::from_bytes(body).map_err(|_| PeerError::Malformed)?;
        if msg.from != from || msg.seq != seq || msg.to != self.me {
            return Err(PeerError::Forged);
        }
        if !self.windows.entry(from).or_default().accept(seq) {
            return Err(PeerError::Replayed);
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Instant {
        Instant::from_secs(1)
    }

    #[test]
    fn messages_round_trip_in_chunks() {
        let mut a = PeerChannel::new(1, b"group key");
        let mut b = PeerChannel::new(2, b"group key");
        let body = PeerBody::Transfer {
            transfer: 7,
            session: vec![9u8; 10_000],
        };
        let datagrams = a.seal(2, body.clone());
        assert!(datagrams.len() > 1);
        let mut got = None;
        for d in datagrams.iter().rev() {
            match b.open(t(), d) {
                Ok(m) => got = Some(m),
                Err(PeerError::Incomplete) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let m = got.unwrap();
        assert_eq!((m.from, m.body), (1, body));
    }

    #[test]
    fn forged_and_replayed_messages_are_dropped_and_counted() {
        let mut a = PeerChannel::new(1, b"group key");
        let mut b = PeerChannel::new(2, b"group key");
        let mut evil = PeerChannel::new(1, b"wrong key");
        let d = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
        assert!(b.open(t(), &d).is_ok());
        assert_eq!(b.open(t(), &d), Err(PeerError::Replayed));
        // A sequence number not seen yet, so that only the MAC can refuse it.
        let _ = evil.seal(2, PeerBody::Commit { transfer: 2 });
        let forged = evil.seal(2, PeerBody::Commit { transfer: 2 }).remove(0);
        assert_eq!(b.open(t(), &forged), Err(PeerError::Forged));
        let mut tampered = a.seal(2, PeerBody::Commit { transfer: 3 }).remove(0);
        tampered[HEADER] ^= 1; // first byte of the message body
        assert_eq!(b.open(t(), &tampered), Err(PeerError::Forged));
        assert_eq!(b.open(t(), b"nonsense"), Err(PeerError::Malformed));
        let s = b.stats();
        assert_eq!(
            (s.accepted, s.replayed, s.forged, s.malformed),
            (1, 1, 2, 1)
        );
    }

    #[test]
    fn a_message_for_another_member_is_refused() {
        let mut a = PeerChannel::new(1, b"k");
        let mut c = PeerChannel::new(3, b"k");
        let d = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
        assert_eq!(c.open(t(), &d), Err(PeerError::Forged));
    }

    #[test]
    fn out_of_order_messages_within_the_window_are_accepted() {
        let mut a = PeerChannel::new(1, b"k");
        let mut b = PeerChannel::new(2, b"k");
        let d1 = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
        let d2 = a.seal(2, PeerBody::Commit { transfer: 2 }).remove(0);
        assert!(b.open(t(), &d2).is_ok());
        assert!(b.open(t(), &d1).is_ok());
        assert_eq!(b.open(t(), &d1), Err(PeerError::Replayed));
    }
}
