//! Moving a session of any size: pre-copy while the donor still serves, then the frozen
//! snapshot in parts, both under a window of unacknowledged bytes; and the acceptor's
//! bounded store of what has arrived.
//!
//! - **Pre-copy.** A session whose connections hold at least [`PRECOPY_MIN`] bytes of
//!   send data is not frozen at once: its send buffers are copied to the acceptor first
//!   (`Precopy` messages) while the connections keep running. Only the end of a send
//!   buffer grows (the app writes) and only its start moves (the client acknowledges),
//!   so what was copied stays valid. The session's apps are not run meanwhile, so the
//!   buffers only drain (the client is still served from them) and the copy converges
//!   even when the donor's CPU or the path between members is no faster than the
//!   client. Once what the acceptor lacks is at most [`FREEZE_DELTA`] (or after
//!   [`PRECOPY_MAX`]), the session is frozen and the snapshot leaves out each
//!   connection's acknowledged pre-copied prefix.
//! - **Parts.** The frozen snapshot travels as `Transfer` parts of at most
//!   [`TRANSFER_PART`] bytes. Both phases keep at most [`WINDOW`] bytes unacknowledged,
//!   so the donor's retransmission queue is bounded; each part is retransmitted by the
//!   peer channel on its own.
//! - **Progress.** A phase fails when the acceptor acknowledges nothing for the handoff
//!   timeout. A failed pre-copy costs the client nothing: the session was never frozen.
//! - **Acceptor.** Parts and pre-copied bytes are kept per transfer under one budget
//!   for all incoming sessions ([`MemberConfig::transfer_budget`]); past it the transfer
//!   is refused (`TooLarge`). A transfer that goes silent is dropped after
//!   [`INCOMING_IDLE`].

use std::collections::BTreeMap;

use super::*;
use crate::group::peer::{RefuseReason, TRANSFER_PART};

/// Sessions with at least this much send data are pre-copied before the freeze.
pub const PRECOPY_MIN: usize = 1024 * 1024;
/// The pre-copy ends (and the session freezes) once the acceptor lacks at most this much.
pub const FREEZE_DELTA: usize = 256 * 1024;
/// The pre-copy ends after this long even if it has not caught up (the rest travels in
/// the frozen snapshot).
pub const PRECOPY_MAX: Duration = Duration::from_secs(10);
/// Most bytes of one handoff unacknowledged at once.
pub const WINDOW: usize = 4 * 1024 * 1024;
/// An incoming transfer that receives nothing for this long is dropped.
pub const INCOMING_IDLE: Duration = Duration::from_secs(30);
/// Default budget for the state of all incoming transfers at an acceptor.
pub const DEFAULT_TRANSFER_BUDGET: usize = 1024 * 1024 * 1024;

/// Pre-copied send data received for one transfer: per (local port, remote port), the
/// pieces by stream offset.
pub(super) type Precopied = BTreeMap<(u16, u16), BTreeMap<u64, Vec<u8>>>;

/// One pre-copy message on its way.
#[derive(Debug, Clone, Copy)]
struct Piece {
    tuple: FourTuple,
    offset: u64,
    len: usize,
}

/// The donor's pre-copy of a session it still serves.
pub(super) struct Precopy {
    pub(super) transfer: u64,
    pub(super) to: MemberId,
    pub(super) started: Instant,
    /// When the acceptor last acknowledged something (or the pre-copy began).
    pub(super) progress_at: Instant,
    /// The handoff's reason (the snapshot is pinned for a manual move).
    pub(super) manual: bool,
    /// The acceptor acknowledged a pre-copy message: it is there and willing.
    confirmed: bool,
    /// Per connection: the next stream offset to copy.
    next: BTreeMap<FourTuple, u64>,
    /// Per connection: copied and acknowledged up to here, from its first offset on.
    acked: BTreeMap<FourTuple, u64>,
    in_flight: BTreeMap<u64, Piece>,
    in_flight_bytes: usize,
}

