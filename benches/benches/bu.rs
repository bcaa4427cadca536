//! Binding Update benchmarks: what a correspondent node spends per BU it receives
//! (`bu_verify`), what a serving node spends per BU it sends (`bu_build_sign`), and the
//! return-routability key derivation behind them (`rr_tokens`).
//!
//! The BU is the one a handoff acceptor sends (docs/handoff.md, "Restore"):
//! from its care-of address, with a Home Address option, the A flag, Nonce Indices and
//! Binding Authorization Data, signed once with `rr::emit_signed`.
//!
//! `bu_verify/parts/*` splits `bu_verify` into its pieces (parse with checksum; the
//! authenticator check; ring's HMAC-SHA1 key schedule alone; the authenticator with a key
//! schedule prepared in advance) to show where the time goes.
//!
//! Run: `cargo bench -p vany-benches --bench bu`. Every benchmark counts one element per
//! iteration, so criterion prints operations per second as `thrpt`.

use std::hint::black_box;
use std::net::Ipv6Addr;

use criterion::{Criterion, Throughput};
use ring::hmac;
use vany_stack::mip6::rr::{self, Kbm, Kcn, Nonce};
use vany_stack::wire::mh::CHECKSUM_OFFSET;
use vany_stack::wire::mh_option::AUTHENTICATOR_LEN;
use vany_stack::wire::{
    self, BindingUpdate, MhMessage, MhOption, MhRepr, PacketRepr, ParsedPacket, Upper,
};

/// The anycast (home) address.
const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa1, 0, 0, 0, 0, 1);
/// The acceptor's care-of address.
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb2, 0, 0, 0, 0, 2);
/// The client (correspondent node).
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc3, 0, 0, 0, 0, 3);
const HOME_NONCE: Nonce = *b"homenonc";
const CARE_OF_NONCE: Nonce = *b"careofno";

/// The client's Kcn and the Kbm both sides derive from the two keygen tokens.
fn keys() -> (Kcn, Kbm) {
    let kcn = Kcn::from_bytes(*b"correspondent-secret");
    let home = kcn.home_keygen_token(&HOA, &HOME_NONCE);
    let care_of = kcn.care_of_keygen_token(&COA, &CARE_OF_NONCE);
    (kcn, rr::kbm(&home, Some(&care_of)))
}

/// The acceptor's BU: CoA -> client, HAO, A flag, 420 s, Nonce Indices, Binding
/// Authorization Data (its value is filled in by `emit_signed`).
fn bu_repr() -> PacketRepr<'static> {
    let mut mh = MhRepr::new(MhMessage::Bu(BindingUpdate {
        seq: 4242,
        ack: true,
        lifetime: 420 / 4,
        ..BindingUpdate::default()
    }));
    mh.options
        .push(MhOption::NonceIndices {
            home: 17,
            care_of: 23,
        })
        .unwrap();
    mh.options
        .push(MhOption::AuthData([0; AUTHENTICATOR_LEN]))
        .unwrap();
    PacketRepr {
        src: COA,
        dst: CN,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        rh2: None,
        hao: Some(HOA),
        upper: Upper::Mh(mh),
    }
}

/// What `bu_verify` times: parse, checksum (home address in the pseudo-header), and the
/// authenticator, constant-time compared.
fn verify(bytes: &[u8], kbm: &Kbm) -> bool {
    let parsed = wire::parse_verified(bytes).expect("BU does not parse");
    rr::verify_packet(&parsed, kbm).expect("BU has no authenticator")
}

/// The authenticator over an MH, as `rr::authenticator` computes it, but with the
/// HMAC key schedule prepared once by the caller (what a per-binding cached key would cost).
fn authenticator_prekeyed(
    key: &hmac::Key,
    care_of: &Ipv6Addr,
    correspondent: &Ipv6Addr,
    mh: &[u8],
) -> [u8; AUTHENTICATOR_LEN] {
    let auth_at = mh.len() - AUTHENTICATOR_LEN;
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&care_of.octets());
    ctx.update(&correspondent.octets());
    ctx.update(&mh[..CHECKSUM_OFFSET]);
    ctx.update(&[0, 0]);
    ctx.update(&mh[CHECKSUM_OFFSET + 2..auth_at]);
    let tag = ctx.sign();
    let mut out = [0u8; AUTHENTICATOR_LEN];
    out.copy_from_slice(&tag.as_ref()[..AUTHENTICATOR_LEN]);
    out
}

fn received_authenticator(parsed: &ParsedPacket<'_>) -> [u8; AUTHENTICATOR_LEN] {
    match &parsed.repr.upper {
        Upper::Mh(m) => m.authenticator().expect("no authenticator"),
        _ => unreachable!("not an MH"),
    }
}

fn benches(c: &mut Criterion) {
    let (kcn, kbm) = keys();
    let repr = bu_repr();
    let mut bytes = vec![0u8; repr.buffer_len()];
    let len = rr::emit_signed(&repr, &kbm, &mut bytes).expect("emit_signed");
    bytes.truncate(len);
    // Outside the timed region: the BU is what we think it is and it verifies.
    assert!(verify(&bytes, &kbm), "the signed BU does not verify");
    {
        let wrong = rr::kbm(b"wrongtok", None);
        assert!(!verify(&bytes, &wrong), "the BU verifies with a wrong Kbm");
    }
    let parsed = wire::parse_verified(&bytes).unwrap();
    assert!(matches!(
        &parsed.repr.upper,
        Upper::Mh(m) if matches!(m.message, MhMessage::Bu(_))
            && m.nonce_indices() == Some((17, 23))
    ));
    assert_eq!(parsed.repr.hao, Some(HOA));

    let mut g = c.benchmark_group("bu");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bu_verify", |b| {
        b.iter(|| {
            let ok = verify(black_box(&bytes), black_box(&kbm));
            assert!(ok);
            ok
        })
    });
    let mut buf = vec![0u8; repr.buffer_len()];
    g.bench_function("bu_build_sign", |b| {
        b.iter(|| rr::emit_signed(black_box(&repr), black_box(&kbm), black_box(&mut buf)).unwrap())
    });
    g.bench_function("rr_tokens", |b| {
        b.iter(|| {
            let home = kcn.home_keygen_token(black_box(&HOA), black_box(&HOME_NONCE));
            let care_of = kcn.care_of_keygen_token(black_box(&COA), black_box(&CARE_OF_NONCE));
            rr::kbm(&home, Some(&care_of))
        })
    });
    g.finish();

    // Where bu_verify's time goes.
    let mut g = c.benchmark_group("bu_verify/parts");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_verified", |b| {
        b.iter(|| wire::parse_verified(black_box(&bytes)).unwrap().checksum)
    });
    g.bench_function("verify_packet", |b| {
        b.iter(|| rr::verify_packet(black_box(&parsed), black_box(&kbm)).unwrap())
    });
    g.bench_function("hmac_key_new", |b| {
        b.iter(|| hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, black_box(&kbm)))
    });
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &kbm);
    let received = received_authenticator(&parsed);
    assert_eq!(
        authenticator_prekeyed(&key, &COA, &CN, parsed.upper_bytes),
        received
    );
    g.bench_function("authenticator_prekeyed", |b| {
        b.iter(|| {
            let computed = authenticator_prekeyed(
                black_box(&key),
                black_box(&COA),
                black_box(&CN),
                black_box(parsed.upper_bytes),
            );
            rr::authenticators_equal(&computed, &received)
        })
    });
    g.finish();
}

// `criterion_main!(criterion_group!(..))` spelled out: the macro's `pub fn` has no doc
// comment, which the workspace's `missing_docs` lint would flag.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
