//! Malformed packets: each is refused with a typed error naming the byte offset and the
//! rule that was broken (RFC 6275 §6.1.1, §6.2, §6.3, §6.4, §9.2).

use std::net::Ipv6Addr;

use vany_stack::testing::{emit, mh_packet, BuBuilder};
use vany_stack::wire::mh_option::kind;
use vany_stack::wire::{self, MhMessage, MhOption, MhOptions, MhRepr, Part, Rule, WireError};

const COA: &str = "fd00:2::2";
const HOA: &str = "fd00:aa::1";
const CN: &str = "fd00:1::1";

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// IPv6 | DestOpt(HAO) | BU with Nonce Indices and Binding Authorization Data.
fn bu_packet() -> Vec<u8> {
    BuBuilder::new(addr(HOA), addr(COA), addr(CN))
        .seq(9)
        .ack(true)
        .lifetime(105)
        .nonces(3, 4)
        .auth_data([7; 12])
        .build()
}

const MH: usize = 64; // 40 IPv6 + 24 DestOpt

fn err(buf: &[u8]) -> WireError {
    wire::parse(buf).expect_err("malformed packet must be refused")
}

/// Sets the IPv6 payload length to match `buf`.
fn fix_payload_len(buf: &mut [u8]) {
    let len = (buf.len() - 40) as u16;
    buf[4..6].copy_from_slice(&len.to_be_bytes());
}

#[test]
fn valid_bu_parses() {
    let buf = bu_packet();
    let parsed = wire::parse_verified(&buf).unwrap();
    assert_eq!(parsed.repr.hao, Some(addr(HOA)));
    assert_eq!(parsed.upper_offset, MH);
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let buf = bu_packet();
    for cut in 0..buf.len() {
        let e = err(&buf[..cut]);
        assert!(
            e.offset <= cut.max(40),
            "cut {cut}: offset {} past the data",
            e.offset
        );
    }
}

#[test]
fn truncated_ipv6_header() {
    let buf = bu_packet();
    let e = err(&buf[..39]);
    assert_eq!(e.offset, 0);
    assert_eq!(
        e.rule,
        Rule::Truncated {
            part: Part::Ipv6Header,
            needed: 40,
            available: 39
        }
    );
}

#[test]
fn payload_length_past_end() {
    let buf = bu_packet();
    let e = err(&buf[..buf.len() - 1]);
    assert_eq!(e.offset, 4);
    assert!(matches!(e.rule, Rule::PayloadLength { .. }));
}

#[test]
fn truncated_destination_options_header() {
    let mut buf = bu_packet();
    buf.truncate(40 + 12);
    fix_payload_len(&mut buf);
    let e = err(&buf);
    assert_eq!(e.offset, 40);
    assert!(matches!(
        e.rule,
        Rule::Truncated {
            part: Part::DestinationOptions,
            ..
        }
    ));
}

#[test]
fn truncated_mobility_header() {
    let mut buf = bu_packet();
    buf.truncate(MH + 4);
    fix_payload_len(&mut buf);
    let e = err(&buf);
    assert_eq!(e.offset, MH);
    assert!(matches!(
        e.rule,
        Rule::Truncated {
            part: Part::MobilityHeader,
            ..
        }
    ));
}

#[test]
fn mh_header_len_disagrees_with_packet() {
    let mut buf = bu_packet();
    buf[MH + 1] += 1;
    let e = err(&buf);
    assert_eq!(e.offset, MH + 1);
    assert!(matches!(
        e.rule,
        Rule::MhLengthMismatch {
            declared: 40,
            available: 32
        }
    ));
}

#[test]
fn payload_proto_other_than_59() {
    let mut buf = bu_packet();
    buf[MH] = 6;
    let e = err(&buf);
    assert_eq!(e.offset, MH);
    assert_eq!(e.rule, Rule::MhPayloadProto(6));
}

#[test]
fn header_len_too_small_for_type() {
    // A HoT needs 24 bytes (Header Len 2); give it 16.
    let mut buf = bu_packet();
    buf.truncate(MH + 16);
    fix_payload_len(&mut buf);
    buf[MH + 1] = 1;
    buf[MH + 2] = 3;
    let e = err(&buf);
    assert_eq!(e.offset, MH + 1);
    assert_eq!(
        e.rule,
        Rule::MhTooShort {
            mh_type: 3,
            len: 16,
            min: 24
        }
    );
    // A BU needs 16 (Header Len 1); Header Len 0 gives 8.
    let mut buf = bu_packet();
    buf.truncate(MH + 8);
    fix_payload_len(&mut buf);
    buf[MH + 1] = 0;
    let e = err(&buf);
    assert_eq!(
        e.rule,
        Rule::MhTooShort {
            mh_type: 5,
            len: 8,
            min: 16
        }
    );
}

