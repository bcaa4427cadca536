//! The Destination Options header carrying the Home Address option (RFC 6275 §6.3).
//!
//! Emitted as `nh, 2, PadN(2 data bytes), 0xC9, 16, home address` (24 bytes: the HAO type
//! byte lands at offset 6, satisfying its 8n+6 alignment), which is what Linux and scapy
//! emit. Parsing accepts any valid padding.

use core::net::Ipv6Addr;

use super::error::{truncated, Part, Rule, WireError};

/// IP protocol number of the Destination Options header.
pub const DEST_OPTS_PROTOCOL: u8 = 60;
/// Option type of the Home Address option (RFC 6275 §6.3): the top bits `11` mean a node
/// that does not understand it must discard the packet and send an ICMP error.
pub const HAO_TYPE: u8 = 0xC9;
/// Length of the header vany emits.
pub const HAO_HEADER_LEN: usize = 24;

const PAD1: u8 = 0;
const PADN: u8 = 1;

/// A parsed Destination Options header with its Home Address option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaoHeader {
    /// The next header after this one.
    pub next_header: u8,
    /// The home address.
    pub home_address: Ipv6Addr,
    /// Length of the header in bytes.
    pub len: usize,
}

/// Why an address cannot be a home address, if it cannot.
pub(crate) fn non_unicast_kind(addr: &Ipv6Addr) -> Option<&'static str> {
    if addr.is_multicast() {
        Some("multicast")
    } else if addr.is_unspecified() {
        Some("unspecified")
    } else if addr.is_loopback() {
        Some("loopback")
    } else {
        None
    }
}

impl HaoHeader {
    /// Parses a Destination Options header at the start of `data` (offsets in errors are
    /// relative to `data`). Exactly one HAO must be present; Pad1/PadN and unknown options
    /// whose action bits are `00` are skipped (RFC 8200 §4.2).
    pub fn parse(data: &[u8]) -> Result<HaoHeader, WireError> {
        if data.len() < 2 {
            return Err(truncated(0, Part::DestinationOptions, 2, data.len()));
        }
        let len = (data[1] as usize + 1) * 8;
        if data.len() < len {
            return Err(truncated(0, Part::DestinationOptions, len, data.len()));
        }
        let header = &data[..len];
        let mut home_address = None;
        let mut pos = 2;
        while pos < len {
            let kind = header[pos];
            if kind == PAD1 {
                pos += 1;
                continue;
            }
            if pos + 2 > len {
                return Err(WireError::new(pos, Rule::DestinationOptionOverrun));
            }
            let opt_len = header[pos + 1];
            let end = pos + 2 + opt_len as usize;
            if end > len {
                return Err(WireError::new(pos, Rule::DestinationOptionOverrun));
            }
            match kind {
                PADN => {}
                HAO_TYPE => {
                    if home_address.is_some() {
                        return Err(WireError::new(pos, Rule::DuplicateHao));
                    }
                    if opt_len != 16 {
                        return Err(WireError::new(pos + 1, Rule::HaoLength(opt_len)));
                    }
                    if pos % 8 != 6 {
                        return Err(WireError::new(pos, Rule::HaoMisaligned));
                    }
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&header[pos + 2..end]);
                    let addr = Ipv6Addr::from(octets);
                    if let Some(kind) = non_unicast_kind(&addr) {
                        return Err(WireError::new(
                            pos + 2,
                            Rule::HomeAddressNotUnicast { kind },
                        ));
                    }
                    home_address = Some(addr);
                }
                other if other >> 6 == 0 => {}
                other => return Err(WireError::new(pos, Rule::UnknownDestinationOption(other))),
            }
            pos = end;
        }
        match home_address {
            Some(home_address) => Ok(HaoHeader {
                next_header: data[0],
                home_address,
                len,
            }),
            None => Err(WireError::new(0, Rule::NoHao)),
        }
    }

    /// Writes the 24-byte header into `buf[..24]`.
    pub fn emit(next_header: u8, home_address: &Ipv6Addr, buf: &mut [u8]) {
        buf[0] = next_header;
        buf[1] = 2;
        buf[2..6].copy_from_slice(&[PADN, 2, 0, 0]);
        buf[6] = HAO_TYPE;
        buf[7] = 16;
        buf[8..24].copy_from_slice(&home_address.octets());
    }
}
