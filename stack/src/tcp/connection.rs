//! One TCP connection as a sans-IO state machine (RFC 9293), whose whole state is plain
//! owned data: it is serialized as is for a handoff (see `snapshot`).
//!
//! Sequence numbers are mapped once, at the edge, to 64-bit *sequence offsets* relative
//! to the initial sequence number: offset 0 is the SYN, offset `1 + n` is data byte `n`,
//! and the FIN follows the last data byte. Nothing inside wraps.

use std::collections::VecDeque;

use smoltcp::wire::{TcpControl, TcpRepr};

use crate::time::{Duration, Instant};
use crate::wire::{checksum, DeferredChecksum};

use super::buffer::{RecvBuffer, SendBuffer};
use super::config::TcpConfig;
use super::congestion::Congestion;
use super::new_path::OldPath;
use super::pmtu::PathMtu;
use super::rtt::RttEstimator;
use super::seq::Seq;
use super::types::{ConnStats, Event, FourTuple, State, TcpError};

mod ack;
mod input;

/// Deadlines, stored as data (never callbacks) so that state stays serializable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Timers {
    pub(crate) retransmit: Option<Instant>,
    pub(crate) delayed_ack: Option<Instant>,
    pub(crate) persist: Option<Instant>,
    pub(crate) keepalive: Option<Instant>,
    pub(crate) time_wait: Option<Instant>,
}

impl Timers {
    fn earliest(&self) -> Option<Instant> {
        [
            self.retransmit,
            self.delayed_ack,
            self.persist,
            self.keepalive,
            self.time_wait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn shift(&mut self, old: Instant, new: Instant) {
        for t in [
            &mut self.retransmit,
            &mut self.delayed_ack,
            &mut self.persist,
            &mut self.keepalive,
            &mut self.time_wait,
        ] {
            *t = t.map(|at| rebase(at, old, new));
        }
    }
}

/// Moves `at` from a clock where it is `now == old` to one where `now == new`.
pub(crate) fn rebase(at: Instant, old: Instant, new: Instant) -> Instant {
    let delta = at.total_micros() - old.total_micros();
    Instant::from_micros(new.total_micros().saturating_add(delta))
}

/// Options the peer offered that both sides use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Negotiated {
    /// The peer's MSS (what we may send).
    pub(crate) send_mss: u16,
    /// Shift applied to windows the peer advertises.
    pub(crate) send_wscale: u8,
    /// Shift applied to windows we advertise.
    pub(crate) recv_wscale: u8,
    /// Timestamps in use.
    pub(crate) timestamps: bool,
    /// SACK in use.
    pub(crate) sack: bool,
}

/// A TCP connection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub(crate) tuple: FourTuple,
    pub(crate) state: State,
    pub(crate) config: TcpConfig,
    pub(crate) opts: Negotiated,
    pub(crate) iss: Seq,
    pub(crate) irs: Seq,

    // Send side, in sequence offsets from ISS.
    pub(crate) send: SendBuffer,
    pub(crate) snd_una: u64,
    pub(crate) snd_nxt: u64,
    pub(crate) snd_max: u64,
    pub(crate) fin_queued: bool,
    pub(crate) snd_wnd: u64,
    pub(crate) max_snd_wnd: u64,
    pub(crate) snd_wl1: Seq,
    pub(crate) snd_wl2: Seq,

    // Receive side, in sequence offsets from IRS.
    pub(crate) recv: RecvBuffer,
    /// Data offset of the peer's FIN, once seen (possibly out of order).
    pub(crate) peer_fin_at: Option<u64>,
    pub(crate) peer_fin_done: bool,
    pub(crate) last_ack_sent: u64,
    /// Right edge of the last window we advertised, as a data offset.
    pub(crate) last_edge_sent: u64,

    // Timestamps (RFC 7323): our TSval = now in ms + ts_offset.
    pub(crate) ts_offset: u32,
    pub(crate) ts_recent: u32,

    // Loss detection and recovery.
    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Congestion,
    pub(crate) rtt_timing: Option<(u64, Instant)>,
    pub(crate) dupacks: u32,
    pub(crate) in_recovery: bool,
    pub(crate) recovery_point: u64,
    pub(crate) high_rxt: u64,
    /// SACKed ranges above SND.UNA, sorted and merged (RFC 6675 scoreboard).
    pub(crate) sacked: Vec<(u64, u64)>,
    /// Set while data sent on another node's path (before a handoff) is unacknowledged.
    pub(crate) old_path: Option<OldPath>,
    pub(crate) retries: u32,
    pub(crate) probes: u32,
    pub(crate) last_recv: Instant,
    /// Path MTU discovery (RFC 8201, RFC 4821; see `pmtu`).
    pub(crate) pmtu: PathMtu,

