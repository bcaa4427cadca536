//! A Linux TUN device as a [`PacketIo`] backend: raw IPv6 packets, no packet-info
//! prefix, non-blocking reads and writes, and an epoll wait for readability.
//!
//! [`Tun::open_offload`] asks the kernel for TUN offloads (as wireguard-go and gVisor
//! do: a virtio-net header in front of each packet, `TUN_F_CSUM | TUN_F_TSO6`; the
//! ioctls are in `vany_ffi::tun`). The kernel then hands over TCP segments of up to
//! 64 KiB whose checksum it vouches for ([`RxMeta`]), and splits the super-segments
//! vany's TCP builds with [`crate::io::Segmentation`] itself. When it refuses, the device
//! is a plain one ([`Tun::offloads`] says which).
//!
//! The device exists while the [`Tun`] lives (it is not persistent). It is created down
//! and unconfigured in the caller's network namespace; configure it with `ip` (it may be
//! moved to another namespace with `ip link set NAME netns NS`: the open device keeps
//! working).

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Duration as StdDuration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
pub use vany_ffi::tun::OffloadMode;
use vany_ffi::tun::{
    TunDevice, TunOffloads, VnetHdr, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_GSO_ECN,
    VNET_GSO_NONE, VNET_GSO_TCPV6, VNET_HDR_LEN,
};
use vany_stack::wire::ChecksumTrust;

use super::{Built, IoError, Lent, PacketIo, RxMeta, Segmentation, MAX_PACKET};

/// The TUN clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// An open TUN device.
pub struct Tun {
    iface: TunDevice,
    /// Packets built or read here with offloads (the device's own, [`MAX_PACKET`] bytes
    /// each; empty on a plain device).
    tx_buf: Vec<u8>,
    rx_buf: Vec<u8>,
    /// Counters of the offloads.
    offload_stats: OffloadStats,
    poll: Poll,
    events: Events,
    /// The last read found no packet: only then may `wait` block (epoll is
    /// edge-triggered).
    drained: bool,
    /// Further descriptors `wait` wakes for ([`PacketIo::wake_on`]), tokens 1.. .
    wakers: usize,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.iface.name())
            .field("fd", &self.iface.as_raw_fd())
            .finish()
    }
}

/// Creates the TUN device `name` (at most 15 bytes; `%d` lets the kernel pick a number,
/// see [`Tun::name`]) in non-blocking mode, without offloads. Needs root or
/// CAP_NET_ADMIN.
pub fn open(name: &str) -> Result<Tun, IoError> {
    Tun::open(name)
}

const EINVAL: i32 = 22;

/// What the offloads of a [`Tun`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OffloadStats {
    /// Coalesced TCP segments read (the kernel's `gso_type` TCPv6).
    pub rx_coalesced: u64,
    /// Packets read whose checksum the kernel vouched for (`NEEDS_CSUM`, `DATA_VALID`).
    pub rx_trusted: u64,
    /// Packets read with a `gso_type` vany does not take (dropped).
    pub rx_refused: u64,
    /// Super-segments written for the kernel to split.
    pub tx_super: u64,
    /// Super-segments the kernel refused (`EINVAL`: it found the virtio-net header
    /// inconsistent), dropped.
    pub tx_refused: u64,
}

impl Tun {
    /// Creates the TUN device `name` without offloads; see [`open`].
    pub fn open(name: &str) -> Result<Tun, IoError> {
        Tun::open_mode(name, OffloadMode::Off)
    }

    /// Creates the TUN device `name` with offloads if the kernel grants them
    /// (`IFF_VNET_HDR`, `TUN_F_CSUM | TUN_F_TSO6`), else plain: see [`Tun::offloads`].
    pub fn open_offload(name: &str) -> Result<Tun, IoError> {
        Tun::open_mode(name, OffloadMode::Both)
    }

    /// Creates the TUN device `name`, with offloads both ways if `offload` asks and the
    /// kernel grants them.
    pub fn open_with(name: &str, offload: bool) -> Result<Tun, IoError> {
        let mode = if offload {
            OffloadMode::Both
        } else {
            OffloadMode::Off
        };
        Tun::open_mode(name, mode)
    }

