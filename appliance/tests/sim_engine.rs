//! The simulator: determinism, anycast routing, drops, captures, and real TCP + CN
//! clients downloading verified streams from plain servers over bad links.

mod sim_common;

use sim_common::*;
use vany_appliance::apps::source::expected_sha256;
use vany_appliance::inspect::inspect_pcap;
use vany_appliance::sim::client::{Client, ClientConfig, DownloadStatus};
use vany_appliance::sim::{LinkParams, Sim};
use vany_stack::tcp::TcpConfig;
use vany_stack::time::{Duration, Instant};

fn lossy() -> LinkParams {
    LinkParams {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(3),
        loss: 0.02,
        duplicate: 0.01,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(8),
        mtu: 1500,
        packet_too_big: false,
        bandwidth: Some(2_000_000),
    }
}

fn three_clients(seed: u64, link: LinkParams) -> Scenario {
    scenario(&ScenarioParams {
        seed,
        servers: 2,
        clients: 3,
        regions: 3,
        length: 200_000,
        rate: None,
        link,
        spread: Duration::from_millis(50),
    })
}

/// Checks every client's download; returns a description of each for comparisons.
fn check_clients(s: &mut Scenario, length: u64) -> Vec<String> {
    let seed = s.sim.seed();
    let mut out = Vec::new();
    for &c in &s.clients.clone() {
        let client = s.sim.host_as::<Client>(c).unwrap();
        for r in client.reports() {
            assert_eq!(r.mismatch, None, "seed {seed}: client {c}: {r:?}");
            assert_eq!(
                r.status,
                DownloadStatus::Complete,
                "seed {seed}: client {c}: {r:?}"
            );
            assert_eq!(r.bytes_verified, length, "seed {seed}");
            assert_eq!(
                r.sha256.as_deref(),
                Some(hex::encode(expected_sha256(r.spec.request.id, length)).as_str()),
                "seed {seed}"
            );
            assert_eq!(r.resets, 0, "seed {seed}");
            out.push(format!("{r:?}"));
        }
    }
    out
}

#[test]
fn three_clients_download_verified_streams_over_lossy_jittery_links() {
    for seed in [1u64, 2, 3] {
        let mut s = three_clients(seed, lossy());
        assert!(
            s.run(Instant::from_secs(120)),
            "seed {seed}: not done: {:?}",
            s.sim
        );
        check_clients(&mut s, 200_000);
        let stats = s.sim.stats();
        assert!(stats.dropped.loss > 0 && stats.duplicated > 0 && stats.reordered > 0);
        println!("seed {seed}: {stats:?}");
    }
}

#[test]
fn same_seed_same_run_bit_for_bit() {
    let run = |seed: u64| {
        let mut s = three_clients(seed, lossy());
        assert!(s.run(Instant::from_secs(120)), "seed {seed}");
        let reports = check_clients(&mut s, 200_000);
        (s.sim.digest(), s.sim.stats(), s.sim.now(), reports)
    };
    let a = run(42);
    println!("seed 42: digest {:#018x} at {}", a.0, a.2);
    let b = run(42);
    assert_eq!(a, b, "seed 42 ran differently twice");
    let c = run(43);
    assert_ne!(a.0, c.0, "seeds 42 and 43 gave the same packets");
    assert_ne!(
        a.1.dropped, c.1.dropped,
        "seeds 42 and 43 lost the same packets"
    );
}

