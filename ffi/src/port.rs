//! Ethernet ports: configure, start, burst, stop; split into per-queue handles.

use std::ffi::{c_int, c_uint, CString};
use std::sync::{Arc, Mutex};

use crate::batch::{RxBatch, TxBatch};
use crate::error::strerror;
use crate::mempool::Mempool;
use crate::queue::PortQueue;
use crate::sys::{self, EtherAddr};
use crate::{DpdkError, Eal};

/// Port ids opened by a [`Port`] in this process.
static IN_USE: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Queues and ring sizes of a [`Port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive/transmit queue pairs (1 to what the device supports,
    /// [`PortInfo::max_queue_pairs`]). With more than one, the port spreads what it
    /// receives over them by RSS on the IPv6 hash types it supports.
    pub queues: u16,
    /// Descriptors per receive ring (DPDK rounds to what the device supports).
    pub rx_ring: u16,
    /// Descriptors per transmit ring.
    pub tx_ring: u16,
    /// Receive every frame, whatever its destination MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    /// One queue pair, 1024-descriptor rings, not promiscuous.
    fn default() -> Self {
        PortConfig {
            queues: 1,
            rx_ring: 1024,
            tx_ring: 1024,
            promiscuous: false,
        }
    }
}

/// Counters of a port (rte_eth_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames the device dropped for lack of receive descriptors.
    pub rx_missed: u64,
    /// Receive mbuf allocation failures.
    pub rx_no_mbuf: u64,
}

/// What a device supports (rte_eth_dev_info), read before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The name it was looked up by.
    pub name: String,
    /// The DPDK port id.
    pub id: u16,
    /// Most receive queues.
    pub max_rx_queues: u16,
    /// Most transmit queues.
    pub max_tx_queues: u16,
    /// The RSS hash types it supports (`RTE_ETH_RSS_*` bits; 0: no RSS).
    pub rss_offloads: u64,
}

impl PortInfo {
    /// Most rx/tx queue pairs.
    pub fn max_queue_pairs(&self) -> u16 {
        self.max_rx_queues.min(self.max_tx_queues)
    }

    /// `Ok` when the device can have `queues` queue pairs; else
    /// [`DpdkError::QueueCount`], which says how many it supports.
    pub fn check_queue_pairs(&self, queues: u16) -> Result<(), DpdkError> {
        let max = self.max_queue_pairs();
        if queues == 0 || queues > max {
            return Err(DpdkError::QueueCount {
                port: self.name.clone(),
                asked: queues,
                max,
            });
        }
        Ok(())
    }
}

/// A started Ethernet device with [`PortConfig::queues`] rx/tx queue pairs, used through
/// `&mut self` on any of its queues; or split into one [`PortQueue`] per queue
/// ([`Port::into_queues`]) for one thread each. Stopped and closed when the last of
/// these handles drops.
#[derive(Debug)]
pub struct Port {
    dev: Arc<Device>,
    /// Pools this handle knows `dev` keeps alive.
    known: Vec<Mempool>,
}

/// The device behind the handles of one port: stopped and closed when the last drops.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) id: u16,
    pub(crate) name: String,
    pub(crate) queues: u16,
    pub(crate) mac: [u8; 6],
    /// The RSS hash types enabled (0: no RSS).
    pub(crate) rss: u64,
    /// Queue k's receive pool is `rx_pools[k]`.
    rx_pools: Vec<Mempool>,
    /// Every pool whose mbufs were handed to a transmit ring: they must outlive the
    /// device, which frees sent mbufs later. Locked only when a handle first sees a pool.
    tx_pools: Mutex<Vec<Mempool>>,
}

/// A negative DPDK return code as a typed error.
fn port_err(port: u16, op: &'static str, rc: c_int) -> DpdkError {
    let code = rc.saturating_abs();
    DpdkError::Port {
        port,
        op,
        code,
        message: strerror(code),
    }
}

impl Port {
    /// What device `name` (as for [`open`](Port::open)) supports, without opening it.
    pub fn info(_eal: &Eal, name: &str) -> Result<PortInfo, DpdkError> {
        let id = find(name)?;
        let mut out = [0u64; 3];
        // SAFETY: id is a valid port (find); `out` is a live array of three u64.
        let rc = unsafe { sys::vany_port_info(id, &mut out) };
        if rc < 0 {
            return Err(port_err(id, "read device info", rc));
        }
        let queues = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
        Ok(PortInfo {
            name: name.into(),
            id,
            max_rx_queues: queues(out[0]),
            max_tx_queues: queues(out[1]),
            rss_offloads: out[2],
        })
    }

    /// Finds device `name` (a `--vdev` name such as `net_null0`, a PCI address, or a port
    /// id in decimal), sets it up with `config`, every receive ring filled from `pool`,
    /// and starts it.
    pub fn open(
        eal: &Eal,
        name: &str,
        pool: &Mempool,
        config: &PortConfig,
    ) -> Result<Port, DpdkError> {
        let pools = vec![pool.clone(); usize::from(config.queues)];
        Port::open_with_pools(eal, name, &pools, config)
    }

    /// As [`open`](Port::open), with queue k's receive ring filled from `pools[k]`
    /// (one pool per queue pair: each queue's thread then takes and returns its mbufs
    /// from a pool of its own).
    pub fn open_with_pools(
        eal: &Eal,
        name: &str,
        pools: &[Mempool],
        config: &PortConfig,
    ) -> Result<Port, DpdkError> {
        if config.rx_ring == 0 || config.tx_ring == 0 {
            return Err(DpdkError::BadConfig(format!(
                "rings of {}/{} descriptors (at least 1)",
                config.rx_ring, config.tx_ring
            )));
        }
        let info = Port::info(eal, name)?;
        info.check_queue_pairs(config.queues)?;
        if pools.len() != usize::from(config.queues) {
            return Err(DpdkError::BadConfig(format!(
                "{} mempools for {} queue pairs (one per queue pair)",
                pools.len(),
                config.queues
            )));
        }
        let id = info.id;
        {
            let mut used = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
            if used.contains(&id) {
                return Err(DpdkError::PortInUse { port: id });
            }
            used.push(id);
        }
        let mut dev = Device {
            id,
            name: name.into(),
            queues: config.queues,
            mac: [0; 6],
            rss: 0,
            rx_pools: pools.to_vec(),
            tx_pools: Mutex::new(Vec::new()),
        };
        // On error `dev` is dropped: stop/close on a half-configured device is harmless.
        dev.setup(config)?;
        Ok(Port {
            dev: Arc::new(dev),
            known: Vec::new(),
        })
    }

    /// Splits the port into one handle per queue pair (queue k at index k), each for its
    /// own thread. The device stays up until the last handle drops.
    pub fn into_queues(self) -> Vec<PortQueue> {
        (0..self.dev.queues)
            .map(|q| PortQueue::new(Arc::clone(&self.dev), q, self.known.clone()))
            .collect()
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.dev.id
    }

    /// The name it was opened by.
    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// Queue pairs.
    pub fn queues(&self) -> u16 {
        self.dev.queues
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.dev.mac
    }

    /// The RSS hash types enabled (`RTE_ETH_RSS_*` bits): 0 with one queue pair, or when
    /// the device supports none of the IPv6 ones.
    pub fn rss_hash_types(&self) -> u64 {
        self.dev.rss
    }

    /// Receives up to `batch.capacity()` frames from `queue` into `batch` (whose previous
    /// mbufs go back to their pool first). Returns how many. A queue id past the
    /// configured ones receives nothing.
    pub fn rx_burst(&mut self, queue: u16, batch: &mut RxBatch) -> usize {
        if queue >= self.dev.queues {
            batch.clear();
            return 0;
        }
        // SAFETY: a `Port` is the only handle of its device (`into_queues` consumes it,
        // and only it makes `PortQueue`s), and `&mut self` makes this call its only
        // burst: nobody else uses `queue`.
        unsafe { self.dev.rx_burst(queue, batch) }
    }

    /// Hands the mbufs of `batch` to transmit queue `queue`, in order; returns how many the
    /// device took. Those leave the batch; the rest stay in it, in order (send again, or
    /// let `clear`/`Drop` return them).
    pub fn tx_burst(&mut self, queue: u16, batch: &mut TxBatch) -> usize {
        if queue >= self.dev.queues {
            return 0;
        }
        // SAFETY: as in `rx_burst`: this handle is the device's only one, `&mut self` its
        // only user.
        unsafe { self.dev.tx_burst(queue, &mut self.known, batch) }
    }

    /// The device's counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        self.dev.stats()
    }
}

impl Device {
    fn setup(&mut self, config: &PortConfig) -> Result<(), DpdkError> {
        let id = self.id;
        let q = config.queues;
        let mut rss = 0u64;
        // SAFETY: id is a valid port (find), not started; `rss` is a live u64. The shim
        // passes a zeroed rte_eth_conf, with RSS set only from what the device reports.
        let rc = unsafe { sys::vany_port_configure(id, q, q, &mut rss) };
        if rc < 0 {
            return Err(port_err(id, "configure", rc));
        }
        self.rss = rss;
        let (mut rx_ring, mut tx_ring) = (config.rx_ring, config.tx_ring);
        // SAFETY: valid port; both pointers are to live u16s.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_ring, &mut tx_ring) };
        if rc < 0 {
            return Err(port_err(id, "adjust ring sizes", rc));
        }
        // SAFETY: valid port; no precondition.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as c_uint };
        for (queue, pool) in (0..q).zip(&self.rx_pools) {
            // SAFETY: valid port, queue < configured count, default rxconf (NULL); the
            // pool lives as long as the device (`self.rx_pools`).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    queue,
                    rx_ring,
                    socket,
                    std::ptr::null(),
                    pool.raw(),
                )
            };
            if rc < 0 {
                return Err(port_err(id, "rx queue setup", rc));
            }
            // SAFETY: as above, default txconf (NULL).
            let rc = unsafe {
                sys::rte_eth_tx_queue_setup(id, queue, tx_ring, socket, std::ptr::null())
            };
            if rc < 0 {
                return Err(port_err(id, "tx queue setup", rc));
            }
        }
        if config.promiscuous {
            // SAFETY: valid port. Some virtual devices do not support it: not fatal.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        // SAFETY: valid, configured port.
        let rc = unsafe { sys::rte_eth_dev_start(id) };
        if rc < 0 {
            return Err(port_err(id, "start", rc));
        }
        let mut mac = EtherAddr::default();
        // SAFETY: valid port; `mac` is a live, 2-aligned rte_ether_addr.
        let rc = unsafe { sys::rte_eth_macaddr_get(id, &mut mac) };
        if rc < 0 {
            return Err(port_err(id, "read MAC address", rc));
        }
        self.mac = mac.bytes;
        Ok(())
    }

    /// Receives into `batch` from `queue`, its previous mbufs freed (nothing from a queue
    /// past the configured ones).
    ///
    /// # Safety
    ///
    /// No other thread may be in a burst on `queue` of this device during the call:
    /// DPDK's burst functions keep per-queue state and are not thread-safe on one queue.
    /// Bursts on *different* queues of one port from different threads are fine (each
    /// queue's rings and counters are its own).
    pub(crate) unsafe fn rx_burst(&self, queue: u16, batch: &mut RxBatch) -> usize {
        batch.clear();
        let Some(pool) = self.rx_pools.get(usize::from(queue)) else {
            return 0;
        };
        if !batch.pool.as_ref().is_some_and(|p| p.same(pool)) {
            batch.pool = Some(pool.clone());
        }
        let cap = batch.mbufs.len().min(usize::from(u16::MAX)) as u16;
        // SAFETY: valid started port (the device lives while `self` does) and queue; the
        // caller guarantees nobody else uses this queue meanwhile, and other queues may
        // be in use by other threads (DPDK allows that). The array has room for `cap`
        // pointers. The mbufs received belong to the batch, which keeps their pool alive.
        let n = unsafe { sys::vany_rx_burst(self.id, queue, batch.mbufs.as_mut_ptr(), cap) };
        batch.filled(usize::from(n));
        batch.len
    }

    /// Hands `batch` to transmit `queue`; how many the device took (none on a queue past
    /// the configured ones).
    /// `known`: the pools this handle already registered in `tx_pools`.
    ///
    /// # Safety
    ///
    /// As for [`rx_burst`](Device::rx_burst): no other thread may be in a burst on
    /// `queue` of this device during the call.
    pub(crate) unsafe fn tx_burst(
        &self,
        queue: u16,
        known: &mut Vec<Mempool>,
        batch: &mut TxBatch,
    ) -> usize {
        if queue >= self.queues || batch.is_empty() {
            return 0;
        }
        for pool in std::iter::once(&batch.pool).chain(&batch.foreign) {
            if !known.iter().any(|p| p.same(pool)) {
                self.keep_pool(pool);
                known.push(pool.clone());
            }
        }
        batch.seal();
        let n = batch.len.min(usize::from(u16::MAX)) as u16;
        // SAFETY: valid started port and queue, used by nobody else meanwhile (the
        // caller's guarantee; other threads may burst on other queues, which DPDK
        // allows); the first n pointers are live mbufs the batch owns. Those the device
        // takes are its own now (consume_front forgets them); their pools outlive the
        // device (`tx_pools`, registered above).
        let sent = unsafe { sys::vany_tx_burst(self.id, queue, batch.mbufs.as_mut_ptr(), n) };
        batch.consume_front(usize::from(sent));
        usize::from(sent)
    }

    /// Keeps `pool` alive as long as the device (its mbufs may wait in a transmit ring).
    fn keep_pool(&self, pool: &Mempool) {
        let mut pools = self.tx_pools.lock().unwrap_or_else(|p| p.into_inner());
        if !pools.iter().any(|p| p.same(pool)) {
            pools.push(pool.clone());
        }
    }

    /// The device's counters (port-wide: every queue's).
    pub(crate) fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut out = [0u64; 6];
        // SAFETY: valid port; `out` is a live array of six u64. Reading the counters
        // while other threads burst on the port's queues is what DPDK's own tools do
        // (testpmd's stats); a read may be a burst behind.
        let rc = unsafe { sys::vany_port_stats(self.id, &mut out) };
        if rc < 0 {
            return Err(port_err(self.id, "read stats", rc));
        }
        Ok(PortStats {
            rx_packets: out[0],
            tx_packets: out[1],
            rx_bytes: out[2],
            tx_bytes: out[3],
            rx_missed: out[4],
            rx_no_mbuf: out[5],
        })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: valid port. This is the last handle's drop (every `Port` and
        // `PortQueue` holds the device through an Arc), so no thread is in a burst on
        // any of its queues. Stop then close frees the mbufs still in its rings, whose
        // pools are still alive (`rx_pools` and `tx_pools` drop after this).
        unsafe {
            let _ = sys::rte_eth_dev_stop(self.id);
            let _ = sys::rte_eth_dev_close(self.id);
        }
        let mut used = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|&p| p != self.id);
    }
}

/// The port id of `name` (device name or decimal id).
fn find(name: &str) -> Result<u16, DpdkError> {
    // SAFETY: no precondition.
    let available = unsafe { sys::rte_eth_dev_count_avail() };
    let not_found = || DpdkError::PortNotFound {
        name: name.into(),
        available,
    };
    if let Ok(id) = name.parse::<u16>() {
        // SAFETY: no precondition; checks the id.
        return if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 1 {
            Ok(id)
        } else {
            Err(not_found())
        };
    }
    let c_name = CString::new(name).map_err(|_| not_found())?;
    let mut id = 0u16;
    // SAFETY: c_name is a valid C string, `id` a live u16.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
    if rc < 0 {
        return Err(not_found());
    }
    Ok(id)
}
