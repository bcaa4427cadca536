//! Prometheus metrics of a node: a [`MetricsSnapshot`] taken by the data path, rendered
//! in the text exposition format (version 0.0.4) by [`render`], and served by a tiny
//! HTTP/1.0 server ([`serve`]) on `metrics_listen`: `GET /metrics` only.
//!
//! The server asks the data path for a snapshot through the node's query channel (it
//! never touches the member itself) and answers 503 if the data path does not answer
//! within a second. Connections are bounded ([`LIMITS`], [`super::conns`]): idle ones
//! cannot lock a scrape out. docs/operations.md lists every metric.

use std::fmt::Write as _;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use serde::Serialize;
use vany_stack::mip6::mn::MnStats;

use super::conns::{ConnStats, Limits, Line, LineReader, Registry, Ticket};
use super::membership::GossipStats;
use crate::group::member::{HandoffOutcome, HandoffRecord, MemberStats};
use crate::group::peer::PeerStats;

/// Upper bounds of the handoff-duration histogram buckets, in seconds.
pub const HANDOFF_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Packet I/O counters of the data path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IoCounters {
    /// Packets read from the TUN.
    pub rx_packets: u64,
    /// Bytes read.
    pub rx_bytes: u64,
    /// Packets written to the TUN.
    pub tx_packets: u64,
    /// Bytes written.
    pub tx_bytes: u64,
    /// Packets the TUN dropped (queue full, device down).
    pub tx_dropped: u64,
    /// Receive rate over the last second.
    pub rx_pps: f64,
    /// Transmit rate over the last second.
    pub tx_pps: f64,
}

/// TCP endpoint counters of the data path (what a SYN flood costs and what completes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TcpCounters {
    /// SYN-ACKs sent with a cookie instead of state (the half-open backlog was full).
    pub syn_cookies_sent: u64,
    /// Connections established from a valid cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs whose cookie did not verify.
    pub syn_cookies_rejected: u64,
    /// RSTs sent for segments with no connection.
    pub resets_sent: u64,
}

impl From<vany_stack::tcp::EndpointStats> for TcpCounters {
    fn from(s: vany_stack::tcp::EndpointStats) -> TcpCounters {
        TcpCounters {
            syn_cookies_sent: s.syn_cookies_sent,
            syn_cookies_accepted: s.syn_cookies_accepted,
            syn_cookies_rejected: s.syn_cookies_rejected,
            resets_sent: s.resets_sent,
        }
    }
}

/// Handoff outcomes and committed handoff durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HandoffSummary {
    /// Under way.
    pub pending: u64,
    /// Committed.
    pub committed: u64,
    /// Refused by the acceptor.
    pub refused: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Called off: another member's copy of the session turned out to be the live one.
    pub abandoned: u64,
    /// Count per bucket of [`HANDOFF_BUCKETS`] (not cumulative).
    pub buckets: [u64; HANDOFF_BUCKETS.len()],
    /// Committed handoffs longer than the last bucket.
    pub over: u64,
    /// Sum of committed durations, seconds.
    pub sum_seconds: f64,
    /// Failed handoffs by reason (`refused_draining`, `timed_out`, ...).
    pub failures: std::collections::BTreeMap<&'static str, u64>,
}

impl HandoffSummary {
    /// Summarizes the handoffs a member started (duration: freeze -> commit).
    pub fn from_records(records: &[HandoffRecord]) -> HandoffSummary {
        let mut s = HandoffSummary::default();
        for r in records {
            if let Some(label) = r.failure_label {
                *s.failures.entry(label).or_default() += 1;
            }
            match r.outcome {
                HandoffOutcome::Pending => s.pending += 1,
                HandoffOutcome::Refused => s.refused += 1,
                HandoffOutcome::TimedOut => s.timed_out += 1,
                HandoffOutcome::Abandoned => s.abandoned += 1,
                HandoffOutcome::Committed => {
                    s.committed += 1;
                    if let Some(c) = r.committed {
                        let secs = c.saturating_since(r.started).total_micros() as f64 / 1e6;
                        s.sum_seconds += secs;
                        match HANDOFF_BUCKETS.iter().position(|b| secs <= *b) {
                            Some(i) => s.buckets[i] += 1,
                            None => s.over += 1,
                        }
                    }
                }
            }
        }
        s
    }

