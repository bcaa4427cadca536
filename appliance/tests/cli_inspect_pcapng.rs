//! `vany inspect` on pcapng (issue 13): files written by an independent tool (scapy's
//! pcapng writer, and a pcapng laid out by a Python script from the format's spec with
//! several sections, byte orders, interfaces, link types, timestamp resolutions and
//! block types vany skips) must read exactly like the classic pcap holding the same
//! packets; malformed files must give a clean error naming the offset, never a panic.
//! Needs scapy in /usr/bin/python3 (`.ci/run` installs it); skips without it unless
//! VANY_TESTS_REQUIRED=1.

mod temp_dir;

use temp_dir::TempDir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vany(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vany"))
        .args(args)
        .output()
        .expect("run vany")
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/return-routability.pcap")
}

/// Tokens of the sample capture (printed by scripts/make-sample-capture.py).
const TOKENS: &str = "ea6f3d3f187cc821:9e6ea3da674714d8";

/// Runs a Python script with /usr/bin/python3; `None` (after saying why) when scapy is
/// missing and tests are not required.
fn python(script: &str, args: &[&Path]) -> Option<()> {
    let has_scapy = Command::new("/usr/bin/python3")
        .args(["-c", "import scapy.utils"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_scapy {
        let why = "no scapy in /usr/bin/python3 (apt-get install python3-scapy)";
        assert!(
            std::env::var("VANY_TESTS_REQUIRED").as_deref() != Ok("1"),
            "required test cannot run: {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

/// scapy rewrites a classic pcap (argv[1]) as pcapng (argv[2]): one raw IPv6 interface,
/// microsecond timestamps.
const SCAPY_TO_PCAPNG: &str = r#"
import sys, logging
logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.utils import rdpcap, PcapNgWriter
packets = rdpcap(sys.argv[1])
w = PcapNgWriter(sys.argv[2])
w.linktype = 229
w.write(packets)
w.close()
"#;

/// Lays out a pcapng (argv[2]) holding the packets of a classic pcap (argv[1]), by the
/// pcapng spec: a big-endian section with a raw-IPv6 interface (default microseconds)
/// and an Ethernet interface (nanoseconds, if_tsresol 9), packets alternating between
/// them; then a little-endian section with one raw-IPv6 interface counting 2^-20 s and
/// a 10 s if_tsoffset. Name Resolution, Interface Statistics and a custom block are in
/// between and must be skipped; one packet carries a comment option.
const HANDMADE_PCAPNG: &str = r#"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\xd4\xc3\xb2\xa1"
packets, o = [], 24
while o < len(data):
    sec, usec, incl, orig = struct.unpack("<IIII", data[o:o + 16])
    packets.append((sec, usec, data[o + 16:o + 16 + incl]))
    o += 16 + incl

def pad(b):
    return b + b"\0" * (-len(b) % 4)

def opt(e, code, value):
    return struct.pack(e + "HH", code, len(value)) + pad(value)

def end(e):
    return struct.pack(e + "HH", 0, 0)

def block(e, type_, body):
    body = pad(body)
    n = 12 + len(body)
    return struct.pack(e + "II", type_, n) + body + struct.pack(e + "I", n)

def shb(e):
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
                 + opt(e, 4, b"vany test") + end(e))

def idb(e, link, options=b""):
    return block(e, 1, struct.pack(e + "HHI", link, 0, 0) + options)

def epb(e, iface, units, frame, options=b""):
    return block(e, 6, struct.pack(e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF,
                                   len(frame), len(frame)) + pad(frame) + options)

eth = bytes.fromhex("020000000002" "020000000001" "86dd")
half = len(packets) // 2
out = shb(">")
out += idb(">", 229)
out += idb(">", 1, opt(">", 9, b"\x09") + end(">"))
out += block(">", 4, struct.pack(">HH", 0, 0))
for i, (sec, usec, pkt) in enumerate(packets[:half]):
    if i % 2 == 0:
        comment = opt(">", 1, b"first half") + end(">") if i == 0 else b""
        out += epb(">", 0, sec * 1000000 + usec, pkt, comment)
    else:
        out += epb(">", 1, (sec * 1000000 + usec) * 1000, eth + pkt)
out += block(">", 5, struct.pack(">III", 0, 0, 0))
out += shb("<")
out += idb("<", 229, opt("<", 9, bytes([0x80 | 20])) + opt("<", 14, struct.pack("<q", 10)) + end("<"))
out += block("<", 0x00000BAD, struct.pack("<I", 32473) + b"skip")
for sec, usec, pkt in packets[half:]:
    units = ((sec - 10) * 1000000 + usec) * (1 << 20) // 1000000
    out += epb("<", 0, units, pkt)
open(sys.argv[2], "wb").write(out)
"#;

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "vany inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn inspect_json(path: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["inspect", "--pcap", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    json_lines(&vany(&args))
}

#[test]
fn scapy_pcapng_of_demo_and_sample_captures_reads_exactly_like_the_pcap() {
    let tmp = TempDir::new("cli-pcapng", "scapy");
    let dir = tmp.0.join("captures");
    let out = vany(&[
        "demo",
        "--clients",
        "2",
        "--mib",
        "1",
        "--pcap",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (pcap, extra) in [
        (dir.join("member-amsterdam.pcap"), vec![]),
        (sample(), vec!["--tokens", TOKENS]),
    ] {
        let ng = tmp.0.join("converted.pcapng");
        if python(SCAPY_TO_PCAPNG, &[&pcap, &ng]).is_none() {
            return;
        }
        let from_pcap = inspect_json(&pcap, &extra);
        let from_pcapng = inspect_json(&ng, &extra);
        assert!(from_pcap.len() > 5, "{} packets", from_pcap.len());
        assert_eq!(from_pcapng, from_pcap, "{}", pcap.display());
    }
}

#[test]
fn pcapng_with_two_sections_byte_orders_interfaces_and_skipped_blocks() {
    let tmp = TempDir::new("cli-pcapng", "handmade");
    let ng = tmp.0.join("handmade.pcapng");
    if python(HANDMADE_PCAPNG, &[&sample(), &ng]).is_none() {
        return;
    }
    let from_pcap = inspect_json(&sample(), &["--tokens", TOKENS]);
    let from_pcapng = inspect_json(&ng, &["--tokens", TOKENS]);
    assert_eq!(from_pcapng.len(), from_pcap.len());
    let half = from_pcap.len() / 2;
    for (i, (ng, pcap)) in from_pcapng.iter().zip(&from_pcap).enumerate() {
        let ethernet = i < half && i % 2 == 1;
        for key in [
            "index",
            "mh_type",
            "checksum",
            "checksum_ok",
            "authenticator_ok",
            "seq",
            "home_address",
            "src",
            "dst",
            "upper",
        ] {
            assert_eq!(ng[key], pcap[key], "packet {i}: {key}");
        }
        let extra = if ethernet { 14 } else { 0 };
        assert_eq!(
            ng["length"].as_u64().unwrap(),
            pcap["length"].as_u64().unwrap() + extra,
            "packet {i}"
        );
        let (a, b) = (
            ng["timestamp"].as_f64().unwrap(),
            pcap["timestamp"].as_f64().unwrap(),
        );
        // The second section counts 2^-20 s: within a microsecond.
        assert!((a - b).abs() < 1.5e-6, "packet {i}: {a} vs {b}");
        if i < half {
            assert_eq!(a, b, "packet {i}");
        }
    }
    assert!(from_pcapng.iter().any(|p| p["authenticator_ok"] == true));
}

/// The scapy conversion of the sample, as bytes.
fn sample_pcapng(tmp: &TempDir) -> Option<Vec<u8>> {
    let ng = tmp.0.join("sample.pcapng");
    python(SCAPY_TO_PCAPNG, &[&sample(), &ng])?;
    Some(std::fs::read(&ng).unwrap())
}

/// Runs `vany inspect` on `bytes`; the exit code must be 2 (not a panic's 101) and the
/// message must contain every needle.
fn assert_refused(tmp: &TempDir, name: &str, bytes: &[u8], needles: &[&str]) {
    let path = tmp.0.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = vany(&["inspect", "--pcap", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{name}: missing {needle:?} in {err}");
    }
}

/// Offset of the first block of `type_` in a little-endian pcapng.
fn block_offset(ng: &[u8], type_: u32) -> usize {
    let mut at = 0;
    while at + 8 <= ng.len() {
        let t = u32::from_le_bytes(ng[at..at + 4].try_into().unwrap());
        if t == type_ {
            return at;
        }
        at += u32::from_le_bytes(ng[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    panic!("no block of type {type_}");
}

#[test]
fn malformed_pcapng_is_a_clean_error_naming_the_offset() {
    let tmp = TempDir::new("cli-pcapng", "malformed");
    let Some(ng) = sample_pcapng(&tmp) else {
        return;
    };
    let idb = block_offset(&ng, 1);
    let first_epb = block_offset(&ng, 6);

    // A block cut short by the end of the file.
    let cut = &ng[..ng.len() - 5];
    assert_refused(&tmp, "cut.pcapng", cut, &["truncated block", "byte offset"]);

    // A zero-length block after the first packet.
    let mut zero = ng[..first_epb].to_vec();
    zero.extend_from_slice(&6u32.to_le_bytes());
    zero.extend_from_slice(&0u32.to_le_bytes());
    zero.extend_from_slice(&[0; 16]);
    assert_refused(
        &tmp,
        "zero.pcapng",
        &zero,
        &[
            &format!("at byte offset {first_epb}"),
            "below the 12-byte minimum",
        ],
    );

    // A Section Header with a bad byte-order magic.
    let mut bom = ng.clone();
    bom[8..12].copy_from_slice(&[1, 2, 3, 4]);
    assert_refused(&tmp, "bom.pcapng", &bom, &["byte-order magic"]);

    // A trailing length that disagrees with the leading one.
    let mut trailer = ng.clone();
    let len = u32::from_le_bytes(ng[first_epb + 4..first_epb + 8].try_into().unwrap()) as usize;
    trailer[first_epb + len - 4] ^= 0x40;
    assert_refused(
        &tmp,
        "trailer.pcapng",
        &trailer,
        &["differs from the length"],
    );

    // An interface with a link type vany does not decode (802.11, 105).
    let mut wifi = ng.clone();
    wifi[idb + 8..idb + 10].copy_from_slice(&105u16.to_le_bytes());
    assert_refused(
        &tmp,
        "wifi.pcapng",
        &wifi,
        &["link type 105 is not supported"],
    );

    // A packet on an interface no Interface Description Block declared.
    let mut iface = ng.clone();
    iface[first_epb + 8..first_epb + 12].copy_from_slice(&3u32.to_le_bytes());
    assert_refused(
        &tmp,
        "iface.pcapng",
        &iface,
        &["interface 3", "declares only 1"],
    );

    // Neither pcap nor pcapng.
    assert_refused(
        &tmp,
        "gif.pcap",
        b"GIF89a and then some more bytes of an image",
        &["neither classic pcap nor pcapng"],
    );
}

#[test]
fn every_truncation_of_a_pcapng_is_read_or_refused_without_a_panic() {
    let tmp = TempDir::new("cli-pcapng", "prefixes");
    let Some(ng) = sample_pcapng(&tmp) else {
        return;
    };
    // Cut at every 4-byte boundary and a few bytes after it: bounded (the sample is
    // well under 2 KB, so a few hundred runs).
    let mut refused = 0;
    for end in (0..ng.len()).filter(|e| e % 4 == 0 || e % 4 == 1) {
        let path = tmp.0.join("prefix.pcapng");
        std::fs::write(&path, &ng[..end]).unwrap();
        let out = vany(&["inspect", "--pcap", path.to_str().unwrap(), "--json"]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(2),
            "cut at {end}: exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if code == Some(2) {
            refused += 1;
        }
    }
    assert!(refused > 0);
    let whole = inspect_json(&tmp.0.join("sample.pcapng"), &[]);
    assert_eq!(whole.len(), 8);
}
