//! `vany inspect`: decodes packets from hex or a pcap or pcapng file and prints every header
//! and field, whether each upper-layer checksum is valid (computed with the home address
//! in the pseudo-header, which Wireshark never checks for Mobility Headers), and, given
//! Kbm or the two keygen tokens, whether BU/BA authenticators are valid.

pub mod pcap;
pub mod report;

use std::io::Write;
use std::path::PathBuf;

use vany_stack::mip6::rr::{self, Kbm, Token, KBM_LEN, TOKEN_LEN};

use pcap::{Format, LinkType, PcapError, PcapReader};
pub use report::{decode, PacketReport};

/// Where the packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One packet as hex digits.
    Hex(String),
    /// A capture file, classic pcap or pcapng.
    Pcap(PathBuf),
}

/// What to check the authenticator with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyArg {
    /// Kbm itself, 20 bytes of hex.
    Kbm(String),
    /// `HOME_HEX:CAREOF_HEX` keygen tokens (8 bytes each); an empty care-of token means a
    /// deregistration, Kbm = SHA1(home token).
    Tokens(String),
}

/// An error that stops `vany inspect` before it decodes anything.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The hex string is not hex.
    #[error("--hex: {0}")]
    BadHex(String),
    /// The key argument is malformed.
    #[error("{arg}: {reason}")]
    BadKey {
        /// `--kbm` or `--tokens`.
        arg: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The capture file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The capture file is malformed or uses a link type vany does not decode.
    #[error("{path}: {source}")]
    Pcap {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PcapError,
    },
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Parses hex digits, allowing whitespace, `:` and `-` separators and a `0x` prefix.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .collect();
    if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "character {c:?} at hex digit {i} is not a hex digit"
        ));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    ::hex::decode(&digits).map_err(|e| e.to_string())
}

fn fixed_hex<const N: usize>(
    arg: &'static str,
    what: &str,
    text: &str,
) -> Result<[u8; N], InspectError> {
    let bytes = parse_hex(text).map_err(|reason| InspectError::BadKey {
        arg,
        reason: format!("{what}: {reason}"),
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| InspectError::BadKey {
        arg,
        reason: format!(
            "{what} must be {N} bytes ({} hex digits), got {} bytes",
            N * 2,
            b.len()
        ),
    })
}

/// Turns `--kbm` or `--tokens` into Kbm (RFC 6275 §5.2.5).
pub fn key_from_arg(key: &KeyArg) -> Result<Kbm, InspectError> {
    match key {
        KeyArg::Kbm(text) => fixed_hex::<KBM_LEN>("--kbm", "Kbm", text),
        KeyArg::Tokens(text) => {
            let (home, care_of) = text.split_once(':').ok_or_else(|| InspectError::BadKey {
                arg: "--tokens",
                reason:
                    "expected HOME_TOKEN_HEX:CAREOF_TOKEN_HEX (care-of empty for a deregistration)"
                        .into(),
            })?;
            let home: Token = fixed_hex::<TOKEN_LEN>("--tokens", "home keygen token", home)?;
            let care_of: Option<Token> = if care_of.trim().is_empty() {
                None
            } else {
                Some(fixed_hex::<TOKEN_LEN>(
                    "--tokens",
                    "care-of keygen token",
                    care_of,
                )?)
            };
            Ok(rr::kbm(&home, care_of.as_ref()))
        }
    }
}

/// Decodes every packet of `input`.
pub fn inspect(
    input: &Input,
    link_for_hex: LinkType,
    kbm: Option<&Kbm>,
) -> Result<Vec<PacketReport>, InspectError> {
    match input {
        Input::Hex(text) => {
            let bytes = parse_hex(text).map_err(InspectError::BadHex)?;
            Ok(vec![decode(1, link_for_hex, &bytes, kbm)])
        }
        Input::Pcap(path) => {
            let data = std::fs::read(path).map_err(|source| InspectError::Io {
                path: path.clone(),
                source,
            })?;
            inspect_pcap(&data, kbm).map_err(|source| InspectError::Pcap {
                path: path.clone(),
                source,
            })
        }
    }
}

/// Decodes every packet of a pcap or pcapng file held in memory. A truncated or malformed
/// record is an error after the packets before it are decoded.
pub fn inspect_pcap(data: &[u8], kbm: Option<&Kbm>) -> Result<Vec<PacketReport>, PcapError> {
    let reader = PcapReader::new(data)?;
    let what = match reader.format() {
        Format::Pcap => "pcap record",
        Format::PcapNg => "pcapng block",
    };
    let mut reports = Vec::new();
    for (i, record) in reader.enumerate() {
        let record = record?;
        let mut report = decode(i + 1, record.link, record.data, kbm);
        report.timestamp = Some(record.timestamp);
        if let Some(error) = &mut report.error {
            error.message = format!(
                "{} ({what} at file offset {}, packet data from file offset {})",
                error.message, record.offset, record.data_offset
            );
        }
        reports.push(report);
    }
    Ok(reports)
}

/// Writes reports as text (one field per line) or JSON (one object per line).
pub fn write_reports(
    out: &mut dyn Write,
    reports: &[PacketReport],
    json: bool,
) -> std::io::Result<()> {
    for report in reports {
        if json {
            serde_json::to_writer(&mut *out, report)?;
            writeln!(out)?;
            continue;
        }
        write!(out, "packet {}: {} bytes", report.index, report.length)?;
        if let Some(ts) = report.timestamp {
            write!(out, " at {ts:.6}")?;
        }
        writeln!(out)?;
        for field in &report.fields {
            writeln!(out, "  {} = {}", field.name, field.value)?;
        }
        if let Some(reason) = &report.skipped {
            writeln!(out, "  skipped: {reason}")?;
        }
        if let Some(error) = &report.error {
            writeln!(
                out,
                "  MALFORMED at byte offset {}: {}",
                error.offset, error.message
            )?;
        }
    }
    Ok(())
}
