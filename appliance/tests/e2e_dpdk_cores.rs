//! End to end with a DPDK node on two cores: an unmodified Linux host downloads from the
//! anycast address of three real `vany node` processes; node 3 runs on DPDK
//! (`net_af_packet` on its namespace's veth, two queue pairs) with `[io] cores = 2`, each
//! core a group member of its own (member 3, and member 4 with `core_of = 3`); nodes 1
//! and 2 run on TUN. The session moves between the two cores of node 3 and between them
//! and the TUN nodes; then node 3 drains.
//!
//! ```text
//!                         hub namespace (IPv6 router)
//!     hc fd00:99:10::1   h1 fd00:99:1::1   h2 fd00:99:2::1   h3 fd00:99:3::1
//!          │ veth             │ veth            │ veth            │ veth
//!   client: eth0          n1: eth0          n2: eth0          n3: eth0 fd00:99:3::2
//!   kernel TCP,           vtun: member 1    vtun: member 2    (kernel: gossip, metrics)
//!   vany client           (contact node)                      DPDK net_af_packet0 on
//!                                                             eth0, qpairs=2, cores = 2:
//!                                                              core 0: member 3, care-of
//!                                                                fd00:20:3::1
//!                                                              core 1: member 4, care-of
//!                                                                fd00:20:4::1 (core_of 3)
//! ```
//!
//! The hub routes both care-of addresses of node 3 on-link out of `h3`: its kernel
//! resolves them by neighbor discovery, which vany's DPDK layer 2 answers on every queue;
//! node 3 sends everything to the hub's `fd00:99:3::1` (see `netns_common::lab`). Before
//! the client starts, the hub pings both care-of addresses (`ping -6 -c 3`) and node 3's
//! status must list its two cores. The kernel spreads the port's frames over the two
//! queues by its fanout hash; a core that receives a packet for the other hands it over.
//!
//! The run is `netns_common::handoffs` (as in `e2e_dpdk`): the client asks the `source`
//! app for a paced stream (128 MiB at 8 MiB/s; `VANY_E2E_MIB`, `VANY_E2E_RATE_MIB`) and
//! `vany ctl handoff`, asked of the node whose core serves the session, moves it 22 times:
//! 1 -> 3, 3 -> 4, 4 -> 2, 2 -> 4, 4 -> 3, 3 -> 1, and again; the session is then on
//! member 4 (node 3's second core), and `vany ctl drain` drains node 3. Which member
//! serves the session is the `member` of its entry in the node's `Sessions` answer.
//! Pass: stream complete and intact (SHA-256), no error (reset) on the kernel socket, no
//! gap longer than 1 s, every move settled on the member asked for, the drain moved the
//! session to member 1 or 2 and node 3 exits 0, no reset counted by the client kernel,
//! and no retransmission timeout (`TcpExtTCPTimeouts`) counted by it once the connection
//! is up. Node 3's per-core counters from just before its drain (packets, handovers
//! between the cores) are printed, not checked: how the kernel spreads frames over the
//! queues varies from boot to boot (`-- --nocapture`).
//!
//! Needs root (namespaces, TUN, nftables, DPDK's EAL) and a vany built with DPDK:
//! otherwise prints "skipped: ..." and passes (fails with VANY_TESTS_REQUIRED=1).
//! Everything is bounded in time and removed by the lab's Drop guard, even on failure.

mod netns_common;

use netns_common::handoffs::*;
use netns_common::lab::*;
use netns_common::*;
use vany_appliance::node::ctl::Request;

const PREFIX: &str = "vany-xc";
/// The DPDK node (its own member runs on its first core).
const DPDK_NODE: u16 = 3;
/// Node 3's second core.
const SECOND_CORE: u16 = 4;
const CORES: u16 = 2;

#[test]
fn kernel_client_follows_handoffs_between_the_cores_of_a_dpdk_node() {
    if !vany_ffi::BUILT_WITH_DPDK {
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let mut lab = Lab::build_with_dpdk_cores(PREFIX, "c", 3, Some(DPDK_NODE), CORES);
    assert_eq!(lab.core_members(DPDK_NODE), [DPDK_NODE, SECOND_CORE]);
    lab.start_group();
    // The hub's kernel resolves both care-of addresses of node 3 by ND and pings them.
    for m in lab.core_members(DPDK_NODE) {
        lab.hub_pings(m);
    }
    let status = lab.ask(DPDK_NODE, &Request::Status).expect("status");
    println!(
        "node {DPDK_NODE}'s layer 2 after the pings: {}",
        status["layer2"]
    );
    let cores: Vec<u64> = status["cores"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["member"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(
        cores,
        [u64::from(DPDK_NODE), u64::from(SECOND_CORE)],
        "node {DPDK_NODE}'s status lists its cores: {}",
        status["cores"]
    );

    lab.start_client();
    let plan = Plan {
        stream: 0x0e2e_dc02,
        length: env_u64("VANY_E2E_MIB", 128) * MIB,
        rate: env_u64("VANY_E2E_RATE_MIB", 8) * MIB,
        // 22: the last move goes to member 4, so the drain moves the session off the
        // node's second core.
        moves: 22,
        next: |k| match k % 6 {
            0 | 4 => DPDK_NODE,
            1 | 3 => SECOND_CORE,
            2 => 2,
            _ => 1,
        },
        drain_at: Some(DPDK_NODE),
    };
    let counters = handoffs_then_drain(&mut lab, &plan);
    let log = lab.node_log(DPDK_NODE);
    let up = log.lines().find(|l| l.contains("DPDK port up"));
    println!(
        "node {DPDK_NODE}: {}",
        up.unwrap_or("(no DPDK port in its log)")
    );
    assert!(up.is_some(), "node {DPDK_NODE} ran on DPDK: {log}");
    print_cores(&counters);
    let rtos = delta(&counters.connected, &counters.after, "TcpExtTCPTimeouts");
    println!("client kernel retransmission timeouts once connected: {rtos}");
    assert_eq!(
        rtos, 0,
        "client kernel counter TcpExtTCPTimeouts moved after the connection was up"
    );
}

/// Node 3's cores as its status and metrics showed them just before its drain.
fn print_cores(counters: &Counters) {
    println!("node {DPDK_NODE}'s cores before its drain:");
    let cores = counters
        .status_before_drain
        .as_ref()
        .and_then(|s| s["cores"].as_array().cloned())
        .unwrap_or_default();
    for c in &cores {
        println!(
            "  member {:>2} care-of {:<14} sessions {:>2} rx {:>9} tx {:>9} handed over {:>7} \
             (handover queue full {})",
            c["member"],
            c["care_of"].as_str().unwrap_or("?"),
            c["sessions"],
            c["rx_packets"],
            c["tx_packets"],
            c["handed_over"],
            c["handover_full"]
        );
    }
    if cores.is_empty() {
        println!("  (no `cores` in its status)");
    }
    for line in counters
        .metrics_before_drain
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("vany_core_"))
    {
        println!("  {line}");
    }
}
