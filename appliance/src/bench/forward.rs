//! A trivial userspace forwarder between two TUN devices: every packet read from one is
//! written to the other, unchanged, in bursts of `batch`.
//!
//! With a kernel TCP socket behind each device (each in its own namespace), the kernel's
//! TCP runs through the same kind of path as vany's TCP does in `vany bench tun`: kernel
//! stack, TUN device, a userspace process moving packets with vany's TUN backend.

use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::{BenchError, Cancel};
use crate::io::{Batch, IoError, PacketIo, Tun};

/// Packets moved by [`forward`], per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Packets read from `a` and written to `b`.
    pub a_to_b: u64,
    /// Packets read from `b` and written to `a`.
    pub b_to_a: u64,
    /// Bytes of both directions.
    pub bytes: u64,
    /// Packets the receiving device refused (queue full).
    pub dropped: u64,
}

/// Moves packets between `a` and `b` until `cancel` is set. Sleeps in epoll when both
/// devices are empty.
pub fn forward(
    a: &mut Tun,
    b: &mut Tun,
    batch: usize,
    cancel: &Cancel,
) -> Result<Forwarded, BenchError> {
    let names = format!("{}+{}", a.name(), b.name());
    let epoll_err = |source| {
        BenchError::Io(IoError::Device {
            op: "epoll",
            name: names.clone(),
            source,
        })
    };
    let mut poll = Poll::new().map_err(epoll_err)?;
    // Edge-triggered: the loop only sleeps after both devices were read empty.
    for (fd, token) in [(a.as_raw_fd(), Token(0)), (b.as_raw_fd(), Token(1))] {
        poll.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .map_err(epoll_err)?;
    }
    let mut events = Events::with_capacity(4);
    let mut buf = Batch::with_capacity(batch);
    let mut done = Forwarded::default();
    while !cancel.is_set() {
        let (n_ab, full_ab) = shuttle(a, b, &mut buf, &mut done)?;
        let (n_ba, full_ba) = shuttle(b, a, &mut buf, &mut done)?;
        done.a_to_b += n_ab;
        done.b_to_a += n_ba;
        if !full_ab && !full_ba {
            match poll.poll(&mut events, Some(Duration::from_millis(10))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(epoll_err(e)),
            }
        }
    }
    Ok(done)
}

/// One burst from `from` to `to`: (packets forwarded, whether the burst was full).
fn shuttle(
    from: &mut Tun,
    to: &mut Tun,
    buf: &mut Batch,
    done: &mut Forwarded,
) -> Result<(u64, bool), BenchError> {
    let n = from.rx_burst(buf)?;
    let mut moved = 0;
    for p in buf.iter() {
        if to.send(p)? {
            moved += 1;
            done.bytes += p.len() as u64;
        } else {
            done.dropped += 1;
        }
    }
    Ok((moved, n == buf.capacity()))
}
