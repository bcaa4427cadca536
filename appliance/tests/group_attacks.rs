//! Attacks on the group (issue 5): a forged peer message, a replayed state transfer and a
//! Binding Update with a stale sequence number are each rejected and counted, and change
//! nothing: no session appears, no handoff outcome changes, the client's binding stays,
//! and the stream arrives intact.
//!
//! The attacker is a host of its own in the simulated network that sends (spoofed)
//! packets at chosen times; replayed packets are real ones recorded by a simulator
//! filter.
//!
//! Setup: three members 20 ms apart (member 1 the contact node), one client 10 ms from
//! member 1 and farther from the others (so proximity leaves it there), downloading
//! 1 MB at 200 kB/s; the operator moves it by hand.

mod group_common;

use std::cell::RefCell;
use std::rc::Rc;

use group_common::*;
use vany_appliance::group::member::{HandoffOutcome, HandoffRecord, SessionSnapshot};
use vany_appliance::group::peer::{MemberId, PeerBody, PeerChannel, RefuseReason};
use vany_appliance::sim::client::DownloadStatus;
use vany_appliance::sim::HostId;
use vany_stack::time::{Duration, Instant};

const LENGTH: u64 = 1_000_000;

/// The three-member group with one client (index 0) and an attacker 1 ms from everyone.
fn setup(seed: u64) -> (Group, HostId) {
    let mut g = Group::new(seed, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    let loc = g.place(
        &[
            Duration::from_millis(10),
            Duration::from_millis(30),
            Duration::from_millis(40),
        ],
        0.0,
    );
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 4242, LENGTH, Some(200_000))
    });
    let attacker = g.add_attacker(Duration::from_millis(1));
    (g, attacker)
}

/// Runs until `pred` holds (checked every millisecond) or `limit`.
fn run_until(g: &mut Group, limit: Instant, mut pred: impl FnMut(&mut Group) -> bool) -> bool {
    while g.sim.now() < limit {
        if pred(g) {
            return true;
        }
        g.sim.run_for(Duration::from_millis(1));
    }
    pred(g)
}

/// The one download is complete and intact, with no reset.
fn assert_stream_intact(g: &mut Group) {
    let seed = g.sim.seed();
    assert!(
        g.run_until_done(Instant::from_secs(60), Duration::from_millis(100)),
        "seed {seed}: not done"
    );
    let r = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
    assert_eq!(r.status, DownloadStatus::Complete, "seed {seed}: {r:?}");
    assert_eq!(r.resets, 0, "seed {seed}");
}

/// The record of the handoff of client 0 that `donor` started.
fn handoff_of(g: &mut Group, donor: MemberId) -> Option<HandoffRecord> {
    let client = g.client_addrs[0];
    g.member(donor)
        .handoffs()
        .iter()
        .rfind(|r| r.client == client)
        .cloned()
}

/// The outcome of that handoff, if it started.
fn outcome(g: &mut Group, donor: MemberId) -> Option<HandoffOutcome> {
    handoff_of(g, donor).map(|r| r.outcome)
}

/// A channel with the wrong key whose sequence numbers are far ahead of anything real,
/// so that only the MAC can refuse its messages (not the replay window).
fn evil_channel(pretend: MemberId) -> PeerChannel {
    let mut evil = PeerChannel::new(pretend, b"not the group key");
    for _ in 0..5000 {
        let _ = evil.seal(
            0,
            PeerBody::Serving {
                client: attacker_addr(),
                member: pretend,
            },
        );
    }
    evil
}

fn seal_one(ch: &mut PeerChannel, body: PeerBody) -> Vec<u8> {
    let mut d = ch.seal(0, body);
    assert_eq!(d.len(), 1, "one datagram");
    d.remove(0)
}

