//! The correspondent node and the mobile-node side, one rule per test, with explicit
//! times (RFC 6275 §5.2, §9.5, §11.7).

use std::net::Ipv6Addr;

use vany_stack::mip6::cn::{
    be_status, seq_newer, status, CnConfig, CorrespondentNode, DiscardReason, Ingress, MhOutcome,
};
use vany_stack::mip6::mn::{BindingStatus, MnError, MnEvent, MobileNode};
use vany_stack::mip6::rr::{self, Kcn};
use vany_stack::rand::SeededRandom;
use vany_stack::testing::{emit, mh_packet, BuBuilder};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, MhMessage, PacketRepr, Upper};

const CN: &str = "fd00:1::1";
const HOA: &str = "fd00:aa::1";
const COA: &str = "fd00:2::2";
const COA2: &str = "fd00:3::3";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(1000) + Duration::from_secs(secs)
}

struct World {
    cn: CorrespondentNode,
    mn: MobileNode,
    rng: SeededRandom,
}

impl World {
    fn new(config: CnConfig) -> Self {
        World {
            cn: CorrespondentNode::with_kcn(config, Kcn::from_bytes([7; 20])),
            mn: MobileNode::new(a(HOA), Duration::from_secs(420)),
            rng: SeededRandom::new(1),
        }
    }

    /// Delivers everything the MN queued to the CN; returns the outcomes.
    fn mn_to_cn(&mut self, now: Instant) -> Vec<MhOutcome> {
        let mut outcomes = Vec::new();
        while let Some(pkt) = self.mn.poll_transmit() {
            let parsed = wire::parse(&pkt).unwrap();
            outcomes.push(self.cn.handle_mh(now, &mut self.rng, &parsed));
        }
        outcomes
    }

    /// Delivers everything the CN queued to the MN; returns the events.
    fn cn_to_mn(&mut self, now: Instant) -> Vec<MnEvent> {
        let mut events = Vec::new();
        while let Some(pkt) = self.cn.poll_transmit() {
            let parsed = wire::parse(&pkt).unwrap();
            if let Some(e) = self.mn.handle_mh(now, &parsed) {
                events.push(e);
            }
        }
        events
    }

    /// Return routability for `coa` at `now`.
    fn tokens(&mut self, now: Instant, coa: Ipv6Addr) {
        self.mn.start_home_test_random(now, &mut self.rng, a(CN));
        self.mn.start_care_of_test(now, &mut self.rng, a(CN), coa);
        assert_eq!(
            self.mn_to_cn(now),
            vec![MhOutcome::TestAnswered, MhOutcome::TestAnswered]
        );
        let events = self.cn_to_mn(now);
        assert!(matches!(events[0], MnEvent::HomeToken { .. }));
        assert!(matches!(events[1], MnEvent::CareOfToken { .. }));
    }

    fn bind(&mut self, now: Instant, coa: Ipv6Addr) {
        self.tokens(now, coa);
        self.mn.send_bu(now, a(CN), coa).unwrap();
        assert_eq!(
            self.mn_to_cn(now),
            vec![MhOutcome::Accepted {
                deregistered: false
            }]
        );
        let events = self.cn_to_mn(now);
        assert!(matches!(events[0], MnEvent::Bound { .. }), "{events:?}");
    }
}

#[test]
fn return_routability_and_binding_update_are_accepted_and_acknowledged() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    let b = w.cn.binding(&a(HOA)).unwrap();
    assert_eq!(b.care_of, a(COA));
    assert_eq!(b.seq, 1);
    assert_eq!(w.mn.export(&a(CN)).unwrap().status, BindingStatus::Bound);
    assert_eq!(w.cn.egress(t(1), &a(HOA)), Some(a(COA)));
}

#[test]
fn hoti_and_coti_keep_no_state_at_the_cn() {
    let mut w = World::new(CnConfig::default());
    for i in 0..100 {
        w.mn.start_home_test_random(t(i), &mut w.rng, a(CN));
        w.mn_to_cn(t(i));
    }
    assert_eq!(w.cn.binding_count(), 0);
    assert_eq!(w.cn.stats().hot_sent, 100);
}

