//! The `proxy` app (docs/apps.md) of three real `vany node` members, each in front of real
//! web servers in its own namespace (nginx and Python's `http.server` on `[::1]`, each
//! serving the member's own copy of a directory: separate files, same content and
//! modification time), against real client programs (curl, wget, wrk) on an unmodified
//! Linux client behind `vany client`, in the lab's network namespaces (netns_common/lab.rs;
//! root). Issue 14. Port 8080 proxies to nginx, port 8090 to `http.server`.
//!
//! 1. **curl, 1 GiB, 10 moves**: `curl --limit-rate` (64 MiB/s, `VANY_PROXY_RATE_MIB`;
//!    `VANY_PROXY_BIG_MIB` the size) downloads `big.bin` through the nginx port while the
//!    test moves the session 10 times, each asked of the serving member once the previous
//!    one settled. Pass: curl exits 0, the SHA-256 is the source's, the moves are counted
//!    committed, `vany_proxy_resumed_total` (all members) grew by at least 10, and the
//!    client kernel counted none of `MUST_STAY_ZERO`. Printed: the largest gap between
//!    arrivals (the file's growth, sampled every ms) around each move, and away from them.
//! 2. **wget**, the same 1 GiB `big.bin`, 10 moves: the SHA-256 is the source's.
//! 3. **not resumable**: curl of `python.bin` through the `http.server` port (no `ETag`, no
//!    ranges); a move asked in the middle does not happen while the response is in flight,
//!    then happens once it is complete (the session is held by another kept-alive
//!    connection, which then gets an answer from the target's backend).
//! 4. **wrk**, 8 connections for 8 s on `small.bin`, moved 4 times: no error, no non-2xx.
//! 5. **another version at member 3**: member 3's `version.bin` differs (nginx's `ETag`
//!    too): a move there in the middle of its download fails to resume
//!    (`resume_failed` at member 3) and the client connection is reset (curl fails), as
//!    documented; nothing hangs (curl ends, the backend connections close, a new request
//!    is served).
//!
//! Needs root, nginx, python3, curl, wget and wrk: otherwise prints "skipped" and passes
//! (fails under VANY_TESTS_REQUIRED). Every wait is bounded; processes, namespaces and
//! files go on drop.

#[path = "proxy_netns/http.rs"]
mod http;
mod netns_common;
#[path = "proxy_netns/site.rs"]
mod site;
mod temp_dir;

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::{connect, get};
use netns_common::client_program::*;
use netns_common::content::sha256_file;
use netns_common::handoffs::{delta, print_counters, MUST_STAY_ZERO};
use netns_common::lab::*;
use netns_common::*;
use sha2::Digest as _;
use site::*;

const PREFIX: &str = "vany-px";
const NODES: u16 = 3;
/// The proxy to nginx.
const PORT: u16 = 8080;
/// The proxy to `http.server`.
const PY_PORT: u16 = 8090;
const COMMITTED: &str = "vany_handoffs_total{outcome=\"committed\"}";
const RESUMED: &str = "vany_proxy_resumed_total";
const RESUME_FAILED: &str = "vany_proxy_errors_total{kind=\"resume_failed\"}";
const BACKEND_REQUESTS: &str = "vany_proxy_backend_requests_total";
const BACKEND_CONNS: &str = "vany_proxy_backend_connections";

fn url(port: u16, path: &str) -> String {
    format!("http://[{ANYCAST}]:{port}{path}")
}

impl Running {
    /// A paced curl of `url` into `out`.
    fn curl(lab: &Lab, url: &str, rate: &str, out: PathBuf) -> Running {
        let log = out.with_extension("curl.log");
        let args = [
            "-g",
            "-sS",
            "--fail",
            "--connect-timeout",
            "5",
            "--max-time",
            "150",
            "--limit-rate",
            rate,
            "-w",
            "%{http_code} %{size_download} bytes in %{time_total} s\n",
            "-o",
            &out.to_string_lossy(),
            url,
        ];
        Running::spawn(lab, "curl", &args.map(String::from), out, log)
    }
}

/// Moves the session `moves` times while `dl` downloads `len` bytes (150 s at most).
fn moves_over(lab: &mut Lab, dl: &mut Running, len: u64, moves: usize) -> Vec<Move> {
    let due = spread_over(len, moves);
    moves_while(lab, dl, moves, Duration::from_secs(150), due)
}

/// The largest gap between two arrivals whose later one is in `[from, to]`.
fn largest_gap(samples: &[(Instant, u64)], from: Instant, to: Instant) -> Duration {
    samples
        .windows(2)
        .filter(|w| w[1].0 >= from && w[1].0 <= to)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default()
}

