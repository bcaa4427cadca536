//! Neighbor Discovery and echo interop between vany's `stack/src/l2` and scapy (Debian's
//! `python3-scapy` under `/usr/bin/python3`), an independent RFC 4861 / RFC 4443
//! implementation.
//!
//! scapy builds Neighbor Solicitations (unicast, solicited-node multicast, for the
//! anycast address, DAD) and echo requests that vany must answer, and hostile frames
//! (hop limit 64, bad checksum, code 1, zero-length option, DAD with a source link-layer
//! option, a target that is not ours) that vany must drop and count. scapy then dissects
//! every frame vany sent and recomputes its ICMPv6 checksum; the fields are checked here.

use core::net::Ipv6Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vany_stack::l2::{Gateway, Ingress, Mac, NdConfig, Neighbors, OwnAddr};
use vany_stack::time::Instant;
use vany_tests::{python, Failures};

const VANY_MAC: &str = "02:00:00:00:00:0a";
const PEER_MAC: &str = "02:00:00:00:00:77";
const COA: &str = "fd00::a";
const ANYCAST: &str = "fd00::100";
const PEER: &str = "fd00::77";

#[derive(Serialize)]
struct GenerateInput {
    mode: &'static str,
    vany_mac: &'static str,
    peer_mac: &'static str,
    coa: &'static str,
    anycast: &'static str,
    peer: &'static str,
}

#[derive(Deserialize)]
struct Generated {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    hex: String,
    expect: String,
}

#[derive(Serialize)]
struct Frame {
    name: String,
    hex: String,
}

#[derive(Serialize)]
struct CheckInput {
    mode: &'static str,
    frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct Checked {
    results: Vec<Value>,
}

fn neighbors() -> Neighbors {
    let addr = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let addrs = vec![
        OwnAddr {
            addr: addr(COA),
            anycast: false,
        },
        OwnAddr {
            addr: addr(ANYCAST),
            anycast: true,
        },
    ];
    let mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    Neighbors::new(NdConfig::new(mac, addrs, Gateway::OnLink)).unwrap()
}

/// What the answer to `name` must look like: (ip src, ip dst, eth dst, S, O).
fn expected_na(name: &str) -> (&'static str, &'static str, &'static str, u64, u64) {
    match name {
        "ns_anycast" => (ANYCAST, PEER, PEER_MAC, 1, 0),
        "ns_dad" => (COA, "ff02::1", "33:33:00:00:00:01", 0, 1),
        _ => (COA, PEER, PEER_MAC, 1, 1),
    }
}

#[test]
fn scapy_nd_and_echo_are_answered_and_hostile_nd_dropped() {
    let generated: Generated = python::run(
        "nd.py",
        &GenerateInput {
            mode: "generate",
            vany_mac: VANY_MAC,
            peer_mac: PEER_MAC,
            coa: COA,
            anycast: ANYCAST,
            peer: PEER,
        },
    );
    let mut failures = Failures::unseeded("scapy ND interop");
    let mut replies = Vec::new();
    let mut dropped = 0;
    for case in &generated.cases {
        let mut n = neighbors();
        let frame = hex::decode(&case.hex).unwrap();
        let verdict = n.ingress(Instant::ZERO, &frame);
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| n.poll_transmit()).collect();
        if case.expect == "drop" {
            failures.check(verdict == Ingress::Dropped && out.is_empty(), || {
                format!(
                    "{}: want dropped, got {verdict:?} and {} frames",
                    case.name,
                    out.len()
                )
            });
            let c = n.counters();
            let counted = c.nd_bad_hop_limit
                + c.icmp_bad_checksum
                + c.nd_bad_code
                + c.nd_bad_option
                + c.nd_invalid
                + c.ns_not_ours;
            failures.check(counted == 1, || format!("{}: counters {c:?}", case.name));
            dropped += 1;
        } else {
            failures.check(verdict == Ingress::Handled && out.len() == 1, || {
                format!(
                    "{}: want one answer, got {verdict:?} and {} frames",
                    case.name,
                    out.len()
                )
            });
            if let Some(f) = out.into_iter().next() {
                replies.push((case, f));
            }
        }
    }
    let checked: Checked = python::run(
        "nd.py",
        &CheckInput {
            mode: "check",
            frames: replies
                .iter()
                .map(|(c, f)| Frame {
                    name: c.name.clone(),
                    hex: hex::encode(f),
                })
                .collect(),
        },
    );
    assert_eq!(checked.results.len(), replies.len());
    for ((case, _), r) in replies.iter().zip(&checked.results) {
        let name = &case.name;
        if let Some(e) = r.get("error") {
            failures.check(false, || format!("{name}: scapy: {e}"));
            continue;
        }
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let u = |k: &str| r[k].as_u64().unwrap_or(u64::MAX);
        failures.check(u("wire_cksum") == u("scapy_cksum"), || {
            format!("{name}: checksum {r}")
        });
        failures.check(u("code") == 0 && s("eth_src") == VANY_MAC, || {
            format!("{name}: {r}")
        });
        failures.check(u("ethertype") == 0x86dd, || format!("{name}: {r}"));
        if case.expect == "na" {
            let (src, dst, eth_dst, sf, of) = expected_na(name);
            failures.check(
                u("type") == 136
                    && u("hlim") == 255
                    && s("src") == src
                    && s("dst") == dst
                    && s("eth_dst") == eth_dst
                    && u("S") == sf
                    && u("O") == of
                    && u("R") == 0
                    && s("tgt") == src
                    && s("tllao") == VANY_MAC,
                || format!("{name}: NA fields {r}"),
            );
        } else {
            let (src, id, seq, data) = if name == "echo_anycast" {
                (
                    ANYCAST,
                    1,
                    65535,
                    hex::encode((0u8..200).collect::<Vec<u8>>()),
                )
            } else {
                (COA, 0x4242, 3, hex::encode(b"vany ping"))
            };
            failures.check(
                u("type") == 129
                    && s("src") == src
                    && s("dst") == PEER
                    && s("eth_dst") == PEER_MAC
                    && u("id") == id
                    && u("seq") == seq
                    && s("data") == data,
                || format!("{name}: echo reply fields {r}"),
            );
        }
    }
    failures.check(replies.len() == 7 && dropped == 7, || {
        format!(
            "{} answers and {dropped} drops, want 7 and 7",
            replies.len()
        )
    });
    failures.finish();
}