#[test]
fn wrong_option_lengths() {
    // Nonce Indices with length 6.
    let mut buf = bu_packet();
    buf[MH + 13] = 6;
    let e = err(&buf);
    assert_eq!(e.offset, MH + 13);
    assert_eq!(
        e.rule,
        Rule::MhOptionLength {
            kind: kind::NONCE_INDICES,
            len: 6,
            expected: 4
        }
    );
    // Binding Authorization Data with length 10 (then 2 bytes of Pad1 to keep the size).
    let mut buf = bu_packet();
    buf[MH + 19] = 10;
    let e = err(&buf);
    assert_eq!(e.offset, MH + 19);
    assert_eq!(
        e.rule,
        Rule::MhOptionLength {
            kind: kind::AUTH_DATA,
            len: 10,
            expected: 12
        }
    );
}

#[test]
fn option_overrunning_the_header() {
    let mut buf = bu_packet();
    buf[MH + 13] = 200;
    let e = err(&buf);
    assert_eq!(e.offset, MH + 12);
    assert_eq!(e.rule, Rule::MhOptionOverrun);
}

#[test]
fn misaligned_options() {
    // Move Nonce Indices (2n) one byte later behind a Pad1: 13 is odd.
    let mut mh = vec![59, 3, 5, 0, 0, 0, 0, 9, 0x80, 0, 0, 105];
    mh.extend_from_slice(&[0, 4, 4, 0, 3, 0, 4]); // Pad1, NI at 13
    mh.extend_from_slice(&[0; 13]);
    assert_eq!(mh.len(), 32);
    let e = MhRepr::parse(&mh).unwrap_err();
    assert_eq!(e.offset, 13);
    assert_eq!(
        e.rule,
        Rule::MhOptionMisaligned {
            kind: kind::NONCE_INDICES,
            x: 2,
            y: 0
        }
    );
    // Binding Authorization Data (8n+2) at 12.
    let mut mh = vec![59, 3, 5, 0, 0, 0, 0, 9, 0x80, 0, 0, 105];
    mh.extend_from_slice(&[5, 12]);
    mh.extend_from_slice(&[0xaa; 12]);
    mh.extend_from_slice(&[1, 4, 0, 0, 0, 0]);
    let e = MhRepr::parse(&mh).unwrap_err();
    assert_eq!(e.offset, 12);
    assert_eq!(
        e.rule,
        Rule::MhOptionMisaligned {
            kind: kind::AUTH_DATA,
            x: 8,
            y: 2
        }
    );
    // Alternate CoA (8n+6) at 12.
    let mut mh = vec![59, 4, 5, 0, 0, 0, 0, 9, 0x80, 0, 0, 105];
    mh.extend_from_slice(&[3, 16]);
    mh.extend_from_slice(&[0xfd; 16]);
    mh.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let e = MhRepr::parse(&mh).unwrap_err();
    assert_eq!(
        e.rule,
        Rule::MhOptionMisaligned {
            kind: kind::ALT_COA,
            x: 8,
            y: 6
        }
    );
}

#[test]
fn auth_data_not_last() {
    // BU | PadN(4) | BAD at 18..32 | Nonce Indices at 32..38 | PadN(0) .. = 40 bytes.
    let mut mh = vec![59, 4, 5, 0, 0, 0, 0, 9, 0x80, 0, 0, 105];
    mh.extend_from_slice(&[1, 4, 0, 0, 0, 0]);
    mh.extend_from_slice(&[5, 12]);
    mh.extend_from_slice(&[0xaa; 12]);
    mh.extend_from_slice(&[4, 4, 0, 1, 0, 2, 1, 0]);
    assert_eq!(mh.len(), 40);
    let e = MhRepr::parse(&mh).unwrap_err();
    assert_eq!(e.offset, 32);
    assert_eq!(e.rule, Rule::AuthDataNotLast);
    // Even trailing padding after it is refused.
    let mut mh = vec![59, 4, 5, 0, 0, 0, 0, 9, 0x80, 0, 0, 105];
    mh.extend_from_slice(&[1, 4, 0, 0, 0, 0, 5, 12]);
    mh.extend_from_slice(&[0xaa; 12]);
    mh.extend_from_slice(&[1, 6, 0, 0, 0, 0, 0, 0]);
    assert_eq!(MhRepr::parse(&mh).unwrap_err().rule, Rule::AuthDataNotLast);
}

#[test]
fn emitting_auth_data_not_last_is_refused() {
    let mut options = MhOptions::new();
    options.push(MhOption::AuthData([1; 12])).unwrap();
    options
        .push(MhOption::RefreshAdvice { interval: 1 })
        .unwrap();
    let repr = MhRepr {
        message: MhMessage::Ba(Default::default()),
        options,
    };
    let mut buf = [0u8; 64];
    assert_eq!(repr.emit(&mut buf).unwrap_err().rule, Rule::AuthDataNotLast);
}

/// IPv6 | DestOpt with the given options area (24 bytes total) | HoTI.
fn dest_opts_packet(options: &[u8; 22]) -> Vec<u8> {
    let mut buf = bu_packet();
    buf[MH - 24 + 2..MH].copy_from_slice(options);
    buf
}

