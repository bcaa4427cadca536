//! A segment's arrival (RFC 9293 §3.10.7): the SYN-SENT exchange, PAWS (RFC 7323 §5),
//! acceptability, RST and SYN checks, data into the receive buffer, and the peer's FIN.

use super::*;

impl Connection {
    /// Processes one segment from the peer (RFC 9293 §3.10.7).
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if self.frozen || self.state == State::Closed {
            return;
        }
        self.stats.segs_in += 1;
        match self.state {
            State::SynSent => self.handle_syn_sent(now, seg),
            _ => self.handle_synchronized(now, seg),
        }
    }

    /// [`Connection::handle_segment`] for a segment whose checksum is still to be
    /// verified ([`crate::wire::parse_tcp_deferred`], [`crate::wire::parse_deferred`]): an
    /// in-order payload is summed while it is copied into the receive buffer, any other
    /// is summed on its own, and the segment is processed only if the checksum verifies.
    /// Returns false, having changed nothing, when it does not.
    pub fn handle_segment_deferred(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        check: DeferredChecksum,
    ) -> bool {
        // Where the payload would go anyway: at RCV.NXT, inside the window.
        let in_place = !self.frozen
            && self.state.can_receive()
            && !seg.payload.is_empty()
            && seg.payload.len() <= self.recv.window()
            && self.recv_off(Seq::from(seg.seq_number)) == self.rcv_nxt() as i64;
        let sum = if in_place {
            self.recv.stage_summing(seg.payload)
        } else {
            checksum::sum(0, seg.payload)
        };
        if !check.verifies(sum) {
            self.recv.drop_staged();
            return false;
        }
        if in_place {
            self.recv.keep_staged(self.recv.next(), seg.payload.len());
        }
        self.handle_segment(now, seg);
        self.recv.drop_staged();
        true
    }

    pub(super) fn handle_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let ack = seg.ack_number.map(Seq::from);
        if let Some(a) = ack {
            // RFC 9293 §3.10.7.3: an ACK outside (ISS, SND.NXT] gets a RST (unless RST).
            if a.diff(self.iss) <= 0 || a.diff(self.seq_at(self.snd_max)) > 0 {
                if seg.control != TcpControl::Rst {
                    self.rst_pending = true;
                    self.rst_seq_override = Some(a);
                }
                return;
            }
        }
        if seg.control == TcpControl::Rst {
            if ack.is_some() {
                self.enter_closed(Some(TcpError::Reset));
            }
            return;
        }
        if seg.control != TcpControl::Syn {
            return;
        }
        self.take_syn_options(seg);
        self.irs = Seq::from(seg.seq_number);
        self.ts_recent = seg.timestamp.map_or(0, |t| t.tsval);
        self.snd_wnd = u64::from(seg.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = self.irs;
        self.last_recv = now;
        self.ack_now = true;
        if ack.is_some() {
            // Our SYN is acknowledged.
            self.snd_una = 1;
            self.snd_wl2 = ack.unwrap_or(self.iss);
            self.syn_acked(now);
            self.state = State::Established;
            self.events.push_back(Event::Connected);
        } else {
            // Simultaneous open: SYN-RECEIVED, resend our SYN with an ACK.
            self.state = State::SynReceived;
            self.syn_needed = true;
            self.snd_nxt = 0;
        }
    }

    pub(super) fn syn_acked(&mut self, now: Instant) {
        if let Some((off, sent)) = self.rtt_timing.take() {
            if off == 0 {
                self.rtt.sample(now.saturating_since(sent));
            }
        }
        self.retries = 0;
        self.timers.retransmit = None;
        if self.snd_nxt < 1 {
            self.snd_nxt = 1;
        }
        self.snd_max = self.snd_max.max(1);
        self.syn_needed = false;
    }

    /// RFC 7323 §5.3: PAWS, before the sequence check. Whether `seg` is dropped as old.
    pub(super) fn paws_rejects(&mut self, seg: &TcpRepr<'_>) -> bool {
        let rst = seg.control == TcpControl::Rst;
        let Some(ts) = seg.timestamp.filter(|_| self.opts.timestamps && !rst) else {
            return false;
        };
        if (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0 || self.state == State::SynReceived {
            return false;
        }
        self.stats.paws_drops += 1;
        // R1 answers an unacceptable segment with an ACK, but a pure ACK older than one
        // already taken (after a handoff: one the client sent the old way, forwarded by
        // the donor) tells nothing new and needs no answer; answering each one was an
        // ACK storm.
        let pure =
            seg.payload.is_empty() && matches!(seg.control, TcpControl::None | TcpControl::Psh);
        if !pure {
            self.ack_now = true;
        }
        true
    }

    pub(super) fn handle_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let seq = Seq::from(seg.seq_number);
        let syn = seg.control == TcpControl::Syn;
        let fin = seg.control == TcpControl::Fin;
        let rst = seg.control == TcpControl::Rst;
        let seg_start = self.recv_off(seq);
        let seg_len = seg.payload.len() as u64 + u64::from(syn) + u64::from(fin);
        let rcv_nxt = self.rcv_nxt() as i64;
        let window = self.advertisable_window() as i64;

        if self.paws_rejects(seg) {
            return;
        }

        // RFC 9293 §3.10.7.4: segment acceptability.
        let acceptable = if seg_len == 0 {
            // RFC 9293 says SEG.SEQ < RCV.NXT + RCV.WND; like Linux (tcp_sequence) we also
            // take a bare ACK at the right edge, where a peer whose window filled puts it.
            seg_start >= rcv_nxt && seg_start <= rcv_nxt + window
        } else if window == 0 {
            false
        } else {
            let end = seg_start + seg_len as i64 - 1;
            (seg_start >= rcv_nxt && seg_start < rcv_nxt + window)
                || (end >= rcv_nxt && end < rcv_nxt + window)
        };
        // A SYN-RECEIVED peer retransmitting its SYN: answer with the SYN-ACK again.
        if self.state == State::SynReceived && syn && seq == self.irs && seg.ack_number.is_none() {
            self.syn_needed = true;
            self.snd_nxt = 0;
            return;
        }
        // Zero window: still take ACK and RST from an in-sequence segment.
        let zero_window_in_seq = window == 0 && seg_start == rcv_nxt;
        if !acceptable && !zero_window_in_seq {
            self.stats.out_of_window += 1;
            if !rst {
                self.ack_now = true;
            }
            return;
        }

        if rst {
            // RFC 5961 §3.2: only an exact RCV.NXT resets; anything else in window gets a
            // challenge ACK.
            if seg_start == rcv_nxt {
                self.enter_closed(Some(TcpError::Reset));
            } else {
                self.challenge_ack();
            }
            return;
        }

        if syn {
            // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
            self.challenge_ack();
            return;
        }

        let Some(ack) = seg.ack_number.map(Seq::from) else {
            return;
        };
        self.last_recv = now;
        self.probes = 0;
        if self.config.keepalive.is_some() {
            self.timers.keepalive = self.config.keepalive.map(|k| now + k);
        }

        // RFC 7323 §4.3: remember the timestamp to echo.
        if let (true, Some(ts)) = (self.opts.timestamps, seg.timestamp) {
            let last = self.last_ack_sent as i64;
            if seg_start <= last && last < seg_start + seg_len.max(1) as i64 {
                self.ts_recent = ts.tsval;
            }
        }

        let ack_off = self.send_off(ack);
        if self.state == State::SynReceived && !self.syn_received_acked(now, seg, seq, ack, ack_off)
        {
            return;
        }

        if !self.process_ack(now, seg, seq, ack, ack_off) {
            return;
        }

        self.take_text(now, seg, seg_start, rcv_nxt, window);

        if fin && !self.peer_fin_done {
            let fin_data_off = (seg_start - 1).max(0) as u64 + seg.payload.len() as u64;
            self.peer_fin_at = Some(fin_data_off);
            self.ack_now = true;
        }
        self.maybe_take_fin(now);
    }

    /// SYN-RECEIVED, an acceptable segment's ACK (RFC 9293 §3.10.7.4, fifth step): one
    /// that acknowledges our SYN completes the handshake; any other is answered with a
    /// RST (returns `false`).
    fn syn_received_acked(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        seq: Seq,
        ack: Seq,
        ack_off: i64,
    ) -> bool {
        if ack_off >= 1 && ack_off as u64 <= self.snd_max {
            self.snd_una = 1;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.snd_wnd = u64::from(seg.window_len) << self.opts.send_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.syn_acked(now);
            self.state = if self.fin_queued {
                State::FinWait1
            } else {
                State::Established
            };
            self.events.push_back(Event::Connected);
            true
        } else {
            self.rst_pending = true;
            self.rst_seq_override = Some(ack);
            false
        }
    }

    /// The segment's text (RFC 9293 §3.10.7.4, seventh step): into the receive buffer,
    /// and the ACK it calls for: at once when out of order or filling a gap (RFC 5681
    /// §4.2), else delayed until every second segment.
    #[inline(always)]
    fn take_text(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        seg_start: i64,
        rcv_nxt: i64,
        window: i64,
    ) {
        if !seg.payload.is_empty() && self.state.can_receive() && window > 0 {
            let data_off = (seg_start - 1).max(0) as u64;
            let skip = ((rcv_nxt - seg_start).max(0) as usize).min(seg.payload.len());
            let off = data_off + skip as u64;
            let had_gaps = self.recv.has_gaps();
            let advanced = self.recv.insert(off, &seg.payload[skip..]);
            if advanced > 0 {
                self.push_event(Event::Readable);
            }
            // A segment longer than our MSS is several coalesced ones (GRO, a TUN
            // device's offload): acknowledged at once, as two full segments would be.
            let coalesced = seg.payload.len() > usize::from(self.config.announced_mss());
            if seg_start != rcv_nxt || had_gaps || self.recv.has_gaps() || coalesced {
                self.ack_now = true;
            } else {
                self.acks_owed += 1;
                match self.config.delayed_ack {
                    Some(delay) if self.acks_owed < 2 => {
                        if self.timers.delayed_ack.is_none() {
                            self.timers.delayed_ack = Some(now + delay);
                        }
                    }
                    _ => self.ack_now = true,
                }
            }
        } else if !seg.payload.is_empty() {
            self.ack_now = true;
        }
    }

    pub(super) fn maybe_take_fin(&mut self, now: Instant) {
        let Some(at) = self.peer_fin_at else {
            return;
        };
        if self.peer_fin_done || self.recv.next() != at {
            return;
        }
        self.peer_fin_done = true;
        self.ack_now = true;
        self.events.push_back(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.fin_off().is_some_and(|f| self.snd_una > f) {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            State::TimeWait => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn challenge_ack(&mut self) {
        self.stats.challenge_acks += 1;
        self.ack_now = true;
    }
}
