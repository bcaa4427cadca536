//! The answers of the `files` app: a request for a path of its directory becomes a
//! response whose body is the file (or the part of it a `Range` asks for), with the
//! validators that make caches and resumed downloads work (RFC 9110 §8.8, §13, §14).
//! The rules on paths, validators and ranges are in [`super::files`]; this module turns
//! their verdicts into status lines and headers.

use super::files::conditional::{evaluate, http_date, Conditions, Selected};
use super::files::{FileInfo, FilesSite, Resolved};
use super::http::{bodiless, response, response_with, text, Body, Response};
use super::http_parse::Request;

/// The response to `req` (a GET or HEAD without a body) for `path` (its target's path,
/// still percent-encoded); `site` is `None` when this member serves no directory on the
/// port (a session moved from a member that does: a configuration error, answered 500).
pub(super) fn answer(
    site: Option<&mut FilesSite>,
    req: &Request<'_>,
    path: &str,
    close: bool,
) -> Response {
    let head_only = req.method == "HEAD";
    let Some(site) = site else {
        let body = text("no directory is served on this port here\n");
        return response(
            "500 Internal Server Error",
            "text/plain",
            body,
            head_only,
            true,
        );
    };
    let path = if path.is_empty() { "/" } else { path };
    match site.resolve(path) {
        Resolved::File(info) => file(&info, req, head_only, close),
        Resolved::Redirect(to) => response_with(
            "301 Moved Permanently",
            "text/plain",
            &format!("Location: {to}\r\n"),
            text("moved\n"),
            head_only,
            close,
        ),
        Resolved::Listing(html) => response(
            "200 OK",
            "text/html; charset=utf-8",
            Body::Text(html),
            head_only,
            close,
        ),
        Resolved::NotFound => response(
            "404 Not Found",
            "text/plain",
            text("not found\n"),
            head_only,
            close,
        ),
        Resolved::Forbidden(_) => response(
            "403 Forbidden",
            "text/plain",
            text("forbidden\n"),
            head_only,
            close,
        ),
        Resolved::BadPath => response(
            "400 Bad Request",
            "text/plain",
            text("bad request: malformed path\n"),
            head_only,
            true,
        ),
    }
}

/// The response for a file: whole (200), a range of it (206), not modified (304), or
/// the failed precondition (412) or range (416), as RFC 9110 §13.2.2 orders them.
fn file(info: &FileInfo, req: &Request<'_>, head_only: bool, close: bool) -> Response {
    let c = &req.cond;
    let cond = Conditions {
        if_match: c.if_match,
        if_none_match: c.if_none_match,
        if_modified_since: c.if_modified_since,
        if_unmodified_since: c.if_unmodified_since,
        range: c.range,
        if_range: c.if_range,
    };
    let validators = format!(
        "ETag: {}\r\nLast-Modified: {}\r\nAccept-Ranges: bytes\r\n",
        info.etag,
        http_date(info.modified)
    );
    let len = info.len;
    let whole = |first: u64, len: u64| Body::File {
        file: info.id.clone(),
        first,
        len,
    };
    match evaluate(
        true,
        req.method == "GET",
        &cond,
        &info.etag,
        info.modified,
        len,
    ) {
        Selected::Full => response_with(
            "200 OK",
            info.content_type,
            &validators,
            whole(0, len),
            head_only,
            close,
        ),
        Selected::Partial { first, last } => response_with(
            "206 Partial Content",
            info.content_type,
            &format!("{validators}Content-Range: bytes {first}-{last}/{len}\r\n"),
            whole(first, last - first + 1),
            head_only,
            close,
        ),
        Selected::NotModified => bodiless("304 Not Modified", &validators, close),
        Selected::PreconditionFailed => response(
            "412 Precondition Failed",
            "text/plain",
            text("precondition failed\n"),
            head_only,
            close,
        ),
        Selected::Unsatisfiable => response_with(
            "416 Range Not Satisfiable",
            "text/plain",
            &format!("Content-Range: bytes */{len}\r\n"),
            text("range not satisfiable\n"),
            head_only,
            close,
        ),
    }
}
