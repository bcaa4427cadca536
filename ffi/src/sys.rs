//! The C functions this crate calls: DPDK's exported ones and the shim's wrappers of its
//! `static inline` ones (shim/vany_shim.c), declared by hand for DPDK 22.11's ABI.
//!
//! Built without DPDK, the same names are stubs that report failure; they are never
//! reached, because nothing can be called before [`crate::Eal::init`], which then
//! returns [`crate::DpdkError::NotBuilt`].

#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `struct rte_mempool`, opaque.
#[repr(C)]
pub struct RteMempool {
    _opaque: [u8; 0],
}

/// `struct rte_mbuf`, opaque (read through the shim's accessors).
#[repr(C)]
pub struct RteMbuf {
    _opaque: [u8; 0],
}

/// `struct rte_ether_addr` (6 bytes, 2-aligned).
#[repr(C, align(2))]
#[derive(Default)]
pub struct EtherAddr {
    /// The address.
    pub bytes: [u8; 6],
}

/// `SOCKET_ID_ANY`.
pub const SOCKET_ID_ANY: c_int = -1;

#[cfg(vany_dpdk)]
extern "C" {
    pub fn rte_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    pub fn rte_strerror(errnum: c_int) -> *const c_char;
    pub fn rte_pktmbuf_pool_create(
        name: *const c_char,
        n: c_uint,
        cache_size: c_uint,
        priv_size: u16,
        data_room_size: u16,
        socket_id: c_int,
    ) -> *mut RteMempool;
    pub fn rte_mempool_free(mp: *mut RteMempool);
    pub fn rte_mempool_avail_count(mp: *const RteMempool) -> c_uint;
    pub fn rte_mempool_in_use_count(mp: *const RteMempool) -> c_uint;
    pub fn rte_eth_dev_count_avail() -> u16;
    pub fn rte_eth_dev_get_port_by_name(name: *const c_char, port_id: *mut u16) -> c_int;
    pub fn rte_eth_dev_is_valid_port(port_id: u16) -> c_int;
    pub fn rte_eth_dev_socket_id(port_id: u16) -> c_int;
    pub fn rte_eth_dev_adjust_nb_rx_tx_desc(
        port_id: u16,
        nb_rx_desc: *mut u16,
        nb_tx_desc: *mut u16,
    ) -> c_int;
    pub fn rte_eth_rx_queue_setup(
        port_id: u16,
        rx_queue_id: u16,
        nb_rx_desc: u16,
        socket_id: c_uint,
        rx_conf: *const c_void,
        mb_pool: *mut RteMempool,
    ) -> c_int;
    pub fn rte_eth_tx_queue_setup(
        port_id: u16,
        tx_queue_id: u16,
        nb_tx_desc: u16,
        socket_id: c_uint,
        tx_conf: *const c_void,
    ) -> c_int;
    pub fn rte_eth_dev_start(port_id: u16) -> c_int;
    pub fn rte_eth_dev_stop(port_id: u16) -> c_int;
    pub fn rte_eth_dev_close(port_id: u16) -> c_int;
    pub fn rte_eth_macaddr_get(port_id: u16, mac: *mut EtherAddr) -> c_int;
    pub fn rte_eth_promiscuous_enable(port_id: u16) -> c_int;
    pub fn rte_thread_register() -> c_int;
    pub fn rte_thread_unregister();

    pub fn vany_rte_errno() -> c_int;
    pub fn vany_rx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
    pub fn vany_tx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
    pub fn vany_pktmbuf_alloc(mp: *mut RteMempool) -> *mut RteMbuf;
    pub fn vany_pktmbuf_alloc_bulk(
        mp: *mut RteMempool,
        mbufs: *mut *mut RteMbuf,
        count: c_uint,
    ) -> c_int;
    pub fn vany_pktmbuf_free(m: *mut RteMbuf);
    pub fn vany_pktmbuf_free_bulk(mbufs: *mut *mut RteMbuf, count: c_uint);
    pub fn vany_pktmbuf_data(m: *mut RteMbuf) -> *mut c_void;
    pub fn vany_pktmbuf_data_len(m: *const RteMbuf) -> u16;
    pub fn vany_pktmbuf_pkt_len(m: *const RteMbuf) -> u32;
    pub fn vany_pktmbuf_nb_segs(m: *const RteMbuf) -> u16;
    pub fn vany_pktmbuf_tailroom(m: *const RteMbuf) -> u16;
    pub fn vany_pktmbuf_append(m: *mut RteMbuf, len: u16) -> *mut c_char;
    pub fn vany_pktmbuf_reset(m: *mut RteMbuf);
    pub fn vany_mbufs_rx_info(
        m: *mut *mut RteMbuf,
        n: u16,
        data: *mut *mut u8,
        len: *mut u16,
        segs: *mut u16,
    );
    pub fn vany_mbufs_data(m: *mut *mut RteMbuf, n: c_uint, data: *mut *mut u8);
    pub fn vany_mbufs_set_len(m: *mut *mut RteMbuf, len: *const u16, n: c_uint);
    pub fn vany_port_configure(port: u16, nb_rx: u16, nb_tx: u16, rss_hf: *mut u64) -> c_int;
    pub fn vany_port_info(port: u16, out: *mut [u64; 3]) -> c_int;
    pub fn vany_port_stats(port: u16, out: *mut [u64; 6]) -> c_int;
}

