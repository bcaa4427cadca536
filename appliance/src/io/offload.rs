//! What TUN offloads add to packet I/O: a received packet's [`RxMeta`] (the kernel
//! vouched for its checksum, coalesced it) and a TCP super-segment's [`Segmentation`]
//! (how the backend has the kernel split it). See docs/tun-offload.md.

use vany_stack::tcp::FourTuple;
use vany_stack::wire::{checksum, ChecksumTrust};

use super::{IoError, Lent, PacketIo, TCP_PROTOCOL};

/// What a backend knows of a received packet besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Whether its TCP checksum is still to be checked (a TUN device with offloads
    /// says when the local kernel vouched for it, the field then possibly partial).
    pub checksum: ChecksumTrust,
    /// The kernel coalesced it from several segments (up to 64 KiB of TCP).
    pub coalesced: bool,
}

impl Default for RxMeta {
    fn default() -> Self {
        RxMeta {
            checksum: ChecksumTrust::Verify,
            coalesced: false,
        }
    }
}

/// How a backend with segmentation offload ([`PacketIo::segmentation_offload`]) is to
/// split a TCP super-segment: into segments of `segment_size` payload bytes, each behind
/// a copy of the packet's headers (the last may be shorter). The TCP checksum field of
/// the packet holds the pseudo-header's sum (over the addresses the TCP uses and the
/// whole TCP length), as `CHECKSUM_PARTIAL` wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segmentation {
    /// Payload bytes per segment (the MSS less the options).
    pub segment_size: u16,
    /// Where the TCP header starts in the packet (the IPv6 header and any extension
    /// headers before it).
    pub tcp_at: u16,
    /// Length of the TCP header, options included.
    pub tcp_header_len: u16,
}

/// What the `build` of [`PacketIo::send_with_meta`] returns: the packet's length (0 for
/// none) and, for a TCP super-segment, how to split it.
pub type Built = (usize, Option<Segmentation>);

/// The default [`PacketIo::send_with_meta`]: [`PacketIo::send_with`], refusing a
/// super-segment.
pub fn send_with_meta_by_send_with<I: PacketIo + ?Sized>(
    io: &mut I,
    build: &mut dyn FnMut(&mut [u8]) -> Built,
) -> Result<Lent, IoError> {
    let mut refused = None;
    let lent = io.send_with(&mut |buf| {
        let (len, seg) = build(buf);
        if seg.is_some() {
            refused = Some(len);
            return 0;
        }
        len
    })?;
    match refused {
        Some(len) => Err(IoError::NoSegmentationOffload { len }),
        None => Ok(lent),
    }
}

impl Segmentation {
    /// The same, with `bytes` more headers in front of the TCP header.
    pub fn after(self, bytes: usize) -> Segmentation {
        Segmentation {
            tcp_at: self.tcp_at + bytes as u16,
            ..self
        }
    }
}

/// Readies the TCP super-segment `segment` (`len` bytes, from `tuple`'s connection) for
/// a backend that splits it: its checksum field gets the pseudo-header's sum over the
/// connection's addresses (the home addresses, where Mobile IPv6 headers carry others:
/// the splitter only adjusts the length). Returns its [`Segmentation`] with the TCP
/// header at 0.
pub fn partial_checksum(
    segment: &mut [u8],
    tuple: &FourTuple,
    len: usize,
    segment_size: u16,
) -> Segmentation {
    let pseudo = checksum::pseudo_header(&tuple.local, &tuple.remote, TCP_PROTOCOL, len as u32);
    segment[16..18].copy_from_slice(&pseudo.to_be_bytes());
    Segmentation {
        segment_size,
        tcp_at: 0,
        tcp_header_len: u16::from(segment[12] >> 4) * 4,
    }
}
