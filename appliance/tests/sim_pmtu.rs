//! Path MTU discovery in the simulator (issue 10, item 4): a member serves a client
//! through a 1400-byte link in the middle of the path (the client's own link and the
//! member's are 1500, and the TCP engines announce MSS for 1500). The link either answers
//! oversize packets with ICMPv6 Packet Too Big (RFC 8201) or drops them silently (a black
//! hole, where packetization-layer PMTUD, RFC 4821, must find the size). Downloads must
//! complete intact, before and after a handoff, and the acceptor uses its own path's MTU,
//! not the donor's.

mod group_common;

use std::cell::Cell;
use std::net::Ipv6Addr;
use std::rc::Rc;

use group_common::*;
use vany_appliance::demo::ANYCAST;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::group::peer::MemberId;
use vany_appliance::sim::client::DownloadStatus;
use vany_appliance::sim::{LinkParams, PTB_ROUTER};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{PacketRepr, PacketTooBigRepr, TcpControl, TcpRepr, TcpSeqNumber, Upper};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The path between the client and a member: 1500 bytes, or 1400 with or without
/// Packet Too Big.
#[derive(Clone, Copy, Debug)]
enum Path {
    Full,
    SmallWithPtb,
    SmallSilent,
}

impl Path {
    fn link(self, latency: Duration) -> LinkParams {
        let (mtu, packet_too_big) = match self {
            Path::Full => (1500, false),
            Path::SmallWithPtb => (1400, true),
            Path::SmallSilent => (1400, false),
        };
        LinkParams {
            latency,
            mtu,
            packet_too_big,
            ..LinkParams::default()
        }
    }
}

/// Two members 20 ms apart (member 1 the contact node); one client 10 ms from member 1
/// and 30 ms from member 2 over the given paths, downloading 10 MB at 2 MB/s.
fn scenario(seed: u64, to_m1: Path, to_m2: Path) -> Group {
    let mut g = Group::new(seed, 2, &[], |_, _| ms(20), |_| {});
    let loc = g.place(&[ms(10), ms(30)], 0.0);
    g.sim.set_link(loc, 0, to_m1.link(ms(10)));
    g.sim.set_link(loc, 1, to_m2.link(ms(30)));
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 500, 10_000_000, Some(2_000_000))
    });
    g
}

/// Installs a filter that records the largest packet each member sent to the client
/// after `after`.
fn largest_after(g: &mut Group, after: Instant) -> [Rc<Cell<usize>>; 2] {
    let largest = [Rc::new(Cell::new(0)), Rc::new(Cell::new(0))];
    let seen = largest.clone();
    let members = g.members.clone();
    let client = g.clients[0];
    g.sim.set_filter(Some(Box::new(move |p| {
        if p.to == client && p.at >= after {
            if let Some(i) = members.iter().position(|m| *m == p.from) {
                seen[i].set(seen[i].get().max(p.packet.len()));
            }
        }
        true
    })));
    largest
}

/// Runs until the download is done (60 s at most) and checks it completed intact.
fn assert_complete(g: &mut Group) -> Instant {
    let seed = g.sim.seed();
    let done = g.run_until_done(Instant::from_secs(60), ms(100));
    let stats = g.sim.stats();
    let reports = g.client(0).reports();
    for r in &reports {
        println!(
            "download {}: {:?}, {} bytes, {} RTOs, {} resets, done at {:?}",
            r.index,
            r.status,
            r.bytes_verified,
            r.rto_count,
            r.resets,
            r.completed_at.map(|t| t.to_string())
        );
    }
    for id in 1..=2 {
        println!("member {id}: {:?}", g.member(id).stats());
    }
    println!(
        "dropped for MTU {}, Packet Too Big sent {}",
        stats.dropped.mtu, stats.packet_too_big
    );
    assert!(done, "seed {seed}: not done");
    for r in &reports {
        assert_eq!(download_problem(r), None, "seed {seed}: {r:?}");
        assert_eq!(r.status, DownloadStatus::Complete);
        assert_eq!(r.resets, 0);
    }
    reports[0].completed_at.unwrap()
}

fn ptb(g: &mut Group, id: MemberId) -> (u64, u64) {
    let s = g.member(id).stats();
    (s.ptb_accepted, s.ptb_ignored)
}

#[test]
fn download_through_a_1400_byte_link_that_answers_packet_too_big() {
    let mut g = scenario(71, Path::SmallWithPtb, Path::Full);
    let largest = largest_after(&mut g, Instant::from_secs(2));
    let done = assert_complete(&mut g);
    assert!(g.sim.stats().packet_too_big > 0);
    let (accepted, _) = ptb(&mut g, 1);
    assert!(accepted >= 1, "member 1 took the Packet Too Big");
    // Learned once: a few packets of the first flight were dropped, no more later.
    assert!(g.sim.stats().dropped.mtu <= 20, "{:?}", g.sim.stats());
    assert_eq!(largest[0].get(), 1400 - 24, "full segments at the path MTU");
    assert!(done <= Instant::from_secs(7), "finished at {done}");
}

