//! A group of real `vany node` processes in network namespaces the test makes itself:
//! a hub router, one namespace per node (a persistent TUN `vtun` routed to the node's
//! care-of address, and for contact node 1 the anycast address), a client namespace, and
//! any namespace a test adds (`add_ns`, `link`).
//!
//! ```text
//!                         hub namespace (IPv6 router)
//!     hc fd00:99:10::1   h1 fd00:99:1::1   h2 fd00:99:2::1   ...
//!          │ veth             │ veth            │ veth
//!   client: eth0          n1: eth0          n2: eth0
//!   fd00:99:10::2         fd00:99:1::2      fd00:99:2::2
//!   kernel TCP, vany      vtun: care-of     vtun: care-of
//!   client                fd00:20:1::1      fd00:20:2::1
//!   (fd00:aa::1 -> TUN)   + anycast         (gossip :4700, metrics :9100 on eth0)
//!                         fd00:aa::1 (contact node)
//! ```
//!
//! Everything (processes, namespaces, files) goes on drop, even on failure; namespaces
//! left by a crashed earlier run with the same prefix are removed first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use vany_appliance::node::ctl::{self, Request};

/// The group's anycast address.
pub const ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 1);
/// The client namespace's address.
pub const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0x10, 0, 0, 0, 0, 2);
const KEY: &str = "e2e0e2e0e2e0e2e0c0ffee00deadbeef5ca1ab1e";
pub const MIB: u64 = 1 << 20;

/// Node `i`'s care-of address.
pub fn care_of(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x20, i, 0, 0, 0, 0, 1)
}

/// Why this machine cannot run a lab, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root (network namespaces, TUN devices, nftables)");
    }
    if Command::new("nft").arg("--version").output().is_err() {
        return Some("`nft` is not installed (Debian: apt-get install nftables)");
    }
    if Command::new("nstat").arg("-V").output().is_err() {
        return Some("`nstat` is not installed (Debian: apt-get install iproute2)");
    }
    None
}

