//! Smoke test of `vany bench tun`: runs the binary as a user would, with a small volume,
//! and checks that the JSON report has every field and that the counts and rates are
//! positive. It never asserts on speed.
//!
//! Needs root (namespaces, TUN and veth devices): otherwise it checks that the command
//! refuses with exit status 2 and a message that says so, and passes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const VANY: &str = env!("CARGO_BIN_EXE_vany");
/// The run must end within this (8 MiB per transfer, 0.3 s per raw phase).
const LIMIT: Duration = Duration::from_secs(180);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `vany ARGS`, killing it after [`LIMIT`]. Returns (status code, stdout, stderr,
/// process id).
fn vany(args: &[&str]) -> (Option<i32>, String, String, u32) {
    let mut child = Command::new(VANY)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {VANY}: {e}"));
    let pid = child.id();
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for vany").is_some() {
            break;
        }
        if start.elapsed() > LIMIT {
            // SIGTERM first, so that the run removes its namespaces.
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let out = child.wait_with_output().expect("vany's output");
            panic!(
                "vany {args:?} did not finish within {LIMIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("vany's output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        pid,
    )
}

fn positive(row: &Value, field: &str, what: &str) {
    let v = row[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: field {field} missing or not a number: {row}"));
    assert!(v > 0.0, "{what}: {field} = {v}, want > 0: {row}");
}

fn present(row: &Value, field: &str, what: &str) {
    assert!(
        row.get(field).is_some_and(|v| !v.is_null()),
        "{what}: field {field} missing: {row}"
    );
}

fn row<'a>(rows: &'a Value, id: &str) -> &'a Value {
    rows.as_array()
        .expect("an array of rows")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {rows}"))
}

#[test]
fn bench_tun_reports_every_measurement() {
    if !is_root() {
        let (code, _, stderr, _) = vany(&["bench", "tun", "--mib", "8", "--json"]);
        if std::env::var_os("VANY_TESTS_REQUIRED").is_some_and(|v| v != "0") {
            panic!("VANY_TESTS_REQUIRED is set, but `vany bench tun` needs root: {stderr}");
        }
        println!("skipped: `vany bench tun` needs root; as a user it says: {stderr}");
        assert_eq!(code, Some(2), "exit status without root");
        assert!(stderr.contains("root"), "{stderr}");
        return;
    }
    let (code, stdout, stderr, pid) =
        vany(&["bench", "tun", "--mib", "8", "--seconds", "0.3", "--json"]);
    println!("stderr:\n{stderr}\nstdout:\n{stdout}");
    assert_eq!(code, Some(0), "vany bench tun failed: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON object");

    let config = &report["config"];
    for f in ["mib", "seconds", "batch", "mtu", "cpus"] {
        positive(config, f, "config");
    }
    present(config, "kernel", "config");
    present(config, "offloads", "config");
    assert_eq!(config["mib"], 8);
    // Offloads are on by default when the kernel grants them: then vany's rows moved
    // super-segments both ways.
    let offloaded = config["offloads"]
        .as_str()
        .is_some_and(|s| s.contains("TSO6"));

    for id in ["tun_tx_small", "tun_tx_mtu", "tun_rx_small", "tun_rx_mtu"] {
        let r = row(&report["raw"], id);
        for f in [
            "packet_bytes",
            "packets",
            "seconds",
            "pps",
            "gbit_per_s",
            "kernel_packets",
            "kernel_pps",
        ] {
            positive(r, f, id);
        }
        present(r, "dropped", id);
        present(r, "description", id);
    }

    for id in [
        "vany_to_kernel",
        "kernel_to_vany",
        "kernel_veth",
        "kernel_tun_fwd",
    ] {
        let r = row(&report["tcp"], id);
        for f in ["bytes", "seconds", "gbit_per_s", "mib_per_s"] {
            positive(r, f, id);
        }
        assert_eq!(r["bytes"], 8 << 20, "{id}: every byte arrived");
        present(r, "path", id);
        present(r, "description", id);
        present(r, "tun_packets", id);
        for f in ["tun_pps", "super_sent", "coalesced_received"] {
            present(r, f, id);
        }
        if id != "kernel_veth" {
            positive(r, "tun_packets", id);
        }
    }
    if offloaded {
        positive(
            row(&report["tcp"], "vany_to_kernel"),
            "super_sent",
            "offloads",
        );
        positive(
            row(&report["tcp"], "kernel_to_vany"),
            "coalesced_received",
            "offloads",
        );
    }

    for v in ["vany_to_kernel", "kernel_to_vany"] {
        for k in ["kernel_tun_fwd", "kernel_veth"] {
            let id = format!("{v}_over_{k}");
            let r = row(&report["ratios"], &id);
            assert_eq!((&r["numerator"], &r["denominator"]), (&v.into(), &k.into()));
            positive(r, "value", &id);
        }
    }
    assert!(
        !report["notes"].as_array().expect("notes").is_empty(),
        "notes"
    );

    // Every namespace the run made is gone (its devices went with them or their fds).
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let leftover: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("vanyb{pid}-")))
        .map(str::to_string)
        .collect();
    assert!(leftover.is_empty(), "namespaces left behind: {leftover:?}");
}