#[test]
fn download_through_a_1400_byte_black_hole_recovers_by_probing() {
    let mut g = scenario(72, Path::SmallSilent, Path::Full);
    let largest = largest_after(&mut g, Instant::from_secs(3));
    let done = assert_complete(&mut g);
    assert_eq!(g.sim.stats().packet_too_big, 0);
    assert_eq!(ptb(&mut g, 1), (0, 0));
    assert!(g.sim.stats().dropped.mtu > 0);
    // Black hole detected, then probing found a size that passes, above the base MTU.
    let size = largest[0].get();
    assert!(size > 1280 && size <= 1400, "largest packet {size}");
    assert!(done <= Instant::from_secs(7), "finished at {done}");
}

/// Moves client 0 from member 1 to member 2 at 1.5 s and checks it committed.
fn move_to_member_2(g: &mut Group) {
    g.sim.run_until(Instant::from_millis(1500));
    let client = g.client_addrs[0];
    assert_eq!(g.serving(0), vec![1]);
    g.member(1).manual_move(client, 2);
}

fn assert_moved(g: &mut Group) {
    let h = g.handoffs();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        (h[0].from, h[0].to, h[0].outcome),
        (1, 2, HandoffOutcome::Committed)
    );
}

#[test]
fn acceptor_learns_its_own_smaller_path_mtu_after_a_handoff() {
    let mut g = scenario(73, Path::Full, Path::SmallWithPtb);
    let largest = largest_after(&mut g, Instant::from_secs(3));
    move_to_member_2(&mut g);
    assert_complete(&mut g);
    assert_moved(&mut g);
    assert_eq!(ptb(&mut g, 1), (0, 0), "the donor's path is 1500");
    assert!(
        ptb(&mut g, 2).0 >= 1,
        "the acceptor took the Packet Too Big"
    );
    // Member 2 sends from its care-of address with a HAO (24 bytes): 1400 in all.
    assert_eq!(largest[1].get(), 1400);
}

#[test]
fn acceptor_does_not_inherit_the_donors_smaller_path_mtu() {
    let mut g = scenario(74, Path::SmallWithPtb, Path::Full);
    let largest = largest_after(&mut g, Instant::from_secs(3));
    move_to_member_2(&mut g);
    assert_complete(&mut g);
    assert_moved(&mut g);
    assert!(ptb(&mut g, 1).0 >= 1, "the donor learned 1400");
    assert_eq!(ptb(&mut g, 2), (0, 0));
    // The acceptor's path carries 1500: full segments from its care-of address.
    assert_eq!(largest[1].get(), 1500);
}

#[test]
fn acceptor_behind_a_black_hole_recovers_by_probing_after_a_handoff() {
    let mut g = scenario(75, Path::Full, Path::SmallSilent);
    let largest = largest_after(&mut g, Instant::from_secs(4));
    move_to_member_2(&mut g);
    let done = assert_complete(&mut g);
    assert_moved(&mut g);
    // The timeouts were a black hole, not congestion: the acceptor catches up.
    assert!(done <= Instant::from_secs(7), "finished at {done}");
    let size = largest[1].get();
    assert!(size > 1280 && size <= 1400, "largest packet {size}");
}

/// A Packet Too Big from a router, to `to`, about a full-sized segment from the anycast
/// address to `client` (ports 80 -> `client_port`, sequence number `seq`).
fn forged_ptb(to: Ipv6Addr, client: Ipv6Addr, client_port: u16, seq: u32) -> Vec<u8> {
    let payload = vec![0u8; 1416];
    let invoking = PacketRepr::new(
        ANYCAST,
        client,
        Upper::Tcp(TcpRepr {
            src_port: 80,
            dst_port: client_port,
            control: TcpControl::Psh,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: Some(TcpSeqNumber(1)),
            window_len: 1000,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &payload,
        }),
    );
    let mut quoted = vec![0; invoking.buffer_len()];
    invoking.emit(&mut quoted).unwrap();
    PacketTooBigRepr::emit_packet(PTB_ROUTER, to, 1400, &quoted)
}

/// A Packet Too Big that reaches the contact node (it goes to the anycast address) for
/// a client another member serves now goes on to that member, as the client's own
/// packets do.
#[test]
fn packet_too_big_at_the_contact_node_reaches_the_serving_member() {
    let mut g = scenario(76, Path::Full, Path::Full);
    let attacker = g.add_attacker(ms(5));
    move_to_member_2(&mut g);
    g.sim.run_until(Instant::from_secs(3));
    assert_eq!(g.serving(0), vec![2]);
    let client = g.client_addrs[0];
    let port = g.client(0).reports()[0].local_port;
    let forwarded = g.member(1).stats().forwarded;
    let before = ptb(&mut g, 2);
    // One quoting data long acknowledged, one quoting nothing of ours.
    let at = Instant::from_millis(3001);
    inject(
        &mut g.sim,
        attacker,
        at,
        vec![
            forged_ptb(ANYCAST, client, port, 1),
            forged_ptb(ANYCAST, client, port.wrapping_add(1), 1),
        ],
    );
    g.sim.run_until(Instant::from_millis(3200));
    assert_eq!(g.member(1).stats().forwarded, forwarded + 2);
    assert_eq!(ptb(&mut g, 1), (0, 0));
    let after = ptb(&mut g, 2);
    assert_eq!(
        after,
        (before.0, before.1 + 2),
        "validated at member 2 and ignored"
    );
    assert_complete(&mut g);
}
