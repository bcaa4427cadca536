//! Poll-mode packet I/O: the world side of the sans-IO stack.
//!
//! A backend moves whole IPv6 packets in and out ([`PacketIo`]); [`Pump`] drives a
//! [`vany_stack::tcp::Endpoint`] over any backend:
//!
//! ```text
//!   backend.recv ──parse_tcp_deferred──▶ endpoint.handle_segment_deferred(now, src, dst, tcp)
//!                ──ICMPv6 Packet Too Big──▶ endpoint.handle_packet_too_big(now, ..)
//!   endpoint.handle_timeout(now)      (when poll_timeout() has passed)
//!   endpoint.poll_transmit(now) ──IPv6 header──▶ backend.send
//! ```
//!
//! The application runs between [`Pump::receive`] and [`Pump::transmit`] (rx burst ->
//! stack -> apps -> stack -> tx burst, as docs/architecture.md draws it), and [`Pump::wait`] sleeps
//! until the backend has a packet or the endpoint's next deadline, whichever comes first.
//!
//! Time comes from a [`Clock`]: a real monotonic clock turned into the stack's
//! [`Instant`], with a base chosen by the caller (each node has its own epoch).
//!
//! Backends: [`tun`] (a Linux TUN device), [`dpdk`] (an Ethernet port driven by DPDK,
//! through `vany-ffi`) and [`mem`] (a connected pair of in-memory devices, for tests and
//! benches). [`burst`] has the reusable packet
//! buffers of [`PacketIo::rx_burst`] / [`PacketIo::tx_burst`] and the spin-then-sleep idle
//! policy of a poll-mode loop.

pub mod burst;
pub mod dpdk;
pub mod mem;
pub mod offload;
pub mod tun;

use std::io;
use std::time::Duration as StdDuration;

use vany_stack::tcp::Endpoint;
use vany_stack::time::Instant;
use vany_stack::wire::{parse_tcp_input, parse_verified, PacketTooBigRepr, Upper};

pub use burst::{AdaptiveWait, Batch, TxReport};
pub use mem::MemIo;
pub use offload::{partial_checksum, send_with_meta_by_send_with, Built, RxMeta, Segmentation};
pub use tun::{open, OffloadStats, Tun};

pub use vany_stack::wire::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL};
pub use vany_stack::wire::rewrite::Ipv6Header;

/// The largest IPv6 packet (without jumbograms) a buffer must hold.
pub const MAX_PACKET: usize = IPV6_HEADER_LEN + u16::MAX as usize;

/// Why packet I/O failed.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The TUN clone device does not exist.
    #[error(
        "cannot create TUN device `{name}`: {path} does not exist (load the tun module with \
         `modprobe tun`, or give the container the device: `--device /dev/net/tun`)"
    )]
    NoTunDevice {
        /// The interface name asked for.
        name: String,
        /// The clone device's path.
        path: &'static str,
    },
    /// Creating a TUN device needs CAP_NET_ADMIN.
    #[error(
        "cannot create TUN device `{name}`: permission denied; run as root or grant \
         CAP_NET_ADMIN (e.g. `setcap cap_net_admin+ep <binary>`, as root) ({source})"
    )]
    PermissionDenied {
        /// The interface name asked for.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// The interface name cannot be used.
    #[error(
        "invalid TUN interface name {name:?}: at most 15 bytes, no '/', ':', whitespace or NUL"
    )]
    BadName {
        /// The interface name asked for.
        name: String,
    },
    /// Creating the TUN device failed for another reason (name taken, ...).
    #[error("cannot create TUN device `{name}`: {source}")]
    Open {
        /// The interface name asked for.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// A read, write or wait on an open device failed.
    #[error("{op} on `{name}` failed: {source}")]
    Device {
        /// What was being done.
        op: &'static str,
        /// The interface name.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// DPDK failed (or this vany was built without it: the message says what to install).
    #[error(transparent)]
    Dpdk(#[from] vany_ffi::DpdkError),
    /// Layer 2 (neighbor discovery) refused its configuration.
    #[error("DPDK port `{port}`: {source}")]
    Layer2 {
        /// The port.
        port: String,
        /// What was wrong.
        source: vany_stack::l2::NdConfigError,
    },
    /// A super-segment was handed to a backend that cannot have it split (the TCP
    /// configuration's `tso_max` is for a TUN device with offloads only).
    #[error(
        "a TCP super-segment of {len} bytes was handed to a backend without segmentation \
         offload (set tso_max only for a TUN device whose offloads the kernel granted)"
    )]
    NoSegmentationOffload {
        /// The packet length.
        len: usize,
    },
    /// A packet to send does not fit the backend.
    #[error("packet of {len} bytes is larger than the {max} bytes this backend can send")]
    TooLarge {
        /// The packet length.
        len: usize,
        /// The largest packet accepted.
        max: usize,
    },
}

