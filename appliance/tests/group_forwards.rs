//! Client packets that reach the contact node in one receive burst, for a client another
//! member serves now, travel to that member together: one `Forwards` message (one
//! datagram, one MAC) per datagram's worth, handled packet by packet by the serving
//! member. A replayed or altered `Forwards` is refused and counted, and nothing in it is
//! handled twice; the client's download goes on unharmed.

mod group_common;

use std::net::Ipv6Addr;

use group_common::*;
use vany_appliance::demo::ANYCAST;
use vany_appliance::sim::client::DownloadStatus;
use vany_stack::testing::{emit, TcpSegment};
use vany_stack::time::{Duration, Instant};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// `n` bare acknowledgements from `client` to the anycast address (ports `port` -> 80),
/// each a whole IPv6 packet with its checksum, of sequence numbers outside any window:
/// a TCP engine answers them with an ACK at most.
fn stray_acks(client: Ipv6Addr, port: u16, n: usize) -> Vec<Vec<u8>> {
    (0..n as u32)
        .map(|i| {
            let segment = TcpSegment::new(port, 80).seq(0x8000_0000 + i).ack(1);
            emit(&segment.packet(client, ANYCAST))
        })
        .collect()
}

/// Two members (member 1 the contact node) and one client downloading 10 MB at 2 MB/s,
/// moved to member 2 at 1.5 s; at 3 s the handoff has committed.
fn moved_client() -> Group {
    let mut g = Group::new(91, 2, &[], |_, _| ms(20), |_| {});
    let loc = g.place(&[ms(10), ms(30)], 0.0);
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 500, 10_000_000, Some(2_000_000))
    });
    g.sim.run_until(Instant::from_millis(1500));
    let client = g.client_addrs[0];
    g.member(1).manual_move(client, 2);
    g.sim.run_until(Instant::from_secs(3));
    assert_eq!(g.serving(0), vec![2]);
    g
}

/// Runs `packets` through member 1 as one receive burst: its datagrams.
fn burst_through_member_1(g: &mut Group, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let now = g.sim.now();
    let m1 = g.member(1);
    for p in packets {
        m1.receive(now, p);
    }
    std::iter::from_fn(|| m1.poll_transmit()).collect()
}

#[test]
fn a_burst_for_a_moved_client_goes_as_few_datagrams_and_is_handled_whole() {
    let mut g = moved_client();
    let client = g.client_addrs[0];
    let port = g.client(0).reports()[0].local_port;
    let s1 = g.member(1).stats();
    let in_before = g.member(2).stats().forwarded_in;
    let peer_before = g.member(2).peer_stats();

    // 60-byte packets: 16 share a datagram.
    for (n, datagrams) in [(1, 1), (12, 1), (40, 3)] {
        let out = burst_through_member_1(&mut g, &stray_acks(client, port, n));
        assert_eq!(out.len(), datagrams, "{n} packets");
        let to_m2 = member_addr(2);
        assert!(
            out.iter().all(|d| d[24..40] == to_m2.octets()),
            "to member 2"
        );
        let now = g.sim.now();
        let before = g.member(2).stats().forwarded_in;
        for d in &out {
            g.member(2).handle_packet(now, d);
        }
        assert_eq!(g.member(2).stats().forwarded_in, before + n as u64, "{n}");
    }
    let s1_after = g.member(1).stats();
    assert_eq!(s1_after.forwarded, s1.forwarded + 53);
    // The lone packet went as a `Forward`, the rest as 1 + 3 `Forwards`.
    assert_eq!(s1_after.forward_batches, s1.forward_batches + 4);
    assert_eq!(g.member(2).stats().forwarded_in, in_before + 53);

    // Replayed: refused and counted, nothing handled again. Altered: forged.
    let out = burst_through_member_1(&mut g, &stray_acks(client, port, 8));
    let now = g.sim.now();
    g.member(2).handle_packet(now, &out[0]);
    let handled = g.member(2).stats().forwarded_in;
    g.member(2).handle_packet(now, &out[0]);
    let mut altered = out[0].clone();
    let last = altered.len() - 40;
    altered[last] ^= 1;
    // Its UDP checksum made right again, as an attacker would.
    fix_udp_checksum(&mut altered);
    g.member(2).handle_packet(now, &altered);
    assert_eq!(g.member(2).stats().forwarded_in, handled);
    let peer = g.member(2).peer_stats();
    assert_eq!(peer.replayed, peer_before.replayed + 1);
    assert_eq!(peer.forged, peer_before.forged + 1);

    // The download is unharmed.
    assert!(g.run_until_done(Instant::from_secs(60), ms(100)));
    let r = &g.client(0).reports()[0];
    assert_eq!(download_problem(r), None, "{r:?}");
    assert_eq!((r.status, r.resets), (DownloadStatus::Complete, 0));
}

/// Recomputes the UDP checksum of `packet` (an IPv6 packet with a UDP datagram right
/// behind its fixed header).
fn fix_udp_checksum(packet: &mut [u8]) {
    let src: [u8; 16] = packet[8..24].try_into().unwrap();
    let dst: [u8; 16] = packet[24..40].try_into().unwrap();
    let udp = &mut packet[40..];
    udp[6..8].copy_from_slice(&[0, 0]);
    let sum = vany_stack::wire::checksum::upper_layer(
        &Ipv6Addr::from(src),
        &Ipv6Addr::from(dst),
        17,
        udp,
        6,
    );
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
}
