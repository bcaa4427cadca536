//! Helpers shared by the tests that run in network namespaces made by the test itself
//! (root): commands, namespaces, waiting with a bound, `vany client` as a child process,
//! and the unmodified kernel TCP client that downloads and verifies a `source` stream.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vany_appliance::apps::source::{SourceRequest, StreamVerifier};

pub mod client_program;
pub mod content;
pub mod events;
pub mod guard;
pub mod handoffs;
pub mod lab;
pub mod tun_group;
pub mod veth;

/// The `vany` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vany");

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The environment variable with which `.ci/run` says that every test must really run.
pub const REQUIRED: &str = "VANY_TESTS_REQUIRED";

/// A test that cannot run here says why and passes, when run by hand; when `.ci/run`
/// set [`REQUIRED`], a skip is a failure (nothing stops running unnoticed).
pub fn skip(why: &str) {
    if std::env::var_os(REQUIRED).is_some_and(|v| v != "0") {
        panic!("{REQUIRED} is set, but this test would be skipped: {why}");
    }
    println!("skipped: {why}");
}

pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, killing it after `limit`.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// Polls `f` every 100 ms until it gives `Some`, for at most `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            println!("{what}: after {:.2} s", start.elapsed().as_secs_f64());
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter(ns: &str) -> Result<(), String> {
    let file = std::fs::File::open(format!("/var/run/netns/{ns}"))
        .map_err(|e| format!("opening namespace {ns}: {e}"))?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| format!("setns {ns}: {e}"))
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: String) -> Netns {
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// `ip -n NAME args`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `program` to run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `args` inside the namespace, panicking with its output if it fails.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    pub fn nstat(&self) -> BTreeMap<String, u64> {
        nstat(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The kernel's counters in namespace `ns` (`nstat -az`: absolute values, zeros too;
/// `-s`: no history file update).
pub fn nstat(ns: &str) -> BTreeMap<String, u64> {
    run("ip", &["netns", "exec", ns, "nstat", "-azs"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// Deletes namespaces left by earlier runs whose process is gone: names are a prefix
/// from `prefixes`, then the pid of the run, then optionally `-` and more.
pub fn remove_stale_namespaces(prefixes: &[&str]) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = prefixes
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            println!("removing stale namespace {name}");
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Starts `vany node --config CONFIG` in namespace `ns`, both output streams into a new
/// file `log`; `env` adjusts the node's environment (its `RUST_LOG`). `ip netns exec`
/// execs the node: the child's pid is the node's.
pub fn spawn_node(ns: &str, config: &Path, log: &Path, env: impl FnOnce(&mut Command)) -> Child {
    let out = std::fs::File::create(log).expect("create the node's log");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, BIN, "node", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone the log's handle"))
        .stderr(out);
    env(&mut cmd);
    cmd.spawn().expect("start vany node")
}

/// `vany client` in the client namespace, its output lines on channels.
pub struct VanyClient {
    pub child: Child,
    pub stdout: Receiver<String>,
    pub stderr: Receiver<String>,
}

impl VanyClient {
    /// `vany client ARGS` in namespace `ns`.
    pub fn spawn(ns: &str, args: &[&str]) -> VanyClient {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, BIN, "client"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning vany client");
        let lines = |r: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().expect("piped")));
        let stderr = lines(Box::new(child.stderr.take().expect("piped")));
        VanyClient {
            child,
            stdout,
            stderr,
        }
    }

    pub fn wait_ready(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(100)) {
                if line.starts_with("ready") {
                    return line;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "vany client exited ({status}): {}",
                    self.stderr.try_iter().collect::<Vec<_>>().join("\n")
                );
            }
        }
        panic!("vany client not ready within {limit:?}");
    }

    pub fn log(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// SIGTERM, then the JSON report it prints at exit.
    pub fn stop(&mut self) -> Option<serde_json::Value> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => break,
                Ok(Some(s)) => panic!("vany client exited with {s}"),
                _ if Instant::now() > deadline => panic!("vany client ignored SIGTERM"),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let last = self.stdout.recv_timeout(Duration::from_secs(2)).ok()?;
        serde_json::from_str(&last).ok()
    }
}

impl Drop for VanyClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = rustix::process::Pid::from_child(&self.child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What the kernel client saw.
#[derive(Debug, Default)]
pub struct Download {
    pub bytes: u64,
    pub sha256: String,
    pub mismatch: Option<String>,
    pub error: Option<String>,
    pub elapsed: Duration,
    /// From the request to the first byte.
    pub first_byte: Option<Duration>,
    /// Largest gaps between two reads that returned data: (gap, stream offset).
    pub gaps: Vec<(Duration, u64)>,
}

impl Download {
    pub fn largest_gap(&self) -> Duration {
        self.gaps.first().map_or(Duration::ZERO, |g| g.0)
    }
}

/// What [`kernel_download`] asks for.
#[derive(Debug, Clone, Copy)]
pub struct Fetch {
    /// The server (the anycast address, port 80).
    pub to: SocketAddr,
    /// Stream id, length and rate (bytes/s).
    pub id: u64,
    pub length: u64,
    pub rate: Option<u64>,
    /// How long the connect and each read may wait.
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Read at most this many bytes/s (a slow reader: the receive window closes and the
    /// server's send buffer stays full), or as fast as data comes.
    pub read_rate: Option<u64>,
}

/// The unmodified client: kernel TCP from a thread inside namespace `ns`. Asks the
/// stream `fetch` names and verifies every byte; `progress` follows the bytes received.
pub fn kernel_download(ns: &str, fetch: Fetch, progress: Arc<AtomicU64>) -> Download {
    let Fetch {
        to,
        id,
        length,
        rate,
        connect_timeout,
        read_timeout,
        read_rate,
    } = fetch;
    let started = Instant::now();
    let mut d = Download::default();
    if let Err(e) = enter(ns) {
        d.error = Some(e);
        return d;
    }
    let mut stream = match TcpStream::connect_timeout(&to, connect_timeout) {
        Ok(s) => s,
        Err(e) => {
            d.error = Some(format!("connect: {e} ({:?})", e.kind()));
            d.elapsed = started.elapsed();
            return d;
        }
    };
    let _ = stream.set_read_timeout(Some(read_timeout));
    let request = SourceRequest { id, length, rate };
    if let Err(e) = stream.write_all(&request.to_bytes()) {
        d.error = Some(format!("sending the request: {e}"));
        return d;
    }
    let asked = Instant::now();
    let mut verifier = StreamVerifier::new(id, Some(length));
    let mut buf = vec![
        0u8;
        if read_rate.is_some() {
            16 * 1024
        } else {
            256 * 1024
        }
    ];
    let mut last: Option<Instant> = None;
    // Bounded: at most one read per byte, and the read timeout bounds each.
    while d.bytes <= length {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let now = Instant::now();
                match last {
                    Some(t) => {
                        let gap = now - t;
                        if d.gaps.len() < 5 || gap > d.gaps[4].0 {
                            d.gaps.push((gap, d.bytes));
                            d.gaps.sort_by_key(|g| std::cmp::Reverse(g.0));
                            d.gaps.truncate(5);
                        }
                    }
                    None => d.first_byte = Some(now - asked),
                }
                last = Some(now);
                if d.mismatch.is_none() {
                    if let Err(m) = verifier.feed(&buf[..n]) {
                        d.mismatch = Some(m.to_string());
                    }
                }
                d.bytes += n as u64;
                progress.store(d.bytes, Ordering::Relaxed);
                if let Some(r) = read_rate {
                    // Sleep until the bytes read so far are due at `r` bytes/s.
                    let due = asked + Duration::from_secs_f64(d.bytes as f64 / r as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    last = Some(Instant::now());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                d.error = Some(format!(
                    "read after {} bytes: {e} ({:?})",
                    d.bytes,
                    e.kind()
                ));
                break;
            }
        }
    }
    d.sha256 = hex::encode(verifier.sha256());
    d.elapsed = started.elapsed();
    d
}
