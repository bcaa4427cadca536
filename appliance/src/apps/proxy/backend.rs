//! The proxy's connections to its backend: ordinary kernel TCP sockets, non-blocking
//! (mio), one per client connection with a request under way, keyed by that client
//! connection's four-tuple. This is the I/O half of the proxy: the app (plain data, in
//! the session snapshot) decides what to send and what to relay; a member that takes a
//! session over opens its own connection to its own backend.
//!
//! Nothing here blocks: connecting, writing and reading return at once, and readiness
//! comes from an epoll set ([`ProxySite::ready`]) the node's loop polls with the packets.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;
use vany_stack::tcp::FourTuple;

use super::ProxyConfig;

/// Most bytes read from a backend ahead of the client (per connection): the rest waits
/// in the kernel socket, so a slow client slows the backend (TCP flow control).
pub const READ_AHEAD: usize = 256 * 1024;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Counters of one proxy app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Requests sent to the backend (resumptions included).
    pub requests: u64,
    /// Responses resumed from a byte offset after a handoff.
    pub resumed: u64,
    /// Resumptions the backend did not honour (the client connection was reset).
    pub resume_failed: u64,
    /// 502 answers: the backend refused the connection, failed or sent garbage.
    pub bad_gateway: u64,
    /// 504 answers: no response head in time.
    pub gateway_timeout: u64,
    /// Responses cut short by the backend (the client connection was reset).
    pub truncated: u64,
    /// Client requests refused by the proxy itself (400, 411, 413, 431).
    pub refused: u64,
    /// Backend connections open now.
    pub open: u64,
}

impl std::ops::AddAssign for ProxyStats {
    /// Adds `other`'s counts (several proxies, several cores).
    fn add_assign(&mut self, o: ProxyStats) {
        self.requests += o.requests;
        self.resumed += o.resumed;
        self.resume_failed += o.resume_failed;
        self.bad_gateway += o.bad_gateway;
        self.gateway_timeout += o.gateway_timeout;
        self.truncated += o.truncated;
        self.refused += o.refused;
        self.open += o.open;
    }
}

/// One backend connection.
#[derive(Debug)]
struct Backend {
    stream: TcpStream,
    token: Token,
    /// The request, and how much of it was written.
    out: Vec<u8>,
    written: usize,
    /// Bytes read, not yet taken by the app (`inbuf[at..]`).
    inbuf: Vec<u8>,
    at: usize,
    /// The backend closed its side.
    eof: bool,
    /// Why the connection failed, if it did.
    error: Option<String>,
}

/// What the app sees of its backend connection after [`ProxySite::pump`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pumped {
    /// No connection for this client connection.
    None,
    /// Open; `eof` once the backend closed its side.
    Open {
        /// The backend closed (all it sent is in the buffer).
        eof: bool,
    },
    /// Failed (connect refused, reset, ...).
    Failed(String),
}

/// The backend of one proxy app and its connections.
#[derive(Debug)]
pub struct ProxySite {
    cfg: ProxyConfig,
    poll: Poll,
    events: Events,
    conns: HashMap<FourTuple, Backend>,
    tokens: HashMap<Token, FourTuple>,
    next_token: usize,
    stats: ProxyStats,
}

impl ProxySite {
    /// A site for `cfg` (an epoll set of its own; no connection yet).
    pub fn open(cfg: ProxyConfig) -> std::io::Result<ProxySite> {
        Ok(ProxySite {
            cfg,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            conns: HashMap::new(),
            tokens: HashMap::new(),
            next_token: 0,
            stats: ProxyStats::default(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.cfg
    }

    /// Its counters.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            open: self.conns.len() as u64,
            ..self.stats
        }
    }

    pub(super) fn stats_mut(&mut self) -> &mut ProxyStats {
        &mut self.stats
    }

    /// Whether a connection for `tuple` exists.
    pub fn has(&self, tuple: &FourTuple) -> bool {
        self.conns.contains_key(tuple)
    }

    /// Whether any backend connection is open.
    pub fn active(&self) -> bool {
        !self.conns.is_empty()
    }

    /// Opens a connection to the backend for client connection `tuple` and queues
    /// `request` on it (replacing any earlier connection of that tuple). Connecting is
    /// non-blocking: a refusal shows in a later [`pump`](Self::pump).
    pub fn start(&mut self, tuple: FourTuple, request: Vec<u8>) -> Result<(), String> {
        self.end(&tuple);
        let stream = TcpStream::connect(self.cfg.backend)
            .map_err(|e| format!("cannot connect to {}: {e}", self.cfg.backend))?;
        let token = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1);
        let mut b = Backend {
            stream,
            token,
            out: request,
            written: 0,
            inbuf: Vec::new(),
            at: 0,
            eof: false,
            error: None,
        };
        self.poll
            .registry()
            .register(
                &mut b.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("cannot poll the backend connection: {e}"))?;
        self.tokens.insert(token, tuple);
        self.conns.insert(tuple, b);
        self.stats.requests += 1;
        Ok(())
    }

