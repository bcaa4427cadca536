//! The Type 2 Routing Header (RFC 6275 §6.4), through smoltcp's routing-header code plus
//! the checks smoltcp leaves out: Hdr Ext Len must be 2 and Segments Left must be 1.

use core::net::Ipv6Addr;

use smoltcp::wire::{Ipv6RoutingHeader, Ipv6RoutingRepr};

use super::error::{truncated, Part, Rule, WireError};
use super::hao::non_unicast_kind;

/// IP protocol number of the Routing header.
pub const ROUTING_PROTOCOL: u8 = 43;
/// Length of a Type 2 Routing Header.
pub const RH2_LEN: usize = 24;

/// A parsed Type 2 Routing Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rh2Header {
    /// The next header after this one.
    pub next_header: u8,
    /// The home address (the packet's final destination).
    pub home_address: Ipv6Addr,
}

impl Rh2Header {
    /// Parses a Type 2 Routing Header at the start of `data` (offsets relative to `data`).
    pub fn parse(data: &[u8]) -> Result<Rh2Header, WireError> {
        if data.len() < 4 {
            return Err(truncated(0, Part::RoutingHeader, 4, data.len()));
        }
        if data[2] != 2 {
            return Err(WireError::new(2, Rule::RoutingType(data[2])));
        }
        // RFC 6275 §6.4: "Hdr Ext Len: 2", "Segments Left: 1".
        if data[1] != 2 {
            return Err(WireError::new(1, Rule::Rh2Length(data[1])));
        }
        if data.len() < RH2_LEN {
            return Err(truncated(0, Part::RoutingHeader, RH2_LEN, data.len()));
        }
        if data[3] != 1 {
            return Err(WireError::new(3, Rule::Rh2SegmentsLeft(data[3])));
        }
        let header = Ipv6RoutingHeader::new_checked(&data[2..RH2_LEN])
            .map_err(|_| truncated(0, Part::RoutingHeader, RH2_LEN, data.len()))?;
        let home_address = match Ipv6RoutingRepr::parse(&header) {
            Ok(Ipv6RoutingRepr::Type2 { home_address, .. }) => home_address,
            _ => return Err(WireError::new(2, Rule::RoutingType(data[2]))),
        };
        if let Some(kind) = non_unicast_kind(&home_address) {
            return Err(WireError::new(8, Rule::HomeAddressNotUnicast { kind }));
        }
        Ok(Rh2Header {
            next_header: data[0],
            home_address,
        })
    }

    /// Writes the 24-byte header into `buf[..24]`.
    pub fn emit(next_header: u8, home_address: &Ipv6Addr, buf: &mut [u8]) {
        buf[0] = next_header;
        buf[1] = 2;
        let repr = Ipv6RoutingRepr::Type2 {
            segments_left: 1,
            home_address: *home_address,
        };
        repr.emit(&mut Ipv6RoutingHeader::new_unchecked(&mut buf[2..RH2_LEN]));
    }
}
