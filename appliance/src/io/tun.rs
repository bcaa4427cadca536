//! A Linux TUN device as a [`PacketIo`] backend: raw IPv6 packets, no packet-info
//! prefix, non-blocking reads and writes, and an epoll wait for readability.
//!
//! The device exists while the [`Tun`] lives (it is not persistent). It is created down
//! and unconfigured in the caller's network namespace; configure it with `ip` (it may be
//! moved to another namespace with `ip link set NAME netns NS`: the open device keeps
//! working).

use std::io::{self, ErrorKind};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Duration as StdDuration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tun_tap::{Iface, Mode};

use super::{IoError, PacketIo};

/// The TUN clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// An open TUN device.
pub struct Tun {
    iface: Iface,
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
/// see [`Tun::name`]) in non-blocking mode. Needs root or CAP_NET_ADMIN.
pub fn open(name: &str) -> Result<Tun, IoError> {
    Tun::open(name)
}

impl Tun {
    /// Creates the TUN device `name`; see [`open`].
    pub fn open(name: &str) -> Result<Tun, IoError> {
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
        let iface = Iface::without_packet_info(name, Mode::Tun).map_err(|e| match e.kind() {
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
        iface
            .set_non_blocking()
            .map_err(|e| device_err("setting non-blocking mode", e))?;
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
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        loop {
            match self.iface.recv(buf) {
                Ok(n) => {
                    self.drained = false;
                    return Ok(Some(n));
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

    /// A full queue (`EAGAIN`, `ENOBUFS`) or a device that is down (`EIO`) drops the
    /// packet, as a network would.
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        const ENOBUFS: i32 = 105;
        const EIO: i32 = 5;
        loop {
            match self.iface.send(packet) {
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
