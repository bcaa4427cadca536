//! The `files` app (docs/apps.md) of three real `vany node` members against real client
//! programs, curl and wget, on an unmodified Linux client behind `vany client`, in the
//! network namespaces of the lab (netns_common/lab.rs; root). Issue 14.
//!
//! Each member serves its own copy of a directory the test writes under a temporary
//! directory (`apps = { 8080 = { kind = "files", root = ... } }`): separate files with the
//! same content, except `diff.bin`, whose copy at member 3 differs in one byte. The parts
//! run in this order, on one group (the client's binding stays with the member that served
//! last, so the part that needs contact node 1 to serve from the first byte comes first):
//!
//! 1. **traversal**: `curl --path-as-is` asks for `/../etc/passwd`, `/%2e%2e/...`, an
//!    encoded slash, and symlinks in the directory that lead out of it: each is answered
//!    403, no body holds the outside file, and `vany_files_requests_total{result=
//!    "refused_traversal"}` counts them all (a plain file is served, as a control).
//! 2. **conditional**: `curl -I` gives `ETag` (the SHA-256's first 16 bytes), `Last-Modified`,
//!    `Accept-Ranges: bytes` and the length; `If-None-Match` with that tag and
//!    `If-Modified-Since` with that date give 304; `-r 0-99` gives 206 and those bytes.
//! 3. **a member whose copy differs**: member 1 serves `diff.bin` (paced); a move to
//!    member 3 mid-body is refused (`refused_content`: refusal sent by member 3, failure
//!    counted by member 1), the session stays at member 1; a move to member 2 commits,
//!    and the file arrives intact (member 1's content).
//! 4. **curl with moves**: `curl --limit-rate` downloads `big.bin` (192 MiB,
//!    `VANY_FILES_BIG_MIB`, at 16 MiB/s, `VANY_FILES_RATE_MIB`) while the test moves the
//!    session 6 times around the members, each move asked of the member serving it once the
//!    previous one settled. Pass: curl exits 0, the SHA-256 is the source's, every move
//!    settled where asked and was counted committed, and the client kernel counted none of
//!    `MUST_STAY_ZERO` over the download.
//! 5. **wget resume**: `wget` of `resume.bin`, moved once, then killed part way; `wget -c`
//!    finishes it with a Range request (206), moved once more; the SHA-256 is the source's.
//!
//! Printed (`-- --nocapture`): every move's answer and settle time, each download's time
//! and rate. Needs root and curl/wget: otherwise prints "skipped" and passes (fails under
//! VANY_TESTS_REQUIRED). Every wait is bounded; processes, namespaces and files go on drop.

mod netns_common;
mod temp_dir;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use netns_common::client_program::*;
use netns_common::content::{sha256_file, write_random};
use netns_common::handoffs::{delta, print_counters, MUST_STAY_ZERO};
use netns_common::lab::*;
use netns_common::*;
use temp_dir::TempDir;

const PREFIX: &str = "vany-fn";
const NODES: u16 = 3;
const PORT: u16 = 8080;
const MOVES: usize = 6;
const SECRET: &str = "vany-files-netns: this file is outside the served directory\n";
const HELLO: &str = "hello from the files app\n";
const COMMITTED: &str = "vany_handoffs_total{outcome=\"committed\"}";
const TRAVERSAL: &str = "vany_files_requests_total{result=\"refused_traversal\"}";
const REFUSALS_SENT: &str = "vany_handoff_refusals_sent_total{reason=\"refused_content\"}";
const FAILURES: &str = "vany_handoff_failures_total{reason=\"refused_content\"}";

/// A file every member serves: its name, length and the SHA-256 of the served content.
struct Served {
    name: &'static str,
    len: u64,
    sha: [u8; 32],
}

/// The members' directories (`www1`..`www3`), the file outside them, and the client's
/// downloads (`client/`), under one temporary directory.
struct Site {
    tmp: TempDir,
    big: Served,
    resume: Served,
    diff: Served,
}

impl Site {
    fn root(&self, i: u16) -> PathBuf {
        self.tmp.0.join(format!("www{i}"))
    }

