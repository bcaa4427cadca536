//! Path MTU discovery for a connection: ICMPv6 Packet Too Big (RFC 8201), validated as
//! RFC 5927 §4.1 asks, and packetization-layer PMTUD where Packet Too Big never arrives
//! (RFC 4821, RFC 8899): black-hole detection after repeated timeouts of full-sized
//! segments, then a search upwards with single probe segments.
//!
//! Sizes are IPv6 packet sizes. A segment's payload is at most
//! `mtu - 40 (IPv6) - ext_len (RH2/HAO) - 20 (TCP) - TCP options`, and never more than
//! the peer's MSS (RFC 9293 §3.7.1, RFC 6691).

use crate::time::{Duration, Instant};

use super::connection::Connection;
use super::seq::Seq;

/// The IPv6 minimum link MTU (RFC 8200 §5): the floor of every path MTU, and the size
/// black-hole detection falls back to.
pub const BASE_MTU: u16 = 1280;
/// How long a learned path MTU holds before a larger one is tried again (RFC 8201 §4:
/// "at least 5 minutes", 10 recommended); also the endpoint cache's entry lifetime.
pub const PMTU_EXPIRY: Duration = Duration::from_secs(600);
/// Wait after a failed probe before the next one (RFC 4821 §7.7 leaves it to the
/// implementation; Linux's search goes on at once, RFC 8899's PROBE_TIMER is 15 s).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// The search ends when the bounds are this close (Linux: tcp_probe_threshold 8).
const MIN_PROBE_STEP: u16 = 32;
/// Consecutive timeouts of a full-sized segment that mean a black hole (RFC 4821 §7.8;
/// Linux's tcp_mtu_probing=1 waits for tcp_retries1 = 3).
const BLACK_HOLE_RTOS: u32 = 2;
/// IPv6 + TCP fixed headers.
const HEADERS: u16 = 40 + 20;

/// A probe in flight: one segment of a size not yet known to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Probe {
    /// Send offsets the probe covers.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The packet size it tests.
    pub(crate) mtu: u16,
}

/// A connection's path MTU state (part of its snapshot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PathMtu {
    /// The packet size in use.
    pub(crate) mtu: u16,
    /// The largest size ever tried (the configured MTU).
    pub(crate) ceiling: u16,
    /// Extension-header bytes counted in every packet (RH2/HAO: 24).
    pub(crate) ext_len: u16,
    /// The MSS the peer announced (0 until its SYN arrived).
    pub(crate) peer_mss: u16,
    /// The search's upper bound: the largest size not known to fail.
    pub(crate) search_high: u16,
    /// Consecutive timeouts of a full-sized segment.
    pub(crate) full_rtos: u32,
    /// The congestion window and slow-start threshold before the first of those
    /// timeouts, restored when they turn out to be a black hole rather than congestion.
    pub(crate) before_rtos: Option<(u64, u64)>,
    /// The probe in flight, if any.
    pub(crate) probe: Option<Probe>,
    /// When the next probe may go (`None`: no search).
    pub(crate) next_probe: Option<Instant>,
    /// Set when `mtu` changed in a way the endpoint should remember for the destination.
    pub(crate) learned: bool,
    /// The slow-start threshold before a recovery that only a lost probe started: put
    /// back when that recovery ends, so a lost probe does not end slow start either.
    pub(crate) ssthresh_before_probe_loss: Option<u64>,
}

impl PathMtu {
    /// The state for a path of `mtu` bytes with `ext_len` bytes of extension headers.
    pub(crate) fn new(mtu: usize, ext_len: usize) -> Self {
        let mtu = mtu.min(usize::from(u16::MAX)) as u16;
        PathMtu {
            mtu,
            ceiling: mtu,
            ext_len: ext_len.min(usize::from(u16::MAX)) as u16,
            peer_mss: 0,
            search_high: mtu,
            full_rtos: 0,
            before_rtos: None,
            probe: None,
            next_probe: None,
            learned: false,
            ssthresh_before_probe_loss: None,
        }
    }

    /// The MSS (TCP payload with no options) a packet of `mtu` bytes carries.
    pub(crate) fn mss_for(&self, mtu: u16) -> u16 {
        let mss = mtu.saturating_sub(HEADERS + self.ext_len).max(64);
        if self.peer_mss == 0 {
            mss
        } else {
            mss.min(self.peer_mss)
        }
    }