    pub(crate) timers: Timers,
    pub(crate) ack_now: bool,
    pub(crate) acks_owed: u32,
    pub(crate) rst_pending: bool,
    /// For a RST answering an unacceptable ACK: its sequence number (= SEG.ACK), no ACK.
    pub(crate) rst_seq_override: Option<Seq>,
    pub(crate) probe_pending: bool,
    pub(crate) syn_needed: bool,
    pub(crate) frozen: bool,
    pub(crate) error: Option<TcpError>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: ConnStats,
}

/// TSval clock: milliseconds.
pub(crate) fn ts_clock(now: Instant) -> u32 {
    (now.total_micros() / 1000) as u32
}

impl Connection {
    fn new(config: &TcpConfig, tuple: FourTuple, iss: Seq, now: Instant, state: State) -> Self {
        let mss = config.announced_mss();
        Connection {
            tuple,
            state,
            config: config.clone(),
            opts: Negotiated {
                send_mss: 536,
                send_wscale: 0,
                recv_wscale: 0,
                timestamps: false,
                sack: false,
            },
            iss,
            irs: Seq(0),
            send: SendBuffer::new(config.send_buffer),
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            fin_queued: false,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: Seq(0),
            recv: RecvBuffer::new(config.recv_buffer),
            peer_fin_at: None,
            peer_fin_done: false,
            last_ack_sent: 0,
            last_edge_sent: 0,
            ts_offset: iss.0.rotate_left(13),
            ts_recent: 0,
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            cc: Congestion::new(config.congestion, mss, config.initial_window_segments),
            rtt_timing: None,
            dupacks: 0,
            in_recovery: false,
            recovery_point: 0,
            high_rxt: 0,
            sacked: Vec::new(),
            old_path: None,
            retries: 0,
            probes: 0,
            last_recv: now,
            pmtu: PathMtu::new(config.mtu, config.mip6_overhead),
            timers: Timers::default(),
            ack_now: false,
            acks_owed: 0,
            rst_pending: false,
            rst_seq_override: None,
            probe_pending: false,
            syn_needed: true,
            frozen: false,
            error: None,
            events: VecDeque::new(),
            stats: ConnStats::default(),
        }
    }

    /// An active open: the first `poll_transmit` sends the SYN.
    pub fn connect(config: &TcpConfig, tuple: FourTuple, iss: Seq, now: Instant) -> Self {
        Connection::new(config, tuple, iss, now, State::SynSent)
    }

    /// A passive open from a received SYN: the first `poll_transmit` sends the SYN-ACK.
    pub fn accept(
        config: &TcpConfig,
        tuple: FourTuple,
        iss: Seq,
        now: Instant,
        syn: &TcpRepr<'_>,
    ) -> Self {
        let mut c = Connection::new(config, tuple, iss, now, State::SynReceived);
        c.take_syn_options(syn);
        c.irs = Seq::from(syn.seq_number);
        c.snd_wnd = u64::from(syn.window_len); // never scaled in a SYN (RFC 7323 §2.2)
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = c.irs;
        c.ts_recent = syn.timestamp.map_or(0, |t| t.tsval);
        c.last_recv = now;
        c
    }

    /// A connection established from a valid SYN cookie (RFC 4987): no options but MSS.
    pub(crate) fn from_cookie(
        config: &TcpConfig,
        tuple: FourTuple,
        iss: Seq,
        irs: Seq,
        mss: u16,
        now: Instant,
        ack: &TcpRepr<'_>,
    ) -> Self {
        let mut c = Connection::new(config, tuple, iss, now, State::Established);
        c.pmtu.peer_mss = mss.max(64);
        c.opts.send_mss = c.pmtu.mss_for(c.pmtu.mtu);
        c.cc.set_mss(c.opts.send_mss, config.initial_window_segments);
        c.irs = irs;
        c.snd_una = 1;
        c.snd_nxt = 1;
        c.snd_max = 1;
        c.snd_wnd = u64::from(ack.window_len);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = Seq::from(ack.seq_number);
        c.snd_wl2 = ack.ack_number.map(Seq::from).unwrap_or(iss.wrapping_add(1));
        c.syn_needed = false;
        c.last_ack_sent = 1;
        c.events.push_back(Event::Connected);
        c
    }

