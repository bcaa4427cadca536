//! The `files` app over real TCP connections (vany's engine on both ends of an in-memory
//! link): whole files, ranges, conditional requests, index files, refused paths, and a
//! response moved to another server in the middle of its body, which goes on only when
//! that server's copy of the file is the same (else the donor keeps it).

mod apps_common;
mod temp_dir;

use std::path::Path;

use apps_common::{responses, Pair, PORT};
use temp_dir::TempDir;
use vany_appliance::apps::files::{FilesConfig, FilesSite};
use vany_appliance::apps::{AppEnv, AppKind};

/// A directory of files for one test.
struct Site(TempDir);

impl Site {
    fn new(tag: &str) -> Site {
        Site(TempDir::new("apps-files", tag))
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.0 .0.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("dir");
        }
        std::fs::write(p, data).expect("write");
    }

    fn path(&self) -> &Path {
        &self.0 .0
    }
}

/// `n` bytes that differ from one position to the next (a misplaced byte shows).
fn content(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ salt)
        .collect()
}

fn env_for(dir: &Path) -> AppEnv {
    let mut env = AppEnv::new();
    let site = FilesSite::open(FilesConfig::new(dir)).expect("site opens");
    env.serve_files(PORT, site);
    env
}

fn pair(dir: &Path, seed: u64) -> Pair {
    let mut p = Pair::new(AppKind::Files, seed);
    p.env = env_for(dir);
    p
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: vany\r\n{extra}\r\n")
}

#[test]
fn files_ranges_and_conditional_requests_are_answered_on_one_connection() {
    let dir = Site::new("rules");
    let a = content(300_000, 0);
    dir.write("a.bin", &a);
    dir.write("index.html", b"<p>hello</p>\n");
    dir.write("sub/b.txt", b"bee\n");
    let mut p = pair(dir.path(), 1);

    let first = [
        get("/a.bin", ""),
        "HEAD /a.bin HTTP/1.1\r\nHost: vany\r\n\r\n".to_string(),
        get("/a.bin", "Range: bytes=1000-1999\r\n"),
        get("/a.bin", "Range: bytes=-10\r\n"),
        get("/a.bin", "Range: bytes=400000-\r\n"),
        get("/", ""),
        get("/sub", ""),
        get("/sub/b.txt", ""),
        get("/nope", ""),
    ]
    .concat();
    let kinds = [false, true, false, false, false, false, false, false, false];
    let got = p.exchange(first.as_bytes(), 20_000, |g| {
        responses(g, &kinds).len() == 9
    });
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 9, "every response arrived");
    assert_eq!(r[0].0, "HTTP/1.1 200 OK");
    assert!(r[0].2 == a, "the whole file");
    let etag = header(&r[0].1, "ETag").expect("ETag").to_string();
    assert!(
        etag.starts_with('"') && etag.len() > 10,
        "a strong tag: {etag}"
    );
    let modified = header(&r[0].1, "Last-Modified")
        .expect("Last-Modified")
        .to_string();
    assert_eq!(header(&r[0].1, "Accept-Ranges"), Some("bytes"));
    assert_eq!(header(&r[1].1, "Content-Length"), Some("300000"), "HEAD");
    assert!(r[1].2.is_empty());
    assert_eq!(r[2].0, "HTTP/1.1 206 Partial Content");
    assert_eq!(
        header(&r[2].1, "Content-Range"),
        Some("bytes 1000-1999/300000")
    );
    assert!(r[2].2 == a[1000..2000]);
    assert!(r[3].2 == a[300_000 - 10..], "suffix range");
    assert_eq!(r[4].0, "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(header(&r[4].1, "Content-Range"), Some("bytes */300000"));
    assert_eq!(r[5].2, b"<p>hello</p>\n", "index file");
    assert!(header(&r[5].1, "Content-Type").is_some_and(|t| t.starts_with("text/html")));
    assert_eq!(r[6].0, "HTTP/1.1 301 Moved Permanently");
    assert_eq!(header(&r[6].1, "Location"), Some("/sub/"));
    assert_eq!(r[7].2, b"bee\n");
    assert_eq!(r[8].0, "HTTP/1.1 404 Not Found");

    // Conditional requests with the validators just received.
    let second = [
        get("/a.bin", &format!("If-None-Match: {etag}\r\n")),
        get("/a.bin", &format!("If-Modified-Since: {modified}\r\n")),
        get(
            "/a.bin",
            &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
        ),
        get("/a.bin", "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n"),
        get("/a.bin", "If-Match: \"other\"\r\n"),
    ]
    .concat();
    // 304 has no body whatever its head says: parse it as a HEAD answer.
    let kinds = [true, true, false, false, false];
    let got = p.exchange(second.as_bytes(), 20_000, |g| {
        responses(g, &kinds).len() == 5
    });
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 5);
    assert_eq!(r[0].0, "HTTP/1.1 304 Not Modified");
    assert_eq!(header(&r[0].1, "ETag"), Some(etag.as_str()));
    assert_eq!(r[1].0, "HTTP/1.1 304 Not Modified");
    assert_eq!(r[2].0, "HTTP/1.1 206 Partial Content");
    assert!(r[2].2 == a[..10]);
    assert_eq!(
        r[3].0, "HTTP/1.1 200 OK",
        "If-Range with another tag: the whole file"
    );
    assert!(r[3].2 == a);
    assert_eq!(r[4].0, "HTTP/1.1 412 Precondition Failed");
}

