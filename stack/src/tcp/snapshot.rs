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
    pub fn snapshot_bytes(&self, now: Instant) -> Vec<u8> {
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            taken_at: now,
            connection: self,
        };
        // One allocation of about the right size; serializing into a Vec cannot fail.
        let estimate = 512 + self.send.len() + self.recv.readable() + self.recv.ooo_bytes();
        postcard::to_extend(&snap, Vec::with_capacity(estimate)).unwrap_or_default()
    }

    /// Restores a serialized snapshot on this node at `now`.
    pub fn restore_bytes(bytes: &[u8], now: Instant) -> Result<Connection, SnapshotError> {
        TcpSnapshot::from_bytes(bytes).map(|s| s.restore(now))
    }
}

impl TcpSnapshot {
    /// Serializes the snapshot.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
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
