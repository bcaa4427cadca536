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

mod node_common;

use node_common::MemDownload;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

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
    let len = 64u64 << 20;
    let mut d = MemDownload::new(CONFIG, len);
    // (allocations, node packets) over the measured window.
    let mut window: Option<(Region<'_, System>, u64)> = None;
    let mut measured = None;
    let start = StdInstant::now();
    while !d.verifier.is_complete() {
        assert!(
            start.elapsed() < StdDuration::from_secs(120),
            "stalled at {} of {len} bytes",
            d.verifier.bytes_ok()
        );
        d.round();
        let packets = {
            let c = d.node.counters();
            c.rx_packets + c.tx_packets
        };
        // Steady state: from 32 MiB to 60 MiB of the stream (by 32 MiB the in-memory
        // link's buffer pool is full: it grows to the queues' depth once).
        let got = d.verifier.bytes_ok();
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
