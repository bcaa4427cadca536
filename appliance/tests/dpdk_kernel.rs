//! The DPDK backend (io::dpdk) against the Linux kernel as its neighbor on a real link:
//! a `net_af_packet` port on one end of a veth pair, the kernel's IPv6 stack on the other.
//!
//! ```text
//!   namespace D (this test's thread, EAL)        namespace K (the kernel's neighbor)
//!   vd: no kernel IPv6, DPDK net_af_packet0  ──veth──  vk: fd00:d1::1/64
//!   DpdkIo: fd00:d1::2, gateway fd00:d1::1
//! ```
//!
//! In order: vany resolves its gateway (the kernel's address) by neighbor discovery and
//! a UDP datagram it sends reaches a kernel UDP socket, whose answer `rx_each` receives
//! with a correct checksum; the kernel (its neighbor table flushed) resolves vany's
//! address by ND (`ip -6 neigh` shows vany's MAC) and `ping -6 -c 3` gets 3 replies;
//! the kernel's unicast probe of its STALE entry (neighbor unreachability detection) is
//! answered and the entry is REACHABLE again; scapy's hostile solicitations (hop limit
//! 64, a wrong checksum) are dropped and counted; a flood of 5000 solicitations from
//! random sources leaves the neighbor cache at its bound with the gateway still in it,
//! and ping still works.
//!
//! The EAL must run in the namespace of the device it opens and can start once per
//! process: ONE test function, whose thread enters namespace D (`setns`) before
//! `Eal::init` (the EAL's own threads are created by it and inherit the namespace). The
//! kernel side runs as child processes (`ip netns exec`) and in a thread that entered K.
//! Needs root, a DPDK build and scapy (`/usr/bin/python3`); skips with the reason
//! otherwise (fails instead with VANY_TESTS_REQUIRED=1). Every wait is bounded; the
//! namespaces go on drop.

mod netns_common;

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netns_common::veth::{self, RuntimeDir};
use netns_common::{enter, skip, Netns};
use vany_appliance::bench::dpdk::common_eal;
use vany_appliance::io::dpdk::{DpdkConfig, DpdkIo};
use vany_appliance::io::{Ipv6Header, PacketIo};
use vany_ffi::Eal;
use vany_stack::l2::{Counters, Gateway, Mac, NeighborState, OwnAddr};
use vany_stack::wire::checksum::{pseudo_header, upper_layer};

const PREFIX: &str = "vany-dk";
const KERNEL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xd1, 0, 0, 0, 0, 0, 1);
const VANY: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xd1, 0, 0, 0, 0, 0, 2);
const UDP: u8 = 17;
const KERNEL_PORT: u16 = 5555;
const VANY_PORT: u16 = 4000;
/// The neighbor cache bound of ND's default configuration (`NdConfig::new`).
const CACHE_BOUND: usize = 1024;
const FLOOD: usize = 5000;

/// scapy on the kernel side: `IFACE TARGET MODE COUNT` sends COUNT Neighbor Solicitations
/// for TARGET to its solicited-node address. MODE `flood`: each from a random source
/// (address in fd00:d1::/64, MAC, source link-layer option); `hoplimit`: hop limit 64;
/// `checksum`: a wrong ICMPv6 checksum. Prints how many frames it sent.
const SCAPY: &str = r#"
import ipaddress, random, sys
from scapy.all import Ether, IPv6, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, conf, get_if_hwaddr, sendp
conf.verb = 0
iface, target, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rnd = random.Random(1)
low = ipaddress.IPv6Address(target).packed[13:]
sn = str(ipaddress.IPv6Address(bytes.fromhex("ff02" + "00" * 9 + "01ff") + low))
sn_mac = "33:33:ff:" + ":".join("%02x" % b for b in low)
own_mac = get_if_hwaddr(iface)
frames = []
for i in range(count):
    if mode == "flood":
        src = str(ipaddress.IPv6Address((0xfd0000d1 << 96) | rnd.getrandbits(64) | 0x100))
        mac = "02:" + ":".join("%02x" % rnd.getrandbits(8) for _ in range(5))
        f = (Ether(src=mac, dst=sn_mac) / IPv6(src=src, dst=sn, hlim=255)
             / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
    else:
        src = "fd00:d1::1"
        hlim = 64 if mode == "hoplimit" else 255
        f = (Ether(src=own_mac, dst=sn_mac) / IPv6(src=src, dst=sn, hlim=hlim)
             / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=own_mac))
        if mode == "checksum":
            f = Ether(bytes(f))
            f[ICMPv6ND_NS].cksum ^= 0x5555
    frames.append(f)