/// The namespaces, processes and files of one test; all gone on drop.
pub struct Lab {
    prefix: &'static str,
    tag: &'static str,
    /// How many nodes (ids 1..=nodes; node 1 is the contact node).
    pub nodes_count: u16,
    pub dir: PathBuf,
    namespaces: Vec<String>,
    pub nodes: Vec<Option<Child>>,
    pub client: Option<VanyClient>,
    /// The members' `send_buffer_kib` (written into the configs at `start_node`).
    pub send_buffer_kib: u64,
    /// The member that runs on DPDK instead of TUN, if any (see [`Lab::build_with_dpdk`]).
    pub dpdk: Option<u16>,
    /// Poll loops (`[io] cores`) of the DPDK node: its further cores are members
    /// `nodes_count + 1 ..` (see [`Lab::build_with_dpdk_cores`]).
    pub cores: u16,
    /// Lines added to node `i`'s configuration (top-level keys, e.g. `apps = ...`),
    /// written before its tables; none by default.
    pub node_extra: BTreeMap<u16, String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if std::thread::panicking() {
                eprintln!("--- vany client log ---");
                for l in c.log() {
                    eprintln!("{l}");
                }
            }
            drop(c);
        }
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Some(mut c) = n.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if std::thread::panicking() {
                let log = self.dir.join(format!("n{}.log", i + 1));
                if let Ok(text) = std::fs::read_to_string(&log) {
                    let tail: Vec<&str> = text.lines().rev().take(30).collect();
                    eprintln!("--- last lines of node {} log ---", i + 1);
                    for l in tail.iter().rev() {
                        eprintln!("{l}");
                    }
                }
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if self.dpdk.is_some() {
            let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.eal_prefix()));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// The topology of the module doc with `nodes` nodes; nothing runs. Namespace names
    /// start with `prefix` (then the pid, then `tag`).
    pub fn build(prefix: &'static str, tag: &'static str, nodes: u16) -> Lab {
        Lab::build_with_dpdk(prefix, tag, nodes, None)
    }

    /// [`Lab::build`], with member `dpdk` (if any) on DPDK: `vany node` runs a
    /// `net_af_packet` port on its namespace's `eth0`, which shares the veth's MAC. The
    /// veth keeps its kernel address (gossip and metrics use kernel sockets on it); the
    /// DPDK port owns the care-of address and answers neighbor discovery for it, and the
    /// hub routes the care-of address on-link out of its veth (its kernel resolves it by
    /// ND). The member's gateway is the hub's address on that link, resolved by vany's ND.
    /// The namespace's kernel does not forward: it sees every frame the port sees, and
    /// would send the packets for the care-of address back to the hub.
    pub fn build_with_dpdk(
        prefix: &'static str,
        tag: &'static str,
        nodes: u16,
        dpdk: Option<u16>,
    ) -> Lab {
        Lab::build_with_dpdk_cores(prefix, tag, nodes, dpdk, 1)
    }

    /// [`Lab::build_with_dpdk`], with the DPDK node running `cores` poll loops
    /// (`[io] cores`, `qpairs` on its `net_af_packet` port), each a group member of its
    /// own: the node's member `dpdk` and members `nodes + 1 ..`, listed in every node's
    /// `[members]` with `core_of = dpdk`. The hub routes every core's care-of address
    /// on-link out of the DPDK node's veth (the port answers ND for all of them).
    pub fn build_with_dpdk_cores(
        prefix: &'static str,
        tag: &'static str,
        nodes: u16,
        dpdk: Option<u16>,
        cores: u16,
    ) -> Lab {
        assert!(
            cores >= 1 && (cores == 1 || dpdk.is_some()),
            "{cores} cores need a DPDK node"
        );
        remove_stale_namespaces(&[prefix]);
        let dir = std::env::temp_dir().join(format!("{prefix}{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            prefix,
            tag,
            nodes_count: nodes,
            dir,
            namespaces: Vec::new(),
            nodes: (0..nodes).map(|_| None).collect(),
            client: None,
            send_buffer_kib: 256,
            dpdk,
            cores,
            node_extra: BTreeMap::new(),
        };
        let hub = lab.add_ns("hub", true);
        let cns = lab.add_ns("cl", false);
        lab.link(&hub, "hc", &cns, "fd00:99:10::1", "fd00:99:10::2");
        for i in 1..=nodes {
            let on_dpdk = dpdk == Some(i);
            let ns = lab.add_ns(&format!("n{i}"), !on_dpdk);
            let (hub_addr, node_addr) = (format!("fd00:99:{i}::1"), format!("fd00:99:{i}::2"));
            lab.link(&hub, &format!("h{i}"), &ns, &hub_addr, &node_addr);
            let mut routed: Vec<String> = lab
                .core_members(i)
                .into_iter()
                .map(|m| format!("{}/128", care_of(m)))
                .collect();
            if i == 1 {
                routed.push(format!("{ANYCAST}/128"));
            }
            if on_dpdk {
                for r in &routed {
                    lab.ip(&hub, &["-6", "route", "add", r, "dev", &format!("h{i}")]);
                }
                continue;
            }
            // The node's TUN, persistent so that it can be routed before the node starts.
            lab.ip(&ns, &["tuntap", "add", "dev", "vtun", "mode", "tun"]);
            lab.ip(&ns, &["link", "set", "vtun", "up"]);
            for r in &routed {
                lab.ip(&ns, &["-6", "route", "add", r, "dev", "vtun"]);
                lab.ip(&hub, &["-6", "route", "add", r, "via", &node_addr]);
            }
        }
        lab
    }

    /// Every member of the group: the nodes' own (`1..=nodes_count`), then the DPDK
    /// node's further cores.
    pub fn members(&self) -> Vec<u16> {
        (1..self.nodes_count + self.cores).collect()
    }

    /// The node whose process runs member `m` (itself, unless `m` is a further core).
    pub fn node_of(&self, m: u16) -> u16 {
        match self.dpdk {
            Some(d) if m > self.nodes_count => d,
            _ => m,
        }
    }

    /// The members node `i` runs, its own first (one per core).
    pub fn core_members(&self, i: u16) -> Vec<u16> {
        self.members()
            .into_iter()
            .filter(|m| self.node_of(*m) == i)
            .collect()
    }

    /// The full name of namespace `what` ("hub", "cl", "n1", ...).
    pub fn ns_name(&self, what: &str) -> String {
        format!("{}{}-{}{what}", self.prefix, std::process::id(), self.tag)
    }

    /// A new namespace `what`, removed with the lab, with IPv6 forwarding on or off.
    pub fn add_ns(&mut self, what: &str, forwarding: bool) -> String {
        let name = self.ns_name(what);
        run("ip", &["netns", "add", &name]);
        self.namespaces.push(name.clone());
        self.ip(&name, &["link", "set", "lo", "up"]);
        let value = if forwarding { "1" } else { "0" };
        run(
            "ip",
            &[
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.all.forwarding={value}"),
            ],
        );
        name
    }

    /// A veth from the hub (`hub_dev`, `hub_addr`) to `eth0` (`addr`) of `ns`, whose
    /// default route points at the hub.
    pub fn link(&self, hub: &str, hub_dev: &str, ns: &str, hub_addr: &str, addr: &str) {
        self.ip(
            hub,
            &[
                "link", "add", hub_dev, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        );
        let hub_cidr = format!("{hub_addr}/64");
        let cidr = format!("{addr}/64");
        self.ip(hub, &["addr", "add", &hub_cidr, "dev", hub_dev, "nodad"]);
        self.ip(ns, &["addr", "add", &cidr, "dev", "eth0", "nodad"]);
        self.ip(hub, &["link", "set", hub_dev, "up"]);
        self.ip(ns, &["link", "set", "eth0", "up"]);
        self.ip(ns, &["-6", "route", "add", "default", "via", hub_addr]);
    }

    /// `ip -n NS ARGS`.
    pub fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// The EAL's `--file-prefix` of the DPDK member (its runtime directory's name).
    fn eal_prefix(&self) -> String {
        format!("{}{}-{}-eal", self.prefix, std::process::id(), self.tag)
    }

    fn config(&self, i: u16) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "id = {i}");
        if self.dpdk != Some(i) {
            let _ = writeln!(t, "tun = \"vtun\"");
        }
        let _ = writeln!(t, "anycast = \"{ANYCAST}\"\ncontact_node = 1");
        let _ = writeln!(t, "group_key = \"{KEY}\"");
        let _ = writeln!(t, "control_socket = \"{}\"", self.socket(i).display());
        let _ = writeln!(t, "metrics_listen = \"[fd00:99:{i}::2]:9100\"");
        let _ = writeln!(t, "log_level = \"info\"\ndrain_timeout_ms = 10000");
        let _ = writeln!(t, "send_buffer_kib = {}", self.send_buffer_kib);
        if let Some(extra) = self.node_extra.get(&i) {
            let _ = writeln!(t, "{}", extra.trim_end());
        }
        if self.dpdk == Some(i) {
            self.dpdk_io(&mut t, i);
        }
        let _ = writeln!(t, "\n[gossip]\nlisten = \"[fd00:99:{i}::2]:4700\"");
        let _ = writeln!(
            t,
            "probe_period_ms = 500\nprobe_rtt_ms = 150\nsuspect_to_down_ms = 1500"
        );
        for m in self.members() {
            let _ = writeln!(
                t,
                "\n[members.{m}]\nname = \"node{m}\"\ncare_of = \"{}\"",
                care_of(m)
            );
            let node = self.node_of(m);
            if node != m {
                // A further core: its node's gossip socket and contact role.
                let _ = writeln!(t, "core_of = {node}");
                continue;
            }
            let _ = writeln!(
                t,
                "contact = {}\ngossip = \"[fd00:99:{m}::2]:4700\"",
                m == 1
            );
        }
        t
    }

    /// The `[io]` table of DPDK node `i`. With one core exactly as before cores came:
    /// EAL lcore 0 pinned to CPU 0, one queue pair. With more, a queue pair per core on
    /// the port (`qpairs`) and lcore 0 free to run on the first two CPUs (as `vany bench
    /// dpdk`'s `--lcores 0@(0-1)`), so that the cores' threads, which inherit the main
    /// thread's CPU set, are not all pinned to CPU 0.
    fn dpdk_io(&self, t: &mut String, i: u16) {
        let (lcores, vdev) = if self.cores == 1 {
            (["-l", "0"], "--vdev=net_af_packet0,iface=eth0".to_string())
        } else {
            let lcores = if std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2) {
                ["--lcores", "0@(0-1)"]
            } else {
                ["-l", "0"]
            };
            let vdev = format!("--vdev=net_af_packet0,iface=eth0,qpairs={}", self.cores);
            (lcores, vdev)
        };
        let eal = lcores
            .iter()
            .map(|a| a.to_string())
            .chain(["--no-huge", "-m", "512", "--no-pci", "--no-telemetry"].map(String::from))
            .chain([vdev, format!("--file-prefix={}", self.eal_prefix())])
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            t,
            "\n[io]\nbackend = \"dpdk\"\neal = [{eal}]\nport = \"net_af_packet0\"\n\
             gateway = \"fd00:99:{i}::1\""
        );
        if self.cores > 1 {
            let _ = writeln!(t, "cores = {}", self.cores);
        }
    }

    /// Node `i`'s control socket.
    pub fn socket(&self, i: u16) -> PathBuf {
        self.dir.join(format!("n{i}.sock"))
    }

    /// Node `i`'s handoff events (`vany node --events`).
    pub fn events(&self, i: u16) -> PathBuf {
        self.dir.join(format!("n{i}.events.jsonl"))
    }

    /// Writes node `i`'s configuration and starts it (output to `n{i}.log`, handoff
    /// events to [`Lab::events`]).
    pub fn start_node(&mut self, i: u16) {
        let ns = self.ns_name(&format!("n{i}"));
        let cfg = self.dir.join(format!("n{i}.toml"));
        std::fs::write(&cfg, self.config(i)).unwrap();
        let log = self.dir.join(format!("n{i}.log"));
        let events = self.events(i);
        let child = super::spawn_node(&ns, &cfg, &log, |c| {
            c.arg("--events").arg(events);
        });
        self.nodes[usize::from(i) - 1] = Some(child);
    }

    /// The process id of node `i` (`ip netns exec` execs the node in its own process).
    pub fn node_pid(&self, i: u16) -> Option<u32> {
        self.nodes[usize::from(i) - 1].as_ref().map(Child::id)
    }

    /// Starts every node and waits until each sees every other node's members up (a
    /// further core that a node's status does not list is not waited for).
    pub fn start_group(&mut self) {
        for i in 1..=self.nodes_count {
            self.start_node(i);
        }
        for i in 1..=self.nodes_count {
            wait_for(
                &format!("node {i} sees every member up"),
                Duration::from_secs(30),
                || {
                    if let Some(Ok(Some(status))) =
                        self.nodes[usize::from(i) - 1].as_mut().map(Child::try_wait)
                    {
                        panic!("node {i} exited ({status}): {}", self.node_log(i));
                    }
                    let s = self.ask(i, &Request::Status)?;
                    self.members()
                        .into_iter()
                        .filter(|m| self.node_of(*m) != i)
                        .filter(|m| self.node_of(*m) == *m || lists_member(&s, *m))
                        .all(|m| member_state(&s, m) == ("up".into(), false))
                        .then_some(())
                },
            );
        }
    }

    /// Starts `vany client` in the client namespace.
    pub fn start_client(&mut self) {
        let mut c = VanyClient::spawn(
            &self.ns_name("cl"),
            &["--tun", "vcl%d", "--anycast", &ANYCAST.to_string()],
        );
        let ready = c.wait_ready(Duration::from_secs(20));
        println!("vany client: {ready}");
        self.client = Some(c);
    }

    /// A control request straight to node `i`'s socket (what `vany ctl` sends).
    pub fn ask(&self, i: u16, req: &Request) -> Option<serde_json::Value> {
        let alive = self.nodes[usize::from(i) - 1].is_some();
        alive
            .then(|| ctl::request(&self.socket(i), req).ok())
            .flatten()
    }

    /// `vany ctl` (the binary) against node `i`.
    pub fn ctl(&self, i: u16, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.arg("ctl").arg("--socket").arg(self.socket(i)).args(args);
        run_limited(&mut c, Duration::from_secs(10))
    }

    /// Where the client's session is: `Some(member)` when exactly one member of the
    /// running nodes holds it and no handoff of it is under way. The member is the
    /// session's `member` in the node's `Sessions` answer (the core that serves it), or
    /// the node's own where the answer has none. A node whose process has exited (a
    /// drained node) is left out.
    pub fn settled_at(&mut self, client: Ipv6Addr) -> Option<u16> {
        let mut holders = Vec::new();
        for i in 1..=self.nodes_count {
            match self.nodes[usize::from(i) - 1].as_mut().map(Child::try_wait) {
                Some(Ok(None)) => {}
                _ => continue,
            }
            let v = self.ask(i, &Request::Sessions)?;
            for s in v["sessions"].as_array()? {
                if s["client"].as_str() == Some(&client.to_string()) {
                    let member = s["member"]
                        .as_u64()
                        .map_or(Some(i), |m| u16::try_from(m).ok())?;
                    holders.push((member, s["handing_off_to"].is_null()));
                }
            }
        }
        match holders[..] {
            [(i, true)] => Some(i),
            _ => None,
        }
    }

    /// The hub pings member `m`'s care-of address three times (its kernel resolves it
    /// by ND first); asserts every echo came back and the hub has the neighbor entry.
    pub fn hub_pings(&self, m: u16) {
        let hub = self.ns_name("hub");
        let coa = care_of(m).to_string();
        let out = run_limited(
            Command::new("ip").args([
                "netns", "exec", &hub, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", &coa,
            ]),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        println!("hub pings DPDK member {m}: {}", text.trim());
        assert!(
            out.status.success() && text.contains("3 received"),
            "{out:?}"
        );
        let neigh = run("ip", &["-n", &hub, "-6", "neigh", "show", &coa]);
        println!("hub's neighbor entry: {}", neigh.trim());
        assert!(neigh.contains("lladdr"), "the hub resolved {coa}: {neigh}");
    }

    /// GET /metrics of node `i`, from a thread in the hub namespace.
    pub fn metrics(&self, i: u16) -> Option<String> {
        let hub = self.ns_name("hub");
        let addr: SocketAddr = format!("[fd00:99:{i}::2]:9100").parse().unwrap();
        std::thread::spawn(move || -> Option<String> {
            enter(&hub).ok()?;
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
            let mut text = String::new();
            s.read_to_string(&mut text).ok()?;
            text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
        })
        .join()
        .ok()
        .flatten()
    }

    /// The client kernel's counters.
    pub fn nstat(&self) -> BTreeMap<String, u64> {
        nstat(&self.ns_name("cl"))
    }

    /// Moves the lines `vany client` wrote so far to `log`, stamped with the time since
    /// `since`.
    pub fn drain_client_log(&self, since: Instant, log: &mut Vec<(Duration, String)>) {
        if let Some(c) = &self.client {
            log.extend(c.log().into_iter().map(|l| (since.elapsed(), l)));
        }
    }

    /// Node `i`'s log so far.
    pub fn node_log(&self, i: u16) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{i}.log"))).unwrap_or_default()
    }
}

