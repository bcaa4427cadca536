//! Tests of [`super::conditional`]: one table over every rule, and the dates.

use super::conditional::{evaluate, http_date, parse_http_date, Conditions, Selected};

const ETAG: &str = "\"0123456789abcdef0123456789abcdef\"";
/// Sun, 06 Nov 1994 08:49:37 GMT
const MODIFIED: u64 = 784_111_777;
const LEN: u64 = 1000;

/// The conditions of `headers` (lowercase names).
fn conditions(headers: &[(&str, &'static str)]) -> Conditions<'static> {
    let mut c = Conditions::default();
    for &(name, value) in headers {
        let v = Some(value.as_bytes());
        match name {
            "if-match" => c.if_match = v,
            "if-none-match" => c.if_none_match = v,
            "if-modified-since" => c.if_modified_since = v,
            "if-unmodified-since" => c.if_unmodified_since = v,
            "range" => c.range = v,
            "if-range" => c.if_range = v,
            _ => panic!("unknown header {name}"),
        }
    }
    c
}

/// A row: method, headers, representation length, answer.
type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    u64,
    Selected,
);

fn partial(first: u64, last: u64) -> Selected {
    Selected::Partial { first, last }
}

#[test]
fn conditions_table() {
    use Selected::{Full, NotModified, PreconditionFailed, Unsatisfiable};
    const OURS: &str = "\"0123456789abcdef0123456789abcdef\"";
    const WEAK_OURS: &str = "W/\"0123456789abcdef0123456789abcdef\"";
    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const LATER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
    const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    #[rustfmt::skip]
    let table: &[Row] = &[
        // No conditions.
        ("GET", &[], LEN, Full),
        ("HEAD", &[], LEN, Full),
        // If-Match: strong comparison, `*`, lists, malformed.
        ("GET", &[("if-match", OURS)], LEN, Full),
        ("GET", &[("if-match", "*")], LEN, Full),
        ("GET", &[("if-match", "\"other\"")], LEN, PreconditionFailed),
        ("GET", &[("if-match", WEAK_OURS)], LEN, PreconditionFailed),
        ("GET", &[("if-match", "\"a\", \"0123456789abcdef0123456789abcdef\"")], LEN, Full),
        ("GET", &[("if-match", " , \"a\",, \"0123456789abcdef0123456789abcdef\" ,")], LEN, Full),
        ("GET", &[("if-match", "0123456789abcdef0123456789abcdef")], LEN, PreconditionFailed),
        ("GET", &[("if-match", "\"a\" \"0123456789abcdef0123456789abcdef\"")], LEN, PreconditionFailed),
        ("POST", &[("if-match", "\"other\"")], LEN, PreconditionFailed),
        ("POST", &[("if-match", OURS)], LEN, Full),
        // If-Unmodified-Since, only without If-Match, ignored when invalid.
        ("GET", &[("if-unmodified-since", DATE)], LEN, Full),
        ("GET", &[("if-unmodified-since", LATER)], LEN, Full),
        ("GET", &[("if-unmodified-since", EARLIER)], LEN, PreconditionFailed),
        ("POST", &[("if-unmodified-since", EARLIER)], LEN, PreconditionFailed),
        ("GET", &[("if-unmodified-since", "yesterday")], LEN, Full),
        ("GET", &[("if-match", OURS), ("if-unmodified-since", EARLIER)], LEN, Full),
        // If-None-Match: weak comparison, `*`, 304 for GET/HEAD, 412 otherwise.
        ("GET", &[("if-none-match", OURS)], LEN, NotModified),
        ("HEAD", &[("if-none-match", OURS)], LEN, NotModified),
        ("GET", &[("if-none-match", WEAK_OURS)], LEN, NotModified),
        ("GET", &[("if-none-match", "*")], LEN, NotModified),
        ("GET", &[("if-none-match", "\"x\", W/\"0123456789abcdef0123456789abcdef\"")], LEN, NotModified),
        ("GET", &[("if-none-match", "\"other\"")], LEN, Full),
        ("GET", &[("if-none-match", "garbage")], LEN, Full),
        ("POST", &[("if-none-match", OURS)], LEN, PreconditionFailed),
        ("POST", &[("if-none-match", "\"other\"")], LEN, Full),
        // If-Modified-Since: GET/HEAD only, ignored with If-None-Match or an invalid date.
        ("GET", &[("if-modified-since", DATE)], LEN, NotModified),
        ("HEAD", &[("if-modified-since", LATER)], LEN, NotModified),
        ("GET", &[("if-modified-since", EARLIER)], LEN, Full),
        ("GET", &[("if-modified-since", "Sunday, 06-Nov-94 08:49:37 GMT")], LEN, NotModified),
        ("GET", &[("if-modified-since", "Sun Nov  6 08:49:37 1994")], LEN, NotModified),
        ("GET", &[("if-modified-since", "not a date")], LEN, Full),
        ("GET", &[("if-modified-since", "Mon, 06 Nov 1994 08:49:37 GMT")], LEN, Full),
        ("GET", &[("if-none-match", "\"other\""), ("if-modified-since", LATER)], LEN, Full),
        ("POST", &[("if-modified-since", LATER)], LEN, Full),
        // Order: If-Match and If-None-Match before Range.
        ("GET", &[("if-none-match", OURS), ("range", "bytes=0-9")], LEN, NotModified),
        ("GET", &[("if-match", "\"other\""), ("range", "bytes=0-9")], LEN, PreconditionFailed),
        ("GET", &[("if-modified-since", DATE), ("range", "bytes=0-9")], LEN, NotModified),
        // Range: GET only, bytes only, one range.
        ("GET", &[("range", "bytes=0-499")], LEN, partial(0, 499)),
        ("HEAD", &[("range", "bytes=0-499")], LEN, Full),
        ("POST", &[("range", "bytes=0-499")], LEN, Full),
        ("GET", &[("range", "bytes=500-")], LEN, partial(500, 999)),
        ("GET", &[("range", "bytes=-200")], LEN, partial(800, 999)),
        ("GET", &[("range", "bytes=-2000")], LEN, partial(0, 999)),
        ("GET", &[("range", "bytes=990-5000")], LEN, partial(990, 999)),
        ("GET", &[("range", "bytes=999-999")], LEN, partial(999, 999)),
        ("GET", &[("range", "BYTES=0-0")], LEN, partial(0, 0)),
        ("GET", &[("range", "  bytes=0-9 ")], LEN, partial(0, 9)),
        ("GET", &[("range", "bytes=0-9, ")], LEN, partial(0, 9)),
        ("GET", &[("range", "bytes=0-0,5-6")], LEN, Full),
        ("GET", &[("range", "bytes=0-0, 2000-3000")], LEN, Full),
        ("GET", &[("range", "items=0-9")], LEN, Full),
        ("GET", &[("range", "bytes = 0-9")], LEN, Full),
        ("GET", &[("range", "bytes=9-0")], LEN, Full),
        ("GET", &[("range", "bytes=abc")], LEN, Full),
        ("GET", &[("range", "bytes=")], LEN, Full),
        ("GET", &[("range", "bytes=-")], LEN, Full),
        ("GET", &[("range", "bytes=1-2-3")], LEN, Full),
        ("GET", &[("range", "bytes=+1-2")], LEN, Full),
        ("GET", &[("range", "bytes=1000-")], LEN, Unsatisfiable),
        ("GET", &[("range", "bytes=1000-2000")], LEN, Unsatisfiable),
        ("GET", &[("range", "bytes=99999999999999999999999-")], LEN, Unsatisfiable),
        ("GET", &[("range", "bytes=0-99999999999999999999999")], LEN, partial(0, 999)),
        ("GET", &[("range", "bytes=-0")], LEN, Unsatisfiable),
        ("GET", &[("range", "bytes=0-")], 0, Unsatisfiable),
        ("GET", &[("range", "bytes=-5")], 0, Unsatisfiable),
        ("GET", &[("range", "bytes=0-0")], 1, partial(0, 0)),
        // If-Range: strong entity tag, or the exact date; else the whole representation.
        ("GET", &[("range", "bytes=0-9"), ("if-range", OURS)], LEN, partial(0, 9)),
        ("GET", &[("range", "bytes=0-9"), ("if-range", WEAK_OURS)], LEN, Full),
        ("GET", &[("range", "bytes=0-9"), ("if-range", "\"other\"")], LEN, Full),
        ("GET", &[("range", "bytes=0-9"), ("if-range", DATE)], LEN, partial(0, 9)),
        ("GET", &[("range", "bytes=0-9"), ("if-range", LATER)], LEN, Full),
        ("GET", &[("range", "bytes=0-9"), ("if-range", "garbage")], LEN, Full),
        ("GET", &[("range", "bytes=2000-"), ("if-range", "\"other\"")], LEN, Full),
        ("GET", &[("range", "bytes=2000-"), ("if-range", OURS)], LEN, Unsatisfiable),
        ("GET", &[("if-range", OURS)], LEN, Full),
    ];
    assert!(table.len() >= 30);
    for (i, &(method, headers, len, want)) in table.iter().enumerate() {
        let c = conditions(headers);
        let got = evaluate(
            method == "GET" || method == "HEAD",
            method == "GET",
            &c,
            ETAG,
            MODIFIED,
            len,
        );
        assert_eq!(got, want, "row {i}: {method} {headers:?} len {len}");
    }
}

#[test]
fn dates_format_and_parse() {
    assert_eq!(http_date(MODIFIED), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    // Past the year 9999: its last second, no panic.
    assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    // The three forms of RFC 9110 §5.6.7, OWS around allowed.
    for form in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        " \tSun, 06 Nov 1994 08:49:37 GMT ",
    ] {
        assert_eq!(parse_http_date(form.as_bytes()), Some(MODIFIED), "{form:?}");
    }
    for bad in [
        &b""[..],
        b"garbage",
        b"Mon, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:37 UTC",
        b"Sun, 06 Nov 1994 25:49:37 GMT",
        b"Sun, 31 Feb 1994 08:49:37 GMT",
        b"Wed, 31 Dec 1969 23:59:59 GMT",
        b"Sun, 06 Nov 1994 08:49:37 GMT\xff",
        b"784111777",
    ] {
        assert_eq!(
            parse_http_date(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Round trips, leap days and the last representable second included.
    for secs in [
        0,
        1,
        59,
        86_399,
        951_782_400,
        1_709_164_800,
        4_102_444_800,
        253_402_300_799,
    ] {
        let s = http_date(secs);
        assert_eq!(s.len(), 29, "{s}");
        assert_eq!(parse_http_date(s.as_bytes()), Some(secs), "{s}");
    }
}
