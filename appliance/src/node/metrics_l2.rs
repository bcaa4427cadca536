//! `/metrics` for a node with a layer 2 (DPDK): neighbor discovery, frames dropped by
//! reason, and what the device itself dropped. Absent on TUN.

use std::fmt::Write;

use super::metrics::metric;
use crate::io::Layer2Report;

/// One metric: name, type, help, and its samples (label set, value).
type Family = (&'static str, &'static str, &'static str, Vec<(String, u64)>);

/// Samples labelled `key="value"`.
fn labelled(key: &str, samples: &[(&str, u64)]) -> Vec<(String, u64)> {
    samples
        .iter()
        .map(|(v, n)| (format!("{{{key}=\"{v}\"}}"), *n))
        .collect()
}

/// One sample without labels.
fn plain(n: u64) -> Vec<(String, u64)> {
    vec![(String::new(), n)]
}

/// The layer-2 metrics of `l2`, in order.
fn families(l2: &Layer2Report) -> Vec<Family> {
    let c = &l2.nd;
    vec![
        (
            "vany_l2_frames_received_total",
            "counter",
            "Ethernet frames received from the DPDK port.",
            plain(c.rx_frames),
        ),
        (
            "vany_l2_frames_dropped_total",
            "counter",
            "Received frames layer 2 dropped, by reason (docs/l2.md).",
            labelled(
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
            ),
        ),
        (
            "vany_nd_messages_total",
            "counter",
            "Neighbor discovery and echo messages (RFC 4861, RFC 4443) by kind and direction.",
            [
                ("solicitation", "in", c.ns_rx),
                ("solicitation", "out", c.ns_tx),
                ("advertisement", "in", c.na_rx),
                ("advertisement", "out", c.na_tx),
                ("echo_reply", "out", c.echo_replies),
            ]
            .iter()
            .map(|(k, d, n)| (format!("{{kind=\"{k}\",direction=\"{d}\"}}"), *n))
            .collect(),
        ),
        (
            "vany_nd_solicitations_rate_limited_total",
            "counter",
            "Solicitations postponed by the global rate limit.",
            plain(c.ns_rate_limited),
        ),
        (
            "vany_nd_cache_entries",
            "gauge",
            "Neighbor cache entries now (bounded).",
            plain(l2.cache_entries as u64),
        ),
        (
            "vany_nd_cache_events_total",
            "counter",
            "Neighbor cache entries created, evicted to make room, refused (cache full), \
             and neighbors that did not answer (resolution or probe failed).",
            labelled(
                "event",
                &[
                    ("created", c.cache_created),
                    ("evicted", c.cache_evicted),
                    ("full", c.cache_full),
                    ("resolution_failed", c.resolution_failed),
                    ("probe_failed", c.probe_failed),
                ],
            ),
        ),
        (
            "vany_nd_queued_packets",
            "gauge",
            "Packets waiting for a next hop's resolution now (bounded).",
            plain(l2.queued as u64),
        ),
        (
            "vany_nd_packets_dropped_total",
            "counter",
            "Packets to send that layer 2 dropped, by reason.",
            labelled(
                "reason",
                &[
                    ("queue_full", c.queue_full),
                    ("unresolved", c.queue_dropped_unresolved),
                    ("no_cache_entry", c.egress_no_entry),
                    ("malformed", c.egress_malformed),
                    ("tx_queue_full", c.tx_full),
                ],
            ),
        ),
        (
            "vany_port_frames_dropped_total",
            "counter",
            "Frames the DPDK port dropped: receive ring full (the poll loop fell behind), no \
             mbuf for a received frame, or a frame to send not taken by the device or \
             without an mbuf.",
            labelled(
                "reason",
                &[
                    ("rx_missed", l2.rx_missed),
                    ("rx_no_mbuf", l2.rx_no_mbuf),
                    ("tx", l2.tx_dropped),
                ],
            ),
        ),
    ]
}

/// Appends the layer-2 metrics of `l2`.
pub fn render(o: &mut String, l2: &Layer2Report) {
    for (name, kind, help, samples) in families(l2) {
        metric(o, name, kind, help);
        for (labels, n) in samples {
            let _ = writeln!(o, "{name}{labels} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_has_help_and_type_and_names_are_unique() {
        let mut l2 = Layer2Report::default();
        l2.nd.ns_rx = 3;
        l2.nd.nd_bad_hop_limit = 2;
        l2.cache_entries = 7;
        let mut o = String::new();
        render(&mut o, &l2);
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
                assert!(typed.contains(name), "{name} has no TYPE before it");
            }
        }
    }
}
