//! How long one `/metrics` scrape takes to render, without the HTTP server: a snapshot
//! with every family present (gossip, layer 2, handoff failures, both servers' counters),
//! rendered `ROUNDS` times. Prints the mean time per render and the size of the text.
//!
//! `cargo run --release -p vany-appliance --example metrics_render`

use std::time::Instant;

use vany_appliance::group::member::{HandoffOutcome, HandoffRecord};
use vany_appliance::io::Layer2Report;
use vany_appliance::node::conns::ConnStats;
use vany_appliance::node::membership::GossipStats;
use vany_appliance::node::metrics::{self, Format, HandoffSummary, MetricsSnapshot};

const ROUNDS: u32 = 20_000;

/// A handoff that started at 10 s and ended after `ms` (committed) or was refused.
fn record(i: u64, committed: bool) -> HandoffRecord {
    let started = vany_stack::time::Instant::from_secs(10);
    HandoffRecord {
        transfer: i,
        client: "fd00::5".parse().expect("address"),
        from: 1,
        to: 2,
        reason: vany_appliance::group::policy::MoveReason::Manual,
        started,
        restored: None,
        committed: committed
            .then(|| started + vany_stack::time::Duration::from_millis(i * 7 % 3000)),
        snapshot_bytes: 100,
        connections: 1,
        outcome: if committed {
            HandoffOutcome::Committed
        } else {
            HandoffOutcome::Refused
        },
        failure: (!committed).then(|| "refused: draining".into()),
        failure_label: (!committed).then_some("refused_draining"),
    }
}

fn snapshot() -> MetricsSnapshot {
    let records: Vec<_> = (0..200).map(|i| record(i, i % 10 != 0)).collect();
    MetricsSnapshot {
        member_id: 3,
        member_name: "fra-\"edge\"\\3".into(),
        uptime_seconds: 86_400.25,
        sessions: 1234,
        handoffs: HandoffSummary::from_records(&records),
        gossip: Some(GossipStats::default()),
        members_up: Some(4),
        layer2: Some(Layer2Report::default()),
        refusals_sent: [("refused_binding", 3), ("refused_draining", 9)].into(),
        ..Default::default()
    }
}

fn main() {
    let snap = snapshot();
    let (ctl, own) = (ConnStats::default(), ConnStats::default());
    let servers = [("ctl", &ctl), ("metrics", &own)];
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let render = || metrics::render(std::hint::black_box(&snap), &servers, format);
        let text = render().expect("render");
        let start = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(render().expect("render"));
        }
        let per = start.elapsed() / ROUNDS;
        println!(
            "{format:?}: {ROUNDS} renders, {per:?} each, {} bytes, {} lines",
            text.len(),
            text.lines().count()
        );
    }
}
