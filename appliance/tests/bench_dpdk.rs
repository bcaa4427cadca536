//! `vany bench dpdk` end to end, briefly: vany's three phases and testpmd's three on one
//! frame size, all with packets counted, the three packet paths (client translation
//! both ways, member forwarding) with every packet received handled, and vany's TCP to
//! and from a kernel socket over DPDK (af_packet, tap) and over TUN with every byte
//! delivered, in the JSON report. Needs root, a DPDK build and dpdk-testpmd; skips with the reason otherwise (fails with VANY_TESTS_REQUIRED=1).
//! Speeds are printed, never asserted.

mod netns_common;

use std::process::Command;
use std::time::Duration;

use netns_common::{is_root, run_limited, skip};

#[test]
fn bench_dpdk_reports_vany_and_testpmd() {
    if !vany_ffi::BUILT_WITH_DPDK {
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return skip("DPDK's EAL needs root");
    }
    if Command::new("dpdk-testpmd")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip("dpdk-testpmd is not installed (Debian package dpdk-dev)");
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vany"));
    cmd.args([
        "bench",
        "dpdk",
        "--seconds",
        "0.2",
        "--sizes",
        "64",
        "--tcp-mib",
        "64",
        "--json",
    ]);
    let out = run_limited(&mut cmd, Duration::from_secs(240));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    for who in ["vany", "testpmd"] {
        for mode in ["rx-only", "tx-only", "io-fwd"] {
            let row = rows
                .iter()
                .find(|r| r["who"] == who && r["mode"] == mode)
                .unwrap_or_else(|| panic!("no {who} {mode} row"));
            assert!(row["packets"].as_u64().unwrap() > 0, "{who} {mode}: {row}");
            println!("{who} {mode} 64 B: {} Mpps", row["mpps"]);
        }
    }
    assert_eq!(report["ratios"].as_array().unwrap().len(), 3);
    let paths = report["paths"].as_array().expect("a paths array");
    for path in ["client-out", "client-in", "member-fwd"] {
        let row = paths
            .iter()
            .find(|r| r["path"] == path && r["size"] == 64)
            .unwrap_or_else(|| panic!("no {path} row"));
        let received = row["received"].as_u64().unwrap();
        let handled = row["handled"].as_u64().unwrap();
        // Every primed frame is a packet the path translates or forwards.
        assert!(handled > 0 && handled == received, "{path}: {row}");
        let sent = row["sent"].as_u64().unwrap();
        if path == "member-fwd" {
            // A burst's 60-byte packets travel together: at most 16 per datagram (1,044
            // bytes of packets with their transfer and length), so fewer datagrams
            // than packets, never fewer than a sixteenth.
            assert!(
                sent < handled && sent >= handled.div_ceil(16),
                "{path}: {row}"
            );
        } else {
            assert!(sent >= handled, "{path}: {row}");
        }
        // A TCP/IPv6 frame is at least 74 bytes (98 with a HAO).
        let frame = if path == "client-in" { 98 } else { 74 };
        assert_eq!(row["frame"], frame, "{path}: {row}");
        println!("vany {path} 64 B: {} Mpps", row["mpps"]);
    }
    // io-forward on one core and on two, each with ports of its own.
    let cores = report["cores"].as_array().expect("a cores array");
    assert_eq!(cores.len(), 2);
    for (i, row) in cores.iter().enumerate() {
        assert_eq!(row["cores"], i + 1, "{row}");
        assert!(row["packets"].as_u64().unwrap() > 0, "{row}");
    }
    println!("io-fwd 2 cores / 1: {}", report["two_core_scaling"]);
    // vany's TCP over both DPDK ports (its ND resolving the kernel) and over TUN, each
    // way: every byte arrives.
    let tcp = report["tcp"].as_array().expect("a tcp array");
    for port in ["af_packet", "tap", "tun"] {
        for direction in ["vany_to_kernel", "kernel_to_vany"] {
            let id = format!("{port}_{direction}");
            let row = tcp
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("no {id} row"));
            assert_eq!(row["bytes"].as_u64(), Some(64 << 20), "{id}: {row}");
            println!("vany TCP {id}: {} Gbit/s", row["gbit_per_s"]);
        }
    }
    assert_eq!(report["tcp_dpdk_over_tun"].as_array().unwrap().len(), 4);
}
