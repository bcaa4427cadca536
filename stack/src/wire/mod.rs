//! Packet formats, parsed once at the edge into typed `Repr`s (smoltcp's Packet/Repr
//! pattern). No parser here panics on any input: each returns a [`WireError`] that names
//! the byte offset and the rule broken.

pub mod checksum;
pub mod error;
pub mod hao;
pub mod icmpv6;
pub mod mh;
pub mod mh_option;
pub mod packet;
pub mod rewrite;
pub mod rh2;
pub mod tcp;

pub use error::{Part, Rule, WireError};
pub use hao::HaoHeader;
pub use icmpv6::{PacketTooBigRepr, QuotedTcp, IPV6_MIN_MTU, PACKET_TOO_BIG};
pub use mh::{BindingAck, BindingUpdate, MhMessage, MhRepr, MhType};
pub use mh_option::{MhOption, MhOptions};
pub use packet::{
    parse, parse_deferred, parse_tcp_deferred, parse_tcp_input, parse_verified, ChecksumTrust,
    Icmpv6Message, PacketError, PacketRepr, ParsedPacket, TcpInput, UdpDatagram, Upper,
};
pub use rh2::Rh2Header;
pub use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber, TcpTimestampRepr};
pub use tcp::DeferredChecksum;
