//! `vany client` end to end: an unmodified Linux TCP client follows live handoffs
//! between real group members.
//!
//! Two network namespaces made by the test (fd00::/8 only), joined by a veth pair:
//!
//! ```text
//!  client ns  vany-clc<pid>                          group ns  vany-clg<pid>
//!  ┌──────────────────────────────────┐              ┌──────────────────────────────────────┐
//!  │ kernel TCP (std TcpStream, in a  │  fd00:1::1   │ fd00:1::2, IPv6 forwarding            │
//!  │ thread moved into the namespace) │──── veth ────│ routes: fd00:a::/64 (anycast) and     │
//!  │ vany client (the built binary):  │              │ fd00:10..12::1 (care-of) -> TUN       │
//!  │ fd00:a::/64 -> its TUN           │              │ TUN <-> this test: 3 real `Member`s   │
//!  └──────────────────────────────────┘              └──────────────────────────────────────┘
//! ```
//!
//! The test pumps the group TUN: a packet goes to the member that owns its destination
//! (the anycast address to the contact node, member 1), members' output to another
//! member is looped back inside, the rest is written to the TUN. The kernel client asks
//! the `source` app for a stream (its first 24 bytes) and checks every byte as it comes
//! (bytes are a pure function of the stream id) and the SHA-256 at the end. While it
//! downloads, the test moves the client by hand 1 -> 2 -> 3 -> 1 -> 2: each acceptor
//! sends a BU from its care-of address, `vany client` binds, and the stream goes on via
//! HAO / RH2 translation.
//!
//! Pass: stream intact, no reset on the kernel socket, at least 3 committed handoffs,
//! no ICMPv6 Parameter Problem (or unknown protocol) from the client kernel, i.e. no
//! HAO/MH packet reached it, and the nftables table gone after `vany client` exits. The
//! client kernel's TCP counters (`nstat`) are printed
//! (`cargo test -p vany-appliance --test client_tun -- --nocapture`).
//!
//! Needs root (netns, TUN, nftables): otherwise prints "skipped: ..." and passes; also
//! skipped when `nft` is not installed. `VANY_CLIENT_MIB` sets the stream length
//! (default 48 MiB). `VANY_CLIENT_NEGATIVE_CONTROL=1` deletes `vany client`'s nftables
//! table once it is up, to show that the counter check then fails.

mod netns_common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant as StdInstant};

use netns_common::tun_group::{Group, KernelDownload};
use netns_common::*;
use vany_appliance::apps::source::expected_sha256;
use vany_appliance::group::member::HandoffOutcome;
use vany_appliance::group::peer::MemberId;
use vany_appliance::io;

const CLIENT_ADDR: &str = "fd00:1::1";
const GROUP_LINK_ADDR: &str = "fd00:1::2";
const STREAM_ID: u64 = 0x7675_6e79;
const MEMBERS: u16 = 3;
/// The whole run must end within this.
const RUN_LIMIT: Duration = Duration::from_secs(150);
/// Moves asked for, at these fractions of the stream.
const MOVES: [(f64, MemberId); 4] = [(0.12, 2), (0.32, 3), (0.52, 1), (0.72, 2)];

/// Client-kernel counters printed; the first group must not move.
const MUST_STAY_ZERO: &[&str] = &[
    "Icmp6OutParmProblems",
    "Ip6InUnknownProtos",
    "Ip6InHdrErrors",
    "TcpEstabResets",
    "TcpOutRsts",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnTimeout",
];
const REPORTED: &[&str] = &[
    "Icmp6OutMsgs",
    "Icmp6OutErrors",
    "Icmp6InErrors",
    "Ip6InReceives",
    "Ip6OutRequests",
    "Ip6InDiscards",
    "TcpActiveOpens",
    "TcpInSegs",
    "TcpOutSegs",
    "TcpRetransSegs",
    "TcpInErrs",
    "TcpExtTCPTimeouts",
    "TcpExtTCPLossProbes",
    "TcpExtTCPFastRetrans",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPDSACKRecv",
    "TcpExtTCPDSACKOldSent",
    "TcpExtTCPOFOQueue",
    "TcpExtPAWSEstab",
    "TcpExtTCPSpuriousRTOs",
];

