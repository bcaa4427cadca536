//! Round trips: parse(emit(x)) == x for every Repr, and whole packets with their
//! checksums.

mod common;

use common::*;
use proptest::prelude::*;
use vany_stack::wire::packet::{Icmpv6Message, UdpDatagram};
use vany_stack::wire::{
    self, mh, HaoHeader, MhRepr, PacketRepr, Rh2Header, TcpControl, TcpRepr, TcpSeqNumber, Upper,
};

/// An owned upper layer.
#[derive(Debug, Clone)]
enum UpperSpec {
    Mh(MhSpec),
    Udp(u16, u16, Vec<u8>),
    Icmp(u8, u8, Vec<u8>),
    Tcp {
        ports: (u16, u16),
        control: u8,
        seq: i32,
        ack: Option<i32>,
        window: u16,
        mss: Option<u16>,
        ws: Option<u8>,
        sack_perm: bool,
        ts: Option<(u32, u32)>,
        payload: Vec<u8>,
    },
    None,
}

fn upper_strategy() -> impl Strategy<Value = UpperSpec> {
    prop_oneof![
        4 => mh_strategy().prop_map(UpperSpec::Mh),
        1 => (any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(s, d, p)| UpperSpec::Udp(s, d, p)),
        1 => (any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(t, c, b)| UpperSpec::Icmp(t, c, b)),
        1 => (
            (1u16.., 1u16..),
            0u8..5,
            any::<i32>(),
            proptest::option::of(any::<i32>()),
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..=14),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(ports, control, seq, ack, window, mss, ws, sack_perm, ts, payload)| UpperSpec::Tcp {
                ports,
                control,
                seq,
                ack,
                window,
                mss,
                ws,
                sack_perm,
                ts,
                payload,
            }),
        1 => Just(UpperSpec::None),
    ]
}

#[derive(Debug, Clone)]
struct PacketSpec {
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    rh2: Option<std::net::Ipv6Addr>,
    hao: Option<std::net::Ipv6Addr>,
    upper: UpperSpec,
}

fn packet_strategy() -> impl Strategy<Value = PacketSpec> {
    (
        any_addr(),
        any_addr(),
        any::<u8>(),
        0u32..0x10_0000,
        any::<u8>(),
        proptest::option::of(unicast_addr()),
        proptest::option::of(unicast_addr()),
        upper_strategy(),
    )
        .prop_map(
            |(src, dst, traffic_class, flow_label, hop_limit, rh2, hao, upper)| PacketSpec {
                src,
                dst,
                traffic_class,
                flow_label,
                hop_limit,
                rh2,
                hao,
                upper,
            },
        )
}

impl PacketSpec {
    fn repr(&self) -> PacketRepr<'_> {
        let upper = match &self.upper {
            UpperSpec::Mh(m) => Upper::Mh(m.repr()),
            UpperSpec::Udp(s, d, p) => Upper::Udp(UdpDatagram {
                src_port: *s,
                dst_port: *d,
                payload: p,
            }),
            UpperSpec::Icmp(t, c, b) => Upper::Icmpv6(Icmpv6Message {
                msg_type: *t,
                code: *c,
                body: b,
            }),
            UpperSpec::Tcp {
                ports,
                control,
                seq,
                ack,
                window,
                mss,
                ws,
                sack_perm,
                ts,
                payload,
            } => Upper::Tcp(TcpRepr {
                src_port: ports.0,
                dst_port: ports.1,
                control: [
                    TcpControl::None,
                    TcpControl::Psh,
                    TcpControl::Syn,
                    TcpControl::Fin,
                    TcpControl::Rst,
                ][*control as usize],
                seq_number: TcpSeqNumber(*seq),
                ack_number: ack.map(TcpSeqNumber),
                window_len: *window,
                window_scale: *ws,
                max_seg_size: *mss,
                sack_permitted: *sack_perm,
                sack_ranges: [None; 3],
                timestamp: ts.map(|(v, e)| wire::TcpTimestampRepr::new(v, e)),
                payload,
            }),
            UpperSpec::None => Upper::None,
        };
        PacketRepr {
            src: self.src,
            dst: self.dst,
            traffic_class: self.traffic_class,
            flow_label: self.flow_label,
            hop_limit: self.hop_limit,
            rh2: self.rh2,
            hao: self.hao,
            upper,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mh_repr_round_trips(spec in mh_strategy()) {
        let repr = spec.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, buf.len());
        prop_assert_eq!(len % 8, 0, "RFC 6275 §6.1.1: an MH is a multiple of 8 octets");
        let parsed = MhRepr::parse(&buf).unwrap();
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn packet_repr_round_trips_with_valid_checksum(spec in packet_strategy()) {
        let repr = spec.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, buf.len());
        let parsed = wire::parse_verified(&buf).unwrap();
        prop_assert!(parsed.checksum_ok);
        prop_assert_eq!(&parsed.repr, &repr);
        prop_assert_eq!(parsed.upper_offset, repr.upper_offset());
    }

    #[test]
    fn hao_header_round_trips(home in unicast_addr(), nh in any::<u8>()) {
        let mut buf = [0u8; 24];
        HaoHeader::emit(nh, &home, &mut buf);
        let parsed = HaoHeader::parse(&buf).unwrap();
        prop_assert_eq!(parsed, HaoHeader { next_header: nh, home_address: home, len: 24 });
    }

