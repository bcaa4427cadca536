//! Framing a forwarded packet for its next hop in place, and the next hop kept across
//! the frames of one [`PacketIo::forward_to`](super::PacketIo::forward_to) call.

use std::net::Ipv6Addr;

use vany_stack::l2::ethernet::write_header;
use vany_stack::l2::{Egress, Neighbors};
use vany_stack::time::Instant;

use super::{Mac, ETHERNET_HEADER_LEN};

/// Frames the IPv6 packet of `len` bytes behind `frame`'s Ethernet header for its next
/// hop: the header written in place when `nd` knows the next hop's MAC, `None`; else
/// the packet goes to `nd` (a copy queued while the next hop is resolved, or dropped),
/// whose verdict is returned.
pub(super) fn frame_in_place(
    nd: &mut Neighbors,
    now: Instant,
    frame: &mut [u8],
    len: usize,
) -> Option<Egress> {
    let packet = &frame[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + len];
    let dst = packet_dst(packet);
    let me = nd.mac();
    match nd.resolve(now, dst, None) {
        Some(mac) => {
            write_header(frame, mac, me);
            None
        }
        None => Some(nd.egress(now, packet, None)),
    }
}

/// The destination address of an IPv6 packet (unspecified if it is too short).
fn packet_dst(packet: &[u8]) -> Ipv6Addr {
    match packet.get(24..40) {
        Some(d) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(d);
            Ipv6Addr::from(a)
        }
        None => Ipv6Addr::UNSPECIFIED,
    }
}

/// The next hop layer 2 resolved for a frame forwarded in one
/// [`PacketIo::forward_to`] call, reused for the call's later frames that it serves:
/// those to the same destination, or to any unicast destination when every one goes
/// through the gateway ([`Neighbors::one_next_hop`]). At the one `now` of the call,
/// with layer 2 not otherwise touched meanwhile (any frame it must act on clears this),
/// resolving again would give the same MAC and change nothing: one lookup per burst
/// rather than one per frame.
pub(super) struct Hop {
    /// The destination it was resolved for.
    dst: [u8; 16],
    /// Whether it serves every unicast destination.
    any_unicast: bool,
    pub(super) mac: Mac,
}

impl Hop {
    /// The hop `frame` (just written by [`frame_in_place`]) went to.
    pub(super) fn after(nd: &Neighbors, frame: &[u8]) -> Option<Hop> {
        let dst = frame_dst(frame)?;
        let mac = Mac([frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]]);
        Some(Hop {
            dst,
            any_unicast: dst[0] != 0xff && nd.one_next_hop(),
            mac,
        })
    }

    /// Whether `frame`'s packet goes to this hop.
    pub(super) fn serves(&self, frame: &[u8]) -> bool {
        frame_dst(frame).is_some_and(|d| d == self.dst || (self.any_unicast && d[0] != 0xff))
    }
}

/// The IPv6 destination address of the packet behind `frame`'s Ethernet header.
fn frame_dst(frame: &[u8]) -> Option<[u8; 16]> {
    let at = ETHERNET_HEADER_LEN + 24;
    frame.get(at..at + 16)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vany_stack::l2::{Gateway, NdConfig, OwnAddr};

    const MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const HOP: Mac = Mac([2, 0, 0, 0, 0, 9]);

    fn nd(gateway: Gateway) -> Neighbors {
        let addrs = vec![OwnAddr {
            addr: "fd00::1".parse().unwrap(),
            anycast: false,
        }];
        Neighbors::new(NdConfig::new(MAC, addrs, gateway)).unwrap()
    }

    /// A frame to `HOP` carrying an IPv6 header to `dst`.
    fn frame(dst: &str) -> Vec<u8> {
        let mut f = vec![0u8; ETHERNET_HEADER_LEN + 40];
        f[..6].copy_from_slice(&HOP.0);
        let d: Ipv6Addr = dst.parse().unwrap();
        f[ETHERNET_HEADER_LEN + 24..].copy_from_slice(&d.octets());
        f
    }

    #[test]
    fn a_gateway_serves_every_unicast_destination_but_not_multicast() {
        for gateway in [
            Gateway::Mac(HOP),
            Gateway::Ipv6("fd00::fe".parse().unwrap()),
        ] {
            let h = Hop::after(&nd(gateway), &frame("fd00::2")).unwrap();
            assert_eq!(h.mac, HOP);
            assert!(h.serves(&frame("fd00::2")) && h.serves(&frame("fd00:77::3")));
            assert!(!h.serves(&frame("ff02::1")));
            assert!(!h.serves(&frame("fd00::2")[..ETHERNET_HEADER_LEN + 39]));
        }
    }

    #[test]
    fn on_link_a_hop_serves_its_destination_only() {
        let h = Hop::after(&nd(Gateway::OnLink), &frame("fd00::2")).unwrap();
        assert!(h.serves(&frame("fd00::2")));
        assert!(!h.serves(&frame("fd00::3")));
        // A multicast destination's MAC is its own, for any gateway.
        let m = Hop::after(&nd(Gateway::Mac(HOP)), &frame("ff02::1")).unwrap();
        assert!(m.serves(&frame("ff02::1")));
        assert!(!m.serves(&frame("ff02::2")) && !m.serves(&frame("fd00::2")));
    }
}
