//! In-memory devices: a connected pair of [`MemIo`] backends, for tests and benches.
//!
//! What one end sends, the other receives, in order, through a bounded crossbeam channel
//! per direction (a full channel drops the packet, as a full device queue would). Packet
//! buffers come from a pool shared by both ends, so that a steady flow does not allocate.
//! [`PacketIo::wait`] blocks on the channel (no spinning): the packet it sees is kept and
//! returned by the next `recv`. Both ends may live on different threads.

use std::time::Duration as StdDuration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use super::{IoError, PacketIo, MAX_PACKET};

/// One end of an in-memory link.
#[derive(Debug)]
pub struct MemIo {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    /// A packet `wait` took off the channel, returned by the next `recv`.
    pending: Option<Vec<u8>>,
    pool_put: Sender<Vec<u8>>,
    pool_get: Receiver<Vec<u8>>,
}

/// Two connected ends; each direction queues at most `capacity` packets (at least 1).
pub fn pair(capacity: usize) -> (MemIo, MemIo) {
    let capacity = capacity.max(1);
    let (a_tx, b_rx) = bounded(capacity);
    let (b_tx, a_rx) = bounded(capacity);
    let (pool_put, pool_get) = bounded(2 * capacity);
    let a = MemIo {
        tx: a_tx,
        rx: a_rx,
        pending: None,
        pool_put: pool_put.clone(),
        pool_get: pool_get.clone(),
    };
    let b = MemIo {
        tx: b_tx,
        rx: b_rx,
        pending: None,
        pool_put,
        pool_get,
    };
    (a, b)
}

impl MemIo {
    /// Packets waiting to be received at this end.
    pub fn queued(&self) -> usize {
        self.rx.len() + usize::from(self.pending.is_some())
    }

    fn recycle(&self, buf: Vec<u8>) {
        // A full pool lets the buffer go.
        let _ = self.pool_put.try_send(buf);
    }
}

impl PacketIo for MemIo {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        let packet = match self.pending.take() {
            Some(p) => p,
            None => match self.rx.try_recv() {
                Ok(p) => p,
                Err(_) => return Ok(None),
            },
        };
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        self.recycle(packet);
        Ok(Some(n))
    }

    /// A full queue, or a peer that is gone, drops the packet (`Ok(false)`).
    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        if packet.len() > MAX_PACKET {
            return Err(IoError::TooLarge {
                len: packet.len(),
                max: MAX_PACKET,
            });
        }
        let mut buf = self.pool_get.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        match self.tx.try_send(buf) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                self.recycle(b);
                Ok(false)
            }
        }
    }

    /// Each packet is read in the buffer it travelled in, which then goes back to the pool.
    fn rx_each(&mut self, max: usize, each: &mut dyn FnMut(&[u8])) -> Result<usize, IoError> {
        let mut n = 0;
        while n < max {
            let packet = match self.pending.take() {
                Some(p) => p,
                None => match self.rx.try_recv() {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            n += 1;
            each(&packet);
            self.recycle(packet);
        }
        Ok(n)
    }

    fn wait(&mut self, timeout: StdDuration) -> Result<(), IoError> {
        if self.pending.is_some() || !self.rx.is_empty() {
            return Ok(());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(p) => self.pending = Some(p),
            Err(RecvTimeoutError::Timeout) => {}
            // The peer is gone: nothing will ever arrive; do not make the caller spin.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant as StdInstant;

    use super::*;
    use crate::io::{Batch, MAX_PACKET};

    #[test]
    fn packets_cross_in_order_both_ways() {
        let (mut a, mut b) = pair(8);
        assert!(a.send(b"one").unwrap());
        assert!(a.send(b"two").unwrap());
        assert!(b.send(b"back").unwrap());
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"two");
        assert_eq!(b.recv(&mut buf).unwrap(), None);
        assert_eq!(a.recv(&mut buf).unwrap(), Some(4));
        assert_eq!(&buf[..4], b"back");
    }

    #[test]
    fn a_full_queue_drops_and_a_long_packet_is_truncated() {
        let (mut a, mut b) = pair(2);
        assert!(a.send(&[1; 10]).unwrap());
        assert!(a.send(&[2; 10]).unwrap());
        assert!(!a.send(&[3; 10]).unwrap(), "third packet dropped");
        assert_eq!(b.queued(), 2);
        let mut small = [0u8; 4];
        assert_eq!(b.recv(&mut small).unwrap(), Some(4));
        assert_eq!(small, [1; 4]);
        let too_big = vec![0u8; MAX_PACKET + 1];
        assert!(matches!(a.send(&too_big), Err(IoError::TooLarge { .. })));
    }

    #[test]
    fn bursts_fill_the_batch_and_send_all() {
        let (mut a, mut b) = pair(64);
        let packets: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1 + usize::from(i)]).collect();
        let r = a.tx_burst(&packets).unwrap();
        assert_eq!((r.sent, r.dropped, r.bytes), (10, 0, 55));
        let mut batch = Batch::new(4, 64);
        assert_eq!(b.rx_burst(&mut batch).unwrap(), 4);
        assert_eq!(batch.get(3), Some(&[3u8; 4][..]));
        assert_eq!(b.rx_burst(&mut batch).unwrap(), 4);
        assert_eq!(b.rx_burst(&mut batch).unwrap(), 2);
        assert_eq!(batch.get(1), Some(&[9u8; 10][..]));
        assert_eq!(b.rx_burst(&mut batch).unwrap(), 0);
        // Dropped end: sending is a drop, not an error.
        drop(b);
        assert_eq!(a.tx_burst(&packets[..1]).unwrap().dropped, 1);
    }

    #[test]
    fn wait_wakes_on_a_packet_from_another_thread_and_keeps_it() {
        let (mut a, mut b) = pair(4);
        let t = std::thread::spawn(move || {
            std::thread::sleep(StdDuration::from_millis(20));
            a.send(b"late").unwrap();
            a
        });
        let start = StdInstant::now();
        b.wait(StdDuration::from_secs(5)).unwrap();
        assert!(
            start.elapsed() < StdDuration::from_secs(4),
            "woken by the packet"
        );
        let mut buf = [0u8; 8];
        assert_eq!(b.recv(&mut buf).unwrap(), Some(4));
        assert_eq!(&buf[..4], b"late");
        let _a = t.join().unwrap();
        // Nothing queued: wait sleeps for the timeout.
        let start = StdInstant::now();
        b.wait(StdDuration::from_millis(10)).unwrap();
        assert!(start.elapsed() >= StdDuration::from_millis(10));
    }
}
