//! A reader for classic pcap files (not pcapng), with the link types vany decodes.

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

/// One captured packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Capture time in seconds since the Unix epoch.
    pub timestamp: f64,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire (may exceed the captured length).
    pub orig_len: u32,
    /// Offset of the record header in the file.
    pub offset: usize,
}

/// A pcap file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// The file is shorter than the 24-byte global header.
    #[error("at byte offset 0: file is {0} bytes, shorter than the 24-byte pcap header")]
    TooShort(usize),
    /// Unknown magic number.
    #[error("at byte offset 0: magic {0:#010x} is not a classic pcap magic (pcapng is not supported: convert with `editcap -F pcap`)")]
    BadMagic(u32),
    /// A link type vany does not decode.
    #[error("at byte offset 20: link type {0} is not supported (raw IPv6 101/229, Ethernet 1, Linux SLL 113/276)")]
    LinkType(u32),
    /// A record header or body runs past the end of the file.
    #[error(
        "at byte offset {offset}: truncated record: needs {needed} bytes, {available} present"
    )]
    Truncated {
        /// Offset of the record.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
}

/// A parsed pcap file: its link type and an iterator over its records.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
    nanos: bool,
    /// The link type.
    pub link: LinkType,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Reads the global header.
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        if data.len() < 24 {
            return Err(PcapError::TooShort(data.len()));
        }
        let magic_le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let (big_endian, nanos) = match magic_le {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            other => return Err(PcapError::BadMagic(other)),
        };
        let mut reader = PcapReader {
            data,
            pos: 24,
            big_endian,
            nanos,
            link: LinkType::RawIp,
            failed: false,
        };
        let link = reader.u32_at(20);
        reader.link = LinkType::from_pcap(link).ok_or(PcapError::LinkType(link))?;
        Ok(reader)
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = [
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Record<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let offset = self.pos;
        let available = self.data.len() - offset;
        if available < 16 {
            self.failed = true;
            return Some(Err(PcapError::Truncated {
                offset,
                needed: 16,
                available,
            }));
        }
        let secs = self.u32_at(offset);
        let frac = self.u32_at(offset + 4);
        let incl = self.u32_at(offset + 8) as usize;
        let orig_len = self.u32_at(offset + 12);
        if available - 16 < incl {
            self.failed = true;
            return Some(Err(PcapError::Truncated {
                offset,
                needed: 16usize.saturating_add(incl),
                available,
            }));
        }
        let divisor = if self.nanos { 1e9 } else { 1e6 };
        let data = &self.data[offset + 16..offset + 16 + incl];
        self.pos = offset + 16 + incl;
        Some(Ok(Record {
            timestamp: secs as f64 + frac as f64 / divisor,
            data,
            orig_len,
            offset,
        }))
    }
}

/// Writes a classic pcap (microsecond, little-endian) with raw IPv6 link type, for tests
/// and sample captures.
pub fn write_raw_ipv6(packets: &[(f64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&229u32.to_le_bytes());
    for (ts, data) in packets {
        let secs = ts.trunc() as u32;
        let micros = ((ts - ts.trunc()) * 1e6).round() as u32;
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&micros.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}