/// Gives `packet` to `endpoint` if it is an ICMPv6 Packet Too Big about one of its TCP
/// segments (RFC 8201; the quoted HAO and RH2 give the home-address-level addresses);
/// returns whether a connection took it.
fn packet_too_big(packet: &[u8], endpoint: &mut Endpoint, now: Instant) -> bool {
    let Ok(parsed) = parse_verified(packet) else {
        return false;
    };
    let Upper::Icmpv6(m) = &parsed.repr.upper else {
        return false;
    };
    let Ok(ptb) = PacketTooBigRepr::parse(m.msg_type, m.body) else {
        return false;
    };
    endpoint.handle_packet_too_big(now, ptb.home_src(), ptb.home_dst(), &ptb)
}

/// A source and sink of whole IPv6 packets, polled without blocking.
pub trait PacketIo {
    /// Reads one packet into `buf`: `Ok(None)` when none is waiting. A packet longer than
    /// `buf` is truncated.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError>;

    /// Sends one packet: `Ok(false)` when the backend dropped it for lack of room (TCP
    /// retransmits; a network drops packets too).
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError>;

    /// Blocks until a packet may be waiting or `timeout` has passed. Returns at once if
    /// the last [`recv`](PacketIo::recv) did not find the backend empty.
    fn wait(&mut self, timeout: StdDuration) -> Result<(), IoError>;

    /// Reads up to [`Batch::capacity`] packets into `batch` (cleared first) and returns
    /// how many. The default calls [`recv`](PacketIo::recv) until the batch is full or
    /// the backend is empty; a backend with a native burst call overrides it.
    fn rx_burst(&mut self, batch: &mut Batch) -> Result<usize, IoError> {
        burst::rx_burst_by_recv(self, batch)
    }

    /// Sends `packets` in order. The default calls [`send`](PacketIo::send) for each.
    fn tx_burst(&mut self, packets: &[Vec<u8>]) -> Result<TxReport, IoError> {
        burst::tx_burst_by_send(self, packets)
    }

    /// Hands up to `max` received packets to `each`, one after the other, in the
    /// backend's own buffers (DPDK: where the NIC wrote them, nothing copied); returns how
    /// many. The default reads each with [`recv`](PacketIo::recv) into one reused buffer.
    fn rx_each(&mut self, max: usize, each: &mut dyn FnMut(&[u8])) -> Result<usize, IoError> {
        burst::rx_each_by_recv(self, max, each)
    }

    /// Lends `build` a buffer for one packet (DPDK: the data room of an mbuf, behind the
    /// room for its Ethernet header); `build` writes the packet at the buffer's start and
    /// returns its length, or 0 for no packet. The packet is sent from where it was built.
    /// The default builds in one reused buffer and calls [`send`](PacketIo::send).
    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> Result<Lent, IoError> {
        burst::send_with_by_send(self, build)
    }

