//! Ethernet II framing for IPv6 (RFC 2464): parse a received frame, emit a frame around
//! an IPv6 packet, and map IPv6 multicast addresses to Ethernet multicast addresses.
//!
//! The MAC address type is smoltcp's ([`Mac`]); a received frame's headers are read
//! byte by byte (it is the receive hot path), by the rules vany needs: only EtherType 0x86DD is passed up, Ethernet padding
//! after the IPv6 packet is cut off (RFC 2464 §3: a frame is at least 64 bytes on the
//! wire), and frames to a unicast MAC that is not ours are not for us.

use core::net::Ipv6Addr;

pub use smoltcp::wire::EthernetAddress as Mac;

/// Bytes of an Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;
/// Bytes of an IPv6 header.
const IPV6_HEADER_LEN: usize = 40;
/// EtherType of IPv6 (RFC 2464 §3).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Why a received frame is not passed up as an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than an Ethernet header.
    #[error("frame of {0} bytes is shorter than the 14-byte Ethernet header")]
    Truncated(usize),
    /// Not IPv6: vany speaks IPv6 only (ARP, IPv4, LLDP... are dropped).
    #[error("EtherType {0:#06x} is not IPv6 (0x86dd)")]
    NotIpv6(u16),
    /// Unicast to another station's MAC (seen in promiscuous mode).
    #[error("frame to unicast MAC {0} which is not ours")]
    NotOurMac(Mac),
    /// A multicast or broadcast source MAC: no station sends from one (IEEE 802.3 §3.2.3),
    /// and answering it would multicast our reply.
    #[error("frame from group MAC {0}")]
    GroupSource(Mac),
    /// The payload is not a whole IPv6 packet (short header, wrong version, or a Payload
    /// Length past the end of the frame).
    #[error("frame payload is not a whole IPv6 packet")]
    BadIpv6,
}

/// A received frame that carries an IPv6 packet for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Frame<'a> {
    /// The sender's MAC.
    pub src: Mac,
    /// The MAC the frame was sent to (ours, broadcast or a multicast MAC).
    pub dst: Mac,
    /// The IPv6 packet, header included, without Ethernet padding.
    pub packet: &'a [u8],
}

/// Parses an Ethernet II frame received on the interface whose MAC is `ours`.
///
/// Every frame a port receives goes through here: the checks read the bytes directly
/// (the same rules as smoltcp's views: a MAC is unicast when its group bit, the lowest
/// bit of its first byte, is clear) and the function inlines into the receive loop.
#[inline(always)]
pub fn parse(frame: &[u8], ours: Mac) -> Result<Ipv6Frame<'_>, FrameError> {
    let Some((header, payload)) = frame.split_first_chunk::<HEADER_LEN>() else {
        return Err(FrameError::Truncated(frame.len()));
    };
    let ethertype = u16::from_be_bytes([header[12], header[13]]);
    if ethertype != ETHERTYPE_IPV6 {
        return Err(FrameError::NotIpv6(ethertype));
    }
    let dst = Mac([
        header[0], header[1], header[2], header[3], header[4], header[5],
    ]);
    let src = Mac([
        header[6], header[7], header[8], header[9], header[10], header[11],
    ]);
    if header[0] & 1 == 0 && dst != ours {
        return Err(FrameError::NotOurMac(dst));
    }
    if header[6] & 1 != 0 {
        return Err(FrameError::GroupSource(src));
    }
    // RFC 8200 §3: version 6; the Payload Length within the frame.
    let Some(ip) = payload.first_chunk::<IPV6_HEADER_LEN>() else {
        return Err(FrameError::BadIpv6);
    };
    if ip[0] >> 4 != 6 {
        return Err(FrameError::BadIpv6);
    }
    let total = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let Some(packet) = payload.get(..total) else {
        return Err(FrameError::BadIpv6);
    };
    Ok(Ipv6Frame { src, dst, packet })
}

