//! A Linux TUN device opened by hand (no DPDK needed): `IFF_TUN | IFF_NO_PI`, optionally
//! with `IFF_VNET_HDR` and the offloads wireguard-go and gVisor use on a TUN
//! (`TUNSETVNETHDRSZ` + `TUNSETOFFLOAD` with `TUN_F_CSUM | TUN_F_TSO6`).
//!
//! With offloads every packet read or written carries a [`VnetHdr`] in front
//! ([`VNET_HDR_LEN`] bytes): the kernel may hand over TCP segments of up to 64 KiB
//! ("GRO"-sized, `gso_type` TCPv6) whose checksum holds only the pseudo-header's sum
//! (`NEEDS_CSUM`), and accepts such segments to split itself ("TSO"). When the kernel
//! or the device refuses any step, [`TunDevice::open`] falls back to a plain device (no
//! header), and [`TunDevice::offloads`] says which one it got.

use std::ffi::c_int;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// The TUN clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";
/// Length of a `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only
/// the pseudo-header's sum; the rest is still to be added.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified (receive only).
pub const VNET_F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const VNET_GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const VNET_GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP`.
pub const VNET_GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const VNET_GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`.
pub const VNET_GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on `gso_type`).
pub const VNET_GSO_ECN: u8 = 0x80;

/// A `struct virtio_net_hdr` (legacy layout; TUN's default byte order is the host's,
/// little-endian on every target vany runs on: it is encoded little-endian).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VNET_F_*` flags.
    pub flags: u8,
    /// `VNET_GSO_*` type.
    pub gso_type: u8,
    /// Length of the headers (IPv6, extensions, TCP) of a GSO packet.
    pub hdr_len: u16,
    /// Payload bytes per segment of a GSO packet.
    pub gso_size: u16,
    /// Where the checksummed part starts (the TCP header).
    pub csum_start: u16,
    /// Where the checksum lies, from `csum_start` (16 for TCP).
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// The header at the start of `b`, if `b` is long enough.
    pub fn decode(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }
}

/// Which offloads to ask the kernel for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadMode {
    /// None: a plain device.
    Off,
    /// Both ways: `IFF_VNET_HDR` and `TUN_F_CSUM | TUN_F_TSO6` (the kernel hands over
    /// coalesced segments with partial checksums, and splits what it is given).
    Both,
    /// Transmit only: `IFF_VNET_HDR` without `TUNSETOFFLOAD` flags. The kernel splits
    /// the super-segments it is given (a TUN takes GSO packets from user space whatever
    /// its offload flags) but hands over only whole packets with complete checksums.
    TxOnly,
}

/// Which offloads a device got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunOffloads {
    /// Packets carry a [`VnetHdr`] in front (`IFF_VNET_HDR`); the kernel then splits
    /// TCP super-segments written with one (`gso_type` TCPv6).
    pub vnet_hdr: bool,
    /// `TUN_F_CSUM`: the kernel may hand over partial checksums.
    pub csum: bool,
    /// `TUN_F_TSO6`: the kernel may hand over TCP segments of up to 64 KiB.
    pub tso6: bool,
}

impl TunOffloads {
    /// Whether any offload is on.
    pub fn any(&self) -> bool {
        self.vnet_hdr
    }

    /// Whether the kernel splits TCP super-segments written into the device.
    pub fn tx_tso6(&self) -> bool {
        self.vnet_hdr
    }
}

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// An open TUN device, non-blocking, destroyed when dropped (not persistent).
#[derive(Debug)]
pub struct TunDevice {
    file: File,
    name: String,
    offloads: TunOffloads,
}