#[test]
fn anycast_goes_to_the_nearest_owner_ties_to_the_lowest_id() {
    let mut sim = Sim::new(7);
    // Owners at locations 0, 1, 2; senders at 3 and 4.
    sim.set_latency(0, 3, Duration::from_millis(30));
    sim.set_latency(1, 3, Duration::from_millis(10));
    sim.set_latency(2, 3, Duration::from_millis(20));
    sim.set_latency(0, 4, Duration::from_millis(5));
    sim.set_latency(1, 4, Duration::from_millis(9));
    sim.set_latency(2, 4, Duration::from_millis(5));
    let owners: Vec<_> = (0..3)
        .map(|i| sim.add_host(Box::new(Recorder::new(vec![anycast(), server_addr(i)])), i))
        .collect();
    let mut sender = Recorder::new(vec![client_addr(1)]);
    sender.to_send.push((
        Instant::from_millis(1),
        udp_packet(client_addr(1), anycast(), 10),
    ));
    // A unicast packet reaches its one owner even when another is nearer.
    sender.to_send.push((
        Instant::from_millis(2),
        udp_packet(client_addr(1), server_addr(0), 10),
    ));
    let s3 = sim.add_host(Box::new(sender), 3);
    let mut sender = Recorder::new(vec![client_addr(2)]);
    sender.to_send.push((
        Instant::from_millis(1),
        udp_packet(client_addr(2), anycast(), 10),
    ));
    sim.add_host(Box::new(sender), 4);
    sim.run_until(Instant::from_secs(1));
    let got: Vec<Vec<Instant>> = owners
        .iter()
        .map(|&h| {
            sim.host_as::<Recorder>(h)
                .unwrap()
                .received
                .iter()
                .map(|r| r.0)
                .collect()
        })
        .collect();
    // From location 3: owner 1 (10 ms); from 4: owners 0 and 2 tie at 5 ms, 0 wins.
    // Owner 0 also gets the unicast packet after 30 ms.
    assert_eq!(got[1], vec![Instant::from_millis(11)]);
    assert_eq!(
        got[0],
        vec![Instant::from_millis(6), Instant::from_millis(32)]
    );
    assert!(got[2].is_empty());
    assert_eq!(sim.stats().delivered, 3);

    // Owner 1 leaves the anycast address: location 3's packets go to owner 2 (20 ms).
    sim.host_as::<Recorder>(owners[1]).unwrap().addresses = vec![server_addr(1)];
    let at = sim.now() + Duration::from_millis(1);
    sim.host_as::<Recorder>(s3)
        .unwrap()
        .to_send
        .push((at, udp_packet(client_addr(1), anycast(), 10)));
    sim.run_until(Instant::from_secs(2));
    let r2 = &sim.host_as::<Recorder>(owners[2]).unwrap().received;
    assert_eq!(r2.len(), 1);
    assert_eq!(r2[0].0, at + Duration::from_millis(20));

    // A killed owner receives nothing and owns nothing.
    sim.set_up(owners[2], false);
    let at = sim.now() + Duration::from_millis(1);
    sim.host_as::<Recorder>(s3)
        .unwrap()
        .to_send
        .push((at, udp_packet(client_addr(1), anycast(), 10)));
    sim.run_until(Instant::from_secs(3));
    assert_eq!(
        sim.host_as::<Recorder>(owners[0]).unwrap().received.len(),
        3
    );
}

#[test]
fn mtu_unknown_address_and_filter_drops_are_counted() {
    let mut sim = Sim::new(1);
    sim.set_link(
        0,
        1,
        LinkParams {
            mtu: 1280,
            ..LinkParams::default()
        },
    );
    let rx = sim.add_host(Box::new(Recorder::new(vec![server_addr(0)])), 1);
    let mut tx = Recorder::new(vec![client_addr(0)]);
    let t = Instant::from_millis(1);
    tx.to_send
        .push((t, udp_packet(client_addr(0), server_addr(0), 1280 - 48)));
    tx.to_send
        .push((t, udp_packet(client_addr(0), server_addr(0), 1280 - 47)));
    tx.to_send
        .push((t, udp_packet(client_addr(0), server_addr(9), 10)));
    tx.to_send.push((t, vec![0x45; 20]));
    tx.to_send
        .push((t, udp_packet(client_addr(0), server_addr(0), 99)));
    sim.add_host(Box::new(tx), 0);
    sim.set_filter(Some(Box::new(|p| p.packet.len() != 40 + 8 + 99)));
    sim.run_until(Instant::from_secs(1));
    let s = sim.stats();
    assert_eq!(s.sent, 5);
    assert_eq!(s.delivered, 1);
    assert_eq!(s.dropped.mtu, 1);
    assert_eq!(s.dropped.no_route, 1);
    assert_eq!(s.dropped.malformed, 1);
    assert_eq!(s.dropped.filtered, 1);
    assert_eq!(s.dropped.total(), 4);
    let got = &sim.host_as::<Recorder>(rx).unwrap().received;
    assert_eq!(got[0].1.len(), 1280);
}

