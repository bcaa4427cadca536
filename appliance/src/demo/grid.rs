//! `vany demo --gap-grid`: the client-observed gap of one manual handoff in a
//! two-member group, over a grid of one-way latencies, with a loss column per cell.

use super::*;
use crate::sim::LinkParams;

/// The gap grid's stream rate (bytes/s).
const GRID_RATE: u64 = 1024 * 1024;

/// One cell of the handoff-gap grid.
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    /// One-way latency donor-acceptor.
    pub l_ss_ms: f64,
    /// One-way latency acceptor-client (as `l_sc_acceptor_ms`).
    pub l_sc_ms: f64,
    /// One-way latency donor-client.
    pub l_sc_donor_ms: f64,
    /// One-way latency acceptor-client.
    pub l_sc_acceptor_ms: f64,
    /// max(0, L_ss + L_sc(acceptor) - L_sc(donor)).
    pub floor_ms: f64,
    /// Measured client-observed gap.
    pub gap_ms: Option<f64>,
    /// Gap minus floor.
    pub excess_ms: Option<f64>,
    /// Target: L_ss + L_sc(acceptor).
    pub target_ms: f64,
    /// The slides: L_ss + 4·L_sc(acceptor).
    pub slides_ms: f64,
    /// Client retransmission timeouts.
    pub rtos: u64,
    /// Spurious retransmissions the client received in the handoff's first second.
    pub client_spurious_retransmissions: u64,
    /// Duplicate ACKs at the client (either direction) in the handoff's first second.
    pub client_dup_acks: u64,
    /// Stream intact.
    pub intact: bool,
    /// With 1 % and 2 % loss on the client's paths ([`GRID_LOSS_RUNS`] seeds each): the
    /// median excess over the floor.
    pub loss_excess_median_ms: Option<f64>,
    /// The same runs' 95th percentile (nearest rank).
    pub loss_excess_p95_ms: Option<f64>,
    /// For comparison, the same runs without a handoff: the median of the longest
    /// in-order stall in the second before the handoff (loss recovery alone).
    pub loss_baseline_stall_median_ms: Option<f64>,
    /// The same runs' spurious retransmissions at the client in the handoff's first
    /// second, in all.
    pub loss_spurious_retransmissions: u64,
    /// Lossy runs whose stream failed (a wrong byte, a reset, a timeout; must be 0). A
    /// stream still running after 30 s at 2 % loss has not failed.
    pub loss_not_intact: u64,
}

/// Seeds per loss rate in the grid's loss column.
pub const GRID_LOSS_RUNS: u64 = 5;

/// What one manual handoff in a two-member group looked like to the client.
struct GridRun {
    gap: Option<Duration>,
    /// The longest in-order stall in the second before the handoff.
    stall_before: Option<Duration>,
    rtos: u64,
    spurious: u64,
    dup_acks: u64,
    intact: bool,
}

/// One manual handoff of a continuous 1 MiB/s stream: donor at `l_sc_donor` from the
/// client, acceptor at `l_sc_acceptor`, `l_ss` apart; `loss` on both client paths.
fn grid_run(seed: u64, l_ss: u64, l_sc_donor: u64, l_sc_acceptor: u64, loss: f64) -> GridRun {
    let mut sim = Sim::new(seed);
    sim.set_default_link(LinkParams::default());
    let members: BTreeMap<MemberId, Ipv6Addr> = [(1, member_addr(0)), (2, member_addr(1))]
        .into_iter()
        .collect();
    sim.set_latency(0, 1, Duration::from_millis(l_ss));
    sim.set_latency(0, 2, Duration::from_millis(l_sc_donor));
    sim.set_latency(1, 2, Duration::from_millis(l_sc_acceptor));
    for m in [0, 1] {
        let mut link = sim.link(m, 2);
        link.loss = loss;
        sim.set_link(m, 2, link);
    }
    let d = sim.add_host(
        Box::new(Member::new(
            demo_member_config(1, "donor", true, &members, 11, GRID_RATE),
            sim.now(),
        )),
        0,
    );
    sim.add_host(
        Box::new(Member::new(
            demo_member_config(2, "acceptor", false, &members, 12, GRID_RATE),
            sim.now(),
        )),
        1,
    );
    let cfg = stream_client(0, sim.now(), 7, 4 * 1024 * 1024, GRID_RATE);
    let rng = sim.fork_rng();
    let c = sim.add_host(Box::new(Client::new(cfg, rng)), 2);
    sim.run_for(Duration::from_secs(2));
    let moved_at = sim.now();
    if let Some(m) = sim.host_as::<Member>(d) {
        m.manual_move(client_addr(0), 2);
    }
    let end = sim.now() + Duration::from_secs(30);
    while sim.now() < end && !sim.host_as::<Client>(c).is_some_and(|x| x.is_done()) {
        sim.run_for(Duration::from_millis(100));
    }
    let Some(x) = sim.host_as::<Client>(c) else {
        return GridRun {
            gap: None,
            stall_before: None,
            rtos: 0,
            spurious: 0,
            dup_acks: 0,
            intact: false,
        };
    };
    let r = x.reports();
    let s = x.summary();
    // The handoff's own events: its first second. (With loss, the stream's later
    // recoveries are not the handoff's doing, and a slow lossy stream may still run.)
    let until = Some(moved_at + Duration::from_secs(1));
    GridRun {
        gap: r
            .iter()
            .flat_map(|d| d.handovers.iter())
            .map(|h| h.gap())
            .max(),
        stall_before: r
            .iter()
            .flat_map(|d| d.stalls.iter())
            .filter(|(t, _)| *t < moved_at && *t + Duration::from_secs(1) >= moved_at)
            .map(|(_, d)| *d)
            .max(),
        rtos: s.rto_count,
        spurious: r
            .iter()
            .map(|d| count_between(&d.spurious_at, moved_at, until))
            .sum(),
        dup_acks: r
            .iter()
            .map(|d| count_between(&d.dup_acks_at, moved_at, until))
            .sum(),
        intact: s.mismatches == 0
            && s.resets == 0
            && s.failed == 0
            && (loss > 0.0 || s.complete == s.downloads),
    }
}

