//! HTTP downloads of the simulated client against a group of real members hosting the
//! built-in `http` app: several requests one after another on one kept-alive connection,
//! every response checked as it arrives (status, headers, every body byte), also while
//! the group hands the client off in the middle of a response; and a wrong expectation
//! is reported, with where it went wrong.

mod group_common;

use std::sync::Arc;

use group_common::*;
use vany_appliance::apps::source::fill_stream;
use vany_appliance::apps::AppKind;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::{
    ClientConfig, DownloadStatus, ExpectedBody, HttpDownloadReport, HttpDownloadSpec, HttpExpect,
    HttpMismatch, HttpRequestSpec,
};
use vany_appliance::sim::LinkParams;
use vany_stack::time::{Duration, Instant};

/// The port the members host the `http` app on.
const HTTP: u16 = 8080;

/// Three members 20 ms apart, each hosting `http` on [`HTTP`].
fn group(seed: u64) -> Group {
    let mut g = Group::new(seed, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    for id in 1..=3 {
        g.member(id).host_app(HTTP, AppKind::Http);
    }
    g
}

/// A client location nearest to member `near` (10 ms; 30 and 40 ms to the others), with
/// `bandwidth` bytes/s on its paths.
fn place(g: &mut Group, near: usize, bandwidth: Option<u64>) -> usize {
    let mut l = [30, 40, 35].map(Duration::from_millis);
    l[near - 1] = Duration::from_millis(10);
    let loc = g.place(&l, 0.0);
    for (i, latency) in l.iter().enumerate() {
        let params = LinkParams {
            latency: *latency,
            bandwidth,
            ..LinkParams::default()
        };
        g.sim.set_link(loc, i, params);
    }
    loc
}

fn get(target: &str, expect: HttpExpect) -> HttpRequestSpec {
    HttpRequestSpec::new("GET", target, &[], expect)
}

fn stream(n: u64) -> ExpectedBody {
    ExpectedBody::Stream {
        id: n,
        offset: 0,
        len: n,
    }
}

fn health() -> HttpRequestSpec {
    let body = ExpectedBody::Exact(Arc::from(&b"ok\n"[..]));
    let expect = HttpExpect::new(200, body).header("content-type", "text/plain");
    get("/health", expect)
}

fn bytes(n: u64) -> HttpRequestSpec {
    let expect = HttpExpect::new(200, stream(n)).header("Content-Length", &n.to_string());
    get(&format!("/bytes/{n}"), expect)
}

fn head_bytes(n: u64) -> HttpRequestSpec {
    let expect = HttpExpect::new(200, ExpectedBody::Len(n)).header("Connection", "keep-alive");
    HttpRequestSpec::new("HEAD", &format!("/bytes/{n}"), &[], expect)
}

fn not_found() -> HttpRequestSpec {
    let body = ExpectedBody::Exact(Arc::from(&b"not found\n"[..]));
    get("/no/such/thing", HttpExpect::new(404, body))
}

fn spec(start: Instant, requests: Vec<HttpRequestSpec>) -> HttpDownloadSpec {
    HttpDownloadSpec {
        start,
        port: HTTP,
        requests,
    }
}

/// The checks of a download that must have gone right: complete, every response as
/// expected, every body byte verified, no reset or retransmission timeout.
fn assert_verified(r: &HttpDownloadReport, statuses: &[u16], body_bytes: u64) {
    assert_eq!(r.mismatch, None, "{r:#?}");
    assert_eq!(r.status, DownloadStatus::Complete, "{r:#?}");
    assert_eq!(r.responses, r.spec.requests.len());
    assert_eq!(r.statuses, statuses);
    assert_eq!(r.response_done_at.len(), statuses.len());
    assert_eq!(r.bytes_verified, body_bytes);
    assert_eq!(
        (r.resets, r.timed_out, r.rto_count),
        (0, false, 0),
        "{r:#?}"
    );
    assert!(r.completed_at.is_some() && r.duration().is_some());
}

#[test]
fn keep_alive_requests_are_all_verified() {
    let mut g = group(21);
    let mut starts = Vec::new();
    for c in 0..3 {
        let loc = place(&mut g, c + 1, None);
        let start = Instant::from_millis(50 * c as i64);
        starts.push(start);
        let mut requests = vec![health(), bytes(1_000_000), head_bytes(5), not_found()];
        if c == 2 {
            // The last request asks the server to close.
            let expect = HttpExpect::new(200, ExpectedBody::Exact(Arc::from(&b"ok\n"[..])))
                .header("connection", "close");
            requests.push(HttpRequestSpec::new(
                "GET",
                "/health",
                &["Connection: close"],
                expect,
            ));
        }
        g.add_client(loc, |cfg: ClientConfig| {
            // A source download on the same client, on its own connection.
            cfg.download(start, 80, 500 + c as u64, 300_000, Some(1_000_000))
                .http_download(spec(start, requests))
        });
    }
    assert!(
        g.run_until_done(Instant::from_secs(20), Duration::from_millis(10)),
        "every download ends"
    );
    for (c, start) in starts.into_iter().enumerate() {
        let client = g.client(c);
        let r = client.http_report(0).unwrap().clone();
        let summary = client.summary();
        println!("client {c}: {r:#?}\n{summary:?}");
        let mut statuses = vec![200, 200, 200, 404];
        let mut body = 3 + 1_000_000 + 10;
        if c == 2 {
            statuses.push(200);
            body += 3;
        }
        assert_verified(&r, &statuses, body);
        assert_eq!(r.started_at, Some(start));
        // The source download's port, then the HTTP download's.
        assert_eq!(r.local_port, client.reports()[0].local_port + 1);
        assert_eq!(download_problem(&client.reports()[0]), None);
        assert_eq!((summary.downloads, summary.complete), (2, 2));
        assert_eq!((summary.mismatches, summary.failed), (0, 0));
        assert_eq!(summary.bytes_verified, 300_000 + body);
    }
}

#[test]
fn responses_survive_handoffs_in_their_middle() {
    let mut g = group(22);
    // 2 MB/s paths: a 2 MB body takes about a second.
    for c in 0..2 {
        let loc = place(&mut g, 1, Some(2_000_000));
        let requests = vec![
            health(),
            bytes(2_000_000),
            head_bytes(5),
            bytes(1_500_000),
            not_found(),
        ];
        let start = Instant::from_millis(30 * c as i64);
        g.add_client(loc, |cfg| cfg.http_download(spec(start, requests)));
    }
    // Each client is moved by the operator in the middle of each large body: 1 -> 2
    // during the first, 2 -> 3 during the second.
    let moves = [(500_000, 2), (2_000_000 + 600_000, 3)];
    let mut done = [0usize; 2];
    let limit = Instant::from_secs(30);
    // Bounded by `limit`.
    while !g.all_done() && g.sim.now() < limit {
        g.sim.run_for(Duration::from_millis(5));
        for (c, moved) in done.iter_mut().enumerate() {
            let verified = g.client(c).http_report(0).unwrap().bytes_verified;
            if let Some(&(at, to)) = moves.get(*moved) {
                if verified >= at {
                    let addr = g.client_addrs[c];
                    let from = g.serving(c);
                    assert_eq!(from.len(), 1, "client {c} served by {from:?}");
                    g.member(from[0]).manual_move(addr, to);
                    *moved += 1;
                }
            }
        }
    }
    assert!(g.all_done(), "every download ends");
    let handoffs = g.handoffs();
    for (c, moved) in done.into_iter().enumerate() {
        let r = g.client(c).http_report(0).unwrap().clone();
        println!("client {c}: {r:#?}");
        assert_verified(
            &r,
            &[200, 200, 200, 200, 404],
            3 + 2_000_000 + 1_500_000 + 10,
        );
        assert_eq!(moved, 2, "both moves were asked for");
        let addr = g.client_addrs[c];
        let committed: Vec<u16> = handoffs
            .iter()
            .filter(|h| h.client == addr && h.outcome == HandoffOutcome::Committed)
            .map(|h| h.to)
            .collect();
        assert_eq!(committed, vec![2, 3], "{handoffs:?}");
        let moves: Vec<_> = r.handovers.iter().map(|h| h.new_src).collect();
        assert_eq!(moves, vec![member_addr(2), member_addr(3)], "{r:#?}");
        // Each handover came in the middle of a large body.
        let (first, second) = (r.handovers[0].at_offset, r.handovers[1].at_offset);
        assert!(first > 500_000 && first < 2_000_000, "{first}");
        assert!(second > 2_600_000 && second < 3_500_000, "{second}");
        assert!(r.response_done_at[1] > r.handovers[0].first_new);
        assert!(r.response_done_at[3] > r.handovers[1].first_new);
    }
    assert_eq!(g.client(0).summary().mismatches, 0);
}

#[test]
fn wrong_expectations_are_reported_with_where() {
    let mut g = group(23);
    let loc = place(&mut g, 1, None);
    // A body that differs from /bytes/1000 at byte 777.
    let mut wrong = vec![0u8; 1000];
    fill_stream(1000, 0, &mut wrong);
    let right_byte = wrong[777];
    wrong[777] ^= 0xff;
    let body = ExpectedBody::Exact(Arc::from(wrong));
    let requests_body = vec![health(), get("/bytes/1000", HttpExpect::new(200, body))];
    // A status that differs: /health is 200.
    let requests_status = vec![get(
        "/health",
        HttpExpect::new(201, ExpectedBody::Exact(Arc::from(&b"ok\n"[..]))),
    )];
    // A header that is not there, and a length that differs.
    let missing = HttpExpect::new(200, ExpectedBody::Len(3)).header("X-Vany", "yes");
    let requests_header = vec![get("/health", missing)];
    let short = vec![
        head_bytes(5),
        get("/bytes/10", HttpExpect::new(200, stream(9))),
    ];
    g.add_client(loc, |cfg| {
        cfg.http_download(spec(Instant::ZERO, requests_body))
            .http_download(spec(Instant::ZERO, requests_status))
            .http_download(spec(Instant::ZERO, requests_header))
            .http_download(spec(Instant::ZERO, short))
    });
    assert!(
        g.run_until_done(Instant::from_secs(10), Duration::from_millis(10)),
        "every download ends"
    );
    let client = g.client(0);
    let reports = client.http_reports();
    let summary = client.summary();
    println!("{reports:#?}\n{summary:?}");
    for r in &reports {
        assert_eq!(r.status, DownloadStatus::Failed, "{r:#?}");
        assert_eq!(r.completed_at, None);
    }
    assert_eq!(
        reports[0].mismatch,
        Some(HttpMismatch::Body {
            response: 1,
            offset: 777,
            expected: right_byte ^ 0xff,
            got: right_byte,
        })
    );
    assert_eq!(reports[0].responses, 1);
    assert_eq!(reports[0].bytes_verified, 3 + 777);
    assert_eq!(
        reports[1].mismatch,
        Some(HttpMismatch::Status {
            response: 0,
            expected: 201,
            got: 200,
        })
    );
    assert_eq!(reports[1].statuses, vec![200]);
    assert_eq!(
        reports[2].mismatch,
        Some(HttpMismatch::Header {
            response: 0,
            name: "X-Vany".to_string(),
            expected: "yes".to_string(),
            got: Vec::new(),
        })
    );
    assert_eq!(
        reports[3].mismatch,
        Some(HttpMismatch::BodyLength {
            response: 1,
            expected: 9,
            got: 10,
        })
    );
    let shown = reports[0].mismatch.as_ref().unwrap().to_string();
    assert!(shown.contains("byte 777"), "{shown}");
    assert_eq!((summary.downloads, summary.failed), (4, 4));
    assert_eq!(summary.mismatches, 4);
    assert_eq!(summary.complete, 0);
}
