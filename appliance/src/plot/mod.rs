//! Pictures of handoffs, as SVG: what `vany demo --plot` draws of a simulated run, what
//! `vany demo --gap-grid --plot` draws of the gap grid, and what `vany plot` draws of a
//! running group's handoff events (`vany node --events`).
//!
//! A [`Timeline`] is the one model all three fill: bytes each client received over time
//! (when known: the simulator measures them, a node does not), and every handoff with
//! its phases, the client's gap, and the references the gap is judged against (the
//! physical floor and the slides' L_ss + 4·L_sc).

mod events;
mod heatmap;
mod timeline;

pub use events::{events_timeline, read_events, ReadEventsError};
pub use heatmap::render_gap_grid;
pub use timeline::render_timeline;

/// Why a picture could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw.
    #[error("nothing to plot: {0}")]
    Empty(&'static str),
    /// The drawing library failed.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for PlotError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}

/// Bytes one client received over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The client's name.
    pub client: String,
    /// (seconds, bytes so far), in time order.
    pub points: Vec<(f64, u64)>,
}

/// One handoff as the picture shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffMark {
    /// The client's name (matches a [`Series::client`] when there is one).
    pub client: String,
    /// Donor and acceptor.
    pub from: String,
    /// Acceptor.
    pub to: String,
    /// Which policy moved it (`proximity`, `load`, `drain`, `manual`).
    pub reason: String,
    /// How it ended (`Committed`, `Refused`, ...).
    pub outcome: String,
    /// When the donor froze the session (seconds).
    pub at_s: f64,
    /// The client's gap: its last new byte from the donor and first from the acceptor.
    pub gap_s: Option<(f64, f64)>,
    /// The physical floor of the gap (ms), when the path latencies are known.
    pub floor_ms: Option<f64>,
    /// The slides' L_ss + 4·L_sc (ms), when known.
    pub slides_ms: Option<f64>,
    /// Named moments of the handoff, in seconds: `freeze`, `restored`, `commit`, ...
    pub phases: Vec<(String, f64)>,
}

impl HandoffMark {
    /// The last moment the mark knows of.
    fn end_s(&self) -> f64 {
        let mut end = self.at_s;
        if let Some((_, to)) = self.gap_s {
            end = end.max(to);
        }
        for (_, t) in &self.phases {
            end = end.max(*t);
        }
        end
    }
}

/// What a timeline picture shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// The title.
    pub title: String,
    /// The unit of time on the x axis, in words (`simulated time`, `time since the first
    /// event`).
    pub time_axis: String,
    /// Bytes per client (empty when unknown).
    pub series: Vec<Series>,
    /// Every handoff, in time order.
    pub handoffs: Vec<HandoffMark>,
    /// Moments of the run worth a line of their own (a drain starting, an operator's
    /// move), as (seconds, label).
    pub moments: Vec<(f64, String)>,
}

/// Client colors (distinguishable, print-safe), cycled.
const PALETTE: [(u8, u8, u8); 12] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 64, 0),
];

/// The color of series or client `i`.
fn color(i: usize) -> plotters::style::RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    plotters::style::RGBColor(r, g, b)
}

/// The color of a handoff's reason.
fn reason_color(reason: &str) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match reason {
        "proximity" => RGBColor(0, 114, 178),
        "load" => RGBColor(230, 159, 0),
        "drain" => RGBColor(213, 94, 0),
        "manual" => RGBColor(204, 121, 167),
        _ => RGBColor(90, 90, 90),
    }
}

/// `from -> to` with an arrow that survives any font.
fn route(h: &HandoffMark) -> String {
    format!("{} → {}", h.from, h.to)
}

/// An SVG file to be written at the end of a run, opened (so checked) at its start.
#[derive(Debug)]
pub struct PlotFile {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl PlotFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &std::path::Path) -> Result<PlotFile, String> {
        let file = std::fs::File::create(path)
            .map_err(|e| format!("cannot write the picture to {}: {e}", path.display()))?;
        Ok(PlotFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the picture `svg` drew (or says why there is none).
    pub fn write(&mut self, svg: Result<String, PlotError>) -> Result<(), String> {
        use std::io::Write;
        let at = self.path.display();
        let svg = svg.map_err(|e| format!("no picture written to {at}: {e}"))?;
        self.file
            .write_all(svg.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| format!("writing the picture to {at}: {e}"))
    }
}
