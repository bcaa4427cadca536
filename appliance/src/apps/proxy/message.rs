//! The messages the reverse proxy rewrites (RFC 9110 §7.6, RFC 9112): a client's
//! request head becomes the backend's (hop-by-hop headers taken off, `Connection: close`,
//! `Via` and `X-Forwarded-For` added; a resumed request asks for the rest with `Range` and
//! `If-Range`), and the backend's response head becomes the client's (hop-by-hop headers
//! off, the client connection's own `Connection`), with what the proxy must know of it:
//! how its body ends, and whether it can be resumed by another member from a byte offset.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

/// Most header lines in a backend's response head.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), never passed
/// on; `Transfer-Encoding` is passed on (the body is relayed as it came).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// A client's request as the proxy sends it to the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The request head for the backend (with the blank line).
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    /// Its body (received whole before anything is sent).
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// GET (the only method whose response may be resumed elsewhere).
    pub is_get: bool,
    /// HEAD (the response has no body whatever it says).
    pub is_head: bool,
    /// The client asked for a part (`Range`): its response is not resumed.
    pub ranged: bool,
    /// The client's HTTP minor version (0 or 1).
    pub version: u8,
}

/// Why a client request is answered by the proxy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// 400, with the reason.
    Bad(&'static str),
    /// 411: a chunked request body (only `Content-Length` bodies are taken).
    LengthRequired,
    /// 413: the body is longer than the limit.
    TooLarge,
    /// 431.
    HeadTooLarge,
}

/// A parsed client request head: what to send the backend, and the body's length.
#[derive(Debug)]
pub struct ClientRequest {
    /// The request for the backend, its body still to come.
    pub forward: Forward,
    /// Bytes of body that follow the head.
    pub body_len: u64,
    /// The client keeps the connection open after the response.
    pub keep_alive: bool,
}

/// Parses a client's request head (RFC 9112 §3) and rewrites it for the backend.
pub fn client_request(
    head: &[u8],
    client: Ipv6Addr,
    max_body: u64,
) -> Result<ClientRequest, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; super::super::http::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(RequestError::Bad("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(_) => return Err(RequestError::Bad("malformed request head")),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(RequestError::Bad("malformed request line"));
    };
    if !target.starts_with('/') && target != "*" {
        return Err(RequestError::Bad("only origin-form targets are proxied"));
    }
    let listed = connection_options(req.headers);
    let mut keep_alive = version == 1;
    let mut body_len = 0u64;
    let mut hosts = 0;
    let mut ranged = false;
    let mut forwarded_for = None;
    let mut out = format!("{method} {target} HTTP/1.{version}\r\n");
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value.trim_ascii();
        if name.eq_ignore_ascii_case("connection") {
            for t in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if t.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::LengthRequired);
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(RequestError::Bad("malformed Content-Length"))?;
            if body_len != 0 && n != body_len {
                return Err(RequestError::Bad("conflicting Content-Length"));
            }
            body_len = n;
            // Written once below.
            continue;
        }
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
        if name.eq_ignore_ascii_case("range") {
            ranged = true;
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(String::from_utf8_lossy(value).into_owned());
            continue;
        }
        // The whole body is sent at once: no 100-continue from the backend.
        if name.eq_ignore_ascii_case("expect") || is_hop_by_hop(name, &listed) {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(value));
        out.push_str("\r\n");
    }
    if hosts > 1 || (hosts == 0 && version == 1) {
        return Err(RequestError::Bad(
            "an HTTP/1.1 request needs exactly one Host",
        ));
    }
    if body_len > max_body {
        return Err(RequestError::TooLarge);
    }
    let forwarded_for = match forwarded_for {
        Some(earlier) => format!("{earlier}, {client}"),
        None => client.to_string(),
    };
    out.push_str(&format!(
        "X-Forwarded-For: {forwarded_for}\r\nVia: 1.{version} vany\r\nConnection: close\r\n"
    ));
    if body_len > 0 {
        out.push_str(&format!("Content-Length: {body_len}\r\n"));
    }
    out.push_str("\r\n");
    Ok(ClientRequest {
        forward: Forward {
            head: out.into_bytes(),
            body: Vec::new(),
            is_get: method == "GET",
            is_head: method == "HEAD",
            ranged,
            version,
        },
        body_len,
        keep_alive,
    })
}