#[test]
fn lifetime_is_clamped_to_420_seconds() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    // Forge a BU asking for 1000 units (4000 s) with the real Kbm.
    let state = w.mn.export(&a(CN)).unwrap();
    let kbm = rr::kbm(
        &state.home_token.unwrap().token,
        Some(&state.care_of_token.unwrap().token),
    );
    let pkt = bu_packet(5, 1000, &state, a(COA), &kbm, true);
    let parsed = wire::parse(&pkt).unwrap();
    assert_eq!(
        w.cn.handle_mh(t(1), &mut w.rng, &parsed),
        MhOutcome::Accepted {
            deregistered: false
        }
    );
    assert_eq!(
        w.cn.binding(&a(HOA)).unwrap().expires,
        t(1) + Duration::from_secs(420)
    );
}

/// A hand-made BU with the tokens in `state`.
fn bu_packet(
    seq: u16,
    lifetime: u16,
    state: &vany_stack::mip6::mn::BindingState,
    coa: Ipv6Addr,
    kbm: &rr::Kbm,
    ack: bool,
) -> Vec<u8> {
    BuBuilder::new(a(HOA), coa, a(CN))
        .seq(seq)
        .lifetime(lifetime)
        .ack(ack)
        .nonces(
            state.home_token.unwrap().nonce_index,
            state.care_of_token.map_or(0, |t| t.nonce_index),
        )
        .signed(kbm)
}

#[test]
fn sequence_numbers_compare_modulo_2_16() {
    assert!(seq_newer(1, 0));
    assert!(seq_newer(0, 65535), "wrap-around");
    assert!(seq_newer(10, 65530));
    assert!(!seq_newer(5, 5));
    assert!(!seq_newer(65530, 10));
    assert!(
        !seq_newer(32768u16.wrapping_add(7), 7),
        "half the space away is not newer"
    );
}

#[test]
fn binding_updates_across_the_sequence_wrap_are_accepted() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    let state = w.mn.export(&a(CN)).unwrap();
    let kbm = rr::kbm(
        &state.home_token.unwrap().token,
        Some(&state.care_of_token.unwrap().token),
    );
    for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
        let pkt = bu_packet(seq, 100, &state, a(COA), &kbm, false);
        let out =
            w.cn.handle_mh(t(1 + i as u64), &mut w.rng, &wire::parse(&pkt).unwrap());
        assert_eq!(
            out,
            MhOutcome::Accepted {
                deregistered: false
            },
            "seq {seq}"
        );
    }
    assert_eq!(w.cn.binding(&a(HOA)).unwrap().seq, 1);
}

#[test]
fn replayed_binding_update_gets_status_135_with_the_last_sequence_number() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    w.mn.send_bu(t(0), a(CN), a(COA)).unwrap();
    let bu = w.mn.poll_transmit().unwrap();
    let parsed = wire::parse(&bu).unwrap();
    assert_eq!(
        w.cn.handle_mh(t(1), &mut w.rng, &parsed),
        MhOutcome::Accepted {
            deregistered: false
        }
    );
    w.cn.poll_transmit();
    // The same packet again.
    assert_eq!(
        w.cn.handle_mh(t(2), &mut w.rng, &parsed),
        MhOutcome::Refused(status::SEQUENCE_OUT_OF_WINDOW)
    );
    assert_eq!(w.cn.stats().bu_stale_seq, 1);
    let ba = w.cn.poll_transmit().unwrap();
    let ba = wire::parse(&ba).unwrap();
    match &ba.repr.upper {
        Upper::Mh(m) => match m.message {
            MhMessage::Ba(b) => {
                assert_eq!((b.status, b.seq), (135, 1));
                assert!(m.authenticator().is_some(), "135 is signed");
            }
            _ => panic!("not a BA"),
        },
        _ => panic!(),
    }
}

