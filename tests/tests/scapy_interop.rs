//! Cross-validation of vany's Mobility Header wire format and return-routability crypto
//! against scapy (Debian's `python3-scapy` 2.5 under `/usr/bin/python3`) and Python's
//! `hmac`/`hashlib`, as independent RFC 6275 implementations.
//!
//! - `scapy_built_packets_parse_in_vany`: scapy builds random packets of each of the 8
//!   MH types (random fields, options, HAO, RH2, addresses); vany must parse every field
//!   back, verify the checksum, and emit the very same bytes from the same fields.
//! - `vany_built_packets_match_scapy`: vany builds random packets; scapy must dissect
//!   the same fields, compute the same checksum, and rebuild byte-identical packets from
//!   those fields with fresh objects.
//! - `return_routability_matches_python`: keygen tokens, Kbm and the authenticators of
//!   BUs and BAs that vany signed, recomputed in Python from the RFC formulas.
//! - `python_signed_bindings_verify_in_vany`: BUs and BAs that scapy built and Python
//!   signed verify with `rr::verify_packet`; flipped bits and the wrong Kbm do not.
//! - `scapy_built_malformed_packets_are_refused`: packets scapy built breaking one rule
//!   each (scapy's own wrong default option lengths among them) are refused by vany with
//!   the right error, or fail its checksum check.
//!
//! Each test runs one Python process for all its cases. Seeds are printed and can be
//! replaced with `VANY_TEST_SEED`.

use std::collections::BTreeMap;
use std::time::Instant;

use core::net::Ipv6Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vany_stack::mip6::rr::{self, Kcn};
use vany_stack::wire::{self, MhType, Upper};
use vany_tests::mip6::{
    random_message, random_options, random_packet, Gen, Hex, OptionFields, PacketFields, MH_TYPES,
};
use vany_tests::{python, seed, Failures};

/// Packets per MH type in each direction.
const PER_TYPE: usize = 256;
/// The least number of packets per type a run must have checked.
const MIN_PER_TYPE: usize = 200;
/// Return-routability tuples.
const RR_CASES: usize = 256;

fn type_index(name: &str) -> Option<usize> {
    MH_TYPES.iter().position(|t| t.name() == name)
}

fn check_counts(failures: &mut Failures, counts: &BTreeMap<&'static str, usize>) {
    for t in MH_TYPES {
        let n = counts.get(t.name()).copied().unwrap_or(0);
        failures.check(n >= MIN_PER_TYPE, || {
            format!(
                "only {n} {} packets checked, want >= {MIN_PER_TYPE}",
                t.name()
            )
        });
    }
}

// ------------------------------------------------------------------ scapy -> vany

#[derive(Serialize)]
struct GenerateInput {
    seed: u64,
    per_type: usize,
}

#[derive(Deserialize)]
struct GenerateOutput {
    cases: Vec<GeneratedCase>,
}

#[derive(Deserialize)]
struct GeneratedCase {
    #[serde(rename = "type")]
    mh_type: String,
    index: usize,
    hex: Option<String>,
    checksum: Option<u16>,
    fields: Option<Value>,
    error: Option<String>,
}

