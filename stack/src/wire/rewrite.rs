//! Packet rewriting, in one place (issue 13): the Type 2 Routing Header inserted and the
//! Home Address option stripped by `vany client` (RFC 6275 §9.3), MSS clamping for the
//! 24 bytes they add, one extension-header walker, and the incremental checksum update
//! (RFC 1624). Callers: `vany client`'s translator (appliance/src/client_host).

use core::net::Ipv6Addr;

use super::hao::{HaoHeader, DEST_OPTS_PROTOCOL};
use super::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL};
use super::rh2::{Rh2Header, RH2_LEN, ROUTING_PROTOCOL};

/// IPv6 Hop-by-Hop Options header (RFC 8200 §4.3).
pub const HOP_BY_HOP: u8 = 0;
/// IPv6 Fragment header (RFC 8200 §4.5).
pub const FRAGMENT: u8 = 44;
/// IP Authentication Header (RFC 4302).
pub const AUTH: u8 = 51;
/// Extension headers walked at most (a packet with more is left alone).
const MAX_EXTENSION_HEADERS: usize = 8;

/// The upper layer of an IPv6 packet, past its extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Its protocol number (netfilter's `meta l4proto`).
    pub protocol: u8,
    /// Where it starts.
    pub offset: usize,
    /// Whether a Fragment header was passed (the upper layer may not be in this packet).
    pub fragmented: bool,
    /// Whether an Authentication Header was passed (rewriting the upper layer breaks it).
    pub authenticated: bool,
}

/// Walks the extension headers of an IPv6 packet (Hop-by-Hop, Routing, Destination
/// Options, Fragment, Authentication; at most eight): the one walker of the crate's
/// rewriting. `None` for a packet that is not IPv6 or whose headers run past its end.
pub fn upper_layer(packet: &[u8]) -> Option<UpperLayer> {
    if packet.len() < IPV6_HEADER_LEN || packet[0] >> 4 != 6 {
        return None;
    }
    let mut next = packet[6];
    let mut at = IPV6_HEADER_LEN;
    let (mut fragmented, mut authenticated) = (false, false);
    for _ in 0..=MAX_EXTENSION_HEADERS {
        let len = match next {
            HOP_BY_HOP | ROUTING_PROTOCOL | DEST_OPTS_PROTOCOL => {
                (usize::from(*packet.get(at + 1)?) + 1) * 8
            }
            FRAGMENT => {
                fragmented = true;
                8
            }
            AUTH => {
                authenticated = true;
                (usize::from(*packet.get(at + 1)?) + 2) * 4
            }
            protocol => {
                return Some(UpperLayer {
                    protocol,
                    offset: at,
                    fragmented,
                    authenticated,
                })
            }
        };
        next = *packet.get(at)?;
        at += len;
        if at > packet.len() {
            return None;
        }
    }
    None
}

/// Why a packet could not be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// Not a complete IPv6 packet.
    #[error("not a complete IPv6 packet")]
    NotIpv6,
    /// It already has a routing header, so an RH2 cannot be added.
    #[error("the packet already carries a routing header")]
    AlreadyRouted,
    /// With the RH2 the payload would exceed 65535 bytes.
    #[error("the packet is too long for a routing header to be added")]
    TooLong,
    /// No Destination Options header with a Home Address option where one must be.
    #[error("no Home Address option right after the IPv6 (and Hop-by-Hop) header")]
    NoHao,
}

/// The IPv6 header and total length of `packet` (link-layer padding cut off).
pub fn ipv6_total(packet: &[u8]) -> Result<usize, RewriteError> {
    if packet.len() < IPV6_HEADER_LEN || packet[0] >> 4 != 6 {
        return Err(RewriteError::NotIpv6);
    }
    let total = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    if total > packet.len() {
        return Err(RewriteError::NotIpv6);
    }
    Ok(total)
}

/// Offset of the byte naming the first header after the IPv6 header and an optional
/// Hop-by-Hop header (which must stay first, RFC 8200 §4.1), and where that header is.
fn after_hop_by_hop(packet: &[u8], total: usize) -> Result<(usize, usize), RewriteError> {
    if packet[6] != HOP_BY_HOP {
        return Ok((6, IPV6_HEADER_LEN));
    }
    let len = (usize::from(*packet.get(41).ok_or(RewriteError::NotIpv6)?) + 1) * 8;
    if IPV6_HEADER_LEN + len > total {
        return Err(RewriteError::NotIpv6);
    }
    Ok((IPV6_HEADER_LEN, IPV6_HEADER_LEN + len))
}

