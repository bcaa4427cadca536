//! The Mobility Header (RFC 6275 §6.1) and its eight messages.
//!
//! ```text
//!  0               1               2               3
//! | Payload Proto | Header Len    |   MH Type     |   Reserved    |
//! |           Checksum            |                               |
//! |                         Message Data ...                      |
//! ```
//! Header Len counts 8-octet units past the first 8 octets, so an MH is always a multiple
//! of 8 octets long. Payload Proto must be 59 (IPPROTO_NONE).

use core::fmt;
use core::net::Ipv6Addr;

use super::error::{truncated, Part, Rule, WireError};
use super::mh_option::{layout_options, parse_options, MhOption, MhOptions, AUTHENTICATOR_LEN};

/// IP protocol number of the Mobility Header.
pub const MH_PROTOCOL: u8 = 135;
/// The only allowed Payload Proto value (IPPROTO_NONE).
pub const PAYLOAD_PROTO_NONE: u8 = 59;
/// Offset of the checksum in the MH.
pub const CHECKSUM_OFFSET: usize = 4;
/// Offset of the message data in the MH.
pub const MESSAGE_OFFSET: usize = 6;
/// The largest MH the 8-bit Header Len field can describe.
pub const MAX_MH_LEN: usize = 8 * 256;

/// The MH Type field (RFC 6275 §6.1.2-§6.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MhType {
    /// Binding Refresh Request, 0.
    Brr,
    /// Home Test Init, 1.
    Hoti,
    /// Care-of Test Init, 2.
    Coti,
    /// Home Test, 3.
    Hot,
    /// Care-of Test, 4.
    Cot,
    /// Binding Update, 5.
    Bu,
    /// Binding Acknowledgement, 6.
    Ba,
    /// Binding Error, 7.
    Be,
    /// Any other value.
    Unknown(u8),
}

impl MhType {
    /// The type for a wire value.
    pub fn from_u8(value: u8) -> MhType {
        match value {
            0 => MhType::Brr,
            1 => MhType::Hoti,
            2 => MhType::Coti,
            3 => MhType::Hot,
            4 => MhType::Cot,
            5 => MhType::Bu,
            6 => MhType::Ba,
            7 => MhType::Be,
            other => MhType::Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            MhType::Brr => 0,
            MhType::Hoti => 1,
            MhType::Coti => 2,
            MhType::Hot => 3,
            MhType::Cot => 4,
            MhType::Bu => 5,
            MhType::Ba => 6,
            MhType::Be => 7,
            MhType::Unknown(v) => v,
        }
    }

    /// Short name: BRR, HoTI, CoTI, HoT, CoT, BU, BA, BE, or "unknown".
    pub fn name(self) -> &'static str {
        match self {
            MhType::Brr => "BRR",
            MhType::Hoti => "HoTI",
            MhType::Coti => "CoTI",
            MhType::Hot => "HoT",
            MhType::Cot => "CoT",
            MhType::Bu => "BU",
            MhType::Ba => "BA",
            MhType::Be => "BE",
            MhType::Unknown(_) => "unknown",
        }
    }

    /// Where the options start: the length of the fixed part of the message.
    pub fn fixed_len(self) -> usize {
        match self {
            MhType::Brr => 8,
            MhType::Hoti | MhType::Coti => 16,
            MhType::Hot | MhType::Cot | MhType::Be => 24,
            MhType::Bu | MhType::Ba => 12,
            MhType::Unknown(_) => MESSAGE_OFFSET,
        }
    }

    /// The smallest MH of this type (RFC 6275 §9.2: Header Len below this is an error).
    pub fn min_len(self) -> usize {
        self.fixed_len().div_ceil(8) * 8
    }
}

impl fmt::Display for MhType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MhType::Unknown(v) => write!(f, "unknown({v})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Binding Update flags and fields (RFC 6275 §6.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BindingUpdate {
    /// Sequence number, compared modulo 2^16.
    pub seq: u16,
    /// A: acknowledge.
    pub ack: bool,
    /// H: home registration.
    pub home: bool,
    /// L: link-local address compatibility.
    pub link_local: bool,
    /// K: key management mobility capability.
    pub key_mgmt: bool,
    /// The 12 bits after the flags (reserved in RFC 6275; other RFCs define some).
    pub reserved: u16,
    /// Lifetime in units of 4 seconds.
    pub lifetime: u16,
}