#[test]
fn scapy_built_packets_parse_in_vany() {
    let seed = seed(0x5ca9_0001);
    let started = Instant::now();
    let out: GenerateOutput = python::run(
        "mh_generate.py",
        &GenerateInput {
            seed,
            per_type: PER_TYPE,
        },
    );
    let mut failures = Failures::new("scapy -> vany", seed);
    let mut counts = BTreeMap::new();
    for case in &out.cases {
        let name = format!("{} #{}", case.mh_type, case.index);
        if let Some(e) = &case.error {
            failures.fail(format!("{name}: the scapy helper failed:\n{e}"));
            continue;
        }
        let (Some(hex_str), Some(checksum), Some(fields)) =
            (&case.hex, case.checksum, &case.fields)
        else {
            failures.fail(format!("{name}: incomplete case from the scapy helper"));
            continue;
        };
        let Ok(bytes) = hex::decode(hex_str) else {
            failures.fail(format!("{name}: bad hex {hex_str}"));
            continue;
        };
        let expected: PacketFields = match serde_json::from_value(fields.clone()) {
            Ok(f) => f,
            Err(e) => {
                failures.fail(format!("{name}: fields do not deserialize: {e}\n{fields}"));
                continue;
            }
        };
        let ctx = || format!("{name}: scapy packet {hex_str}\n  scapy fields {fields}");
        let parsed = match wire::parse(&bytes) {
            Ok(p) => p,
            Err(e) => {
                failures.fail(format!("{}\n  vany refuses it: {e}", ctx()));
                continue;
            }
        };
        if let Upper::Mh(m) = &parsed.repr.upper {
            failures.check_eq(
                &Some(m.message.mh_type().to_u8() as usize),
                &type_index(&case.mh_type),
                || format!("{}\n  MH type", ctx()),
            );
        }
        failures.check(parsed.checksum_ok, || {
            format!("{}\n  vany says the checksum is wrong", ctx())
        });
        failures.check_eq(&parsed.checksum, &checksum, || {
            format!("{}\n  checksum field", ctx())
        });
        match PacketFields::from_parsed(&parsed) {
            Ok(got) => failures.check_eq(&got, &expected, || format!("{}\n  fields", ctx())),
            Err(e) => failures.fail(format!("{}\n  {e}", ctx())),
        }
        // The other half of "byte-identical": vany emits the same bytes from the fields.
        let emitted = expected.emit();
        failures.check(emitted == bytes, || {
            format!(
                "{}\n  vany emits different bytes from the same fields:\n  vany:  {}\n  scapy: {hex_str}",
                ctx(),
                hex::encode(&emitted)
            )
        });
        match type_index(&case.mh_type) {
            Some(i) => *counts.entry(MH_TYPES[i].name()).or_insert(0usize) += 1,
            None => failures.fail(format!("{name}: unknown MH type name")),
        }
    }
    check_counts(&mut failures, &counts);
    println!(
        "scapy -> vany: {} packets {counts:?} in {:?}",
        out.cases.len(),
        started.elapsed()
    );
    failures.finish();
}

// ------------------------------------------------------------------ vany -> scapy

#[derive(Serialize)]
struct CheckCase {
    hex: String,
    fields: PacketFields,
}

#[derive(Serialize)]
struct CheckInput {
    cases: Vec<CheckCase>,
}

#[derive(Deserialize)]
struct CheckOutput {
    results: Vec<CheckResult>,
}

#[derive(Deserialize)]
struct CheckResult {
    fields: Option<Value>,
    wire_checksum: Option<u16>,
    scapy_checksum: Option<u16>,
    rebuilt: Option<String>,
    error: Option<String>,
}