    /// Whether the search range is still wide enough to probe.
    fn searching(&self) -> bool {
        self.search_high >= self.mtu.saturating_add(MIN_PROBE_STEP)
    }

    /// After a probe resolved: probe again at `now + wait` while the range is open, or
    /// once the search converged, try the ceiling again after [`PMTU_EXPIRY`].
    fn schedule(&mut self, now: Instant, wait: Duration) {
        if self.searching() {
            self.next_probe = Some(now + wait);
        } else {
            self.search_high = self.ceiling;
            self.next_probe = (self.mtu < self.ceiling).then(|| now + PMTU_EXPIRY);
        }
    }
}

impl Connection {
    /// The path MTU in use (IPv6 packet bytes).
    pub fn path_mtu(&self) -> u16 {
        self.pmtu.mtu
    }

    /// The largest TCP payload (no options) a segment may carry now: the peer's MSS and
    /// the path MTU's, whichever is smaller.
    pub fn send_mss(&self) -> u16 {
        self.opts.send_mss
    }

    /// Starts over from a path MTU of `mtu` (clamped to 1280 ..= the configured MTU), as
    /// of `now`: for a connection restored on another node, whose path to the peer is
    /// not the donor's (RFC 8201 §5.2: the PMTU belongs to the path), or one opened to a
    /// destination whose MTU is cached. Probing state is dropped; a size below the
    /// configured one is tried again after [`PMTU_EXPIRY`].
    pub fn reset_path_mtu(&mut self, now: Instant, mtu: usize) {
        let ceiling = self.config.mtu.min(usize::from(u16::MAX)) as u16;
        let mtu = (mtu.min(usize::from(u16::MAX)) as u16)
            .max(BASE_MTU)
            .min(ceiling);
        let p = &mut self.pmtu;
        p.ceiling = ceiling;
        p.mtu = mtu;
        p.search_high = ceiling;
        p.full_rtos = 0;
        p.before_rtos = None;
        p.probe = None;
        p.learned = false;
        p.next_probe = (mtu < ceiling && self.config.pmtu_probing).then(|| now + PMTU_EXPIRY);
        self.apply_path_mtu();
    }

    /// The path MTU, once it changed since the last call (for the endpoint's cache).
    pub(crate) fn take_learned_mtu(&mut self) -> Option<u16> {
        std::mem::take(&mut self.pmtu.learned).then_some(self.pmtu.mtu)
    }

    /// Recomputes the sending MSS from the peer's MSS and the path MTU. The congestion
    /// window keeps its size in bytes.
    pub(crate) fn apply_path_mtu(&mut self) {
        if self.pmtu.peer_mss == 0 {
            return; // the peer's SYN has not arrived: `take_syn_options` will do it.
        }
        self.opts.send_mss = self.pmtu.mss_for(self.pmtu.mtu);
        self.cc.update_mss(self.effective_mss());
    }

