//! Mobile IPv6 (RFC 6275): return-routability cryptography and nonces, the
//! correspondent node, and the group's mobile-node side.

pub mod cn;
pub mod mn;
pub mod nonce;
pub mod reflect;
pub mod rr;

use std::net::Ipv6Addr;

use crate::wire::{MhRepr, PacketRepr, Upper};

/// A Mobility Header packet from `src` to `dst` (RFC 6275 §6.1: an MH message carries a
/// Type 2 Routing Header only in a BA and a Home Address option only in a BU).
pub(crate) fn mh_packet<'a>(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    rh2: Option<Ipv6Addr>,
    hao: Option<Ipv6Addr>,
    mh: MhRepr<'a>,
) -> PacketRepr<'a> {
    PacketRepr {
        rh2,
        hao,
        ..PacketRepr::new(src, dst, Upper::Mh(mh))
    }
}

/// The packet's bytes, signed with `kbm` when given (BU, BA); `None` if it cannot be
/// emitted (which the callers' fixed messages never hit).
pub(crate) fn emit_mh(repr: &PacketRepr<'_>, kbm: Option<&rr::Kbm>) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; repr.buffer_len()];
    let ok = match kbm {
        Some(k) => rr::emit_signed(repr, k, &mut buf).is_ok(),
        None => repr.emit(&mut buf).is_ok(),
    };
    ok.then_some(buf)
}