    /// [`rx_each`](PacketIo::rx_each) with what the backend knows of each packet
    /// ([`RxMeta`]: a TUN device with offloads). The default says nothing (checksums to
    /// be verified).
    fn rx_each_meta(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError> {
        self.rx_each(max, &mut |p| each(p, RxMeta::default()))
    }

    /// [`send_with`](PacketIo::send_with) where `build` may return a TCP super-segment
    /// with how to split it ([`Segmentation`]); only a backend whose
    /// [`segmentation_offload`](PacketIo::segmentation_offload) is true takes one, the
    /// others fail with [`IoError::NoSegmentationOffload`].
    fn send_with_meta(
        &mut self,
        build: &mut dyn FnMut(&mut [u8]) -> Built,
    ) -> Result<Lent, IoError> {
        send_with_meta_by_send_with(self, build)
    }

    /// Whether the backend splits TCP super-segments itself ([`send_with_meta`]
    /// (PacketIo::send_with_meta)): a TUN device whose offloads the kernel granted. Only
    /// then may the TCP configuration's `tso_max` be set.
    fn segmentation_offload(&self) -> bool {
        false
    }

    /// Makes [`wait`](PacketIo::wait) return as well when `fd` becomes readable (the
    /// epoll set of an app's own connections, a proxy's backend). Returns whether this
    /// backend can; if not (DPDK polls, the in-memory backend does not wait), the caller
    /// looks at `fd` itself at short intervals.
    fn wake_on(&mut self, fd: std::os::fd::RawFd) -> Result<bool, IoError> {
        let _ = fd;
        Ok(false)
    }

    /// The backend's layer 2 (neighbor discovery, device drops), if it has one (DPDK).
    fn layer2(&self) -> Option<Layer2Report> {
        None
    }

    /// Gives `each` the layer-2 frames received since the last call that the backends
    /// of the node's other queues must see too: Neighbor Advertisements, on a port with
    /// several queues (the device, not the solicitor, chooses which queue gets the answer
    /// to a solicitation). None by default.
    fn take_shared_l2(&mut self, each: &mut dyn FnMut(&[u8])) {
        let _ = each;
    }

    /// A frame another queue's backend shared ([`take_shared_l2`](PacketIo::take_shared_l2)),
    /// taken by this one's layer 2 as if received. Ignored by default.
    fn give_shared_l2(&mut self, frame: &[u8]) {
        let _ = frame;
    }

    /// Forwards up to `max` received packets to `to`, each first edited in place by
    /// `edit`, which returns the packet's new length (at most its length now; 0 drops
    /// it). Returns how many packets were received. Between two DPDK ports the received
    /// mbuf itself is sent (nothing copied); otherwise each packet is copied into the
    /// buffer `to` lends.
    fn forward_to(
        &mut self,
        to: &mut dyn PacketIo,
        max: usize,
        edit: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, IoError> {
        burst::forward_by_copy(self, to, max, edit)
    }

    /// This backend as the DPDK one, for [`forward_to`](PacketIo::forward_to) between
    /// two DPDK ports.
    fn as_dpdk(&mut self) -> Option<&mut dpdk::DpdkIo> {
        None
    }
}

/// What a backend with a layer 2 (DPDK) reports for `/metrics` and `vany ctl status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Layer2Report {
    /// Neighbor discovery and frame counters.
    pub nd: vany_stack::l2::Counters,
    /// Neighbor cache entries now.
    pub cache_entries: usize,
    /// Packets waiting for a next hop's resolution now.
    pub queued: usize,
    /// Frames the device dropped for lack of receive descriptors (the poll loop fell
    /// behind).
    pub rx_missed: u64,
    /// Frames the device dropped for lack of mbufs.
    pub rx_no_mbuf: u64,
    /// Frames the device did not take, or that found no mbuf, on transmit.
    pub tx_dropped: u64,
}

/// What [`PacketIo::send_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lent {
    /// `build` wrote no packet.
    Empty,
    /// The backend took the packet of this many bytes.
    Sent(usize),
    /// The backend dropped the packet of this many bytes for lack of room.
    Dropped(usize),
}

