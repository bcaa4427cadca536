//! Seeded random group scenarios (issue 5's 10,000): each mixes clients joining at
//! random times (some opening a second connection later, while already bound to a
//! member), handoffs at random moments (manual moves, some while a previous handoff of
//! the same client is still under way, i.e. within 2·L_ss of it, plus whatever the
//! proximity policy decides), a member draining, sometimes a member killed outright,
//! client path loss (0-2 %) and lost peer messages (0-5 % of UDP port 4600 datagrams).
//! 2-4 members (member 1 the contact node), 1-6 clients, one-way latencies 1-150 ms;
//! one scenario in eight adds a client whose session is large enough to be pre-copied.
//!
//! Invariants, per scenario:
//! - no stream is ever corrupted (no wrong byte, ever), and none ends silently short:
//!   a download is complete (every byte, right SHA-256) or failed with a reset or a
//!   timeout;
//! - a download fails only when the member serving its client was killed (reported as
//!   lost);
//! - the run ends within 30 simulated minutes and 50 million events;
//! - every donor lets go of its frozen copy (the acceptor commits), and a drained
//!   member stops (unless the member at the other end was killed).
//!
//! `random_scenarios_never_corrupt_and_always_end` checks the first and the last;
//! `random_scenarios_lose_downloads_only_to_killed_members` checks them all, and
//! classifies each reset by who sent it.
//!
//! `VANY_GROUP_SCENARIOS` scenarios run (default 20 in CI; the full campaign is 10,000),
//! with seeds `VANY_GROUP_SEED ..` (default 0), on every core (each scenario is
//! deterministic on its own); a failure prints its seed, and
//! `VANY_GROUP_SEED=<seed> VANY_GROUP_SCENARIOS=1` replays it. `VANY_GROUP_PCAP=<dir>`
//! writes a pcap per host; `VANY_GROUP_PEER_LOSS` changes the largest peer-message loss
//! drawn (default 0.05).

mod group_common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use group_common::*;
use vany_appliance::group::member::{HandoffOutcome, HandoffRecord};
use vany_appliance::group::peer::MemberId;
use vany_appliance::sim::client::{DownloadReport, DownloadStatus};
use vany_appliance::sim::HostId;
use vany_stack::time::{Duration, Instant};

/// A run ends by then at the latest.
const TIME_LIMIT: Instant = Instant::from_secs(30 * 60);
/// After the last download, time for handoffs under way to end.
const SETTLE: Duration = Duration::from_secs(5);
/// After that, seconds a drained member may still take to stop.
const DRAIN_GRACE_SECS: u32 = 25;
/// And within this many events.
const EVENT_LIMIT: u64 = 50_000_000;

#[derive(Debug, Clone, Copy)]
enum Action {
    /// The operator moves client `client` to member `to`.
    Move { client: usize, to: MemberId },
    /// Member drains and leaves.
    Drain(MemberId),
    /// Member is killed outright.
    Kill(MemberId),
    /// The others learn that the killed member is gone.
    Notice(MemberId),
}

/// What went wrong in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    /// A wrong byte, or complete without every byte.
    Corrupted,
    /// Closed early without a reset or timeout.
    SilentlyShort,
    /// Not finished by the time limit, or the event limit hit.
    NotFinished,
    /// Reset by the donor of a committed handoff of the client (a late client packet).
    ResetByDonorAfterCommit,
    /// Reset by the acceptor of a refused or timed-out handoff (forwarded packets).
    ResetByAcceptorWithoutSession,
    /// Reset by the member serving the client after a handoff (a connection missing from
    /// the snapshot, e.g. one still in its handshake).
    ResetByServingAcceptor,
    /// Reset by the donor after its handoff failed and it thawed (e.g. a connection the
    /// acceptor accepted from forwarded packets).
    ResetByDonorAfterFailedHandoff,
    /// Reset by someone else.
    ResetOther,
    /// Timed out though no member serving it was killed.
    TimedOutNotKilled,
    /// A handoff restored at the acceptor more than 3 s before the end but never
    /// committed, with neither end killed: the donor keeps its frozen copy forever.
    FrozenForever,
    /// The drained member (not killed, not waiting for a killed acceptor) had not stopped
    /// 30 s after the last download.
    DrainNeverStopped,
}

