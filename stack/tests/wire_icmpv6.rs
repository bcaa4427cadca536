//! ICMPv6 Packet Too Big (RFC 4443 §3.2) and the packet it quotes: the Mobile IPv6
//! headers in the quote, truncation, the checksum, and no panic on any input.

use std::net::Ipv6Addr;

use proptest::prelude::*;
use vany_stack::testing::{emit, TcpSegment};
use vany_stack::wire::icmpv6::MAX_QUOTE;
use vany_stack::wire::packet::Icmpv6Message;
use vany_stack::wire::{
    self, PacketError, PacketRepr, PacketTooBigRepr, QuotedTcp, Rule, TcpControl, Upper,
    PACKET_TOO_BIG,
};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const ANYCAST: &str = "fd00:a::1";
const CARE_OF: &str = "fd00:1::10";
const CLIENT: &str = "fd00:c::2";
const CLIENT_COA: &str = "fd00:c::99";
const ROUTER: &str = "fd00:f::1";

/// A full-sized TCP segment as a member sends it: from `src`, optionally with a HAO and
/// an RH2.
fn segment(src: &str, hao: Option<&str>, dst: &str, rh2: Option<&str>) -> Vec<u8> {
    let payload = vec![0x5a; 1400];
    let mut repr = TcpSegment::new(443, 51000)
        .control(TcpControl::Psh)
        .seq(0x1234_5678)
        .ack(99)
        .payload(&payload)
        .packet(a(src), a(dst));
    repr.rh2 = rh2.map(a);
    repr.hao = hao.map(a);
    emit(&repr)
}

/// The Packet Too Big a router at 1400 sends to the packet's source.
fn ptb_for(invoking: &[u8], mtu: u32) -> Vec<u8> {
    let src = wire::parse(invoking).unwrap().repr.src;
    PacketTooBigRepr::emit_packet(a(ROUTER), src, mtu, invoking)
}

fn parse_ptb(packet: &[u8]) -> Result<PacketTooBigRepr, wire::WireError> {
    let parsed = wire::parse_verified(packet).unwrap();
    let Upper::Icmpv6(m) = parsed.repr.upper else {
        panic!("not ICMPv6")
    };
    PacketTooBigRepr::parse(m.msg_type, m.body)
}

#[test]
fn packet_too_big_quoting_a_plain_tcp_segment() {
    let ptb = ptb_for(&segment(ANYCAST, None, CLIENT, None), 1400);
    assert!(ptb.len() <= 1280, "RFC 4443 §2.4 (c)");
    let p = parse_ptb(&ptb).unwrap();
    assert_eq!(p.mtu, 1400);
    assert_eq!((p.home_src(), p.home_dst()), (a(ANYCAST), a(CLIENT)));
    assert_eq!(p.ext_len, 0);
    assert_eq!(p.original_len, 40 + 20 + 1400);
    assert_eq!(
        p.tcp,
        Some(QuotedTcp {
            src_port: 443,
            dst_port: 51000,
            seq: 0x1234_5678
        })
    );
}

#[test]
fn packet_too_big_quoting_a_segment_from_a_care_of_address_with_hao_and_rh2() {
    let invoking = segment(CARE_OF, Some(ANYCAST), CLIENT_COA, Some(CLIENT));
    let p = parse_ptb(&ptb_for(&invoking, 1400)).unwrap();
    assert_eq!((p.src, p.dst), (a(CARE_OF), a(CLIENT_COA)));
    assert_eq!((p.hao, p.rh2), (Some(a(ANYCAST)), Some(a(CLIENT))));
    assert_eq!((p.home_src(), p.home_dst()), (a(ANYCAST), a(CLIENT)));
    assert_eq!(p.ext_len, 48);
    assert_eq!(p.tcp.unwrap().seq, 0x1234_5678);
}

#[test]
fn packet_too_big_with_only_8_bytes_of_tcp_quoted() {
    let invoking = segment(CARE_OF, Some(ANYCAST), CLIENT, None);
    let quoted = &invoking[..40 + 24 + 8];
    let p = parse_ptb(&ptb_for_quote(quoted)).unwrap();
    assert_eq!(p.tcp.unwrap().src_port, 443);
    // Fewer than 8 bytes of TCP: no sequence number to validate, a typed error.
    let err = parse_ptb(&ptb_for_quote(&invoking[..40 + 24 + 7])).unwrap_err();
    assert!(matches!(err.rule, Rule::Truncated { .. }), "{err}");
}

/// A Packet Too Big (MTU 1280) quoting exactly `quote`.
fn ptb_for_quote(quote: &[u8]) -> Vec<u8> {
    let mut body = 1280u32.to_be_bytes().to_vec();
    body.extend_from_slice(quote);
    let repr = PacketRepr::new(
        a(ROUTER),
        a(CARE_OF),
        Upper::Icmpv6(Icmpv6Message {
            msg_type: PACKET_TOO_BIG,
            code: 0,
            body: &body,
        }),
    );
    emit(&repr)
}

#[test]
fn packet_too_big_with_a_bad_checksum_is_refused() {
    let mut ptb = ptb_for(&segment(ANYCAST, None, CLIENT, None), 1400);
    let last = ptb.len() - 1;
    ptb[last] ^= 1;
    assert!(matches!(
        wire::parse_verified(&ptb),
        Err(PacketError::BadChecksum { .. })
    ));
}

#[test]
fn other_icmpv6_types_are_not_packet_too_big() {
    let err = PacketTooBigRepr::parse(1, &[0; 64]).unwrap_err();
    assert_eq!(err.rule, Rule::NotPacketTooBig(1));
}

#[test]
fn every_truncation_of_a_quote_is_an_error_or_a_repr() {
    let invoking = segment(CARE_OF, Some(ANYCAST), CLIENT_COA, Some(CLIENT));
    let mut body = 1400u32.to_be_bytes().to_vec();
    body.extend_from_slice(&invoking[..MAX_QUOTE]);
    for n in 0..body.len() {
        let r = PacketTooBigRepr::parse(PACKET_TOO_BIG, &body[..n]);
        assert_eq!(r.is_ok(), n >= 4 + 40 + 48 + 8, "{n} bytes: {r:?}");
    }
}

proptest! {
    #[test]
    fn packet_too_big_parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = PacketTooBigRepr::parse(PACKET_TOO_BIG, &body);
    }

    #[test]
    fn quotes_with_mobile_ipv6_headers_and_noise_never_panic(
        flip in 0usize..120,
        bits in any::<u8>(),
        cut in 0usize..140,
    ) {
        let invoking = segment(CARE_OF, Some(ANYCAST), CLIENT_COA, Some(CLIENT));
        let mut body = 1400u32.to_be_bytes().to_vec();
        body.extend_from_slice(&invoking[..140]);
        body[4 + flip % 136] ^= bits;
        let _ = PacketTooBigRepr::parse(PACKET_TOO_BIG, &body[..cut.min(body.len())]);
    }
}
