//! The handoff of one session as a state machine (docs/handoff.md, "Handoff protocol").
//!
//! Every session a member holds has one [`HandoffState`]:
//!
//! ```text
//!        start_precopy (steps 1-2)         freeze (step 3)
//!   Serving ───────────────▶ Precopying ───────────────────▶ Frozen
//!      ▲  ╲                    │  call_off_precopy            │ │
//!      │   ╲───────────────────┼──────── freeze ─────────────▶│ │
//!      │◀──────────────────────┘                              │ │
//!      │◀──────────────── thaw (refused, silent) ─────────────┘ │
//!      │                                                        ▼
//!      │                                (Commit, release, late answer: the
//!      │                                 session leaves this member)
//!   arrive (step 4 at the acceptor): Serving with the donor's handoff as `upstream`
//!   client_confirmed (step 5): the upstream donor is sent its Commit
//! ```
//!
//! The transitions are methods named after the protocol step they implement; what they
//! return tells the member which messages to send. The deadlines of a handoff (the thaw
//! of a silent acceptor, the release of a copy whose Commit never came, the end of a
//! pre-copy) are [`HandoffState::deadline`] and [`HandoffState::due`]. Besides the state,
//! a session keeps its [`History`] (which copy of it the client talks to, should two
//! exist) and its [`Backoff`] after failed handoffs. The donor's record of each handoff,
//! where its outcome is set, is `records.rs`.

use vany_stack::tcp::Connection;
use vany_stack::time::{Duration, Instant};

use super::bulk::{PartsOut, Precopy, PRECOPY_MAX};
use crate::apps::AppState;
use crate::group::peer::MemberId;

/// A donor whose acceptor restored the session but whose Commit never came lets the
/// frozen copy go after this long.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(3);

/// A donor whose acceptor acknowledged the `Transfer` but whose `Restored` or `Refused`
/// never came (every copy lost) lets the frozen copy go after this long: longer than the
/// peer channel keeps sending a message.
pub(super) const RELEASE_UNANSWERED: Duration = Duration::from_secs(10);

/// First backoff after a failed handoff of a session; it doubles per failure in a row.
pub(super) const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest backoff.
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A handoff named by its transfer number and its donor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrival {
    /// The donor's transfer number.
    pub(super) transfer: u64,
    /// The member that handed the session here.
    pub(super) donor: MemberId,
}

/// Where one session stands in the handoff protocol, as this member sees it.
pub(super) enum HandoffState {
    /// Served here, no handoff of it under way. `upstream`: the handoff that brought it
    /// here while its donor still waits for the Commit (until the client confirms).
    Serving { upstream: Option<Arrival> },
    /// Still served here while its send data is copied to the acceptor (bulk.rs).
    Precopying {
        copy: Precopy,
        upstream: Option<Arrival>,
    },
    /// Frozen here: the acceptor gets (or has) the snapshot, client packets are
    /// forwarded to it, and this copy waits for the answer.
    Frozen(Frozen),
}

/// What the acceptor has said of a frozen session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Nothing yet: silence past the handoff timeout thaws the copy.
    Awaited,
    /// Every part acknowledged at this time: the acceptor restores or refuses, and says
    /// so reliably, so silence no longer means it never got the session.
    Delivered(Instant),
    /// `Restored` arrived at this time (step 4): the acceptor sent the BU.
    Restored(Instant),
}

/// A session frozen in a handoff this member started.
pub(super) struct Frozen {
    pub(super) transfer: u64,
    pub(super) to: MemberId,
    /// When the acceptor last acknowledged a part (or the freeze).
    pub(super) progress_at: Instant,
    /// The snapshot's parts on their way.
    pub(super) parts: PartsOut,
    pub(super) answer: Answer,
    /// The handoff that brought the session here, if its donor still waits for a Commit:
    /// passed on when this handoff commits.
    pub(super) upstream: Option<Arrival>,
    /// The frozen connections and their apps, thawed if the handoff fails.
    pub(super) connections: Vec<(Connection, AppState)>,
}

