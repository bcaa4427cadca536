//! The DPDK backend: whole IPv6 packets over an Ethernet port driven by DPDK's poll-mode
//! driver ([`vany_ffi`]), one rx/tx queue pair per [`DpdkIo`].
//!
//! Copies: the [`PacketIo`] trait moves packets through caller-owned buffers, so each
//! packet is copied exactly once: on receive from the mbuf the NIC wrote into `recv`'s
//! buffer, on transmit from `send`'s slice into an mbuf taken from the mempool (behind
//! the Ethernet header written in place). No per-packet allocation. Zero-copy needs a
//! trait whose transmit works on buffers the backend lends (issue 12, item 3).
//!
//! Layer 2 ([`Ethernet`]) is the seam for neighbor discovery: today frames are Ethernet
//! II with a fixed next-hop MAC from the configuration, received frames are accepted when
//! addressed to the port's MAC or to a group (multicast, e.g. solicited-node) address,
//! and non-IPv6 frames are counted and dropped. ND (issue 12, item 4) replaces
//! [`Ethernet::next_hop`] with a resolution and takes the ND frames in
//! [`Ethernet::accept`].
//!
//! Transmit is batched: `send` stages frames in a [`TxBatch`], handed to the device when
//! the batch is full, at the end of [`PacketIo::tx_burst`], at the next `recv` that finds
//! its receive burst used up, in [`PacketIo::wait`], in [`DpdkIo::flush`] and on drop.
//! Frames the device does not take then are dropped and counted (a full NIC queue).
//!
//! [`PacketIo::wait`] polls: a poll-mode device has no file descriptor to sleep on. It
//! spins for up to [`DpdkConfig::spin`], then polls every [`DpdkConfig::idle_poll`]
//! (sleeping between polls) until a frame arrives or the timeout passes.

use std::time::{Duration as StdDuration, Instant as StdInstant};

use vany_ffi::{Eal, Mempool, Port, PortConfig, PortStats, RxBatch, TxBatch};

use super::{IoError, PacketIo, IPV6_HEADER_LEN};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];
/// Length of an Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Configuration of a [`DpdkIo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// The device: a `--vdev` name (`net_null0`), a PCI address, or a port id.
    pub port: String,
    /// Mbufs in the port's pool (receive rings, staged and in-flight frames).
    pub mbufs: u32,
    /// Receive and transmit ring sizes (descriptors).
    pub rx_ring: u16,
    /// Transmit ring size.
    pub tx_ring: u16,
    /// Frames per receive and transmit burst.
    pub burst: usize,
    /// Our MAC address; `None`: the port's own.
    pub mac: Option<Mac>,
    /// Destination MAC of every frame sent (the gateway's), until neighbor discovery
    /// resolves next hops.
    pub next_hop_mac: Mac,
    /// Accept frames addressed to any MAC (the port in promiscuous mode).
    pub promiscuous: bool,
    /// How long [`PacketIo::wait`] spins before it starts sleeping between polls.
    pub spin: StdDuration,
    /// The sleep between polls of an idle [`PacketIo::wait`].
    pub idle_poll: StdDuration,
}

impl DpdkConfig {
    /// Defaults for `port`, sending to `next_hop_mac`: 8191 mbufs, rings of 1024, bursts
    /// of 64, the port's MAC, spin 100 µs then poll every 50 µs.
    pub fn new(port: &str, next_hop_mac: Mac) -> DpdkConfig {
        DpdkConfig {
            port: port.into(),
            mbufs: 8191,
            rx_ring: 1024,
            tx_ring: 1024,
            burst: 64,
            mac: None,
            next_hop_mac,
            promiscuous: false,
            spin: StdDuration::from_micros(100),
            idle_poll: StdDuration::from_micros(50),
        }
    }
}

/// Why a received frame was not handed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDrop {
    /// Shorter than an Ethernet header plus an IPv6 header.
    Runt,
    /// Not IPv6 (ARP, IPv4, VLAN-tagged, ...).
    NotIpv6,
    /// Addressed to another unicast MAC.
    NotForUs,
}

/// Ethernet II framing with static addresses: the layer-2 seam of the DPDK backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ethernet {
    /// Our MAC: the source of frames sent, the unicast destination accepted.
    pub local: Mac,
    /// The destination of frames sent.
    pub next_hop: Mac,
    /// Accept unicast frames to any MAC.
    pub promiscuous: bool,
}

