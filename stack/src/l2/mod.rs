//! Layer 2 for backends that move Ethernet frames (DPDK), sans-IO: Ethernet II framing
//! ([`ethernet`]) and IPv6 Neighbor Discovery with ICMPv6 echo ([`nd`]).
//!
//! TUN backends never see this layer. See `docs/l2.md`.

mod cache;
pub mod ethernet;
pub mod nd;
mod rx;

pub use cache::NeighborState;
pub use ethernet::Mac;
pub use nd::{
    Counters, Egress, EgressDrop, Gateway, Ingress, NdConfig, NdConfigError, Neighbors, OwnAddr,
};

#[cfg(test)]
mod tests;
