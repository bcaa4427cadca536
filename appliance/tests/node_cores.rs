//! A node with two cores (`[io] cores = 2`: members 3 and 4) on the in-memory backend, no
//! root needed: each core's [`Node`] has its own device (its queue pair), joined by the
//! links of `node::cores`; a switch in front plays the NIC and delivers every packet of
//! the client to queue 0, whatever core owns it (the worst RSS can do). The client (the
//! stack's own TCP endpoint behind a [`Pump`]) downloads a verified stream from the anycast
//! address: its session belongs to core `shard(client)`, so queue 0 must hand its packets
//! to core 1, whose member serves it and answers through its own queue.
//!
//! ```text
//!   client ── switch ──▶ queue 0: core 0 (member 3) ──links──▶ core 1 (member 4)
//!            ◀──────────  queue 0 and queue 1 (each core sends on its own)
//! ```

use std::net::Ipv6Addr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{bounded, unbounded, Sender};
use vany_appliance::apps::source::{SourceRequest, StreamVerifier};
use vany_appliance::group::shard::shard;
use vany_appliance::io::{mem, Clock, MemIo, PacketIo, Pump};
use vany_appliance::node::cores;
use vany_appliance::node::ctl::{Request, Response};
use vany_appliance::node::membership::MembershipEvent;
use vany_appliance::node::runtime::{Node, Query};
use vany_appliance::node::NodeConfig;
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::Instant;

const CONFIG: &str = r#"
id = 3
anycast = "fd00:aa::1"
contact_node = 3
drain_timeout_ms = 1000
group_key = "00112233445566778899aabbccddeeff"
[io]
backend = "dpdk"
eal = ["--no-huge"]
port = "net_null0"
gateway_mac = "02:00:00:00:00:01"
cores = 2
[members.3]
care_of = "fd00:20:3::1"
contact = true
[members.4]
care_of = "fd00:20:4::1"
core_of = 3
"#;

/// The two cores, the switch's ends of their devices, and the client.
struct TwoCores {
    cores: Vec<Node<MemIo>>,
    /// The switch's end of each core's device.
    queues: Vec<MemIo>,
    /// The switch's end of the client's link.
    to_client: MemIo,
    client_io: MemIo,
    client: Endpoint,
    tuple: FourTuple,
    pump: Pump,
    clock: Clock,
    _channels: Vec<(Sender<Query>, Sender<MembershipEvent>)>,
}