    fn take_syn_options(&mut self, syn: &TcpRepr<'_>) {
        // RFC 9293 §3.7.1: what we send is bounded by the peer's MSS and by our path MTU
        // less the headers (RFC 8201, the `pmtu` module).
        self.pmtu.peer_mss = syn.max_seg_size.unwrap_or(536).max(64);
        self.opts.send_mss = self.pmtu.mss_for(self.pmtu.mtu);
        let cfg = &self.config;
        if let (true, Some(ws)) = (cfg.window_scaling, syn.window_scale) {
            self.opts.send_wscale = ws.min(14);
            self.opts.recv_wscale = cfg.window_scale();
        } else {
            self.opts.send_wscale = 0;
            self.opts.recv_wscale = 0;
        }
        self.opts.timestamps = cfg.timestamps && syn.timestamp.is_some();
        self.opts.sack = cfg.sack && syn.sack_permitted;
        // MSS includes no TCP options: leave room for timestamps (12) and SACK (up to 28
        // when blocks ride on data, which we cap at 3 blocks with timestamps).
        self.cc
            .set_mss(self.effective_mss(), cfg.initial_window_segments);
    }

    /// Payload bytes per full segment: the peer's MSS minus the options we put on data.
    pub(crate) fn effective_mss(&self) -> u16 {
        let ts = if self.opts.timestamps { 12 } else { 0 };
        self.opts.send_mss.saturating_sub(ts).max(1)
    }

