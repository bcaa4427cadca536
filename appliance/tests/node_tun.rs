//! Three `vany node` processes (the built binary) in network namespaces of their own.
//!
//! ```text
//!              hub namespace (router; the client: fd00:99:ff::10 on lo)
//!        h1 fd00:99:1::1    h2 fd00:99:2::1    h3 fd00:99:3::1
//!            │ veth             │ veth             │ veth
//!   n1: eth0 fd00:99:1::2   n2: eth0 ...::2   n3: eth0 ...::2      (gossip :4700,
//!       vtun -> member 1        vtun -> member 2  vtun -> member 3   metrics :9100)
//!       care-of fd00:20:1::1    fd00:20:2::1      fd00:20:3::1
//!       + anycast fd00:aa::1 (contact node)
//! ```
//!
//! Each node namespace routes its member's care-of address (and, on the contact node,
//! the anycast address) into a persistent TUN device made by the test, which the node
//! attaches to; everything else goes to the hub, which routes each care-of address (and
//! the anycast address) to the right namespace. So the members' peer datagrams leave
//! through their TUN and are routed by the namespaces, as `node::runtime` describes, and
//! the gossip sockets talk over the veths.
//!
//! Checked: `vany ctl status` answers on every node; gossip sees every member up;
//! `/metrics` answers (fetched with python3 from the hub); a kernel TCP client (python3 in
//! the hub) downloads a verified stream from the anycast address (node 1 has
//! `tun_offload`: its TCP goes out in super-segments the kernel splits); a forged gossip
//! datagram is dropped and counted; `vany ctl handoff` refuses an unknown client; a
//! killed node is declared down and excluded; SIGTERM drains a node and it exits 0.
//!
//! Needs root: otherwise the test prints "skipped: needs root" and passes. Every wait is
//! bounded; the nodes are killed and the namespaces deleted at the end, even on failure
//! (a Drop guard), and namespaces left by a crashed earlier run are removed first.

mod netns_common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use netns_common::guard::RunGuard;
use netns_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_vany");
const PYTHON: &str = "/usr/bin/python3";
const PREFIX: &str = "vany-t";
const ANYCAST: &str = "fd00:aa::1";
const CLIENT: &str = "fd00:99:ff::10";
const KEY: &str = "5ca1ab1e0ddba11c0ffee000deadbeef5ca1ab1e";
const NODES: u16 = 3;

fn sigterm(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
}

/// Namespaces, node processes and files of one run; all gone on drop.
struct Lab {
    dir: PathBuf,
    guard: RunGuard,
}

impl Lab {
    fn ns_name(&self, what: &str) -> String {
        format!("{PREFIX}{}-{what}", std::process::id())
    }

    fn add_ns(&mut self, what: &str) -> String {
        let name = self.ns_name(what);
        self.guard.add_ns(&name, true)
    }

    fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    fn exec(&self, ns: &str, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn socket(&self, i: u16) -> PathBuf {
        self.dir.join(format!("n{i}.sock"))
    }

    fn ctl(&self, i: u16, args: &[&str]) -> Output {
        let sock = self.socket(i);
        let mut c = Command::new(BIN);
        c.arg("ctl").arg("--socket").arg(&sock).args(args);
        run_limited(&mut c, Duration::from_secs(10))
    }

    /// `vany ctl status` of node `i` as JSON, if it answers.
    fn status(&self, i: u16) -> Option<serde_json::Value> {
        let out = self.ctl(i, &["status"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// GET /metrics of node `i`, from the hub (python3's urllib).
    fn metrics(&self, hub: &str, i: u16) -> Option<String> {
        let url = format!("http://[fd00:99:{i}::2]:9100/metrics");
        let get = format!(
            "import sys, urllib.request; \
             sys.stdout.write(urllib.request.urlopen('{url}', timeout=3).read().decode())"
        );
        let out = run_limited(
            Command::new("ip").args(["netns", "exec", hub, PYTHON, "-c", &get]),
            Duration::from_secs(6),
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn start_node(&mut self, i: u16) {
        let ns = self.ns_name(&format!("n{i}"));
        let cfg = self.dir.join(format!("n{i}.toml"));
        let log_path = self.dir.join(format!("n{i}.log"));
        let child = spawn_node(&ns, &cfg, &log_path, |c| {
            c.env("RUST_LOG", "info");
        });
        self.guard.keep(usize::from(i) - 1, child, log_path);
    }
}

fn config(i: u16, dir: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "id = {i}\ntun = \"vtun\"\nanycast = \"{ANYCAST}\"\ncontact_node = 1"
    );
    let _ = writeln!(t, "group_key = \"{KEY}\"");
    let _ = writeln!(
        t,
        "control_socket = \"{}\"",
        dir.join(format!("n{i}.sock")).display()
    );
    let _ = writeln!(t, "metrics_listen = \"[fd00:99:{i}::2]:9100\"");
    let _ = writeln!(t, "log_level = \"info\"\ndrain_timeout_ms = 5000");
    // Node 1 (the contact node, which serves the download) sends TCP super-segments for
    // its kernel to split; the others send plain segments.
    let _ = writeln!(t, "tun_offload = {}", i == 1);
    let _ = writeln!(t, "\n[gossip]\nlisten = \"[fd00:99:{i}::2]:4700\"");
    let _ = writeln!(
        t,
        "probe_period_ms = 500\nprobe_rtt_ms = 150\nsuspect_to_down_ms = 1500"
    );
    for m in 1..=NODES {
        let _ = writeln!(
            t,
            "\n[members.{m}]\nname = \"node{m}\"\ncare_of = \"fd00:20:{m}::1\""
        );
        let _ = writeln!(
            t,
            "contact = {}\ngossip = \"[fd00:99:{m}::2]:4700\"",
            m == 1
        );
    }
    t
}

/// The client: connects from the hub to the anycast address, asks for stream `id` of
/// `len` bytes, prints "<bytes> <sha256 hex>".
const CLIENT_PY: &str = r#"
import hashlib, socket, struct, sys
sid, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(20)
s.bind((sys.argv[3], 0))
s.connect((sys.argv[4], 80))
s.sendall(struct.pack(">QQQ", sid, n, 0))
h, got = hashlib.sha256(), 0
while got < n:
    b = s.recv(65536)
    if not b:
        break
    h.update(b)
    got += len(b)
s.close()
print(got, h.hexdigest())
"#;

fn member_state(status: &serde_json::Value, id: u16) -> (String, bool) {
    let m = status["members"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == id))
        .unwrap_or_else(|| panic!("member {id} missing in {status}"));
    (
        m["state"].as_str().unwrap_or("").to_string(),
        m["excluded"].as_bool().unwrap_or(false),
    )
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split(' ').next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn three_nodes_gossip_serve_and_answer_control() {
    if !is_root() {
        skip("needs root (network namespaces and TUN devices)");
        return;
    }
    remove_stale_namespaces(&[PREFIX]);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    let mut lab = Lab {
        dir: dir.clone(),
        guard: RunGuard::new(dir.clone()),
    };
    let hub = lab.add_ns("hub");
    lab.ip(
        &hub,
        &["addr", "add", &format!("{CLIENT}/128"), "dev", "lo"],
    );
    for i in 1..=NODES {
        let ns = lab.add_ns(&format!("n{i}"));
        let (h, n) = (format!("h{i}"), "eth0");
        lab.ip(
            &hub,
            &[
                "link", "add", &h, "type", "veth", "peer", "name", n, "netns", &ns,
            ],
        );
        let (hub_addr, node_addr) = (format!("fd00:99:{i}::1"), format!("fd00:99:{i}::2"));
        lab.ip(
            &hub,
            &["addr", "add", &format!("{hub_addr}/64"), "dev", &h, "nodad"],
        );
        lab.ip(
            &ns,
            &["addr", "add", &format!("{node_addr}/64"), "dev", n, "nodad"],
        );
        lab.ip(&hub, &["link", "set", &h, "up"]);
        lab.ip(&ns, &["link", "set", n, "up"]);
        lab.ip(&ns, &["-6", "route", "add", "default", "via", &hub_addr]);
        // The node's TUN, persistent so that it can be routed before the node starts.
        lab.ip(&ns, &["tuntap", "add", "dev", "vtun", "mode", "tun"]);
        lab.ip(&ns, &["link", "set", "vtun", "up"]);
        let care_of = format!("fd00:20:{i}::1");
        lab.ip(
            &ns,
            &[
                "-6",
                "route",
                "add",
                &format!("{care_of}/128"),
                "dev",
                "vtun",
            ],
        );
        lab.ip(
            &hub,
            &[
                "-6",
                "route",
                "add",
                &format!("{care_of}/128"),
                "via",
                &node_addr,
            ],
        );
        if i == 1 {
            lab.ip(
                &ns,
                &[
                    "-6",
                    "route",
                    "add",
                    &format!("{ANYCAST}/128"),
                    "dev",
                    "vtun",
                ],
            );
            lab.ip(
                &hub,
                &[
                    "-6",
                    "route",
                    "add",
                    &format!("{ANYCAST}/128"),
                    "via",
                    &node_addr,
                ],
            );
        }
        std::fs::write(dir.join(format!("n{i}.toml")), config(i, &dir)).unwrap();
    }
    // A bad configuration is refused before anything starts, naming the key.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, config(1, &dir).replace("fd00:20:2::1", "xyz")).unwrap();
    let out = run_limited(
        Command::new(BIN).args(["node", "--config"]).arg(&bad),
        Duration::from_secs(5),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("members.2.care_of: not an IPv6 address: 'xyz'"),
        "{err}"
    );

    for i in 1..=NODES {
        lab.start_node(i);
    }
    for i in 1..=NODES {
        wait_for(
            &format!("node {i} control socket"),
            Duration::from_secs(15),
            || lab.status(i),
        );
    }
    // Gossip: every node sees every other member up, and no longer excludes it.
    for i in 1..=NODES {
        wait_for(
            &format!("node {i} sees all members up"),
            Duration::from_secs(20),
            || {
                let s = lab.status(i)?;
                (1..=NODES)
                    .filter(|m| *m != i)
                    .all(|m| member_state(&s, m) == ("up".into(), false))
                    .then_some(())
            },
        );
    }
    // Metrics over HTTP.
    for i in 1..=NODES {
        let text = wait_for(
            &format!("node {i} /metrics"),
            Duration::from_secs(10),
            || lab.metrics(&hub, i),
        );
        assert_eq!(metric_value(&text, "vany_members_up"), Some(2.0), "{text}");
        assert!(text.contains("# TYPE vany_handoff_duration_seconds histogram"));
    }
    // A kernel TCP client downloads a verified stream from the anycast address.
    let len: u64 = 4 << 20;
    let started = Instant::now();
    let out = run_limited(
        Command::new("ip").args([
            "netns",
            "exec",
            &hub,
            PYTHON,
            "-c",
            CLIENT_PY,
            "7",
            &len.to_string(),
            CLIENT,
            ANYCAST,
        ]),
        Duration::from_secs(40),
    );
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let want = format!(
        "{len} {}",
        hex::encode(vany_appliance::apps::source::expected_sha256(7, len))
    );
    assert_eq!(
        got,
        want,
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = started.elapsed().as_secs_f64();
    println!(
        "kernel client: {} MiB from the anycast address in {took:.2} s ({:.0} Mbit/s, \
         python3 start-up included)",
        len >> 20,
        len as f64 * 8.0 / took / 1e6
    );
    let s1 = lab.status(1).expect("status");
    println!(
        "node 1 after the download: rx {} tx {} packets ({} super-segments), dropped {}",
        s1["io"]["rx_packets"],
        s1["io"]["tx_packets"],
        s1["io"]["tx_super"],
        s1["stats"]["dropped"]
    );
    assert!(
        s1["io"]["tx_super"].as_u64().is_some_and(|n| n > 0),
        "node 1 has tun_offload: the download went out in super-segments: {}",
        s1["io"]
    );
    let text = lab.metrics(&hub, 1).expect("node 1 /metrics");
    assert!(
        metric_value(&text, "vany_tx_super_segments_total").is_some_and(|v| v > 0.0),
        "{text}"
    );
    // A forged gossip datagram is dropped and counted.
    let forge = "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); \
                 s.sendto(b'\\x00' * 64, ('fd00:99:2::2', 4700))";
    lab.exec(&hub, PYTHON, &["-c", forge]);
    wait_for("forged gossip counted", Duration::from_secs(5), || {
        let text = lab.metrics(&hub, 2)?;
        (metric_value(&text, "vany_drops_total{reason=\"gossip_forged\"}")? >= 1.0).then_some(())
    });
    // Control: a handoff of a client nobody serves is refused, with a reason.
    let out = lab.ctl(1, &["handoff", "fd00::99", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no session"));
    let out = lab.ctl(1, &["sessions"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Failure detection: node 3 dies; node 1 declares it down and excludes it.
    if let Some(mut c) = lab.guard.take(2) {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    wait_for(
        "node 1 declares node 3 down",
        Duration::from_secs(20),
        || {
            let s = lab.status(1)?;
            (member_state(&s, 3) == ("down".into(), true)).then_some(())
        },
    );
    // SIGTERM drains node 2 (no sessions) and it exits with status 0; node 1 sees it go.
    let mut n2 = lab.guard.take(1).expect("node 2 runs");
    sigterm(&n2);
    let status = wait_for(
        "node 2 exits after SIGTERM",
        Duration::from_secs(10),
        || n2.try_wait().unwrap(),
    );
    assert!(status.success(), "node 2 exited with {status}");
    wait_for(
        "node 1 declares node 2 down",
        Duration::from_secs(20),
        || {
            let s = lab.status(1)?;
            (member_state(&s, 2).0 == "down").then_some(())
        },
    );
    // Node 1 drains on request (forced: it is the only contact node). The download's
    // connection may linger in TIME-WAIT, which is no session to move: node 1 may stop
    // at once; otherwise SIGTERM ends it, with status 0.
    // Node 1 is the only contact node: a plain drain is refused (it would withdraw the
    // anycast address), `--force` drains.
    let out = lab.ctl(1, &["drain"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("only contact node"), "{said}");
    let out = lab.ctl(1, &["drain", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    if let Some(s1) = lab.status(1) {
        assert_eq!(s1["draining"], true, "{s1}");
    }
    let mut n1 = lab.guard.take(0).expect("node 1 runs");
    if n1.try_wait().unwrap().is_none() {
        sigterm(&n1);
    }
    let status = wait_for("node 1 exits", Duration::from_secs(10), || {
        n1.try_wait().unwrap()
    });
    assert!(status.success(), "node 1 exited with {status}");
}