#[test]
fn mobile_node_takes_the_cns_sequence_number_on_135_and_resends() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    // Another member (fresh MN state) starts from sequence 0 with the same tokens.
    let state = w.mn.export(&a(CN)).unwrap();
    let mut other = MobileNode::new(a(HOA), Duration::from_secs(420));
    let mut stale = state.clone();
    stale.seq = 0;
    stale.seq = stale.seq.wrapping_sub(1);
    other.import(stale, t(0), t(0));
    std::mem::swap(&mut w.mn, &mut other);
    w.mn.send_bu(t(1), a(CN), a(COA)).unwrap();
    assert_eq!(w.mn_to_cn(t(1)), vec![MhOutcome::Refused(135)]);
    assert!(
        w.cn_to_mn(t(1)).is_empty(),
        "the MN resends instead of reporting"
    );
    assert_eq!(
        w.mn_to_cn(t(1)),
        vec![MhOutcome::Accepted {
            deregistered: false
        }]
    );
    assert!(matches!(w.cn_to_mn(t(1))[0], MnEvent::Bound { .. }));
    assert_eq!(w.cn.binding(&a(HOA)).unwrap().seq, 2);
}

#[test]
fn forged_authenticator_is_silently_discarded_and_counted() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    w.mn.send_bu(t(0), a(CN), a(COA)).unwrap();
    let mut bu = w.mn.poll_transmit().unwrap();
    let n = bu.len();
    bu[n - 1] ^= 1; // flip a bit of the authenticator
    let mut parsed = wire::parse(&bu).unwrap();
    parsed.checksum_ok = true; // isolate the authenticator check
    assert_eq!(
        w.cn.handle_mh(t(1), &mut w.rng, &parsed),
        MhOutcome::Discarded(DiscardReason::BadAuthenticator)
    );
    assert_eq!(w.cn.stats().bu_bad_auth, 1);
    assert!(w.cn.poll_transmit().is_none(), "no BA for a forgery");
    assert!(w.cn.binding(&a(HOA)).is_none());
}

#[test]
fn bad_checksum_is_discarded() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    w.mn.send_bu(t(0), a(CN), a(COA)).unwrap();
    let mut bu = w.mn.poll_transmit().unwrap();
    bu[64 + 4] ^= 0xff;
    let parsed = wire::parse(&bu).unwrap();
    assert_eq!(
        w.cn.handle_mh(t(1), &mut w.rng, &parsed),
        MhOutcome::Discarded(DiscardReason::BadChecksum)
    );
}

#[test]
fn binding_update_without_nonce_indices_or_auth_data_is_discarded() {
    let mut w = World::new(CnConfig::default());
    let buf = BuBuilder::new(a(HOA), a(COA), a(CN)).build();
    assert_eq!(
        w.cn.handle_mh(t(0), &mut w.rng, &wire::parse(&buf).unwrap()),
        MhOutcome::Discarded(DiscardReason::MissingNonceIndices)
    );
}

#[test]
fn home_registration_flag_gets_status_131() {
    let mut w = World::new(CnConfig::default());
    let buf = BuBuilder::new(a(HOA), a(COA), a(CN))
        .home_registration()
        .nonces(0, 0)
        .auth_data([0; 12])
        .build();
    assert_eq!(
        w.cn.handle_mh(t(0), &mut w.rng, &wire::parse(&buf).unwrap()),
        MhOutcome::Refused(status::HOME_REGISTRATION_NOT_SUPPORTED)
    );
}

#[test]
fn tokens_expire_at_the_nonce_lifetime_boundaries() {
    // Tokens obtained at 0: the nonce was made at 0, so it is accepted through 240 s.
    for (at, expected) in [
        (
            209,
            MhOutcome::Accepted {
                deregistered: false,
            },
        ),
        (
            239,
            MhOutcome::Accepted {
                deregistered: false,
            },
        ),
        (241, MhOutcome::Refused(status::EXPIRED_NONCES)),
    ] {
        let mut w = World::new(CnConfig::default());
        w.tokens(t(0), a(COA));
        let state = w.mn.export(&a(CN)).unwrap();
        let kbm = rr::kbm(
            &state.home_token.unwrap().token,
            Some(&state.care_of_token.unwrap().token),
        );
        let pkt = bu_packet(1, 100, &state, a(COA), &kbm, true);
        assert_eq!(
            w.cn.handle_mh(t(at), &mut w.rng, &wire::parse(&pkt).unwrap()),
            expected,
            "at {at} s"
        );
    }
}

