//! `proxy`: a reverse proxy from the anycast address to a web server on the member's own
//! host (`apps = { 80 = { kind = "proxy", backend = "[::1]:8080" } }`): nginx, a Python
//! app, anything that speaks HTTP/1.1.
//!
//! Each client request is received whole (head and `Content-Length` body), rewritten
//! ([`message`]) and sent to the backend over a connection of its own, and the response is
//! relayed as it comes. The connection's state here is plain data: the request, the
//! response head, how many body bytes went to the client. In a handoff it moves with the
//! TCP connection; the member that takes it over opens its own connection to its own
//! backend and goes on:
//!
//! - between requests (keep-alive idle): nothing to resume;
//! - before the response head: the request (GET or HEAD) is sent again;
//! - in the middle of a body that can be resumed (GET, 200, `Content-Length`, a strong
//!   `ETag`, `Accept-Ranges: bytes`): the rest is asked for with `Range: bytes=N-` and
//!   `If-Range`, checked (206, the same `ETag`, the exact `Content-Range`) and relayed;
//!   a backend that answers otherwise (its content changed) gets the client connection
//!   reset, counted.
//!
//! Any other exchange under way (another method, a response that cannot be resumed)
//! keeps the session where it is: [`ProxyApp::movable`] is false until the response is
//! complete, so policies and a drain leave the session alone until then (a drain at most
//! `drain_timeout_ms`). Backend failures become `502 Bad Gateway` (refused, reset, a
//! malformed head) or `504 Gateway Timeout` (no head within `timeout_ms`) when nothing
//! of the response was sent yet, and reset the client connection otherwise.

pub mod backend;
pub mod message;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::{Duration, Instant};

use self::backend::{ProxySite, Pumped};
use self::message::{
    backend_response, client_request, resume_request, resumed_response, Forward, Framing,
    RequestError, ResponseHead,
};
use super::http::{response, text, Response, Router, MAX_HEAD};
use super::http_parse::head_end;
use super::{rebase, AppTimeouts, Linger};

/// One proxy app's settings (node.toml `apps.PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The backend: a web server on this host.
    pub backend: SocketAddr,
    /// A response head must arrive within this long of the request (else 504), and a
    /// body that makes no progress for this long is cut.
    pub timeout: Duration,
    /// The largest request body taken (else 413).
    pub max_body: u64,
}

impl ProxyConfig {
    /// `backend` with a 30 s timeout and 8 MiB request bodies.
    pub fn new(backend: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            backend,
            timeout: Duration::from_secs(30),
            max_body: 8 << 20,
        }
    }
}

/// A response being relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Relay {
    head: ResponseHead,
    head_sent: usize,
    /// Body bytes given to the client connection.
    body: u64,
}

/// A request at the backend, and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Exchange {
    forward: Forward,
    /// The client keeps the connection open after the response.
    keep_alive: bool,
    /// When the request was (last) sent, or the body last moved.
    progress_at: Instant,
    relay: Option<Relay>,
    /// A member that took the session over asked for the rest of the body: the head of
    /// the backend's answer is checked, then skipped.
    resuming: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Waiting for a request head.
    #[default]
    Idle,
    /// Receiving a request body.
    Body {
        forward: Forward,
        need: u64,
        keep_alive: bool,
    },
    /// At the backend.
    Exchange(Exchange),
    /// Writing a reply of the proxy's own.
    Local(Response),
    /// A response that cannot be completed: the client connection is reset once what it
    /// was given is acknowledged (or at `until`). A RST beyond what the client received
    /// is not taken (RFC 5961 §3.2: it answers with a challenge ACK), and a member does
    /// not answer for a connection it no longer holds: the client would wait forever.
    Resetting { until: Instant },
}

/// The proxy of one client connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyApp {
    /// Client bytes read but not consumed yet (the next head, or body).
    #[serde(with = "serde_bytes")]
    pending: Vec<u8>,
    phase: Phase,
    /// Responses completely written.
    answered: u64,
    closed: bool,
    failed: bool,
    timeouts: AppTimeouts,
    waiting_since: Option<Instant>,
    head_since: Option<Instant>,
    linger: Linger,
    /// The backend timeout of the proxy that served it last (its site's `timeout`).
    backend_timeout: Duration,
}

