//! Return routability and binding management with real packets between vany's sans-IO
//! state machines and scapy (Debian's `python3-scapy` 2.5 under `/usr/bin/python3`),
//! scapy playing each role in turn, over a test-only packet pipe ([`PythonPipe`]: a
//! long-lived Python process, one line of JSON per request and per reply, each packet the
//! hex of a whole IPv6 packet). The Python side (`tests/scapy/rr_cn.py`, `rr_mn.py`,
//! `rr_pipe.py`) computes tokens, Kbm and authenticators with `hmac`/`hashlib` straight
//! from RFC 6275 §5.2.5/§6.2.7, verifies every MH checksum with its own pseudo-header sum
//! (HAO address as source, RH2 address as destination) and with scapy's, and reports
//! its verdicts as JSON, which the tests assert; the Rust side asserts vany's view.
//!
//! - `scapy_correspondent_binds_vany_mobile_node`: scapy is the CN, with its own Kcn and
//!   nonce indices. vany's `MobileNode` runs the home and care-of tests, sends a BU that
//!   scapy verifies (checksum, authenticator, Kbm, nonce indices, flags) and accepts with
//!   a signed BA status 0 (`MnEvent::Bound`). Then a second member takes over with the
//!   state exported before that BU (the handoff of docs/handoff.md): its BU's sequence number is
//!   stale, scapy answers 135, and vany resends with a newer one, which is accepted.
//!   Finally a deregistration (lifetime 0) that scapy verifies with Kbm = SHA1(home token)
//!   (`MnEvent::Deregistered`).
//! - `scapy_mobile_node_binds_at_vany_correspondent`: scapy is the MN. Its HoTI/CoTI get
//!   HoT/CoT from vany's `CorrespondentNode`; its signed BU gets a BA status 0 whose
//!   authenticator scapy verifies; the same BU replayed gets 135; a BU with a forged
//!   authenticator gets nothing (and `bu_bad_auth` counts it); data packets with a HAO
//!   for an unknown home address get Binding Error status 1 (and with the bound one
//!   none); an unknown MH type gets Binding Error status 2.

use std::net::Ipv6Addr;

use serde::Deserialize;
use serde_json::json;
use vany_stack::mip6::cn::{
    be_status, status, CnConfig, CorrespondentNode, DiscardReason, Ingress, MhOutcome,
};
use vany_stack::mip6::mn::{BindingStatus, MnEvent, MobileNode};
use vany_stack::mip6::rr;
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, MhMessage, Upper};
use vany_tests::mip6::HexVec;
use vany_tests::pipe::PythonPipe;
use vany_tests::seed;

const CN: &str = "fd00:1::1";
const HOA: &str = "fd00:aa::1";
const COA: &str = "fd00:2::2";
const COA2: &str = "fd00:3::3";
const UNKNOWN_HOA: &str = "fd00:bad::1";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(1000) + Duration::from_secs(secs)
}

/// One reply of the Python helper: packets it sends, and what it found.
#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(default)]
    send: Vec<HexVec>,
    verdict: Verdict,
}

/// The Python side's findings about one packet (fields absent for other kinds are None).
#[derive(Debug, Deserialize)]
struct Verdict {
    kind: String,
    #[serde(default)]
    problems: Vec<String>,
    src: Option<Ipv6Addr>,
    dst: Option<Ipv6Addr>,
    rh2: Option<Ipv6Addr>,
    hao: Option<Ipv6Addr>,
    /// The checksum by the helper's own pseudo-header sum.
    checksum_ok: Option<bool>,
    /// The checksum by scapy's `in6_chksum`.
    scapy_checksum_ok: Option<bool>,
    cookie: Option<HexVec>,
    cookie_ok: Option<bool>,
    nonce_index: Option<u16>,
    token: Option<HexVec>,
    hoa: Option<Ipv6Addr>,
    coa: Option<Ipv6Addr>,
    seq: Option<u16>,
    lifetime: Option<u16>,
    ack: Option<bool>,
    home_flag: Option<bool>,
    dereg: Option<bool>,
    nonce_indices: Option<[u16; 2]>,
    home_token: Option<HexVec>,
    care_of_token: Option<HexVec>,
    kbm: Option<HexVec>,
    auth_ok: Option<bool>,
    auth_coa: Option<Ipv6Addr>,
    /// BA status (sent by the scapy CN, received by the scapy MN) or BE status.
    status: Option<u8>,
    /// Sequence number of the BA the scapy CN sent.
    ba_seq: Option<u16>,
    /// Lifetime granted by the scapy CN (units of 4 s).
    granted: Option<u16>,
    /// Home address of a Binding Error.
    ha: Option<Ipv6Addr>,
    key_mgmt: Option<bool>,
    #[serde(default)]
    options: serde_json::Value,
}