/// The generator of type `t` for `seed`, so that one type's packets do not depend on
/// how many random draws another type made.
fn type_gen(seed: u64, t: MhType) -> Gen {
    Gen::new(seed ^ (u64::from(t.to_u8()) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[test]
fn vany_built_packets_match_scapy() {
    let seed = seed(0x5ca9_0002);
    let started = Instant::now();
    let mut failures = Failures::new("vany -> scapy", seed);
    let mut cases = Vec::new();
    let mut checksums = Vec::new();
    for t in MH_TYPES {
        let mut g = type_gen(seed, t);
        for _ in 0..PER_TYPE {
            let fields = random_packet(&mut g, t);
            let bytes = fields.emit();
            // vany must at least agree with itself before scapy is asked.
            match wire::parse(&bytes) {
                Ok(parsed) => {
                    failures.check(parsed.checksum_ok, || {
                        format!(
                            "vany's own packet fails its checksum: {}",
                            hex::encode(&bytes)
                        )
                    });
                    failures.check_eq(
                        &PacketFields::from_parsed(&parsed),
                        &Ok(fields.clone()),
                        || {
                            format!(
                                "vany does not parse its own packet back: {}",
                                hex::encode(&bytes)
                            )
                        },
                    );
                    checksums.push(parsed.checksum);
                }
                Err(e) => {
                    failures.fail(format!(
                        "vany refuses its own packet {}: {e}\n  fields {fields:?}",
                        hex::encode(&bytes)
                    ));
                    checksums.push(0);
                }
            }
            cases.push(CheckCase {
                hex: hex::encode(&bytes),
                fields,
            });
        }
    }
    let input = CheckInput { cases };
    let out: CheckOutput = python::run("mh_check.py", &input);
    let input_cases = out.results.len();
    failures.check_eq(&input_cases, &input.cases.len(), || {
        "number of results from the scapy helper".to_string()
    });
    let mut counts = BTreeMap::new();
    for ((i, result), (case, checksum)) in out
        .results
        .iter()
        .enumerate()
        .zip(input.cases.iter().zip(&checksums))
    {
        let fields = &case.fields;
        let t = fields.mh.message.mh_type();
        let hex_str = &case.hex;
        let ctx = || {
            format!(
                "{} #{}: vany packet {hex_str}\n  vany fields {}",
                t.name(),
                i % PER_TYPE,
                serde_json::to_string(fields).unwrap_or_default()
            )
        };
        if let Some(e) = &result.error {
            failures.fail(format!("{}\n  scapy helper failed:\n{e}", ctx()));
            continue;
        }
        let (Some(got), Some(wire_sum), Some(scapy_sum), Some(rebuilt)) = (
            &result.fields,
            result.wire_checksum,
            result.scapy_checksum,
            &result.rebuilt,
        ) else {
            failures.fail(format!(
                "{}\n  incomplete result from the scapy helper",
                ctx()
            ));
            continue;
        };
        match serde_json::from_value::<PacketFields>(got.clone()) {
            Ok(got) => failures.check_eq(&got, fields, || {
                format!("{}\n  scapy dissects other fields (left: scapy)", ctx())
            }),
            Err(e) => failures.fail(format!(
                "{}\n  scapy's fields do not deserialize: {e}\n  {got}",
                ctx()
            )),
        }
        failures.check_eq(&wire_sum, checksum, || {
            format!("{}\n  checksum field as scapy read it vs vany's", ctx())
        });
        failures.check_eq(&scapy_sum, checksum, || {
            format!("{}\n  scapy's recomputed checksum vs vany's", ctx())
        });
        failures.check(rebuilt == hex_str, || {
            format!(
                "{}\n  scapy rebuilds other bytes from the same fields:\n  scapy: {rebuilt}\n  vany:  {hex_str}",
                ctx()
            )
        });
        *counts.entry(t.name()).or_insert(0usize) += 1;
    }
    check_counts(&mut failures, &counts);
    println!(
        "vany -> scapy: {input_cases} packets {counts:?} in {:?}",
        started.elapsed()
    );
    failures.finish();
}

// ------------------------------------------------------------------ return routability

/// One (Kcn, HoA, CoA, CN, nonces) tuple.
#[derive(Debug, Clone, Serialize)]
struct RrTuple {
    kcn: Hex<20>,
    home_nonce: Hex<8>,
    care_of_nonce: Hex<8>,
    hoa: Ipv6Addr,
    coa: Ipv6Addr,
    cn: Ipv6Addr,
    dereg: bool,
}

impl RrTuple {
    fn random(g: &mut Gen) -> RrTuple {
        RrTuple {
            kcn: Hex(g.bytes()),
            home_nonce: Hex(g.bytes()),
            care_of_nonce: Hex(g.bytes()),
            hoa: g.addr(),
            coa: g.addr(),
            cn: g.addr(),
            dereg: g.percent(25),
        }
    }

    /// vany's (home token, care-of token, Kbm, deregistration Kbm).
    fn vany_keys(&self) -> ([u8; 8], [u8; 8], rr::Kbm, rr::Kbm) {
        let kcn = Kcn::from_bytes(self.kcn.0);
        let home = kcn.home_keygen_token(&self.hoa, &self.home_nonce.0);
        let care_of = kcn.care_of_keygen_token(&self.coa, &self.care_of_nonce.0);
        (
            home,
            care_of,
            rr::kbm(&home, Some(&care_of)),
            rr::kbm(&home, None),
        )
    }

    /// The Kbm the binding uses: the deregistration one when `dereg`.
    fn vany_kbm(&self) -> rr::Kbm {
        let (_, _, kbm, kbm_dereg) = self.vany_keys();
        if self.dereg {
            kbm_dereg
        } else {
            kbm
        }
    }
}

/// A random BU from the care-of address (or carrying it in an Alternate Care-of Address
/// option), home address in a HAO, to the correspondent, ending with a placeholder
/// Binding Authorization Data option.
fn signable_bu(g: &mut Gen, t: &RrTuple) -> PacketFields {
    let mut f = random_packet(g, MhType::Bu);
    f.rh2 = None;
    f.hao = Some(t.hoa);
    f.dst = t.cn;
    let mut opts: Vec<OptionFields> = random_options(g, MhType::Bu)
        .into_iter()
        .filter(|o| {
            !matches!(
                o,
                OptionFields::AuthData { .. } | OptionFields::AltCareOf { .. }
            )
        })
        .collect();
    if g.percent(50) {
        let at = g.below(opts.len() as u64 + 1) as usize;
        opts.insert(at, OptionFields::AltCareOf { address: t.coa });
    } else {
        f.src = t.coa;
    }
    opts.push(OptionFields::AuthData { data: Hex([0; 12]) });
    f.mh.options = opts;
    f
}

/// A random BA from the correspondent to the care-of address, home address in an RH2.
fn signable_ba(g: &mut Gen, t: &RrTuple) -> PacketFields {
    let mut f = random_packet(g, MhType::Ba);
    f.src = t.cn;
    f.dst = t.coa;
    f.rh2 = Some(t.hoa);
    f.hao = None;
    f.mh.message = random_message(g, MhType::Ba);
    let mut opts: Vec<OptionFields> = random_options(g, MhType::Ba)
        .into_iter()
        .filter(|o| !matches!(o, OptionFields::AuthData { .. }))
        .collect();
    opts.push(OptionFields::AuthData { data: Hex([0; 12]) });
    f.mh.options = opts;
    f
}

fn sign(f: &PacketFields, kbm: &rr::Kbm) -> Result<Vec<u8>, String> {
    let repr = f.to_repr();
    let mut buf = vec![0u8; repr.buffer_len()];
    let len = rr::emit_signed(&repr, kbm, &mut buf).map_err(|e| format!("emit_signed: {e}"))?;
    buf.truncate(len);
    Ok(buf)
}

fn authenticator_of(bytes: &[u8]) -> Option<[u8; 12]> {
    match wire::parse(bytes).ok()?.repr.upper {
        Upper::Mh(m) => m.authenticator(),
        _ => None,
    }
}

#[derive(Serialize)]
struct RrCheckCase {
    #[serde(flatten)]
    tuple: RrTuple,
    bu: String,
    ba: String,
}

#[derive(Serialize)]
struct RrSignCase {
    #[serde(flatten)]
    tuple: RrTuple,
    seed: u64,
}

#[derive(Serialize, Default)]
struct RrInput {
    check: Vec<RrCheckCase>,
    sign: Vec<RrSignCase>,
}

#[derive(Deserialize)]
struct RrOutput {
    check: Vec<Value>,
    sign: Vec<Value>,
}

#[derive(Deserialize)]
struct RrComputed {
    home_token: Hex<8>,
    care_of_token: Hex<8>,
    kbm: Hex<20>,
    kbm_dereg: Hex<20>,
    bu_auth: Hex<12>,
    ba_auth: Hex<12>,
}

#[derive(Deserialize)]
struct RrSigned {
    bu: String,
    ba: String,
}

fn result_or_error<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<T, String> {
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("Python helper failed:\n{e}"));
    }
    serde_json::from_value(v.clone()).map_err(|e| format!("unexpected helper output {v}: {e}"))
}

#[test]
fn return_routability_matches_python() {
    let seed = seed(0x5ca9_0003);
    let started = Instant::now();
    let mut failures = Failures::new("return routability vs Python hmac/hashlib", seed);
    let mut g = Gen::new(seed);
    let mut input = RrInput::default();
    for _ in 0..RR_CASES {
        let tuple = RrTuple::random(&mut g);
        let kbm = tuple.vany_kbm();
        let bu = signable_bu(&mut g, &tuple);
        let ba = signable_ba(&mut g, &tuple);
        let (bu, ba) = match (sign(&bu, &kbm), sign(&ba, &kbm)) {
            (Ok(bu), Ok(ba)) => (bu, ba),
            (bu, ba) => {
                failures.fail(format!(
                    "vany cannot sign: {tuple:?}: {:?} {:?}",
                    bu.err(),
                    ba.err()
                ));
                continue;
            }
        };
        input.check.push(RrCheckCase {
            tuple,
            bu: hex::encode(bu),
            ba: hex::encode(ba),
        });
    }
    let out: RrOutput = python::run("rr.py", &input);
    failures.check_eq(&out.check.len(), &input.check.len(), || {
        "number of results from rr.py".to_string()
    });
    for (case, result) in input.check.iter().zip(&out.check) {
        let t = &case.tuple;
        let ctx = || format!("tuple {t:?}\n  vany BU {}\n  vany BA {}", case.bu, case.ba);
        let py: RrComputed = match result_or_error(result) {
            Ok(r) => r,
            Err(e) => {
                failures.fail(format!("{}\n  {e}", ctx()));
                continue;
            }
        };
        let (home, care_of, kbm, kbm_dereg) = t.vany_keys();
        failures.check_eq(&Hex(home), &py.home_token, || {
            format!("{}\n  home keygen token", ctx())
        });
        failures.check_eq(&Hex(care_of), &py.care_of_token, || {
            format!("{}\n  care-of keygen token", ctx())
        });
        failures.check_eq(&Hex(kbm), &py.kbm, || format!("{}\n  Kbm", ctx()));
        failures.check_eq(&Hex(kbm_dereg), &py.kbm_dereg, || {
            format!("{}\n  Kbm (deregistration)", ctx())
        });
        for (what, hex_str, expected) in
            [("BU", &case.bu, &py.bu_auth), ("BA", &case.ba, &py.ba_auth)]
        {
            let bytes = hex::decode(hex_str).unwrap_or_default();
            failures.check_eq(
                &authenticator_of(&bytes).map(Hex),
                &Some(expected.clone()),
                || {
                    format!(
                        "{}\n  {what} authenticator vany wrote vs Python's HMAC",
                        ctx()
                    )
                },
            );
            // vany accepts what it signed, and its checksum covers the authenticator.
            match wire::parse(&bytes) {
                Ok(parsed) => {
                    failures.check(parsed.checksum_ok, || {
                        format!("{}\n  {what} checksum is wrong after signing", ctx())
                    });
                    failures.check_eq(
                        &rr::verify_packet(&parsed, &t.vany_kbm()),
                        &Ok(true),
                        || format!("{}\n  vany does not verify its own {what}", ctx()),
                    );
                }
                Err(e) => failures.fail(format!("{}\n  vany refuses its own {what}: {e}", ctx())),
            };
        }
    }
    println!(
        "return routability: {} tuples ({} BUs, {} BAs) in {:?}",
        out.check.len(),
        out.check.len(),
        out.check.len(),
        started.elapsed()
    );
    failures.finish();
}

/// Flips bit `bit` (0 = most significant of byte 0) of `bytes`.
fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 0x80 >> (bit % 8);
    out
}

