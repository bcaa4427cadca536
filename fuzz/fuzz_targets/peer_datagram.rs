//! Fuzz target `peer_datagram`: UDP payloads into the receive path of the group's peer
//! channel (`PeerChannel::open`, what a member calls for every datagram to
//! `PEER_PORT`): arbitrary bytes, and genuine datagrams sealed by two other members with
//! the same group key, delivered as they are (in any order, any number of times) or
//! mutated (bit flips, truncation, extra bytes), interleaved with time passing,
//! retransmissions and acknowledgements going back to the senders.
//!
//! Checks, after every datagram: no panic; a datagram that is not byte for byte one the
//! group key authenticated is refused as malformed or forged (never accepted, never kept
//! for reassembly, never counted as a replay); a message is delivered at most once, from
//! the sender and with the sequence number of its datagram header, addressed to the
//! receiver, and equal to what its sender sealed; a copy of a datagram of a message
//! already delivered is refused as a replay; the counters (`accepted`, `forged`,
//! `replayed`, `malformed`) match the results.
//!
//! Input: a sequence of records, each an opcode byte then its arguments:
//! - 0: raw bytes (2-byte length + data);
//! - 1: a member seals a message (1 byte: sender, receiver, reliable or not; 1 byte:
//!   kind; 2 bytes: size) and its datagrams join the pool;
//! - 2: a datagram of the pool (1-byte index) as it is;
//! - 3: the same with up to four bit flips (count byte, then 2-byte position + bit byte);
//! - 4: the same cut to a length (2 bytes), or with bytes appended (1-byte length + data);
//! - 5: time passes (2-byte milliseconds): purge, retransmissions (into the pool),
//!   acknowledgements back to the senders;
//! - 6: a datagram signed here with the group key from fuzzer-chosen header fields and
//!   chunk bytes (the chunk is authentic; the message inside need not be; with count 1
//!   the single datagram's MAC, so the chunk is a whole authentic message of garbage);
//! - 7: a whole message signed here with the group key: the header fields, then postcard
//!   bytes of a body (2-byte length + data) after `from`, `to` and `seq`, with its message
//!   MAC, cut into chunks like the channel does (so authentic garbage reaches postcard);
//! - 8: a message sealed with another key (every datagram must be refused as forged).
#![no_main]

use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use ring::hmac;
use vany_appliance::group::peer::{
    MemberId, PeerBody, PeerChannel, PeerError, PeerMessage, PeerStats, RefuseReason, CHUNK,
};
use vany_stack::time::{Duration, Instant};

const KEY: &[u8] = b"fuzz group key";
/// The receiver.
const ME: MemberId = 2;
/// Header bytes before a chunk (magic, version, from, seq, index, count).
const HEADER: usize = 19;
/// The peer protocol version in the header.
const VERSION: u8 = 3;
/// Bytes of the tag of a datagram of a message of several.
const CHUNK_TAG: usize = 16;
/// Bytes of a message MAC, and of the MAC of a message of one datagram.
const TAG: usize = 32;
const POOL: usize = 256;

fn body(kind: u8, size: usize) -> PeerBody {
    let client = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, u16::from(kind));
    let bytes = vec![kind; size];
    match kind % 10 {
        0 => PeerBody::HomeTestRequest { client },
        1 => PeerBody::Probe { client },
        2 => PeerBody::Transfer {
            transfer: u64::from(kind),
            index: 0,
            count: 1,
            session: bytes,
        },
        3 => PeerBody::Forward {
            transfer: 1,
            packet: bytes,
        },
        4 => PeerBody::Ack {
            seqs: (0..size.min(64) as u64).collect(),
        },
        5 => PeerBody::Refused {
            transfer: 2,
            reason: RefuseReason::Malformed("x".repeat(size.min(2000))),
        },
        6 => PeerBody::Load {
            sessions: size as u32,
        },
        7 => PeerBody::Precopy {
            transfer: 3,
            client,
            local_port: 80,
            remote_port: 40000,
            offset: size as u64,
            bytes,
        },
        8 => PeerBody::Commit { transfer: 4 },
        _ => PeerBody::Serving { client, member: 3 },
    }
}

