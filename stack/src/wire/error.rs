//! Typed parse errors: every error names the byte offset and the rule that was broken.

use core::fmt;

/// A malformed packet: `offset` is the byte offset from the start of the buffer handed to
/// the parser (for a whole packet, from the start of the IPv6 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte offset {offset}: {rule}")]
pub struct WireError {
    /// Where the broken rule was found.
    pub offset: usize,
    /// What was wrong.
    pub rule: Rule,
}

impl WireError {
    /// An error at `offset`.
    pub const fn new(offset: usize, rule: Rule) -> Self {
        WireError { offset, rule }
    }

    /// The same error with `base` added to its offset, for errors found in a sub-slice.
    pub const fn shifted(self, base: usize) -> Self {
        WireError {
            offset: self.offset + base,
            rule: self.rule,
        }
    }
}

/// The header or field a rule is about, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The fixed IPv6 header.
    Ipv6Header,
    /// An extension header's first two bytes.
    ExtensionHeader,
    /// The Type 2 Routing Header.
    RoutingHeader,
    /// The Destination Options header.
    DestinationOptions,
    /// An option inside the Destination Options header.
    DestinationOption,
    /// The Mobility Header.
    MobilityHeader,
    /// A mobility option.
    MobilityOption,
    /// A TCP header.
    Tcp,
    /// A UDP header.
    Udp,
    /// An ICMPv6 header.
    Icmpv6,
    /// An Ethernet frame.
    Ethernet,
    /// The invoking packet an ICMPv6 error quotes.
    QuotedPacket,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Ipv6Header => "IPv6 header",
            Part::ExtensionHeader => "extension header",
            Part::RoutingHeader => "Type 2 Routing Header",
            Part::DestinationOptions => "Destination Options header",
            Part::DestinationOption => "destination option",
            Part::MobilityHeader => "Mobility Header",
            Part::MobilityOption => "mobility option",
            Part::Tcp => "TCP header",
            Part::Udp => "UDP header",
            Part::Icmpv6 => "ICMPv6 header",
            Part::Ethernet => "Ethernet frame",
            Part::QuotedPacket => "quoted invoking packet",
        })
    }
}