/// The frozen snapshot's parts on their way to the acceptor.
pub(super) struct PartsOut {
    data: Vec<u8>,
    count: u32,
    next: u32,
    in_flight: BTreeMap<u64, usize>,
    in_flight_bytes: usize,
}

impl PartsOut {
    pub(super) fn new(data: Vec<u8>) -> PartsOut {
        let count = data.len().div_ceil(TRANSFER_PART).max(1) as u32;
        PartsOut {
            data,
            count,
            next: 0,
            in_flight: BTreeMap::new(),
            in_flight_bytes: 0,
        }
    }

    /// Whether every part was sent and acknowledged.
    pub(super) fn delivered(&self) -> bool {
        self.next == self.count && self.in_flight.is_empty()
    }

    /// Peer-channel sequence numbers of parts not acknowledged yet.
    pub(super) fn pending_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight.keys().copied()
    }

    /// The next part to send, if the window has room: (index, count, bytes).
    pub(super) fn next_part(&mut self) -> Option<(u32, u32, Vec<u8>)> {
        if self.next >= self.count || self.in_flight_bytes >= WINDOW {
            return None;
        }
        let index = self.next;
        let from = index as usize * TRANSFER_PART;
        let to = (from + TRANSFER_PART).min(self.data.len());
        self.next += 1;
        Some((index, self.count, self.data[from..to].to_vec()))
    }

    /// A part of `len` bytes went out as peer message `seq`.
    pub(super) fn sent(&mut self, seq: u64, len: usize) {
        self.in_flight.insert(seq, len);
        self.in_flight_bytes += len;
    }

    /// The acceptor acknowledged message `seq`: returns whether it was one of these parts.
    pub(super) fn acked(&mut self, seq: u64) -> bool {
        let Some(len) = self.in_flight.remove(&seq) else {
            return false;
        };
        self.in_flight_bytes -= len;
        true
    }
}

/// What an acceptor holds of one incoming transfer.
#[derive(Default)]
pub(super) struct Incoming {
    pub(super) from: MemberId,
    count: u32,
    parts: BTreeMap<u32, Vec<u8>>,
    /// Pre-copied send data per (local port, remote port): pieces by stream offset.
    precopied: Precopied,
    bytes: usize,
    last: Instant,
}

/// The bytes `[from, to)` out of pieces keyed by their first offset, if they cover it.
fn assemble(pieces: &BTreeMap<u64, Vec<u8>>, from: u64, to: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((to - from) as usize);
    let mut at = from;
    // The last piece starting at or before `from`, then every later one.
    let first = pieces.range(..=from).next_back().map_or(from, |(o, _)| *o);
    for (offset, bytes) in pieces.range(first..) {
        if at >= to {
            break;
        }
        if *offset > at {
            return None; // a hole
        }
        let end = offset + bytes.len() as u64;
        if end <= at {
            continue;
        }
        let take_to = end.min(to);
        out.extend_from_slice(&bytes[(at - offset) as usize..(take_to - offset) as usize]);
        at = take_to;
    }
    (at >= to).then_some(out)
}

impl Precopy {
    /// A pre-copy of handoff `transfer` to `to` started at `now`, copying each
    /// connection's send data from the offset in `next` (none: only the question is
    /// asked), whose question went out as peer message `hello`.
    pub(super) fn new(
        (transfer, to): (u64, MemberId),
        now: Instant,
        manual: bool,
        next: BTreeMap<FourTuple, u64>,
        hello: u64,
    ) -> Precopy {
        let nowhere = FourTuple {
            local: Ipv6Addr::UNSPECIFIED,
            local_port: 0,
            remote: Ipv6Addr::UNSPECIFIED,
            remote_port: 0,
        };
        let question = Piece {
            tuple: nowhere,
            offset: 0,
            len: 0,
        };
        Precopy {
            transfer,
            to,
            started: now,
            progress_at: now,
            manual,
            confirmed: false,
            acked: next.clone(),
            next,
            in_flight: BTreeMap::from([(hello, question)]),
            in_flight_bytes: 0,
        }
    }

