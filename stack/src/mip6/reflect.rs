//! A bound on what a correspondent node sends to addresses nobody authenticated.
//!
//! HoTI and CoTI are answered statelessly (RFC 6275 §5.2.3) and a refused Binding Update
//! gets an unsigned BA at its claimed care-of address (§9.5.1), so a spoofed source turns
//! the correspondent into a reflector. RFC 6275 lets a node rate-limit such answers
//! (§9.3.3 for Binding Errors; §15.4 on flooding); this limiter does it per /64 of the
//! address answered: at most `per_prefix` answers per one-second window to any one /64.
//!
//! Memory is bounded: at most `max_prefixes` prefixes are counted per window (the table
//! is cleared when the window turns); answers to prefixes beyond that share one more
//! budget of `per_prefix` for the window. A flood from many prefixes therefore costs at
//! most `(max_prefixes + 1) * per_prefix` answers per second, and a prefix that is not
//! flooded keeps its own budget while the table has room.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use crate::time::{Duration, Instant};

/// Per-/64 answer budget over one-second windows.
#[derive(Debug, Clone)]
pub struct ReflectionLimit {
    per_prefix: u32,
    max_prefixes: usize,
    window_start: Instant,
    counts: HashMap<u64, u32>,
    overflow: u32,
}

impl ReflectionLimit {
    /// At most `per_prefix` answers per second to each /64, counting at most
    /// `max_prefixes` prefixes per second (`per_prefix` 0 answers nothing).
    pub fn new(per_prefix: u32, max_prefixes: usize) -> Self {
        ReflectionLimit {
            per_prefix,
            max_prefixes,
            window_start: Instant::ZERO,
            counts: HashMap::new(),
            overflow: 0,
        }
    }

    /// Whether an answer to `to` may go out at `now` (and counts it if so).
    pub fn allow(&mut self, now: Instant, to: Ipv6Addr) -> bool {
        if now.saturating_since(self.window_start) >= Duration::from_secs(1)
            || now < self.window_start
        {
            self.window_start = now;
            self.counts.clear();
            self.overflow = 0;
        }
        let prefix = u64::from_be_bytes(to.octets()[..8].try_into().unwrap_or([0; 8]));
        let room = self.counts.len() < self.max_prefixes;
        let count = match self.counts.get_mut(&prefix) {
            Some(c) => c,
            None if room => self.counts.entry(prefix).or_insert(0),
            None => &mut self.overflow,
        };
        if *count >= self.per_prefix {
            return false;
        }
        *count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(prefix: u16, host: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, prefix, 0, 0, 0, 0, 0, host)
    }

    #[test]
    fn each_prefix_gets_its_budget_per_second() {
        let mut l = ReflectionLimit::new(3, 16);
        let t = Instant::from_secs(5);
        // Hosts of one /64 share it.
        let answered = (0..10).filter(|h| l.allow(t, addr(1, *h))).count();
        assert_eq!(answered, 3);
        // Another /64 is not held back by the first one's flood.
        assert!(l.allow(t, addr(2, 1)));
        // The next window starts afresh.
        assert!(l.allow(t + Duration::from_secs(1), addr(1, 1)));
    }

    #[test]
    fn many_prefixes_are_bounded_in_memory_and_in_answers() {
        let mut l = ReflectionLimit::new(2, 4);
        let t = Instant::from_secs(1);
        let answered = (0..1000).filter(|p| l.allow(t, addr(*p, 1))).count();
        // Four prefixes counted (one answer each), then the shared budget of two.
        assert_eq!(answered, 4 + 2);
        assert!(l.counts.len() <= 4);
    }
}
