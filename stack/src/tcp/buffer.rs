//! Send and receive buffers, indexed by 64-bit stream offsets so that sequence-number
//! wrap-around is handled once, at the edge (`Seq` <-> offset).

use std::collections::{BTreeMap, VecDeque};

use crate::wire::checksum;

/// A byte ring whose storage grows on demand up to a fixed capacity (allocated once per
/// doubling, never per write), and whose free space can be written before it is
/// committed: the receive path copies (and sums) a segment's payload straight into
/// place and keeps it only once its checksum verified; an application writes into the
/// send buffer's free space in place ([`SendBuffer::write_with`]). Every copy in or out
/// is at most two contiguous pieces.
#[derive(Clone, Default)]
struct Ring {
    /// Storage; `buf.len()` is the room allocated so far (grown as needed).
    buf: Vec<u8>,
    /// Index of the first byte held.
    head: usize,
    /// Bytes held.
    len: usize,
}

impl Ring {
    fn from_vec(buf: Vec<u8>) -> Self {
        let len = buf.len();
        Ring { buf, head: 0, len }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The bytes held, in order, as two slices.
    fn as_slices(&self) -> (&[u8], &[u8]) {
        let end = self.head + self.len;
        if end <= self.buf.len() {
            (&self.buf[self.head..end], &[])
        } else {
            (&self.buf[self.head..], &self.buf[..end - self.buf.len()])
        }
    }

    /// Makes room for `n` more bytes after those held, growing the storage (at least
    /// doubling it, to at most `capacity`, the caller's bound on what is held).
    #[inline]
    fn reserve(&mut self, n: usize, capacity: usize) {
        if self.len + n > self.buf.len() {
            self.grow(self.len + n, capacity);
        }
    }

    #[cold]
    fn grow(&mut self, needed: usize, capacity: usize) {
        let size = needed
            .max(2 * self.buf.len())
            .max(4096)
            .min(capacity.max(needed));
        let mut grown = Vec::with_capacity(size);
        let (a, b) = self.as_slices();
        grown.extend_from_slice(a);
        grown.extend_from_slice(b);
        grown.resize(size, 0);
        self.buf = grown;
        self.head = 0;
    }

    /// The free space after the bytes held, as two slices, first `n` bytes only (the
    /// caller reserved them).
    fn spare_mut(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        let size = self.buf.len();
        // `head < size` and `len <= size`: one subtraction wraps (no division).
        let mut tail = self.head + self.len;
        if tail >= size {
            tail -= size;
        }
        if tail + n <= size {
            (&mut self.buf[tail..tail + n], &mut [])
        } else {
            let (front, back) = self.buf.split_at_mut(tail);
            let wrap = tail + n - size;
            (back, &mut front[..wrap])
        }
    }

    /// Appends `bytes`, at most `capacity` held in all.
    fn extend(&mut self, bytes: &[u8], capacity: usize) {
        if bytes.is_empty() {
            return;
        }
        self.reserve(bytes.len(), capacity);
        let (a, b) = self.spare_mut(bytes.len());
        let split = a.len();
        a.copy_from_slice(&bytes[..split]);
        b.copy_from_slice(&bytes[split..]);
        self.len += bytes.len();
    }

    /// Copies `bytes` into the free space after the bytes held, without holding them
    /// yet, and returns their RFC 1071 sum (see [`Ring::commit`]).
    fn stage_summing(&mut self, bytes: &[u8], capacity: usize) -> u16 {
        self.reserve(bytes.len(), capacity);
        let (a, b) = self.spare_mut(bytes.len());
        let split = a.len();
        let first = checksum::copy_and_sum(a, &bytes[..split]);
        if b.is_empty() {
            return first;
        }
        let second = checksum::copy_and_sum(b, &bytes[split..]);
        // A part that starts at an odd offset sums with its bytes swapped (RFC 1071 §2(B)).
        let second = if split % 2 == 1 {
            second.swap_bytes()
        } else {
            second
        };
        checksum::add(first, second)
    }

    /// Holds the first `n` staged bytes.
    fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// `n` bytes held from index `skip` on, as two slices (the caller keeps
    /// `skip + n <= len`).
    fn slices_at(&self, skip: usize, n: usize) -> (&[u8], &[u8]) {
        let (a, b) = self.as_slices();
        if skip >= a.len() {
            let from = skip - a.len();
            (&b[from..from + n], &[])
        } else if skip + n <= a.len() {
            (&a[skip..skip + n], &[])
        } else {
            (&a[skip..], &b[..skip + n - a.len()])
        }
    }

    /// Forgets the first `n` bytes held (at most all of them).
    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        // Empty: start again at the front, so that the next bytes are one piece.
        self.head = if self.len == 0 {
            0
        } else if self.head + n >= self.buf.len() {
            self.head + n - self.buf.len()
        } else {
            self.head + n
        };
    }