#[test]
fn mobile_node_refuses_to_use_a_token_older_than_210_seconds() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    assert!(w.mn.send_bu(t(209), a(CN), a(COA)).is_ok());
    w.mn.poll_transmit();
    assert_eq!(
        w.mn.send_bu(t(211), a(CN), a(COA)),
        Err(MnError::NoHomeToken)
    );
}

#[test]
fn bu_lifetime_is_at_most_the_token_validity() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    w.mn.send_bu(t(200), a(CN), a(COA)).unwrap();
    let bu = w.mn.poll_transmit().unwrap();
    let parsed = wire::parse(&bu).unwrap();
    match parsed.repr.upper {
        Upper::Mh(m) => match m.message {
            MhMessage::Bu(b) => assert_eq!(b.lifetime, 2, "10 s of token validity left: 2 units"),
            _ => panic!(),
        },
        _ => panic!(),
    }
}

#[test]
fn expired_home_nonce_only_gets_136_and_the_mn_redoes_the_home_test() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    // A fresh care-of test at 200 s (the CN makes a new nonce); the home token is from 0 s.
    w.mn.start_care_of_test(t(200), &mut w.rng, a(CN), a(COA));
    w.mn_to_cn(t(200));
    w.cn_to_mn(t(200));
    w.mn.send_bu(t(205), a(CN), a(COA)).unwrap();
    let bu = w.mn.poll_transmit().unwrap();
    // The BU is held up in the network until the home nonce (made at 0 s) expired.
    assert_eq!(
        w.cn.handle_mh(t(241), &mut w.rng, &wire::parse(&bu).unwrap()),
        MhOutcome::Refused(status::EXPIRED_HOME_NONCE)
    );
    let ba = w.cn.poll_transmit().unwrap();
    let ba = wire::parse(&ba).unwrap();
    if let Upper::Mh(m) = &ba.repr.upper {
        assert!(
            m.authenticator().is_none(),
            "136 is unsigned: no Kbm can be computed"
        );
    }
    assert_eq!(
        w.mn.handle_mh(t(241), &ba),
        Some(MnEvent::NeedHomeTest {
            correspondent: a(CN)
        })
    );
    assert_eq!(
        w.mn.send_bu(t(241), a(CN), a(COA)),
        Err(MnError::NoHomeToken)
    );
}

#[test]
fn binding_cache_full_gets_status_130_and_never_evicts() {
    let mut w = World::new(CnConfig {
        capacity: 1,
        ..CnConfig::default()
    });
    w.bind(t(0), a(COA));
    // A second mobile node (another home address).
    let mut other = MobileNode::new(a("fd00:bb::1"), Duration::from_secs(420));
    std::mem::swap(&mut w.mn, &mut other);
    w.tokens(t(1), a(COA2));
    w.mn.send_bu(t(1), a(CN), a(COA2)).unwrap();
    assert_eq!(
        w.mn_to_cn(t(1)),
        vec![MhOutcome::Refused(status::INSUFFICIENT_RESOURCES)]
    );
    assert!(matches!(
        w.cn_to_mn(t(1))[0],
        MnEvent::Refused { status: 130, .. }
    ));
    assert!(w.cn.binding(&a(HOA)).is_some(), "the live binding stays");
    assert_eq!(w.cn.binding_count(), 1);
}

#[test]
fn deregistration_with_lifetime_zero_deletes_the_binding() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    w.mn.deregister(t(5), a(CN), a(COA)).unwrap();
    assert_eq!(
        w.mn_to_cn(t(5)),
        vec![MhOutcome::Accepted { deregistered: true }]
    );
    assert!(w.cn.binding(&a(HOA)).is_none());
    assert_eq!(
        w.cn_to_mn(t(5)),
        vec![MnEvent::Deregistered {
            correspondent: a(CN)
        }]
    );
}

