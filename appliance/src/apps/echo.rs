//! `echo`: every byte the client sends comes back, in order (RFC 862 over TCP). Reads only
//! as much as the send buffer can take, so a client that does not read its echo is
//! flow-controlled instead of growing any buffer here. Closes once the client has closed
//! its side and everything was echoed, or once nothing was echoed for
//! [`AppTimeouts::idle`]. Its state is a counter, two flags and two times: nothing else
//! travels in a handoff but the connection itself.

use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::Instant;

use super::{rebase, App, AppTimeouts, Linger};

/// Bytes moved per read/write round.
const CHUNK: usize = 4096;

/// The echo server of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoApp {
    /// Bytes echoed so far.
    echoed: u64,
    /// Our FIN is queued.
    closed: bool,
    /// The connection failed.
    failed: bool,
    timeouts: AppTimeouts,
    /// When a byte was last echoed (or the echo was last on its way).
    active_at: Option<Instant>,
    /// After the app closed: how long the client takes to close its side.
    linger: Linger,
}

impl EchoApp {
    /// A new echo connection.
    pub fn new() -> EchoApp {
        EchoApp::default()
    }

    /// A new echo connection with these timeouts.
    pub fn with_timeouts(timeouts: AppTimeouts) -> EchoApp {
        EchoApp {
            timeouts,
            ..EchoApp::default()
        }
    }

    /// Bytes echoed so far.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }
}

impl App for EchoApp {
    fn poll(&mut self, now: Instant, conn: &mut Connection) {
        self.active_at.get_or_insert(now);
        if self.failed {
            return;
        }
        if self.closed {
            self.linger.poll(now, conn, self.timeouts.idle);
            return;
        }
        if conn.is_closed() {
            self.failed = true;
            return;
        }
        let mut buf = [0u8; CHUNK];
        // Bounded: each round moves at least one byte out of a finite receive queue, or
        // stops.
        loop {
            let room = conn.send_capacity().min(CHUNK);
            if room == 0 || conn.recv_queue() == 0 {
                break;
            }
            let n = match conn.recv(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            };
            match conn.send(&buf[..n]) {
                // `room` bytes fit: all of them are taken.
                Ok(sent) if sent == n => {
                    self.echoed += n as u64;
                    self.active_at = Some(now);
                }
                _ => {
                    self.failed = true;
                    return;
                }
            }
        }
        if conn.send_queue() > 0 {
            // The echo is still on its way to the client.
            self.active_at = Some(now);
        }
        let idle = self.poll_at().is_some_and(|t| now >= t);
        if idle || (conn.is_read_closed() && conn.recv_queue() == 0) {
            conn.close();
            self.closed = true;
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if self.closed {
            return self.linger.deadline(self.timeouts.idle);
        }
        self.active_at.map(|t| t + self.timeouts.idle)
    }

    fn rebase_clock(&mut self, old: Instant, new: Instant) {
        self.active_at = self.active_at.map(|t| rebase(t, old, new));
        self.linger.rebase_clock(old, new);
    }

    fn is_finished(&self) -> bool {
        self.closed || self.failed
    }
}
