//! The one encoding of a client session in a handoff (`Transfer` parts).
//!
//! `postcard(version: u16) | postcard(SessionSnapshot)`. The version is read first, so
//! a member of another version refuses the transfer with a typed reason
//! ([`RefuseReason::Version`](super::super::peer::RefuseReason)) and the donor thaws the
//! session: a group in the middle of a rolling upgrade keeps serving every client where it
//! is. Each connection inside is a versioned TCP snapshot of its own
//! (`vany_stack::tcp::snapshot`); a change to either layout bumps its version, and the
//! golden-bytes tests (`tests/snapshot_golden.rs`) fail until it does.

use super::*;

/// The session snapshot format version.
///
/// 1: the first versioned format (client, clock, binding, connections with app state,
/// round trips, pin, the ranges the pre-copy left out).
pub const SESSION_SNAPSHOT_VERSION: u16 = 1;

/// Everything of a client session that travels in a handoff.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// The client.
    pub client: Ipv6Addr,
    /// The donor's clock when taken.
    pub taken_at: Instant,
    /// The binding (sequence number, tokens).
    pub binding: Option<BindingState>,
    /// Each connection's TCP snapshot with its application state.
    pub connections: Vec<(Vec<u8>, AppState)>,
    /// Round trips measured to the client, per member (microseconds).
    pub rtt: Vec<(MemberId, u64)>,
    /// Placed by an operator: automatic policies leave it where it goes.
    pub pinned: bool,
    /// Connections whose send data `[from, to)` the snapshot leaves out because the
    /// acceptor has it from the pre-copy: (local port, remote port, from, to).
    pub left_out: Vec<(u16, u16, u64, u64)>,
}

/// Why a session snapshot could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionSnapshotError {
    /// Serialization failed.
    #[error("session snapshot could not be encoded: {0}")]
    Encode(String),
    /// The bytes are not a session snapshot.
    #[error("malformed session snapshot: {0}")]
    Malformed(String),
    /// A snapshot of another format version.
    #[error(
        "session snapshot version {found} (this member reads version {SESSION_SNAPSHOT_VERSION})"
    )]
    Version {
        /// The version found.
        found: u16,
    },
}

impl SessionSnapshot {
    /// Encodes the snapshot behind its version.
    pub fn encode(&self) -> Result<Vec<u8>, SessionSnapshotError> {
        let enc = |e: postcard::Error| SessionSnapshotError::Encode(e.to_string());
        let out = postcard::to_allocvec(&SESSION_SNAPSHOT_VERSION).map_err(enc)?;
        postcard::to_extend(self, out).map_err(enc)
    }

    /// Decodes a snapshot, checking its version first.
    pub fn decode(bytes: &[u8]) -> Result<SessionSnapshot, SessionSnapshotError> {
        let bad = |e: postcard::Error| SessionSnapshotError::Malformed(e.to_string());
        let (version, rest) = postcard::take_from_bytes::<u16>(bytes).map_err(bad)?;
        if version != SESSION_SNAPSHOT_VERSION {
            return Err(SessionSnapshotError::Version { found: version });
        }
        postcard::from_bytes(rest).map_err(bad)
    }
}
