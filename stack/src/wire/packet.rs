//! Whole packets: `IPv6 | [RH2] | [DestOpt(HAO)] | upper layer`, parsed once at the edge
//! and built from a [`PacketRepr`], with upper-layer checksums that put the home address
//! in the pseudo-header: the HAO's address as source and the RH2's address as final
//! destination (RFC 6275 §6.1.1, §6.3, §6.4; RFC 8200 §8.1).

use core::net::Ipv6Addr;

use smoltcp::wire::{Ipv6Packet, TcpPacket, TcpRepr};

use super::checksum;
use super::error::{truncated, Part, Rule, WireError};
use super::hao::{HaoHeader, DEST_OPTS_PROTOCOL, HAO_HEADER_LEN};
use super::mh::{self, MhRepr, MH_PROTOCOL};
use super::rh2::{Rh2Header, RH2_LEN, ROUTING_PROTOCOL};
use super::tcp::{self, DeferredChecksum, TCP_CHECKSUM_AT};

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// IP protocol number of TCP.
pub const TCP_PROTOCOL: u8 = 6;
/// IP protocol number of UDP.
pub const UDP_PROTOCOL: u8 = 17;
/// IP protocol number of ICMPv6.
pub const ICMPV6_PROTOCOL: u8 = 58;
/// "No next header".
pub const NO_NEXT_HEADER: u8 = 59;

/// A UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// An ICMPv6 message, kept as type, code and body (vany only needs to carry and check it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Message<'a> {
    /// ICMPv6 type.
    pub msg_type: u8,
    /// ICMPv6 code.
    pub code: u8,
    /// Everything after the checksum.
    pub body: &'a [u8],
}

/// The upper-layer part of a packet.
// An MH repr holds its options inline (no allocation on the data path), which makes this
// variant the largest; boxing it would allocate per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper<'a> {
    /// A Mobility Header.
    Mh(MhRepr<'a>),
    /// A TCP segment (smoltcp's representation).
    Tcp(TcpRepr<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// An ICMPv6 message.
    Icmpv6(Icmpv6Message<'a>),
    /// Next header 59: nothing follows.
    None,
}

impl Upper<'_> {
    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            Upper::Mh(_) => MH_PROTOCOL,
            Upper::Tcp(_) => TCP_PROTOCOL,
            Upper::Udp(_) => UDP_PROTOCOL,
            Upper::Icmpv6(_) => ICMPV6_PROTOCOL,
            Upper::None => NO_NEXT_HEADER,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Upper::Mh(m) => m.buffer_len(),
            Upper::Tcp(t) => tcp::header_len(t) + t.payload.len(),
            Upper::Udp(u) => 8 + u.payload.len(),
            Upper::Icmpv6(i) => 4 + i.body.len(),
            Upper::None => 0,
        }
    }
}

/// A whole packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRepr<'a> {
    /// IPv6 source address (the care-of address when a HAO is present).
    pub src: Ipv6Addr,
    /// IPv6 destination address (the care-of address when an RH2 is present).
    pub dst: Ipv6Addr,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// The home address in a Type 2 Routing Header, if one is present.
    pub rh2: Option<Ipv6Addr>,
    /// The home address in a Home Address option, if one is present.
    pub hao: Option<Ipv6Addr>,
    /// The upper layer.
    pub upper: Upper<'a>,
}

impl<'a> PacketRepr<'a> {
    /// A packet from `src` to `dst` carrying `upper`, as a host sends it by default: hop
    /// limit 64, traffic class and flow label 0, no RH2 and no HAO (set the fields for
    /// those).
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, upper: Upper<'a>) -> PacketRepr<'a> {
        PacketRepr {
            src,
            dst,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            rh2: None,
            hao: None,
            upper,
        }
    }
}

