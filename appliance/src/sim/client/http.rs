//! HTTP/1.1 downloads of a simulated client: one TCP connection to the anycast address
//! carrying a list of requests, one after another on the kept-alive connection (the next
//! request goes once the previous response has completely arrived), each response
//! checked against its expected outcome as it arrives: status, headers, and the body
//! byte by byte at the running offset (nothing is buffered but a response head).
//!
//! Response bodies are delimited by `Content-Length`, which a response must carry unless
//! it has no body (1xx, 204, 304, and any response to HEAD); `Transfer-Encoding` is not
//! supported and reported as a mismatch. Interim responses (1xx but 101) are skipped.
//! After the last response the client closes the connection, unless the last request
//! says `Connection: close` (then the server closes it).

use std::sync::Arc;

use serde::{Serialize, Serializer};
use vany_stack::tcp::{Connection, FourTuple};
use vany_stack::time::{Duration, Instant};

use super::report::{track, Track, WireView};
use super::{DownloadStatus, Handover};
use crate::apps::source::fill_stream;

/// Longest response head (status line and headers) accepted.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Most header lines in a response head.
const MAX_HEADERS: usize = 64;

fn serialize_bytes<S: Serializer>(b: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(b)
}

/// What a response's body must be.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub enum ExpectedBody {
    /// Exactly these bytes.
    Exact(#[serde(serialize_with = "serialize_bytes")] Arc<[u8]>),
    /// Bytes `offset..offset + len` of the `source` stream `id` (what the `http` app's
    /// `/bytes/N` serves, with `id = N`).
    Stream {
        /// Stream id.
        id: u64,
        /// Offset of the body's first byte in the stream.
        offset: u64,
        /// Body length.
        len: u64,
    },
    /// Only this length, any bytes (for a response without a body, e.g. to HEAD: its
    /// `Content-Length`).
    Len(u64),
    /// No body.
    Empty,
}

/// Shows bytes as text, the first 64 of them at most.
fn show(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned();
    if b.len() > 64 {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

impl std::fmt::Debug for ExpectedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedBody::Exact(b) => write!(f, "Exact({} bytes: {})", b.len(), show(b)),
            ExpectedBody::Stream { id, offset, len } => {
                write!(f, "Stream {{ id: {id}, offset: {offset}, len: {len} }}")
            }
            ExpectedBody::Len(n) => write!(f, "Len({n})"),
            ExpectedBody::Empty => write!(f, "Empty"),
        }
    }
}

impl ExpectedBody {
    /// The expected length.
    pub fn len(&self) -> u64 {
        match self {
            ExpectedBody::Exact(b) => b.len() as u64,
            ExpectedBody::Stream { len, .. } | ExpectedBody::Len(len) => *len,
            ExpectedBody::Empty => 0,
        }
    }

    /// Whether no body byte is expected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compares `data`, the body bytes at `offset` (within the expected length), with
    /// the expected ones: the index in `data` of the first wrong byte and the byte
    /// expected there, if any.
    fn check(&self, offset: u64, data: &[u8]) -> Option<(usize, u8)> {
        let first_diff = |a: &[u8], b: &[u8]| a.iter().zip(b).position(|(x, y)| x != y);
        match self {
            ExpectedBody::Exact(b) => {
                let at = usize::try_from(offset).ok()?;
                let exp = b.get(at..at.checked_add(data.len())?)?;
                first_diff(data, exp).map(|i| (i, exp[i]))
            }
            ExpectedBody::Stream {
                id, offset: base, ..
            } => {
                let mut exp = [0u8; 4096];
                let mut done = 0;
                for part in data.chunks(exp.len()) {
                    let exp = &mut exp[..part.len()];
                    fill_stream(*id, base + offset + done as u64, exp);
                    if let Some(i) = first_diff(part, exp) {
                        return Some((done + i, exp[i]));
                    }
                    done += part.len();
                }
                None
            }
            ExpectedBody::Len(_) | ExpectedBody::Empty => None,
        }
    }
}

/// The expected outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpExpect {
    /// The final status code.
    pub status: u16,
    /// The body.
    pub body: ExpectedBody,
    /// Headers that must be present with exactly this value (the name compared without
    /// regard to case; any of several fields of that name may match).
    pub headers: Vec<(String, String)>,
}

