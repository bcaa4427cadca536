//! One rx/tx queue pair of a started port, for one thread.

use std::sync::Arc;

use crate::batch::{RxBatch, TxBatch};
use crate::mempool::Mempool;
use crate::port::Device;
use crate::{DpdkError, PortStats};

/// Exclusive use of queue pair k of a started port ([`Port::into_queues`]): `Send`, so
/// that each queue of a port can be driven by its own thread, sharing nothing on the data
/// path (no lock per burst). The device is stopped and closed when the last handle of
/// the port drops; then the pools that may still have mbufs in its rings go.
///
/// A thread that bursts on a queue should be registered with DPDK
/// ([`Eal::register_thread`](crate::Eal::register_thread)) for the mempools' per-core
/// caches.
///
/// [`Port::into_queues`]: crate::Port::into_queues
#[derive(Debug)]
pub struct PortQueue {
    dev: Arc<Device>,
    queue: u16,
    /// Pools this handle knows `dev` keeps alive.
    known: Vec<Mempool>,
}

// Each queue moves to its own thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<PortQueue>();
};

impl PortQueue {
    /// Queue `queue` of `dev`; made once per queue, by `Port::into_queues` only.
    pub(crate) fn new(dev: Arc<Device>, queue: u16, known: Vec<Mempool>) -> PortQueue {
        PortQueue { dev, queue, known }
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.dev.id
    }

    /// The name the port was opened by.
    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// This handle's queue pair.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// The port's queue pairs.
    pub fn queues(&self) -> u16 {
        self.dev.queues
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.dev.mac
    }

    /// The RSS hash types enabled on the port (`RTE_ETH_RSS_*` bits; 0: none).
    pub fn rss_hash_types(&self) -> u64 {
        self.dev.rss
    }

    /// Receives up to `batch.capacity()` frames from this queue into `batch` (whose
    /// previous mbufs go back to their pool first). Returns how many.
    pub fn rx_burst(&mut self, batch: &mut RxBatch) -> usize {
        // SAFETY: `Port::into_queues` makes exactly one `PortQueue` per queue of the
        // device (and no `Port` is left), `PortQueue` is not `Clone`, and `&mut self`
        // makes this call the handle's only burst: no other thread uses this queue.
        // Other threads may burst on the port's other queues meanwhile: DPDK's burst
        // functions are safe across different queues of one port.
        unsafe { self.dev.rx_burst(self.queue, batch) }
    }

    /// Hands the mbufs of `batch` to this queue, in order; returns how many the device
    /// took. Those leave the batch; the rest stay in it, in order. A pool this handle
    /// has not sent from before is registered with the device (one lock, the first time
    /// only) so that it outlives the device.
    pub fn tx_burst(&mut self, batch: &mut TxBatch) -> usize {
        // SAFETY: as in `rx_burst`: this handle is its queue's only user, and other
        // queues of the port may be used by other threads meanwhile.
        unsafe { self.dev.tx_burst(self.queue, &mut self.known, batch) }
    }

    /// The port's counters (all queues together).
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        self.dev.stats()
    }
}