/// RFC 6275 §9.3.2, §6.4: rewrites a packet for home address `dst` into `out`, sent to
/// `care_of` with a Type 2 Routing Header holding the home address (after a Hop-by-Hop
/// header, if any). The upper layer is copied unchanged: its checksum already covers the
/// home address as the final destination.
pub fn insert_rh2(packet: &[u8], care_of: Ipv6Addr, out: &mut Vec<u8>) -> Result<(), RewriteError> {
    let total = ipv6_total(packet)?;
    let (next_at, insert_at) = after_hop_by_hop(packet, total)?;
    let next = packet[next_at];
    if next == ROUTING_PROTOCOL {
        return Err(RewriteError::AlreadyRouted);
    }
    let payload = total - IPV6_HEADER_LEN + RH2_LEN;
    let payload = u16::try_from(payload).map_err(|_| RewriteError::TooLong)?;
    let mut home = [0u8; 16];
    home.copy_from_slice(&packet[24..40]);
    out.clear();
    out.extend_from_slice(&packet[..insert_at]);
    out[4..6].copy_from_slice(&payload.to_be_bytes());
    out[24..40].copy_from_slice(&care_of.octets());
    out[next_at] = ROUTING_PROTOCOL;
    let at = out.len();
    out.resize(at + RH2_LEN, 0);
    Rh2Header::emit(next, &Ipv6Addr::from(home), &mut out[at..]);
    out.extend_from_slice(&packet[insert_at..total]);
    Ok(())
}

/// RFC 6275 §9.3.1: rewrites a packet carrying a Home Address option (in a Destination
/// Options header right after the IPv6 header or its Hop-by-Hop header) into `out`:
/// source = the home address, Destination Options header removed. Returns the home
/// address. The upper layer is copied unchanged (its checksum was computed over the home
/// address). Other options of that header (only skippable ones are possible) go with it.
pub fn strip_hao(packet: &[u8], out: &mut Vec<u8>) -> Result<Ipv6Addr, RewriteError> {
    let total = ipv6_total(packet)?;
    let (next_at, at) = after_hop_by_hop(packet, total)?;
    if packet[next_at] != DEST_OPTS_PROTOCOL {
        return Err(RewriteError::NoHao);
    }
    let hao = HaoHeader::parse(&packet[at..total]).map_err(|_| RewriteError::NoHao)?;
    let payload = total - IPV6_HEADER_LEN - hao.len;
    out.clear();
    out.extend_from_slice(&packet[..at]);
    out[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    out[8..24].copy_from_slice(&hao.home_address.octets());
    out[next_at] = hao.next_header;
    out.extend_from_slice(&packet[at + hao.len..total]);
    Ok(hao.home_address)
}

// ---- headers --------------------------------------------------------------------------

/// The IPv6 fixed header (RFC 8200 §3) of a packet without extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header (6 for TCP).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Length of what follows the header.
    pub payload_len: usize,
}

impl Ipv6Header {
    /// Writes the 40-byte header (traffic class and flow label zero) into `buf[..40]`.
    ///
    /// Panics if `buf` is shorter than 40 bytes or `payload_len` exceeds 65535.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = u16::try_from(self.payload_len).expect("IPv6 payload of at most 65535 bytes");
        buf[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        buf[4..6].copy_from_slice(&len.to_be_bytes());
        buf[6] = self.next_header;
        buf[7] = self.hop_limit;
        buf[8..24].copy_from_slice(&self.src.octets());
        buf[24..40].copy_from_slice(&self.dst.octets());
    }
}

// ---- MSS clamping -----------------------------------------------------------------------

/// TCP header flag bit SYN.
const SYN: u8 = 0x02;
/// TCP option kinds.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
/// Offset of the checksum in the TCP header.
const CHECKSUM_AT: usize = 16;

/// The largest MSS that leaves room for the IPv6 header (40), the TCP header without
/// options (20) and one RH2 or HAO (24) in an `mtu`-byte packet.
pub fn max_mss_for_mtu(mtu: u32) -> u16 {
    mtu.saturating_sub(40 + 20 + 24)
        .clamp(536, u32::from(u16::MAX)) as u16
}

