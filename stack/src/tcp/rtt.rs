//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// SRTT, RTTVAR and RTO, in microseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RttEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    rto: u64,
    min_rto: u64,
    max_rto: u64,
    /// Consecutive RTO back-offs (RFC 6298 §5.5).
    backoff: u32,
    /// The most recent sample.
    latest: u64,
}

impl RttEstimator {
    /// An estimator with no samples: RTO is `initial` (RFC 6298 §2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: 0,
            rto: initial.total_micros(),
            min_rto: min.total_micros(),
            max_rto: max.total_micros(),
            backoff: 0,
            latest: 0,
        }
    }

    /// Takes one RTT measurement (RFC 6298 §2.2, §2.3; G = 1 µs).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.total_micros().max(1);
        self.latest = r;
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(r);
                self.rttvar = (3 * self.rttvar + err) / 4;
                self.srtt = Some((7 * srtt + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + (4 * self.rttvar).max(1)).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// Starts over on a new path whose round trip was measured once, outside this
    /// connection (a handoff's care-of test): `rtt` is taken as the first sample (RFC 6298
    /// §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4·RTTVAR), clamped to the bounds).
    pub fn restart_from(&mut self, rtt: Duration) {
        self.srtt = None;
        self.rttvar = 0;
        self.sample(rtt);
    }

    /// Starts over on a new path never measured: no samples, RTO = `initial` (RFC 6298
    /// §2.1).
    pub fn restart_unmeasured(&mut self, initial: Duration) {
        self.srtt = None;
        self.rttvar = 0;
        self.latest = 0;
        self.backoff = 0;
        self.rto = initial.total_micros().clamp(self.min_rto, self.max_rto);
    }

    /// The current RTO, including back-off.
    pub fn rto(&self) -> Duration {
        let shifted = self.rto.saturating_mul(1u64 << self.backoff.min(20));
        Duration::from_micros(shifted.min(self.max_rto))
    }

    /// Doubles the RTO after a timeout (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        if self.rto().total_micros() < self.max_rto {
            self.backoff += 1;
        }
    }

    /// The smoothed RTT, if any sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_micros)
    }

    /// The latest sample.
    pub fn latest(&self) -> Duration {
        Duration::from_micros(self.latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_srtt_and_rttvar() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // RTO = SRTT + 4 * RTTVAR = 100 + 4 * 50 = 300 ms.
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(600));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn restart_takes_the_measurement_as_a_first_sample() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        // The old path: 8 ms, RTO at its 200 ms floor, and backed off once.
        for _ in 0..10 {
            e.sample(Duration::from_millis(8));
        }
        e.back_off();
        e.restart_from(Duration::from_millis(240));
        // SRTT = 240, RTTVAR = 120, RTO = 240 + 4 * 120 = 720 ms.
        assert_eq!(e.srtt(), Some(Duration::from_millis(240)));
        assert_eq!(e.rto(), Duration::from_millis(720));
        e.restart_unmeasured(Duration::from_secs(1));
        assert_eq!((e.srtt(), e.rto()), (None, Duration::from_secs(1)));
    }

    #[test]
    fn rto_is_clamped() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
    }
}
