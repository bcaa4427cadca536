//! Request paths to path segments under the root, and back.
//!
//! Rules for a request path (the target's path, without query or fragment, still
//! percent-encoded):
//! - it starts with '/', else it is malformed ([`PathFault::Bad`]);
//! - it is split on '/' first, then every segment is percent-decoded on its own; a '%'
//!   not followed by two hex digits, or a segment that does not decode to UTF-8, is
//!   malformed;
//! - an encoded slash (`%2F`, `%5C`, any case) is refused ([`Refusal::EncodedSlash`]);
//! - a literal backslash, a NUL byte (literal or `%00`) and a `..` segment after decoding
//!   (`..`, `%2E%2E`, ...) are refused ([`Refusal::Traversal`]): `..` is never normalized
//!   away;
//! - `.` segments are ignored and empty segments (`//`) collapse;
//! - whether the path ends with '/' is kept (a directory asked without it is redirected).
//!
//! Where the segments lead (symlinks, file types) is the site's business
//! ([`super::FilesSite::resolve`]).

use super::Refusal;

/// A decoded request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// Decoded segments: none empty, `.` or `..`; none contains '/', '\\' or NUL.
    pub segments: Vec<String>,
    /// Whether the request path ends with '/'.
    pub trailing_slash: bool,
}

impl RequestPath {
    /// The path relative to the root: segments joined with '/'.
    pub fn relative(&self) -> String {
        self.segments.join("/")
    }

    /// The decoded path as a directory, for people: `/`, `/a b/`.
    pub fn display_dir(&self) -> String {
        match self.segments.is_empty() {
            true => "/".to_string(),
            false => format!("/{}/", self.relative()),
        }
    }

    /// The path percent-encoded again, with a leading '/' and, if `slash`, a trailing one
    /// (the root is `/` either way).
    pub fn encoded(&self, slash: bool) -> String {
        let mut out = String::from("/");
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&percent_encode(segment));
        }
        if slash && !self.segments.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Why a request path was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFault {
    /// Malformed (400).
    Bad,
    /// Refused (403).
    Refused(Refusal),
}

/// Decodes a request path by the rules above.
pub fn decode_request_path(path: &str) -> Result<RequestPath, PathFault> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PathFault::Bad);
    };
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        if raw.contains('\\') {
            return Err(PathFault::Refused(Refusal::Traversal));
        }
        let bytes = percent_decode(raw.as_bytes()).ok_or(PathFault::Bad)?;
        if bytes.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(PathFault::Refused(Refusal::EncodedSlash));
        }
        if bytes.contains(&0) {
            return Err(PathFault::Refused(Refusal::Traversal));
        }
        let segment = String::from_utf8(bytes).map_err(|_| PathFault::Bad)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => return Err(PathFault::Refused(Refusal::Traversal)),
            _ => segments.push(segment),
        }
    }
    Ok(RequestPath {
        segments,
        trailing_slash: path.ends_with('/'),
    })
}

/// The segments of a [`super::FileId`]'s path, if it is normalized: relative, segments
/// separated by single '/', none empty, `.` or `..`, no backslash or NUL.
pub fn id_segments(path: &str) -> Option<Vec<&str>> {
    if path.is_empty() {
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let ok = segments.iter().all(|s| is_plain_segment(s));
    ok.then_some(segments)
}

/// Whether `s` can be one path segment as is: not empty, `.` or `..`, and without '/',
/// '\\' or NUL.
pub fn is_plain_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// Percent-decodes `raw`; `None` when a '%' is not followed by two hex digits.
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hi = hex_value(*raw.get(i + 1)?)?;
            let lo = hex_value(*raw.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes every byte of `s` but the unreserved characters of RFC 3986
/// (`A-Z a-z 0-9 - . _ ~`): safe in a path segment and in an HTML attribute.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// Escapes `s` for HTML text and double- or single-quoted attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