/// Prints each move and the largest arrival gap around it (from the request to 300 ms
/// after it was seen settled), and the largest gap away from every move.
fn print_moves(moves: &[Move], samples: &[(Instant, u64)]) {
    let after = Duration::from_millis(300);
    for (k, m) in moves.iter().enumerate() {
        println!(
            "  {:>2}. move {} -> {} at {:>7.1} MiB: settled after {:>4} ms, largest arrival \
             gap around it {:>6.1} ms",
            k + 1,
            m.from,
            m.to,
            m.at_bytes as f64 / MIB as f64,
            (m.settled - m.asked).as_millis(),
            largest_gap(samples, m.asked, m.settled + after).as_secs_f64() * 1e3
        );
    }
    let away = samples
        .windows(2)
        .filter(|w| {
            !moves
                .iter()
                .any(|m| w[1].0 >= m.asked && w[1].0 <= m.settled + after)
        })
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    println!(
        "  largest arrival gap away from the moves: {:.1} ms ({} samples)",
        away.as_secs_f64() * 1e3,
        samples.len()
    );
}

/// Waits for the download's end and checks it: exit 0, length, SHA-256.
fn check_download(dl: &mut Running, served: &Served, what: &str) -> Vec<(Instant, u64)> {
    let status = dl.wait(Duration::from_secs(160));
    let samples = dl.samples();
    let elapsed = dl.started.elapsed();
    let log = dl.log_text();
    assert!(status.success(), "{what} failed ({status}): {log}");
    println!(
        "{what}: {} bytes in {:.2} s ({:.1} MiB/s); {}",
        dl.bytes(),
        elapsed.as_secs_f64(),
        dl.bytes() as f64 / MIB as f64 / elapsed.as_secs_f64(),
        log.lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    );
    assert_eq!(dl.bytes(), served.len, "{what}: bytes of {}", served.name);
    assert_eq!(
        hex::encode(sha256_file(&dl.out)),
        hex::encode(served.sha),
        "{what}: SHA-256 of {}",
        served.name
    );
    samples
}

/// Part 1: curl of `big.bin` through nginx, moved 10 times.
fn curl_big(lab: &mut Lab, site: &Site) {
    const MOVES: usize = 10;
    println!("--- 1. curl, {} MiB, {MOVES} moves ---", site.big.len / MIB);
    let rate = format!("{}M", env_u64("VANY_PROXY_RATE_MIB", 64));
    let (committed0, resumed0) = (sum_metric(lab, COMMITTED), sum_metric(lab, RESUMED));
    let before = lab.nstat();
    let out = site.client().join(site.big.name);
    let mut dl = Running::curl(lab, &url(PORT, "/big.bin"), &rate, out.clone());
    let moves = moves_over(lab, &mut dl, site.big.len, MOVES);
    let samples = check_download(&mut dl, &site.big, "curl big.bin");
    let _ = std::fs::remove_file(&out);
    let after = lab.nstat();
    print_moves(&moves, &samples);
    let committed = sum_metric(lab, COMMITTED) - committed0;
    let resumed = sum_metric(lab, RESUMED) - resumed0;
    println!("  handoffs committed {committed}, responses resumed {resumed}");
    println!("client kernel counters over the download:");
    print_counters(&before, &after);
    assert_eq!(
        moves.len(),
        MOVES,
        "every move happened during the download"
    );
    assert!(committed >= MOVES as f64, "{committed} committed handoffs");
    assert!(resumed >= MOVES as f64, "{resumed} resumed responses");
    for name in MUST_STAY_ZERO {
        assert_eq!(delta(&before, &after, name), 0, "client counter {name}");
    }
}

/// Part 2: wget of `big.bin` (1 GiB) through nginx, moved 10 times.
fn wget_big(lab: &mut Lab, site: &Site) {
    const MOVES: usize = 10;
    println!("--- 2. wget, {} MiB, {MOVES} moves ---", site.big.len / MIB);
    let before = lab.nstat();
    let out = site.client().join(site.big.name);
    let rate = format!("--limit-rate={}m", env_u64("VANY_PROXY_RATE_MIB", 64));
    let args = [
        "-nv",
        &rate,
        "--tries=1",
        "--timeout=10",
        "-O",
        &out.to_string_lossy(),
        &url(PORT, "/big.bin"),
    ]
    .map(String::from);
    let log = site.client().join("wget.log");
    let mut dl = Running::spawn(lab, "wget", &args, out.clone(), log);
    let moves = moves_over(lab, &mut dl, site.big.len, MOVES);
    let samples = check_download(&mut dl, &site.big, "wget big.bin");
    let _ = std::fs::remove_file(&out);
    let after = lab.nstat();
    print_moves(&moves, &samples);
    assert_eq!(
        moves.len(),
        MOVES,
        "every move happened during the download"
    );
    for name in MUST_STAY_ZERO {
        assert_eq!(delta(&before, &after, name), 0, "client counter {name}");
    }
}