impl HttpExpect {
    /// `status` with `body` and no header checked.
    pub fn new(status: u16, body: ExpectedBody) -> HttpExpect {
        HttpExpect {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// Also requires header `name` with value `value`.
    pub fn header(mut self, name: &str, value: &str) -> HttpExpect {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// One request and its expected response.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HttpRequestSpec {
    /// The whole raw request head, sent as is (e.g.
    /// `b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"`).
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    /// What must come back.
    pub expect: HttpExpect,
}

impl std::fmt::Debug for HttpRequestSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequestSpec")
            .field("head", &format_args!("{}", show(&self.head)))
            .field("expect", &self.expect)
            .finish()
    }
}

impl HttpRequestSpec {
    /// `method target HTTP/1.1` with `Host: vany` and the `extra` header lines (each
    /// without its CRLF), expecting `expect`.
    pub fn new(method: &str, target: &str, extra: &[&str], expect: HttpExpect) -> Self {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: vany\r\n");
        for line in extra {
            head.push_str(line);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        HttpRequestSpec {
            head: head.into_bytes(),
            expect,
        }
    }

    /// Whether the request is a HEAD (its response has no body).
    fn is_head(&self) -> bool {
        self.head.starts_with(b"HEAD ")
    }

    /// Whether the request asks the server to close after its response.
    fn closes(&self) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        if req.parse(&self.head).is_err() {
            return false;
        }
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|b| *b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    }
}

/// One HTTP download: connect to `[anycast]:port` at `start` and make `requests`, in
/// order, on that one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpDownloadSpec {
    /// When to connect.
    pub start: Instant,
    /// The server port on the anycast address.
    pub port: u16,
    /// The requests, with their expected responses.
    pub requests: Vec<HttpRequestSpec>,
}

/// The first thing about an HTTP download that was not as expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum HttpMismatch {
    /// The response head did not parse (or was too long).
    #[error("response {response}: malformed head: {why}")]
    MalformedHead {
        /// Index of the request answered.
        response: usize,
        /// What is wrong.
        why: String,
    },
    /// Another status code.
    #[error("response {response}: status {got}, expected {expected}")]
    Status {
        /// Index of the request answered.
        response: usize,
        /// Expected code.
        expected: u16,
        /// Received code.
        got: u16,
    },
    /// An expected header is missing or has another value.
    #[error("response {response}: header {name} is {got:?}, expected {expected:?}")]
    Header {
        /// Index of the request answered.
        response: usize,
        /// Header name.
        name: String,
        /// Expected value.
        expected: String,
        /// The values received (none: missing).
        got: Vec<String>,
    },
    /// The body's framing is missing or unsupported (no `Content-Length`, a
    /// `Transfer-Encoding`, conflicting lengths).
    #[error("response {response}: {why}")]
    Framing {
        /// Index of the request answered.
        response: usize,
        /// What is wrong.
        why: String,
    },
    /// The body (or, without a body, the `Content-Length`) has another length.
    #[error("response {response}: body of {got} bytes, expected {expected}")]
    BodyLength {
        /// Index of the request answered.
        response: usize,
        /// Expected length.
        expected: u64,
        /// Announced length.
        got: u64,
    },
    /// A wrong body byte.
    #[error("response {response}: body byte {offset} is {got:#04x}, expected {expected:#04x}")]
    Body {
        /// Index of the request answered.
        response: usize,
        /// Offset of the first wrong byte in the body.
        offset: u64,
        /// What it should have been.
        expected: u8,
        /// What arrived.
        got: u8,
    },
    /// The server closed, or announced it would close, before every response arrived.
    #[error("response {response}: the server closed at body byte {body_offset}")]
    EarlyClose {
        /// Index of the response that did not (completely) arrive.
        response: usize,
        /// Body bytes of it that arrived.
        body_offset: u64,
    },
    /// Bytes after the last response.
    #[error("{bytes} bytes after the last response")]
    ExtraData {
        /// How many arrived (in the read that brought them).
        bytes: u64,
    },
}

