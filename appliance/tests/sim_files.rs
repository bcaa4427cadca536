//! The `files` app in the simulator (issue 14): every member serves its own copy of one
//! directory; 12 clients download files with ranges and conditional requests on kept-alive
//! connections while the operator moves them in the middle of bodies, and every byte is
//! checked against the file. A member whose copy of one file differs refuses the sessions
//! reading that file (reason `content`), and those downloads complete from the donor.

mod group_common;
mod temp_dir;

use std::path::Path;
use std::sync::Arc;

use group_common::*;
use temp_dir::TempDir;
use vany_appliance::apps::files::{FilesConfig, FilesSite, Resolved};
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::sim::client::{
    DownloadStatus, ExpectedBody, HttpDownloadSpec, HttpExpect, HttpRequestSpec,
};
use vany_appliance::sim::LinkParams;
use vany_stack::time::{Duration, Instant};

/// The port of the files app.
const PORT: u16 = 8080;

/// `n` bytes that differ from one position to the next.
fn content(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1] ^ salt)
        .collect()
}

/// The site's strong entity tag of `path`.
fn etag(dir: &Path, path: &str) -> String {
    let mut site = FilesSite::open(FilesConfig::new(dir)).expect("site");
    match site.resolve(path) {
        Resolved::File(info) => info.etag,
        other => panic!("{path}: {other:?}"),
    }
}

fn exact(b: &[u8]) -> ExpectedBody {
    ExpectedBody::Exact(Arc::from(b))
}

