//! The `http` app of a real `vany node` against real clients: curl and Python's
//! http.client and raw sockets, in network namespaces made by the test (root).
//!
//! ```text
//!   hub namespace: the clients, fd00:98:ff::10 on lo
//!        h1 fd00:98:1::1
//!            │ veth
//!   n1: eth0 fd00:98:1::2, vtun -> member 1 (the only one; contact node)
//!       care-of fd00:21:1::1 + anycast fd00:ab::1, http on :8080
//! ```
//!
//! Checked (RFC 9112): an HTTP/1.1 request without `Host` or with two gets 400; an
//! absolute-form target is served; a head whose lines end in a bare LF is answered; a
//! partial head gets 408 after `app_header_timeout_ms` and an idle keep-alive connection
//! is closed after `app_idle_timeout_ms` (both short here); the `/bytes/N` body is the
//! documented stream; and once every client has closed, `vany ctl sessions` lists no
//! session (the member's TIME-WAIT connections are not sessions).
//!
//! Needs root: otherwise it prints "skipped" and passes (fails under VANY_TESTS_REQUIRED).
//! Every wait is bounded; the node is killed and the namespaces deleted at the end.

mod netns_common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use netns_common::guard::RunGuard;
use netns_common::*;

const PYTHON: &str = "/usr/bin/python3";
const PREFIX: &str = "vany-h";
const ANYCAST: &str = "fd00:ab::1";
const CLIENT: &str = "fd00:98:ff::10";
const KEY: &str = "5ca1ab1e0ddba11c0ffee000deadbeef5ca1ab1e";

/// Namespaces, the node and its files; all gone on drop.
struct Lab {
    dir: PathBuf,
    guard: RunGuard,
}

impl Lab {
    fn add_ns(&mut self, what: &str) -> String {
        let name = format!("{PREFIX}{}-{what}", std::process::id());
        self.guard.add_ns(&name, true)
    }

