//! Tunables of the TCP engine, with defaults close to Linux's.

use crate::time::Duration;

/// Which congestion controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681, RFC 6582), with SACK-based recovery (RFC 6675) when negotiated.
    NewReno,
    /// CUBIC (RFC 9438).
    Cubic,
}

/// Engine and per-connection settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TcpConfig {
    /// Send buffer capacity in bytes.
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes (bounds the advertised window).
    pub recv_buffer: usize,
    /// Path MTU used to derive the MSS.
    pub mtu: usize,
    /// Bytes of Mobile IPv6 overhead to leave room for (24: one RH2 or HAO header).
    pub mip6_overhead: usize,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Congestion controller.
    pub congestion: CongestionAlgorithm,
    /// Nagle's algorithm (RFC 9293 §3.7.4).
    pub nagle: bool,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3: at most 500 ms); `None` acks at once.
    pub delayed_ack: Option<Duration>,
    /// Lower bound of the retransmission timeout. RFC 6298 says 1 s; Linux uses 200 ms.
    pub min_rto: Duration,
    /// Upper bound of the retransmission timeout (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Retransmissions of one segment before the connection times out.
    pub max_retransmissions: u32,
    /// SYN-ACK retransmissions before a half-open (SYN-RECEIVED) connection is dropped,
    /// as Linux's `tcp_synack_retries` (5: about a minute in all with a 1 s initial
    /// RTO): spoofed SYNs must not hold the listener's backlog for many minutes.
    pub synack_retries: u32,
    /// Time in TIME-WAIT (2 MSL).
    pub time_wait: Duration,
    /// Idle time before keepalive probes; `None` disables keepalive.
    pub keepalive: Option<Duration>,
    /// Interval between keepalive probes.
    pub keepalive_interval: Duration,
    /// Unanswered keepalive probes before the connection times out.
    pub keepalive_probes: u32,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window_segments: u32,
    /// Pending (half-open) connections per listener before SYN cookies are used.
    pub accept_backlog: usize,
    /// Packetization-layer path MTU discovery (RFC 4821, RFC 8899), as Linux's
    /// `tcp_mtu_probing = 1`: after timeouts of full-sized segments fall back to 1280
    /// bytes, then probe upwards. Packet Too Big (RFC 8201) is handled either way.
    pub pmtu_probing: bool,
    /// Segmentation offload (TSO): the most payload bytes one segment from
    /// [`Connection::poll_transmit_segment`](super::Connection::poll_transmit_segment)
    /// may carry when the I/O below splits it into segments of the MSS itself (a TUN
    /// device with `TUN_F_TSO6`). Such a super-segment holds whole segments of
    /// [`Transmit::segment_size`](super::Transmit::segment_size) bytes (the last may be
    /// shorter), each to carry the same header. 0 (the default) is off: no segment is
    /// longer than the MSS. At most 65535 minus the headers.
    ///
    /// A property of the local I/O, not of the connection: snapshots leave it out (their
    /// layout is unchanged), and [`Endpoint::insert`](super::Endpoint::insert) gives a
    /// restored connection the endpoint's own.
    #[serde(skip)]
    pub tso_max: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            mtu: 1500,
            mip6_overhead: 24,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: CongestionAlgorithm::Cubic,
            nagle: false,
            delayed_ack: Some(Duration::from_millis(40)),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            initial_rto: Duration::from_secs(1),
            max_retransmissions: 15,
            synack_retries: 5,
            time_wait: Duration::from_secs(60),
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            initial_window_segments: 10,
            accept_backlog: 128,
            pmtu_probing: true,
            tso_max: 0,
        }
    }
}

impl TcpConfig {
    /// The MSS to announce: path MTU minus the IPv6 header (40), the TCP header (20) and the
    /// Mobile IPv6 header that may be added (24 for an RH2 or a HAO).
    pub fn announced_mss(&self) -> u16 {
        self.mtu
            .saturating_sub(40 + 20 + self.mip6_overhead)
            .clamp(64, u16::MAX as usize) as u16
    }

    /// The window scale to offer so that the receive buffer fits the window field.
    pub fn window_scale(&self) -> u8 {
        let mut shift = 0u8;
        while shift < 14 && (self.recv_buffer >> shift) > u16::MAX as usize {
            shift += 1;
        }
        shift
    }
}