/// A parsed packet, with where each part was and what its checksum said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPacket<'a> {
    /// The packet.
    pub repr: PacketRepr<'a>,
    /// Offset of the RH2, if any.
    pub rh2_offset: Option<usize>,
    /// Offset of the Destination Options header, if any.
    pub dest_opts_offset: Option<usize>,
    /// Offset of the upper-layer header.
    pub upper_offset: usize,
    /// The upper-layer bytes (the whole MH, segment, datagram or message).
    pub upper_bytes: &'a [u8],
    /// The checksum field as received (0 for [`Upper::None`]).
    pub checksum: u16,
    /// Whether the upper-layer checksum verifies with the home-address pseudo-header
    /// (true for [`Upper::None`], which has none). False, too, while the check is
    /// deferred (`deferred`).
    pub checksum_ok: bool,
    /// From [`parse_deferred`], for a TCP segment with a payload: the checksum, not yet
    /// verified, which the TCP engine finishes while it copies the payload in
    /// ([`crate::tcp::Connection::handle_segment_deferred`]). `None` otherwise.
    pub deferred: Option<DeferredChecksum>,
}

impl PacketRepr<'_> {
    /// Source address for the upper-layer pseudo-header: the home address when a HAO is
    /// present (RFC 6275 §6.3).
    pub fn pseudo_src(&self) -> Ipv6Addr {
        self.hao.unwrap_or(self.src)
    }

    /// Destination address for the upper-layer pseudo-header: the final destination, the
    /// home address when an RH2 is present (RFC 6275 §6.4, RFC 8200 §8.1).
    pub fn pseudo_dst(&self) -> Ipv6Addr {
        self.rh2.unwrap_or(self.dst)
    }

    /// Offset of the upper layer in an emitted packet.
    pub fn upper_offset(&self) -> usize {
        IPV6_HEADER_LEN
            + if self.rh2.is_some() { RH2_LEN } else { 0 }
            + if self.hao.is_some() {
                HAO_HEADER_LEN
            } else {
                0
            }
    }

    /// Length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        self.upper_offset() + self.upper.buffer_len()
    }

    /// Emits the packet into `buf`, checksums included; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let upper_offset = self.upper_offset();
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(WireError::new(
                0,
                Rule::BufferTooSmall {
                    needed: len,
                    available: buf.len(),
                },
            ));
        }
        let payload_len = len - IPV6_HEADER_LEN;
        if payload_len > u16::MAX as usize {
            return Err(WireError::new(
                4,
                Rule::BufferTooSmall {
                    needed: payload_len,
                    available: u16::MAX as usize,
                },
            ));
        }
        let buf = &mut buf[..len];
        // Emit the upper layer first so that an unemittable MH leaves `buf` untouched
        // past the upper offset only.
        let (src, dst) = (self.pseudo_src(), self.pseudo_dst());
        {
            let upper = &mut buf[upper_offset..];
            match &self.upper {
                Upper::Mh(m) => {
                    m.emit(upper).map_err(|e| e.shifted(upper_offset))?;
                    mh::fill_checksum(&src, &dst, upper);
                }
                Upper::Tcp(t) => {
                    let header_len = tcp::emit_header(t, upper);
                    upper[header_len..].copy_from_slice(t.payload);
                    fill_tcp_checksum(&src, &dst, upper);
                }
                Upper::Udp(u) => {
                    upper[0..2].copy_from_slice(&u.src_port.to_be_bytes());
                    upper[2..4].copy_from_slice(&u.dst_port.to_be_bytes());
                    let udp_len = upper.len() as u16;
                    upper[4..6].copy_from_slice(&udp_len.to_be_bytes());
                    upper[6..8].fill(0);
                    upper[8..].copy_from_slice(u.payload);
                    // RFC 8200 §8.1: a computed zero is sent as 0xffff.
                    let sum = match upper_checksum(&src, &dst, UDP_PROTOCOL, upper, 6) {
                        0 => 0xffff,
                        s => s,
                    };
                    upper[6..8].copy_from_slice(&sum.to_be_bytes());
                }
                Upper::Icmpv6(i) => {
                    upper[0] = i.msg_type;
                    upper[1] = i.code;
                    upper[2..4].fill(0);
                    upper[4..].copy_from_slice(i.body);
                    let sum = upper_checksum(&src, &dst, ICMPV6_PROTOCOL, upper, 2);
                    upper[2..4].copy_from_slice(&sum.to_be_bytes());
                }
                Upper::None => {}
            }
        }
        self.emit_headers(buf, self.upper.protocol(), len - upper_offset)?;
        Ok(len)
    }
}

