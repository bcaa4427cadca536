//! The DPDK backend: whole IPv6 packets over an Ethernet port driven by DPDK's poll-mode
//! driver ([`vany_ffi`]), one rx/tx queue pair per [`DpdkIo`].
//!
//! [`DpdkIo::open_queues`] opens one port with N queue pairs and gives one `DpdkIo` per
//! queue, each `Send`, with its own mempool, batches and layer 2 state: N threads (each
//! registered with DPDK) drive one port, sharing nothing on the data path. The device
//! spreads what it receives over the queues (RSS over the IPv6 hash types it supports;
//! `net_af_packet`'s socket fanout by flow hash); the device is closed when the last
//! queue's `DpdkIo` drops.
//!
//! Copies: [`PacketIo::rx_each`] hands each received packet up where the NIC wrote it,
//! and [`PacketIo::send_with`] lends the data room of an mbuf taken from the mempool, so
//! the caller builds its packet where the NIC will read it (the Ethernet header is written
//! in front of it afterwards, once the next hop is known). `recv` and `send` copy once
//! (out of, or into, the mbuf). No per-packet allocation on either path.
//!
//! Layer 2 is [`vany_stack::l2::Neighbors`] (see `docs/l2.md`): Ethernet II, IPv6
//! neighbor discovery (RFC 4861) and echo replies. Received frames go through
//! [`Neighbors::ingress`]: solicitations for the node's addresses are answered, echo
//! requests replied to, non-IPv6 and hostile frames counted and dropped, IPv6 packets
//! handed up. A packet sent goes to the MAC of the configured gateway (or of a static
//! `gateway_mac`); while that is being resolved the packet waits in ND's bounded queue.
//! ND's own frames (advertisements, solicitations, echo replies, released packets) are
//! copied into mbufs at the next flush. ND's clock is this backend's own (a monotonic
//! clock read once per receive burst).
//!
//! Transmit is batched: frames are staged in a [`TxBatch`], handed to the device when
//! the batch is full, at the end of [`PacketIo::tx_burst`], at the next receive burst, in
//! [`PacketIo::wait`], in [`DpdkIo::flush`] and on drop. Frames the device does not take
//! then are dropped and counted (a full NIC queue).
//!
//! [`PacketIo::wait`] polls: a poll-mode device has no file descriptor to sleep on. It
//! spins for up to [`DpdkConfig::spin`], then polls every [`DpdkConfig::idle_poll`]
//! (sleeping between polls) until a frame arrives or the timeout passes.

use std::time::{Duration as StdDuration, Instant as StdInstant};

use vany_ffi::{Eal, Mempool, Port, PortConfig, PortQueue, PortStats, RxBatch, TxBatch};
use vany_stack::l2::ethernet::write_header;
use vany_stack::l2::{
    Counters as NdCounters, Egress, Gateway, Ingress, NdConfig, Neighbors, OwnAddr,
};
use vany_stack::time::Instant;

use super::{Clock, IoError, Layer2Report, Lent, PacketIo};

#[path = "dpdk_hop.rs"]
mod hop;
use hop::{frame_in_place, Hop};

pub use vany_stack::l2::Mac;

/// `mac` written as `ip link` writes it: `02:00:00:00:00:01`.
pub fn mac_text(mac: Mac) -> String {
    let b = mac.0;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// Length of an Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// Configuration of a [`DpdkIo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// The device: a `--vdev` name (`net_null0`), a PCI address, or a port id.
    pub port: String,
    /// Mbufs in the pool of each queue pair (receive rings, staged and in-flight frames).
    pub mbufs: u32,
    /// Receive ring size (descriptors).
    pub rx_ring: u16,
    /// Transmit ring size.
    pub tx_ring: u16,
    /// Frames per receive and transmit burst.
    pub burst: usize,
    /// Our MAC address; `None`: the port's own.
    pub mac: Option<Mac>,
    /// The node's addresses, answered in neighbor discovery and ping: the care-of address
    /// (and the anycast address on a contact node, flagged anycast). At least one unicast.
    pub addrs: Vec<OwnAddr>,
    /// Where every packet sent goes: a router resolved by ND, or one with a static MAC.
    pub gateway: Gateway,
    /// Accept frames addressed to any MAC (the port in promiscuous mode).
    pub promiscuous: bool,
    /// How long [`PacketIo::wait`] spins before it starts sleeping between polls.
    pub spin: StdDuration,
    /// The sleep between polls of an idle [`PacketIo::wait`].
    pub idle_poll: StdDuration,
}

