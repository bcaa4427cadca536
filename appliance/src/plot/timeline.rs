//! The timeline picture: an overview of every client's bytes over time with the handoffs
//! marked (a time-sequence graph, as Wireshark's "Stevens" graph), then one close-up per
//! handoff: the client's bytes around the switch, the gap shaded and labelled, the floor
//! and the slides' L_ss + 4·L_sc drawn under it, and the handoff's phases.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, reason_color, route, HandoffMark, PlotError, Series, Timeline};

/// Picture width (px).
const WIDTH: u32 = 1400;
/// Height of the overview (px).
const OVERVIEW: u32 = 520;
/// Close-ups per row, and each one's height (px).
const COLUMNS: usize = 4;
const PANEL_HEIGHT: u32 = 250;
/// At most this many close-ups (the first ones; the title says how many are left out).
pub const MAX_PANELS: usize = 48;
const FONT: &str = "sans-serif";

/// Draws `t` as an SVG document.
pub fn render_timeline(t: &Timeline) -> Result<String, PlotError> {
    if t.series.is_empty() && t.handoffs.is_empty() {
        return Err(PlotError::Empty("no client data and no handoffs"));
    }
    let panels = t.handoffs.len().min(MAX_PANELS);
    let rows = panels.div_ceil(COLUMNS) as u32;
    let height = OVERVIEW + 40 + rows * PANEL_HEIGHT;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(OVERVIEW);
        overview(&top, t)?;
        let (heading, grid) = rest.split_vertically(40);
        let left_out = t.handoffs.len() - panels;
        let what = if t.series.is_empty() {
            "its steps as the donor and the acceptor logged them"
        } else {
            "the client's bytes, its gap (shaded), the floor and L_ss + 4·L_sc"
        };
        let title = if left_out > 0 {
            format!("Each handoff up close (the first {panels}; {left_out} more not drawn): {what}")
        } else {
            format!("Each handoff up close: {what}")
        };
        heading.draw(&Text::new(title, (20, 12), (FONT, 18).into_font()))?;
        if panels > 0 {
            let cells = grid.split_evenly((rows as usize, COLUMNS));
            for (h, area) in t.handoffs.iter().take(panels).zip(cells.iter()) {
                close_up(area, h, series_of(t, &h.client))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// The series of `client`, with its index (its color).
fn series_of<'a>(t: &'a Timeline, client: &str) -> Option<(usize, &'a Series)> {
    t.series
        .iter()
        .enumerate()
        .find(|(_, s)| s.client == client)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Every client's bytes over time (or, with no byte data, each handoff's length from
/// freeze to its last phase), with the handoffs and moments marked.
fn overview(area: &DrawingArea<SVGBackend<'_>, Shift>, t: &Timeline) -> Result<(), PlotError> {
    let mut x_max: f64 = 1.0;
    for s in &t.series {
        if let Some(p) = s.points.last() {
            x_max = x_max.max(p.0);
        }
    }
    for h in &t.handoffs {
        x_max = x_max.max(h.end_s());
    }
    for (at, _) in &t.moments {
        x_max = x_max.max(*at);
    }
    x_max *= 1.02;
    let bytes = !t.series.is_empty();
    let y_max = if bytes {
        let top = t
            .series
            .iter()
            .filter_map(|s| s.points.last().map(|p| mib(p.1)))
            .fold(0.0, f64::max);
        (top * 1.08).max(0.1)
    } else {
        let top = t
            .handoffs
            .iter()
            .map(|h| (h.end_s() - h.at_s) * 1000.0)
            .fold(0.0, f64::max);
        (top * 1.15).max(1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&t.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} (s)", t.time_axis))
        .y_desc(if bytes {
            "MiB received by the client"
        } else {
            "freeze to last phase (ms)"
        })
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (at, label) in &t.moments {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(*at, 0.0), (*at, y_max)],
            BLACK.mix(0.6).stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*at, y_max * 0.97),
            (FONT, 13).into_font(),
        )))?;
    }
    for (i, s) in t.series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|p| (p.0, mib(p.1))),
                c.stroke_width(2),
            ))?
            .label(s.client.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    }
    for h in &t.handoffs {
        let c = reason_color(&h.reason);
        let y = if bytes {
            series_of(t, &h.client)
                .and_then(|(_, s)| bytes_at(s, h.at_s))
                .map_or(0.0, mib)
        } else {
            (h.end_s() - h.at_s) * 1000.0
        };
        chart.draw_series(std::iter::once(TriangleMarker::new(
            (h.at_s, y),
            8,
            c.filled(),
        )))?;
        if h.outcome != "Committed" {
            chart.draw_series(std::iter::once(Cross::new(
                (h.at_s, y),
                7,
                RED.stroke_width(2),
            )))?;
        }
    }
    // One legend entry per reason that occurs.
    let mut reasons: Vec<&str> = t.handoffs.iter().map(|h| h.reason.as_str()).collect();
    reasons.sort_unstable();
    reasons.dedup();
    for r in reasons {
        let c = reason_color(r);
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(format!("handoff: {r}"))
            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

/// Bytes `s` had at `at` seconds (the last point at or before it).
fn bytes_at(s: &Series, at: f64) -> Option<u64> {
    let i = s.points.partition_point(|p| p.0 <= at);
    i.checked_sub(1).map(|i| s.points[i].1)
}

/// One handoff up close: x in ms since the freeze.
fn close_up(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    h: &HandoffMark,
    series: Option<(usize, &Series)>,
) -> Result<(), PlotError> {
    let ms = |t: f64| (t - h.at_s) * 1000.0;
    let gap = h.gap_s.map(|(a, b)| (ms(a), ms(b)));
    let gap_start = gap.map_or(0.0, |g| g.0);
    let mut x_end = ms(h.end_s());
    for r in [h.floor_ms, h.slides_ms].into_iter().flatten() {
        x_end = x_end.max(gap_start + r);
    }
    let x_start = gap_start.min(0.0) - (x_end - gap_start.min(0.0)).max(20.0) * 0.15;
    let x_end = x_end + (x_end - x_start).max(20.0) * 0.1;
    // The client's bytes in view, in KiB above the first.
    let mut line: Vec<(f64, f64)> = Vec::new();
    if let Some((_, s)) = series {
        let before = bytes_at(s, h.at_s + x_start / 1000.0);
        let base = before.unwrap_or(0);
        line.extend(before.map(|_| (x_start, 0.0)));
        line.extend(
            s.points
                .iter()
                .map(|p| (ms(p.0), p.1))
                .filter(|p| p.0 > x_start && p.0 <= x_end)
                .map(|(x, b)| (x, b.saturating_sub(base) as f64 / 1024.0)),
        );
        if let Some(last) = line.last().copied() {
            line.push((x_end, last.1));
        }
    }
    let y_top = line.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.3;
    let title = format!("{}: {} ({})", h.client, route(h), h.reason);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 13))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(x_start..x_end, 0f64..y_top)?;
    chart
        .configure_mesh()
        .x_desc("ms since the freeze")
        .y_desc(if series.is_some() { "KiB" } else { "" })
        .x_labels(5)
        .y_labels(if series.is_some() { 4 } else { 0 })
        .label_style((FONT, 10))
        .axis_desc_style((FONT, 11))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    if let Some((g0, g1)) = gap {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(g0, 0.0), (g1, y_top)],
            RGBColor(214, 39, 40).mix(0.15).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("gap {:.1} ms", g1 - g0),
            (g0, y_top * 0.95),
            (FONT, 12).into_font().color(&RGBColor(160, 20, 20)),
        )))?;
    }
    if let Some((i, _)) = series {
        chart.draw_series(LineSeries::new(line, color(i).stroke_width(2)))?;
    }
    // The references, as bars from the gap's start: how long the gap had to be at
    // least (floor), and what the slides' design would take.
    let refs = [
        (h.floor_ms, "floor", 0.08, RGBColor(0, 120, 0)),
        (h.slides_ms, "L_ss+4·L_sc", 0.18, RGBColor(90, 90, 90)),
    ];
    for (len, name, y, c) in refs {
        let Some(len) = len else { continue };
        let y = y_top * y;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(gap_start, y), (gap_start + len, y)],
            c.stroke_width(4),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{name} {len:.1} ms"),
            (gap_start, y + y_top * 0.07),
            (FONT, 11).into_font().color(&c),
        )))?;
    }
    // The handoff's phases, as ticks along the top.
    let mut phases: Vec<&(String, f64)> = h.phases.iter().collect();
    phases.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (k, (name, at)) in phases.into_iter().enumerate() {
        let x = ms(*at);
        let y = y_top * (0.85 - 0.07 * (k % 3) as f64);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y)],
            BLUE.mix(0.5).stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            name.clone(),
            (x, y),
            (FONT, 10).into_font().color(&BLUE),
        )))?;
    }
    if h.outcome != "Committed" {
        chart.draw_series(std::iter::once(Text::new(
            h.outcome.clone(),
            (x_start, y_top * 0.6),
            (FONT, 16).into_font().color(&RED),
        )))?;
    }
    Ok(())
}
