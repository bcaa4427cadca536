//! Segment output: what a connection sends next (`poll_transmit`), with loss recovery's
//! choice of what to retransmit (RFC 6675 NextSeg, RFC 6582 for peers without SACK).

use smoltcp::wire::{TcpControl, TcpRepr, TcpTimestampRepr};

use crate::time::Instant;
use crate::wire::{checksum, tcp};

use super::connection::{ts_clock, Connection};
use super::types::State;

/// The most TCP payload one super-segment carries with [`super::TcpConfig::tso_max`]:
/// the IPv6 payload length (16 bits) must hold it with a TCP header of 60 bytes and
/// a Mobile IPv6 header of 24 (an RH2 or a HAO), with room to spare.
pub const TSO_MAX_PAYLOAD: usize = 65_535 - 40 - 24 - 60;

/// A segment [`Connection::poll_transmit_segment`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitted {
    /// Length of the TCP segment (header and payload) in the buffer.
    pub len: usize,
    /// For a super-segment (only with [`super::TcpConfig::tso_max`]): the payload bytes
    /// per segment it is to be split into (each with a copy of its header; the last may
    /// be shorter). `None` for an ordinary segment.
    pub segment_size: Option<u16>,
}

/// What to put in one segment.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Send offsets covered: data in `[start, min(end, data_end))`, FIN if it is `end - 1`.
    start: u64,
    end: u64,
    syn: bool,
    fin: bool,
    rst: bool,
    ack: bool,
    /// A path MTU probe (RFC 4821 §7.3): the packet size it tests, which bounds the
    /// segment instead of the MSS in use.
    probe: Option<u16>,
}

impl Connection {
    /// Bytes in flight by the RFC 6675 "pipe" estimate.
    pub(crate) fn pipe(&self) -> u64 {
        self.pipe_all().saturating_sub(self.old_path_in_flight())
    }

    /// Bytes the previous holder sent on its own path (before a handoff) that are still in
    /// the network: neither acknowledged, SACKed, deemed lost nor resent here. They do not
    /// count against this path's window (RFC 9000 §9.4: a new path's congestion
    /// controller counts only what was sent on it). Outside recovery, the SACKed bytes of
    /// this path are left out too: they arrived.
    fn old_path_in_flight(&self) -> u64 {
        let Some(old) = self.old_path else {
            return 0;
        };
        if !self.in_recovery {
            // This path's SACKed bytes have left the network too (RFC 6675 §2 "pipe").
            let sacked_here: u64 = self
                .sacked
                .iter()
                .map(|r| r.1.saturating_sub(r.0.max(old.end)))
                .sum();
            return old.end.min(self.snd_nxt).saturating_sub(self.snd_una) + sacked_here;
        }
        // In recovery: above what was resent and above the highest SACKed byte (below it,
        // the holes are lost, RFC 6675 IsLost); without SACK the first segment is lost.
        let mut from = self.high_rxt.max(self.snd_una);
        if let Some(&(_, e)) = self.sacked.last() {
            from = from.max(e);
        } else if self.high_rxt <= self.snd_una {
            from += u64::from(self.effective_mss());
        }
        old.end.saturating_sub(from)
    }

    /// Bytes in flight by the RFC 6675 "pipe" estimate, the old path's included.
    fn pipe_all(&self) -> u64 {
        if !self.in_recovery {
            return self.snd_nxt.saturating_sub(self.snd_una);
        }
        let outstanding = self.snd_max - self.snd_una;
        let mss = u64::from(self.effective_mss());
        let (sacked, lost) = if self.opts.sack && !self.sacked.is_empty() {
            let sacked: u64 = self.sacked.iter().map(|r| r.1 - r.0).sum();
            // Holes below the highest SACKed byte not yet retransmitted are lost.
            let mut lost = 0;
            let mut p = self.high_rxt.max(self.snd_una);
            for &(s, e) in &self.sacked {
                if p < s {
                    lost += s - p;
                }
                p = p.max(e);
            }
            (sacked, lost)
        } else {
            let sacked = (u64::from(self.dupacks) * mss).min(outstanding);
            let lost = if self.high_rxt <= self.snd_una {
                mss.min(outstanding)
            } else {
                0
            };
            (sacked, lost)
        };
        outstanding.saturating_sub(sacked + lost)
    }