    /// Creates the TUN device `name` with the offloads of `mode` if the kernel grants
    /// them (see [`OffloadMode`]; `TxOnly` suits a device whose packets may be
    /// forwarded: the kernel never hands over a coalesced one).
    pub fn open_mode(name: &str, mode: OffloadMode) -> Result<Tun, IoError> {
        if name.len() > MAX_NAME_LEN
            || name
                .chars()
                .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
        {
            return Err(IoError::BadName {
                name: name.to_string(),
            });
        }
        if !Path::new(CLONE_DEVICE).exists() {
            return Err(IoError::NoTunDevice {
                name: name.to_string(),
                path: CLONE_DEVICE,
            });
        }
        let iface = TunDevice::open_mode(name, mode).map_err(|e| match e.kind() {
            ErrorKind::PermissionDenied => IoError::PermissionDenied {
                name: name.to_string(),
                source: e,
            },
            ErrorKind::NotFound => IoError::NoTunDevice {
                name: name.to_string(),
                path: CLONE_DEVICE,
            },
            _ => IoError::Open {
                name: name.to_string(),
                source: e,
            },
        })?;
        let device_err = |op: &'static str, source: io::Error| IoError::Device {
            op,
            name: iface.name().to_string(),
            source,
        };
        let bufs = if iface.offloads().vnet_hdr {
            MAX_PACKET
        } else {
            0
        };
        let poll = Poll::new().map_err(|e| device_err("creating an epoll instance", e))?;
        poll.registry()
            .register(
                &mut SourceFd(&iface.as_raw_fd()),
                Token(0),
                Interest::READABLE,
            )
            .map_err(|e| device_err("registering with epoll", e))?;
        Ok(Tun {
            iface,
            tx_buf: vec![0u8; bufs],
            rx_buf: vec![0u8; bufs],
            offload_stats: OffloadStats::default(),
            poll,
            events: Events::with_capacity(4),
            drained: false,
            wakers: 0,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        self.iface.name()
    }

    /// The offloads the kernel granted (all off for a plain device).
    pub fn offloads(&self) -> TunOffloads {
        self.iface.offloads()
    }

    /// What the offloads did so far.
    pub fn offload_stats(&self) -> OffloadStats {
        self.offload_stats
    }

    /// Reads one packet into `buf`: its length and what its virtio-net header said.
    fn read_packet(&mut self, buf: &mut [u8]) -> Result<Option<(usize, RxMeta)>, IoError> {
        let vnet = self.iface.offloads().vnet_hdr;
        loop {
            let mut hdr = [0u8; VNET_HDR_LEN];
            let r = if vnet {
                let mut bufs = [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)];
                self.iface.read_vectored(&mut bufs)
            } else {
                self.iface.read(buf)
            };
            match r {
                Ok(n) => {
                    self.drained = false;
                    if !vnet {
                        return Ok(Some((n, RxMeta::default())));
                    }
                    let Some(meta) = self.rx_meta(&hdr, n) else {
                        // Not a packet vany takes (a short read, a UDP GSO): next one.
                        continue;
                    };
                    return Ok(Some((n - VNET_HDR_LEN, meta)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.drained = true;
                    return Ok(None);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.device_error("read", e)),
            }
        }
    }

    /// What the header `hdr` of a read of `n` bytes says, or `None` to drop the packet.
    fn rx_meta(&mut self, hdr: &[u8; VNET_HDR_LEN], n: usize) -> Option<RxMeta> {
        let h = VnetHdr::decode(hdr)?;
        if n < VNET_HDR_LEN {
            self.offload_stats.rx_refused += 1;
            return None;
        }
        let coalesced = match h.gso_type & !VNET_GSO_ECN {
            VNET_GSO_NONE => false,
            VNET_GSO_TCPV6 => true,
            _ => {
                self.offload_stats.rx_refused += 1;
                return None;
            }
        };
        let trusted = h.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID) != 0;
        self.offload_stats.rx_coalesced += u64::from(coalesced);
        self.offload_stats.rx_trusted += u64::from(trusted);
        Some(RxMeta {
            checksum: if trusted {
                ChecksumTrust::TrustedByKernel
            } else {
                ChecksumTrust::Verify
            },
            coalesced,
        })
    }

    /// Writes `packet` behind `hdr` (with offloads) or alone.
    fn write_packet(&mut self, hdr: Option<VnetHdr>, packet: &[u8]) -> Result<bool, IoError> {
        const ENOBUFS: i32 = 105;
        const EIO: i32 = 5;
        loop {
            let r = match hdr {
                Some(h) => {
                    let h = h.encode();
                    self.iface
                        .write_vectored(&[IoSlice::new(&h), IoSlice::new(packet)])
                }
                None => self.iface.write(packet),
            };
            match r {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock
                        || matches!(e.raw_os_error(), Some(ENOBUFS | EIO)) =>
                {
                    return Ok(false)
                }
                Err(e) => return Err(self.device_error("write", e)),
            }
        }
    }

    /// The virtio-net header for a packet: a super-segment's, or all zero (a whole
    /// packet, checksums complete) on a device with offloads; none on a plain device.
    fn tx_header(&self, seg: Option<Segmentation>) -> Option<VnetHdr> {
        if !self.iface.offloads().vnet_hdr {
            return None;
        }
        Some(seg.map_or(VnetHdr::default(), |s| VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: VNET_GSO_TCPV6,
            hdr_len: s.tcp_at + s.tcp_header_len,
            gso_size: s.segment_size,
            csum_start: s.tcp_at,
            csum_offset: 16,
        }))
    }

