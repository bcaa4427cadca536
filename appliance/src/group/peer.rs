//! The peer protocol between members: postcard messages authenticated with HMAC-SHA256
//! under the group key, numbered per sender with a replay window, split into datagrams
//! that fit the path MTU. A forged, replayed or malformed message is dropped and counted.
//!
//! Datagram layout (UDP payload, port [`PEER_PORT`]): a header
//! `magic "VANY" | version u8 | from u16 | msg seq u64 | chunk index u16 | chunk count u16`,
//! then one of two forms:
//!
//! - a message that fits one datagram (`postcard(PeerMessage)` plus 32 bytes at most
//!   [`CHUNK`], such as every `Forward` of a packet up to about 1000 bytes, and every
//!   `Forwards`, which gathers the small packets of one burst) is sent whole,
//!   index 0 and count 1: `header | postcard(PeerMessage) | HMAC-SHA256(key, header and
//!   message)` (all 32 bytes). One MAC covers everything; nothing is stored before it
//!   verifies, since there is nothing to reassemble.
//! - a longer message, `postcard(PeerMessage) | HMAC-SHA256(key, that)`, is split into
//!   chunks of [`CHUNK`] bytes (count 2 or more), each sent as `header | chunk bytes |
//!   first 16 bytes of HMAC-SHA256(key, header and chunk)`: the chunk tag is checked
//!   before a chunk is stored, so reassembly holds only authentic chunks (at most 256
//!   messages and 64 MiB, purged after 10 s); the message MAC then covers the whole.
//!
//! The header's count tells the forms apart and is itself authenticated (by the MAC of
//! the one form, the chunk tag of the other); a 32-byte single-datagram MAC is never
//! over the same bytes as a message MAC (those begin with a postcard message, never
//! with "VANY") nor as a 16-byte chunk tag. The message (inside either MAC) names the
//! sender, the receiver and the sequence number, which must match the header.
//!
//! Delivery: every message except `Ack`, `Forward`, `Forwards` and `Load` is kept by the sender and sent
//! again (all its datagrams, same sequence number) until the receiver acknowledges it, with
//! a retransmission timeout per peer in the manner of RFC 6298 (smoothed round trip, at
//! least twice the round trip and 100 ms, 1 s before the first sample, doubling per try, at most [`MAX_TRIES`] sends). The receiver acknowledges a
//! message once it is authentic and new, and again whenever a copy of it comes back (its
//! first `Ack` may have been lost); the copy itself is dropped and counted as a replay.
//! A lost datagram of a large message is filled in by the next copy (reassembly keeps the
//! chunks it has). Sequence numbers start at `epoch << 20`, so a member that restarts
//! with a later epoch (its start time) is not refused as a replay of its earlier life.

use std::collections::{BTreeMap, BTreeSet};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vany_stack::time::{Duration, Instant};

#[path = "peer_msg.rs"]
mod msg;
use msg::OutgoingMessage;
pub use msg::{
    ForwardBatch, ForwardedPacket, Outgoing, PeerBody, PeerMessage, RefuseReason, RelayedToken,
};

