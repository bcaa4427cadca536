//! What the node reports of its member's events: handoffs it started that ended (logged
//! once, and answered to the `vany ctl handoff` waiting for them) and handoffs it refused
//! (logged through the per-reason limiter); with `--events`, every one of them and every
//! handoff it accepted that committed, as a JSON line.

use std::time::Instant as StdInstant;

use super::*;
use crate::group::member::{HandoffOutcome, HandoffRecord, MemberEvent};
use crate::node::events::EventLine;

impl<I: PacketIo> Node<I> {
    /// Logs and answers every event the member has for the node.
    pub(super) fn report_member_events(&mut self) {
        while let Some(e) = self.member.poll_event() {
            if let Some(log) = &self.event_log {
                let now = self.clock.now();
                log.write(&match &e {
                    MemberEvent::HandoffEnded(r) => EventLine::handoff(r, now),
                    MemberEvent::Accepted(r) => EventLine::accepted(r, now),
                    MemberEvent::Refused(r) => EventLine::refused(self.cfg.id, r, now),
                });
            }
            let r = match e {
                MemberEvent::HandoffEnded(r) => {
                    self.handoff_done(&r);
                    continue;
                }
                MemberEvent::Accepted(_) => continue,
                MemberEvent::Refused(r) => r,
            };
            if !self.log_limit.allow(StdInstant::now(), r.label) {
                continue;
            }
            tracing::warn!(
                donor = r.donor,
                transfer = r.transfer,
                reason = r.label,
                "refused a handoff: {}",
                r.reason
            );
        }
    }

    /// A handoff started here ended: logged once (a failure with its reason, through the
    /// per-reason [`LogLimit`]; `/metrics` counts them all by reason from the handoff
    /// log) and told to the `vany ctl handoff`
    /// waiting for it.
    fn handoff_done(&mut self, r: &HandoffRecord) {
        let millis = r
            .committed
            .map(|c| c.saturating_since(r.started).total_micros() as f64 / 1000.0);
        match (&r.failure, r.failure_label) {
            (Some(why), Some(label)) if self.log_limit.allow(StdInstant::now(), label) => {
                tracing::warn!(
                    client = %r.client,
                    to = r.to,
                    reason = %r.reason,
                    outcome = ?r.outcome,
                    "handoff failed: {why}"
                );
            }
            (Some(_), Some(_)) => {} // counted in `/metrics`, summarized by the limiter
            _ => tracing::info!(
                client = %r.client,
                to = r.to,
                reason = %r.reason,
                connections = r.connections,
                snapshot_bytes = r.snapshot_bytes,
                millis = ?millis,
                "handoff committed"
            ),
        }
        let Some(i) = self
            .waiting
            .iter()
            .position(|w| w.client == r.client && w.to == r.to)
        else {
            return;
        };
        let w = self.waiting.remove(i);
        let answer = match (&r.failure, millis) {
            (Some(why), _) => Response::error(format!(
                "handoff of {} to member {} {}: {why}",
                r.client,
                r.to,
                outcome_word(r.outcome)
            )),
            (None, ms) => Response::Done {
                message: format!(
                    "committed: {} moved to member {} ({} connections, {} bytes frozen{})",
                    r.client,
                    r.to,
                    r.connections,
                    r.snapshot_bytes,
                    ms.map(|m| format!(", {m:.1} ms from start to commit"))
                        .unwrap_or_default()
                ),
            },
        };
        let _ = w.reply.send(answer);
    }
}

/// How a failed handoff ended, in words.
fn outcome_word(o: HandoffOutcome) -> &'static str {
    match o {
        HandoffOutcome::Refused => "was refused",
        HandoffOutcome::TimedOut => "timed out",
        HandoffOutcome::Abandoned => "was called off",
        HandoffOutcome::Committed => "committed",
        HandoffOutcome::Pending => "is under way",
    }
}
