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
//! Rules (RFC 9112 §9.3): HTTP/1.1 keeps the connection open unless the request says
//! `Connection: close`; HTTP/1.0 closes unless it says `Connection: keep-alive`.
//! Pipelined requests are answered in order: the next request head is read only after the
//! response to the previous one was written, so a client that pipelines is held back by
//! TCP flow control, not by memory here. Errors: a malformed request line or header gives
//! 400, a request with a body (these resources take none) 400, another method 405, a head
//! longer than [`MAX_HEAD`] 431, an unknown path 404; every error but 404 closes the
//! connection.

use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::Instant;

use super::source::fill_stream;
use super::App;

/// Longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8192;
/// Largest `/bytes/N`.
pub const MAX_BYTES: u64 = 1 << 40;
/// The page at `/`.
const INDEX: &[u8] = b"vany: versatile anycast. Try /bytes/1048576 or /health.\n";
/// Body bytes written per round.
const CHUNK: usize = 16 * 1024;

/// What a response's body is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Body {
    /// Fixed text.
    Text(#[serde(with = "serde_bytes")] Vec<u8>),
    /// `length` bytes of stream `id`.
    Stream { id: u64, length: u64 },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::Stream { length, .. } => *length,
        }
    }

    fn fill(&self, offset: u64, out: &mut [u8]) {
        match self {
            Body::Text(t) => {
                let at = offset as usize;
                out.copy_from_slice(&t[at..at + out.len()]);
            }
            Body::Stream { id, .. } => fill_stream(*id, offset, out),
        }
    }
}

/// A response being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Response {
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
}

/// A parsed request head.
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    keep_alive: bool,
    has_body: bool,
}

/// Why a request head cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest(&'static str),
}

fn parse_head(head: &[u8]) -> Result<Request<'_>, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest("not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::BadRequest("malformed method"));
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(Refusal::BadRequest("unsupported HTTP version")),
    };
    let mut has_body = false;
    for header in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = header.split_once(':') else {
            return Err(Refusal::BadRequest("malformed header"));
        };
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            // RFC 9112 §5.1: no whitespace between field name and colon.
            return Err(Refusal::BadRequest("malformed header name"));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            has_body = true;
        }
    }
    Ok(Request {
        method,
        target,
        keep_alive,
        has_body,
    })
}

fn response(
    status: &str,
    content_type: &str,
    body: Body,
    head_only: bool,
    close: bool,
) -> Response {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nServer: vany\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
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
        body: (!head_only).then_some(body),
        body_sent: 0,
        close,
    }
}

fn text(t: &str) -> Body {
    Body::Text(t.as_bytes().to_vec())
}