    /// Whether send data is copied ahead (a large session), not just the question asked.
    pub(super) fn copies_data(&self) -> bool {
        !self.next.is_empty()
    }

    /// Acknowledged-and-contiguous high mark of `tuple`: the lowest offset still in
    /// flight, else everything copied.
    fn acked_to(&self, tuple: &FourTuple) -> Option<u64> {
        let in_flight = self
            .in_flight
            .values()
            .filter(|p| p.tuple == *tuple)
            .map(|p| p.offset)
            .min();
        in_flight.or_else(|| self.acked.get(tuple).copied())
    }
}

impl Member {
    /// Starts the pre-copy of `client`'s session to `to`, or freezes it at once when it
    /// holds little send data. Returns false when there is nothing to hand off.
    pub(super) fn begin_transfer(
        &mut self,
        now: Instant,
        client: Ipv6Addr,
        transfer: u64,
        to: MemberId,
        manual: bool,
    ) {
        let Some(s) = self.sessions.get(&client) else {
            return;
        };
        let mut next = BTreeMap::new();
        let mut send_bytes = 0usize;
        for tuple in &s.conns {
            if let Some(c) = self.tcp.connection(tuple) {
                let (start, end) = c.send_stream_range();
                send_bytes += (end - start) as usize;
                next.insert(*tuple, start);
            }
        }
        // Small sessions copy nothing ahead; the first message still asks the acceptor.
        if send_bytes < PRECOPY_MIN {
            next.clear();
        }
        // The question: an empty pre-copy message the acceptor refuses or acknowledges.
        let hello = PeerBody::Precopy {
            transfer,
            client,
            local_port: 0,
            remote_port: 0,
            offset: 0,
            bytes: Vec::new(),
        };
        let seq = self.send_peer(to, hello);
        self.index.transfer_seqs.insert(seq, client);
        if let Some(s) = self.sessions.get_mut(&client) {
            let copy = Precopy::new((transfer, to), now, manual, next, seq);
            s.handoff.start_precopy(copy);
        }
        self.schedule_frozen(client);
        self.pump_precopy(now, client);
    }

    /// Sends pre-copy pieces up to the window; freezes once the acceptor lacks little.
    pub(super) fn pump_precopy(&mut self, now: Instant, client: Ipv6Addr) {
        if let Some(p) = self
            .sessions
            .get(&client)
            .filter(|s| s.conns.is_empty())
            .and_then(|s| s.handoff.precopy())
        {
            // Every connection closed meanwhile: nothing is left to move.
            let why = "the session ended before it moved".to_string();
            return self.call_off(now, p.transfer, HandoffOutcome::Abandoned, why);
        }
        // Taken out while pieces are sent (and put back unless the session freezes).
        let Some(mut p) = self
            .sessions
            .get_mut(&client)
            .and_then(|s| s.handoff.end_precopy())
        else {
            return;
        };
        let mut lacking = 0usize;
        let tuples: Vec<FourTuple> = p.next.keys().copied().collect();
        for tuple in tuples {
            let Some((start, end)) = self.tcp.connection(&tuple).map(|c| c.send_stream_range())
            else {
                continue;
            };
            let have = p.acked_to(&tuple).unwrap_or(start).max(start);
            lacking += end.saturating_sub(have) as usize;
            while p.in_flight_bytes < WINDOW {
                let from = p.next[&tuple].max(start);
                if from >= end {
                    break;
                }
                let len = ((end - from) as usize).min(TRANSFER_PART);
                let mut bytes = vec![0u8; len];
                let Some(c) = self.tcp.connection(&tuple) else {
                    break;
                };
                let n = c.copy_send_stream(from, &mut bytes);
                bytes.truncate(n);
                if n == 0 {
                    break;
                }
                let body = PeerBody::Precopy {
                    transfer: p.transfer,
                    client,
                    local_port: tuple.local_port,
                    remote_port: tuple.remote_port,
                    offset: from,
                    bytes,
                };
                let seq = self.send_peer(p.to, body);
                p.next.insert(tuple, from + n as u64);
                p.in_flight.insert(
                    seq,
                    Piece {
                        tuple,
                        offset: from,
                        len: n,
                    },
                );
                p.in_flight_bytes += n;
                self.index.transfer_seqs.insert(seq, client);
            }
        }
        let (transfer, to, manual) = (p.transfer, p.to, p.manual);
        let caught_up = lacking <= FREEZE_DELTA || now.saturating_since(p.started) >= PRECOPY_MAX;
        if p.confirmed && caught_up {
            // The pieces still in flight are not needed: the snapshot carries those bytes.
            let acked: BTreeMap<FourTuple, u64> = p
                .next
                .keys()
                .filter_map(|t| Some((*t, p.acked_to(t)?)))
                .collect();
            for seq in p.in_flight.keys() {
                self.peer.cancel(*seq);
                self.index.transfer_seqs.remove(seq);
            }
            self.freeze_and_send(now, client, transfer, to, manual, acked);
        } else if let Some(s) = self.sessions.get_mut(&client) {
            s.handoff.start_precopy(p);
        }
    }

