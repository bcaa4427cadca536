//! Rate-limited log lines for what the network can trigger.
//!
//! A forged gossip datagram, a refused handoff and the like are each worth a log line,
//! but an attacker (or a broken peer) can send them by the ten thousand per second, and
//! one line each turns the log into an attack surface (disk, journald's rate, an
//! operator's attention). A [`LogLimit`] lets the first [`BURST`] lines of a reason
//! through, at most one per [`SPACING`], then counts the rest and gives at most one
//! summary per [`WINDOW`] ("N more ... suppressed in the last 10 s"): never more than one
//! line per second per reason. A reason that has been quiet for a whole window starts
//! again. The counters in `/metrics` count every occurrence; the log only samples them.
//!
//! Sans-IO: the time is passed in, so the behaviour is tested with virtual time.

use std::time::{Duration, Instant};

/// Lines of a reason logged before it is suppressed.
pub const BURST: u32 = 5;
/// The shortest time between two of the first lines of a reason.
pub const SPACING: Duration = Duration::from_secs(1);
/// The shortest time between two summaries of a reason.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Reasons tracked at most (keys are `&'static str`, so this is a code bug guard only).
const MAX_REASONS: usize = 64;

#[derive(Debug, Clone)]
struct Reason {
    key: &'static str,
    /// Lines logged since the reason last started (quiet for a window).
    passed: u32,
    /// When the latest of them was logged.
    last_passed: Option<Instant>,
    /// Occurrences not logged since the last summary.
    suppressed: u64,
    /// When the first of `suppressed` happened.
    since: Option<Instant>,
    /// The latest occurrence.
    last: Instant,
}

/// A summary line due: `count` occurrences of `reason` were not logged during `over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    /// The reason, as given to [`LogLimit::allow`].
    pub reason: &'static str,
    /// Occurrences not logged.
    pub count: u64,
    /// The time they span (at least the window).
    pub over: Duration,
}

/// Per-reason log limiter (see the module documentation).
#[derive(Debug, Clone)]
pub struct LogLimit {
    burst: u32,
    spacing: Duration,
    window: Duration,
    reasons: Vec<Reason>,
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit::new(BURST, SPACING, WINDOW)
    }
}

impl LogLimit {
    /// Lets `burst` lines of a reason through, `spacing` apart, then one summary per
    /// `window`.
    pub fn new(burst: u32, spacing: Duration, window: Duration) -> LogLimit {
        LogLimit {
            burst,
            spacing,
            window,
            reasons: Vec::new(),
        }
    }

    /// Lines of a reason logged before it is suppressed.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The shortest time between two summaries of a reason.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether an occurrence of `reason` at `now` is logged (else it is counted for the
    /// next summary).
    pub fn allow(&mut self, now: Instant, reason: &'static str) -> bool {
        let i = match self.reasons.iter().position(|r| r.key == reason) {
            Some(i) => i,
            None if self.reasons.len() >= MAX_REASONS => return false,
            None => {
                self.reasons.push(Reason {
                    key: reason,
                    passed: 0,
                    last_passed: None,
                    suppressed: 0,
                    since: None,
                    last: now,
                });
                self.reasons.len() - 1
            }
        };
        let r = &mut self.reasons[i];
        if r.suppressed == 0 && now.saturating_duration_since(r.last) >= self.window {
            r.passed = 0; // quiet for a whole window: a new episode
        }
        r.last = now;
        let spaced = r
            .last_passed
            .is_none_or(|t| now.saturating_duration_since(t) >= self.spacing);
        if r.passed < self.burst && spaced {
            r.passed += 1;
            r.last_passed = Some(now);
            return true;
        }
        if r.suppressed == 0 {
            r.since = Some(now);
        }
        r.suppressed += 1;
        false
    }

