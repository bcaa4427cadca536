//! Real client programs (curl, wget, wrk) in a [`Lab`]'s client namespace, and the
//! operator's moves of the client's session while one runs: shared by the tests of the
//! apps over real nodes (`files_netns`, `proxy_netns`).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::lab::{metric, Lab, CLIENT, MIB};
use super::wait_for;

/// `program` in the client namespace.
pub fn client_cmd(lab: &Lab, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns_name("cl"), program]);
    c
}

/// How long a sampler thread watches a program's output at most.
const SAMPLE_LIMIT: Duration = Duration::from_secs(200);

/// A client program running in the client namespace, writing `out`, whose growth a
/// thread samples every millisecond (arrival times); its own output goes to `log`.
/// Killed on drop.
pub struct Running {
    child: Option<Child>,
    /// The file the program writes.
    pub out: PathBuf,
    log: PathBuf,
    /// When it was started.
    pub started: Instant,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<Vec<(Instant, u64)>>>,
}

impl Running {
    /// `program args` in the client namespace, its stdout and stderr into `log`.
    pub fn spawn(lab: &Lab, program: &str, args: &[String], out: PathBuf, log: PathBuf) -> Running {
        let f = File::create(&log).expect("the program's log");
        let child = client_cmd(lab, program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("clone the log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, path) = (Arc::clone(&stop), out.clone());
        let sampler = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut last = 0;
            let until = Instant::now() + SAMPLE_LIMIT;
            // Bounded: SAMPLE_LIMIT.
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                if len > last {
                    seen.push((Instant::now(), len));
                    last = len;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            seen
        });
        Running {
            child: Some(child),
            out,
            log,
            started: Instant::now(),
            stop,
            sampler: Some(sampler),
        }
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        std::fs::metadata(&self.out).map_or(0, |m| m.len())
    }

    /// The exit status, once the program has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the program's end (at most `limit`, then a failure).
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let status = wait_for("the client program ends", limit, || self.exited());
        self.child = None;
        status
    }

    /// The arrival samples (time, bytes written), once: sampling stops.
    pub fn samples(&mut self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Kills the program (if it still runs).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the program printed.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A `/metrics` sample of node `i`.
pub fn node_metric(lab: &Lab, i: u16, name: &str) -> f64 {
    metric(
        &lab.metrics(i)
            .unwrap_or_else(|| panic!("node {i}'s /metrics")),
        name,
    )
}

/// The sum over the nodes of a `/metrics` sample.
pub fn sum_metric(lab: &Lab, name: &str) -> f64 {
    (1..=lab.nodes_count)
        .map(|i| node_metric(lab, i, name))
        .sum()
}

/// The message of a `vany ctl` answer (its JSON's `message` or `error`), on one line.
pub fn ctl_answer(out: &Output) -> String {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    match v["message"].as_str().or(v["error"].as_str()) {
        Some(m) => m.to_string(),
        None => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// `vany ctl handoff CLIENT to`, asked of the node running member `from`, which must
/// accept it: when it was asked, and the answer.
pub fn ask_move(lab: &Lab, from: u16, to: u16) -> (Instant, String) {
    let asked = Instant::now();
    let out = lab.ctl(
        lab.node_of(from),
        &["handoff", &CLIENT.to_string(), &to.to_string()],
    );
    let answer = ctl_answer(&out);
    assert!(
        out.status.success(),
        "vany ctl handoff {CLIENT} {to} on member {from}: {answer}"
    );
    (asked, answer)
}

/// Waits until the client's session is settled at `member` (at most `limit`, polled
/// every 10 ms): when it was seen there.
pub fn wait_settled_at(lab: &mut Lab, member: u16, limit: Duration, what: &str) -> Instant {
    let start = Instant::now();
    while lab.settled_at(CLIENT) != Some(member) {
        assert!(
            start.elapsed() < limit,
            "{what}: the session is not settled at member {member} after {limit:?} (at {:?})",
            lab.settled_at(CLIENT)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Instant::now()
}

/// One operator move: from, to, bytes the program had then, when asked, when seen
/// settled.
pub struct Move {
    pub from: u16,
    pub to: u16,
    pub at_bytes: u64,
    pub asked: Instant,
    pub settled: Instant,
}

impl Move {
    /// From the request to the session seen settled at its new member.
    pub fn settle_time(&self) -> Duration {
        self.settled - self.asked
    }
}

/// Moves the session from member `from` to `to` (asked of the node serving it) and
/// waits until it is settled there (10 s at most); prints one line.
pub fn move_session(lab: &mut Lab, from: u16, to: u16, at_bytes: u64) -> Move {
    let (asked, answer) = ask_move(lab, from, to);
    let what = format!("the move {from} -> {to}");
    let settled = wait_settled_at(lab, to, Duration::from_secs(10), &what);
    let m = Move {
        from,
        to,
        at_bytes,
        asked,
        settled,
    };
    println!(
        "  move {from} -> {to} at {:>6.1} MiB: settled after {:>4} ms ({answer})",
        at_bytes as f64 / MIB as f64,
        m.settle_time().as_millis()
    );
    m
}

/// Moves the session `moves` times while `program` runs, each from the member serving
/// it to the next node round the group: the k-th move (from 0) once `due(program, k)`
/// gives the bytes to report. Fewer moves if the program ends first. Bounded by
/// `limit`, polled every 20 ms.
pub fn moves_while(
    lab: &mut Lab,
    program: &mut Running,
    moves: usize,
    limit: Duration,
    due: impl Fn(&Running, usize) -> Option<u64>,
) -> Vec<Move> {
    let mut done = Vec::new();
    let deadline = Instant::now() + limit;
    while program.exited().is_none() && done.len() < moves {
        assert!(
            Instant::now() < deadline,
            "{} moves after {limit:?}",
            done.len()
        );
        std::thread::sleep(Duration::from_millis(20));
        let Some(at_bytes) = due(program, done.len()) else {
            continue;
        };
        let Some(at) = lab.settled_at(CLIENT) else {
            continue;
        };
        let to = at % lab.nodes_count + 1;
        done.push(move_session(lab, at, to, at_bytes));
    }
    done
}

/// For [`moves_while`]: `moves` moves spread over the first 85 % of a download of `len`
/// bytes.
pub fn spread_over(len: u64, moves: usize) -> impl Fn(&Running, usize) -> Option<u64> {
    let step = len * 85 / 100 / (moves as u64 + 1);
    move |program, k| {
        let got = program.bytes();
        (got >= step * (k as u64 + 1)).then_some(got)
    }
}