/// `ioctl(fd, request, arg)` with an integer argument passed by value.
fn ioctl_int(fd: RawFd, request: libc::Ioctl, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of flags); no
    // memory is passed to the kernel. `fd` is an open descriptor owned by the caller.
    let r = unsafe { libc::ioctl(fd, request, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, request, &mut value)` with a pointer to an `int`.
fn ioctl_int_ptr(fd: RawFd, request: libc::Ioctl, value: &mut c_int) -> io::Result<()> {
    // SAFETY: `value` is a valid, exclusive `int` for the duration of the call, which is
    // what TUNSETVNETHDRSZ reads; `fd` is an open descriptor owned by the caller.
    let r = unsafe { libc::ioctl(fd, request, value as *mut c_int) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `TUNSETIFF` on `file` with `name` and `flags`; returns the name the kernel gave.
fn set_iff(file: &File, name: &str, flags: c_int) -> io::Result<String> {
    // SAFETY: `ifreq` is plain data (arrays, integers and a union of those and raw
    // pointers), for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes().take(MAX_NAME_LEN)) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: `req` is a valid `struct ifreq` that lives across the call; TUNSETIFF reads
    // it and writes the chosen name back into it. The descriptor is open.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut _) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl TunDevice {
    /// Creates TUN device `name` (`%d` lets the kernel pick a number). With `offload`,
    /// asks for `IFF_VNET_HDR` and `TUN_F_CSUM | TUN_F_TSO6`; if the kernel refuses any
    /// of it, the device is reopened plain (see [`TunDevice::offloads`]). Needs root or
    /// CAP_NET_ADMIN. Errors are the OS's (`PermissionDenied`, `NotFound` for a missing
    /// clone device, ...).
    pub fn open(name: &str, offload: bool) -> io::Result<TunDevice> {
        Self::open_mode(
            name,
            if offload {
                OffloadMode::Both
            } else {
                OffloadMode::Off
            },
        )
    }

    /// [`TunDevice::open`] with the offloads of `mode`; falls back to a plain device when
    /// the kernel refuses them.
    pub fn open_mode(name: &str, mode: OffloadMode) -> io::Result<TunDevice> {
        if mode != OffloadMode::Off {
            match Self::open_with(name, mode) {
                Ok(dev) => return Ok(dev),
                // Refused offloads (an old kernel, a device without them): plain TUN.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Self::open_with(name, OffloadMode::Off)
    }

    fn open_with(name: &str, mode: OffloadMode) -> io::Result<TunDevice> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(CLONE_DEVICE)?;
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if mode != OffloadMode::Off {
            flags |= libc::IFF_VNET_HDR;
        }
        let name = set_iff(&file, name, flags)?;
        let mut offloads = TunOffloads::default();
        if mode != OffloadMode::Off {
            let fd = file.as_raw_fd();
            let mut size = VNET_HDR_LEN as c_int;
            ioctl_int_ptr(fd, libc::TUNSETVNETHDRSZ, &mut size)?;
            let both = mode == OffloadMode::Both;
            let want = if both {
                libc::TUN_F_CSUM | libc::TUN_F_TSO6
            } else {
                0
            };
            ioctl_int(fd, libc::TUNSETOFFLOAD, libc::c_ulong::from(want))?;
            offloads = TunOffloads {
                vnet_hdr: true,
                csum: both,
                tso6: both,
            };
        }
        Ok(TunDevice {
            file,
            name,
            offloads,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The offloads in use; all off for a plain device.
    pub fn offloads(&self) -> TunOffloads {
        self.offloads
    }

    /// Reads one packet (behind its [`VnetHdr`] with offloads) into `bufs`, in order.
    pub fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.file).read_vectored(bufs)
    }

    /// Reads one packet (behind its [`VnetHdr`] with offloads) into `buf`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet from the pieces `bufs` (the first a [`VnetHdr`] with offloads).
    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.file).write_vectored(bufs)
    }

    /// Writes one packet (behind its [`VnetHdr`] with offloads).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }
}

impl AsRawFd for TunDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnet_hdr_round_trips_little_endian() {
        let h = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: VNET_GSO_TCPV6,
            hdr_len: 0x0102,
            gso_size: 1428,
            csum_start: 40,
            csum_offset: 16,
        };
        let b = h.encode();
        assert_eq!(&b[..4], &[1, 4, 0x02, 0x01]);
        assert_eq!(VnetHdr::decode(&b), Some(h));
        assert_eq!(VnetHdr::decode(&b[..9]), None);
    }

    /// As root: a device opens with offloads (this kernel has them) or falls back, and
    /// says which.
    #[test]
    fn opens_with_offloads_or_says_why_not() {
        let name = format!("vft{}", std::process::id());
        match TunDevice::open(&name, true) {
            Ok(dev) => {
                assert_eq!(dev.name(), name);
                let o = dev.offloads();
                assert_eq!(o.vnet_hdr, o.tso6);
                println!("offloads: {o:?}");
                let mut buf = [0u8; 64];
                let e = dev.read(&mut buf).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                drop(dev);
                // Transmit only: the header, no TSO6 from the kernel.
                let dev = TunDevice::open_mode(&name, OffloadMode::TxOnly).expect("reopens");
                let o = dev.offloads();
                assert!(o.tx_tso6() && !o.tso6 && !o.csum, "{o:?}");
                drop(dev);
                let dev = TunDevice::open_mode(&name, OffloadMode::Off).expect("reopens");
                assert_eq!(dev.offloads(), TunOffloads::default());
            }
            Err(e) => {
                let required = std::env::var_os("VANY_TESTS_REQUIRED").is_some_and(|v| v == "1");
                assert!(!required, "VANY_TESTS_REQUIRED=1 but no TUN device: {e}");
                println!("skipped: needs root and /dev/net/tun ({e})");
            }
        }
    }
}
