//! The demo's report as pictures (`vany demo --plot`, `vany demo --gap-grid --plot`).

use super::{DemoReport, GridCell, MEMBERS};
use crate::plot::{self, HandoffMark, PlotError, Timeline};

/// The demo's run as an SVG timeline: every client's bytes over simulated time, each
/// handoff marked (donor -> acceptor, reason) and drawn up close with its gap, floor and
/// L_ss + 4·L_sc; the drain and the operator's move as lines of their own.
pub fn picture(report: &DemoReport) -> Result<String, PlotError> {
    let handoffs = report
        .handoffs
        .iter()
        .map(|r| {
            let mut phases = vec![("freeze".to_string(), r.at_s)];
            phases.extend(r.restored_s.map(|t| ("restored".to_string(), t)));
            phases.extend(r.committed_s.map(|t| ("commit".to_string(), t)));
            HandoffMark {
                client: r.client.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                reason: r.reason.clone(),
                outcome: format!("{:?}", r.outcome),
                at_s: r.at_s,
                gap_s: r.gap_s,
                floor_ms: Some(r.floor_ms),
                slides_ms: Some(r.slides_ms),
                phases,
            }
        })
        .collect();
    let manual = report
        .handoffs
        .iter()
        .find(|r| r.reason == "manual")
        .map_or(String::new(), |r| format!(": {} to {}", r.client, r.to));
    let timeline = Timeline {
        title: format!(
            "vany demo (seed {}): {} clients, one anycast address, members in {}",
            report.seed,
            report.series.len(),
            MEMBERS.join(", ")
        ),
        time_axis: "simulated time".to_string(),
        series: report.series.clone(),
        handoffs,
        moments: vec![
            (report.drain_at_s, format!(" {} drains", MEMBERS[1])),
            (
                report.manual_at_s,
                format!(" operator moves a client{manual}"),
            ),
        ],
    };
    plot::render_timeline(&timeline)
}

/// The gap grid as an SVG heatmap of gap minus floor over (L_ss, L_sc).
pub fn grid_picture(cells: &[GridCell]) -> Result<String, PlotError> {
    plot::render_gap_grid(cells)
}
