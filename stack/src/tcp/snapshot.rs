//! Snapshot and restore of a connection, for handing it to another node.
//!
//! A snapshot is the whole [`Connection`] — sequence variables, windows and scales,
//! negotiated options, unacknowledged and unsent data, out-of-order and unread received
//! data, RTT estimator, congestion state, timers and the timestamp clock offset — plus
//! the time it was taken, encoded with postcard behind a version number. Restoring it on
//! another node, with another clock, shifts every deadline by the clock difference (so
//! timers keep their remaining time) and moves the TSval clock so that every timestamp
//! sent after the move is newer than any sent before it (RFC 7323 §5: PAWS).

use crate::time::Instant;

use super::connection::Connection;

/// The snapshot format version; bumped on any incompatible change.
///
/// 2: path MTU state (`pmtu`), its counters in the stats and `TcpConfig::pmtu_probing`; the
/// old path's state after a handoff (`old_path`) and the send buffer's own capacity.
pub const SNAPSHOT_VERSION: u16 = 2;

/// A connection snapshot (owned form).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TcpSnapshot {
    /// Format version.
    pub version: u16,
    /// The donor's clock when the snapshot was taken.
    pub taken_at: Instant,
    /// The connection.
    pub connection: Connection,
}

#[derive(serde::Serialize)]
struct SnapshotRef<'a> {
    version: u16,
    taken_at: Instant,
    connection: &'a Connection,
}

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not a snapshot.
    #[error("malformed TCP snapshot: {0}")]
    Malformed(String),
    /// The connection could not be serialized.
    #[error("TCP snapshot could not be encoded: {0}")]
    Encode(String),
    /// A snapshot of another format version.
    #[error("TCP snapshot version {found} is not supported (this node reads version {SNAPSHOT_VERSION})")]
    Version {
        /// The version found.
        found: u16,
    },
}

impl Connection {
    /// A copy of the connection as of `now`.
    pub fn snapshot(&self, now: Instant) -> TcpSnapshot {
        TcpSnapshot {
            version: SNAPSHOT_VERSION,
            taken_at: now,
            connection: self.clone(),
        }
    }

    /// The snapshot as of `now`, serialized (no intermediate copy of the buffers).
    pub fn snapshot_bytes(&self, now: Instant) -> Result<Vec<u8>, SnapshotError> {
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            taken_at: now,
            connection: self,
        };
        // One allocation of about the right size.
        let estimate = 512 + self.send.len() + self.recv.readable() + self.recv.ooo_bytes();
        postcard::to_extend(&snap, Vec::with_capacity(estimate))
            .map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// Stream offsets `[start, end)` of the bytes in the send buffer: unacknowledged, then
    /// unsent. Only the end moves up while the application writes, and only the start
    /// while the peer acknowledges, so a range copied ahead of a handoff stays valid.
    pub fn send_stream_range(&self) -> (u64, u64) {
        (self.send.start(), self.send.end())
    }

    /// Copies send-buffer bytes from stream offset `from` into `dst`; returns how many
    /// (none when `from` is outside the buffer).
    pub fn copy_send_stream(&self, from: u64, dst: &mut [u8]) -> usize {
        self.send.copy_out(from, dst)
    }

    /// The snapshot as of `now` with the send buffer's bytes before stream offset `from`
    /// left out (the acceptor has them already: they were copied while this connection
    /// kept running). Returns the snapshot and the range `[start, from)` left out, which
    /// the acceptor puts back with [`fill_send_prefix`](Self::fill_send_prefix).
    pub fn snapshot_bytes_from(
        &mut self,
        now: Instant,
        from: u64,
    ) -> Result<(Vec<u8>, (u64, u64)), SnapshotError> {
        let from = from.clamp(self.send.start(), self.send.end());
        let left_out = (self.send.start(), from);
        if from == self.send.start() {
            return Ok((self.snapshot_bytes(now)?, left_out));
        }
        let suffix = self.send.suffix(from);
        let whole = std::mem::replace(&mut self.send, suffix);
        let bytes = self.snapshot_bytes(now);
        self.send = whole;
        Ok((bytes?, left_out))
    }

    /// Puts back the send-buffer bytes `[from, from + bytes.len())` that
    /// [`snapshot_bytes_from`](Self::snapshot_bytes_from) left out. Fails, changing
    /// nothing, unless they end where the restored buffer starts and begin at the first
    /// unacknowledged byte.
    pub fn fill_send_prefix(&mut self, from: u64, bytes: &[u8]) -> Result<(), SnapshotError> {
        // The buffer holds data from SND.UNA on (the SYN takes sequence offset 0).
        let expected = self.snd_una.saturating_sub(1).min(self.send.end());
        if from != expected {
            return Err(SnapshotError::Malformed(format!(
                "send data put back at stream offset {from}, expected {expected}"
            )));
        }
        if !self.send.prepend(from, bytes) {
            return Err(SnapshotError::Malformed(format!(
                "{} send bytes from stream offset {from} do not reach the snapshot's {}",
                bytes.len(),
                self.send.start()
            )));
        }
        Ok(())
    }

    /// Restores a serialized snapshot on this node at `now`.
    pub fn restore_bytes(bytes: &[u8], now: Instant) -> Result<Connection, SnapshotError> {
        TcpSnapshot::from_bytes(bytes).map(|s| s.restore(now))
    }
}

impl TcpSnapshot {
    /// Serializes the snapshot.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        postcard::to_allocvec(self).map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// Decodes a snapshot, checking its version first.
    pub fn from_bytes(bytes: &[u8]) -> Result<TcpSnapshot, SnapshotError> {
        let (version, _) = postcard::take_from_bytes::<u16>(bytes)
            .map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        postcard::from_bytes(bytes).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }

    /// The connection, running on a node whose clock reads `now`: deadlines keep their
    /// remaining time, TSvals keep increasing, and the connection is not frozen.
    pub fn restore(self, now: Instant) -> Connection {
        let mut c = self.connection;
        c.rebase_clock(self.taken_at, now);
        c.frozen = false;
        c
    }
}