    /// Committed handoffs that have a duration (the histogram's count).
    pub fn observed(&self) -> u64 {
        self.buckets.iter().sum::<u64>() + self.over
    }
}

/// Everything `/metrics` shows, taken at one instant by the data path.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// This member.
    pub member_id: u16,
    /// Its name.
    pub member_name: String,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// Client sessions served here.
    pub sessions: u64,
    /// Whether the member is draining.
    pub draining: bool,
    /// Member counters.
    pub member: MemberStats,
    /// Peer-channel counters.
    pub peer: PeerStats,
    /// Mobile IPv6 (mobile node) counters.
    pub mn: MnStats,
    /// Handoffs this member started.
    pub handoffs: HandoffSummary,
    /// Packet I/O.
    pub io: IoCounters,
    /// Layer 2 (DPDK only).
    pub layer2: Option<crate::io::Layer2Report>,
    /// TCP endpoint counters.
    pub tcp: TcpCounters,
    /// Gossip counters, if gossip is on.
    pub gossip: Option<GossipStats>,
    /// Members gossip sees up, if gossip is on.
    pub members_up: Option<u64>,
    /// Handoffs refused as the acceptor, by reason label.
    pub refusals_sent: std::collections::BTreeMap<&'static str, u64>,
}

/// The HELP and TYPE lines of metric `name`.
pub(super) fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders `s` in the Prometheus text format.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut o = String::new();
    render_identity(&mut o, s);
    render_handoffs(&mut o, s);
    for (name, help, v) in counter_table(s) {
        metric(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name} {v}");
    }
    render_traffic(&mut o, s);
    if let Some(l2) = &s.layer2 {
        super::metrics_l2::render(&mut o, l2);
    }
    o
}

