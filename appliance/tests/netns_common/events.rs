//! The nodes' handoff events (`vany node --events`, one file per node in the lab): each
//! committed handoff logged by its donor and its acceptor with times in order, and
//! `vany plot` drawing them.

use std::collections::BTreeMap;
use std::process::Command;

use vany_appliance::node::events::EventLine;

use super::lab::Lab;
use super::BIN;

/// Checks the events files of the lab's nodes: at least `committed` handoffs committed,
/// each with its acceptor's line, every step in time order (one machine, one clock; 2 ms
/// of slack for the conversion to wall time); then draws them with `vany plot` and
/// checks the picture names them all. Returns the handoffs' start-to-commit times (ms).
pub fn check_events(lab: &Lab, committed: usize) -> Vec<f64> {
    let mut donors = BTreeMap::new();
    let mut acceptors = BTreeMap::new();
    let mut files = Vec::new();
    for i in 1..=lab.nodes_count {
        let path = lab.events(i);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        files.push(path);
        for line in text.lines() {
            let e: EventLine = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("node {i} events: {e}: {line}"));
            match &e {
                EventLine::Handoff {
                    member, transfer, ..
                } => donors.insert((*member, *transfer), e.clone()),
                EventLine::Accepted { from, transfer, .. } => {
                    acceptors.insert((*from, *transfer), e.clone())
                }
                EventLine::Refused { .. } => None,
            };
        }
    }
    const SLACK: f64 = 0.002;
    let mut times = Vec::new();
    for (key, d) in &donors {
        let EventLine::Handoff {
            outcome,
            started,
            restored,
            committed,
            to,
            ..
        } = d
        else {
            continue;
        };
        if outcome != "committed" {
            continue;
        }
        let (Some(restored), Some(committed)) = (restored, committed) else {
            panic!("handoff {key:?} committed without its times: {d:?}");
        };
        let Some(EventLine::Accepted {
            member,
            received,
            committed: ba,
            ..
        }) = acceptors.get(key)
        else {
            panic!("handoff {key:?} committed but its acceptor logged nothing");
        };
        assert_eq!(member, to, "{key:?}");
        for (a, b, what) in [
            (*started, *received, "start <= received"),
            (*received, *restored, "received <= Restored heard"),
            (*restored, *committed, "Restored heard <= Commit heard"),
            (*received, *ba, "received <= BA"),
            (*ba, *committed, "BA <= Commit heard"),
        ] {
            assert!(a <= b + SLACK, "{key:?}: {what}: {a} > {b}");
        }
        times.push((committed - started) * 1000.0);
    }
    assert!(
        times.len() >= committed,
        "{} committed handoffs logged, {committed} expected",
        times.len()
    );
    let svg = lab.dir.join("events.svg");
    let out = Command::new(BIN)
        .arg("plot")
        .args(&files)
        .arg("-o")
        .arg(&svg)
        .output()
        .expect("run vany plot");
    assert!(
        out.status.success(),
        "vany plot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).expect("vany plot wrote its picture");
    let drawn = text.matches("ms since the freeze").count();
    assert!(
        drawn >= times.len().min(48),
        "{drawn} close-ups for {} handoffs",
        times.len()
    );
    times
}
