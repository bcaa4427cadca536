//! A sans-IO TCP engine (RFC 9293) whose whole connection state is plain data, so that a
//! connection can be frozen, serialized, shipped to another node and continued there
//! (`snapshot`). smoltcp provides only the wire format.
//!
//! A connection is driven quinn-proto style: `handle_segment(now, ..)` in,
//! `poll_transmit(now, ..)` out, `poll_timeout()` says when to call
//! `handle_timeout(now)`.

pub mod buffer;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod endpoint;
pub mod new_path;
pub mod output;
pub mod pmtu;
pub mod rtt;
pub mod seq;
pub mod snapshot;
pub mod types;

pub use config::{CongestionAlgorithm, TcpConfig};
pub use connection::Connection;
pub use endpoint::{Endpoint, EndpointError, EndpointStats, Transmit};
pub use output::{Emitted, TSO_MAX_PAYLOAD};
pub use seq::Seq;
pub use snapshot::{SnapshotError, TcpSnapshot, SNAPSHOT_VERSION};
pub use types::{ConnStats, Event, FourTuple, State, TcpError};