impl Ethernet {
    /// The IPv6 packet in `frame`, or why it is dropped. Ethernet padding of short frames
    /// is cut off by the IPv6 payload length.
    pub fn accept<'a>(&self, frame: &'a [u8]) -> Result<&'a [u8], RxDrop> {
        if frame.len() < ETHERNET_HEADER_LEN + IPV6_HEADER_LEN {
            return Err(RxDrop::Runt);
        }
        if u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV6 {
            return Err(RxDrop::NotIpv6);
        }
        let dst = &frame[..6];
        // Bit 0 of the first octet: a group (multicast or broadcast) address.
        if !self.promiscuous && dst != self.local && dst[0] & 1 == 0 {
            return Err(RxDrop::NotForUs);
        }
        let packet = &frame[ETHERNET_HEADER_LEN..];
        let payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
        Ok(&packet[..packet.len().min(IPV6_HEADER_LEN + payload)])
    }

    /// Writes the header of a frame carrying an IPv6 packet into `buf[..14]`.
    pub fn emit_header(&self, buf: &mut [u8]) {
        buf[..6].copy_from_slice(&self.next_hop);
        buf[6..12].copy_from_slice(&self.local);
        buf[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    }
}

/// Counters of a [`DpdkIo`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpdkStats {
    /// Frames received from the device.
    pub rx_frames: u64,
    /// IPv6 packets handed up.
    pub rx_packets: u64,
    /// Frames too short for Ethernet + IPv6, dropped.
    pub rx_runt: u64,
    /// Non-IPv6 frames, dropped.
    pub rx_not_ipv6: u64,
    /// Frames to another unicast MAC, dropped.
    pub rx_not_for_us: u64,
    /// Frames spanning several mbufs (never with the default ring setup), dropped.
    pub rx_segmented: u64,
    /// Packets cut short because `recv`'s buffer was smaller.
    pub rx_truncated: u64,
    /// Frames the device took.
    pub tx_frames: u64,
    /// IPv6 bytes of those (Ethernet headers not counted).
    pub tx_bytes: u64,
    /// Frames dropped: the device's queue was full, or the pool had no mbuf.
    pub tx_dropped: u64,
}

/// A [`PacketIo`] over one queue pair of a DPDK port (see the module doc).
#[derive(Debug)]
pub struct DpdkIo {
    port: Port,
    pool: Mempool,
    rx: RxBatch,
    /// The next frame of `rx` to hand up.
    rx_next: usize,
    /// The last receive burst came back empty.
    drained: bool,
    tx: TxBatch,
    /// IPv6 length of each frame staged in `tx`.
    tx_lens: Vec<usize>,
    l2: Ethernet,
    spin: StdDuration,
    idle_poll: StdDuration,
    stats: DpdkStats,
}

