//! `http`: HTTP/1.1 static responses with keep-alive (RFC 9112), for clients such as curl
//! or a browser. The content is generated, not stored, so a connection's whole state is a
//! few counters and the unread part of the request head: it travels in a session snapshot
//! and the response goes on, byte for byte, at the next member.
//!
//! Resources (GET and HEAD):
//! - `/` — a short text page;
//! - `/health` — `ok`;
//! - `/bytes/N` — N bytes (at most [`MAX_BYTES`]) of the deterministic stream number N,
//!   the same bytes as the `source` app's stream N, so a client can verify them.
//!
//! Request heads are parsed by `httparse`; what this module keeps around it (the unread
//! bytes of the next head, counters, the times for its timeouts) is plain data. Rules
//! (RFC 9112): a request line or header line may end in CRLF or a bare LF (§2.2), and
//! empty lines before a request line are ignored; an HTTP/1.1 request needs exactly one
//! valid `Host` header, any request at most one (§3.2); an absolute-form target
//! (`GET http://host/path HTTP/1.1`) is accepted and its path served, the `Host` header
//! then being ignored (§3.2.2). HTTP/1.1 keeps the connection open unless the request says
//! `Connection: close`; HTTP/1.0 closes unless it says `Connection: keep-alive` (§9.3).
//! Pipelined requests are answered in order: the next request head is read only after the
//! response to the previous one was written, so a client that pipelines is held back by
//! TCP flow control, not by memory here. Errors: a malformed request line, header or
//! target, a missing or repeated `Host` give 400, a request with a body (these resources
//! take none) 400, another method 405, a head longer than [`MAX_HEAD`] or with more than
//! [`MAX_HEADERS`] headers 431, an unknown path 404; every error but 404 closes the
//! connection.
//!
//! Timeouts ([`AppTimeouts`]): a request head must arrive whole within `header` of the
//! connection's start, of the end of the previous response or of its own first byte
//! (else `408 Request Timeout` if part of it came, and the connection closes); a
//! keep-alive connection with no request for `idle` is closed.

use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::Instant;

use super::files::{FileId, FilesSite};
use super::http_parse::{head_end, parse_head, Refusal};
use super::source::fill_stream;
use super::{rebase, App, AppTimeouts, Linger};

/// Longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8192;
/// Most header lines in a request head.
pub const MAX_HEADERS: usize = 64;
/// Largest `/bytes/N`.
pub const MAX_BYTES: u64 = 1 << 40;
/// The page at `/`.
const INDEX: &[u8] = b"vany: versatile anycast. Try /bytes/1048576 or /health.\n";

/// What a response's body is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Body {
    /// Fixed text.
    Text(#[serde(with = "serde_bytes")] Vec<u8>),
    /// `length` bytes of stream `id`.
    Stream { id: u64, length: u64 },
    /// `len` bytes of a file of a `files` app's directory, from byte `first`: the file
    /// named by its content hash, so the member that goes on with the response after a
    /// handoff sends the same bytes from its own copy (or refuses the handoff).
    File { file: FileId, first: u64, len: u64 },
}

/// Where an HTTP app's answers come from.
pub(super) enum Router<'a> {
    /// The built-in resources: `/`, `/health`, `/bytes/N`.
    Builtin,
    /// A directory (the `files` app); `None` when this member hosts none on the port.
    Files(Option<&'a mut FilesSite>),
}

/// A body's bytes could not be read (its file is gone or changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unreadable;

impl Body {
    pub(super) fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::Stream { length, .. } => *length,
            Body::File { len, .. } => *len,
        }
    }

    /// Fills `out` with the body's bytes from `offset`.
    fn fill(&self, offset: u64, out: &mut [u8], router: &mut Router<'_>) -> Result<(), Unreadable> {
        match self {
            Body::Text(t) => {
                let at = offset as usize;
                out.copy_from_slice(&t[at..at + out.len()]);
            }
            Body::Stream { id, .. } => fill_stream(*id, offset, out),
            Body::File { file, first, .. } => {
                let Router::Files(Some(site)) = router else {
                    return Err(Unreadable);
                };
                let mut done = 0;
                // Bounded: each round reads at least one byte, or stops.
                while done < out.len() {
                    match site.read_at(file, first + offset + done as u64, &mut out[done..]) {
                        Ok(0) | Err(_) => return Err(Unreadable),
                        Ok(n) => done += n,
                    }
                }
            }
        }
        Ok(())
    }
}

