//! One test per RFC 4861 / RFC 4443 rule (section numbers in the comments), the cache
//! bound under a flood, and resolution between two instances.

use core::net::Ipv6Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetFrame, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, NdiscNeighborFlags, NdiscRepr,
    RawHardwareAddress,
};

use super::ethernet::{self, solicited_node, Mac, ALL_NODES};
use super::nd::{icmp_frame, ND_HOP_LIMIT};
use super::*;
use crate::time::Instant;

const A_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0xa]);
const B_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0xb]);
const PEER_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x77]);

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn coa() -> Ipv6Addr {
    addr("fd00::a")
}
fn anycast() -> Ipv6Addr {
    addr("fd00::100")
}
fn peer() -> Ipv6Addr {
    addr("fd00::77")
}

fn node(mac: Mac, own: Ipv6Addr, gateway: Gateway) -> Neighbors {
    let addrs = vec![
        OwnAddr {
            addr: own,
            anycast: false,
        },
        OwnAddr {
            addr: anycast(),
            anycast: true,
        },
    ];
    Neighbors::new(NdConfig::new(mac, addrs, gateway)).unwrap()
}

fn ns(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, sllao: Option<Mac>) -> Vec<u8> {
    let r = NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: sllao.map(RawHardwareAddress::from),
    };
    let mac_dst = if dst.is_multicast() {
        ethernet::multicast_mac(dst)
    } else {
        A_MAC
    };
    icmp_frame(
        mac_dst,
        PEER_MAC,
        src,
        dst,
        ND_HOP_LIMIT,
        &Icmpv6Repr::Ndisc(r),
    )
}

fn na(src: Ipv6Addr, target: Ipv6Addr, flags: NdiscNeighborFlags, tllao: Option<Mac>) -> Vec<u8> {
    let r = NdiscRepr::NeighborAdvert {
        flags,
        target_addr: target,
        lladdr: tllao.map(RawHardwareAddress::from),
    };
    icmp_frame(
        A_MAC,
        PEER_MAC,
        src,
        coa(),
        ND_HOP_LIMIT,
        &Icmpv6Repr::Ndisc(r),
    )
}

/// Recomputes the ICMPv6 checksum of a frame after a test changed its bytes.
fn fix_checksum(frame: &mut [u8]) {
    let (src, dst) = {
        let ip = Ipv6Packet::new_unchecked(&frame[14..]);
        (ip.src_addr(), ip.dst_addr())
    };
    let mut icmp = Icmpv6Packet::new_unchecked(&mut frame[54..]);
    icmp.fill_checksum(&src, &dst);
}

/// The one frame `n` has to send, dissected: (eth dst, ip src, ip dst, hop limit, repr
/// bytes of the ICMPv6 message).
fn sent(n: &mut Neighbors) -> Vec<u8> {
    let f = n.poll_transmit().expect("a frame to send");
    assert!(n.poll_transmit().is_none(), "exactly one frame");
    f
}

struct Na {
    eth_dst: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    flags: NdiscNeighborFlags,
    target: Ipv6Addr,
    tllao: Option<Mac>,
}

fn parse_na(f: &[u8]) -> Na {
    let eth = EthernetFrame::new_checked(f).unwrap();
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.hop_limit(), 255);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    let repr = Icmpv6Repr::parse(
        &ip.src_addr(),
        &ip.dst_addr(),
        &icmp,
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    let Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags,
        target_addr,
        lladdr,
    }) = repr
    else {
        panic!("not an NA: {repr:?}");
    };
    Na {
        eth_dst: eth.dst_addr(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        flags,
        target: target_addr,
        tllao: lladdr.map(|l| Mac::from_bytes(l.as_bytes())),
    }
}