impl DpdkIo {
    /// Creates the mempool (named after the port) and opens and starts the port with one
    /// queue pair. The EAL must be up ([`Eal::init`], which fails with what to install
    /// when this vany was built without DPDK).
    pub fn open(eal: &Eal, config: &DpdkConfig) -> Result<DpdkIo, IoError> {
        let name: String = format!("vany_{}", config.port)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(24)
            .collect();
        let pool = Mempool::new(eal, &name, config.mbufs, 256)?;
        let port_config = PortConfig {
            queues: 1,
            rx_ring: config.rx_ring,
            tx_ring: config.tx_ring,
            promiscuous: config.promiscuous,
        };
        let port = Port::open(eal, &config.port, &pool, &port_config)?;
        let burst = config.burst.clamp(1, vany_ffi::MAX_BURST);
        let l2 = Ethernet {
            local: config.mac.unwrap_or(port.mac()),
            next_hop: config.next_hop_mac,
            promiscuous: config.promiscuous,
        };
        Ok(DpdkIo {
            tx: TxBatch::new(&pool, burst),
            tx_lens: Vec::with_capacity(burst),
            rx: RxBatch::new(burst),
            rx_next: 0,
            drained: true,
            port,
            pool,
            l2,
            spin: config.spin,
            idle_poll: config.idle_poll,
            stats: DpdkStats::default(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> DpdkStats {
        self.stats
    }

    /// The device's own counters.
    pub fn port_stats(&self) -> Result<PortStats, IoError> {
        Ok(self.port.stats()?)
    }

    /// The layer-2 addresses in use.
    pub fn ethernet(&self) -> &Ethernet {
        &self.l2
    }

    /// The most IPv6 bytes one frame carries.
    pub fn max_packet(&self) -> usize {
        self.pool.max_packet() - ETHERNET_HEADER_LEN
    }

    /// Free mbufs in the pool.
    pub fn mbufs_available(&self) -> u32 {
        self.pool.available()
    }

    /// Writes `frame` into every free mbuf of the pool, then returns them all. For
    /// benchmarks on `net_null` devices, whose receive hands out pool mbufs without
    /// writing them: primed, they carry a valid frame through [`Ethernet::accept`].
    /// Returns how many mbufs were written.
    pub fn prime_pool(&mut self, frame: &[u8]) -> Result<usize, IoError> {
        let mut held = Vec::new();
        let mut total = 0;
        loop {
            let mut batch = TxBatch::new(&self.pool, vany_ffi::MAX_BURST);
            let want = (self.pool.available() as usize).min(vany_ffi::MAX_BURST);
            if want == 0 || batch.alloc_bulk(want, frame.len()).is_err() {
                break;
            }
            for i in 0..batch.len() {
                if let Some(data) = batch.packet_mut(i) {
                    data.copy_from_slice(frame);
                }
            }
            total += batch.len();
            held.push(batch);
        }
        drop(held);
        Ok(total)
    }

    /// Hands the staged frames to the device; those it does not take are dropped.
    /// Returns how many it took.
    pub fn flush(&mut self) -> usize {
        if self.tx.is_empty() {
            return 0;
        }
        let sent = self.port.tx_burst(0, &mut self.tx);
        self.stats.tx_frames += sent as u64;
        self.stats.tx_bytes += self.tx_lens[..sent].iter().sum::<usize>() as u64;
        self.stats.tx_dropped += self.tx.len() as u64;
        self.tx.clear();
        self.tx_lens.clear();
        sent
    }

    /// Starts a new receive burst (the previous one's mbufs go back to the pool); returns
    /// whether it brought frames.
    fn next_burst(&mut self) -> bool {
        // Between bursts: what was staged goes out first (a reply may be waiting on it).
        self.flush();
        self.rx_next = 0;
        let n = self.port.rx_burst(0, &mut self.rx);
        self.stats.rx_frames += n as u64;
        self.drained = n == 0;
        n > 0
    }
}

impl PacketIo for DpdkIo {
    /// Looks at most one new burst per call: when all its frames are dropped, `Ok(None)`
    /// (and the next [`wait`](PacketIo::wait) returns at once), so a flood of junk cannot
    /// hold the caller here.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        let mut fresh = false;
        loop {
            if self.rx_next >= self.rx.len() {
                if fresh || !self.next_burst() {
                    return Ok(None);
                }
                fresh = true;
            }
            let i = self.rx_next;
            self.rx_next += 1;
            if self.rx.is_segmented(i) {
                self.stats.rx_segmented += 1;
                continue;
            }
            let Some(frame) = self.rx.packet(i) else {
                continue;
            };
            match self.l2.accept(frame) {
                Ok(packet) => {
                    // The one copy on receive (see the module doc).
                    let n = packet.len().min(buf.len());
                    buf[..n].copy_from_slice(&packet[..n]);
                    self.stats.rx_packets += 1;
                    self.stats.rx_truncated += u64::from(n < packet.len());
                    return Ok(Some(n));
                }
                Err(RxDrop::Runt) => self.stats.rx_runt += 1,
                Err(RxDrop::NotIpv6) => self.stats.rx_not_ipv6 += 1,
                Err(RxDrop::NotForUs) => self.stats.rx_not_for_us += 1,
            }
        }
    }

    /// Stages the packet in an mbuf behind an Ethernet header (the one copy on transmit).
    /// `Ok(false)` when the pool has no mbuf even after a flush.
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        let max = self.max_packet();
        if packet.len() > max {
            return Err(IoError::TooLarge {
                len: packet.len(),
                max,
            });
        }
        if self.tx.is_full() {
            self.flush();
        }
        let len = ETHERNET_HEADER_LEN + packet.len();
        let frame = match self.tx.push(len) {
            Ok(Some(frame)) => frame,
            // Full (cannot be after the flush above) or no mbuf: the packet is dropped.
            Ok(None) | Err(_) => {
                self.stats.tx_dropped += 1;
                return Ok(false);
            }
        };
        self.l2.emit_header(&mut frame[..ETHERNET_HEADER_LEN]);
        frame[ETHERNET_HEADER_LEN..].copy_from_slice(packet);
        self.tx_lens.push(packet.len());
        Ok(true)
    }

    fn wait(&mut self, timeout: StdDuration) -> Result<(), IoError> {
        self.flush();
        if !self.drained || self.rx_next < self.rx.len() {
            return Ok(());
        }
        let start = StdInstant::now();
        loop {
            // A burst found here is kept for the next `recv`.
            if self.next_burst() {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Ok(());
            }
            if waited >= self.spin {
                std::thread::sleep(self.idle_poll.min(timeout - waited));
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Stages every packet and hands the lot to the device at once.
    fn tx_burst(&mut self, packets: &[Vec<u8>]) -> Result<super::TxReport, IoError> {
        let before = self.stats;
        for p in packets {
            self.send(p)?;
        }
        self.flush();
        let sent = self.stats.tx_frames - before.tx_frames;
        Ok(super::TxReport {
            sent: sent as usize,
            bytes: (self.stats.tx_bytes - before.tx_bytes) as usize,
            dropped: packets.len() - sent as usize,
        })
    }
}

impl Drop for DpdkIo {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Mac = [0x02, 0, 0, 0, 0, 1];
    const GW: Mac = [0x02, 0, 0, 0, 0, 2];

    fn l2() -> Ethernet {
        Ethernet {
            local: US,
            next_hop: GW,
            promiscuous: false,
        }
    }

    /// A frame to `dst` of `ethertype` carrying an IPv6 header with `payload` bytes
    /// declared, then `extra` bytes (payload and padding).
    fn frame(dst: Mac, ethertype: u16, payload: u16, extra: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&GW);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&payload.to_be_bytes());
        f.extend_from_slice(&[59, 64]);
        f.extend_from_slice(&[0xfd; 32]);
        f.extend(std::iter::repeat_n(0xab, extra));
        f
    }

    #[test]
    fn frames_are_accepted_by_type_and_destination() {
        let e = l2();
        assert_eq!(e.accept(&frame(US, 0x86dd, 8, 8)).unwrap().len(), 48);
        // Solicited-node multicast (33:33:ff:..) and broadcast are groups: accepted.
        let multicast = [0x33, 0x33, 0xff, 0, 0, 1];
        assert!(e.accept(&frame(multicast, 0x86dd, 0, 0)).is_ok());
        assert!(e.accept(&frame([0xff; 6], 0x86dd, 0, 0)).is_ok());
        assert_eq!(e.accept(&frame(GW, 0x86dd, 0, 0)), Err(RxDrop::NotForUs));
        let promiscuous = Ethernet {
            promiscuous: true,
            ..e
        };
        assert!(promiscuous.accept(&frame(GW, 0x86dd, 0, 0)).is_ok());
        assert_eq!(e.accept(&frame(US, 0x0800, 0, 0)), Err(RxDrop::NotIpv6));
        assert_eq!(e.accept(&frame(US, 0x86dd, 0, 0)[..53]), Err(RxDrop::Runt));
        assert_eq!(e.accept(&[]), Err(RxDrop::Runt));
    }

    #[test]
    fn ethernet_padding_is_cut_by_the_ipv6_length() {
        // A 40-byte IPv6 packet padded to the 60-byte Ethernet minimum.
        let f = frame(US, 0x86dd, 0, 6);
        assert_eq!(f.len(), 60);
        assert_eq!(l2().accept(&f).unwrap().len(), 40);
        // A payload length past the frame: what is there is handed up (the IPv6 parser
        // refuses it).
        assert_eq!(l2().accept(&frame(US, 0x86dd, 1000, 10)).unwrap().len(), 50);
    }

    #[test]
    fn header_is_ethernet_ii_to_the_next_hop() {
        let mut h = [0u8; 14];
        l2().emit_header(&mut h);
        assert_eq!(&h[..6], &GW);
        assert_eq!(&h[6..12], &US);
        assert_eq!(&h[12..], &[0x86, 0xdd]);
    }
}
