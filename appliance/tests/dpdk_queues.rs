//! One DPDK port, several queue pairs, one `DpdkIo` per queue, each driven by its own
//! thread (`DpdkIo::open_queues`), on `net_null` devices:
//!
//! - a queue count the device cannot have (0, or one more than it supports) is refused
//!   with `DpdkError::QueueCount`, which says how many it supports, before any mempool
//!   is made;
//! - two queues of `net_null0`, each `DpdkIo` moved into its own registered thread for a
//!   bounded number of bursts: both queues receive and send, and the port's counters
//!   are the sum of the queues'; back on the main thread, queue 0 is dropped first and
//!   queue 1 still works (the device stays up), then queue 1: every mbuf is back in both
//!   pools;
//! - two queues of `net_null1`, each dropped in its own thread (in whatever order the
//!   threads end): every mbuf back, no crash.
//!
//! The EAL can be initialised once per process: ONE test function. Needs root and a DPDK
//! build; skips with the reason otherwise (fails instead with VANY_TESTS_REQUIRED=1).

mod netns_common;

use netns_common::{is_root, skip};
use vany_appliance::bench::dpdk::common_eal;
use vany_appliance::io::dpdk::{DpdkConfig, DpdkIo};
use vany_appliance::io::{IoError, Ipv6Header, PacketIo};
use vany_ffi::{DpdkError, Eal, Mempool, Port};
use vany_stack::l2::{Gateway, Mac, OwnAddr};

/// Receive/send rounds per thread.
const BURSTS: u64 = 200;
/// Packets sent per round.
const SENDS: u64 = 8;

fn eal_args() -> Vec<String> {
    let mut args = common_eal(&format!("vany-dpdk-queues-{}", std::process::id()), "0");
    args.extend(["--vdev=net_null0", "--vdev=net_null1", "--vdev=net_null2"].map(String::from));
    args
}

/// A 100-byte IPv6 packet (no next header).
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 100];
    Ipv6Header {
        src: "fd00:d8::2".parse().unwrap(),
        dst: "fd00:d8::1".parse().unwrap(),
        next_header: 59,
        hop_limit: 64,
        payload_len: 60,
    }
    .emit(&mut p);
    p
}

fn config(port: &str) -> DpdkConfig {
    let addrs = vec![OwnAddr {
        addr: "fd00:d8::2".parse().unwrap(),
        anycast: false,
    }];
    let mut config = DpdkConfig::new(port, addrs, Gateway::Mac(Mac([2, 0, 0, 0, 0xd8, 1])));
    config.mac = Some(Mac([2, 0, 0, 0, 0xd8, 2]));
    config.mbufs = 1023;
    config
}

/// One queue's thread: registered with DPDK, `BURSTS` rounds of one receive burst and
/// `SENDS` packets sent.
fn drive(eal: Eal, io: &mut DpdkIo) {
    let _lcore = eal.register_thread().expect("register the queue's thread");
    let p = packet();
    for _ in 0..BURSTS {
        // net_null hands out junk frames: layer 2 counts and drops them.
        io.rx_each(64, &mut |_| {}).expect("rx_each");
        for _ in 0..SENDS {
            assert!(io.send(&p).expect("send"));
        }
        io.flush();
    }
}

/// Checks that both queues moved packets, each on its own pool.
fn check_moved(ios: &[DpdkIo]) {
    for io in ios {
        let s = io.stats();
        println!("queue {}: {s:?}", io.queue());
        assert!(s.rx_frames > 0, "queue {} received", io.queue());
        assert_eq!(s.tx_frames, BURSTS * SENDS, "queue {} sent", io.queue());
        assert_eq!(s.tx_dropped, 0);
    }
}

#[test]
fn dpdk_queues_each_on_its_own_thread() {
    if !vany_ffi::BUILT_WITH_DPDK {
        let err = IoError::from(Eal::init(&eal_args()).unwrap_err());
        assert!(matches!(err, IoError::Dpdk(DpdkError::NotBuilt)));
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return skip("DPDK's EAL needs root");
    }
    let eal = Eal::init(&eal_args()).expect("EAL init");
    too_many_queues_refused(&eal);
    drop_on_the_main_thread(&eal);
    drop_on_the_queues_threads(&eal);
    let _ = std::fs::remove_dir_all(format!(
        "/var/run/dpdk/vany-dpdk-queues-{}",
        std::process::id()
    ));
}

