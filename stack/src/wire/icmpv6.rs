//! ICMPv6 Packet Too Big (RFC 4443 §3.2) and the packet it quotes, for Path MTU
//! Discovery (RFC 8201).
//!
//! The message body is `MTU (4 bytes) | as much of the invoking packet as fits in 1280
//! bytes`. The invoking packet is one *we* sent, so it may carry the Mobile IPv6 headers
//! a mobile node or correspondent puts on its packets: a Type 2 Routing Header (the
//! quoted destination is then a care-of address, the real destination is in the RH2) and
//! a Destination Options header with a Home Address option (the quoted source is then a
//! care-of address, the home address is in the HAO) (RFC 6275 §6.3, §6.4). The quote is
//! truncated by design: its IPv6 Payload Length describes the original packet, not the
//! quote, and of a TCP segment only the first 8 bytes (ports and sequence number) may be
//! present, which is all that RFC 5927 §4.1 validation needs.

use core::net::Ipv6Addr;

use super::error::{truncated, Part, Rule, WireError};
use super::hao::{HaoHeader, DEST_OPTS_PROTOCOL};
use super::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL};
use super::rh2::{Rh2Header, RH2_LEN, ROUTING_PROTOCOL};

/// ICMPv6 type of Packet Too Big (RFC 4443 §3.2).
pub const PACKET_TOO_BIG: u8 = 2;
/// The IPv6 minimum link MTU (RFC 8200 §5): no path MTU is smaller.
pub const IPV6_MIN_MTU: u32 = 1280;
/// Bytes of an ICMPv6 error's header in front of the quoted packet: type, code,
/// checksum and the 4-byte MTU (or unused) field (RFC 4443 §2.1, §3.2).
pub const ICMPV6_ERROR_HEADER_LEN: usize = 8;
/// The most of an invoking packet an ICMPv6 error quotes: the error packet, IPv6 header
/// included, must not exceed the minimum MTU (RFC 4443 §2.4 (c)).
pub const MAX_QUOTE: usize = IPV6_MIN_MTU as usize - IPV6_HEADER_LEN - ICMPV6_ERROR_HEADER_LEN;

/// The start of a quoted TCP segment: what its first 8 bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    /// The segment's source port (ours, when we sent it).
    pub src_port: u16,
    /// The segment's destination port.
    pub dst_port: u16,
    /// The segment's sequence number (RFC 5927 §4.1 checks it against what is in flight).
    pub seq: u32,
}

/// A parsed Packet Too Big message: the MTU of the next hop and who the invoking packet
/// was from and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTooBigRepr {
    /// The MTU the router reports for its next hop, as received (not yet clamped to
    /// [`IPV6_MIN_MTU`]: that is the transport's job, RFC 8201 §4).
    pub mtu: u32,
    /// The quoted packet's IPv6 source (a care-of address when `hao` is present).
    pub src: Ipv6Addr,
    /// The quoted packet's IPv6 destination (a care-of address when `rh2` is present).
    pub dst: Ipv6Addr,
    /// The home address in the quoted packet's Type 2 Routing Header, if any.
    pub rh2: Option<Ipv6Addr>,
    /// The home address in the quoted packet's Home Address option, if any.
    pub hao: Option<Ipv6Addr>,
    /// Bytes of extension headers between the quoted IPv6 header and its upper layer.
    pub ext_len: usize,
    /// The quoted packet's upper-layer protocol.
    pub next_header: u8,
    /// The quoted packet's length as its IPv6 header declares it (40 + Payload Length):
    /// the size of the packet that did not fit.
    pub original_len: usize,
    /// Ports and sequence number when the quoted packet is a TCP segment.
    pub tcp: Option<QuotedTcp>,
}

impl PacketTooBigRepr {
    /// The quoted packet's source at the home-address level: the HAO's address when
    /// present (RFC 6275 §6.3). For a packet we sent, our own (home/anycast) address.
    pub fn home_src(&self) -> Ipv6Addr {
        self.hao.unwrap_or(self.src)
    }

    /// The quoted packet's final destination: the RH2's address when present
    /// (RFC 6275 §6.4). For a packet we sent, the peer's address.
    pub fn home_dst(&self) -> Ipv6Addr {
        self.rh2.unwrap_or(self.dst)
    }

