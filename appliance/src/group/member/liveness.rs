//! What members do to stay in agreement about who serves whom when one of them was gone
//! for a while (stalled, partitioned or restarted), and the record of refusals.
//!
//! - A member that comes back up (gossip says so, a restart included) is greeted by every
//!   other member at its next poll: each asks it to probe the clients it serves (so the
//!   newcomer gets care-of keygen tokens and can accept them at once, instead of
//!   refusing handoffs until the next token refresh), and a member greeting its contact
//!   node tells it again which clients it serves (`Serving`).
//! - A contact node that deregistered a member's clients when it took the member for
//!   dead (`Member::set_excluded`) remembers whom it did that for; if that member comes
//!   back still serving them, it asks it to bind them again (`RefreshRequested`), and the
//!   binding's acknowledgement makes the member say `Serving` again. Every accepted
//!   binding refresh says `Serving` too, so the contact node's view heals within one
//!   refresh period after any doubt.

use super::*;

/// Refusals kept for the caller to log ([`Member::poll_event`]); counts are kept in
/// full.
const REFUSALS_KEPT: usize = 256;

/// A handoff this member refused as the acceptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The donor.
    pub donor: MemberId,
    /// The handoff.
    pub transfer: u64,
    /// Why.
    pub reason: String,
    /// The reason as a metrics label.
    pub label: &'static str,
}

impl Member {
    /// Refuses `transfer` from `to` and records why.
    pub(super) fn refuse(&mut self, to: MemberId, transfer: u64, reason: RefuseReason) {
        self.drop_incoming(transfer);
        self.stats.refused += 1;
        let label = reason.label();
        *self.refusal_counts.entry(label).or_default() += 1;
        if self.refusals.len() >= REFUSALS_KEPT {
            self.refusals.pop_front();
        }
        self.refusals.push_back(Refusal {
            donor: to,
            transfer,
            reason: reason.to_string(),
            label,
        });
        self.send_peer(to, PeerBody::Refused { transfer, reason });
    }

    /// Handoffs refused as the acceptor, by reason label.
    pub fn refusals_sent(&self) -> &BTreeMap<&'static str, u64> {
        &self.refusal_counts
    }

    /// `member` is up (again): greet it at the next poll.
    pub(super) fn member_came_up(&mut self, member: MemberId) {
        if member != self.cfg.id {
            self.greet.insert(member);
        }
    }

    /// Greets the members that came up since the last poll.
    pub(super) fn greet_members(&mut self, now: Instant) {
        let greet = std::mem::take(&mut self.greet);
        for member in greet {
            if self.excluded.contains(&member) {
                continue;
            }
            let served: Vec<(Ipv6Addr, bool)> = self
                .sessions
                .iter()
                .filter(|(_, s)| !s.handoff.is_frozen() && self.live(s) > 0)
                .map(|(c, s)| (*c, s.from_care_of))
                .collect();
            for &(client, _) in &served {
                self.send_peer(member, PeerBody::Probe { client });
            }
            for &(client, from_care_of) in &served {
                if from_care_of && self.contact_for(client) == member {
                    let me = self.cfg.id;
                    self.send_peer(member, PeerBody::Serving { client, member: me });
                }
            }
            let rebind = self.contact.take_deregistered(member, now);
            for client in rebind {
                self.send_peer(member, PeerBody::RefreshRequested { client });
            }
        }
    }

    /// A member said it serves `client` (contact node).
    pub(super) fn serving(&mut self, client: Ipv6Addr, member: MemberId) {
        self.contact.serving(client, member);
    }
}