/// What a handoff deadline that came calls for ([`HandoffState::due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// No handoff under way.
    Nothing,
    /// Not yet: look again at this time.
    NotYet(Instant),
    /// The pre-copy's acceptor acknowledged nothing for the handoff timeout: call the
    /// handoff off (the session never stopped).
    PrecopySilent { transfer: u64, to: MemberId },
    /// The pre-copy ran for [`PRECOPY_MAX`]: send what is left and freeze.
    PrecopyLong,
    /// The frozen session's acceptor acknowledged nothing for the handoff timeout: thaw.
    FrozenSilent { transfer: u64, to: MemberId },
    /// The acceptor has the session and the client had ample time to answer; its Commit
    /// may have been lost: let the frozen copy go as committed.
    Release,
}

impl Frozen {
    /// When something is next due: the thaw once the acceptor has acknowledged nothing
    /// for `timeout` and not answered, else the release.
    pub(super) fn deadline(&self, timeout: Duration) -> Instant {
        match self.answer {
            Answer::Awaited => self.progress_at + timeout,
            Answer::Delivered(t) => t + RELEASE_UNANSWERED,
            Answer::Restored(t) => t + RELEASE_AFTER,
        }
    }

    /// The acceptor acknowledged part `seq` at `now` (progress); returns whether it was
    /// one of this snapshot's parts.
    pub(super) fn part_acked(&mut self, now: Instant, seq: u64) -> bool {
        if !self.parts.acked(seq) {
            return false;
        }
        self.progress_at = now;
        if self.parts.delivered() && self.answer == Answer::Awaited {
            self.answer = Answer::Delivered(now);
        }
        true
    }
}

impl HandoffState {
    /// A session served here that no handoff brought.
    pub(super) const SERVING: HandoffState = HandoffState::Serving { upstream: None };

    /// The frozen copy, if the session is frozen.
    pub(super) fn frozen(&self) -> Option<&Frozen> {
        match self {
            HandoffState::Frozen(f) => Some(f),
            _ => None,
        }
    }

    /// The frozen copy, if the session is frozen.
    pub(super) fn frozen_mut(&mut self) -> Option<&mut Frozen> {
        match self {
            HandoffState::Frozen(f) => Some(f),
            _ => None,
        }
    }

    /// Whether the session is frozen here (its packets go to the acceptor).
    pub(super) fn is_frozen(&self) -> bool {
        matches!(self, HandoffState::Frozen(_))
    }

    /// The pre-copy under way, if any.
    pub(super) fn precopy(&self) -> Option<&Precopy> {
        match self {
            HandoffState::Precopying { copy, .. } => Some(copy),
            _ => None,
        }
    }

    /// The pre-copy under way, if any.
    pub(super) fn precopy_mut(&mut self) -> Option<&mut Precopy> {
        match self {
            HandoffState::Precopying { copy, .. } => Some(copy),
            _ => None,
        }
    }

    /// Whether no handoff of the session is under way (policies may start one).
    pub(super) fn is_idle(&self) -> bool {
        matches!(self, HandoffState::Serving { .. })
    }

    /// The acceptor of the handoff under way, if any.
    pub(super) fn acceptor(&self) -> Option<MemberId> {
        match self {
            HandoffState::Serving { .. } => None,
            HandoffState::Precopying { copy, .. } => Some(copy.to),
            HandoffState::Frozen(f) => Some(f.to),
        }
    }

    /// Whether the session's apps run: not while frozen, nor while send data is copied
    /// ahead (the buffers only drain, so the copy converges; bulk.rs).
    pub(super) fn apps_run(&self) -> bool {
        match self {
            HandoffState::Serving { .. } => true,
            HandoffState::Precopying { copy, .. } => !copy.copies_data(),
            HandoffState::Frozen(_) => false,
        }
    }

    /// The handoff that brought the session here, while its donor waits for the Commit.
    pub(super) fn upstream(&self) -> Option<Arrival> {
        match self {
            HandoffState::Serving { upstream } | HandoffState::Precopying { upstream, .. } => {
                *upstream
            }
            HandoffState::Frozen(f) => f.upstream,
        }
    }

