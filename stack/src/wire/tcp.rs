//! TCP headers (RFC 9293 §3.1) for smoltcp's [`TcpRepr`], written and read in this
//! crate so that the per-segment work on the data path inlines into its callers:
//! smoltcp's `TcpRepr::emit` / `parse` are out-of-line calls that recompute the header
//! length and build the repr field by field through memory.
//!
//! [`emit_header`] writes the very bytes `TcpRepr::emit` writes (options in the order MSS,
//! Window Scale, SACK-Permitted or SACK blocks, Timestamps, then End-of-List padding to a
//! multiple of 4). [`parse_header`] reads the common header shapes itself (no options,
//! or only a Timestamps option) and hands every other one to `TcpRepr::parse`, so that
//! it accepts and refuses exactly what smoltcp does.

use core::net::Ipv6Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr};

use super::checksum;
use super::packet::TCP_PROTOCOL;

/// Length of the TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Offset of the checksum field in a TCP header.
pub const TCP_CHECKSUM_AT: usize = 16;

const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WS: u8 = 3;
const OPT_SACK_PERMITTED: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TIMESTAMPS: u8 = 8;

const FLAG_FIN: u8 = 0x01;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
const FLAG_PSH: u8 = 0x08;
const FLAG_ACK: u8 = 0x10;

/// The header length `repr` is emitted with (a multiple of 4), as `TcpRepr::header_len`.
#[inline(always)]
pub fn header_len(repr: &TcpRepr<'_>) -> usize {
    let mut len = TCP_HEADER_LEN;
    if repr.max_seg_size.is_some() {
        len += 4;
    }
    if repr.window_scale.is_some() {
        len += 3;
    }
    if repr.sack_permitted {
        len += 2;
    }
    if repr.timestamp.is_some() {
        len += 10;
    }
    let blocks = repr.sack_ranges.iter().flatten().count();
    if blocks > 0 {
        len += 2 + 8 * blocks;
    }
    (len + 3) & !3
}

/// Writes `repr`'s header (not its payload) into `buf[..header_len(repr)]` with a zero
/// checksum field, byte for byte as `TcpRepr::emit` does; returns the header length.
/// `buf` must hold the header.
// Always inlined: where the caller knows which options a segment carries (as the TCP
// engine does for data segments), the tests for the others fold away.
#[inline(always)]
pub fn emit_header(repr: &TcpRepr<'_>, buf: &mut [u8]) -> usize {
    let len = header_len(repr);
    let buf = &mut buf[..len];
    buf[0..2].copy_from_slice(&repr.src_port.to_be_bytes());
    buf[2..4].copy_from_slice(&repr.dst_port.to_be_bytes());
    buf[4..8].copy_from_slice(&repr.seq_number.0.to_be_bytes());
    let ack = repr.ack_number.map_or(0, |a| a.0);
    buf[8..12].copy_from_slice(&ack.to_be_bytes());
    buf[12] = ((len / 4) as u8) << 4;
    let mut flags = match repr.control {
        TcpControl::None => 0,
        TcpControl::Psh => FLAG_PSH,
        TcpControl::Syn => FLAG_SYN,
        TcpControl::Fin => FLAG_FIN,
        TcpControl::Rst => FLAG_RST,
    };
    if repr.ack_number.is_some() {
        flags |= FLAG_ACK;
    }
    buf[13] = flags;
    buf[14..16].copy_from_slice(&repr.window_len.to_be_bytes());
    buf[16..20].fill(0); // checksum and urgent pointer
    let mut at = TCP_HEADER_LEN;
    if let Some(mss) = repr.max_seg_size {
        buf[at] = OPT_MSS;
        buf[at + 1] = 4;
        buf[at + 2..at + 4].copy_from_slice(&mss.to_be_bytes());
        at += 4;
    }
    if let Some(ws) = repr.window_scale {
        buf[at..at + 3].copy_from_slice(&[OPT_WS, 3, ws]);
        at += 3;
    }
    if repr.sack_permitted {
        buf[at..at + 2].copy_from_slice(&[OPT_SACK_PERMITTED, 2]);
        at += 2;
    } else if repr.ack_number.is_some() && repr.sack_ranges.iter().any(Option::is_some) {
        let start = at;
        at += 2;
        for (left, right) in repr.sack_ranges.iter().flatten() {
            buf[at..at + 4].copy_from_slice(&left.to_be_bytes());
            buf[at + 4..at + 8].copy_from_slice(&right.to_be_bytes());
            at += 8;
        }
        buf[start] = OPT_SACK;
        buf[start + 1] = (at - start) as u8;
    }
    if let Some(ts) = repr.timestamp {
        buf[at] = OPT_TIMESTAMPS;
        buf[at + 1] = 10;
        buf[at + 2..at + 6].copy_from_slice(&ts.tsval.to_be_bytes());
        buf[at + 6..at + 10].copy_from_slice(&ts.tsecr.to_be_bytes());
        at += 10;
    }
    // End-of-List padding: at most 3 bytes (not a `fill`, which calls memset).
    while at < len {
        buf[at] = OPT_END;
        at += 1;
    }
    len
}