    /// The summaries due at `now`: each reason whose suppressed occurrences began at least
    /// a window ago. Reasons quiet for a window are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<Suppressed> {
        let mut out = Vec::new();
        let window = self.window;
        for r in &mut self.reasons {
            let Some(since) = r.since else { continue };
            let over = now.saturating_duration_since(since);
            if r.suppressed > 0 && over >= window {
                out.push(Suppressed {
                    reason: r.key,
                    count: r.suppressed,
                    over,
                });
                r.suppressed = 0;
                r.since = None;
            }
        }
        self.reasons
            .retain(|r| r.suppressed > 0 || now.saturating_duration_since(r.last) < window);
        out
    }

    /// Logs the summaries due at `now` (WARN, with the reason and the count).
    pub fn log_due(&mut self, now: Instant) {
        if self.reasons.is_empty() {
            return;
        }
        for s in self.due(now) {
            tracing::warn!(
                reason = s.reason,
                suppressed = s.count,
                "{} more \"{}\" suppressed in the last {} s",
                s.count,
                s.reason,
                s.over.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORGED: &str = "forged gossip datagram dropped";
    const STALE: &str = "stale gossip datagram dropped";

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_few_pass_then_one_summary_per_window() {
        let t0 = Instant::now();
        let mut l = LogLimit::default();
        // 50k occurrences a second for 30 s.
        let mut logged = 0;
        let mut summaries = Vec::new();
        for i in 0..30 * 50_000u64 {
            let now = t0 + Duration::from_micros(i * 20);
            logged += u64::from(l.allow(now, FORGED));
            if i % 5000 == 0 {
                summaries.extend(l.due(now));
            }
        }
        summaries.extend(l.due(ms(t0, 40_000)));
        assert_eq!(logged, u64::from(BURST));
        assert!(summaries.len() <= 4, "{summaries:?}");
        // No two lines of the reason within a second: at 0, 1, 2, 3, 4 s, then 10, 20...
        let first_five: Vec<u64> = {
            let mut l = LogLimit::default();
            (0..10 * 50_000u64)
                .filter(|i| l.allow(t0 + Duration::from_micros(i * 20), FORGED))
                .map(|i| i * 20 / 1000)
                .collect()
        };
        assert_eq!(first_five, [0, 1000, 2000, 3000, 4000]);
        let counted: u64 = summaries.iter().map(|s| s.count).sum();
        assert_eq!(counted + logged, 30 * 50_000);
        assert!(summaries.iter().all(|s| s.reason == FORGED));
        assert!(summaries.iter().all(|s| s.over >= WINDOW));
    }

    #[test]
    fn reasons_are_limited_apart() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(2, Duration::ZERO, WINDOW);
        let forged: Vec<bool> = (0..4).map(|i| l.allow(ms(t0, i), FORGED)).collect();
        let stale: Vec<bool> = (0..4).map(|i| l.allow(ms(t0, i), STALE)).collect();
        assert_eq!(forged, [true, true, false, false]);
        assert_eq!(stale, [true, true, false, false]);
        assert!(
            l.due(ms(t0, 9_000)).is_empty(),
            "no summary before a window"
        );
        let due = l.due(ms(t0, 10_002));
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|s| s.count == 2));
        assert!(l.due(ms(t0, 30_000)).is_empty(), "nothing more to tell");
    }

    #[test]
    fn a_reason_quiet_for_a_window_starts_over() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(1, SPACING, WINDOW);
        assert!(l.allow(t0, FORGED));
        assert!(!l.allow(ms(t0, 1), FORGED));
        assert!(!l.allow(ms(t0, 9_000), FORGED));
        let due = l.due(ms(t0, 10_001));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 2);
        // Still within a window of the latest occurrence: suppressed.
        assert!(!l.allow(ms(t0, 10_500), FORGED));
        assert!(l.due(ms(t0, 15_000)).is_empty());
        // Quiet since 10.5 s: the summary of 10.5 s comes, then a fresh line passes.
        assert_eq!(l.due(ms(t0, 20_600)).len(), 1);
        assert!(l.allow(ms(t0, 31_000), FORGED));
    }

    #[test]
    fn no_line_is_lost_uncounted() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(3, Duration::from_millis(100), Duration::from_secs(1));
        let (mut logged, mut summed) = (0u64, 0u64);
        for i in 0..10_000u64 {
            let now = ms(t0, i * 7 % 3000 + i / 3);
            logged += u64::from(l.allow(now, FORGED));
            summed += l.due(now).iter().map(|s| s.count).sum::<u64>();
        }
        summed += l.due(ms(t0, 100_000)).iter().map(|s| s.count).sum::<u64>();
        assert_eq!(logged + summed, 10_000);
    }
}