/// What one step of the app did.
enum Step {
    /// Go on with the next step.
    Again,
    /// Nothing more to do until an event.
    Wait,
}

impl ProxyApp {
    /// A new connection with these timeouts.
    pub fn with_timeouts(timeouts: AppTimeouts) -> ProxyApp {
        ProxyApp {
            timeouts,
            ..ProxyApp::default()
        }
    }

    /// Responses completely written so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// Whether another member can go on with this connection now: not while a response
    /// it could not resume is under way (see the module doc).
    pub fn movable(&self) -> bool {
        let Phase::Exchange(x) = &self.phase else {
            return true;
        };
        match &x.relay {
            None => (x.forward.is_get || x.forward.is_head) && x.forward.body.is_empty(),
            Some(r) => r.head.resume.is_some() || x.forward.is_head,
        }
    }

    /// Does whatever can be done now, with the backend connections of `site` (`None`
    /// when this member has no proxy on the port: requests get 502).
    pub fn poll_with(&mut self, now: Instant, conn: &mut Connection, site: Option<&mut ProxySite>) {
        self.waiting_since.get_or_insert(now);
        let tuple = conn.tuple();
        let mut site = site;
        if let Some(s) = site.as_deref() {
            self.backend_timeout = s.config().timeout;
        }
        if self.failed || conn.is_closed() {
            self.failed = true;
            if let Some(s) = site.as_deref_mut() {
                s.end(&tuple);
            }
            return;
        }
        if self.closed {
            self.linger.poll(now, conn, self.timeouts.idle);
            return;
        }
        // Bounded: every round finishes a phase or waits; requests come from a finite
        // receive queue.
        for _ in 0..1024 {
            let step = match &self.phase {
                Phase::Idle => self.read_head(now, conn, site.as_deref_mut()),
                Phase::Body { .. } => self.read_body(now, conn),
                Phase::Exchange(_) => self.exchange(now, conn, site.as_deref_mut()),
                Phase::Local(_) => self.write_local(now, conn),
                Phase::Resetting { until } => {
                    if conn.send_queue() == 0 || now >= *until {
                        conn.abort();
                        self.failed = true;
                    }
                    Step::Wait
                }
            };
            if self.failed || self.closed {
                if let Some(s) = site.as_deref_mut() {
                    s.end(&tuple);
                }
                return;
            }
            if let Step::Wait = step {
                return;
            }
        }
    }

