//! `vany plot`: a running group's handoff events (`vany node --events`, one file per
//! node or all in one) as the same timeline `vany demo --plot` draws, without the
//! client's bytes (a node does not see the client's side): each handoff's steps as the
//! donor and the acceptor logged them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use super::{HandoffMark, Timeline};
use crate::node::events::EventLine;

/// A line of an events file that is not an event.
#[derive(Debug, thiserror::Error)]
pub enum ReadEventsError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not one of `vany node --events`' lines.
    #[error("{path}:{line}: not a vany event line: {why}")]
    Line {
        /// The file.
        path: String,
        /// Its line number (from 1).
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Reads every event line of `path` (blank lines are skipped).
pub fn read_events(path: &Path) -> Result<Vec<EventLine>, ReadEventsError> {
    let name = path.display().to_string();
    let io = |source| ReadEventsError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut lines = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| ReadEventsError::Line {
            path: name.clone(),
            line: i + 1,
            why: e.to_string(),
        })?;
        lines.push(event);
    }
    Ok(lines)
}

/// What the lines of one handoff say, merged.
#[derive(Default)]
struct Merged {
    donor: Option<EventLine>,
    acceptor: Option<EventLine>,
    refused: Option<EventLine>,
}

/// The handoffs of `events` (lines of one or several members, in any order) as a
/// timeline, times in seconds since the first handoff started.
pub fn events_timeline(events: &[EventLine]) -> Timeline {
    // A handoff is named by its donor and transfer number.
    let mut by_handoff: BTreeMap<(u16, u64), Merged> = BTreeMap::new();
    for e in events {
        let (key, slot) = match e {
            EventLine::Handoff {
                member, transfer, ..
            } => ((*member, *transfer), 0),
            EventLine::Accepted { from, transfer, .. } => ((*from, *transfer), 1),
            EventLine::Refused { from, transfer, .. } => ((*from, *transfer), 2),
        };
        let m = by_handoff.entry(key).or_default();
        let slot = match slot {
            0 => &mut m.donor,
            1 => &mut m.acceptor,
            _ => &mut m.refused,
        };
        *slot = Some(e.clone());
    }
    let mut marks: Vec<HandoffMark> = by_handoff
        .into_iter()
        .filter_map(|((donor, _), m)| mark(donor, m))
        .collect();
    marks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let t0 = marks.first().map_or(0.0, |m| m.at_s);
    for m in &mut marks {
        m.at_s -= t0;
        for p in &mut m.phases {
            p.1 -= t0;
        }
    }
    Timeline {
        title: format!("vany handoffs: {} from the group's events", marks.len()),
        time_axis: "time since the first handoff".to_string(),
        series: Vec::new(),
        handoffs: marks,
        moments: Vec::new(),
    }
}

/// One handoff's mark from what its members logged; none without a start time.
fn mark(donor: u16, m: Merged) -> Option<HandoffMark> {
    let mut phases: Vec<(String, f64)> = Vec::new();
    let (mut client, mut to, mut reason, mut outcome) = (
        String::new(),
        String::new(),
        "?".to_string(),
        "?".to_string(),
    );
    let mut start = None;
    if let Some(EventLine::Handoff {
        client: c,
        to: t,
        reason: r,
        outcome: o,
        failure,
        started,
        restored,
        committed,
        ..
    }) = m.donor
    {
        (client, to, reason) = (c, t.to_string(), r);
        outcome = match (o.as_str(), failure) {
            ("committed", _) => "Committed".to_string(),
            (_, Some(f)) => f,
            (o, None) => o.to_string(),
        };
        start = Some(started);
        phases.push(("start".to_string(), started));
        phases.extend(restored.map(|t| ("Restored heard".to_string(), t)));
        phases.extend(committed.map(|t| ("Commit heard".to_string(), t)));
    }
    if let Some(EventLine::Accepted {
        client: c,
        member,
        received,
        committed,
        ..
    }) = m.acceptor
    {
        if client.is_empty() {
            (client, to) = (c, member.to_string());
            outcome = "Committed".to_string();
        }
        start.get_or_insert(received);
        phases.push(("restored, BU sent".to_string(), received));
        phases.push(("BA, Commit sent".to_string(), committed));
    }
    if let Some(EventLine::Refused {
        member,
        reason: why,
        at,
        ..
    }) = m.refused
    {
        if to.is_empty() {
            to = member.to_string();
        }
        outcome = why;
        start.get_or_insert(at);
        phases.push(("refused".to_string(), at));
    }
    Some(HandoffMark {
        client: if client.is_empty() {
            "?".to_string()
        } else {
            client
        },
        from: format!("member {donor}"),
        to: format!("member {to}"),
        reason,
        outcome,
        at_s: start?,
        gap_s: None,
        floor_ms: None,
        slides_ms: None,
        phases,
    })
}
