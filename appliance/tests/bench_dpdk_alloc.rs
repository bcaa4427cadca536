//! Heap allocations per packet on vany's DPDK data path, counted by a counting global
//! allocator around the very phase functions `vany bench dpdk` runs, on `net_null`
//! devices: rx-only, tx-only and io-forward through `PacketIo`, and the packet paths
//! (`vany client` translation both ways, a member's forwarding), at 64 and 1500 bytes.
//!
//! Prints allocations per packet for every phase; asserts that no phase allocates per
//! packet (a phase may allocate a few buffers once, never in proportion to its packets).
//! A member's forwarding included: the packets of a burst are sealed into one `Forwards`
//! (at 64 B) or each into a `Forward` of two datagrams (at 1500 B), straight into the
//! buffers of the IPv6 packets, and the bench gives each buffer back to the member once
//! sent (`Member::recycle`).
//!
//! The EAL can be initialised once per process: ONE test function. Needs root and a
//! DPDK build; skips with the reason otherwise (fails instead with VANY_TESTS_REQUIRED=1).

mod netns_common;

use std::alloc::System;
use std::time::Duration;

use netns_common::{is_root, skip};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use vany_appliance::bench::dpdk::{self, common_eal, vany_phase};
use vany_appliance::bench::dpdk_paths::{self, open_port, PathKind, Paths};
use vany_appliance::bench::Cancel;
use vany_appliance::io::dpdk::ETHERNET_HEADER_LEN;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Each phase runs this long (allocation counts do not depend on it).
const PHASE: Duration = Duration::from_millis(300);
/// Allocations a phase may make once (buffers set up before its loop, the path's check
/// of one packet, and a member's datagram buffers for one burst: 64 packets of two
/// datagrams each at 1500 B, kept and reused from then on); anything per packet exceeds
/// this within the first few thousand packets.
const ONCE: usize = 32 + 2 * 64;
/// Fewest packets a phase must handle for its count to mean anything (far more than
/// [`ONCE`]: one allocation per packet could not hide; a debug build on a slow machine
/// forwards 1500-byte packets between members at a few tens of thousands a second).
const MIN_PACKETS: u64 = 2_000;

/// Allocations (new blocks and reallocations) while `f` runs.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let r = f();
    let s = region.change();
    (r, s.allocations + s.reallocations)
}

#[test]
fn data_path_allocations_per_packet() {
    if !vany_ffi::BUILT_WITH_DPDK {
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return skip("DPDK's EAL needs root");
    }
    let sizes = [64usize, 1500];
    let mut eal = common_eal(&format!("vany-alloc-{}", std::process::id()), "0");
    for (i, &size) in sizes.iter().enumerate() {
        eal.extend(dpdk::vdevs(2 * i, size));
        eal.extend(dpdk_paths::vdevs(4 + 3 * i, size));
    }
    let handle = vany_ffi::Eal::init(&eal).expect("EAL on net_null");
    let mut paths = Paths::new().expect("translator bound, handoff committed");
    let cancel = Cancel::default();
    let mac = vany_stack::l2::Mac([0x02, 0, 0, 0, 0x6d, 1]);
    // (phase, size, packets, allocations)
    let mut seen: Vec<(&str, usize, u64, usize)> = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let frame = dpdk::frame(size, mac.0);
        let open = |n: usize| {
            open_port(
                &handle,
                &format!("net_null{n}"),
                mac,
                64,
                Some(dpdk_paths::SOURCE_MBUFS),
                &frame,
            )
            .unwrap()
        };
        let mut ports = [open(2 * i), open(2 * i + 1)];
        let packet = frame[ETHERNET_HEADER_LEN..].to_vec();
        for mode in ["rx-only", "tx-only", "io-fwd"] {
            let (r, a) = allocations(|| vany_phase(&mut ports, mode, &packet, PHASE));
            let (n, _) = r.unwrap_or_else(|e| panic!("{mode} {size} B: {e}"));
            seen.push((mode, size, n, a));
        }
        for (k, kind) in PathKind::ALL.into_iter().enumerate() {
            let frame = Paths::frame(kind, size, mac)
                .unwrap()
                .expect("fits an mbuf");
            let port = format!("net_null{}", 4 + 3 * i + k);
            let mut rx = open_port(
                &handle,
                &port,
                mac,
                64,
                Some(dpdk_paths::SOURCE_MBUFS),
                &frame,
            )
            .unwrap();
            let (r, a) =
                allocations(|| paths.phase(kind, &frame, &mut rx, &mut ports[0], PHASE, &cancel));
            let c = r.unwrap_or_else(|e| panic!("{} {size} B: {e}", kind.name()));
            seen.push((kind.name(), size, c.handled, a));
        }
    }
    println!(
        "{:<11} {:>6} {:>10} {:>12} {:>12}",
        "phase", "bytes", "packets", "allocations", "per packet"
    );
    for &(phase, size, n, a) in &seen {
        println!(
            "{phase:<11} {size:>6} {n:>10} {a:>12} {:>12.4}",
            a as f64 / n.max(1) as f64
        );
    }
    for &(phase, size, n, a) in &seen {
        assert!(
            n >= MIN_PACKETS,
            "{phase} {size} B handled only {n} packets"
        );
        assert!(
            a <= ONCE,
            "{phase} {size} B: {a} allocations for {n} packets (allocates per packet)"
        );
    }
}
