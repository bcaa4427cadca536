//! Congestion control: slow start and congestion avoidance per RFC 5681 (NewReno growth)
//! or RFC 9438 (CUBIC). Loss recovery itself (which segments to resend) lives in the
//! connection; this module only sizes the window.

use crate::time::{Duration, Instant};

use super::config::CongestionAlgorithm;

/// CUBIC's multiplicative decrease factor (RFC 9438 §4.6).
const CUBIC_BETA: f64 = 0.7;
/// CUBIC's scaling constant (RFC 9438 §5.1).
const CUBIC_C: f64 = 0.4;

/// The state of one connection's congestion controller, in bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Congestion {
    algorithm: CongestionAlgorithm,
    mss: u64,
    /// Congestion window.
    pub cwnd: u64,
    /// Slow-start threshold.
    pub ssthresh: u64,
    /// Bytes acked towards the next increase in congestion avoidance (NewReno).
    acked_accumulator: u64,
    // CUBIC (RFC 9438 §4): windows in segments, times in microseconds since `epoch_start`.
    w_max: f64,
    w_est: f64,
    k_secs: f64,
    epoch_start: Option<Instant>,
}

impl Congestion {
    /// A controller with an initial window of `initial_segments` (RFC 6928).
    pub fn new(algorithm: CongestionAlgorithm, mss: u16, initial_segments: u32) -> Self {
        let mss = u64::from(mss.max(1));
        Congestion {
            algorithm,
            mss,
            cwnd: mss * u64::from(initial_segments.max(1)),
            ssthresh: u64::MAX,
            acked_accumulator: 0,
            w_max: 0.0,
            w_est: 0.0,
            k_secs: 0.0,
            epoch_start: None,
        }
    }

    /// Changes the segment size once the peer's MSS is known.
    pub fn set_mss(&mut self, mss: u16, initial_segments: u32) {
        self.mss = u64::from(mss.max(1));
        self.cwnd = self.mss * u64::from(initial_segments.max(1));
    }

    /// Changes the segment size mid-connection, for a new path MTU (RFC 8201): the window
    /// keeps its size in bytes (at least one segment). A smaller MTU is not congestion,
    /// so there is no congestion response (as Linux's tcp_simple_retransmit).
    pub fn update_mss(&mut self, mss: u16) {
        self.mss = u64::from(mss.max(1));
        self.cwnd = self.cwnd.max(self.mss);
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        self.algorithm
    }

