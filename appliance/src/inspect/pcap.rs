//! Reads captures for `vany inspect`: classic pcap (either byte order, micro- or
//! nanosecond timestamps) and pcapng (Wireshark's default: Section Header, Interface
//! Description and Enhanced Packet Blocks, any number of interfaces and sections; other
//! block types are skipped). The framing is parsed by the `pcap-file` crate; this module
//! adds what vany needs on top: link types it decodes, timestamps in the interface's
//! resolution, and errors that name a file offset.

use byteorder::{BigEndian, LittleEndian};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::ENHANCED_PACKET_BLOCK;
use pcap_file::pcapng::{Block, PcapNgParser, RawBlock};
use pcap_file::{Endianness, TsResolution};

/// The link-layer framing of captured packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Raw IP (LINKTYPE_RAW 101, DLT_RAW 12/14) or raw IPv6 (LINKTYPE_IPV6 229).
    RawIp,
    /// Ethernet (LINKTYPE_ETHERNET 1).
    Ethernet,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL 113), as `tcpdump -i any` writes.
    LinuxSll,
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2 276).
    LinuxSll2,
}

impl LinkType {
    /// The link type for a pcap header value, if vany decodes it.
    pub fn from_pcap(value: u32) -> Option<LinkType> {
        match value {
            101 | 12 | 14 | 229 => Some(LinkType::RawIp),
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// The two capture file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap (libpcap, `tcpdump -w`).
    Pcap,
    /// pcapng (Wireshark's and dumpcap's default).
    PcapNg,
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Capture time in seconds since the Unix epoch.
    pub timestamp: f64,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire (may exceed the captured length).
    pub orig_len: u32,
    /// Offset of the record header (pcap) or block (pcapng) in the file.
    pub offset: usize,
    /// Offset of the packet's first byte in the file.
    pub data_offset: usize,
    /// The framing of `data`.
    pub link: LinkType,
}

/// A capture file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// The file is shorter than the 24-byte global header.
    #[error("at byte offset 0: file is {0} bytes, shorter than the 24-byte pcap header")]
    TooShort(usize),
    /// Neither a classic pcap nor a pcapng magic number.
    #[error("at byte offset 0: magic {0:#010x} is neither classic pcap nor pcapng")]
    BadMagic(u32),
    /// A link type vany does not decode.
    #[error("at byte offset {offset}: link type {link} is not supported (raw IPv6 101/229, Ethernet 1, Linux SLL 113/276)")]
    LinkType {
        /// Offset of the pcap header field or of the packet block using the interface.
        offset: usize,
        /// The LINKTYPE_ value.
        link: u32,
    },
    /// A record or block runs past the end of the file.
    #[error("at byte offset {offset}: truncated {what}: only {available} bytes left in the file")]
    Truncated {
        /// Offset of the record or block.
        offset: usize,
        /// `record` (pcap) or `block` (pcapng).
        what: &'static str,
        /// Bytes left from `offset` to the end of the file.
        available: usize,
    },
    /// A pcapng block or pcap header that breaks the format's rules.
    #[error("at byte offset {offset}: malformed {format}: {reason}")]
    Malformed {
        /// Offset of the block or record.
        offset: usize,
        /// `pcap` or `pcapng block`.
        format: &'static str,
        /// What the parser found wrong.
        reason: String,
    },
    /// A pcapng packet names an interface no Interface Description Block declared.
    #[error("at byte offset {offset}: packet names interface {interface}, but its section declares only {declared}")]
    UnknownInterface {
        /// Offset of the packet block.
        offset: usize,
        /// The interface id in the packet.
        interface: u32,
        /// Interfaces declared so far in the section.
        declared: usize,
    },
}

impl PcapError {
    fn from_crate(e: pcap_file::PcapError, offset: usize, left: usize, ng: bool) -> PcapError {
        let (what, format) = if ng {
            ("block", "pcapng block")
        } else {
            ("record", "pcap")
        };
        let reason = match e {
            pcap_file::PcapError::IncompleteBuffer => {
                return PcapError::Truncated {
                    offset,
                    what,
                    available: left,
                }
            }
            pcap_file::PcapError::InvalidField(field) => plain_reason(field),
            other => other.to_string(),
        };
        PcapError::Malformed {
            offset,
            format,
            reason,
        }
    }
}

/// The pcap-file messages a broken pcapng most often gives, in words a user can act on;
/// the others pass through as the crate words them.
fn plain_reason(field: &str) -> String {
    match field {
        "Block: initial_len < 12" => "block length is below the 12-byte minimum".into(),
        "Block: (initial_len % 4) != 0" => "block length is not a multiple of 4".into(),
        "Block: initial_length != trailer_length" => {
            "the length at the end of the block differs from the length at its start".into()
        }
        "SectionHeaderBlock: invalid magic number" => {
            "Section Header byte-order magic is neither 0x1a2b3c4d nor 0x4d3c2b1a".into()
        }
        other => other.to_string(),
    }
}

enum Framing {
    Pcap {
        parser: PcapParser,
        nanos: bool,
        link: LinkType,
    },
    PcapNg(PcapNgParser),
}

/// A parsed capture file: an iterator over its packets. After the first error it ends.
pub struct PcapReader<'a> {
    data: &'a [u8],
    rest: &'a [u8],
    framing: Framing,
    failed: bool,
}

