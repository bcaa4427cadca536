//! What a simulated client records: per-download reports (handovers, stalls, Wireshark's
//! flags), the totals over downloads, and the view of the capture those flags come from.

use std::net::Ipv6Addr;

use serde::Serialize;
use vany_stack::tcp::{ConnStats, Event};
use vany_stack::time::{Duration, Instant};

use super::{DownloadSpec, STALL};
use crate::apps::source::Mismatch;

/// In-order data switched from one IPv6 source to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Handover {
    /// When the last new in-order data from `old_src` arrived.
    pub last_old: Instant,
    /// When the first new in-order data from `new_src` arrived.
    pub first_new: Instant,
    /// The previous source (the donor's care-of address, or the anycast address).
    pub old_src: Ipv6Addr,
    /// The new source (the acceptor's care-of address).
    pub new_src: Ipv6Addr,
    /// Stream bytes received before the switch.
    pub at_offset: u64,
}

impl Handover {
    /// The client-observed gap.
    pub fn gap(&self) -> Duration {
        self.first_new.saturating_since(self.last_old)
    }
}

/// Where a download stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DownloadStatus {
    /// Not started yet.
    Pending,
    /// SYN sent.
    Connecting,
    /// Connected, receiving.
    Receiving,
    /// Every byte arrived, verified, and the server closed.
    Complete,
    /// Reset, timed out, a mismatch, or closed early.
    Failed,
}

/// What happened to one download.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownloadReport {
    /// Index in the client's downloads.
    pub index: usize,
    /// What was asked for.
    pub spec: DownloadSpec,
    /// The client's port.
    pub local_port: u16,
    /// Where it stands.
    pub status: DownloadStatus,
    /// When the SYN was queued.
    pub started_at: Option<Instant>,
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// When the server's FIN after the last byte was read.
    pub completed_at: Option<Instant>,
    /// Stream bytes received and verified.
    pub bytes_verified: u64,
    /// The first wrong byte, if any (must never happen).
    pub mismatch: Option<Mismatch>,
    /// SHA-256 (hex) of everything received, once the stream ended.
    pub sha256: Option<String>,
    /// Resets received.
    pub resets: u32,
    /// Whether the connection timed out.
    pub timed_out: bool,
    /// Retransmission timeouts of the client's side of the connection.
    pub rto_count: u64,
    /// Segments the client retransmitted.
    pub retransmits: u64,
    /// Segments dropped by PAWS at the client.
    pub paws_drops: u64,
    /// Every switch of the in-order data's source.
    pub handovers: Vec<Handover>,
    /// When each spurious retransmission (a segment whose data had all arrived) came.
    pub spurious_at: Vec<Instant>,
    /// When each duplicate ACK (either direction) was sent or received.
    pub dup_acks_at: Vec<Instant>,
    /// In-order stalls longer than [`STALL`](super::STALL): when new in-order data came
    /// again, and how long none had come (from any source; loss recovery makes them too).
    pub stalls: Vec<(Instant, Duration)>,
    /// Source of the latest in-order data.
    pub last_src: Option<Ipv6Addr>,
    /// When the latest new in-order data arrived.
    pub last_data_at: Option<Instant>,
    /// Stream bytes verified over time, thinned (`vany demo --plot` draws it).
    #[serde(skip)]
    pub progress: Progress,
}

/// Bytes received over time, thinned to a point per [`Progress::STEP`] of steady
/// arrival, with both ends of every pause longer than that kept (so a plot shows each
/// gap exactly).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// (when, bytes so far), in time order.
    pub points: Vec<(Instant, u64)>,
    /// The latest change, when not kept as a point yet.
    latest: Option<(Instant, u64)>,
}

impl Progress {
    /// The spacing of points while bytes arrive steadily.
    pub const STEP: Duration = Duration::from_millis(10);

    /// Bytes so far became `bytes` at `now`.
    pub fn note(&mut self, now: Instant, bytes: u64) {
        let last_kept = self.points.last().map(|p| p.0);
        let paused = self
            .latest
            .is_some_and(|(at, _)| now.saturating_since(at) >= Self::STEP);
        if paused {
            // The pause's start.
            self.points.extend(self.latest.take());
        }
        if paused || last_kept.is_none_or(|k| now.saturating_since(k) >= Self::STEP) {
            self.points.push((now, bytes));
            self.latest = None;
        } else {
            self.latest = Some((now, bytes));
        }
    }