/// Whether a node's `Status` answer lists member `id`.
pub fn lists_member(status: &serde_json::Value, id: u16) -> bool {
    status["members"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m["id"] == id))
}

/// Member `id`'s state and whether it is excluded, in a node's `Status` answer.
pub fn member_state(status: &serde_json::Value, id: u16) -> (String, bool) {
    let m = status["members"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == id))
        .unwrap_or_else(|| panic!("member {id} missing in {status}"));
    (
        m["state"].as_str().unwrap_or("").to_string(),
        m["excluded"].as_bool().unwrap_or(false),
    )
}

/// The value of the sample `name` (with its labels) in a `/metrics` text; 0 if missing.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.split(' ').next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A kernel TCP download of stream `id` from the anycast address in a thread of the
/// client namespace: the thread, its progress in bytes, and whether it is done.
pub fn spawn_download(
    lab: &Lab,
    id: u64,
    length: u64,
    rate: Option<u64>,
    read_timeout: Duration,
    read_rate: Option<u64>,
) -> (JoinHandle<Download>, Arc<AtomicU64>, Arc<AtomicBool>) {
    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (ns, p, dn) = (lab.ns_name("cl"), Arc::clone(&progress), Arc::clone(&done));
    let h = std::thread::spawn(move || {
        let fetch = Fetch {
            to: SocketAddr::V6(SocketAddrV6::new(ANYCAST, 80, 0, 0)),
            id,
            length,
            rate,
            connect_timeout: Duration::from_secs(5),
            read_timeout,
            read_rate,
        };
        let d = kernel_download(&ns, fetch, p);
        dn.store(true, Ordering::Relaxed);
        d
    });
    (h, progress, done)
}

/// The environment variable `name` as a number, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