#[test]
fn deregistration_from_the_home_address_is_accepted() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    // CoA == HoA: sent from the home address, no HAO.
    w.mn.deregister(t(5), a(CN), a(HOA)).unwrap();
    assert_eq!(
        w.mn_to_cn(t(5)),
        vec![MhOutcome::Accepted { deregistered: true }]
    );
    assert!(w.cn.binding(&a(HOA)).is_none());
}

#[test]
fn deregistration_mac_with_home_address_as_care_of_is_accepted_too() {
    // RFC 6275 computes the deregistration MAC with the home address in the care-of
    // position; UMIP/KAME use the actual care-of address (tested above). Accept both.
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    let state = w.mn.export(&a(CN)).unwrap();
    let kbm = rr::kbm(&state.home_token.unwrap().token, None);
    let pkt = bu_packet(9, 0, &state, a(COA), &kbm, false);
    let parsed = wire::parse(&pkt).unwrap();
    let mut forged_rfc = pkt.clone();
    // Recompute the authenticator with the home address as care-of address.
    let mh = &parsed.upper_bytes;
    let auth = rr::authenticator(&kbm, &a(HOA), &a(CN), mh).unwrap();
    let n = forged_rfc.len();
    forged_rfc[n - 12..].copy_from_slice(&auth);
    let mut p = wire::parse(&forged_rfc).unwrap();
    p.checksum_ok = true;
    assert_eq!(
        w.cn.handle_mh(t(5), &mut w.rng, &p),
        MhOutcome::Accepted { deregistered: true }
    );
}

#[test]
fn replay_after_deregistration_is_refused_while_the_nonces_live() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    w.mn.send_bu(t(0), a(CN), a(COA)).unwrap();
    let old_bu = w.mn.poll_transmit().unwrap();
    w.cn.handle_mh(t(0), &mut w.rng, &wire::parse(&old_bu).unwrap());
    w.cn.poll_transmit();
    w.mn.deregister(t(1), a(CN), a(COA)).unwrap();
    w.mn_to_cn(t(1));
    assert!(w.cn.binding(&a(HOA)).is_none());
    // RFC 6275 §5.2.8: the old BU must not recreate the binding.
    assert_eq!(
        w.cn.handle_mh(t(2), &mut w.rng, &wire::parse(&old_bu).unwrap()),
        MhOutcome::Refused(135)
    );
    assert!(w.cn.binding(&a(HOA)).is_none());
}

#[test]
fn hao_packet_without_binding_gets_binding_error_1_rate_limited() {
    let mut w = World::new(CnConfig {
        binding_errors_per_second: 2,
        ..CnConfig::default()
    });
    let mut data = PacketRepr::new(a(COA), a(CN), Upper::None);
    data.hao = Some(a(HOA));
    for _ in 0..5 {
        assert_eq!(w.cn.ingress(t(0), &data), Ingress::Drop);
    }
    assert_eq!(w.cn.stats().be_sent, 2);
    assert_eq!(w.cn.stats().be_suppressed, 3);
    let be = w.cn.poll_transmit().unwrap();
    let be = wire::parse(&be).unwrap();
    assert_eq!(be.repr.dst, a(COA));
    match be.repr.upper {
        Upper::Mh(m) => assert_eq!(
            m.message,
            MhMessage::Be {
                status: be_status::UNKNOWN_BINDING,
                home_address: a(HOA)
            }
        ),
        _ => panic!(),
    }
    // A second later the limit resets.
    w.cn.ingress(t(1), &data);
    assert_eq!(w.cn.stats().be_sent, 3);
}

#[test]
fn hao_packet_with_binding_is_translated_to_the_home_address() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    let mut data = PacketRepr::new(a(COA), a(CN), Upper::None);
    data.hao = Some(a(HOA));
    assert_eq!(w.cn.ingress(t(1), &data), Ingress::FromHome(a(HOA)));
    // From another care-of address: refused.
    let mut wrong = data.clone();
    wrong.src = a(COA2);
    assert_eq!(w.cn.ingress(t(1), &wrong), Ingress::Drop);
}

