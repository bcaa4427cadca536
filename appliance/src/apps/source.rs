//! `source`: a deterministic byte stream of configurable length and rate that the client
//! can verify byte by byte as it arrives, without storing it.
//!
//! Byte `i` of stream `id` is a pure function of `(id, i)`: byte `i % 8` (little-endian)
//! of SplitMix64's output for `(id, i / 8)` ([`stream_word`]). The server side
//! ([`SourceApp`]) writes the stream into a connection, paced at `rate` bytes/s or as fast
//! as the window allows, then closes. The client side ([`StreamVerifier`]) checks every
//! byte and computes the SHA-256 of everything it received.
//!
//! A [`SourceApp`] either streams a fixed `(id, length, rate)` from the start
//! ([`SourceApp::new`]) or first reads a 24-byte [`SourceRequest`] from the client
//! ([`SourceApp::requested`]): `id`, `length` and `rate` (0 = unpaced) as big-endian
//! `u64`s. The simulated clients ([`crate::sim::client`]) send such a request.
//!
//! A client must send its request within [`AppTimeouts::header`] of the connection's
//! start, or the connection is closed.
//!
//! The server side's state is plain data: it travels in the handoff snapshot.

use ring::digest;
use serde::{Deserialize, Serialize};
use vany_stack::tcp::Connection;
use vany_stack::time::{Duration, Instant};

use super::{rebase, App, AppTimeouts, Linger};

/// Length of a [`SourceRequest`] on the wire.
pub const REQUEST_LEN: usize = 24;

/// Bytes written per `Connection::send` call.
const CHUNK: usize = 16 * 1024;

/// 64 bits of stream `id` at 8-byte block `block` (SplitMix64 of a mix of both).
pub fn stream_word(id: u64, block: u64) -> u64 {
    let mut z = id
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(block)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Byte `i` of stream `id`.
pub fn stream_byte(id: u64, i: u64) -> u8 {
    (stream_word(id, i / 8) >> ((i % 8) * 8)) as u8
}

/// Fills `buf` with bytes `offset..offset + buf.len()` of stream `id`.
pub fn fill_stream(id: u64, offset: u64, buf: &mut [u8]) {
    let mut i = 0;
    // A partial first block.
    while i < buf.len() && !(offset + i as u64).is_multiple_of(8) {
        buf[i] = stream_byte(id, offset + i as u64);
        i += 1;
    }
    let mut block = (offset + i as u64) / 8;
    let mut chunks = buf[i..].chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&stream_word(id, block).to_le_bytes());
        block += 1;
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let word = stream_word(id, block).to_le_bytes();
        rest.copy_from_slice(&word[..rest.len()]);
    }
}

/// SHA-256 of bytes `0..length` of stream `id`: what a complete download must hash to.
pub fn expected_sha256(id: u64, length: u64) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut buf = [0u8; CHUNK];
    let mut at = 0;
    while at < length {
        let n = (length - at).min(CHUNK as u64) as usize;
        fill_stream(id, at, &mut buf[..n]);
        ctx.update(&buf[..n]);
        at += n as u64;
    }
    sha_bytes(ctx.finish())
}

fn sha_bytes(d: digest::Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What a client asks a [`SourceApp::requested`] server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRequest {
    /// Stream id.
    pub id: u64,
    /// Bytes to send.
    pub length: u64,
    /// Bytes per second, or as fast as the window allows when `None`.
    pub rate: Option<u64>,
}

impl SourceRequest {
    /// The 24-byte wire form: id, length, rate (0 = unpaced), big-endian.
    pub fn to_bytes(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[..8].copy_from_slice(&self.id.to_be_bytes());
        b[8..16].copy_from_slice(&self.length.to_be_bytes());
        b[16..].copy_from_slice(&self.rate.unwrap_or(0).to_be_bytes());
        b
    }

    /// Reads the wire form.
    pub fn from_bytes(b: &[u8; REQUEST_LEN]) -> SourceRequest {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_be_bytes(w)
        };
        SourceRequest {
            id: word(0),
            length: word(8),
            rate: Some(word(16)).filter(|&r| r > 0),
        }
    }
}

/// A request still being read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PendingRequest {
    bytes: [u8; REQUEST_LEN],
    got: u8,
}