struct World {
    now: Instant,
    rx: PeerChannel,
    /// Members 1 and 3 with the group key.
    senders: [PeerChannel; 2],
    evil: PeerChannel,
    key: hmac::Key,
    /// Datagrams to deliver (genuine, retransmitted, signed here, forged).
    pool: Vec<Vec<u8>>,
    /// Every datagram the group key authenticates, with its (from, seq) and whether a
    /// member sealed it (rather than this harness).
    authentic: HashMap<Vec<u8>, (MemberId, u64, bool)>,
    /// What members 1 and 3 sealed, by (from, seq).
    sealed: HashMap<(MemberId, u64), PeerMessage>,
    /// (from, seq) of datagrams signed here: their content is the fuzzer's.
    tainted: HashSet<(MemberId, u64)>,
    delivered: HashSet<(MemberId, u64)>,
    expect: PeerStats,
}

/// The (from, seq) of a datagram header, if it has one.
fn header(d: &[u8]) -> Option<(MemberId, u64)> {
    let h = d.get(..HEADER)?;
    let seq = u64::from_be_bytes(h[7..15].try_into().unwrap());
    Some((u16::from_be_bytes([h[5], h[6]]), seq))
}

impl World {
    fn new() -> World {
        World {
            now: Instant::from_secs(100),
            rx: PeerChannel::new(ME, KEY),
            senders: [PeerChannel::new(1, KEY), PeerChannel::new(3, KEY)],
            evil: PeerChannel::new(1, b"another group"),
            key: hmac::Key::new(hmac::HMAC_SHA256, KEY),
            pool: Vec::new(),
            authentic: HashMap::new(),
            sealed: HashMap::new(),
            tainted: HashSet::new(),
            delivered: HashSet::new(),
            expect: PeerStats::default(),
        }
    }

    fn remember(&mut self, d: &[u8]) {
        if self.pool.len() < POOL {
            self.pool.push(d.to_vec());
        }
    }

    fn seal(&mut self, a: u8, kind: u8, size: usize) {
        let s = usize::from(a & 1);
        let from = [1, 3][s];
        let to = if a & 6 == 6 { 3 } else { ME };
        let body = body(kind, size);
        let (seq, datagrams) = if a & 8 != 0 {
            self.senders[s].send(self.now, to, body.clone())
        } else {
            let d = self.senders[s].seal(to, body.clone());
            let seq = header(&d[0]).expect("a sealed datagram has a header").1;
            (seq, d)
        };
        self.sealed.insert(
            (from, seq),
            PeerMessage {
                from,
                to,
                seq,
                body,
            },
        );
        for d in &datagrams {
            assert_eq!(header(d), Some((from, seq)));
            self.authentic.insert(d.clone(), (from, seq, true));
            self.remember(d);
        }
    }

    /// The (from, seq) of a datagram that carries a valid MAC under the group key (the
    /// single datagram's, or a chunk's tag) although this run did not make it: libFuzzer
    /// can bring a genuine datagram over from an earlier run (it sees the datagrams this
    /// harness compares), and a receiver that never saw it rightly takes it. Its
    /// content is then not this run's to check (tainted).
    fn signed_elsewhere(&mut self, d: &[u8]) -> Option<(MemberId, u64, bool)> {
        let (from, seq) = header(d)?;
        let count = u16::from_be_bytes([d[17], d[18]]);
        let len = if count == 1 { TAG } else { CHUNK_TAG };
        let (signed, tag) = d.split_at(d.len().checked_sub(len)?);
        if signed.len() < HEADER || hmac::sign(&self.key, signed).as_ref()[..len] != *tag {
            return None;
        }
        self.authentic.insert(d.to_vec(), (from, seq, false));
        self.tainted.insert((from, seq));
        Some((from, seq, false))
    }