#[test]
fn unknown_mh_type_gets_binding_error_2() {
    let mut w = World::new(CnConfig::default());
    let body = [0u8; 10];
    let buf = emit(&mh_packet(
        a(COA),
        a(CN),
        MhMessage::Unknown {
            mh_type: 42,
            body: &body,
        },
    ));
    assert_eq!(
        w.cn.handle_mh(t(0), &mut w.rng, &wire::parse(&buf).unwrap()),
        MhOutcome::UnknownType
    );
    let be = w.cn.poll_transmit().unwrap();
    let parsed = wire::parse(&be).unwrap();
    match parsed.repr.upper {
        Upper::Mh(m) => assert!(matches!(m.message, MhMessage::Be { status: 2, .. })),
        _ => panic!(),
    }
}

#[test]
fn binding_refresh_request_before_expiry_while_in_use() {
    let mut w = World::new(CnConfig {
        refresh_lead: Duration::from_secs(30),
        ..CnConfig::default()
    });
    w.bind(t(0), a(COA));
    let expires = w.cn.binding(&a(HOA)).unwrap().expires;
    assert_eq!(w.cn.poll_timeout(), Some(expires - Duration::from_secs(30)));
    w.cn.egress(expires - Duration::from_secs(40), &a(HOA)); // in use
    w.cn.handle_timeout(expires - Duration::from_secs(30), a(CN));
    let brr = w.cn.poll_transmit().expect("BRR");
    let brr = wire::parse(&brr).unwrap();
    assert_eq!(brr.repr.dst, a(HOA));
    assert_eq!(
        w.mn.handle_mh(t(0), &brr),
        Some(MnEvent::RefreshRequested {
            correspondent: a(CN)
        })
    );
    w.cn.handle_timeout(expires, a(CN));
    assert!(w.cn.binding(&a(HOA)).is_none(), "expired");
}

#[test]
fn no_refresh_request_for_an_idle_binding() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    let expires = w.cn.binding(&a(HOA)).unwrap().expires;
    w.cn.handle_timeout(expires - Duration::from_secs(30), a(CN));
    assert!(w.cn.poll_transmit().is_none());
}

#[test]
fn max_update_rate_limits_binding_updates() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    for _ in 0..3 {
        w.mn.send_bu(t(1), a(CN), a(COA)).unwrap();
    }
    assert_eq!(w.mn.send_bu(t(1), a(CN), a(COA)), Err(MnError::RateLimited));
    assert!(w.mn.send_bu(t(2), a(CN), a(COA)).is_ok());
}

#[test]
fn hoti_coti_and_bu_are_retransmitted_with_doubling_timeouts() {
    let mut w = World::new(CnConfig::default());
    w.mn.start_home_test_random(t(0), &mut w.rng, a(CN));
    w.mn.poll_transmit();
    let mut gaps = Vec::new();
    let mut now = t(0);
    for _ in 0..7 {
        let next = w.mn.poll_timeout().unwrap();
        gaps.push(next.saturating_since(now).secs());
        now = next;
        w.mn.handle_timeout(now);
        assert!(w.mn.poll_transmit().is_some(), "retransmitted");
    }
    assert_eq!(gaps, vec![1, 2, 4, 8, 16, 32, 32]);
}

#[test]
fn tokens_and_sequence_travel_between_members() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    // Member 2 (another clock) imports the state, runs its own care-of test, binds.
    let state = w.mn.export(&a(CN)).unwrap();
    let mut member2 = MobileNode::new(a(HOA), Duration::from_secs(420));
    member2.import(state, t(10), Instant::from_secs(5));
    std::mem::swap(&mut w.mn, &mut member2);
    let now2 = Instant::from_secs(6);
    w.mn.start_care_of_test(now2, &mut w.rng, a(CN), a(COA2));
    w.mn_to_cn(t(11));
    w.cn_to_mn(now2);
    assert_eq!(w.mn.send_bu(now2, a(CN), a(COA2)), Ok(2));
    assert_eq!(
        w.mn_to_cn(t(11)),
        vec![MhOutcome::Accepted {
            deregistered: false
        }]
    );
    assert_eq!(w.cn.binding(&a(HOA)).unwrap().care_of, a(COA2));
    assert!(matches!(w.cn_to_mn(now2)[0], MnEvent::Bound { .. }));
}