    fn sessions(&self) -> Option<serde_json::Value> {
        let out = run_limited(
            Command::new(BIN)
                .arg("ctl")
                .arg("--socket")
                .arg(self.dir.join("n1.sock"))
                .arg("sessions"),
            Duration::from_secs(10),
        );
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Runs `program args` in the hub; returns (success, stdout, stderr).
    fn in_hub(&self, hub: &str, program: &str, args: &[&str], limit: u64) -> (bool, String) {
        let mut all = vec!["netns", "exec", hub, program];
        all.extend_from_slice(args);
        let out = run_limited(Command::new("ip").args(&all), Duration::from_secs(limit));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn config(dir: &std::path::Path) -> String {
    format!(
        "id = 1\ntun = \"vtun\"\nanycast = \"{ANYCAST}\"\ncontact_node = 1\n\
         group_key = \"{KEY}\"\ncontrol_socket = \"{}\"\nlog_level = \"info\"\n\
         apps = {{ 8080 = \"http\" }}\n\
         app_header_timeout_ms = 1500\napp_idle_timeout_ms = 2500\n\
         \n[members.1]\nname = \"node1\"\ncare_of = \"fd00:21:1::1\"\ncontact = true\n",
        dir.join("n1.sock").display()
    )
}

/// Python 3 (http.client and raw sockets), from the hub: prints one line per check.
const CHECKS_PY: &str = r#"
import http.client, socket, sys, time
src, host = sys.argv[1], sys.argv[2]

def word(i, b):
    m = (1 << 64) - 1
    z = (i * 0xD1B54A32D192ED03 + b + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)

def stream(i, n):
    out = bytearray()
    for b in range((n + 7) // 8):
        out += word(i, b).to_bytes(8, "little")
    return bytes(out[:n])

def raw(data, wait=10):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(wait)
    s.bind((src, 0))
    s.connect((host, 8080))
    s.sendall(data)
    got, t0 = b"", time.monotonic()
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        got += b"<held>"
    s.close()
    return got, time.monotonic() - t0

def status(got):
    return got.split(b"\r\n", 1)[0].decode("latin-1")

c = http.client.HTTPConnection(host, 8080, timeout=10, source_address=(src, 0))
c.request("GET", "/bytes/100000")
r = c.getresponse()
body = r.read()
print("httpclient", r.status, len(body), body == stream(100000, 100000))
c.close()
print("nohost", status(raw(b"GET /health HTTP/1.1\r\n\r\n")[0]))
print("twohost", status(raw(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")[0]))
got, _ = raw(b"GET http://[%s]:8080/bytes/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % host.encode())
print("absolute", status(got), got.endswith(stream(5, 5)))
print("barelf", status(raw(b"GET /health HTTP/1.1\nHost: x\nConnection: close\n\n")[0]))
got, took = raw(b"GET /health HTTP/1.1\r\nHo")
print("partial", status(got), "closed" if not got.endswith(b"<held>") else "held", "%.2f" % took)
got, took = raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
print("idle", status(got), "closed" if not got.endswith(b"<held>") else "held", "%.2f" % took)
"#;

fn check(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no '{key}' line in:\n{out}"))
        .to_string()
}

#[test]
fn the_http_app_follows_rfc_9112_with_real_clients_and_times_out_idle_ones() {
    if !is_root() {
        skip("needs root (network namespaces and a TUN device)");
        return;
    }
    remove_stale_namespaces(&[PREFIX]);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    let mut lab = Lab {
        dir: dir.clone(),
        guard: RunGuard::new(dir.clone()),
    };
    let hub = lab.add_ns("hub");
    let ns = lab.add_ns("n1");
    let ip = |ns: &str, args: &[&str]| {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    };
    ip(
        &hub,
        &["addr", "add", &format!("{CLIENT}/128"), "dev", "lo"],
    );
    ip(
        &hub,
        &[
            "link", "add", "h1", "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
    );
    ip(
        &hub,
        &["addr", "add", "fd00:98:1::1/64", "dev", "h1", "nodad"],
    );
    ip(
        &ns,
        &["addr", "add", "fd00:98:1::2/64", "dev", "eth0", "nodad"],
    );
    ip(&hub, &["link", "set", "h1", "up"]);
    ip(&ns, &["link", "set", "eth0", "up"]);
    ip(
        &ns,
        &["-6", "route", "add", "default", "via", "fd00:98:1::1"],
    );
    ip(&ns, &["tuntap", "add", "dev", "vtun", "mode", "tun"]);
    ip(&ns, &["link", "set", "vtun", "up"]);
    for addr in ["fd00:21:1::1/128", &format!("{ANYCAST}/128")] {
        ip(&ns, &["-6", "route", "add", addr, "dev", "vtun"]);
        ip(&hub, &["-6", "route", "add", addr, "via", "fd00:98:1::2"]);
    }
    let cfg = dir.join("n1.toml");
    std::fs::write(&cfg, config(&dir)).unwrap();
    let node = spawn_node(&ns, &cfg, &dir.join("n1.log"), |_| {});
    lab.guard.keep(0, node, dir.join("n1.log"));
    wait_for("the control socket", Duration::from_secs(15), || {
        lab.sessions()
    });
    let url = format!("http://[{ANYCAST}]:8080");
    // curl: a plain GET, one without Host (`-H Host:` removes curl's), and an
    // absolute-form target.
    let curl = |extra: &[&str], path: &str| {
        let target = format!("{url}{path}");
        let mut args = vec!["-g", "-sS", "-o", "/dev/null", "-w", "%{http_code}"];
        args.extend_from_slice(&["--interface", CLIENT, "--max-time", "10"]);
        args.extend_from_slice(extra);
        args.push(&target);
        lab.in_hub(&hub, "curl", &args, 15).1
    };
    assert_eq!(curl(&[], "/bytes/1000"), "200");
    assert_eq!(curl(&["-H", "Host:"], "/health"), "400");
    let absolute = format!("{url}/health");
    assert_eq!(curl(&["--request-target", &absolute], "/health"), "200");

    let (ok, out) = lab.in_hub(&hub, PYTHON, &["-c", CHECKS_PY, CLIENT, ANYCAST], 60);
    assert!(ok, "{out}");
    println!("{out}");
    assert_eq!(check(&out, "httpclient"), "200 100000 True");
    assert_eq!(check(&out, "nohost"), "HTTP/1.1 400 Bad Request");
    assert_eq!(check(&out, "twohost"), "HTTP/1.1 400 Bad Request");
    assert_eq!(check(&out, "absolute"), "HTTP/1.1 200 OK True");
    assert_eq!(check(&out, "barelf"), "HTTP/1.1 200 OK");
    let partial = check(&out, "partial");
    assert!(
        partial.starts_with("HTTP/1.1 408 Request Timeout closed"),
        "{partial}"
    );
    let idle = check(&out, "idle");
    assert!(idle.starts_with("HTTP/1.1 200 OK closed"), "{idle}");

    // Every client has closed; the member's side of the connections it closed first
    // (the timeouts, `Connection: close`) is in TIME-WAIT, which is no session.
    let listed = wait_for("no session listed", Duration::from_secs(10), || {
        let s = lab.sessions()?;
        s["sessions"]
            .as_array()
            .is_some_and(|a| a.is_empty())
            .then_some(s)
    });
    println!("{listed}");
}