/// A forged `Transfer` of the client's session to member 2, and forged `Commit` and
/// `Refused` for a real handoff in progress at member 1: all dropped as forged; member 2
/// restores nothing; the real handoff commits.
#[test]
fn forged_peer_messages_are_dropped_counted_and_change_nothing() {
    let (mut g, attacker) = setup(31);
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1500));
    assert_eq!(g.serving(0), vec![1], "served by the contact node");
    let m2_before = g.member(2).stats();

    // A forged transfer of the session to member 2, "from" member 1.
    let snapshot = SessionSnapshot {
        client,
        taken_at: g.sim.now(),
        binding: None,
        connections: Vec::new(),
        rtt: Vec::new(),
        pinned: true,
        left_out: Vec::new(),
    };
    let mut evil1 = evil_channel(1);
    let transfer = seal_one(
        &mut evil1,
        PeerBody::Transfer {
            transfer: (1 << 48) | 999,
            index: 0,
            count: 1,
            session: snapshot.encode().unwrap(),
        },
    );
    let now = g.sim.now();
    inject(
        &mut g.sim,
        attacker,
        now,
        vec![peer_packet(member_addr(1), member_addr(2), &transfer)],
    );
    g.sim.run_for(Duration::from_millis(10));
    assert_eq!(g.member(2).peer_stats().forged, 1);
    assert_eq!(g.member(2).stats(), m2_before, "member 2 did nothing");
    assert!(g.member(2).clients().is_empty());
    assert_eq!(g.serving(0), vec![1]);

    // The operator moves the client to member 2; while member 1 waits for member 2's
    // answer (20 ms away), forged `Commit` and `Refused` "from" member 2 arrive.
    g.member(1).manual_move(client, 2);
    g.sim.run_for(Duration::from_millis(1));
    let record = handoff_of(&mut g, 1).expect("the handoff started");
    assert_eq!(record.outcome, HandoffOutcome::Pending);
    let mut evil2 = evil_channel(2);
    let forged = [
        seal_one(
            &mut evil2,
            PeerBody::Commit {
                transfer: record.transfer,
            },
        ),
        seal_one(
            &mut evil2,
            PeerBody::Refused {
                transfer: record.transfer,
                reason: RefuseReason::Draining,
            },
        ),
    ];
    let now = g.sim.now();
    let packets = forged
        .iter()
        .map(|d| peer_packet(member_addr(2), member_addr(1), d))
        .collect();
    inject(&mut g.sim, attacker, now, packets);
    g.sim.run_for(Duration::from_millis(5));
    assert_eq!(g.member(1).peer_stats().forged, 2);
    assert_eq!(outcome(&mut g, 1), Some(HandoffOutcome::Pending));
    assert!(
        g.member(1)
            .session_views()
            .iter()
            .any(|v| v.client == client && v.handing_off_to == Some(2)),
        "still handing off at the donor"
    );

    assert!(run_until(&mut g, Instant::from_secs(5), |g| {
        outcome(g, 1).is_some_and(|o| o != HandoffOutcome::Pending)
    }));
    assert_eq!(outcome(&mut g, 1), Some(HandoffOutcome::Committed));
    assert_eq!(g.serving(0), vec![2]);
    assert_stream_intact(&mut g);
    let received = g.sim.host_as::<Recorder>(attacker).unwrap().received.len();
    assert_eq!(received, 0, "nobody answered the attacker");
    assert_eq!(g.member(1).peer_stats().forged, 2);
    assert_eq!(g.member(2).peer_stats().forged, 1);
    assert_eq!(g.member(3).peer_stats().forged, 0);
}

/// Control for the test above: the same `Refused` sealed with the group key (by a
/// sender id no member uses, so the replay window does not interfere) does thaw the
/// session at the donor. What stopped the forgery was the MAC.
#[test]
fn control_the_same_refusal_with_the_group_key_does_act() {
    let (mut g, attacker) = setup(31);
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1500));
    g.member(1).manual_move(client, 2);
    g.sim.run_for(Duration::from_millis(1));
    let record = handoff_of(&mut g, 1).expect("the handoff started");
    let mut insider = PeerChannel::new(9, GROUP_KEY);
    let refusal = insider
        .seal(
            1,
            PeerBody::Refused {
                transfer: record.transfer,
                reason: RefuseReason::Draining,
            },
        )
        .remove(0);
    let now = g.sim.now();
    inject(
        &mut g.sim,
        attacker,
        now,
        vec![peer_packet(member_addr(2), member_addr(1), &refusal)],
    );
    g.sim.run_for(Duration::from_millis(5));
    assert_eq!(g.member(1).peer_stats().forged, 0);
    assert_eq!(outcome(&mut g, 1), Some(HandoffOutcome::Refused));
}