fn t(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn unicast_ns_is_answered_solicited_override() {
    // RFC 4861 §7.2.3/§7.2.4: NA to the solicitation's source, S = 1, O = 1 for a
    // unicast address, with a Target Link-Layer Address option.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    assert_eq!(n.ingress(t(0), &f), Ingress::Handled);
    let a = parse_na(&sent(&mut n));
    assert_eq!(a.eth_dst, PEER_MAC);
    assert_eq!((a.src, a.dst, a.target), (coa(), peer(), coa()));
    assert_eq!(
        a.flags,
        NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE
    );
    assert_eq!(a.tllao, Some(A_MAC));
    assert_eq!(n.counters().na_tx, 1);
}

#[test]
fn solicited_node_multicast_ns_is_answered() {
    // RFC 4861 §7.2.2/§7.2.3: address resolution solicits the solicited-node address.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(peer(), solicited_node(coa()), coa(), Some(PEER_MAC));
    assert_eq!(n.ingress(t(0), &f), Ingress::Handled);
    let a = parse_na(&sent(&mut n));
    assert_eq!((a.dst, a.eth_dst), (peer(), PEER_MAC));
}

#[test]
fn anycast_target_is_advertised_without_override() {
    // RFC 4861 §7.2.4 and §7.2.7: O = 0 for an anycast target.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(peer(), solicited_node(anycast()), anycast(), Some(PEER_MAC));
    n.ingress(t(0), &f);
    let a = parse_na(&sent(&mut n));
    assert_eq!(a.flags, NdiscNeighborFlags::SOLICITED);
    assert_eq!(a.src, anycast());
}

#[test]
fn dad_ns_is_answered_to_all_nodes_unsolicited() {
    // RFC 4861 §7.2.4: source unspecified -> NA to ff02::1 with S = 0.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(Ipv6Addr::UNSPECIFIED, solicited_node(coa()), coa(), None);
    assert_eq!(n.ingress(t(0), &f), Ingress::Handled);
    let a = parse_na(&sent(&mut n));
    assert_eq!(a.dst, ALL_NODES);
    assert_eq!(a.eth_dst, Mac([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!(a.flags, NdiscNeighborFlags::OVERRIDE);
    assert_eq!(n.cache_len(), 0);
}

#[test]
fn ns_for_another_target_is_not_answered() {
    // RFC 4861 §7.2.3: only targets that are our addresses are answered.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(
        peer(),
        solicited_node(addr("fd00::99")),
        addr("fd00::99"),
        Some(PEER_MAC),
    );
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert!(n.poll_transmit().is_none());
    assert_eq!(n.counters().ns_not_ours, 1);
}

#[test]
fn ns_with_sllao_creates_stale_entry() {
    // RFC 4861 §7.2.3: no entry -> a STALE entry with the source link-layer address.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    n.ingress(t(0), &ns(peer(), coa(), coa(), Some(PEER_MAC)));
    assert_eq!(
        n.neighbor(peer()),
        Some((NeighborState::Stale, Some(PEER_MAC)))
    );
    // A unicast NS without the option still gets an answer, to the frame's source MAC.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    n.ingress(t(0), &ns(peer(), coa(), coa(), None));
    assert_eq!(parse_na(&sent(&mut n)).eth_dst, PEER_MAC);
    assert_eq!(n.cache_len(), 0);
}

#[test]
fn hop_limit_other_than_255_is_dropped() {
    // RFC 4861 §7.1.1: IP Hop Limit must be 255 (the packet cannot come from off-link).
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f[14 + 7] = 254;
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_bad_hop_limit, 1);
    assert!(n.poll_transmit().is_none());
}

#[test]
fn bad_checksum_is_dropped() {
    // RFC 4861 §7.1.1: ICMP Checksum is valid.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f[56] ^= 1;
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().icmp_bad_checksum, 1);
}

#[test]
fn nonzero_code_is_dropped() {
    // RFC 4861 §7.1.1: ICMP Code is 0.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f[55] = 1;
    fix_checksum(&mut f);
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_bad_code, 1);
}

