//! The `proxy` app against real backends on loopback, nginx (Debian's) and Python's
//! `http.server`, with vany's TCP as the client over an in-memory link: requests relayed
//! whole, a response moved to another server in the middle of its body and resumed there
//! from its own backend with `Range` + `If-Range` (nginx), a response that cannot be
//! resumed (Python's server: no `ETag`, no ranges) keeping the connection where it is
//! until it is complete, and a backend that is down answered with 502.
//!
//! Needs nginx and python3: otherwise it prints why and passes, unless
//! `VANY_TESTS_REQUIRED` is set (CI installs both).

mod apps_common;
mod temp_dir;

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use apps_common::{header_end, responses, Pair, PORT};
use temp_dir::TempDir;
use vany_appliance::apps::{AppEnv, AppKind, ProxyConfig, ProxySite};

/// A test's directory with the backend's document root `www` in it.
fn site_dir(tag: &str) -> TempDir {
    let d = TempDir::new("apps-proxy", tag);
    std::fs::create_dir_all(d.0.join("www")).expect("www");
    d
}

fn www(d: &TempDir) -> PathBuf {
    d.0.join("www")
}

/// A backend server process, killed when dropped.
struct Backend {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind [::1]:0");
    l.local_addr().expect("addr").port()
}

/// Waits (at most 10 s) until `addr` accepts connections.
fn wait_listening(addr: SocketAddr) -> bool {
    let until = StdInstant::now() + StdDuration::from_secs(10);
    while StdInstant::now() < until {
        if std::net::TcpStream::connect_timeout(&addr, StdDuration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(StdDuration::from_millis(20));
    }
    false
}

/// nginx serving `dir/www` on [::1], in the foreground, all its files under `dir`; one
/// process (no master), so that killing it stops it.
fn nginx(dir: &Path) -> Backend {
    let port = free_port();
    let d = dir.display();
    for sub in ["tmp", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).expect("nginx dirs");
    }
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;\n\
         error_log {d}/logs/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
         server {{ listen [::1]:{port}; root {d}/www; }} }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    assert!(wait_listening(addr), "nginx listens on {addr}");
    Backend { child, addr }
}

