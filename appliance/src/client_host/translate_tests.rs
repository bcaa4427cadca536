//! Unit tests of [`super`]: the rewrites byte for byte, and the whole return
//! routability + binding exchange against the real mobile-node code.

use proptest::prelude::*;
use vany_stack::mip6::cn::{CnConfig, MhOutcome};
use vany_stack::mip6::mn::{MnEvent, MobileNode};
use vany_stack::rand::SeededRandom;
use vany_stack::time::Duration;
use vany_stack::wire::packet::ParsedPacket;
use vany_stack::wire::{PacketRepr, TcpControl, TcpRepr, TcpSeqNumber, Upper};

use super::*;

fn client() -> Ipv6Addr {
    "fd00:1::1".parse().unwrap()
}
fn anycast() -> Ipv6Addr {
    "fd00:a::1".parse().unwrap()
}
fn care_of(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10 + n, 0, 0, 0, 0, 0, 1)
}

fn tcp<'a>(control: TcpControl, payload: &'a [u8], mss: Option<u16>) -> TcpRepr<'a> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        control,
        seq_number: TcpSeqNumber(1000),
        ack_number: None,
        window_len: 1000,
        window_scale: None,
        max_seg_size: mss,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    }
}

fn packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    rh2: Option<Ipv6Addr>,
    hao: Option<Ipv6Addr>,
    upper: Upper<'_>,
) -> Vec<u8> {
    let repr = PacketRepr {
        src,
        dst,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        rh2,
        hao,
        upper,
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    buf
}

fn translator() -> Translator {
    translator_seeded(7)
}

fn translator_seeded(seed: u64) -> Translator {
    let mut rng = SeededRandom::new(seed);
    let cn = CorrespondentNode::new(CnConfig::default(), &mut rng);
    Translator::new(
        cn,
        vec!["fd00:a::/64".parse().unwrap()],
        1416,
        Box::new(SeededRandom::new(8)),
    )
}

fn parsed(p: &[u8]) -> ParsedPacket<'_> {
    parse(p).expect("parses")
}

#[test]
fn prefixes_parse_and_match() {
    let p: Prefix = "fd00:a::/64".parse().unwrap();
    assert!(p.contains(&anycast()));
    assert!(!p.contains(&"fd00:b::1".parse().unwrap()));
    let host: Prefix = "fd00:a::1".parse().unwrap();
    assert!(host.is_host() && host.contains(&anycast()));
    assert!(!host.contains(&"fd00:a::2".parse().unwrap()));
    assert_eq!(p.to_string(), "fd00:a::/64");
    assert!(matches!(
        "fd00:a::1/64".parse::<Prefix>(),
        Err(PrefixError::HostBits { .. })
    ));
    assert!(matches!(
        "fd00::/129".parse::<Prefix>(),
        Err(PrefixError::Length(_))
    ));
    assert!(matches!(
        "10.0.0.1".parse::<Prefix>(),
        Err(PrefixError::Address(_))
    ));
    assert!("::/0".parse::<Prefix>().is_err());
}

#[test]
fn rh2_inserted_checksum_covers_home_address() {
    let data = b"GET / HTTP/1.0\r\n\r\n";
    let p = packet(
        client(),
        anycast(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::Psh, data, None)),
    );
    let mut out = Vec::new();
    insert_rh2(&p, care_of(1), &mut out).unwrap();
    assert_eq!(out.len(), p.len() + 24);
    let o = out.clone();
    let q = parsed(&o);
    assert_eq!(q.repr.dst, care_of(1));
    assert_eq!(q.repr.rh2, Some(anycast()));
    assert_eq!(q.repr.src, client());
    assert!(q.checksum_ok, "TCP checksum over the home address");
    match q.repr.upper {
        Upper::Tcp(t) => assert_eq!(t.payload, data),
        other => panic!("{other:?}"),
    }
    // The same packet as the wire code would emit it directly.
    let direct = packet(
        client(),
        care_of(1),
        Some(anycast()),
        None,
        Upper::Tcp(tcp(TcpControl::Psh, data, None)),
    );
    assert_eq!(out, direct);
    // Twice: refused, the packet already has a routing header.
    let mut again = Vec::new();
    assert_eq!(
        insert_rh2(&out, care_of(2), &mut again),
        Err(TranslateError::AlreadyRouted)
    );
}