impl DpdkConfig {
    /// Defaults for `port` with addresses `addrs`, sending to `gateway`: 8191 mbufs, rings
    /// of 1024, bursts of 64, the port's MAC, spin 100 µs then poll every 50 µs.
    pub fn new(port: &str, addrs: Vec<OwnAddr>, gateway: Gateway) -> DpdkConfig {
        DpdkConfig {
            port: port.into(),
            mbufs: 8191,
            rx_ring: 1024,
            tx_ring: 1024,
            burst: 64,
            mac: None,
            addrs,
            gateway,
            promiscuous: false,
            spin: StdDuration::from_micros(100),
            idle_poll: StdDuration::from_micros(50),
        }
    }
}

/// Counters of a [`DpdkIo`] (layer 2's own are in [`DpdkIo::nd_counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpdkStats {
    /// Frames received from the device.
    pub rx_frames: u64,
    /// IPv6 packets handed up.
    pub rx_packets: u64,
    /// Frames layer 2 handled itself (neighbor discovery, echo).
    pub rx_l2: u64,
    /// Frames layer 2 dropped (not IPv6, not for us, malformed, hostile ND; counted in
    /// [`DpdkIo::nd_counters`] by reason).
    pub rx_dropped: u64,
    /// Frames spanning several mbufs (never with the default ring setup), dropped.
    pub rx_segmented: u64,
    /// Packets cut short because `recv`'s buffer was smaller.
    pub rx_truncated: u64,
    /// Frames the device took.
    pub tx_frames: u64,
    /// Bytes of those, Ethernet headers included.
    pub tx_bytes: u64,
    /// Frames dropped: the device's queue was full, or the pool had no mbuf.
    pub tx_dropped: u64,
    /// Packets handed to layer 2 to wait for the next hop's resolution.
    pub tx_waiting: u64,
    /// Packets layer 2 dropped (resolution queue or neighbor cache full, not IPv6).
    pub tx_l2_dropped: u64,
    /// Neighbor Advertisements not shared with the other queues (too many at once).
    pub shared_l2_dropped: u64,
    /// Frames other queues shared with this one.
    pub shared_l2_taken: u64,
}

/// A [`PacketIo`] over one queue pair of a DPDK port (see the module doc).
#[derive(Debug)]
pub struct DpdkIo {
    port: PortQueue,
    pool: Mempool,
    rx: RxBatch,
    /// The next frame of `rx` to hand up.
    rx_next: usize,
    /// The last receive burst came back empty.
    drained: bool,
    tx: TxBatch,
    /// Length of each frame staged in `tx`.
    tx_lens: Vec<usize>,
    nd: Neighbors,
    clock: Clock,
    /// The time of the current burst (ND's clock).
    now: Instant,
    spin: StdDuration,
    idle_poll: StdDuration,
    stats: DpdkStats,
    /// Neighbor Advertisements received, kept for the other queues' layer 2 (only on a
    /// port with several queues; at most [`SHARED_L2_MAX`]).
    shared_l2: Option<Vec<Vec<u8>>>,
}

/// Most frames kept for the other queues between two [`PacketIo::take_shared_l2`]; more
/// are not shared (counted as `shared_l2_dropped`).
const SHARED_L2_MAX: usize = 32;