#[cfg(not(vany_dpdk))]
pub use stubs::*;

/// Stand-ins with DPDK's signatures that fail (`-ENOTSUP`, null, zero).
#[cfg(not(vany_dpdk))]
#[allow(clippy::missing_safety_doc)]
mod stubs {
    use super::*;
    const ENOTSUP: c_int = -95;
    macro_rules! stub {
        ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $val:expr;)*) => {
            $(pub unsafe fn $name($($arg: $ty),*) -> $ret { $(let _ = $arg;)* $val })*
        };
    }
    stub! {
        fn rte_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int = -1;
        fn rte_strerror(errnum: c_int) -> *const c_char = c"DPDK not built in".as_ptr();
        fn rte_pktmbuf_pool_create(name: *const c_char, n: c_uint, cache_size: c_uint,
            priv_size: u16, data_room_size: u16, socket_id: c_int) -> *mut RteMempool
            = std::ptr::null_mut();
        fn rte_mempool_free(mp: *mut RteMempool) -> () = ();
        fn rte_mempool_avail_count(mp: *const RteMempool) -> c_uint = 0;
        fn rte_mempool_in_use_count(mp: *const RteMempool) -> c_uint = 0;
        fn rte_eth_dev_count_avail() -> u16 = 0;
        fn rte_eth_dev_get_port_by_name(name: *const c_char, port_id: *mut u16) -> c_int = ENOTSUP;
        fn rte_eth_dev_is_valid_port(port_id: u16) -> c_int = 0;
        fn rte_eth_dev_socket_id(port_id: u16) -> c_int = SOCKET_ID_ANY;
        fn rte_eth_dev_adjust_nb_rx_tx_desc(port_id: u16, nb_rx_desc: *mut u16,
            nb_tx_desc: *mut u16) -> c_int = ENOTSUP;
        fn rte_eth_rx_queue_setup(port_id: u16, rx_queue_id: u16, nb_rx_desc: u16,
            socket_id: c_uint, rx_conf: *const c_void, mb_pool: *mut RteMempool) -> c_int = ENOTSUP;
        fn rte_eth_tx_queue_setup(port_id: u16, tx_queue_id: u16, nb_tx_desc: u16,
            socket_id: c_uint, tx_conf: *const c_void) -> c_int = ENOTSUP;
        fn rte_eth_dev_start(port_id: u16) -> c_int = ENOTSUP;
        fn rte_eth_dev_stop(port_id: u16) -> c_int = ENOTSUP;
        fn rte_eth_dev_close(port_id: u16) -> c_int = ENOTSUP;
        fn rte_eth_macaddr_get(port_id: u16, mac: *mut EtherAddr) -> c_int = ENOTSUP;
        fn rte_eth_promiscuous_enable(port_id: u16) -> c_int = ENOTSUP;
        fn rte_thread_register() -> c_int = -1;
        fn rte_thread_unregister() -> () = ();
        fn vany_rte_errno() -> c_int = 95;
        fn vany_rx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16 = 0;
        fn vany_tx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16 = 0;
        fn vany_pktmbuf_alloc(mp: *mut RteMempool) -> *mut RteMbuf = std::ptr::null_mut();
        fn vany_pktmbuf_alloc_bulk(mp: *mut RteMempool, mbufs: *mut *mut RteMbuf,
            count: c_uint) -> c_int = ENOTSUP;
        fn vany_pktmbuf_free(m: *mut RteMbuf) -> () = ();
        fn vany_pktmbuf_free_bulk(mbufs: *mut *mut RteMbuf, count: c_uint) -> () = ();
        fn vany_pktmbuf_data(m: *mut RteMbuf) -> *mut c_void = std::ptr::null_mut();
        fn vany_pktmbuf_data_len(m: *const RteMbuf) -> u16 = 0;
        fn vany_pktmbuf_pkt_len(m: *const RteMbuf) -> u32 = 0;
        fn vany_pktmbuf_nb_segs(m: *const RteMbuf) -> u16 = 0;
        fn vany_pktmbuf_tailroom(m: *const RteMbuf) -> u16 = 0;
        fn vany_pktmbuf_append(m: *mut RteMbuf, len: u16) -> *mut c_char = std::ptr::null_mut();
        fn vany_pktmbuf_reset(m: *mut RteMbuf) -> () = ();
        fn vany_mbufs_rx_info(m: *mut *mut RteMbuf, n: u16, data: *mut *mut u8,
            len: *mut u16, segs: *mut u16) -> () = ();
        fn vany_mbufs_data(m: *mut *mut RteMbuf, n: c_uint, data: *mut *mut u8) -> () = ();
        fn vany_mbufs_set_len(m: *mut *mut RteMbuf, len: *const u16, n: c_uint) -> () = ();
        fn vany_port_configure(port: u16, nb_rx: u16, nb_tx: u16, rss_hf: *mut u64) -> c_int
            = ENOTSUP;
        fn vany_port_info(port: u16, out: *mut [u64; 3]) -> c_int = ENOTSUP;
        fn vany_port_stats(port: u16, out: *mut [u64; 6]) -> c_int = ENOTSUP;
    }
}