    /// When [`poll_with`](Self::poll_with) next has work no event announces: a request
    /// head's or an idle connection's timeout, the backend's timeout, the linger.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if self.closed {
            return self.linger.deadline(self.timeouts.idle);
        }
        match &self.phase {
            Phase::Idle => {
                let since = self.waiting_since?;
                Some(match self.head_since {
                    Some(h) => h + self.timeouts.header,
                    None if self.answered == 0 => since + self.timeouts.header,
                    None => since + self.timeouts.idle,
                })
            }
            Phase::Body { .. } => self.head_since.map(|h| h + self.timeouts.header),
            Phase::Exchange(x) => Some(x.progress_at + self.backend_timeout),
            Phase::Local(_) => None,
            Phase::Resetting { until } => Some(*until),
        }
    }

    /// Whether the app is done with the connection.
    pub fn is_finished(&self) -> bool {
        self.closed || self.failed
    }

    /// Moves every stored time from a clock reading `old` to one reading `new`.
    pub fn rebase_clock(&mut self, old: Instant, new: Instant) {
        self.waiting_since = self.waiting_since.map(|t| rebase(t, old, new));
        self.head_since = self.head_since.map(|t| rebase(t, old, new));
        self.linger.rebase_clock(old, new);
        match &mut self.phase {
            Phase::Exchange(x) => x.progress_at = rebase(x.progress_at, old, new),
            Phase::Resetting { until } => *until = rebase(*until, old, new),
            _ => {}
        }
    }

    /// Starts writing a reply of the proxy's own.
    fn local(&mut self, status: &str, message: &str, close: bool) -> Step {
        self.phase = Phase::Local(response(status, "text/plain", text(message), false, close));
        Step::Again
    }

    /// Reads until a request head is whole; parses it.
    fn read_head(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        site: Option<&mut ProxySite>,
    ) -> Step {
        // Empty lines before a request line are skipped (RFC 9112 §2.2).
        let blank = self
            .pending
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        self.pending.drain(..blank);
        if let Some(end) = head_end(&self.pending, 0) {
            let rest = self.pending.split_off(end);
            let head = std::mem::replace(&mut self.pending, rest);
            self.head_since = (!self.pending.is_empty()).then_some(now);
            return self.start_request(now, &head, conn, site);
        }
        if self.pending.len() >= MAX_HEAD {
            self.pending.clear();
            if let Some(s) = site {
                s.stats_mut().refused += 1;
            }
            return self.local(
                "431 Request Header Fields Too Large",
                "request head too large\n",
                true,
            );
        }
        if !self.pending.is_empty() && self.head_since.is_none() {
            self.head_since = Some(now);
        }
        let mut buf = [0u8; 4096];
        let room = (MAX_HEAD - self.pending.len()).min(buf.len());
        match conn.recv(&mut buf[..room]) {
            Ok(0) => {}
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                return Step::Again;
            }
            Err(_) => {
                self.failed = true;
                return Step::Wait;
            }
        }
        if conn.is_read_closed() && conn.recv_queue() == 0 {
            conn.close();
            self.closed = true;
            return Step::Wait;
        }
        self.check_request_timeout(now, conn)
    }

    /// While waiting for a request: once its time is up, 408 to a partial head, or the
    /// idle connection closed.
    fn check_request_timeout(&mut self, now: Instant, conn: &mut Connection) -> Step {
        if self.pending.is_empty() && conn.send_queue() > 0 {
            // The previous response is still on its way: the wait starts after it.
            self.waiting_since = Some(now);
            return Step::Wait;
        }
        let Some(deadline) = self.poll_at() else {
            return Step::Wait;
        };
        if now < deadline {
            return Step::Wait;
        }
        if self.pending.is_empty() && self.head_since.is_none() {
            conn.close();
            self.closed = true;
            return Step::Wait;
        }
        self.pending.clear();
        self.head_since = None;
        self.local("408 Request Timeout", "request timeout\n", true)
    }

    /// A whole head: an error of the proxy's own, a body to receive, or the backend.
    fn start_request(
        &mut self,
        now: Instant,
        head: &[u8],
        conn: &Connection,
        site: Option<&mut ProxySite>,
    ) -> Step {
        let client = conn.tuple().remote;
        let max_body = site.as_ref().map_or(u64::MAX, |s| s.config().max_body);
        match client_request(head, client, max_body) {
            Err(e) => {
                if let Some(s) = site {
                    s.stats_mut().refused += 1;
                }
                let (status, text) = match e {
                    RequestError::Bad(why) => ("400 Bad Request", format!("bad request: {why}\n")),
                    RequestError::LengthRequired => (
                        "411 Length Required",
                        "a request body needs Content-Length\n".to_string(),
                    ),
                    RequestError::TooLarge => (
                        "413 Content Too Large",
                        "request body too large\n".to_string(),
                    ),
                    RequestError::HeadTooLarge => (
                        "431 Request Header Fields Too Large",
                        "request head too large\n".to_string(),
                    ),
                };
                self.local(status, &text, true)
            }
            Ok(r) if r.body_len > 0 => {
                self.head_since = Some(now);
                self.phase = Phase::Body {
                    forward: r.forward,
                    need: r.body_len,
                    keep_alive: r.keep_alive,
                };
                Step::Again
            }
            Ok(r) => self.send_to_backend(now, r.forward, r.keep_alive),
        }
    }

    /// Receives the request body whole (bounded by `max_body`).
    fn read_body(&mut self, now: Instant, conn: &mut Connection) -> Step {
        let Phase::Body { forward, need, .. } = &mut self.phase else {
            return Step::Wait;
        };
        let take = (*need as usize).min(self.pending.len());
        forward.body.extend(self.pending.drain(..take));
        *need -= take as u64;
        let mut buf = [0u8; 16 * 1024];
        // Bounded: each round takes at least one byte or stops.
        while *need > 0 {
            let room = (*need as usize).min(buf.len());
            match conn.recv(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => {
                    forward.body.extend_from_slice(&buf[..n]);
                    *need -= n as u64;
                }
                Err(_) => {
                    self.failed = true;
                    return Step::Wait;
                }
            }
        }
        if *need > 0 {
            if conn.is_read_closed() {
                // The client went away in the middle of its body.
                conn.close();
                self.closed = true;
                return Step::Wait;
            }
            if self
                .head_since
                .is_some_and(|h| now >= h + self.timeouts.header)
            {
                return self.local("408 Request Timeout", "request timeout\n", true);
            }
            return Step::Wait;
        }
        let Phase::Body {
            forward,
            keep_alive,
            ..
        } = std::mem::take(&mut self.phase)
        else {
            return Step::Wait;
        };
        self.head_since = None;
        self.send_to_backend(now, forward, keep_alive)
    }

    /// The request goes to the backend (the connection is opened when the site is seen).
    fn send_to_backend(&mut self, now: Instant, forward: Forward, keep_alive: bool) -> Step {
        self.phase = Phase::Exchange(Exchange {
            forward,
            keep_alive,
            progress_at: now,
            relay: None,
            resuming: false,
        });
        Step::Again
    }

    /// The exchange with the backend: open (or, after a handoff, reopen and resume),
    /// read its response head, relay the body.
    fn exchange(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        site: Option<&mut ProxySite>,
    ) -> Step {
        let tuple = conn.tuple();
        let Some(site) = site else {
            return self.local(
                "502 Bad Gateway",
                "no backend is configured on this port here\n",
                true,
            );
        };
        let timeout = site.config().timeout;
        let Phase::Exchange(x) = &mut self.phase else {
            return Step::Wait;
        };
        if !site.has(&tuple) {
            // A new request, or a session that came from another member.
            let request = match &x.relay {
                None => {
                    let mut r = x.forward.head.clone();
                    r.extend_from_slice(&x.forward.body);
                    r
                }
                Some(relay) => match &relay.head.resume {
                    Some((etag, _)) if !x.forward.is_head => {
                        x.resuming = true;
                        site.stats_mut().resumed += 1;
                        resume_request(&x.forward, relay.body, etag)
                    }
                    // A HEAD's answer has no body: the head went out whole or goes on
                    // from the copy held here.
                    _ if x.forward.is_head => Vec::new(),
                    _ => {
                        // Not resumable: only a bug moves such a session.
                        conn.abort();
                        self.failed = true;
                        return Step::Wait;
                    }
                },
            };
            if !request.is_empty() {
                if let Err(e) = site.start(tuple, request) {
                    return self.backend_failed(now, conn, site, &e);
                }
                x.progress_at = now;
            }
        }
        let eof = match site.pump(&tuple) {
            Pumped::Failed(e) => return self.backend_failed(now, conn, site, &e),
            Pumped::Open { eof } => eof,
            Pumped::None => true,
        };
        // The response head (or, resumed, the check of the backend's 206).
        if x.resuming {
            let Some(relay) = &x.relay else {
                return Step::Wait;
            };
            let (etag, total) = relay.head.resume.clone().unwrap_or_default();
            match resumed_response(site.buffered(&tuple), relay.body, &etag, total) {
                Ok(Some(consumed)) => {
                    site.consume(&tuple, consumed);
                    x.resuming = false;
                    x.progress_at = now;
                }
                Ok(None) if !eof && now < x.progress_at + timeout => return Step::Wait,
                Ok(None) => {
                    return self.backend_failed(now, conn, site, "no answer to the resumed request")
                }
                Err(e) => {
                    site.stats_mut().resume_failed += 1;
                    return self.backend_failed(now, conn, site, &e);
                }
            }
        }
        if x.relay.is_none() {
            match backend_response(site.buffered(&tuple), &x.forward, x.keep_alive) {
                Ok(Some((head, consumed))) => {
                    site.consume(&tuple, consumed);
                    x.progress_at = now;
                    if head.status < 200 {
                        // An interim response (RFC 9110 §15.2): the final one follows.
                        return Step::Again;
                    }
                    x.relay = Some(Relay {
                        head,
                        head_sent: 0,
                        body: 0,
                    });
                }
                Ok(None) if eof => {
                    return self.backend_failed(
                        now,
                        conn,
                        site,
                        "the backend closed without a response",
                    );
                }
                Ok(None) if now >= x.progress_at + timeout => {
                    site.stats_mut().gateway_timeout += 1;
                    site.end(&tuple);
                    return self.local(
                        "504 Gateway Timeout",
                        "the backend did not answer in time\n",
                        true,
                    );
                }
                Ok(None) => return Step::Wait,
                Err(e) => return self.backend_failed(now, conn, site, e),
            }
        }
        self.relay(now, conn, site, eof, timeout)
    }

    /// Relays what the backend sent of the response; finishes it when whole.
    fn relay(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        site: &mut ProxySite,
        eof: bool,
        timeout: Duration,
    ) -> Step {
        let tuple = conn.tuple();
        let Phase::Exchange(x) = &mut self.phase else {
            return Step::Wait;
        };
        let Some(r) = &mut x.relay else {
            return Step::Wait;
        };
        while r.head_sent < r.head.head.len() {
            match conn.send(&r.head.head[r.head_sent..]) {
                Ok(0) => return Step::Wait,
                Ok(n) => r.head_sent += n,
                Err(_) => {
                    self.failed = true;
                    return Step::Wait;
                }
            }
        }
        let limit = match r.head.framing {
            Framing::Empty => 0,
            Framing::Length(n) => n,
            Framing::UntilClose { .. } => u64::MAX,
        };
        // Bounded by the buffered bytes and the send buffer's room.
        loop {
            let want = (limit - r.body).min(usize::MAX as u64) as usize;
            let buffered = site.buffered(&tuple);
            let n = buffered.len().min(want).min(conn.send_capacity());
            if n == 0 {
                break;
            }
            match conn.send(&buffered[..n]) {
                Ok(0) => break,
                Ok(sent) => {
                    site.consume(&tuple, sent);
                    r.body += sent as u64;
                    x.progress_at = now;
                }
                Err(_) => {
                    self.failed = true;
                    return Step::Wait;
                }
            }
        }
        let complete = match r.head.framing {
            Framing::Empty => true,
            Framing::Length(n) => r.body >= n,
            Framing::UntilClose { .. } => eof && site.buffered(&tuple).is_empty(),
        };
        if !complete {
            if eof && site.buffered(&tuple).is_empty() {
                // The backend closed before the length it announced: the client must not
                // take a short body for a whole one.
                site.stats_mut().truncated += 1;
                site.end(&tuple);
                return self.reset_client(now);
            }
            if now >= x.progress_at + timeout && conn.send_queue() == 0 {
                site.stats_mut().truncated += 1;
                conn.abort();
                self.failed = true;
            }
            return Step::Wait;
        }
        let close = r.head.close;
        site.end(&tuple);
        self.finish_response(now, conn, close)
    }

    /// The backend failed: 502 if nothing of the response went out, else the client
    /// connection is reset (the response cannot be completed).
    fn backend_failed(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        site: &mut ProxySite,
        why: &str,
    ) -> Step {
        let tuple = conn.tuple();
        site.end(&tuple);
        let started = matches!(&self.phase, Phase::Exchange(x) if x.relay.is_some());
        if started {
            site.stats_mut().truncated += 1;
            return self.reset_client(now);
        }
        site.stats_mut().bad_gateway += 1;
        tracing::debug!(backend = %site.backend(), %why, "proxy: bad gateway");
        self.local("502 Bad Gateway", "the backend failed\n", true)
    }

    /// Resets the client connection once what it was given is acknowledged, at most the
    /// backend timeout from now (see [`Phase::Resetting`]).
    fn reset_client(&mut self, now: Instant) -> Step {
        self.phase = Phase::Resetting {
            until: now + self.backend_timeout,
        };
        Step::Again
    }

    /// Writes the proxy's own reply; then closes or waits for the next request.
    fn write_local(&mut self, now: Instant, conn: &mut Connection) -> Step {
        let Phase::Local(r) = &mut self.phase else {
            return Step::Wait;
        };
        match r.write(conn, &mut Router::Builtin) {
            Ok(true) => {
                let close = r.closes();
                self.finish_response(now, conn, close)
            }
            Ok(false) => Step::Wait,
            Err(_) => {
                self.failed = true;
                Step::Wait
            }
        }
    }

    /// A response was written whole: wait for the next request, or close.
    fn finish_response(&mut self, now: Instant, conn: &mut Connection, close: bool) -> Step {
        self.phase = Phase::Idle;
        self.answered += 1;
        self.waiting_since = Some(now);
        if close {
            conn.close();
            self.closed = true;
            return Step::Wait;
        }
        Step::Again
    }
}
