//! Heap allocations per packet on the node's own data path: a [`Node`] serving a
//! download from its `source` app over the in-memory backend, counted by a counting
//! global allocator once the transfer is in steady state. The node hands each received
//! packet to the member in place and the member writes its TCP segments into buffers the
//! backend lends (`Member::transmit_lent`), so a steady download allocates nothing per
//! packet on the node's side.
//!
//! The client (the stack's own endpoint behind a `Pump`) runs in the same thread; its
//! allocations are counted too. No root needed.

use std::alloc::System;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{bounded, unbounded};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use vany_appliance::apps::source::{SourceRequest, StreamVerifier};
use vany_appliance::io::{mem, Clock, Pump};
use vany_appliance::node::runtime::{Node, Query};
use vany_appliance::node::NodeConfig;
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::Instant;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CONFIG: &str = r#"
id = 1
tun = "unused"
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"

[members.1]
care_of = "fd00:20:1::1"
contact = true
"#;

#[test]
fn a_steady_download_allocates_nothing_per_packet() {
    let cfg = NodeConfig::parse(CONFIG).unwrap();
    let (node_io, mut client_io) = mem::pair(1024);
    let (_query_tx, query_rx) = bounded::<Query>(4);
    let (_event_tx, event_rx) = unbounded();
    let mut node = Node::new(cfg, node_io, 42, query_rx, event_rx);
    let clock = Clock::new(Instant::from_secs(5));
    let mut client = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(9));
    let tuple = FourTuple {
        local: "fd00:99:ff::10".parse().unwrap(),
        local_port: 40_000,
        remote: "fd00:aa::1".parse().unwrap(),
        remote_port: 80,
    };
    client.connect(clock.now(), tuple).unwrap();
    let mut pump = Pump::new();
    let len = 64u64 << 20;
    let mut verifier = StreamVerifier::new(3, Some(len));
    let mut asked = false;
    let mut buf = vec![0u8; 64 * 1024];
    // (allocations, node packets) over the measured window.
    let mut window: Option<(Region<'_, System>, u64)> = None;
    let mut measured = None;
    let start = StdInstant::now();
    while !verifier.is_complete() {
        assert!(
            start.elapsed() < StdDuration::from_secs(120),
            "stalled at {} of {len} bytes",
            verifier.bytes_ok()
        );
        node.step().unwrap();
        pump.poll(&mut client_io, &mut client, clock.now()).unwrap();
        if let Some(c) = client.connection_mut(&tuple) {
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
        pump.poll(&mut client_io, &mut client, clock.now()).unwrap();
        let packets = {
            let c = node.counters();
            c.rx_packets + c.tx_packets
        };
        // Steady state: from 32 MiB to 60 MiB of the stream (by 32 MiB the in-memory
        // link's buffer pool is full: it grows to the queues' depth once).
        let got = verifier.bytes_ok();
        if window.is_none() && got >= 32 << 20 {
            window = Some((Region::new(GLOBAL), packets));
        }
        if measured.is_none() && got >= 60 << 20 {
            if let Some((region, first)) = &window {
                let s = region.change();
                measured = Some((s.allocations + s.reallocations, packets - first));
            }
        }
    }
    let (allocations, packets) = measured.expect("the window was measured");
    println!(
        "steady download: {packets} packets through the node, {allocations} allocations \
         ({:.4} per packet, the client's included)",
        allocations as f64 / packets as f64
    );
    assert!(packets > 10_000, "{packets} packets");
    // A few allocations once (buffers growing) are fine; one per packet is not.
    assert!(
        allocations * 100 < packets as usize,
        "{allocations} allocations for {packets} packets"
    );
}