impl std::fmt::Debug for PcapReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapReader")
            .field("format", &self.format())
            .field("offset", &self.offset())
            .finish()
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl<'a> PcapReader<'a> {
    /// Reads the pcap global header or the first pcapng Section Header Block.
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        if data.starts_with(&PCAPNG_MAGIC) {
            let (rest, parser) = PcapNgParser::new(data)
                .map_err(|e| PcapError::from_crate(e, 0, data.len(), true))?;
            return Ok(PcapReader {
                data,
                rest,
                framing: Framing::PcapNg(parser),
                failed: false,
            });
        }
        if data.len() < 24 {
            return Err(PcapError::TooShort(data.len()));
        }
        let (rest, parser) = PcapParser::new(data).map_err(|_| {
            PcapError::BadMagic(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
        })?;
        let header = parser.header();
        let link_value = u32::from(header.datalink);
        let link = LinkType::from_pcap(link_value).ok_or(PcapError::LinkType {
            offset: 20,
            link: link_value,
        })?;
        Ok(PcapReader {
            data,
            rest,
            framing: Framing::Pcap {
                parser,
                nanos: header.ts_resolution == TsResolution::NanoSecond,
                link,
            },
            failed: false,
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        match self.framing {
            Framing::Pcap { .. } => Format::Pcap,
            Framing::PcapNg(_) => Format::PcapNg,
        }
    }

    /// The link type of a classic pcap (pcapng declares one per interface: see
    /// [`Record::link`]).
    pub fn pcap_link(&self) -> Option<LinkType> {
        match self.framing {
            Framing::Pcap { link, .. } => Some(link),
            Framing::PcapNg(_) => None,
        }
    }

    fn offset(&self) -> usize {
        self.data.len() - self.rest.len()
    }

    fn next_pcap(&mut self) -> Result<Record<'a>, PcapError> {
        let offset = self.offset();
        let Framing::Pcap {
            parser,
            nanos,
            link,
        } = &self.framing
        else {
            unreachable!("next_pcap on a pcap reader");
        };
        // The raw record, not `next_packet`: that one refuses records longer than the
        // header's snaplen, which `tcpdump -s N` captures and Wireshark accept.
        let (rest, raw) = parser
            .next_raw_packet(self.rest)
            .map_err(|e| PcapError::from_crate(e, offset, self.rest.len(), false))?;
        self.rest = rest;
        let divisor = if *nanos { 1e9 } else { 1e6 };
        let data = slice(self.data, offset + 16, raw.data.len(), offset)?;
        Ok(Record {
            timestamp: f64::from(raw.ts_sec) + f64::from(raw.ts_frac) / divisor,
            data,
            orig_len: raw.orig_len,
            offset,
            data_offset: offset + 16,
            link: *link,
        })
    }

    /// The next Enhanced Packet Block, skipping every other block type.
    fn next_pcapng(&mut self) -> Option<Result<Record<'a>, PcapError>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let offset = self.offset();
            let left = self.rest.len();
            let Framing::PcapNg(parser) = &mut self.framing else {
                unreachable!("next_pcapng on a pcapng reader");
            };
            let (rest, raw) = match parser.next_raw_block(self.rest) {
                Ok(ok) => ok,
                Err(e) => return Some(Err(PcapError::from_crate(e, offset, left, true))),
            };
            self.rest = rest;
            if raw.type_ != ENHANCED_PACKET_BLOCK {
                continue;
            }
            return Some(epb_record(parser, raw, self.data, offset));
        }
    }
}