/// UDP port of the peer protocol.
pub const PEER_PORT: u16 = 4600;
/// Bytes of message per datagram (fits a 1280-byte IPv6 MTU with headers).
pub const CHUNK: usize = 1100;
const MAGIC: &[u8; 4] = b"VANY";
/// Version 4: client packets of one receive burst for the same member travel together
/// (`Forwards`, one MAC for all). Version 3: a message that fits one datagram carries
/// one MAC over header and message (no chunk tag). Version 2: sessions travel in parts (`Transfer` with index and count)
/// after an optional pre-copy, and refusals carry a typed reason.
const VERSION: u8 = 4;
const HEADER: usize = 4 + 1 + 2 + 8 + 2 + 2;
const TAG: usize = 32;
/// Most bytes of packet encodings a [`ForwardBatch`] gathers: with the message's own
/// fields (sender, receiver and sequence number, variant, count: at most 24 bytes) and
/// the MAC, a `Forwards` fits one datagram.
pub const FORWARDS_ROOM: usize = CHUNK - TAG - 24;
/// Bytes of HMAC-SHA256 that end every datagram of a message of several, over its
/// header and chunk: a chunk is authenticated before it is stored for reassembly, so
/// nobody without the group key can fill the reassembly buffers (the message's own MAC
/// then covers the whole).
const CHUNK_TAG: usize = 16;
/// Largest buffer [`PeerChannel::send_into`] gives back to its caller's spares (a
/// large message's is let go).
const SPARE_CAPACITY: usize = 4 * CHUNK;
/// Most bytes of partly reassembled messages held at once; the oldest go beyond.
const MAX_PARTIAL_BYTES: usize = 64 * 1024 * 1024;
/// Largest part of a session in one `Transfer` or `Precopy` message (fits well within
/// [`MAX_CHUNKS`]).
pub const TRANSFER_PART: usize = 256 * 1024;
/// Most chunks a message may have (about 4.5 MB); more is malformed.
const MAX_CHUNKS: u16 = 4096;
/// Most messages being reassembled at once; the oldest is dropped beyond.
const MAX_PARTIAL: usize = 256;
/// How many recent sequence numbers per sender the replay window remembers.
const WINDOW: u64 = 1024;
/// Reassembly state older than this is discarded.
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a message is sent at most before the sender gives up on it.
pub const MAX_TRIES: u32 = 10;
/// Retransmission timeout before any round trip to a peer was measured.
const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Bounds of the retransmission timeout (the floor leaves room for a large message's
/// last chunk, which is what gets acknowledged, to trail its first).
const MIN_RTO: Duration = Duration::from_millis(100);
const MAX_RTO: Duration = Duration::from_secs(1);
/// Most acknowledgements of one peer carried in one `Ack`.
const MAX_ACKS: usize = 64;
/// Acknowledgements wait this long to be sent together (far below [`MIN_RTO`]): a busy
/// member receives probes and answers from many peers at once.
pub const ACK_DELAY: Duration = Duration::from_millis(2);

/// A member's identity in the group.
pub type MemberId = u16;

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
    /// Messages sent again because no acknowledgement came in time.
    pub retransmitted: u64,
    /// Messages given up after [`MAX_TRIES`] sends.
    pub given_up: u64,
    /// Partly reassembled messages dropped (timed out, or past the byte budget).
    pub reassembly_dropped: u64,
}

#[derive(Debug, Default)]
struct ReplayWindow {
    highest: u64,
    seen: std::collections::BTreeSet<u64>,
}

impl ReplayWindow {
    /// Whether `seq` is older than the window (`seq + WINDOW <= highest`, without
    /// overflowing for sequence numbers near `u64::MAX`).
    fn too_old(&self, seq: u64) -> bool {
        self.highest.saturating_sub(seq) >= WINDOW
    }