    /// Writes what it can of the request and reads what the backend sent (up to
    /// [`READ_AHEAD`] buffered).
    pub fn pump(&mut self, tuple: &FourTuple) -> Pumped {
        let Some(b) = self.conns.get_mut(tuple) else {
            return Pumped::None;
        };
        if b.error.is_none() {
            if let Err(e) = b.pump() {
                b.error = Some(e);
            }
        }
        match &b.error {
            Some(e) => Pumped::Failed(e.clone()),
            None => Pumped::Open { eof: b.eof },
        }
    }

    /// The bytes read from the backend of `tuple` and not taken yet.
    pub fn buffered(&self, tuple: &FourTuple) -> &[u8] {
        self.conns.get(tuple).map_or(&[][..], |b| &b.inbuf[b.at..])
    }

    /// Takes the first `n` buffered bytes of `tuple`'s backend.
    pub fn consume(&mut self, tuple: &FourTuple, n: usize) {
        if let Some(b) = self.conns.get_mut(tuple) {
            b.at = (b.at + n).min(b.inbuf.len());
            if b.at == b.inbuf.len() {
                b.inbuf.clear();
                b.at = 0;
            }
        }
    }

    /// Closes the backend connection of `tuple`, if any.
    pub fn end(&mut self, tuple: &FourTuple) {
        if let Some(mut b) = self.conns.remove(tuple) {
            let _ = self.poll.registry().deregister(&mut b.stream);
            self.tokens.remove(&b.token);
        }
    }

    /// Closes the connections of client connections `live` says are gone (moved to
    /// another member, closed).
    pub fn retain(&mut self, live: impl Fn(&FourTuple) -> bool) {
        let gone: Vec<FourTuple> = self.conns.keys().filter(|t| !live(t)).copied().collect();
        for t in gone {
            self.end(&t);
        }
    }

    /// The client connections whose backend connection had an event since the last
    /// call (no waiting).
    pub fn ready(&mut self, out: &mut Vec<FourTuple>) {
        if self.conns.is_empty() {
            return;
        }
        if self
            .poll
            .poll(&mut self.events, Some(std::time::Duration::ZERO))
            .is_err()
        {
            // Interrupted or failed: every connection gets a look.
            out.extend(self.conns.keys().copied());
            return;
        }
        for e in self.events.iter() {
            if let Some(t) = self.tokens.get(&e.token()) {
                out.push(*t);
            }
        }
    }

    /// The backend's address.
    pub fn backend(&self) -> SocketAddr {
        self.cfg.backend
    }

    /// The epoll set of the backend connections: readable when one has an event (for
    /// the node's wait, [`crate::io::PacketIo::wake_on`]).
    pub fn wake_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.poll)
    }
}

impl Backend {
    fn pump(&mut self) -> Result<(), String> {
        // Bounded: each write takes at least one byte or stops.
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err("the backend closed before the request was sent".into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::NotConnected => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(connect_error(&self.stream, e)),
            }
        }
        if self.written == self.out.len() && !self.out.is_empty() {
            self.out = Vec::new();
            self.written = 0;
        }
        if self.at >= READ_AHEAD / 2 {
            self.inbuf.drain(..self.at);
            self.at = 0;
        }
        let mut chunk = [0u8; READ_CHUNK];
        // Bounded by READ_AHEAD.
        while !self.eof && self.inbuf.len() - self.at < READ_AHEAD {
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::NotConnected => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(connect_error(&self.stream, e)),
            }
        }
        Ok(())
    }
}

/// The socket's pending error (a refused connect shows there) or `e`.
fn connect_error(stream: &TcpStream, e: std::io::Error) -> String {
    match stream.take_error() {
        Ok(Some(pending)) => format!("backend connection failed: {pending}"),
        _ => format!("backend connection failed: {e}"),
    }
}