impl Verdict {
    /// The checks every received packet must pass on the Python side.
    fn assert_clean(&self, what: &str) {
        assert!(self.problems.is_empty(), "{what}: {:?}", self.problems);
        assert_eq!(
            self.checksum_ok,
            Some(true),
            "{what}: own checksum: {self:?}"
        );
        assert_eq!(
            self.scapy_checksum_ok,
            Some(true),
            "{what}: scapy checksum: {self:?}"
        );
    }
}

fn send(pipe: &mut PythonPipe, pkt: &[u8]) -> Reply {
    pipe.request(&json!({"op": "packet", "hex": hex::encode(pkt)}))
}

/// Parses a packet scapy built; its checksum must verify in vany too.
fn parse_from_scapy(pkt: &[u8]) -> wire::ParsedPacket<'_> {
    let parsed = wire::parse(pkt)
        .unwrap_or_else(|e| panic!("vany refuses scapy's packet {}: {e}", hex::encode(pkt)));
    assert!(
        parsed.checksum_ok,
        "vany: bad checksum on scapy's packet {}",
        hex::encode(pkt)
    );
    parsed
}

/// Everything the MN queued, in order.
fn drain_mn(mn: &mut MobileNode) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| mn.poll_transmit()).take(16).collect()
}

/// Everything the CN queued, in order.
fn drain_cn(cn: &mut CorrespondentNode) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| cn.poll_transmit()).take(16).collect()
}

/// Gives the one packet scapy sent in `reply` to the MN; returns the MN's event.
fn to_mn(mn: &mut MobileNode, now: Instant, reply: &Reply) -> Option<MnEvent> {
    assert_eq!(reply.send.len(), 1, "one packet from scapy: {reply:?}");
    let parsed = parse_from_scapy(&reply.send[0].0);
    mn.handle_mh(now, &parsed)
}

/// The only packet in `packets`.
fn one(mut packets: Vec<Vec<u8>>) -> Vec<u8> {
    assert_eq!(packets.len(), 1, "want exactly one packet: {packets:02x?}");
    packets.remove(0)
}

/// The only packet the MN queued.
fn one_from_mn(mn: &mut MobileNode) -> Vec<u8> {
    one(drain_mn(mn))
}

fn mh_of<'a>(parsed: &'a wire::ParsedPacket<'_>) -> &'a vany_stack::wire::MhRepr<'a> {
    match &parsed.repr.upper {
        Upper::Mh(m) => m,
        other => panic!("not a Mobility Header: {other:?}"),
    }
}

