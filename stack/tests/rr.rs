//! Return routability: nonce lifetimes, Kbm forms, signing and verifying BUs and BAs.
//! (The values themselves are checked against Python's hmac/hashlib in vany-tests.)

use std::net::Ipv6Addr;

use vany_stack::mip6::nonce::{
    NonceTable, MAX_NONCE_LIFETIME, MAX_TOKEN_LIFETIME, NONCE_REGENERATION,
};
use vany_stack::mip6::rr::{self, AuthError, Kcn};
use vany_stack::rand::SeededRandom;
use vany_stack::testing::BuBuilder;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{
    self, BindingAck, MhMessage, MhOption, MhOptions, MhRepr, PacketRepr, Upper,
};

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn bu_packet(alt_coa: Option<Ipv6Addr>) -> PacketRepr<'static> {
    let bu = BuBuilder::new(addr("fd00:aa::1"), addr("fd00:2::2"), addr("fd00:1::1"))
        .seq(77)
        .ack(true)
        .lifetime(100)
        .nonces(1, 2)
        .auth_data([0; 12]);
    match alt_coa {
        Some(alt) => bu.alt_coa(alt).repr(),
        None => bu.repr(),
    }
}

#[test]
fn tokens_differ_by_role_and_kbm_forms_differ() {
    let kcn = Kcn::generate(&mut SeededRandom::new(1));
    let a = addr("fd00::1");
    let nonce = [9u8; 8];
    let home = kcn.home_keygen_token(&a, &nonce);
    let care_of = kcn.care_of_keygen_token(&a, &nonce);
    assert_ne!(
        home, care_of,
        "the final 0 / 1 octet separates the two tokens"
    );
    assert_ne!(rr::kbm(&home, Some(&care_of)), rr::kbm(&home, None));
    assert_eq!(kcn.home_keygen_token(&a, &nonce), home, "deterministic");
}

#[test]
fn signed_bu_verifies_and_any_flipped_bit_does_not() {
    let kbm = [0x42u8; 20];
    let repr = bu_packet(None);
    let mut buf = vec![0u8; repr.buffer_len()];
    let len = rr::emit_signed(&repr, &kbm, &mut buf).unwrap();
    let parsed = wire::parse_verified(&buf[..len]).unwrap();
    assert!(rr::verify_packet(&parsed, &kbm).unwrap());
    assert!(!rr::verify_packet(&parsed, &[0x43; 20]).unwrap());
    // Flip each bit of the MH except the checksum: the authenticator no longer verifies
    // (or the packet no longer parses).
    let mh_start = repr.upper_offset();
    for byte in mh_start..len {
        if (mh_start + 4..mh_start + 6).contains(&byte) {
            continue;
        }
        for bit in 0..8 {
            let mut forged = buf.clone();
            forged[byte] ^= 1 << bit;
            let verdict = wire::parse(&forged[..len]).map(|p| rr::verify_packet(&p, &kbm));
            assert_ne!(
                verdict,
                Ok(Ok(true)),
                "flipping bit {bit} of byte {byte} went unnoticed"
            );
        }
    }
}

#[test]
fn checksum_is_not_covered_by_the_authenticator() {
    let kbm = [1u8; 20];
    let repr = bu_packet(None);
    let mut buf = vec![0u8; repr.buffer_len()];
    rr::emit_signed(&repr, &kbm, &mut buf).unwrap();
    let at = repr.upper_offset() + 4;
    buf[at] ^= 0xff;
    let parsed = wire::parse(&buf).unwrap();
    assert!(!parsed.checksum_ok);
    assert!(
        rr::verify_packet(&parsed, &kbm).unwrap(),
        "§6.2.7: computed as if the checksum were zero"
    );
}

#[test]
fn alternate_care_of_address_is_the_care_of_address_in_the_mac() {
    let alt = addr("fd00:3::3");
    let repr = bu_packet(Some(alt));
    assert_eq!(rr::auth_addresses(&repr).unwrap(), (alt, addr("fd00:1::1")));
    let kbm = [5u8; 20];
    let mut buf = vec![0u8; repr.buffer_len()];
    rr::emit_signed(&repr, &kbm, &mut buf).unwrap();
    let parsed = wire::parse_verified(&buf).unwrap();
    assert!(rr::verify_packet(&parsed, &kbm).unwrap());
    // The same MH authenticated with the source as CoA must differ.
    let mh = parsed.upper_bytes;
    let with_src = rr::authenticator(&kbm, &repr.src, &repr.dst, mh).unwrap();
    assert_ne!(Some(with_src), parsed.repr.upper_mh_authenticator());
}

trait MhAuth {
    fn upper_mh_authenticator(&self) -> Option<[u8; 12]>;
}
impl MhAuth for PacketRepr<'_> {
    fn upper_mh_authenticator(&self) -> Option<[u8; 12]> {
        match &self.upper {
            Upper::Mh(m) => m.authenticator(),
            _ => None,
        }
    }
}

