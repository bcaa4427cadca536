//! Spoofed Mobility Header messages at the group (issue 11 items 4 and 10): forged Home
//! Tests create no state at the member they reach nor at a member they name, and what a
//! member keeps about clients is forgotten once nothing is left of it; a Home Test that
//! replays an old cookie of the group with a forged token is dropped too, and the
//! client's next handoff goes through.
//!
//! Setup: two members 20 ms apart (member 1 the contact node, where the anycast address
//! routes), one client 10 ms from member 1 downloading 1 MB at 200 kB/s, and an attacker
//! 1 ms from everyone.

mod group_common;

use group_common::*;
use vany_appliance::group::cookie::{HomeCookies, COOKIE_LIFETIME_SECS};
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::mh_option::MhOptions;
use vany_stack::wire::{MhMessage, MhRepr, PacketRepr, Upper};

const LENGTH: u64 = 1_000_000;

fn setup(seed: u64) -> (Group, vany_appliance::sim::HostId) {
    let mut g = Group::new(seed, 2, &[], |_, _| Duration::from_millis(20), |_| {});
    let loc = g.place(&[Duration::from_millis(10), Duration::from_millis(30)], 0.0);
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 4242, LENGTH, Some(200_000))
    });
    let attacker = g.add_attacker(Duration::from_millis(1));
    (g, attacker)
}

/// A Home Test from `src` to the anycast address echoing `cookie`.
fn home_test(src: std::net::Ipv6Addr, cookie: [u8; 8]) -> Vec<u8> {
    let repr = PacketRepr::new(
        src,
        vany_appliance::demo::ANYCAST,
        Upper::Mh(MhRepr {
            message: MhMessage::Hot {
                nonce_index: 1,
                cookie,
                token: [7; 8],
            },
            options: MhOptions::new(),
        }),
    );
    let mut p = vec![0; repr.buffer_len()];
    repr.emit(&mut p).unwrap();
    p
}

/// Forged Home Tests from 3000 addresses: a third with random cookies, a third with the
/// cookie format a member used to accept naming member 2 ("va" | member | salt), a third
/// naming member 2 in today's format with a wrong tag. None creates state at member 1
/// (where they arrive) or member 2 (which they name), none is relayed, all are counted,
/// and the client's download is untouched. Once the download is over and its tokens
/// expired, the members forget the client too.
#[test]
fn forged_home_tests_create_no_state_anywhere() {
    let (mut g, attacker) = setup(41);
    g.sim.run_until(Instant::from_millis(1500));
    let before = (g.member(1).mn_entries(), g.member(2).mn_entries());
    let relayed = g.member(1).stats().tokens_relayed;
    let mut dice = Dice::new(5);
    let forged: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let src = format!("fd00:bad:2::{:x}:{:x}", i >> 16, (i & 0xffff) + 1)
                .parse()
                .unwrap();
            let salt = (dice.range(0, u64::from(u32::MAX)) as u32).to_be_bytes();
            let cookie = match i % 3 {
                0 => dice.range(0, u64::MAX - 1).to_be_bytes(),
                1 => [b'v', b'a', 0, 2, salt[0], salt[1], salt[2], salt[3]],
                _ => [0, 2, salt[0], salt[1], 1, 2, 3, 4],
            };
            home_test(src, cookie)
        })
        .collect();
    inject(&mut g.sim, attacker, Instant::from_millis(1600), forged);
    g.sim.run_until(Instant::from_secs(3));
    let seed = g.sim.seed();
    let after = (g.member(1).mn_entries(), g.member(2).mn_entries());
    println!("mobile-node entries before {before:?}, after {after:?}");
    assert_eq!(
        after, before,
        "seed {seed}: forged Home Tests created state"
    );
    let stats = g.member(1).stats();
    assert_eq!(stats.home_tests_forged, 3000, "seed {seed}: {stats:?}");
    assert_eq!(
        stats.tokens_relayed, relayed,
        "seed {seed}: a forgery was relayed"
    );
    assert!(g.run_until_done(Instant::from_secs(60), Duration::from_millis(100)));
    let r = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
    assert_eq!(r.status, DownloadStatus::Complete, "seed {seed}: {r:?}");
    // The session ended; its tokens expire 210 s after they arrived (RFC 6275 §5.2.7).
    g.sim.run_until(Instant::from_secs(400));
    println!("sessions held {}", g.member(1).sessions_held());
    assert_eq!(
        g.member(1).mn_entries(),
        0,
        "seed {seed}: the client forgotten"
    );
    assert!(g.member(1).stats().bindings_forgotten >= 1);
}

/// A cookie the group really made for the client and member 2, but 100 s before (as an
/// eavesdropper would have copied it off an earlier Home Test), echoed at 1.6 s from the
/// client's address with a forged token. Before cookies had a lifetime the contact node
/// relayed that token to member 2, which overwrote the client's good one: member 2's
/// Binding Updates then failed their authenticator at the client and the handoff at 2 s
/// lost the download. Now it is dropped and counted, and the handoff commits.
#[test]
fn a_replayed_home_cookie_cannot_spoil_the_next_handoff() {
    let (mut g, attacker) = setup(41);
    g.sim.run_until(Instant::from_millis(1500));
    let client = g.client(0).address();
    let issued = 0x1_0000 + 1 - (COOKIE_LIFETIME_SECS + 36);
    let cookie = HomeCookies::new(GROUP_KEY).make(2, client, issued);
    inject(
        &mut g.sim,
        attacker,
        Instant::from_millis(1600),
        vec![home_test(client, cookie)],
    );
    g.sim.run_until(Instant::from_millis(2000));
    let seed = g.sim.seed();
    let stats = g.member(1).stats();
    assert_eq!(stats.home_tests_replayed, 1, "seed {seed}: {stats:?}");
    g.member(1).manual_move(client, 2);
    assert!(g.run_until_done(Instant::from_secs(60), Duration::from_millis(100)));
    let r = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
    assert_eq!(r.status, DownloadStatus::Complete, "seed {seed}: {r:?}");
    let handoffs = g.handoffs();
    assert!(
        handoffs
            .iter()
            .any(|h| h.outcome == HandoffOutcome::Committed && h.to == 2),
        "seed {seed}: {handoffs:?}"
    );
    assert_eq!(g.serving(0), vec![2], "seed {seed}");
}