/// The most bytes of a response the client holds (its kernel's receive buffer, curl's
/// own) before curl writes them, with [`small_rmem`].
const IN_CLIENT_BUFFERS: u64 = 512 * 1024;

/// Sets the client namespace's `tcp_rmem` to at most 128 KiB; the value it had.
fn small_rmem(lab: &Lab) -> String {
    let ns = lab.ns_name("cl");
    let old = run(
        "ip",
        &["netns", "exec", &ns, "sysctl", "-n", "net.ipv4.tcp_rmem"],
    );
    let old = old.split_whitespace().collect::<Vec<_>>().join(" ");
    let set = "net.ipv4.tcp_rmem=4096 65536 131072";
    run("ip", &["netns", "exec", &ns, "sysctl", "-qw", set]);
    old
}

fn restore_rmem(lab: &Lab, old: &str) {
    let set = format!("net.ipv4.tcp_rmem={old}");
    run(
        "ip",
        &["netns", "exec", &lab.ns_name("cl"), "sysctl", "-qw", &set],
    );
}

/// Part 3: a response that cannot be resumed keeps the session until it is complete.
fn not_resumable(lab: &mut Lab, site: &Site) {
    println!("--- 3. not resumable (http.server) ---");
    // A small receive buffer on the client (restored after): what the member wrote and
    // what curl has differ by little.
    let rmem = small_rmem(lab);
    // A kept-alive connection that holds the session once curl is done.
    let mut holder = connect(lab, PY_PORT);
    let (status, body) = get(&mut holder, "/small.bin");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body.len() as u64, site.small.len);
    let out = site.client().join(site.python.name);
    let mut dl = Running::curl(lab, &url(PY_PORT, "/python.bin"), "6M", out.clone());
    let at = wait_for("8 MiB of python.bin", Duration::from_secs(30), || {
        if let Some(s) = dl.exited() {
            panic!("curl ended ({s}): {}", dl.log_text());
        }
        (dl.bytes() >= 8 * MIB)
            .then(|| lab.settled_at(CLIENT))
            .flatten()
    });
    let to = at % NODES + 1;
    let at_bytes = dl.bytes();
    let committed0 = sum_metric(lab, COMMITTED);
    // `vany ctl handoff` answers once the move is done (at most 12 s): asked in the
    // background (it ends with the node if the test fails).
    let asked = Instant::now();
    let mut ctl = Command::new(BIN)
        .arg("ctl")
        .arg("--socket")
        .arg(lab.socket(at))
        .args(["handoff", &CLIENT.to_string(), &to.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vany ctl");
    println!(
        "  move {at} -> {to} asked at {:.1} MiB",
        at_bytes as f64 / MIB as f64
    );
    let (mut polls, mut unsettled, mut moved_at, mut answered_at) = (0, 0, None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Bounded: the download's end or 60 s.
    while dl.exited().is_none() {
        assert!(Instant::now() < deadline, "python.bin not done after 60 s");
        let where_ = lab.settled_at(CLIENT);
        let got = dl.bytes();
        if answered_at.is_none() && ctl.try_wait().ok().flatten().is_some() {
            answered_at = Some(got);
        }
        if dl.exited().is_some() {
            break;
        }
        // The member wrote the whole response once curl is within the client kernel's
        // (small) receive buffer of the end: only then may the session move.
        if where_.is_some_and(|m| m != at) && moved_at.is_none() {
            moved_at = Some(got);
        }
        for (what, seen) in [("moved", moved_at), ("ctl answered", answered_at)] {
            assert!(
                seen.is_none_or(|got| got + IN_CLIENT_BUFFERS >= site.python.len),
                "{what} ({where_:?}) with {:.2} MiB of the response in flight",
                (site.python.len - got) as f64 / MIB as f64
            );
        }
        // None: no single settled holder (a handoff under way, or a node slow to answer).
        unsettled += usize::from(where_.is_none());
        polls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended = Instant::now();
    restore_rmem(lab, &rmem);
    println!(
        "  the session stayed at member {at} through {polls} polls ({unsettled} unsettled) for \
         {:.1} s; seen moved with curl at {moved_at:?}, ctl answered at {answered_at:?} of {} \
         bytes",
        (ended - asked).as_secs_f64(),
        site.python.len
    );
    check_download(&mut dl, &site.python, "curl python.bin");
    let _ = std::fs::remove_file(&out);
    let settled = wait_settled_at(
        lab,
        to,
        Duration::from_secs(10),
        "the pending move after the response",
    );
    let status = wait_for("vany ctl answers", Duration::from_secs(15), || {
        ctl.try_wait().ok().flatten()
    });
    let answered = Instant::now();
    let out = ctl.wait_with_output().expect("vany ctl's answer");
    let committed = sum_metric(lab, COMMITTED) - committed0;
    println!(
        "  then it moved {at} -> {to} (handoffs committed: {committed}): settled at {to} {} ms \
         after curl ended; ctl answered ({status}) within {} ms of that: {}",
        settled.saturating_duration_since(ended).as_millis(),
        answered.saturating_duration_since(ended).as_millis(),
        ctl_answer(&out)
    );
    assert!(status.success(), "vany ctl handoff: {}", ctl_answer(&out));
    assert_eq!(committed, 1.0, "the pending move, once");
    let requests = node_metric(lab, to, BACKEND_REQUESTS);
    let (status, body) = get(&mut holder, "/small.bin");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body)),
        hex::encode(site.small.sha),
        "small.bin on the moved connection"
    );
    assert!(
        node_metric(lab, to, BACKEND_REQUESTS) > requests,
        "member {to}'s backend answered the kept-alive connection after the move"
    );
    println!("  the kept-alive connection, moved, got small.bin from member {to}'s backend");
}