/// Whether `frame` is an Ethernet frame with an ICMPv6 Neighbor Advertisement in IPv6
/// without extension headers (RFC 4861 §7.1.2 allows none before it that matter here).
fn is_neighbor_advertisement(frame: &[u8]) -> bool {
    const ETH: usize = ETHERNET_HEADER_LEN;
    frame.len() > ETH + 40
        && frame[12..14] == [0x86, 0xdd]
        && frame[ETH + 6] == 58
        && frame[ETH + 40] == 136
}

impl DpdkIo {
    /// Creates the mempool (named after the port) and opens and starts the port with one
    /// queue pair ([`open_queues`](DpdkIo::open_queues) with 1). The EAL must be up
    /// ([`Eal::init`], which fails with what to install when this vany was built without
    /// DPDK).
    pub fn open(eal: &Eal, config: &DpdkConfig) -> Result<DpdkIo, IoError> {
        let mut queues = DpdkIo::open_queues(eal, config, 1)?;
        queues.pop().ok_or_else(|| {
            IoError::Dpdk(vany_ffi::DpdkError::BadConfig(
                "no queue pair opened".into(),
            ))
        })
    }

    /// Opens and starts port `config.port` with `queues` rx/tx queue pairs and returns
    /// one `DpdkIo` per queue (queue k at index k). Each has a mempool of its own
    /// (`config.mbufs` mbufs, named `vany_<port>_q<k>`), its own batches and its own
    /// layer 2 ([`Neighbors`], all with the same configuration: every queue answers
    /// neighbor discovery and echo for all of `config.addrs`, from whichever queue the
    /// request arrives on, and resolves the gateway for itself). Each is `Send`: move each
    /// into its own thread, which must register with DPDK first
    /// ([`Eal::register_thread`], kept for as long as it polls) so that the mempools'
    /// per-core caches work. The device is stopped and closed when the last of them
    /// drops, in any order, on any thread.
    ///
    /// With more than one queue the device spreads what it receives by RSS over the IPv6
    /// hash types it supports (or its own way: `net_af_packet` by the kernel's flow hash,
    /// `qpairs=N` in its `--vdev`). Which queue gets a Neighbor Advertisement is the
    /// device's choice too, so a queue may miss the answer to its own solicitation of the
    /// gateway: each queue keeps the advertisements it receives for the others
    /// ([`PacketIo::take_shared_l2`]), and whoever drives the queues passes them on
    /// ([`PacketIo::give_shared_l2`]; `vany node` does, over its links between cores).
    ///
    /// `queues` 0, or more than the device supports: [`vany_ffi::DpdkError::QueueCount`],
    /// which says how many it supports (checked before any mempool is made).
    pub fn open_queues(
        eal: &Eal,
        config: &DpdkConfig,
        queues: u16,
    ) -> Result<Vec<DpdkIo>, IoError> {
        Port::info(eal, &config.port)?.check_queue_pairs(queues)?;
        let pools = (0..queues)
            .map(|q| Mempool::new(eal, &pool_name(&config.port, q, queues), config.mbufs, 256))
            .collect::<Result<Vec<_>, _>>()?;
        let port_config = PortConfig {
            queues,
            rx_ring: config.rx_ring,
            tx_ring: config.tx_ring,
            promiscuous: config.promiscuous,
        };
        let port = Port::open_with_pools(eal, &config.port, &pools, &port_config)?;
        port.into_queues()
            .into_iter()
            .zip(pools)
            .map(|(queue, pool)| DpdkIo::on_queue(queue, pool, config))
            .collect()
    }

    /// The backend over `port` (one queue), whose receive ring `pool` fills.
    fn on_queue(port: PortQueue, pool: Mempool, config: &DpdkConfig) -> Result<DpdkIo, IoError> {
        let burst = config.burst.clamp(1, vany_ffi::MAX_BURST);
        let mac = config.mac.unwrap_or(Mac(port.mac()));
        let nd = Neighbors::new(NdConfig::new(mac, config.addrs.clone(), config.gateway)).map_err(
            |source| IoError::Layer2 {
                port: config.port.clone(),
                source,
            },
        )?;
        let clock = Clock::new(Instant::from_secs(1));
        let shared = port.queues() > 1;
        Ok(DpdkIo {
            tx: TxBatch::new(&pool, burst),
            tx_lens: Vec::with_capacity(burst),
            rx: RxBatch::new(burst),
            rx_next: 0,
            drained: true,
            port,
            pool,
            now: clock.now(),
            clock,
            nd,
            spin: config.spin,
            idle_poll: config.idle_poll,
            stats: DpdkStats::default(),
            shared_l2: shared.then(Vec::new),
        })
    }