#[test]
fn scapy_correspondent_binds_vany_mobile_node() {
    let seed = seed(0x5ca9_0004);
    let mut rng = SeededRandom::new(seed);
    let mut cn = PythonPipe::spawn("rr_cn.py");
    let _: serde_json::Value = cn.request(&json!({"op": "init", "cn": CN}));
    let mut mn = MobileNode::new(a(HOA), Duration::from_secs(420));

    // Return routability: HoTI from the home address, CoTI from the care-of address.
    let now = t(0);
    let home_cookie = mn.start_home_test_random(now, &mut rng, a(CN));
    mn.start_care_of_test(now, &mut rng, a(CN), a(COA));
    let tests = drain_mn(&mut mn);
    assert_eq!(tests.len(), 2);

    let hot = send(&mut cn, &tests[0]);
    let v = &hot.verdict;
    v.assert_clean("HoTI");
    assert_eq!(v.kind, "HoTI");
    assert_eq!((v.src, v.dst), (Some(a(HOA)), Some(a(CN))));
    assert_eq!(
        v.cookie.as_ref().map(|c| c.0.clone()),
        Some(home_cookie.to_vec())
    );
    let home_index = v.nonce_index.unwrap();
    let home_token = v.token.clone().unwrap().0;
    match to_mn(&mut mn, now, &hot) {
        Some(MnEvent::HomeToken {
            correspondent,
            token,
        }) => {
            assert_eq!(correspondent, a(CN));
            assert_eq!(token.token.to_vec(), home_token, "home keygen token");
            assert_eq!(token.nonce_index, home_index);
            assert_eq!(token.address, a(HOA));
        }
        other => panic!("HoT: {other:?}"),
    }

    let cot = send(&mut cn, &tests[1]);
    let v = &cot.verdict;
    v.assert_clean("CoTI");
    assert_eq!(v.kind, "CoTI");
    assert_eq!((v.src, v.dst), (Some(a(COA)), Some(a(CN))));
    let care_of_index = v.nonce_index.unwrap();
    let care_of_token = v.token.clone().unwrap().0;
    assert_ne!(
        home_index, care_of_index,
        "scapy's CN gave two nonce indices"
    );
    match to_mn(&mut mn, now, &cot) {
        Some(MnEvent::CareOfToken {
            correspondent,
            token,
            ..
        }) => {
            assert_eq!(correspondent, a(CN));
            assert_eq!(token.token.to_vec(), care_of_token, "care-of keygen token");
            assert_eq!(token.nonce_index, care_of_index);
            assert_eq!(token.address, a(COA));
        }
        other => panic!("CoT: {other:?}"),
    }
    // What a second member will take over (docs/handoff.md): tokens, sequence number 0.
    let before_bu = mn.export(&a(CN)).unwrap();
    assert_eq!(before_bu.seq, 0);

    // The Binding Update, verified by scapy's CN, and its BA.
    assert_eq!(mn.send_bu(now, a(CN), a(COA)), Ok(1));
    let bu = one_from_mn(&mut mn);
    let ba = send(&mut cn, &bu);
    let v = &ba.verdict;
    v.assert_clean("BU");
    assert_eq!(v.kind, "BU");
    assert_eq!((v.src, v.hao, v.rh2), (Some(a(COA)), Some(a(HOA)), None));
    assert_eq!((v.hoa, v.coa), (Some(a(HOA)), Some(a(COA))));
    assert_eq!(
        v.auth_ok,
        Some(true),
        "scapy's CN verifies vany's BU: {v:?}"
    );
    assert_eq!(v.auth_coa, Some(a(COA)));
    assert_eq!(
        (v.seq, v.ack, v.home_flag, v.dereg),
        (Some(1), Some(true), Some(false), Some(false))
    );
    assert_eq!(v.nonce_indices, Some([home_index, care_of_index]));
    assert_eq!(
        (v.home_token.as_ref(), v.care_of_token.as_ref()),
        (hot.verdict.token.as_ref(), cot.verdict.token.as_ref()),
        "scapy's CN recomputes the tokens it sent from the nonce indices"
    );
    assert_eq!(
        v.options,
        json!(["nonce_indices", "auth_data"]),
        "options in order"
    );
    let lifetime = v.lifetime.unwrap();
    assert!(
        (1..=105).contains(&lifetime),
        "lifetime {lifetime} units, at most 420 s"
    );
    let tokens = (
        <[u8; 8]>::try_from(home_token.as_slice()).unwrap(),
        <[u8; 8]>::try_from(care_of_token.as_slice()).unwrap(),
    );
    assert_eq!(
        v.kbm.as_ref().map(|k| k.0.clone()),
        Some(rr::kbm(&tokens.0, Some(&tokens.1)).to_vec()),
        "Kbm"
    );
    assert_eq!((v.status, v.ba_seq), (Some(0), Some(1)));
    let granted = v.granted.unwrap();
    match to_mn(&mut mn, now, &ba) {
        Some(MnEvent::Bound {
            correspondent,
            care_of,
            lifetime,
        }) => {
            assert_eq!((correspondent, care_of), (a(CN), a(COA)));
            assert_eq!(lifetime, Duration::from_secs(u64::from(granted) * 4));
        }
        other => panic!("vany does not accept scapy's BA: {other:?}"),
    }
    let state = mn.export(&a(CN)).unwrap();
    assert_eq!(
        (state.status, state.care_of),
        (BindingStatus::Bound, Some(a(COA)))
    );
    assert_eq!((mn.stats().ba_accepted, mn.stats().ba_dropped), (1, 0));

    // A second member takes over with the state exported before that BU: its sequence
    // number (1) is stale at the CN, which answers 135 with the last one it accepted.
    let now = t(1);
    let mut member = MobileNode::new(a(HOA), Duration::from_secs(420));
    member.import(before_bu, t(0), now);
    member.start_care_of_test(now, &mut rng, a(CN), a(COA2));
    let cot = send(&mut cn, &one_from_mn(&mut member));
    cot.verdict.assert_clean("CoTI from the second member");
    assert_eq!(cot.verdict.src, Some(a(COA2)));
    let care_of2_token = cot.verdict.token.clone().unwrap().0;
    assert!(matches!(
        to_mn(&mut member, now, &cot),
        Some(MnEvent::CareOfToken { .. })
    ));
    assert_eq!(member.send_bu(now, a(CN), a(COA2)), Ok(1));
    let stale = send(&mut cn, &one_from_mn(&mut member));
    let v = &stale.verdict;
    v.assert_clean("stale BU");
    assert_eq!(
        (v.seq, v.auth_ok, v.coa),
        (Some(1), Some(true), Some(a(COA2)))
    );
    assert_eq!(
        (v.status, v.ba_seq),
        (Some(status::SEQUENCE_OUT_OF_WINDOW), Some(1)),
        "scapy's CN refuses the stale sequence number"
    );
    assert_eq!(
        to_mn(&mut member, now, &stale),
        None,
        "135 is no event: vany resends"
    );
    assert_eq!(
        member.stats().ba_accepted,
        1,
        "vany accepted the signed 135"
    );
    let resent = one_from_mn(&mut member);
    let parsed = wire::parse(&resent).unwrap();
    match mh_of(&parsed).message {
        MhMessage::Bu(b) => assert_eq!(b.seq, 2, "resent with the CN's number + 1"),
        ref other => panic!("vany resent {other:?}"),
    }
    let ba = send(&mut cn, &resent);
    let v = &ba.verdict;
    v.assert_clean("resent BU");
    assert_eq!(
        (v.seq, v.auth_ok, v.status, v.ba_seq),
        (Some(2), Some(true), Some(0), Some(2))
    );
    assert_eq!(
        v.care_of_token.as_ref().map(|c| c.0.clone()),
        Some(care_of2_token.clone())
    );
    match to_mn(&mut member, now, &ba) {
        Some(MnEvent::Bound { care_of, .. }) => assert_eq!(care_of, a(COA2)),
        other => panic!("vany does not accept scapy's BA after 135: {other:?}"),
    }

    // Deregistration: lifetime 0, Kbm = SHA1(home keygen token), verified by scapy.
    let now = t(2);
    assert_eq!(member.deregister(now, a(CN), a(COA2)), Ok(3));
    let ba = send(&mut cn, &one_from_mn(&mut member));
    let v = &ba.verdict;
    v.assert_clean("deregistration");
    assert_eq!((v.seq, v.lifetime, v.dereg), (Some(3), Some(0), Some(true)));
    assert_eq!(v.care_of_token, None);
    assert_eq!(
        v.kbm.as_ref().map(|k| k.0.clone()),
        Some(rr::kbm(&tokens.0, None).to_vec()),
        "deregistration Kbm = SHA1(home token)"
    );
    assert_eq!(
        v.auth_ok,
        Some(true),
        "scapy verifies the deregistration: {v:?}"
    );
    assert_eq!(
        v.auth_coa,
        Some(a(COA2)),
        "MAC over the care-of address sent from"
    );
    assert_eq!((v.status, v.ba_seq, v.granted), (Some(0), Some(3), Some(0)));
    assert_eq!(
        to_mn(&mut member, now, &ba),
        Some(MnEvent::Deregistered {
            correspondent: a(CN)
        })
    );
    assert_eq!(
        member.export(&a(CN)).unwrap().status,
        BindingStatus::Unbound
    );
    assert_eq!(member.stats().ba_dropped, 0);
    cn.finish();
}