impl PacketRepr<'_> {
    /// Writes the IPv6 header and the RH2/HAO extension headers in front of an upper
    /// layer of `upper_len` bytes with protocol `upper_protocol` that the caller already
    /// wrote at `buf[self.upper_offset()..]` (with its checksum over the home-address
    /// pseudo-header). This lets the TCP engine write segments in place. `self.upper` is
    /// ignored. Returns the packet length.
    pub fn emit_headers(
        &self,
        buf: &mut [u8],
        upper_protocol: u8,
        upper_len: usize,
    ) -> Result<usize, WireError> {
        let upper_offset = self.upper_offset();
        let len = upper_offset + upper_len;
        let payload_len = len - IPV6_HEADER_LEN;
        if buf.len() < len || payload_len > u16::MAX as usize {
            return Err(WireError::new(
                0,
                Rule::BufferTooSmall {
                    needed: len,
                    available: buf.len().min(u16::MAX as usize + IPV6_HEADER_LEN),
                },
            ));
        }
        let mut offset = IPV6_HEADER_LEN;
        let first_next = if self.rh2.is_some() {
            ROUTING_PROTOCOL
        } else if self.hao.is_some() {
            DEST_OPTS_PROTOCOL
        } else {
            upper_protocol
        };
        if let Some(home) = &self.rh2 {
            let next = if self.hao.is_some() {
                DEST_OPTS_PROTOCOL
            } else {
                upper_protocol
            };
            Rh2Header::emit(next, home, &mut buf[offset..offset + RH2_LEN]);
            offset += RH2_LEN;
        }
        if let Some(home) = &self.hao {
            HaoHeader::emit(
                upper_protocol,
                home,
                &mut buf[offset..offset + HAO_HEADER_LEN],
            );
        }
        // RFC 8200 §3: version 6, traffic class, flow label, payload length, next header,
        // hop limit, source, destination.
        let first_word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        let ip = &mut buf[..IPV6_HEADER_LEN];
        ip[0..4].copy_from_slice(&first_word.to_be_bytes());
        ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
        ip[6] = first_next;
        ip[7] = self.hop_limit;
        ip[8..24].copy_from_slice(&self.src.octets());
        ip[24..40].copy_from_slice(&self.dst.octets());
        Ok(len)
    }
}

/// RFC 1071 checksum of an upper-layer message whose checksum field is at
/// `checksum_at` (and is skipped), with the IPv6 pseudo-header.
fn upper_checksum(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    proto: u8,
    data: &[u8],
    checksum_at: usize,
) -> u16 {
    checksum::upper_layer(src, dst, proto, data, checksum_at)
}

/// Writes the TCP checksum of `segment` (header and payload) over the pseudo-header.
pub fn fill_tcp_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, segment: &mut [u8]) {
    let sum = upper_checksum(src, dst, TCP_PROTOCOL, segment, TCP_CHECKSUM_AT);
    segment[TCP_CHECKSUM_AT..TCP_CHECKSUM_AT + 2].copy_from_slice(&sum.to_be_bytes());
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// Parses a whole IPv6 packet starting at `data[0]`. Extra bytes after the IPv6 payload
/// length (link-layer padding) are ignored. The checksum result is reported, not enforced:
/// use [`parse_verified`] on the data path (or, for TCP, [`parse_tcp_deferred`]).
pub fn parse(data: &[u8]) -> Result<ParsedPacket<'_>, WireError> {
    parse_impl::<WireError, false>(data)
}