#[test]
fn zero_length_option_is_dropped() {
    // RFC 4861 §7.1.1: all included options have a length greater than zero.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f[54 + 24 + 1] = 0;
    fix_checksum(&mut f);
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_bad_option, 1);
    // An option running past the end of the message, too.
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f[54 + 24 + 1] = 2;
    fix_checksum(&mut f);
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_bad_option, 2);
    // RFC 4861 §4.6.1 with RFC 2464 §6: an Ethernet link-layer option is 8 bytes; a
    // 16-byte one is refused rather than read as its first 6 bytes.
    let mut f = ns(peer(), coa(), coa(), Some(PEER_MAC));
    f.extend_from_slice(&[0; 8]);
    f[14 + 5] += 8;
    f[54 + 24 + 1] = 2;
    fix_checksum(&mut f);
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_bad_option, 3);
}

#[test]
fn dad_ns_with_sllao_or_wrong_destination_is_dropped() {
    // RFC 4861 §7.1.1: unspecified source -> destination is a solicited-node address
    // and there is no source link-layer address option.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(
        Ipv6Addr::UNSPECIFIED,
        solicited_node(coa()),
        coa(),
        Some(PEER_MAC),
    );
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    let f = ns(Ipv6Addr::UNSPECIFIED, coa(), coa(), None);
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_invalid, 2);
    assert!(n.poll_transmit().is_none());
}

#[test]
fn multicast_target_is_dropped() {
    // RFC 4861 §7.1.1: Target Address is not a multicast address.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let f = ns(peer(), ALL_NODES, ALL_NODES, Some(PEER_MAC));
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_invalid, 1);
}

#[test]
fn solicited_na_to_multicast_is_dropped() {
    // RFC 4861 §7.1.2: destination multicast -> Solicited flag is zero.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let r = NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags::SOLICITED,
        target_addr: peer(),
        lladdr: Some(RawHardwareAddress::from(PEER_MAC)),
    };
    let f = icmp_frame(
        ethernet::multicast_mac(ALL_NODES),
        PEER_MAC,
        peer(),
        ALL_NODES,
        255,
        &Icmpv6Repr::Ndisc(r),
    );
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().nd_invalid, 1);
}

fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, tag: u8) -> Vec<u8> {
    let mut p = vec![0u8; 41];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&1u16.to_be_bytes());
    p[6] = 59;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40] = tag;
    p
}

#[test]
fn resolution_solicits_queues_and_flushes() {
    // RFC 4861 §7.2.2: queue the packet, multicast NS to the solicited-node address with
    // our link-layer address; §7.2.5: a solicited NA makes the entry REACHABLE and the
    // queued packets go out.
    let mut n = node(A_MAC, coa(), Gateway::Ipv6(peer()));
    let p = ipv6_packet(coa(), addr("2001:db8::1"), 7);
    assert_eq!(n.egress(t(0), &p, None), Egress::Queued);
    let s = sent(&mut n);
    let ip = Ipv6Packet::new_checked(&s[14..]).unwrap();
    assert_eq!(ip.dst_addr(), solicited_node(peer()));
    assert_eq!(ip.src_addr(), coa());
    assert_eq!(&s[..6], &ethernet::multicast_mac(solicited_node(peer())).0);
    assert_eq!(n.neighbor(peer()).unwrap().0, NeighborState::Incomplete);
    let flags = NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE;
    n.ingress(t(10), &na(peer(), peer(), flags, Some(PEER_MAC)));
    let out = sent(&mut n);
    assert_eq!(out, ethernet::frame(PEER_MAC, A_MAC, &p));
    assert_eq!(
        n.neighbor(peer()),
        Some((NeighborState::Reachable, Some(PEER_MAC)))
    );
    assert_eq!(n.queued(), 0);
    // Now sent at once.
    assert_eq!(
        n.egress(t(20), &p, None),
        Egress::Frame(ethernet::frame(PEER_MAC, A_MAC, &p))
    );
}