fn epb_record<'a>(
    parser: &PcapNgParser,
    raw: RawBlock<'a>,
    file: &'a [u8],
    offset: usize,
) -> Result<Record<'a>, PcapError> {
    let block = match parser.section().endianness {
        Endianness::Big => raw.try_into_block::<BigEndian>(),
        Endianness::Little => raw.try_into_block::<LittleEndian>(),
    };
    let malformed = |e| PcapError::from_crate(e, offset, file.len() - offset, true);
    let Block::EnhancedPacket(epb) = block.map_err(malformed)? else {
        return Err(malformed(pcap_file::PcapError::InvalidField(
            "Enhanced Packet Block did not parse as one",
        )));
    };
    let interface = parser
        .packet_interface(&epb)
        .ok_or(PcapError::UnknownInterface {
            offset,
            interface: epb.interface_id,
            declared: parser.interfaces().len(),
        })?;
    let link_value = u32::from(interface.linktype);
    let link = LinkType::from_pcap(link_value).ok_or(PcapError::LinkType {
        offset,
        link: link_value,
    })?;
    // Block type, length, interface id, timestamp (2 words), captured and original length.
    let data_offset = offset + 28;
    let data = slice(file, data_offset, epb.data.len(), offset)?;
    Ok(Record {
        timestamp: epb_timestamp(&epb, interface),
        data,
        orig_len: epb.original_len,
        offset,
        data_offset,
        link,
    })
}

/// The packet bytes the parser returned, as a slice of the file (so they live as long as
/// it does); an error, not a panic, if they were not where the format puts them.
fn slice(file: &[u8], start: usize, len: usize, offset: usize) -> Result<&[u8], PcapError> {
    start
        .checked_add(len)
        .and_then(|end| file.get(start..end))
        .ok_or(PcapError::Malformed {
            offset,
            format: "capture",
            reason: format!("packet data of {len} bytes at offset {start} is outside the file"),
        })
}

