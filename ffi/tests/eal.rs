//! The DPDK binding against the system DPDK, on virtual devices (no NIC, no hugepages):
//! EAL start-up, a second start-up refused, a mempool, a `net_ring` port that loops
//! frames back, a `net_null` port, a `net_ring` port split into one handle per queue,
//! each on its own thread, and every mbuf back in its pool at the end.
//!
//! The EAL can be initialised once per process, so everything runs in ONE test function.
//! Needs root and a DPDK build; skips with the reason otherwise, and fails instead when
//! VANY_TESTS_REQUIRED=1 (as in CI).

use std::os::unix::fs::MetadataExt;

use vany_ffi::{DpdkError, Eal, Mempool, Port, PortConfig, PortQueue, RxBatch, TxBatch};

/// Skips the test (prints why), or fails it when the environment requires every test.
fn skip(why: &str) {
    if std::env::var("VANY_TESTS_REQUIRED").is_ok_and(|v| v == "1") {
        panic!("VANY_TESTS_REQUIRED=1 but this test cannot run: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The EAL arguments of this test process.
fn eal_args() -> Vec<String> {
    [
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--no-shconf",
        "--log-level=lib.eal:error",
        "--vdev=net_ring0",
        "--vdev=net_ring1",
        "--vdev=net_null0",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!(
        "--file-prefix=vany-ffi-test-{}",
        std::process::id()
    )])
    .collect()
}

#[test]
fn dpdk_eal_mempool_ports_and_bursts() {
    if !vany_ffi::BUILT_WITH_DPDK {
        let err = Eal::init(&eal_args()).unwrap_err();
        assert_eq!(err, DpdkError::NotBuilt);
        assert!(err
            .to_string()
            .contains("apt-get install libdpdk-dev pkg-config"));
        return skip("vany-ffi was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return skip("DPDK's EAL needs root");
    }
    let eal = Eal::init(&eal_args()).expect("EAL init");
    // Once per process.
    assert_eq!(
        Eal::init(&eal_args()).unwrap_err(),
        DpdkError::AlreadyInitialized
    );

    let pool = Mempool::new(&eal, "test_pool", 4095, 0).expect("mempool");
    assert_eq!(pool.available(), 4095);
    assert_eq!(pool.max_packet(), 2048);
    // Names are unique.
    assert!(matches!(
        Mempool::new(&eal, "test_pool", 100, 0),
        Err(DpdkError::Mempool { .. })
    ));
    assert!(matches!(
        Port::open(&eal, "net_nonexistent9", &pool, &PortConfig::default()),
        Err(DpdkError::PortNotFound { .. })
    ));

    let config = PortConfig {
        queues: 2,
        rx_ring: 256,
        tx_ring: 256,
        promiscuous: false,
    };
    {
        let mut ring = Port::open(&eal, "net_ring0", &pool, &config).expect("net_ring0");
        assert_eq!(ring.queues(), 2);
        assert!(matches!(
            Port::open(&eal, "net_ring0", &pool, &config),
            Err(DpdkError::PortInUse { .. })
        ));
        let in_rings = pool.in_use();
        // net_ring: what queue q sends, queue q receives.
        let mut tx = TxBatch::new(&pool, 32);
        for i in 0..10u8 {
            let frame = tx.push(60 + usize::from(i)).unwrap().unwrap();
            frame.fill(i);
        }
        assert!(matches!(tx.push(4000), Err(DpdkError::TooLarge { .. })));
        assert_eq!(ring.tx_burst(1, &mut tx), 10);
        assert!(tx.is_empty());
        let mut rx = RxBatch::new(64);
        assert_eq!(ring.rx_burst(0, &mut rx), 0, "queue 0 got queue 1's frames");
        assert_eq!(ring.rx_burst(1, &mut rx), 10);
        for (i, p) in rx.iter().enumerate() {
            assert_eq!(p.len(), 60 + i);
            assert!(p.iter().all(|&b| usize::from(b) == i));
        }
        // Mbufs not sent go back on drop: the batch held 5, none sent.
        assert_eq!(tx.alloc_bulk(5, 100).unwrap(), 5);
        drop(tx);
        drop(rx);
        assert_eq!(pool.in_use(), in_rings);
    }
    // The port is closed: all its mbufs are back.
    assert_eq!(pool.available(), 4095);

    {
        let mut null = Port::open(&eal, "net_null0", &pool, &PortConfig::default()).unwrap();
        let mut tx = TxBatch::new(&pool, 64);
        tx.alloc_bulk(64, 64).unwrap();
        assert_eq!(null.tx_burst(0, &mut tx), 64);
        let mut rx = RxBatch::new(32);
        assert_eq!(null.rx_burst(0, &mut rx), 32);
        assert!(rx.iter().all(|p| p.len() == 64));
        let stats = null.stats().unwrap();
        assert_eq!((stats.rx_packets, stats.tx_packets), (32, 64));
    }
    assert_eq!(pool.available(), 4095);
    per_queue_handles(&eal, &config);
    // EAL leaves its (empty) runtime directory behind.
    let _ = std::fs::remove_dir_all(format!(
        "/var/run/dpdk/vany-ffi-test-{}",
        std::process::id()
    ));
}

/// `net_ring1` with a pool per queue, split into one handle per queue, each bursting on
/// its own thread; the device stays up until the last handle drops.
fn per_queue_handles(eal: &Eal, config: &PortConfig) {
    let pools = [
        Mempool::new(eal, "test_q0", 1023, 0).expect("mempool"),
        Mempool::new(eal, "test_q1", 1023, 0).expect("mempool"),
    ];
    assert!(matches!(
        Port::open_with_pools(eal, "net_ring1", &pools[..1], config),
        Err(DpdkError::BadConfig(_))
    ));
    let max = Port::info(eal, "net_ring1").unwrap().max_queue_pairs();
    let too_many = PortConfig {
        queues: max + 1,
        ..*config
    };
    assert!(matches!(
        Port::open(eal, "net_ring1", &pools[0], &too_many),
        Err(DpdkError::QueueCount { asked, max: m, .. }) if asked == max + 1 && m == max
    ));
    let port = Port::open_with_pools(eal, "net_ring1", &pools, config).expect("net_ring1");
    let queues = port.into_queues();
    assert_eq!(
        queues.iter().map(PortQueue::queue).collect::<Vec<_>>(),
        [0, 1]
    );
    let threads: Vec<_> = queues
        .into_iter()
        .zip(pools.clone())
        .map(|(mut q, pool)| {
            std::thread::spawn(move || {
                let len = 60 + usize::from(q.queue());
                for _ in 0..100 {
                    let mut tx = TxBatch::new(&pool, 16);
                    assert_eq!(tx.alloc_bulk(16, len).unwrap(), 16);
                    assert_eq!(q.tx_burst(&mut tx), 16);
                    let mut rx = RxBatch::new(32);
                    assert_eq!(q.rx_burst(&mut rx), 16, "queue {}", q.queue());
                    assert!(rx.iter().all(|p| p.len() == len));
                }
                q
            })
        })
        .collect();
    let mut queues: Vec<PortQueue> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let stats = queues[0].stats().unwrap();
    assert_eq!((stats.rx_packets, stats.tx_packets), (3200, 3200));
    // Queue 1 goes first: queue 0 still works.
    drop(queues.remove(1));
    let mut q0 = queues.remove(0);
    let mut tx = TxBatch::new(&pools[0], 4);
    tx.alloc_bulk(4, 64).unwrap();
    assert_eq!(q0.tx_burst(&mut tx), 4);
    let mut rx = RxBatch::new(8);
    assert_eq!(q0.rx_burst(&mut rx), 4);
    drop(rx);
    drop(q0);
    for pool in &pools {
        assert_eq!(pool.available(), 1023, "every mbuf of {} back", pool.name());
    }
}
