//! A correspondent node is not a reflector (issue 11 item 10): HoTI/CoTI answers and the
//! unsigned BAs that refuse a Binding Update go out at most so many per second to any
//! one /64 (RFC 6275 §9.3.3, §15.4), the rest is counted, and a correspondent that is
//! flooded from one prefix still completes return routability and binds with a mobile
//! node elsewhere.

use std::net::Ipv6Addr;

use vany_stack::mip6::cn::{status, CnConfig, CorrespondentNode, MhOutcome};
use vany_stack::mip6::mn::{MnEvent, MobileNode};
use vany_stack::mip6::rr::Kcn;
use vany_stack::rand::SeededRandom;
use vany_stack::testing::{self, nonce_and_auth};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, MhMessage, MhOptions, MhRepr, PacketRepr, Upper};

const CN: &str = "fd00:1::1";
const HOA: &str = "fd00:aa::1";
const COA: &str = "fd00:2::2";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn t(millis: u64) -> Instant {
    Instant::from_secs(1000) + Duration::from_millis(millis)
}

/// Host `i` of the attacker's /64.
fn spoofed(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xbad, 0, 0, 0, 0, (i >> 16) as u16, i as u16 + 1)
}

fn packet(
    src: Ipv6Addr,
    hao: Option<Ipv6Addr>,
    message: MhMessage<'static>,
    auth: bool,
) -> Vec<u8> {
    let options = if auth {
        nonce_and_auth(0, 0)
    } else {
        MhOptions::new()
    };
    let mut repr = PacketRepr::new(src, a(CN), Upper::Mh(MhRepr { message, options }));
    repr.hao = hao;
    testing::emit(&repr)
}

fn cn() -> CorrespondentNode {
    CorrespondentNode::with_kcn(CnConfig::default(), Kcn::from_bytes([7; 20]))
}

fn sent(cn: &mut CorrespondentNode) -> usize {
    std::iter::from_fn(|| cn.poll_transmit()).count()
}

#[test]
fn tests_from_one_prefix_are_answered_at_most_so_many_per_second() {
    let mut cn = cn();
    let mut rng = SeededRandom::new(1);
    let limit = CnConfig::default().answers_per_prefix_per_second as usize;
    for i in 0..1000 {
        let message = if i % 2 == 0 {
            MhMessage::Hoti { cookie: [1; 8] }
        } else {
            MhMessage::Coti { cookie: [2; 8] }
        };
        let p = packet(spoofed(i), None, message, false);
        cn.handle_mh(t(u64::from(i) / 2), &mut rng, &wire::parse(&p).unwrap());
    }
    assert_eq!(
        sent(&mut cn),
        limit,
        "answers to the flooded /64 in one second"
    );
    assert_eq!(cn.stats().tests_rate_limited, 1000 - limit as u64);
    // Another /64 is answered in the same second.
    let p = packet(a(COA), None, MhMessage::Coti { cookie: [3; 8] }, false);
    let outcome = cn.handle_mh(t(600), &mut rng, &wire::parse(&p).unwrap());
    assert_eq!(outcome, MhOutcome::TestAnswered);
    assert_eq!(sent(&mut cn), 1);
    // And the flooded one again in the next second.
    let p = packet(spoofed(1), None, MhMessage::Hoti { cookie: [1; 8] }, false);
    let outcome = cn.handle_mh(t(1600), &mut rng, &wire::parse(&p).unwrap());
    assert_eq!(outcome, MhOutcome::TestAnswered);
}

#[test]
fn refused_binding_updates_get_bounded_unsigned_answers() {
    let mut cn = cn();
    let mut rng = SeededRandom::new(1);
    let limit = CnConfig::default().answers_per_prefix_per_second as u64;
    // BUs asking for home registration (status 131, an unsigned BA to the claimed
    // care-of address) from 1000 claimed care-of addresses in one /64.
    for i in 0..1000 {
        let bu = MhMessage::Bu(wire::BindingUpdate {
            home: true,
            ..Default::default()
        });
        let p = packet(spoofed(i), Some(a(HOA)), bu, true);
        let outcome = cn.handle_mh(t(u64::from(i) / 2), &mut rng, &wire::parse(&p).unwrap());
        assert_eq!(
            outcome,
            MhOutcome::Refused(status::HOME_REGISTRATION_NOT_SUPPORTED)
        );
    }
    let stats = cn.stats();
    assert_eq!(sent(&mut cn) as u64, limit);
    assert_eq!(stats.ba_sent, limit);
    assert_eq!(stats.ba_rate_limited, 1000 - limit);
    assert_eq!(stats.bu_refused, 1000, "every refusal counted");
}

#[test]
fn a_flood_from_one_prefix_does_not_keep_a_mobile_node_elsewhere_from_binding() {
    let mut cn = cn();
    let mut mn = MobileNode::new(a(HOA), Duration::from_secs(420));
    let mut rng = SeededRandom::new(1);
    let mut cn_rng = SeededRandom::new(2);
    let flood = |cn: &mut CorrespondentNode, rng: &mut SeededRandom, at: Instant| {
        for i in 0..200 {
            let p = packet(spoofed(i), None, MhMessage::Hoti { cookie: [1; 8] }, false);
            cn.handle_mh(at, rng, &wire::parse(&p).unwrap());
        }
    };
    flood(&mut cn, &mut cn_rng, t(0));
    let _ = sent(&mut cn);
    mn.start_home_test_random(t(1), &mut rng, a(CN));
    mn.start_care_of_test(t(1), &mut rng, a(CN), a(COA));
    let mut deliver = |mn: &mut MobileNode, cn: &mut CorrespondentNode, at: Instant| {
        let mut events = Vec::new();
        while let Some(p) = mn.poll_transmit() {
            cn.handle_mh(at, &mut cn_rng, &wire::parse(&p).unwrap());
        }
        flood(cn, &mut cn_rng, at);
        while let Some(p) = cn.poll_transmit() {
            let parsed = wire::parse(&p).unwrap();
            if parsed.repr.dst.segments()[1] == 0xbad {
                continue; // the flood's answers go to the attacker's prefix
            }
            events.extend(mn.handle_mh(at, &parsed));
        }
        events
    };
    let events = deliver(&mut mn, &mut cn, t(2));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MnEvent::HomeToken { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MnEvent::CareOfToken { .. })),
        "{events:?}"
    );
    mn.send_bu(t(3), a(CN), a(COA)).unwrap();
    let events = deliver(&mut mn, &mut cn, t(3));
    assert!(
        events.iter().any(|e| matches!(e, MnEvent::Bound { .. })),
        "{events:?}"
    );
    assert!(cn.stats().tests_rate_limited > 0);
}