#[test]
fn hao_stripped_checksum_still_verifies() {
    let data = [7u8; 1000];
    let p = packet(
        care_of(1),
        client(),
        None,
        Some(anycast()),
        Upper::Tcp(tcp(TcpControl::None, &data, None)),
    );
    assert!(parsed(&p).checksum_ok);
    let mut out = Vec::new();
    assert_eq!(strip_hao(&p, &mut out), Ok(anycast()));
    assert_eq!(out.len(), p.len() - 24);
    let o = out.clone();
    let q = parsed(&o);
    assert_eq!(
        (q.repr.src, q.repr.dst, q.repr.hao),
        (anycast(), client(), None)
    );
    assert!(
        q.checksum_ok,
        "RFC 6275 §6.1.1: the checksum used the home address"
    );
    // Exactly what the member would have sent from the anycast address itself.
    let direct = packet(
        anycast(),
        client(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::None, &data, None)),
    );
    assert_eq!(out, direct);
}

#[test]
fn claimed_is_mh_or_hao() {
    let plain = packet(
        anycast(),
        client(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::None, b"x", None)),
    );
    assert!(!claimed(&plain));
    let hao = packet(
        care_of(1),
        client(),
        None,
        Some(anycast()),
        Upper::Tcp(tcp(TcpControl::None, b"x", None)),
    );
    assert!(claimed(&hao));
    // A Destination Options header with only padding is the kernel's.
    let mut padded = plain.clone();
    padded[6] = DEST_OPTS_PROTOCOL;
    let mut opts = vec![6u8, 0, 1, 4, 0, 0, 0, 0];
    opts.extend_from_slice(&plain[40..]);
    padded.truncate(40);
    padded.extend_from_slice(&opts);
    let len = (padded.len() - 40) as u16;
    padded[4..6].copy_from_slice(&len.to_be_bytes());
    assert!(!claimed(&padded));
    assert!(!claimed(&[0x60; 39]));
    assert!(!claimed(&[0x40; 60]));
}

#[test]
fn outbound_to_other_destinations_dropped_and_plain_without_binding() {
    let mut t = translator();
    let mut out = Vec::new();
    let mld = packet(
        client(),
        "ff02::16".parse().unwrap(),
        None,
        None,
        Upper::None,
    );
    assert_eq!(
        t.outbound(Instant::ZERO, &mld, &mut out),
        Verdict::Drop(DropReason::NotAnycast)
    );
    let syn = packet(
        client(),
        anycast(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::Syn, &[], Some(1440))),
    );
    assert_eq!(t.outbound(Instant::ZERO, &syn, &mut out), Verdict::Uplink);
    let o = out.clone();
    let q = parsed(&o);
    assert_eq!(q.repr.dst, anycast());
    assert!(q.checksum_ok);
    match q.repr.upper {
        Upper::Tcp(s) => assert_eq!(s.max_seg_size, Some(1416), "MSS clamped"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.stats().mss_clamped, 1);
    assert_eq!(
        t.outbound(Instant::ZERO, &[1, 2, 3], &mut out),
        Verdict::Drop(DropReason::Malformed)
    );
}

/// Passes every packet the MN queued through the translator, and every answer back.
fn exchange(now: Instant, mn: &mut MobileNode, t: &mut Translator) -> Vec<MnEvent> {
    let mut events = Vec::new();
    let mut out = Vec::new();
    while let Some(p) = mn.poll_transmit() {
        let v = t.inbound(now, &p, &mut out);
        assert!(matches!(v, Verdict::Consumed { .. }), "{v:?}");
        while let Some(answer) = t.poll_transmit() {
            let parsed = parse(&answer).unwrap();
            assert!(parsed.checksum_ok);
            events.extend(mn.handle_mh(now, &parsed));
        }
    }
    events
}

/// Return routability and a binding, then translation both ways through it.
fn bind(t: &mut Translator, mn: &mut MobileNode, now: Instant, coa: Ipv6Addr) {
    let mut rng = SeededRandom::new(3);
    mn.start_home_test(now, client(), *b"va\0\x01salt");
    mn.start_care_of_test(now, &mut rng, client(), coa);
    let events = exchange(now, mn, t);
    assert!(events
        .iter()
        .any(|e| matches!(e, MnEvent::HomeToken { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, MnEvent::CareOfToken { .. })));
    mn.send_bu(now, client(), coa).unwrap();
    let events = exchange(now, mn, t);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MnEvent::Bound { care_of, .. } if *care_of == coa)),
        "{events:?}"
    );
    assert_eq!(t.cn().binding(&anycast()).map(|b| b.care_of), Some(coa));
}

