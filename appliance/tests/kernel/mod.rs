//! The kernel side of `kernel_tcp` and vany's side of its data: `peer.py` run by the
//! kernel's TCP in a namespace, and a seeded stream vany's TCP sends while hashing
//! what it receives.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use ring::digest;
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Event, State};

use super::netns_common::Netns;
use super::{PEER_TIMEOUT_SECS, VOLUME};

/// The interpreter that runs `peer.py` (Debian's).
pub const PYTHON: &str = "/usr/bin/python3";

/// The kernel side: peer.py in the namespace. Killed on drop if still running.
pub struct Peer {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Peer {
    pub fn spawn(ns: &Netns, role: &str, host: &str, port: u16, seed: u64) -> Peer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kernel/peer.py");
        let mut child = ns
            .command(PYTHON)
            .arg("-B")
            .arg(&script)
            .args([
                role.to_string(),
                host.to_string(),
                port.to_string(),
                VOLUME.to_string(),
                seed.to_string(),
                PEER_TIMEOUT_SECS.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON} {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Peer {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    pub fn next_json(&self, timeout: Duration) -> Result<serde_json::Value, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line)
                .map_err(|e| format!("kernel peer printed {line:?}, not JSON: {e}")),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("no word from the kernel peer within {timeout:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => Err("the kernel peer exited".into()),
        }
    }

    /// Whether the process has exited, and if it failed, why.
    pub fn exited(&mut self) -> Option<Result<(), String>> {
        match self.child.try_wait() {
            Ok(Some(status)) if status.success() => Some(Ok(())),
            Ok(Some(status)) => Some(Err(format!(
                "kernel peer failed ({status}): {} {}",
                self.lines.try_iter().collect::<Vec<_>>().join("\n"),
                self.stderr_text()
            ))),
            Ok(None) => None,
            Err(e) => Some(Err(format!("waiting for the kernel peer: {e}"))),
        }
    }

    pub fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// vany's side of the data: sends `total` bytes from a seeded generator while reading
/// everything the peer sends; hashes both.
pub struct Stream {
    rng: SeededRandom,
    total: u64,
    chunk: Vec<u8>,
    pos: usize,
    /// Bytes sent.
    pub sent: u64,
    /// SHA-256 of what was sent.
    pub sent_hash: digest::Context,
    /// Bytes received.
    pub received: u64,
    /// SHA-256 of what was received.
    pub recv_hash: digest::Context,
    buf: Vec<u8>,
    closed: bool,
    peer_closed: bool,
}

impl Stream {
    pub fn new(total: u64, seed: u64) -> Stream {
        Stream {
            rng: SeededRandom::new(seed),
            total,
            chunk: Vec::new(),
            pos: 0,
            sent: 0,
            sent_hash: digest::Context::new(&digest::SHA256),
            received: 0,
            recv_hash: digest::Context::new(&digest::SHA256),
            buf: vec![0; 64 * 1024],
            closed: false,
            peer_closed: false,
        }
    }

    /// Reads and writes what the connection allows now. Returns whether anything moved.
    pub fn step(&mut self, conn: &mut Connection) -> Result<bool, String> {
        let mut progress = false;
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Reset => return Err(format!("vany: {} was reset", conn.tuple())),
                Event::TimedOut => return Err(format!("vany: {} timed out", conn.tuple())),
                _ => {}
            }
        }
        loop {
            match conn.recv(&mut self.buf) {
                Ok(0) => {
                    if conn.is_read_closed() && !self.peer_closed {
                        self.peer_closed = true;
                        progress = true;
                    }
                    break;
                }
                Ok(n) => {
                    self.recv_hash.update(&self.buf[..n]);
                    self.received += n as u64;
                    progress = true;
                }
                Err(e) => return Err(format!("vany recv: {e}")),
            }
        }
        while self.sent < self.total {
            if self.pos == self.chunk.len() {
                let n = (self.total - self.sent).min(64 * 1024) as usize;
                self.chunk.resize(n, 0);
                for word in self.chunk.chunks_mut(8) {
                    let bytes = self.rng.next_u64().to_le_bytes();
                    word.copy_from_slice(&bytes[..word.len()]);
                }
                self.pos = 0;
            }
            let n = conn
                .send(&self.chunk[self.pos..])
                .map_err(|e| format!("vany send: {e}"))?;
            if n == 0 {
                break;
            }
            self.sent_hash.update(&self.chunk[self.pos..self.pos + n]);
            self.pos += n;
            self.sent += n as u64;
            progress = true;
        }
        if self.sent == self.total && !self.closed {
            conn.close();
            self.closed = true;
            progress = true;
        }
        Ok(progress)
    }

    pub fn progress(&self) -> u64 {
        self.sent + self.received
    }

    pub fn done(&self, conn: &Connection) -> bool {
        self.closed && self.peer_closed && matches!(conn.state(), State::TimeWait | State::Closed)
    }
}