    /// Accepts `seq` once, if it is not older than the window.
    fn accept(&mut self, seq: u64) -> bool {
        if self.too_old(seq) || self.seen.contains(&seq) {
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

/// A reliable message waiting for its acknowledgement.
struct Unacked {
    to: MemberId,
    datagrams: Vec<Vec<u8>>,
    first_sent: Instant,
    next_at: Instant,
    rto: Duration,
    tries: u32,
}

/// Round-trip estimate to one peer (RFC 6298 §2).
#[derive(Debug, Clone, Copy)]
struct PeerRtt {
    /// Smoothed round trip, microseconds.
    srtt: u64,
    /// Round-trip variation, microseconds.
    rttvar: u64,
}

impl PeerRtt {
    fn rto(&self) -> Duration {
        Duration::from_micros((self.srtt + 4 * self.rttvar).max(2 * self.srtt))
            .clamp(MIN_RTO, MAX_RTO)
    }
}

struct Partial {
    count: u16,
    chunks: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    started: Instant,
}

/// One member's end of the peer channel.
pub struct PeerChannel {
    me: MemberId,
    key: GroupMac,
    next_seq: u64,
    windows: BTreeMap<MemberId, ReplayWindow>,
    partial: BTreeMap<(MemberId, u64), Partial>,
    /// Bytes held in `partial`.
    partial_bytes: usize,
    unacked: BTreeMap<u64, Unacked>,
    /// `(next_at, seq)` of every unacknowledged message, earliest first.
    retransmit_at: BTreeSet<(Instant, u64)>,
    rtt: BTreeMap<MemberId, PeerRtt>,
    acks_due: BTreeMap<MemberId, BTreeSet<u64>>,
    /// When the acknowledgements due are sent (set by the first one).
    ack_at: Option<Instant>,
    stats: PeerStats,
}

impl PeerChannel {
    /// A channel for member `me` with the shared group key.
    pub fn new(me: MemberId, group_key: &[u8]) -> Self {
        PeerChannel {
            me,
            key: GroupMac::new(group_key),
            next_seq: 1,
            windows: BTreeMap::new(),
            partial: BTreeMap::new(),
            partial_bytes: 0,
            unacked: BTreeMap::new(),
            retransmit_at: BTreeSet::new(),
            rtt: BTreeMap::new(),
            acks_due: BTreeMap::new(),
            ack_at: None,
            stats: PeerStats::default(),
        }
    }

    /// Starts this sender's sequence numbers at `epoch << 20` (never moves them back): a
    /// member restarted with a later epoch, such as its start time in milliseconds, is
    /// not taken for a replay by members that remember its earlier sequence numbers.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.next_seq = self.next_seq.max((epoch << 20) | 1);
    }

    /// Seals `body` for `to` and, if it [`is_reliable`](PeerBody::is_reliable), keeps
    /// it to send again until acknowledged. Returns its sequence number and datagrams.
    pub fn send(&mut self, now: Instant, to: MemberId, body: PeerBody) -> (u64, Vec<Vec<u8>>) {
        let mut datagrams = Vec::new();
        let seq = self.send_into(
            now,
            to,
            Outgoing::Body(&body),
            0,
            &mut Vec::new(),
            &mut datagrams,
        );
        (seq, datagrams)
    }

    /// Seals `msg` for `to` as [`send`](Self::send) does, appending its datagrams to
    /// `out`, each behind `headroom` bytes left for the caller's headers, in buffers taken
    /// from `spare` while it has any (its buffers are cleared; a buffer this call no
    /// longer needs goes back to it). Returns the sequence number.
    pub fn send_into(
        &mut self,
        now: Instant,
        to: MemberId,
        msg: Outgoing<'_>,
        headroom: usize,
        spare: &mut Vec<Vec<u8>>,
        out: &mut Vec<Vec<u8>>,
    ) -> u64 {
        let seq = self.next_seq;
        let first = out.len();
        self.seal_into(to, msg, headroom, spare, out);
        if msg.is_reliable() {
            let rto = self.rtt.get(&to).map_or(INITIAL_RTO, PeerRtt::rto);
            self.retransmit_at.insert((now + rto, seq));
            let datagrams = out[first..]
                .iter()
                .map(|d| d.get(headroom..).unwrap_or_default().to_vec())
                .collect();
            self.unacked.insert(
                seq,
                Unacked {
                    to,
                    datagrams,
                    first_sent: now,
                    next_at: now + rto,
                    rto,
                    tries: 1,
                },
            );
        }
        seq
    }

    /// Stops sending message `seq` again (its purpose is over).
    pub fn cancel(&mut self, seq: u64) {
        if let Some(u) = self.unacked.remove(&seq) {
            self.retransmit_at.remove(&(u.next_at, seq));
        }
    }

    /// When a message is next due to be sent again.
    pub fn next_retransmit(&self) -> Option<Instant> {
        self.retransmit_at.first().map(|(t, _)| *t)
    }

    /// Datagrams of every message whose retransmission timeout expired, with their
    /// receiver; a message sent [`MAX_TRIES`] times is given up and counted.
    pub fn poll_retransmit(&mut self, now: Instant) -> Vec<(MemberId, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(&(at, seq)) = self.retransmit_at.first() {
            if at > now {
                break;
            }
            self.retransmit_at.pop_first();
            let Some(u) = self.unacked.get_mut(&seq) else {
                continue;
            };
            if u.tries >= MAX_TRIES {
                self.unacked.remove(&seq);
                self.stats.given_up += 1;
                continue;
            }
            u.tries += 1;
            u.rto = Duration::from_micros(u.rto.total_micros() * 2).min(MAX_RTO);
            u.next_at = now + u.rto;
            self.retransmit_at.insert((u.next_at, seq));
            self.stats.retransmitted += 1;
            out.extend(u.datagrams.iter().map(|d| (u.to, d.clone())));
        }
        out
    }

    /// `from` acknowledged `seqs`: they are not sent again. Returns those that were
    /// waiting. A message acknowledged after one send gives a round-trip sample.
    pub fn acknowledged(&mut self, now: Instant, from: MemberId, seqs: &[u64]) -> Vec<u64> {
        let mut done = Vec::new();
        for seq in seqs {
            if self.unacked.get(seq).is_some_and(|u| u.to == from) {
                if let Some(u) = self.unacked.remove(seq) {
                    self.retransmit_at.remove(&(u.next_at, *seq));
                    if u.tries == 1 {
                        self.rtt_sample(from, now.saturating_since(u.first_sent));
                    }
                    done.push(*seq);
                }
            }
        }
        done
    }

    /// The smoothed round trip to `peer` (acknowledgement batching included), once
    /// measured.
    pub fn srtt(&self, peer: MemberId) -> Option<Duration> {
        self.rtt.get(&peer).map(|e| Duration::from_micros(e.srtt))
    }

    fn rtt_sample(&mut self, peer: MemberId, r: Duration) {
        let r = r.total_micros();
        match self.rtt.get_mut(&peer) {
            // RFC 6298 §2.2: the first measurement.
            None => {
                self.rtt.insert(
                    peer,
                    PeerRtt {
                        srtt: r,
                        rttvar: r / 2,
                    },
                );
            }
            // RFC 6298 §2.3: beta = 1/4, alpha = 1/8.
            Some(e) => {
                e.rttvar = (e.rttvar * 3 + e.srtt.abs_diff(r)) / 4;
                e.srtt = (e.srtt * 7 + r) / 8;
            }
        }
    }

    /// When acknowledgements are due to be sent ([`ACK_DELAY`] after the first).
    pub fn next_ack(&self) -> Option<Instant> {
        self.ack_at
    }

    /// Acknowledgements to send now, per peer (at most [`MAX_ACKS`] each; the rest wait
    /// for the next round): none before [`next_ack`](Self::next_ack).
    pub fn take_acks(&mut self, now: Instant) -> Vec<(MemberId, Vec<u64>)> {
        if self.ack_at.is_none_or(|t| t > now) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (peer, seqs) in self.acks_due.iter_mut() {
            let batch: Vec<u64> = seqs.iter().copied().take(MAX_ACKS).collect();
            for s in &batch {
                seqs.remove(s);
            }
            out.push((*peer, batch));
        }
        self.acks_due.retain(|_, s| !s.is_empty());
        self.ack_at = (!self.acks_due.is_empty()).then_some(now);
        out
    }

    fn ack_later(&mut self, now: Instant, from: MemberId, seq: u64) {
        self.acks_due.entry(from).or_default().insert(seq);
        self.ack_at.get_or_insert(now + ACK_DELAY);
    }

    /// Counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// Seals `body` for member `to` into datagrams (UDP payloads).
    pub fn seal(&mut self, to: MemberId, body: PeerBody) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.seal_into(to, Outgoing::Body(&body), 0, &mut Vec::new(), &mut out);
        out
    }

    /// Seals `body` for `to` into datagrams behind `headroom` bytes, appended to `out`
    /// (see the module doc for the two forms).
    fn seal_into(
        &mut self,
        to: MemberId,
        body: Outgoing<'_>,
        headroom: usize,
        spare: &mut Vec<Vec<u8>>,
        out: &mut Vec<Vec<u8>>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.sent += 1;
        let msg = OutgoingMessage {
            from: self.me,
            to,
            seq,
            body,
        };
        let start = headroom + HEADER;
        let mut buf = take_buffer(spare);
        // Room for a message of one datagram and its MAC: one allocation at most.
        buf.reserve(start + CHUNK);
        buf.resize(start, 0);
        // A Vec-backed encoder cannot run out of room; should it fail all the same,
        // nothing is sent (a reliable message is sent again as nothing, and given up).
        let Ok(mut buf) = msg.encode(buf) else {
            return;
        };
        if buf.len() - start + TAG <= CHUNK {
            write_header(&mut buf[headroom..start], self.me, seq, 0, 1);
            let tag = self.key.sign(&buf[headroom..]);
            buf.extend_from_slice(&tag);
            out.push(buf);
            return;
        }
        let tag = self.key.sign(&buf[start..]);
        buf.extend_from_slice(&tag);
        let message = &buf[start..];
        let count = message.len().div_ceil(CHUNK) as u16;
        for (i, chunk) in message.chunks(CHUNK).enumerate() {
            let mut d = take_buffer(spare);
            d.reserve(start + chunk.len() + CHUNK_TAG);
            d.resize(start, 0);
            write_header(&mut d[headroom..], self.me, seq, i as u16, count);
            d.extend_from_slice(chunk);
            let tag = self.key.sign(&d[headroom..]);
            d.extend_from_slice(&tag[..CHUNK_TAG]);
            out.push(d);
        }
        if buf.capacity() <= SPARE_CAPACITY {
            spare.push(buf);
        }
    }

    /// Drops partly reassembled messages older than the reassembly timeout (also run on
    /// every datagram; a member calls it from its timer too, so that state left by a
    /// sender that went silent does not wait for the next datagram).
    pub fn purge(&mut self, now: Instant) {
        let before = self.partial.len();
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now.saturating_since(p.started) < REASSEMBLY_TIMEOUT;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.partial_bytes -= freed;
        self.stats.reassembly_dropped += (before - self.partial.len()) as u64;
    }

    /// Drops the oldest partly reassembled message.
    fn drop_oldest_partial(&mut self) {
        let oldest = self
            .partial
            .iter()
            .min_by_key(|(_, p)| p.started)
            .map(|(k, _)| *k);
        if let Some(p) = oldest.and_then(|k| self.partial.remove(&k)) {
            self.partial_bytes -= p.bytes;
            self.stats.reassembly_dropped += 1;
        }
    }

    /// Takes one datagram; returns a message once complete and authentic.
    pub fn open(&mut self, now: Instant, datagram: &[u8]) -> Result<PeerMessage, PeerError> {
        self.purge(now);
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
        if count == 1 {
            // One datagram, one MAC over header and message: authentic before anything
            // is decoded or acknowledged.
            if d.len() < HEADER + TAG {
                return Err(PeerError::Malformed);
            }
            let (signed, tag) = d.split_at(d.len() - TAG);
            if !self.key.verify(signed, tag) {
                return Err(PeerError::Forged);
            }
            self.early_replay_check(now, from, seq)?;
            return self.accept(now, from, seq, &signed[HEADER..]);
        }
        if d.len() < HEADER + CHUNK_TAG {
            return Err(PeerError::Malformed);
        }
        // Authentic before anything is stored or acknowledged.
        let (signed, tag) = d.split_at(d.len() - CHUNK_TAG);
        if !self.key.verify(signed, tag) {
            return Err(PeerError::Forged);
        }
        self.early_replay_check(now, from, seq)?;
        let chunk = signed[HEADER..].to_vec();
        if !self.partial.contains_key(&(from, seq)) && self.partial.len() >= MAX_PARTIAL {
            self.drop_oldest_partial();
        }
        while self.partial_bytes + chunk.len() > MAX_PARTIAL_BYTES {
            self.drop_oldest_partial();
        }
        let entry = self.partial.entry((from, seq)).or_insert_with(|| Partial {
            count,
            chunks: BTreeMap::new(),
            bytes: 0,
            started: now,
        });
        if entry.count != count {
            return Err(PeerError::Malformed);
        }
        let len = chunk.len();
        if entry.chunks.insert(index, chunk).is_none() {
            entry.bytes += len;
            self.partial_bytes += len;
        }
        if entry.chunks.len() < usize::from(count) {
            return Err(PeerError::Incomplete);
        }
        let Some(done) = self.partial.remove(&(from, seq)) else {
            return Err(PeerError::Incomplete);
        };
        self.partial_bytes -= done.bytes;
        let whole: Vec<u8> = done.chunks.into_values().flatten().collect();
        if whole.len() < TAG {
            return Err(PeerError::Malformed);
        }
        let (body, tag) = whole.split_at(whole.len() - TAG);
        if !self.key.verify(body, tag) {
            return Err(PeerError::Forged);
        }
        self.accept(now, from, seq, body)
    }

    /// Replay check on an authenticated header, before anything is stored. A copy of a
    /// message already accepted is acknowledged again: the sender did not hear the first
    /// Ack.
    fn early_replay_check(
        &mut self,
        now: Instant,
        from: MemberId,
        seq: u64,
    ) -> Result<(), PeerError> {
        if let Some(w) = self.windows.get(&from) {
            if w.seen.contains(&seq) {
                self.ack_later(now, from, seq);
                return Err(PeerError::Replayed);
            }
            if w.too_old(seq) {
                return Err(PeerError::Replayed);
            }
        }
        Ok(())
    }

    /// Decodes an authentic message (`postcard(PeerMessage)`) that came with header
    /// `from`, `seq`, and accepts it once.
    fn accept(
        &mut self,
        now: Instant,
        from: MemberId,
        seq: u64,
        body: &[u8],
    ) -> Result<PeerMessage, PeerError> {
        let msg: PeerMessage = postcard::from_bytes(body).map_err(|_| PeerError::Malformed)?;
        if msg.from != from || msg.seq != seq || msg.to != self.me {
            return Err(PeerError::Forged);
        }
        if !self.windows.entry(from).or_default().accept(seq) {
            return Err(PeerError::Replayed);
        }
        if msg.body.is_reliable() {
            self.ack_later(now, from, seq);
        }
        Ok(msg)
    }
}

/// HMAC-SHA256 (RFC 2104) under the group key, keyed once: each message costs a copy
/// of the inner and outer hash states and the SHA-256 blocks of the message (SHA
/// extensions used when the CPU has them).
#[derive(Clone)]
struct GroupMac(Hmac<Sha256>);

impl GroupMac {
    fn new(key: &[u8]) -> GroupMac {
        // RFC 2104 §2: a key longer than the block is hashed first; the key is then
        // padded with zeros to the block (64 bytes), which is what is keyed here.
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        GroupMac(<Hmac<Sha256> as KeyInit>::new(&block.into()))
    }

    /// The 32-byte MAC of `data`.
    fn sign(&self, data: &[u8]) -> [u8; TAG] {
        let mut m = self.0.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `data` or its first bytes (at least 16), compared
    /// in constant time.
    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        if tag.len() < CHUNK_TAG || tag.len() > TAG {
            return false;
        }
        let mut m = self.0.clone();
        m.update(data);
        m.verify_truncated_left(tag).is_ok()
    }
}

/// A cleared buffer from `spare`, or a new one.
fn take_buffer(spare: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut b = spare.pop().unwrap_or_default();
    b.clear();
    b
}

/// Writes a datagram header into `h` (at least [`HEADER`] bytes).
fn write_header(h: &mut [u8], from: MemberId, seq: u64, index: u16, count: u16) {
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5..7].copy_from_slice(&from.to_be_bytes());
    h[7..15].copy_from_slice(&seq.to_be_bytes());
    h[15..17].copy_from_slice(&index.to_be_bytes());
    h[17..19].copy_from_slice(&count.to_be_bytes());
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
