//! Bursts of mbufs: what a receive burst filled, or buffers to build frames in.

use std::ffi::c_uint;

use crate::mempool::Mempool;
use crate::sys::{self, RteMbuf};
use crate::DpdkError;

/// The largest burst a batch holds.
pub const MAX_BURST: usize = 1024;

/// Frees `mbufs` (each a live mbuf owned by the caller).
fn free_all(mbufs: &mut [*mut RteMbuf]) {
    if mbufs.is_empty() {
        return;
    }
    // SAFETY: every pointer is a live mbuf this batch owns (received or allocated, not
    // yet handed to a port); the caller forgets them right after.
    unsafe { sys::vany_pktmbuf_free_bulk(mbufs.as_mut_ptr(), mbufs.len() as c_uint) }
}

/// The data of the first segment of `m`.
///
/// # Safety
/// `m` is a live mbuf owned by the caller for at least `'a`.
unsafe fn data<'a>(m: *mut RteMbuf) -> &'a mut [u8] {
    // SAFETY: `m` is live (caller); data pointer and data_len describe the bytes of its
    // first segment, inside its buffer, owned by whoever owns the mbuf.
    unsafe {
        let ptr = sys::vany_pktmbuf_data(m).cast::<u8>();
        let len = usize::from(sys::vany_pktmbuf_data_len(m));
        if ptr.is_null() || len == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(ptr, len)
    }
}

/// The mbufs of one receive burst ([`Port::rx_burst`](crate::Port::rx_burst)). Each
/// packet is read where the NIC wrote it. Reused across bursts; every mbuf goes back to
/// its pool on the next burst, [`clear`](RxBatch::clear) or `Drop`.
#[derive(Debug)]
pub struct RxBatch {
    pub(crate) mbufs: Box<[*mut RteMbuf]>,
    pub(crate) len: usize,
    /// Keeps the pool of the held mbufs alive.
    pub(crate) pool: Option<Mempool>,
}

// SAFETY: the batch owns its mbufs exclusively; an mbuf may be freed from any thread
// (mempools are thread-safe), and the pool reference is Send.
unsafe impl Send for RxBatch {}

impl RxBatch {
    /// A batch for bursts of up to `capacity` packets (1 to [`MAX_BURST`]).
    pub fn new(capacity: usize) -> RxBatch {
        RxBatch {
            mbufs: vec![std::ptr::null_mut(); capacity.clamp(1, MAX_BURST)].into(),
            len: 0,
            pool: None,
        }
    }

    /// Most packets per burst.
    pub fn capacity(&self) -> usize {
        self.mbufs.len()
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Packet `i` (its first segment: ports are configured without scatter, so a frame
    /// that fits the mbuf's data room is one segment).
    pub fn packet(&self, i: usize) -> Option<&[u8]> {
        let m = *self.mbufs[..self.len].get(i)?;
        // SAFETY: m is a live mbuf this batch owns until it is freed through `&mut self`,
        // which the returned borrow of `self` prevents.
        Some(unsafe { data(m) })
    }

    /// Whether packet `i` spans more than one segment (then [`packet`](RxBatch::packet)
    /// is only its first part).
    pub fn is_segmented(&self, i: usize) -> bool {
        self.mbufs[..self.len].get(i).is_some_and(|&m| {
            // SAFETY: m is a live mbuf owned by the batch; the call only reads.
            unsafe { sys::vany_pktmbuf_nb_segs(m) > 1 }
        })
    }

    /// The packets, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len).filter_map(|i| self.packet(i))
    }

    /// Returns every mbuf to its pool.
    pub fn clear(&mut self) {
        free_all(&mut self.mbufs[..self.len]);
        self.len = 0;
    }
}

impl Drop for RxBatch {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Mbufs taken from one [`Mempool`] to build frames in, sent with
/// [`Port::tx_burst`](crate::Port::tx_burst). What was not sent stays in the batch and
/// goes back to the pool on [`clear`](TxBatch::clear) or `Drop`.
#[derive(Debug)]
pub struct TxBatch {
    pub(crate) mbufs: Box<[*mut RteMbuf]>,
    pub(crate) len: usize,
    pub(crate) pool: Mempool,
}

// SAFETY: as for RxBatch.
unsafe impl Send for TxBatch {}

impl TxBatch {
    /// A batch of up to `capacity` (1 to [`MAX_BURST`]) mbufs from `pool`.
    pub fn new(pool: &Mempool, capacity: usize) -> TxBatch {
        TxBatch {
            mbufs: vec![std::ptr::null_mut(); capacity.clamp(1, MAX_BURST)].into(),
            len: 0,
            pool: pool.clone(),
        }
    }

