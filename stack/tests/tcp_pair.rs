//! Two vany TCP engines over a simulated lossy link: streams in both directions arrive
//! intact (SHA-256), with and without snapshot/restore moves onto fresh engines.
//!
//! Campaign sizes: CI runs `VANY_TCP_RUNS` (default 40) seeded runs per campaign; the
//! issue's full count is 1,000: `VANY_TCP_RUNS=1000 cargo test --release -p vany-stack --test tcp_pair`.

mod tcp_harness;

use tcp_harness::*;
use vany_stack::tcp::CongestionAlgorithm;
use vany_stack::time::Duration;

fn runs() -> u64 {
    std::env::var("VANY_TCP_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

fn lossy(seed: u64) -> Scenario {
    let mut s = Scenario::new(seed);
    let pct = seed % 6; // 0-5 % loss
    s.link.loss = pct as f64 / 100.0;
    s.link.dup = 0.01;
    s.link.reorder = 0.02;
    s.link.latency = Duration::from_millis(1 + seed % 40);
    s.link.jitter = Duration::from_millis(seed % 3);
    if seed.is_multiple_of(2) {
        s.client.congestion = CongestionAlgorithm::NewReno;
    }
    if seed.is_multiple_of(5) {
        s.server.sack = false;
    }
    if seed.is_multiple_of(7) {
        s.client.timestamps = false;
    }
    s
}

#[test]
fn clean_link_moves_a_mebibyte_each_way() {
    let s = Scenario::new(1);
    let o = run(&s);
    check(&s, &o);
    assert_eq!(o.retransmits, 0);
}

#[test]
fn one_seed() {
    let Some(seed) = std::env::var("VANY_SEED").ok().and_then(|v| v.parse().ok()) else {
        return;
    };
    let mut s = lossy(seed);
    if seed >= 100_000 {
        s.random_moves = 3;
        s.targeted_moves = true;
        s.reader_stalls = true;
    }
    let o = run(&s);
    check(&s, &o);
}

#[test]
fn lossy_links_keep_both_streams_intact() {
    for seed in 0..runs() {
        let s = lossy(seed);
        let o = run(&s);
        check(&s, &o);
    }
}

#[test]
fn snapshot_moves_keep_both_streams_intact() {
    let mut saw = (false, false, false);
    let (mut moves, mut max_snapshot, mut retransmits, mut timeouts) = (0u64, 0usize, 0u64, 0u64);
    for seed in 0..runs() {
        let mut s = lossy(seed + 100_000);
        s.random_moves = 3;
        s.targeted_moves = true;
        s.reader_stalls = true;
        let o = run(&s);
        check(&s, &o);
        assert!(o.moves >= 3, "seed {}: only {} moves", s.seed, o.moves);
        moves += u64::from(o.moves);
        max_snapshot = max_snapshot.max(o.snapshot_bytes_max);
        retransmits += o.retransmits;
        timeouts += o.timeouts;
        saw.0 |= o.moved_in_recovery;
        saw.1 |= o.moved_in_zero_window;
        saw.2 |= o.moved_in_fin_state;
    }
    println!(
        "{} runs: {moves} snapshot moves, largest snapshot {max_snapshot} bytes, {retransmits} retransmitted segments, {timeouts} RTOs",
        runs()
    );
    assert!(
        saw.0 && saw.1 && saw.2,
        "moves in recovery / zero window / FIN states: {saw:?}"
    );
}