    fn client(&self) -> PathBuf {
        self.tmp.0.join("client")
    }
}

/// Writes the site: member 1's files, copied (separate files, same content) to the other
/// members, then member 3's `diff.bin` changed in one byte; symlinks out of the root.
fn make_site() -> Site {
    let tmp = TempDir::new("files_netns", "site");
    let dirs: Vec<PathBuf> = (1..=NODES).map(|i| tmp.0.join(format!("www{i}"))).collect();
    for d in dirs
        .iter()
        .chain([&tmp.0.join("outside"), &tmp.0.join("client")])
    {
        std::fs::create_dir_all(d).unwrap();
    }
    let secret = tmp.0.join("outside/secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let big_len = env_u64("VANY_FILES_BIG_MIB", 192) * MIB;
    let started = Instant::now();
    let mut served = Vec::new();
    for (name, len, seed) in [
        ("big.bin", big_len, 1),
        ("resume.bin", 48 * MIB, 2),
        ("diff.bin", 24 * MIB, 3),
    ] {
        let sha = write_random(&dirs[0].join(name), len, seed);
        served.push(Served { name, len, sha });
    }
    std::fs::write(dirs[0].join("hello.txt"), HELLO).unwrap();
    for d in &dirs[1..] {
        for name in ["big.bin", "resume.bin", "diff.bin", "hello.txt"] {
            std::fs::copy(dirs[0].join(name), d.join(name)).unwrap();
        }
    }
    for d in &dirs {
        std::os::unix::fs::symlink("../outside/secret.txt", d.join("escape")).unwrap();
        std::os::unix::fs::symlink(&secret, d.join("secret-abs")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("passwd")).unwrap();
    }
    // Member 3's copy of diff.bin differs in one byte, in the middle.
    let diff3 = dirs[2].join("diff.bin");
    let mut bytes = std::fs::read(&diff3).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&diff3, &bytes).unwrap();
    println!(
        "site written in {:.1} s: big.bin {} MiB, resume.bin, diff.bin (member 3's differs)",
        started.elapsed().as_secs_f64(),
        big_len / MIB
    );
    let mut it = served.into_iter();
    let (big, resume, diff) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    Site {
        tmp,
        big,
        resume,
        diff,
    }
}

fn url(path: &str) -> String {
    format!("http://[{ANYCAST}]:{PORT}{path}")
}

/// A short curl in the client namespace (bounded: 20 s).
fn curl(lab: &Lab, args: &[&str]) -> Output {
    let mut c = client_cmd(lab, "curl");
    c.args(["-g", "-sS", "--connect-timeout", "5", "--max-time", "15"])
        .args(args);
    run_limited(&mut c, Duration::from_secs(20))
}

impl Running {
    /// A paced `curl` of `path` into `out`, then of each of `more` (path, file) on the
    /// same connection (curl reuses it; `%{num_connects}` says so).
    fn curl(lab: &Lab, path: &str, rate: &str, out: PathBuf, more: &[(&str, PathBuf)]) -> Running {
        let log = out.with_extension("curl.log");
        let mut args: Vec<String> = [
            "-g",
            "-sS",
            "--fail",
            "--connect-timeout",
            "5",
            "--max-time",
            "120",
            "--limit-rate",
            rate,
            "-w",
            "%{http_code} %{size_download} bytes in %{time_total} s, connects %{num_connects}\n",
        ]
        .map(String::from)
        .to_vec();
        for (p, o) in std::iter::once((path, &out)).chain(more.iter().map(|(p, o)| (*p, o))) {
            args.extend(["-o".into(), o.to_string_lossy().into_owned(), url(p)]);
        }
        Running::spawn(lab, "curl", &args, out, log)
    }
}

/// Waits until `dl` has written `bytes` and the session is settled somewhere: where.
fn wait_progress(lab: &mut Lab, dl: &mut Running, bytes: u64, what: &str) -> u16 {
    wait_for(what, Duration::from_secs(30), || {
        if let Some(s) = dl.exited() {
            panic!("{what}: the program ended ({s}): {}", dl.log_text());
        }
        if dl.bytes() < bytes {
            return None;
        }
        lab.settled_at(CLIENT)
    })
}