/// An error [`parse_impl`] can return: every [`WireError`], and a bad checksum for
/// [`parse_verified`] only.
trait ParseError: From<WireError> {
    /// The error for a checksum that does not verify, if that is one.
    fn bad_checksum(received: u16) -> Option<Self>;
}

impl ParseError for WireError {
    fn bad_checksum(_: u16) -> Option<Self> {
        None
    }
}

impl ParseError for PacketError {
    fn bad_checksum(received: u16) -> Option<Self> {
        Some(PacketError::BadChecksum { received })
    }
}

/// The IPv6 header and the Mobile IPv6 extension headers (RFC 6275 §6.3, §6.4) of a
/// packet: everything before the upper layer.
struct IpPart<'a> {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    rh2: Option<Ipv6Addr>,
    hao: Option<Ipv6Addr>,
    /// The pseudo-header's addresses (see `pseudo_src`, `pseudo_dst`) as integers: an
    /// `Option<Ipv6Addr>` lies at an odd offset, and reading it back in words after it
    /// was written in pieces stalls store forwarding on the per-segment path.
    pseudo_bits: (u128, u128),
    rh2_offset: Option<usize>,
    dest_opts_offset: Option<usize>,
    /// The upper layer's protocol number, offset and bytes.
    next: u8,
    /// Where the Next Header byte that names `next` sits, for error messages.
    next_at: usize,
    upper_offset: usize,
    upper_bytes: &'a [u8],
}

impl IpPart<'_> {
    fn pseudo_src(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.pseudo_bits.0)
    }

    fn pseudo_dst(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.pseudo_bits.1)
    }
}

#[inline]
fn be128(data: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[at..at + 16]);
    u128::from_be_bytes(b)
}

#[inline(always)]
fn parse_ip(data: &[u8]) -> Result<IpPart<'_>, WireError> {
    if data.len() < IPV6_HEADER_LEN {
        return Err(truncated(0, Part::Ipv6Header, IPV6_HEADER_LEN, data.len()));
    }
    let version = data[0] >> 4;
    if version != 6 {
        return Err(WireError::new(0, Rule::NotIpv6(version)));
    }
    let ip = Ipv6Packet::new_unchecked(data);
    let payload_len = ip.payload_len() as usize;
    let total = IPV6_HEADER_LEN + payload_len;
    if data.len() < total {
        return Err(WireError::new(
            4,
            Rule::PayloadLength {
                declared: payload_len,
                needed: total,
                available: data.len(),
            },
        ));
    }
    let data = &data[..total];
    let (src, dst) = (be128(data, 8), be128(data, 24));
    let mut part = IpPart {
        src: Ipv6Addr::from_bits(src),
        dst: Ipv6Addr::from_bits(dst),
        traffic_class: ip.traffic_class(),
        flow_label: ip.flow_label(),
        hop_limit: ip.hop_limit(),
        rh2: None,
        hao: None,
        pseudo_bits: (src, dst),
        rh2_offset: None,
        dest_opts_offset: None,
        next: data[6],
        next_at: 6,
        upper_offset: IPV6_HEADER_LEN,
        upper_bytes: &[],
    };
    let mut offset = IPV6_HEADER_LEN;
    loop {
        match part.next {
            ROUTING_PROTOCOL => {
                // RFC 6275 §6.4 / RFC 8200 §4.1: one routing header, before the
                // Destination Options header that carries the HAO.
                if part.rh2_offset.is_some() || part.dest_opts_offset.is_some() {
                    return Err(WireError::new(offset, Rule::Rh2Position));
                }
                let rh2 = Rh2Header::parse(&data[offset..]).map_err(|e| e.shifted(offset))?;
                part.rh2 = Some(rh2.home_address);
                part.pseudo_bits.1 = rh2.home_address.to_bits();
                part.rh2_offset = Some(offset);
                part.next = rh2.next_header;
                part.next_at = offset;
                offset += RH2_LEN;
            }
            DEST_OPTS_PROTOCOL => {
                if part.dest_opts_offset.is_some() {
                    return Err(WireError::new(offset, Rule::DuplicateDestinationOptions));
                }
                let hao = HaoHeader::parse(&data[offset..]).map_err(|e| e.shifted(offset))?;
                part.hao = Some(hao.home_address);
                part.pseudo_bits.0 = hao.home_address.to_bits();
                part.dest_opts_offset = Some(offset);
                part.next = hao.next_header;
                part.next_at = offset;
                offset += hao.len;
            }
            _ => break,
        }
    }
    part.upper_offset = offset;
    part.upper_bytes = &data[offset..];
    Ok(part)
}

