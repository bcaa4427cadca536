//! The donor's log of the handoffs it started: one [`HandoffRecord`] each, the one place
//! a handoff's outcome is set ([`HandoffLog::finish`], and its revision after a late
//! answer, [`HandoffLog::revise_committed`]), and the queue of ended handoffs the node
//! logs.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv6Addr;

use serde::Serialize;
use vany_stack::time::Instant;

use crate::group::peer::MemberId;
use crate::group::policy::MoveReason;

/// How a handoff ended, as the donor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HandoffOutcome {
    /// Under way.
    Pending,
    /// The acceptor committed.
    Committed,
    /// The acceptor refused; the donor thawed.
    Refused,
    /// The acceptor was silent; the donor thawed.
    TimedOut,
    /// Called off while frozen: a late answer to an earlier handoff showed that another
    /// member's copy of the session is the live one.
    Abandoned,
}

/// One handoff, as logged by the donor (and completed with the acceptor's times).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffRecord {
    /// Names the handoff.
    pub transfer: u64,
    /// The client.
    pub client: Ipv6Addr,
    /// Donor.
    pub from: MemberId,
    /// Acceptor.
    pub to: MemberId,
    /// Which policy asked.
    pub reason: MoveReason,
    /// When the donor froze the session.
    pub started: Instant,
    /// When the donor heard `Restored`.
    pub restored: Option<Instant>,
    /// When the donor heard `Commit`.
    pub committed: Option<Instant>,
    /// Serialized session size.
    pub snapshot_bytes: usize,
    /// Connections moved.
    pub connections: usize,
    /// Outcome.
    pub outcome: HandoffOutcome,
    /// Why it failed, for logs (refused, timed out or abandoned).
    pub failure: Option<String>,
    /// The failure as a metrics label (`refused_draining`, `timed_out`, ...).
    pub failure_label: Option<&'static str>,
}

/// A handoff that failed: the session it concerned backs off ([`super::state::Backoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failed {
    /// Whose session.
    pub(super) client: Ipv6Addr,
    /// The acceptor that did not take it.
    pub(super) to: MemberId,
}

/// One handoff as the acceptor saw it (`vany node --events`): the donor's
/// [`HandoffRecord`] has the freeze and what the donor heard back; this has the times
/// only the acceptor knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceptRecord {
    /// Names the handoff (with the donor).
    pub transfer: u64,
    /// The client.
    pub client: Ipv6Addr,
    /// Donor.
    pub from: MemberId,
    /// Acceptor (this member).
    pub to: MemberId,
    /// When the whole snapshot had arrived; the session was restored and the Binding
    /// Update sent at that same moment.
    pub received: Instant,
    /// When the client's binding was confirmed (its Binding Acknowledgement, or its
    /// packets arriving here) and the donor was told to let go (`Commit`).
    pub committed: Option<Instant>,
    /// Snapshot size.
    pub snapshot_bytes: usize,
    /// Connections restored.
    pub connections: usize,
}

/// Handoffs this member accepted: those waiting for the client's binding, and those
/// committed since the driver last asked. Bounded: the oldest waiting is forgotten first.
#[derive(Default)]
pub(super) struct AcceptLog {
    waiting: BTreeMap<u64, AcceptRecord>,
    done: VecDeque<AcceptRecord>,
}

impl AcceptLog {
    /// At most this many handoffs waiting, or ended and not taken.
    const MAX: usize = 4096;

    /// The session of `r` was restored here.
    pub(super) fn accepted(&mut self, r: AcceptRecord) {
        if self.waiting.len() >= Self::MAX {
            self.waiting.pop_first();
        }
        self.waiting.insert(r.transfer, r);
    }

    /// The acceptor told the donor of `transfer` to let go, at `now`.
    pub(super) fn committed(&mut self, transfer: u64, now: Instant) {
        if let Some(mut r) = self.waiting.remove(&transfer) {
            r.committed = Some(now);
            if self.done.len() >= Self::MAX {
                self.done.pop_front();
            }
            self.done.push_back(r);
        }
    }

    /// The next handoff committed here.
    pub(super) fn pop_done(&mut self) -> Option<AcceptRecord> {
        self.done.pop_front()
    }
}

/// Every handoff a member started, by transfer number.
#[derive(Default)]
pub(super) struct HandoffLog {
    records: Vec<HandoffRecord>,
    /// Position of each transfer's record.
    by_transfer: BTreeMap<u64, usize>,
    /// Handoffs that ended since the caller last asked.
    done: VecDeque<HandoffRecord>,
    /// Refusal labels of transfers whose `Refused` arrived (for the record).
    refusal_labels: BTreeMap<u64, &'static str>,
}