/// Python's http.server serving `dir/www` on [::1].
fn python(dir: &Path) -> Backend {
    let port = free_port();
    let child = Command::new("/usr/bin/python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "::1",
            "--directory",
        ])
        .arg(dir.join("www"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 starts");
    let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    assert!(wait_listening(addr), "http.server listens on {addr}");
    Backend { child, addr }
}

/// Whether nginx and python3 are here; prints why not (and fails under
/// VANY_TESTS_REQUIRED).
fn have_backends() -> bool {
    let ok =
        Command::new("nginx").arg("-v").output().is_ok() && Path::new("/usr/bin/python3").exists();
    if !ok {
        let why = "apps_proxy: skipped: needs nginx and /usr/bin/python3 (apt install nginx-light python3)";
        assert!(std::env::var_os("VANY_TESTS_REQUIRED").is_none(), "{why}");
        println!("{why}");
    }
    ok
}

fn env_for(backend: SocketAddr) -> AppEnv {
    let mut env = AppEnv::new();
    env.serve_proxy(
        PORT,
        ProxySite::open(ProxyConfig::new(backend)).expect("site"),
    );
    env
}

/// Asks for `/big.bin` and receives until more than `bytes` of the answer arrived (in
/// the middle of its body): what arrived.
fn big_until(p: &mut Pair, bytes: usize) -> Vec<u8> {
    let mut got = Vec::new();
    p.exchange_into(
        &mut got,
        b"GET /big.bin HTTP/1.1\r\nHost: vany\r\n\r\n",
        30_000,
        |g| g.len() > bytes,
    );
    got
}

fn pair(backend: SocketAddr, seed: u64) -> Pair {
    let mut p = Pair::new(AppKind::Proxy, seed);
    p.env = env_for(backend);
    p.tick_sleep = StdDuration::from_micros(50);
    p
}

fn content(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[2] ^ salt)
        .collect()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn requests_are_relayed_whole_on_a_kept_alive_connection() {
    if !have_backends() {
        return;
    }
    let dir = site_dir("relay");
    let a = content(1_000_000, 1);
    std::fs::write(www(&dir).join("a.bin"), &a).unwrap();
    let backend = nginx(&dir.0);
    let mut p = pair(backend.addr, 1);
    let req = "GET /a.bin HTTP/1.1\r\nHost: vany\r\n\r\n\
               HEAD /a.bin HTTP/1.1\r\nHost: vany\r\n\r\n\
               GET /nope HTTP/1.1\r\nHost: vany\r\n\r\n\
               GET /a.bin HTTP/1.1\r\nHost: vany\r\nRange: bytes=10-19\r\n\r\n\
               POST /a.bin HTTP/1.1\r\nHost: vany\r\nContent-Length: 3\r\n\r\nabc";
    let kinds = [false, true, false, false, false];
    let got = p.exchange(req.as_bytes(), 30_000, |g| responses(g, &kinds).len() == 5);
    let r = responses(&got, &kinds);
    assert_eq!(
        r.len(),
        5,
        "every response: {}",
        String::from_utf8_lossy(&got[..got.len().min(600)])
    );
    assert_eq!(r[0].0, "HTTP/1.1 200 OK");
    assert!(r[0].2 == a, "the body, whole");
    assert!(
        header(&r[0].1, "ETag").is_some(),
        "nginx's validator relayed"
    );
    assert_eq!(header(&r[0].1, "Connection"), Some("keep-alive"));
    assert_eq!(header(&r[1].1, "Content-Length"), Some("1000000"), "HEAD");
    assert!(r[2].0.contains(" 404 "), "{}", r[2].0);
    assert!(
        r[3].0.contains(" 206 ") && r[3].2 == a[10..20],
        "{}",
        r[3].0
    );
    assert!(
        r[4].0.contains(" 405 "),
        "nginx refuses POST to a file: {}",
        r[4].0
    );
    let stats = p.env.proxy(PORT).unwrap().stats();
    assert_eq!(stats.requests, 5);
    assert_eq!((stats.bad_gateway, stats.truncated), (0, 0));
}

#[test]
fn a_response_moved_in_its_middle_is_resumed_from_the_acceptors_own_backend() {
    if !have_backends() {
        return;
    }
    // Two servers, two backends, two copies of the same file.
    let (d1, d2) = (site_dir("donor"), site_dir("acceptor"));
    let big = content(4_000_000, 2);
    for d in [&d1, &d2] {
        std::fs::write(www(d).join("big.bin"), &big).unwrap();
    }
    // The same modification time, so that both nginx give the same ETag (as rsync -t
    // or a package leaves it).
    let mtime = std::fs::metadata(www(&d1).join("big.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(www(&d2).join("big.bin"))
        .unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let (b1, b2) = (nginx(&d1.0), nginx(&d2.0));
    let mut p = pair(b1.addr, 2);
    let mut got = big_until(&mut p, 1_000_000);
    assert!(got.len() < 4_000_000, "moved in the middle");
    assert!(p.apps[0].1.movable(), "nginx's response can be resumed");
    p.move_server_to(3, Some(env_for(b2.addr))).expect("taken");
    p.exchange_into(&mut got, b"", 60_000, |g| responses(g, &[false]).len() == 1);
    let r = responses(&got, &[false]);
    assert_eq!(r.len(), 1, "complete");
    assert!(r[0].2 == big, "every byte, across the move");
    let s = p.env.proxy(PORT).unwrap().stats();
    assert_eq!(
        (s.resumed, s.resume_failed, s.truncated),
        (1, 0, 0),
        "{s:?}"
    );
}

#[test]
fn a_response_that_cannot_be_resumed_keeps_the_connection_until_it_is_complete() {
    if !have_backends() {
        return;
    }
    let dir = site_dir("python");
    let big = content(3_000_000, 3);
    std::fs::write(www(&dir).join("big.bin"), &big).unwrap();
    let backend = python(&dir.0);
    let mut p = pair(backend.addr, 4);
    let mut got = big_until(&mut p, 500_000);
    assert!(got.len() < 3_000_000, "in the middle of the body");
    assert!(
        !p.apps[0].1.movable(),
        "no ETag nor ranges from http.server: the connection stays"
    );
    p.exchange_into(&mut got, b"", 60_000, |g| responses(g, &[false]).len() == 1);
    let r = responses(&got, &[false]);
    assert!(r.len() == 1 && r[0].2 == big, "complete and intact");
    // http.server closes after its HTTP/1.0 response: so does the proxy (close-delimited
    // or not, the connection is done), and then nothing holds the session.
    assert!(
        p.apps[0].1.movable(),
        "movable once the response is complete"
    );
}

#[test]
fn a_backend_that_is_down_gets_502() {
    let port = free_port();
    let mut p = pair(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), 5);
    let kinds = [false];
    let got = p.exchange(b"GET / HTTP/1.1\r\nHost: vany\r\n\r\n", 5_000, |g| {
        responses(g, &kinds).len() == 1
    });
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "HTTP/1.1 502 Bad Gateway");
    assert_eq!(p.env.proxy(PORT).unwrap().stats().bad_gateway, 1);
}

#[test]
fn a_resumption_refused_resets_the_client_after_what_it_was_given() {
    if !have_backends() {
        return;
    }
    // The acceptor's copy is another version (another modification time: another ETag).
    let (d1, d2) = (site_dir("v1"), site_dir("v2"));
    let big = content(4_000_000, 4);
    for d in [&d1, &d2] {
        std::fs::write(www(d).join("big.bin"), &big).unwrap();
    }
    let f = std::fs::File::options()
        .write(true)
        .open(www(&d2).join("big.bin"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + StdDuration::from_secs(1_000_000))
        .unwrap();
    drop(f);
    let (b1, b2) = (nginx(&d1.0), nginx(&d2.0));
    let mut p = pair(b1.addr, 6);
    let mut got = big_until(&mut p, 1_000_000);
    p.move_server_to(7, Some(env_for(b2.addr))).expect("taken");
    let until = StdInstant::now() + StdDuration::from_secs(10);
    while p.env.proxy(PORT).unwrap().stats().resume_failed == 0 && StdInstant::now() < until {
        p.tick();
    }
    assert_eq!(p.env.proxy(PORT).unwrap().stats().resume_failed, 1);
    // The client reads: it gets everything it was given, then the reset.
    let tuple = p.tuple;
    let mut reset = false;
    for _ in 0..60_000 {
        p.tick();
        let Some(c) = p.client.connection_mut(&tuple) else {
            reset = true;
            break;
        };
        let mut buf = [0u8; 65536];
        loop {
            match c.recv(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {
                    reset = true;
                    break;
                }
            }
        }
        if reset || c.is_closed() {
            reset = true;
            break;
        }
    }
    assert!(reset, "the client connection was reset");
    let r = header_end(&got).expect("the response head");
    let body = &got[r..];
    assert!(
        body.len() < big.len() && body == &big[..body.len()],
        "a prefix of the donor's version ({} bytes), then the reset",
        body.len()
    );
    assert!(
        body.len() > 1_000_000,
        "the bytes given before the move arrived"
    );
}
