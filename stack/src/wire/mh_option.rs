//! Mobility options (RFC 6275 §6.2): parsing with strict lengths and alignment, and
//! emission with the alignment padding §6.2 requires (the same Pad1/PadN choices that
//! Linux/UMIP and scapy make, so emitted messages are byte-identical to theirs).

use core::net::Ipv6Addr;

use super::error::{truncated, Part, Rule, WireError};

/// The most non-padding options a [`MhOptions`] list holds.
pub const MAX_OPTIONS: usize = 16;

/// Length of the authenticator in the Binding Authorization Data option when return
/// routability is used (RFC 6275 §6.2.7: First(96, ...)).
pub const AUTHENTICATOR_LEN: usize = 12;

/// Option type numbers (RFC 6275 §6.2).
pub mod kind {
    /// Pad1 (a single zero byte).
    pub const PAD1: u8 = 0;
    /// PadN.
    pub const PADN: u8 = 1;
    /// Binding Refresh Advice.
    pub const REFRESH_ADVICE: u8 = 2;
    /// Alternate Care-of Address.
    pub const ALT_COA: u8 = 3;
    /// Nonce Indices.
    pub const NONCE_INDICES: u8 = 4;
    /// Binding Authorization Data.
    pub const AUTH_DATA: u8 = 5;
}

/// One mobility option; padding is not represented (the emitter inserts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MhOption<'a> {
    /// Binding Refresh Advice (§6.2.4), interval in units of 4 seconds. Alignment 2n.
    RefreshAdvice {
        /// Refresh interval in units of 4 s.
        interval: u16,
    },
    /// Alternate Care-of Address (§6.2.5). Alignment 8n+6.
    AltCareOf(Ipv6Addr),
    /// Nonce Indices (§6.2.6). Alignment 2n.
    NonceIndices {
        /// Home nonce index.
        home: u16,
        /// Care-of nonce index.
        care_of: u16,
    },
    /// Binding Authorization Data (§6.2.7) with the 96-bit authenticator. Alignment 8n+2,
    /// always the last option.
    AuthData([u8; AUTHENTICATOR_LEN]),
    /// An option vany does not know; skipped by receivers (§6.2.1). No alignment.
    Unknown {
        /// The option type.
        kind: u8,
        /// The option data.
        data: &'a [u8],
    },
}

impl MhOption<'_> {
    /// The option type number.
    pub fn kind(&self) -> u8 {
        match self {
            MhOption::RefreshAdvice { .. } => kind::REFRESH_ADVICE,
            MhOption::AltCareOf(_) => kind::ALT_COA,
            MhOption::NonceIndices { .. } => kind::NONCE_INDICES,
            MhOption::AuthData(_) => kind::AUTH_DATA,
            MhOption::Unknown { kind, .. } => *kind,
        }
    }

    /// The option name as RFC 6275 gives it.
    pub fn name(&self) -> &'static str {
        option_name(self.kind())
    }

    /// Length of the option data (the Option Length field).
    pub fn data_len(&self) -> usize {
        match self {
            MhOption::RefreshAdvice { .. } => 2,
            MhOption::AltCareOf(_) => 16,
            MhOption::NonceIndices { .. } => 4,
            MhOption::AuthData(_) => AUTHENTICATOR_LEN,
            MhOption::Unknown { data, .. } => data.len(),
        }
    }

    /// The `xn+y` alignment of the option type byte, relative to the start of the MH.
    pub fn alignment(&self) -> (usize, usize) {
        alignment_of(self.kind())
    }

    fn write_data(&self, out: &mut [u8]) {
        match self {
            MhOption::RefreshAdvice { interval } => out.copy_from_slice(&interval.to_be_bytes()),
            MhOption::AltCareOf(addr) => out.copy_from_slice(&addr.octets()),
            MhOption::NonceIndices { home, care_of } => {
                out[..2].copy_from_slice(&home.to_be_bytes());
                out[2..].copy_from_slice(&care_of.to_be_bytes());
            }
            MhOption::AuthData(auth) => out.copy_from_slice(auth),
            MhOption::Unknown { data, .. } => out.copy_from_slice(data),
        }
    }
}

/// The name of a mobility option type.
pub fn option_name(kind: u8) -> &'static str {
    match kind {
        kind::PAD1 => "Pad1",
        kind::PADN => "PadN",
        kind::REFRESH_ADVICE => "Binding Refresh Advice",
        kind::ALT_COA => "Alternate Care-of Address",
        kind::NONCE_INDICES => "Nonce Indices",
        kind::AUTH_DATA => "Binding Authorization Data",
        _ => "unknown",
    }
}

/// `(x, y)` of the `xn+y` alignment rule for an option type (RFC 6275 §6.2.4-§6.2.7);
/// `(1, 0)` means none.
pub fn alignment_of(kind: u8) -> (usize, usize) {
    match kind {
        kind::REFRESH_ADVICE | kind::NONCE_INDICES => (2, 0),
        kind::ALT_COA => (8, 6),
        kind::AUTH_DATA => (8, 2),
        _ => (1, 0),
    }
}

