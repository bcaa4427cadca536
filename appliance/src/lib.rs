//! vany-appliance: everything that touches the world — CLI, packet I/O, the simulator,
//! the anycast group. Builds the `vany` binary.

pub mod inspect;
pub mod io;
