//! Pools of packet buffers.

use std::ffi::{c_uint, CString};
use std::sync::Arc;

use crate::error::{rte_errno, strerror};
use crate::sys::{self, RteMempool};
use crate::{DpdkError, Eal};

/// DPDK's `RTE_PKTMBUF_HEADROOM` (Debian's build): room kept before the packet data.
pub const HEADROOM: u16 = 128;
/// `RTE_MBUF_DEFAULT_BUF_SIZE`: 2048 bytes of packet data after the headroom.
pub const DEFAULT_DATA_ROOM: u16 = 2048 + HEADROOM;

#[derive(Debug)]
struct Inner {
    raw: *mut RteMempool,
    name: String,
    data_room: u16,
}

// SAFETY: a DPDK mempool is made for concurrent use: its default ring is multi-producer/
// multi-consumer and threads without an lcore id bypass the per-lcore caches. `Inner`
// only frees it when the last reference goes.
unsafe impl Send for Inner {}
// SAFETY: as above; `&Inner` only reads counters or takes/returns mbufs, all thread-safe.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: `raw` came from rte_pktmbuf_pool_create and this is its last owner:
        // every batch and port holding its mbufs holds a reference too, so no mbuf of it
        // is in use any more.
        unsafe { sys::rte_mempool_free(self.raw) }
    }
}

/// A pool of mbufs (packet buffers), shared by reference counting: ports and batches
/// that hold its mbufs keep it alive.
#[derive(Debug, Clone)]
pub struct Mempool {
    inner: Arc<Inner>,
}

impl Mempool {
    /// A pool of `mbufs` buffers of 2048 data bytes each, with a per-lcore cache of
    /// `cache` buffers (at most 512; 0 for none). `name` must be unique in the process.
    pub fn new(_eal: &Eal, name: &str, mbufs: u32, cache: u32) -> Result<Mempool, DpdkError> {
        Mempool::with_data_room(_eal, name, mbufs, cache, DEFAULT_DATA_ROOM)
    }

    /// As [`new`](Mempool::new) with `data_room` bytes per buffer (headroom included).
    pub fn with_data_room(
        _eal: &Eal,
        name: &str,
        mbufs: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool, DpdkError> {
        let err = |errno: i32| DpdkError::Mempool {
            name: name.into(),
            mbufs,
            errno,
            message: strerror(errno),
        };
        let c_name = CString::new(name).map_err(|_| err(22))?;
        if data_room <= HEADROOM || mbufs == 0 {
            return Err(err(22));
        }
        // SAFETY: c_name is a valid C string for the call; the numbers are plain values
        // DPDK checks (it fails with rte_errno set on bad ones).
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                mbufs as c_uint,
                cache.min(512) as c_uint,
                0,
                data_room,
                sys::SOCKET_ID_ANY,
            )
        };
        if raw.is_null() {
            return Err(err(rte_errno()));
        }
        Ok(Mempool {
            inner: Arc::new(Inner {
                raw,
                name: name.into(),
                data_room,
            }),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most packet bytes one mbuf holds.
    pub fn max_packet(&self) -> usize {
        usize::from(self.inner.data_room - HEADROOM)
    }

    /// Buffers free in the pool (per-lcore caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: `raw` is a live mempool (we hold a reference); the call only reads.
        unsafe { sys::rte_mempool_avail_count(self.inner.raw) }
    }

    /// Buffers taken from the pool and not returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { sys::rte_mempool_in_use_count(self.inner.raw) }
    }

    pub(crate) fn raw(&self) -> *mut RteMempool {
        self.inner.raw
    }

    pub(crate) fn same(&self, other: &Mempool) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