#[test]
fn ba_uses_destination_as_care_of_and_source_as_correspondent() {
    let mut options = MhOptions::new();
    options
        .push(MhOption::RefreshAdvice { interval: 10 })
        .unwrap();
    options.push(MhOption::AuthData([0; 12])).unwrap();
    let mut repr = PacketRepr::new(
        addr("fd00:1::1"),
        addr("fd00:2::2"),
        Upper::Mh(MhRepr {
            message: MhMessage::Ba(BindingAck {
                seq: 77,
                lifetime: 100,
                ..Default::default()
            }),
            options,
        }),
    );
    repr.rh2 = Some(addr("fd00:aa::1"));
    assert_eq!(
        rr::auth_addresses(&repr).unwrap(),
        (addr("fd00:2::2"), addr("fd00:1::1"))
    );
    let kbm = [7u8; 20];
    let mut buf = vec![0u8; repr.buffer_len()];
    rr::emit_signed(&repr, &kbm, &mut buf).unwrap();
    assert!(rr::verify_packet(&wire::parse_verified(&buf).unwrap(), &kbm).unwrap());
}

#[test]
fn messages_without_auth_data_or_of_other_types_are_errors() {
    let mut repr = bu_packet(None);
    if let Upper::Mh(m) = &mut repr.upper {
        m.options.pop();
    }
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(
        rr::emit_signed(&repr, &[0; 20], &mut buf),
        Err(AuthError::NoAuthData)
    );
    repr.emit(&mut buf).unwrap();
    assert_eq!(
        rr::verify_packet(&wire::parse(&buf).unwrap(), &[0; 20]),
        Err(AuthError::NoAuthData)
    );
    repr.upper = Upper::Mh(MhRepr::new(MhMessage::Hoti { cookie: [1; 8] }));
    assert_eq!(rr::auth_addresses(&repr), Err(AuthError::NotBuOrBa));
}

#[test]
fn authenticators_compare_in_constant_time_helper() {
    assert!(rr::authenticators_equal(&[1; 12], &[1; 12]));
    let mut b = [1; 12];
    b[11] = 2;
    assert!(!rr::authenticators_equal(&[1; 12], &b));
}

fn t(secs: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(secs)
}

#[test]
fn nonce_is_reused_for_30_seconds_then_replaced() {
    let mut rng = SeededRandom::new(7);
    let mut table = NonceTable::new();
    let (i0, n0) = table.current(t(0), &mut rng);
    assert_eq!(table.current(t(29), &mut rng), (i0, n0));
    let (i1, n1) = table.current(t(30), &mut rng);
    assert_eq!(i1, i0.wrapping_add(1));
    assert_ne!(n1, n0);
    assert_eq!(NONCE_REGENERATION, Duration::from_secs(30));
}

#[test]
fn nonce_accepted_until_240_seconds_and_not_after() {
    let mut rng = SeededRandom::new(7);
    let mut table = NonceTable::new();
    let start = t(1000);
    let (index, nonce) = table.current(start, &mut rng);
    assert_eq!(
        table.lookup(index, start + Duration::from_secs(239)),
        Some(nonce)
    );
    assert_eq!(table.lookup(index, start + MAX_NONCE_LIFETIME), Some(nonce));
    assert_eq!(table.lookup(index, start + Duration::from_secs(241)), None);
    assert_eq!(
        table.lookup(index, start - Duration::from_secs(1)),
        None,
        "not before it existed"
    );
    assert_eq!(table.lookup(index.wrapping_add(1), start), None);
}

#[test]
fn every_handed_out_nonce_is_usable_for_at_least_210_seconds() {
    let mut rng = SeededRandom::new(3);
    let mut table = NonceTable::new();
    // Ask every 7 seconds for 20 minutes; each answer must still be valid 210 s later,
    // even while newer nonces are being made.
    let mut handed = Vec::new();
    for step in 0..(1200 / 7) {
        let now = t(step * 7);
        handed.push((now, table.current(now, &mut rng)));
        for (at, (index, nonce)) in &handed {
            let age = now.saturating_since(*at);
            if age <= MAX_TOKEN_LIFETIME {
                assert_eq!(
                    table.lookup(*index, now),
                    Some(*nonce),
                    "handed out at {at}, now {now}"
                );
            }
            if now.saturating_since(*at) > MAX_NONCE_LIFETIME + NONCE_REGENERATION {
                assert_eq!(
                    table.lookup(*index, now),
                    None,
                    "handed out at {at}, now {now}"
                );
            }
        }
        handed.retain(|(at, _)| now.saturating_since(*at) <= Duration::from_secs(400));
    }
}

#[test]
fn nonce_index_wraps_around() {
    let mut rng = SeededRandom::new(3);
    let mut table = NonceTable::new();
    let mut last = None;
    for step in 0..70_000u64 {
        let (index, _) = table.current(t(step * 30), &mut rng);
        if let Some(prev) = last {
            assert_eq!(index, u16::wrapping_add(prev, 1));
        }
        last = Some(index);
    }
}