#[test]
fn reachable_stale_delay_probe_cycle() {
    // RFC 4861 §7.3.3: REACHABLE -> STALE after ReachableTime; sending moves STALE to
    // DELAY; after DELAY_FIRST_PROBE_TIME, PROBE with unicast NS; after
    // MAX_UNICAST_SOLICIT unanswered probes the entry is deleted.
    let mut n = node(A_MAC, coa(), Gateway::Ipv6(peer()));
    let p = ipv6_packet(coa(), addr("2001:db8::1"), 1);
    n.egress(t(0), &p, None);
    sent(&mut n);
    let flags = NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE;
    n.ingress(t(0), &na(peer(), peer(), flags, Some(PEER_MAC)));
    sent(&mut n);
    assert_eq!(n.poll_at(), Some(t(30_000)));
    n.handle_timeout(t(30_000));
    assert_eq!(n.neighbor(peer()).unwrap().0, NeighborState::Stale);
    assert!(matches!(n.egress(t(31_000), &p, None), Egress::Frame(_)));
    assert_eq!(n.neighbor(peer()).unwrap().0, NeighborState::Delay);
    assert_eq!(n.poll_at(), Some(t(36_000)));
    n.handle_timeout(t(36_000));
    assert_eq!(n.neighbor(peer()).unwrap().0, NeighborState::Probe);
    let probe = sent(&mut n);
    assert_eq!(&probe[..6], &PEER_MAC.0, "probes are unicast");
    for i in 1..=3 {
        n.handle_timeout(t(36_000 + i * 1000));
    }
    assert_eq!(n.counters().ns_tx, 4);
    assert_eq!(n.neighbor(peer()), None);
    assert_eq!(n.counters().probe_failed, 1);
}

#[test]
fn na_without_override_does_not_replace_address() {
    // RFC 4861 §7.2.5: O = 0 and a different link-layer address: REACHABLE -> STALE,
    // address kept; O = 1 replaces it.
    let mut n = node(A_MAC, coa(), Gateway::Ipv6(peer()));
    n.egress(t(0), &ipv6_packet(coa(), peer(), 0), None);
    let s = NdiscNeighborFlags::SOLICITED;
    n.ingress(
        t(0),
        &na(
            peer(),
            peer(),
            s | NdiscNeighborFlags::OVERRIDE,
            Some(PEER_MAC),
        ),
    );
    let other = Mac([0x02, 0, 0, 0, 0, 0x99]);
    n.ingress(t(1), &na(peer(), peer(), s, Some(other)));
    assert_eq!(
        n.neighbor(peer()),
        Some((NeighborState::Stale, Some(PEER_MAC)))
    );
    n.ingress(
        t(2),
        &na(peer(), peer(), NdiscNeighborFlags::OVERRIDE, Some(other)),
    );
    assert_eq!(
        n.neighbor(peer()),
        Some((NeighborState::Stale, Some(other)))
    );
    // An NA for an address we never asked about is discarded.
    n.ingress(
        t(3),
        &na(addr("fd00::55"), addr("fd00::55"), s, Some(other)),
    );
    assert_eq!(n.counters().na_unsolicited, 1);
    assert_eq!(n.neighbor(addr("fd00::55")), None);
}

#[test]
fn static_gateway_mac_and_multicast_need_no_resolution() {
    // RFC 2464 §7: multicast destinations map to 33:33:xx:xx:xx:xx.
    let gw = Mac([0x02, 0, 0, 0, 0, 0x01]);
    let mut n = node(A_MAC, coa(), Gateway::Mac(gw));
    let p = ipv6_packet(coa(), addr("2001:db8::1"), 0);
    assert_eq!(
        n.egress(t(0), &p, None),
        Egress::Frame(ethernet::frame(gw, A_MAC, &p))
    );
    let m = ipv6_packet(coa(), ALL_NODES, 0);
    let Egress::Frame(f) = n.egress(t(0), &m, None) else {
        panic!()
    };
    assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(n.cache_len(), 0);
    assert_eq!(
        n.egress(t(0), &[1, 2, 3], None),
        Egress::Dropped(EgressDrop::Malformed)
    );
}