sendp(frames, iface=iface)
print(len(frames))
"#;

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if let Some(why) = veth::dpdk_skip_reason() {
        return Some(why);
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        return Some("`ethtool` is not installed (Debian: apt-get install ethtool)");
    }
    let scapy = Command::new("/usr/bin/python3")
        .args(["-c", "import scapy.all"])
        .output();
    if !scapy.is_ok_and(|o| o.status.success()) {
        return Some("scapy is not installed (Debian: apt-get install python3-scapy)");
    }
    None
}

/// A UDP datagram in an IPv6 packet, with its checksum.
fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut p = vec![0u8; 40 + udp_len];
    Ipv6Header {
        src,
        dst,
        next_header: UDP,
        hop_limit: 64,
        payload_len: udp_len,
    }
    .emit(&mut p);
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&dport.to_be_bytes());
    p[44..46].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p[48..].copy_from_slice(payload);
    let sum = match upper_layer(&src, &dst, UDP, &p[40..], 6) {
        0 => 0xffff,
        s => s,
    };
    p[46..48].copy_from_slice(&sum.to_be_bytes());
    p
}

/// A UDP datagram received by vany.
#[derive(Debug)]
struct Datagram {
    src: Ipv6Addr,
    payload: Vec<u8>,
    /// The checksum field as received.
    checksum: u16,
    /// What it must be.
    right: u16,
    /// The sum of the pseudo-header alone: what a sender leaves in the field for the NIC
    /// to finish (checksum offload, CHECKSUM_PARTIAL).
    partial: u16,
}

/// A received UDP datagram to vany's port.
fn parse_udp(p: &[u8]) -> Option<Datagram> {
    if p.len() < 48 || p[6] != UDP || p[24..40] != VANY.octets() {
        return None;
    }
    let udp = &p[40..];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if u16::from_be_bytes([udp[2], udp[3]]) != VANY_PORT || udp_len < 8 || udp_len > udp.len() {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).ok()?);
    let right = match upper_layer(&src, &VANY, UDP, &udp[..udp_len], 6) {
        0 => 0xffff,
        s => s,
    };
    Some(Datagram {
        src,
        payload: udp[8..udp_len].to_vec(),
        checksum: u16::from_be_bytes([udp[6], udp[7]]),
        right,
        partial: pseudo_header(&src, &VANY, UDP, udp_len as u32),
    })
}

/// Polls the port (answering ND and echo) until `done` says so or `limit` passes;
/// UDP datagrams to vany's port are collected in `udp`. Returns whether `done` said so.
fn pump(
    io: &mut DpdkIo,
    limit: Duration,
    udp: &mut Vec<Datagram>,
    mut done: impl FnMut(&DpdkIo, &[Datagram]) -> bool,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        io.rx_each(64, &mut |p| udp.extend(parse_udp(p))).unwrap();
        if done(io, udp) {
            return true;
        }
        io.wait(Duration::from_millis(1)).unwrap();
    }
    false
}