/// Writes an Ethernet II header for an IPv6 packet into `buf[..14]`, for backends that
/// build the packet in place behind it. Returns `false` (writing nothing) if `buf` is
/// shorter than [`HEADER_LEN`].
#[inline]
pub fn write_header(buf: &mut [u8], dst: Mac, src: Mac) -> bool {
    let Some(h) = buf.get_mut(..HEADER_LEN) else {
        return false;
    };
    h[0..6].copy_from_slice(&dst.0);
    h[6..12].copy_from_slice(&src.0);
    h[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    true
}

/// A new frame: an Ethernet II header to `dst` from `src` in front of `packet`.
pub fn frame(dst: Mac, src: Mac, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN + packet.len()];
    write_header(&mut out, dst, src);
    out[HEADER_LEN..].copy_from_slice(packet);
    out
}

/// The Ethernet multicast address of an IPv6 multicast address: 33:33 followed by its
/// last four bytes (RFC 2464 §7).
pub fn multicast_mac(addr: Ipv6Addr) -> Mac {
    let o = addr.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 followed by its
/// last three bytes (RFC 4291 §2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The all-nodes link-local multicast address ff02::1 (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: Mac = Mac([0x02, 0, 0, 0, 0, 1]);
    const PEER: Mac = Mac([0x02, 0, 0, 0, 0, 2]);

    fn ipv6(payload_len: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40 + usize::from(payload_len)];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&payload_len.to_be_bytes());
        p[6] = 59; // No Next Header
        p[7] = 64;
        p
    }

    #[test]
    fn frame_round_trips_and_padding_is_cut() {
        // RFC 2464 §3: short frames are padded; the IPv6 Payload Length says where the
        // packet ends.
        let p = ipv6(2);
        let mut f = frame(OURS, PEER, &p);
        f.resize(60, 0xee);
        let got = parse(&f, OURS).unwrap();
        assert_eq!(got.packet, &p[..]);
        assert_eq!(got.src, PEER);
        assert_eq!(got.dst, OURS);
    }

    #[test]
    fn non_ipv6_ethertype_is_refused() {
        // RFC 2464 §3: IPv6 is EtherType 0x86DD; ARP (0x0806) is not ours to handle.
        let mut f = frame(OURS, PEER, &ipv6(0));
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse(&f, OURS), Err(FrameError::NotIpv6(0x0806)));
    }

    #[test]
    fn other_unicast_mac_and_bad_lengths_are_refused() {
        let f = frame(PEER, PEER, &ipv6(0));
        assert_eq!(parse(&f, OURS), Err(FrameError::NotOurMac(PEER)));
        let group = Mac([0x33, 0x33, 0, 0, 0, 1]);
        let f = frame(OURS, group, &ipv6(0));
        assert_eq!(parse(&f, OURS), Err(FrameError::GroupSource(group)));
        assert_eq!(parse(&[0u8; 13], OURS), Err(FrameError::Truncated(13)));
        let mut f = frame(OURS, PEER, &ipv6(8));
        f.truncate(f.len() - 1);
        assert_eq!(parse(&f, OURS), Err(FrameError::BadIpv6));
        let mut f = frame(OURS, PEER, &ipv6(0));
        f[14] = 0x40;
        assert_eq!(parse(&f, OURS), Err(FrameError::BadIpv6));
    }

    #[test]
    fn multicast_frames_are_accepted() {
        let f = frame(Mac([0x33, 0x33, 0, 0, 0, 1]), PEER, &ipv6(0));
        assert!(parse(&f, OURS).is_ok());
    }

    #[test]
    fn multicast_mapping_rfc2464_s7() {
        let a: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!(multicast_mac(a), Mac([0x33, 0x33, 0xff, 0x12, 0x34, 0x56]));
        let t: Ipv6Addr = "fd00::abcd:12:3456".parse().unwrap();
        assert_eq!(solicited_node(t), a);
    }
}
