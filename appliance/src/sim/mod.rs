//! A deterministic discrete-event WAN simulator: the embedded default everyone runs
//! first (`vany demo`). Hosts with IPv6 addresses exchange whole IPv6 packets over paths
//! whose one-way latency comes from a matrix, with jitter, loss, reordering, duplication
//! and MTU per path. Seeded: the same seed gives the same run, bit for bit.
//!
//! Hosts run the real stack code (`vany-stack`): members and contact nodes
//! (`group::member`) and clients ([`client`]).

pub mod client;
pub mod engine;
pub mod pcap;

use std::net::Ipv6Addr;

use vany_stack::time::Instant;

pub use engine::{LinkParams, Sim, SimStats, PTB_ROUTER};

/// Index of a host in the simulator.
pub type HostId = usize;

/// Something attached to the simulated network.
pub trait Host {
    /// Addresses this host receives packets for. An address owned by several hosts is an
    /// anycast address: a packet to it goes to the owner nearest to the sender.
    fn addresses(&self) -> Vec<Ipv6Addr>;

    /// A packet arrived; packets to send go into `out` (whole IPv6 packets).
    fn handle_packet(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Vec<u8>>);

    /// Timers and application work due at `now`; packets to send go into `out`.
    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);

    /// When `poll` next has work, if ever.
    fn next_wake(&self) -> Option<Instant>;

    /// For scenarios that inspect or command a host of a known type.
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}
