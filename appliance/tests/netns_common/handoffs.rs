//! The end-to-end handoff run shared by the lab tests (`e2e_netns`, `e2e_dpdk`,
//! `e2e_dpdk_cores`): an unmodified kernel client downloads a `source` stream from the
//! anycast address while the test moves its session with `vany ctl handoff` (the
//! operator policy), each move asked of the node whose member (core) serves it once the
//! previous one has settled; then `vany ctl drain` on that node hands the session on to
//! another node and the node exits.
//!
//! [`handoffs_then_drain`] prints what it saw (`-- --nocapture`) and asserts the common
//! bar: the stream complete and intact (SHA-256), no error (reset) on the kernel socket,
//! no gap longer than 1 s, every move settled where it was asked to go, the drained node
//! exits 0, and no reset counted by the client kernel ([`MUST_STAY_ZERO`]). It returns
//! the client kernel's counters for further checks.

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::lab::*;
use super::*;
use vany_appliance::apps::source::expected_sha256;
use vany_appliance::node::ctl::Request;

/// Client-kernel counters that must not move in the handoff run.
pub const MUST_STAY_ZERO: &[&str] = &[
    "TcpEstabResets",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnTimeout",
    "Icmp6OutParmProblems",
    "Ip6InUnknownProtos",
];
/// Client-kernel counters reported.
pub const REPORTED: &[&str] = &[
    "TcpActiveOpens",
    "TcpInSegs",
    "TcpOutSegs",
    "TcpRetransSegs",
    "TcpOutRsts",
    "TcpInErrs",
    "TcpExtTCPTimeouts",
    "TcpExtTCPLossProbes",
    "TcpExtTCPLossProbeRecovery",
    "TcpExtTCPFastRetrans",
    "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPDSACKRecv",
    "TcpExtTCPDSACKOldSent",
    "TcpExtTCPDSACKUndo",
    "TcpExtTCPOFOQueue",
    "TcpExtTCPOFODrop",
    "TcpExtPAWSEstab",
    "TcpExtTCPSpuriousRTOs",
    "TcpExtTCPRcvCollapsed",
    "Ip6InReceives",
    "Ip6InDiscards",
    "Ip6OutNoRoutes",
    "Icmp6InErrors",
    "Icmp6OutErrors",
];

/// Prints `after - before` of every counter of [`MUST_STAY_ZERO`] and [`REPORTED`].
pub fn print_counters(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) {
    for name in MUST_STAY_ZERO.iter().chain(REPORTED) {
        let b = before.get(*name).copied().unwrap_or(0);
        let a = after.get(*name).copied().unwrap_or(0);
        println!("  {name:<28} {:>10}", a as i128 - b as i128);
    }
}

/// `after - before` of one counter.
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, name: &str) -> i128 {
    let get = |c: &BTreeMap<String, u64>| i128::from(c.get(name).copied().unwrap_or(0));
    get(after) - get(before)
}

/// What one run asks for.
pub struct Plan {
    /// Stream id, length and pace (bytes/s; 0: unpaced).
    pub stream: u64,
    pub length: u64,
    pub rate: u64,
    /// Operator moves before the drain (spread over the first 85 % of the stream).
    pub moves: usize,
    /// Where move `k` (0-based) goes.
    pub next: fn(usize) -> u16,
    /// The node that must be serving the session (on one of its cores), hence drained,
    /// at the drain.
    pub drain_at: Option<u16>,
}

/// The client kernel's counters around the run.
pub struct Counters {
    /// Before the connection was opened.
    pub before: BTreeMap<String, u64>,
    /// Once the first bytes had arrived (the connection is up).
    pub connected: BTreeMap<String, u64>,
    /// After the drain and the end of the stream.
    pub after: BTreeMap<String, u64>,
    /// The drained node's `Status` answer and `/metrics` just before its drain.
    pub status_before_drain: Option<serde_json::Value>,
    pub metrics_before_drain: Option<String>,
}