    /// The acceptor acknowledged message `seq` of `client`'s handoff: more is sent, and
    /// the frozen copy counts as delivered once every part is in.
    pub(super) fn bulk_acked(&mut self, now: Instant, client: Ipv6Addr, seq: u64) {
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        if let Some(p) = s.handoff.precopy_mut() {
            if let Some(piece) = p.in_flight.remove(&seq) {
                p.in_flight_bytes -= piece.len;
                p.progress_at = now;
                p.confirmed = true;
                let end = piece.offset + piece.len as u64;
                let mark = p.acked.entry(piece.tuple).or_insert(end);
                *mark = (*mark).max(end);
                self.pump_precopy(now, client);
                self.schedule_frozen(client);
            }
            return;
        }
        if s.handoff
            .frozen_mut()
            .is_some_and(|f| f.part_acked(now, seq))
        {
            self.pump_parts(client);
            self.schedule_frozen(client);
        }
    }

    /// Sends the frozen snapshot's next parts, up to the window.
    pub(super) fn pump_parts(&mut self, client: Ipv6Addr) {
        loop {
            let Some(f) = self
                .sessions
                .get_mut(&client)
                .and_then(|s| s.handoff.frozen_mut())
            else {
                return;
            };
            let Some((index, count, session)) = f.parts.next_part() else {
                return;
            };
            let (acceptor, len) = (f.to, session.len());
            let body = PeerBody::Transfer {
                transfer: f.transfer,
                index,
                count,
                session,
            };
            let seq = self.send_peer(acceptor, body);
            if let Some(f) = self
                .sessions
                .get_mut(&client)
                .and_then(|s| s.handoff.frozen_mut())
            {
                f.parts.sent(seq, len);
            }
            self.index.transfer_seqs.insert(seq, client);
        }
    }

    /// A handoff this member started is over without a move: a pre-copy is dropped (the
    /// session never stopped), a frozen session thaws. The acceptor is told to drop what
    /// it received unless it refused.
    pub(super) fn call_off(
        &mut self,
        now: Instant,
        transfer: u64,
        outcome: HandoffOutcome,
        why: String,
    ) {
        let Some(client) = self.log.client(transfer) else {
            return;
        };
        let precopy = self
            .sessions
            .get_mut(&client)
            .and_then(|s| s.handoff.call_off_precopy(transfer));
        if let Some(p) = precopy {
            for seq in p.in_flight.keys() {
                self.peer.cancel(*seq);
                self.index.transfer_seqs.remove(seq);
            }
            // The apps, paused for the copy, go on.
            if let Some(s) = self.sessions.get(&client) {
                self.index.dirty.extend(s.conns.iter().copied());
            }
            if outcome != HandoffOutcome::Refused {
                self.send_peer(p.to, PeerBody::Abandon { transfer });
            }
            self.finish(now, transfer, outcome, Some(why));
            return;
        }
        if self.frozen_client(transfer).is_some() {
            self.thaw(now, transfer, outcome, why);
        }
    }

