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

/// The mbufs of one receive burst ([`Port::rx_burst`](crate::Port::rx_burst)). Each
/// packet is read where the NIC wrote it: the data pointers and lengths of the whole
/// burst are fetched in one call after the burst, so reading a packet calls nothing.
/// Reused across bursts; every mbuf goes back to its pool on the next burst,
/// [`clear`](RxBatch::clear) or `Drop`.
#[derive(Debug)]
pub struct RxBatch {
    pub(crate) mbufs: Box<[*mut RteMbuf]>,
    data: Box<[*mut u8]>,
    lens: Box<[u16]>,
    segs: Box<[u16]>,
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
        let capacity = capacity.clamp(1, MAX_BURST);
        RxBatch {
            mbufs: vec![std::ptr::null_mut(); capacity].into(),
            data: vec![std::ptr::null_mut(); capacity].into(),
            lens: vec![0; capacity].into(),
            segs: vec![0; capacity].into(),
            len: 0,
            pool: None,
        }
    }

    /// Most packets per burst.
    pub fn capacity(&self) -> usize {
        self.mbufs.len()
    }

    /// Packets held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records that the first `n` slots hold the mbufs of a new burst, and reads their
    /// data pointers and lengths.
    pub(crate) fn filled(&mut self, n: usize) {
        let n = n.min(self.mbufs.len());
        self.len = n;
        if n > 0 {
            // SAFETY: the first n pointers are live mbufs this batch owns (just received);
            // the three arrays have room for n entries each.
            unsafe {
                sys::vany_mbufs_rx_info(
                    self.mbufs.as_mut_ptr(),
                    n as u16,
                    self.data.as_mut_ptr(),
                    self.lens.as_mut_ptr(),
                    self.segs.as_mut_ptr(),
                )
            }
        }
    }

    /// Packet `i` (its first segment: ports are configured without scatter, so a frame
    /// that fits the mbuf's data room is one segment).
    #[inline]
    pub fn packet(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len || self.mbufs[i].is_null() {
            return None;
        }
        let (ptr, len) = (self.data[i], usize::from(self.lens[i]));
        if ptr.is_null() || len == 0 {
            return Some(&[]);
        }
        // SAFETY: mbuf i is live and owned by this batch until it is freed through
        // `&mut self`, which the returned borrow of `self` prevents; ptr and len are its
        // first segment's data pointer and length, read after the burst.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    /// Packet `i`, writable in place (its first segment).
    #[inline]
    pub fn packet_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if i >= self.len || self.mbufs[i].is_null() {
            return None;
        }
        let (ptr, len) = (self.data[i], usize::from(self.lens[i]));
        if ptr.is_null() || len == 0 {
            return Some(&mut []);
        }
        // SAFETY: as in `packet`; the `&mut self` borrow makes this the only view.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Whether packet `i` spans more than one segment (then [`packet`](RxBatch::packet)
    /// is only its first part).
    #[inline]
    pub fn is_segmented(&self, i: usize) -> bool {
        i < self.len && self.segs[i] > 1
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
///
/// Mbufs are taken from the pool a batch's capacity at a time into a reserve (one bulk
/// allocation, their data pointers read in one call), and a frame's length is written
/// into its mbuf when the batch is handed to the port: building a frame calls nothing.
#[derive(Debug)]
pub struct TxBatch {
    pub(crate) mbufs: Box<[*mut RteMbuf]>,
    data: Box<[*mut u8]>,
    lens: Box<[u16]>,
    pub(crate) len: usize,
    /// Allocated, reset mbufs not yet used, and their data pointers.
    reserve: Box<[*mut RteMbuf]>,
    reserve_data: Box<[*mut u8]>,
    reserve_len: usize,
    /// The data room of one mbuf.
    room: usize,
    pub(crate) pool: Mempool,
    /// Pools of received mbufs moved in ([`TxBatch::push_received`]): the port keeps
    /// them alive while its device may hold their mbufs.
    pub(crate) foreign: Vec<Mempool>,
}

// SAFETY: as for RxBatch.
unsafe impl Send for TxBatch {}

impl TxBatch {
    /// A batch of up to `capacity` (1 to [`MAX_BURST`]) mbufs from `pool`.
    pub fn new(pool: &Mempool, capacity: usize) -> TxBatch {
        let capacity = capacity.clamp(1, MAX_BURST);
        TxBatch {
            mbufs: vec![std::ptr::null_mut(); capacity].into(),
            data: vec![std::ptr::null_mut(); capacity].into(),
            lens: vec![0; capacity].into(),
            len: 0,
            reserve: vec![std::ptr::null_mut(); capacity].into(),
            reserve_data: vec![std::ptr::null_mut(); capacity].into(),
            reserve_len: 0,
            room: pool.max_packet(),
            pool: pool.clone(),
            foreign: Vec::new(),
        }
    }

    /// Moves received mbuf `i` out of `rx` into this batch as a frame of `len` bytes (at
    /// most its received length: a frame edited in place may shrink, not grow), to be
    /// sent as it is: nothing copied. `false` (nothing moved) when the batch is full, the
    /// mbuf was moved already, spans several segments, or `len` is too long.
    #[inline]
    pub fn push_received(&mut self, rx: &mut RxBatch, i: usize, len: usize) -> bool {
        if self.is_full() || i >= rx.len || rx.mbufs[i].is_null() || rx.segs[i] != 1 {
            return false;
        }
        if len > usize::from(rx.lens[i]) {
            return false;
        }
        if let Some(p) = &rx.pool {
            if !p.same(&self.pool) && !self.foreign.iter().any(|f| f.same(p)) {
                self.foreign.push(p.clone());
            }
        }
        let n = self.len;
        self.mbufs[n] = rx.mbufs[i];
        self.data[n] = rx.data[i];
        self.lens[n] = len as u16;
        self.len += 1;
        // The batch owns it now: the receive batch must not free it.
        rx.mbufs[i] = std::ptr::null_mut();
        true
    }

    /// Most mbufs held.
    pub fn capacity(&self) -> usize {
        self.mbufs.len()
    }

    /// Mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no mbuf is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch is full.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.mbufs.len()
    }

    /// The pool the mbufs come from.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Mbufs taken from the pool but not holding a frame (free for this batch's use).
    pub fn reserved(&self) -> usize {
        self.reserve_len
    }

    /// Refills the reserve from the pool: all of it in one bulk allocation, or as many
    /// as the pool has one by one.
    fn refill(&mut self) -> Result<(), DpdkError> {
        let want = self.reserve.len() - self.reserve_len;
        let slots = &mut self.reserve[self.reserve_len..];
        // SAFETY: `slots` has room for `want` pointers; the pool is live. On success all
        // are fresh, reset mbufs we own.
        let rc = unsafe {
            sys::vany_pktmbuf_alloc_bulk(self.pool.raw(), slots.as_mut_ptr(), want as c_uint)
        };
        let got = if rc == 0 {
            want
        } else {
            // The pool is low: what it still has.
            let mut got = 0;
            while got < want {
                // SAFETY: the pool is live.
                let m = unsafe { sys::vany_pktmbuf_alloc(self.pool.raw()) };
                if m.is_null() {
                    break;
                }
                slots[got] = m;
                got += 1;
            }
            got
        };
        if got == 0 {
            return Err(DpdkError::PoolExhausted {
                name: self.pool.name().into(),
            });
        }
        let at = self.reserve_len;
        // SAFETY: the `got` pointers from `at` are live mbufs we own; reserve_data has room
        // for them.
        unsafe {
            sys::vany_mbufs_data(
                self.reserve[at..].as_mut_ptr(),
                got as c_uint,
                self.reserve_data[at..].as_mut_ptr(),
            )
        };
        self.reserve_len += got;
        Ok(())
    }

    /// Takes one mbuf, `len` bytes long, and returns its data to fill in (its content is
    /// whatever the buffer held before). `Ok(None)` when the batch is full.
    pub fn push(&mut self, len: usize) -> Result<Option<&mut [u8]>, DpdkError> {
        if self.is_full() {
            return Ok(None);
        }
        if len > self.room {
            return Err(DpdkError::TooLarge {
                len,
                max: self.room,
            });
        }
        if self.reserve_len == 0 {
            self.refill()?;
        }
        self.reserve_len -= 1;
        let i = self.len;
        self.mbufs[i] = self.reserve[self.reserve_len];
        self.data[i] = self.reserve_data[self.reserve_len];
        self.lens[i] = len as u16;
        self.len += 1;
        Ok(self.packet_mut(i))
    }

    /// Takes up to `count` mbufs of `len` bytes, as many as fit the batch and the pool
    /// has; returns how many were added.
    pub fn alloc_bulk(&mut self, count: usize, len: usize) -> Result<usize, DpdkError> {
        let mut n = 0;
        while n < count && !self.is_full() {
            match self.push(len) {
                Ok(_) => n += 1,
                Err(DpdkError::PoolExhausted { .. }) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The data of mbuf `i`.
    #[inline]
    pub fn packet_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if i >= self.len {
            return None;
        }
        let (ptr, len) = (self.data[i], usize::from(self.lens[i]));
        // SAFETY: mbuf i is live and owned by the batch (the `&mut self` borrow keeps it
        // so); ptr is its data pointer and len at most its data room (checked in push).
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Shortens mbuf `i` to `len` bytes (no-op if it is not longer).
    pub fn truncate(&mut self, i: usize, len: usize) {
        if i < self.len && len < usize::from(self.lens[i]) {
            self.lens[i] = len as u16;
        }
    }

    /// Gives up the last mbuf taken (e.g. a frame given up on): back to the reserve.
    pub fn pop(&mut self) {
        if self.len > 0 {
            self.len -= 1;
            // The reserve has room: it gave this mbuf or has fewer than capacity.
            if self.reserve_len < self.reserve.len() {
                self.reserve[self.reserve_len] = self.mbufs[self.len];
                self.reserve_data[self.reserve_len] = self.data[self.len];
                self.reserve_len += 1;
            } else {
                free_all(&mut self.mbufs[self.len..self.len + 1]);
            }
        }
    }

    /// Returns every mbuf holding a frame to the pool (the reserve stays).
    pub fn clear(&mut self) {
        free_all(&mut self.mbufs[..self.len]);
        self.len = 0;
    }

    /// Writes each frame's length into its mbuf, before the port reads them.
    pub(crate) fn seal(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` pointers are live mbufs we own, each with a length
            // at most its data room (checked in push).
            unsafe {
                sys::vany_mbufs_set_len(
                    self.mbufs.as_mut_ptr(),
                    self.lens.as_ptr(),
                    self.len as c_uint,
                )
            }
        }
    }

    /// Forgets the first `n` mbufs (the port took them), keeping the rest in order.
    pub(crate) fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.mbufs.copy_within(n..self.len, 0);
        self.data.copy_within(n..self.len, 0);
        self.lens.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Drop for TxBatch {
    fn drop(&mut self) {
        self.clear();
        free_all(&mut self.reserve[..self.reserve_len]);
        self.reserve_len = 0;
    }
}