/// The server side of a stream: writes bytes `offset..length` of stream `id` into a
/// connection, at most `rate` bytes/s (token bucket of 50 ms, written in quanta of 1 ms but at least 512 bytes), or
/// as fast as the send buffer takes them; then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceApp {
    id: u64,
    offset: u64,
    length: u64,
    rate: Option<u64>,
    /// Time up to which tokens have been credited (the pacing clock); `None` before the
    /// first write.
    last_write: Option<Instant>,
    /// Bytes that may be written now under `rate`.
    tokens: u64,
    /// Set while the request has not been read yet.
    pending: Option<PendingRequest>,
    /// Our FIN is queued.
    closed: bool,
    /// The connection failed (reset, timeout) or the client closed before its request.
    failed: bool,
    timeouts: AppTimeouts,
    /// The first poll: the request must have come `timeouts.header` later.
    started: Option<Instant>,
    /// After the app closed: how long the client takes to close its side.
    linger: Linger,
}

impl SourceApp {
    /// A stream that starts at once: bytes `0..length` of stream `id` at `rate`.
    pub fn new(id: u64, length: u64, rate: Option<u64>) -> SourceApp {
        SourceApp {
            id,
            offset: 0,
            length,
            rate: rate.filter(|&r| r > 0),
            last_write: None,
            tokens: 0,
            pending: None,
            closed: false,
            failed: false,
            timeouts: AppTimeouts::default(),
            started: None,
            linger: Linger::default(),
        }
    }

    /// The same app with these timeouts.
    pub fn with_timeouts(self, timeouts: AppTimeouts) -> SourceApp {
        SourceApp { timeouts, ..self }
    }

    /// A stream that starts once the client's 24-byte [`SourceRequest`] has been read.
    pub fn requested() -> SourceApp {
        SourceApp {
            pending: Some(PendingRequest {
                bytes: [0; REQUEST_LEN],
                got: 0,
            }),
            ..SourceApp::new(0, 0, None)
        }
    }

    /// Stream id (0 until the request has been read).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes written into the connection so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Stream length (0 until the request has been read).
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Pacing rate in bytes/s.
    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// Whether the request has been read (always true for [`SourceApp::new`]).
    pub fn is_streaming(&self) -> bool {
        self.pending.is_none()
    }

    /// Whether the connection failed before the stream was written.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Bytes per write: 1 ms worth, but at least 512 bytes (or 50 ms worth, if less), so
    /// that a slow stream is not cut into tiny segments.
    fn quantum(rate: u64) -> u64 {
        (rate / 1000).max((rate / 20).min(512)).clamp(1, 64 * 1024)
    }

    fn burst(rate: u64) -> u64 {
        (rate / 20).max(Self::quantum(rate))
    }

    /// Credits tokens for the time since the pacing clock.
    fn refill(&mut self, now: Instant, rate: u64) {
        let Some(last) = self.last_write else {
            self.last_write = Some(now);
            self.tokens = Self::quantum(rate);
            return;
        };
        let elapsed = u128::from(now.saturating_since(last).total_micros());
        let add = (u128::from(rate) * elapsed / 1_000_000) as u64;
        if add == 0 {
            return;
        }
        self.tokens = self.tokens.saturating_add(add);
        // Advance the clock by exactly the time the credited tokens took, keeping the
        // remainder for the next refill.
        let used = (u128::from(add) * 1_000_000 / u128::from(rate)) as u64;
        self.last_write = Some(last + Duration::from_micros(used));
        if self.tokens >= Self::burst(rate) {
            self.tokens = Self::burst(rate);
            self.last_write = Some(now);
        }
    }

    /// Reads the request, if still pending. Returns whether streaming can go on.
    fn read_request(&mut self, conn: &mut Connection) -> bool {
        let Some(p) = &mut self.pending else {
            return true;
        };
        while usize::from(p.got) < REQUEST_LEN {
            match conn.recv(&mut p.bytes[usize::from(p.got)..]) {
                Ok(0) => break,
                Ok(n) => p.got += n as u8,
                Err(_) => {
                    self.failed = true;
                    return false;
                }
            }
        }
        if usize::from(p.got) < REQUEST_LEN {
            if conn.is_read_closed() {
                // The client closed before asking for anything.
                self.failed = true;
                conn.close();
            }
            return false;
        }
        let req = SourceRequest::from_bytes(&p.bytes);
        self.pending = None;
        self.id = req.id;
        self.length = req.length;
        self.rate = req.rate;
        true
    }

    /// Reads and discards whatever else the client sends, so its window stays open.
    fn discard_input(conn: &mut Connection) {
        // Where it lies, nothing copied.
        let _ = conn.recv_with(|piece| piece.len());
    }
}