/// A parsed TCP upper layer: the segment, its checksum field, whether it verified, and
/// the deferred check when `defer` asked for one (see [`parse_deferred`]).
struct TcpPart<'a> {
    segment: TcpRepr<'a>,
    checksum: u16,
    checksum_ok: bool,
    deferred: Option<DeferredChecksum>,
}

#[inline(always)]
fn parse_tcp<'a>(ip: &IpPart<'a>, defer: bool) -> Result<TcpPart<'a>, WireError> {
    let (offset, upper_bytes) = (ip.upper_offset, ip.upper_bytes);
    let packet = TcpPacket::new_checked(upper_bytes)
        .map_err(|_| truncated(offset, Part::Tcp, 20, upper_bytes.len()))?;
    let mut segment =
        tcp::parse_header(upper_bytes).ok_or_else(|| WireError::new(offset, Rule::BadTcp))?;
    // SACK blocks mean nothing without an ACK (RFC 2018 §3), and smoltcp's emitter drops
    // them there and beside SACK-Permitted: keep the repr what it re-emits.
    if segment.ack_number.is_none() || segment.sack_permitted {
        segment.sack_ranges = [None; 3];
    }
    let checksum = packet.checksum();
    let (src, dst) = (ip.pseudo_src(), ip.pseudo_dst());
    let (checksum_ok, deferred) = if defer && !segment.payload.is_empty() {
        let payload_at = upper_bytes.len() - segment.payload.len();
        let check = DeferredChecksum::new(&src, &dst, upper_bytes, payload_at);
        (false, Some(check))
    } else {
        let ok = upper_checksum(&src, &dst, TCP_PROTOCOL, upper_bytes, TCP_CHECKSUM_AT) == checksum;
        (ok, None)
    };
    Ok(TcpPart {
        segment,
        checksum,
        checksum_ok,
        deferred,
    })
}

/// A TCP segment as the data path takes it in (see [`parse_tcp_deferred`]): what a
/// [`ParsedPacket`] holds for it, without the room a whole packet repr needs for a
/// Mobility Header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpInput<'a> {
    /// IPv6 source address (the care-of address when a HAO is present).
    pub src: Ipv6Addr,
    /// IPv6 destination address (the care-of address when an RH2 is present).
    pub dst: Ipv6Addr,
    /// The home address in a Type 2 Routing Header, if one is present.
    pub rh2: Option<Ipv6Addr>,
    /// The home address in a Home Address option, if one is present.
    pub hao: Option<Ipv6Addr>,
    /// The segment.
    pub segment: TcpRepr<'a>,
    /// The checksum, still to be verified, when the segment has a payload (as
    /// [`ParsedPacket::deferred`]); `None` when it was verified here.
    pub deferred: Option<DeferredChecksum>,
}

impl TcpInput<'_> {
    /// The pseudo-header source: the home address when a HAO is present (RFC 6275 §6.3).
    pub fn pseudo_src(&self) -> Ipv6Addr {
        self.hao.unwrap_or(self.src)
    }

    /// The pseudo-header destination: the home address when an RH2 is present
    /// (RFC 6275 §6.4).
    pub fn pseudo_dst(&self) -> Ipv6Addr {
        self.rh2.unwrap_or(self.dst)
    }
}

/// Whether a received packet's TCP checksum is still to be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumTrust {
    /// Check it (every packet from a network).
    Verify,
    /// Do not: the packet comes from the local kernel, which vouched for it (a TUN
    /// device's virtio-net header said `NEEDS_CSUM`, the checksum field then holding only
    /// the pseudo-header's sum, or `DATA_VALID`).
    TrustedByKernel,
}