impl Problem {
    /// Whether the problem breaks the integrity invariants (no corruption, no silent
    /// shortening, bounded runs), not just the availability one.
    fn breaks_integrity(self) -> bool {
        matches!(
            self,
            Problem::Corrupted | Problem::SilentlyShort | Problem::NotFinished
        )
    }
}

/// Totals over scenarios.
#[derive(Debug, Default, Clone)]
struct Totals {
    scenarios: u64,
    members: u64,
    clients: u64,
    downloads: u64,
    complete: u64,
    bytes_verified: u64,
    lost_timed_out: u64,
    lost_reset: u64,
    handoffs: u64,
    by_reason: BTreeMap<String, u64>,
    committed: u64,
    refused: u64,
    timed_out: u64,
    abandoned: u64,
    pending_at_end: u64,
    /// Restored more than 3 s before the end but never committed: the donor still holds
    /// its frozen copy.
    stuck_restored: u64,
    moves_issued: u64,
    moves_during_handoff: u64,
    moves_skipped: u64,
    drains: u64,
    drained_stopped: u64,
    kills: u64,
    affected_clients: u64,
    client_rtos: u64,
    client_resets_seen: u64,
    peer_forged: u64,
    peer_replayed: u64,
    events: u64,
    sim_seconds: f64,
    max_sim_seconds: f64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.scenarios += o.scenarios;
        self.members += o.members;
        self.clients += o.clients;
        self.downloads += o.downloads;
        self.complete += o.complete;
        self.bytes_verified += o.bytes_verified;
        self.lost_timed_out += o.lost_timed_out;
        self.lost_reset += o.lost_reset;
        self.handoffs += o.handoffs;
        for (k, v) in &o.by_reason {
            *self.by_reason.entry(k.clone()).or_default() += v;
        }
        self.committed += o.committed;
        self.refused += o.refused;
        self.timed_out += o.timed_out;
        self.abandoned += o.abandoned;
        self.pending_at_end += o.pending_at_end;
        self.stuck_restored += o.stuck_restored;
        self.moves_issued += o.moves_issued;
        self.moves_during_handoff += o.moves_during_handoff;
        self.moves_skipped += o.moves_skipped;
        self.drains += o.drains;
        self.drained_stopped += o.drained_stopped;
        self.kills += o.kills;
        self.affected_clients += o.affected_clients;
        self.client_rtos += o.client_rtos;
        self.client_resets_seen += o.client_resets_seen;
        self.peer_forged += o.peer_forged;
        self.peer_replayed += o.peer_replayed;
        self.events += o.events;
        self.sim_seconds += o.sim_seconds;
        self.max_sim_seconds = self.max_sim_seconds.max(o.max_sim_seconds);
    }
}

/// One scenario's result: its totals and its problems (each with a description).
struct Outcome {
    totals: Totals,
    problems: Vec<(Problem, String)>,
}

/// A RST a member sent a client: when, from which member, to which client and port.
#[derive(Debug, Clone, Copy)]
struct Rst {
    at: Instant,
    member: MemberId,
    client: usize,
    port: u16,
}