/// Asserts the download ended well with the served content; `kept` bytes were there
/// before it started (a resumed download).
fn check_download(dl: &mut Running, served: &Served, kept: u64, what: &str) {
    let status = dl.wait(Duration::from_secs(120));
    let elapsed = dl.started.elapsed();
    let log = dl.log_text();
    assert!(status.success(), "{what} failed ({status}): {log}");
    let got = sha256_file(&dl.out);
    let fetched = dl.bytes().saturating_sub(kept);
    println!(
        "{what}: {fetched} bytes in {:.2} s ({:.1} MiB/s); {}",
        elapsed.as_secs_f64(),
        fetched as f64 / MIB as f64 / elapsed.as_secs_f64(),
        log.lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    );
    assert_eq!(dl.bytes(), served.len, "{what}: bytes of {}", served.name);
    assert_eq!(
        hex::encode(got),
        hex::encode(served.sha),
        "{what}: SHA-256 of {}",
        served.name
    );
}

/// Part 1: paths out of the directory are refused and counted.
fn traversal(lab: &Lab) {
    println!("--- traversal ---");
    let hello = curl(lab, &["-o", "-", &url("/hello.txt")]);
    assert!(hello.status.success(), "{hello:?}");
    assert_eq!(String::from_utf8_lossy(&hello.stdout), HELLO, "the control");
    let before = sum_metric(lab, TRAVERSAL);
    let cases = [
        "/../etc/passwd",
        "/../outside/secret.txt",
        "/./../outside/secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/outside/secret.txt",
        "/a/..%2f..%2fetc%2fpasswd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/escape",
        "/secret-abs",
        "/passwd",
    ];
    for path in cases {
        let out = curl(
            lab,
            &[
                "--path-as-is",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                &url(path),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        println!("  GET {path:<34} -> {code} {:?}", body.trim());
        assert!(out.status.success(), "curl {path}: {out:?}");
        assert_eq!(code, "403", "GET {path}: {body}");
        assert!(
            !body.contains(SECRET.trim()) && !body.contains("root:"),
            "GET {path} leaked a file outside the root: {body}"
        );
    }
    let want = before + cases.len() as f64;
    let after = wait_for("the refusals counted", Duration::from_secs(5), || {
        let now = sum_metric(lab, TRAVERSAL);
        (now >= want).then_some(now)
    });
    println!(
        "  refused_traversal counted {} (of {} asked)",
        after - before,
        cases.len()
    );
}

/// The headers of a `curl -I` answer, names in lower case.
fn headers(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Part 2: validators, 304 and a range.
fn conditional(lab: &Lab, site: &Site) {
    let big = &site.big;
    println!("--- conditional ---");
    let path = format!("/{}", big.name);
    let head = curl(lab, &["-I", &url(&path)]);
    let text = String::from_utf8_lossy(&head.stdout).to_string();
    println!("{}", text.trim());
    assert!(head.status.success(), "{head:?}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let h = headers(&text);
    let etag = h.get("etag").expect("an ETag").clone();
    assert_eq!(etag, format!("\"{}\"", hex::encode(&big.sha[..16])), "ETag");
    let modified = h.get("last-modified").expect("Last-Modified").clone();
    assert_eq!(h.get("accept-ranges").map(String::as_str), Some("bytes"));
    assert_eq!(
        h.get("content-length").map(String::as_str),
        Some(big.len.to_string().as_str())
    );
    let code = |extra: &[&str]| {
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        args.extend_from_slice(extra);
        let u = url(&path);
        args.push(&u);
        let out = curl(lab, &args);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let inm = format!("If-None-Match: {etag}");
    assert_eq!(code(&["-H", &inm]), "304", "If-None-Match of the ETag");
    let ims = format!("If-Modified-Since: {modified}");
    assert_eq!(code(&["-H", &ims]), "304", "If-Modified-Since");
    assert_eq!(code(&["-H", "If-None-Match: \"other\""]), "200");
    let range = curl(
        lab,
        &["-r", "0-99", "-o", "-", "-w", "%{http_code}", &url(&path)],
    );
    assert!(range.status.success(), "{range:?}");
    let (body, status) = range.stdout.split_at(range.stdout.len().saturating_sub(3));
    assert_eq!(status, b"206", "a range");
    let mut first = vec![0u8; 100];
    File::open(site.root(1).join(big.name))
        .and_then(|mut f| f.read_exact(&mut first))
        .expect("the file's first bytes");
    assert_eq!(body, &first[..], "the range's bytes");
    println!(
        "  If-None-Match -> 304, If-Modified-Since -> 304, -r 0-99 -> 206 ({} bytes)",
        body.len()
    );
}

/// Part 3: a move to a member whose copy differs is refused; the download goes on.
fn differing_copy(lab: &mut Lab, site: &Site) {
    println!("--- a member whose copy differs ---");
    let sent_before = node_metric(lab, 3, REFUSALS_SENT);
    let failed_before = node_metric(lab, 1, FAILURES);
    let path = format!("/{}", site.diff.name);
    // Then hello.txt on the same connection: asked of the member it moved to.
    let hello = site.client().join("hello.txt");
    let mut dl = Running::curl(
        lab,
        &path,
        "3M",
        site.client().join(site.diff.name),
        &[("/hello.txt", hello.clone())],
    );
    let at = wait_progress(lab, &mut dl, 2 * MIB, "2 MiB of diff.bin");
    assert_eq!(at, 1, "contact node 1 serves the first download");
    let asked = Instant::now();
    let at_bytes = dl.bytes();
    let out = lab.ctl(1, &["handoff", &CLIENT.to_string(), "3"]);
    let answer = ctl_answer(&out);
    println!(
        "  move 1 -> 3 at {:.1} MiB: answered after {} ms: {answer}",
        at_bytes as f64 / MIB as f64,
        asked.elapsed().as_millis()
    );
    assert!(
        !out.status.success(),
        "the move to member 3 was not refused"
    );
    assert!(answer.contains("refused"), "{answer}");
    wait_settled_at(lab, 1, Duration::from_secs(10), "after the refused move");
    wait_for(
        "member 3 counts its refusal, member 1 its failure",
        Duration::from_secs(5),
        || {
            let sent = node_metric(lab, 3, REFUSALS_SENT) - sent_before;
            let failed = node_metric(lab, 1, FAILURES) - failed_before;
            (sent >= 1.0 && failed >= 1.0).then_some(())
        },
    );
    move_session(lab, 1, 2, dl.bytes());
    check_download(&mut dl, &site.diff, 0, "curl diff.bin");
    let log = dl.log_text();
    assert_eq!(
        std::fs::read_to_string(&hello).ok().as_deref(),
        Some(HELLO),
        "hello.txt after diff.bin, from the member the connection moved to: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("200 25 bytes") && l.ends_with("connects 0")),
        "hello.txt came on the moved connection: {log}"
    );
}

/// Part 4: a paced curl download moved `MOVES` times.
fn curl_with_moves(lab: &mut Lab, site: &Site) {
    println!("--- curl with moves ---");
    let big = &site.big;
    let rate = format!("{}M", env_u64("VANY_FILES_RATE_MIB", 16));
    let committed_before = sum_metric(lab, COMMITTED);
    let before = lab.nstat();
    let mut dl = Running::curl(
        lab,
        &format!("/{}", big.name),
        &rate,
        site.client().join(big.name),
        &[],
    );
    let moves = moves_while(
        lab,
        &mut dl,
        MOVES,
        Duration::from_secs(120),
        spread_over(big.len, MOVES),
    );
    check_download(&mut dl, big, 0, "curl big.bin");
    let after = lab.nstat();
    let committed = sum_metric(lab, COMMITTED) - committed_before;
    println!(
        "{} moves, settle time max {:?}; handoffs committed (metrics): {committed}",
        moves.len(),
        moves.iter().map(Move::settle_time).max()
    );
    println!("client kernel counters over the download:");
    print_counters(&before, &after);
    assert_eq!(
        moves.len(),
        MOVES,
        "every move happened during the download"
    );
    assert!(
        committed >= MOVES as f64,
        "{committed} committed handoffs counted"
    );
    for name in MUST_STAY_ZERO {
        assert_eq!(
            delta(&before, &after, name),
            0,
            "client kernel counter {name} moved"
        );
    }
}

/// Part 5: wget interrupted, then resumed with `-c` (a Range request), a move in each.
fn wget_resume(lab: &mut Lab, site: &Site) {
    println!("--- wget resume ---");
    let served = &site.resume;
    let dir = site.client().join("wget");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(served.name);
    let wget = |lab: &Lab, resume: bool, log: &str| {
        let mut args: Vec<String> = [
            "-S",
            "--progress=dot:mega",
            "--limit-rate=6m",
            "--tries=1",
            "--timeout=10",
            "-P",
        ]
        .map(String::from)
        .to_vec();
        args.push(dir.to_string_lossy().into_owned());
        if resume {
            args.push("-c".into());
        }
        args.push(url(&format!("/{}", served.name)));
        Running::spawn(lab, "wget", &args, out.clone(), site.client().join(log))
    };
    let mut first = wget(lab, false, "wget1.log");
    let at = wait_progress(lab, &mut first, 4 * MIB, "4 MiB of the first wget");
    move_session(lab, at, at % NODES + 1, first.bytes());
    wait_progress(lab, &mut first, 16 * MIB, "16 MiB of the first wget");
    first.kill();
    let kept = first.bytes();
    println!(
        "  first wget killed after {:.2} s with {:.1} MiB",
        first.started.elapsed().as_secs_f64(),
        kept as f64 / MIB as f64
    );
    assert!(kept < served.len, "the first wget got everything");
    let mut second = wget(lab, true, "wget2.log");
    let at = wait_progress(lab, &mut second, kept + 4 * MIB, "4 MiB more by wget -c");
    move_session(lab, at, at % NODES + 1, second.bytes());
    check_download(&mut second, served, kept, "wget -c resume.bin");
    let log = second.log_text();
    assert!(
        log.contains("206 Partial Content"),
        "wget -c did not get a 206: {log}"
    );
    let range = format!("Content-Range: bytes {kept}-");
    assert!(log.contains(&range), "no {range} in: {log}");
}

fn skip_reason_here() -> Option<&'static str> {
    skip_reason().or_else(|| {
        let has = |p: &str| Command::new(p).arg("--version").output().is_ok();
        if !has("curl") {
            Some("`curl` is not installed (Debian: apt-get install curl)")
        } else if !has("wget") {
            Some("`wget` is not installed (Debian: apt-get install wget)")
        } else {
            None
        }
    })
}

#[test]
fn files_app_serves_curl_and_wget_across_handoffs() {
    if let Some(why) = skip_reason_here() {
        skip(why);
        return;
    }
    let started = Instant::now();
    let site = make_site();
    let mut lab = Lab::build(PREFIX, "f", NODES);
    for i in 1..=NODES {
        let root = site.root(i);
        lab.node_extra.insert(
            i,
            format!(
                "apps = {{ {PORT} = {{ kind = \"files\", root = \"{}\" }} }}",
                root.display()
            ),
        );
    }
    lab.start_group();
    lab.start_client();
    println!(
        "group and client up after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    traversal(&lab);
    conditional(&lab, &site);
    differing_copy(&mut lab, &site);
    curl_with_moves(&mut lab, &site);
    wget_resume(&mut lab, &site);
    for i in 1..=NODES {
        if let Some(m) = lab.metrics(i) {
            println!(
                "node {i}: handoffs committed {}, refused {}; refusals sent (content) {}; \
                 files served {}, refused_traversal {}",
                metric(&m, COMMITTED),
                metric(&m, "vany_handoffs_total{outcome=\"refused\"}"),
                metric(&m, REFUSALS_SENT),
                metric(&m, "vany_files_requests_total{result=\"served\"}"),
                metric(&m, TRAVERSAL),
            );
        }
    }
    println!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}
