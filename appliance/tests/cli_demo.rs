//! `vany demo` as a first-time user runs it (issue 11): `--pcap` into a directory that
//! cannot be made, `--pcap` with `--gap-grid`, where the captures went and when they say
//! they were taken, and no `\r` progress line when stderr is not a terminal. Runs are
//! kept small (2 clients, 1 MiB each: well under a second).

mod temp_dir;

use temp_dir::TempDir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

fn vany(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vany"))
        .args(args)
        .output()
        .expect("run vany")
}

const SMALL: [&str; 5] = ["demo", "--clients", "2", "--mib", "1"];

fn small_with(extra: &[&str]) -> Output {
    let mut args = SMALL.to_vec();
    args.extend_from_slice(extra);
    vany(&args)
}

#[test]
fn an_unwritable_pcap_directory_fails_before_the_run_and_names_it() {
    let tmp = TempDir::new("cli-demo", "unwritable");
    // A directory under a regular file cannot be made, even by root.
    let file = tmp.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let dir = file.join("captures");
    let out = small_with(&["--pcap", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("cannot create the capture directory") && err.contains(dir.to_str().unwrap()),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no report for a run that did not start"
    );
}

#[test]
fn pcap_with_gap_grid_is_refused() {
    let tmp = TempDir::new("cli-demo", "grid");
    let out = vany(&["demo", "--gap-grid", "--pcap", tmp.0.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("--gap-grid") && err.contains("--pcap"),
        "{err}"
    );
}

/// The first record's timestamp (seconds) of a little-endian classic pcap.
fn first_timestamp(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() >= 24 + 16, "{}: no record", path.display());
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes());
    u32::from_le_bytes(bytes[24..28].try_into().unwrap())
}

#[test]
fn captures_are_created_listed_and_dated_by_the_run() {
    let tmp = TempDir::new("cli-demo", "pcap");
    let dir = tmp.0.join("new").join("captures"); // does not exist yet
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = small_with(&["--pcap", dir.to_str().unwrap()]);
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Three members and two clients.
    assert_eq!(files.len(), 5, "{files:?}");
    let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let summary = format!(
        "pcap: 5 files, {:.1} MB in {}",
        total as f64 / 1e6,
        dir.display()
    );
    assert!(text.contains(&summary), "want {summary:?} in:\n{text}");
    for f in &files {
        let len = f.metadata().unwrap().len();
        assert!(
            text.contains(&format!("{len:>12} bytes  {}", f.display())),
            "{} missing in:\n{text}",
            f.display()
        );
    }
    // The member that served the clients captured packets, dated by the run (simulated
    // time starts at the run's wall-clock start, plus at most the simulated seconds).
    let ts = u64::from(first_timestamp(&dir.join("member-amsterdam.pcap")));
    assert!(
        (before..=after + 120).contains(&ts),
        "first packet at {ts}, run between {before} and {after}"
    );
    // The JSON report lists them too.
    let out = small_with(&["--json", "--pcap", dir.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["captures"].as_array().map(Vec::len), Some(5));
}

#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    // `output()` pipes stderr: not a terminal.
    let out = vany(&SMALL);
    assert!(out.status.success());
    assert!(
        !out.stderr.contains(&b'\r'),
        "stderr: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.contains(&b'\r'));
}