    /// Moves the first bytes held into `dst`; returns how many.
    fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len);
        let (a, b) = self.as_slices();
        let from_a = n.min(a.len());
        dst[..from_a].copy_from_slice(&a[..from_a]);
        if n > from_a {
            dst[from_a..n].copy_from_slice(&b[..n - from_a]);
        }
        self.consume(n);
        n
    }
}

impl PartialEq for Ring {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && {
            let (a, b) = self.as_slices();
            let (c, d) = other.as_slices();
            a.iter().chain(b).eq(c.iter().chain(d))
        }
    }
}

impl Eq for Ring {}

impl core::fmt::Debug for Ring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (a, b) = self.as_slices();
        f.debug_list().entries(a.iter().chain(b)).finish()
    }
}

/// Serde for a [`Ring`] as the bytes held, as two byte strings (one when they do not
/// wrap; snapshots do not depend on the buffer's layout, and restoring is one copy).
mod ring_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Ring;

    pub fn serialize<S: Serializer>(ring: &Ring, s: S) -> Result<S::Ok, S::Error> {
        let (a, b) = ring.as_slices();
        (serde_bytes::Bytes::new(a), serde_bytes::Bytes::new(b)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ring, D::Error> {
        let (a, b): (serde_bytes::ByteBuf, serde_bytes::ByteBuf) = Deserialize::deserialize(d)?;
        let mut v = a.into_vec();
        v.extend_from_slice(&b);
        Ok(Ring::from_vec(v))
    }
}

/// Bytes the application wrote that are not yet acknowledged: `[start, start + len)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendBuffer {
    #[serde(with = "ring_bytes")]
    data: Ring,
    capacity: usize,
    /// Stream offset of the first byte held (= SND.UNA's offset).
    start: u64,
}

impl SendBuffer {
    /// An empty buffer holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        SendBuffer {
            data: Ring::default(),
            capacity,
            start: 0,
        }
    }

    /// Stream offset of the first byte held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Stream offset one past the last byte held.
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// The most bytes held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the most bytes held; bytes already held above it stay (no new ones fit
    /// until enough are acknowledged).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Appends as much of `bytes` as fits; returns how much.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n], self.capacity);
        n
    }

    /// Lends up to `max` bytes of free space to `fill`, in at most two contiguous pieces
    /// (the second only once the first is full), and holds what it wrote: `fill` returns
    /// how many bytes at the start of its piece it wrote. Returns the bytes held.
    pub fn write_with(&mut self, max: usize, mut fill: impl FnMut(&mut [u8]) -> usize) -> usize {
        let n = max.min(self.free());
        if n == 0 {
            return 0;
        }
        self.data.reserve(n, self.capacity);
        let (a, b) = self.data.spare_mut(n);
        let first = fill(a).min(a.len());
        let mut wrote = first;
        if first == a.len() && !b.is_empty() {
            wrote += fill(b).min(b.len());
        }
        self.data.commit(wrote);
        wrote
    }

    /// Drops everything before stream offset `upto` (acknowledged bytes).
    pub fn ack_to(&mut self, upto: u64) {
        let n = upto.saturating_sub(self.start).min(self.data.len() as u64) as usize;
        self.data.consume(n);
        self.start += n as u64;
    }

    /// The bytes from stream offset `from` on, at most `max`, as two slices (empty when
    /// `from` is outside what is held).
    fn slices_from(&self, from: u64, max: usize) -> (&[u8], &[u8]) {
        let Some(skip) = from.checked_sub(self.start) else {
            return (&[], &[]);
        };
        let skip = skip as usize;
        if skip >= self.data.len() {
            return (&[], &[]);
        }
        self.data.slices_at(skip, max.min(self.data.len() - skip))
    }

    /// Copies bytes from stream offset `from` into `dst` and sums them (RFC 1071) in the
    /// same pass; returns how many and their sum.
    pub fn copy_out_summing(&self, from: u64, dst: &mut [u8]) -> (usize, u16) {
        let (a, b) = self.slices_from(from, dst.len());
        let mut total = checksum::copy_and_sum(&mut dst[..a.len()], a);
        if !b.is_empty() {
            let part = checksum::copy_and_sum(&mut dst[a.len()..a.len() + b.len()], b);
            // A part that starts at an odd offset sums with its bytes swapped (RFC 1071 §2(B)).
            let part = if a.len() % 2 == 1 {
                part.swap_bytes()
            } else {
                part
            };
            total = checksum::add(total, part);
        }
        (a.len() + b.len(), total)
    }

    /// A copy of the bytes from stream offset `from` on (clamped to what is held), with
    /// the same capacity: what a snapshot carries when the bytes before `from` were
    /// copied to the acceptor ahead of the handoff.
    pub fn suffix(&self, from: u64) -> SendBuffer {
        let from = from.clamp(self.start, self.end());
        let (a, b) = self.slices_from(from, usize::MAX);
        let mut held = Vec::with_capacity(a.len() + b.len());
        held.extend_from_slice(a);
        held.extend_from_slice(b);
        SendBuffer {
            data: Ring::from_vec(held),
            capacity: self.capacity,
            start: from,
        }
    }

    /// Puts back `bytes` at stream offset `from`, just before the first byte held (the
    /// part of the buffer a [`suffix`](Self::suffix) left out). Returns false, changing
    /// nothing, when they do not end where the held bytes start.
    pub fn prepend(&mut self, from: u64, bytes: &[u8]) -> bool {
        if from.checked_add(bytes.len() as u64) != Some(self.start) {
            return false;
        }
        let (a, b) = self.data.as_slices();
        let mut held = Vec::with_capacity(bytes.len() + a.len() + b.len());
        held.extend_from_slice(bytes);
        held.extend_from_slice(a);
        held.extend_from_slice(b);
        self.data = Ring::from_vec(held);
        self.start = from;
        true
    }

    /// Copies bytes from stream offset `from` into `dst`; returns how many.
    pub fn copy_out(&self, from: u64, dst: &mut [u8]) -> usize {
        let (a, b) = self.slices_from(from, dst.len());
        dst[..a.len()].copy_from_slice(a);
        dst[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }
}