    /// The next range to retransmit during recovery, if any.
    fn next_hole(&self) -> Option<(u64, u64)> {
        let mss = u64::from(self.effective_mss());
        if self.opts.sack && !self.sacked.is_empty() {
            let mut p = self.high_rxt.max(self.snd_una);
            for &(s, e) in &self.sacked {
                if p < s {
                    return Some((p, s.min(p + mss)));
                }
                p = p.max(e);
            }
            return None;
        }
        (self.high_rxt <= self.snd_una && self.snd_max > self.snd_una)
            .then(|| (self.snd_una, self.snd_max.min(self.snd_una + mss)))
    }

    /// Offset one past the last data byte queued.
    fn data_end(&self) -> u64 {
        1 + self.send.end()
    }

    fn plan_data(&mut self, now: Instant) -> Option<Plan> {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return None;
        }
        let mss = u64::from(self.effective_mss());
        let cwnd = self.cc.cwnd.max(mss);
        let pipe = self.pipe();
        if self.in_recovery {
            if let Some((s, e)) = self.next_hole() {
                // RFC 6675 §5 (4.3), RFC 6582 §3.2: the first segment presumed lost (at
                // SND.UNA, not yet resent) goes at once, whatever the pipe; the rest
                // while pipe < cwnd.
                let first = s == self.snd_una && self.high_rxt <= self.snd_una;
                if first || pipe < cwnd {
                    let fin = self.fin_off().is_some_and(|f| f >= s && f < e);
                    return Some(Plan {
                        start: s,
                        end: e,
                        syn: false,
                        fin,
                        rst: false,
                        ack: true,
                        probe: None,
                    });
                }
                return None;
            }
        }
        let data_end = self.data_end();
        let fin_off = self.fin_off();
        let start = self.snd_nxt;
        if self
            .old_path
            .is_some_and(|o| start >= o.end && o.hold_until.is_some())
        {
            // New data waits for the old path's tail (see `adopt_new_path`).
            return None;
        }
        let avail = data_end.saturating_sub(start);
        let window_right = self.snd_una + self.snd_wnd;
        let window_room = window_right.saturating_sub(start);
        let cwnd_room = cwnd.saturating_sub(pipe);
        if let Some(probe) = self.plan_probe(now, start, avail.min(window_room).min(cwnd_room)) {
            return Some(probe);
        }
        let len = avail
            .min(self.burst_limit(mss))
            .min(window_room)
            .min(cwnd_room);
        let fin = fin_off.is_some_and(|f| f == start + len && f >= start) && cwnd_room > len;
        if len == 0 && !fin {
            return None;
        }
        // Data in flight (after a timeout rewound SND.NXT, what lies beyond it is not).
        let in_flight = self.snd_nxt > self.snd_una;
        if len < mss && len < avail && in_flight && !fin {
            // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): wait for room; with
            // nothing in flight no ACK would come to open it, so send what fits.
            return None;
        }
        if self.config.nagle && len < mss && in_flight && start >= self.snd_max && !fin {
            return None; // Nagle (RFC 9293 §3.7.4)
        }
        Some(Plan {
            start,
            end: start + len + u64::from(fin),
            syn: false,
            fin,
            rst: false,
            ack: true,
            probe: None,
        })
    }

    /// The most new data one segment may carry: the MSS, or with segmentation offload
    /// ([`super::TcpConfig::tso_max`]) as many whole MSS as fit it (`emit` trims to the
    /// segment size options leave).
    fn burst_limit(&self, mss: u64) -> u64 {
        let max = self.config.tso_max.min(TSO_MAX_PAYLOAD) as u64;
        if max > mss {
            max / mss * mss
        } else {
            mss
        }
    }

    /// A probe segment of new data at `start`, when one is due and `room` bytes (data,
    /// peer window and congestion window) allow it whole (RFC 4821 §7.3, §7.4).
    fn plan_probe(&self, now: Instant, start: u64, room: u64) -> Option<Plan> {
        if start != self.snd_max {
            return None;
        }
        let mtu = self.probe_mtu(now)?;
        let len = u64::from(self.probe_payload(mtu));
        (room >= len).then_some(Plan {
            start,
            end: start + len,
            syn: false,
            fin: false,
            rst: false,
            ack: true,
            probe: Some(mtu),
        })
    }

    /// Writes the next segment to send into `buf` (TCP header and payload, checksummed
    /// over the connection's addresses) and returns its length, or `None` when there is
    /// nothing to send now. With [`super::TcpConfig::tso_max`] set the segment may be a
    /// super-segment: use [`Connection::poll_transmit_segment`] to learn its segment size.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_segment(now, buf).map(|e| e.len)
    }

    /// [`Connection::poll_transmit`], saying whether the segment is a super-segment to be
    /// split ([`Emitted::segment_size`]). A super-segment's checksum is complete over the
    /// whole of it (what a receiver of it unsplit would check); a splitter that fills in
    /// per-segment checksums starts from the pseudo-header's sum
    /// ([`crate::wire::checksum::pseudo_header`] over the same addresses).
    pub fn poll_transmit_segment(&mut self, now: Instant, buf: &mut [u8]) -> Option<Emitted> {
        if self.frozen {
            return None;
        }
        if self.rst_pending {
            self.rst_pending = false;
            let plan = Plan {
                start: self.snd_nxt,
                end: self.snd_nxt,
                syn: false,
                fin: false,
                rst: true,
                ack: self.rst_seq_override.is_none(),
                probe: None,
            };
            return self.emit(now, plan, buf);
        }
        if self.state == State::Closed {
            return None;
        }
        if self.syn_needed && matches!(self.state, State::SynSent | State::SynReceived) {
            let plan = Plan {
                start: 0,
                end: 1,
                syn: true,
                fin: false,
                rst: false,
                ack: self.state == State::SynReceived,
                probe: None,
            };
            return self.emit(now, plan, buf);
        }
        if let Some(plan) = self.plan_data(now) {
            return self.emit(now, plan, buf);
        }
        // Zero window with data waiting and nothing in flight: persist (RFC 9293 §3.8.6.1).
        if self.state.is_synchronized()
            && self.snd_wnd == 0
            && (self.data_end() > self.snd_nxt || self.fin_off().is_some_and(|f| f >= self.snd_nxt))
            && self.snd_nxt == self.snd_una
            && self.timers.retransmit.is_none()
            && self.timers.persist.is_none()
            && !self.probe_pending
        {
            self.timers.persist = Some(now + self.rtt.rto());
        }
        if self.probe_pending && self.state.is_synchronized() {
            self.probe_pending = false;
            // A probe: one already-acknowledged sequence number, which draws an ACK.
            let at = self.snd_una.saturating_sub(1);
            let plan = Plan {
                start: at,
                end: at,
                syn: false,
                fin: false,
                rst: false,
                ack: true,
                probe: None,
            };
            return self.emit(now, plan, buf);
        }
        if self.ack_now && self.state != State::SynSent {
            // A pure ACK carries the highest sequence number sent, capped at the right edge
            // of the peer's window (as Linux's tcp_acceptable_seq): after a timeout rewound
            // SND.NXT, an older one could fall below the peer's RCV.NXT and start an ACK
            // war; one past the window would be refused by a peer whose window is zero.
            let at = self
                .snd_max
                .min(self.snd_una + self.snd_wnd)
                .max(self.snd_una);
            let plan = Plan {
                start: at,
                end: at,
                syn: false,
                fin: false,
                rst: false,
                ack: true,
                probe: None,
            };
            return self.emit(now, plan, buf);
        }
        None
    }

    fn window_field(&self, syn: bool) -> u16 {
        let win = self.advertisable_window();
        let shifted = if syn {
            win
        } else {
            win >> self.opts.recv_wscale
        };
        shifted.min(u64::from(u16::MAX)) as u16
    }

    fn emit(&mut self, now: Instant, plan: Plan, buf: &mut [u8]) -> Option<Emitted> {
        // One copy of `emit_kind` per kind of segment: in the one that carries data (and
        // ACKs), everything only a SYN or a RST needs is known to be off at compile time.
        match (plan.syn, plan.rst) {
            (true, _) => self.emit_kind::<true, false>(now, plan, buf),
            (false, true) => self.emit_kind::<false, true>(now, plan, buf),
            (false, false) => self.emit_kind::<false, false>(now, plan, buf),
        }
    }

    #[inline(always)]
    fn emit_kind<const SYN: bool, const RST: bool>(
        &mut self,
        now: Instant,
        plan: Plan,
        buf: &mut [u8],
    ) -> Option<Emitted> {
        debug_assert!(plan.syn == SYN && plan.rst == RST);
        let plan = Plan {
            syn: SYN,
            rst: RST,
            ..plan
        };
        let data_end = self.data_end();
        let data_start = plan.start.max(1);
        let mut data_stop = plan.end.min(data_end).max(data_start);
        let mut data_len = if plan.syn || plan.rst {
            0
        } else {
            (data_stop - data_start) as usize
        };
        let mut plan = plan;
        let rcv_nxt = self.rcv_nxt();
        let (mut repr, acking) =
            self.segment_header(now, &plan, data_len > 0 && data_stop == data_end);
        let header_len = tcp::header_len(&repr);
        // RFC 6691: TCP options count against the peer's MSS (and the path MTU's).
        let mss = match plan.probe {
            Some(mtu) => self.pmtu.mss_for(mtu),
            None => self.opts.send_mss,
        };
        let room = usize::from(mss).saturating_sub(header_len - 20).max(1);
        // With segmentation offload: whole segments of `room` bytes, up to `tso_max` and
        // what `buf` holds; the last may be short only where the data ends.
        let tso = !SYN && !RST && plan.probe.is_none() && self.config.tso_max > room;
        let max_data = if tso {
            let fits = buf.len().saturating_sub(header_len);
            (self.config.tso_max.min(TSO_MAX_PAYLOAD).min(fits) / room * room).max(room)
        } else {
            room
        };
        let mut keep = data_len.min(max_data);
        if keep > room && keep % room != 0 && data_start + keep as u64 != data_end {
            keep -= keep % room;
        }
        if keep < data_len {
            data_len = keep;
            data_stop = data_start + keep as u64;
            plan.fin = false;
            repr.control = TcpControl::None;
        }
        let segment_size = (data_len > room).then_some(room as u16);
        let total = header_len + data_len;
        if buf.len() < total {
            return None;
        }
        let (copied, payload_sum) = self
            .send
            .copy_out_summing(data_start - 1, &mut buf[header_len..total]);
        debug_assert_eq!(copied, data_len);
        tcp::emit_header(&repr, buf);
        // The checksum: pseudo-header + header (checksum field zero) + the payload's sum
        // taken while copying it (the header is a multiple of 4 bytes long).
        let head = checksum::pseudo_header(&self.tuple.local, &self.tuple.remote, 6, total as u32);
        let head = checksum::sum(head, &buf[..header_len]);
        let sum = !checksum::add(head, payload_sum);
        buf[16..18].copy_from_slice(&sum.to_be_bytes());
        self.stats.segs_out += data_len.div_ceil(room).max(1) as u64;
        let emitted = Emitted {
            len: total,
            segment_size,
        };
        if plan.rst {
            return Some(emitted);
        }
        if acking {
            self.last_ack_sent = rcv_nxt;
            self.last_edge_sent = self.recv.next() + self.advertisable_window();
            self.ack_now = false;
            self.acks_owed = 0;
            self.timers.delayed_ack = None;
        }
        if plan.syn || plan.fin || data_len > 0 {
            self.consumed(now, &plan, data_start, data_stop);
        }
        Some(emitted)
    }

    /// The header of the segment `plan` describes (no payload yet), and whether it
    /// carries an ACK. `push`: the segment ends the data there is to send.
    #[inline(always)]
    fn segment_header(
        &mut self,
        now: Instant,
        plan: &Plan,
        push: bool,
    ) -> (TcpRepr<'static>, bool) {
        let rcv_nxt = self.rcv_nxt();
        let timestamps = if plan.syn {
            self.config.timestamps && (self.state == State::SynSent || self.opts.timestamps)
        } else {
            self.opts.timestamps && !plan.rst
        };
        let tsval = ts_clock(now).wrapping_add(self.ts_offset);
        let (seq, ack) = match self.rst_seq_override.take() {
            Some(s) if plan.rst => (s, None),
            _ => (
                self.seq_at(if plan.syn { 0 } else { plan.start }),
                plan.ack.then(|| self.rcv_seq_at(rcv_nxt)),
            ),
        };
        let syn_ack = plan.syn && self.state == State::SynReceived;
        let repr = TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            control: if plan.rst {
                TcpControl::Rst
            } else if plan.syn {
                TcpControl::Syn
            } else if plan.fin {
                TcpControl::Fin
            } else if push {
                TcpControl::Psh
            } else {
                TcpControl::None
            },
            seq_number: seq.into(),
            ack_number: ack.map(Into::into),
            window_len: if plan.rst {
                0
            } else {
                self.window_field(plan.syn)
            },
            window_scale: (plan.syn
                && self.config.window_scaling
                && (!syn_ack || self.opts.recv_wscale > 0 || self.opts.send_wscale > 0))
                .then(|| self.config.window_scale()),
            max_seg_size: plan.syn.then(|| self.config.announced_mss()),
            sack_permitted: plan.syn && self.config.sack && (!syn_ack || self.opts.sack),
            sack_ranges: self.sack_blocks(plan),
            timestamp: timestamps.then(|| {
                TcpTimestampRepr::new(
                    tsval,
                    if self.state == State::SynSent {
                        0
                    } else {
                        self.ts_recent
                    },
                )
            }),
            payload: &[],
        };
        (repr, ack.is_some())
    }

    /// Up to three SACK blocks (RFC 2018) for what arrived beyond a gap.
    #[inline(always)]
    fn sack_blocks(&self, plan: &Plan) -> [Option<(u32, u32)>; 3] {
        let mut out = [None; 3];
        if self.opts.sack && self.recv.has_gaps() && !plan.syn && !plan.rst {
            for (i, (l, r)) in self.recv.sack_ranges(3).into_iter().enumerate() {
                out[i] = Some((self.rcv_seq_at(1 + l).0, self.rcv_seq_at(1 + r).0));
            }
        }
        out
    }

    /// Bookkeeping after a segment that takes sequence space went out: send variables,
    /// Karn's rule for RTT timing (RFC 6298 §3), the retransmission timer, and a probe.
    #[inline(always)]
    fn consumed(&mut self, now: Instant, plan: &Plan, data_start: u64, data_stop: u64) {
        let end = if plan.syn {
            1
        } else {
            data_stop + u64::from(plan.fin)
        };
        let start = if plan.syn { 0 } else { plan.start };
        let retransmission = start < self.snd_max;
        if retransmission {
            self.stats.retransmits += 1;
            self.rtt_timing = None;
        } else if self.rtt_timing.is_none() && self.retries == 0 {
            self.rtt_timing = Some((start, now));
        }
        if self.in_recovery && start < self.snd_nxt {
            self.high_rxt = self.high_rxt.max(end);
        } else {
            self.snd_nxt = self.snd_nxt.max(end);
        }
        if let Some(mtu) = plan.probe {
            self.probe_sent(data_start, data_stop, mtu);
        }
        if plan.syn {
            self.syn_needed = false;
            self.snd_nxt = self.snd_nxt.max(1);
        }
        self.snd_max = self.snd_max.max(end);
        if self.timers.retransmit.is_none() {
            self.timers.retransmit = Some(now + self.rtt.rto());
        }
    }
}
