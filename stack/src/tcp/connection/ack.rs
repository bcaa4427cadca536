//! The ACK field of an acceptable segment (RFC 9293 §3.10.7.4): new data acknowledged,
//! round-trip samples (RFC 6298), duplicate ACKs, SACK blocks (RFC 2018) and loss
//! detection with fast recovery (RFC 6675, RFC 5681).

use super::*;

impl Connection {
    /// Processes the ACK field; returns false when the segment must be dropped.
    pub(super) fn process_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        seq: Seq,
        ack: Seq,
        ack_off: i64,
    ) -> bool {
        // RFC 5961 §5.2: acceptable ACKs are in [SND.UNA - MAX.SND.WND, SND.NXT].
        if ack_off > self.snd_max as i64 {
            self.ack_now = true;
            return false;
        }
        if ack_off < self.snd_una as i64 - self.max_snd_wnd as i64 {
            self.challenge_ack();
            return false;
        }
        let ack_off = ack_off.max(0) as u64;
        let window = u64::from(seg.window_len) << self.opts.send_wscale;
        let new_path_sacked = self.sacked_above_old_path();
        let sack_grew = self.take_sack_blocks(seg);
        if sack_grew && !self.in_recovery {
            self.credit_new_path_sacks(now, new_path_sacked);
        }
        let advanced = ack_off > self.snd_una;
        if advanced || sack_grew {
            // Before loss detection: an acknowledged probe is no loss (RFC 4821 §7.6.1).
            self.pmtu_on_ack(now, ack_off);
        }

        if advanced {
            self.new_ack(now, ack_off);
            if sack_grew {
                // A cumulative ACK that also reports new SACK information still tells of
                // holes (RFC 6675 §5: the scoreboard drives IsLost).
                self.check_loss(now);
            }
        } else if ack_off == self.snd_una && self.snd_max > self.snd_una {
            // RFC 6675 §2: with SACK, a duplicate ACK is one that carries SACK information
            // not known before, data or not; RFC 5681 §2: without, one that carries no data
            // and no window change.
            let classic =
                seg.payload.is_empty() && seg.control == TcpControl::None && window == self.snd_wnd;
            if sack_grew || (!self.opts.sack && classic) {
                self.duplicate_ack(now);
            }
        }

        // RFC 9293 §3.10.7.4: window update.
        if self.snd_wl1.diff(seq) < 0 || (self.snd_wl1 == seq && self.snd_wl2.diff(ack) <= 0) {
            let was_zero = self.snd_wnd == 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if window > 0 && was_zero {
                self.timers.persist = None;
            }
        }

        // Our FIN acknowledged?
        if let Some(fin) = self.fin_off() {
            if self.snd_una > fin {
                match self.state {
                    State::FinWait1 => self.state = State::FinWait2,
                    State::Closing => self.enter_time_wait(now),
                    State::LastAck => {
                        self.enter_closed(None);
                        return false;
                    }
                    _ => {}
                }
            }
        }
        true
    }

    pub(super) fn new_ack(&mut self, now: Instant, ack_off: u64) {
        let acked = ack_off - self.snd_una;
        if let Some((off, sent)) = self.rtt_timing {
            if ack_off > off {
                // Karn's rule: `rtt_timing` is cleared whenever anything is retransmitted.
                self.rtt.sample(now.saturating_since(sent));
                self.rtt_timing = None;
            }
        }
        let old_una = self.snd_una;
        // Bytes the previous holder sent on its own path say nothing of this path's
        // capacity (RFC 9000 §9.4: a new path's controller counts only its own packets).
        let old_end = self.old_path.map_or(0, |o| o.end);
        let mut acked_here = ack_off.saturating_sub(old_una.max(old_end)).min(acked);
        if let Some(o) = self.old_path.as_mut() {
            let credited = o.sack_credit.min(acked_here);
            o.sack_credit -= credited;
            acked_here -= credited;
        }
        self.snd_una = ack_off;
        self.send
            .ack_to(ack_off.saturating_sub(1).min(self.send.end()));
        self.release_old_path();
        if self.snd_nxt < self.snd_una {
            self.snd_nxt = self.snd_una;
        }
        self.high_rxt = self.high_rxt.max(self.snd_una);
        self.sacked.retain_mut(|r| {
            r.0 = r.0.max(ack_off);
            r.0 < r.1
        });
        self.retries = 0;
        if self.in_recovery {
            if ack_off >= self.recovery_point {
                // Full acknowledgement: leave recovery (RFC 6582 §3.2 step 3): cwnd =
                // ssthresh; but after a handoff, with the old path's bytes still pending,
                // option 1, min(ssthresh, max(FlightSize, SMSS) + SMSS): this path's
                // flight may be far below a threshold learned on the old one, and a
                // window of ssthresh at once would be a burst on a path not measured.
                self.in_recovery = false;
                self.dupacks = 0;
                let mss = u64::from(self.effective_mss());
                self.cc.cwnd = if self.old_path.is_some() {
                    self.cc.ssthresh.min(self.pipe().max(mss) + mss)
                } else {
                    self.cc.ssthresh
                }
                .max(mss);
                if let Some(t) = self.pmtu.ssthresh_before_probe_loss.take() {
                    self.cc.ssthresh = t;
                }
            } else if !self.opts.sack || self.sacked.is_empty() {
                // Partial acknowledgement (RFC 6582 §3.2 step 4): resend the next segment.
                self.high_rxt = self.snd_una;
                self.dupacks = self
                    .dupacks
                    .saturating_sub((acked / u64::from(self.effective_mss())) as u32);
            }
        } else {
            self.dupacks = 0;
            let syn_or_fin = u64::from(old_una == 0);
            self.cc
                .on_ack(now, acked_here.saturating_sub(syn_or_fin), self.rtt.srtt());
        }
        self.timers.retransmit = if self.snd_una < self.snd_max {
            Some(now + self.rtt.rto())
        } else {
            None
        };
        if self.send.free() > 0 && self.state.can_send() {
            self.push_event(Event::Writable);
        }
    }

    pub(super) fn duplicate_ack(&mut self, now: Instant) {
        self.dupacks += 1;
        self.check_loss(now);
    }

    /// Enters loss recovery when DupThresh duplicate ACKs arrived or, with SACK, more than
    /// (DupThresh - 1) * SMSS bytes above SND.UNA are SACKed (RFC 6675 §4 IsLost).
    pub(super) fn check_loss(&mut self, now: Instant) {
        let mss = u64::from(self.effective_mss());
        let sacked_bytes: u64 = self.sacked.iter().map(|r| r.1 - r.0).sum();
        let mut trigger = self.dupacks >= 3 || (self.opts.sack && sacked_bytes > 2 * mss);
        // After a handoff, this path's segments may reach the peer before the previous
        // holder's last ones on the old path: until those are due, SACKs of this path's
        // data over a hole among them are reordering across the paths, not loss (RFC
        // 4653's reasoning: loss is inferred once reordering is excluded). SACKs of the
        // old path's own later bytes still tell of loss: one path keeps its order. The
        // RTO covers the rest.
        if let Some(o) = self.old_path {
            if now < o.due && self.snd_una < o.end {
                let sacked_old: u64 = self
                    .sacked
                    .iter()
                    .map(|r| r.1.min(o.end).saturating_sub(r.0))
                    .sum();
                trigger = self.opts.sack && sacked_old > 2 * mss;
            }
        }
        // RFC 6582 §3.2 step 2 / RFC 6675 §5: not again before SND.UNA reaches the point
        // the last recovery (or timeout) was about.
        if trigger
            && !self.in_recovery
            && self.snd_una >= self.recovery_point
            && self.snd_max > self.snd_una
        {
            let flight = self.snd_max - self.snd_una;
            self.in_recovery = true;
            self.recovery_point = self.snd_max;
            self.high_rxt = self.snd_una;
            if self.pmtu_on_loss(now) {
                // Only a probe was lost: recover it without a window reduction (leaving
                // recovery sets the window to `ssthresh`; the threshold before comes back
                // then, so that slow start goes on).
                self.pmtu.ssthresh_before_probe_loss = Some(self.cc.ssthresh);
                self.cc.ssthresh = self.cc.cwnd;
            } else {
                self.cc.on_fast_loss(flight);
            }
            self.stats.fast_recoveries += 1;
            self.rtt_timing = None;
        }
    }

    /// Merges SACK blocks into the scoreboard; returns whether it learned anything.
    pub(super) fn take_sack_blocks(&mut self, seg: &TcpRepr<'_>) -> bool {
        if !self.opts.sack {
            return false;
        }
        let mut grew = false;
        for (left, right) in seg.sack_ranges.iter().flatten() {
            let l = self.send_off(Seq(*left));
            let r = self.send_off(Seq(*right));
            // Ignore blocks that are invalid or not above SND.UNA (RFC 2018, D-SACK).
            if r <= l || l < self.snd_una as i64 || r > self.snd_max as i64 {
                continue;
            }
            grew |= insert_range(&mut self.sacked, (l as u64, r as u64));
        }
        grew
    }
}