/// The TCP data path's parse: [`parse_deferred`] for a TCP packet, into a small
/// [`TcpInput`]; `Ok(None)` for any other packet (parse that with [`parse_verified`]).
/// The same packets are refused, with the same errors.
#[inline]
pub fn parse_tcp_deferred(data: &[u8]) -> Result<Option<TcpInput<'_>>, PacketError> {
    parse_tcp_input(data, ChecksumTrust::Verify)
}

/// [`parse_tcp_deferred`], told whether the TCP checksum is to be checked at all: with
/// [`ChecksumTrust::TrustedByKernel`] it is not (the segment comes with `deferred`
/// `None`, as a verified one); everything else is checked as there.
#[inline]
pub fn parse_tcp_input(
    data: &[u8],
    trust: ChecksumTrust,
) -> Result<Option<TcpInput<'_>>, PacketError> {
    let ip = parse_ip(data)?;
    if ip.next != TCP_PROTOCOL {
        return Ok(None);
    }
    let bytes = ip.upper_bytes;
    if let Some(header) = tcp::parse_common(bytes) {
        // The common case, without moving a whole repr around (see `parse_common`).
        let deferred = if trust == ChecksumTrust::TrustedByKernel {
            None
        } else if header.header_len < bytes.len() {
            let (src, dst) = ip.pseudo_bits;
            let pseudo = checksum::pseudo_header_bits(src, dst, TCP_PROTOCOL, bytes.len() as u32);
            Some(DeferredChecksum::with_pseudo_header(
                pseudo,
                bytes,
                header.header_len,
            ))
        } else {
            let (src, dst) = (ip.pseudo_src(), ip.pseudo_dst());
            let received = be16(bytes, TCP_CHECKSUM_AT);
            if upper_checksum(&src, &dst, TCP_PROTOCOL, bytes, TCP_CHECKSUM_AT) != received {
                return Err(PacketError::BadChecksum { received });
            }
            None
        };
        return Ok(Some(TcpInput {
            src: ip.src,
            dst: ip.dst,
            rh2: ip.rh2,
            hao: ip.hao,
            segment: header.repr(bytes),
            deferred,
        }));
    }
    let tcp = parse_tcp(&ip, true)?;
    let deferred = match trust {
        ChecksumTrust::TrustedByKernel => None,
        ChecksumTrust::Verify if !tcp.checksum_ok && tcp.deferred.is_none() => {
            return Err(PacketError::BadChecksum {
                received: tcp.checksum,
            });
        }
        ChecksumTrust::Verify => tcp.deferred,
    };
    Ok(Some(TcpInput {
        src: ip.src,
        dst: ip.dst,
        rh2: ip.rh2,
        hao: ip.hao,
        segment: tcp.segment,
        deferred,
    }))
}