    /// The queue pair this backend drives.
    pub fn queue(&self) -> u16 {
        self.port.queue()
    }

    /// The RSS hash types enabled on the port (`RTE_ETH_RSS_*` bits): 0 with one queue,
    /// or on a device that supports none of the IPv6 ones.
    pub fn rss_hash_types(&self) -> u64 {
        self.port.rss_hash_types()
    }

    /// This queue's mempool (its receive ring's, and what it sends from).
    pub fn mempool(&self) -> &Mempool {
        &self.pool
    }

    /// Counters.
    pub fn stats(&self) -> DpdkStats {
        self.stats
    }

    /// Layer 2's counters (neighbor discovery, echo, frames dropped by reason).
    pub fn nd_counters(&self) -> NdCounters {
        *self.nd.counters()
    }

    /// The device's own counters (port-wide: every queue's).
    pub fn port_stats(&self) -> Result<PortStats, IoError> {
        Ok(self.port.stats()?)
    }

    /// Our MAC address.
    pub fn mac(&self) -> Mac {
        self.nd.mac()
    }

    /// The neighbor discovery state (cache, queue), read-only.
    pub fn neighbors(&self) -> &Neighbors {
        &self.nd
    }

    /// The most IPv6 bytes one frame carries.
    pub fn max_packet(&self) -> usize {
        self.pool.max_packet() - ETHERNET_HEADER_LEN
    }

    /// Free mbufs: in the pool, or taken from it for transmit but holding no frame.
    pub fn mbufs_available(&self) -> u32 {
        self.pool.available() + self.tx.reserved() as u32
    }

    /// Writes `frame` into every free mbuf of the pool, then returns them all. For
    /// benchmarks on `net_null` devices, whose receive hands out pool mbufs without
    /// writing them: primed, they carry a valid frame through layer 2.
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

    /// Hands the staged frames (and layer 2's own) to the device; those it does not take
    /// are dropped. Returns how many it took.
    pub fn flush(&mut self) -> usize {
        self.stage_l2_frames();
        self.flush_staged()
    }

    /// Copies the frames layer 2 produced (advertisements, solicitations, echo replies,
    /// packets released by a resolution) into mbufs.
    fn stage_l2_frames(&mut self) {
        while let Some(frame) = self.nd.poll_transmit() {
            self.stage_frame(&frame);
        }
    }

    /// Stages a whole frame (a copy); counted as dropped when no mbuf is left.
    fn stage_frame(&mut self, frame: &[u8]) {
        if self.tx.is_full() {
            self.flush_staged();
        }
        match self.tx.push(frame.len()) {
            Ok(Some(buf)) => {
                buf.copy_from_slice(frame);
                self.tx_lens.push(frame.len());
            }
            Ok(None) | Err(_) => self.stats.tx_dropped += 1,
        }
    }

    /// Hands what is staged to the device without looking at layer 2's queue; those it
    /// does not take are dropped. Returns how many it took.
    fn flush_staged(&mut self) -> usize {
        if self.tx.is_empty() {
            return 0;
        }
        let sent = self.port.tx_burst(&mut self.tx);
        self.stats.tx_frames += sent as u64;
        self.stats.tx_bytes += self.tx_lens[..sent].iter().sum::<usize>() as u64;
        self.stats.tx_dropped += self.tx.len() as u64;
        self.tx.clear();
        self.tx_lens.clear();
        sent
    }