/// A response being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Response {
    /// Status line and headers, with the blank line.
    #[serde(with = "serde_bytes")]
    head: Vec<u8>,
    head_sent: usize,
    /// `None` for HEAD.
    body: Option<Body>,
    body_sent: u64,
    /// Close the connection once written.
    close: bool,
}

/// The HTTP server of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpApp {
    /// Bytes read but not consumed yet: the start of the next request head.
    #[serde(with = "serde_bytes")]
    pending: Vec<u8>,
    response: Option<Response>,
    /// Requests answered (responses completely written).
    answered: u64,
    closed: bool,
    failed: bool,
    timeouts: AppTimeouts,
    /// When the app began waiting for the current request: its first poll, or when the
    /// previous response was written and acknowledged.
    waiting_since: Option<Instant>,
    /// When the first byte of the current request head arrived.
    head_since: Option<Instant>,
    /// After the app closed: how long the client takes to close its side.
    linger: Linger,
}

pub(super) fn response(
    status: &str,
    content_type: &str,
    body: Body,
    head_only: bool,
    close: bool,
) -> Response {
    response_with(status, content_type, "", body, head_only, close)
}

/// A response with `body` (sent unless `head_only`, its length given either way);
/// `extra` holds further header lines, each ending in CRLF.
pub(super) fn response_with(
    status: &str,
    content_type: &str,
    extra: &str,
    body: Body,
    head_only: bool,
    close: bool,
) -> Response {
    let length = body.len();
    let mut r = bodiless(
        status,
        &format!("Content-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}"),
        close,
    );
    r.body = (!head_only).then_some(body);
    r
}