impl HandoffLog {
    /// Records handoff `transfer` of `client` from `from` to `to`, started at `now`.
    pub(super) fn start(
        &mut self,
        now: Instant,
        transfer: u64,
        client: Ipv6Addr,
        (from, to): (MemberId, MemberId),
        reason: MoveReason,
    ) {
        self.by_transfer.insert(transfer, self.records.len());
        self.records.push(HandoffRecord {
            transfer,
            client,
            from,
            to,
            reason,
            started: now,
            restored: None,
            committed: None,
            snapshot_bytes: 0,
            connections: 0,
            outcome: HandoffOutcome::Pending,
            failure: None,
            failure_label: None,
        });
    }

    /// The record of handoff `transfer`, if this member started it.
    pub(super) fn get(&self, transfer: u64) -> Option<&HandoffRecord> {
        self.records.get(*self.by_transfer.get(&transfer)?)
    }

    fn get_mut(&mut self, transfer: u64) -> Option<&mut HandoffRecord> {
        self.records.get_mut(*self.by_transfer.get(&transfer)?)
    }

    /// Every record, oldest first.
    pub(super) fn all(&self) -> &[HandoffRecord] {
        &self.records
    }

    /// The client of handoff `transfer`.
    pub(super) fn client(&self, transfer: u64) -> Option<Ipv6Addr> {
        self.get(transfer).map(|r| r.client)
    }

    /// The outcome recorded for `transfer`.
    pub(super) fn outcome(&self, transfer: u64) -> Option<HandoffOutcome> {
        self.get(transfer).map(|r| r.outcome)
    }

    /// Step 3 took a snapshot of `bytes` holding `connections` connections.
    pub(super) fn snapshot_taken(&mut self, transfer: u64, bytes: usize, connections: usize) {
        if let Some(r) = self.get_mut(transfer) {
            r.snapshot_bytes = bytes;
            r.connections = connections;
        }
    }

    /// The acceptor said `Restored` at `now`.
    pub(super) fn restored(&mut self, transfer: u64, now: Instant) {
        if let Some(r) = self.get_mut(transfer) {
            r.restored = Some(now);
        }
    }

    /// The acceptor refused `transfer` for a reason labelled `label` (the outcome follows
    /// when the handoff is called off).
    pub(super) fn refused_for(&mut self, transfer: u64, label: &'static str) {
        self.refusal_labels.insert(transfer, label);
    }

    /// Sets the outcome of handoff `transfer`, with why it failed. A handoff that ends
    /// here (was pending) is queued for [`HandoffLog::pop_done`]; a commit keeps the
    /// first commit time. Returns the failure, for the session's backoff.
    pub(super) fn finish(
        &mut self,
        now: Instant,
        transfer: u64,
        outcome: HandoffOutcome,
        failure: Option<String>,
    ) -> Option<Failed> {
        let label = match outcome {
            HandoffOutcome::Refused => Some(
                self.refusal_labels
                    .remove(&transfer)
                    .unwrap_or("refused_other"),
            ),
            HandoffOutcome::TimedOut => Some("timed_out"),
            HandoffOutcome::Abandoned => Some("abandoned"),
            HandoffOutcome::Committed | HandoffOutcome::Pending => None,
        };
        let r = self.get_mut(transfer)?;
        let was_pending = r.outcome == HandoffOutcome::Pending;
        r.outcome = outcome;
        if outcome == HandoffOutcome::Committed {
            r.committed.get_or_insert(now);
        }
        if label.is_some() {
            r.failure = failure;
            r.failure_label = label;
        }
        let failed = Failed {
            client: r.client,
            to: r.to,
        };
        if was_pending && outcome != HandoffOutcome::Pending {
            let done = r.clone();
            self.done.push_back(done);
        }
        label.map(|_| failed)
    }

    /// A handoff that timed out here reached the acceptor after all, and the acceptor's
    /// copy is the one that goes on (docs/handoff.md, "Abandon"): it counts as committed
    /// at `now`. Its end was reported already; this revises the record only.
    pub(super) fn revise_committed(&mut self, transfer: u64, now: Instant) {
        if let Some(r) = self.get_mut(transfer) {
            r.outcome = HandoffOutcome::Committed;
            r.committed = Some(now);
        }
    }

    /// A handoff that ended since the last call.
    pub(super) fn pop_done(&mut self) -> Option<HandoffRecord> {
        self.done.pop_front()
    }
}
