//! Per-host packet capture to classic pcap files (microsecond timestamps, little-endian,
//! LINKTYPE_IPV6 229), openable in Wireshark and readable by `vany inspect`.
//!
//! Timestamps come from the simulator clock plus the writer's epoch: by default
//! simulated time zero is the Unix epoch; [`PcapWriter::with_epoch`] moves it to a real
//! date (`vany demo --pcap` uses the wall-clock start of the run).
//! [`crate::sim::Sim::capture`] writes a host's sent and received packets to a file;
//! [`crate::sim::Sim::capture_in_memory`] keeps them in a buffer.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use byteorder::LittleEndian;
use pcap_file::pcap::{PcapHeader, RawPcapPacket};
use pcap_file::{DataLink, Endianness, TsResolution};
use vany_stack::time::Instant;

/// LINKTYPE_IPV6: each record is a raw IPv6 packet.
pub const LINKTYPE_IPV6: u32 = 229;
/// Largest record length announced in the header (IPv6 header + 65535 payload bytes fit).
pub const SNAPLEN: u32 = 262_144;

/// The classic pcap global header vany writes: version 2.4, little-endian, microseconds.
pub fn header() -> PcapHeader {
    PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: SNAPLEN,
        datalink: DataLink::from(LINKTYPE_IPV6),
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
    }
}

fn io_error(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other),
    }
}

/// Writes packets as a classic pcap stream into any [`Write`]; the header and record
/// encoding are pcap-file's, the writer stays ours so the simulator can flush it.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    packets: u64,
    /// Microseconds added to every packet's time.
    epoch_micros: i64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(out: W) -> io::Result<PcapWriter<W>> {
        PcapWriter::with_epoch(out, std::time::Duration::ZERO)
    }

    /// Writes the global header; packet times are written as `epoch` (since the Unix
    /// epoch) plus their simulated time.
    pub fn with_epoch(mut out: W, epoch: std::time::Duration) -> io::Result<PcapWriter<W>> {
        header().write_to(&mut out).map_err(io_error)?;
        Ok(PcapWriter {
            out,
            packets: 0,
            epoch_micros: i64::try_from(epoch.as_micros()).unwrap_or(i64::MAX),
        })
    }

    /// Appends one IPv6 packet captured at `at` (times before the epoch are written as
    /// the epoch, times past 2106 as 2106: the format's seconds are 32 bits).
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let micros = at.total_micros().saturating_add(self.epoch_micros).max(0);
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let record = RawPcapPacket {
            ts_sec: u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX),
            ts_frac: (micros % 1_000_000) as u32,
            incl_len: len,
            orig_len: len,
            data: Cow::Borrowed(packet),
        };
        record
            .write_to::<_, LittleEndian>(&mut self.out)
            .map_err(io_error)?;
        self.packets += 1;
        Ok(())
    }
    /// Packets written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

/// Where a simulator capture goes.
#[derive(Debug)]
pub enum CaptureSink {
    /// A buffer in memory.
    Memory(Vec<u8>),
    /// A file.
    File(BufWriter<File>),
}

impl CaptureSink {
    /// Creates (truncates) the file at `path`.
    pub fn file(path: &Path) -> io::Result<CaptureSink> {
        Ok(CaptureSink::File(BufWriter::new(File::create(path)?)))
    }
}

impl Write for CaptureSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            CaptureSink::Memory(v) => v.write(buf),
            CaptureSink::File(f) => f.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            CaptureSink::Memory(v) => {
                v.extend_from_slice(buf);
                Ok(())
            }
            CaptureSink::File(f) => f.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            CaptureSink::Memory(_) => Ok(()),
            CaptureSink::File(f) => f.flush(),
        }
    }
}

/// A capture attached to one simulated host.
pub type Capture = PcapWriter<CaptureSink>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::pcap::{LinkType, PcapReader};

    #[test]
    fn written_capture_reads_back() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Instant::from_micros(1_500_001), &[0x60, 1, 2])
            .unwrap();
        w.write_packet(Instant::from_secs(3), &[0x60; 40]).unwrap();
        assert_eq!(w.packets(), 2);
        let bytes = w.into_inner();
        let reader = PcapReader::new(&bytes).unwrap();
        assert_eq!(reader.pcap_link(), Some(LinkType::RawIp));
        let records: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].link, LinkType::RawIp);
        assert!((records[0].timestamp - 1.500001).abs() < 1e-9);
        assert_eq!(records[0].data, &[0x60, 1, 2]);
        assert_eq!(records[1].data.len(), 40);
    }

    #[test]
    fn the_epoch_moves_every_timestamp() {
        let epoch = std::time::Duration::from_secs(1_764_000_000);
        let mut w = PcapWriter::with_epoch(Vec::new(), epoch).unwrap();
        w.write_packet(Instant::from_micros(2_000_500), &[0x60; 40])
            .unwrap();
        let bytes = w.into_inner();
        let records: Vec<_> = PcapReader::new(&bytes)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!((records[0].timestamp - 1_764_000_002.000_5).abs() < 1e-6);
    }
}