/// The header names a `Connection` header lists (RFC 9110 §7.6.1), lowercased.
fn connection_options(headers: &[httparse::Header<'_>]) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// The request that resumes `forward`'s response at byte `from` of its body, at another
/// member: the same request with `Range: bytes=FROM-` and `If-Range: ETAG` (RFC 9110
/// §13.1.5), so that a backend whose representation changed answers 200, not the rest
/// of another one.
pub fn resume_request(forward: &Forward, from: u64, etag: &str) -> Vec<u8> {
    let head = String::from_utf8_lossy(&forward.head);
    let end = head.len().saturating_sub(2);
    let mut out = head[..end].to_string();
    out.push_str(&format!("Range: bytes={from}-\r\nIf-Range: {etag}\r\n\r\n"));
    out.into_bytes()
}

/// How a response's body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Framing {
    /// No body (a response to HEAD, 1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Until the backend closes: chunked (relayed as it came, the client decodes it) or
    /// delimited by the close itself.
    UntilClose {
        /// Chunked: the client sees where it ends; else the client connection closes.
        chunked: bool,
    },
}

/// What the proxy keeps of a backend's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The head for the client (with the blank line).
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    /// How the body ends.
    pub framing: Framing,
    /// The client connection closes after this response.
    pub close: bool,
    /// When another member can go on with the body from any byte: the strong `ETag`
    /// and the whole length.
    pub resume: Option<(String, u64)>,
}

/// Parses the backend's response head in `buf` (RFC 9112 §4): `Ok(None)` until it is
/// whole, `Ok(Some((head, consumed)))` once it is, an error message if it is malformed.
/// Interim (1xx) responses are for the caller to skip (status < 200).
pub fn backend_response(
    buf: &[u8],
    forward: &Forward,
    client_keep_alive: bool,
) -> Result<Option<(ResponseHead, usize)>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let consumed = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head from the backend"),
    };
    let status = resp.code.ok_or("no status from the backend")?;
    let reason = resp.reason.unwrap_or("");
    let listed = connection_options(resp.headers);
    let mut length = None;
    let mut chunked = false;
    let mut etag = None;
    let mut ranges = false;
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for h in resp.headers.iter() {
        let value = h.value.trim_ascii();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or("malformed Content-Length from the backend")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length from the backend");
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("etag") {
            etag = Some(String::from_utf8_lossy(value).into_owned());
        } else if h.name.eq_ignore_ascii_case("accept-ranges") {
            ranges = value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"bytes"));
        }
        if is_hop_by_hop(h.name, &listed) {
            continue;
        }
        out.push_str(h.name);
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(value));
        out.push_str("\r\n");
    }
    let framing = if forward.is_head || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length.
        Framing::UntilClose { chunked: true }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose { chunked: false }
    };
    // A close-delimited body ends the client connection too; so does a chunked one for
    // an HTTP/1.0 client (which cannot decode it, and got it only from a 1.0 request).
    let close = !client_keep_alive
        || matches!(framing, Framing::UntilClose { chunked: false })
        || (forward.version == 0 && matches!(framing, Framing::UntilClose { .. }));
    out.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    let resume = match (&framing, etag) {
        (Framing::Length(n), Some(tag))
            if status == 200 && forward.is_get && !forward.ranged && ranges && is_strong(&tag) =>
        {
            Some((tag, *n))
        }
        _ => None,
    };
    Ok(Some((
        ResponseHead {
            status,
            head: out.into_bytes(),
            framing,
            close,
            resume,
        },
        consumed,
    )))
}

/// Whether an entity tag is strong (RFC 9110 §8.8.3: not `W/`, quoted).
fn is_strong(tag: &str) -> bool {
    tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')
}

/// Checks the backend's answer to a [`resume_request`] (head in `buf`): `Ok(None)` until
/// the head is whole; `Ok(Some(consumed))` when it is the rest of the same
/// representation (206, `Content-Range: bytes FROM-(LEN-1)/LEN`, the same `ETag`);
/// an error message otherwise (the representation changed, or no range support).
pub fn resumed_response(
    buf: &[u8],
    from: u64,
    etag: &str,
    total: u64,
) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let consumed = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head from the backend".into()),
    };
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) {
        return Err("an interim response to a resumed request".into());
    }
    if status != 206 {
        return Err(format!(
            "the backend answered {status}, not 206, to the resumed request (changed?)"
        ));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value.trim_ascii()).into_owned())
    };
    let want = format!("bytes {from}-{}/{total}", total.saturating_sub(1));
    match header("content-range") {
        Some(r) if r == want => {}
        other => return Err(format!("Content-Range {other:?}, expected '{want}'")),
    }
    match header("etag") {
        Some(t) if t == etag => Ok(Some(consumed)),
        other => Err(format!("ETag {other:?}, expected {etag}")),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
