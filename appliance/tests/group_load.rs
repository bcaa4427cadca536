//! The load policy (issue 5, "load: sessions per member, kept within a band") with load
//! reports exchanged between members. Every client joins through the contact node
//! (member 1, the nearest to all of them); members report their session counts every
//! second, and member 1 sheds sessions to the others until it is within the band of the
//! mean. Streams stay intact and no client sees a reset.

mod group_common;

use group_common::*;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::group::policy::{Drain, Load};
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn the_load_policy_spreads_sessions_within_its_band() {
    let seed = 77;
    let clients = 30;
    let band = 2;
    let mut g = Group::new(seed, 3, &[], |_, _| ms(10), |_| {});
    for id in 1..=3 {
        g.member(id)
            .set_policies(vec![Box::new(Drain), Box::new(Load::new(band))]);
    }
    let loc = g.place(&[ms(5), ms(20), ms(20)], 0.0);
    for i in 0..clients {
        let start = Instant::from_millis(30 * i as i64);
        g.add_client(loc, |c| {
            c.download(start, 80, 900 + i as u64, 800_000, Some(100_000))
        });
    }
    g.sim.run_until(Instant::from_secs(5));
    let counts: Vec<usize> = (1..=3).map(|id| g.member(id).clients().len()).collect();
    println!("seed {seed}: sessions per member at 5 s: {counts:?}");
    let mean = clients / 3;
    for (i, n) in counts.iter().enumerate() {
        assert!(
            *n <= mean + band,
            "seed {seed}: member {} serves {n}, more than {mean} + {band}: {counts:?}",
            i + 1
        );
    }
    assert_eq!(counts.iter().sum::<usize>(), clients, "seed {seed}");
    assert!(
        g.run_until_done(Instant::from_secs(40), ms(100)),
        "seed {seed}"
    );
    let handoffs = g.handoffs();
    for h in &handoffs {
        println!(
            "  {} -> {} {:?} started {} restored {:?}",
            h.from,
            h.to,
            h.outcome,
            h.started,
            h.restored.map(|t| t.to_string())
        );
    }
    assert!(handoffs.iter().all(|h| h.reason == "load"));
    assert!(handoffs
        .iter()
        .all(|h| h.outcome == HandoffOutcome::Committed));
    println!(
        "seed {seed}: {} handoffs, all by the load policy, all committed",
        handoffs.len()
    );
    for (c, r) in g.reports() {
        assert_eq!(download_problem(&r), None, "seed {seed}: client {c}");
        assert_eq!(
            r.status,
            DownloadStatus::Complete,
            "seed {seed}: client {c}"
        );
        assert_eq!(r.resets, 0, "seed {seed}: client {c}");
    }
}