/// One move the test asked for, and what it saw of it.
struct MoveRecord {
    from: u16,
    to: u16,
    how: &'static str,
    at_bytes: u64,
    /// From the `vany ctl` call to the session being settled at `to` (as polled).
    settled_after: Duration,
}

/// The run of the module doc on a lab whose group and client are up.
pub fn handoffs_then_drain(lab: &mut Lab, plan: &Plan) -> Counters {
    let started = Instant::now();
    let before = lab.nstat();
    let seen = drive(lab, plan, started);
    let end = finish(lab, &seen);
    print_run(plan, &seen, &end, &before, started);
    check(plan, &seen, &end, &before);
    Counters {
        before,
        connected: seen.connected,
        after: end.after,
        status_before_drain: seen.status_before_drain,
        metrics_before_drain: seen.metrics_before_drain,
    }
}

/// What the download and the moves saw.
struct Seen {
    moves: Vec<MoveRecord>,
    download: Download,
    drained_id: u16,
    /// The drained node's committed handoffs, counted before its drain.
    committed_by_drained: f64,
    /// The client kernel's counters once the first bytes had arrived.
    connected: BTreeMap<String, u64>,
    /// The drained node's `Status` answer and `/metrics` just before its drain.
    status_before_drain: Option<serde_json::Value>,
    metrics_before_drain: Option<String>,
}

/// What the end of the run left.
struct End {
    drained_status: ExitStatus,
    drained_log: String,
    report: Option<serde_json::Value>,
    after: BTreeMap<String, u64>,
    /// Committed handoffs, all nodes (the drain's own not counted).
    committed: f64,
}