    /// `client`'s handoff deadline passed: a silent pre-copy fails, a long one freezes;
    /// a frozen session whose acceptor acknowledged nothing in time thaws
    /// (docs/handoff.md); a Commit can be lost, so once the acceptor restored (or acknowledged every
    /// part) and the client has had ample time to answer, the frozen copy is let go.
    pub(super) fn handoff_due(&mut self, now: Instant, client: Ipv6Addr) {
        let timeout = self.cfg.handoff_timeout;
        let Some(s) = self.sessions.get(&client) else {
            return;
        };
        match s.handoff.due(now, timeout) {
            Due::Nothing => {}
            Due::NotYet(_) => self.schedule_frozen(client),
            Due::PrecopySilent { transfer, to } => {
                let why = format!(
                    "member {to} acknowledged nothing for {timeout} while the session was copied"
                );
                self.call_off(now, transfer, HandoffOutcome::TimedOut, why);
            }
            Due::PrecopyLong => self.pump_precopy(now, client),
            Due::FrozenSilent { transfer, to } => {
                let why = format!(
                    "member {to} acknowledged nothing for {timeout} while the session was frozen"
                );
                self.thaw(now, transfer, HandoffOutcome::TimedOut, why);
            }
            Due::Release => self.release(now, client),
        }
    }

    /// The frozen copy of `client`'s session goes without a Commit: the acceptor has the
    /// session and the client had ample time to answer (a Commit can be lost).
    fn release(&mut self, now: Instant, client: Ipv6Addr) {
        let Some(f) = self.sessions.remove(&client).and_then(|s| match s.handoff {
            HandoffState::Frozen(f) => Some(f),
            _ => None,
        }) else {
            return;
        };
        self.moved.insert(client, (f.to, now + MOVED_FORWARDING));
        if let Some(up) = f.upstream {
            self.commit_to(up);
        }
        self.finish(now, f.transfer, HandoffOutcome::Committed, None);
    }

    // ---- acceptor -------------------------------------------------------------------------

    /// Room for `more` bytes of incoming transfer state, or the refusal to send.
    fn incoming_room(&self, more: usize) -> Result<(), RefuseReason> {
        let needed = self.incoming_bytes + more;
        if needed > self.cfg.transfer_budget {
            return Err(RefuseReason::TooLarge {
                needed: needed as u64,
                budget: self.cfg.transfer_budget as u64,
            });
        }
        Ok(())
    }

    /// Whether this member can take `client`'s session now: not leaving, and able to
    /// bind it to its care-of address.
    fn can_accept(&self, now: Instant, client: Ipv6Addr) -> Result<(), RefuseReason> {
        if self.draining || self.stopped {
            return Err(RefuseReason::Draining);
        }
        if !self.mn.has_care_of_token(now, &client, self.cfg.care_of) {
            return Err(RefuseReason::Binding(
                "no usable care-of keygen token for the client yet".into(),
            ));
        }
        Ok(())
    }

    /// Drops what was received of `transfer`.
    pub(super) fn drop_incoming(&mut self, transfer: u64) -> Option<Incoming> {
        let i = self.incoming.remove(&transfer)?;
        self.incoming_bytes -= i.bytes;
        Some(i)
    }