    /// Parses the ICMPv6 message of type `msg_type` whose bytes after the checksum are
    /// `body` (an [`super::Icmpv6Message`]); offsets in errors are relative to `body`.
    /// The caller verifies the ICMPv6 checksum ([`super::parse_verified`] does).
    pub fn parse(msg_type: u8, body: &[u8]) -> Result<PacketTooBigRepr, WireError> {
        // RFC 4443 §3.2: type 2; the code is "set to 0 by the originator and ignored by
        // the receiver", so it is not checked.
        if msg_type != PACKET_TOO_BIG {
            return Err(WireError::new(0, Rule::NotPacketTooBig(msg_type)));
        }
        if body.len() < 4 {
            return Err(truncated(0, Part::Icmpv6, 4, body.len()));
        }
        let mtu = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let quote = &body[4..];
        Self::parse_quote(mtu, quote).map_err(|e| e.shifted(4))
    }

    /// Walks the quoted (truncated) invoking packet.
    fn parse_quote(mtu: u32, quote: &[u8]) -> Result<PacketTooBigRepr, WireError> {
        if quote.len() < IPV6_HEADER_LEN {
            return Err(truncated(
                0,
                Part::QuotedPacket,
                IPV6_HEADER_LEN,
                quote.len(),
            ));
        }
        let version = quote[0] >> 4;
        if version != 6 {
            return Err(WireError::new(0, Rule::NotIpv6(version)));
        }
        let payload_len = usize::from(u16::from_be_bytes([quote[4], quote[5]]));
        let addr = |at: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&quote[at..at + 16]);
            Ipv6Addr::from(o)
        };
        let mut repr = PacketTooBigRepr {
            mtu,
            src: addr(8),
            dst: addr(24),
            rh2: None,
            hao: None,
            ext_len: 0,
            next_header: quote[6],
            original_len: IPV6_HEADER_LEN + payload_len,
            tcp: None,
        };
        let mut offset = IPV6_HEADER_LEN;
        loop {
            match repr.next_header {
                // RFC 6275 §6.4 / RFC 8200 §4.1: at most one RH2, before the HAO.
                ROUTING_PROTOCOL => {
                    if repr.rh2.is_some() || repr.hao.is_some() {
                        return Err(WireError::new(offset, Rule::Rh2Position));
                    }
                    let rh2 = Rh2Header::parse(&quote[offset..]).map_err(|e| e.shifted(offset))?;
                    repr.rh2 = Some(rh2.home_address);
                    repr.next_header = rh2.next_header;
                    offset += RH2_LEN;
                }
                DEST_OPTS_PROTOCOL => {
                    if repr.hao.is_some() {
                        return Err(WireError::new(offset, Rule::DuplicateDestinationOptions));
                    }
                    let hao = HaoHeader::parse(&quote[offset..]).map_err(|e| e.shifted(offset))?;
                    repr.hao = Some(hao.home_address);
                    repr.next_header = hao.next_header;
                    offset += hao.len;
                }
                _ => break,
            }
        }
        repr.ext_len = offset - IPV6_HEADER_LEN;
        if repr.next_header == TCP_PROTOCOL {
            // RFC 5927 §4.1 needs the sequence number: the first 8 bytes of the segment.
            let tcp = &quote[offset..];
            if tcp.len() < 8 {
                return Err(truncated(offset, Part::Tcp, 8, tcp.len()));
            }
            repr.tcp = Some(QuotedTcp {
                src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
                dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
                seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            });
        }
        Ok(repr)
    }

    /// Writes the body of a Packet Too Big message (everything after the checksum)
    /// reporting `mtu` and quoting `invoking` (as much of it as fits, RFC 4443 §2.4 (c))
    /// into `out`, for an [`super::Icmpv6Message`] of type [`PACKET_TOO_BIG`], code 0.
    pub fn emit_body(mtu: u32, invoking: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&mtu.to_be_bytes());
        out.extend_from_slice(&invoking[..invoking.len().min(MAX_QUOTE)]);
    }

    /// A whole IPv6 packet: `router`'s Packet Too Big reporting `mtu` about `invoking`,
    /// to `to` (the invoking packet's source), with its checksum (as a router or a
    /// simulated link sends it).
    pub fn emit_packet(router: Ipv6Addr, to: Ipv6Addr, mtu: u32, invoking: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        Self::emit_body(mtu, invoking, &mut body);
        let repr = super::PacketRepr::new(
            router,
            to,
            super::Upper::Icmpv6(super::packet::Icmpv6Message {
                msg_type: PACKET_TOO_BIG,
                code: 0,
                body: &body,
            }),
        );
        let mut packet = vec![0; repr.buffer_len()];
        // The buffer is the length the repr asks for: emitting into it cannot fail.
        let _ = repr.emit(&mut packet);
        packet
    }
}