/// Downloads the stream while asking for the moves of `plan`, then the drain.
fn drive(lab: &mut Lab, plan: &Plan, started: Instant) -> Seen {
    let Plan {
        stream,
        length,
        rate,
        moves: wanted,
        next,
        drain_at,
    } = *plan;
    let run_limit = Duration::from_secs(60 + 3 * length / rate.max(8 * MIB));
    let mut connected = None;
    // rate 0: unpaced (the members' send buffers stay full).
    let (downloader, progress, done) = spawn_download(
        lab,
        stream,
        length,
        (rate > 0).then_some(rate),
        Duration::from_secs(10),
        None,
    );

    // The moves are spread over the first 85 % of the stream; the drain comes after.
    let step = length * 85 / 100 / (wanted as u64 + 1);
    let mut moves: Vec<MoveRecord> = Vec::new();
    let mut drained_id: Option<u16> = None;
    let (mut status_before_drain, mut metrics_before_drain) = (None, None);
    let mut committed_by_drained = 0.0;
    let mut pending: Option<(u16, u16, &'static str, u64, Instant)> = None;
    let deadline = started + run_limit;
    while !done.load(Ordering::Relaxed) {
        assert!(
            Instant::now() < deadline,
            "not done within {run_limit:?}: {} of {length} bytes, {} moves",
            progress.load(Ordering::Relaxed),
            moves.len()
        );
        std::thread::sleep(Duration::from_millis(20));
        let got = progress.load(Ordering::Relaxed);
        if connected.is_none() && got > 0 {
            connected = Some(lab.nstat());
        }
        let Some(at) = lab.settled_at(CLIENT) else {
            if let Some((from, to, _, _, since)) = pending {
                assert!(
                    since.elapsed() < Duration::from_secs(10),
                    "move {from} -> {to} not settled after 10 s"
                );
            }
            continue;
        };
        if let Some((from, to, how, at_bytes, since)) = pending {
            // A drain moves the session off the drained node, maybe by way of another
            // of its cores.
            let not_yet = match how {
                "ctl drain" => lab.node_of(at) == lab.node_of(from),
                _ => at == from,
            };
            if not_yet {
                // Not started yet, or thawed: wait (bounded above).
                assert!(
                    since.elapsed() < Duration::from_secs(10),
                    "move {from} -> {to} not settled after 10 s"
                );
                continue;
            }
            if how == "ctl handoff" {
                assert_eq!(at, to, "the session went to the wrong member");
            }
            moves.push(MoveRecord {
                from,
                to: at,
                how,
                at_bytes,
                settled_after: since.elapsed(),
            });
            pending = None;
        }
        if drained_id.is_some() {
            continue;
        }
        if moves.len() < wanted {
            if got < step * (moves.len() as u64 + 1) {
                continue;
            }
            let to = next(moves.len());
            let node = lab.node_of(at);
            let out = lab.ctl(node, &["handoff", &CLIENT.to_string(), &to.to_string()]);
            assert!(
                out.status.success(),
                "vany ctl handoff {CLIENT} {to} on node {node} (member {at} serves it): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            pending = Some((at, to, "ctl handoff", got, Instant::now()));
        } else if got >= step * (wanted as u64 + 1) {
            let drain = start_drain(lab, at, drain_at);
            committed_by_drained = drain.committed;
            (status_before_drain, metrics_before_drain) = (drain.status, drain.metrics);
            drained_id = Some(drain.node);
            pending = Some((at, 0, "ctl drain", got, Instant::now()));
        }
    }
    Seen {
        moves,
        download: downloader.join().expect("the download thread"),
        drained_id: drained_id.expect("the drain happened"),
        committed_by_drained,
        connected: connected.expect("data arrived"),
        status_before_drain,
        metrics_before_drain,
    }
}

/// What [`start_drain`] saw of the node it drained before the drain.
struct Drain {
    node: u16,
    status: Option<serde_json::Value>,
    metrics: Option<String>,
    /// Its committed handoffs.
    committed: f64,
}

/// `vany ctl drain` on the node whose member `at` serves the session (which must be
/// node `drain_at`, if given), after reading its status and metrics.
fn start_drain(lab: &Lab, at: u16, drain_at: Option<u16>) -> Drain {
    let node = lab.node_of(at);
    if let Some(want) = drain_at {
        assert_eq!(
            node, want,
            "the node serving the session (member {at}) at the drain"
        );
    }
    // A node on DPDK: its layer 2 (neighbor discovery, port drops) so far.
    let status = lab.ask(node, &Request::Status);
    if let Some(s) = &status {
        if !s["layer2"].is_null() {
            println!("node {node}'s layer 2 before the drain: {}", s["layer2"]);
        }
    }
    // The drained node's handoff records go with it: count them first.
    let metrics = lab.metrics(node);
    let committed = metrics.as_ref().map_or(0.0, |m| {
        metric(m, "vany_handoffs_total{outcome=\"committed\"}")
    });
    let out = lab.ctl(node, &["drain"]);
    assert!(
        out.status.success(),
        "vany ctl drain on node {node} ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "drain of node {node} (member {at} serves the session): {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Drain {
        node,
        status,
        metrics,
        committed,
    }
}

/// Waits for the drained node to exit, stops `vany client`, reads the counters.
fn finish(lab: &mut Lab, seen: &Seen) -> End {
    let drained_id = seen.drained_id;
    // The drained node exits by itself once its session has moved.
    let mut drained_child = lab.nodes[usize::from(drained_id) - 1]
        .take()
        .expect("the drained node was started");
    let drained_status = wait_for(
        &format!("drained node {drained_id} exits"),
        Duration::from_secs(15),
        || drained_child.try_wait().ok().flatten(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = lab.client.as_mut().and_then(|c| c.stop());
    let after = lab.nstat();
    let survivors: Vec<u16> = (1..=lab.nodes_count).filter(|i| *i != drained_id).collect();
    let mut committed = seen.committed_by_drained;
    for &i in &survivors {
        if let Some(m) = lab.metrics(i) {
            committed += metric(&m, "vany_handoffs_total{outcome=\"committed\"}");
            println!(
                "node {i} metrics: handoffs committed {}, timed out {}, refused {}; \
                 handoff duration sum {:.4} s over {} ; forwarded {}",
                metric(&m, "vany_handoffs_total{outcome=\"committed\"}"),
                metric(&m, "vany_handoffs_total{outcome=\"timed_out\"}"),
                metric(&m, "vany_handoffs_total{outcome=\"refused\"}"),
                metric(&m, "vany_handoff_duration_seconds_sum"),
                metric(&m, "vany_handoff_duration_seconds_count"),
                metric(&m, "vany_forwarded_total"),
            );
        }
    }
    let drained_log = lab.node_log(drained_id);

    End {
        drained_status,
        drained_log,
        report,
        after,
        committed,
    }
}

fn print_run(
    plan: &Plan,
    seen: &Seen,
    end: &End,
    before: &BTreeMap<String, u64>,
    started: Instant,
) {
    let (moves, download, drained_id) = (&seen.moves, &seen.download, seen.drained_id);
    let (rate, committed, report) = (plan.rate, end.committed, &end.report);
    let (drained_status, after) = (end.drained_status, &end.after);
    println!("--- moves (asked -> settled, as polled every ~20 ms) ---");
    for (k, m) in moves.iter().enumerate() {
        println!(
            "{:>2}. {} {} -> {} at {:>6.1} MiB: settled after {:>4} ms",
            k + 1,
            m.how,
            m.from,
            m.to,
            m.at_bytes as f64 / MIB as f64,
            m.settled_after.as_millis()
        );
    }
    println!(
        "download: {} bytes in {:.2} s ({:.1} MiB/s, asked {:.0} MiB/s), first byte after \
         {:?}, error {:?}, mismatch {:?}",
        download.bytes,
        download.elapsed.as_secs_f64(),
        download.bytes as f64 / MIB as f64 / download.elapsed.as_secs_f64(),
        rate as f64 / MIB as f64,
        download.first_byte,
        download.error,
        download.mismatch
    );
    for (g, at) in &download.gaps {
        println!(
            "  gap {:>7.1} ms at {:>6.1} MiB",
            g.as_secs_f64() * 1e3,
            *at as f64 / MIB as f64
        );
    }
    println!("drained node {drained_id} exited with {drained_status}");
    println!("handoffs committed (the nodes' metrics, the drain's own not counted): {committed}");
    println!("vany client report: {report:?}");
    println!(
        "client kernel counters (nstat, client namespace) over the run ({} moves):",
        moves.len()
    );
    print_counters(before, after);
    println!("whole run: {:.1} s", started.elapsed().as_secs_f64());
}

/// The common bar of the module doc.
fn check(plan: &Plan, seen: &Seen, end: &End, before: &BTreeMap<String, u64>) {
    let (download, moves, wanted) = (&seen.download, &seen.moves, plan.moves);
    let (committed, drained_status, after) = (end.committed, end.drained_status, &end.after);
    let (stream, length, drained_log) = (plan.stream, plan.length, &end.drained_log);
    assert_eq!(download.error, None, "the kernel socket failed");
    assert_eq!(download.mismatch, None, "a wrong byte");
    assert_eq!(download.bytes, length, "bytes received");
    assert_eq!(
        download.sha256,
        hex::encode(expected_sha256(stream, length)),
        "SHA-256 of the stream"
    );
    assert_eq!(moves.len(), wanted + 1, "every move and the drain settled");
    // The drain's own handoff was recorded by the drained node after its count.
    assert!(
        committed >= wanted as f64,
        "the nodes count {committed} committed handoffs"
    );
    assert!(
        download.largest_gap() < Duration::from_secs(1),
        "a stall of {:?}",
        download.largest_gap()
    );
    assert!(
        drained_status.success(),
        "drained node exited with {drained_status}: {drained_log}"
    );
    for name in MUST_STAY_ZERO {
        assert_eq!(
            delta(before, after, name),
            0,
            "client kernel counter {name} moved"
        );
    }
}
