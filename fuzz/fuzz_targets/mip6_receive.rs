//! Fuzz target `mip6_receive`: arbitrary bytes, parsed as packets, into the
//! correspondent node (`handle_mh`, `ingress`, timers) and the mobile-node side
//! (`handle_mh`), after a real return-routability exchange so that BUs and BAs with valid
//! nonce indices can be reached. Nothing may panic, and every packet either side queues
//! must parse with a valid checksum.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vany_stack::mip6::cn::{CnConfig, CorrespondentNode};
use vany_stack::mip6::mn::MobileNode;
use vany_stack::mip6::rr::Kcn;
use vany_stack::rand::SeededRandom;
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, Upper};

const CN: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);
const HOA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 1);
const COA: Ipv6Addr = Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 2);

fn check_output(packets: impl Iterator<Item = Vec<u8>>) {
    for p in packets.take(10_000) {
        wire::parse_verified(&p).expect("queued packets parse with a valid checksum");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rng = SeededRandom::new(5);
    let mut now = Instant::from_secs(1000);
    let mut cn = CorrespondentNode::with_kcn(
        CnConfig {
            capacity: 2,
            ..CnConfig::default()
        },
        Kcn::from_bytes([3; 20]),
    );
    let mut mn = MobileNode::new(HOA, Duration::from_secs(420));
    // A real exchange first: HoTI, CoTI, BU.
    mn.start_home_test(now, CN, [1; 8]);
    mn.start_care_of_test(now, &mut rng, CN, COA);
    while let Some(p) = mn.poll_transmit() {
        let parsed = wire::parse(&p).unwrap();
        cn.handle_mh(now, &mut rng, &parsed);
    }
    while let Some(p) = cn.poll_transmit() {
        let parsed = wire::parse(&p).unwrap();
        mn.handle_mh(now, &parsed);
    }
    let _ = mn.send_bu(now, CN, COA);
    // Then the fuzzer's packets, separated by 2-byte lengths, to either side.
    let mut i = 0;
    let mut steps = 0;
    while i + 3 <= data.len() && steps < 256 {
        steps += 1;
        let target = data[i];
        let len =
            usize::from(u16::from_be_bytes([data[i + 1], data[i + 2]])).min(data.len() - i - 3);
        let bytes = &data[i + 3..i + 3 + len];
        i += 3 + len;
        now = now + Duration::from_millis(u64::from(target) * 37);
        let Ok(parsed) = wire::parse(bytes) else {
            continue;
        };
        match target % 3 {
            0 => {
                if matches!(parsed.repr.upper, Upper::Mh(_)) {
                    cn.handle_mh(now, &mut rng, &parsed);
                } else {
                    cn.ingress(now, &parsed.repr);
                }
            }
            1 => {
                mn.handle_mh(now, &parsed);
            }
            _ => {
                if cn.poll_timeout().is_some_and(|t| t <= now) {
                    cn.handle_timeout(now, CN);
                }
                if mn.poll_timeout().is_some_and(|t| t <= now) {
                    mn.handle_timeout(now);
                }
                let _ = cn.egress(now, &HOA);
            }
        }
        check_output(std::iter::from_fn(|| cn.poll_transmit()));
        check_output(std::iter::from_fn(|| mn.poll_transmit()));
    }
});
