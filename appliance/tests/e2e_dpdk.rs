//! End to end with a member on DPDK: an unmodified Linux host downloads from the anycast
//! address of three real `vany node` processes, member 3 of which runs on DPDK
//! (`net_af_packet` on its namespace's veth) and members 1 and 2 on TUN, while the
//! session moves to and from the DPDK member; then the DPDK member drains.
//!
//! ```text
//!                         hub namespace (IPv6 router)
//!     hc fd00:99:10::1   h1 fd00:99:1::1   h2 fd00:99:2::1   h3 fd00:99:3::1
//!          │ veth             │ veth            │ veth            │ veth
//!   client: eth0          n1: eth0          n2: eth0          n3: eth0 fd00:99:3::2
//!   kernel TCP,           vtun: member 1    vtun: member 2    (kernel: gossip, metrics)
//!   vany client           (contact node)                      DPDK net_af_packet0 on
//!                                                             eth0: member 3, care-of
//!                                                             fd00:20:3::1 (ND, ping)
//! ```
//!
//! The hub routes member 3's care-of address on-link out of `h3`: its kernel resolves it
//! by neighbor discovery, which vany's DPDK layer 2 answers; member 3 sends everything to
//! the hub's `fd00:99:3::1`, resolved by vany's ND (see `netns_common::lab`). Before the
//! client starts, the hub pings the care-of address (`ping -6 -c 3`).
//!
//! The run is `netns_common::handoffs` (as in `e2e_netns`): the client asks the `source`
//! app for a paced stream (256 MiB at 8 MiB/s; `VANY_E2E_MIB`, `VANY_E2E_RATE_MIB`) and
//! `vany ctl handoff` moves it 21 times, every move to or from the DPDK member: 1 -> 3,
//! 3 -> 2, 2 -> 3, 3 -> 1, ...; the session is then at member 3, which `vany ctl drain`
//! drains. Pass: stream complete and intact (SHA-256), no error (reset) on the kernel
//! socket, no gap longer than 1 s, every move settled where asked, the drained DPDK
//! member exits 0, no reset counted by the client kernel, and no retransmission timeout
//! (`TcpExtTCPTimeouts`) counted by it once the connection is up. The numbers are printed
//! (`-- --nocapture`).
//!
//! Needs root (namespaces, TUN, nftables, DPDK's EAL) and a vany built with DPDK:
//! otherwise prints "skipped: ..." and passes (fails with VANY_TESTS_REQUIRED=1).
//! Everything is bounded in time and removed by the lab's Drop guard, even on failure.

mod netns_common;

use netns_common::handoffs::*;
use netns_common::lab::*;
use netns_common::*;
use vany_appliance::node::ctl::Request;

const PREFIX: &str = "vany-xd";
const DPDK_MEMBER: u16 = 3;

#[test]
fn kernel_client_follows_handoffs_to_and_from_a_dpdk_member() {
    if !vany_ffi::BUILT_WITH_DPDK {
        return skip("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let mut lab = Lab::build_with_dpdk(PREFIX, "d", 3, Some(DPDK_MEMBER));
    lab.start_group();
    // The hub's kernel resolves the DPDK member's care-of address by ND and pings it.
    lab.hub_pings(DPDK_MEMBER);
    let status = lab.ask(DPDK_MEMBER, &Request::Status).expect("status");
    let nd = &status["layer2"]["nd"];
    println!(
        "member {DPDK_MEMBER}'s layer 2 after the ping: {}",
        status["layer2"]
    );
    let count = |name: &str| nd[name].as_u64().unwrap_or(0);
    assert!(count("echo_replies") >= 3, "vany answered the pings: {nd}");
    assert!(
        count("ns_rx") >= 1 && count("na_tx") >= 1,
        "vany answered the hub's NS: {nd}"
    );

    lab.start_client();
    let plan = Plan {
        stream: 0x0e2e_d001,
        length: env_u64("VANY_E2E_MIB", 256) * MIB,
        rate: env_u64("VANY_E2E_RATE_MIB", 8) * MIB,
        moves: 21,
        // To the DPDK member, back to a TUN member (2, then 1, in turn), ...
        next: |k| match k % 4 {
            0 | 2 => DPDK_MEMBER,
            1 => 2,
            _ => 1,
        },
        drain_at: Some(DPDK_MEMBER),
    };
    let counters = handoffs_then_drain(&mut lab, &plan);
    let log = lab.node_log(DPDK_MEMBER);
    let up = log.lines().find(|l| l.contains("DPDK port up"));
    println!(
        "member {DPDK_MEMBER}: {}",
        up.unwrap_or("(no DPDK port in its log)")
    );
    assert!(up.is_some(), "member {DPDK_MEMBER} ran on DPDK: {log}");
    let rtos = delta(&counters.connected, &counters.after, "TcpExtTCPTimeouts");
    println!("client kernel retransmission timeouts once connected: {rtos}");
    assert_eq!(
        rtos, 0,
        "client kernel counter TcpExtTCPTimeouts moved after the connection was up"
    );
}