#[test]
fn binding_then_rh2_out_and_hao_in() {
    let mut t = translator();
    let mut mn = MobileNode::new(anycast(), Duration::from_secs(420));
    let now = Instant::from_secs(10);
    bind(&mut t, &mut mn, now, care_of(1));
    assert_eq!(t.cn_stats().bu_accepted, 1);

    // Out: to the care-of address, RH2 with the anycast address, MSS clamped.
    let syn = packet(
        client(),
        anycast(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::Syn, &[], Some(1440))),
    );
    let mut out = Vec::new();
    assert_eq!(t.outbound(now, &syn, &mut out), Verdict::Uplink);
    let o = out.clone();
    let q = parsed(&o);
    assert_eq!((q.repr.dst, q.repr.rh2), (care_of(1), Some(anycast())));
    assert!(q.checksum_ok);
    match q.repr.upper {
        Upper::Tcp(s) => assert_eq!(s.max_seg_size, Some(1416)),
        other => panic!("{other:?}"),
    }

    // In: from the care-of address with a HAO: the kernel sees the anycast address.
    let data = [9u8; 500];
    let seg = packet(
        care_of(1),
        client(),
        None,
        Some(anycast()),
        Upper::Tcp(tcp(TcpControl::None, &data, None)),
    );
    assert_eq!(t.inbound(now, &seg, &mut out), Verdict::Kernel);
    let o = out.clone();
    let q = parsed(&o);
    assert_eq!((q.repr.src, q.repr.hao), (anycast(), None));
    assert!(q.checksum_ok);

    // A HAO from another care-of address has no binding: dropped, Binding Error sent.
    let stray = packet(
        care_of(2),
        client(),
        None,
        Some(anycast()),
        Upper::Tcp(tcp(TcpControl::None, &data, None)),
    );
    assert_eq!(
        t.inbound(now, &stray, &mut out),
        Verdict::Drop(DropReason::NoBinding)
    );
    let be = t.poll_transmit().expect("a Binding Error");
    assert_eq!(parsed(&be).repr.dst, care_of(2));

    // A plain packet is the kernel's.
    let plain = packet(
        anycast(),
        client(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::None, &data, None)),
    );
    assert_eq!(t.inbound(now, &plain, &mut out), Verdict::Ignore);

    // A handoff: another member binds; packets follow it.
    let later = now + Duration::from_secs(1);
    bind(&mut t, &mut mn, later, care_of(2));
    let ack = packet(
        client(),
        anycast(),
        None,
        None,
        Upper::Tcp(tcp(TcpControl::None, &[], None)),
    );
    assert_eq!(t.outbound(later, &ack, &mut out), Verdict::Uplink);
    assert_eq!(parsed(&out).repr.dst, care_of(2));
    assert_eq!(
        t.inbound(later, &seg, &mut out),
        Verdict::Drop(DropReason::NoBinding),
        "the old care-of address lost its binding"
    );

    // Bindings expire; the cache says when.
    let expiry = t.poll_timeout().expect("a deadline");
    t.handle_timeout(expiry + Duration::from_secs(1000));
    assert_eq!(t.cn().binding_count(), 0);
    assert_eq!(
        t.outbound(expiry + Duration::from_secs(1000), &ack, &mut out),
        Verdict::Uplink
    );
    assert_eq!(parsed(&out).repr.dst, anycast());
}

#[test]
fn forged_bu_is_discarded() {
    let mut t = translator();
    let mut mn = MobileNode::new(anycast(), Duration::from_secs(420));
    let now = Instant::from_secs(10);
    bind(&mut t, &mut mn, now, care_of(1));
    // Another MN, with tokens from another CN (another Kcn), cannot move the binding.
    let mut other = translator_seeded(99);
    let mut thief = MobileNode::new(anycast(), Duration::from_secs(420));
    bind(&mut other, &mut thief, now, care_of(3));
    thief.send_bu(now, client(), care_of(3)).unwrap();
    let bu = thief.poll_transmit().unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        t.inbound(now, &bu, &mut out),
        Verdict::Consumed {
            outcome: MhOutcome::Discarded(_),
            ..
        }
    ));
    assert_eq!(
        t.cn().binding(&anycast()).map(|b| b.care_of),
        Some(care_of(1))
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let mut bytes = bytes;
        if v6 && !bytes.is_empty() {
            bytes[0] = 0x60;
        }
        let mut t = translator();
        let mut out = Vec::new();
        let _ = t.outbound(Instant::ZERO, &bytes, &mut out);
        let _ = t.inbound(Instant::ZERO, &bytes, &mut out);
        let _ = strip_hao(&bytes, &mut out);
        let _ = insert_rh2(&bytes, care_of(1), &mut out);
        let _ = claimed(&bytes);
        let _ = rewrite::clamp_packet(&mut bytes, 500);
    }
}
