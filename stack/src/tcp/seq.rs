//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).

use core::cmp::Ordering;
use core::fmt;

/// A TCP sequence number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Seq(pub u32);

impl Seq {
    /// `self + n`, wrapping.
    pub fn wrapping_add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// The signed distance from `other` to `self` (positive when `self` is after).
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Whether `self` lies in `[start, end)` modulo 2^32.
    pub fn in_range(self, start: Seq, end: Seq) -> bool {
        self.0.wrapping_sub(start.0) < end.0.wrapping_sub(start.0)
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Seq) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<smoltcp::wire::TcpSeqNumber> for Seq {
    fn from(s: smoltcp::wire::TcpSeqNumber) -> Seq {
        Seq(s.0 as u32)
    }
}

impl From<Seq> for smoltcp::wire::TcpSeqNumber {
    fn from(s: Seq) -> smoltcp::wire::TcpSeqNumber {
        smoltcp::wire::TcpSeqNumber(s.0 as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap_around() {
        let a = Seq(u32::MAX - 5);
        let b = a.wrapping_add(10);
        assert_eq!(b, Seq(4));
        assert!(a < b);
        assert_eq!(b.diff(a), 10);
        assert!(Seq(0).in_range(a, b));
        assert!(!b.in_range(a, b));
    }
}
