//! vany-appliance: everything that touches the world — CLI, packet I/O, the simulator,
//! the anycast group. Builds the `vany` binary.

pub mod apps;
pub mod bench;
pub mod client_host;
pub mod demo;
pub mod docs;
pub mod group;
pub mod host;
pub mod inspect;
pub mod io;
pub mod node;
pub mod plot;
pub mod sd_notify;
pub mod sim;