/// The `q` quantile (nearest rank) of `v`.
fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// One grid cell (one-way latencies in ms): the lossless run, and the loss column's runs.
pub fn grid_cell(seed: u64, l_ss: u64, l_sc_donor: u64, l_sc_acceptor: u64) -> GridCell {
    let floor = ms(handoff_floor(
        Duration::from_millis(l_ss),
        Duration::from_millis(l_sc_donor),
        Duration::from_millis(l_sc_acceptor),
    ));
    let run = grid_run(seed, l_ss, l_sc_donor, l_sc_acceptor, 0.0);
    let mut excess = Vec::new();
    let mut baseline = Vec::new();
    let (mut loss_spurious, mut loss_not_intact) = (0, 0);
    for loss in [0.01, 0.02] {
        for k in 0..GRID_LOSS_RUNS {
            let r = grid_run(seed * 1000 + k, l_ss, l_sc_donor, l_sc_acceptor, loss);
            excess.extend(r.gap.map(|g| ms(g) - floor));
            baseline.push(r.stall_before.map_or(0.0, ms));
            loss_spurious += r.spurious;
            loss_not_intact += u64::from(!r.intact);
        }
    }
    GridCell {
        l_ss_ms: l_ss as f64,
        l_sc_ms: l_sc_acceptor as f64,
        l_sc_donor_ms: l_sc_donor as f64,
        l_sc_acceptor_ms: l_sc_acceptor as f64,
        floor_ms: floor,
        gap_ms: run.gap.map(ms),
        excess_ms: run.gap.map(|g| ms(g) - floor),
        target_ms: (l_ss + l_sc_acceptor) as f64,
        slides_ms: (l_ss + 4 * l_sc_acceptor) as f64,
        rtos: run.rtos,
        client_spurious_retransmissions: run.spurious,
        client_dup_acks: run.dup_acks,
        intact: run.intact,
        loss_excess_median_ms: quantile(&mut excess, 0.5),
        loss_excess_p95_ms: quantile(&mut excess, 0.95),
        loss_baseline_stall_median_ms: quantile(&mut baseline, 0.5),
        loss_spurious_retransmissions: loss_spurious,
        loss_not_intact,
    }
}

/// Measures the client-observed gap of one manual handoff for every L_ss, L_sc in
/// {2, 10, 40, 120} ms (donor and acceptor equally far from the client), with a
/// continuous stream, and the loss column of each cell.
pub fn gap_grid(seed: u64) -> Vec<GridCell> {
    let values = [2u64, 10, 40, 120];
    let mut cells = Vec::new();
    for &l_ss in &values {
        for &l_sc in &values {
            cells.push(grid_cell(seed, l_ss, l_sc, l_sc));
        }
    }
    cells
}

/// The asymmetric cells: the acceptor nearer to the client than the donor, and farther,
/// for L_ss in {2, 40} ms.
pub fn gap_grid_asymmetric(seed: u64) -> Vec<GridCell> {
    let pairs = [
        (10u64, 2u64),
        (120, 10),
        (120, 40),
        (2, 10),
        (10, 120),
        (40, 120),
    ];
    let mut cells = Vec::new();
    for l_ss in [2u64, 40] {
        for &(donor, acceptor) in &pairs {
            cells.push(grid_cell(seed, l_ss, donor, acceptor));
        }
    }
    cells
}

/// The grid as a table.
pub fn render_grid(cells: &[GridCell], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "client-observed handoff gap (ms), continuous 1 MiB/s stream, one manual handoff"
    )?;
    writeln!(
        out,
        "floor = max(0, L_ss + L_sc(a) - L_sc(d)); loss columns: excess at 1 % and 2 % client loss ({GRID_LOSS_RUNS} seeds each), next to the longest in-order stall of the same runs in the second before the handoff (loss recovery alone)"
    )?;
    writeln!(
        out,
        "{:>5} {:>7} {:>7} {:>6} {:>7} {:>7} {:>10} {:>12} {:>5} {:>4} {:>6} {:>6}  {:>11} {:>9} {:>13} {:>9}",
        "L_ss", "L_sc(d)", "L_sc(a)", "floor", "gap", "excess", "L_ss+L_sc", "L_ss+4*L_sc", "RTOs", "spur", "dupACK", "intact", "loss median", "loss p95", "stall before", "loss spur"
    )?;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |g| format!("{g:.1}"));
    for c in cells {
        writeln!(
            out,
            "{:>5.0} {:>7.0} {:>7.0} {:>6.1} {:>7} {:>7} {:>10.0} {:>12.0} {:>5} {:>4} {:>6} {:>6}  {:>11} {:>9} {:>13} {:>9}",
            c.l_ss_ms,
            c.l_sc_donor_ms,
            c.l_sc_acceptor_ms,
            c.floor_ms,
            f(c.gap_ms),
            f(c.excess_ms),
            c.target_ms,
            c.slides_ms,
            c.rtos,
            c.client_spurious_retransmissions,
            c.client_dup_acks,
            c.intact && c.loss_not_intact == 0,
            f(c.loss_excess_median_ms),
            f(c.loss_excess_p95_ms),
            f(c.loss_baseline_stall_median_ms),
            c.loss_spurious_retransmissions
        )?;
    }
    Ok(())
}
