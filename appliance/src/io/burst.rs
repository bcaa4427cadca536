//! Bursts of packets over reusable buffers, and the idle policy of a poll-mode loop.
//!
//! A [`Batch`] is a fixed set of packet buffers, allocated once and refilled by every
//! [`PacketIo::rx_burst`](super::PacketIo::rx_burst): the data path reads up to
//! [`Batch::capacity`] packets per round without allocating. [`TxReport`] says what a
//! [`PacketIo::tx_burst`](super::PacketIo::tx_burst) did.
//!
//! [`AdaptiveWait`] is the loop's idle policy: after the last packet it keeps polling
//! (spinning) for a configurable time, so that a packet arriving soon after is picked up
//! without the latency of an epoll wake-up; past that it sleeps in
//! [`PacketIo::wait`](super::PacketIo::wait). A spin time of zero always sleeps.

use std::time::{Duration as StdDuration, Instant as StdInstant};

use super::{IoError, Lent, PacketIo, MAX_PACKET};

/// Up to `capacity` packet buffers of `buf_len` bytes each, reused from burst to burst.
#[derive(Debug, Clone)]
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    len: usize,
}

impl Batch {
    /// A batch of `capacity` (at least 1) buffers of `buf_len` bytes.
    pub fn new(capacity: usize, buf_len: usize) -> Batch {
        let capacity = capacity.max(1);
        Batch {
            bufs: vec![vec![0u8; buf_len]; capacity],
            lens: vec![0; capacity],
            len: 0,
        }
    }

    /// A batch of `capacity` buffers that hold any IPv6 packet ([`MAX_PACKET`] bytes).
    pub fn with_capacity(capacity: usize) -> Batch {
        Batch::new(capacity, MAX_PACKET)
    }

    /// How many packets a burst reads at most.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the packets held (the buffers stay).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The next free buffer, or `None` when the batch is full. Fill it, then
    /// [`commit`](Batch::commit) the packet's length.
    pub fn slot(&mut self) -> Option<&mut [u8]> {
        let i = self.len;
        self.bufs.get_mut(i).map(|b| b.as_mut_slice())
    }

    /// Keeps the first `len` bytes of the buffer last returned by [`slot`](Batch::slot)
    /// as a packet (clamped to the buffer's size).
    pub fn commit(&mut self, len: usize) {
        if let Some(b) = self.bufs.get(self.len) {
            self.lens[self.len] = len.min(b.len());
            self.len += 1;
        }
    }

    /// Packet `i`, if held.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.len).then(|| &self.bufs[i][..self.lens[i]])
    }

    /// The packets held, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.bufs[..self.len]
            .iter()
            .zip(&self.lens)
            .map(|(b, &n)| &b[..n])
    }
}

/// What one transmit burst did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxReport {
    /// Packets the backend took.
    pub sent: usize,
    /// Bytes of those.
    pub bytes: usize,
    /// Packets the backend dropped for lack of room.
    pub dropped: usize,
}

/// The default [`PacketIo::rx_burst`](super::PacketIo::rx_burst): `recv` until the batch
/// is full or the backend is empty.
pub fn rx_burst_by_recv<I: PacketIo + ?Sized>(
    io: &mut I,
    batch: &mut Batch,
) -> Result<usize, IoError> {
    batch.clear();
    while let Some(slot) = batch.slot() {
        match io.recv(slot)? {
            Some(n) => batch.commit(n),
            None => break,
        }
    }
    Ok(batch.len())
}

/// The default [`PacketIo::tx_burst`](super::PacketIo::tx_burst): `send` each packet.
pub fn tx_burst_by_send<I: PacketIo + ?Sized>(
    io: &mut I,
    packets: &[Vec<u8>],
) -> Result<TxReport, IoError> {
    let mut r = TxReport::default();
    for p in packets {
        if io.send(p)? {
            r.sent += 1;
            r.bytes += p.len();
        } else {
            r.dropped += 1;
        }
    }
    Ok(r)
}

thread_local! {
    /// The reused buffers of the default `rx_each` and `send_with` (taken out while in
    /// use, so that a nested call on another backend gets its own).
    static SCRATCH: std::cell::RefCell<[Vec<u8>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

/// Runs `f` with scratch buffer `which` (0: receive, 1: transmit) of [`MAX_PACKET`]
/// bytes, allocated once per thread.
fn with_scratch<R>(which: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut s.borrow_mut()[which]));
    if buf.len() < MAX_PACKET {
        buf = vec![0u8; MAX_PACKET];
    }
    let r = f(&mut buf);
    SCRATCH.with(|s| s.borrow_mut()[which] = buf);
    r
}

