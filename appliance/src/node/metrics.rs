//! Prometheus metrics of a node: a [`MetricsSnapshot`] taken by the data path, rendered
//! by [`render`] (prometheus-client's encoders: text format 0.0.4, or OpenMetrics 1.0.0
//! when the scraper's `Accept` asks for it, [`Format::negotiate`]), and served by a tiny
//! HTTP/1.0 server ([`serve`]) on `metrics_listen`: `GET /metrics` only.
//!
//! The server asks the data path for a snapshot through the node's query channel (it
//! never touches the member itself) and answers 503 if the data path does not answer
//! within a second. Connections are bounded ([`LIMITS`], [`super::conns`]): idle ones
//! cannot lock a scrape out. docs/operations.md lists every metric.

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

#[path = "metrics_render.rs"]
mod encode;
pub(super) use encode::{counter, counters, counters_by, gauge};
pub use encode::{render, Format};

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
    /// Of `tx_packets`, TCP super-segments the TUN's kernel splits (`tun_offload`).
    pub tx_super: u64,
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
    /// One entry per core on a node with several (the figures above are their sums).
    pub cores: Vec<super::ctl::CoreStatus>,
    /// The `files` apps' counters, if the node hosts any.
    pub files: Option<crate::apps::FilesStats>,
    /// The `proxy` apps' counters, if the node hosts any.
    pub proxy: Option<crate::apps::ProxyStats>,
}

/// The metrics server's bounds: 64 connections (the oldest idle one is closed to make
/// room for a new one), a request head of at most 8 KiB arriving within 5 s.
pub const LIMITS: Limits = Limits {
    max_conns: 64,
    read_deadline: StdDuration::from_secs(5),
    write_timeout: StdDuration::from_secs(5),
    max_request: 8 * 1024,
};

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
    let body = Arc::new(move |format| {
        let snap = snapshot()?;
        let mut servers = vec![("metrics", &*stats)];
        if let Some(c) = &ctl {
            servers.insert(0, ("ctl", &**c));
        }
        Some(render(&snap, &servers, format))
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
                        let _ = respond(
                            &mut s,
                            "503 Service Unavailable",
                            PLAIN,
                            "too many scrapes\n",
                        );
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

/// The `Content-Type` of error answers.
const PLAIN: &str = "text/plain; charset=utf-8";

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n\
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
    F: Fn(Format) -> Option<Result<String, std::fmt::Error>>,
{
    let limits = reg.limits();
    let deadline = Instant::now() + limits.read_deadline;
    let mut reader = LineReader::default();
    let mut request_line = None;
    let mut accept = String::new();
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
                } else if let Some(value) = header_value(&l, "accept") {
                    accept.push_str(&value);
                    accept.push(',');
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
                    PLAIN,
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
        return respond(&mut stream, "405 Method Not Allowed", PLAIN, "only GET\n");
    } else if path != "/metrics" {
        return respond(&mut stream, "404 Not Found", PLAIN, "try /metrics\n");
    }
    let format = Format::negotiate(&accept);
    match body(format) {
        Some(Ok(text)) => respond(&mut stream, "200 OK", format.content_type(), &text),
        Some(Err(e)) => {
            tracing::error!(error = %e, "cannot encode /metrics");
            let status = "500 Internal Server Error";
            respond(&mut stream, status, PLAIN, "cannot encode the metrics\n")
        }
        None => respond(
            &mut stream,
            "503 Service Unavailable",
            PLAIN,
            "data path busy\n",
        ),
    }
}

/// The value of header line `line` if its name is `name` (any case), else `None`.
fn header_value(line: &[u8], name: &str) -> Option<String> {
    let (key, value) = line.split_at(line.iter().position(|b| *b == b':')?);
    key.trim_ascii()
        .eq_ignore_ascii_case(name.as_bytes())
        .then(|| String::from_utf8_lossy(&value[1..]).trim().to_string())
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
