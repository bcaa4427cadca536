//! The node's control plane under abuse: the control socket (`vany ctl`) and `/metrics`
//! with hundreds of idle connections, an endless request line, a hostile umask, a file in
//! the socket's place, a local user who is not allowed in.
//!
//! Real sockets, in this process (no TUN, no root, except the peer-credential test which
//! needs another uid). Every wait is bounded.

mod netns_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vany_appliance::node::ctl::{self, ControlGroup, CtlError, Request, Response};
use vany_appliance::node::metrics::{self, MetricsSnapshot};

use netns_common::{is_root, skip};

/// A fresh path for a control socket of this test.
fn sock_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vany-cp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ctl.sock")
}

fn serve_ctl(path: &Path) {
    ctl::serve(path, None, |req| match req {
        Request::Status => Response::Done {
            message: "status".into(),
        },
        _ => Response::error("no"),
    })
    .unwrap();
}

/// Runs `f` on a thread and gives its result, or fails after `bound` (the old servers
/// block connect() and reads for minutes: the test must end anyway).
fn bounded<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound)
        .unwrap_or_else(|_| panic!("did not finish within {bound:?}"))
}

fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn five_hundred_idle_connections_lock_out_neither_status_nor_scrape() {
    let path = sock_path("idle");
    serve_ctl(&path);
    let addr = metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        || {
            Some(MetricsSnapshot {
                sessions: 3,
                ..Default::default()
            })
        },
        None,
    )
    .unwrap();
    let (status, scraped, idle) = bounded(Duration::from_secs(90), move || {
        let mut idle_ctl = Vec::new();
        let mut idle_http = Vec::new();
        for _ in 0..500 {
            idle_ctl.push(UnixStream::connect(&path).unwrap());
            idle_http.push(TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap());
        }
        // Half a line on some: idle in the middle of a request.
        for s in idle_ctl.iter_mut().take(100) {
            let _ = s.write_all(b"{\"cmd\":");
        }
        for s in idle_http.iter_mut().take(100) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n");
        }
        let t = Instant::now();
        let status = ctl::request(&path, &Request::Status);
        let status_time = t.elapsed();
        let t = Instant::now();
        let scraped = scrape(addr);
        let scrape_time = t.elapsed();
        eprintln!(
            "with 500 idle connections to each: ctl status answered in {status_time:?}, \
             /metrics in {scrape_time:?}"
        );
        (status, scraped, (idle_ctl, idle_http))
    });
    let status = status.expect("ctl status");
    assert_eq!(status["kind"], "done", "{status}");
    let scraped = scraped.expect("scrape");
    assert!(scraped.starts_with("HTTP/1.0 200 OK"), "{scraped}");
    assert!(scraped.contains("\nvany_sessions 3\n"), "{scraped}");
    // The cap held: the idle ones beyond it were closed, oldest first.
    let evicted = scraped
        .lines()
        .find(|l| {
            l.starts_with(
                "vany_control_connections_closed_total{server=\"metrics\",reason=\"evicted_idle\"}",
            )
        })
        .expect("eviction counter");
    let n: u64 = evicted.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 500 - 64, "{evicted}");
    drop(idle);
}

#[test]
fn a_100_mb_line_is_refused_without_being_read() {
    let path = sock_path("long");
    serve_ctl(&path);
    let s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    const TOTAL: usize = 100 << 20;
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            match w.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        sent
    });
    let mut answer = String::new();
    let _ = BufReader::new(&s).read_line(&mut answer);
    let sent = bounded(Duration::from_secs(60), move || writer.join().unwrap());
    assert!(
        answer.contains("request line longer than 65536 bytes"),
        "{answer:?}"
    );
    assert!(
        sent < TOTAL,
        "the server read all {sent} bytes instead of closing"
    );
    eprintln!("the server closed after {sent} of {TOTAL} bytes were sent");
}

#[test]
fn the_socket_is_0600_under_umask_000_and_only_stale_sockets_are_replaced() {
    let path = sock_path("mode");
    // A regular file in the socket's place is left intact, and named.
    std::fs::write(&path, "precious").unwrap();
    let e = ctl::serve(&path, None, |_| Response::error("x")).unwrap_err();
    assert!(matches!(e, CtlError::NotASocket { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("regular file"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    std::fs::remove_file(&path).unwrap();
    // A stale socket (nobody answers) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    // umask is process-wide: 000 only around this one serve().
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let served = ctl::serve(&path, None, |_| Response::Done {
        message: "here".into(),
    });
    rustix::process::umask(old);
    served.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let v = ctl::request(&path, &Request::Status).unwrap();
    assert_eq!(v["message"], "here");
    // No private binding directory is left behind.
    let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("ctl.sock")]);
}

#[test]
fn a_user_who_is_neither_root_nor_the_node_is_refused() {
    if !is_root() {
        return skip("needs root to connect as another uid");
    }
    let path = sock_path("peer");
    serve_ctl(&path);
    // Open the file mode so that only the credential check stands in the way.
    std::fs::set_permissions(
        path.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let text = status_as(&path, 65534, 65534);
    assert!(
        text.contains("uid 65534 may not use this control socket"),
        "{text}"
    );
    // Root still may.
    assert_eq!(
        ctl::request(&path, &Request::Status).unwrap()["kind"],
        "done"
    );
}

/// Asks for status as `uid`:`gid` (python3 in a child process); the answer line, or
/// why there is none.
fn status_as(path: &Path, uid: u32, gid: u32) -> String {
    let script = "import socket,sys\n\
                  s=socket.socket(socket.AF_UNIX)\n\
                  s.settimeout(10)\n\
                  s.connect(sys.argv[1])\n\
                  try: s.sendall(b'{\"cmd\":\"status\"}\\n')\n\
                  except OSError: pass\n\
                  print(s.makefile().readline())\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(path)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_configured_group_may_use_the_socket_and_others_may_not() {
    if !is_root() {
        return skip("needs root to connect as other uids");
    }
    let path = sock_path("group");
    let group = ControlGroup {
        name: "g4242".into(),
        gid: 4242,
        member_uids: vec![4343],
    };
    ctl::serve(&path, Some(group), |_| Response::Done {
        message: "served".into(),
    })
    .unwrap();
    std::fs::set_permissions(
        path.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!((meta.mode() & 0o777, meta.gid()), (0o660, 4242));
    // Primary group, then listed member (the file mode lets the group in; the
    // credential check must too).
    let a = status_as(&path, 4141, 4242);
    assert!(a.contains("served"), "{a}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let a = status_as(&path, 4343, 4343);
    assert!(a.contains("served"), "{a}");
    let a = status_as(&path, 4444, 4444);
    assert!(
        a.contains("uid 4444 may not use this control socket") && a.contains("group g4242"),
        "{a}"
    );
}

#[test]
fn an_oversized_http_head_gets_431() {
    let addr = metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        || Some(MetricsSnapshot::default()),
        None,
    )
    .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.0 431"), "{out}");
}