#[test]
fn resolution_queue_is_bounded() {
    // RFC 4861 §7.2.2: the queue per neighbor is bounded; beyond it packets are dropped.
    let mut n = node(A_MAC, coa(), Gateway::Ipv6(peer()));
    let p = ipv6_packet(coa(), addr("2001:db8::1"), 0);
    for _ in 0..64 {
        assert_eq!(n.egress(t(0), &p, None), Egress::Queued);
    }
    assert_eq!(
        n.egress(t(0), &p, None),
        Egress::Dropped(EgressDrop::QueueFull)
    );
    // ... and all neighbors together: 256.
    for i in 0..300u16 {
        let hop = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 1, i);
        n.egress(t(0), &p, Some(hop));
    }
    assert_eq!(n.queued(), 256);
    assert_eq!(n.counters().queue_full, 1 + 300 - (256 - 64));
}

#[test]
fn solicitations_are_rate_limited() {
    // RFC 4861 §7.2.2: solicitations are rate-limited (10 back to back, then 100/s).
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    for i in 0..50u16 {
        let d = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 2, i);
        n.egress(t(0), &ipv6_packet(coa(), d, 0), None);
    }
    let mut sent_now = 0;
    while n.poll_transmit().is_some() {
        sent_now += 1;
    }
    assert_eq!(sent_now, 10);
    assert_eq!(n.counters().ns_rate_limited, 40);
    assert!(n.poll_at().unwrap() <= t(10));
}

#[test]
fn echo_request_is_answered() {
    // RFC 4443 §4.2: reply from the address the request was sent to, same identifier,
    // sequence number and data.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let req = Icmpv6Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"ping data",
    };
    let f = icmp_frame(A_MAC, PEER_MAC, peer(), anycast(), 64, &req);
    assert_eq!(n.ingress(t(0), &f), Ingress::Handled);
    let r = sent(&mut n);
    let ip = Ipv6Packet::new_checked(&r[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (anycast(), peer()));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    let repr =
        Icmpv6Repr::parse(&anycast(), &peer(), &icmp, &ChecksumCapabilities::default()).unwrap();
    assert_eq!(
        repr,
        Icmpv6Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"ping data"
        }
    );
    assert_eq!(&r[..6], &PEER_MAC.0);
    // Not ours: passed up. Bad checksum: dropped.
    let f2 = icmp_frame(A_MAC, PEER_MAC, peer(), addr("fd00::5"), 64, &req);
    assert!(matches!(n.ingress(t(0), &f2), Ingress::Ipv6(_)));
    let mut f3 = f.clone();
    f3[60] ^= 0xff;
    assert_eq!(n.ingress(t(0), &f3), Ingress::Dropped);
    assert_eq!(n.counters().icmp_bad_checksum, 1);
}

#[test]
fn other_frames_are_counted() {
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut f = ns(peer(), coa(), coa(), None);
    f[12] = 0x08;
    f[13] = 0x06;
    assert_eq!(n.ingress(t(0), &f), Ingress::Dropped);
    assert_eq!(n.counters().rx_not_ipv6, 1);
    let p = ipv6_packet(peer(), coa(), 1);
    let f = ethernet::frame(A_MAC, PEER_MAC, &p);
    assert_eq!(n.ingress(t(0), &f), Ingress::Ipv6(&p[..]));
}

#[test]
fn ns_flood_from_random_sources_keeps_the_cache_bounded() {
    // RFC 4861 §7.2.3 lets every NS with a source link-layer address create an entry;
    // 100k of them from random sources must not grow the cache past its bound, nor evict
    // the gateway we talk to.
    let mut n = node(A_MAC, coa(), Gateway::Ipv6(peer()));
    n.egress(t(0), &ipv6_packet(coa(), addr("2001:db8::1"), 0), None);
    let flags = NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE;
    n.ingress(t(0), &na(peer(), peer(), flags, Some(PEER_MAC)));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..100_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = Ipv6Addr::from((0xfd00u128 << 112) | u128::from(x));
        let f = ns(src, solicited_node(coa()), coa(), Some(PEER_MAC));
        assert_eq!(n.ingress(t(i64::from(i)), &f), Ingress::Handled);
        while n.poll_transmit().is_some() {}
        assert!(n.cache_len() <= 1024);
    }
    assert_eq!(n.cache_len(), 1024);
    assert!(
        n.neighbor(peer()).is_some(),
        "the gateway survived the flood"
    );
    let c = n.counters();
    assert_eq!(c.ns_rx, 100_000);
    assert_eq!(c.na_tx, 100_000);
    assert!(c.cache_evicted >= 100_000 - 1024, "{c:?}");
}

