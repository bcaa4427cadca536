//! The DPDK `PacketIo` backend (io::dpdk) on virtual devices: IPv6 packets sent on a
//! `net_ring` port (which loops frames back) come back byte for byte behind Ethernet II;
//! bursts, oversized packets, wait, and every mbuf back in the pool; a `net_null` port's
//! junk frames are counted and dropped without holding the caller; packets built in
//! lent mbufs (`send_with`) and read in place (`rx_each`).
//!
//! The EAL can be initialised once per process: ONE test function. Needs root and a
//! DPDK build; skips with the reason otherwise (fails instead with VANY_TESTS_REQUIRED=1).

mod netns_common;

use std::time::Duration;

use netns_common::{is_root, skip};
use vany_appliance::bench::dpdk::common_eal;
use vany_appliance::io::dpdk::{DpdkConfig, DpdkIo, ETHERNET_HEADER_LEN};
use vany_appliance::io::{Batch, IoError, Ipv6Header, Lent, PacketIo};
use vany_ffi::{DpdkError, Eal};
use vany_stack::l2::{Gateway, Mac, OwnAddr};

fn eal_args() -> Vec<String> {
    let mut args = common_eal(&format!("vany-dpdk-io-{}", std::process::id()), "0");
    args.extend(["--vdev=net_ring0", "--vdev=net_ring1", "--vdev=net_null0"].map(String::from));
    args
}

/// An IPv6 packet (no next header) of `len` bytes whose payload bytes are `seed + i`.
fn packet(len: usize, seed: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    Ipv6Header {
        src: "fd00:d9::1".parse().unwrap(),
        dst: "fd00:d9::2".parse().unwrap(),
        next_header: 59,
        hop_limit: 64,
        payload_len: len - 40,
    }
    .emit(&mut p);
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    p
}

/// Cuts `by` bytes off the end of IPv6 packet `p` (fixing its payload length); returns
/// its new length.
fn shorten(p: &mut [u8], by: usize) -> usize {
    let len = p.len() - by;
    let payload = (len - 40) as u16;
    p[4..6].copy_from_slice(&payload.to_be_bytes());
    len
}