#[test]
fn home_token_with_a_foreign_cookie_is_reported_for_relaying() {
    let mut w = World::new(CnConfig::default());
    // The contact node's MN instance did not send this HoTI: another contact node did.
    let mut other = MobileNode::new(a(HOA), Duration::from_secs(420));
    other.start_home_test(t(0), a(CN), *b"member07");
    let hoti = other.poll_transmit().unwrap();
    w.cn.handle_mh(t(0), &mut w.rng, &wire::parse(&hoti).unwrap());
    let hot = w.cn.poll_transmit().unwrap();
    let parsed = wire::parse(&hot).unwrap();
    match w.mn.handle_mh(t(0), &parsed) {
        Some(MnEvent::ForeignHomeToken { cookie, .. }) => assert_eq!(&cookie, b"member07"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsigned_success_ba_is_dropped_by_the_mobile_node() {
    let mut w = World::new(CnConfig::default());
    w.tokens(t(0), a(COA));
    let seq = w.mn.send_bu(t(0), a(CN), a(COA)).unwrap();
    w.mn.poll_transmit();
    let mut ba = mh_packet(
        a(CN),
        a(COA),
        MhMessage::Ba(wire::BindingAck {
            seq,
            lifetime: 100,
            ..Default::default()
        }),
    );
    ba.rh2 = Some(a(HOA));
    let buf = emit(&ba);
    assert_eq!(w.mn.handle_mh(t(0), &wire::parse(&buf).unwrap()), None);
    assert_eq!(w.mn.stats().ba_dropped, 1);
}

/// A Binding Error status 2 ("unrecognized MH type") from `CN` to `coa`, as anyone on
/// the path could forge it (it carries no authenticator).
fn binding_error_2(coa: Ipv6Addr) -> Vec<u8> {
    emit(&mh_packet(
        a(CN),
        coa,
        MhMessage::Be {
            status: 2,
            home_address: a(HOA),
        },
    ))
}

/// Issue 11 item 3: a spoofed Binding Error status 2 pinned a client forever (and its
/// state travelled in every handoff). One that answers no BU is ignored and counted; one
/// that does turns route optimization off for `UNSUPPORTED_HOLD` only, and never travels.
#[test]
fn binding_error_2_is_a_hint_that_expires_and_stays_home() {
    let mut w = World::new(CnConfig::default());
    w.bind(t(0), a(COA));
    // No BU awaits an answer: ignored.
    let be = binding_error_2(a(COA));
    assert_eq!(w.mn.handle_mh(t(1), &wire::parse(&be).unwrap()), None);
    assert_eq!(w.mn.stats().be_ignored, 1);
    assert!(w.mn.send_bu(t(2), a(CN), a(COA)).is_ok());
    while w.mn.poll_transmit().is_some() {} // that BU is lost on its way
                                            // While that BU awaits its BA, a BE status 2 counts: no BU for a while...
    assert_eq!(w.mn.handle_mh(t(2), &wire::parse(&be).unwrap()), None);
    assert_eq!(w.mn.send_bu(t(3), a(CN), a(COA)), Err(MnError::Unsupported));
    // ... not carried to another member ...
    let exported = w.mn.export(&a(CN)).unwrap();
    assert_ne!(exported.status, BindingStatus::Unsupported);
    // ... and tried again once the hold is over.
    let later = t(2) + vany_stack::mip6::mn::UNSUPPORTED_HOLD;
    w.tokens(later, a(COA));
    assert!(w.mn.send_bu(later, a(CN), a(COA)).is_ok());
}