/// What happened to one HTTP download.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpDownloadReport {
    /// Index in the client's HTTP downloads.
    pub index: usize,
    /// What was asked for.
    pub spec: HttpDownloadSpec,
    /// The client's port.
    pub local_port: u16,
    /// Where it stands: complete once the last response arrived as expected.
    pub status: DownloadStatus,
    /// When the SYN was queued.
    pub started_at: Option<Instant>,
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// When the last byte of the last response arrived.
    pub completed_at: Option<Instant>,
    /// Responses completely received (and verified).
    pub responses: usize,
    /// The final status code of each response received (complete or not).
    pub statuses: Vec<u16>,
    /// When each response completely arrived.
    pub response_done_at: Vec<Instant>,
    /// Body bytes received and verified, over all responses.
    pub bytes_verified: u64,
    /// Bytes read from the connection (heads and bodies).
    pub bytes_received: u64,
    /// The first thing not as expected, if any.
    pub mismatch: Option<HttpMismatch>,
    /// Resets received.
    pub resets: u32,
    /// Whether the connection timed out.
    pub timed_out: bool,
    /// Retransmission timeouts of the client's side of the connection.
    pub rto_count: u64,
    /// Segments the client retransmitted.
    pub retransmits: u64,
    /// Segments dropped by PAWS at the client.
    pub paws_drops: u64,
    /// Every switch of the in-order data's source; `at_offset` counts the connection's
    /// bytes (heads and bodies).
    pub handovers: Vec<Handover>,
    /// When each spurious retransmission (a segment whose data had all arrived) came.
    pub spurious_at: Vec<Instant>,
    /// When each duplicate ACK (either direction) was sent or received.
    pub dup_acks_at: Vec<Instant>,
    /// In-order stalls longer than [`STALL`](super::STALL) (see
    /// [`DownloadReport::stalls`](super::DownloadReport::stalls)); the round trip of
    /// each request after the first makes one too.
    pub stalls: Vec<(Instant, Duration)>,
    /// Source of the latest in-order data.
    pub last_src: Option<std::net::Ipv6Addr>,
    /// When the latest new in-order data arrived.
    pub last_data_at: Option<Instant>,
}

impl HttpDownloadReport {
    /// Download time, from the SYN to the last response's last byte, once complete.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.completed_at?.saturating_since(self.started_at?))
    }
}

/// Where the response being received stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a response head.
    Head,
    /// Reading a body of `len` bytes, `at` of them so far.
    Body { len: u64, at: u64 },
    /// Every response arrived.
    Done,
    /// A mismatch: nothing more is looked at.
    Failed,
}

/// What a complete response head says.
struct HeadInfo {
    status: u16,
    /// The body length, or why it is unknown.
    body: Result<u64, HttpMismatch>,
    /// `Content-Length` when the response has no body (0 if absent).
    announced: u64,
    close: bool,
    header_mismatch: Option<HttpMismatch>,
}

/// One HTTP download in progress.
pub(super) struct HttpDownload {
    pub(super) report: HttpDownloadReport,
    pub(super) tuple: FourTuple,
    pub(super) wire: WireView,
    phase: Phase,
    /// The response head so far.
    head: Vec<u8>,
    /// Requests queued on the connection (the last one possibly in part).
    sent: usize,
    /// Bytes of request `sent - 1` queued.
    queued: usize,
    /// Whether the client closed its side.
    closed: bool,
}

impl HttpDownload {
    pub(super) fn new(report: HttpDownloadReport, tuple: FourTuple) -> HttpDownload {
        HttpDownload {
            report,
            tuple,
            wire: WireView::default(),
            phase: Phase::Head,
            head: Vec::new(),
            sent: 0,
            queued: 0,
            closed: false,
        }
    }