    /// Starts a new receive burst (the previous one's mbufs go back to the pool) and runs
    /// layer 2's timers; returns whether it brought frames.
    fn next_burst(&mut self) -> bool {
        self.now = self.clock.now();
        if self.nd.poll_at().is_some_and(|t| t <= self.now) {
            self.nd.handle_timeout(self.now);
        }
        // Between bursts: what was staged goes out first (a reply may be waiting on it).
        self.flush();
        self.rx_next = 0;
        let n = self.port.rx_burst(&mut self.rx);
        self.stats.rx_frames += n as u64;
        self.drained = n == 0;
        n > 0
    }

    /// The next IPv6 packet received (layer 2 having taken its own frames): its frame's
    /// index in the current burst and the packet's length (right behind the Ethernet
    /// header). Past the burst's end it starts one new burst, unless `*fresh` says this
    /// call already did: a flood of junk cannot hold the caller.
    fn next_accepted(&mut self, fresh: &mut bool) -> Option<(usize, usize)> {
        loop {
            while self.rx_next < self.rx.len() {
                let i = self.rx_next;
                self.rx_next += 1;
                if let Some(len) = self.accept(i) {
                    return Some((i, len));
                }
            }
            if *fresh || !self.next_burst() {
                return None;
            }
            *fresh = true;
        }
    }

    /// Writes the Ethernet header of staged frame `i` (IPv6 packet of `len` bytes behind
    /// it) for its next hop, or hands the packet to layer 2 to wait for resolution.
    /// Returns whether the frame stays staged.
    fn frame_staged(&mut self, i: usize, len: usize) -> Lent {
        let Some(frame) = self.tx.packet_mut(i) else {
            return Lent::Dropped(len);
        };
        match frame_in_place(&mut self.nd, self.now, frame, len) {
            None => {
                self.tx.truncate(i, ETHERNET_HEADER_LEN + len);
                self.tx_lens.push(ETHERNET_HEADER_LEN + len);
                Lent::Sent(len)
            }
            Some(egress) => {
                self.tx.pop();
                self.after_egress(egress, len)
            }
        }
    }

    /// What layer 2 did with a packet whose next hop was not known, counted: a frame to
    /// send (resolved after all: staged, a copy), queued until resolved, or dropped.
    fn after_egress(&mut self, egress: Egress, len: usize) -> Lent {
        match egress {
            Egress::Frame(f) => {
                self.stage_frame(&f);
                Lent::Sent(len)
            }
            Egress::Queued => {
                self.stats.tx_waiting += 1;
                Lent::Sent(len)
            }
            Egress::Dropped(_) => {
                self.stats.tx_l2_dropped += 1;
                Lent::Dropped(len)
            }
        }
    }
}

impl DpdkIo {
    /// [`PacketIo::forward_to`] between two DPDK ports: at most one new burst.
    fn forward_mbufs(
        &mut self,
        to: &mut DpdkIo,
        max: usize,
        edit: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let mut n = 0;
        let mut fresh = false;
        let mut hop = None;
        while n < max {
            let Some((i, len)) = self.next_accepted(&mut fresh) else {
                break;
            };
            n += 1;
            let Some(frame) = self.rx.packet_mut(i) else {
                continue;
            };
            let packet = &mut frame[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + len];
            let len = edit(packet).min(len);
            if len == 0 {
                continue;
            }
            to.forward_frame(&mut self.rx, i, len, &mut hop);
        }
        n
    }

    /// Runs received frame `i` through layer 2: the length of the IPv6 packet it
    /// carries (right behind the Ethernet header), or `None` when layer 2 took or
    /// dropped it.
    fn accept(&mut self, i: usize) -> Option<usize> {
        if self.rx.is_segmented(i) {
            self.stats.rx_segmented += 1;
            return None;
        }
        let frame = self.rx.packet(i)?;
        match self.nd.ingress(self.now, frame) {
            Ingress::Ipv6(packet) => {
                self.stats.rx_packets += 1;
                Some(packet.len())
            }
            Ingress::Handled => {
                self.stats.rx_l2 += 1;
                if let Some(shared) = self.shared_l2.as_mut() {
                    if is_neighbor_advertisement(frame) {
                        if shared.len() < SHARED_L2_MAX {
                            shared.push(frame.to_vec());
                        } else {
                            self.stats.shared_l2_dropped += 1;
                        }
                    }
                }
                None
            }
            Ingress::Dropped => {
                self.stats.rx_dropped += 1;
                None
            }
        }
    }

