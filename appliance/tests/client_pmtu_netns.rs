//! Path MTU discovery end to end (issue 10, item 4): an unmodified Linux TCP client
//! behind a 1400-byte middle link downloads from the group through `vany client` while
//! the group moves it, with the router's ICMPv6 Packet Too Big delivered (RFC 8201) or
//! filtered (a black hole: packetization-layer PMTUD, RFC 4821, must find the size).
//!
//! Three network namespaces made by the test (fd00::/8 only):
//!
//! ```text
//!  client ns vany-pmc<pid><t>     router ns vany-pmr<pid><t>        group ns vany-pmg<pid><t>
//!  kernel TCP + vany client        IPv6 forwarding                   TUN <-> this test:
//!  fd00:1::1 ── veth (1500) ─ (1400) fd00:1::2    fd00:2::1 ── veth ── fd00:2::2   3 real `Member`s
//! ```
//!
//! The client's own link is 1500 bytes (its kernel announces MSS 1440), the router's link
//! towards it 1400: the router answers the members' full-sized segments with Packet Too
//! Big, or, with `ptb_filtered`, drops them and its Packet Too Big (nftables in the router
//! namespace). The members run in this process and are pumped through the group TUN as in
//! `client_tun.rs`; the client is moved 1 -> 2 -> 3 during the stream, so each acceptor
//! meets the small link on its own path (its segments go out from its care-of address
//! with a Home Address option).
//!
//! Pass: stream intact, no reset on the kernel socket, two committed handoffs; with
//! Packet Too Big, member 1 took one; filtered, none arrived. Members' counters and the
//! throughput are printed (`-- --nocapture`). `VANY_PMTU_MIB` sets the stream length
//! (default 32 MiB); `VANY_PMTU_LINK_MTU=1500` makes the middle link as large as the
//! others, for a baseline of the same topology (the assertions about Packet Too Big
//! then fail).
//!
//! Needs root (netns, TUN, nftables): otherwise prints "skipped: ..." and passes. Bounded
//! in time; namespaces are deleted by their guards even on failure, and ones left by a
//! crashed earlier run are removed first. The two tests run one after the other.

mod netns_common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant as StdInstant};

use netns_common::tun_group::{Group, KernelDownload};
use netns_common::*;
use vany_appliance::apps::source::expected_sha256;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::group::peer::MemberId;
use vany_appliance::io;

const CLIENT_ADDR: &str = "fd00:1::1";
const ROUTER_CLIENT_ADDR: &str = "fd00:1::2";
const ROUTER_GROUP_ADDR: &str = "fd00:2::1";
const GROUP_ADDR: &str = "fd00:2::2";
const STREAM_ID: u64 = 0x706d_7475;
const MEMBERS: u16 = 3;
const RUN_LIMIT: Duration = Duration::from_secs(150);
/// Moves asked for, at these fractions of the stream.
const MOVES: [(f64, MemberId); 2] = [(0.3, 2), (0.6, 3)];

/// The machine's two cores: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A veth `a` (in `na`, address `addr_a`, MTU `mtu_a`) to `b` (in `nb`).
fn veth(na: &Netns, a: &str, addr_a: &str, mtu_a: u32, nb: &Netns, b: &str, addr_b: &str) {
    run(
        "ip",
        &["link", "add", "name", a, "type", "veth", "peer", "name", b],
    );
    run("ip", &["link", "set", a, "netns", &na.name]);
    run("ip", &["link", "set", b, "netns", &nb.name]);
    for (ns, dev, addr) in [(na, a, addr_a), (nb, b, addr_b)] {
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", dev, "up"]);
        let cidr = format!("{addr}/64");
        ns.ip(&["-6", "addr", "add", &cidr, "dev", dev, "nodad"]);
    }
    na.ip(&["link", "set", a, "mtu", &mtu_a.to_string()]);
}

fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root (network namespaces, TUN devices, nftables)");
    }
    if Command::new("nft").arg("--version").output().is_err() {
        return Some("`nft` is not installed (Debian: apt-get install nftables)");
    }
    None
}

/// What one run saw.
struct Outcome {
    download: Download,
    length: u64,
    /// Per member: (Packet Too Big accepted, ignored).
    ptb: Vec<(u64, u64)>,
    committed: usize,
}