/// Out-of-order arrivals remembered for SACK block order.
const RECENT_BLOCKS: usize = 8;

/// Received bytes: in-order unread data plus out-of-order segments waiting for the gap.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecvBuffer {
    #[serde(with = "ring_bytes")]
    data: Ring,
    capacity: usize,
    /// Stream offset of the next in-order byte expected (= RCV.NXT's offset).
    next: u64,
    /// Out-of-order segments by stream offset; non-overlapping, none adjacent to `next`.
    #[serde(with = "ooo_bytes")]
    ooo: BTreeMap<u64, Vec<u8>>,
    /// Starts of the most recently received out-of-order segments, newest first: the
    /// first SACK block covers the newest, and the next ones repeat the most recently
    /// reported (RFC 2018 §4).
    recent: VecDeque<u64>,
    /// Bytes copied into the free space at stream offset `.0` whose checksum verified, to
    /// be taken by the next [`RecvBuffer::insert`] there without copying them again
    /// (see [`RecvBuffer::stage_summing`]). Transient: cleared before any other use.
    #[serde(skip)]
    staged: Option<(u64, usize)>,
}

mod ooo_bytes {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<u64, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<(u64, &serde_bytes::Bytes)> = m
            .iter()
            .map(|(k, v)| (*k, serde_bytes::Bytes::new(v)))
            .collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u64, Vec<u8>>, D::Error> {
        let v: Vec<(u64, serde_bytes::ByteBuf)> = Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|(k, b)| (k, b.into_vec())).collect())
    }
}