/// A segment's TCP checksum with the payload's part still to be summed, for a receiver
/// that sums the payload while it copies it anyway (see
/// [`parse_deferred`](super::packet::parse_deferred)): the checksum then costs no pass of
/// its own over the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferredChecksum {
    /// The sum of the pseudo-header and the header, checksum field excluded.
    partial: u16,
    /// The checksum field as received.
    expected: u16,
}

impl DeferredChecksum {
    /// For `segment` (header and payload) between home-level addresses `src` and `dst`
    /// (RFC 8200 §8.1 pseudo-header); `payload_at` is the header length.
    // Always inlined: the addresses were just read from the packet, and passing them
    // through memory stalls store forwarding.
    #[inline(always)]
    pub fn new(src: &Ipv6Addr, dst: &Ipv6Addr, segment: &[u8], payload_at: usize) -> Self {
        let pseudo = checksum::pseudo_header(src, dst, TCP_PROTOCOL, segment.len() as u32);
        Self::with_pseudo_header(pseudo, segment, payload_at)
    }

    /// [`DeferredChecksum::new`] with the pseudo-header's sum already taken.
    #[inline(always)]
    pub(crate) fn with_pseudo_header(pseudo: u16, segment: &[u8], payload_at: usize) -> Self {
        let s = checksum::sum(pseudo, &segment[..TCP_CHECKSUM_AT]);
        let s = checksum::sum(s, &segment[TCP_CHECKSUM_AT + 2..payload_at]);
        DeferredChecksum {
            partial: s,
            expected: be16(segment, TCP_CHECKSUM_AT),
        }
    }

    /// The checksum field as received.
    pub fn received(&self) -> u16 {
        self.expected
    }

    /// Whether the checksum verifies, given the RFC 1071 sum of the whole payload
    /// ([`checksum::sum`]`(0, payload)`, or what [`checksum::copy_and_sum`] returned).
    #[inline]
    pub fn verifies(&self, payload_sum: u16) -> bool {
        !checksum::add(self.partial, payload_sum) == self.expected
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A Timestamps option that fills the 12 option bytes, as Linux (`NOP NOP TS`) or
/// `TcpRepr::emit` (`TS EOL EOL`) lays it out.
fn lone_timestamp(options: &[u8]) -> Option<TcpTimestampRepr> {
    let ts = match options {
        [OPT_NOP, OPT_NOP, OPT_TIMESTAMPS, 10, ts @ ..] => ts,
        [OPT_TIMESTAMPS, 10, ts @ .., OPT_END, OPT_END] => ts,
        _ => return None,
    };
    Some(TcpTimestampRepr::new(be32(ts, 0), be32(ts, 4)))
}

/// A header in one of the common shapes (no options, or only a Timestamps option), its
/// fields read in place: small enough to stay in registers until the repr is built where
/// it is kept (moving a whole [`TcpRepr`] through memory stalls store forwarding).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommonHeader {
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) control: TcpControl,
    pub(crate) seq: u32,
    pub(crate) ack: Option<u32>,
    pub(crate) window: u16,
    pub(crate) timestamp: Option<TcpTimestampRepr>,
    pub(crate) header_len: usize,
}

impl CommonHeader {
    /// The repr of `segment`, whose header this is.
    #[inline(always)]
    pub(crate) fn repr(self, segment: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            control: self.control,
            seq_number: TcpSeqNumber(self.seq as i32),
            ack_number: self.ack.map(|a| TcpSeqNumber(a as i32)),
            window_len: self.window,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: self.timestamp,
            payload: &segment[self.header_len..],
        }
    }
}

/// Reads `segment`'s header if it has a common shape and is valid; `None` for any other
/// (which [`parse_header`] hands to smoltcp, to accept or refuse).
#[inline(always)]
pub(crate) fn parse_common(segment: &[u8]) -> Option<CommonHeader> {
    if segment.len() < TCP_HEADER_LEN {
        return None;
    }
    let header_len = usize::from(segment[12] >> 4) * 4;
    if header_len > segment.len() {
        return None;
    }
    let timestamp = match header_len {
        TCP_HEADER_LEN => None,
        32 => Some(lone_timestamp(&segment[TCP_HEADER_LEN..32])?),
        _ => return None,
    };
    let (src_port, dst_port) = (be16(segment, 0), be16(segment, 2));
    if src_port == 0 || dst_port == 0 {
        return None;
    }
    let flags = segment[13];
    let control = match flags & (FLAG_SYN | FLAG_FIN | FLAG_RST | FLAG_PSH) {
        0 => TcpControl::None,
        FLAG_PSH => TcpControl::Psh,
        f if f & !FLAG_PSH == FLAG_SYN => TcpControl::Syn,
        f if f & !FLAG_PSH == FLAG_FIN => TcpControl::Fin,
        f if f & !FLAG_PSH == FLAG_RST => TcpControl::Rst,
        _ => return None,
    };
    Some(CommonHeader {
        src_port,
        dst_port,
        control,
        seq: be32(segment, 4),
        ack: (flags & FLAG_ACK != 0).then(|| be32(segment, 8)),
        window: be16(segment, 14),
        timestamp,
        header_len,
    })
}