#[test]
fn dpdk_backend_on_net_ring_and_net_null() {
    if !vany_ffi::BUILT_WITH_DPDK {
        let err = IoError::from(Eal::init(&eal_args()).unwrap_err());
        assert!(matches!(err, IoError::Dpdk(DpdkError::NotBuilt)));
        assert!(err.to_string().contains("apt-get install libdpdk-dev"));
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return skip("DPDK's EAL needs root");
    }
    let eal = Eal::init(&eal_args()).expect("EAL init");
    // net_ring loops frames back: we are our own next hop.
    let mac = Mac([0x02, 0, 0, 0, 0xd9, 1]);
    let addrs = vec![OwnAddr {
        addr: "fd00:d9::2".parse().unwrap(),
        anycast: false,
    }];
    let mut config = DpdkConfig::new("net_ring0", addrs.clone(), Gateway::Mac(mac));
    config.mac = Some(mac);
    config.mbufs = 1023;
    let mut io = DpdkIo::open(&eal, &config).expect("net_ring0");
    assert_eq!(io.max_packet(), 2048 - ETHERNET_HEADER_LEN);
    let mbufs = io.mbufs_available();
    assert_eq!(mbufs, 1023);

    // One by one, each size, back byte for byte.
    let mut buf = vec![0u8; 4096];
    for (i, len) in [40, 41, 200, 1500, 2034].into_iter().enumerate() {
        let p = packet(len, i as u8);
        assert!(io.send(&p).unwrap());
        let n = io.recv(&mut buf).unwrap().expect("looped back");
        assert_eq!(&buf[..n], &p[..], "packet of {len} bytes");
    }
    assert!(io.recv(&mut buf).unwrap().is_none());
    assert!(matches!(
        io.send(&packet(2035, 0)),
        Err(IoError::TooLarge {
            len: 2035,
            max: 2034
        })
    ));
    // A short buffer truncates (and counts).
    io.send(&packet(300, 9)).unwrap();
    let mut short = [0u8; 100];
    assert_eq!(io.recv(&mut short).unwrap(), Some(100));
    assert_eq!(io.stats().rx_truncated, 1);

    // Bursts: 100 packets through a 64-frame staging batch, read back in order.
    let packets: Vec<Vec<u8>> = (0..100).map(|i| packet(60 + i, i as u8)).collect();
    let report = io.tx_burst(&packets).unwrap();
    assert_eq!((report.sent, report.dropped), (100, 0));
    assert_eq!(report.bytes, packets.iter().map(Vec::len).sum::<usize>());
    let mut batch = Batch::new(32, 2048);
    let mut got = Vec::new();
    for _ in 0..20 {
        io.wait(Duration::from_millis(5)).unwrap();
        io.rx_burst(&mut batch).unwrap();
        got.extend(batch.iter().map(<[u8]>::to_vec));
        if got.len() >= packets.len() {
            break;
        }
    }
    assert!(
        got == packets,
        "got {} of {} packets",
        got.len(),
        packets.len()
    );
    // Idle: wait returns by its timeout.
    io.wait(Duration::from_millis(2)).unwrap();
    assert!(io.recv(&mut buf).unwrap().is_none());
    let stats = io.stats();
    assert_eq!((stats.tx_frames, stats.rx_packets), (106, 106));
    // Ethernet headers included.
    assert_eq!(stats.tx_bytes, 3815 + 300 + report.bytes as u64 + 106 * 14);
    assert_eq!(stats.tx_dropped + stats.rx_dropped + stats.rx_l2, 0);

    // In place: packets built in lent mbufs, read back where the device put them.
    for round in 0..3u8 {
        for i in 0..40usize {
            let p = packet(40 + i * 37, round.wrapping_add(i as u8));
            let lent = io
                .send_with(&mut |buf| {
                    buf[..p.len()].copy_from_slice(&p);
                    p.len()
                })
                .unwrap();
            assert_eq!(lent, Lent::Sent(p.len()));
        }
        // Building nothing sends nothing.
        assert_eq!(io.send_with(&mut |_| 0).unwrap(), Lent::Empty);
        io.flush();
        let mut seen = Vec::new();
        for _ in 0..20 {
            io.wait(Duration::from_millis(5)).unwrap();
            io.rx_each(16, &mut |p| seen.push(p.to_vec())).unwrap();
            if seen.len() >= 40 {
                break;
            }
        }
        let want: Vec<Vec<u8>> = (0..40usize)
            .map(|i| packet(40 + i * 37, round.wrapping_add(i as u8)))
            .collect();
        assert!(seen == want, "round {round}: {} of 40 packets", seen.len());
    }
    // Every mbuf is back.
    assert_eq!(io.mbufs_available(), mbufs);

    // Forwarding between two ports: the mbufs received on net_ring0 are edited in place
    // and sent out of net_ring1 (which loops them back to itself): nothing copied.
    let mut config1 = config.clone();
    config1.port = "net_ring1".into();
    let mut other = DpdkIo::open(&eal, &config1).expect("net_ring1");
    let sent: Vec<Vec<u8>> = (0..50).map(|i| packet(64 + 20 * i, i as u8)).collect();
    for p in &sent {
        assert!(io.send(p).unwrap());
    }
    io.flush();
    let mut forwarded = 0;
    for _ in 0..20 {
        io.wait(Duration::from_millis(5)).unwrap();
        // The edit: the last payload byte flipped, and every other packet cut by 8 bytes
        // (its IPv6 payload length too).
        forwarded += io
            .forward_to(&mut other, 16, &mut |p| {
                let last = p.len() - 1;
                p[last] ^= 0xff;
                if p.len() % 40 == 4 {
                    shorten(p, 8)
                } else {
                    p.len()
                }
            })
            .unwrap();
        if forwarded >= sent.len() {
            break;
        }
    }
    assert_eq!(forwarded, sent.len());
    other.flush();
    let mut back = Vec::new();
    for _ in 0..20 {
        other.wait(Duration::from_millis(5)).unwrap();
        other.rx_each(64, &mut |p| back.push(p.to_vec())).unwrap();
        if back.len() >= sent.len() {
            break;
        }
    }
    let want: Vec<Vec<u8>> = sent
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let last = p.len() - 1;
            p[last] ^= 0xff;
            if p.len() % 40 == 4 {
                let n = shorten(&mut p, 8);
                p.truncate(n);
            }
            p
        })
        .collect();
    assert!(
        back == want,
        "{} of {} forwarded packets intact",
        back.len(),
        want.len()
    );
    // Every mbuf is back in its own pool (net_ring0's went out of net_ring1).
    drop(other);
    assert_eq!(io.mbufs_available(), mbufs);
    drop(io);

    // net_null: sends vanish, receives are frames of whatever the mbufs held.
    let null_config = DpdkConfig::new("net_null0", addrs, Gateway::Mac(mac));
    let mut null = DpdkIo::open(&eal, &null_config).expect("net_null0");
    for _ in 0..10 {
        null.send(&packet(100, 1)).unwrap();
    }
    null.flush();
    assert_eq!(null.stats().tx_frames, 10);
    // recv looks at one burst at most per call: it returns, whatever the frames hold.
    for _ in 0..10 {
        null.recv(&mut buf).unwrap();
    }
    let s = null.stats();
    assert!(s.rx_frames > 0);
    assert_eq!(
        s.rx_packets + s.rx_l2 + s.rx_dropped + s.rx_segmented,
        s.rx_frames
    );
    assert_eq!(null.nd_counters().rx_frames, s.rx_frames - s.rx_segmented);
    assert_eq!(null.port_stats().unwrap().tx_packets, 10);
    drop(null);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/vany-dpdk-io-{}", std::process::id()));
}
