//! The client's Mobile IPv6 packet path in the simulator: a test-only server that plays
//! the group's mobile node (`vany_stack::mip6::mn`) from one host with two care-of
//! addresses moves a live, paced stream from the anycast address to care-of address 1,
//! then to care-of address 2. The client's CN must accept both bindings, translate RH2
//! out and HAO in, and record each handover with its gap; the stream stays intact with
//! no retransmission timeout.

mod sim_common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::rc::Rc;

use sim_common::{anycast, client_addr, PORT};
use vany_appliance::apps::{App, SourceApp};
use vany_appliance::sim::client::{Client, ClientConfig, DownloadStatus};
use vany_appliance::sim::{Host, LinkParams, Sim};
use vany_stack::mip6::mn::{MnEvent, MobileNode};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::TCP_PROTOCOL;
use vany_stack::wire::{parse_verified, PacketRepr, TcpControl, Upper};

fn coa(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xc0a, 0, 0, 0, 0, 0, i)
}

/// One host playing a whole group: serves on the anycast address, and at each scheduled
/// time moves every client to a care-of address of its own (CoTI, then BU, then data from
/// the care-of address with a HAO right behind the BU).
struct MobileServer {
    endpoint: Endpoint,
    mn: MobileNode,
    rng: SeededRandom,
    apps: BTreeMap<FourTuple, SourceApp>,
    moves: Vec<(Instant, Ipv6Addr)>,
    /// Per client: the care-of address in use.
    serving: BTreeMap<Ipv6Addr, Ipv6Addr>,
    /// Per client: the care-of address being tested.
    moving: BTreeMap<Ipv6Addr, Ipv6Addr>,
    tx: Vec<u8>,
    bound: u64,
}

impl MobileServer {
    fn new(moves: Vec<(Instant, Ipv6Addr)>, mut rng: SeededRandom) -> Self {
        let mut endpoint = Endpoint::new(TcpConfig::default(), &mut rng);
        endpoint.listen(PORT);
        MobileServer {
            endpoint,
            mn: MobileNode::new(anycast(), Duration::from_secs(420)),
            rng,
            apps: BTreeMap::new(),
            moves,
            serving: BTreeMap::new(),
            moving: BTreeMap::new(),
            tx: vec![0; 64 + 65_536],
            bound: 0,
        }
    }

    fn service(&mut self, now: Instant) {
        while let Some(t) = self.endpoint.accept() {
            self.apps.insert(t, SourceApp::requested());
            self.mn.start_home_test_random(now, &mut self.rng, t.remote);
        }
        for (t, app) in self.apps.iter_mut() {
            if let Some(conn) = self.endpoint.connection_mut(t) {
                while conn.poll_event().is_some() {}
                app.poll(now, conn);
            }
        }
    }