    fn open(&mut self, d: &[u8]) {
        let authentic = match self.authentic.get(d).copied() {
            Some(a) => Some(a),
            None => self.signed_elsewhere(d),
        };
        let r = self.rx.open(self.now, d);
        match &r {
            Ok(m) => {
                let (from, seq, _) = authentic.expect("only authentic datagrams are accepted");
                assert_eq!(
                    (m.from, m.seq),
                    (from, seq),
                    "the header's sender and number"
                );
                assert_eq!(m.to, ME);
                assert!(
                    self.delivered.insert((from, seq)),
                    "message {from}/{seq} delivered twice"
                );
                if !self.tainted.contains(&(from, seq)) {
                    assert_eq!(self.sealed.get(&(from, seq)), Some(m), "what was sealed");
                }
                self.expect.accepted += 1;
            }
            Err(e) => {
                if authentic.is_none() {
                    assert!(
                        matches!(e, PeerError::Malformed | PeerError::Forged),
                        "an unauthentic datagram gave {e:?}"
                    );
                } else if let Some((from, seq, true)) = authentic {
                    if self.delivered.contains(&(from, seq)) {
                        assert_eq!(*e, PeerError::Replayed, "a copy of delivered {from}/{seq}");
                    }
                }
                match e {
                    PeerError::Malformed => self.expect.malformed += 1,
                    PeerError::Forged => self.expect.forged += 1,
                    PeerError::Replayed => self.expect.replayed += 1,
                    PeerError::Incomplete => {}
                }
            }
        }
        let s = self.rx.stats();
        assert_eq!(
            (s.accepted, s.forged, s.replayed, s.malformed),
            (
                self.expect.accepted,
                self.expect.forged,
                self.expect.replayed,
                self.expect.malformed
            ),
            "counters match the results"
        );
    }

    fn time(&mut self, ms: u16) {
        self.now = self.now + Duration::from_millis(u64::from(ms));
        self.rx.purge(self.now);
        for s in 0..2 {
            let again = self.senders[s].poll_retransmit(self.now);
            for (_, d) in again {
                assert!(
                    self.authentic.contains_key(&d),
                    "a retransmission is a copy"
                );
                self.remember(&d);
            }
        }
        for (peer, seqs) in self.rx.take_acks(self.now) {
            if let Some(s) = [1, 3].iter().position(|p| *p == peer) {
                let _ = self.senders[s].acknowledged(self.now, peer, &seqs);
            }
        }
    }

    /// Header + chunk + tag, signed with the group key: a 16-byte chunk tag when `count`
    /// is more than 1, else the single datagram's 32-byte MAC (the chunk is then the
    /// whole message, without a message MAC of its own).
    fn sign_chunk(
        &mut self,
        from: MemberId,
        seq: u64,
        index: u16,
        count: u16,
        chunk: &[u8],
    ) -> Vec<u8> {
        let mut d = Vec::with_capacity(HEADER + chunk.len() + TAG);
        d.extend_from_slice(b"VANY");
        d.push(VERSION);
        d.extend_from_slice(&from.to_be_bytes());
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&index.to_be_bytes());
        d.extend_from_slice(&count.to_be_bytes());
        d.extend_from_slice(chunk);
        let tag = hmac::sign(&self.key, &d);
        let len = if count == 1 { TAG } else { CHUNK_TAG };
        d.extend_from_slice(&tag.as_ref()[..len]);
        self.authentic
            .entry(d.clone())
            .or_insert((from, seq, false));
        self.tainted.insert((from, seq));
        d
    }

    /// A whole message of fuzzer-chosen postcard bytes, signed and chunked.
    fn sign_message(&mut self, from: MemberId, seq: u64, body: &[u8]) -> Vec<Vec<u8>> {
        let mut bytes = postcard::to_allocvec(&(from, ME, seq)).expect("postcard");
        bytes.extend_from_slice(body);
        if bytes.len() + TAG <= CHUNK {
            // One datagram: its MAC over header and message is the only one.
            return vec![self.sign_chunk(from, seq, 0, 1, &bytes)];
        }
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(tag.as_ref());
        let count = bytes.len().div_ceil(CHUNK).max(1) as u16;
        let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| self.sign_chunk(from, seq, i as u16, count, c))
            .collect()
    }
}