// Generic over the error so that [`parse_verified`] returns the (large: an MH repr holds
// its options inline) packet in place, without moving it from one `Result` into another.
#[inline(always)]
fn parse_impl<E: ParseError, const DEFER: bool>(data: &[u8]) -> Result<ParsedPacket<'_>, E> {
    let ip = parse_ip(data)?;
    let mut repr = PacketRepr {
        src: ip.src,
        dst: ip.dst,
        traffic_class: ip.traffic_class,
        flow_label: ip.flow_label,
        hop_limit: ip.hop_limit,
        rh2: ip.rh2,
        hao: ip.hao,
        upper: Upper::None,
    };
    let (next, next_at, offset, upper_bytes) =
        (ip.next, ip.next_at, ip.upper_offset, ip.upper_bytes);
    let (rh2_offset, dest_opts_offset) = (ip.rh2_offset, ip.dest_opts_offset);
    let (src, dst) = (repr.pseudo_src(), repr.pseudo_dst());
    let (checksum, checksum_ok);
    let mut deferred = None;
    repr.upper = match next {
        MH_PROTOCOL => {
            let m = MhRepr::parse(upper_bytes).map_err(|e| e.shifted(offset))?;
            checksum = be16(upper_bytes, mh::CHECKSUM_OFFSET);
            checksum_ok = mh::verify_checksum(&src, &dst, upper_bytes);
            Upper::Mh(m)
        }
        TCP_PROTOCOL => {
            let t = parse_tcp(&ip, DEFER)?;
            checksum = t.checksum;
            checksum_ok = t.checksum_ok;
            deferred = t.deferred;
            Upper::Tcp(t.segment)
        }
        UDP_PROTOCOL => {
            if upper_bytes.len() < 8 {
                return Err(E::from(truncated(offset, Part::Udp, 8, upper_bytes.len())));
            }
            let declared = be16(upper_bytes, 4) as usize;
            if declared != upper_bytes.len() {
                return Err(E::from(WireError::new(
                    offset + 4,
                    Rule::UdpLength {
                        declared,
                        available: upper_bytes.len(),
                    },
                )));
            }
            checksum = be16(upper_bytes, 6);
            let computed = match upper_checksum(&src, &dst, UDP_PROTOCOL, upper_bytes, 6) {
                0 => 0xffff,
                s => s,
            };
            // RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6.
            checksum_ok = checksum != 0 && computed == checksum;
            Upper::Udp(UdpDatagram {
                src_port: be16(upper_bytes, 0),
                dst_port: be16(upper_bytes, 2),
                payload: &upper_bytes[8..],
            })
        }
        ICMPV6_PROTOCOL => {
            if upper_bytes.len() < 4 {
                return Err(E::from(truncated(
                    offset,
                    Part::Icmpv6,
                    4,
                    upper_bytes.len(),
                )));
            }
            checksum = be16(upper_bytes, 2);
            checksum_ok = upper_checksum(&src, &dst, ICMPV6_PROTOCOL, upper_bytes, 2) == checksum;
            Upper::Icmpv6(Icmpv6Message {
                msg_type: upper_bytes[0],
                code: upper_bytes[1],
                body: &upper_bytes[4..],
            })
        }
        NO_NEXT_HEADER => {
            checksum = 0;
            checksum_ok = true;
            Upper::None
        }
        other => {
            return Err(E::from(WireError::new(
                next_at,
                Rule::UnsupportedNextHeader(other),
            )));
        }
    };
    if !checksum_ok && deferred.is_none() {
        if let Some(e) = E::bad_checksum(checksum) {
            return Err(e);
        }
    }
    Ok(ParsedPacket {
        repr,
        rh2_offset,
        dest_opts_offset,
        upper_offset: offset,
        upper_bytes,
        checksum,
        checksum_ok,
        deferred,
    })
}

/// Why [`parse_verified`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The packet is malformed.
    #[error(transparent)]
    Malformed(#[from] WireError),
    /// The upper-layer checksum is wrong.
    #[error(
        "upper-layer checksum {received:#06x} does not verify with the home-address pseudo-header"
    )]
    BadChecksum {
        /// The checksum field as received.
        received: u16,
    },
}

/// Parses a packet and refuses it unless its upper-layer checksum verifies.
pub fn parse_verified(data: &[u8]) -> Result<ParsedPacket<'_>, PacketError> {
    parse_impl::<PacketError, false>(data)
}

/// [`parse_verified`] for the TCP data path: a TCP segment's payload is not summed here
/// but left to the TCP engine, which sums it in the pass that copies it into the receive
/// buffer and drops the segment unless the checksum verifies
/// ([`crate::tcp::Connection::handle_segment_deferred`],
/// [`crate::tcp::Endpoint::handle_segment_deferred`]). Such a packet comes with
/// `deferred` set and `checksum_ok` false; every other packet is verified here.
pub fn parse_deferred(data: &[u8]) -> Result<ParsedPacket<'_>, PacketError> {
    parse_impl::<PacketError, true>(data)
}