/// The rule a malformed packet broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// The buffer ends before the header or field does.
    #[error("truncated {part}: needs {needed} bytes, only {available} present")]
    Truncated {
        /// What was cut short.
        part: Part,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The IPv6 version field is not 6.
    #[error("IP version is {0}, expected 6")]
    NotIpv6(u8),
    /// The IPv6 Payload Length runs past the end of the buffer.
    #[error(
        "IPv6 payload length {declared} needs {needed} bytes in all, only {available} present"
    )]
    PayloadLength {
        /// The Payload Length field.
        declared: usize,
        /// 40 + declared.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A next-header value vany does not parse at this position.
    #[error("next header {0} is not supported here (expected RH2 43, destination options 60, MH 135, TCP 6, UDP 17, ICMPv6 58 or none 59, in the order RFC 6275 §6 gives)")]
    UnsupportedNextHeader(u8),
    /// A routing header of a type other than 2.
    #[error("routing type {0} is not supported, only Type 2 (RFC 6275 §6.4)")]
    RoutingType(u8),
    /// RH2 with Hdr Ext Len other than 2.
    #[error("Type 2 Routing Header length is {0}, must be 2 (RFC 6275 §6.4)")]
    Rh2Length(u8),
    /// RH2 with Segments Left other than 1.
    #[error("Type 2 Routing Header segments left is {0}, must be 1 (RFC 6275 §6.4)")]
    Rh2SegmentsLeft(u8),
    /// A second Type 2 Routing Header, or one after the Destination Options header.
    #[error("a Type 2 Routing Header may appear once, before the Destination Options header (RFC 6275 §6.4)")]
    Rh2Position,
    /// A second Destination Options header before the upper layer.
    #[error(
        "a second Destination Options header (RFC 8200 §4.1 allows one before the upper layer)"
    )]
    DuplicateDestinationOptions,
    /// A second Home Address option.
    #[error("a second Home Address option (RFC 6275 §6.3 allows one per packet)")]
    DuplicateHao,
    /// A Home Address option whose length is not 16.
    #[error("Home Address option length is {0}, must be 16 (RFC 6275 §6.3)")]
    HaoLength(u8),
    /// A Home Address option not at 8n+6.
    #[error("Home Address option is not at an 8n+6 offset (RFC 6275 §6.3)")]
    HaoMisaligned,
    /// A home address (in the HAO or RH2) that is not a unicast address.
    #[error("home address {kind} is not unicast (RFC 6275 §6.3, §6.4)")]
    HomeAddressNotUnicast {
        /// "multicast", "unspecified" or "loopback".
        kind: &'static str,
    },
    /// A destination option with an unknown type whose action bits say not to skip it.
    #[error("unrecognized destination option type {0:#04x} whose action bits forbid skipping it (RFC 8200 §4.2)")]
    UnknownDestinationOption(u8),
    /// A destination option that runs past the end of its header.
    #[error("destination option overruns its header")]
    DestinationOptionOverrun,
    /// A Destination Options header without a Home Address option.
    #[error("Destination Options header carries no Home Address option")]
    NoHao,
    /// The MH Payload Proto field is not 59.
    #[error("Mobility Header payload proto is {0}, must be 59 (no next header; RFC 6275 §6.1.1)")]
    MhPayloadProto(u8),
    /// The MH is shorter than its type requires.
    #[error("Mobility Header of type {mh_type} is {len} bytes; the type needs at least {min} (RFC 6275 §9.2)")]
    MhTooShort {
        /// The MH type.
        mh_type: u8,
        /// Its length from the Header Len field.
        len: usize,
        /// The minimum for the type.
        min: usize,
    },
    /// The packet ends before, or goes on after, the length the MH Header Len field gives.
    #[error("Mobility Header Header Len says {declared} bytes but {available} bytes remain in the packet (RFC 6275 §6.1.1)")]
    MhLengthMismatch {
        /// Length from the Header Len field.
        declared: usize,
        /// Bytes left in the IPv6 payload.
        available: usize,
    },
    /// A mobility option with a length its type does not allow.
    #[error("mobility option type {kind} has length {len}, must be {expected} (RFC 6275 §6.2)")]
    MhOptionLength {
        /// The option type.
        kind: u8,
        /// Its length field.
        len: u8,
        /// The required length.
        expected: u8,
    },
    /// A mobility option not at its required alignment.
    #[error("mobility option type {kind} is not aligned at {x}n+{y} (RFC 6275 §6.2)")]
    MhOptionMisaligned {
        /// The option type.
        kind: u8,
        /// Alignment multiple.
        x: u8,
        /// Alignment offset.
        y: u8,
    },
    /// A mobility option runs past the end of the MH.
    #[error("mobility option overruns the Mobility Header")]
    MhOptionOverrun,
    /// Something follows the Binding Authorization Data option.
    #[error("Binding Authorization Data option is not the last option (RFC 6275 §6.2.7)")]
    AuthDataNotLast,
    /// More non-padding options than vany holds.
    #[error("more than {0} mobility options")]
    TooManyOptions(usize),
    /// A TCP header that smoltcp's parser refused.
    #[error("malformed TCP header or options")]
    BadTcp,
    /// A UDP length field that disagrees with the packet.
    #[error("UDP length {declared} disagrees with the {available} bytes present")]
    UdpLength {
        /// The UDP length field.
        declared: usize,
        /// Bytes present.
        available: usize,
    },
    /// The output buffer is too small for what is being emitted.
    #[error("output buffer of {available} bytes is too small, {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A Mobility Header that would exceed the 2048 bytes its 8-bit length field can give.
    #[error("Mobility Header would be {0} bytes, more than its length field can express")]
    MhTooLong(usize),
    /// An ICMPv6 message that is not a Packet Too Big where one was expected.
    #[error("ICMPv6 type {0} is not Packet Too Big (2, RFC 4443 §3.2)")]
    NotPacketTooBig(u8),
    /// An Ethernet frame whose EtherType is not IPv6.
    #[error("EtherType {0:#06x} is not IPv6 (0x86dd)")]
    NotIpv6EtherType(u16),
}

/// Shorthand for a truncation error at `offset`.
pub(crate) fn truncated(offset: usize, part: Part, needed: usize, available: usize) -> WireError {
    WireError::new(
        offset,
        Rule::Truncated {
            part,
            needed,
            available,
        },
    )
}