/// The exact data length a known option type must have.
fn required_len(kind: u8) -> Option<u8> {
    match kind {
        kind::REFRESH_ADVICE => Some(2),
        kind::ALT_COA => Some(16),
        kind::NONCE_INDICES => Some(4),
        kind::AUTH_DATA => Some(AUTHENTICATOR_LEN as u8),
        _ => None,
    }
}

/// Padding needed at `pos` to reach the next `xn+y` offset.
fn padding_before(pos: usize, (x, y): (usize, usize)) -> usize {
    if x <= 1 {
        return 0;
    }
    (x + y - pos % x) % x
}

/// An ordered list of (non-padding) mobility options.
pub type MhOptions<'a> = heapless::Vec<MhOption<'a>, MAX_OPTIONS>;

/// Parses the options area `mh[start..]` of a Mobility Header. `mh` is the whole MH so that
/// alignment is checked relative to its start; offsets in errors are from the MH start.
pub fn parse_options(mh: &[u8], start: usize) -> Result<MhOptions<'_>, WireError> {
    let mut options = MhOptions::new();
    let mut pos = start;
    while pos < mh.len() {
        let kind = mh[pos];
        if kind == kind::PAD1 {
            pos += 1;
            continue;
        }
        if pos + 2 > mh.len() {
            return Err(truncated(pos, Part::MobilityOption, 2, mh.len() - pos));
        }
        let len = mh[pos + 1];
        let data_start = pos + 2;
        let data_end = data_start + len as usize;
        if data_end > mh.len() {
            return Err(WireError::new(pos, Rule::MhOptionOverrun));
        }
        if kind == kind::PADN {
            pos = data_end;
            continue;
        }
        if let Some(expected) = required_len(kind) {
            if len != expected {
                return Err(WireError::new(
                    pos + 1,
                    Rule::MhOptionLength {
                        kind,
                        len,
                        expected,
                    },
                ));
            }
        }
        let (x, y) = alignment_of(kind);
        if padding_before(pos, (x, y)) != 0 {
            return Err(WireError::new(
                pos,
                Rule::MhOptionMisaligned {
                    kind,
                    x: x as u8,
                    y: y as u8,
                },
            ));
        }
        let data = &mh[data_start..data_end];
        let option = match kind {
            kind::REFRESH_ADVICE => MhOption::RefreshAdvice {
                interval: u16::from_be_bytes([data[0], data[1]]),
            },
            kind::ALT_COA => MhOption::AltCareOf(Ipv6Addr::from(to_array::<16>(data))),
            kind::NONCE_INDICES => MhOption::NonceIndices {
                home: u16::from_be_bytes([data[0], data[1]]),
                care_of: u16::from_be_bytes([data[2], data[3]]),
            },
            kind::AUTH_DATA => {
                // RFC 6275 §6.2.7: "this option MUST be the last option".
                if data_end != mh.len() {
                    return Err(WireError::new(data_end, Rule::AuthDataNotLast));
                }
                MhOption::AuthData(to_array::<AUTHENTICATOR_LEN>(data))
            }
            _ => MhOption::Unknown { kind, data },
        };
        if options.push(option).is_err() {
            return Err(WireError::new(pos, Rule::TooManyOptions(MAX_OPTIONS)));
        }
        pos = data_end;
    }
    Ok(options)
}

/// Copies exactly `N` bytes; the caller has checked the length.
fn to_array<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&data[..N]);
    out
}

/// Writes `len` bytes of padding at `out[..len]`: Pad1 for one byte, PadN otherwise.
fn write_padding(out: &mut [u8]) {
    match out.len() {
        0 => {}
        1 => out[0] = kind::PAD1,
        n => {
            out[0] = kind::PADN;
            out[1] = (n - 2) as u8;
            out[2..].fill(0);
        }
    }
}

/// Lays the options out from `start` (an offset from the MH start), padding each to its
/// alignment and the whole to a multiple of 8 octets (RFC 6275 §6.2). Writes them into
/// `mh[start..]` when `mh` is given. Returns the total MH length.
pub(crate) fn layout_options(
    options: &[MhOption<'_>],
    start: usize,
    mut mh: Option<&mut [u8]>,
) -> usize {
    let mut pos = start;
    for option in options {
        let pad = padding_before(pos, option.alignment());
        let end = pos + pad + 2 + option.data_len();
        if let Some(buf) = mh.as_deref_mut() {
            write_padding(&mut buf[pos..pos + pad]);
            let at = pos + pad;
            buf[at] = option.kind();
            buf[at + 1] = option.data_len() as u8;
            option.write_data(&mut buf[at + 2..end]);
        }
        pos = end;
    }
    let tail = (8 - pos % 8) % 8;
    if let Some(buf) = mh {
        write_padding(&mut buf[pos..pos + tail]);
    }
    pos + tail
}