    fn on_mn_event(&mut self, now: Instant, event: MnEvent) {
        match event {
            MnEvent::CareOfToken { correspondent, .. } => {
                let care_of = self.moving.remove(&correspondent).unwrap();
                self.mn.send_bu(now, correspondent, care_of).unwrap();
                // docs/handoff.md: data goes on right behind the BU.
                self.serving.insert(correspondent, care_of);
            }
            MnEvent::Bound { .. } => self.bound += 1,
            MnEvent::HomeToken { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        while let Some(p) = self.mn.poll_transmit() {
            out.push(p);
        }
        while let Some(t) = self.endpoint.poll_transmit(now, &mut self.tx[64..]) {
            let care_of = self.serving.get(&t.tuple.remote).copied();
            let repr = PacketRepr {
                src: care_of.unwrap_or(t.tuple.local),
                dst: t.tuple.remote,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
                rh2: None,
                hao: care_of.map(|_| t.tuple.local),
                upper: Upper::None,
            };
            let start = 64 - repr.upper_offset();
            let len = repr
                .emit_headers(&mut self.tx[start..], TCP_PROTOCOL, t.len)
                .unwrap();
            out.push(self.tx[start..start + len].to_vec());
        }
    }
}

impl Host for MobileServer {
    fn addresses(&self) -> Vec<Ipv6Addr> {
        vec![anycast(), coa(1), coa(2)]
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Vec<u8>>) {
        let p = parse_verified(packet).expect("the client sends valid packets");
        match &p.repr.upper {
            Upper::Mh(_) => {
                if let Some(e) = self.mn.handle_mh(now, &p) {
                    self.on_mn_event(now, e);
                }
            }
            Upper::Tcp(seg) => {
                // From the client: to the anycast address, or to a care-of address with
                // the anycast address in an RH2.
                self.endpoint
                    .handle_segment(now, p.repr.pseudo_src(), p.repr.pseudo_dst(), seg);
            }
            _ => {}
        }
        self.service(now);
        self.flush(now, out);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        while self.moves.first().is_some_and(|m| m.0 <= now) {
            let (_, care_of) = self.moves.remove(0);
            let clients: Vec<Ipv6Addr> = self.apps.keys().map(|t| t.remote).collect();
            for c in clients {
                self.moving.insert(c, care_of);
                self.mn.start_care_of_test(now, &mut self.rng, c, care_of);
            }
        }
        if self.mn.poll_timeout().is_some_and(|t| t <= now) {
            self.mn.handle_timeout(now);
        }
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.service(now);
        self.flush(now, out);
    }

    fn next_wake(&self) -> Option<Instant> {
        self.moves
            .first()
            .map(|m| m.0)
            .into_iter()
            .chain(self.mn.poll_timeout())
            .chain(self.endpoint.poll_timeout())
            .chain(self.apps.values().filter_map(App::poll_at))
            .min()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn client_follows_bindings_and_records_each_handover() {
    let mut sim = Sim::new(11);
    sim.set_default_link(LinkParams::with_latency(Duration::from_millis(20)));
    let rng = sim.fork_rng();
    let server = sim.add_host(
        Box::new(MobileServer::new(
            vec![
                (Instant::from_millis(500), coa(1)),
                (Instant::from_millis(1200), coa(2)),
            ],
            rng,
        )),
        0,
    );
    let rate = 1_000_000;
    let length = 2_000_000;
    let config = ClientConfig::new(client_addr(0), anycast()).download(
        Instant::ZERO,
        PORT,
        77,
        length,
        Some(rate),
    );
    let rng = sim.fork_rng();
    let client = sim.add_host(Box::new(Client::new(config, rng)), 1);
    sim.run_until(Instant::from_secs(5));

    let bound = sim.host_as::<MobileServer>(server).unwrap().bound;
    let c = sim.host_as::<Client>(client).unwrap();
    let r = c.reports().remove(0);
    let (summary, stats) = (c.summary(), c.stats());
    println!("{r:#?}\n{summary:?}\n{stats:?}");
    assert_eq!(r.status, DownloadStatus::Complete);
    assert_eq!(r.bytes_verified, length);
    assert_eq!((r.mismatch, r.resets, r.rto_count), (None, 0, 0));
    assert_eq!(summary.bu_accepted, 2);
    assert_eq!(bound, 2);
    assert!(stats.tx_via_binding > 0, "ACKs went to the care-of address");
    assert_eq!(stats.ingress_dropped, 0);
    let moves: Vec<_> = r.handovers.iter().map(|h| (h.old_src, h.new_src)).collect();
    assert_eq!(moves, vec![(anycast(), coa(1)), (coa(1), coa(2))]);
    for h in &r.handovers {
        // One host, so no state travels: the gap is the pacing quantum (1 ms) at most,
        // plus the RR round trip the stream does not wait for.
        assert!(h.gap() <= Duration::from_millis(2), "{h:?}");
        assert!(h.first_new > Instant::from_millis(500));
    }
    // Paced at 1 MB/s: about 2 s.
    let took = r.duration().unwrap();
    assert!(took >= Duration::from_millis(1900) && took <= Duration::from_millis(2300));
}

/// The simulated client sends through `vany client`'s translator: its TCP, like a kernel
/// whose interface MTU leaves no room for Mobile IPv6, announces MSS 1440 on a 1500-byte
/// path; the translator clamps the SYN on the wire to 1416 (`max_mss_for_mtu(1500)`)
/// with a checksum that still verifies, and after the move the translator's own counters
/// show the RH2 out and the HAO in.
#[test]
fn client_packets_pass_through_the_vany_client_translator() {
    let mut sim = Sim::new(12);
    sim.set_default_link(LinkParams::with_latency(Duration::from_millis(10)));
    let rng = sim.fork_rng();
    sim.add_host(
        Box::new(MobileServer::new(
            vec![(Instant::from_millis(300), coa(1))],
            rng,
        )),
        0,
    );
    let tcp = TcpConfig {
        mip6_overhead: 0,
        ..TcpConfig::default()
    };
    assert_eq!(tcp.announced_mss(), 1440);
    let config = ClientConfig {
        tcp,
        ..ClientConfig::new(client_addr(0), anycast()).download(
            Instant::ZERO,
            PORT,
            5,
            300_000,
            Some(500_000),
        )
    };
    let rng = sim.fork_rng();
    let client = sim.add_host(Box::new(Client::new(config, rng)), 1);
    let syns: Rc<RefCell<Vec<Option<u16>>>> = Rc::default();
    let seen = syns.clone();
    sim.set_filter(Some(Box::new(move |p| {
        if let Ok(parsed) = parse_verified(p.packet) {
            if let Upper::Tcp(seg) = &parsed.repr.upper {
                if seg.control == TcpControl::Syn && seg.ack_number.is_none() {
                    seen.borrow_mut().push(seg.max_seg_size);
                }
            }
        }
        true
    })));
    sim.run_until(Instant::from_secs(3));

    let c = sim.host_as::<Client>(client).unwrap();
    let r = c.reports().remove(0);
    let (t, stats) = (c.translate_stats(), c.stats());
    println!("{r:#?}\n{t:?}\n{stats:?}");
    assert_eq!(r.status, DownloadStatus::Complete);
    assert_eq!(*syns.borrow(), vec![Some(1416)], "the SYN on the wire");
    assert_eq!(t.mss_clamped, 1);
    assert!(t.out_via_binding > 0 && t.out_plain > 0, "{t:?}");
    assert_eq!(t.out_via_binding, stats.tx_via_binding);
    assert!(t.in_hao_translated > 0, "{t:?}");
    assert_eq!(
        (t.in_hao_dropped, t.in_malformed, t.out_untranslatable),
        (0, 0, 0)
    );
    assert!(t.in_mh >= 2, "CoTI and BU: {t:?}");
    let moves: Vec<_> = r.handovers.iter().map(|h| (h.old_src, h.new_src)).collect();
    assert_eq!(moves, vec![(anycast(), coa(1))]);
}