    /// Start of a large session's handoff: its send data is copied while it is still
    /// served (bulk.rs). Only from `Serving`; returns whether it started.
    pub(super) fn start_precopy(&mut self, copy: Precopy) -> bool {
        let HandoffState::Serving { upstream } = *self else {
            return false;
        };
        *self = HandoffState::Precopying { copy, upstream };
        true
    }

    /// The pre-copy of handoff `transfer` is called off (the acceptor refused or went
    /// silent, or a late answer won): the session goes on being served. Returns the
    /// pre-copy (its pieces in flight are cancelled by the caller).
    pub(super) fn call_off_precopy(&mut self, transfer: u64) -> Option<Precopy> {
        if self.precopy()?.transfer != transfer {
            return None;
        }
        self.end_precopy()
    }

    /// The pre-copy caught up: taken out to freeze the session (step 3 follows at once).
    pub(super) fn end_precopy(&mut self) -> Option<Precopy> {
        let HandoffState::Precopying { upstream, .. } = self else {
            return None;
        };
        let upstream = *upstream;
        match std::mem::replace(self, HandoffState::Serving { upstream }) {
            HandoffState::Precopying { copy, .. } => Some(copy),
            _ => None,
        }
    }

    /// Step 3: the session is frozen, its snapshot on its way to `to`. A donor that
    /// still waits for this member's Commit becomes the frozen copy's upstream: it is
    /// told when this handoff commits.
    pub(super) fn freeze(
        &mut self,
        now: Instant,
        transfer: u64,
        to: MemberId,
        parts: PartsOut,
        connections: Vec<(Connection, AppState)>,
    ) {
        let upstream = self.upstream();
        *self = HandoffState::Frozen(Frozen {
            transfer,
            to,
            progress_at: now,
            parts,
            answer: Answer::Awaited,
            upstream,
            connections,
        });
    }

    /// Step 4, donor: the acceptor restored the session of handoff `transfer` and sent
    /// the BU; the frozen copy waits for the Commit, or for the release.
    pub(super) fn restored(&mut self, now: Instant, transfer: u64) -> bool {
        match self {
            HandoffState::Frozen(f) if f.transfer == transfer => {
                f.answer = Answer::Restored(now);
                true
            }
            _ => false,
        }
    }

    /// A failed handoff (the acceptor refused or was silent, or it was called off):
    /// the frozen copy goes on here. Returns it (connections to put back, parts to
    /// cancel); the donor upstream, if any, still waits for the client.
    pub(super) fn thaw(&mut self) -> Option<Frozen> {
        let upstream = self.frozen()?.upstream;
        match std::mem::replace(self, HandoffState::Serving { upstream }) {
            HandoffState::Frozen(f) => Some(f),
            _ => None,
        }
    }

    /// Step 4, acceptor: the session comes back while this member still holds a frozen
    /// copy from handing it off earlier: that earlier handoff is over (the snapshot
    /// that arrived is newer). Returns its transfer.
    pub(super) fn supersede(&mut self) -> Option<u64> {
        let transfer = self.frozen()?.transfer;
        *self = HandoffState::SERVING;
        Some(transfer)
    }

    /// Step 4, acceptor: the session of handoff `arrival` was restored here. Its donor
    /// waits for the client's confirmation unless the client talks to this member
    /// already (`merging`: the donor is sent its Commit at once).
    pub(super) fn arrive(&mut self, arrival: Arrival, merging: bool) {
        if self.is_frozen() {
            *self = HandoffState::SERVING;
        }
        if merging {
            return;
        }
        if let HandoffState::Serving { upstream } | HandoffState::Precopying { upstream, .. } = self
        {
            *upstream = Some(arrival);
        }
    }

