//! Which core of a node with several owns a client: the core that receives the client's
//! packets to the anycast address (its contact-node role for that client). Every member
//! computes it the same way, so a member tells the right core of a multi-core contact
//! node who serves a client (see docs/cores.md).

use std::net::Ipv6Addr;

/// The core (of `cores`) that owns `client`: FNV-1a of its address, modulo `cores` (the
/// same on every member and every run).
pub fn shard(client: Ipv6Addr, cores: usize) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in client.octets() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h as usize) % cores.max(1)
}