/// Shared: records every peer datagram from member 1 to member 2 during a manual handoff
/// of the client from 1 to 2, until it commits. Returns the recorded packets.
fn record_handoff(g: &mut Group) -> Vec<Vec<u8>> {
    let recorded: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let (from, to) = (g.members[0], g.members[1]);
    let sink = recorded.clone();
    g.sim.set_filter(Some(Box::new(move |p| {
        if p.from == from && p.to == to && is_peer_datagram(p.packet) {
            sink.borrow_mut().push(p.packet.to_vec());
        }
        true
    })));
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1500));
    g.member(1).manual_move(client, 2);
    assert!(run_until(g, Instant::from_secs(5), |g| {
        outcome(g, 1).is_some_and(|o| o != HandoffOutcome::Pending)
    }));
    assert_eq!(outcome(g, 1), Some(HandoffOutcome::Committed));
    g.sim.set_filter(None);
    let packets = recorded.borrow().clone();
    assert!(!packets.is_empty());
    packets
}

/// Every datagram member 1 sent member 2 during a handoff (the state transfer in its
/// chunks, forwarded client packets) is re-delivered to member 2 after the commit, and
/// again after the stream ended: each is dropped as replayed; member 2 restores nothing
/// twice, sends no second BU, and serves the client once.
#[test]
fn replayed_state_transfer_is_dropped_and_counted() {
    let (mut g, attacker) = setup(32);
    let packets = record_handoff(&mut g);
    let transfer_chunks = packets
        .iter()
        .filter(|p| peer_payload(p).is_some_and(|d| d.len() > 1000))
        .count();
    println!(
        "recorded {} datagrams member 1 -> member 2 ({transfer_chunks} full chunks)",
        packets.len()
    );
    assert!(
        transfer_chunks >= 2,
        "the state transfer took several chunks"
    );
    let accepted = g.member(2).stats().accepted;
    assert_eq!(accepted, 1);
    let replayed = g.member(2).peer_stats().replayed;
    let bu_accepted = g.client(0).cn_stats().bu_accepted;
    let binding = g
        .client(0)
        .cn()
        .binding(&vany_appliance::demo::ANYCAST)
        .cloned();

    let now = g.sim.now();
    inject(&mut g.sim, attacker, now, packets.clone());
    g.sim.run_for(Duration::from_millis(50));
    let seed = g.sim.seed();
    assert_eq!(
        g.member(2).peer_stats().replayed - replayed,
        packets.len() as u64,
        "seed {seed}: every replayed datagram dropped and counted"
    );
    assert_eq!(g.member(2).stats().accepted, accepted, "not restored twice");
    assert_eq!(g.client(0).cn_stats().bu_accepted, bu_accepted, "no new BU");
    assert_eq!(
        g.client(0)
            .cn()
            .binding(&vany_appliance::demo::ANYCAST)
            .map(|b| (b.care_of, b.seq)),
        binding.map(|b| (b.care_of, b.seq))
    );
    assert_eq!(g.serving(0), vec![2]);
    assert_stream_intact(&mut g);

    // After the stream: no zombie session comes back.
    let now = g.sim.now();
    inject(&mut g.sim, attacker, now, packets.clone());
    g.sim.run_for(Duration::from_millis(50));
    assert_eq!(
        g.member(2).peer_stats().replayed - replayed,
        2 * packets.len() as u64
    );
    assert_eq!(g.member(2).stats().accepted, accepted);
    assert_eq!(g.client(0).cn_stats().bu_accepted, bu_accepted);
    // (Member 2 closed first, so its side may linger in TIME-WAIT: at most the one
    // session, never a restored second copy.)
    assert!(g.serving(0).iter().all(|m| *m == 2));
}

