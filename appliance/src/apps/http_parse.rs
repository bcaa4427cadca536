//! Parsing an HTTP/1.1 request head (RFC 9112) for the apps that serve HTTP: the
//! request line, `Host` rules, `Connection`, whether a body follows, and the raw values
//! of the headers that make a request conditional or partial (RFC 9110 §13, §14).
//! `httparse` does the tokenizing; the rules around it are here.

use super::http::MAX_HEADERS;

/// A parsed request head.
pub(super) struct Request<'a> {
    pub(super) method: &'a str,
    /// The path (and query) of an origin-form or absolute-form target.
    pub(super) path: &'a str,
    pub(super) keep_alive: bool,
    pub(super) has_body: bool,
    /// Raw values of the headers that make the request conditional or partial.
    pub(super) cond: RawConditions<'a>,
}

/// The raw values of a request's conditional and range headers (the first of each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RawConditions<'a> {
    pub(super) if_match: Option<&'a [u8]>,
    pub(super) if_none_match: Option<&'a [u8]>,
    pub(super) if_modified_since: Option<&'a [u8]>,
    pub(super) if_unmodified_since: Option<&'a [u8]>,
    pub(super) range: Option<&'a [u8]>,
    pub(super) if_range: Option<&'a [u8]>,
}

impl<'a> RawConditions<'a> {
    /// Keeps `value` if `name` is one of these headers (and the first of its name).
    fn note(&mut self, name: &str, value: &'a [u8]) {
        let slots = [
            ("if-match", &mut self.if_match),
            ("if-none-match", &mut self.if_none_match),
            ("if-modified-since", &mut self.if_modified_since),
            ("if-unmodified-since", &mut self.if_unmodified_since),
            ("range", &mut self.range),
            ("if-range", &mut self.if_range),
        ];
        let Some((_, slot)) = slots
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            return;
        };
        slot.get_or_insert(value);
    }
}

/// Why a request head cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    BadRequest(&'static str),
    TooManyHeaders,
}

fn parse_error(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "malformed header name",
        httparse::Error::HeaderValue => "malformed header value",
        httparse::Error::NewLine => "malformed line ending",
        httparse::Error::Token => "malformed method or request target",
        httparse::Error::Version => "unsupported HTTP version",
        _ => "malformed request head",
    }
}

/// Whether `a` is a URI authority (host and port) without userinfo (RFC 3986 §3.2,
/// RFC 9110 §4.2.4): reg-name or IP-literal characters and ':'.
fn valid_authority(a: &[u8]) -> bool {
    !a.is_empty()
        && a.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(b))
}

/// The path of a request target: origin-form as it is; absolute-form (RFC 9112 §3.2.2)
/// with its scheme and authority taken off.
fn target_path(target: &str) -> Result<&str, Refusal> {
    if target.starts_with('/') {
        return Ok(target);
    }
    let bad = Refusal::BadRequest("malformed request target");
    let (scheme, rest) = target.split_once("://").ok_or(bad)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad);
    }
    let at = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !valid_authority(&rest.as_bytes()[..at]) {
        return Err(bad);
    }
    Ok(&rest[at..])
}

pub(super) fn parse_head(head: &[u8]) -> Result<Request<'_>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Refusal::BadRequest("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooManyHeaders),
        Err(e) => return Err(Refusal::BadRequest(parse_error(e))),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Refusal::BadRequest("malformed request line"));
    };
    let path = target_path(target)?;
    let mut keep_alive = version == 1;
    let mut has_body = false;
    let mut hosts = 0;
    let mut cond = RawConditions::default();
    for h in req.headers.iter() {
        let value = h.value.trim_ascii();
        cond.note(h.name, value);
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
            // Empty is allowed: a target without an authority (RFC 9112 §3.2).
            if !value.is_empty() && !valid_authority(value) {
                return Err(Refusal::BadRequest("malformed Host"));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && value != b"0")
        {
            has_body = true;
        }
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in any request.
    if hosts > 1 {
        return Err(Refusal::BadRequest("more than one Host"));
    }
    if hosts == 0 && version == 1 {
        return Err(Refusal::BadRequest("HTTP/1.1 request without Host"));
    }
    Ok(Request {
        method,
        path,
        keep_alive,
        has_body,
        cond,
    })
}

/// The end of the request head in `b` (just past its empty line), searching from
/// `from`: a line terminator is CRLF or a bare LF (RFC 9112 §2.2).
pub(super) fn head_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // Bounded by the buffer's length.
    while let Some(off) = b.get(i..)?.iter().position(|&c| c == b'\n') {
        let lf = i + off;
        match b.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}
