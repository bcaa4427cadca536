//! Per-host packet capture to classic pcap files (microsecond timestamps, little-endian,
//! LINKTYPE_IPV6 229), openable in Wireshark and readable by `vany inspect`.
//!
//! Timestamps come from the simulator clock plus the writer's epoch: by default
//! simulated time zero is the Unix epoch; [`PcapWriter::with_epoch`] moves it to a real
//! date (`vany demo --pcap` uses the wall-clock start of the run).
//! [`crate::sim::Sim::capture`] writes a host's sent and received packets to a file;
//! [`crate::sim::Sim::capture_in_memory`] keeps them in a buffer.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use vany_stack::time::Instant;

/// LINKTYPE_IPV6: each record is a raw IPv6 packet.
pub const LINKTYPE_IPV6: u32 = 229;
/// Largest record length announced in the header (IPv6 header + 65535 payload bytes fit).
pub const SNAPLEN: u32 = 262_144;

/// The 24-byte classic pcap global header.
pub fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone 0, sigfigs 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_IPV6.to_le_bytes());
    h
}

/// The 16-byte record header of a packet of `len` bytes captured at `at`.
pub fn record_header(at: Instant, len: usize) -> [u8; 16] {
    let micros = at.total_micros().max(0);
    let secs = (micros / 1_000_000).min(i64::from(u32::MAX)) as u32;
    let frac = (micros % 1_000_000) as u32;
    let len = len.min(u32::MAX as usize) as u32;
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&frac.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h
}

/// Writes packets as a classic pcap stream into any [`Write`].
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
        out.write_all(&global_header())?;
        Ok(PcapWriter {
            out,
            packets: 0,
            epoch_micros: i64::try_from(epoch.as_micros()).unwrap_or(i64::MAX),
        })
    }

    /// Appends one IPv6 packet captured at `at`.
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let at = Instant::from_micros(at.total_micros().saturating_add(self.epoch_micros));
        self.out.write_all(&record_header(at, packet.len()))?;
        self.out.write_all(packet)?;
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
        assert_eq!(reader.link, LinkType::RawIp);
        let records: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
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