/// Part 4: wrk through the proxy, moved 4 times.
fn wrk(lab: &mut Lab, site: &Site) {
    println!("--- 4. wrk, 8 connections, 8 s, 4 moves ---");
    let log = site.client().join("wrk.log");
    let args = ["-t1", "-c8", "-d8s", &url(PORT, "/small.bin")].map(String::from);
    let mut run = Running::spawn(lab, "wrk", &args, log.clone(), log.clone());
    // A move every 1.5 s.
    let moves = moves_while(lab, &mut run, 4, Duration::from_secs(30), |run, k| {
        (run.started.elapsed() >= Duration::from_millis(1500 * (k as u64 + 1))).then_some(0)
    });
    let status = run.wait(Duration::from_secs(30));
    let text = run.log_text();
    println!("{}", text.trim_end());
    for (k, m) in moves.iter().enumerate() {
        println!(
            "  {}. move {} -> {} settled after {} ms",
            k + 1,
            m.from,
            m.to,
            (m.settled - m.asked).as_millis()
        );
    }
    assert!(status.success(), "wrk failed ({status}): {text}");
    assert_eq!(moves.len(), 4, "every move happened during the run");
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(str::trim)
        .expect("wrk's Requests/sec");
    println!("  wrk through the proxy: {rps} requests/s");
    for l in text.lines().map(str::trim) {
        if let Some(n) = l.strip_prefix("Non-2xx or 3xx responses:") {
            assert_eq!(n.trim(), "0", "wrk: {l}");
        }
        if let Some(e) = l.strip_prefix("Socket errors:") {
            let all_zero = e
                .split(',')
                .all(|p| p.split_whitespace().last() == Some("0"));
            assert!(all_zero, "wrk: {l}");
        }
    }
}