    fn device_error(&self, op: &'static str, source: io::Error) -> IoError {
        IoError::Device {
            op,
            name: self.iface.name().to_string(),
            source,
        }
    }
}

/// The device's file descriptor, for callers that wait on it together with other
/// sources (e.g. `vany client`'s epoll over the TUN and a packet socket).
impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        self.iface.as_raw_fd()
    }
}

impl PacketIo for Tun {
    /// With offloads, a packet may be a coalesced TCP segment of up to 64 KiB whose
    /// checksum is partial: use [`PacketIo::rx_each_meta`] to learn that.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        Ok(self.read_packet(buf)?.map(|(n, _)| n))
    }

    /// A full queue (`EAGAIN`, `ENOBUFS`) or a device that is down (`EIO`) drops the
    /// packet, as a network would.
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        let hdr = self.tx_header(None);
        self.write_packet(hdr, packet)
    }

    fn rx_each_meta(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError> {
        if !self.iface.offloads().vnet_hdr {
            return super::burst::rx_each_by_recv(self, max, &mut |p| each(p, RxMeta::default()));
        }
        let mut buf = std::mem::take(&mut self.rx_buf);
        let mut n = 0;
        let r = loop {
            if n >= max {
                break Ok(n);
            }
            match self.read_packet(&mut buf) {
                Ok(Some((len, meta))) => {
                    n += 1;
                    each(&buf[..len], meta);
                }
                Ok(None) => break Ok(n),
                Err(e) => break Err(e),
            }
        };
        self.rx_buf = buf;
        r
    }

    fn send_with_meta(
        &mut self,
        build: &mut dyn FnMut(&mut [u8]) -> Built,
    ) -> Result<Lent, IoError> {
        if !self.iface.offloads().vnet_hdr {
            return super::send_with_meta_by_send_with(self, build);
        }
        let mut buf = std::mem::take(&mut self.tx_buf);
        let (len, seg) = build(&mut buf);
        let len = len.min(buf.len());
        let r = if len == 0 {
            Ok(Lent::Empty)
        } else if seg.is_some() && !self.iface.offloads().tx_tso6() {
            Err(IoError::NoSegmentationOffload { len })
        } else {
            let hdr = self.tx_header(seg);
            match self.write_packet(hdr, &buf[..len]) {
                Ok(true) => {
                    self.offload_stats.tx_super += u64::from(seg.is_some());
                    Ok(Lent::Sent(len))
                }
                Ok(false) => Ok(Lent::Dropped(len)),
                // One packet's header, not the device: dropped and counted, as a network
                // would drop a bad packet.
                Err(IoError::Device { source, .. })
                    if seg.is_some() && source.raw_os_error() == Some(EINVAL) =>
                {
                    self.offload_stats.tx_refused += 1;
                    Ok(Lent::Dropped(len))
                }
                Err(e) => Err(e),
            }
        };
        self.tx_buf = buf;
        r
    }

    fn segmentation_offload(&self) -> bool {
        self.iface.offloads().tx_tso6()
    }

    fn wake_on(&mut self, fd: std::os::fd::RawFd) -> Result<bool, IoError> {
        self.wakers += 1;
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(self.wakers), Interest::READABLE)
            .map_err(|e| self.device_error("registering an app's epoll set", e))?;
        Ok(true)
    }

    fn wait(&mut self, timeout: StdDuration) -> Result<(), IoError> {
        if !self.drained {
            return Ok(());
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.device_error("epoll wait", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        for name in ["a-name-longer-than-15", "a/b", "a b", "a:b"] {
            let err = open(name).unwrap_err();
            assert!(matches!(err, IoError::BadName { .. }), "{name}: {err}");
        }
    }

    /// As root: a device opens, non-blocking, and is gone once dropped. Otherwise: the
    /// error says what to do.
    #[test]
    fn open_works_as_root_or_says_why_not() {
        let name = format!("vkt{}", std::process::id());
        match open(&name) {
            Ok(mut tun) => {
                assert_eq!(tun.name(), name);
                let mut buf = [0u8; 2048];
                // Down and unaddressed: nothing to read, and reading does not block.
                assert!(matches!(tun.recv(&mut buf), Ok(None)));
                tun.wait(StdDuration::from_millis(1)).unwrap();
                drop(tun);
                assert!(!Path::new(&format!("/sys/class/net/{name}")).exists());
            }
            Err(e @ (IoError::PermissionDenied { .. } | IoError::NoTunDevice { .. })) => {
                let msg = e.to_string();
                println!("not root, as expected: {msg}");
                assert!(msg.contains("root") || msg.contains("modprobe"), "{msg}");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}
