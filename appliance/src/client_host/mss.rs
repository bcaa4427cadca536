//! TCP MSS clamping for the 24 bytes Mobile IPv6 adds to a segment.
//!
//! Once a binding exists, every segment between the client and the anycast address
//! carries 24 more bytes than its sender planned for: a Type 2 Routing Header on the way
//! out, a Home Address option on the way in (RFC 6275 §6.3, §6.4). So the MSS option of
//! every SYN that `vany client` passes is lowered to `uplink MTU - 40 - 20 - 24`, and the
//! TCP checksum is updated incrementally (RFC 1624 eqn. 3) rather than recomputed.

use vany_stack::wire::hao::DEST_OPTS_PROTOCOL;
use vany_stack::wire::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL};
use vany_stack::wire::rh2::ROUTING_PROTOCOL;

/// IPv6 Hop-by-Hop Options header.
const HOP_BY_HOP: u8 = 0;
/// TCP header flag bit SYN.
const SYN: u8 = 0x02;
/// TCP option kinds.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
/// Offset of the checksum in the TCP header.
const CHECKSUM_AT: usize = 16;
/// Extension headers walked at most (a packet with more is left alone).
const MAX_EXTENSION_HEADERS: usize = 8;

/// The largest MSS that leaves room for the IPv6 header (40), the TCP header without
/// options (20) and one RH2 or HAO (24) in an `mtu`-byte packet.
pub fn max_mss_for_mtu(mtu: u32) -> u16 {
    mtu.saturating_sub(40 + 20 + 24)
        .clamp(536, u32::from(u16::MAX)) as u16
}

/// Where the TCP header of an IPv6 packet starts, past Hop-by-Hop, Routing and
/// Destination Options headers; `None` if the packet carries no (complete) TCP header.
pub fn tcp_offset(packet: &[u8]) -> Option<usize> {
    if packet.len() < IPV6_HEADER_LEN || packet[0] >> 4 != 6 {
        return None;
    }
    let mut next = packet[6];
    let mut at = IPV6_HEADER_LEN;
    for _ in 0..MAX_EXTENSION_HEADERS {
        match next {
            TCP_PROTOCOL => return (packet.len() >= at + 20).then_some(at),
            HOP_BY_HOP | ROUTING_PROTOCOL | DEST_OPTS_PROTOCOL => {
                let len = (usize::from(*packet.get(at + 1)?) + 1) * 8;
                next = *packet.get(at)?;
                at += len;
            }
            _ => return None,
        }
    }
    None
}

/// RFC 1624 eqn. 3: the checksum after a 16-bit word changed from `old` to `new`.
fn update_checksum(checksum: u16, old: u16, new: u16) -> u16 {
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

    use vany_stack::wire::packet::fill_tcp_checksum;
    use vany_stack::wire::parse;

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
            vany_stack::wire::Upper::Tcp(t) => t.max_seg_size,
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
}