    /// Step 5, acceptor: the client confirmed the new binding (its BA, or a packet that
    /// reached this member directly): the donor upstream, if any, is owed its Commit
    /// (returned once).
    pub(super) fn client_confirmed(&mut self) -> Option<Arrival> {
        match self {
            HandoffState::Serving { upstream } | HandoffState::Precopying { upstream, .. } => {
                upstream.take()
            }
            HandoffState::Frozen(_) => None,
        }
    }

    /// When the handoff under way next needs attention: a pre-copy that hears nothing
    /// for `timeout` fails and one that runs for [`PRECOPY_MAX`] freezes; see
    /// [`Frozen::deadline`] for a frozen session.
    pub(super) fn deadline(&self, timeout: Duration) -> Option<Instant> {
        match self {
            HandoffState::Serving { .. } => None,
            HandoffState::Precopying { copy, .. } => {
                Some((copy.progress_at + timeout).min(copy.started + PRECOPY_MAX))
            }
            HandoffState::Frozen(f) => Some(f.deadline(timeout)),
        }
    }

    /// What the handoff under way calls for at `now` (docs/handoff.md, "Timers").
    pub(super) fn due(&self, now: Instant, timeout: Duration) -> Due {
        let Some(deadline) = self.deadline(timeout) else {
            return Due::Nothing;
        };
        if deadline > now {
            return Due::NotYet(deadline);
        }
        match self {
            HandoffState::Serving { .. } => Due::Nothing,
            HandoffState::Precopying { copy, .. } if now >= copy.progress_at + timeout => {
                Due::PrecopySilent {
                    transfer: copy.transfer,
                    to: copy.to,
                }
            }
            HandoffState::Precopying { .. } => Due::PrecopyLong,
            HandoffState::Frozen(f) if f.answer == Answer::Awaited => Due::FrozenSilent {
                transfer: f.transfer,
                to: f.to,
            },
            HandoffState::Frozen(_) => Due::Release,
        }
    }
}

/// What decides, when two copies of a session exist after a late answer, which one
/// goes on: the one the client has been talking to (docs/handoff.md, "Abandon").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct History {
    /// The handoff that brought the session here (kept after the commit): a donor that
    /// thawed it after all sends `Abandon` naming it.
    pub(super) arrived: Option<Arrival>,
    /// When this member last thawed the session after a handoff failed.
    pub(super) thawed_at: Option<Instant>,
    /// When a client packet last reached this member directly (not forwarded).
    pub(super) heard_at: Option<Instant>,
}

impl History {
    /// Whether the client kept talking to this copy after it thawed: then it is the live
    /// one, and the acceptor that answered late must abandon its own.
    pub(super) fn live_here(&self) -> bool {
        self.thawed_at
            .is_some_and(|t| self.heard_at.is_some_and(|h| h > t))
    }

    /// Whether `donor`'s handoff `transfer` is the one that brought the session here.
    pub(super) fn arrived_by(&self, transfer: u64, donor: MemberId) -> bool {
        self.arrived == Some(Arrival { transfer, donor })
    }
}

/// Failed handoffs of one session in a row, and what they hold back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Backoff {
    failures: u32,
    /// When automatic policies may try again.
    retry_at: Option<Instant>,
    /// Members that failed to take the session lately (a drain tries the others first).
    avoid: Vec<MemberId>,
}

impl Backoff {
    /// A handoff to `to` failed at `now`: automatic policies wait [`BACKOFF_FIRST`],
    /// doubled per failure in a row up to [`BACKOFF_MAX`], and `to` is avoided.
    pub(super) fn failed(&mut self, now: Instant, to: MemberId) {
        self.failures += 1;
        let factor = 1u64 << (self.failures - 1).min(6);
        let backoff = Duration::from_micros(BACKOFF_FIRST.total_micros() * factor);
        self.retry_at = Some(now + backoff.min(BACKOFF_MAX));
        if !self.avoid.contains(&to) {
            self.avoid.push(to);
        }
    }

    /// Whether automatic policies may move the session at `now`.
    pub(super) fn settled(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| t <= now)
    }

    /// Members to offer the session to last.
    pub(super) fn avoid(&self) -> &[MemberId] {
        &self.avoid
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