/// Parses a TCP segment (header and payload) without checking its checksum: the same
/// result as `TcpRepr::parse` with checksums ignored, `None` where it fails.
#[inline(always)]
pub fn parse_header(segment: &[u8]) -> Option<TcpRepr<'_>> {
    match parse_common(segment) {
        Some(header) => Some(header.repr(segment)),
        None => parse_slow(segment),
    }
}

/// Any other header: smoltcp's parser (the addresses only matter for its checksum check,
/// which is off).
#[cold]
fn parse_slow(segment: &[u8]) -> Option<TcpRepr<'_>> {
    let packet = TcpPacket::new_checked(segment).ok()?;
    let any = IpAddress::Ipv6(Ipv6Addr::UNSPECIFIED);
    TcpRepr::parse(&packet, &any, &any, &ChecksumCapabilities::ignored()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TcpSegment;

    fn reprs() -> Vec<TcpRepr<'static>> {
        let payload: &'static [u8] = b"some payload bytes";
        let base = TcpSegment::new(40000, 80)
            .seq(5u32.wrapping_neg())
            .ack(77)
            .window(1234)
            .payload(payload)
            .repr();
        let mut out = Vec::new();
        for control in [
            TcpControl::None,
            TcpControl::Psh,
            TcpControl::Syn,
            TcpControl::Fin,
            TcpControl::Rst,
        ] {
            for ack in [None, Some(TcpSeqNumber(0x7fff_fff0))] {
                for ts in [None, Some(TcpTimestampRepr::new(0xdead_beef, 7))] {
                    for blocks in 0..4usize {
                        let mut r = TcpRepr {
                            control,
                            ack_number: ack,
                            timestamp: ts,
                            ..base
                        };
                        for i in 0..blocks {
                            r.sack_ranges[i] = Some((100 * i as u32, 100 * i as u32 + 50));
                        }
                        out.push(r);
                        if blocks < 2 {
                            out.push(TcpRepr {
                                max_seg_size: Some(1440),
                                window_scale: Some(7),
                                sack_permitted: blocks == 0,
                                ..r
                            });
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn emit_header_writes_what_smoltcp_writes() {
        let any = IpAddress::Ipv6(Ipv6Addr::UNSPECIFIED);
        for repr in reprs() {
            let len = repr.buffer_len();
            assert_eq!(header_len(&repr), repr.header_len(), "{repr:?}");
            let mut theirs = vec![0xaau8; len];
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut theirs[..]),
                &any,
                &any,
                &ChecksumCapabilities::ignored(),
            );
            let mut ours = vec![0x55u8; len];
            let h = emit_header(&repr, &mut ours);
            ours[h..].copy_from_slice(repr.payload);
            assert_eq!(ours, theirs, "{repr:?}");
        }
    }

    #[test]
    fn parse_header_agrees_with_smoltcp() {
        let any = IpAddress::Ipv6(Ipv6Addr::UNSPECIFIED);
        fn smol<'a>(b: &'a [u8], any: &IpAddress) -> Option<TcpRepr<'a>> {
            let p = TcpPacket::new_checked(b).ok()?;
            TcpRepr::parse(&p, any, any, &ChecksumCapabilities::ignored()).ok()
        }
        let mut segments: Vec<Vec<u8>> = Vec::new();
        for repr in reprs() {
            let mut b = vec![0u8; repr.buffer_len()];
            let h = emit_header(&repr, &mut b);
            b[h..].copy_from_slice(repr.payload);
            segments.push(b);
        }
        // Linux's timestamp layout, odd flags, zero ports, bad lengths and options.
        let mut linux = segments[0][..20].to_vec();
        linux[12] = 8 << 4;
        linux.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        linux.extend_from_slice(b"data");
        segments.push(linux.clone());
        for flags in 0..=255u8 {
            let mut s = linux.clone();
            s[13] = flags;
            segments.push(s);
        }
        for (at, value) in [(0, 0u8), (1, 0), (2, 0), (3, 0), (12, 0x40), (12, 0xf0)] {
            let mut s = linux.clone();
            s[at] = value;
            segments.push(s);
        }
        for opts in [
            [1u8, 1, 8, 9, 0, 0, 0, 9, 0, 0, 0, 3],
            [8, 10, 0, 0, 0, 9, 0, 0, 0, 3, 1, 0],
            [8, 10, 0, 0, 0, 9, 0, 0, 0, 3, 0, 1],
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [2, 4, 5, 180, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let mut s = linux.clone();
            s[20..32].copy_from_slice(&opts);
            segments.push(s);
        }
        for s in &segments {
            for cut in [0, 1, 19, 20, 31, 32, s.len()] {
                let s = &s[..cut.min(s.len())];
                assert_eq!(parse_header(s), smol(s, &any), "{s:?}");
            }
        }
    }
}