#[test]
fn python_signed_bindings_verify_in_vany() {
    let seed = seed(0x5ca9_0004);
    let started = Instant::now();
    let mut failures = Failures::new("Python-signed BU/BA verified by vany", seed);
    let mut g = Gen::new(seed);
    let mut input = RrInput::default();
    for i in 0..RR_CASES {
        input.sign.push(RrSignCase {
            tuple: RrTuple::random(&mut g),
            seed: seed.wrapping_add(i as u64),
        });
    }
    let out: RrOutput = python::run("rr.py", &input);
    failures.check_eq(&out.sign.len(), &input.sign.len(), || {
        "number of results from rr.py".to_string()
    });
    let mut verified = 0;
    for (case, result) in input.sign.iter().zip(&out.sign) {
        let t = &case.tuple;
        let signed: RrSigned = match result_or_error(result) {
            Ok(r) => r,
            Err(e) => {
                failures.fail(format!("tuple {t:?}\n  {e}"));
                continue;
            }
        };
        let (_, _, kbm, kbm_dereg) = t.vany_keys();
        let (right, wrong) = if t.dereg {
            (kbm_dereg, kbm)
        } else {
            (kbm, kbm_dereg)
        };
        for (what, hex_str) in [("BU", &signed.bu), ("BA", &signed.ba)] {
            let ctx = || format!("tuple {t:?}\n  Python-signed {what} {hex_str}");
            let bytes = hex::decode(hex_str).unwrap_or_default();
            let parsed = match wire::parse(&bytes) {
                Ok(p) => p,
                Err(e) => {
                    failures.fail(format!("{}\n  vany refuses it: {e}", ctx()));
                    continue;
                }
            };
            failures.check(parsed.checksum_ok, || format!("{}\n  bad checksum", ctx()));
            failures.check_eq(&rr::verify_packet(&parsed, &right), &Ok(true), || {
                format!("{}\n  does not verify with the right Kbm", ctx())
            });
            failures.check_eq(&rr::verify_packet(&parsed, &wrong), &Ok(false), || {
                format!("{}\n  verifies with the other Kbm", ctx())
            });
            let len = bytes.len();
            // One flipped authenticator bit.
            let bit = (len - 12) * 8 + g.below(96) as usize;
            let bad = flipped(&bytes, bit);
            match wire::parse(&bad) {
                Ok(p) => failures.check_eq(&rr::verify_packet(&p, &right), &Ok(false), || {
                    format!(
                        "{}\n  still verifies with authenticator bit {bit} flipped",
                        ctx()
                    )
                }),
                Err(e) => failures.fail(format!(
                    "{}\n  bit {bit} flipped: vany refuses it: {e}",
                    ctx()
                )),
            }
            // One flipped bit in the sequence number (BU: MH bytes 6-7, BA: 8-9), which
            // the authenticator covers.
            let seq_at = parsed.upper_offset + if what == "BU" { 6 } else { 8 };
            let bit = seq_at * 8 + g.below(16) as usize;
            let bad = flipped(&bytes, bit);
            match wire::parse(&bad) {
                Ok(p) => failures.check_eq(&rr::verify_packet(&p, &right), &Ok(false), || {
                    format!(
                        "{}\n  still verifies with sequence bit {bit} flipped",
                        ctx()
                    )
                }),
                Err(e) => failures.fail(format!(
                    "{}\n  bit {bit} flipped: vany refuses it: {e}",
                    ctx()
                )),
            }
            verified += 1;
        }
    }
    println!(
        "Python-signed: {verified} BUs and BAs verified in {:?}",
        started.elapsed()
    );
    failures.finish();
}

