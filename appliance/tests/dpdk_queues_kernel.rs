//! Two queue pairs of one DPDK port, each driven by its own thread, against the Linux
//! kernel on a veth: a `net_af_packet` port with `qpairs=2` (two AF_PACKET sockets in
//! one fanout group: the kernel spreads frames over them by flow hash).
//!
//! ```text
//!   namespace D (EAL; queue threads)               namespace K (the kernel)
//!   vd: no kernel IPv6, net_af_packet0,qpairs=2  ──veth──  vk: fd00:d2::1/64,
//!   DpdkIo queue 0 and queue 1: fd00:d2::2                     fd00:d2::1:0-f (sources)
//! ```
//!
//! In order: 3 queues are refused (the device has 2; the error says so); the kernel,
//! its neighbor table flushed before each of 4 rounds, resolves vany's address by ND
//! from a different source address each round and `ping -6 -c 3` gets 3 replies each
//! time, answered from whichever queue the solicitation and the echo requests arrived
//! on; the kernel sends 2000 UDP datagrams from 64 sockets on 16 addresses: both queues
//! receive some, and together at least 90 % (the losses, if any, are printed); every
//! mbuf is back in both pools once both queues are dropped.
//!
//! vany sends to the kernel's MAC (a static gateway): a queue resolving the gateway by ND
//! could see the kernel's answer land on the other queue (the flow hash decides).
//!
//! The EAL must run in the namespace of the device it opens and can start once per
//! process: ONE test function, whose thread enters namespace D before `Eal::init`. The
//! kernel side runs as child processes (`ip netns exec`). Needs root and a DPDK build;
//! skips with the reason otherwise (fails instead with VANY_TESTS_REQUIRED=1). Every
//! loop and wait is bounded; the namespaces go on drop.

mod netns_common;

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netns_common::veth::{self, RuntimeDir};
use netns_common::{enter, run_limited, skip, Netns};
use vany_appliance::bench::dpdk::common_eal;
use vany_appliance::io::dpdk::{DpdkConfig, DpdkIo};
use vany_appliance::io::{IoError, PacketIo};
use vany_ffi::{DpdkError, Eal, Mempool};
use vany_stack::l2::{Gateway, Mac, OwnAddr};

const PREFIX: &str = "vany-dq";
const VANY: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xd2, 0, 0, 0, 0, 0, 2);
const VANY_PORT: u16 = 4000;
const UDP: u8 = 17;
/// Datagrams the kernel sends.
const SENT: u64 = 2000;
/// Source addresses (fd00:d2::1:0 to fd00:d2::1:f) and sockets on each.
const SOURCES: u16 = 16;
const SOCKETS_PER_SOURCE: u16 = 4;
/// Ping rounds, each from its own source address after a neighbor table flush.
const PINGS: u16 = 4;

/// The kernel's sender: `DST PORT COUNT SOURCES PER` sends COUNT datagrams round-robin
/// from SOURCES*PER sockets (PER on each of fd00:d2::1:0..), 1 ms pause every 20; prints
/// how many it sent.
const SENDER: &str = r#"
import socket, sys, time
dst, port, count, nsrc, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
socks = []
for a in range(nsrc):
    for _ in range(per):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("fd00:d2::1:%x" % a, 0))
        socks.append(s)
sent = 0
for i in range(count):
    socks[i % len(socks)].sendto(b"vany queues %d" % i, (dst, port))
    sent += 1
    if i % 20 == 19:
        time.sleep(0.001)
print(sent)
"#;

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if let Some(why) = veth::dpdk_skip_reason() {
        return Some(why);
    }
    let python = std::process::Command::new("/usr/bin/python3")
        .arg("--version")
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        return Some("/usr/bin/python3 is not installed (the kernel side's sender)");
    }
    None
}

/// Whether `p` is a UDP datagram to vany's test port.
fn is_test_datagram(p: &[u8]) -> bool {
    p.len() >= 48
        && p[6] == UDP
        && p[24..40] == VANY.octets()
        && u16::from_be_bytes([p[42], p[43]]) == VANY_PORT
}

/// One queue's thread: registered with DPDK, polls (answering ND and echo, counting test
/// datagrams in `got`) until `stop` or 120 s; hands the queue back.
fn poller(eal: Eal, mut io: DpdkIo, stop: Arc<AtomicBool>, got: Arc<AtomicU64>) -> DpdkIo {
    let _lcore = eal.register_thread().expect("register the queue's thread");
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(120) {
        let mut n = 0;
        io.rx_each(64, &mut |p| n += u64::from(is_test_datagram(p)))
            .expect("rx_each");
        got.fetch_add(n, Ordering::Relaxed);
        io.wait(Duration::from_millis(1)).expect("wait");
    }
    io.flush();
    io
}

