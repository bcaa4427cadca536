//! Small shared types: the 4-tuple, states, events and errors.

use core::fmt;
use core::net::Ipv6Addr;

/// A connection's addresses and ports, from this endpoint's point of view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FourTuple {
    /// Our address (for an anycast group member: the anycast/home address).
    pub local: Ipv6Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote: Ipv6Addr,
    /// The peer's port.
    pub remote_port: u16,
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}]:{} <-> [{}]:{}",
            self.local, self.local_port, self.remote, self.remote_port
        )
    }
}

/// TCP connection states (RFC 9293 §3.3.2). LISTEN lives in the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received, SYN-ACK sent.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// We closed and our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2 MSL for stray segments.
    TimeWait,
    /// Nothing left.
    Closed,
}

impl State {
    /// Whether the three-way handshake has completed (RFC 9293 "synchronized states").
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::SynSent | State::SynReceived | State::Closed)
    }

    /// Whether the peer may still send us data.
    pub fn can_receive(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }

    /// Whether the application may still queue data.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }
}

/// Something the application should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// New in-order data can be read.
    Readable,
    /// Send-buffer space was freed.
    Writable,
    /// The peer sent FIN: no more data will arrive.
    PeerClosed,
    /// The peer reset the connection.
    Reset,
    /// The connection timed out (retransmissions or keepalive).
    TimedOut,
    /// The connection is fully closed and can be removed.
    Closed,
}

/// Why a connection operation failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum TcpError {
    /// The connection was reset by the peer.
    #[error("connection reset by peer")]
    Reset,
    /// The connection timed out.
    #[error("connection timed out")]
    TimedOut,
    /// The connection is closed, or closing for sending.
    #[error("connection is closed for sending")]
    Closed,
    /// The connection is frozen for a handoff.
    #[error("connection is frozen for handoff")]
    Frozen,
}

/// Counters for one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnStats {
    /// Segments received.
    pub segs_in: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Segments retransmitted (any reason).
    pub retransmits: u64,
    /// Fast retransmissions / recovery entries.
    pub fast_recoveries: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Segments dropped by PAWS (RFC 7323).
    pub paws_drops: u64,
    /// Segments outside the receive window.
    pub out_of_window: u64,
    /// ICMPv6 Packet Too Big messages accepted: quoting data in flight (RFC 5927 §4.1),
    /// whether or not they lowered the path MTU (RFC 8201).
    pub ptb_accepted: u64,
    /// Packet Too Big messages ignored: quoting data not in flight (RFC 5927 §4.1), or
    /// arriving while frozen or before the handshake completed.
    pub ptb_ignored: u64,
    /// Fallbacks to the base MTU after timeouts of full-sized segments (RFC 4821 §7.8).
    pub mtu_black_holes: u64,
    /// Path MTU probes sent (RFC 4821 §7.3).
    pub mtu_probes_sent: u64,
    /// Probes acknowledged (each raised the path MTU).
    pub mtu_probes_acked: u64,
}