impl App for SourceApp {
    fn poll(&mut self, now: Instant, conn: &mut Connection) {
        let started = *self.started.get_or_insert(now);
        if self.failed {
            return;
        }
        if conn.is_closed() && !self.closed {
            self.failed = true;
            return;
        }
        if self.closed {
            Self::discard_input(conn);
            self.linger.poll(now, conn, self.timeouts.idle);
            return;
        }
        if !self.read_request(conn) {
            if !self.failed && now >= started + self.timeouts.header {
                // No whole request in time.
                conn.close();
                self.closed = true;
            }
            return;
        }
        Self::discard_input(conn);
        let remaining = self.length - self.offset;
        let mut allowed = remaining;
        if let Some(rate) = self.rate {
            self.refill(now, rate);
            let need = Self::quantum(rate).min(remaining);
            if self.tokens < need {
                return;
            }
            allowed = allowed.min(self.tokens);
        }
        let budget = allowed.min(conn.send_capacity() as u64) as usize;
        // The stream is generated straight into the send buffer (no copy of our own).
        let (id, mut offset) = (self.id, self.offset);
        let sent = match conn.send_with(budget, |piece| {
            fill_stream(id, offset, piece);
            offset += piece.len() as u64;
            piece.len()
        }) {
            Ok(s) => s as u64,
            Err(_) => {
                self.failed = true;
                return;
            }
        };
        self.offset += sent;
        if self.rate.is_some() {
            self.tokens -= sent;
        }
        if self.offset == self.length {
            conn.close();
            self.closed = true;
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if self.closed {
            return self.linger.deadline(self.timeouts.idle);
        }
        if self.pending.is_some() {
            return self.started.map(|t| t + self.timeouts.header);
        }
        let rate = self.rate?;
        let last = self.last_write?;
        let remaining = self.length - self.offset;
        let need = Self::quantum(rate).min(remaining);
        if need == 0 || self.tokens >= need {
            // Waiting for window space, which a connection event announces.
            return None;
        }
        let deficit = u128::from(need - self.tokens);
        let wait = deficit * 1_000_000 / u128::from(rate)
            + u128::from(!(deficit * 1_000_000).is_multiple_of(u128::from(rate)));
        Some(last + Duration::from_micros(wait as u64))
    }

    fn is_finished(&self) -> bool {
        self.closed || self.failed
    }

    fn rebase_clock(&mut self, old: Instant, new: Instant) {
        self.last_write = self.last_write.map(|t| rebase(t, old, new));
        self.started = self.started.map(|t| rebase(t, old, new));
        self.linger.rebase_clock(old, new);
    }
}

/// A byte that was not the stream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("stream {id}: byte {offset} is {got:#04x}, expected {}", match .expected { Some(e) => format!("{e:#04x}"), None => "the end of the stream".to_string() })]
pub struct Mismatch {
    /// Stream id.
    pub id: u64,
    /// Offset of the first wrong byte.
    pub offset: u64,
    /// What it should have been; `None` past the expected length.
    pub expected: Option<u8>,
    /// What arrived.
    pub got: u8,
}

/// The client side of a stream: checks each byte as it arrives and hashes everything
/// received.
#[derive(Clone)]
pub struct StreamVerifier {
    id: u64,
    offset: u64,
    expected_len: Option<u64>,
    sha: digest::Context,
    mismatch: Option<Mismatch>,
}

impl std::fmt::Debug for StreamVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamVerifier")
            .field("id", &self.id)
            .field("offset", &self.offset)
            .field("expected_len", &self.expected_len)
            .field("mismatch", &self.mismatch)
            .finish()
    }
}

impl StreamVerifier {
    /// A verifier of stream `id`, expecting `expected_len` bytes if given.
    pub fn new(id: u64, expected_len: Option<u64>) -> StreamVerifier {
        StreamVerifier {
            id,
            offset: 0,
            expected_len,
            sha: digest::Context::new(&digest::SHA256),
            mismatch: None,
        }
    }

    /// Checks the next bytes of the stream. After a mismatch every call returns it.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Mismatch> {
        if let Some(m) = self.mismatch {
            return Err(m);
        }
        self.sha.update(data);
        // Bytes past the expected length are wrong whatever they are.
        let room = self
            .expected_len
            .map_or(u64::MAX, |len| len.saturating_sub(self.offset));
        let (inside, past) = data.split_at(data.len().min(room.min(usize::MAX as u64) as usize));
        let mut expected = [0u8; 4096];
        for part in inside.chunks(expected.len()) {
            let exp = &mut expected[..part.len()];
            fill_stream(self.id, self.offset, exp);
            if part != &exp[..] {
                let i = part
                    .iter()
                    .zip(exp.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(self.fail(self.offset + i as u64, Some(exp[i]), part[i]));
            }
            self.offset += part.len() as u64;
        }
        if let Some(&got) = past.first() {
            return Err(self.fail(self.offset, None, got));
        }
        Ok(())
    }