/// A real monotonic clock read as the stack's [`Instant`]: `base` plus the time elapsed
/// since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
    base: Instant,
}

impl Clock {
    /// A clock that reads `base` now.
    pub fn new(base: Instant) -> Clock {
        Clock {
            origin: std::time::Instant::now(),
            base,
        }
    }

    /// A clock that reads `base` at `origin`.
    pub fn with_origin(origin: std::time::Instant, base: Instant) -> Clock {
        Clock { origin, base }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        let elapsed = i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX);
        Instant::from_micros(self.base.total_micros().saturating_add(elapsed))
    }
}

/// Counters of a [`Pump`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PumpStats {
    /// Packets read from the backend.
    pub rx_packets: u64,
    /// Bytes read from the backend.
    pub rx_bytes: u64,
    /// TCP segments handed to the endpoint.
    pub rx_tcp: u64,
    /// Well-formed packets that carry no TCP (ICMPv6, MLD, ...), ignored.
    pub rx_other: u64,
    /// ICMPv6 Packet Too Big messages a connection took (RFC 8201).
    pub rx_packet_too_big: u64,
    /// Packets that did not parse or whose checksum failed, dropped.
    pub rx_malformed: u64,
    /// Packets written to the backend.
    pub tx_packets: u64,
    /// Bytes written to the backend.
    pub tx_bytes: u64,
    /// Packets the backend dropped for lack of room.
    pub tx_dropped: u64,
    /// Of `tx_packets`, TCP super-segments the backend splits ([`Segmentation`]).
    pub tx_super: u64,
    /// Of `rx_packets`, segments the kernel coalesced ([`RxMeta::coalesced`]).
    pub rx_coalesced: u64,
    /// Calls to `Endpoint::handle_timeout`.
    pub timer_runs: u64,
    /// Calls to [`PacketIo::wait`].
    pub waits: u64,
}

/// What one [`Pump`] step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Packets read.
    pub received: usize,
    /// Packets written.
    pub transmitted: usize,
    /// Whether expired timers were run.
    pub timers: bool,
}

impl Activity {
    /// Whether nothing happened.
    pub fn is_idle(&self) -> bool {
        self.received == 0 && self.transmitted == 0 && !self.timers
    }
}

/// Drives an [`Endpoint`] over a [`PacketIo`] backend. Holds only buffers and counters:
/// the endpoint may be swapped between calls (e.g. after a handoff).
///
/// The segments of one receive burst are acknowledged together, by whatever the endpoint
/// sends in the next [`transmit`](Pump::transmit) (as GRO does in a kernel): a smaller
/// `rx_burst` means more, finer-grained ACKs and SACKs, at more packets per byte.
#[derive(Debug)]
pub struct Pump {
    /// Most packets read per [`receive`](Pump::receive) call.
    pub rx_burst: usize,
    /// Most packets written per [`transmit`](Pump::transmit) call.
    pub tx_burst: usize,
    /// Hop limit of the packets sent.
    pub hop_limit: u8,
    /// Longest [`wait`](Pump::wait).
    pub max_wait: StdDuration,
    stats: PumpStats,
}

impl Default for Pump {
    fn default() -> Self {
        Pump::new()
    }
}

