//! Mobile IPv6 (RFC 6275): return-routability cryptography and nonces.

pub mod nonce;
pub mod rr;
