//! vany-stack: the sans-IO protocol code of vany.
//!
//! Layering, bottom up:
//! - [`wire`]: zero-copy packet views and `Repr` structs for IPv6 with the Mobile IPv6
//!   extension headers (Type 2 Routing Header, Home Address option) and the Mobility Header,
//!   plus a whole-packet parser/builder that verifies upper-layer checksums with the home
//!   address in the pseudo-header (RFC 6275 §6.1.1, §6.3, §6.4).
//! - [`mip6`]: return-routability cryptography (RFC 6275 §5.2) and, later, the
//!   correspondent-node and mobile-node state machines.
//!
//! Nothing in this crate reads a clock, spawns a thread, performs I/O or draws randomness
//! of its own: time arrives as [`time::Instant`] arguments and randomness through
//! [`rand::RandomSource`]. Clippy's `disallowed-methods` (see `clippy.toml`) enforces it.

#![deny(clippy::disallowed_methods)]

pub mod l2;
pub mod mip6;
pub mod rand;
pub mod tcp;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod wire;