/// The response to one request head.
fn answer(head: &[u8]) -> Response {
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
    let path = req.target.split('?').next().unwrap_or_default();
    match path {
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
    /// A new connection.
    pub fn new() -> HttpApp {
        HttpApp::default()
    }

    /// Responses completely written so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// Reads until a whole request head is buffered; answers it. Returns whether a
    /// response is now being written.
    fn next_request(&mut self, conn: &mut Connection) -> bool {
        // Bounded: each round adds at least one byte to `pending`, up to MAX_HEAD.
        loop {
            if let Some(end) = find_head_end(&self.pending) {
                let rest = self.pending.split_off(end + 4);
                let head = std::mem::replace(&mut self.pending, rest);
                self.response = Some(answer(&head[..end]));
                return true;
            }
            if self.pending.len() >= MAX_HEAD {
                let body = text("request head too large\n");
                self.pending.clear();
                self.response = Some(response(
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    body,
                    false,
                    true,
                ));
                return true;
            }
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

    /// Writes what fits of the current response. Returns whether it is complete.
    fn write_response(&mut self, conn: &mut Connection) -> bool {
        let Some(r) = &mut self.response else {
            return true;
        };
        while r.head_sent < r.head.len() {
            match conn.send(&r.head[r.head_sent..]) {
                Ok(0) => return false,
                Ok(n) => r.head_sent += n,
                Err(_) => {
                    self.failed = true;
                    return false;
                }
            }
        }
        if let Some(body) = &r.body {
            let mut chunk = [0u8; CHUNK];
            // Bounded by the send buffer's free space.
            while r.body_sent < body.len() {
                let n = (body.len() - r.body_sent).min(CHUNK as u64) as usize;
                let n = n.min(conn.send_capacity());
                if n == 0 {
                    return false;
                }
                body.fill(r.body_sent, &mut chunk[..n]);
                match conn.send(&chunk[..n]) {
                    Ok(sent) => r.body_sent += sent as u64,
                    Err(_) => {
                        self.failed = true;
                        return false;
                    }
                }
            }
        }
        true
    }
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

impl App for HttpApp {
    fn poll(&mut self, _now: Instant, conn: &mut Connection) {
        // Bounded: every round answers one pipelined request head, and the heads come
        // from a finite receive queue.
        for _ in 0..1024 {
            if self.failed || self.closed {
                return;
            }
            if conn.is_closed() {
                self.failed = true;
                return;
            }
            if self.response.is_none() && !self.next_request(conn) {
                if conn.is_read_closed() && conn.recv_queue() == 0 {
                    // The client is done (a partial head left is dropped).
                    conn.close();
                    self.closed = true;
                }
                return;
            }
            if !self.write_response(conn) {
                return;
            }
            let close = self.response.take().is_some_and(|r| r.close);
            self.answered += 1;
            if close {
                conn.close();
                self.closed = true;
                return;
            }
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        None
    }

    fn is_finished(&self) -> bool {
        self.closed || self.failed
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
        let r = answer(b"GET /bytes/1000 HTTP/1.1\r\nHost: x");
        assert_eq!(status(&r), "HTTP/1.1 200 OK");
        assert_eq!(r.body.as_ref().map(Body::len), Some(1000));
        assert!(!r.close);
        assert!(answer(b"GET /health HTTP/1.0").close);
        assert!(!answer(b"GET /health HTTP/1.0\r\nConnection: Keep-Alive").close);
        assert!(answer(b"GET / HTTP/1.1\r\nConnection: close").close);
        let head = answer(b"HEAD /bytes/5 HTTP/1.1");
        assert!(head.body.is_none());
        assert!(String::from_utf8_lossy(&head.head).contains("Content-Length: 5\r\n"));
    }

    #[test]
    fn bad_requests_get_an_error_and_most_close() {
        for (req, want, close) in [
            (&b"GET /nope HTTP/1.1"[..], "HTTP/1.1 404 Not Found", false),
            (b"POST / HTTP/1.1", "HTTP/1.1 405 Method Not Allowed", true),
            (b"GET / HTTP/2.0", "HTTP/1.1 400 Bad Request", true),
            (b"GET /", "HTTP/1.1 400 Bad Request", true),
            (
                b"GET / HTTP/1.1\r\nbroken",
                "HTTP/1.1 400 Bad Request",
                true,
            ),
            (
                b"GET / HTTP/1.1\r\nHost : x",
                "HTTP/1.1 400 Bad Request",
                true,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 3",
                "HTTP/1.1 400 Bad Request",
                true,
            ),
            (b"GET /bytes/x HTTP/1.1", "HTTP/1.1 400 Bad Request", true),
            (
                b"GET /bytes/99999999999999 HTTP/1.1",
                "HTTP/1.1 400 Bad Request",
                true,
            ),
            (b"\xff\xfe HTTP/1.1", "HTTP/1.1 400 Bad Request", true),
        ] {
            let r = answer(req);
            assert_eq!(status(&r), want, "{}", String::from_utf8_lossy(req));
            assert_eq!(r.close, close, "{}", String::from_utf8_lossy(req));
        }
        assert!(String::from_utf8_lossy(&answer(b"PUT / HTTP/1.1").head).contains("Allow: GET"));
    }

    #[test]
    fn the_head_end_is_found_across_reads() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nGET"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r"), None);
    }
}
