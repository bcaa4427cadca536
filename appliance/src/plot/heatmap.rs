//! The gap grid as a heatmap: for each (L_ss, L_sc) of `vany demo --gap-grid`, the
//! client-observed gap minus its physical floor, with the gap and the slides'
//! L_ss + 4·L_sc written in the cell.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::PlotError;
use crate::demo::GridCell;

const FONT: &str = "sans-serif";
/// The excess (ms) drawn in full red, unless a cell exceeds it.
const SCALE_MS: f64 = 50.0;

/// Draws the symmetric cells of `cells` (donor and acceptor equally far from the client)
/// as an SVG heatmap of gap minus floor over (L_ss, L_sc).
pub fn render_gap_grid(cells: &[GridCell]) -> Result<String, PlotError> {
    let cells: Vec<&GridCell> = cells
        .iter()
        .filter(|c| c.l_sc_donor_ms == c.l_sc_acceptor_ms)
        .collect();
    if cells.is_empty() {
        return Err(PlotError::Empty("no grid cells"));
    }
    let mut l_ss: Vec<f64> = cells.iter().map(|c| c.l_ss_ms).collect();
    let mut l_sc: Vec<f64> = cells.iter().map(|c| c.l_sc_ms).collect();
    for v in [&mut l_ss, &mut l_sc] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    // An absolute scale (a grid whose gaps all sit on their floor stays pale): white at
    // 0 ms, full red at `scale` ms or more.
    let scale = cells
        .iter()
        .filter_map(|c| c.excess_ms)
        .fold(0.0, f64::max)
        .max(SCALE_MS);
    let (width, height) = (220 + 170 * l_sc.len() as u32, 210 + 110 * l_ss.len() as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Handoff gap minus its floor (ms), by latency; in each cell: gap / L_ss + 4·L_sc",
                (FONT, 17),
            )
            .margin(14)
            .margin_bottom(34)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(
                // A segmented `0..n` has a segment for `n` too: `0..n - 1` has n.
                (0..l_sc.len() - 1).into_segmented(),
                (0..l_ss.len() - 1).into_segmented(),
            )?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(l_sc.len())
            .y_labels(l_ss.len())
            .x_label_formatter(&|v| centre_label(v, &l_sc))
            .y_label_formatter(&|v| centre_label(v, &l_ss))
            .x_desc("L_sc: one-way latency server to client")
            .y_desc("L_ss: one-way latency donor to acceptor")
            .label_style((FONT, 12))
            .draw()?;
        for c in &cells {
            let (Some(x), Some(y)) = (
                l_sc.iter().position(|v| *v == c.l_sc_ms),
                l_ss.iter().position(|v| *v == c.l_ss_ms),
            ) else {
                continue;
            };
            let fill = match c.excess_ms {
                // White (no excess) to red (the worst cell).
                Some(e) => {
                    let k = (e.max(0.0) / scale).min(1.0);
                    RGBColor(
                        255,
                        (255.0 * (1.0 - 0.8 * k)) as u8,
                        (255.0 * (1.0 - k)) as u8,
                    )
                }
                None => RGBColor(200, 200, 200),
            };
            let (x0, x1) = (SegmentValue::Exact(x), SegmentValue::Exact(x + 1));
            let (y0, y1) = (SegmentValue::Exact(y), SegmentValue::Exact(y + 1));
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0.clone(), y0.clone()), (x1, y1.clone())],
                fill.filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (x0.clone(), y0.clone()),
                    (SegmentValue::Exact(x + 1), y1.clone()),
                ],
                WHITE.stroke_width(2),
            )))?;
            let excess = c
                .excess_ms
                .map_or("no switch".to_string(), |e| format!("{e:+.1}"));
            let detail = format!(
                "{} / {:.0}",
                c.gap_ms.map_or("-".to_string(), |g| format!("{g:.1}")),
                c.slides_ms
            );
            let at = chart.backend_coord(&(x0.clone(), y1));
            let below = chart.backend_coord(&(x0, y0));
            let mid_y = (at.1 + below.1) / 2;
            root.draw(&Text::new(
                excess,
                (at.0 + 14, mid_y - 16),
                (FONT, 20).into_font().color(&BLACK),
            ))?;
            root.draw(&Text::new(
                detail,
                (at.0 + 14, mid_y + 10),
                (FONT, 12).into_font().color(&BLACK.mix(0.7)),
            ))?;
        }
        root.draw(&Text::new(
            format!(
                "white: gap on its floor; full red: {scale:.0} ms or more above it; grey: the \
                 client saw no switch"
            ),
            (20, height as i32 - 16),
            (FONT, 12).into_font().color(&BLACK.mix(0.7)),
        ))?;
        root.present()?;
    }
    Ok(svg)
}

/// The label of a cell's centre on an axis of `values` (ms).
fn centre_label(v: &SegmentValue<usize>, values: &[f64]) -> String {
    match v {
        SegmentValue::CenterOf(i) => values.get(*i).map_or(String::new(), |v| format!("{v} ms")),
        _ => String::new(),
    }
}