// ------------------------------------------------------------------ malformed packets

#[derive(Deserialize)]
struct MalformedOutput {
    cases: Vec<MalformedCase>,
}

#[derive(Deserialize)]
struct MalformedCase {
    name: String,
    hex: Option<String>,
    error: Option<String>,
}

/// What vany must say about each packet of `mh_malformed.py`: the `Rule` variants it may
/// refuse it with, or (empty) that it parses but fails the checksum.
const MALFORMED: &[(&str, &[&str])] = &[
    // Option data longer than the MH: either rule names the problem.
    (
        "nonce_indices_default_olen",
        &["MhOptionLength", "MhOptionOverrun"],
    ),
    (
        "auth_data_default_olen",
        &["MhOptionLength", "MhOptionOverrun"],
    ),
    ("nonce_indices_misaligned", &["MhOptionMisaligned"]),
    ("alt_coa_misaligned", &["MhOptionMisaligned"]),
    ("auth_data_not_last", &["AuthDataNotLast"]),
    ("rh2_segleft_0", &["Rh2SegmentsLeft"]),
    ("rh2_two_addresses", &["Rh2Length"]),
    ("hao_misaligned", &["HaoMisaligned"]),
    ("mh_payload_proto", &["MhPayloadProto"]),
    ("hot_too_short", &["MhTooShort"]),
    ("bad_checksum", &[]),
    ("checksum_without_hao", &[]),
];

