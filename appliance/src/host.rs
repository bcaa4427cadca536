//! How a protocol host is driven: the interface the simulator and the real node both use
//! to run a group member (and the simulator its clients). It lives outside `sim/` so
//! that the node runtime depends on it and not on the simulator.
//!
//! Packets in (`handle_packet` with `now`), the periodic work (`poll` once `next_wake`
//! has come), whole IPv6 packets out. The node also drives a member through its lent
//! data path (`group::member::LendingSink`; docs/architecture.md, "Driving a member").

use std::net::Ipv6Addr;

use vany_stack::time::Instant;

/// Something attached to a network: a group member, a simulated client.
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
