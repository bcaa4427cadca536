//! `/metrics` exposition: the families of a [`MetricsSnapshot`] and of the node's own
//! servers, encoded by `prometheus-client` (the official Rust client), which owns both
//! formats, the metric types, the `_total`/`_info`/unit suffixes and the escaping. A
//! registry is built per scrape around a collector that owns a copy of the snapshot: the
//! data path keeps plain counters and never takes a lock for the metrics.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, text, DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::{MetricsSnapshot, HANDOFF_BUCKETS};
use crate::node::conns::ConnStats;

/// The exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4: the default (curl, older scrapers).
    Prometheus,
    /// OpenMetrics 1.0.0 text, for a client that asks for it (Prometheus does).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a request's `Accept` header value(s) ask for: OpenMetrics if accepted
    /// with a quality at least that of plain text (`text/plain`, `text/*`, `*/*`), else
    /// text 0.0.4 (also with no `Accept` at all).
    pub fn negotiate(accept: &str) -> Format {
        let (mut openmetrics, mut plain) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut params = range.split(';').map(str::trim);
            let media = params.next().unwrap_or_default().to_ascii_lowercase();
            let q = params
                .find_map(|p| p.strip_prefix("q="))
                .map_or(Some(1.0), |q| q.parse::<f32>().ok())
                .unwrap_or(0.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => plain = plain.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= plain {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// The counters of one of the node's servers (label `server`), read at the scrape.
#[derive(Debug)]
struct ServerCounters {
    server: &'static str,
    open: u64,
    closed: [(&'static str, u64); 5],
}

/// What one scrape shows.
#[derive(Debug)]
struct Exposition {
    snap: MetricsSnapshot,
    servers: Vec<ServerCounters>,
}

/// Renders a scrape in `format`: the metrics of `s`, then the counters of the node's own
/// `servers` (label `server`: `ctl`, `metrics`). An error only if the encoder refuses
/// what it is given (it never has for these families).
pub fn render(
    s: &MetricsSnapshot,
    servers: &[(&'static str, &ConnStats)],
    format: Format,
) -> Result<String, fmt::Error> {
    let servers = servers
        .iter()
        .map(|(server, c)| ServerCounters {
            server,
            open: c.open.load(std::sync::atomic::Ordering::Relaxed),
            closed: c.closed(),
        })
        .collect();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition {
        snap: s.clone(),
        servers,
    }));
    let mut out = String::with_capacity(16 * 1024);
    match format {
        Format::Prometheus => prometheus_text::encode(&mut out, &registry)?,
        Format::OpenMetrics => text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

impl Collector for Exposition {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let s = &self.snap;
        identity(&mut e, s)?;
        handoffs(&mut e, s)?;
        for (name, help, v) in mobility_counters(s).into_iter().chain(group_counters(s)) {
            counter(&mut e, name, help, v)?;
        }
        traffic(&mut e, s)?;
        if let Some(l2) = &s.layer2 {
            crate::node::metrics_l2::encode(&mut e, l2)?;
        }
        if !s.cores.is_empty() {
            crate::node::metrics_l2::encode_cores(&mut e, &s.cores)?;
        }
        if let Some(f) = &s.files {
            crate::node::metrics_apps::encode_files(&mut e, f)?;
        }
        if let Some(p) = &s.proxy {
            crate::node::metrics_apps::encode_proxy(&mut e, p)?;
        }
        servers(&mut e, &self.servers)
    }
}

/// One metric without labels.
fn single(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: impl EncodeMetric,
) -> fmt::Result {
    metric.encode(e.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// One counter without labels; `name` without `_total` (the encoder adds it).
pub(in crate::node) fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> fmt::Result {
    single(e, name, help, None, ConstCounter::new(v))
}

/// One gauge without labels.
pub(in crate::node) fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> fmt::Result {
    single(e, name, help, None, ConstGauge::new(v))
}

/// A family of metrics of type `kind`, one sample per label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in samples {
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A family of counters; `name` without `_total`.
pub(in crate::node) fn counters<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let samples = samples.into_iter().map(|(l, n)| (l, ConstCounter::new(n)));
    family(e, name, help, MetricType::Counter, samples)
}

/// A family of counters with one label, `key`.
pub(in crate::node) fn counters_by(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    key: &str,
    samples: &[(&str, u64)],
) -> fmt::Result {
    counters(
        e,
        name,
        help,
        samples.iter().map(|(v, n)| ([(key, *v)], *n)),
    )
}

/// Who this node is and what it serves.
fn identity(e: &mut DescriptorEncoder, s: &MetricsSnapshot) -> fmt::Result {
    e.encode_descriptor(
        "vany_node",
        "This node (labels), always 1.",
        None,
        MetricType::Info,
    )?
    .encode_info(&(
        [("member", s.member_id)],
        [("name", s.member_name.as_str())],
    ))?;
    let uptime = ConstGauge::new(s.uptime_seconds);
    let help = "Seconds since the node started.";
    single(e, "vany_uptime", help, Some(&Unit::Seconds), uptime)?;
    let sessions = "Client sessions served by this member.";
    gauge(e, "vany_sessions", sessions, s.sessions)?;
    let draining = u64::from(s.draining);
    gauge(e, "vany_draining", "1 while the member drains.", draining)
}

/// Handoffs started here (by outcome, failure reason, duration) and refused here.
fn handoffs(e: &mut DescriptorEncoder, s: &MetricsSnapshot) -> fmt::Result {
    let h = &s.handoffs;
    counters_by(
        e,
        "vany_handoffs",
        "Handoffs this member started, by outcome.",
        "outcome",
        &[
            ("pending", h.pending),
            ("committed", h.committed),
            ("refused", h.refused),
            ("timed_out", h.timed_out),
            ("abandoned", h.abandoned),
        ],
    )?;
    counters(
        e,
        "vany_handoff_failures",
        "Failed handoffs this member started, by reason: refused_<why> (the acceptor's \
         refusal: draining, binding, too_large, malformed, \
         precopy_missing, collision, version, content), timed_out (the acceptor acknowledged nothing for \
         handoff_timeout_ms), abandoned (called off: another copy of the session won, or \
         the session ended first).",
        h.failures.iter().map(|(r, n)| ([("reason", *r)], *n)),
    )?;
    // Per bucket (not cumulative: the encoder sums), then the +Inf one.
    let buckets: [(f64, u64); HANDOFF_BUCKETS.len() + 1] = std::array::from_fn(|i| {
        HANDOFF_BUCKETS
            .get(i)
            .map_or((f64::INFINITY, h.over), |b| (*b, h.buckets[i]))
    });
    e.encode_descriptor(
        "vany_handoff_duration",
        "Committed handoffs, donor's freeze to commit.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(h.sum_seconds, h.observed(), &buckets, None)?;
    counters(
        e,
        "vany_handoff_refusals_sent",
        "Handoffs this member refused as the acceptor, by reason (the same labels as \
         vany_handoff_failures_total); each is also logged.",
        s.refusals_sent.iter().map(|(r, n)| ([("reason", *r)], *n)),
    )
}

/// The Mobile IPv6 (mobile node) counters: (name without `_total`, help, value).
fn mobility_counters(s: &MetricsSnapshot) -> [(&'static str, &'static str, u64); 6] {
    [
        ("vany_hoti_sent", "Home Test Inits sent.", s.mn.hoti_sent),
        ("vany_coti_sent", "Care-of Test Inits sent.", s.mn.coti_sent),
        ("vany_bu_sent", "Binding Updates sent.", s.mn.bu_sent),
        (
            "vany_ba_accepted",
            "Binding Acknowledgements accepted.",
            s.mn.ba_accepted,
        ),
        (
            "vany_ba_dropped",
            "Binding Acknowledgements dropped (bad authenticator, unknown sequence number).",
            s.mn.ba_dropped,
        ),
        (
            "vany_be_received",
            "Binding Errors received.",
            s.mn.be_received,
        ),
    ]
}

/// The member's and the peer channel's counters: (name without `_total`, help, value).
fn group_counters(s: &MetricsSnapshot) -> [(&'static str, &'static str, u64); 22] {
    let m = &s.member;
    let p = &s.peer;
    [
        (
            "vany_forwarded",
            "Client packets forwarded to an acceptor.",
            m.forwarded,
        ),
        (
            "vany_forward_batches",
            "Forwards messages sent: client packets of one burst forwarded together.",
            m.forward_batches,
        ),
        (
            "vany_forwarded_in",
            "Forwarded packets received from donors.",
            m.forwarded_in,
        ),
        (
            "vany_transfers_refused",
            "Session transfers this member refused.",
            m.refused,
        ),
        (
            "vany_sessions_accepted",
            "Sessions accepted from donors.",
            m.accepted,
        ),
        (
            "vany_tokens_relayed",
            "Home tokens relayed to other members.",
            m.tokens_relayed,
        ),
        (
            "vany_home_tests_forged",
            "Home Tests dropped without state: their cookie is not one the group made for \
             the address they came from.",
            m.home_tests_forged,
        ),
        (
            "vany_home_tests_replayed",
            "Home Tests dropped without state: their cookie was past its lifetime or taken \
             already (a cookie seen on the wire, replayed).",
            m.home_tests_replayed,
        ),
        (
            "vany_bindings_forgotten",
            "Clients with no session, binding or test under way whose state was let go.",
            m.bindings_forgotten,
        ),
        (
            "vany_orphans_deregistered",
            "Bindings to a member taken for dead, deregistered at its clients (contact node).",
            m.orphans_deregistered,
        ),
        (
            "vany_sessions_abandoned",
            "Restored sessions dropped (Abandon).",
            m.abandoned,
        ),
        (
            "vany_syns_while_draining",
            "New connections (SYNs) not opened because this member drains.",
            m.syns_while_draining,
        ),
        (
            "vany_packet_too_big_accepted",
            "ICMPv6 Packet Too Big messages a TCP connection accepted (RFC 8201).",
            m.ptb_accepted,
        ),
        (
            "vany_packet_too_big_ignored",
            "ICMPv6 Packet Too Big messages ignored (not about data in flight, RFC 5927).",
            m.ptb_ignored,
        ),
        ("vany_peer_sent", "Peer messages sent.", p.sent),
        ("vany_peer_accepted", "Peer messages accepted.", p.accepted),
        (
            "vany_peer_retransmitted",
            "Peer messages sent again.",
            p.retransmitted,
        ),
        ("vany_peer_given_up", "Peer messages given up.", p.given_up),
        (
            "vany_peer_reassembly_dropped",
            "Partly reassembled peer messages dropped (timed out, or past the 64 MiB budget).",
            p.reassembly_dropped,
        ),
        (
            "vany_rx_packets",
            "Packets read from the TUN.",
            s.io.rx_packets,
        ),
        (
            "vany_tx_packets",
            "Packets written to the TUN.",
            s.io.tx_packets,
        ),
        ("vany_rx_bytes", "Bytes read from the TUN.", s.io.rx_bytes),
    ]
}

/// TCP listener defences, packet I/O, drops and gossip.
fn traffic(e: &mut DescriptorEncoder, s: &MetricsSnapshot) -> fmt::Result {
    let (m, p) = (&s.member, &s.peer);
    counters_by(
        e,
        "vany_syn_cookies",
        "SYN cookies (RFC 4987): sent when the half-open backlog is full, accepted or \
         rejected when an ACK comes back.",
        "outcome",
        &[
            ("sent", s.tcp.syn_cookies_sent),
            ("accepted", s.tcp.syn_cookies_accepted),
            ("rejected", s.tcp.syn_cookies_rejected),
        ],
    )?;
    let resets = "TCP RSTs sent for segments with no connection.";
    counter(e, "vany_tcp_resets_sent", resets, s.tcp.resets_sent)?;
    counter(
        e,
        "vany_tx_bytes",
        "Bytes written to the TUN.",
        s.io.tx_bytes,
    )?;
    counter(
        e,
        "vany_tx_super_segments",
        "TCP super-segments written to the TUN for its kernel to split (tun_offload); \
         each is one of vany_tx_packets.",
        s.io.tx_super,
    )?;
    family(
        e,
        "vany_packets_per_second",
        "Packet rate over the last second.",
        MetricType::Gauge,
        [("in", s.io.rx_pps), ("out", s.io.tx_pps)]
            .map(|(d, v)| ([("direction", d)], ConstGauge::new(v))),
    )?;
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
    let help = "Packets and messages dropped, by reason.";
    counters_by(e, "vany_drops", help, "reason", &drops)?;
    if let Some(g) = &s.gossip {
        let dirs = [("out", g.sent), ("in", g.received)];
        counters_by(
            e,
            "vany_gossip_datagrams",
            "Gossip datagrams.",
            "direction",
            &dirs,
        )?;
    }
    if let Some(up) = s.members_up {
        gauge(e, "vany_members_up", "Other members gossip sees up.", up)?;
    }
    Ok(())
}

/// The counters of the node's own servers (`server` label: `ctl`, `metrics`).
fn servers(e: &mut DescriptorEncoder, servers: &[ServerCounters]) -> fmt::Result {
    family(
        e,
        "vany_control_connections",
        "Connections open now to the control socket (ctl) and /metrics (metrics).",
        MetricType::Gauge,
        servers
            .iter()
            .map(|c| ([("server", c.server)], ConstGauge::new(c.open))),
    )?;
    counters(
        e,
        "vany_control_connections_closed",
        "Connections the server closed or refused, by reason: evicted_idle (the oldest \
         idle one, to make room at the cap), refused_busy (every open one was busy), \
         refused_peer (not root or the node's user), too_long (request over the limit), \
         timed_out (no whole request in time).",
        servers.iter().flat_map(|c| {
            c.closed
                .iter()
                .map(|(reason, n)| ([("server", c.server), ("reason", *reason)], *n))
        }),
    )
}