#[test]
fn scapy_mobile_node_binds_at_vany_correspondent() {
    let seed = seed(0x5ca9_0005);
    let mut rng = SeededRandom::new(seed);
    let mut cn = CorrespondentNode::new(CnConfig::default(), &mut rng);
    let mut mn = PythonPipe::spawn("rr_mn.py");
    let _: serde_json::Value = mn.request(&json!({
        "op": "init", "hoa": HOA, "coa": COA, "cn": CN, "seed": seed,
    }));
    let now = t(0);

    // HoTI and CoTI from scapy, HoT and CoT from vany.
    let start: Reply = mn.request(&json!({"op": "start"}));
    assert_eq!(start.send.len(), 2);
    for (pkt, want) in start.send.iter().zip(["HoT", "CoT"]) {
        let parsed = parse_from_scapy(&pkt.0);
        assert_eq!(
            cn.handle_mh(now, &mut rng, &parsed),
            MhOutcome::TestAnswered
        );
        let out = drain_cn(&mut cn);
        assert_eq!(out.len(), 1);
        let v = send(&mut mn, &out[0]).verdict;
        v.assert_clean(want);
        assert_eq!(v.kind, want);
        assert_eq!(v.cookie_ok, Some(true), "{want}: cookie echoed");
        assert_eq!(v.options, json!([]), "{want}: no options");
        let addr = if want == "HoT" { a(HOA) } else { a(COA) };
        assert_eq!((v.src, v.dst, v.rh2), (Some(a(CN)), Some(addr), None));
    }

    // A BU signed by scapy, accepted by vany with a BA that scapy verifies.
    let seq: u16 = 40_000;
    let bu: Reply = mn.request(&json!({"op": "bu", "seq": seq, "lifetime": 100}));
    assert_eq!(bu.send.len(), 1);
    let bu_bytes = bu.send[0].0.clone();
    let parsed = parse_from_scapy(&bu_bytes);
    assert_eq!((parsed.repr.src, parsed.repr.hao), (a(COA), Some(a(HOA))));
    match mh_of(&parsed).message {
        MhMessage::Bu(b) => assert_eq!((b.seq, b.ack, b.home, b.lifetime), (seq, true, false, 100)),
        ref other => panic!("{other:?}"),
    }
    assert_eq!(
        cn.handle_mh(now, &mut rng, &parsed),
        MhOutcome::Accepted {
            deregistered: false
        },
        "vany's CN accepts scapy's BU {}",
        hex::encode(&bu_bytes)
    );
    let binding = cn.binding(&a(HOA)).expect("a binding");
    assert_eq!((binding.care_of, binding.seq), (a(COA), seq));
    assert_eq!(binding.expires, now + Duration::from_secs(400));
    let out = drain_cn(&mut cn);
    assert_eq!(out.len(), 1, "one BA");
    let v = send(&mut mn, &out[0]).verdict;
    v.assert_clean("BA 0");
    assert_eq!(v.kind, "BA");
    assert_eq!(
        (v.src, v.dst, v.rh2),
        (Some(a(CN)), Some(a(COA)), Some(a(HOA)))
    );
    assert_eq!(
        (v.status, v.seq, v.lifetime, v.key_mgmt),
        (Some(0), Some(seq), Some(100), Some(false))
    );
    assert_eq!(
        v.auth_ok,
        Some(true),
        "scapy verifies vany's BA authenticator: {}",
        hex::encode(&out[0])
    );

    // The same BU again: 135, signed, with the last accepted sequence number.
    let replay: Reply = mn.request(&json!({"op": "replay"}));
    assert_eq!(replay.send[0].0, bu_bytes, "the replay is byte for byte");
    assert_eq!(
        cn.handle_mh(t(1), &mut rng, &parse_from_scapy(&replay.send[0].0)),
        MhOutcome::Refused(status::SEQUENCE_OUT_OF_WINDOW)
    );
    let out = drain_cn(&mut cn);
    assert_eq!(out.len(), 1, "one BA");
    let v = send(&mut mn, &out[0]).verdict;
    v.assert_clean("BA 135");
    assert_eq!(
        (v.status, v.seq, v.auth_ok),
        (Some(status::SEQUENCE_OUT_OF_WINDOW), Some(seq), Some(true))
    );
    assert_eq!(cn.stats().bu_stale_seq, 1);

    // A forged authenticator (right checksum): no answer at all, counted.
    let forged: Reply = mn.request(&json!({
        "op": "bu", "seq": seq.wrapping_add(1), "lifetime": 100, "forge": true,
    }));
    assert_eq!(forged.verdict.checksum_ok, Some(true));
    assert_eq!(
        cn.handle_mh(t(1), &mut rng, &parse_from_scapy(&forged.send[0].0)),
        MhOutcome::Discarded(DiscardReason::BadAuthenticator)
    );
    assert!(cn.poll_transmit().is_none(), "no answer to a forged BU");
    assert_eq!(cn.stats().bu_bad_auth, 1);
    assert_eq!(cn.binding(&a(HOA)).unwrap().seq, seq, "binding untouched");
    // The genuine BU with that sequence number is still accepted afterwards.
    let bu: Reply = mn.request(&json!({"op": "bu", "seq": seq.wrapping_add(1), "lifetime": 100}));
    assert_eq!(
        cn.handle_mh(t(1), &mut rng, &parse_from_scapy(&bu.send[0].0)),
        MhOutcome::Accepted {
            deregistered: false
        }
    );
    let v = send(&mut mn, &one(drain_cn(&mut cn))).verdict;
    v.assert_clean("BA 0 after the forgery");
    assert_eq!(
        (v.status, v.seq, v.auth_ok),
        (Some(0), Some(seq.wrapping_add(1)), Some(true))
    );

    // Data with a HAO: for an unknown home address Binding Error 1; for the bound one
    // from the registered care-of address, translated, no error.
    for proto in ["icmp", "udp"] {
        let data: Reply = mn.request(&json!({"op": "data", "hoa": UNKNOWN_HOA, "proto": proto}));
        assert_eq!(data.verdict.checksum_ok, Some(true));
        let parsed = parse_from_scapy(&data.send[0].0);
        assert_eq!(parsed.repr.hao, Some(a(UNKNOWN_HOA)));
        match (&parsed.repr.upper, proto) {
            (Upper::Icmpv6(i), "icmp") => assert_eq!((i.msg_type, i.code), (128, 0)),
            (Upper::Udp(u), "udp") => assert_eq!(u.payload, b"vany rr"),
            (other, _) => panic!("{proto}: {other:?}"),
        }
        assert_eq!(cn.ingress(t(2), &parsed.repr), Ingress::Drop, "{proto}");
        let v = send(&mut mn, &one(drain_cn(&mut cn))).verdict;
        v.assert_clean("BE 1");
        assert_eq!(v.kind, "BE");
        assert_eq!(
            (v.status, v.ha),
            (Some(be_status::UNKNOWN_BINDING), Some(a(UNKNOWN_HOA))),
            "{proto}"
        );
        assert_eq!((v.src, v.dst, v.rh2), (Some(a(CN)), Some(a(COA)), None));
    }
    let data: Reply = mn.request(&json!({"op": "data", "hoa": HOA, "proto": "udp"}));
    let parsed = parse_from_scapy(&data.send[0].0);
    assert_eq!(cn.ingress(t(2), &parsed.repr), Ingress::FromHome(a(HOA)));
    assert!(
        cn.poll_transmit().is_none(),
        "no BE for a bound home address"
    );

    // An unknown MH type: Binding Error 2 to the source. With a HAO its home address is
    // the HAO's; without one, the unspecified address.
    for with_hao in [true, false] {
        let unknown: Reply =
            mn.request(&json!({"op": "unknown_mh", "mh_type": 42, "hao": with_hao}));
        assert_eq!(unknown.verdict.checksum_ok, Some(true));
        let parsed = parse_from_scapy(&unknown.send[0].0);
        assert!(matches!(
            mh_of(&parsed).message,
            MhMessage::Unknown { mh_type: 42, .. }
        ));
        assert_eq!(
            cn.handle_mh(t(3), &mut rng, &parsed),
            MhOutcome::UnknownType
        );
        let v = send(&mut mn, &one(drain_cn(&mut cn))).verdict;
        v.assert_clean("BE 2");
        assert_eq!(v.kind, "BE");
        assert_eq!(v.status, Some(be_status::UNKNOWN_MH_TYPE));
        assert_eq!((v.src, v.dst, v.rh2), (Some(a(CN)), Some(a(COA)), None));
        let expected_home = if with_hao {
            a(HOA)
        } else {
            Ipv6Addr::UNSPECIFIED
        };
        assert_eq!(v.ha, Some(expected_home));
    }

    let stats = cn.stats();
    assert_eq!((stats.hot_sent, stats.cot_sent), (1, 1));
    assert_eq!(
        (
            stats.bu_accepted,
            stats.bu_refused,
            stats.bu_bad_auth,
            stats.bu_discarded
        ),
        (2, 1, 1, 0)
    );
    assert_eq!((stats.ba_sent, stats.be_sent, stats.hao_dropped), (3, 4, 2));
    mn.finish();
}