    /// Every point, the latest change included.
    pub fn all(&self) -> impl Iterator<Item = (Instant, u64)> + '_ {
        self.points.iter().copied().chain(self.latest)
    }
}

impl DownloadReport {
    /// Download time, from the SYN to the FIN, once complete.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.completed_at?.saturating_since(self.started_at?))
    }
}

/// Totals over a client's downloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientSummary {
    /// Downloads configured.
    pub downloads: u64,
    /// Downloads complete.
    pub complete: u64,
    /// Downloads failed.
    pub failed: u64,
    /// Stream bytes verified.
    pub bytes_verified: u64,
    /// Downloads with a wrong byte (must be 0).
    pub mismatches: u64,
    /// Resets received.
    pub resets: u64,
    /// Connections that timed out.
    pub timed_out: u64,
    /// Retransmission timeouts at the client.
    pub rto_count: u64,
    /// Handovers seen.
    pub handovers: u64,
    /// Spurious retransmissions received (segments whose data had all arrived).
    pub spurious_retransmissions: u64,
    /// Duplicate ACKs sent or received (Wireshark's rule).
    pub dup_acks: u64,
    /// Binding Updates the CN accepted.
    pub bu_accepted: u64,
    /// Binding Updates the CN refused (BA status >= 128).
    pub bu_refused: u64,
    /// Binding Updates discarded for a bad authenticator.
    pub bu_bad_auth: u64,
    /// Packets with a HAO but no binding, dropped.
    pub hao_dropped: u64,
    /// Packets that did not parse or failed their checksum.
    pub malformed: u64,
    /// RSTs the client's endpoint sent for segments of no connection.
    pub resets_sent: u64,
}

impl ClientSummary {
    /// Adds another client's totals.
    pub fn add(&mut self, o: &ClientSummary) {
        self.downloads += o.downloads;
        self.complete += o.complete;
        self.failed += o.failed;
        self.bytes_verified += o.bytes_verified;
        self.mismatches += o.mismatches;
        self.resets += o.resets;
        self.timed_out += o.timed_out;
        self.rto_count += o.rto_count;
        self.handovers += o.handovers;
        self.spurious_retransmissions += o.spurious_retransmissions;
        self.dup_acks += o.dup_acks;
        self.bu_accepted += o.bu_accepted;
        self.bu_refused += o.bu_refused;
        self.bu_bad_auth += o.bu_bad_auth;
        self.hao_dropped += o.hao_dropped;
        self.malformed += o.malformed;
        self.resets_sent += o.resets_sent;
    }
}

/// The transport measurements of one download's report, whatever its kind (the fields
/// [`DownloadReport`] and [`HttpDownloadReport`](super::HttpDownloadReport) share).
pub(super) struct Track<'a> {
    pub(super) status: &'a mut DownloadStatus,
    pub(super) connected_at: &'a mut Option<Instant>,
    pub(super) resets: &'a mut u32,
    pub(super) timed_out: &'a mut bool,
    pub(super) rto_count: &'a mut u64,
    pub(super) retransmits: &'a mut u64,
    pub(super) paws_drops: &'a mut u64,
    pub(super) handovers: &'a mut Vec<Handover>,
    pub(super) spurious_at: &'a mut Vec<Instant>,
    pub(super) dup_acks_at: &'a mut Vec<Instant>,
    pub(super) stalls: &'a mut Vec<(Instant, Duration)>,
    pub(super) last_src: &'a mut Option<Ipv6Addr>,
    pub(super) last_data_at: &'a mut Option<Instant>,
}

/// The [`Track`] of a report with the shared fields.
macro_rules! track {
    ($r:expr) => {
        $crate::sim::client::report::Track {
            status: &mut $r.status,
            connected_at: &mut $r.connected_at,
            resets: &mut $r.resets,
            timed_out: &mut $r.timed_out,
            rto_count: &mut $r.rto_count,
            retransmits: &mut $r.retransmits,
            paws_drops: &mut $r.paws_drops,
            handovers: &mut $r.handovers,
            spurious_at: &mut $r.spurious_at,
            dup_acks_at: &mut $r.dup_acks_at,
            stalls: &mut $r.stalls,
            last_src: &mut $r.last_src,
            last_data_at: &mut $r.last_data_at,
        }
    };
}
pub(super) use track;