    /// Handles an ICMPv6 Packet Too Big whose quoted TCP segment (one of ours) has
    /// sequence number `seq`, reporting `mtu`, with `ext_len` bytes of extension headers
    /// in the quoted packet. Returns whether it was accepted (valid; counted in
    /// `ptb_accepted`, else in `ptb_ignored`).
    ///
    /// RFC 5927 §4.1: only a quoted sequence number in SND.UNA..SND.MAX (data in flight)
    /// is believed, anything else is ignored. RFC 8201 §4: the MTU is never taken below
    /// 1280 (RFC 8200 §5), and a report not smaller than the MTU in use changes nothing. The data in flight is then sent again at once at the new size,
    /// as Linux's tcp_simple_retransmit does: every full-sized segment in flight was
    /// dropped, and that is not congestion, so the congestion window stays.
    pub fn handle_packet_too_big(
        &mut self,
        now: Instant,
        mtu: u32,
        seq: Seq,
        ext_len: usize,
    ) -> bool {
        let off = self.send_off(seq);
        if self.frozen
            || !self.state.is_synchronized()
            || off < self.snd_una as i64
            || off >= self.snd_max as i64
        {
            self.stats.ptb_ignored += 1;
            return false;
        }
        let off = off as u64;
        let reported = mtu.clamp(u32::from(BASE_MTU), u32::from(u16::MAX)) as u16;
        if let Some(p) = self.pmtu.probe.filter(|p| off >= p.start && off < p.end) {
            // The probe was too big: the search learns the bound (RFC 8899 §4.6.2). Its
            // data is recovered as any loss is.
            self.pmtu.search_high = reported.min(p.mtu - 1);
            self.pmtu.probe = None;
            self.stats.ptb_accepted += 1;
            self.pmtu.schedule(now, PROBE_INTERVAL);
            return true;
        }
        self.stats.ptb_accepted += 1;
        if reported >= self.pmtu.mtu {
            // Valid, but about a size already given up (every dropped segment of a
            // flight draws its own): nothing to do.
            return true;
        }
        let ext_len = ext_len.min(usize::from(u16::MAX)) as u16;
        self.pmtu.ext_len = self.pmtu.ext_len.max(ext_len);
        self.pmtu.mtu = reported;
        self.pmtu.learned = true;
        self.pmtu.probe = None;
        self.pmtu.search_high = self.pmtu.ceiling;
        // RFC 8201 §4: try a larger size again only after 10 minutes.
        self.pmtu.next_probe = self.config.pmtu_probing.then(|| now + PMTU_EXPIRY);
        self.apply_path_mtu();
        self.resend_in_flight();
        true
    }

    /// Sends everything in flight again from SND.UNA, at the current size, without a
    /// congestion response (Linux's tcp_simple_retransmit).
    fn resend_in_flight(&mut self) {
        if self.in_recovery {
            self.in_recovery = false;
            self.cc.cwnd = self.cc.cwnd.max(self.cc.ssthresh);
        }
        self.dupacks = 0;
        self.sacked.clear();
        // RFC 6582 §3.2 step 2: duplicate ACKs for what was sent before do not start a
        // recovery of their own.
        self.recovery_point = self.snd_max;
        self.snd_nxt = self.snd_una;
        self.high_rxt = self.snd_una;
        self.rtt_timing = None;
    }

    /// On a retransmission timeout, before the congestion response: a probe in flight
    /// failed; otherwise count the timeout of a full-sized segment and, after
    /// [`BLACK_HOLE_RTOS`] of them, fall back to [`BASE_MTU`] (RFC 4821 §7.8, Linux's
    /// tcp_mtu_probing = 1). Returns true on that fallback: the caller then responds to
    /// the run of timeouts once, not again ([`Connection::undo_black_hole`]).
    pub(crate) fn pmtu_on_timeout(&mut self, now: Instant) -> bool {
        if !self.config.pmtu_probing {
            return false;
        }
        if self.pmtu.probe.is_some() {
            self.probe_failed(now);
            return false;
        }
        let flight = self.snd_max - self.snd_una;
        if flight < u64::from(self.effective_mss()) {
            return false; // the head segment was not full-sized
        }
        self.pmtu.full_rtos += 1;
        if self.pmtu.full_rtos == 1 {
            self.pmtu.before_rtos = Some((self.cc.cwnd, self.cc.ssthresh));
        }
        if self.pmtu.full_rtos >= BLACK_HOLE_RTOS && self.pmtu.mtu > BASE_MTU {
            self.stats.mtu_black_holes += 1;
            self.pmtu.search_high = self.pmtu.mtu;
            self.pmtu.mtu = BASE_MTU;
            self.pmtu.full_rtos = 0;
            self.pmtu.learned = true;
            // Search upwards once the data the timeout rewound is through (see
            // `probe_mtu`: no probe while retries are pending).
            self.pmtu.next_probe = Some(now);
            self.apply_path_mtu();
            return true;
        }
        false
    }

    /// After a black-hole fallback: the timeouts, and the losses the connection reacted
    /// to before them, were the path's MTU, not congestion (RFC 4821 §7.8; RFC 8899
    /// §4.4: packets lost for their size are no congestion signal). What those losses
    /// taught is forgotten and the window restarts as after an idle period (RFC 5681
    /// §4.1: at most the initial window), now in smaller segments. Keeping it would leave
    /// a threshold of half the flight at the first loss: on a fresh path after a handoff
    /// (an initial window in flight) a few segments, and the connection would crawl in
    /// congestion avoidance for seconds.
    pub(crate) fn undo_black_hole(&mut self, flight: u64) {
        if self.pmtu.before_rtos.take().is_some() {
            self.cc.forget_losses(self.config.initial_window_segments);
        } else {
            self.cc.on_timeout(flight);
        }
    }