#[test]
fn kernel_tcp_client_follows_handoffs_through_vany_client() {
    if !is_root() {
        skip("needs root (network namespaces, TUN devices, nftables)");
        return;
    }
    if Command::new("nft").arg("--version").output().is_err() {
        skip("`nft` is not installed (Debian: apt-get install nftables)");
        return;
    }
    remove_stale_namespaces(&["vany-clc", "vany-clg"]);
    let started = StdInstant::now();
    let pid = std::process::id();
    let mib: u64 = std::env::var("VANY_CLIENT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let length = mib << 20;
    let client: Ipv6Addr = CLIENT_ADDR.parse().unwrap();

    // Namespaces and the veth between them.
    let cns = Netns::create(format!("vany-clc{pid}"));
    let gns = Netns::create(format!("vany-clg{pid}"));
    let (vc, vg) = (format!("vcc{pid}"), format!("vcg{pid}"));
    run(
        "ip",
        &["link", "add", &vc, "type", "veth", "peer", "name", &vg],
    );
    run("ip", &["link", "set", &vc, "netns", &cns.name]);
    run("ip", &["link", "set", &vg, "netns", &gns.name]);
    for (ns, dev, addr) in [(&cns, &vc, CLIENT_ADDR), (&gns, &vg, GROUP_LINK_ADDR)] {
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", dev, "up"]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            dev,
            "nodad",
        ]);
    }
    cns.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        GROUP_LINK_ADDR,
        "dev",
        &vc,
    ]);
    gns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);

    // The group's TUN in the group namespace, routes for the anycast and care-of
    // addresses into it.
    let tun = io::open(&format!("vct{pid}")).unwrap_or_else(|e| panic!("{e}"));
    let dev = tun.name().to_string();
    run("ip", &["link", "set", &dev, "netns", &gns.name]);
    gns.ip(&["link", "set", &dev, "up"]);
    gns.ip(&["-6", "route", "add", "fd00:a::/64", "dev", &dev]);
    let addrs: BTreeMap<MemberId, Ipv6Addr> = (1..=MEMBERS)
        .map(|id| (id, Ipv6Addr::new(0xfd00, 0x10 + id - 1, 0, 0, 0, 0, 0, 1)))
        .collect();
    for a in addrs.values() {
        gns.ip(&["-6", "route", "add", &format!("{a}/128"), "dev", &dev]);
    }

    let before = cns.nstat();
    let mut vany = VanyClient::spawn(
        &cns.name,
        &["--anycast", "fd00:a::/64", "--tun", "vcn%d", "--verbose"],
    );
    let ready = vany.wait_ready(Duration::from_secs(20));
    println!("vany client: {ready}");
    if std::env::var_os("VANY_CLIENT_NEGATIVE_CONTROL").is_some() {
        // The check must be able to fail: without the filter the kernel sees HAO and MH.
        println!("negative control: deleting vany client's nftables table");
        cns.exec(&[
            "nft",
            "delete",
            "table",
            "ip6",
            &format!("vany_client_{vc}"),
        ]);
    }

    let mut group = Group::demo(&addrs, tun, 1000);
    let download = KernelDownload::start(&cns.name, STREAM_ID, length);
    let limit = RUN_LIMIT.saturating_sub(started.elapsed());
    let (moves_asked, rounds) = group.run_download(&download, client, &MOVES, limit, || {
        format!("vany client log: {:?}", vany.log())
    });
    let download = download.join();
    // Let the last handoff's commit and the client's FIN-ACK settle.
    let mut buf = vec![0u8; io::MAX_PACKET];
    group.run_for(&mut buf, Duration::from_millis(500));
    let report = vany.stop().expect("vany client's report");
    let log = vany.log();
    let after = cns.nstat();
    let tables = cns.exec(&["nft", "list", "tables"]);

    println!("download: {download:?}");
    println!(
        "group: {rounds} rounds, {} packets from the TUN, {} to it, {} between members",
        group.from_tun, group.to_tun, group.internal
    );
    let handoffs: Vec<_> = group
        .members
        .iter()
        .flat_map(|m| m.handoffs().to_vec())
        .collect();
    for h in &handoffs {
        println!(
            "handoff {} -> {}: {:?}, snapshot {} bytes, restored after {:?}, committed after {:?}",
            h.from,
            h.to,
            h.outcome,
            h.snapshot_bytes,
            h.restored.map(|t| t.saturating_since(h.started)),
            h.committed.map(|t| t.saturating_since(h.started))
        );
    }
    println!("vany client log:");
    for l in &log {
        println!("  {l}");
    }
    println!("vany client report: {report}");
    println!("client kernel counters (nstat -az in {}):", cns.name);
    for name in MUST_STAY_ZERO.iter().chain(REPORTED) {
        let b = before.get(*name).copied().unwrap_or(0);
        let a = after.get(*name).copied().unwrap_or(0);
        println!("  {name:<26} {:>10}", a as i128 - b as i128);
    }
    let mib_s = download.bytes as f64 / (1u64 << 20) as f64 / download.elapsed.as_secs_f64();
    println!(
        "{:.1} MiB in {:.2} s ({mib_s:.1} MiB/s); whole run {:.1} s",
        download.bytes as f64 / (1u64 << 20) as f64,
        download.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    assert_eq!(download.error, None, "the kernel socket failed");
    assert_eq!(download.mismatch, None, "a wrong byte");
    assert_eq!(download.bytes, length, "bytes received");
    assert_eq!(
        download.sha256,
        hex::encode(expected_sha256(STREAM_ID, length)),
        "SHA-256 of the stream"
    );
    let committed = handoffs
        .iter()
        .filter(|h| h.outcome == HandoffOutcome::Committed)
        .count();
    assert!(
        committed >= 3,
        "only {committed} committed handoffs (asked {moves_asked:?})"
    );
    let bu_accepted = report["cn"]["bu_accepted"].as_u64().unwrap_or(0);
    assert!(bu_accepted >= 3, "vany client accepted {bu_accepted} BUs");
    assert!(
        report["translate"]["in_hao_translated"]
            .as_u64()
            .unwrap_or(0)
            > 0
            && report["translate"]["out_via_binding"].as_u64().unwrap_or(0) > 0,
        "no traffic went through a binding"
    );
    for name in MUST_STAY_ZERO {
        let b = before.get(*name).copied().unwrap_or(0);
        let a = after.get(*name).copied().unwrap_or(0);
        assert_eq!(a, b, "client kernel counter {name} moved");
    }
    assert!(
        !tables.contains("vany_client"),
        "the nftables table outlived vany client: {tables}"
    );
    drop(vany);
    drop(group);
    drop(gns);
    drop(cns);
}