    /// Most mbufs held.
    pub fn capacity(&self) -> usize {
        self.mbufs.len()
    }

    /// Mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no mbuf is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.len == self.mbufs.len()
    }

    /// The pool the mbufs come from.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Takes one mbuf from the pool, `len` bytes long, and returns its data to fill in
    /// (its content is whatever the buffer held before). `Ok(None)` when the batch is full.
    pub fn push(&mut self, len: usize) -> Result<Option<&mut [u8]>, DpdkError> {
        if self.is_full() {
            return Ok(None);
        }
        let max = self.pool.max_packet();
        let len16 = u16::try_from(len)
            .ok()
            .filter(|&l| usize::from(l) <= max)
            .ok_or(DpdkError::TooLarge { len, max })?;
        // SAFETY: the pool is live (we hold a reference).
        let m = unsafe { sys::vany_pktmbuf_alloc(self.pool.raw()) };
        if m.is_null() {
            return Err(DpdkError::PoolExhausted {
                name: self.pool.name().into(),
            });
        }
        // SAFETY: m is a fresh mbuf we own, reset by alloc, with `max` >= len bytes of
        // tailroom.
        let appended = unsafe { sys::vany_pktmbuf_append(m, len16) };
        if appended.is_null() && len16 > 0 {
            // SAFETY: m is ours and not stored anywhere.
            unsafe { sys::vany_pktmbuf_free(m) };
            return Err(DpdkError::TooLarge { len, max });
        }
        self.mbufs[self.len] = m;
        self.len += 1;
        // SAFETY: m is a live mbuf owned by the batch; the borrow of `self` keeps it so.
        Ok(Some(unsafe { data(m) }))
    }

    /// Takes up to `count` mbufs of `len` bytes at once (one bulk allocation), as many as
    /// fit the batch; returns how many were added.
    pub fn alloc_bulk(&mut self, count: usize, len: usize) -> Result<usize, DpdkError> {
        let max = self.pool.max_packet();
        let len16 = u16::try_from(len)
            .ok()
            .filter(|&l| usize::from(l) <= max)
            .ok_or(DpdkError::TooLarge { len, max })?;
        let n = count.min(self.mbufs.len() - self.len);
        if n == 0 {
            return Ok(0);
        }
        let slots = &mut self.mbufs[self.len..self.len + n];
        // SAFETY: `slots` has room for n pointers; the pool is live.
        let rc = unsafe {
            sys::vany_pktmbuf_alloc_bulk(self.pool.raw(), slots.as_mut_ptr(), n as c_uint)
        };
        if rc != 0 {
            return Err(DpdkError::PoolExhausted {
                name: self.pool.name().into(),
            });
        }
        for &m in slots.iter() {
            // SAFETY: each m is a fresh mbuf we own with `max` >= len bytes of tailroom,
            // so the append cannot fail.
            unsafe { sys::vany_pktmbuf_append(m, len16) };
        }
        self.len += n;
        Ok(n)
    }

    /// The data of mbuf `i`.
    pub fn packet_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let m = *self.mbufs[..self.len].get(i)?;
        // SAFETY: m is a live mbuf owned by the batch; the `&mut self` borrow keeps it.
        Some(unsafe { data(m) })
    }

    /// Shortens mbuf `i` to `len` bytes (no-op if it is not longer).
    pub fn truncate(&mut self, i: usize, len: usize) {
        if let Some(&m) = self.mbufs[..self.len].get(i) {
            // SAFETY: m is live and ours; reset + append re-sets a single-segment length
            // within the room it already had.
            unsafe {
                let cur = usize::from(sys::vany_pktmbuf_data_len(m));
                if len < cur {
                    sys::vany_pktmbuf_reset(m);
                    sys::vany_pktmbuf_append(m, len as u16);
                }
            }
        }
    }

    /// Drops the last mbuf taken (e.g. a frame given up on), back to the pool.
    pub fn pop(&mut self) {
        if self.len > 0 {
            self.len -= 1;
            free_all(&mut self.mbufs[self.len..self.len + 1]);
        }
    }

    /// Returns every mbuf to the pool.
    pub fn clear(&mut self) {
        free_all(&mut self.mbufs[..self.len]);
        self.len = 0;
    }

    /// Forgets the first `n` mbufs (the port took them), keeping the rest in order.
    pub(crate) fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.mbufs.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Drop for TxBatch {
    fn drop(&mut self) {
        self.clear();
    }
}