    fn probe_failed(&mut self, now: Instant) {
        if let Some(p) = self.pmtu.probe.take() {
            self.pmtu.search_high = p.mtu - 1;
            self.pmtu.schedule(now, PROBE_INTERVAL);
        }
    }

    fn probe_succeeded(&mut self, now: Instant) {
        if let Some(p) = self.pmtu.probe.take() {
            self.stats.mtu_probes_acked += 1;
            if p.mtu > self.pmtu.mtu {
                self.pmtu.mtu = p.mtu;
                self.pmtu.learned = true;
                self.apply_path_mtu();
            }
            self.pmtu.schedule(now, Duration::ZERO);
        }
    }

    /// After an ACK up to send offset `ack_off` (before SND.UNA moves) or with new SACK
    /// blocks: a probe acknowledged, cumulatively or by SACK, raises the MTU
    /// (RFC 4821 §7.6.1); a new cumulative ACK ends a run of timeouts.
    pub(crate) fn pmtu_on_ack(&mut self, now: Instant, ack_off: u64) {
        if ack_off > self.snd_una {
            self.pmtu.full_rtos = 0;
            self.pmtu.before_rtos = None;
        }
        let Some(p) = self.pmtu.probe else {
            return;
        };
        let sacked = self.sacked.iter().any(|r| r.0 <= p.start && p.end <= r.1);
        if ack_off >= p.end || sacked {
            self.probe_succeeded(now);
        }
    }

    /// On entering loss recovery: a probe not acknowledged while data sent after it was
    /// (SACK), or any unacknowledged probe without SACK, is taken as lost
    /// (RFC 4821 §7.6.2). Returns true when the probe is the only hole (SND.UNA is its
    /// start and everything SACKed lies beyond it): the loss of a probe is no sign of
    /// congestion (RFC 4821 §7.6.2, RFC 8899 §3 (7)), so there is no window reduction.
    pub(crate) fn pmtu_on_loss(&mut self, now: Instant) -> bool {
        self.pmtu_on_ack(now, self.snd_una);
        let Some(p) = self.pmtu.probe else {
            return false;
        };
        let passed = self.sacked.iter().any(|r| r.0 >= p.end);
        if !self.opts.sack || passed {
            self.probe_failed(now);
        }
        let only_hole =
            self.snd_una == p.start && self.sacked.first().is_some_and(|r| r.0 == p.end);
        self.opts.sack && passed && only_hole
    }

    /// The packet size to probe with now, if a probe is due (RFC 4821 §7.3: one probe at
    /// a time, halfway between the size in use and the search's upper bound; only when
    /// no loss recovery or timeout recovery is under way).
    pub(crate) fn probe_mtu(&self, now: Instant) -> Option<u16> {
        let p = &self.pmtu;
        let due = p.next_probe.is_some_and(|t| t <= now);
        if !self.config.pmtu_probing
            || !due
            || p.probe.is_some()
            || !p.searching()
            || self.in_recovery
            || self.retries > 0
            || self.snd_nxt < self.snd_max
        {
            return None;
        }
        let size = p.mtu + (p.search_high - p.mtu).div_ceil(2);
        (self.pmtu.mss_for(size) > self.opts.send_mss).then_some(size)
    }

    /// Payload bytes of a probe for packets of `mtu` bytes (the options we put on data
    /// come off, as in [`Connection::effective_mss`]).
    pub(crate) fn probe_payload(&self, mtu: u16) -> u16 {
        let ts = if self.opts.timestamps { 12 } else { 0 };
        self.pmtu.mss_for(mtu).saturating_sub(ts).max(1)
    }

    /// Records a probe segment sent over `[start, end)` testing `mtu`.
    pub(crate) fn probe_sent(&mut self, start: u64, end: u64, mtu: u16) {
        self.stats.mtu_probes_sent += 1;
        self.pmtu.probe = Some(Probe { start, end, mtu });
        self.pmtu.next_probe = None;
    }
}
