//! `dpdk-testpmd` as the reference of `vany bench dpdk`: run for a bounded time in
//! interactive mode (`start`, wait, `stop`, `quit` on its stdin), its accumulated
//! forward statistics parsed from what `stop` prints.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

/// testpmd's forwarding modes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `io`: each port's frames sent out of its peer port, untouched.
    Io,
    /// `rxonly`: frames received and freed.
    RxOnly,
    /// `txonly`: frames built and sent.
    TxOnly,
}

impl Mode {
    /// testpmd's name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Io => "io",
            Mode::RxOnly => "rxonly",
            Mode::TxOnly => "txonly",
        }
    }
}

/// What one testpmd run counted, over all ports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Seconds between `start` and `stop`.
    pub secs: f64,
}

/// Runs testpmd with `eal` (EAL arguments) in `mode` for `seconds`, one forwarding core,
/// frames of `size` bytes in txonly mode. Killed if it has not quit 30 s after `stop`.
pub fn run(eal: &[String], mode: Mode, size: usize, seconds: f64) -> Result<Counts, BenchError> {
    let mut cmd = Command::new("dpdk-testpmd");
    cmd.args(eal).args([
        "--",
        "-i",
        &format!("--forward-mode={}", mode.name()),
        "--total-num-mbufs=16384",
        &format!("--txpkts={size}"),
    ]);
    let line = format!("dpdk-testpmd {}", cmd_line(&cmd));
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            program: "dpdk-testpmd".into(),
            hint: "Debian package dpdk-dev",
            source,
        })?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(BenchError::Command {
            command: line,
            status: "no stdin/stdout pipe".into(),
            output: String::new(),
        });
    };
    // The reader tells when the prompt appears (ports up), then keeps everything.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut ready = Some(ready_tx);
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            if ready.is_some() && out.windows(9).any(|w| w == b"testpmd> ") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    // Start the clock once it is set up (or give up on it after 30 s: parse fails).
    let _ = ready_rx.recv_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let _ = stdin.write_all(b"start\n").and_then(|()| stdin.flush());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let _ = stdin.write_all(b"stop\n").and_then(|()| stdin.flush());
    let secs = started.elapsed().as_secs_f64();
    let _ = stdin.write_all(b"quit\n");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    let fail = |why: &str| BenchError::Command {
        command: line.clone(),
        status: status.map_or("killed after 30 s".into(), |s| s.to_string()),
        output: format!("{why}; last output: {}", tail(&out)),
    };
    // testpmd leaves its runtime directory behind.
    if let Some(prefix) = eal.iter().find_map(|a| a.strip_prefix("--file-prefix=")) {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    }
    parse(&out, secs).ok_or_else(|| fail("no accumulated forward statistics"))
}

fn cmd_line(cmd: &Command) -> String {
    cmd.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// The RX and TX packets of the "Accumulated forward statistics for all ports" block.
pub fn parse(out: &str, secs: f64) -> Option<Counts> {
    let block = &out[out.find("Accumulated forward statistics")?..];
    let field = |name: &str| -> Option<u64> {
        let at = block.find(name)? + name.len();
        block[at..].split_whitespace().next()?.parse().ok()
    };
    Some(Counts {
        rx: field("RX-packets:")?,
        tx: field("TX-packets:")?,
        secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accumulated_statistics() {
        let out = "  ---- Forward statistics for port 0 ----\n  RX-packets: 5  RX-dropped: 0 \
                   RX-total: 5\n  +++++ Accumulated forward statistics for all ports+++++\n  \
                   RX-packets: 85055360       RX-dropped: 0             RX-total: 85055360\n  \
                   TX-packets: 85055359       TX-dropped: 0             TX-total: 85055359\n";
        let c = parse(out, 2.0).unwrap();
        assert_eq!((c.rx, c.tx), (85055360, 85055359));
        assert!(parse("EAL: Error - exiting with code: 1", 1.0).is_none());
    }
}