    /// Grows the window for `acked` newly acknowledged bytes outside loss recovery.
    pub fn on_ack(&mut self, now: Instant, acked: u64, srtt: Option<Duration>) {
        if acked == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 with appropriate byte counting (RFC 3465, L = 2).
            self.cwnd += acked.min(2 * self.mss);
            return;
        }
        match self.algorithm {
            CongestionAlgorithm::NewReno => self.reno_avoidance(acked),
            CongestionAlgorithm::Cubic => self.cubic_avoidance(now, acked, srtt),
        }
    }

    fn reno_avoidance(&mut self, acked: u64) {
        // RFC 5681 §3.1: about one MSS per RTT.
        self.acked_accumulator += acked;
        if self.acked_accumulator >= self.cwnd {
            self.acked_accumulator -= self.cwnd;
            self.cwnd += self.mss;
        }
    }

    fn cubic_avoidance(&mut self, now: Instant, acked: u64, srtt: Option<Duration>) {
        let mss = self.mss as f64;
        let cwnd_segs = self.cwnd as f64 / mss;
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                // RFC 9438 §4.2: a new congestion-avoidance epoch.
                self.epoch_start = Some(now);
                if self.w_max < cwnd_segs {
                    self.w_max = cwnd_segs;
                    self.k_secs = 0.0;
                } else {
                    self.k_secs = (self.w_max * (1.0 - CUBIC_BETA) / CUBIC_C).cbrt();
                }
                self.w_est = cwnd_segs;
                now
            }
        };
        let rtt = srtt.map_or(0.1, |d| d.total_micros() as f64 / 1e6);
        let t = now.saturating_since(start).total_micros() as f64 / 1e6;
        let target_time = t + rtt;
        let w_cubic = CUBIC_C * (target_time - self.k_secs).powi(3) + self.w_max;
        // RFC 9438 §4.3: the Reno-friendly estimate.
        let alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
        self.w_est += alpha * (acked as f64 / mss) / cwnd_segs;
        let target = if w_cubic < self.w_est {
            self.w_est
        } else {
            // §4.4: grow towards W_cubic(t + RTT), at most 1.5x per RTT.
            w_cubic.clamp(cwnd_segs, 1.5 * cwnd_segs)
        };
        let increase = ((target - cwnd_segs) / cwnd_segs * (acked as f64 / mss) * mss).max(0.0);
        self.acked_accumulator += increase as u64;
        let whole = self.acked_accumulator;
        self.cwnd += whole;
        self.acked_accumulator = 0;
    }

    /// A loss detected by duplicate ACKs or SACK: enters fast recovery (RFC 5681 §3.2,
    /// RFC 9438 §4.6). `flight` is the data outstanding.
    pub fn on_fast_loss(&mut self, flight: u64) {
        match self.algorithm {
            CongestionAlgorithm::NewReno => {
                self.ssthresh = (flight / 2).max(2 * self.mss);
            }
            CongestionAlgorithm::Cubic => {
                let cwnd_segs = self.cwnd as f64 / self.mss as f64;
                // §4.7 fast convergence.
                self.w_max = if cwnd_segs < self.w_max {
                    cwnd_segs * (1.0 + CUBIC_BETA) / 2.0
                } else {
                    cwnd_segs
                };
                self.ssthresh = ((self.cwnd as f64 * CUBIC_BETA) as u64).max(2 * self.mss);
                self.epoch_start = None;
            }
        }
        self.cwnd = self.ssthresh;
        self.acked_accumulator = 0;
    }

    /// A retransmission timeout: one segment of window (RFC 5681 §3.1, RFC 9438 §4.8).
    pub fn on_timeout(&mut self, flight: u64) {
        match self.algorithm {
            CongestionAlgorithm::NewReno => self.ssthresh = (flight / 2).max(2 * self.mss),
            CongestionAlgorithm::Cubic => {
                self.w_max = self.cwnd as f64 / self.mss as f64;
                self.ssthresh = ((self.cwnd as f64 * CUBIC_BETA) as u64).max(2 * self.mss);
                self.epoch_start = None;
            }
        }
        self.cwnd = self.mss;
        self.acked_accumulator = 0;
    }

    /// The state of a fresh path after a connection migrated (RFC 9000 §9.4, which resets
    /// the congestion controller of a migrated QUIC connection; RFC 5681 §3.1 initial
    /// window): `initial_segments` of window and no CUBIC history. A slow-start threshold
    /// learned from a loss is kept as long as it is above the initial window: the peer's
    /// access link is part of every path to it, so an earlier loss still bounds slow
    /// start, but it never holds the new path below its initial window.
    pub fn restart_on_new_path(&mut self, initial_segments: u32) {
        let mut fresh = Congestion::new(self.algorithm, self.mss as u16, initial_segments);
        fresh.mss = self.mss;
        fresh.cwnd = self.mss * u64::from(initial_segments.max(1));
        if self.ssthresh != u64::MAX {
            fresh.ssthresh = self.ssthresh.max(fresh.cwnd);
        }
        *self = fresh;
    }

    /// Forgets what the losses taught (slow-start threshold, CUBIC's W_max): they were
    /// the path's MTU, not congestion. The window restarts at `initial_segments` of the
    /// current size.
    pub fn forget_losses(&mut self, initial_segments: u32) {
        let mut fresh = Congestion::new(self.algorithm, 1, initial_segments);
        fresh.mss = self.mss;
        fresh.cwnd = self.mss * u64::from(initial_segments.max(1));
        *self = fresh;
    }

    /// Shifts time-based state when a connection moves to a node with another clock.
    pub fn rebase(&mut self, old_now: Instant, new_now: Instant) {
        if let Some(start) = self.epoch_start {
            let age = old_now.saturating_since(start);
            self.epoch_start = Some(new_now - age);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_halving_on_loss_newreno() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, 1000, 10);
        assert_eq!(c.cwnd, 10_000);
        c.on_ack(Instant::ZERO, 1000, None);
        assert_eq!(c.cwnd, 11_000);
        c.on_fast_loss(11_000);
        assert_eq!((c.cwnd, c.ssthresh), (5_500, 5_500));
        // Congestion avoidance: one MSS per window's worth of ACKs.
        c.on_ack(Instant::ZERO, 5_500, None);
        assert_eq!(c.cwnd, 6_500);
        c.on_timeout(6_500);
        assert_eq!((c.cwnd, c.ssthresh), (1000, 3250));
    }

    #[test]
    fn a_new_path_starts_at_the_initial_window() {
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
        for _ in 0..100 {
            c.on_ack(Instant::ZERO, 2000, None);
        }
        assert_eq!(c.cwnd, 210_000);
        c.restart_on_new_path(10);
        assert_eq!((c.cwnd, c.ssthresh), (10_000, u64::MAX));
        c.cwnd = 40_000;
        c.on_fast_loss(40_000);
        c.restart_on_new_path(10);
        assert_eq!((c.cwnd, c.ssthresh), (10_000, 28_000));
        c.ssthresh = 3_000;
        c.restart_on_new_path(10);
        assert_eq!((c.cwnd, c.ssthresh), (10_000, 10_000));
    }

    #[test]
    fn cubic_reduces_by_beta_and_regrows() {
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 1000, 100);
        c.ssthresh = 0;
        c.on_fast_loss(100_000);
        assert_eq!(c.cwnd, 70_000);
        let mut now = Instant::ZERO;
        for _ in 0..2000 {
            now = now + Duration::from_millis(10);
            c.on_ack(now, 1000, Some(Duration::from_millis(50)));
        }
        assert!(
            c.cwnd > 100_000,
            "cwnd {} should pass W_max after K",
            c.cwnd
        );
    }
}