    /// Pre-copied send data of a session the donor still serves.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_precopy(
        &mut self,
        now: Instant,
        from: MemberId,
        (transfer, client): (u64, Ipv6Addr),
        ports: (u16, u16),
        offset: u64,
        bytes: Vec<u8>,
    ) {
        if !self.incoming.contains_key(&transfer) {
            // The first message of a handoff: can this member take the session at all?
            if let Err(reason) = self.can_accept(now, client) {
                return self.refuse(from, transfer, reason);
            }
        }
        if let Err(reason) = self.incoming_room(bytes.len()) {
            return self.refuse(from, transfer, reason);
        }
        let len = bytes.len();
        let entry = self.incoming.entry(transfer).or_insert_with(|| Incoming {
            from,
            ..Incoming::default()
        });
        if entry.from != from {
            return; // another member's transfer number: not for us to touch
        }
        entry.last = now;
        if bytes.is_empty() {
            return;
        }
        let pieces = entry.precopied.entry(ports).or_default();
        if pieces.contains_key(&offset) {
            return;
        }
        pieces.insert(offset, bytes);
        entry.bytes += len;
        self.incoming_bytes += len;
    }

    /// Part `index` of `count` of a frozen session; the session is restored once every
    /// part is in.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_transfer_part(
        &mut self,
        now: Instant,
        from: MemberId,
        transfer: u64,
        index: u32,
        count: u32,
        bytes: Vec<u8>,
    ) {
        if count == 0 || index >= count {
            return self.refuse(
                from,
                transfer,
                RefuseReason::Malformed(format!("part {index} of {count}")),
            );
        }
        if count == 1 && !self.incoming.contains_key(&transfer) {
            return self.accept_transfer(now, from, transfer, &bytes, None);
        }
        if let Err(reason) = self.incoming_room(bytes.len()) {
            return self.refuse(from, transfer, reason);
        }
        let len = bytes.len();
        let entry = self.incoming.entry(transfer).or_insert_with(|| Incoming {
            from,
            ..Incoming::default()
        });
        if entry.from != from || (entry.count != 0 && entry.count != count) {
            return;
        }
        entry.count = count;
        entry.last = now;
        if entry.parts.contains_key(&index) {
            return;
        }
        entry.parts.insert(index, bytes);
        entry.bytes += len;
        self.incoming_bytes += len;
        if entry.parts.len() < count as usize {
            return;
        }
        let Some(incoming) = self.drop_incoming(transfer) else {
            return;
        };
        let whole: Vec<u8> = incoming.parts.into_values().flatten().collect();
        self.accept_transfer(now, from, transfer, &whole, Some(incoming.precopied));
    }

    /// Puts back the send data the snapshot left out of connection `conn` from the
    /// pre-copied pieces.
    pub(super) fn fill_precopied(
        conn: &mut Connection,
        left_out: (u64, u64),
        precopied: Option<&Precopied>,
    ) -> Result<(), RefuseReason> {
        let (from, to) = left_out;
        if from == to {
            return Ok(());
        }
        let tuple = conn.tuple();
        let bytes = precopied
            .and_then(|p| p.get(&(tuple.local_port, tuple.remote_port)))
            .and_then(|pieces| assemble(pieces, from, to))
            .ok_or(RefuseReason::PrecopyMissing)?;
        conn.fill_send_prefix(from, &bytes)
            .map_err(|e| RefuseReason::Malformed(e.to_string()))
    }

    /// Drops incoming transfers that went silent.
    pub(super) fn expire_incoming(&mut self, now: Instant) {
        let stale: Vec<u64> = self
            .incoming
            .iter()
            .filter(|(_, i)| now.saturating_since(i.last) >= INCOMING_IDLE)
            .map(|(t, _)| *t)
            .collect();
        for t in stale {
            self.drop_incoming(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_takes_a_range_across_overlapping_pieces_and_sees_holes() {
        let mut p = BTreeMap::new();
        p.insert(10u64, (10u8..20).collect::<Vec<u8>>());
        p.insert(15u64, (15u8..25).collect::<Vec<u8>>());
        p.insert(30u64, (30u8..35).collect::<Vec<u8>>());
        assert_eq!(assemble(&p, 12, 22), Some((12u8..22).collect()));
        assert_eq!(assemble(&p, 10, 25), Some((10u8..25).collect()));
        assert_eq!(assemble(&p, 20, 31), None, "25..30 is missing");
        assert_eq!(assemble(&p, 5, 12), None, "nothing before 10");
        assert_eq!(assemble(&p, 31, 35), Some((31u8..35).collect()));
        assert_eq!(assemble(&p, 31, 36), None);
    }
}