#[test]
fn two_home_address_options() {
    // Header of 48 bytes: PadN(2) HAO at 6, PadN(6) HAO at 30.
    let mut buf = bu_packet();
    let mut second = vec![1, 4, 0, 0, 0, 0, 0xc9, 16];
    second.extend_from_slice(&addr(HOA).octets());
    buf.splice(MH..MH, second);
    buf[41] = 5; // Hdr Ext Len: 48 bytes
    fix_payload_len(&mut buf);
    let e = err(&buf);
    assert_eq!(e.offset, 40 + 30);
    assert_eq!(e.rule, Rule::DuplicateHao);
}

#[test]
fn two_destination_options_headers() {
    let mut buf = bu_packet();
    let dest: Vec<u8> = buf[40..MH].to_vec();
    buf.splice(40..40, dest);
    buf[40] = 60;
    fix_payload_len(&mut buf);
    let e = err(&buf);
    assert_eq!(e.offset, MH);
    assert_eq!(e.rule, Rule::DuplicateDestinationOptions);
}

#[test]
fn home_address_option_misaligned_or_wrong_length() {
    let mut opts = [0u8; 22];
    opts[..2].copy_from_slice(&[1, 0]); // PadN(0): HAO at 4
    opts[2] = 0xc9;
    opts[3] = 16;
    opts[4..20].copy_from_slice(&addr(HOA).octets());
    let e = err(&dest_opts_packet(&opts));
    assert_eq!(e.offset, 44);
    assert_eq!(e.rule, Rule::HaoMisaligned);

    let mut opts = [0u8; 22];
    opts[..4].copy_from_slice(&[1, 2, 0, 0]);
    opts[4] = 0xc9;
    opts[5] = 14;
    let e = err(&dest_opts_packet(&opts));
    assert_eq!(e.offset, 47);
    assert_eq!(e.rule, Rule::HaoLength(14));
}

#[test]
fn home_address_must_be_unicast() {
    for (bad, kind) in [
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
    ] {
        let mut buf = bu_packet();
        buf[48..64].copy_from_slice(&addr(bad).octets());
        let e = err(&buf);
        assert_eq!(e.offset, 48);
        assert_eq!(e.rule, Rule::HomeAddressNotUnicast { kind });
    }
}

#[test]
fn unknown_destination_option_that_must_not_be_skipped() {
    let mut opts = [0u8; 22];
    opts[..4].copy_from_slice(&[0x81, 2, 0, 0]); // action bits 10
    opts[4] = 0xc9;
    opts[5] = 16;
    opts[6..22].copy_from_slice(&addr(HOA).octets());
    let e = err(&dest_opts_packet(&opts));
    assert_eq!(e.offset, 42);
    assert_eq!(e.rule, Rule::UnknownDestinationOption(0x81));
    // Action bits 00: skipped.
    opts[0] = 0x1e;
    assert!(wire::parse(&dest_opts_packet(&opts)).is_ok());
}

/// IPv6 | RH2 | MH(BA).
fn rh2_packet() -> Vec<u8> {
    let mut repr = mh_packet(addr(CN), addr(COA), MhMessage::Ba(Default::default()));
    repr.rh2 = Some(addr(HOA));
    emit(&repr)
}

#[test]
fn rh2_checks_smoltcp_leaves_out() {
    assert_eq!(
        wire::parse_verified(&rh2_packet()).unwrap().repr.rh2,
        Some(addr(HOA))
    );
    let mut buf = rh2_packet();
    buf[43] = 0;
    let e = err(&buf);
    assert_eq!((e.offset, e.rule), (43, Rule::Rh2SegmentsLeft(0)));
    let mut buf = rh2_packet();
    buf[41] = 4;
    let e = err(&buf);
    assert_eq!((e.offset, e.rule), (41, Rule::Rh2Length(4)));
    let mut buf = rh2_packet();
    buf[42] = 0;
    let e = err(&buf);
    assert_eq!((e.offset, e.rule), (42, Rule::RoutingType(0)));
}

#[test]
fn rh2_after_destination_options_is_refused() {
    // IPv6 | DestOpt(HAO) -> RH2 -> MH
    let bu = bu_packet();
    let rh = rh2_packet();
    let mut buf = bu[..MH].to_vec();
    buf[MH - 24] = 43;
    buf.extend_from_slice(&rh[40..64]);
    buf.extend_from_slice(&bu[MH..]);
    fix_payload_len(&mut buf);
    let e = err(&buf);
    assert_eq!((e.offset, e.rule), (MH, Rule::Rh2Position));
}

#[test]
fn unsupported_next_header_names_the_field() {
    let mut buf = bu_packet();
    buf[40] = 0; // DestOpt's Next Header: hop-by-hop
    let e = err(&buf);
    assert_eq!((e.offset, e.rule), (40, Rule::UnsupportedNextHeader(0)));
}

#[test]
fn not_ipv6() {
    let mut buf = bu_packet();
    buf[0] = 0x45;
    assert_eq!(err(&buf).rule, Rule::NotIpv6(4));
}

#[test]
fn error_messages_name_offset_and_rule() {
    let mut buf = bu_packet();
    buf[MH] = 6;
    let text = err(&buf).to_string();
    assert!(text.contains("byte offset 64"), "{text}");
    assert!(text.contains("must be 59"), "{text}");
}
