//! `echo`: every byte the client sends comes back, in order (RFC 862 over TCP). Reads only
//! as much as the send buffer can take, so a client that does not read its echo is
//! flow-controlled instead of growing any buffer here. Closes once the client has closed
//! its side and everything was echoed. Its state is two flags: nothing travels in a
//! handoff but the connection itself.

use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::Instant;

use super::App;

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
}

impl EchoApp {
    /// A new echo connection.
    pub fn new() -> EchoApp {
        EchoApp::default()
    }

    /// Bytes echoed so far.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }
}

impl App for EchoApp {
    fn poll(&mut self, _now: Instant, conn: &mut Connection) {
        if self.failed || self.closed {
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
                Ok(sent) if sent == n => self.echoed += n as u64,
                _ => {
                    self.failed = true;
                    return;
                }
            }
        }
        if conn.is_read_closed() && conn.recv_queue() == 0 {
            conn.close();
            self.closed = true;
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        None
    }

    fn is_finished(&self) -> bool {
        self.closed || self.failed
    }
}