impl Pump {
    /// A pump with bursts of 64 packets, hop limit 64 and waits of at most 10 ms.
    pub fn new() -> Pump {
        Pump {
            rx_burst: 64,
            tx_burst: 64,
            hop_limit: 64,
            max_wait: StdDuration::from_millis(10),
            stats: PumpStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> PumpStats {
        self.stats
    }

    /// Reads up to `rx_burst` packets and hands their TCP segments to `endpoint`; other
    /// packets are counted and dropped. Each packet is parsed where the backend holds it
    /// ([`PacketIo::rx_each`]). Returns the number of packets read.
    pub fn receive<I: PacketIo + ?Sized>(
        &mut self,
        io: &mut I,
        endpoint: &mut Endpoint,
        now: Instant,
    ) -> Result<usize, IoError> {
        let stats = &mut self.stats;
        io.rx_each_meta(self.rx_burst, &mut |packet, meta| {
            stats.rx_packets += 1;
            stats.rx_bytes += packet.len() as u64;
            stats.rx_coalesced += u64::from(meta.coalesced);
            // The data path's parse: a TCP payload's checksum is finished while the
            // connection copies it in (a segment that fails it changes nothing), or not
            // checked at all when the local kernel vouched for it.
            match parse_tcp_input(packet, meta.checksum) {
                Ok(Some(t)) => {
                    // The home-address-level addresses (equal to the IPv6 ones when no
                    // RH2/HAO is present).
                    let (src, dst) = (t.pseudo_src(), t.pseudo_dst());
                    let accepted = match t.deferred {
                        Some(check) => {
                            endpoint.handle_segment_deferred(now, src, dst, &t.segment, check)
                        }
                        None => {
                            endpoint.handle_segment(now, src, dst, &t.segment);
                            true
                        }
                    };
                    if accepted {
                        stats.rx_tcp += 1;
                    } else {
                        stats.rx_malformed += 1;
                    }
                }
                Ok(None) => {
                    if packet_too_big(packet, endpoint, now) {
                        stats.rx_packet_too_big += 1;
                    } else {
                        stats.rx_other += 1;
                    }
                }
                Err(_) => stats.rx_malformed += 1,
            }
        })
    }

    /// Runs the endpoint's timers if its deadline has passed.
    pub fn handle_timers(&mut self, endpoint: &mut Endpoint, now: Instant) -> bool {
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
            self.stats.timer_runs += 1;
            true
        } else {
            false
        }
    }

    /// Writes up to `tx_burst` segments from `endpoint`, each behind an IPv6 header,
    /// built in the buffer the backend lends ([`PacketIo::send_with_meta`]: on DPDK, the
    /// mbuf the NIC reads). A super-segment (the endpoint's `tso_max`) goes with its
    /// [`Segmentation`]. Returns the number of packets written (or dropped by the
    /// backend).
    pub fn transmit<I: PacketIo + ?Sized>(
        &mut self,
        io: &mut I,
        endpoint: &mut Endpoint,
        now: Instant,
    ) -> Result<usize, IoError> {
        let hop_limit = self.hop_limit;
        let mut n = 0;
        while n < self.tx_burst {
            let mut segmented = false;
            let lent = io.send_with_meta(&mut |buf| {
                if buf.len() <= IPV6_HEADER_LEN {
                    return (0, None);
                }
                let Some(t) = endpoint.poll_transmit(now, &mut buf[IPV6_HEADER_LEN..]) else {
                    return (0, None);
                };
                Ipv6Header {
                    src: t.tuple.local,
                    dst: t.tuple.remote,
                    next_header: TCP_PROTOCOL,
                    hop_limit,
                    payload_len: t.len,
                }
                .emit(&mut buf[..IPV6_HEADER_LEN]);
                let seg = t.segment_size.map(|size| {
                    segmented = true;
                    partial_checksum(&mut buf[IPV6_HEADER_LEN..], &t.tuple, t.len, size)
                });
                (
                    IPV6_HEADER_LEN + t.len,
                    seg.map(|s| s.after(IPV6_HEADER_LEN)),
                )
            })?;
            match lent {
                Lent::Empty => break,
                Lent::Sent(len) => {
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += len as u64;
                    self.stats.tx_super += u64::from(segmented);
                }
                Lent::Dropped(_) => self.stats.tx_dropped += 1,
            }
            n += 1;
        }
        Ok(n)
    }

    /// One round: receive a burst, run due timers, transmit a burst.
    pub fn poll<I: PacketIo + ?Sized>(
        &mut self,
        io: &mut I,
        endpoint: &mut Endpoint,
        now: Instant,
    ) -> Result<Activity, IoError> {
        let received = self.receive(io, endpoint, now)?;
        let timers = self.handle_timers(endpoint, now);
        let transmitted = self.transmit(io, endpoint, now)?;
        Ok(Activity {
            received,
            transmitted,
            timers,
        })
    }

    /// Sleeps until the backend may have a packet, the endpoint's next deadline, or
    /// `max_wait`, whichever comes first.
    pub fn wait<I: PacketIo + ?Sized>(
        &mut self,
        io: &mut I,
        endpoint: &Endpoint,
        now: Instant,
    ) -> Result<(), IoError> {
        let timeout = match endpoint.poll_timeout() {
            Some(at) if at <= now => return Ok(()),
            Some(at) => {
                StdDuration::from_micros(at.saturating_since(now).total_micros()).min(self.max_wait)
            }
            None => self.max_wait,
        };
        self.stats.waits += 1;
        io.wait(timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::Ipv6Addr;

    use vany_stack::rand::SeededRandom;
    use vany_stack::tcp::{FourTuple, TcpConfig};

    use super::*;

    /// An in-memory backend: packets in, packets out.
    #[derive(Default)]
    struct Queue {
        inbox: VecDeque<Vec<u8>>,
        outbox: Vec<Vec<u8>>,
    }

    impl PacketIo for Queue {
        fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
            Ok(self.inbox.pop_front().map(|p| {
                buf[..p.len()].copy_from_slice(&p);
                p.len()
            }))
        }
        fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
            self.outbox.push(packet.to_vec());
            Ok(true)
        }
        fn wait(&mut self, _timeout: StdDuration) -> Result<(), IoError> {
            Ok(())
        }
    }

    /// A server endpoint listening on port 80 and a client connected to it, each with a
    /// pump and a queue.
    struct Pair {
        server: Endpoint,
        client: Endpoint,
        tuple: FourTuple,
        sp: Pump,
        cp: Pump,
        sq: Queue,
        cq: Queue,
    }

    const SERVER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 2);
    const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);

    impl Pair {
        fn new() -> Pair {
            let mut server = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(1));
            let mut client = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(2));
            server.listen(80);
            let tuple = FourTuple {
                local: CLIENT,
                local_port: 40000,
                remote: SERVER,
                remote_port: 80,
            };
            client.connect(Instant::from_secs(1), tuple).unwrap();
            Pair {
                server,
                client,
                tuple,
                sp: Pump::new(),
                cp: Pump::new(),
                sq: Queue::default(),
                cq: Queue::default(),
            }
        }

        /// The client sends `data` to the server; after each round `link` moves what the
        /// two wrote (`sq.outbox`, `cq.outbox`) into the other's inbox. Returns what the
        /// server received (bounded rounds).
        fn carry(&mut self, data: &[u8], link: &mut dyn FnMut(&mut Queue, &mut Queue)) -> Vec<u8> {
            let mut now = Instant::from_secs(1);
            let (mut sent, mut got) = (0, Vec::new());
            let mut accepted = None;
            let mut buf = [0u8; 4096];
            for _ in 0..100_000 {
                self.sp.poll(&mut self.sq, &mut self.server, now).unwrap();
                self.cp.poll(&mut self.cq, &mut self.client, now).unwrap();
                if let Some(c) = self.client.connection_mut(&self.tuple) {
                    if sent < data.len() {
                        sent += c.send(&data[sent..]).unwrap();
                    }
                }
                accepted = accepted.or_else(|| self.server.accept());
                if let Some(c) = accepted.and_then(|t| self.server.connection_mut(&t)) {
                    let n = c.recv(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                link(&mut self.sq, &mut self.cq);
                if got.len() == data.len() {
                    break;
                }
                now = now + vany_stack::time::Duration::from_micros(100);
            }
            got
        }
    }

    #[test]
    fn two_pumps_carry_a_stream() {
        let mut pair = Pair::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let got = pair.carry(&data, &mut |sq, cq| {
            for p in sq.outbox.drain(..) {
                // What the pump writes is a whole, checksummed IPv6 packet.
                {
                    let parsed = vany_stack::wire::parse_verified(&p).expect("pump output parses");
                    assert_eq!((parsed.repr.src, parsed.repr.dst), (SERVER, CLIENT));
                    assert_eq!(parsed.repr.hop_limit, 64);
                }
                cq.inbox.push_back(p);
            }
            sq.inbox.extend(cq.outbox.drain(..));
        });
        assert!(
            got == data,
            "received {} of {} bytes",
            got.len(),
            data.len()
        );
        let (sp, cp) = (pair.sp.stats(), pair.cp.stats());
        assert!(sp.rx_tcp > 0 && cp.tx_packets > 0);
        assert_eq!(sp.rx_malformed + cp.rx_malformed, 0);
    }

    /// A router's Packet Too Big for `packet` at `mtu`, to the packet's source.
    fn packet_too_big_for(packet: &[u8], mtu: u32) -> Vec<u8> {
        let src = parse_verified(packet).unwrap().repr.src;
        PacketTooBigRepr::emit_packet("fd00:ffff::1".parse().unwrap(), src, mtu, packet)
    }

    #[test]
    fn pump_hands_packet_too_big_to_the_endpoint() {
        let mut pair = Pair::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 3 + i / 257) as u8).collect();
        let mut too_big = 0;
        // A 1400-byte link between them that answers with Packet Too Big.
        let got = pair.carry(&data, &mut |sq, cq| {
            for p in cq.outbox.drain(..) {
                if p.len() > 1400 {
                    too_big += 1;
                    cq.inbox.push_back(packet_too_big_for(&p, 1400));
                } else {
                    sq.inbox.push_back(p);
                }
            }
            cq.inbox.extend(sq.outbox.drain(..));
        });
        assert!(
            got == data,
            "received {} of {} bytes",
            got.len(),
            data.len()
        );
        assert!(too_big > 0);
        assert!(pair.cp.stats().rx_packet_too_big >= 1);
        assert_eq!(
            pair.client.connection(&pair.tuple).unwrap().path_mtu(),
            1400
        );
        assert_eq!(pair.client.stats().ptb_ignored, 0);
    }

    #[test]
    fn other_and_malformed_packets_are_counted_and_dropped() {
        let mut ep = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(3));
        let mut q = Queue::default();
        // An IPv6 packet with no next header (59), and garbage.
        let mut none = vec![0u8; 40];
        Ipv6Header {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            next_header: 59,
            hop_limit: 1,
            payload_len: 0,
        }
        .emit(&mut none);
        q.inbox.push_back(none);
        q.inbox.push_back(vec![0x60, 1, 2]);
        let mut pump = Pump::new();
        let act = pump.poll(&mut q, &mut ep, Instant::ZERO).unwrap();
        assert_eq!(act.received, 2);
        assert_eq!((pump.stats().rx_other, pump.stats().rx_malformed), (1, 1));
        assert!(q.outbox.is_empty());
    }

    #[test]
    fn ipv6_header_fields() {
        let h = Ipv6Header {
            src: "fd00:77::2".parse().unwrap(),
            dst: "fd00:77::1".parse().unwrap(),
            next_header: TCP_PROTOCOL,
            hop_limit: 64,
            payload_len: 0x1234,
        };
        let mut buf = [0xffu8; 40];
        h.emit(&mut buf);
        assert_eq!(&buf[..8], &[0x60, 0, 0, 0, 0x12, 0x34, 6, 64]);
        assert_eq!(&buf[8..24], &h.src.octets());
        assert_eq!(&buf[24..40], &h.dst.octets());
    }
}