impl TwoCores {
    fn new(client_addr: Ipv6Addr) -> TwoCores {
        let cfg = NodeConfig::parse(CONFIG).unwrap();
        let ids = cfg.core_members();
        assert_eq!(ids, vec![3, 4]);
        let care_of: Vec<Ipv6Addr> = ids.iter().map(|id| cfg.members[id].care_of).collect();
        let links = cores::links(&care_of, cfg.anycast);
        let (mut nodes, mut queues, mut channels) = (Vec::new(), Vec::new(), Vec::new());
        for (k, link) in links.into_iter().enumerate() {
            let (node_io, switch_io) = mem::pair(4096);
            let (queries, query_rx) = bounded::<Query>(4);
            let (events, event_rx) = unbounded();
            let mut node = Node::new(
                cfg.for_core(ids[k]),
                node_io,
                42 + k as u64,
                query_rx,
                event_rx,
            );
            node.attach_links(link);
            nodes.push(node);
            queues.push(switch_io);
            channels.push((queries, events));
        }
        let (to_client, client_io) = mem::pair(4096);
        let clock = Clock::new(Instant::from_secs(5));
        let mut client = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(9));
        let tuple = FourTuple {
            local: client_addr,
            local_port: 40_000,
            remote: cfg.anycast,
            remote_port: 80,
        };
        client.connect(clock.now(), tuple).unwrap();
        TwoCores {
            cores: nodes,
            queues,
            to_client,
            client_io,
            client,
            tuple,
            pump: Pump::new(),
            clock,
            _channels: channels,
        }
    }

    /// One round: the switch delivers the client's packets to queue 0 and every core's
    /// output to the client; each core steps; the client's pump runs.
    fn round(&mut self) {
        let mut buf = Vec::new();
        let _ = self.to_client.rx_each(1024, &mut |p| buf.push(p.to_vec()));
        for p in buf.drain(..) {
            self.queues[0].send(&p).unwrap();
        }
        for q in &mut self.queues {
            let _ = q.rx_each(1024, &mut |p| buf.push(p.to_vec()));
        }
        for p in buf.drain(..) {
            self.to_client.send(&p).unwrap();
        }
        for core in &mut self.cores {
            core.step().unwrap();
        }
        let now = self.clock.now();
        self.pump
            .poll(&mut self.client_io, &mut self.client, now)
            .unwrap();
    }

    fn sessions(&mut self, core: usize) -> Vec<(Ipv6Addr, u16)> {
        match self.cores[core].control(Request::Sessions) {
            Response::Sessions { sessions } => {
                sessions.iter().map(|s| (s.client, s.member)).collect()
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A client address whose packets to the anycast address belong to core `core` of 2.
fn client_of_core(core: usize) -> Ipv6Addr {
    (1..1000)
        .map(|i| Ipv6Addr::new(0xfd00, 0x99, 0x10, 0, 0, 0, 0, i))
        .find(|a| shard(*a, 2) == core)
        .expect("some address hashes to each core")
}

#[test]
fn a_client_of_core_1_is_served_by_core_1_though_its_packets_arrive_on_queue_0() {
    let client = client_of_core(1);
    let mut t = TwoCores::new(client);
    let len = 1u64 << 20;
    let mut verifier = StreamVerifier::new(3, Some(len));
    let (mut asked, mut buf) = (false, vec![0u8; 64 * 1024]);
    let start = StdInstant::now();
    while !verifier.is_complete() {
        assert!(
            start.elapsed() < StdDuration::from_secs(60),
            "stalled at {} of {len} bytes",
            verifier.bytes_ok()
        );
        t.round();
        if let Some(c) = t.client.connection_mut(&t.tuple) {
            if !asked && c.send_capacity() >= 24 {
                let req = SourceRequest {
                    id: 3,
                    length: len,
                    rate: None,
                };
                assert_eq!(c.send(&req.to_bytes()).unwrap(), 24);
                asked = true;
            }
            let n = c.recv(&mut buf).unwrap_or(0);
            verifier.feed(&buf[..n]).expect("stream intact");
        }
    }
    assert_eq!(t.sessions(0), vec![], "core 0 serves nothing");
    assert_eq!(
        t.sessions(1),
        vec![(client, 4)],
        "member 4 (core 1) serves the client"
    );
    let (l0, l1) = (
        t.cores[0].link_stats().unwrap(),
        t.cores[1].link_stats().unwrap(),
    );
    let (c0, c1) = (t.cores[0].counters(), t.cores[1].counters());
    println!("core 0: {c0:?} {l0:?}\ncore 1: {c1:?} {l1:?}");
    assert_eq!(c1.rx_packets, 0, "nothing arrived on queue 1");
    assert!(
        l0.handed_over > 0 && l0.handed_over == l1.taken_over,
        "{l0:?} {l1:?}"
    );
    assert_eq!(l0.handover_full, 0);
    assert!(c1.tx_packets > 0, "core 1 answers on its own queue");
    // Status lists the core; the drain of both ends with both stopped.
    match t.cores[1].control(Request::Status) {
        Response::Status(s) => {
            assert_eq!(s.cores.len(), 1);
            assert_eq!(
                (s.cores[0].core, s.cores[0].member, s.cores[0].sessions),
                (1, 4, 1)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_of_core_0_is_served_by_core_0_and_its_packets_stay_there() {
    let client = client_of_core(0);
    let mut t = TwoCores::new(client);
    let start = StdInstant::now();
    while t
        .client
        .connection_mut(&t.tuple)
        .is_none_or(|c| c.send_capacity() == 0)
    {
        assert!(
            start.elapsed() < StdDuration::from_secs(10),
            "no connection"
        );
        t.round();
    }
    for _ in 0..20 {
        t.round();
    }
    assert_eq!(
        t.sessions(0),
        vec![(client, 3)],
        "member 3 (core 0) serves the client"
    );
    assert_eq!(t.sessions(1), vec![]);
    // What core 0 handed over is its member's own peer messages (a probe of the other
    // core's round trip to the client), not the client's packets.
    let (l0, rx0) = (
        t.cores[0].link_stats().unwrap(),
        t.cores[0].counters().rx_packets,
    );
    assert!(
        l0.handed_over < 4 && rx0 >= 2,
        "{l0:?}, {rx0} packets received"
    );
}