/// Pumps while a kernel-side child process runs (at most `limit`); its output.
fn pump_while(io: &mut DpdkIo, mut child: Child, limit: Duration) -> (bool, String) {
    let mut none = Vec::new();
    let exited = pump(io, limit, &mut none, |_, _| {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("child output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (exited && out.status.success(), text)
}

fn spawn(ns: &Netns, args: &[&str]) -> Child {
    ns.command(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn in the kernel namespace")
}

fn ping(io: &mut DpdkIo, k: &Netns) -> (bool, String) {
    let child = spawn(
        k,
        &[
            "ping",
            "-6",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            &VANY.to_string(),
        ],
    );
    pump_while(io, child, Duration::from_secs(15))
}

fn scapy(io: &mut DpdkIo, k: &Netns, mode: &str, count: usize) -> (bool, String) {
    let child = spawn(
        k,
        &[
            "/usr/bin/python3",
            "-c",
            SCAPY,
            "vk",
            &VANY.to_string(),
            mode,
            &count.to_string(),
        ],
    );
    pump_while(io, child, Duration::from_secs(120))
}

/// A MAC as iproute2 and sysfs write it.
fn colons(m: Mac) -> String {
    m.0.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `b - a` of each counter that moved, for the printout.
fn moved(a: &Counters, b: &Counters) -> String {
    let (a, b) = (
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap(),
    );
    let mut out = Vec::new();
    for (k, v) in b.as_object().unwrap() {
        let d = v.as_u64().unwrap_or(0) - a[k].as_u64().unwrap_or(0);
        if d != 0 {
            out.push(format!("{k} +{d}"));
        }
    }
    out.join(", ")
}

#[test]
fn dpdk_io_faces_the_linux_kernel_over_a_veth() {
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let pid = std::process::id();
    // Dropped last: the namespaces outlive the port.
    let (d, k, kernel_mac) = link();
    let mut vany = open_vany(&d, pid, &kernel_mac);
    let io = &mut vany.io;
    udp_both_ways(io, &k, &kernel_mac);
    kernel_resolves_and_pings(io, &k, &vany.mac);
    kernel_probe_answered(io, &k, &vany.mac);
    hostile_nd_counted(io, &k);
    flood_keeps_the_cache_bounded(io, &k);
}

/// vany's port; its EAL runtime directory goes after it.
struct Vany {
    io: DpdkIo,
    mac: String,
    _runtime: RuntimeDir,
}

/// The two namespaces and the veth between them, the kernel's side configured; the
/// kernel's MAC.
fn link() -> (Netns, Netns, String) {
    let addrs = ["fd00:d1::1/64".to_string()];
    veth::link(PREFIX, &addrs, |k| {
        // Veth offloads: a datagram the kernel sends leaves with only the pseudo-header
        // sum in its UDP/TCP checksum (CHECKSUM_PARTIAL, for the "NIC" to finish), and
        // AF_PACKET, hence net_af_packet, hands it to DPDK that way: a wrong checksum on
        // the wire. With transmit checksumming off, the kernel writes the whole checksum.
        k.exec(&["ethtool", "-K", "vk", "tx", "off"]);
    })
}

/// vany's side: the EAL in namespace `d` (this thread enters it) and a DpdkIo on
/// `net_af_packet` over `vd`.
fn open_vany(d: &Netns, pid: u32, kernel_mac: &str) -> Vany {
    // The EAL (and the AF_PACKET socket it opens while probing the vdev) in namespace D.
    enter(&d.name).expect("setns into the DPDK namespace");
    let file_prefix = format!("vany-dk-{pid}");
    let runtime = RuntimeDir(format!("/var/run/dpdk/{file_prefix}"));
    let mut eal_args = common_eal(&file_prefix, "0");
    eal_args.push("--vdev=net_af_packet0,iface=vd".into());
    let eal = Eal::init(&eal_args).expect("EAL init with net_af_packet on vd");
    let addrs = vec![OwnAddr {
        addr: VANY,
        anycast: false,
    }];
    let mut config = DpdkConfig::new("net_af_packet0", addrs, Gateway::Ipv6(KERNEL));
    config.mbufs = 4095;
    let io = DpdkIo::open(&eal, &config).expect("open net_af_packet0");
    let mac = colons(io.mac());
    let vd_mac = d
        .exec(&["cat", "/sys/class/net/vd/address"])
        .trim()
        .to_string();
    assert_eq!(mac, vd_mac, "net_af_packet uses the veth's MAC");
    println!("vany {VANY} at {mac}; kernel {KERNEL} at {kernel_mac}");

    Vany {
        io,
        mac,
        _runtime: runtime,
    }
}

/// vany resolves its gateway (the kernel) by ND; a UDP datagram each way.
fn udp_both_ways(io: &mut DpdkIo, k: &Netns, kernel_mac: &str) {
    // 1. vany resolves its gateway by ND; a UDP datagram each way.
    let (ready_tx, ready_rx) = mpsc::channel();
    let kns = k.name.clone();
    let kernel_udp = std::thread::spawn(move || -> Result<(Vec<u8>, SocketAddr), String> {
        enter(&kns)?;
        let s = UdpSocket::bind(SocketAddrV6::new(KERNEL, KERNEL_PORT, 0, 0))
            .map_err(|e| format!("bind: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let _ = ready_tx.send(());
        let mut buf = [0u8; 2048];
        let (n, from) = s.recv_from(&mut buf).map_err(|e| format!("recv: {e}"))?;
        s.send_to(b"hello from the kernel", from)
            .map_err(|e| format!("send: {e}"))?;
        Ok((buf[..n].to_vec(), from))
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("kernel UDP socket bound");
    let c0 = io.nd_counters();
    let payload = b"hello from vany over DPDK";
    let sent_at = Instant::now();
    assert!(io
        .send(&udp_packet(VANY, KERNEL, VANY_PORT, KERNEL_PORT, payload))
        .unwrap());
    assert_eq!(io.stats().tx_waiting, 1, "the packet waits for resolution");
    let mut udp = Vec::new();
    let answered = pump(io, Duration::from_secs(10), &mut udp, |_, u| !u.is_empty());
    let round_trip = sent_at.elapsed();
    let got = kernel_udp.join().expect("kernel UDP thread");
    let c1 = io.nd_counters();
    println!(
        "UDP both ways after {round_trip:?}; ND: {}",
        moved(&c0, &c1)
    );
    let (got, from) = got.expect("the kernel socket received vany's datagram");
    assert_eq!(got, payload);
    assert_eq!(
        from,
        SocketAddr::V6(SocketAddrV6::new(VANY, VANY_PORT, 0, 0))
    );
    assert!(answered, "vany received the kernel's answer");
    let answer = &udp[0];
    println!("the kernel's datagram as received: {answer:x?}");
    assert_eq!(
        (answer.src, answer.payload.as_slice()),
        (KERNEL, &b"hello from the kernel"[..])
    );
    assert_eq!(
        answer.checksum, answer.right,
        "the kernel's UDP checksum as received (pseudo-header sum alone: {:#06x})",
        answer.partial
    );
    assert!(c1.ns_tx > c0.ns_tx && c1.na_rx > c0.na_rx, "resolved by ND");
    let (state, gw_mac) = io.neighbors().neighbor(KERNEL).expect("gateway cached");
    assert_eq!(state, NeighborState::Reachable);
    assert_eq!(gw_mac.map(colons), Some(kernel_mac.to_string()));
}

/// The kernel, its neighbor table flushed, resolves vany by ND and pings it.
fn kernel_resolves_and_pings(io: &mut DpdkIo, k: &Netns, mac: &str) {
    let c1 = io.nd_counters();
    // 2. The kernel resolves vany by ND (its table flushed first), then pings it.
    k.ip(&["-6", "neigh", "flush", "dev", "vk"]);
    let (ok, out) = ping(io, k);
    let c2 = io.nd_counters();
    println!("ping: {}; ND: {}", out.trim(), moved(&c1, &c2));
    assert!(ok && out.contains("3 received"), "ping: {out}");
    assert_eq!(c2.echo_replies - c1.echo_replies, 3);
    assert!(
        c2.ns_rx > c1.ns_rx && c2.na_tx > c1.na_tx,
        "vany answered the kernel's NS"
    );
    let neigh = k.ip(&["-6", "neigh", "show", &VANY.to_string(), "dev", "vk"]);
    println!("kernel: {}", neigh.trim());
    assert!(neigh.contains(&format!("lladdr {mac}")), "{neigh}");
    assert!(
        ["REACHABLE", "STALE", "DELAY"]
            .iter()
            .any(|s| neigh.contains(s)),
        "{neigh}"
    );
}

/// The kernel's unicast probe of a STALE entry for vany is answered.
fn kernel_probe_answered(io: &mut DpdkIo, k: &Netns, mac: &str) {
    // 2b. Neighbor unreachability detection: the kernel's entry made STALE, a datagram to
    // vany moves it to DELAY, then PROBE (after 1 s here): a unicast NS to vany's MAC,
    // answered. (Not ping: iputils confirms the neighbor with MSG_CONFIRM.)
    k.exec(&[
        "sysctl",
        "-qw",
        "net.ipv6.neigh.vk.delay_first_probe_time=1",
    ]);
    k.ip(&[
        "-6",
        "neigh",
        "change",
        &VANY.to_string(),
        "lladdr",
        mac,
        "dev",
        "vk",
        "nud",
        "stale",
    ]);
    let before = io.nd_counters();
    let send = format!(
        "import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\
         .sendto(b'probe me', ('{VANY}', {VANY_PORT}))"
    );
    let (ok, out) = pump_while(
        io,
        spawn(k, &["/usr/bin/python3", "-c", &send]),
        Duration::from_secs(10),
    );
    assert!(ok, "a datagram to vany: {out}");
    let mut none = Vec::new();
    let mut last_look = Instant::now();
    let mut neigh = String::new();
    let probed = pump(io, Duration::from_secs(10), &mut none, |io, _| {
        if last_look.elapsed() < Duration::from_millis(100) {
            return false;
        }
        last_look = Instant::now();
        neigh = k.ip(&["-6", "neigh", "show", &VANY.to_string(), "dev", "vk"]);
        io.nd_counters().na_tx > before.na_tx && neigh.contains("REACHABLE")
    });
    let after = io.nd_counters();
    println!(
        "kernel's probe of a STALE entry: {}; ND: {}",
        neigh.trim(),
        moved(&before, &after)
    );
    assert!(probed, "the kernel's unicast probe answered: {neigh}");
    assert_eq!(after.ns_rx - before.ns_rx, 1, "one unicast probe");
}

/// NS with hop limit 64 or a wrong checksum: dropped and counted, not answered.
fn hostile_nd_counted(io: &mut DpdkIo, k: &Netns) {
    // 3. Hostile ND: dropped and counted, not answered.
    for (mode, what) in [
        ("hoplimit", "hop limit 64"),
        ("checksum", "a wrong checksum"),
    ] {
        let before = io.nd_counters();
        let (ok, out) = scapy(io, k, mode, 10);
        assert!(ok, "scapy {mode}: {out}");
        let mut none = Vec::new();
        let counted = |c: &Counters| match mode {
            "hoplimit" => c.nd_bad_hop_limit - before.nd_bad_hop_limit,
            _ => c.icmp_bad_checksum - before.icmp_bad_checksum,
        };
        pump(io, Duration::from_secs(5), &mut none, |io, _| {
            counted(&io.nd_counters()) >= 10
        });
        let after = io.nd_counters();
        println!("10 NS with {what}: {}", moved(&before, &after));
        assert_eq!(counted(&after), 10, "NS with {what} counted");
        assert_eq!(after.na_tx, before.na_tx, "NS with {what} not answered");
        assert_eq!(
            after.ns_rx, before.ns_rx,
            "NS with {what} not taken as valid"
        );
    }
}

/// A flood of NS from random sources: the cache stays at its bound, ping still works.
fn flood_keeps_the_cache_bounded(io: &mut DpdkIo, k: &Netns) {
    // 4. A flood of solicitations from random sources: the cache stays at its bound.
    let before = io.nd_counters();
    let flood_started = Instant::now();
    let (ok, out) = scapy(io, k, "flood", FLOOD);
    assert!(ok, "scapy flood: {out}");
    let mut none = Vec::new();
    // Until the last of the flood is in (or 5 s).
    pump(io, Duration::from_secs(5), &mut none, |io, _| {
        io.nd_counters().ns_rx - before.ns_rx >= FLOOD as u64
    });
    let flood_time = flood_started.elapsed();
    let after = io.nd_counters();
    let port = io.port_stats().unwrap();
    println!(
        "flood of {FLOOD} NS in {flood_time:?}: cache {} entries; ND: {}; port {port:?}",
        io.neighbors().cache_len(),
        moved(&before, &after)
    );
    let received = after.ns_rx - before.ns_rx;
    assert!(
        received > 2 * CACHE_BOUND as u64,
        "only {received} of {FLOOD} solicitations reached vany"
    );
    assert_eq!(
        io.neighbors().cache_len(),
        CACHE_BOUND,
        "the cache is at its bound"
    );
    assert!(
        after.cache_evicted + after.cache_full - before.cache_evicted - before.cache_full
            >= received - CACHE_BOUND as u64,
        "every entry past the bound was counted (evicted or refused)"
    );
    assert!(
        io.neighbors().neighbor(KERNEL).is_some(),
        "the gateway stays in the cache"
    );
    let (ok, out) = ping(io, k);
    println!("ping after the flood: {}", out.trim());
    assert!(
        ok && out.contains("3 received"),
        "ping after the flood: {out}"
    );
    assert!(io.neighbors().cache_len() <= CACHE_BOUND);

    let stats = io.stats();
    println!("DpdkIo stats: {stats:?}");
}