/// The recorded state transfer from member 1 to member 2, re-addressed to member 3 (the
/// MAC covers sender, sequence number and body, not the receiver): member 3 has never
/// seen member 1's sequence numbers, so only binding the receiver into the message would
/// stop it. Member 3 must not restore the session nor bind the client to itself.
#[test]
fn replayed_state_transfer_to_another_member_is_rejected() {
    let (mut g, attacker) = setup(33);
    let packets = record_handoff(&mut g);
    let readdressed: Vec<Vec<u8>> = packets
        .iter()
        .filter_map(|p| peer_payload(p))
        .map(|d| peer_packet(member_addr(1), member_addr(3), &d))
        .collect();
    let bu_accepted = g.client(0).cn_stats().bu_accepted;
    let now = g.sim.now();
    inject(&mut g.sim, attacker, now, readdressed);
    g.sim.run_for(Duration::from_millis(500));
    let seed = g.sim.seed();
    let m3 = (g.member(3).stats(), g.member(3).peer_stats());
    let binding = g
        .client(0)
        .cn()
        .binding(&vany_appliance::demo::ANYCAST)
        .map(|b| b.care_of);
    println!("member 3: {m3:?}; client binding -> {binding:?}");
    assert_eq!(
        m3.0.accepted, 0,
        "seed {seed}: member 3 restored a replayed session"
    );
    assert!(g.member(3).clients().is_empty(), "seed {seed}");
    assert_eq!(
        binding,
        Some(member_addr(2)),
        "seed {seed}: binding hijacked"
    );
    assert_eq!(
        g.client(0).cn_stats().bu_accepted,
        bu_accepted,
        "seed {seed}"
    );
    assert!(m3.1.replayed + m3.1.forged > 0, "seed {seed}: not counted");
    assert_stream_intact(&mut g);
}

/// A BU seen on its way to the client: sender host, sequence number, packet.
type RecordedBu = (HostId, u16, Vec<u8>);

/// The client is moved 1 -> 2 -> 3 by hand; the BUs members 2 and 3 sent are recorded
/// and re-delivered to the client afterwards: its correspondent node refuses both (stale
/// sequence number), counts them, and its binding still points at member 3.
#[test]
fn stale_binding_update_is_refused_and_counted() {
    let (mut g, attacker) = setup(34);
    let client_host = g.clients[0];
    let bus: Rc<RefCell<Vec<RecordedBu>>> = Rc::default();
    let sink = bus.clone();
    g.sim.set_filter(Some(Box::new(move |p| {
        if p.to == client_host {
            if let Some(seq) = bu_seq(p.packet) {
                sink.borrow_mut().push((p.from, seq, p.packet.to_vec()));
            }
        }
        true
    })));
    let client = g.client_addrs[0];
    g.sim.run_until(Instant::from_millis(1500));
    g.member(1).manual_move(client, 2);
    assert!(run_until(&mut g, Instant::from_secs(5), |g| {
        outcome(g, 1) == Some(HandoffOutcome::Committed)
    }));
    g.sim.run_for(Duration::from_millis(500));
    g.member(2).manual_move(client, 3);
    assert!(run_until(&mut g, Instant::from_secs(8), |g| {
        g.member(2)
            .handoffs()
            .iter()
            .any(|r| r.outcome == HandoffOutcome::Committed)
    }));
    g.sim.run_for(Duration::from_millis(200));
    g.sim.set_filter(None);
    let bus = bus.borrow().clone();
    let seed = g.sim.seed();
    let from_member = |id: MemberId| {
        bus.iter()
            .find(|(h, _, _)| *h == g.members[usize::from(id - 1)])
            .cloned()
            .unwrap_or_else(|| panic!("seed {seed}: no BU from member {id}: {bus:?}"))
    };
    let (_, seq2, bu2) = from_member(2);
    let (_, seq3, bu3) = from_member(3);
    println!("BUs: member 2 seq {seq2}, member 3 seq {seq3}");
    assert!(seq3 > seq2);
    let binding = |g: &mut Group| {
        g.client(0)
            .cn()
            .binding(&vany_appliance::demo::ANYCAST)
            .map(|b| (b.care_of, b.seq))
    };
    assert_eq!(binding(&mut g), Some((member_addr(3), seq3)), "seed {seed}");
    let before = g.client(0).cn_stats();

    // The older BU, then the current one again.
    for (i, bu) in [bu2, bu3].into_iter().enumerate() {
        let now = g.sim.now();
        inject(&mut g.sim, attacker, now, vec![bu]);
        g.sim.run_for(Duration::from_millis(50));
        let after = g.client(0).cn_stats();
        let n = i as u64 + 1;
        assert_eq!(after.bu_stale_seq - before.bu_stale_seq, n, "seed {seed}");
        assert_eq!(after.bu_refused - before.bu_refused, n, "seed {seed}");
        assert_eq!(after.bu_accepted, before.bu_accepted, "seed {seed}");
        assert_eq!(binding(&mut g), Some((member_addr(3), seq3)), "seed {seed}");
    }
    // The refusals (BA 135) went to members 2 and 3, which had no BU outstanding: the
    // binding stays where it is for the rest of the stream.
    assert_stream_intact(&mut g);
    assert_eq!(binding(&mut g).map(|b| b.0), Some(member_addr(3)));
    assert!(g.serving(0).iter().all(|m| *m == 3));
}

