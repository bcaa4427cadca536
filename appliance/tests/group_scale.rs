//! Scale (issue 5): a 50-member group serving 10,000 clients in the simulator, with the
//! real member and client code (TCP engine, mobile node, correspondent node, peer
//! protocol, proximity policy). Prints the wall time; asserts only on correctness (every
//! stream complete and intact, no reset), never on time.
//!
//! Members and clients sit on a 2-D map (a torus 200 ms across); one-way latency is 1 ms
//! plus the distance. Five members are contact nodes (the anycast address reaches the
//! nearest of them); the proximity policy then moves each client to its nearest member.
//! Clients are grouped into 200 regions (a region shares one latency row) and join over
//! the first 2 s, each downloading a 96 KiB stream at 16 KiB/s.
//!
//! `VANY_SCALE_MEMBERS` (default 50), `VANY_SCALE_CLIENTS` (default 500 in CI; the full
//! campaign is 10,000) and `VANY_SCALE_KIB` (KiB per stream, default 96).

mod group_common;

use group_common::*;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};

/// Bytes/s of each stream: 96 KiB (the default length) take 6 s, so that the proximity
/// policy (2 s minimum stay) moves clients in the middle of their downloads.
const RATE: u64 = 16 * 1024;
const REGIONS: usize = 200;
const MAP_MS: f64 = 200.0;

fn distance(a: (f64, f64), b: (f64, f64)) -> Duration {
    let d = |x: f64, y: f64| {
        let v = (x - y).abs();
        v.min(MAP_MS - v)
    };
    let ms = 1.0 + (d(a.0, b.0).powi(2) + d(a.1, b.1).powi(2)).sqrt() / 2.0;
    Duration::from_micros((ms * 1000.0) as u64)
}

#[test]
fn fifty_members_serve_many_clients_and_move_them_closer() {
    let members = env_count("VANY_SCALE_MEMBERS", 50) as usize;
    let clients = env_count("VANY_SCALE_CLIENTS", 500) as usize;
    let length = env_count("VANY_SCALE_KIB", 96) * 1024;
    let seed = 5050;
    let wall = std::time::Instant::now();
    let mut dice = Dice::new(seed);
    let spot = |d: &mut Dice| (d.unit() * MAP_MS, d.unit() * MAP_MS);
    let member_at: Vec<(f64, f64)> = (0..members).map(|_| spot(&mut dice)).collect();
    let contacts: Vec<u16> = (0..members as u16)
        .filter(|i| i % 10 == 0)
        .map(|i| i + 1)
        .collect();
    let positions = member_at.clone();
    let mut g = Group::new(
        seed,
        members,
        &contacts[1..],
        move |a, b| distance(positions[usize::from(a - 1)], positions[usize::from(b - 1)]),
        |_| {},
    );
    let regions: Vec<usize> = (0..REGIONS)
        .map(|_| {
            let at = spot(&mut dice);
            let row: Vec<Duration> = member_at.iter().map(|m| distance(at, *m)).collect();
            g.place(&row, 0.0)
        })
        .collect();
    let mut rng = dice.fork();
    for i in 0..clients {
        let region = regions[(rng.next_u64() % REGIONS as u64) as usize];
        let start = Instant::from_micros((2_000_000 * i / clients.max(1)) as i64);
        g.add_client(region, |c| {
            c.download(start, 80, 70_000 + i as u64, length, Some(RATE))
        });
    }
    let setup = wall.elapsed();
    let done = g.run_until_done(Instant::from_secs(120), Duration::from_millis(250));
    let run_wall = wall.elapsed() - setup;
    let handoffs = g.handoffs();
    let count = |o: HandoffOutcome| handoffs.iter().filter(|h| h.outcome == o).count();
    let committed = count(HandoffOutcome::Committed);
    let stats = g.sim.stats();
    println!(
        "scale: {members} members, {clients} clients x {length} B at {RATE} B/s: {:.1} s wall ({:.1} s setup), {} simulated, {} events, {} packets delivered; {} handoffs ({committed} committed, {} refused, {} timed out, {} pending)",
        (setup + run_wall).as_secs_f64(),
        setup.as_secs_f64(),
        g.sim.now(),
        stats.events,
        stats.delivered,
        handoffs.len(),
        count(HandoffOutcome::Refused),
        count(HandoffOutcome::TimedOut),
        count(HandoffOutcome::Pending),
    );
    assert!(done, "seed {seed}: not done by 120 s");
    let mut rtos = 0;
    for (c, r) in g.reports() {
        assert_eq!(download_problem(&r), None, "seed {seed}: client {c}: {r:?}");
        assert_eq!(
            r.status,
            DownloadStatus::Complete,
            "seed {seed}: client {c}"
        );
        assert_eq!(r.resets, 0, "seed {seed}: client {c}");
        rtos += r.rto_count;
    }
    println!("scale: all {clients} streams intact, client RTOs {rtos}; {stats:?}");
    assert!(committed > 0, "seed {seed}: proximity moved nobody");
}
