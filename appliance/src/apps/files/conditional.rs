//! Conditional requests and byte ranges (RFC 9110 §13 and §14) as pure functions of the
//! raw header values and the representation's validators.

use std::time::{Duration, UNIX_EPOCH};

/// The request's conditional and range header values, raw (as they came, OWS around them
/// allowed). `None`: the header is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// 200 with the whole representation.
    Full,
    /// 206 with bytes `first..=last` (inclusive positions, `first <= last < len`).
    Partial {
        /// First byte position.
        first: u64,
        /// Last byte position (inclusive).
        last: u64,
    },
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Evaluates the conditions of a request for a representation with entity tag `etag`
/// (with its quotes), last modified at `modified` (seconds since the epoch) and `len`
/// bytes long, in the order of RFC 9110 §13.2.2:
/// 1. `If-Match` (strong comparison, `*` matches): false -> 412;
/// 2. else `If-Unmodified-Since` (ignored if not a valid date): modified later -> 412;
/// 3. `If-None-Match` (weak comparison, `*` matches): true -> 304 for GET/HEAD, 412 for
///    other methods (as §13.2.2 step 3 says);
/// 4. else, GET/HEAD only, `If-Modified-Since` (ignored if not a valid date): not
///    modified since -> 304;
/// 5. GET only (HEAD ignores `Range`): `Range`, if `If-Range` (when present) matches: an
///    entity tag must match strongly (a weak one never does), a date must equal
///    `modified`. Only the `bytes` unit and a single range (`a-b`, `a-`, `-n`) are
///    served; several ranges or a malformed `Range` -> the whole representation; a valid
///    range with `first >= len`, or a suffix of 0 (or any range of an empty
///    representation) -> 416; `last` is clamped to `len - 1`.
///
/// A malformed entity tag list matches nothing (so a malformed `If-Match` gives 412).
pub fn evaluate(
    is_get_or_head: bool,
    is_get: bool,
    c: &Conditions<'_>,
    etag: &str,
    modified: u64,
    len: u64,
) -> Selected {
    if let Some(v) = c.if_match {
        if !list_matches(v, etag.as_bytes(), true) {
            return Selected::PreconditionFailed;
        }
    } else if let Some(date) = c.if_unmodified_since.and_then(parse_http_date) {
        if modified > date {
            return Selected::PreconditionFailed;
        }
    }
    if let Some(v) = c.if_none_match {
        if list_matches(v, etag.as_bytes(), false) {
            return match is_get_or_head {
                true => Selected::NotModified,
                false => Selected::PreconditionFailed,
            };
        }
    } else if is_get_or_head {
        if let Some(date) = c.if_modified_since.and_then(parse_http_date) {
            if modified <= date {
                return Selected::NotModified;
            }
        }
    }
    let Some(range) = c.range.filter(|_| is_get) else {
        return Selected::Full;
    };
    if let Some(v) = c.if_range {
        if !if_range_matches(v, etag, modified) {
            return Selected::Full;
        }
    }
    select_range(range, len)
}

/// An entity tag: `W/"x"` or `"x"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

impl Tag<'_> {
    fn matches(&self, other: &Tag<'_>, strong: bool) -> bool {
        self.opaque == other.opaque && (!strong || (!self.weak && !other.weak))
    }
}

/// Parses one entity tag at the start of `v`; the tag and the rest.
fn parse_tag(v: &[u8]) -> Option<(Tag<'_>, &[u8])> {
    let (weak, v) = match v.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let v = v.strip_prefix(b"\"")?;
    let end = v.iter().position(|&b| b == b'"')?;
    let opaque = &v[..end];
    // etagc = %x21 / %x23-7E / obs-text
    if !opaque
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((Tag { weak, opaque }, &v[end + 1..]))
}

/// Whether the `If-Match` / `If-None-Match` value `v` (`*` or a list of entity tags)
/// matches `etag`, by strong or weak comparison. Malformed: no match.
fn list_matches(v: &[u8], etag: &[u8], strong: bool) -> bool {
    let v = trim(v);
    if v == b"*" {
        return true;
    }
    let Some((ours, b"")) = parse_tag(etag) else {
        return false;
    };
    let mut rest = v;
    let mut matched = false;
    loop {
        rest = trim_start_list(rest);
        if rest.is_empty() {
            return matched;
        }
        let Some((tag, after)) = parse_tag(rest) else {
            return false;
        };
        matched |= tag.matches(&ours, strong);
        let after = trim(after);
        if !after.is_empty() && after[0] != b',' {
            return false;
        }
        rest = after;
    }
}

/// Whether `If-Range` value `v` lets the range apply.
fn if_range_matches(v: &[u8], etag: &str, modified: u64) -> bool {
    let v = trim(v);
    if v.starts_with(b"W/") || v.starts_with(b"\"") {
        let (Some((theirs, b"")), Some((ours, b""))) = (parse_tag(v), parse_tag(etag.as_bytes()))
        else {
            return false;
        };
        return theirs.matches(&ours, true);
    }
    parse_http_date(v) == Some(modified)
}

/// The answer to `Range` value `v` for a representation of `len` bytes.
fn select_range(v: &[u8], len: u64) -> Selected {
    let v = trim(v);
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return Selected::Full;
    };
    if !v[..eq].eq_ignore_ascii_case(b"bytes") {
        return Selected::Full;
    }
    let mut specs = v[eq + 1..]
        .split(|&b| b == b',')
        .map(trim)
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Selected::Full;
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Selected::Full;
    };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        let Some(suffix) = digits(last) else {
            return Selected::Full;
        };
        if suffix == 0 || len == 0 {
            return Selected::Unsatisfiable;
        }
        return Selected::Partial {
            first: len.saturating_sub(suffix),
            last: len - 1,
        };
    }
    let Some(first) = digits(first) else {
        return Selected::Full;
    };
    let last = match last.is_empty() {
        true => u64::MAX,
        false => match digits(last) {
            Some(last) if last >= first => last,
            _ => return Selected::Full,
        },
    };
    if first >= len {
        return Selected::Unsatisfiable;
    }
    Selected::Partial {
        first,
        last: last.min(len - 1),
    }
}

/// A non-empty run of ASCII digits as a number, saturating at `u64::MAX`.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `v` without leading and trailing spaces and tabs (OWS).
fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// `v` without leading OWS and commas (empty list elements are allowed).
fn trim_start_list(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t' && b != b',')
        .unwrap_or(v.len());
    &v[start..]
}

/// Latest time an HTTP-date can say: 9999-12-31 23:59:59 GMT.
const LAST_DATE: u64 = 253_402_300_799;

/// `secs` since the epoch as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`
/// (times past the year 9999 say its last second).
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.min(LAST_DATE)))
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate and the obsolete RFC 850
/// (two-digit year: 1970 to 2069) and asctime forms, OWS around allowed; seconds since
/// the epoch. `None` for anything else, an impossible date (wrong weekday too) or a year
/// outside 1970 to 9999.
pub fn parse_http_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(trim(v)).ok()?;
    let t = httpdate::parse_http_date(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}
