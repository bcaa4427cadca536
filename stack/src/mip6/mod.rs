//! Mobile IPv6 (RFC 6275): return-routability cryptography and nonces, the
//! correspondent node, and the group's mobile-node side.

pub mod cn;
pub mod mn;
pub mod nonce;
pub mod rr;
