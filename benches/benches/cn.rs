//! Correspondent-node processing on one core (issue 4): HoTI -> HoT, CoTI -> CoT, and a
//! full Binding Update verification (parse, checksum, nonce lookup, both keygen tokens,
//! Kbm, authenticator) with the signed Binding Acknowledgement it answers with.
//! Each measured operation includes parsing the incoming packet and taking the answer.

use std::hint::black_box;
use std::net::Ipv6Addr;

use criterion::{Criterion, Throughput};
use vany_stack::mip6::cn::{CnConfig, CorrespondentNode, MhOutcome};
use vany_stack::mip6::mn::MobileNode;
use vany_stack::mip6::rr::{self, Kcn};
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{
    self, BindingUpdate, MhMessage, MhOption, MhOptions, MhRepr, PacketRepr, Upper,
};

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn cn_bench(c: &mut Criterion) {
    let cn_addr = addr("fd00:1::1");
    let hoa = addr("fd00:aa::1");
    let coa = addr("fd00:2::2");
    let now = Instant::from_secs(1000);
    let mut rng = SeededRandom::new(9);
    let mut cn = CorrespondentNode::with_kcn(CnConfig::default(), Kcn::from_bytes([4; 20]));

    // The mobile node's return routability, to get real tokens and nonce indices.
    let mut mn = MobileNode::new(hoa, Duration::from_secs(420));
    mn.start_home_test(now, cn_addr, [1; 8]);
    mn.start_care_of_test(now, &mut rng, cn_addr, coa);
    let hoti = mn.poll_transmit().unwrap();
    let coti = mn.poll_transmit().unwrap();
    for p in [&hoti, &coti] {
        cn.handle_mh(now, &mut rng, &wire::parse(p).unwrap());
    }
    while let Some(p) = cn.poll_transmit() {
        mn.handle_mh(now, &wire::parse(&p).unwrap());
    }
    let state = mn.export(&cn_addr).unwrap();
    let (home, care_of) = (state.home_token.unwrap(), state.care_of_token.unwrap());
    let kbm = rr::kbm(&home.token, Some(&care_of.token));

    // 65,536 BUs with consecutive sequence numbers: each is newer than the one before,
    // modulo 2^16, so cycling through them is accepted every time.
    let bus: Vec<Vec<u8>> = (0..=u16::MAX)
        .map(|seq| {
            let mut options = MhOptions::new();
            options
                .push(MhOption::NonceIndices {
                    home: home.nonce_index,
                    care_of: care_of.nonce_index,
                })
                .unwrap();
            options.push(MhOption::AuthData([0; 12])).unwrap();
            let repr = PacketRepr {
                src: coa,
                dst: cn_addr,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
                rh2: None,
                hao: Some(hoa),
                upper: Upper::Mh(MhRepr {
                    message: MhMessage::Bu(BindingUpdate {
                        seq: seq.wrapping_add(1),
                        ack: true,
                        lifetime: 100,
                        ..Default::default()
                    }),
                    options,
                }),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            rr::emit_signed(&repr, &kbm, &mut buf).unwrap();
            buf
        })
        .collect();
    assert_eq!(
        cn.handle_mh(now, &mut rng, &wire::parse(&bus[0]).unwrap()),
        MhOutcome::Accepted {
            deregistered: false
        }
    );
    cn.poll_transmit().expect("a BA");

    let mut g = c.benchmark_group("cn");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hoti_to_hot", |b| {
        b.iter(|| {
            let parsed = wire::parse_verified(black_box(&hoti)).unwrap();
            black_box(cn.handle_mh(now, &mut rng, &parsed));
            black_box(cn.poll_transmit())
        })
    });
    g.bench_function("coti_to_cot", |b| {
        b.iter(|| {
            let parsed = wire::parse_verified(black_box(&coti)).unwrap();
            black_box(cn.handle_mh(now, &mut rng, &parsed));
            black_box(cn.poll_transmit())
        })
    });
    let mut i = 1usize;
    g.bench_function("bu_verify_and_ba", |b| {
        b.iter(|| {
            let parsed = wire::parse(black_box(&bus[i & 0xffff])).unwrap();
            i += 1;
            let outcome = cn.handle_mh(now, &mut rng, &parsed);
            debug_assert_eq!(
                outcome,
                MhOutcome::Accepted {
                    deregistered: false
                }
            );
            black_box(outcome);
            black_box(cn.poll_transmit())
        })
    });
    g.finish();
    let stats = cn.stats();
    assert_eq!(
        stats.bu_refused + stats.bu_bad_auth + stats.bu_discarded,
        0,
        "every BU was accepted: {stats:?}"
    );
}

// `criterion_main!(criterion_group!(..))` spelled out: the macro's `pub fn` has no doc
// comment, which the workspace's `missing_docs` lint would flag.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    cn_bench(&mut c);
    c.final_summary();
}
