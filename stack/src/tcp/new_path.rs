//! A connection taken over by another node in a handoff: it goes on on that node's own
//! path (RTT from its own measurement, the congestion state of a fresh path, RFC 9000
//! §9.4), while the bytes the previous holder sent on the old path neither count against
//! the new window nor hold it hostage (see docs/handoff-timing.md).

use crate::time::{Duration, Instant};

use super::connection::Connection;

/// What a connection adopted in a handoff remembers of the path it came from (see
/// [`Connection::adopt_new_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OldPath {
    /// Send offset one past the last sequence number the previous holder sent: what lies
    /// below went out on its path and is not counted in this path's flight.
    pub(crate) end: u64,
    /// Until when segments sent on the old path may still be on their way to the peer:
    /// before then, a hole among them is reordering across the two paths, not loss.
    pub(crate) due: Instant,
    /// This path's bytes (above `end`) SACKed while the old path's held the cumulative
    /// ACK back, and already counted as acknowledged by the congestion controller: the
    /// cumulative ACK that covers them later does not count them again.
    pub(crate) sack_credit: u64,
    /// New data waits until then, so that it reaches the peer as the old path's last
    /// segments do, not before them (see [`Connection::adopt_new_path`]).
    pub(crate) hold_until: Option<Instant>,
}

impl Connection {
    /// SACKed bytes of this path (above the old path's) while an old path is pending.
    pub(crate) fn sacked_above_old_path(&self) -> u64 {
        let Some(o) = self.old_path else {
            return 0;
        };
        self.sacked
            .iter()
            .map(|r| r.1.saturating_sub(r.0.max(o.end)))
            .sum()
    }

    /// While the old path's bytes hold the cumulative ACK back, SACKs are this path's
    /// acknowledgments (as QUIC's, RFC 9002 §7.3, which acknowledge every packet): what
    /// they newly cover leaves the flight (see `pipe`) and grows the window.
    pub(crate) fn credit_new_path_sacks(&mut self, now: Instant, before: u64) {
        let newly = self.sacked_above_old_path().saturating_sub(before);
        if newly == 0 {
            return;
        }
        if let Some(o) = self.old_path.as_mut() {
            o.sack_credit += newly;
        }
        self.cc.on_ack(now, newly, self.rtt.srtt());
    }

    /// Takes the connection over onto this node's own path to the peer, after a handoff
    /// restored it here at `now`; `measured_rtt` is this node's own measurement of its
    /// round trip to the peer (the care-of test's CoTI/CoT exchange), if it has one, and
    /// `transit` the estimated time the state took from the previous holder to here (half
    /// the round trip between the two nodes), if known.
    ///
    /// - RTT and RTO start from the measurement as from a first sample (RFC 6298 §2.2:
    ///   SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR, never below the minimum RTO), or
    ///   from the initial RTO with no measurement (§2.1); the previous holder's estimate
    ///   was of its own path. The retransmission timer is re-armed no earlier than one
    ///   new RTO from now, and never earlier than the previous holder's deadline.
    /// - Congestion control starts as on a fresh path (RFC 9000 §9.4): the initial window,
    ///   no burst above it; a slow-start threshold from an earlier loss is kept (see
    ///   [`Congestion::restart_on_new_path`]).
    /// - Data the previous holder sent on its path and that is not yet acknowledged does
    ///   not count against the new window (its ACKs may come back the old way, late), and
    ///   its ACKs do not grow the new window; it is still resent if it is lost. The send
    ///   buffer grows by that much until it is acknowledged, so that the application can
    ///   go on writing at once. Until a hole among those segments can be known (half the
    ///   old round trip for them to reach the peer, half the new one for its SACKs to
    ///   come back, and an eighth of the old one for jitter), it is not taken for loss.
    /// - When this path is the shorter one (`transit` + its one-way delay below the old
    ///   path's one-way delay), new data waits for the difference: sent at once, it would
    ///   overtake the old path's last segments and draw duplicate ACKs, and then wait a
    ///   whole new round trip for the cumulative ACK the old path holds back. Sent then,
    ///   it reaches the peer just as they do: the gap the peer sees is the physical floor.
    pub fn adopt_new_path(
        &mut self,
        now: Instant,
        measured_rtt: Option<Duration>,
        transit: Option<Duration>,
    ) {
        let old_srtt = self.rtt.srtt();
        let old_rtt = old_srtt.unwrap_or_else(|| self.rtt.rto());
        // How much later the old path's last segment reaches the peer than one sent here
        // now would (one-way delays as half round trips).
        let lead = match (old_srtt, measured_rtt, transit) {
            (Some(old), Some(new), Some(t)) => {
                (old.total_micros() / 2).checked_sub(new.total_micros() / 2 + t.total_micros())
            }
            _ => None,
        };
        match measured_rtt {
            Some(r) => self.rtt.restart_from(r),
            None => self.rtt.restart_unmeasured(self.config.initial_rto),
        }
        // Karn's rule in spirit: a sample across the move would time the handoff too.
        self.rtt_timing = None;
        self.cc
            .restart_on_new_path(self.config.initial_window_segments);
        // After a timeout at the previous holder (SND.NXT rewound, go-back-N under way),
        // everything outstanding is to be resent here, on this path's window.
        let go_back_n = self.snd_nxt < self.snd_max && !self.in_recovery;
        if self.snd_max > self.snd_una && self.state.is_synchronized() && !go_back_n {
            // The old path's last segments reach the peer within its one-way delay, and
            // the peer's word of a hole left among them comes back within this path's:
            // holes are losses only after that, with an eighth of the old round trip for
            // jitter (RFC 8985's reordering window is a quarter of the minimum RTT).
            let new_rtt = measured_rtt.unwrap_or(old_rtt);
            let due = (old_rtt.total_micros() / 2)
                + (new_rtt.total_micros() / 2)
                + (old_rtt.total_micros() / 8);
            self.old_path = Some(OldPath {
                end: self.snd_max,
                due: now + Duration::from_micros(due),
                sack_credit: 0,
                hold_until: lead
                    .filter(|l| *l > 0)
                    .map(|l| now + Duration::from_micros(l)),
            });
            let earliest = now + self.rtt.rto();
            self.timers.retransmit =
                Some(self.timers.retransmit.map_or(earliest, |t| t.max(earliest)));
        } else {
            self.old_path = None;
        }
        self.release_old_path();
    }

    /// Ends the old path's exemption once its bytes are acknowledged, and sizes the send
    /// buffer: the configured size plus the old path's bytes still held.
    pub(crate) fn release_old_path(&mut self) {
        if self
            .old_path
            .is_some_and(|o| self.snd_una >= o.end && o.sack_credit == 0)
        {
            self.old_path = None;
        }
        let old_bytes = self
            .old_path
            .map_or(0, |o| o.end.saturating_sub(self.snd_una));
        self.send
            .set_capacity(self.config.send_buffer + old_bytes as usize);
    }
}