#[test]
fn tcp_over_a_small_mtu_path_needs_a_matching_mss() {
    // The client announces an MSS for 1500 bytes; a 1400-byte path drops the server's
    // full segments (no Packet Too Big), and the drops are counted. (A server with
    // packetization-layer PMTUD, the default, finds its way: `sim_pmtu.rs`.)
    let mut sim = Sim::new(5);
    sim.set_default_link(LinkParams {
        mtu: 1400,
        ..LinkParams::with_latency(Duration::from_millis(5))
    });
    let rng = sim.fork_rng();
    sim.add_host(
        Box::new(SourceServer::new(
            anycast(),
            server_addr(0),
            TcpConfig {
                pmtu_probing: false,
                ..TcpConfig::default()
            },
            rng,
        )),
        0,
    );
    let config =
        ClientConfig::new(client_addr(0), anycast()).download(Instant::ZERO, PORT, 1, 50_000, None);
    let rng = sim.fork_rng();
    let big = sim.add_host(Box::new(Client::new(config.clone(), rng)), 1);
    sim.run_until(Instant::from_secs(2));
    assert!(sim.stats().dropped.mtu > 0);
    assert!(!sim.host_as::<Client>(big).unwrap().is_done());

    // With the MTU set to the path's, the same download completes.
    let mut sim = Sim::new(5);
    sim.set_default_link(LinkParams {
        mtu: 1400,
        ..LinkParams::with_latency(Duration::from_millis(5))
    });
    let tcp = TcpConfig {
        mtu: 1400,
        ..TcpConfig::default()
    };
    let rng = sim.fork_rng();
    sim.add_host(
        Box::new(SourceServer::new(
            anycast(),
            server_addr(0),
            tcp.clone(),
            rng,
        )),
        0,
    );
    let rng = sim.fork_rng();
    let small = sim.add_host(
        Box::new(Client::new(ClientConfig { tcp, ..config }, rng)),
        1,
    );
    sim.run_until(Instant::from_secs(2));
    assert_eq!(sim.stats().dropped.mtu, 0);
    let r = sim.host_as::<Client>(small).unwrap().reports().remove(0);
    assert_eq!(r.status, DownloadStatus::Complete, "{r:?}");
}

#[test]
fn capture_is_readable_by_inspect_with_valid_checksums() {
    let mut s = three_clients(9, lossy());
    let client = s.clients[0];
    let server = s.servers[0];
    s.sim.capture_in_memory(client);
    let path = std::env::temp_dir().join(format!("vany-sim-capture-{}.pcap", std::process::id()));
    s.sim.capture(server, &path).unwrap();
    assert!(s.run(Instant::from_secs(120)));
    let bytes = s.sim.take_capture(client).unwrap().unwrap();
    s.sim.flush_captures().unwrap();
    let file = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    for (name, pcap) in [("client", &bytes), ("server", &file)] {
        let reports = inspect_pcap(pcap, None).unwrap();
        assert!(reports.len() > 100, "{name}: {} packets", reports.len());
        let mut last = 0.0;
        for r in &reports {
            assert!(r.error.is_none(), "{name}: {r:?}");
            assert_eq!(r.upper, Some("TCP"), "{name}");
            assert_eq!(r.checksum_ok, Some(true), "{name}: {r:?}");
            let ts = r.timestamp.unwrap();
            assert!(ts >= last, "{name}: timestamps go back");
            last = ts;
        }
    }
    let stats = s.sim.host_as::<Client>(client).unwrap().stats();
    let packets = inspect_pcap(&bytes, None).unwrap().len() as u64;
    assert_eq!(packets, stats.rx_packets + stats.tx_packets);
}

/// A host that always wants to be polled again at once.
struct Spinner(u64);

impl vany_appliance::sim::Host for Spinner {
    fn addresses(&self) -> Vec<std::net::Ipv6Addr> {
        vec![server_addr(0)]
    }
    fn handle_packet(&mut self, _: Instant, _: &[u8], _: &mut Vec<Vec<u8>>) {}
    fn poll(&mut self, _: Instant, _: &mut Vec<Vec<u8>>) {
        self.0 += 1;
    }
    fn next_wake(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn a_host_that_always_wants_polling_cannot_stall_the_clock() {
    let mut sim = Sim::new(3);
    let h = sim.add_host(Box::new(Spinner(0)), 0);
    sim.run_until(Instant::from_micros(10));
    assert_eq!(sim.now(), Instant::from_micros(10));
    let polls = sim.host_as::<Spinner>(h).unwrap().0;
    // SPIN_LIMIT polls at each of the 11 instants 0..=10 µs.
    assert_eq!(
        polls,
        11 * u64::from(vany_appliance::sim::engine::SPIN_LIMIT)
    );
    assert_eq!(sim.stats().spin_guards, 11);

    // The event limit ends a run early.
    sim.set_event_limit(Some(sim.stats().events + 5));
    sim.run_until(Instant::from_secs(1));
    assert!(sim.limit_reached());
    assert!(sim.now() < Instant::from_secs(1));
}