    /// The shared transport measurements.
    pub(super) fn track(&mut self) -> Track<'_> {
        track!(self.report)
    }

    /// Bytes that arrived in order: read, or waiting in `conn`'s receive queue.
    pub(super) fn in_order(&self, conn: Option<&Connection>) -> u64 {
        self.report.bytes_received + conn.map_or(0, |c| c.recv_queue() as u64)
    }

    /// Queues the request due, if any (the first at once, each next one when the
    /// previous response is complete), as far as the send buffer takes it.
    pub(super) fn send_requests(&mut self, conn: &mut Connection) {
        let requests = &self.report.spec.requests;
        if self.phase == Phase::Head && self.sent == self.report.responses {
            if self.sent == requests.len() {
                return;
            }
            self.sent += 1;
            self.queued = 0;
        }
        let Some(r) = self.sent.checked_sub(1).and_then(|i| requests.get(i)) else {
            return;
        };
        if let Some(rest) = r.head.get(self.queued..).filter(|b| !b.is_empty()) {
            if let Ok(n) = conn.send(rest) {
                self.queued += n;
            }
        }
    }

    /// Reads, verifies and handles events; `rx` is scratch space.
    pub(super) fn service(&mut self, now: Instant, conn: &mut Connection, rx: &mut [u8]) {
        // Bounded: events are queued by finite processing.
        while let Some(event) = conn.poll_event() {
            self.track().event(now, event);
        }
        let nothing_to_ask = self.report.spec.requests.is_empty() && self.phase == Phase::Head;
        if nothing_to_ask && self.report.connected_at.is_some() {
            self.finish(now, conn);
        }
        self.send_requests(conn);
        // Bounded by the receive queue.
        while conn.recv_queue() > 0 {
            let n = match conn.recv(rx) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.report.bytes_received += n as u64;
            self.feed(now, &rx[..n], conn);
            self.send_requests(conn);
        }
        self.track().conn_stats(conn.stats());
        let unfinished = matches!(self.phase, Phase::Head | Phase::Body { .. });
        if conn.is_read_closed() && unfinished {
            let body_offset = match self.phase {
                Phase::Body { at, .. } => at,
                _ => 0,
            };
            let response = self.report.responses;
            self.fail(HttpMismatch::EarlyClose {
                response,
                body_offset,
            });
        } else if conn.is_closed() && unfinished {
            // Reset or timed out: counted in `resets` or `timed_out`.
            self.report.status = DownloadStatus::Failed;
        }
        if !self.closed && conn.is_read_closed() {
            conn.close();
            self.closed = true;
        } else if !self.closed && self.phase == Phase::Failed {
            conn.abort();
            self.closed = true;
        }
    }

    fn fail(&mut self, m: HttpMismatch) {
        self.report.mismatch.get_or_insert(m);
        self.report.status = DownloadStatus::Failed;
        self.phase = Phase::Failed;
    }

    /// Bytes read from the connection.
    fn feed(&mut self, now: Instant, mut data: &[u8], conn: &mut Connection) {
        // Bounded: each round consumes bytes or ends.
        while !data.is_empty() {
            let response = self.report.responses;
            match self.phase {
                Phase::Failed => return,
                Phase::Done => {
                    let bytes = data.len() as u64;
                    return self.fail(HttpMismatch::ExtraData { bytes });
                }
                Phase::Head => {
                    let used = self.head_bytes(data);
                    data = &data[used..];
                }
                Phase::Body { len, at } => {
                    let room = usize::try_from(len - at).unwrap_or(usize::MAX);
                    let (part, rest) = data.split_at(data.len().min(room));
                    let expect = &self.report.spec.requests[response].expect.body;
                    if let Some((i, expected)) = expect.check(at, part) {
                        self.report.bytes_verified += i as u64;
                        return self.fail(HttpMismatch::Body {
                            response,
                            offset: at + i as u64,
                            expected,
                            got: part[i],
                        });
                    }
                    self.report.bytes_verified += part.len() as u64;
                    self.phase = Phase::Body {
                        len,
                        at: at + part.len() as u64,
                    };
                    data = rest;
                }
            }
            if matches!(self.phase, Phase::Body { len, at } if len == at) {
                self.response_done(now, conn);
            }
        }
    }

    /// Response head bytes: returns how many of `data` belong to the head (all of them
    /// while it is incomplete).
    fn head_bytes(&mut self, data: &[u8]) -> usize {
        let response = self.report.responses;
        let Some(request) = self.report.spec.requests.get(response).cloned() else {
            self.fail(HttpMismatch::ExtraData {
                bytes: data.len() as u64,
            });
            return data.len();
        };
        let old = self.head.len();
        let take = data.len().min(MAX_RESPONSE_HEAD - old);
        self.head.extend_from_slice(&data[..take]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut headers);
        let parsed = res.parse(&self.head);
        let end = match parsed {
            Ok(httparse::Status::Complete(end)) => end,
            Ok(httparse::Status::Partial) if self.head.len() < MAX_RESPONSE_HEAD => return take,
            Ok(httparse::Status::Partial) => {
                let why = format!("longer than {MAX_RESPONSE_HEAD} bytes");
                self.fail(HttpMismatch::MalformedHead { response, why });
                return take;
            }
            Err(e) => {
                let why = e.to_string();
                self.fail(HttpMismatch::MalformedHead { response, why });
                return take;
            }
        };
        let info = head_info(&res, &request, response);
        self.head.clear();
        let used = end - old;
        if (100..200).contains(&info.status) && info.status != 101 {
            return used; // interim: the final response follows
        }
        self.report.statuses.push(info.status);
        let more = response + 1 < self.report.spec.requests.len();
        match check_head(&info, &request, response) {
            Err(m) => self.fail(m),
            Ok(_) if info.close && more => self.fail(HttpMismatch::EarlyClose {
                response: response + 1,
                body_offset: 0,
            }),
            Ok(len) => self.phase = Phase::Body { len, at: 0 },
        }
        used
    }

    /// The current response arrived whole and as expected.
    fn response_done(&mut self, now: Instant, conn: &mut Connection) {
        let r = &mut self.report;
        r.responses += 1;
        r.response_done_at.push(now);
        if r.responses < r.spec.requests.len() {
            self.phase = Phase::Head;
        } else {
            self.finish(now, conn);
        }
    }

    /// Every response arrived as expected: complete, and the client closes unless the
    /// last request asked the server to.
    fn finish(&mut self, now: Instant, conn: &mut Connection) {
        let r = &mut self.report;
        self.phase = Phase::Done;
        r.status = DownloadStatus::Complete;
        r.completed_at = Some(now);
        let server_closes = r.spec.requests.last().is_some_and(HttpRequestSpec::closes);
        if !server_closes && !self.closed {
            conn.close();
            self.closed = true;
        }
    }
}

