//! `/metrics` read by an independent client: Python's `prometheus_client` parsers (the
//! text 0.0.4 one, and the strict OpenMetrics one) scrape a real `metrics::serve` over
//! loopback with and without `Accept: application/openmetrics-text`, as Prometheus and
//! curl do. Every family and the metric names docs/operations.md lists must come through
//! both formats with the same samples, and a member name with a quote, a backslash and a
//! newline must come back unchanged.
//!
//! Needs /usr/bin/python3 with prometheus_client (Debian: python3-prometheus-client,
//! installed by .ci/run).

mod netns_common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vany_appliance::io::Layer2Report;
use vany_appliance::node::conns::ConnStats;
use vany_appliance::node::cores::LinkStats;
use vany_appliance::node::ctl::CoreStatus;
use vany_appliance::node::membership::GossipStats;
use vany_appliance::node::metrics::{self, HandoffSummary, MetricsSnapshot};

use netns_common::{run_limited, skip};

const PYTHON: &str = "/usr/bin/python3";

/// Scrapes `url` once without and once with an OpenMetrics `Accept`, parses each answer
/// with the parser for the content type it came with, and prints one JSON object per
/// scrape: content type, families (name -> type) and samples (name, labels, value).
const SCRAPER: &str = r#"
import http.client, json, sys, urllib.parse
from prometheus_client import parser as text_parser
from prometheus_client.openmetrics import parser as om_parser
url = urllib.parse.urlsplit(sys.argv[1])
accepts = [None, "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"]
for accept in accepts:
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    c.request("GET", url.path, headers={"Accept": accept} if accept else {})
    r = c.getresponse()
    body = r.read().decode("utf-8")
    ctype = r.getheader("Content-Type")
    parse = (om_parser if ctype.startswith("application/openmetrics-text") else text_parser)
    families = list(parse.text_string_to_metric_families(body))
    print(json.dumps({
        "status": r.status,
        "content_type": ctype,
        "families": {f.name: f.type for f in families},
        "samples": [[s.name, s.labels, s.value] for f in families for s in f.samples],
    }))
"#;

/// A member name that needs every escape of the exposition formats.
const NAME: &str = "fra \"edge\" \\1\nsecond line";