#[test]
fn dpdk_queues_share_a_veth_with_the_kernel() {
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let pid = std::process::id();
    // Dropped last: the namespaces outlive the port.
    let (d, k, kernel_mac) = link();
    enter(&d.name).expect("setns into the DPDK namespace");
    let file_prefix = format!("vany-dq-{pid}");
    let _runtime = RuntimeDir(format!("/var/run/dpdk/{file_prefix}"));
    let mut eal_args = common_eal(&file_prefix, "0");
    eal_args.push("--vdev=net_af_packet0,iface=vd,qpairs=2".into());
    let eal = Eal::init(&eal_args).expect("EAL init with net_af_packet on vd");
    let addrs = vec![OwnAddr {
        addr: VANY,
        anycast: false,
    }];
    let mut config = DpdkConfig::new("net_af_packet0", addrs, Gateway::Mac(kernel_mac));
    config.mbufs = 2047;

    let err = DpdkIo::open_queues(&eal, &config, 3).unwrap_err();
    println!("3 queues: {err}");
    assert!(
        matches!(
            err,
            IoError::Dpdk(DpdkError::QueueCount {
                asked: 3,
                max: 2,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("supports 1 to 2"), "{err}");

    let ios = DpdkIo::open_queues(&eal, &config, 2).expect("2 queues of net_af_packet0");
    let pools: Vec<Mempool> = ios.iter().map(|io| io.mempool().clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let got: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let threads: Vec<JoinHandle<DpdkIo>> = ios
        .into_iter()
        .zip(&got)
        .map(|(io, got)| {
            let (stop, got) = (Arc::clone(&stop), Arc::clone(got));
            std::thread::spawn(move || poller(eal, io, stop, got))
        })
        .collect();

    let pinged = pings(&k);
    let sent = udp_flood(&k, &got);
    stop.store(true, Ordering::Relaxed);
    let ios: Vec<DpdkIo> = threads
        .into_iter()
        .map(|t| t.join().expect("queue thread"))
        .collect();
    let port = ios[0].port_stats().expect("port stats");
    println!("port: {port:?}");
    let mut replies = 0;
    let mut na_tx = 0;
    for (io, got) in ios.iter().zip(&got) {
        let nd = io.nd_counters();
        println!(
            "queue {}: {} test datagrams, ND: ns_rx {} na_tx {} echo_replies {}; {:?}",
            io.queue(),
            got.load(Ordering::Relaxed),
            nd.ns_rx,
            nd.na_tx,
            nd.echo_replies,
            io.stats()
        );
        replies += nd.echo_replies;
        na_tx += nd.na_tx;
    }
    let per_queue: Vec<u64> = got.iter().map(|g| g.load(Ordering::Relaxed)).collect();
    let total: u64 = per_queue.iter().sum();
    println!(
        "{total} of {sent} datagrams received ({} lost; port rx_missed {})",
        sent.saturating_sub(total),
        port.rx_missed
    );
    assert!(pinged.iter().all(|&ok| ok), "every ping round: {pinged:?}");
    assert_eq!(replies, 3 * u64::from(PINGS), "echo replies, all queues");
    assert!(
        na_tx >= u64::from(PINGS),
        "each flushed round's solicitation answered"
    );
    assert_eq!(sent, SENT, "the kernel sent every datagram");
    assert!(total <= sent, "{total} > {sent}");
    assert!(total * 10 >= sent * 9, "only {total} of {sent} received");
    assert!(
        per_queue.iter().all(|&n| n > 0),
        "both queues received: {per_queue:?}"
    );

    drop(ios);
    for pool in &pools {
        assert_eq!(pool.in_use(), 0, "every mbuf of {} back", pool.name());
    }
}

/// The two namespaces and the veth between them, the kernel's side configured; the
/// kernel's MAC.
fn link() -> (Netns, Netns, Mac) {
    let mut addrs = vec!["fd00:d2::1/64".to_string()];
    addrs.extend((0..SOURCES).map(|a| format!("fd00:d2::1:{a:x}/64")));
    let (d, k, text) = veth::link(PREFIX, &addrs, |_| {});
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(text.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("a MAC from sysfs");
    }
    (d, k, Mac(mac))
}

/// `PINGS` rounds: the kernel's neighbor table flushed, then `ping -6 -c 3` from source
/// fd00:d2::1:<round> (a new solicitation each round, from a new source). Whether each
/// got its 3 replies.
fn pings(k: &Netns) -> Vec<bool> {
    (0..PINGS)
        .map(|round| {
            k.ip(&["-6", "neigh", "flush", "dev", "vk"]);
            let src = format!("fd00:d2::1:{round:x}");
            let out = run_limited(
                k.command("ping").args([
                    "-6",
                    "-c",
                    "3",
                    "-i",
                    "0.2",
                    "-W",
                    "2",
                    "-I",
                    &src,
                    &VANY.to_string(),
                ]),
                Duration::from_secs(20),
            );
            let text = String::from_utf8_lossy(&out.stdout);
            println!("ping from {src}: {}", text.trim());
            out.status.success() && text.contains("3 received")
        })
        .collect()
}

/// The kernel sends `SENT` datagrams to vany from many sources; waits (at most 10 s
/// after the sender ends) until the queues counted them all. How many it sent.
fn udp_flood(k: &Netns, got: &[Arc<AtomicU64>]) -> u64 {
    let out = run_limited(
        k.command("/usr/bin/python3").args([
            "-c",
            SENDER,
            &VANY.to_string(),
            &VANY_PORT.to_string(),
            &SENT.to_string(),
            &SOURCES.to_string(),
            &SOCKETS_PER_SOURCE.to_string(),
        ]),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sender: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: u64 = text.trim().parse().expect("the sender's count");
    let start = Instant::now();
    let total = || got.iter().map(|g| g.load(Ordering::Relaxed)).sum::<u64>();
    while total() < sent && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    sent
}