/// The first thing wrong with a final response head (status, headers, framing, body
/// length), or the body length to read.
fn check_head(
    info: &HeadInfo,
    request: &HttpRequestSpec,
    response: usize,
) -> Result<u64, HttpMismatch> {
    let expect = &request.expect;
    if info.status != expect.status {
        return Err(HttpMismatch::Status {
            response,
            expected: expect.status,
            got: info.status,
        });
    }
    if let Some(m) = &info.header_mismatch {
        return Err(m.clone());
    }
    let len = info.body.clone()?;
    let bodiless = bodiless(info.status, request);
    // Without a body, the announced length stands for it (unless none is expected).
    let got = if bodiless { info.announced } else { len };
    if got != expect.body.len() && !(bodiless && expect.body.is_empty()) {
        return Err(HttpMismatch::BodyLength {
            response,
            expected: expect.body.len(),
            got,
        });
    }
    Ok(len)
}

/// Whether the response has no body whatever its headers say (RFC 9112 §6.3).
fn bodiless(status: u16, request: &HttpRequestSpec) -> bool {
    request.is_head() || (100..200).contains(&status) || status == 204 || status == 304
}

/// The facts of a parsed response head, with the expected headers checked.
fn head_info(res: &httparse::Response<'_, '_>, request: &HttpRequestSpec, i: usize) -> HeadInfo {
    let status = res.code.unwrap_or(0);
    let framing = |why: &str| HttpMismatch::Framing {
        response: i,
        why: why.to_string(),
    };
    let values = |name: &str| {
        res.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
            .collect::<Vec<String>>()
    };
    let header_mismatch = request.expect.headers.iter().find_map(|(name, value)| {
        let got = values(name);
        (!got.iter().any(|v| v == value)).then(|| HttpMismatch::Header {
            response: i,
            name: name.clone(),
            expected: value.clone(),
            got,
        })
    });
    let lengths = values("content-length");
    let length = match lengths.split_first() {
        Some((first, rest)) if rest.iter().all(|v| v == first) => first.parse::<u64>().ok(),
        _ => None,
    };
    let close = values("connection")
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"));
    let body = if bodiless(status, request) {
        Ok(0)
    } else if !values("transfer-encoding").is_empty() {
        Err(framing("Transfer-Encoding is not supported"))
    } else if lengths.is_empty() {
        Err(framing("no Content-Length"))
    } else {
        length.ok_or_else(|| framing("malformed or conflicting Content-Length"))
    };
    HeadInfo {
        status,
        body,
        announced: length.unwrap_or(0),
        close,
        header_mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_body_checks_at_the_running_offset() {
        let body = ExpectedBody::Stream {
            id: 9,
            offset: 100,
            len: 10_000,
        };
        let mut data = vec![0u8; 5000];
        fill_stream(9, 100 + 3000, &mut data);
        assert_eq!(body.check(3000, &data), None);
        data[4500] ^= 1;
        assert_eq!(body.check(3000, &data), Some((4500, data[4500] ^ 1)));
    }

    #[test]
    fn exact_body_finds_the_first_wrong_byte() {
        let body = ExpectedBody::Exact(Arc::from(&b"hello world"[..]));
        assert_eq!(body.check(6, b"world"), None);
        assert_eq!(body.check(6, b"wOrld"), Some((1, b'o')));
        assert_eq!(body.len(), 11);
    }

    #[test]
    fn connection_close_in_the_request_is_seen() {
        let expect = HttpExpect::new(200, ExpectedBody::Empty);
        let r = HttpRequestSpec::new("GET", "/", &["Connection: close"], expect.clone());
        assert!(r.closes());
        assert!(!HttpRequestSpec::new("HEAD", "/", &[], expect).closes());
    }
}
