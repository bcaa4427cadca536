//! `vany inspect` as a user runs it: the shipped sample capture, hex input, JSON, keys,
//! malformed input and bad arguments.

use std::path::PathBuf;
use std::process::{Command, Output};

fn vany(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vany"))
        .args(args)
        .output()
        .expect("run vany")
}

fn sample() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/return-routability.pcap");
    path.to_string_lossy().into_owned()
}

/// Tokens of the sample capture (printed by scripts/make-sample-capture.py).
const TOKENS: &str = "ea6f3d3f187cc821:9e6ea3da674714d8";
const KBM: &str = "9eccf08e057f6f5bd3a3a3c15f9c154acd1eb1ad";

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn sample_capture_decodes_with_valid_checksums_and_authenticators() {
    let sample = sample();
    for key in [["--tokens", TOKENS], ["--kbm", KBM]] {
        let out = vany(&["inspect", "--pcap", &sample, key[0], key[1], "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let packets = json_lines(&out);
        let types: Vec<_> = packets.iter().map(|p| p["mh_type"].clone()).collect();
        assert_eq!(
            types,
            ["HoTI", "CoTI", "HoT", "CoT", "BU", "BA"]
                .iter()
                .map(|t| serde_json::json!(t))
                .chain([serde_json::Value::Null, serde_json::Value::Null])
                .collect::<Vec<_>>()
        );
        for p in &packets {
            assert_eq!(p["checksum_ok"], true, "{p}");
        }
        let bu = &packets[4];
        assert_eq!(bu["authenticator_ok"], true);
        assert_eq!(bu["seq"], 1);
        assert_eq!(bu["lifetime"], 105);
        assert_eq!(bu["flags"]["A"], true);
        assert_eq!(bu["home_address"], "fd00:aa::1");
        let ba = &packets[5];
        assert_eq!(ba["authenticator_ok"], true);
        assert_eq!(ba["home_address"], "fd00:aa::1");
        assert_eq!(packets[0]["authenticator_ok"], serde_json::Value::Null);
    }
}

#[test]
fn wrong_tokens_say_the_authenticator_is_invalid() {
    let out = vany(&[
        "inspect",
        "--pcap",
        &sample(),
        "--tokens",
        "0000000000000000:9e6ea3da674714d8",
        "--json",
    ]);
    assert!(out.status.success());
    let packets = json_lines(&out);
    assert_eq!(packets[4]["authenticator_ok"], false);
    assert_eq!(packets[4]["checksum_ok"], true);
}

#[test]
fn no_key_leaves_authenticator_null() {
    let out = vany(&["inspect", "--pcap", &sample(), "--json"]);
    assert!(out.status.success());
    assert_eq!(
        json_lines(&out)[4]["authenticator_ok"],
        serde_json::Value::Null
    );
}

#[test]
fn text_output_names_every_field() {
    let out = vany(&["inspect", "--pcap", &sample(), "--tokens", TOKENS]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "mh.type = 5 (BU)",
        "bu.sequence = 1",
        "bu.flag.A = true",
        "bu.lifetime = 105 (420 s)",
        "destopt.hao.home_address = fd00:aa::1",
        "rh2.home_address = fd00:aa::1",
        "mh.option[0] = Nonce Indices: home 7, care-of 8",
        "authenticator = valid",
        "mh.checksum_pseudo_header = src fd00:aa::1 dst fd00:1::1",
        "tcp.checksum_pseudo_header = src fd00:1::1 dst fd00:aa::1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn malformed_hex_packet_exits_1_naming_offset_and_rule() {
    // IPv6 | MH with payload proto 6.
    let mut pkt = hex_bu();
    pkt.replace_range(80..82, "06");
    let out = vany(&["inspect", "--hex", &pkt]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("byte offset 40"), "{err}");
    assert!(err.contains("must be 59"), "{err}");
}

/// A BU without extension headers, as hex.
fn hex_bu() -> String {
    let mut p = String::from("6000000000108740");
    p.push_str("fd000000000000000000000000000002");
    p.push_str("fd000000000000000000000000000001");
    // MH: proto 59, len 1, BU, reserved, checksum 0, seq 1, flags A, lifetime 1
    p.push_str("3b010500000000018000000101000000");
    p
}

#[test]
fn hex_input_reports_a_bad_checksum_without_failing() {
    let out = vany(&["inspect", "--hex", &hex_bu(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = &json_lines(&out)[0];
    assert_eq!(p["mh_type"], "BU");
    assert_eq!(p["checksum_ok"], false);
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let out = vany(&["inspect", "--hex", "60zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a hex digit"));

    let out = vany(&["inspect", "--hex", &hex_bu(), "--kbm", "0011"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be 20 bytes"));

    let out = vany(&["inspect", "--hex", &hex_bu(), "--tokens", "00"]);
    assert_eq!(out.status.code(), Some(2));

    let out = vany(&["inspect", "--pcap", "/nonexistent/file.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let out = vany(&["inspect"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn truncated_pcap_is_an_error_after_decoding_what_is_there() {
    let data = std::fs::read(sample()).unwrap();
    let dir = std::env::temp_dir().join(format!("vany-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.pcap");
    std::fs::write(&path, &data[..data.len() - 5]).unwrap();
    let out = vany(&["inspect", "--pcap", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated record"));
}

#[test]
fn help_explains_the_command() {
    let out = vany(&["inspect", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--tokens"));
    assert!(text.contains("pseudo-header"));
}