    fn fail(&mut self, offset: u64, expected: Option<u8>, got: u8) -> Mismatch {
        let m = Mismatch {
            id: self.id,
            offset,
            expected,
            got,
        };
        self.offset = offset;
        self.mismatch = Some(m);
        m
    }

    /// Stream id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes verified so far (up to the first mismatch).
    pub fn bytes_ok(&self) -> u64 {
        self.offset
    }

    /// The expected length, if known.
    pub fn expected_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// The first mismatch, if any.
    pub fn mismatch(&self) -> Option<Mismatch> {
        self.mismatch
    }

    /// Whether exactly the expected length arrived intact.
    pub fn is_complete(&self) -> bool {
        self.mismatch.is_none() && self.expected_len == Some(self.offset)
    }

    /// SHA-256 of every byte received so far.
    pub fn sha256(&self) -> [u8; 32] {
        sha_bytes(self.sha.clone().finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_byte_function_at_any_alignment() {
        for offset in 0..17u64 {
            for len in 0..40usize {
                let mut buf = vec![0u8; len];
                fill_stream(7, offset, &mut buf);
                for (i, b) in buf.iter().enumerate() {
                    assert_eq!(*b, stream_byte(7, offset + i as u64), "{offset} {len} {i}");
                }
            }
        }
        assert_ne!(stream_word(1, 0), stream_word(2, 0));
    }

    #[test]
    fn verifier_accepts_the_stream_in_pieces_and_hashes_it() {
        let mut v = StreamVerifier::new(3, Some(10_000));
        let mut at = 0u64;
        for piece in [1usize, 7, 4096, 5000, 896] {
            let mut buf = vec![0u8; piece];
            fill_stream(3, at, &mut buf);
            v.feed(&buf).unwrap();
            at += piece as u64;
        }
        assert!(v.is_complete());
        assert_eq!(v.sha256(), expected_sha256(3, 10_000));
    }

    #[test]
    fn verifier_reports_the_first_wrong_byte_and_extra_bytes() {
        let mut buf = vec![0u8; 100];
        fill_stream(9, 0, &mut buf);
        buf[42] ^= 1;
        let mut v = StreamVerifier::new(9, None);
        let m = v.feed(&buf).unwrap_err();
        assert_eq!((m.offset, m.got), (42, buf[42]));
        assert_eq!(v.bytes_ok(), 42);
        assert_eq!(v.feed(&[0]).unwrap_err(), m);

        let mut v = StreamVerifier::new(9, Some(50));
        fill_stream(9, 0, &mut buf);
        let m = v.feed(&buf).unwrap_err();
        assert_eq!((m.offset, m.expected), (50, None));
    }

    #[test]
    fn request_round_trips() {
        let r = SourceRequest {
            id: 0x0102_0304_0506_0708,
            length: 1 << 40,
            rate: Some(125_000),
        };
        assert_eq!(SourceRequest::from_bytes(&r.to_bytes()), r);
        let r = SourceRequest { rate: None, ..r };
        assert_eq!(SourceRequest::from_bytes(&r.to_bytes()), r);
    }

    #[test]
    fn pacing_tokens_accrue_at_the_rate() {
        let mut a = SourceApp::new(1, 1_000_000, Some(100_000));
        let t0 = Instant::from_secs(1);
        a.refill(t0, 100_000);
        assert_eq!(a.tokens, 512);
        a.tokens = 0;
        // 100 kB/s: 100 bytes per ms; one quantum is 1 ms worth but at least 512 bytes.
        assert_eq!(a.poll_at(), Some(t0 + Duration::from_micros(5_120)));
        a.refill(t0 + Duration::from_micros(2_505), 100_000);
        assert_eq!(a.tokens, 250);
        a.refill(t0 + Duration::from_secs(10), 100_000);
        assert_eq!(a.tokens, 5_000, "capped at 50 ms worth");

        // State survives serialization and a move to a clock 1000 s ahead.
        a.tokens = 0;
        let mut b: SourceApp = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a, b);
        let shift = Duration::from_secs(1000);
        b.rebase_clock(t0, t0 + shift);
        assert_eq!(b.poll_at(), a.poll_at().map(|t| t + shift));
    }
}
