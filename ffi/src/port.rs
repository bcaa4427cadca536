//! Ethernet ports: configure, start, burst, stop.

use std::ffi::{c_int, c_uint, CString};
use std::sync::Mutex;

use crate::batch::{RxBatch, TxBatch};
use crate::error::strerror;
use crate::mempool::Mempool;
use crate::sys::{self, EtherAddr};
use crate::{DpdkError, Eal};

/// Port ids opened by a [`Port`] in this process.
static IN_USE: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Queues and ring sizes of a [`Port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive/transmit queue pairs (1 to 128).
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

/// A started Ethernet device with [`PortConfig::queues`] rx/tx queue pairs, its receive
/// rings filled from one [`Mempool`]. Stopped and closed on `Drop`.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    queues: u16,
    mac: [u8; 6],
    /// The receive pool, and every pool whose mbufs were handed to a transmit ring: they
    /// must outlive the device, which frees sent mbufs later.
    pools: Vec<Mempool>,
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
    /// Finds device `name` (a `--vdev` name such as `net_null0`, a PCI address, or a port
    /// id in decimal), sets it up with `config` and `pool` and starts it.
    pub fn open(
        _eal: &Eal,
        name: &str,
        pool: &Mempool,
        config: &PortConfig,
    ) -> Result<Port, DpdkError> {
        if config.queues == 0 || config.queues > 128 || config.rx_ring == 0 || config.tx_ring == 0 {
            return Err(DpdkError::BadConfig(format!(
                "{} queue pairs, rings of {}/{} descriptors (1-128 queues, rings of at least 1)",
                config.queues, config.rx_ring, config.tx_ring
            )));
        }
        let id = find(name)?;
        {
            let mut used = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
            if used.contains(&id) {
                return Err(DpdkError::PortInUse { port: id });
            }
            used.push(id);
        }
        let mut port = Port {
            id,
            name: name.into(),
            queues: config.queues,
            mac: [0; 6],
            pools: vec![pool.clone()],
        };
        // On error `port` is dropped: stop/close on a half-configured device is harmless.
        port.setup(config)?;
        Ok(port)
    }

    fn setup(&mut self, config: &PortConfig) -> Result<(), DpdkError> {
        let id = self.id;
        let q = config.queues;
        // SAFETY: id is a valid port (find); the shim passes a zeroed rte_eth_conf.
        let rc = unsafe { sys::vany_port_configure(id, q, q) };
        if rc < 0 {
            return Err(port_err(id, "configure", rc));
        }
        let (mut rx_ring, mut tx_ring) = (config.rx_ring, config.tx_ring);
        // SAFETY: valid port; both pointers are to live u16s.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_ring, &mut tx_ring) };
        if rc < 0 {
            return Err(port_err(id, "adjust ring sizes", rc));
        }
        // SAFETY: valid port; no precondition.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as c_uint };
        for queue in 0..q {
            // SAFETY: valid port, queue < configured count, default rxconf (NULL); the
            // pool lives as long as the port (`self.pools`).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    queue,
                    rx_ring,
                    socket,
                    std::ptr::null(),
                    self.pools[0].raw(),
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

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The name it was opened by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queue pairs.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Receives up to `batch.capacity()` frames from `queue` into `batch` (whose previous
    /// mbufs go back to their pool first). Returns how many. A queue id past the
    /// configured ones receives nothing.
    pub fn rx_burst(&mut self, queue: u16, batch: &mut RxBatch) -> usize {
        batch.clear();
        if queue >= self.queues {
            return 0;
        }
        if !batch.pool.as_ref().is_some_and(|p| p.same(&self.pools[0])) {
            batch.pool = Some(self.pools[0].clone());
        }
        let cap = batch.mbufs.len().min(usize::from(u16::MAX)) as u16;
        // SAFETY: valid started port and queue; `&mut self` makes this the queue's only
        // user; the array has room for `cap` pointers. The mbufs received belong to the
        // batch, which keeps their pool alive.
        let n = unsafe { sys::vany_rx_burst(self.id, queue, batch.mbufs.as_mut_ptr(), cap) };
        batch.filled(usize::from(n));
        batch.len
    }

    /// Hands the mbufs of `batch` to transmit queue `queue`, in order; returns how many the
    /// device took. Those leave the batch; the rest stay in it, in order (send again, or
    /// let `clear`/`Drop` return them).
    pub fn tx_burst(&mut self, queue: u16, batch: &mut TxBatch) -> usize {
        if queue >= self.queues || batch.is_empty() {
            return 0;
        }
        for pool in std::iter::once(&batch.pool).chain(&batch.foreign) {
            if !self.pools.iter().any(|p| p.same(pool)) {
                self.pools.push(pool.clone());
            }
        }
        batch.seal();
        let n = batch.len.min(usize::from(u16::MAX)) as u16;
        // SAFETY: valid started port and queue, used only through `&mut self`; the first n
        // pointers are live mbufs the batch owns. Those the device takes are its own now
        // (consume_front forgets them); their pool outlives the device (`self.pools`).
        let sent = unsafe { sys::vany_tx_burst(self.id, queue, batch.mbufs.as_mut_ptr(), n) };
        batch.consume_front(usize::from(sent));
        usize::from(sent)
    }

    /// The device's counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut out = [0u64; 6];
        // SAFETY: valid port; `out` is a live array of six u64.
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

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: valid port, used by nobody else (`&mut self`); stop then close frees the
        // mbufs still in its rings, whose pools are still alive (`self.pools` drops after).
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