fn take<'a>(data: &'a [u8], i: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = data.get(*i..*i + n)?;
    *i += n;
    Some(s)
}

fn run(data: &[u8]) -> Option<()> {
    let mut w = World::new();
    let mut i = 0;
    for _ in 0..256 {
        let op = take(data, &mut i, 1)?[0];
        match op % 9 {
            0 => {
                let l = take(data, &mut i, 2)?;
                let len = usize::from(u16::from_be_bytes([l[0], l[1]])).min(data.len() - i);
                let d = take(data, &mut i, len)?.to_vec();
                w.open(&d);
            }
            1 => {
                let a = take(data, &mut i, 4)?;
                let size = usize::from(u16::from_be_bytes([a[2], a[3]])) % 12_000;
                w.seal(a[0], a[1], size);
            }
            op @ 2..=4 => {
                let k = take(data, &mut i, 1)?[0];
                if w.pool.is_empty() {
                    continue;
                }
                let mut d = w.pool[usize::from(k) % w.pool.len()].clone();
                if op == 3 {
                    let flips = take(data, &mut i, 1)?[0] % 4 + 1;
                    for _ in 0..flips {
                        let f = take(data, &mut i, 3)?;
                        let at = usize::from(u16::from_be_bytes([f[0], f[1]])) % d.len();
                        d[at] ^= 1 << (f[2] % 8);
                    }
                } else if op == 4 {
                    let f = take(data, &mut i, 2)?;
                    if f[0] & 0x80 != 0 {
                        let n = usize::from(f[1]);
                        d.extend_from_slice(take(data, &mut i, n)?);
                    } else {
                        let len = usize::from(u16::from_be_bytes([f[0], f[1]])) % d.len();
                        d.truncate(len);
                    }
                }
                w.open(&d);
            }
            5 => {
                let t = take(data, &mut i, 2)?;
                w.time(u16::from_be_bytes([t[0], t[1]]));
            }
            6 => {
                let h = take(data, &mut i, 15)?;
                let from = u16::from_be_bytes([h[0], h[1]]);
                let seq = u64::from_be_bytes(h[2..10].try_into().unwrap());
                let index = u16::from_be_bytes([h[10], h[11]]);
                let count = u16::from_be_bytes([h[12], h[13]]);
                let chunk = take(data, &mut i, usize::from(h[14]) * 8)?.to_vec();
                let d = w.sign_chunk(from, seq, index, count, &chunk);
                w.remember(&d);
                w.open(&d);
            }
            7 => {
                let h = take(data, &mut i, 13)?;
                let from = u16::from_be_bytes([h[0], h[1]]);
                let seq = u64::from_be_bytes(h[2..10].try_into().unwrap());
                let len = usize::from(u16::from_be_bytes([h[10], h[11]])).min(data.len() - i);
                let body = take(data, &mut i, len)?.to_vec();
                let mut ds = w.sign_message(from, seq, &body);
                if h[12] & 1 != 0 {
                    ds.reverse();
                }
                for d in &ds {
                    w.remember(d);
                    w.open(d);
                }
            }
            _ => {
                let a = take(data, &mut i, 3)?;
                let size = usize::from(u16::from_be_bytes([a[1], a[2]])) % 4000;
                for d in w.evil.seal(ME, body(a[0], size)) {
                    w.remember(&d);
                    w.open(&d);
                }
            }
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
