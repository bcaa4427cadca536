//! A session whose connections are all closed or in TIME-WAIT is over: after the
//! walkthrough's download ended, `vany ctl sessions` still listed the client at the
//! member it had been moved to, with `"connections": 1, "pinned": true`, for the 60 s of
//! TIME-WAIT, and a handoff in that time carried the TIME-WAIT connection along.
//!
//! Setup: three members 20 ms apart (member 1 the contact node), one client 10 ms from
//! member 1 and farther from the others, downloading 1 MB at 500 kB/s; the operator moves
//! it to member 2 (which pins it there). The source app closes first once the stream is
//! written, so the member's side of the connection ends in TIME-WAIT.

mod group_common;

use group_common::*;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};

#[test]
fn a_session_left_with_only_time_wait_connections_is_not_listed_pinned_or_handed_off() {
    let mut g = Group::new(41, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    let loc = g.place(
        &[
            Duration::from_millis(10),
            Duration::from_millis(30),
            Duration::from_millis(40),
        ],
        0.0,
    );
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 4242, 1_000_000, Some(500_000))
    });
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(500));
    assert_eq!(g.serving(0), vec![1]);
    g.member(1).manual_move(client, 2);
    assert!(
        g.run_until_done(Instant::from_secs(20), Duration::from_millis(10)),
        "the download ends"
    );
    let r = g.client(0).reports().remove(0);
    assert_eq!(r.status, DownloadStatus::Complete, "{r:?}");
    assert_eq!(download_problem(&r), None, "{r:?}");
    let moved = g
        .member(1)
        .handoffs()
        .iter()
        .any(|h| h.client == client && h.to == 2 && h.outcome == HandoffOutcome::Committed);
    assert!(moved, "moved to member 2: {:?}", g.member(1).handoffs());
    // Both sides have closed; the member's side is in TIME-WAIT for 60 s.
    g.sim.run_for(Duration::from_secs(2));
    let views = g.member(2).session_views();
    assert!(
        views.iter().all(|v| v.client != client),
        "the finished session is still listed: {views:?}"
    );
    assert!(!g.member(2).live_clients().contains(&client));
    // Nothing to hand off: an operator's move of the ended session starts no handoff.
    let before = g.member(2).handoffs().len();
    g.member(2).manual_move(client, 1);
    g.sim.run_for(Duration::from_secs(1));
    assert_eq!(g.member(2).handoffs().len(), before, "a handoff started");
    // And once TIME-WAIT is over nothing is left anywhere.
    g.sim.run_for(Duration::from_secs(61));
    for id in 1..=3 {
        assert_eq!(g.member(id).sessions_held(), 0, "member {id}");
    }
}