/// The default [`PacketIo::rx_each`](super::PacketIo::rx_each): `recv` into a reused
/// buffer until `max` packets or the backend is empty.
pub fn rx_each_by_recv<I: PacketIo + ?Sized>(
    io: &mut I,
    max: usize,
    each: &mut dyn FnMut(&[u8]),
) -> Result<usize, IoError> {
    with_scratch(0, |buf| {
        let mut n = 0;
        while n < max {
            let Some(len) = io.recv(buf)? else { break };
            n += 1;
            each(&buf[..len]);
        }
        Ok(n)
    })
}

/// The default [`PacketIo::send_with`](super::PacketIo::send_with): build in a reused
/// buffer, then `send`.
pub fn send_with_by_send<I: PacketIo + ?Sized>(
    io: &mut I,
    build: &mut dyn FnMut(&mut [u8]) -> usize,
) -> Result<Lent, IoError> {
    with_scratch(1, |buf| {
        let len = build(buf).min(buf.len());
        if len == 0 {
            return Ok(Lent::Empty);
        }
        Ok(if io.send(&buf[..len])? {
            Lent::Sent(len)
        } else {
            Lent::Dropped(len)
        })
    })
}

/// The default [`PacketIo::forward_to`](super::PacketIo::forward_to): each received
/// packet copied into the buffer `to` lends, then edited there.
pub fn forward_by_copy<I: PacketIo + ?Sized>(
    from: &mut I,
    to: &mut dyn PacketIo,
    max: usize,
    edit: &mut dyn FnMut(&mut [u8]) -> usize,
) -> Result<usize, IoError> {
    let mut failed = None;
    let n = from.rx_each(max, &mut |packet| {
        let sent = to.send_with(&mut |buf| {
            let Some(room) = buf.get_mut(..packet.len()) else {
                return 0;
            };
            room.copy_from_slice(packet);
            edit(room).min(packet.len())
        });
        if let Err(e) = sent {
            failed.get_or_insert(e);
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

/// Spin for a while after the last activity, then sleep (see the module doc).
#[derive(Debug, Clone)]
pub struct AdaptiveWait {
    spin: StdDuration,
    last_busy: Option<StdInstant>,
    /// Rounds that spun instead of sleeping.
    pub spins: u64,
    /// Rounds that slept in [`PacketIo::wait`].
    pub sleeps: u64,
}

impl AdaptiveWait {
    /// Spins for `spin` after the last busy round before sleeping (zero: never spins).
    pub fn new(spin: StdDuration) -> AdaptiveWait {
        AdaptiveWait {
            spin,
            last_busy: None,
            spins: 0,
            sleeps: 0,
        }
    }

    /// Ends a round of the loop: `busy` says whether it moved any packet or ran a timer.
    /// Returns at once while spinning (after a `yield_now`), else waits on `io` for at
    /// most `timeout`.
    pub fn idle<I: PacketIo + ?Sized>(
        &mut self,
        io: &mut I,
        busy: bool,
        timeout: StdDuration,
    ) -> Result<(), IoError> {
        let now = StdInstant::now();
        if busy {
            self.last_busy = Some(now);
        }
        if timeout.is_zero() {
            return Ok(());
        }
        if let Some(t) = self.last_busy {
            if now.saturating_duration_since(t) < self.spin {
                self.spins += 1;
                std::thread::yield_now();
                return Ok(());
            }
        }
        self.sleeps += 1;
        io.wait(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_slots_commit_and_iterate() {
        let mut b = Batch::new(2, 8);
        assert_eq!((b.capacity(), b.len(), b.is_empty()), (2, 0, true));
        b.slot().unwrap()[..3].copy_from_slice(b"abc");
        b.commit(3);
        b.slot().unwrap()[..1].copy_from_slice(b"z");
        b.commit(100); // clamped to the buffer
        assert!(b.slot().is_none(), "full");
        assert_eq!(b.get(0), Some(&b"abc"[..]));
        assert_eq!(b.get(1).map(|p| p.len()), Some(8));
        assert_eq!(b.get(2), None);
        assert_eq!(b.iter().count(), 2);
        b.clear();
        assert!(b.is_empty() && b.get(0).is_none());
        // A batch of zero is a batch of one.
        assert_eq!(Batch::new(0, 4).capacity(), 1);
    }
}