#[test]
fn paths_out_of_the_directory_are_refused_and_counted() {
    let outside = Site::new("outside");
    outside.write("secret", b"secret\n");
    let dir = Site::new("traversal");
    dir.write("ok.txt", b"ok\n");
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))
        .expect("symlink");
    let mut p = pair(dir.path(), 2);
    let attempts = [
        "/../secret",
        "/%2e%2e/secret",
        "/a/..%2f..%2fsecret",
        "/%2E%2E%2Fsecret",
        "/link",
        "/ok.txt/../../secret",
    ];
    let mut req: String = attempts.iter().map(|a| get(a, "")).collect();
    req.push_str(&get("/ok.txt", ""));
    let kinds = vec![false; attempts.len() + 1];
    let got = p.exchange(req.as_bytes(), 20_000, |g| {
        responses(g, &kinds).len() == kinds.len()
    });
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), kinds.len(), "every request answered");
    for (a, (status, _, body)) in attempts.iter().zip(&r) {
        assert!(
            status.contains(" 403 ") || status.contains(" 404 ") || status.contains(" 400 "),
            "{a}: {status}"
        );
        assert!(!body.windows(6).any(|w| w == b"secret"), "{a} leaked");
    }
    assert_eq!(r[attempts.len()].2, b"ok\n", "the connection goes on");
    let stats = p.env.files(PORT).expect("site").stats();
    assert!(
        stats.traversal_refused >= attempts.len() as u64 - 1,
        "refusals counted: {stats:?}"
    );
}

/// Requests a big file and moves the server connection once part of the body arrived;
/// returns whether the move was taken, and the body the client got.
fn move_mid_body(acceptor_copy: &[u8], seed: u64) -> (Result<(), String>, Vec<u8>, Vec<u8>) {
    let donor = Site::new(&format!("donor{seed}"));
    let acceptor = Site::new(&format!("acceptor{seed}"));
    let a = content(3_000_000, 0);
    donor.write("big.bin", &a);
    acceptor.write("big.bin", acceptor_copy);
    let mut p = pair(donor.path(), seed);
    let req = get("/big.bin", "");
    let mut got = Vec::new();
    p.exchange_into(&mut got, req.as_bytes(), 20_000, |g| g.len() > 500_000);
    assert!(
        got.len() < 3_000_000,
        "the move is in the middle of the body"
    );
    let moved = p.move_server_to(seed + 100, Some(env_for(acceptor.path())));
    let kinds = [false];
    p.exchange_into(&mut got, b"", 60_000, |g| responses(g, &kinds).len() == 1);
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 1, "the response completed");
    (moved, r[0].2.clone(), a)
}

#[test]
fn a_response_moves_in_the_middle_of_a_file_to_a_server_with_the_same_copy() {
    let same = content(3_000_000, 0);
    let (moved, body, a) = move_mid_body(&same, 3);
    assert_eq!(moved, Ok(()));
    assert!(body == a, "every byte of the file, across the move");
}

#[test]
fn a_server_whose_copy_differs_refuses_and_the_donor_finishes_the_response() {
    let mut other = content(3_000_000, 0);
    other[2_999_999] ^= 1;
    let (moved, body, a) = move_mid_body(&other, 4);
    let why = moved.expect_err("refused");
    assert!(why.contains("big.bin"), "{why}");
    assert!(body == a, "the donor sent the whole file");
}