/// Moves every frame `from` sends into `to`, returning how many.
fn deliver(now: Instant, from: &mut Neighbors, to: &mut Neighbors) -> usize {
    let mut k = 0;
    while let Some(f) = from.poll_transmit() {
        k += 1;
        to.ingress(now, &f);
    }
    k
}

#[test]
fn two_instances_resolve_each_other() {
    // RFC 4861 §7.2.2-§7.2.5 end to end: A resolves B (multicast NS, B answers with a
    // solicited NA), the queued packet reaches B.
    let (a_ip, b_ip) = (coa(), addr("fd00::b"));
    let mut a = node(A_MAC, a_ip, Gateway::OnLink);
    let mut b = node(B_MAC, b_ip, Gateway::OnLink);
    let p = ipv6_packet(a_ip, b_ip, 42);
    assert_eq!(a.egress(t(0), &p, None), Egress::Queued);
    // The first solicitation is lost; the retransmission after RETRANS_TIMER is answered.
    assert!(a.poll_transmit().is_some());
    assert_eq!(a.poll_at(), Some(t(1000)));
    a.handle_timeout(t(1000));
    assert_eq!(deliver(t(1000), &mut a, &mut b), 1);
    assert_eq!(b.neighbor(a_ip), Some((NeighborState::Stale, Some(A_MAC))));
    assert_eq!(deliver(t(1000), &mut b, &mut a), 1);
    let f = a.poll_transmit().expect("the queued packet");
    assert_eq!(b.ingress(t(1000), &f), Ingress::Ipv6(&p[..]));
    assert_eq!(
        a.neighbor(b_ip),
        Some((NeighborState::Reachable, Some(B_MAC)))
    );
    // B sends back: its STALE entry for A is used at once (DELAY), no solicitation.
    let back = ipv6_packet(b_ip, a_ip, 43);
    assert!(matches!(b.egress(t(1001), &back, None), Egress::Frame(_)));
    assert_eq!(b.neighbor(a_ip).unwrap().0, NeighborState::Delay);
}

#[test]
fn resolution_gives_up_after_three_solicitations() {
    // RFC 4861 §7.2.2 and §7.3.3: MAX_MULTICAST_SOLICIT = 3 solicitations RETRANS_TIMER
    // apart; then the entry is deleted and its queued packets dropped and counted.
    // B is on the link but does not own the address A resolves: it hears every
    // solicitation and answers none.
    let mut a = node(A_MAC, coa(), Gateway::OnLink);
    let mut b = node(B_MAC, addr("fd00::b"), Gateway::OnLink);
    let silent = addr("fd00::dead");
    for i in 0..5 {
        assert_eq!(
            a.egress(t(0), &ipv6_packet(coa(), silent, i), None),
            Egress::Queued
        );
    }
    let mut solicitations = 0;
    let mut now = t(0);
    for _ in 0..10 {
        solicitations += deliver(now, &mut a, &mut b);
        assert!(b.poll_transmit().is_none());
        let Some(at) = a.poll_at() else { break };
        now = at;
        a.handle_timeout(now);
    }
    assert_eq!(solicitations, 3);
    assert_eq!(b.counters().ns_not_ours, 3);
    assert_eq!(now, t(3000));
    assert_eq!(a.neighbor(silent), None);
    let c = a.counters();
    assert_eq!((c.resolution_failed, c.queue_dropped_unresolved), (1, 5));
    assert_eq!(a.queued(), 0);
}