/// The topology, the group, `vany client` and one kernel download with the moves.
fn run_download(tag: &str, ptb_filtered: bool) -> Outcome {
    remove_stale_namespaces(&["vany-pmc", "vany-pmr", "vany-pmg"]);
    let pid = std::process::id();
    let mib: u64 = std::env::var("VANY_PMTU_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let length = mib << 20;
    let client: Ipv6Addr = CLIENT_ADDR.parse().unwrap();
    let started = StdInstant::now();

    let cns = Netns::create(format!("vany-pmc{pid}{tag}"));
    let rns = Netns::create(format!("vany-pmr{pid}{tag}"));
    let gns = Netns::create(format!("vany-pmg{pid}{tag}"));
    let (vrc, vc) = (format!("vpr{pid}{tag}"), format!("vpc{pid}{tag}"));
    let (vrg, vg) = (format!("vps{pid}{tag}"), format!("vpg{pid}{tag}"));
    // The router's side towards the client is the 1400-byte link (`VANY_PMTU_LINK_MTU`
    // for a baseline at 1500).
    let link_mtu: u32 = std::env::var("VANY_PMTU_LINK_MTU")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1400);
    veth(
        &rns,
        &vrc,
        ROUTER_CLIENT_ADDR,
        link_mtu,
        &cns,
        &vc,
        CLIENT_ADDR,
    );
    veth(&rns, &vrg, ROUTER_GROUP_ADDR, 1500, &gns, &vg, GROUP_ADDR);
    rns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    gns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    cns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        ROUTER_CLIENT_ADDR,
        "dev",
        &vc,
    ]);
    gns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        ROUTER_GROUP_ADDR,
        "dev",
        &vg,
    ]);
    if ptb_filtered {
        rns.exec(&["nft", "add", "table", "ip6", "pmtu"]);
        rns.exec(&[
            "nft",
            "add chain ip6 pmtu out { type filter hook output priority 0 ; }",
        ]);
        rns.exec(&[
            "nft",
            "add rule ip6 pmtu out icmpv6 type packet-too-big drop",
        ]);
    }

    let tun = io::open(&format!("vpt{pid}{tag}")).unwrap_or_else(|e| panic!("{e}"));
    let dev = tun.name().to_string();
    run("ip", &["link", "set", &dev, "netns", &gns.name]);
    gns.ip(&["link", "set", &dev, "up"]);
    gns.ip(&["-6", "route", "add", "fd00:a::/64", "dev", &dev]);
    rns.ip(&["-6", "route", "add", "fd00:a::/64", "via", GROUP_ADDR]);
    let addrs: BTreeMap<MemberId, Ipv6Addr> = (1..=MEMBERS)
        .map(|id| (id, Ipv6Addr::new(0xfd00, 0x10 + id - 1, 0, 0, 0, 0, 0, 1)))
        .collect();
    for a in addrs.values() {
        let r = format!("{a}/128");
        gns.ip(&["-6", "route", "add", &r, "dev", &dev]);
        rns.ip(&["-6", "route", "add", &r, "via", GROUP_ADDR]);
    }

    let mut vany = VanyClient::spawn(&cns.name, &["--anycast", "fd00:a::/64", "--tun", "vpn%d"]);
    let ready = vany.wait_ready(Duration::from_secs(20));
    println!("vany client: {ready}");

    let mut group = Group::demo(&addrs, tun, 2000);
    let download = KernelDownload::start(&cns.name, STREAM_ID, length);
    let limit = RUN_LIMIT.saturating_sub(started.elapsed());
    group.run_download(&download, client, &MOVES, limit, String::new);
    let download = download.join();
    let mut buf = vec![0u8; io::MAX_PACKET];
    group.run_for(&mut buf, Duration::from_millis(300));
    let _ = vany.stop();
    let committed = group
        .members
        .iter()
        .flat_map(|m| m.handoffs().to_vec())
        .filter(|h| h.outcome == HandoffOutcome::Committed)
        .count();
    let ptb: Vec<(u64, u64)> = group
        .members
        .iter()
        .map(|m| (m.stats().ptb_accepted, m.stats().ptb_ignored))
        .collect();
    println!("download: {download:?}");
    println!("members' Packet Too Big (accepted, ignored): {ptb:?}");
    let mib_s = download.bytes as f64 / (1u64 << 20) as f64 / download.elapsed.as_secs_f64();
    println!(
        "{:.1} MiB in {:.2} s ({mib_s:.1} MiB/s), {committed} handoffs committed",
        download.bytes as f64 / (1u64 << 20) as f64,
        download.elapsed.as_secs_f64(),
    );
    drop(vany);
    drop(group);
    Outcome {
        download,
        length,
        ptb,
        committed,
    }
}

fn assert_intact(o: &Outcome) {
    assert_eq!(o.download.error, None, "the kernel socket failed");
    assert_eq!(o.download.mismatch, None, "a wrong byte");
    assert_eq!(o.download.bytes, o.length, "bytes received");
    assert_eq!(
        o.download.sha256,
        hex::encode(expected_sha256(STREAM_ID, o.length)),
        "SHA-256 of the stream"
    );
    assert_eq!(o.committed, MOVES.len(), "committed handoffs");
}

#[test]
fn kernel_client_behind_a_1400_byte_link_with_packet_too_big() {
    if let Some(why) = skip_reason() {
        skip(why);
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let o = run_download("p", false);
    assert_intact(&o);
    assert!(
        o.ptb[0].0 >= 1,
        "member 1 took no Packet Too Big: {:?}",
        o.ptb
    );
}

#[test]
fn kernel_client_behind_a_1400_byte_black_hole() {
    if let Some(why) = skip_reason() {
        skip(why);
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let o = run_download("b", true);
    assert_intact(&o);
    assert!(o.ptb.iter().all(|p| *p == (0, 0)), "{:?}", o.ptb);
}