/// Binding Acknowledgement fields (RFC 6275 §6.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BindingAck {
    /// Status: below 128 accepted, 128 and above rejected.
    pub status: u8,
    /// K: key management mobility capability.
    pub key_mgmt: bool,
    /// The 7 bits after K.
    pub reserved: u8,
    /// Sequence number copied from the BU (or the CN's last, with status 135).
    pub seq: u16,
    /// Granted lifetime in units of 4 seconds.
    pub lifetime: u16,
}

/// The type-specific part of a Mobility Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MhMessage<'a> {
    /// Binding Refresh Request (§6.1.2).
    Brr,
    /// Home Test Init (§6.1.3).
    Hoti {
        /// Home init cookie.
        cookie: [u8; 8],
    },
    /// Care-of Test Init (§6.1.4).
    Coti {
        /// Care-of init cookie.
        cookie: [u8; 8],
    },
    /// Home Test (§6.1.5).
    Hot {
        /// Home nonce index.
        nonce_index: u16,
        /// Home init cookie, echoed.
        cookie: [u8; 8],
        /// Home keygen token.
        token: [u8; 8],
    },
    /// Care-of Test (§6.1.6).
    Cot {
        /// Care-of nonce index.
        nonce_index: u16,
        /// Care-of init cookie, echoed.
        cookie: [u8; 8],
        /// Care-of keygen token.
        token: [u8; 8],
    },
    /// Binding Update (§6.1.7).
    Bu(BindingUpdate),
    /// Binding Acknowledgement (§6.1.8).
    Ba(BindingAck),
    /// Binding Error (§6.1.9).
    Be {
        /// Status: 1 unknown binding for HAO, 2 unrecognized MH type.
        status: u8,
        /// The home address that was in the offending packet's HAO.
        home_address: Ipv6Addr,
    },
    /// An MH type vany does not know (answered with Binding Error status 2, §9.2).
    Unknown {
        /// The MH type value.
        mh_type: u8,
        /// Everything after the checksum.
        body: &'a [u8],
    },
}

impl MhMessage<'_> {
    /// The MH type of this message.
    pub fn mh_type(&self) -> MhType {
        match self {
            MhMessage::Brr => MhType::Brr,
            MhMessage::Hoti { .. } => MhType::Hoti,
            MhMessage::Coti { .. } => MhType::Coti,
            MhMessage::Hot { .. } => MhType::Hot,
            MhMessage::Cot { .. } => MhType::Cot,
            MhMessage::Bu(_) => MhType::Bu,
            MhMessage::Ba(_) => MhType::Ba,
            MhMessage::Be { .. } => MhType::Be,
            MhMessage::Unknown { mh_type, .. } => MhType::Unknown(*mh_type),
        }
    }
}

/// A parsed Mobility Header: message plus options (padding elided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhRepr<'a> {
    /// The message.
    pub message: MhMessage<'a>,
    /// Options in wire order, without Pad1/PadN.
    pub options: MhOptions<'a>,
}

fn array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&data[at..at + N]);
    out
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

impl<'a> MhRepr<'a> {
    /// A message with no options.
    pub fn new(message: MhMessage<'a>) -> Self {
        MhRepr {
            message,
            options: MhOptions::new(),
        }
    }