/// Seconds since the Unix epoch of a packet, in its interface's `if_tsresol` units
/// (default microseconds) plus `if_tsoffset`. pcap-file 2.0 stores the raw 64-bit count
/// as if it were nanoseconds, whatever the resolution, so this undoes that.
fn epb_timestamp(epb: &EnhancedPacketBlock, interface: &InterfaceDescriptionBlock) -> f64 {
    let units = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
    let mut resolution = 6u8;
    let mut offset_secs = 0i64;
    for option in &interface.options {
        match option {
            InterfaceDescriptionOption::IfTsResol(r) => resolution = *r,
            // The spec makes if_tsoffset a signed count of seconds.
            InterfaceDescriptionOption::IfTsOffset(o) => offset_secs = *o as i64,
            _ => {}
        }
    }
    let exponent = i32::from(resolution & 0x7f);
    let seconds = if resolution & 0x80 != 0 {
        units as f64 * 2f64.powi(-exponent)
    } else if let Some(per_sec) = 10u64.checked_pow(exponent.unsigned_abs()) {
        // Whole seconds and fraction apart, so microsecond dates keep their precision.
        (units / per_sec) as f64 + (units % per_sec) as f64 / per_sec as f64
    } else {
        units as f64 * 10f64.powi(-exponent)
    };
    seconds + offset_secs as f64
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Record<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = match self.framing {
            Framing::Pcap { .. } if self.rest.is_empty() => None,
            Framing::Pcap { .. } => Some(self.next_pcap()),
            Framing::PcapNg(_) => self.next_pcapng(),
        };
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter as CratePcapWriter};
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::DataLink;
    use proptest::prelude::*;

    use super::*;

    const PACKETS: [&[u8]; 3] = [&[0x60; 40], &[0x60; 41], &[0x60; 48]];

    /// A little-endian pcapng with one raw IPv6 interface counting nanoseconds.
    fn pcapng() -> Vec<u8> {
        let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::IPV6,
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        };
        w.write_pcapng_block(idb).unwrap();
        for (i, p) in PACKETS.iter().enumerate() {
            let epb = EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::new(1_700_000_000 + i as u64, 123_456_789),
                original_len: p.len() as u32,
                data: Cow::Borrowed(p),
                options: vec![],
            };
            w.write_pcapng_block(epb).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn pcapng_packets_carry_their_interface_link_and_resolution() {
        let ng = pcapng();
        let reader = PcapReader::new(&ng).unwrap();
        assert_eq!(reader.format(), Format::PcapNg);
        let records: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.data, PACKETS[i]);
            assert_eq!(r.link, LinkType::RawIp);
            assert_eq!(&ng[r.data_offset..r.data_offset + r.data.len()], r.data);
            assert!((r.timestamp - (1_700_000_000.123_457 + i as f64)).abs() < 1e-6);
        }
    }

    /// Classic pcap in both byte orders and both resolutions, with a snaplen shorter than
    /// the packets (`tcpdump -s 44`): pcap-file's checked `next_packet` would refuse those
    /// records, the reader must not.
    #[test]
    fn classic_pcap_in_every_byte_order_and_resolution_with_a_short_snaplen() {
        for endianness in [Endianness::Big, Endianness::Little] {
            for ts_resolution in [TsResolution::MicroSecond, TsResolution::NanoSecond] {
                let header = PcapHeader {
                    snaplen: 44,
                    datalink: DataLink::ETHERNET,
                    ts_resolution,
                    endianness,
                    ..PcapHeader::default()
                };
                let mut w = CratePcapWriter::with_header(Vec::new(), header).unwrap();
                let packet = PcapPacket::new(Duration::new(7, 250_000_000), 1500, &[0x33; 44]);
                w.write_packet(&packet).unwrap();
                let bytes = w.into_writer();
                let reader = PcapReader::new(&bytes).unwrap();
                assert_eq!(reader.format(), Format::Pcap);
                assert_eq!(reader.pcap_link(), Some(LinkType::Ethernet));
                let records: Vec<_> = reader.map(Result::unwrap).collect();
                assert_eq!(records.len(), 1, "{endianness:?} {ts_resolution:?}");
                assert_eq!(records[0].orig_len, 1500);
                assert_eq!(records[0].data, &[0x33; 44]);
                assert!((records[0].timestamp - 7.25).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn an_unsupported_pcap_link_type_is_named() {
        let header = PcapHeader {
            datalink: DataLink::IEEE802_11,
            ..PcapHeader::default()
        };
        let bytes = CratePcapWriter::with_header(Vec::new(), header)
            .unwrap()
            .into_writer();
        let err = PcapReader::new(&bytes).unwrap_err();
        assert_eq!(
            err,
            PcapError::LinkType {
                offset: 20,
                link: 105
            }
        );
        assert!(err.to_string().contains("link type 105 is not supported"));
    }

    proptest! {
        /// Any bytes overwritten anywhere in a pcapng give packets or a typed error, never
        /// a panic; the reader stops after its first error.
        #[test]
        fn corrupted_pcapng_never_panics(
            edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..6),
            cut in 0usize..400,
        ) {
            let mut ng = pcapng();
            prop_assert_eq!(PcapReader::new(&ng).unwrap().count(), 3);
            for (at, byte) in edits {
                let at = at % ng.len();
                ng[at] = byte;
            }
            ng.truncate(cut.min(ng.len()));
            if let Ok(reader) = PcapReader::new(&ng) {
                let results: Vec<_> = reader.take(10).collect();
                let errors = results.iter().filter(|r| r.is_err()).count();
                prop_assert!(errors <= 1);
                if errors == 1 {
                    prop_assert!(results.last().unwrap().is_err());
                }
            }
        }
    }
}