/// Where the TCP header of an IPv6 packet starts, past its extension headers; `None`
/// if the packet carries no (complete) TCP header, is a fragment, or is authenticated
/// (AH covers the segment: it must not change).
pub fn tcp_offset(packet: &[u8]) -> Option<usize> {
    let u = upper_layer(packet)?;
    let whole = !u.fragmented && !u.authenticated;
    (u.protocol == TCP_PROTOCOL && whole && packet.len() >= u.offset + 20).then_some(u.offset)
}

/// RFC 1624 eqn. 3: the checksum after a 16-bit word changed from `old` to `new`.
pub fn update_checksum(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

fn word(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Lowers the MSS option of a SYN (or SYN-ACK) `segment` (TCP header and payload) to
/// `max`, fixing the checksum. Returns the MSS it had when it was lowered; `None` when
/// the segment is no SYN, has no MSS option, or its MSS is at most `max`. Malformed
/// options are left alone.
pub fn clamp_syn_mss(segment: &mut [u8], max: u16) -> Option<u16> {
    if segment.len() < 20 || segment[13] & SYN == 0 {
        return None;
    }
    let header_len = usize::from(segment[12] >> 4) * 4;
    if header_len < 20 || header_len > segment.len() {
        return None;
    }
    let mut at = 20;
    while at < header_len {
        match segment[at] {
            OPT_END => return None,
            OPT_NOP => at += 1,
            kind => {
                let len = usize::from(*segment.get(at + 1)?);
                if len < 2 || at + len > header_len {
                    return None;
                }
                if kind == OPT_MSS && len == 4 {
                    let value_at = at + 2;
                    let old = word(segment, value_at);
                    if old <= max {
                        return None;
                    }
                    // The checksum sums 16-bit words from the start of the segment: an
                    // option value at an odd offset straddles two of them.
                    let first = value_at & !1;
                    let last = (value_at + 1) & !1;
                    let before = [word(segment, first), word(segment, last)];
                    segment[value_at..value_at + 2].copy_from_slice(&max.to_be_bytes());
                    let mut sum = word(segment, CHECKSUM_AT);
                    sum = update_checksum(sum, before[0], word(segment, first));
                    if last != first {
                        sum = update_checksum(sum, before[1], word(segment, last));
                    }
                    segment[CHECKSUM_AT..CHECKSUM_AT + 2].copy_from_slice(&sum.to_be_bytes());
                    return Some(old);
                }
                at += len;
            }
        }
    }
    None
}

/// [`clamp_syn_mss`] on the TCP segment of a whole IPv6 packet, if it has one.
pub fn clamp_packet(packet: &mut [u8], max: u16) -> Option<u16> {
    let at = tcp_offset(packet)?;
    clamp_syn_mss(&mut packet[at..], max)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use crate::wire::packet::fill_tcp_checksum;
    use crate::wire::parse;

    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("fd00:1::1".parse().unwrap(), "fd00:a::1".parse().unwrap())
    }

    /// An IPv6 packet with a TCP segment whose options are `options` (padded to 4).
    fn syn_packet(flags: u8, options: &[u8]) -> Vec<u8> {
        let (src, dst) = addrs();
        let mut opts = options.to_vec();
        while !opts.len().is_multiple_of(4) {
            opts.push(OPT_END);
        }
        let tcp_len = 20 + opts.len();
        let mut p = vec![0u8; 40 + tcp_len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        p[6] = TCP_PROTOCOL;
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        let t = &mut p[40..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..].copy_from_slice(&opts);
        fill_tcp_checksum(&src, &dst, t);
        p
    }

    fn mss_of(p: &[u8]) -> Option<u16> {
        match parse(p).unwrap().repr.upper {
            crate::wire::Upper::Tcp(t) => t.max_seg_size,
            _ => None,
        }
    }

    #[test]
    fn syn_mss_lowered_checksum_still_verifies() {
        // MSS 1440, SACK permitted, timestamps, NOP, window scale: as Linux sends it.
        let mut opts = vec![2, 4, 0x05, 0xa0, 4, 2, 8, 10];
        opts.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
        let mut p = syn_packet(SYN, &opts);
        assert!(parse(&p).unwrap().checksum_ok);
        assert_eq!(clamp_packet(&mut p, 1416), Some(1440));
        let parsed = parse(&p).unwrap();
        assert!(parsed.checksum_ok, "checksum after clamping");
        assert_eq!(mss_of(&p), Some(1416));
    }

    #[test]
    fn mss_at_odd_offset_fixes_both_words() {
        // NOP first: the MSS value sits at segment offset 23, across two checksum words.
        let mut p = syn_packet(SYN | 0x10, &[OPT_NOP, 2, 4, 0x23, 0x45]);
        assert!(parse(&p).unwrap().checksum_ok);
        assert_eq!(clamp_packet(&mut p, 1000), Some(0x2345));
        assert!(parse(&p).unwrap().checksum_ok);
        assert_eq!(mss_of(&p), Some(1000));
    }

    #[test]
    fn small_mss_and_non_syn_untouched() {
        let mut p = syn_packet(SYN, &[2, 4, 0x04, 0x00]);
        let before = p.clone();
        assert_eq!(clamp_packet(&mut p, 1416), None);
        assert_eq!(p, before);
        let mut ack = syn_packet(0x10, &[2, 4, 0x05, 0xa0]);
        let before = ack.clone();
        assert_eq!(clamp_packet(&mut ack, 1000), None);
        assert_eq!(ack, before);
    }

    #[test]
    fn malformed_options_and_short_packets_are_left_alone() {
        for opts in [&[2u8, 5, 5, 5][..], &[2, 0], &[2, 9, 1, 1], &[8, 1]] {
            let mut p = syn_packet(SYN, opts);
            let before = p.clone();
            assert_eq!(clamp_packet(&mut p, 100), None, "{opts:?}");
            assert_eq!(p, before);
        }
        for len in 0..60 {
            let mut p = syn_packet(SYN, &[2, 4, 0x05, 0xa0]);
            p.truncate(len);
            let _ = clamp_packet(&mut p, 100);
        }
    }

    #[test]
    fn tcp_found_behind_extension_headers() {
        let p = syn_packet(SYN, &[2, 4, 0x05, 0xa0]);
        // Insert a 24-byte RH2 after the IPv6 header.
        let mut q = p[..40].to_vec();
        q[6] = ROUTING_PROTOCOL;
        let mut rh2 = [0u8; 24];
        rh2[0] = TCP_PROTOCOL;
        rh2[1] = 2;
        rh2[2] = 2;
        rh2[3] = 1;
        q.extend_from_slice(&rh2);
        q.extend_from_slice(&p[40..]);
        assert_eq!(tcp_offset(&q), Some(64));
        assert_eq!(tcp_offset(&p), Some(40));
        assert_eq!(max_mss_for_mtu(1500), 1416);
        assert_eq!(max_mss_for_mtu(0), 536);
    }

    /// `p` with an extension header of `kind` (`bytes` long) inserted right after the
    /// IPv6 header.
    fn behind(p: &[u8], kind: u8, bytes: usize, len_field: u8) -> Vec<u8> {
        let mut q = p[..40].to_vec();
        let next = q[6];
        q[6] = kind;
        let payload = u16::from_be_bytes([q[4], q[5]]) + bytes as u16;
        q[4..6].copy_from_slice(&payload.to_be_bytes());
        let mut h = vec![0u8; bytes];
        h[0] = next;
        h[1] = len_field;
        q.extend_from_slice(&h);
        q.extend_from_slice(&p[40..]);
        q
    }

    #[test]
    fn authenticated_or_fragmented_segments_are_never_rewritten() {
        let p = syn_packet(SYN, &[2, 4, 0x05, 0xa0]);
        // RFC 4302: an AH of 12 bytes has a length field of 12 / 4 - 2 = 1.
        let mut ah = behind(&p, AUTH, 12, 1);
        let u = upper_layer(&ah).unwrap();
        assert_eq!(
            (u.protocol, u.offset, u.authenticated),
            (TCP_PROTOCOL, 52, true)
        );
        assert_eq!(tcp_offset(&ah), None);
        assert_eq!(clamp_packet(&mut ah, 1000), None);
        let mut frag = behind(&p, FRAGMENT, 8, 0);
        let u = upper_layer(&frag).unwrap();
        assert_eq!(
            (u.protocol, u.offset, u.fragmented),
            (TCP_PROTOCOL, 48, true)
        );
        assert_eq!(clamp_packet(&mut frag, 1000), None);
        // Headers past the packet's end, or more than eight of them: no upper layer.
        assert_eq!(upper_layer(&ah[..45]), None);
        let mut many = p.clone();
        for _ in 0..8 {
            many = behind(&many, DEST_OPTS_PROTOCOL, 8, 0);
        }
        assert_eq!(upper_layer(&many).map(|u| u.offset), Some(40 + 64));
        let many = behind(&many, DEST_OPTS_PROTOCOL, 8, 0);
        assert_eq!(upper_layer(&many), None);
    }
}
