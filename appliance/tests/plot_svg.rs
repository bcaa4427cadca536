//! The pictures: `vany demo --plot` (the demo's run), `vany demo --gap-grid --plot` (the
//! heatmap) and `vany plot` (a group's handoff events) are SVG documents that parse and
//! hold what a reader looks for: a line per client, every handoff's close-up with its
//! gap, floor and L_ss + 4·L_sc, the drain and the operator's move; a cell per grid
//! point; each logged handoff's steps.

use std::process::Command;

use vany_appliance::demo::{self, DemoOptions};
use vany_appliance::node::events::EventLine;
use vany_appliance::plot;

const BIN: &str = env!("CARGO_BIN_EXE_vany");

/// Every `<text>` of `svg`, and how many `<polyline>`s it has; panics unless it parses.
fn texts_and_lines(svg: &str) -> (Vec<String>, usize) {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    (texts, lines)
}

#[test]
fn demo_picture_has_every_client_and_every_handoff() {
    let report = demo::run(&DemoOptions::default(), &mut std::io::sink()).unwrap();
    assert!(report.handoffs.len() >= 10, "the demo moves clients");
    let svg = demo::picture(&report).unwrap();
    let (texts, lines) = texts_and_lines(&svg);
    let has = |s: &str| texts.iter().any(|t| t.contains(s));
    // A line per client (the overview), named in the legend, with its bytes.
    assert_eq!(report.series.len(), 12);
    assert!(lines >= report.series.len(), "{lines} polylines");
    for s in &report.series {
        assert!(has(&s.client), "legend names {}", s.client);
        assert!(
            s.points.len() > 100 && s.points.last().unwrap().1 == 12 * 1024 * 1024,
            "{}: {} points",
            s.client,
            s.points.len()
        );
    }
    // A close-up per handoff: donor -> acceptor and reason, the gap with its length,
    // the floor and the slides' figure.
    for h in &report.handoffs {
        let title = format!("{}: {} → {} ({})", h.client, h.from, h.to, h.reason);
        assert!(has(&title), "close-up {title}");
        let gap = h.gap_ms.expect("the client saw every switch");
        assert!(has(&format!("gap {gap:.1} ms")), "gap label of {title}");
        assert!(has(&format!("floor {:.1} ms", h.floor_ms)));
        assert!(has(&format!("L_ss+4·L_sc {:.1} ms", h.slides_ms)));
    }
    for reason in ["proximity", "drain", "manual"] {
        assert!(has(&format!("handoff: {reason}")), "legend of {reason}");
    }
    assert!(has("New York drains"));
    assert!(has("operator moves a client: "));
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("gap ")).count(),
        report.handoffs.len()
    );
}

#[test]
fn gap_grid_heatmap_has_a_cell_per_latency_pair() {
    let cells = demo::gap_grid(1);
    let svg = demo::grid_picture(&cells).unwrap();
    let (texts, _) = texts_and_lines(&svg);
    for c in &cells {
        let label = format!(
            "{} / {:.0}",
            c.gap_ms.map_or("-".into(), |g| format!("{g:.1}")),
            c.slides_ms
        );
        assert!(
            texts.contains(&label),
            "cell L_ss {} L_sc {}: {label}",
            c.l_ss_ms,
            c.l_sc_ms
        );
    }
    for v in ["2 ms", "10 ms", "40 ms", "120 ms"] {
        assert_eq!(
            texts.iter().filter(|t| *t == v).count(),
            2,
            "both axes label {v}"
        );
    }
    assert!(plot::render_gap_grid(&[]).is_err(), "no cells, no picture");
}

/// Two handoffs as their members log them, one of them refused.
fn events() -> Vec<EventLine> {
    vec![
        EventLine::Accepted {
            member: 2,
            transfer: 7,
            client: "fd00:99:10::2".into(),
            from: 1,
            snapshot_bytes: 900,
            connections: 1,
            received: 1000.020,
            committed: 1000.045,
        },
        EventLine::Handoff {
            member: 1,
            transfer: 7,
            client: "fd00:99:10::2".into(),
            to: 2,
            reason: "manual".into(),
            outcome: "committed".into(),
            failure: None,
            snapshot_bytes: 900,
            connections: 1,
            started: 1000.0,
            restored: Some(1000.021),
            committed: Some(1000.046),
        },
        EventLine::Refused {
            member: 3,
            transfer: 9,
            from: 2,
            reason: "refused_draining".into(),
            at: 1003.5,
        },
        EventLine::Handoff {
            member: 2,
            transfer: 9,
            client: "fd00:99:10::2".into(),
            to: 3,
            reason: "load".into(),
            outcome: "refused".into(),
            failure: Some("refused_draining".into()),
            snapshot_bytes: 900,
            connections: 1,
            started: 1003.49,
            restored: None,
            committed: None,
        },
    ]
}

#[test]
fn events_timeline_joins_each_handoffs_lines() {
    let t = plot::events_timeline(&events());
    assert_eq!(t.handoffs.len(), 2);
    let (a, b) = (&t.handoffs[0], &t.handoffs[1]);
    assert_eq!(
        (a.from.as_str(), a.to.as_str(), a.outcome.as_str()),
        ("member 1", "member 2", "Committed")
    );
    assert_eq!(a.at_s, 0.0);
    let names: Vec<&str> = a.phases.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "start",
            "Restored heard",
            "Commit heard",
            "restored, BU sent",
            "BA, Commit sent"
        ]
    );
    assert!((b.at_s - 3.49).abs() < 1e-9);
    assert_eq!(b.outcome, "refused_draining");
    let svg = plot::render_timeline(&t).unwrap();
    let (texts, _) = texts_and_lines(&svg);
    assert!(texts
        .iter()
        .any(|x| x == "fd00:99:10::2: member 1 → member 2 (manual)"));
    assert!(texts.iter().any(|x| x == "refused_draining"));
    assert!(texts.iter().any(|x| x == "BA, Commit sent"));
}

#[test]
fn vany_plot_draws_events_files_and_names_a_bad_line() {
    let dir = std::env::temp_dir().join(format!("vany-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("n1.jsonl");
    let lines: Vec<String> = events()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(&good, lines.join("\n") + "\n\n").unwrap();
    let out = dir.join("x.svg");
    let run = Command::new(BIN)
        .args(["plot", good.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("2 handoffs drawn"));
    let (texts, _) = texts_and_lines(&std::fs::read_to_string(&out).unwrap());
    assert!(texts
        .iter()
        .any(|t| t.contains("2 from the group's events")));
    // A line that is not an event: exit 2, the message names file and line.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{{\"event\":\"nope\"}}\n", lines[0])).unwrap();
    let run = Command::new(BIN)
        .args(["plot", bad.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("bad.jsonl:2: not a vany event line"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