#[test]
fn downloads_with_ranges_and_conditions_survive_moves_and_a_different_copy_is_refused() {
    let a = content(2_000_000, 1);
    let b = content(600_000, 2);
    let c = content(1_500_000, 3);
    let dirs: Vec<TempDir> = (1..=3)
        .map(|i| TempDir::new("sim-files", &format!("m{i}")))
        .collect();
    for (i, d) in dirs.iter().enumerate() {
        std::fs::write(d.0.as_path().join("a.bin"), &a).unwrap();
        std::fs::write(d.0.as_path().join("b.bin"), &b).unwrap();
        let mut mine = c.clone();
        if i == 2 {
            // Member 3's copy of c.bin differs in one byte.
            mine[1_234_567] ^= 1;
        }
        std::fs::write(d.0.as_path().join("c.bin"), &mine).unwrap();
        std::fs::write(d.0.as_path().join("index.html"), b"<h1>vany</h1>\n").unwrap();
    }
    let tag_a = etag(dirs[0].0.as_path(), "/a.bin");
    let tag_b = etag(dirs[0].0.as_path(), "/b.bin");

    let mut g = Group::new(31, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    for (i, d) in dirs.iter().enumerate() {
        let site = FilesSite::open(FilesConfig::new(d.0.as_path())).expect("site");
        g.member(i as u16 + 1).host_files(PORT, site);
    }
    // Clients 0..12: near member 1 (so member 1 serves them first), 4 MB/s paths.
    let mut plans = Vec::new();
    for k in 0..12u64 {
        let l = [10, 30, 35].map(Duration::from_millis);
        let loc = g.place(&l, 0.0);
        for (i, latency) in l.iter().enumerate() {
            let p = LinkParams {
                latency: *latency,
                bandwidth: Some(4_000_000),
                ..LinkParams::default()
            };
            g.sim.set_link(loc, i, p);
        }
        let first = 1000 + k * 7919;
        let requests = vec![
            HttpRequestSpec::new(
                "GET",
                "/a.bin",
                &[],
                HttpExpect::new(200, exact(&a)).header("ETag", &tag_a),
            ),
            HttpRequestSpec::new(
                "GET",
                "/b.bin",
                &[&format!("Range: bytes={first}-{}", first + 399_999)],
                HttpExpect::new(206, exact(&b[first as usize..first as usize + 400_000])).header(
                    "Content-Range",
                    &format!("bytes {first}-{}/600000", first + 399_999),
                ),
            ),
            HttpRequestSpec::new(
                "GET",
                "/b.bin",
                &[&format!("If-None-Match: {tag_b}")],
                HttpExpect::new(304, ExpectedBody::Empty),
            ),
            HttpRequestSpec::new(
                "HEAD",
                "/a.bin",
                &[],
                HttpExpect::new(200, ExpectedBody::Len(2_000_000)),
            ),
            HttpRequestSpec::new(
                "GET",
                "/a.bin",
                &["Range: bytes=-300000", &format!("If-Range: {tag_a}")],
                HttpExpect::new(206, exact(&a[1_700_000..])),
            ),
            HttpRequestSpec::new(
                "GET",
                "/",
                &[],
                HttpExpect::new(200, exact(b"<h1>vany</h1>\n")),
            ),
            // Clients 8..12 then read c.bin, which member 3 holds another copy of.
            HttpRequestSpec::new(
                "GET",
                if k >= 8 { "/c.bin" } else { "/b.bin" },
                &[],
                HttpExpect::new(200, exact(if k >= 8 { &c } else { &b })),
            ),
        ];
        let start = Instant::from_millis(40 * k as i64);
        g.add_client(loc, |cfg| {
            cfg.http_download(HttpDownloadSpec {
                start,
                port: PORT,
                requests,
            })
        });
        // Where the moves go, at which verified byte counts: into the middle of a.bin,
        // then of the ranged b.bin; clients 8..12 to member 3 in the middle of c.bin
        // (refused: their copy differs), then to member 2 (taken).
        let body_end = 2_000_000 + 400_000 + 300_000 + 14;
        let mut moves = vec![(500_000 + k * 50_000, 2), (2_000_000 + 200_000, 1)];
        if k >= 8 {
            moves.push((body_end + 300_000, 3));
            moves.push((body_end + 700_000, 2));
        } else {
            moves.push((body_end + 200_000, 3));
        }
        plans.push(moves);
    }
    let mut next = vec![0usize; plans.len()];
    let limit = Instant::from_secs(60);
    // Bounded by `limit`.
    while !g.all_done() && g.sim.now() < limit {
        g.sim.run_for(Duration::from_millis(5));
        for (k, plan) in plans.iter().enumerate() {
            let verified = g.client(k).http_report(0).unwrap().bytes_verified;
            let Some(&(at, to)) = plan.get(next[k]) else {
                continue;
            };
            let serving = g.serving(k);
            if verified >= at && serving.len() == 1 && g.sim.now() > Instant::ZERO {
                let addr = g.client_addrs[k];
                if serving[0] != to {
                    g.member(serving[0]).manual_move(addr, to);
                }
                next[k] += 1;
            }
        }
    }
    assert!(g.all_done(), "every download ends");
    let handoffs = g.handoffs();
    let mut committed = 0;
    let mut refused = 0;
    for k in 0..12 {
        let r = g.client(k).http_report(0).unwrap().clone();
        assert_eq!(r.mismatch, None, "client {k}: {r:#?}");
        assert_eq!(r.status, DownloadStatus::Complete, "client {k}: {r:#?}");
        assert_eq!(
            r.statuses,
            vec![200, 206, 304, 200, 206, 200, 200],
            "client {k}"
        );
        assert_eq!((r.resets, r.rto_count), (0, 0), "client {k}: {r:#?}");
        let addr = g.client_addrs[k];
        let mine: Vec<_> = handoffs.iter().filter(|h| h.client == addr).collect();
        assert!(!r.handovers.is_empty(), "client {k} was moved: {mine:?}");
        for h in &mine {
            match h.outcome {
                HandoffOutcome::Committed => committed += 1,
                HandoffOutcome::Refused => {
                    refused += 1;
                    assert!(k >= 8 && h.to == 3, "only c.bin readers are refused: {h:?}");
                }
                _ => {}
            }
        }
        if k >= 8 {
            assert!(
                mine.iter()
                    .any(|h| h.to == 3 && h.outcome == HandoffOutcome::Refused),
                "client {k}: the move to member 3 is refused: {mine:?}"
            );
        }
    }
    println!("handoffs committed {committed}, refused {refused}");
    assert!(committed >= 12 * 2, "moves were taken: {committed}");
    assert_eq!(refused, 4, "one refusal per c.bin reader");
}

/// An app that resets a connection (here: the file changed in the middle of its body) gets
/// the RST to the client: the member keeps the aborted connection until it is sent.
#[test]
fn a_body_cut_short_by_a_changed_file_resets_the_client() {
    let a = content(2_000_000, 5);
    let dir = TempDir::new("sim-files", "cut");
    let path = dir.0.join("a.bin");
    std::fs::write(&path, &a).unwrap();
    let mut g = Group::new(33, 1, &[], |_, _| Duration::from_millis(20), |_| {});
    let site = FilesSite::open(FilesConfig::new(&dir.0)).expect("site");
    g.member(1).host_files(PORT, site);
    let l = [Duration::from_millis(10)];
    let loc = g.place(&l, 0.0);
    let p = LinkParams {
        latency: l[0],
        bandwidth: Some(2_000_000),
        ..LinkParams::default()
    };
    g.sim.set_link(loc, 0, p);
    let requests = vec![HttpRequestSpec::new(
        "GET",
        "/a.bin",
        &[],
        HttpExpect::new(200, exact(&a)),
    )];
    g.add_client(loc, |cfg| {
        cfg.http_download(HttpDownloadSpec {
            start: Instant::ZERO,
            port: PORT,
            requests,
        })
    });
    let limit = Instant::from_secs(30);
    let mut cut_at = None;
    // Bounded by `limit`.
    while !g.all_done() && g.sim.now() < limit {
        g.sim.run_for(Duration::from_millis(5));
        let r = g.client(0).http_report(0).unwrap();
        if cut_at.is_none() && r.bytes_verified >= 500_000 {
            // The file shrinks: the rest cannot be what the head promised.
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(1_000))
                .unwrap();
            cut_at = Some(g.sim.now());
        }
    }
    let r = g.client(0).http_report(0).unwrap().clone();
    let cut_at = cut_at.expect("the file was cut");
    assert_eq!(r.status, DownloadStatus::Failed, "{r:#?}");
    assert!(
        r.resets >= 1 && !r.timed_out,
        "reset, not timed out: {r:#?}"
    );
    assert!(
        g.sim.now() < cut_at + Duration::from_secs(5),
        "the reset came {:?} after the cut",
        g.sim.now().saturating_since(cut_at)
    );
    assert_eq!(r.mismatch, None, "no wrong byte before the reset");
}

