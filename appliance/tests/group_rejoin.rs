//! Members that were gone for a while and come back (issue 11 items 5 and 6): the contact
//! node's view of who serves whom heals after a stall, so a later failure still frees the
//! client; and a restarted member can accept handoffs at once instead of refusing them
//! until its next token refresh.
//!
//! Setup: two members 20 ms apart (member 1 the contact node), one client 10 ms from
//! member 1 and 30 ms from member 2. Gossip is played by the test: it calls
//! `set_excluded` as a node's membership layer does on Down and Up.

mod group_common;

use group_common::*;
use vany_appliance::demo;
use vany_appliance::group::member::{HandoffOutcome, Member, MemberEvent};
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn two_members(seed: u64, downloads: &[(Instant, u64, u64)]) -> Group {
    let mut g = Group::new(seed, 2, &[], |_, _| ms(20), |_| {});
    let loc = g.place(&[ms(10), ms(30)], 0.0);
    let downloads = downloads.to_vec();
    g.add_client(loc, |mut c| {
        for (i, (start, length, rate)) in downloads.into_iter().enumerate() {
            c = c.download(start, 80, 700 + i as u64, length, Some(rate));
        }
        c
    });
    g
}

/// Member 2 serves the client, stalls for 4 s (gossip at the contact node declares it
/// down and deregisters the client's binding to it), comes back, and dies for good 5 s
/// later. The stalled member's download must go on once it is back (the contact node
/// asks it to bind again), and after its death the client's next connection must be
/// served by member 1 at once (the contact node knew again who served the client, so it
/// deregistered the binding a second time). Before: the contact node forgot for good
/// that member 2 served the client, and the new connection went to the dead member.
#[test]
fn the_contact_node_knows_again_who_serves_a_client_after_a_stall() {
    let mut g = two_members(
        57,
        &[
            (Instant::ZERO, 3_000_000, 500_000),
            (Instant::from_millis(16_000), 300_000, 300_000),
        ],
    );
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1500));
    g.member(1).manual_move(client, 2);
    g.sim.run_until(Instant::from_millis(3000));
    assert_eq!(g.serving(0), vec![2]);
    let m2 = g.members[1];
    // The stall.
    g.sim.set_up(m2, false);
    g.sim.run_until(Instant::from_millis(3500));
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, true);
    g.sim.run_until(Instant::from_millis(7000));
    g.sim.set_up(m2, true);
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, false);
    g.sim.run_until(Instant::from_millis(12_000));
    let seed = g.sim.seed();
    assert_eq!(g.member(1).stats().orphans_deregistered, 1, "seed {seed}");
    let first = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&first), None, "seed {seed}: {first:?}");
    assert_eq!(
        first.status,
        DownloadStatus::Complete,
        "seed {seed}: the stalled member's download went on: {first:?}"
    );
    // The death.
    g.sim.set_up(m2, false);
    g.sim.run_until(Instant::from_millis(12_500));
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, true);
    g.sim.run_until(Instant::from_millis(13_500));
    assert_eq!(
        g.member(1).stats().orphans_deregistered,
        2,
        "seed {seed}: the client's binding to the dead member deregistered again"
    );
    g.run_until_done(Instant::from_secs(60), ms(100));
    let second = g.client(0).reports().remove(1);
    assert_eq!(download_problem(&second), None, "seed {seed}: {second:?}");
    assert_eq!(second.status, DownloadStatus::Complete, "seed {seed}");
    let (started, connected) = (second.started_at, second.connected_at);
    assert!(
        connected
            .zip(started)
            .is_some_and(|(c, s)| c.saturating_since(s) < ms(2000)),
        "seed {seed}: the new connection took {started:?} -> {connected:?}"
    );
}

/// Member 2 restarts (a new process: no state, a later peer epoch) while member 1 serves
/// the client; gossip reports it up again. Member 1 then hands the client to it by hand:
/// the handoff must commit at once. Before: member 2 had no care-of keygen token for the
/// client (members probed clients only when a session started, and refreshed every
/// 120 s), refused the handoff, and the refusal appeared in no log or metric.
#[test]
fn a_restarted_member_accepts_handoffs_at_once() {
    let mut g = two_members(58, &[(Instant::ZERO, 4_000_000, 400_000)]);
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1000));
    let m2 = g.members[1];
    g.sim.set_up(m2, false);
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, true);
    g.sim.run_until(Instant::from_millis(2000));
    // The restart: a fresh member 2 with a later peer epoch.
    let now = g.sim.now();
    let cfg = demo::member_config(2, "m2", false, &g.addrs, 9);
    let mut fresh = Member::new(cfg, now);
    fresh.set_peer_epoch(g.sim.now(), 1);
    *g.member(2) = fresh;
    g.sim.set_up(m2, true);
    let now = g.sim.now();
    g.member(1).set_excluded(now, 2, false);
    g.sim.run_until(Instant::from_millis(2500));
    g.member(1).manual_move(client, 2);
    g.sim.run_until(Instant::from_millis(4000));
    let seed = g.sim.seed();
    let record = g
        .member(1)
        .handoffs()
        .iter()
        .rfind(|r| r.client == client)
        .cloned();
    println!("{record:?}");
    println!("refusals at member 2: {:?}", g.member(2).refusals_sent());
    assert_eq!(
        record.map(|r| r.outcome),
        Some(HandoffOutcome::Committed),
        "seed {seed}"
    );
    assert_eq!(g.serving(0), vec![2]);
    assert!(g.run_until_done(Instant::from_secs(60), ms(100)));
    let r = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
    assert_eq!(r.status, DownloadStatus::Complete, "seed {seed}: {r:?}");
}

/// A member that is refused records the refusal with its reason, for the node's log and
/// metrics: member 2 never hears of the client (every `Probe` from member 1 to it is
/// lost), so it refuses for lack of a care-of keygen token.
#[test]
fn a_refusal_is_recorded_with_its_reason() {
    let mut g = two_members(59, &[(Instant::ZERO, 2_000_000, 400_000)]);
    let client = g.client_addrs[0];
    let (m1, m2) = (g.members[0], g.members[1]);
    g.sim.set_filter(Some(Box::new(move |p| {
        !(p.from == m1 && p.to == m2 && peer_kind(p.packet) == Some("Probe"))
    })));
    g.sim.run_until(Instant::from_millis(1000));
    g.member(1).manual_move(client, 2);
    g.sim.run_until(Instant::from_millis(3000));
    let seed = g.sim.seed();
    let member = g.member(2);
    let counts = member.refusals_sent().clone();
    let first = std::iter::from_fn(|| member.poll_event()).find_map(|e| match e {
        MemberEvent::Refused(r) => Some(r),
        MemberEvent::HandoffEnded(_) | MemberEvent::Accepted(_) => None,
    });
    println!("{counts:?} {first:?}");
    assert_eq!(counts.get("refused_binding"), Some(&1), "seed {seed}");
    let first = first.expect("a refusal to log");
    assert_eq!(first.donor, 1);
    assert_eq!(first.label, "refused_binding");
    assert!(first.reason.contains("care-of"), "{}", first.reason);
    assert_eq!(g.serving(0), vec![1], "the donor kept the session");
}