#[test]
fn scapy_built_malformed_packets_are_refused() {
    let out: MalformedOutput = python::run("mh_malformed.py", &serde_json::json!({}));
    let mut failures = Failures::unseeded("malformed scapy packets");
    failures.check_eq(&out.cases.len(), &MALFORMED.len(), || {
        "number of malformed cases".to_string()
    });
    for case in &out.cases {
        let Some((_, rules)) = MALFORMED.iter().find(|(n, _)| *n == case.name) else {
            failures.fail(format!("{}: no expectation for this case", case.name));
            continue;
        };
        let (Some(hex_str), None) = (&case.hex, &case.error) else {
            failures.fail(format!(
                "{}: the scapy helper failed: {:?}",
                case.name, case.error
            ));
            continue;
        };
        let bytes = hex::decode(hex_str).unwrap_or_default();
        let ctx = || format!("{}: scapy packet {hex_str}", case.name);
        let result = wire::parse(&bytes);
        match (result, rules.is_empty()) {
            (Ok(parsed), true) => {
                failures.check(!parsed.checksum_ok, || {
                    format!("{}\n  vany accepts the checksum", ctx())
                });
                failures.check(
                    matches!(
                        wire::parse_verified(&bytes),
                        Err(wire::PacketError::BadChecksum { .. })
                    ),
                    || format!("{}\n  parse_verified does not refuse it", ctx()),
                );
            }
            (Ok(parsed), false) => failures.fail(format!(
                "{}\n  vany accepts it, want one of {rules:?}: {:?}",
                ctx(),
                parsed.repr
            )),
            (Err(e), true) => failures.fail(format!("{}\n  vany refuses it: {e}", ctx())),
            (Err(e), false) => {
                let rule = format!("{:?}", e.rule);
                failures.check(rules.iter().any(|r| rule.starts_with(r)), || {
                    format!(
                        "{}\n  vany refuses it with {e} ({rule}), want one of {rules:?}",
                        ctx()
                    )
                });
            }
        };
    }
    failures.finish();
}