impl Track<'_> {
    /// A connection event.
    pub(super) fn event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Connected => {
                self.connected_at.get_or_insert(now);
                if *self.status == DownloadStatus::Connecting {
                    *self.status = DownloadStatus::Receiving;
                }
            }
            Event::Reset => *self.resets += 1,
            Event::TimedOut => *self.timed_out = true,
            _ => {}
        }
    }

    /// The connection's counters.
    pub(super) fn conn_stats(&mut self, stats: ConnStats) {
        *self.rto_count = stats.timeouts;
        *self.retransmits = stats.retransmits;
        *self.paws_drops = stats.paws_drops;
    }

    /// New in-order data from `src` (on the wire) arrived at `now`, `before` bytes having
    /// arrived in order before: a stall or a handover, maybe.
    pub(super) fn progress(&mut self, now: Instant, src: Ipv6Addr, before: u64) {
        if let Some(last) = *self.last_data_at {
            let stall = now.saturating_since(last);
            if stall >= STALL {
                self.stalls.push((now, stall));
            }
        }
        if let (Some(old), Some(last)) = (*self.last_src, *self.last_data_at) {
            if old != src {
                self.handovers.push(Handover {
                    last_old: last,
                    first_new: now,
                    old_src: old,
                    new_src: src,
                    at_offset: before,
                });
            }
        }
        *self.last_src = Some(src);
        *self.last_data_at = Some(now);
    }
}

/// What the client's capture shows of one connection, for Wireshark's flags.
#[derive(Default)]
pub(super) struct WireView {
    /// The server's first data sequence number seen; ranges are offsets from it.
    pub(super) base: Option<u32>,
    /// Data received, as merged ranges of offsets.
    pub(super) received: Vec<(u64, u64)>,
    /// The last segment's (ACK number, window) from the server and from the client.
    pub(super) last_in: Option<(u32, u16)>,
    pub(super) last_out: Option<(u32, u16)>,
}

impl WireView {
    /// Records received data `[seq, seq + len)`; returns whether all of it had arrived.
    pub(super) fn data_in(&mut self, seq: u32, len: usize) -> bool {
        if len == 0 {
            return false;
        }
        let base = *self.base.get_or_insert(seq);
        let start = u64::from(seq.wrapping_sub(base));
        if start > u64::from(u32::MAX / 2) {
            return true; // before the first data seen: old
        }
        let r = (start, start + len as u64);
        if self.received.iter().any(|x| x.0 <= r.0 && r.1 <= x.1) {
            return true;
        }
        self.received.push(r);
        self.received.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.received.len());
        for x in self.received.drain(..) {
            match merged.last_mut() {
                Some(last) if x.0 <= last.1 => last.1 = last.1.max(x.1),
                _ => merged.push(x),
            }
        }
        self.received = merged;
        false
    }

    /// Wireshark's duplicate ACK against the previous segment in the same direction.
    pub(super) fn dup_ack(
        last: &mut Option<(u32, u16)>,
        ack: u32,
        window: u16,
        pure: bool,
    ) -> bool {
        let dup = pure && window != 0 && *last == Some((ack, window));
        *last = Some((ack, window));
        dup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_thins_steady_arrival_and_keeps_both_ends_of_a_pause() {
        let mut p = Progress::default();
        let ms = Instant::from_millis;
        // Every millisecond for 50 ms: a point per 10 ms.
        for m in 0..50 {
            p.note(ms(m), 1000 * (m as u64 + 1));
        }
        assert_eq!(p.points.len(), 5);
        // A 100 ms pause, then data again: the pause's last byte and first byte kept.
        p.note(ms(149), 51_000);
        let n = p.points.len();
        assert_eq!(p.points[n - 2], (ms(49), 50_000));
        assert_eq!(p.points[n - 1], (ms(149), 51_000));
        // The latest change is part of the series even when not kept yet.
        p.note(ms(150), 52_000);
        assert_eq!(p.all().last(), Some((ms(150), 52_000)));
    }
}