fn snapshot() -> MetricsSnapshot {
    let mut handoffs = HandoffSummary {
        committed: 2,
        refused: 1,
        sum_seconds: 0.043,
        ..Default::default()
    };
    handoffs.buckets[2] = 1;
    handoffs.buckets[5] = 1;
    handoffs.failures.insert("refused_draining", 1);
    let mut layer2 = Layer2Report::default();
    layer2.nd.ns_rx = 3;
    MetricsSnapshot {
        member_id: 2,
        member_name: NAME.into(),
        uptime_seconds: 1.5,
        sessions: 4,
        handoffs,
        gossip: Some(GossipStats {
            forged: 5,
            ..Default::default()
        }),
        members_up: Some(2),
        layer2: Some(layer2),
        refusals_sent: [("refused_binding", 3)].into(),
        cores: (0..2).map(core).collect(),
        files: Some(vany_appliance::apps::FilesStats {
            served_files: 7,
            traversal_refused: 2,
            ..Default::default()
        }),
        proxy: Some(vany_appliance::apps::ProxyStats {
            requests: 9,
            resumed: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Core `k` of a node with two (docs/cores.md).
fn core(k: usize) -> CoreStatus {
    CoreStatus {
        core: k,
        member: 2 + k as u16,
        care_of: std::net::Ipv6Addr::new(0xfd00, 0x20, 2 + k as u16, 0, 0, 0, 0, 1),
        sessions: 2,
        handoffs: 1,
        draining: false,
        stopped: false,
        rx_packets: 100 + k as u64,
        tx_packets: 90,
        links: LinkStats {
            handed_over: 10 + k as u64,
            handover_full: k as u64,
            taken_over: 11 - k as u64,
        },
    }
}

/// One parsed scrape.
struct Scrape {
    content_type: String,
    families: BTreeMap<String, String>,
    /// (sample name, labels) -> value.
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    fn from_json(v: &Value) -> Scrape {
        assert_eq!(v["status"], 200, "{v}");
        let samples = v["samples"].as_array().expect("samples");
        Scrape {
            content_type: v["content_type"].as_str().unwrap_or_default().to_string(),
            families: serde_json::from_value(v["families"].clone()).expect("families"),
            samples: samples
                .iter()
                .map(|s| {
                    let labels = serde_json::from_value(s[1].clone()).expect("labels");
                    let name = s[0].as_str().expect("name").to_string();
                    ((name, labels), s[2].as_f64().expect("value"))
                })
                .collect(),
        }
    }

    /// The value of sample `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    fn names(&self) -> BTreeSet<&str> {
        self.samples.keys().map(|(n, _)| n.as_str()).collect()
    }
}

/// The metric names in the tables of docs/operations.md (`| \`vany_...`).
fn documented_names() -> BTreeSet<String> {
    let doc = include_str!("../../docs/operations.md");
    let mut names = BTreeSet::new();
    for row in doc.lines().filter(|l| l.starts_with("| `vany_")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for token in first_cell.split('`').filter(|t| t.starts_with("vany_")) {
            names.insert(token.split('{').next().unwrap_or(token).to_string());
        }
    }
    names
}

/// Serves `snap` on loopback and scrapes it once in each format with Python.
fn scrape_both(snap: MetricsSnapshot) -> (Scrape, Scrape) {
    let ctl = Arc::new(ConnStats::default());
    let addr = metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        move || Some(snap.clone()),
        Some(ctl),
    )
    .expect("serve");
    let url = format!("http://{addr}/metrics");
    let out = run_limited(
        Command::new(PYTHON).args(["-c", SCRAPER, &url]),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the scraper failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut scrapes = stdout
        .lines()
        .map(|l| Scrape::from_json(&serde_json::from_str(l).expect("json")));
    match (scrapes.next(), scrapes.next(), scrapes.next()) {
        (Some(text), Some(om), None) => (text, om),
        _ => panic!("two scrapes expected: {stdout}"),
    }
}

#[test]
fn python_prometheus_client_parses_both_formats() {
    let probe = Command::new(PYTHON)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return skip("no prometheus_client in /usr/bin/python3 (python3-prometheus-client)");
    }
    // A fresh node: families without samples (no failures yet), no gossip, no layer 2.
    let (text, om) = scrape_both(MetricsSnapshot::default());
    assert_eq!(text.names(), om.names());
    assert_eq!(text.value("vany_sessions", &[]), Some(0.0));
    assert!(!text.names().contains("vany_handoff_failures_total"));

    let (text, om) = &scrape_both(snapshot());
    assert_eq!(
        text.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        om.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );

    // The same series in both formats, and every metric the docs list.
    assert_eq!(text.names(), om.names());
    for name in documented_names() {
        let bucket = format!("{name}_bucket");
        assert!(
            text.names().contains(name.as_str()) || text.names().contains(bucket.as_str()),
            "{name} (docs/operations.md) is not in the scrape: {:?}",
            text.names()
        );
    }
    for (name, kind) in [
        ("vany_handoffs", "counter"),
        ("vany_handoff_duration_seconds", "histogram"),
        ("vany_sessions", "gauge"),
        ("vany_nd_messages", "counter"),
        ("vany_control_connections", "gauge"),
    ] {
        for s in [text, om] {
            assert_eq!(
                s.families.get(name).map(String::as_str),
                Some(kind),
                "{name}"
            );
        }
    }
    assert_eq!(
        om.families.get("vany_node").map(String::as_str),
        Some("info")
    );

    for s in [text, om] {
        let node = [("member", "2"), ("name", NAME)];
        assert_eq!(
            s.value("vany_node_info", &node),
            Some(1.0),
            "{:?}",
            s.samples
        );
        let committed = [("outcome", "committed")];
        assert_eq!(s.value("vany_handoffs_total", &committed), Some(2.0));
        let drops = [("reason", "gossip_forged")];
        assert_eq!(s.value("vany_drops_total", &drops), Some(5.0));
        let ns = [("kind", "solicitation"), ("direction", "in")];
        assert_eq!(s.value("vany_nd_messages_total", &ns), Some(3.0));
        let hist = "vany_handoff_duration_seconds";
        assert_eq!(s.value(&format!("{hist}_count"), &[]), Some(2.0));
        assert_eq!(
            s.value(&format!("{hist}_bucket"), &[("le", "+Inf")]),
            Some(2.0)
        );
        let closed = [("server", "ctl"), ("reason", "evicted_idle")];
        let closed_total = "vany_control_connections_closed_total";
        assert_eq!(s.value(closed_total, &closed), Some(0.0));
    }
    // le as each format writes it: 0.0.4 like the Go client, OpenMetrics with a ".0".
    let hist = "vany_handoff_duration_seconds_bucket";
    assert_eq!(text.value(hist, &[("le", "0.005")]), Some(1.0));
    assert_eq!(text.value(hist, &[("le", "10")]), Some(2.0));
    assert_eq!(om.value(hist, &[("le", "10.0")]), Some(2.0));
    // A node with two cores: one sample per core.
    for s in [text, om] {
        assert_eq!(s.value("vany_cores", &[]), Some(2.0));
        let handed = "vany_core_handed_over_total";
        assert_eq!(s.value(handed, &[("core", "1")]), Some(11.0));
        assert_eq!(
            s.value("vany_core_handover_full_total", &[("core", "0")]),
            Some(0.0)
        );
        assert_eq!(
            s.value("vany_core_taken_over_total", &[("core", "1")]),
            Some(10.0)
        );
    }
}
