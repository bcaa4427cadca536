//! Drain (issue 5): one member with many client sessions leaves. Every session is handed
//! off, the drained member stops, the others keep serving, and every stream arrives
//! intact with no reset. The drain time (from `drain()` to the last commit) is reported
//! against the target, L_ss + L_sc + 1 s; it is printed, not asserted (measurements
//! are never timed assertions).
//!
//! Setup: members 1 (the contact node that runs home tests), 2 (also a contact node: new
//! clients near it reach it first) and 3. All clients sit 5 ms from member 2, 25 ms from
//! member 3 and 40 ms from member 1; members are 15 ms (2-3), 20 ms (1-2) and 30 ms (1-3)
//! apart. Each client opens one connection, joining over the first 2 s, for a slow paced
//! stream (12 bytes at 1 byte/s) that is still running when member 2 drains at 4 s.
//! The drain policy sends every session to member 3, the closest other member: L_ss =
//! 15 ms, L_sc = 25 ms, so the target is 1.04 s.
//!
//! `VANY_DRAIN_SESSIONS` sessions (default 300 in CI; the full campaign is 10,000).

mod group_common;

use group_common::*;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};

const LENGTH: u64 = 12;
const RATE: u64 = 1;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn a_member_with_many_sessions_drains_and_the_group_keeps_serving() {
    let sessions = env_count("VANY_DRAIN_SESSIONS", 300) as usize;
    let wall = std::time::Instant::now();
    let seed = 2025;
    let l_ss = |a, b| match (a, b) {
        (1, 2) | (2, 1) => ms(20),
        (2, 3) | (3, 2) => ms(15),
        _ => ms(30),
    };
    let mut g = Group::new(seed, 3, &[2], l_ss, |_| {});
    let loc = g.place(&[ms(40), ms(5), ms(25)], 0.0);
    for i in 0..sessions {
        let start = Instant::from_micros((2_000_000 * i / sessions.max(1)) as i64);
        g.add_client(loc, |c| {
            c.download(start, 80, 10_000 + i as u64, LENGTH, Some(RATE))
        });
    }
    let drain_at = Instant::from_secs(4);
    g.sim.run_until(drain_at);
    let setup_wall = wall.elapsed();
    let before = g.member(2).clients().len();
    let (m1_before, m3_before) = (g.member(1).clients().len(), g.member(3).clients().len());
    println!(
        "seed {seed}: {sessions} sessions; at {drain_at}: member 2 serves {before}, member 1 {m1_before}, member 3 {m3_before} ({:.1} s wall so far)",
        setup_wall.as_secs_f64()
    );
    assert_eq!(before, sessions, "seed {seed}: every client on member 2");

    g.member(2).drain();
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, true);
    let now = g.sim.now();
    g.member(3).set_excluded(now, 2, true);
    let t0 = g.sim.now();
    // Until the drained member stops (bounded).
    let limit = t0 + Duration::from_secs(30);
    while !g.member(2).is_stopped() && g.sim.now() < limit {
        g.sim.run_for(ms(10));
    }
    let drain_wall = wall.elapsed() - setup_wall;
    let stopped_at = g.sim.now();
    let records: Vec<_> = g
        .member(2)
        .handoffs()
        .iter()
        .filter(|r| r.reason == "drain")
        .cloned()
        .collect();
    let committed = records
        .iter()
        .filter(|r| r.outcome == HandoffOutcome::Committed)
        .count();
    let last_commit = records.iter().filter_map(|r| r.committed).max();
    let first_restored = records.iter().filter_map(|r| r.restored).min();
    let drain_time = last_commit.map(|t| t.saturating_since(t0));
    let target = ms(15) + ms(25) + Duration::from_secs(1);
    println!(
        "drain: {} handoffs started, {committed} committed ({} refused, {} timed out); first restored {:?}, last commit {:?} after drain(); stopped by {} ({:.1} s wall)",
        records.len(),
        records.iter().filter(|r| r.outcome == HandoffOutcome::Refused).count(),
        records.iter().filter(|r| r.outcome == HandoffOutcome::TimedOut).count(),
        first_restored.map(|t| t.saturating_since(t0).to_string()),
        drain_time.map(|d| d.to_string()),
        stopped_at.saturating_since(t0),
        drain_wall.as_secs_f64()
    );
    println!(
        "drain time {} against the target L_ss + L_sc + 1 s = {target}",
        drain_time.map_or("-".to_string(), |d| d.to_string()),
    );
    let snapshot_bytes: usize = records.iter().map(|r| r.snapshot_bytes).sum();
    println!(
        "snapshots: {snapshot_bytes} bytes in all, {:.0} per session",
        snapshot_bytes as f64 / records.len().max(1) as f64
    );
    assert!(
        g.member(2).is_stopped(),
        "seed {seed}: member 2 did not stop"
    );
    assert_eq!(committed, sessions, "seed {seed}: every session handed off");
    assert!(g.member(2).clients().is_empty());
    let served = g.member(1).clients().len() + g.member(3).clients().len();
    println!(
        "after the drain: member 1 serves {}, member 3 {}",
        g.member(1).clients().len(),
        g.member(3).clients().len()
    );
    assert_eq!(
        served, sessions,
        "seed {seed}: the others serve every client"
    );

    // The others keep serving: every stream completes intact.
    assert!(
        g.run_until_done(t0 + Duration::from_secs(60), ms(100)),
        "seed {seed}: not done"
    );
    let mut rtos = 0;
    for (c, r) in g.reports() {
        assert_eq!(download_problem(&r), None, "seed {seed}: client {c}: {r:?}");
        assert_eq!(
            r.status,
            DownloadStatus::Complete,
            "seed {seed}: client {c}: {r:?}"
        );
        assert_eq!(r.resets, 0, "seed {seed}: client {c}");
        assert_eq!(
            r.handovers.len(),
            1,
            "seed {seed}: client {c}: {:?}",
            r.handovers
        );
        rtos += r.rto_count;
    }
    let stats = g.sim.stats();
    println!(
        "all {sessions} streams intact; client RTOs {rtos}; {} events, {} packets delivered; {:.1} s wall in all",
        stats.events,
        stats.delivered,
        wall.elapsed().as_secs_f64()
    );
}
