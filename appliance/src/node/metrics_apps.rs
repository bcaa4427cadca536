//! The `/metrics` families of the hosted apps: the `files` apps' requests by result,
//! the hashing of their directories, open files and read errors; the `proxy` apps'
//! requests, resumptions and failures (docs/operations.md).

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::metrics::{counter, counters, gauge};
use crate::apps::{FilesStats, ProxyStats};

/// Encodes the counters of the node's `files` apps.
pub(super) fn encode_files(e: &mut DescriptorEncoder, f: &FilesStats) -> fmt::Result {
    counters(
        e,
        "vany_files_requests",
        "Requests the files apps resolved, by result: served (a file), not_found, \
         refused_traversal (a path out of the directory: '..', an encoded slash, a symlink \
         out), refused_not_regular (a device, FIFO or socket), refused_no_index (a \
         directory without index file or listing), bad_path (malformed).",
        [
            ("served", f.served_files),
            ("not_found", f.not_found),
            ("refused_traversal", f.traversal_refused),
            ("refused_not_regular", f.not_regular),
            ("refused_no_index", f.no_index),
            ("bad_path", f.bad_path),
        ]
        .map(|(r, n)| ([("result", r)], n)),
    )?;
    counter(
        e,
        "vany_files_hashed",
        "Files whose content the files apps hashed (at start, and again when one changed).",
        f.hashed_files,
    )?;
    counter(
        e,
        "vany_files_hashed_bytes",
        "Bytes the files apps hashed.",
        f.hashed_bytes,
    )?;
    gauge(
        e,
        "vany_files_open",
        "Files the files apps hold open (bounded by max_open per app).",
        f.open_files,
    )?;
    counter(
        e,
        "vany_files_read_errors",
        "Reads of a file that failed or found it changed; the connection is reset.",
        f.read_errors,
    )
}

/// Encodes the counters of the node's `proxy` apps.
pub(super) fn encode_proxy(e: &mut DescriptorEncoder, p: &ProxyStats) -> fmt::Result {
    counter(
        e,
        "vany_proxy_backend_requests",
        "Requests the proxy apps sent to their backend (resumptions included).",
        p.requests,
    )?;
    counter(
        e,
        "vany_proxy_resumed",
        "Responses a member took over in the middle and resumed from the backend with a \
         Range request.",
        p.resumed,
    )?;
    counters(
        e,
        "vany_proxy_errors",
        "Proxy failures, by kind: bad_gateway (502: the backend refused, failed or sent a \
         malformed head), gateway_timeout (504), truncated (the backend failed in the \
         middle of a body: the client connection was reset), resume_failed (the backend did \
         not honour a resumption: reset), refused (a client request the proxy answered \
         itself with 400, 411, 413 or 431).",
        [
            ("bad_gateway", p.bad_gateway),
            ("gateway_timeout", p.gateway_timeout),
            ("truncated", p.truncated),
            ("resume_failed", p.resume_failed),
            ("refused", p.refused),
        ]
        .map(|(r, n)| ([("kind", r)], n)),
    )?;
    gauge(
        e,
        "vany_proxy_backend_connections",
        "Backend connections the proxy apps hold open now.",
        p.open,
    )
}