#[test]
fn bad_config_is_refused() {
    let only_anycast = vec![OwnAddr {
        addr: anycast(),
        anycast: true,
    }];
    assert_eq!(
        Neighbors::new(NdConfig::new(A_MAC, only_anycast, Gateway::OnLink)).unwrap_err(),
        NdConfigError::NoUnicastAddress
    );
    let mc = vec![OwnAddr {
        addr: ALL_NODES,
        anycast: false,
    }];
    assert!(Neighbors::new(NdConfig::new(A_MAC, mc, Gateway::OnLink)).is_err());
    let mut c = NdConfig::new(A_MAC, vec![], Gateway::OnLink);
    c.addrs.push(OwnAddr {
        addr: coa(),
        anycast: false,
    });
    c.cache_capacity = 0;
    assert_eq!(
        Neighbors::new(c).unwrap_err(),
        NdConfigError::ZeroBound("cache_capacity")
    );
}

#[test]
fn flood_never_evicts_a_neighbor_we_send_to() {
    // RFC 4861 §7.2.3 entries created by a solicitation are evicted first; once we send
    // to such a neighbor it is ours to keep (only our own traffic may evict it).
    let mut cfg = NdConfig::new(
        A_MAC,
        vec![OwnAddr {
            addr: coa(),
            anycast: false,
        }],
        Gateway::OnLink,
    );
    cfg.cache_capacity = 4;
    let mut n = Neighbors::new(cfg).unwrap();
    let src = |i: u32| Ipv6Addr::from((0xfd00u128 << 112) | (u128::from(i) + 0x1000));
    // Many rounds: a neighbor solicits us, we answer it with a packet (it becomes used),
    // then a burst of solicitations from strangers. The used neighbors stay.
    for round in 0..3u32 {
        n.ingress(t(0), &ns(src(round), coa(), coa(), Some(PEER_MAC)));
        let p = ipv6_packet(coa(), src(round), 0);
        assert!(matches!(n.egress(t(1), &p, None), Egress::Frame(_)));
        for i in 0..50u32 {
            n.ingress(
                t(2),
                &ns(src(100 + round * 50 + i), coa(), coa(), Some(PEER_MAC)),
            );
        }
        while n.poll_transmit().is_some() {}
    }
    for round in 0..3u32 {
        assert!(n.neighbor(src(round)).is_some(), "neighbor {round} kept");
    }
    assert_eq!(n.cache_len(), 4);
    // The fourth place churns among strangers; with all four places used, strangers get
    // no entry at all, and are still answered.
    let p = ipv6_packet(coa(), src(3), 0);
    n.ingress(t(3), &ns(src(3), coa(), coa(), Some(PEER_MAC)));
    n.egress(t(3), &p, None);
    let before = n.counters().cache_full;
    assert_eq!(
        n.ingress(t(4), &ns(src(999), coa(), coa(), Some(PEER_MAC))),
        Ingress::Handled
    );
    assert_eq!(n.counters().cache_full, before + 1);
    assert_eq!(n.neighbor(src(999)), None);
    assert!(n.cache.unused_len() <= 8, "the eviction list stays bounded");
}

#[test]
fn cached_poll_at_always_equals_a_fresh_scan() {
    // poll_at is cached between timer changes; after any mix of packets, answers and
    // timeouts it must equal a scan of the whole cache.
    let mut n = node(A_MAC, coa(), Gateway::OnLink);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut now = 0i64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let who = Ipv6Addr::from((0xfd00u128 << 112) | u128::from(x % 8 + 0x20));
        now += i64::try_from(x % 700).unwrap();
        match (x >> 8) % 5 {
            0 => {
                n.egress(t(now), &ipv6_packet(coa(), who, 0), None);
            }
            1 => {
                let f = NdiscNeighborFlags::from_bits_truncate((x >> 16) as u8 & 0x60);
                n.ingress(t(now), &na(who, who, f, Some(PEER_MAC)));
            }
            2 => {
                n.ingress(
                    t(now),
                    &ns(who, coa(), coa(), Some(Mac([2, 0, 0, 0, 1, x as u8]))),
                );
            }
            _ => n.handle_timeout(t(now)),
        }
        while n.poll_transmit().is_some() {}
        let cached = n.poll_at();
        n.next_timer.set(None);
        assert_eq!(cached, n.poll_at());
    }
    assert!(n.counters().resolution_failed > 0 && n.counters().na_rx > 0);
}