    /// Parses `mh`, which must be exactly one Mobility Header (its length is checked
    /// against Header Len). Enforces RFC 6275 §6.1.1 and §9.2: Payload Proto 59, the
    /// minimum length per type, strict option lengths and alignment, and Binding
    /// Authorization Data last. Does not check the checksum (see [`verify_checksum`]).
    pub fn parse(mh: &'a [u8]) -> Result<MhRepr<'a>, WireError> {
        if mh.len() < 8 {
            return Err(truncated(0, Part::MobilityHeader, 8, mh.len()));
        }
        let declared = (mh[1] as usize + 1) * 8;
        if declared != mh.len() {
            return Err(WireError::new(
                1,
                Rule::MhLengthMismatch {
                    declared,
                    available: mh.len(),
                },
            ));
        }
        if mh[0] != PAYLOAD_PROTO_NONE {
            return Err(WireError::new(0, Rule::MhPayloadProto(mh[0])));
        }
        let mh_type = MhType::from_u8(mh[2]);
        if mh.len() < mh_type.min_len() {
            return Err(WireError::new(
                1,
                Rule::MhTooShort {
                    mh_type: mh[2],
                    len: mh.len(),
                    min: mh_type.min_len(),
                },
            ));
        }
        let message = match mh_type {
            MhType::Brr => MhMessage::Brr,
            MhType::Hoti => MhMessage::Hoti {
                cookie: array(mh, 8),
            },
            MhType::Coti => MhMessage::Coti {
                cookie: array(mh, 8),
            },
            MhType::Hot => MhMessage::Hot {
                nonce_index: be16(mh, 6),
                cookie: array(mh, 8),
                token: array(mh, 16),
            },
            MhType::Cot => MhMessage::Cot {
                nonce_index: be16(mh, 6),
                cookie: array(mh, 8),
                token: array(mh, 16),
            },
            MhType::Bu => {
                let flags = be16(mh, 8);
                MhMessage::Bu(BindingUpdate {
                    seq: be16(mh, 6),
                    ack: flags & 0x8000 != 0,
                    home: flags & 0x4000 != 0,
                    link_local: flags & 0x2000 != 0,
                    key_mgmt: flags & 0x1000 != 0,
                    reserved: flags & 0x0fff,
                    lifetime: be16(mh, 10),
                })
            }
            MhType::Ba => MhMessage::Ba(BindingAck {
                status: mh[6],
                key_mgmt: mh[7] & 0x80 != 0,
                reserved: mh[7] & 0x7f,
                seq: be16(mh, 8),
                lifetime: be16(mh, 10),
            }),
            MhType::Be => MhMessage::Be {
                status: mh[6],
                home_address: Ipv6Addr::from(array::<16>(mh, 8)),
            },
            MhType::Unknown(mh_type) => {
                return Ok(MhRepr::new(MhMessage::Unknown {
                    mh_type,
                    body: &mh[MESSAGE_OFFSET..],
                }))
            }
        };
        let options = parse_options(mh, mh_type.fixed_len())?;
        Ok(MhRepr { message, options })
    }

    /// Length of the emitted MH, padding included.
    pub fn buffer_len(&self) -> usize {
        match self.message {
            MhMessage::Unknown { body, .. } => MESSAGE_OFFSET + body.len(),
            _ => layout_options(&self.options, self.message.mh_type().fixed_len(), None),
        }
    }

    /// The authenticator carried in a Binding Authorization Data option, if any.
    pub fn authenticator(&self) -> Option<[u8; AUTHENTICATOR_LEN]> {
        self.options.iter().find_map(|o| match o {
            MhOption::AuthData(a) => Some(*a),
            _ => None,
        })
    }

    /// The Nonce Indices option, if any, as (home, care-of).
    pub fn nonce_indices(&self) -> Option<(u16, u16)> {
        self.options.iter().find_map(|o| match o {
            MhOption::NonceIndices { home, care_of } => Some((*home, *care_of)),
            _ => None,
        })
    }

    /// The Alternate Care-of Address option, if any.
    pub fn alt_care_of(&self) -> Option<Ipv6Addr> {
        self.options.iter().find_map(|o| match o {
            MhOption::AltCareOf(a) => Some(*a),
            _ => None,
        })
    }

    /// Checks that the repr can be emitted: option data fits its length byte, Binding
    /// Authorization Data is last, the whole fits Header Len, an unknown body is padded.
    fn check_emittable(&self) -> Result<usize, WireError> {
        if let MhMessage::Unknown { body, .. } = self.message {
            let len = MESSAGE_OFFSET + body.len();
            if !len.is_multiple_of(8) || len < 8 {
                return Err(WireError::new(
                    1,
                    Rule::MhLengthMismatch {
                        declared: len.div_ceil(8).max(1) * 8,
                        available: len,
                    },
                ));
            }
        }
        for (i, option) in self.options.iter().enumerate() {
            if option.data_len() > u8::MAX as usize {
                return Err(WireError::new(0, Rule::MhOptionOverrun));
            }
            if matches!(option, MhOption::AuthData(_)) && i + 1 != self.options.len() {
                return Err(WireError::new(0, Rule::AuthDataNotLast));
            }
        }
        let len = self.buffer_len();
        if len > MAX_MH_LEN {
            return Err(WireError::new(1, Rule::MhTooLong(len)));
        }
        Ok(len)
    }

    /// Writes the MH into `buf[..self.buffer_len()]` with a zero checksum; returns its
    /// length. Use [`fill_checksum`] once the pseudo-header addresses are known.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.check_emittable()?;
        if buf.len() < len {
            return Err(WireError::new(
                0,
                Rule::BufferTooSmall {
                    needed: len,
                    available: buf.len(),
                },
            ));
        }
        let mh = &mut buf[..len];
        mh[0] = PAYLOAD_PROTO_NONE;
        mh[1] = (len / 8 - 1) as u8;
        mh[2] = self.message.mh_type().to_u8();
        mh[3] = 0;
        mh[4..6].fill(0);
        let fixed = self.message.mh_type().fixed_len();
        mh[MESSAGE_OFFSET..fixed].fill(0);
        match self.message {
            MhMessage::Brr => {}
            MhMessage::Hoti { cookie } | MhMessage::Coti { cookie } => {
                mh[8..16].copy_from_slice(&cookie);
            }
            MhMessage::Hot {
                nonce_index,
                cookie,
                token,
            }
            | MhMessage::Cot {
                nonce_index,
                cookie,
                token,
            } => {
                mh[6..8].copy_from_slice(&nonce_index.to_be_bytes());
                mh[8..16].copy_from_slice(&cookie);
                mh[16..24].copy_from_slice(&token);
            }
            MhMessage::Bu(bu) => {
                let flags = (u16::from(bu.ack) << 15)
                    | (u16::from(bu.home) << 14)
                    | (u16::from(bu.link_local) << 13)
                    | (u16::from(bu.key_mgmt) << 12)
                    | (bu.reserved & 0x0fff);
                mh[6..8].copy_from_slice(&bu.seq.to_be_bytes());
                mh[8..10].copy_from_slice(&flags.to_be_bytes());
                mh[10..12].copy_from_slice(&bu.lifetime.to_be_bytes());
            }
            MhMessage::Ba(ba) => {
                mh[6] = ba.status;
                mh[7] = (u8::from(ba.key_mgmt) << 7) | (ba.reserved & 0x7f);
                mh[8..10].copy_from_slice(&ba.seq.to_be_bytes());
                mh[10..12].copy_from_slice(&ba.lifetime.to_be_bytes());
            }
            MhMessage::Be {
                status,
                home_address,
            } => {
                mh[6] = status;
                mh[8..24].copy_from_slice(&home_address.octets());
            }
            MhMessage::Unknown { body, .. } => {
                mh[MESSAGE_OFFSET..].copy_from_slice(body);
                return Ok(len);
            }
        }
        layout_options(&self.options, fixed, Some(mh));
        Ok(len)
    }
}

/// The MH checksum over the pseudo-header (`src`, `dst`, length, next header 135) and the
/// MH with its checksum field taken as zero (RFC 6275 §6.1.1). `src` is the home address
/// when the packet carries a HAO; `dst` is the final destination (the RH2 address).
pub fn compute_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &[u8]) -> u16 {
    if mh.len() < CHECKSUM_OFFSET + 2 {
        return 0;
    }
    super::checksum::upper_layer(src, dst, MH_PROTOCOL, mh, CHECKSUM_OFFSET)
}

/// Writes the MH checksum into `mh[4..6]`.
pub fn fill_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &mut [u8]) {
    let sum = compute_checksum(src, dst, mh);
    mh[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Whether the checksum in `mh[4..6]` is right for these pseudo-header addresses.
pub fn verify_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &[u8]) -> bool {
    mh.len() >= MESSAGE_OFFSET
        && compute_checksum(src, dst, mh) == u16::from_be_bytes([mh[4], mh[5]])
}

/// The MH type name for display.
pub fn type_name(mh_type: u8) -> &'static str {
    MhType::from_u8(mh_type).name()
}