/// Who this node is and what it serves.
fn render_identity(o: &mut String, s: &MetricsSnapshot) {
    metric(
        o,
        "vany_node_info",
        "gauge",
        "This node (labels), always 1.",
    );
    let name = s.member_name.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(
        o,
        "vany_node_info{{member=\"{}\",name=\"{name}\"}} 1",
        s.member_id
    );
    metric(
        o,
        "vany_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    let _ = writeln!(o, "vany_uptime_seconds {:.3}", s.uptime_seconds);
    metric(
        o,
        "vany_sessions",
        "gauge",
        "Client sessions served by this member.",
    );
    let _ = writeln!(o, "vany_sessions {}", s.sessions);
    metric(o, "vany_draining", "gauge", "1 while the member drains.");
    let _ = writeln!(o, "vany_draining {}", u8::from(s.draining));
}

/// Handoffs started here (by outcome, failure reason, duration) and refused here.
fn render_handoffs(o: &mut String, s: &MetricsSnapshot) {
    let h = &s.handoffs;
    metric(
        o,
        "vany_handoffs_total",
        "counter",
        "Handoffs this member started, by outcome.",
    );
    for (outcome, n) in [
        ("pending", h.pending),
        ("committed", h.committed),
        ("refused", h.refused),
        ("timed_out", h.timed_out),
        ("abandoned", h.abandoned),
    ] {
        let _ = writeln!(o, "vany_handoffs_total{{outcome=\"{outcome}\"}} {n}");
    }
    metric(
        o,
        "vany_handoff_failures_total",
        "counter",
        "Failed handoffs this member started, by reason: refused_<why> (the acceptor's \
         refusal: draining, binding, too_large, malformed, \
         precopy_missing, collision), timed_out (the acceptor acknowledged nothing for \
         handoff_timeout_ms), abandoned (called off: another copy of the session won, or \
         the session ended first).",
    );
    for (reason, n) in &h.failures {
        let _ = writeln!(o, "vany_handoff_failures_total{{reason=\"{reason}\"}} {n}");
    }
    metric(
        o,
        "vany_handoff_duration_seconds",
        "histogram",
        "Committed handoffs, donor's freeze to commit.",
    );
    let mut cumulative = 0;
    for (b, n) in HANDOFF_BUCKETS.iter().zip(h.buckets) {
        cumulative += n;
        let _ = writeln!(
            o,
            "vany_handoff_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        o,
        "vany_handoff_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        h.observed()
    );
    let _ = writeln!(o, "vany_handoff_duration_seconds_sum {:.6}", h.sum_seconds);
    let _ = writeln!(o, "vany_handoff_duration_seconds_count {}", h.observed());

    metric(
        o,
        "vany_handoff_refusals_sent_total",
        "counter",
        "Handoffs this member refused as the acceptor, by reason (the same labels as \
         vany_handoff_failures_total); each is also logged.",
    );
    for (reason, n) in &s.refusals_sent {
        let _ = writeln!(
            o,
            "vany_handoff_refusals_sent_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

/// The plain counters: (name, help, value).
/// Counters rendered one per line, in this order: the mobile node's, then the group's.
fn counter_table(s: &MetricsSnapshot) -> Vec<(&'static str, &'static str, u64)> {
    let mut t = mobility_counters(s).to_vec();
    t.extend(group_counters(s));
    t
}

/// The Mobile IPv6 (mobile node) counters.
fn mobility_counters(s: &MetricsSnapshot) -> [(&'static str, &'static str, u64); 6] {
    [
        (
            "vany_hoti_sent_total",
            "Home Test Inits sent.",
            s.mn.hoti_sent,
        ),
        (
            "vany_coti_sent_total",
            "Care-of Test Inits sent.",
            s.mn.coti_sent,
        ),
        ("vany_bu_sent_total", "Binding Updates sent.", s.mn.bu_sent),
        (
            "vany_ba_accepted_total",
            "Binding Acknowledgements accepted.",
            s.mn.ba_accepted,
        ),
        (
            "vany_ba_dropped_total",
            "Binding Acknowledgements dropped (bad authenticator, unknown sequence number).",
            s.mn.ba_dropped,
        ),
        (
            "vany_be_received_total",
            "Binding Errors received.",
            s.mn.be_received,
        ),
    ]
}

/// The member's and the peer channel's counters.
fn group_counters(s: &MetricsSnapshot) -> [(&'static str, &'static str, u64); 20] {
    let m = &s.member;
    let p = &s.peer;
    [
        (
            "vany_forwarded_total",
            "Client packets forwarded to an acceptor.",
            m.forwarded,
        ),
        (
            "vany_forwarded_in_total",
            "Forwarded packets received from donors.",
            m.forwarded_in,
        ),
        (
            "vany_transfers_refused_total",
            "Session transfers this member refused.",
            m.refused,
        ),
        (
            "vany_sessions_accepted_total",
            "Sessions accepted from donors.",
            m.accepted,
        ),
        (
            "vany_tokens_relayed_total",
            "Home tokens relayed to other members.",
            m.tokens_relayed,
        ),
        (
            "vany_home_tests_forged_total",
            "Home Tests dropped without state: their cookie is not one the group made for \
             the address they came from.",
            m.home_tests_forged,
        ),
        (
            "vany_home_tests_replayed_total",
            "Home Tests dropped without state: their cookie was past its lifetime or taken \
             already (a cookie seen on the wire, replayed).",
            m.home_tests_replayed,
        ),
        (
            "vany_bindings_forgotten_total",
            "Clients with no session, binding or test under way whose state was let go.",
            m.bindings_forgotten,
        ),
        (
            "vany_orphans_deregistered_total",
            "Bindings to a member taken for dead, deregistered at its clients (contact node).",
            m.orphans_deregistered,
        ),
        (
            "vany_sessions_abandoned_total",
            "Restored sessions dropped (Abandon).",
            m.abandoned,
        ),
        (
            "vany_packet_too_big_accepted_total",
            "ICMPv6 Packet Too Big messages a TCP connection accepted (RFC 8201).",
            m.ptb_accepted,
        ),
        (
            "vany_packet_too_big_ignored_total",
            "ICMPv6 Packet Too Big messages ignored (not about data in flight, RFC 5927).",
            m.ptb_ignored,
        ),
        ("vany_peer_sent_total", "Peer messages sent.", p.sent),
        (
            "vany_peer_accepted_total",
            "Peer messages accepted.",
            p.accepted,
        ),
        (
            "vany_peer_retransmitted_total",
            "Peer messages sent again.",
            p.retransmitted,
        ),
        (
            "vany_peer_given_up_total",
            "Peer messages given up.",
            p.given_up,
        ),
        (
            "vany_peer_reassembly_dropped_total",
            "Partly reassembled peer messages dropped (timed out, or past the 64 MiB budget).",
            p.reassembly_dropped,
        ),
        (
            "vany_rx_packets_total",
            "Packets read from the TUN.",
            s.io.rx_packets,
        ),
        (
            "vany_tx_packets_total",
            "Packets written to the TUN.",
            s.io.tx_packets,
        ),
        (
            "vany_rx_bytes_total",
            "Bytes read from the TUN.",
            s.io.rx_bytes,
        ),
    ]
}

/// TCP listener defences, packet I/O, drops and gossip.
fn render_traffic(o: &mut String, s: &MetricsSnapshot) {
    let (m, p) = (&s.member, &s.peer);
    metric(
        o,
        "vany_syn_cookies_total",
        "counter",
        "SYN cookies (RFC 4987): sent when the half-open backlog is full, accepted or \
         rejected when an ACK comes back.",
    );
    for (outcome, n) in [
        ("sent", s.tcp.syn_cookies_sent),
        ("accepted", s.tcp.syn_cookies_accepted),
        ("rejected", s.tcp.syn_cookies_rejected),
    ] {
        let _ = writeln!(o, "vany_syn_cookies_total{{outcome=\"{outcome}\"}} {n}");
    }
    metric(
        o,
        "vany_tcp_resets_sent_total",
        "counter",
        "TCP RSTs sent for segments with no connection.",
    );
    let _ = writeln!(o, "vany_tcp_resets_sent_total {}", s.tcp.resets_sent);
    metric(
        o,
        "vany_tx_bytes_total",
        "counter",
        "Bytes written to the TUN.",
    );
    let _ = writeln!(o, "vany_tx_bytes_total {}", s.io.tx_bytes);
    metric(
        o,
        "vany_packets_per_second",
        "gauge",
        "Packet rate over the last second.",
    );
    let _ = writeln!(
        o,
        "vany_packets_per_second{{direction=\"in\"}} {:.1}",
        s.io.rx_pps
    );
    let _ = writeln!(
        o,
        "vany_packets_per_second{{direction=\"out\"}} {:.1}",
        s.io.tx_pps
    );

    metric(
        o,
        "vany_drops_total",
        "counter",
        "Packets and messages dropped, by reason.",
    );
    let mut drops = vec![
        ("member", m.dropped),
        ("peer_forged", p.forged),
        ("peer_replayed", p.replayed),
        ("peer_malformed", p.malformed),
        ("tx_full", s.io.tx_dropped),
    ];
    if let Some(g) = &s.gossip {
        drops.extend([
            ("gossip_forged", g.forged),
            ("gossip_stale", g.stale),
            ("gossip_rejected", g.rejected),
            ("gossip_overflow", g.overflow),
        ]);
    }
    for (reason, n) in drops {
        let _ = writeln!(o, "vany_drops_total{{reason=\"{reason}\"}} {n}");
    }
    if let Some(g) = &s.gossip {
        metric(
            o,
            "vany_gossip_datagrams_total",
            "counter",
            "Gossip datagrams.",
        );
        let _ = writeln!(
            o,
            "vany_gossip_datagrams_total{{direction=\"out\"}} {}",
            g.sent
        );
        let _ = writeln!(
            o,
            "vany_gossip_datagrams_total{{direction=\"in\"}} {}",
            g.received
        );
    }
    if let Some(up) = s.members_up {
        metric(
            o,
            "vany_members_up",
            "gauge",
            "Other members gossip sees up.",
        );
        let _ = writeln!(o, "vany_members_up {up}");
    }
}

/// The metrics server's bounds: 64 connections (the oldest idle one is closed to make
/// room for a new one), a request head of at most 8 KiB arriving within 5 s.
pub const LIMITS: Limits = Limits {
    max_conns: 64,
    read_deadline: StdDuration::from_secs(5),
    write_timeout: StdDuration::from_secs(5),
    max_request: 8 * 1024,
};

/// Renders the counters of the node's own servers (`server` label: `ctl`, `metrics`).
pub fn render_servers(servers: &[(&str, &ConnStats)]) -> String {
    let mut o = String::new();
    metric(
        &mut o,
        "vany_control_connections",
        "gauge",
        "Connections open now to the control socket (ctl) and /metrics (metrics).",
    );
    for (server, s) in servers {
        let open = s.open.load(Ordering::Relaxed);
        let _ = writeln!(o, "vany_control_connections{{server=\"{server}\"}} {open}");
    }
    metric(
        &mut o,
        "vany_control_connections_closed_total",
        "counter",
        "Connections the server closed or refused, by reason: evicted_idle (the oldest \
         idle one, to make room at the cap), refused_busy (every open one was busy), \
         refused_peer (not root or the node's user), too_long (request over the limit), \
         timed_out (no whole request in time).",
    );
    for (server, s) in servers {
        for (reason, n) in s.closed() {
            let _ = writeln!(
                o,
                "vany_control_connections_closed_total{{server=\"{server}\",reason=\"{reason}\"}} {n}"
            );
        }
    }
    o
}

/// Serves `GET /metrics` on `listen`, one thread per connection within [`LIMITS`]; each
/// request calls `snapshot` (which asks the data path, and gives `None` if it does not
/// answer in time), and shows the counters of this server and of `ctl` (the control
/// server's, if given). Returns the bound address.
pub fn serve<F>(
    listen: SocketAddr,
    snapshot: F,
    ctl: Option<Arc<ConnStats>>,
) -> std::io::Result<SocketAddr>
where
    F: Fn() -> Option<MetricsSnapshot> + Send + Sync + 'static,
{
    serve_with(listen, LIMITS, snapshot, ctl)
}

/// [`serve`] with other bounds.
pub fn serve_with<F>(
    listen: SocketAddr,
    limits: Limits,
    snapshot: F,
    ctl: Option<Arc<ConnStats>>,
) -> std::io::Result<SocketAddr>
where
    F: Fn() -> Option<MetricsSnapshot> + Send + Sync + 'static,
{
    let listener = TcpListener::bind(listen)?;
    let bound = listener.local_addr()?;
    let stats = Arc::new(ConnStats::default());
    let registry = Registry::new(limits, stats.clone());
    let body = Arc::new(move || {
        let snap = snapshot()?;
        let mut servers = vec![("metrics", &*stats)];
        if let Some(c) = &ctl {
            servers.insert(0, ("ctl", &**c));
        }
        Some(render(&snap) + &render_servers(&servers))
    });
    std::thread::Builder::new()
        .name("vany-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Some(stream) = super::conns::accepted(stream, "metrics") else {
                    continue;
                };
                let body = body.clone();
                let reg = registry.clone();
                registry.dispatch(
                    "vany-metrics-conn",
                    stream,
                    |mut s| {
                        let _ = respond(&mut s, "503 Service Unavailable", "too many scrapes\n");
                    },
                    move |s, ticket| {
                        if let Err(e) = answer(s, &ticket, &reg, &*body) {
                            tracing::debug!(error = %e, "metrics request");
                        }
                    },
                );
            }
        })?;
    Ok(bound)
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn answer<F>(
    mut stream: TcpStream,
    ticket: &Ticket,
    reg: &Registry,
    body: &F,
) -> std::io::Result<()>
where
    F: Fn() -> Option<String>,
{
    let limits = reg.limits();
    let deadline = Instant::now() + limits.read_deadline;
    let mut reader = LineReader::default();
    let mut request_line = None;
    let mut budget = limits.max_request;
    // The request line, then headers up to an empty line: all within the deadline and
    // the head budget.
    loop {
        match reader.next(&mut stream, budget, deadline)? {
            Line::Line(l) => {
                budget = budget.saturating_sub(l.len() + 2);
                if request_line.is_none() {
                    request_line = Some(l);
                } else if l.is_empty() {
                    break;
                }
            }
            Line::Eof if request_line.is_some() => break,
            Line::Eof => return Ok(()),
            Line::TimedOut => {
                reg.stats().timed_out.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Line::TooLong => {
                reg.stats().too_long.fetch_add(1, Ordering::Relaxed);
                return respond(
                    &mut stream,
                    "431 Request Header Fields Too Large",
                    "request head too large\n",
                );
            }
        }
    }
    ticket.set_busy(true);
    let line = String::from_utf8_lossy(request_line.as_deref().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        respond(&mut stream, "405 Method Not Allowed", "only GET\n")
    } else if path != "/metrics" {
        respond(&mut stream, "404 Not Found", "try /metrics\n")
    } else {
        match body() {
            Some(text) => respond(&mut stream, "200 OK", &text),
            None => respond(&mut stream, "503 Service Unavailable", "data path busy\n"),
        }
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