/// The largest peer-message loss drawn (`VANY_GROUP_PEER_LOSS`, default 0.05).
fn max_peer_loss() -> f64 {
    std::env::var("VANY_GROUP_PEER_LOSS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.05)
}

/// The clients the killed member holds: serving, handing off, being handed, or bound.
fn held_by(g: &mut Group, k: MemberId) -> Vec<usize> {
    let coa = member_addr(k);
    let mut held: Vec<Ipv6Addr> = g.member(k).clients();
    for id in 1..=g.members.len() as MemberId {
        for r in g.member(id).handoffs() {
            if r.outcome == HandoffOutcome::Pending && (r.from == k || r.to == k) {
                held.push(r.client);
            }
        }
    }
    (0..g.clients.len())
        .filter(|&i| {
            let addr = g.client_addrs[i];
            held.contains(&addr)
                || g.client(i)
                    .cn()
                    .binding(&vany_appliance::demo::ANYCAST)
                    .is_some_and(|b| b.care_of == coa)
        })
        .collect()
}

/// Who reset a download, judged from the first RST a member sent to its port and the
/// handoff log.
fn classify_reset(
    r: &DownloadReport,
    client: Ipv6Addr,
    index: usize,
    rsts: &[Rst],
    log: &[HandoffRecord],
) -> (Problem, String) {
    let Some(rst) = rsts
        .iter()
        .find(|x| x.client == index && x.port == r.local_port)
    else {
        return (Problem::ResetOther, "no RST from a member seen".into());
    };
    let mine: Vec<&HandoffRecord> = log
        .iter()
        .filter(|h| h.client == client && h.started <= rst.at)
        .collect();
    let describe = |h: &HandoffRecord| {
        format!(
            "RST from member {} at {} after handoff {}->{} ({}) started {} {:?}",
            rst.member, rst.at, h.from, h.to, h.reason, h.started, h.outcome
        )
    };
    if let Some(h) = mine.iter().rev().find(|h| {
        h.from == rst.member
            && h.outcome == HandoffOutcome::Committed
            && h.committed.is_some_and(|c| c <= rst.at)
    }) {
        return (Problem::ResetByDonorAfterCommit, describe(h));
    }
    if let Some(h) = mine.iter().rev().find(|h| {
        h.to == rst.member
            && matches!(
                h.outcome,
                HandoffOutcome::Refused | HandoffOutcome::TimedOut | HandoffOutcome::Pending
            )
            && h.restored.is_none()
    }) {
        return (Problem::ResetByAcceptorWithoutSession, describe(h));
    }
    if let Some(h) = mine.iter().rev().find(|h| h.to == rst.member) {
        return (Problem::ResetByServingAcceptor, describe(h));
    }
    if let Some(h) = mine.iter().rev().find(|h| {
        h.from == rst.member
            && matches!(
                h.outcome,
                HandoffOutcome::Refused | HandoffOutcome::TimedOut
            )
    }) {
        return (Problem::ResetByDonorAfterFailedHandoff, describe(h));
    }
    (
        Problem::ResetOther,
        format!("RST from member {} at {}", rst.member, rst.at),
    )
}

/// One scenario.
fn scenario(seed: u64) -> Outcome {
    let mut dice = Dice::new(seed);
    let n = dice.range(2, 4) as usize;
    let mut l_ss = BTreeMap::new();
    for i in 1..=n as MemberId {
        for j in (i + 1)..=n as MemberId {
            l_ss.insert((i, j), dice.millis(1, 150));
        }
    }
    let max_l_ss = l_ss.values().copied().max().unwrap_or(Duration::ZERO);
    // One scenario in eight has a large session (issue 10): members keep 512 KiB send
    // buffers and one more client runs four unpaced downloads, so its session holds more
    // than the pre-copy threshold. Drawn from dice of its own, so that every other draw
    // (and so every earlier seed's scenario) stays as it was.
    let mut big_dice = Dice::new(seed ^ 0x1a26_e5e5);
    let big = big_dice.chance(0.125);
    let mut g = Group::new(
        seed,
        n,
        &[],
        |i, j| l_ss[&(i.min(j), i.max(j))],
        |cfg| {
            if big {
                cfg.tcp.send_buffer = 512 * 1024;
            }
        },
    );
    g.sim.set_event_limit(Some(EVENT_LIMIT));

    // Clients: random latencies and loss, one or two downloads, joining at random times.
    let k = dice.range(1, 6) as usize;
    for c in 0..k {
        let lat: Vec<Duration> = (0..n).map(|_| dice.millis(1, 150)).collect();
        let loss = dice.unit() * 0.02;
        let loc = g.place(&lat, loss);
        let downloads = if dice.chance(0.3) { 2 } else { 1 };
        let mut start = Instant::ZERO + dice.millis(0, 5000);
        let mut specs = Vec::new();
        for d in 0..downloads {
            let length = dice.range(20_000, 400_000);
            let rate = (!dice.chance(0.2)).then(|| dice.range(50_000, 400_000));
            specs.push((start, 1000 + 10 * c as u64 + d, length, rate));
            start = start + dice.millis(100, 6000);
        }
        g.add_client(loc, |mut cfg| {
            for (start, id, length, rate) in specs {
                cfg = cfg.download(start, 80, id, length, rate);
            }
            cfg
        });
    }

    if big {
        let lat: Vec<Duration> = (0..n).map(|_| big_dice.millis(1, 150)).collect();
        let loc = g.place(&lat, big_dice.unit() * 0.02);
        let start = Instant::ZERO + big_dice.millis(0, 3000);
        let lengths: Vec<u64> = (0..4).map(|_| big_dice.range(600_000, 1_500_000)).collect();
        g.add_client(loc, |mut cfg| {
            cfg.tcp.recv_buffer = 256 * 1024;
            for (d, length) in lengths.into_iter().enumerate() {
                cfg = cfg.download(start, 80, 5000 + d as u64, length, None);
            }
            cfg
        });
    }

    // `VANY_GROUP_PCAP=<dir>`: a pcap per host (for replaying one seed).
    if let Ok(dir) = std::env::var("VANY_GROUP_PCAP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("pcap directory");
        for (i, h) in g.members.clone().into_iter().enumerate() {
            let path = dir.join(format!("seed{seed}-member{}.pcap", i + 1));
            g.sim.capture(h, &path).expect("pcap file");
        }
        for (i, h) in g.clients.clone().into_iter().enumerate() {
            let path = dir.join(format!("seed{seed}-client{i}.pcap"));
            g.sim.capture(h, &path).expect("pcap file");
        }
    }

    // Lost peer messages; RSTs members send to clients are noted.
    let peer_loss = dice.unit() * max_peer_loss();
    let mut loss_rng = dice.fork();
    let rsts: Rc<RefCell<Vec<Rst>>> = Rc::default();
    let sink = rsts.clone();
    let members: BTreeMap<HostId, MemberId> = g
        .members
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, i as MemberId + 1))
        .collect();
    let clients: BTreeMap<HostId, usize> =
        g.clients.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    g.sim.set_filter(Some(Box::new(move |p| {
        if is_peer_datagram(p.packet) {
            let u = (loss_rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            return u >= peer_loss;
        }
        if let (Some(&member), Some(&client)) = (members.get(&p.from), clients.get(&p.to)) {
            if let Some(port) = rst_to_port(p.packet) {
                sink.borrow_mut().push(Rst {
                    at: p.at,
                    member,
                    client,
                    port,
                });
            }
        }
        true
    })));

    // What happens when.
    let mut actions: Vec<(Instant, Action)> = Vec::new();
    let moves = dice.range(0, 4);
    let mut last_move: Option<(Instant, usize)> = None;
    for _ in 0..moves {
        let (at, client) = match last_move {
            // Within 2·L_ss of the previous move of the same client: during its handoff.
            Some((t, c)) if dice.chance(0.5) => {
                let window = 2 * max_l_ss.total_micros() / 1000 + 1;
                (t + dice.millis(0, window), c)
            }
            _ => (
                Instant::ZERO + dice.millis(500, 12_000),
                dice.range(0, k as u64 - 1) as usize,
            ),
        };
        let to = dice.range(1, n as u64) as MemberId;
        actions.push((at, Action::Move { client, to }));
        last_move = Some((at, client));
    }
    if dice.chance(0.5) {
        let m = dice.range(2, n as u64) as MemberId;
        actions.push((Instant::ZERO + dice.millis(1000, 15_000), Action::Drain(m)));
    }
    if dice.chance(0.25) {
        let m = dice.range(2, n as u64) as MemberId;
        let at = Instant::ZERO + dice.millis(1000, 15_000);
        actions.push((at, Action::Kill(m)));
        actions.push((at + Duration::from_secs(1), Action::Notice(m)));
    }
    actions.sort_by_key(|(t, _)| *t);

    let mut t = Totals {
        scenarios: 1,
        members: n as u64,
        clients: g.clients.len() as u64,
        ..Totals::default()
    };
    let mut killed: Option<MemberId> = None;
    let mut affected: Vec<usize> = Vec::new();
    let mut drained: Option<MemberId> = None;
    for (at, action) in actions {
        g.sim.run_until(at);
        match action {
            Action::Move { client, to } => {
                let addr = g.client_addrs[client];
                let in_handoff = (1..=n as MemberId).any(|id| {
                    g.member(id)
                        .handoffs()
                        .iter()
                        .any(|r| r.client == addr && r.outcome == HandoffOutcome::Pending)
                });
                let serving: Vec<MemberId> = g
                    .serving(client)
                    .into_iter()
                    .filter(|m| Some(*m) != killed)
                    .collect();
                if serving.is_empty() {
                    t.moves_skipped += 1;
                }
                for m in serving {
                    t.moves_issued += 1;
                    t.moves_during_handoff += u64::from(in_handoff);
                    g.member(m).manual_move(addr, to);
                }
            }
            Action::Drain(m) => {
                t.drains += 1;
                drained = Some(m);
                g.member(m).drain();
                for o in (1..=n as MemberId).filter(|o| *o != m) {
                    let now = g.sim.now();
                    g.member(o).set_excluded(now, m, true);
                }
            }
            Action::Kill(m) => {
                t.kills += 1;
                killed = Some(m);
                affected = held_by(&mut g, m);
                t.affected_clients += affected.len() as u64;
                let host = g.members[usize::from(m - 1)];
                g.sim.set_up(host, false);
            }
            Action::Notice(m) => {
                for o in (1..=n as MemberId).filter(|o| *o != m) {
                    let now = g.sim.now();
                    g.member(o).set_excluded(now, m, true);
                }
            }
        }
    }
    let done = g.run_until_done(TIME_LIMIT, Duration::from_millis(200));
    // Let handoffs still under way end (commit, or thaw after the handoff timeout), and a
    // drained member finish leaving.
    g.sim.run_for(SETTLE);
    if let Some(d) = drained.filter(|d| Some(*d) != killed) {
        for _ in 0..DRAIN_GRACE_SECS {
            if g.member(d).is_stopped() {
                break;
            }
            g.sim.run_for(Duration::from_secs(1));
        }
    }
    g.sim.flush_captures().expect("writing pcaps");
    let stats = g.sim.stats();
    t.events = stats.events;
    let secs = g.sim.now().total_micros() as f64 / 1e6;
    t.sim_seconds = secs;
    t.max_sim_seconds = secs;

    let log = g.handoffs();
    let log_text: Vec<String> = log
        .iter()
        .map(|r| {
            let client = g.client_addrs.iter().position(|a| *a == r.client);
            format!(
                "client {client:?} {}->{} {} at {} restored {:?} committed {:?} {:?}",
                r.from,
                r.to,
                r.reason,
                r.started,
                r.restored.map(|t| t.to_string()),
                r.committed.map(|t| t.to_string()),
                r.outcome
            )
        })
        .collect();
    let context = format!(
        "seed {seed}: {n} members, {k} clients, peer loss {peer_loss:.3}, killed {killed:?} \
         (affected clients {affected:?}), drained {drained:?}, ended at {}; handoffs: [{}]",
        g.sim.now(),
        log_text.join("; ")
    );
    let mut problems = Vec::new();
    if g.sim.limit_reached() {
        problems.push((
            Problem::NotFinished,
            format!("{context}: event limit reached"),
        ));
    } else if !done {
        problems.push((
            Problem::NotFinished,
            format!("{context}: not done by {TIME_LIMIT}"),
        ));
    }
    let rsts = rsts.borrow().clone();
    for (c, r) in g.reports() {
        t.downloads += 1;
        t.bytes_verified += r.bytes_verified;
        t.client_rtos += r.rto_count;
        t.client_resets_seen += u64::from(r.resets);
        if let Some(p) = download_problem(&r) {
            let class = if r.mismatch.is_some() || r.status == DownloadStatus::Complete {
                Problem::Corrupted
            } else if r.status == DownloadStatus::Failed {
                Problem::SilentlyShort
            } else {
                Problem::NotFinished
            };
            problems.push((class, format!("{context}: client {c}: {p}: {r:?}")));
            continue;
        }
        match r.status {
            DownloadStatus::Complete => t.complete += 1,
            _ if affected.contains(&c) && r.timed_out => t.lost_timed_out += 1,
            _ if affected.contains(&c) => t.lost_reset += 1,
            _ => {
                let (class, why) = if r.resets > 0 {
                    classify_reset(&r, g.client_addrs[c], c, &rsts, &log)
                } else {
                    (Problem::TimedOutNotKilled, String::new())
                };
                problems.push((
                    class,
                    format!(
                        "{context}: client {c} download {} lost, not served by a killed member: {why}: {r:?}",
                        r.index
                    ),
                ));
            }
        }
    }
    for r in &log {
        t.handoffs += 1;
        *t.by_reason.entry(r.reason.to_string()).or_default() += 1;
        match r.outcome {
            HandoffOutcome::Committed => t.committed += 1,
            HandoffOutcome::Refused => t.refused += 1,
            HandoffOutcome::TimedOut => t.timed_out += 1,
            HandoffOutcome::Abandoned => t.abandoned += 1,
            HandoffOutcome::Pending => t.pending_at_end += 1,
        }
        if r.outcome == HandoffOutcome::Pending
            && r.restored
                .is_some_and(|x| g.sim.now().saturating_since(x) > Duration::from_secs(3))
        {
            t.stuck_restored += 1;
            if killed != Some(r.from) && killed != Some(r.to) {
                let client = g.client_addrs.iter().position(|a| *a == r.client);
                problems.push((
                    Problem::FrozenForever,
                    format!(
                        "{context}: handoff of client {client:?} {}->{} restored at {:?} never committed",
                        r.from,
                        r.to,
                        r.restored.map(|t| t.to_string())
                    ),
                ));
            }
        }
    }
    for id in 1..=n as MemberId {
        let ps = g.member(id).peer_stats();
        t.peer_forged += ps.forged;
        t.peer_replayed += ps.replayed;
    }
    // A drained member waiting for a Commit from a member killed meanwhile is excused.
    let waits_for_killed = |d: MemberId| {
        log.iter()
            .any(|r| r.from == d && Some(r.to) == killed && r.outcome == HandoffOutcome::Pending)
    };
    if let Some(d) = drained.filter(|d| Some(*d) != killed && !waits_for_killed(*d)) {
        if g.member(d).is_stopped() {
            t.drained_stopped += 1;
        } else {
            let left = g.member(d).clients().len();
            problems.push((
                Problem::DrainNeverStopped,
                format!("{context}: drained member {d} still running, serving {left} clients"),
            ));
        }
    }
    Outcome {
        totals: t,
        problems,
    }
}

