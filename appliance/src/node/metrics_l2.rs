//! `/metrics` for a node with a layer 2 (DPDK): neighbor discovery, frames dropped by
//! reason, and what the device itself dropped (absent on TUN); and the cores of a node
//! with several.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::ctl::CoreStatus;
use super::metrics::{counter, counters, counters_by, gauge};
use crate::io::Layer2Report;

/// A per-core counter: name, help, and how to read it.
type PerCore = (&'static str, &'static str, fn(&CoreStatus) -> u64);

/// Encodes the per-core metrics of a node with several cores (label `core`, its index).
pub fn encode_cores(e: &mut DescriptorEncoder, cores: &[CoreStatus]) -> fmt::Result {
    let label = |c: &CoreStatus| [("core", c.core.to_string())];
    gauge(
        e,
        "vany_cores",
        "Cores (poll loops) of this node.",
        cores.len() as u64,
    )?;
    let per_core: [PerCore; 4] = [
        (
            "vany_core_packets_received",
            "Packets received on the core's queue.",
            |c| c.rx_packets,
        ),
        (
            "vany_core_handed_over",
            "Packets the core received for another core and handed to it.",
            |c| c.links.handed_over,
        ),
        (
            "vany_core_handover_full",
            "Packets dropped because the link to the core they belong to was full.",
            |c| c.links.handover_full,
        ),
        (
            "vany_core_taken_over",
            "Packets other cores handed to this core.",
            |c| c.links.taken_over,
        ),
    ];
    for (name, help, value) in per_core {
        counters(e, name, help, cores.iter().map(|c| (label(c), value(c))))?;
    }
    Ok(())
}

/// Encodes the layer-2 metrics of `l2`, in order.
pub fn encode(e: &mut DescriptorEncoder, l2: &Layer2Report) -> fmt::Result {
    let c = &l2.nd;
    let help = "Ethernet frames received from the DPDK port.";
    counter(e, "vany_l2_frames_received", help, c.rx_frames)?;
    counters_by(
        e,
        "vany_l2_frames_dropped",
        "Received frames layer 2 dropped, by reason (docs/l2.md).",
        "reason",
        &[
            ("not_ipv6", c.rx_not_ipv6),
            ("not_our_mac", c.rx_not_our_mac),
            ("malformed", c.rx_malformed),
            ("nd_bad_hop_limit", c.nd_bad_hop_limit),
            ("icmp_bad_checksum", c.icmp_bad_checksum),
            ("nd_bad_code", c.nd_bad_code),
            ("nd_bad_option", c.nd_bad_option),
            ("nd_invalid", c.nd_invalid),
            ("nd_router_messages", c.nd_ignored),
            ("ns_not_ours", c.ns_not_ours),
            ("echo_ignored", c.echo_ignored),
        ],
    )?;
    counters(
        e,
        "vany_nd_messages",
        "Neighbor discovery and echo messages (RFC 4861, RFC 4443) by kind and direction.",
        [
            ("solicitation", "in", c.ns_rx),
            ("solicitation", "out", c.ns_tx),
            ("advertisement", "in", c.na_rx),
            ("advertisement", "out", c.na_tx),
            ("echo_reply", "out", c.echo_replies),
        ]
        .map(|(k, d, n)| ([("kind", k), ("direction", d)], n)),
    )?;
    let help = "Solicitations postponed by the global rate limit.";
    counter(
        e,
        "vany_nd_solicitations_rate_limited",
        help,
        c.ns_rate_limited,
    )?;
    let help = "Neighbor cache entries now (bounded).";
    gauge(e, "vany_nd_cache_entries", help, l2.cache_entries as u64)?;
    counters_by(
        e,
        "vany_nd_cache_events",
        "Neighbor cache entries created, evicted to make room, refused (cache full), \
         and neighbors that did not answer (resolution or probe failed).",
        "event",
        &[
            ("created", c.cache_created),
            ("evicted", c.cache_evicted),
            ("full", c.cache_full),
            ("resolution_failed", c.resolution_failed),
            ("probe_failed", c.probe_failed),
        ],
    )?;
    let help = "Packets waiting for a next hop's resolution now (bounded).";
    gauge(e, "vany_nd_queued_packets", help, l2.queued as u64)?;
    counters_by(
        e,
        "vany_nd_packets_dropped",
        "Packets to send that layer 2 dropped, by reason.",
        "reason",
        &[
            ("queue_full", c.queue_full),
            ("unresolved", c.queue_dropped_unresolved),
            ("no_cache_entry", c.egress_no_entry),
            ("malformed", c.egress_malformed),
            ("tx_queue_full", c.tx_full),
        ],
    )?;
    counters_by(
        e,
        "vany_port_frames_dropped",
        "Frames the DPDK port dropped: receive ring full (the poll loop fell behind), no \
         mbuf for a received frame, or a frame to send not taken by the device or \
         without an mbuf.",
        "reason",
        &[
            ("rx_missed", l2.rx_missed),
            ("rx_no_mbuf", l2.rx_no_mbuf),
            ("tx", l2.tx_dropped),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::metrics::{render, Format, MetricsSnapshot};

    #[test]
    fn every_sample_has_help_and_type_and_names_are_unique() {
        let mut l2 = Layer2Report::default();
        l2.nd.ns_rx = 3;
        l2.nd.nd_bad_hop_limit = 2;
        l2.cache_entries = 7;
        let snap = MetricsSnapshot {
            layer2: Some(l2),
            ..Default::default()
        };
        let o = render(&snap, &[], Format::Prometheus).unwrap();
        assert!(o.contains("vany_nd_messages_total{kind=\"solicitation\",direction=\"in\"} 3"));
        assert!(o.contains("vany_l2_frames_dropped_total{reason=\"nd_bad_hop_limit\"} 2"));
        assert!(o.contains("vany_nd_cache_entries 7"));
        let mut typed = std::collections::BTreeSet::new();
        for line in o.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(typed.insert(name.to_string()), "{name} typed twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)));
                let name = family.unwrap_or(name);
                assert!(typed.contains(name), "{name} has no TYPE before it");
            }
        }
    }
}