/// A burst of SYNs from spoofed sources to the anycast address (issue 11 item 1).
fn spoofed_syns(n: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let repr = vany_stack::wire::PacketRepr {
                src: format!("fd00:bad:1::{:x}", i + 1).parse().unwrap(),
                dst: vany_appliance::demo::ANYCAST,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
                rh2: None,
                hao: None,
                upper: vany_stack::wire::Upper::Tcp(vany_stack::wire::TcpRepr {
                    src_port: 30000 + i,
                    dst_port: 80,
                    control: vany_stack::wire::TcpControl::Syn,
                    seq_number: vany_stack::wire::TcpSeqNumber(i32::from(i) * 7919),
                    ack_number: None,
                    window_len: 65535,
                    window_scale: None,
                    max_seg_size: Some(1440),
                    sack_permitted: false,
                    sack_ranges: [None; 3],
                    timestamp: None,
                    payload: &[],
                }),
            };
            let mut p = vec![0; repr.buffer_len()];
            repr.emit(&mut p).unwrap();
            p
        })
        .collect()
}

/// 130 spoofed SYNs fill the contact node's half-open backlog (128). A client that
/// connects next is answered with a SYN cookie; its ACK, with the request on it, must
/// complete the connection at the member (it used to be dropped before the cookie was
/// checked, closing the port for 11 minutes). The spoofed half-open entries are dropped
/// after 5 SYN-ACK retries (about a minute), after which a SYN gets a SYN-ACK with state
/// again.
#[test]
fn spoofed_syns_do_not_close_the_port() {
    let mut g = Group::new(33, 2, &[], |_, _| Duration::from_millis(20), |_| {});
    let loc = g.place(&[Duration::from_millis(10), Duration::from_millis(30)], 0.0);
    g.add_client(loc, |c| {
        c.download(Instant::from_secs(2), 80, 4243, LENGTH, Some(200_000))
            .download(Instant::from_secs(80), 80, 4244, 100_000, None)
    });
    let attacker = g.add_attacker(Duration::from_millis(1));
    inject(
        &mut g.sim,
        attacker,
        Instant::from_millis(1500),
        spoofed_syns(130),
    );
    g.sim.run_until(Instant::from_secs(3));
    let during = g.member(1).tcp_stats();
    println!("after the burst: {during:?}");
    assert!(
        during.syn_cookies_sent >= 2,
        "the backlog overflowed: {during:?}"
    );
    assert!(
        during.syn_cookies_accepted >= 1,
        "the client's cookie completed: {during:?}"
    );
    let seed = g.sim.seed();
    assert!(g.run_until_done(Instant::from_secs(120), Duration::from_millis(100)));
    let after = g.member(1).tcp_stats();
    println!("at the end: {after:?}");
    for r in g.client(0).reports() {
        assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
        assert_eq!(r.status, DownloadStatus::Complete, "seed {seed}: {r:?}");
        let connected = r
            .connected_at
            .unwrap()
            .saturating_since(r.started_at.unwrap());
        assert!(
            connected < Duration::from_secs(1),
            "download {} connected after {connected}",
            r.index
        );
    }
    // The second download (at 80 s) needed no cookie: the half-open entries were gone.
    assert_eq!(
        after.syn_cookies_sent, during.syn_cookies_sent,
        "no cookie after the spoofed entries expired"
    );
}