/// Runs the campaign; returns the failing seeds with their problems (those `counts`
/// selects), after printing totals and every problem class.
fn campaign(counts: impl Fn(Problem) -> bool) -> Vec<(u64, Problem, String)> {
    let count = env_count("VANY_GROUP_SCENARIOS", 20);
    let base = env_count("VANY_GROUP_SEED", 0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = std::time::Instant::now();
    let next = AtomicU64::new(0);
    let totals = Mutex::new(Totals::default());
    let problems: Mutex<Vec<(u64, Problem, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let seed = base + i;
                match std::panic::catch_unwind(|| scenario(seed)) {
                    Ok(o) => {
                        totals.lock().unwrap().add(&o.totals);
                        let mut p = problems.lock().unwrap();
                        p.extend(o.problems.into_iter().map(|(c, e)| (seed, c, e)));
                    }
                    Err(_) => problems.lock().unwrap().push((
                        seed,
                        Problem::NotFinished,
                        format!("seed {seed}: panicked"),
                    )),
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let t = totals.into_inner().unwrap();
    let mut problems = problems.into_inner().unwrap();
    problems.sort_by_key(|p| (p.1, p.0));
    println!(
        "{count} scenarios (seeds {base}..{}) in {wall:.1} s wall on {threads} threads",
        base + count
    );
    println!(
        "members {}, clients {}, downloads {} ({} complete, lost to killed members: {} timed out, {} reset), {:.1} MB verified",
        t.members,
        t.clients,
        t.downloads,
        t.complete,
        t.lost_timed_out,
        t.lost_reset,
        t.bytes_verified as f64 / 1e6
    );
    println!(
        "handoffs {} ({} committed, {} refused, {} timed out, {} abandoned, {} pending at the end of which {} restored but never committed), by reason {:?}",
        t.handoffs, t.committed, t.refused, t.timed_out, t.abandoned, t.pending_at_end, t.stuck_restored, t.by_reason
    );
    println!(
        "manual moves issued {} ({} while a handoff of the client was under way, {} skipped: client not served), drains {} ({} stopped), kills {} ({} clients held)",
        t.moves_issued,
        t.moves_during_handoff,
        t.moves_skipped,
        t.drains,
        t.drained_stopped,
        t.kills,
        t.affected_clients
    );
    println!(
        "client RTOs {}, resets seen {}, peer messages forged {} replayed {}, events {}, simulated {:.0} s (longest run {:.1} s)",
        t.client_rtos,
        t.client_resets_seen,
        t.peer_forged,
        t.peer_replayed,
        t.events,
        t.sim_seconds,
        t.max_sim_seconds
    );
    let mut by_class: BTreeMap<Problem, Vec<u64>> = BTreeMap::new();
    for (seed, class, _) in &problems {
        by_class.entry(*class).or_default().push(*seed);
    }
    for (class, seeds) in &by_class {
        let mut distinct = seeds.clone();
        distinct.dedup();
        println!(
            "problem {class:?}: {} downloads in {} scenarios, e.g. seeds {:?}",
            seeds.len(),
            distinct.len(),
            &distinct[..distinct.len().min(12)]
        );
    }
    let shown = std::env::var("VANY_GROUP_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize);
    let mut per_class: BTreeMap<Problem, usize> = BTreeMap::new();
    for (_, class, e) in &problems {
        let n = per_class.entry(*class).or_default();
        *n += 1;
        if *n <= shown {
            println!("{class:?}: {e}");
        }
    }
    problems.retain(|p| counts(p.1));
    problems
}

fn seeds(problems: &[(u64, Problem, String)]) -> Vec<u64> {
    let mut s: Vec<u64> = problems.iter().map(|p| p.0).collect();
    s.sort_unstable();
    s.dedup();
    s
}

#[test]
fn random_scenarios_never_corrupt_and_always_end() {
    let failures = campaign(Problem::breaks_integrity);
    assert!(
        failures.is_empty(),
        "streams corrupted, silently short or unfinished; seeds {:?}",
        seeds(&failures)
    );
}

#[test]
fn random_scenarios_lose_downloads_only_to_killed_members() {
    let failures = campaign(|_| true);
    assert!(
        failures.is_empty(),
        "downloads lost without a killed member, or worse; seeds {:?}",
        seeds(&failures)
    );
}

/// Scenarios of the full campaign that once lost a download without a killed member,
/// run every time (the default campaign of 20 does not reach them):
/// - 7006, 4284, 7010: a drained member stopped while a new connection of a client it
///   had served was still in its handshake (the drain now waits for it, up to the
///   handoff timeout, and a draining member opens no new connection);
/// - 222: waiting so, the draining member answered the client's Binding Error with a BU
///   and pulled it back from the member it had reached meanwhile (a draining member no
///   longer binds a client it serves nothing live for);
/// - 3214: the client opened a connection natively while its binding was gone, the
///   contact node took it, and the acceptor that bound the client next dropped the
///   rest of it (it now passes such segments to the contact node).
#[test]
fn scenarios_that_once_lost_a_download_lose_none() {
    for seed in [222, 3214, 4284, 7006, 7010] {
        let o = scenario(seed);
        let problems: Vec<String> = o.problems.iter().map(|(_, e)| e.clone()).collect();
        assert!(problems.is_empty(), "seed {seed}: {problems:?}");
    }
}