/// The demo's kind of handoffs, not an operator's: clients reach the contact node first
/// and the proximity policy moves each to its nearest member in the middle of a file,
/// then member 2 drains and hands its sessions on; every byte is checked.
#[test]
fn file_downloads_follow_proximity_and_a_drain() {
    let a = content(2_000_000, 7);
    let b = content(600_000, 8);
    let dirs: Vec<TempDir> = (1..=3)
        .map(|i| TempDir::new("sim-files", &format!("p{i}")))
        .collect();
    for d in &dirs {
        std::fs::write(d.0.join("a.bin"), &a).unwrap();
        std::fs::write(d.0.join("b.bin"), &b).unwrap();
    }
    let tag_b = etag(dirs[0].0.as_path(), "/b.bin");
    let mut g = Group::new(35, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    for (i, d) in dirs.iter().enumerate() {
        let site = FilesSite::open(FilesConfig::new(d.0.as_path())).expect("site");
        g.member(i as u16 + 1).host_files(PORT, site);
    }
    for k in 0..6u64 {
        // Half the clients nearest member 2, half nearest member 3; 1 MB/s paths.
        let l = if k % 2 == 0 { [40, 8, 45] } else { [40, 45, 8] }.map(Duration::from_millis);
        let loc = g.place(&l, 0.0);
        for (i, latency) in l.iter().enumerate() {
            let p = LinkParams {
                latency: *latency,
                bandwidth: Some(1_000_000),
                ..LinkParams::default()
            };
            g.sim.set_link(loc, i, p);
        }
        let requests = vec![
            HttpRequestSpec::new("GET", "/a.bin", &[], HttpExpect::new(200, exact(&a))),
            HttpRequestSpec::new(
                "GET",
                "/b.bin",
                &["Range: bytes=100000-"],
                HttpExpect::new(206, exact(&b[100_000..])),
            ),
            HttpRequestSpec::new(
                "GET",
                "/b.bin",
                &[&format!("If-None-Match: {tag_b}")],
                HttpExpect::new(304, ExpectedBody::Empty),
            ),
            HttpRequestSpec::new("GET", "/a.bin", &[], HttpExpect::new(200, exact(&a))),
        ];
        let start = Instant::from_millis(30 * k as i64);
        g.add_client(loc, |cfg| {
            cfg.http_download(HttpDownloadSpec {
                start,
                port: PORT,
                requests,
            })
        });
    }
    let drain_at = Instant::from_millis(2500);
    let mut drained = false;
    let limit = Instant::from_secs(60);
    // Bounded by `limit`.
    while !g.all_done() && g.sim.now() < limit {
        g.sim.run_for(Duration::from_millis(10));
        if !drained && g.sim.now() >= drain_at {
            g.member(2).drain();
            drained = true;
        }
    }
    assert!(g.all_done(), "every download ends");
    let handoffs = g.handoffs();
    let committed = |reason: &str| {
        handoffs
            .iter()
            .filter(|h| h.outcome == HandoffOutcome::Committed && h.reason.as_str() == reason)
            .count()
    };
    println!(
        "proximity {}, drain {}: {handoffs:#?}",
        committed("proximity"),
        committed("drain")
    );
    for k in 0..6 {
        let r = g.client(k).http_report(0).unwrap().clone();
        assert_eq!(r.mismatch, None, "client {k}: {r:#?}");
        assert_eq!(r.status, DownloadStatus::Complete, "client {k}");
        assert_eq!(r.statuses, vec![200, 206, 304, 200], "client {k}");
        assert_eq!((r.resets, r.rto_count), (0, 0), "client {k}: {r:#?}");
        assert!(!r.handovers.is_empty(), "client {k} was moved");
    }
    assert!(
        committed("proximity") >= 6,
        "each client moved to its nearest member"
    );
    assert!(
        committed("drain") >= 1,
        "member 2's sessions moved on at its drain"
    );
}