/// A response without a body or its length (304 Not Modified, RFC 9110 §15.4.5):
/// `extra` holds its header lines, each ending in CRLF.
pub(super) fn bodiless(status: &str, extra: &str, close: bool) -> Response {
    let mut head = format!("HTTP/1.1 {status}\r\nServer: vany\r\n{extra}");
    if status.starts_with("405") {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    Response {
        head: head.into_bytes(),
        head_sent: 0,
        body: None,
        body_sent: 0,
        close,
    }
}

pub(super) fn text(t: &str) -> Body {
    Body::Text(t.as_bytes().to_vec())
}

fn too_large() -> Response {
    let body = text("request head too large\n");
    response(
        "431 Request Header Fields Too Large",
        "text/plain",
        body,
        false,
        true,
    )
}

/// The response to one request head.
fn answer(head: &[u8], router: &mut Router<'_>) -> Response {
    let req = match parse_head(head) {
        Ok(r) => r,
        Err(Refusal::BadRequest(why)) => {
            return response(
                "400 Bad Request",
                "text/plain",
                text(&format!("bad request: {why}\n")),
                false,
                true,
            )
        }
        Err(Refusal::TooManyHeaders) => return too_large(),
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        let body = text("method not allowed\n");
        return response("405 Method Not Allowed", "text/plain", body, false, true);
    }
    if req.has_body {
        let body = text("bad request: these resources take no body\n");
        return response("400 Bad Request", "text/plain", body, head_only, true);
    }
    let close = !req.keep_alive;
    let path = req.path.split(['?', '#']).next().unwrap_or_default();
    if let Router::Files(site) = router {
        return super::http_files::answer(site.as_deref_mut(), &req, path, close);
    }
    match if path.is_empty() { "/" } else { path } {
        "/" => response(
            "200 OK",
            "text/plain",
            Body::Text(INDEX.to_vec()),
            head_only,
            close,
        ),
        "/health" => response("200 OK", "text/plain", text("ok\n"), head_only, close),
        _ => match path.strip_prefix("/bytes/").map(str::parse::<u64>) {
            Some(Ok(n)) if n <= MAX_BYTES => {
                let body = Body::Stream { id: n, length: n };
                response("200 OK", "application/octet-stream", body, head_only, close)
            }
            Some(_) => {
                let body = text("bad request: /bytes/N takes N up to 2^40\n");
                response("400 Bad Request", "text/plain", body, head_only, true)
            }
            None => response(
                "404 Not Found",
                "text/plain",
                text("not found\n"),
                head_only,
                close,
            ),
        },
    }
}

impl HttpApp {
    /// A new connection, with the default [`AppTimeouts`].
    pub fn new() -> HttpApp {
        HttpApp::default()
    }

    /// A new connection with these timeouts.
    pub fn with_timeouts(timeouts: AppTimeouts) -> HttpApp {
        HttpApp {
            timeouts,
            ..HttpApp::default()
        }
    }

    /// Responses completely written so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// Drops empty lines before a request line (RFC 9112 §2.2); returns how many bytes.
    fn skip_empty_lines(&mut self) -> usize {
        let mut at = 0;
        loop {
            match &self.pending[at..] {
                [b'\n', ..] => at += 1,
                [b'\r', b'\n', ..] => at += 2,
                _ => break,
            }
        }
        self.pending.drain(..at);
        at
    }

    /// Reads until a whole request head is buffered; answers it. Returns whether a
    /// response is now being written.
    fn next_request(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        router: &mut Router<'_>,
    ) -> bool {
        // Where the search for the head's end goes on (what is before was searched).
        let mut from: usize = 0;
        // Bounded: each round adds at least one byte to `pending`, up to MAX_HEAD.
        loop {
            from = from.saturating_sub(self.skip_empty_lines());
            if !self.pending.is_empty() && self.head_since.is_none() {
                self.head_since = Some(now);
            }
            if let Some(end) = head_end(&self.pending, from) {
                let rest = self.pending.split_off(end);
                let head = std::mem::replace(&mut self.pending, rest);
                self.response = Some(answer(&head, router));
                // A pipelined next head started now, as far as its timeout goes.
                self.head_since = (!self.pending.is_empty()).then_some(now);
                return true;
            }
            if self.pending.len() >= MAX_HEAD {
                self.pending.clear();
                self.head_since = None;
                self.response = Some(too_large());
                return true;
            }
            from = self.pending.len().saturating_sub(2);
            let mut buf = [0u8; 1024];
            let room = (MAX_HEAD - self.pending.len()).min(buf.len());
            match conn.recv(&mut buf[..room]) {
                Ok(0) => return false,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(_) => {
                    self.failed = true;
                    return false;
                }
            }
        }
    }

    /// When the wait for the current request ends, if the app waits for one.
    fn request_deadline(&self) -> Option<Instant> {
        if self.failed || self.closed || self.response.is_some() {
            return None;
        }
        let since = self.waiting_since?;
        Some(if !self.pending.is_empty() {
            self.head_since.unwrap_or(since) + self.timeouts.header
        } else if self.answered == 0 {
            since + self.timeouts.header
        } else {
            since + self.timeouts.idle
        })
    }

    /// While waiting for a request: once its time is up, answers 408 to a partial head
    /// or closes an idle connection.
    fn check_timeout(&mut self, now: Instant, conn: &mut Connection) {
        if self.pending.is_empty() && conn.send_queue() > 0 {
            // The previous response is still on its way: the wait starts after it.
            self.waiting_since = Some(now);
            return;
        }
        if self.request_deadline().is_none_or(|t| now < t) {
            return;
        }
        if self.pending.is_empty() {
            conn.close();
            self.closed = true;
        } else {
            self.pending.clear();
            self.head_since = None;
            let body = text("request timeout\n");
            self.response = Some(response(
                "408 Request Timeout",
                "text/plain",
                body,
                false,
                true,
            ));
        }
    }

    /// Writes what fits of the current response. Returns whether it is complete.
    fn write_response(&mut self, conn: &mut Connection, router: &mut Router<'_>) -> bool {
        let Some(r) = &mut self.response else {
            return true;
        };
        match r.write(conn, router) {
            Ok(done) => done,
            Err(_) => {
                self.failed = true;
                false
            }
        }
    }
}

/// Why a response could not be written on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteFailed {
    /// The connection refused the bytes (it failed or closed).
    Connection,
    /// The body's bytes could not be read (its file changed or went away); the
    /// connection was reset.
    Unreadable,
}

