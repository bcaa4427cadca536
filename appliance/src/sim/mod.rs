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

pub use crate::host::Host;
pub use engine::{LinkParams, Sim, SimStats, PTB_ROUTER};

/// Index of a host in the simulator.
pub type HostId = usize;