    /// The 4-tuple.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the connection is frozen for a handoff.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cc.cwnd
    }

    /// Whether loss recovery (fast retransmit) is under way.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// The peer's receive window in bytes.
    pub fn peer_window(&self) -> u64 {
        self.snd_wnd
    }

    /// A one-line summary of the send and receive variables and timers, for diagnostics.
    pub fn debug_summary(&self) -> String {
        format!(
            "{:?} una={} nxt={} max={} data_end={} fin={:?} wnd={} cwnd={} pipe={} rec={} rp={} hrxt={} dup={} sacked={:?} old_path={:?} rcv_nxt={} rwnd={} timers={:?} ack_now={} probe={} retries={}",
            self.state,
            self.snd_una,
            self.snd_nxt,
            self.snd_max,
            1 + self.send.end(),
            self.fin_off(),
            self.snd_wnd,
            self.cc.cwnd,
            self.pipe(),
            self.in_recovery,
            self.recovery_point,
            self.high_rxt,
            self.dupacks,
            self.sacked,
            self.old_path,
            self.rcv_nxt(),
            self.recv.window(),
            self.timers,
            self.ack_now,
            self.probe_pending,
            self.retries
        )
    }

    /// Bytes queued but not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.send.len()
    }

    /// Bytes that can be read now.
    pub fn recv_queue(&self) -> usize {
        self.recv.readable()
    }

    /// Whether the peer has closed its side and every byte has been read.
    pub fn is_read_closed(&self) -> bool {
        self.peer_fin_done && self.recv.readable() == 0
    }

    /// Whether the connection can be removed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Queues bytes for sending; returns how many fit in the send buffer.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.state.can_send() || self.fin_queued {
            return Err(TcpError::Closed);
        }
        Ok(self.send.push(data))
    }

    /// Queues bytes written in place: lends `fill` up to `max` bytes of the send buffer's
    /// free space, in at most two contiguous pieces (the second only once the first is
    /// full), and queues what it wrote (`fill` returns how many bytes at the start of its
    /// piece). An app that generates its data writes it here once, with no copy from a
    /// buffer of its own. Returns the bytes queued.
    pub fn send_with(
        &mut self,
        max: usize,
        fill: impl FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.state.can_send() || self.fin_queued {
            return Err(TcpError::Closed);
        }
        Ok(self.send.write_with(max, fill))
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self) -> usize {
        if self.state.can_send() && !self.fin_queued {
            self.send.free()
        } else {
            0
        }
    }

    /// Reads in-order bytes; `Ok(0)` with a non-empty `buf` means the peer closed.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        let n = self.recv.read(buf);
        self.after_read(n)
    }

    /// Reads in-order bytes where they are: lends them to `take` in at most two
    /// contiguous pieces (the second only once the first was taken whole) and consumes
    /// what it took (`take` returns how many from the start of its piece). `Ok(0)` with
    /// [`Connection::is_read_closed`] means the peer closed.
    pub fn recv_with(&mut self, take: impl FnMut(&[u8]) -> usize) -> Result<usize, TcpError> {
        let n = self.recv.read_with(take);
        self.after_read(n)
    }

    /// After the app read `n` bytes: the error to report when it got none, and a window
    /// update when the window opened far enough.
    fn after_read(&mut self, n: usize) -> Result<usize, TcpError> {
        if n == 0 {
            if let Some(e) = self.error {
                return Err(e);
            }
        }
        // A window update once the right edge moved by two segments or half the buffer
        // (RFC 9293 §3.8.6.2.2, receiver-side silly window avoidance).
        let edge = self.recv.next() + self.advertisable_window();
        let mss = u64::from(self.config.announced_mss());
        let threshold = (2 * mss).min(self.recv.capacity() as u64 / 2);
        if n > 0 && self.state.can_receive() && edge >= self.last_edge_sent + threshold {
            self.ack_now = true;
        }
        Ok(n)
    }

    /// Closes our side after all queued data (FIN).
    pub fn close(&mut self) {
        match self.state {
            State::SynSent => self.enter_closed(None),
            // Our FIN follows the handshake: the state moves on when our SYN is acked.
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Queues `event`, unless it is a level (readable, writable) that is queued already
    /// and not yet polled: an application that polls seldom gets one such event, not one
    /// per segment (and the queue, which snapshots carry, stays small).
    fn push_event(&mut self, event: Event) {
        let level = matches!(event, Event::Readable | Event::Writable);
        if !(level && self.events.contains(&event)) {
            self.events.push_back(event);
        }
    }

    /// Aborts with a RST.
    pub fn abort(&mut self) {
        if self.state.is_synchronized() || self.state == State::SynReceived {
            self.rst_pending = true;
        }
        self.enter_closed(None);
    }

    /// Whether a RST (from [`abort`](Self::abort)) is still to be sent: the connection
    /// must stay in its endpoint until it has gone out.
    pub fn reset_pending(&self) -> bool {
        self.rst_pending
    }

    /// Stops all transmission and input processing, for a handoff (docs/handoff.md).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Resumes after a handoff that did not happen.
    pub fn thaw(&mut self) {
        self.frozen = false;
    }

    fn enter_closed(&mut self, error: Option<TcpError>) {
        if self.state != State::Closed {
            self.state = State::Closed;
            if let Some(e) = error {
                self.error = Some(e);
                self.events.push_back(match e {
                    TcpError::Reset => Event::Reset,
                    _ => Event::TimedOut,
                });
            }
            self.events.push_back(Event::Closed);
        }
        self.timers = Timers::default();
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers = Timers {
            time_wait: Some(now + self.config.time_wait),
            ..Timers::default()
        };
    }

    // ---- sequence mapping -------------------------------------------------------------

    /// Our sequence number at send offset `off`.
    pub(crate) fn seq_at(&self, off: u64) -> Seq {
        self.iss.wrapping_add(off as u32)
    }

    /// The send offset of a sequence number near SND.UNA.
    pub(crate) fn send_off(&self, seq: Seq) -> i64 {
        self.snd_una as i64 + i64::from(seq.diff(self.seq_at(self.snd_una)))
    }

    /// RCV.NXT as a receive offset (SYN = 0, data byte n = 1 + n, FIN after the data).
    pub(crate) fn rcv_nxt(&self) -> u64 {
        1 + self.recv.next() + u64::from(self.peer_fin_done)
    }

    /// The peer's sequence number at receive offset `off`.
    pub(crate) fn rcv_seq_at(&self, off: u64) -> Seq {
        self.irs.wrapping_add(off as u32)
    }

    fn recv_off(&self, seq: Seq) -> i64 {
        let nxt = self.rcv_nxt();
        nxt as i64 + i64::from(seq.diff(self.rcv_seq_at(nxt)))
    }

    /// Send offset of our FIN, if queued.
    pub(crate) fn fin_off(&self) -> Option<u64> {
        self.fin_queued.then(|| 1 + self.send.end())
    }

    /// The window we can advertise, in bytes.
    pub(crate) fn advertisable_window(&self) -> u64 {
        self.recv.window() as u64
    }

    // ---- timers -----------------------------------------------------------------------

    /// When the connection next needs `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.frozen {
            return None;
        }
        let hold = self.old_path.and_then(|o| o.hold_until);
        match (self.timers.earliest(), hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.frozen {
            return;
        }
        if self.timers.time_wait.is_some_and(|t| t <= now) {
            self.enter_closed(None);
            return;
        }
        if self.timers.delayed_ack.is_some_and(|t| t <= now) {
            self.timers.delayed_ack = None;
            self.ack_now = true;
        }
        if let Some(o) = self.old_path.as_mut() {
            if o.hold_until.is_some_and(|t| t <= now) {
                o.hold_until = None;
            }
        }
        if self.timers.retransmit.is_some_and(|t| t <= now) {
            self.timers.retransmit = None;
            self.on_retransmit_timeout(now);
        }
        if self.timers.persist.is_some_and(|t| t <= now) {
            self.timers.persist = None;
            self.probes += 1;
            if self.probes > self.config.max_retransmissions {
                self.enter_closed(Some(TcpError::TimedOut));
                return;
            }
            self.probe_pending = true;
            self.rtt.back_off();
        }
        if self.timers.keepalive.is_some_and(|t| t <= now) {
            self.timers.keepalive = None;
            if self.probes >= self.config.keepalive_probes {
                self.enter_closed(Some(TcpError::TimedOut));
                return;
            }
            self.probes += 1;
            self.probe_pending = true;
            self.timers.keepalive = Some(now + self.config.keepalive_interval);
        }
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        self.retries += 1;
        self.stats.timeouts += 1;
        let limit = if self.state == State::SynReceived {
            self.config.synack_retries
        } else {
            self.config.max_retransmissions
        };
        if self.retries > limit {
            self.enter_closed(Some(TcpError::TimedOut));
            return;
        }
        self.rtt.back_off();
        self.rtt_timing = None;
        if !self.state.is_synchronized() {
            self.syn_needed = true;
            self.snd_nxt = 0;
            return;
        }
        if self.snd_wnd == 0 {
            // The peer's window is closed: what is outstanding lies beyond it and was not
            // lost. Persist (zero-window probes) instead of counting retransmissions.
            self.retries -= 1;
            self.stats.timeouts -= 1;
            self.snd_nxt = self.snd_una;
            self.timers.persist = Some(now + self.rtt.rto());
            return;
        }
        let flight = self.snd_max - self.snd_una;
        self.pmtu.ssthresh_before_probe_loss = None;
        // RFC 4821 §7.8: a black hole for full-sized segments, or a lost probe.
        if self.pmtu_on_timeout(now) {
            self.undo_black_hole(flight);
        } else {
            self.cc.on_timeout(flight);
        }
        // Everything outstanding is now this path's to resend (RFC 6298 §5.4 go-back-N).
        self.old_path = None;
        self.send.set_capacity(self.config.send_buffer);
        // RFC 6582 §4: after a timeout, recover = the highest sequence sent.
        self.recovery_point = self.snd_max;
        self.in_recovery = false;
        self.dupacks = 0;
        self.sacked.clear();
        self.snd_nxt = self.snd_una;
        self.high_rxt = self.snd_una;
    }

    // ---- handoff ------------------------------------------------------------------------

    /// Shifts every stored time from a clock reading `old` to one reading `new`, and keeps
    /// the TSval clock going forward (RFC 7323 §5.4: the peer's PAWS check must pass).
    pub(crate) fn rebase_clock(&mut self, old: Instant, new: Instant) {
        let old_ts = ts_clock(old).wrapping_add(self.ts_offset);
        // +1: every TSval after the move is strictly newer than any before it.
        self.ts_offset = old_ts.wrapping_add(1).wrapping_sub(ts_clock(new));
        self.timers.shift(old, new);
        self.rtt_timing = self.rtt_timing.map(|(o, t)| (o, rebase(t, old, new)));
        self.last_recv = rebase(self.last_recv, old, new);
        self.pmtu.next_probe = self.pmtu.next_probe.map(|t| rebase(t, old, new));
        if let Some(o) = self.old_path.as_mut() {
            o.due = rebase(o.due, old, new);
            o.hold_until = o.hold_until.map(|t| rebase(t, old, new));
        }
        self.cc.rebase(old, new);
    }
}

/// Inserts `r` into sorted, merged `ranges`; returns whether coverage grew.
fn insert_range(ranges: &mut Vec<(u64, u64)>, r: (u64, u64)) -> bool {
    let before: u64 = ranges.iter().map(|x| x.1 - x.0).sum();
    ranges.push(r);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for x in ranges.drain(..) {
        match merged.last_mut() {
            Some(last) if x.0 <= last.1 => last.1 = last.1.max(x.1),
            _ => merged.push(x),
        }
    }
    *ranges = merged;
    let after: u64 = ranges.iter().map(|x| x.1 - x.0).sum();
    after > before
}