impl Response {
    /// Writes what fits of the response into `conn`'s send buffer: `Ok(true)` once all
    /// of it is there.
    pub(super) fn write(
        &mut self,
        conn: &mut Connection,
        router: &mut Router<'_>,
    ) -> Result<bool, WriteFailed> {
        while self.head_sent < self.head.len() {
            match conn.send(&self.head[self.head_sent..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.head_sent += n,
                Err(_) => return Err(WriteFailed::Connection),
            }
        }
        if let Some(body) = &self.body {
            let remaining = usize::try_from(body.len() - self.body_sent).unwrap_or(usize::MAX);
            let (mut at, mut unreadable) = (self.body_sent, false);
            // The body is read (a file) or generated straight into the send buffer's free
            // space, in at most two pieces: no copy of our own.
            let sent = conn.send_with(remaining, |piece| {
                if body.fill(at, piece, router).is_err() {
                    unreadable = true;
                    return 0;
                }
                at += piece.len() as u64;
                piece.len()
            });
            if unreadable {
                // The rest of the body cannot be what the head promised (its file
                // changed or went away): the client must not take a wrong byte.
                conn.abort();
                return Err(WriteFailed::Unreadable);
            }
            match sent {
                Ok(sent) => self.body_sent += sent as u64,
                Err(_) => return Err(WriteFailed::Connection),
            }
            if self.body_sent < body.len() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the connection closes once this response is written.
    pub(super) fn closes(&self) -> bool {
        self.close
    }
}

impl HttpApp {
    /// [`App::poll`] with the answers coming from `router`.
    pub(super) fn poll_with(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        router: &mut Router<'_>,
    ) {
        self.waiting_since.get_or_insert(now);
        if self.failed {
            return;
        }
        if self.closed {
            self.linger.poll(now, conn, self.timeouts.idle);
            return;
        }
        // Bounded: every round answers one pipelined request head, and the heads come
        // from a finite receive queue.
        for _ in 0..1024 {
            if conn.is_closed() {
                self.failed = true;
                return;
            }
            if self.response.is_none() && !self.next_request(now, conn, router) {
                if self.failed {
                    return;
                }
                if conn.is_read_closed() && conn.recv_queue() == 0 {
                    // The client is done (a partial head left is dropped).
                    conn.close();
                    self.closed = true;
                    return;
                }
                self.check_timeout(now, conn);
                if self.response.is_none() {
                    return;
                }
            }
            if !self.write_response(conn, router) {
                return;
            }
            let close = self.response.take().is_some_and(|r| r.close);
            self.answered += 1;
            self.waiting_since = Some(now);
            if close {
                conn.close();
                self.closed = true;
                return;
            }
        }
    }

    /// The file the response being written reads from, if any.
    pub(super) fn file_in_flight(&self) -> Option<&FileId> {
        match self.response.as_ref()?.body.as_ref()? {
            Body::File { file, .. } => Some(file),
            _ => None,
        }
    }
}

impl App for HttpApp {
    fn poll(&mut self, now: Instant, conn: &mut Connection) {
        self.poll_with(now, conn, &mut Router::Builtin);
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.closed && !self.failed {
            return self.linger.deadline(self.timeouts.idle);
        }
        self.request_deadline()
    }

    fn is_finished(&self) -> bool {
        self.closed || self.failed
    }

    fn rebase_clock(&mut self, old: Instant, new: Instant) {
        self.waiting_since = self.waiting_since.map(|t| rebase(t, old, new));
        self.head_since = self.head_since.map(|t| rebase(t, old, new));
        self.linger.rebase_clock(old, new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: &Response) -> String {
        String::from_utf8_lossy(&r.head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn known_paths_are_answered_and_keep_alive_follows_the_version() {
        let r = answer(
            b"GET /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\n",
            &mut Router::Builtin,
        );
        assert_eq!(status(&r), "HTTP/1.1 200 OK");
        assert_eq!(r.body.as_ref().map(Body::len), Some(1000));
        assert!(!r.close);
        assert!(answer(b"GET /health HTTP/1.0\r\n\r\n", &mut Router::Builtin).close);
        assert!(
            !answer(
                b"GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                &mut Router::Builtin
            )
            .close
        );
        assert!(
            answer(
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                &mut Router::Builtin
            )
            .close
        );
        let head = answer(
            b"HEAD /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n",
            &mut Router::Builtin,
        );
        assert!(head.body.is_none());
        assert!(String::from_utf8_lossy(&head.head).contains("Content-Length: 5\r\n"));
    }

    #[test]
    fn bad_requests_get_an_error_and_most_close() {
        for (req, want, close) in [
            (
                &b"GET /nope HTTP/1.1\r\nHost: x"[..],
                "404 Not Found",
                false,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x",
                "405 Method Not Allowed",
                true,
            ),
            (b"GET / HTTP/2.0\r\nHost: x", "400 Bad Request", true),
            (b"GET /", "400 Bad Request", true),
            (b"GET / HTTP/1.1\r\nbroken", "400 Bad Request", true),
            (b"GET / HTTP/1.1\r\nHost : x", "400 Bad Request", true),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3",
                "400 Bad Request",
                true,
            ),
            (b"GET /bytes/x HTTP/1.1\r\nHost: x", "400 Bad Request", true),
            (
                b"GET /bytes/99999999999999 HTTP/1.1\r\nHost: x",
                "400 Bad Request",
                true,
            ),
            (b"\xff\xfe HTTP/1.1", "400 Bad Request", true),
            (b"GET foo HTTP/1.1\r\nHost: x", "400 Bad Request", true),
            (b"GET ftp://x/ HTTP/1.1\r\nHost: x", "400 Bad Request", true),
            (
                b"GET http://a@b/ HTTP/1.1\r\nHost: x",
                "400 Bad Request",
                true,
            ),
            (b"GET / HTTP/1.1\r\nHost: a b", "400 Bad Request", true),
            (b"GET / HTTP/1.1\rHost: x", "400 Bad Request", true),
        ] {
            let mut head = req.to_vec();
            head.extend_from_slice(b"\r\n\r\n");
            let r = answer(&head, &mut Router::Builtin);
            let req = String::from_utf8_lossy(req);
            assert_eq!(status(&r), format!("HTTP/1.1 {want}"), "{req}");
            assert_eq!(r.close, close, "{req}");
        }
        let put = answer(b"PUT / HTTP/1.1\r\nHost: x\r\n\r\n", &mut Router::Builtin);
        assert!(String::from_utf8_lossy(&put.head).contains("Allow: GET"));
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            status(&answer(&many, &mut Router::Builtin)),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn host_rules_of_rfc_9112() {
        // §3.2: an HTTP/1.1 request without Host, or any with two, is refused.
        let no_host = answer(b"GET /health HTTP/1.1\r\n\r\n", &mut Router::Builtin);
        assert_eq!(status(&no_host), "HTTP/1.1 400 Bad Request");
        assert!(no_host.close);
        let two = answer(
            b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            &mut Router::Builtin,
        );
        assert_eq!(status(&two), "HTTP/1.1 400 Bad Request");
        let two_10 = answer(
            b"GET /health HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
            &mut Router::Builtin,
        );
        assert_eq!(status(&two_10), "HTTP/1.1 400 Bad Request");
        // HTTP/1.0 needs none; an empty Host is valid; so is an IPv6 literal with a port.
        for ok in [
            &b"GET /health HTTP/1.0\r\n\r\n"[..],
            b"GET /health HTTP/1.1\r\nHost:\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: [fd00:aa::1]:8080\r\n\r\n",
        ] {
            assert_eq!(status(&answer(ok, &mut Router::Builtin)), "HTTP/1.1 200 OK");
        }
        // §3.2.2: an absolute-form target is served, whatever Host says.
        for target in [
            "http://[fd00:aa::1]:8080/bytes/7",
            "HTTP://vany/bytes/7?x=1",
            "https://vany/bytes/7",
        ] {
            let req = format!("GET {target} HTTP/1.1\r\nHost: other\r\n\r\n");
            let r = answer(req.as_bytes(), &mut Router::Builtin);
            assert_eq!(status(&r), "HTTP/1.1 200 OK", "{target}");
            assert_eq!(r.body.as_ref().map(Body::len), Some(7), "{target}");
        }
        let bare = answer(
            b"GET http://vany HTTP/1.1\r\nHost: vany\r\n\r\n",
            &mut Router::Builtin,
        );
        assert_eq!(bare.body, Some(Body::Text(INDEX.to_vec())));
    }

    #[test]
    fn the_head_end_is_found_across_reads_with_crlf_or_bare_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nGET", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r", 0), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nGET", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\r\n\n", 0), Some(25));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
        // The search may start anywhere up to two bytes before the new data.
        let b = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(head_end(b, b.len() - 4), Some(b.len()));
        // A bare LF head is answered like a CRLF one (RFC 9112 §2.2 allows it).
        let r = answer(b"GET /health HTTP/1.1\nHost: x\n\n", &mut Router::Builtin);
        assert_eq!(status(&r), "HTTP/1.1 200 OK");
    }
}