impl RecvBuffer {
    /// An empty buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        RecvBuffer {
            data: Ring::default(),
            capacity,
            next: 0,
            ooo: BTreeMap::new(),
            recent: VecDeque::new(),
            staged: None,
        }
    }

    /// Stream offset of the next in-order byte expected.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// In-order bytes the application has not read.
    pub fn readable(&self) -> usize {
        self.data.len()
    }

    /// Room for new in-order data: the receive window.
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether out-of-order data is held.
    pub fn has_gaps(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Moves in-order bytes into `dst`; returns how many.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        self.data.read(dst)
    }

    /// Lends the in-order bytes to `take` where they are, in at most two contiguous
    /// pieces (the second only once the first was taken whole), and forgets the bytes it
    /// took: `take` returns how many from the start of its piece. Returns the bytes taken.
    pub fn read_with(&mut self, mut take: impl FnMut(&[u8]) -> usize) -> usize {
        if self.data.len() == 0 {
            return 0;
        }
        let (a, b) = self.data.as_slices();
        let first = take(a).min(a.len());
        let mut taken = first;
        if first == a.len() && !b.is_empty() {
            taken += take(b).min(b.len());
        }
        self.data.consume(taken);
        taken
    }

    /// Copies `bytes`, which are to arrive at stream offset [`RecvBuffer::next`], into
    /// the free space without taking them yet, and returns their RFC 1071 sum: a segment's
    /// payload is summed for its checksum in the same pass that copies it in. Then
    /// [`RecvBuffer::keep_staged`] lets the next `insert` at that offset take them in place,
    /// and [`RecvBuffer::drop_staged`] forgets them. `bytes` must fit the window.
    pub fn stage_summing(&mut self, bytes: &[u8]) -> u16 {
        debug_assert!(bytes.len() <= self.window());
        self.staged = None;
        self.data.stage_summing(bytes, self.capacity)
    }

    /// The bytes [`RecvBuffer::stage_summing`] copied verified: the next `insert` at
    /// stream offset `offset` (= `next` when they were staged) takes up to `len` of them
    /// from where they are.
    pub fn keep_staged(&mut self, offset: u64, len: usize) {
        self.staged = Some((offset, len));
    }

    /// Forgets staged bytes (they are overwritten by whatever comes next).
    pub fn drop_staged(&mut self) {
        self.staged = None;
    }

    /// Accepts `bytes` at stream offset `offset`, keeping only what falls inside the
    /// window `[next, next + window)`. Returns how many bytes became in-order.
    pub fn insert(&mut self, offset: u64, bytes: &[u8]) -> usize {
        let staged = self.staged.take();
        let window_end = self.next + self.window() as u64;
        let mut start = offset.max(self.next);
        let end = (offset + bytes.len() as u64).min(window_end);
        if start >= end {
            return 0;
        }
        let mut slice = &bytes[(start - offset) as usize..(end - offset) as usize];
        if start == self.next {
            let before = self.next;
            match staged {
                // Already in place (`stage_summing` copied them from the same payload).
                Some((at, len)) if at == offset && at == start && slice.len() <= len => {
                    self.data.commit(slice.len());
                }
                _ => self.data.extend(slice, self.capacity),
            }
            self.next = end;
            self.drain_ooo();
            return (self.next - before) as usize;
        }
        // Out of order: merge into the map, skipping parts already held.
        let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
        let overlapping: Vec<(u64, u64)> = self
            .ooo
            .range(..end)
            .filter(|(k, v)| **k + v.len() as u64 > start)
            .map(|(k, v)| (*k, *k + v.len() as u64))
            .collect();
        for (held_start, held_end) in overlapping {
            if held_start > start {
                pieces.push((start, slice[..(held_start - start) as usize].to_vec()));
            }
            if held_end >= end {
                slice = &[];
                start = end;
                break;
            }
            let skip = (held_end.max(start) - start) as usize;
            slice = &slice[skip..];
            start = held_end.max(start);
        }
        if start < end && !slice.is_empty() {
            pieces.push((start, slice.to_vec()));
        }
        for (k, v) in pieces {
            self.ooo.insert(k, v);
        }
        let at = offset.max(self.next);
        self.recent.retain(|r| *r != at);
        self.recent.push_front(at);
        self.recent.truncate(RECENT_BLOCKS);
        0
    }

    fn drain_ooo(&mut self) {
        if self.ooo.is_empty() && self.recent.is_empty() {
            return;
        }
        while let Some(entry) = self.ooo.first_entry() {
            let key = *entry.key();
            if key > self.next {
                break;
            }
            let piece = entry.remove();
            let piece_end = key + piece.len() as u64;
            if piece_end > self.next {
                let skip = (self.next - key) as usize;
                self.data.extend(&piece[skip..], self.capacity);
                self.next = piece_end;
            }
        }
        let next = self.next;
        self.recent.retain(|r| *r >= next);
    }

    /// Up to `max` out-of-order ranges as `[start, end)` stream offsets (RFC 2018 §4): the
    /// block holding the newest segment first, then blocks in the order their segments
    /// arrived, newest first, then any others.
    pub fn sack_ranges(&self, max: usize) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for (k, v) in &self.ooo {
            let end = *k + v.len() as u64;
            match ranges.last_mut() {
                Some(last) if last.1 == *k => last.1 = end,
                _ => ranges.push((*k, end)),
            }
        }
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(max.min(ranges.len()));
        for at in &self.recent {
            if out.len() == max {
                return out;
            }
            if let Some(r) = ranges.iter().find(|r| r.0 <= *at && *at < r.1) {
                if !out.contains(r) {
                    out.push(*r);
                }
            }
        }
        for r in ranges.iter().rev() {
            if out.len() == max {
                break;
            }
            if !out.contains(r) {
                out.push(*r);
            }
        }
        out
    }

    /// Bytes held out of order.
    pub fn ooo_bytes(&self) -> usize {
        self.ooo.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
#[path = "buffer_tests.rs"]
mod tests;