/// 0 queues, and one more than `net_null2` supports: the typed error, before any pool.
fn too_many_queues_refused(eal: &Eal) {
    let info = Port::info(eal, "net_null2").expect("net_null2's info");
    let max = info.max_queue_pairs();
    println!(
        "net_null2 supports {max} queue pairs; RSS types {:#x}",
        info.rss_offloads
    );
    assert!(max >= 2, "net_null has several queues");
    let config = config("net_null2");
    let mut asked = vec![0];
    asked.extend(max.checked_add(1));
    for queues in asked {
        let err = DpdkIo::open_queues(eal, &config, queues).unwrap_err();
        println!("{queues} queues: {err}");
        assert!(
            matches!(
                &err,
                IoError::Dpdk(DpdkError::QueueCount { port, asked, max: m })
                    if port == "net_null2" && *asked == queues && *m == max
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&format!("supports 1 to {max}")),
            "{err}"
        );
    }
    // No pool was left behind (the names are free), and the port was not taken.
    let io = DpdkIo::open_queues(eal, &config, 1).expect("one queue of net_null2");
    assert_eq!(io.len(), 1);
    assert_eq!(io[0].mempool().name(), "vany_net_null2");
    assert_eq!(io[0].rss_hash_types(), 0, "no RSS with one queue");
}

/// `net_null0`: threads drive the queues and hand them back; queue 0 goes first.
fn drop_on_the_main_thread(eal: &Eal) {
    let ios = DpdkIo::open_queues(eal, &config("net_null0"), 2).expect("2 queues of net_null0");
    let pools: Vec<Mempool> = ios.iter().map(|io| io.mempool().clone()).collect();
    assert_eq!(
        pools.iter().map(Mempool::name).collect::<Vec<_>>(),
        ["vany_net_null0_q0", "vany_net_null0_q1"]
    );
    assert_eq!(
        ios.iter().map(DpdkIo::queue).collect::<Vec<_>>(),
        [0, 1],
        "queue k at index k"
    );
    // net_null supports RSS: the IPv6 types are on (RTE_ETH_RSS_IPV6 is bit 8).
    let rss = ios[0].rss_hash_types();
    let offloads = Port::info(eal, "net_null0").unwrap().rss_offloads;
    println!("RSS hash types on net_null0: {rss:#x} (supported {offloads:#x})");
    assert!(rss & (1 << 8) != 0 && rss & !offloads == 0, "{rss:#x}");
    let threads: Vec<_> = ios
        .into_iter()
        .map(|mut io| {
            let eal = *eal;
            std::thread::spawn(move || {
                drive(eal, &mut io);
                io
            })
        })
        .collect();
    let mut ios: Vec<DpdkIo> = threads
        .into_iter()
        .map(|t| t.join().expect("queue thread"))
        .collect();
    check_moved(&ios);
    let port = ios[0].port_stats().expect("port stats");
    let (rx, tx): (u64, u64) = ios.iter().fold((0, 0), |(r, t), io| {
        (r + io.stats().rx_frames, t + io.stats().tx_frames)
    });
    println!("port: {port:?}");
    assert_eq!(
        (port.rx_packets, port.tx_packets),
        (rx, tx),
        "port-wide counters"
    );

    // Queue 0 first: the device stays up for queue 1.
    let q0 = ios.remove(0);
    drop(q0);
    let mut q1 = ios.remove(0);
    let before = q1.stats();
    assert!(q1.send(&packet()).unwrap());
    assert_eq!(q1.flush(), 1, "queue 1 sends after queue 0 is gone");
    q1.rx_each(64, &mut |_| {}).unwrap();
    assert!(q1.stats().rx_frames > before.rx_frames, "and receives");
    assert_eq!(q1.port_stats().unwrap().tx_packets, tx + 1);
    drop(q1);
    for pool in &pools {
        assert_eq!(pool.in_use(), 0, "every mbuf of {} back", pool.name());
    }
}

/// `net_null1`: each queue dropped on its own thread, in whatever order they end.
fn drop_on_the_queues_threads(eal: &Eal) {
    let ios = DpdkIo::open_queues(eal, &config("net_null1"), 2).expect("2 queues of net_null1");
    let pools: Vec<Mempool> = ios.iter().map(|io| io.mempool().clone()).collect();
    let threads: Vec<_> = ios
        .into_iter()
        .map(|mut io| {
            let eal = *eal;
            std::thread::spawn(move || {
                drive(eal, &mut io);
                let s = io.stats();
                drop(io);
                s
            })
        })
        .collect();
    for t in threads {
        let s = t.join().expect("queue thread");
        assert!(s.rx_frames > 0 && s.tx_frames == BURSTS * SENDS, "{s:?}");
    }
    for pool in &pools {
        assert_eq!(pool.in_use(), 0, "every mbuf of {} back", pool.name());
    }
}