    /// Sends received frame `i` of `rx` (an IPv6 packet of `len` bytes behind its
    /// Ethernet header) to this port's next hop: the header rewritten in place and the
    /// mbuf moved into the transmit batch; a copy waits in layer 2's queue if the next
    /// hop is being resolved. `hop` carries the next hop found for an earlier frame of
    /// the same call (see [`Hop`]).
    fn forward_frame(&mut self, rx: &mut RxBatch, i: usize, len: usize, hop: &mut Option<Hop>) {
        if self.tx.is_full() {
            self.flush_staged();
        }
        let Some(frame) = rx.packet_mut(i) else {
            return;
        };
        let framed = match hop.as_ref().filter(|h| h.serves(frame)) {
            Some(h) => {
                write_header(frame, h.mac, self.nd.mac());
                None
            }
            None => {
                let egress = frame_in_place(&mut self.nd, self.now, frame, len);
                *hop = if egress.is_none() {
                    Hop::after(&self.nd, frame)
                } else {
                    // Layer 2 had to act (queue, solicit, evict): nothing found before is
                    // taken for granted.
                    None
                };
                egress
            }
        };
        match framed {
            None => {
                if self.tx.push_received(rx, i, ETHERNET_HEADER_LEN + len) {
                    self.tx_lens.push(ETHERNET_HEADER_LEN + len);
                } else {
                    self.stats.tx_dropped += 1;
                }
            }
            Some(egress) => {
                self.after_egress(egress, len);
            }
        }
    }
}

// Each queue's `DpdkIo` moves into its own thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<DpdkIo>();
};

