//! Tests of the Prometheus rendering and the `/metrics` server.

use vany_stack::time::{Duration, Instant};

use super::*;

fn record(outcome: HandoffOutcome, ms: u64) -> HandoffRecord {
    let failed = outcome == HandoffOutcome::Refused;
    let started = Instant::from_secs(10);
    HandoffRecord {
        transfer: 1,
        client: "fd00::5".parse().unwrap(),
        from: 1,
        to: 2,
        reason: crate::group::policy::MoveReason::Manual,
        started,
        restored: None,
        committed: (outcome == HandoffOutcome::Committed)
            .then(|| started + Duration::from_millis(ms)),
        snapshot_bytes: 100,
        connections: 1,
        outcome,
        failure: failed.then(|| "refused by member 2: the acceptor is draining".into()),
        failure_label: failed.then_some("refused_draining"),
    }
}

#[test]
fn handoffs_fall_into_buckets() {
    let s = HandoffSummary::from_records(&[
        record(HandoffOutcome::Committed, 3),
        record(HandoffOutcome::Committed, 40),
        record(HandoffOutcome::Committed, 60_000),
        record(HandoffOutcome::Refused, 0),
        record(HandoffOutcome::TimedOut, 0),
        record(HandoffOutcome::Pending, 0),
    ]);
    assert_eq!(
        (s.committed, s.refused, s.timed_out, s.pending),
        (3, 1, 1, 1)
    );
    assert_eq!(s.buckets[2], 1, "3 ms in le=0.005");
    assert_eq!(s.buckets[5], 1, "40 ms in le=0.05");
    assert_eq!((s.over, s.observed()), (1, 3));
    assert!((s.sum_seconds - 60.043).abs() < 1e-9);
}

#[test]
fn text_format_has_types_cumulative_buckets_and_labels() {
    let snap = MetricsSnapshot {
        member_id: 2,
        member_name: "New \"York\"".into(),
        uptime_seconds: 1.5,
        sessions: 4,
        member: MemberStats {
            forwarded: 7,
            dropped: 3,
            ..Default::default()
        },
        peer: PeerStats {
            forged: 2,
            ..Default::default()
        },
        mn: MnStats {
            bu_sent: 9,
            be_received: 1,
            ..Default::default()
        },
        handoffs: HandoffSummary::from_records(&[
            record(HandoffOutcome::Committed, 3),
            record(HandoffOutcome::Committed, 40),
            record(HandoffOutcome::Refused, 0),
        ]),
        io: IoCounters {
            rx_packets: 10,
            rx_pps: 2.0,
            ..Default::default()
        },
        gossip: Some(GossipStats {
            forged: 5,
            ..Default::default()
        }),
        members_up: Some(2),
        refusals_sent: [("refused_binding", 3)].into(),
        tcp: TcpCounters {
            syn_cookies_sent: 6,
            syn_cookies_accepted: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let text = render(&snap, &[], Format::Prometheus).unwrap();
    for line in [
        "vany_node_info{member=\"2\",name=\"New \\\"York\\\"\"} 1",
        "# TYPE vany_sessions gauge",
        "vany_sessions 4",
        "vany_handoffs_total{outcome=\"committed\"} 2",
        "vany_handoffs_total{outcome=\"refused\"} 1",
        "vany_handoff_failures_total{reason=\"refused_draining\"} 1",
        "vany_handoff_refusals_sent_total{reason=\"refused_binding\"} 3",
        "# TYPE vany_handoff_duration_seconds histogram",
        "vany_handoff_duration_seconds_bucket{le=\"0.001\"} 0",
        "vany_handoff_duration_seconds_bucket{le=\"0.005\"} 1",
        "vany_handoff_duration_seconds_bucket{le=\"0.05\"} 2",
        "vany_handoff_duration_seconds_bucket{le=\"10\"} 2",
        "vany_handoff_duration_seconds_bucket{le=\"+Inf\"} 2",
        "vany_handoff_duration_seconds_count 2",
        "vany_forwarded_total 7",
        "vany_bu_sent_total 9",
        "vany_be_received_total 1",
        "vany_rx_packets_total 10",
        "vany_packets_per_second{direction=\"in\"} 2.0",
        "vany_drops_total{reason=\"member\"} 3",
        "vany_drops_total{reason=\"peer_forged\"} 2",
        "vany_drops_total{reason=\"gossip_forged\"} 5",
        "vany_members_up 2",
        "vany_syn_cookies_total{outcome=\"sent\"} 6",
        "vany_syn_cookies_total{outcome=\"accepted\"} 1",
        "vany_syn_cookies_total{outcome=\"rejected\"} 0",
        "vany_tcp_resets_sent_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let sum = text
        .lines()
        .find_map(|l| l.strip_prefix("vany_handoff_duration_seconds_sum "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(sum.is_some_and(|v| (v - 0.043).abs() < 1e-9), "{text}");
    // Every sample line belongs to a declared metric; HELP precedes TYPE.
    let mut declared = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            declared.push(rest.split(' ').next().unwrap().to_string());
        } else if !l.starts_with('#') {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                declared.iter().any(|d| name.starts_with(d.as_str())),
                "undeclared {name}"
            );
        }
    }
}

#[test]
fn http_get_metrics_answers_and_other_paths_do_not() {
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        || {
            Some(MetricsSnapshot {
                sessions: 9,
                ..Default::default()
            })
        },
        None,
    )
    .unwrap();
    let get = |path: &str, headers: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).unwrap();
        out
    };
    let ok = get("/metrics", "");
    assert!(ok.starts_with("HTTP/1.0 200 OK"), "{ok}");
    assert!(
        ok.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{ok}"
    );
    assert!(ok.contains("\nvany_sessions 9\n"), "{ok}");
    assert!(!ok.contains("# EOF"), "{ok}");
    // What Prometheus sends: OpenMetrics first.
    let om = get(
        "/metrics",
        "accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1\r\n",
    );
    assert!(om.starts_with("HTTP/1.0 200 OK"), "{om}");
    assert!(
        om.contains(
            "\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        ),
        "{om}"
    );
    assert!(
        om.contains("\n# TYPE vany_handoffs counter\nvany_handoffs_total{outcome=\"pending\"} 0\n")
    );
    assert!(om.contains("\nvany_sessions 9\n"), "{om}");
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    assert!(get("/", "").starts_with("HTTP/1.0 404"));
}

#[test]
fn accept_header_chooses_the_format() {
    for (accept, format) in [
        ("", Format::Prometheus),
        ("*/*", Format::Prometheus),
        ("text/plain;version=0.0.4", Format::Prometheus),
        ("application/openmetrics-text", Format::OpenMetrics),
        ("Application/OpenMetrics-Text; version=1.0.0", Format::OpenMetrics),
        (
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
            Format::OpenMetrics,
        ),
        ("text/plain;q=1, application/openmetrics-text;q=0.2", Format::Prometheus),
        ("application/openmetrics-text;q=0", Format::Prometheus),
        ("application/openmetrics-text;q=bogus", Format::Prometheus),
        (",,;;==,q=,", Format::Prometheus),
    ] {
        assert_eq!(Format::negotiate(accept), format, "{accept:?}");
    }
    assert_eq!(
        header_value(b"Accept: a/b ", "accept").as_deref(),
        Some("a/b")
    );
    assert_eq!(header_value(b"X-Accept: a/b", "accept"), None);
    assert_eq!(header_value(b"no colon", "accept"), None);
}