    #[test]
    fn rh2_header_round_trips(home in unicast_addr(), nh in any::<u8>()) {
        let mut buf = [0u8; 24];
        Rh2Header::emit(nh, &home, &mut buf);
        prop_assert_eq!(Rh2Header::parse(&buf).unwrap(), Rh2Header { next_header: nh, home_address: home });
    }

    #[test]
    fn any_flipped_checksum_byte_is_reported(spec in packet_strategy(), bit in 0u8..8, which in 0usize..2) {
        let repr = spec.repr();
        prop_assume!(!matches!(repr.upper, Upper::None));
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let at = repr.upper_offset() + match repr.upper { Upper::Mh(_) => mh::CHECKSUM_OFFSET, Upper::Tcp(_) => 16, Upper::Udp(_) => 6, _ => 2 } + which;
        buf[at] ^= 1 << bit;
        let parsed = wire::parse(&buf).unwrap();
        prop_assert!(!parsed.checksum_ok);
        prop_assert!(wire::parse_verified(&buf).is_err());
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = wire::parse(&data);
        let _ = MhRepr::parse(&data);
        let _ = HaoHeader::parse(&data);
        let _ = Rh2Header::parse(&data);
    }

    #[test]
    fn deferred_parses_agree_with_the_verified_parse(spec in packet_strategy(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let repr = spec.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        for (at, value) in flips {
            let i = at % buf.len();
            buf[i] = value;
        }
        let cut = buf.len() - cut % 3;
        let buf = &buf[..cut];
        let verified = wire::parse_verified(buf);
        let deferred = wire::parse_deferred(buf);
        match (&deferred, &verified) {
            (Ok(d), _) if d.deferred.is_some() => {
                // The check the TCP engine finishes decides as the verified parse did.
                let Upper::Tcp(seg) = &d.repr.upper else { panic!("deferred check on a non-TCP packet") };
                let check = d.deferred.unwrap();
                prop_assert_eq!(check.verifies(wire::checksum::sum(0, seg.payload)), verified.is_ok());
                prop_assert_eq!(check.received(), d.checksum);
                if let Ok(v) = &verified {
                    prop_assert_eq!(&v.repr, &d.repr);
                }
            }
            _ => prop_assert_eq!(&deferred, &verified),
        }
        match wire::parse_tcp_deferred(buf) {
            Ok(Some(t)) => {
                let d = deferred.as_ref().unwrap();
                prop_assert_eq!(&d.repr.upper, &Upper::Tcp(t.segment));
                prop_assert_eq!(d.deferred, t.deferred);
                prop_assert_eq!((t.src, t.dst, t.rh2, t.hao), (d.repr.src, d.repr.dst, d.repr.rh2, d.repr.hao));
                prop_assert_eq!((t.pseudo_src(), t.pseudo_dst()), (d.repr.pseudo_src(), d.repr.pseudo_dst()));
            }
            Ok(None) => prop_assert!(!matches!(deferred, Ok(ref d) if matches!(d.repr.upper, Upper::Tcp(_)))),
            Err(e) => prop_assert_eq!(Err(e), deferred.map(|_| ())),
        }
    }

    #[test]
    fn parser_never_panics_on_mutated_packets(spec in packet_strategy(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let repr = spec.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        for (at, value) in flips {
            let i = at % buf.len();
            buf[i] = value;
        }
        let _ = wire::parse(&buf);
        let cut = cut % (buf.len() + 1);
        let _ = wire::parse(&buf[..cut]);
    }
}

#[test]
fn bu_with_nonce_indices_and_auth_data_needs_no_padding() {
    // RFC 6275 §6.2: BU fixed part 12, Nonce Indices (2n) at 12, BAD (8n+2) at 18: 32 bytes.
    let spec = MhSpec {
        msg: MsgSpec::Bu(Default::default()),
        options: vec![OptSpec::Nonce(1, 2)],
        auth: Some([0xaa; 12]),
    };
    let repr = spec.repr();
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    assert_eq!(buf.len(), 32);
    assert_eq!(&buf[12..18], &[4, 4, 0, 1, 0, 2]);
    assert_eq!(&buf[18..20], &[5, 12]);
}

#[test]
fn ba_with_refresh_advice_and_auth_data_pads_with_padn() {
    // BA fixed 12, BRA at 12..16, PadN(0) at 16..18, BAD at 18..32.
    let spec = MhSpec {
        msg: MsgSpec::Ba(Default::default()),
        options: vec![OptSpec::Refresh(5)],
        auth: Some([0xbb; 12]),
    };
    let repr = spec.repr();
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    assert_eq!(buf.len(), 32);
    assert_eq!(&buf[12..18], &[2, 2, 0, 5, 1, 0]);
    assert_eq!(&buf[18..20], &[5, 12]);
}

#[test]
fn hao_header_is_emitted_as_rfc_layout() {
    let home: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
    let mut buf = [0u8; 24];
    HaoHeader::emit(135, &home, &mut buf);
    assert_eq!(&buf[..8], &[135, 2, 1, 2, 0, 0, 0xc9, 0x10]);
    assert_eq!(&buf[8..], &home.octets());
}