/// Part 5: a move to a member whose backend serves another version of the file.
fn other_version(lab: &mut Lab, site: &Site) {
    println!("--- 5. another version at member 3 ---");
    let out = site.client().join(site.version.name);
    let mut dl = Running::curl(lab, &url(PORT, "/version.bin"), "8M", out.clone());
    let at = wait_for("8 MiB of version.bin", Duration::from_secs(30), || {
        if let Some(s) = dl.exited() {
            panic!("curl ended ({s}): {}", dl.log_text());
        }
        (dl.bytes() >= 8 * MIB)
            .then(|| lab.settled_at(CLIENT))
            .flatten()
    });
    // Member 3's version differs from the others': the move crosses versions either way.
    let to = if at == 3 { 1 } else { 3 };
    let failed0 = node_metric(lab, to, RESUME_FAILED);
    let at_bytes = dl.bytes();
    let (asked, _) = ask_move(lab, at, to);
    let until = Instant::now() + Duration::from_secs(20);
    // Bounded: 20 s.
    while dl.exited().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    if dl.exited().is_none() {
        print_proxy_metrics(lab);
        println!("sessions: {:?}", lab.settled_at(CLIENT));
    }
    let status = dl.wait(Duration::from_secs(1));
    let log = dl.log_text();
    println!(
        "  move {at} -> {to} at {:.1} MiB: curl ended {} ms later ({status}, {} bytes): {}",
        at_bytes as f64 / MIB as f64,
        asked.elapsed().as_millis(),
        dl.bytes(),
        log.trim()
    );
    assert!(!status.success(), "curl took another version's rest: {log}");
    assert!(dl.bytes() < site.version.len, "{} bytes", dl.bytes());
    // What arrived is the serving member's version, up to the reset.
    let got = std::fs::read(&dl.out).expect("the partial download");
    let mut want = vec![0u8; got.len()];
    File::open(site.root(at).join(site.version.name))
        .and_then(|mut f| f.read_exact(&mut want))
        .expect("the served version's first bytes");
    assert!(got == want, "the bytes before the reset are member {at}'s");
    let failed = wait_for(
        "member's resume_failed counted",
        Duration::from_secs(5),
        || {
            let n = node_metric(lab, to, RESUME_FAILED) - failed0;
            (n >= 1.0).then_some(n)
        },
    );
    println!("  member {to}: resume_failed +{failed}");
    wait_for(
        "every backend connection closed",
        Duration::from_secs(10),
        || (sum_metric(lab, BACKEND_CONNS) == 0.0).then_some(()),
    );
    let fresh = site.client().join("small.bin");
    let mut again = Running::curl(lab, &url(PORT, "/small.bin"), "8M", fresh);
    check_download(&mut again, &site.small, "a new request afterwards");
}

fn skip_reason_here() -> Option<String> {
    if let Some(why) = skip_reason() {
        return Some(why.to_string());
    }
    for (p, arg) in [
        ("curl", "--version"),
        ("wget", "--version"),
        ("wrk", "--version"),
        ("nginx", "-v"),
        ("/usr/bin/python3", "--version"),
    ] {
        if Command::new(p).arg(arg).output().is_err() {
            return Some(format!(
                "`{p}` is not installed (Debian: apt-get install curl wget wrk nginx-light python3)"
            ));
        }
    }
    None
}

/// One part of the test.
type Check = fn(&mut Lab, &Site);

#[test]
fn proxy_app_with_nginx_and_python_behind_curl_wget_and_wrk_across_handoffs() {
    if let Some(why) = skip_reason_here() {
        skip(&why);
        return;
    }
    let started = Instant::now();
    let site = make_site(NODES);
    let mut lab = Lab::build(PREFIX, "p", NODES);
    for i in 1..=NODES {
        lab.node_extra.insert(
            i,
            format!(
                "apps = {{ {PORT} = {{ kind = \"proxy\", backend = \"[::1]:{NGINX_BACKEND}\" }}, \
                 {PY_PORT} = {{ kind = \"proxy\", backend = \"[::1]:{PYTHON_BACKEND}\" }} }}"
            ),
        );
    }
    // Dropped before the lab (declared after it): the backends die first, even on panic.
    let _backends = start_backends(&lab, &site);
    lab.start_group();
    lab.start_client();
    println!(
        "backends, group and client up after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // `VANY_PROXY_PARTS=35` runs parts 3 and 5 only (when looking into one).
    let parts = std::env::var("VANY_PROXY_PARTS").unwrap_or_else(|_| "12345".into());
    let checks: [(char, Check); 5] = [
        ('1', curl_big),
        ('2', wget_big),
        ('3', not_resumable),
        ('4', wrk),
        ('5', other_version),
    ];
    for (part, check) in checks {
        if parts.contains(part) {
            check(&mut lab, &site);
        }
    }
    print_proxy_metrics(&lab);
    println!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}

/// Each member's handoff and proxy counters.
fn print_proxy_metrics(lab: &Lab) {
    for i in 1..=NODES {
        if let Some(m) = lab.metrics(i) {
            println!(
                "node {i}: handoffs committed {}, backend requests {}, resumed {}, \
                 resume_failed {}, truncated {}, bad_gateway {}, backend connections {}",
                metric(&m, COMMITTED),
                metric(&m, BACKEND_REQUESTS),
                metric(&m, RESUMED),
                metric(&m, RESUME_FAILED),
                metric(&m, "vany_proxy_errors_total{kind=\"truncated\"}"),
                metric(&m, "vany_proxy_errors_total{kind=\"bad_gateway\"}"),
                metric(&m, BACKEND_CONNS),
            );
        }
    }
}