/// The name of queue `queue`'s mempool of `queues`: `vany_<port>` (then `_q<queue>` with
/// more than one queue), other characters than ASCII letters and digits as `_`, at most
/// 24 characters (DPDK's limit on mempool names, with room to spare).
fn pool_name(port: &str, queue: u16, queues: u16) -> String {
    let suffix = if queues == 1 {
        String::new()
    } else {
        format!("_q{queue}")
    };
    let mut name: String = format!("vany_{port}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(24 - suffix.len())
        .collect();
    name.push_str(&suffix);
    name
}

impl PacketIo for DpdkIo {
    /// Looks at most one new burst per call: when all its frames are dropped, `Ok(None)`
    /// (and the next [`wait`](PacketIo::wait) returns at once), so a flood of junk cannot
    /// hold the caller here.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        let mut got = None;
        self.rx_each(1, &mut |packet| {
            let n = packet.len().min(buf.len());
            buf[..n].copy_from_slice(&packet[..n]);
            got = Some((n, n < packet.len()));
        })?;
        if let Some((_, truncated)) = got {
            self.stats.rx_truncated += u64::from(truncated);
        }
        Ok(got.map(|(n, _)| n))
    }

    /// In place: each packet is read in its mbuf. At most one new burst per call.
    fn rx_each(&mut self, max: usize, each: &mut dyn FnMut(&[u8])) -> Result<usize, IoError> {
        let mut n = 0;
        let mut fresh = false;
        while n < max {
            let Some((i, len)) = self.next_accepted(&mut fresh) else {
                break;
            };
            if let Some(frame) = self.rx.packet(i) {
                each(&frame[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + len]);
            }
            n += 1;
        }
        Ok(n)
    }

    /// Stages the packet in an mbuf behind an Ethernet header (one copy). `Ok(false)`
    /// when the pool has no mbuf, or layer 2 dropped it (both counted).
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        let max = self.max_packet();
        if packet.len() > max {
            return Err(IoError::TooLarge {
                len: packet.len(),
                max,
            });
        }
        let lent = self.send_with(&mut |buf| {
            buf[..packet.len()].copy_from_slice(packet);
            packet.len()
        })?;
        Ok(matches!(lent, Lent::Sent(_)))
    }

    /// Lends the data room of an mbuf behind room for the Ethernet header; the header is
    /// written once the packet (and so its destination) is known.
    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> Result<Lent, IoError> {
        if self.tx.is_full() {
            self.flush_staged();
        }
        let room = self.pool.max_packet();
        let i = self.tx.len();
        let frame = match self.tx.push(room) {
            Ok(Some(frame)) => frame,
            // Full (cannot be after the flush above) or no mbuf: nothing to build in.
            Ok(None) | Err(_) => {
                self.stats.tx_dropped += 1;
                return Ok(Lent::Dropped(0));
            }
        };
        let len = build(&mut frame[ETHERNET_HEADER_LEN..]).min(room - ETHERNET_HEADER_LEN);
        if len == 0 {
            self.tx.pop();
            return Ok(Lent::Empty);
        }
        Ok(self.frame_staged(i, len))
    }

    fn as_dpdk(&mut self) -> Option<&mut DpdkIo> {
        Some(self)
    }

    fn take_shared_l2(&mut self, each: &mut dyn FnMut(&[u8])) {
        if let Some(shared) = self.shared_l2.as_mut() {
            for frame in shared.drain(..) {
                each(&frame);
            }
        }
    }

    fn give_shared_l2(&mut self, frame: &[u8]) {
        self.stats.shared_l2_taken += 1;
        // Whatever layer 2 makes of it (the entry it completes, a queued packet it
        // releases) goes out with this queue's next flush.
        let _ = self.nd.ingress(self.now, frame);
    }

    /// To another DPDK port: each received mbuf is edited in place, given the Ethernet
    /// header of `to`'s next hop and moved into `to`'s transmit batch (nothing copied).
    fn forward_to(
        &mut self,
        to: &mut dyn PacketIo,
        max: usize,
        edit: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, IoError> {
        match to.as_dpdk() {
            Some(to) => Ok(self.forward_mbufs(to, max, edit)),
            None => super::burst::forward_by_copy(self, to, max, edit),
        }
    }

    fn layer2(&self) -> Option<Layer2Report> {
        let port = self.port.stats().unwrap_or_default();
        Some(Layer2Report {
            nd: *self.nd.counters(),
            cache_entries: self.nd.cache_len(),
            queued: self.nd.queued(),
            rx_missed: port.rx_missed,
            rx_no_mbuf: port.rx_no_mbuf,
            tx_dropped: self.stats.tx_dropped,
        })
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
        let mut report = super::TxReport::default();
        for p in packets {
            if self.send(p)? {
                report.sent += 1;
                report.bytes += p.len();
            } else {
                report.dropped += 1;
            }
        }
        let before = self.stats.tx_dropped;
        self.flush();
        // Frames the device refused at the flush.
        let refused = (self.stats.tx_dropped - before) as usize;
        report.sent = report.sent.saturating_sub(refused);
        report.dropped += refused;
        Ok(report)
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

    #[test]
    fn pool_names_are_unique_per_queue_and_short() {
        assert_eq!(pool_name("net_null0", 0, 1), "vany_net_null0");
        assert_eq!(pool_name("net_null0", 1, 2), "vany_net_null0_q1");
        let long = "0000:00:1f.6-with-a-very-long-device-name";
        let names: Vec<String> = (0..300).map(|q| pool_name(long, q, 300)).collect();
        assert!(names.iter().all(|n| n.len() <= 24 && n.is_ascii()));
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(pool_name(long, 0, 1).len(), 24);
    }

    #[test]
    fn macs_are_written_with_colons() {
        assert_eq!(mac_text(Mac([2, 0xab, 0, 0, 0x0f, 1])), "02:ab:00:00:0f:01");
    }
}
