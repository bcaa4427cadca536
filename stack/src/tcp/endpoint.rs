//! The TCP endpoint: demultiplexes segments to connections by 4-tuple, listens, picks
//! initial sequence numbers (RFC 6528), answers with SYN cookies when a listener's backlog
//! is full (RFC 4987), and resets segments for which there is no connection
//! (RFC 9293 §3.10.7.1).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv6Addr;

use ring::hmac;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr};

use crate::rand::RandomSource;
use crate::time::Instant;
use crate::wire::packet::fill_tcp_checksum;
use crate::wire::{checksum, DeferredChecksum, PacketTooBigRepr};

use super::config::TcpConfig;
use super::connection::Connection;
use super::pmtu::PMTU_EXPIRY;
use super::seq::Seq;
use super::types::{FourTuple, State};

/// MSS values a SYN cookie can encode (3 bits), largest last.
const COOKIE_MSS: [u16; 8] = [536, 1024, 1200, 1220, 1360, 1400, 1416, 1440];
/// A SYN cookie's clock ticks every 64 s.
const COOKIE_TICK_MICROS: i64 = 64_000_000;
/// Destinations whose path MTU the endpoint remembers (RFC 8201 §5.2: per destination).
pub const PMTU_CACHE_ENTRIES: usize = 4096;

/// A segment written by [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Whose segment (local = source, remote = destination).
    pub tuple: FourTuple,
    /// Length of the TCP segment in the buffer.
    pub len: usize,
    /// A super-segment's segment size (only with [`TcpConfig::tso_max`]): the payload
    /// bytes per segment the I/O below splits it into. `None` for an ordinary segment.
    pub segment_size: Option<u16>,
}

/// Why a connection could not be opened or inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// A connection with this 4-tuple exists.
    #[error("a connection {0} already exists")]
    TupleInUse(FourTuple),
}

/// Endpoint counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// SYN-ACKs sent with a cookie instead of state.
    pub syn_cookies_sent: u64,
    /// Connections established from a valid cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs whose cookie did not verify.
    pub syn_cookies_rejected: u64,
    /// RSTs sent for segments with no connection.
    pub resets_sent: u64,
    /// ICMPv6 Packet Too Big messages a connection accepted (RFC 8201; see
    /// [`Connection::handle_packet_too_big`]).
    pub ptb_accepted: u64,
    /// Packet Too Big messages ignored: quoting no TCP segment, none of a connection of
    /// ours, or data not in flight (RFC 5927 §4.1).
    pub ptb_ignored: u64,
}

/// Many connections behind one set of addresses.
pub struct Endpoint {
    config: TcpConfig,
    isn_key: hmac::Key,
    cookie_key: hmac::Key,
    listeners: BTreeSet<u16>,
    connections: HashMap<FourTuple, Connection>,
    /// Connections that may have something to send.
    dirty: BTreeSet<FourTuple>,
    /// Every connection's next deadline, so that the earliest is found without walking
    /// all connections (a member may hold tens of thousands).
    deadlines: BTreeSet<(Instant, FourTuple)>,
    scheduled: HashMap<FourTuple, Instant>,
    /// Half-open (SYN-RECEIVED) connections per listening port.
    half_open: BTreeMap<u16, usize>,
    accept_queue: VecDeque<FourTuple>,
    control: VecDeque<(FourTuple, ControlSegment)>,
    stats: EndpointStats,
    /// Learned path MTUs per destination, with when each expires (RFC 8201 §4, §5.2).
    pmtu_cache: HashMap<Ipv6Addr, (u16, Instant)>,
    /// The latest time any call brought, for calls that bring none (`insert`).
    clock: Instant,
    /// When this endpoint last answered a SYN with a cookie: only then can an ACK for no
    /// connection complete one (as Linux's `tcp_synq_no_recent_overflow`), so a flood of
    /// bogus ACKs costs no HMAC otherwise.
    last_cookie_sent: Option<Instant>,
}

/// A stateless segment to send (RST, or a cookie SYN-ACK).
#[derive(Debug, Clone, Copy)]
struct ControlSegment {
    control: TcpControl,
    seq: Seq,
    ack: Option<Seq>,
    mss: Option<u16>,
}

impl Endpoint {
    /// An endpoint whose ISN and cookie secrets come from `rng`.
    pub fn new(config: TcpConfig, rng: &mut dyn RandomSource) -> Self {
        let mut isn = [0u8; 32];
        let mut cookie = [0u8; 32];
        rng.fill(&mut isn);
        rng.fill(&mut cookie);
        Endpoint {
            config,
            isn_key: hmac::Key::new(hmac::HMAC_SHA256, &isn),
            cookie_key: hmac::Key::new(hmac::HMAC_SHA256, &cookie),
            listeners: BTreeSet::new(),
            connections: HashMap::new(),
            dirty: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            scheduled: HashMap::new(),
            half_open: BTreeMap::new(),
            accept_queue: VecDeque::new(),
            control: VecDeque::new(),
            stats: EndpointStats::default(),
            pmtu_cache: HashMap::new(),
            clock: Instant::ZERO,
            last_cookie_sent: None,
        }
    }

    /// The configuration new connections get.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Accepts connections to `port` on any local address.
    pub fn listen(&mut self, port: u16) {
        self.listeners.insert(port);
    }

    /// Stops accepting connections to `port`.
    pub fn unlisten(&mut self, port: u16) {
        self.listeners.remove(&port);
    }

    /// RFC 6528: ISN = M + F(local, lport, remote, rport, secret), M a 4 µs clock.
    pub fn initial_sequence(&self, now: Instant, tuple: &FourTuple) -> Seq {
        let tag = hmac::sign(&self.isn_key, &tuple_bytes(tuple, &[]));
        let f = u32::from_be_bytes([
            tag.as_ref()[0],
            tag.as_ref()[1],
            tag.as_ref()[2],
            tag.as_ref()[3],
        ]);
        Seq(((now.total_micros() / 4) as u32).wrapping_add(f))
    }

    /// Opens a connection; its SYN goes out with the next `poll_transmit`.
    pub fn connect(&mut self, now: Instant, tuple: FourTuple) -> Result<FourTuple, EndpointError> {
        if self.connections.contains_key(&tuple) {
            return Err(EndpointError::TupleInUse(tuple));
        }
        let iss = self.initial_sequence(now, &tuple);
        let mut conn = Connection::connect(&self.config, tuple, iss, now);
        self.start_path_mtu(now, &mut conn);
        self.connections.insert(tuple, conn);
        self.dirty.insert(tuple);
        Ok(tuple)
    }

    /// The next established connection from a listener, if any.
    pub fn accept(&mut self) -> Option<FourTuple> {
        self.accept_queue.pop_front()
    }

    /// A connection, for reading its state.
    pub fn connection(&self, tuple: &FourTuple) -> Option<&Connection> {
        self.connections.get(tuple)
    }

    /// A connection, for sending, receiving or closing.
    pub fn connection_mut(&mut self, tuple: &FourTuple) -> Option<&mut Connection> {
        let c = self.connections.get_mut(tuple)?;
        self.dirty.insert(*tuple);
        Some(c)
    }

    /// The 4-tuples of all connections.
    pub fn tuples(&self) -> impl Iterator<Item = &FourTuple> {
        self.connections.keys()
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether there are no connections.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Takes a connection out (e.g. after a handoff committed).
    pub fn remove(&mut self, tuple: &FourTuple) -> Option<Connection> {
        self.dirty.remove(tuple);
        let c = self.connections.remove(tuple)?;
        self.reschedule(*tuple);
        if c.state() == State::SynReceived {
            self.half_open_done(tuple.local_port);
        }
        Some(c)
    }

    /// Puts a connection in (e.g. one restored from a snapshot). Its path MTU starts over
    /// from this endpoint's: what is cached for its peer, or the configured MTU
    /// ([`Connection::reset_path_mtu`]): a connection handed over from another node
    /// reaches its peer by another path (RFC 8201 §5.2).
    pub fn insert(&mut self, mut connection: Connection) -> Result<(), EndpointError> {
        let tuple = connection.tuple();
        if self.connections.contains_key(&tuple) {
            return Err(EndpointError::TupleInUse(tuple));
        }
        // No time is given: the latest this endpoint saw, or the connection's own last
        // input (a restored connection's clock is already this node's).
        let now = self.clock.max(connection.last_recv);
        let mtu = self.path_mtu(now, &tuple.remote);
        connection.reset_path_mtu(now, mtu.map_or(self.config.mtu, usize::from));
        // Segmentation offload is this endpoint's I/O's, not the connection's.
        connection.config.tso_max = self.config.tso_max;
        self.connections.insert(tuple, connection);
        self.dirty.insert(tuple);
        self.reschedule(tuple);
        Ok(())
    }

    /// The path MTU learned for `remote` (from Packet Too Big or probing), if it has not
    /// expired by `now` (RFC 8201 §4: after 10 minutes a larger one is tried again).
    pub fn path_mtu(&self, now: Instant, remote: &Ipv6Addr) -> Option<u16> {
        self.pmtu_cache
            .get(remote)
            .filter(|(_, expires)| *expires > now)
            .map(|(mtu, _)| *mtu)
    }

    /// A new connection starts from the MTU cached for its peer, if any.
    fn start_path_mtu(&self, now: Instant, conn: &mut Connection) {
        if let Some(mtu) = self.path_mtu(now, &conn.tuple().remote) {
            conn.reset_path_mtu(now, usize::from(mtu));
        }
    }

    /// Remembers what `tuple`'s connection learned about its path, in a cache of at most
    /// [`PMTU_CACHE_ENTRIES`] destinations (the entry nearest expiry goes first).
    fn learn_path_mtu(&mut self, now: Instant, tuple: &FourTuple) {
        self.clock = self.clock.max(now);
        let Some(mtu) = self
            .connections
            .get_mut(tuple)
            .and_then(Connection::take_learned_mtu)
        else {
            return;
        };
        let cache = &mut self.pmtu_cache;
        if cache.len() >= PMTU_CACHE_ENTRIES && !cache.contains_key(&tuple.remote) {
            cache.retain(|_, (_, expires)| *expires > now);
            if cache.len() >= PMTU_CACHE_ENTRIES {
                let oldest = cache
                    .iter()
                    .min_by_key(|(a, (_, e))| (*e, **a))
                    .map(|(a, _)| *a);
                if let Some(a) = oldest {
                    cache.remove(&a);
                }
            }
        }
        cache.insert(tuple.remote, (mtu, now + PMTU_EXPIRY));
    }

    /// Handles an ICMPv6 Packet Too Big about a TCP segment this endpoint sent from
    /// `local` to `remote`: the addresses after Mobile IPv6 mapping (the home or anycast
    /// address we send from, from the quoted HAO when we sent from a care-of address; the
    /// peer's address, the quoted RH2's when we sent to its care-of address). The
    /// connection validates and applies it ([`Connection::handle_packet_too_big`]) and
    /// the endpoint caches the MTU for `remote`. Returns whether it was accepted; either
    /// way it is counted.
    pub fn handle_packet_too_big(
        &mut self,
        now: Instant,
        local: Ipv6Addr,
        remote: Ipv6Addr,
        ptb: &PacketTooBigRepr,
    ) -> bool {
        self.clock = self.clock.max(now);
        let conn = ptb.tcp.and_then(|t| {
            let tuple = FourTuple {
                local,
                local_port: t.src_port,
                remote,
                remote_port: t.dst_port,
            };
            self.connections.get_mut(&tuple).map(|c| (tuple, c, t.seq))
        });
        let accepted = match conn {
            Some((tuple, c, seq)) => {
                let ok = c.handle_packet_too_big(now, ptb.mtu, Seq(seq), ptb.ext_len);
                if ok {
                    self.learn_path_mtu(now, &tuple);
                    self.dirty.insert(tuple);
                    self.reschedule(tuple);
                }
                ok
            }
            None => false,
        };
        if accepted {
            self.stats.ptb_accepted += 1;
        } else {
            self.stats.ptb_ignored += 1;
        }
        accepted
    }

    /// Re-files `tuple`'s deadline in the index (after anything that may change it).
    fn reschedule(&mut self, tuple: FourTuple) {
        if let Some(old) = self.scheduled.remove(&tuple) {
            self.deadlines.remove(&(old, tuple));
        }
        if let Some(t) = self
            .connections
            .get(&tuple)
            .and_then(Connection::poll_timeout)
        {
            self.deadlines.insert((t, tuple));
            self.scheduled.insert(tuple, t);
        }
    }

    fn half_open_done(&mut self, port: u16) {
        if let Some(n) = self.half_open.get_mut(&port) {
            *n = n.saturating_sub(1);
        }
    }

    /// Processes a segment from `src` to `dst` (`src` is the peer). For Mobile IPv6 these
    /// are the home-address-level addresses (after RH2/HAO translation).
    pub fn handle_segment(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        seg: &TcpRepr<'_>,
    ) {
        let tuple = FourTuple {
            local: dst,
            local_port: seg.dst_port,
            remote: src,
            remote_port: seg.src_port,
        };
        if let Some(conn) = self.connections.get_mut(&tuple) {
            let before = conn.state();
            conn.handle_segment(now, seg);
            self.segment_handled(now, tuple, before);
            return;
        }
        if self.listeners.contains(&seg.dst_port) {
            match (seg.control, seg.ack_number) {
                (TcpControl::Syn, None) => return self.handle_listen_syn(now, tuple, seg),
                (TcpControl::None | TcpControl::Psh, Some(ack))
                    if self.try_cookie(now, tuple, seg, Seq::from(ack)) =>
                {
                    return;
                }
                (TcpControl::Rst, _) => return,
                _ => {}
            }
        }
        self.reset_for(tuple, seg);
    }

    /// Offers a segment for no known connection to the SYN-cookie check only (RFC 4987
    /// §3.6): an ACK to a listening port whose acknowledgement number is a valid cookie
    /// this endpoint sent opens the connection (data on the ACK included), and returns
    /// true. Anything else changes nothing and is not answered: the caller decides
    /// (a group member never resets a connection another member may hold).
    pub fn try_syn_cookie(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let tuple = FourTuple {
            local: dst,
            local_port: seg.dst_port,
            remote: src,
            remote_port: seg.src_port,
        };
        // A cookie is good for this tick and the one before.
        let recent = self.last_cookie_sent.is_some_and(|t| {
            now.saturating_since(t).total_micros() < 2 * COOKIE_TICK_MICROS as u64
        });
        if !recent
            || self.connections.contains_key(&tuple)
            || !self.listeners.contains(&seg.dst_port)
        {
            return false;
        }
        match (seg.control, seg.ack_number) {
            (TcpControl::None | TcpControl::Psh, Some(ack)) => {
                self.try_cookie(now, tuple, seg, Seq::from(ack))
            }
            _ => false,
        }
    }

    /// [`Endpoint::handle_segment`] for a segment whose checksum is still to be verified
    /// ([`crate::wire::parse_tcp_deferred`], [`crate::wire::parse_deferred`]): the connection
    /// sums the payload while it copies it in ([`Connection::handle_segment_deferred`]).
    /// Returns false, having done nothing, when the checksum does not verify.
    pub fn handle_segment_deferred(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        seg: &TcpRepr<'_>,
        check: DeferredChecksum,
    ) -> bool {
        let tuple = FourTuple {
            local: dst,
            local_port: seg.dst_port,
            remote: src,
            remote_port: seg.src_port,
        };
        if let Some(conn) = self.connections.get_mut(&tuple) {
            let before = conn.state();
            if !conn.handle_segment_deferred(now, seg, check) {
                return false;
            }
            self.segment_handled(now, tuple, before);
            return true;
        }
        if !check.verifies(checksum::sum(0, seg.payload)) {
            return false;
        }
        self.handle_segment(now, src, dst, seg);
        true
    }

    /// Bookkeeping after `tuple`'s connection, in state `before`, took a segment.
    fn segment_handled(&mut self, now: Instant, tuple: FourTuple, before: State) {
        self.learn_path_mtu(now, &tuple);
        let after = self
            .connections
            .get(&tuple)
            .map_or(State::Closed, Connection::state);
        if before == State::SynReceived && after != State::SynReceived {
            self.half_open_done(tuple.local_port);
            if after.is_synchronized() {
                self.accept_queue.push_back(tuple);
            }
        }
        self.dirty.insert(tuple);
        self.reschedule(tuple);
    }

    fn handle_listen_syn(&mut self, now: Instant, tuple: FourTuple, seg: &TcpRepr<'_>) {
        let pending = self.half_open.get(&tuple.local_port).copied().unwrap_or(0);
        if pending >= self.config.accept_backlog {
            return self.send_cookie(now, tuple, seg);
        }
        let iss = self.initial_sequence(now, &tuple);
        let mut conn = Connection::accept(&self.config, tuple, iss, now, seg);
        self.start_path_mtu(now, &mut conn);
        self.connections.insert(tuple, conn);
        *self.half_open.entry(tuple.local_port).or_default() += 1;
        self.dirty.insert(tuple);
        self.reschedule(tuple);
    }

    fn cookie_hash(&self, tuple: &FourTuple, tick: u32, irs: Seq) -> u32 {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&tick.to_be_bytes());
        extra[4..].copy_from_slice(&irs.0.to_be_bytes());
        let tag = hmac::sign(&self.cookie_key, &tuple_bytes(tuple, &extra));
        u32::from_be_bytes([
            tag.as_ref()[0],
            tag.as_ref()[1],
            tag.as_ref()[2],
            tag.as_ref()[3],
        ])
    }

    /// RFC 4987 §3.6: the ISN encodes a 5-bit time counter, a 3-bit MSS index and a 24-bit
    /// keyed hash of the 4-tuple, the counter and the peer's ISN.
    fn send_cookie(&mut self, now: Instant, tuple: FourTuple, seg: &TcpRepr<'_>) {
        let tick = (now.total_micros() / COOKIE_TICK_MICROS) as u32;
        let peer_mss = seg.max_seg_size.unwrap_or(536);
        let mss_index = COOKIE_MSS.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32;
        let irs = Seq::from(seg.seq_number);
        let hash = self.cookie_hash(&tuple, tick, irs) & 0x00ff_ffff;
        let cookie = ((tick & 0x1f) << 27) | (mss_index << 24) | hash;
        self.stats.syn_cookies_sent += 1;
        self.last_cookie_sent = Some(now);
        self.control.push_back((
            tuple,
            ControlSegment {
                control: TcpControl::Syn,
                seq: Seq(cookie),
                ack: Some(irs.wrapping_add(1)),
                mss: Some(self.config.announced_mss()),
            },
        ));
    }

    fn try_cookie(&mut self, now: Instant, tuple: FourTuple, seg: &TcpRepr<'_>, ack: Seq) -> bool {
        let cookie = ack.0.wrapping_sub(1);
        let irs = Seq::from(seg.seq_number).wrapping_add(u32::MAX); // SEG.SEQ - 1
        let now_tick = (now.total_micros() / COOKIE_TICK_MICROS) as u32;
        let mss_index = ((cookie >> 24) & 7) as usize;
        // Accept cookies from this tick or the one before.
        let valid = [now_tick, now_tick.wrapping_sub(1)].iter().any(|&tick| {
            (cookie >> 27) == (tick & 0x1f)
                && (cookie & 0x00ff_ffff) == (self.cookie_hash(&tuple, tick, irs) & 0x00ff_ffff)
        });
        if !valid {
            self.stats.syn_cookies_rejected += 1;
            return false;
        }
        self.stats.syn_cookies_accepted += 1;
        let mut conn = Connection::from_cookie(
            &self.config,
            tuple,
            Seq(cookie),
            irs,
            COOKIE_MSS[mss_index],
            now,
            seg,
        );
        self.start_path_mtu(now, &mut conn);
        conn.handle_segment(now, seg);
        self.connections.insert(tuple, conn);
        self.accept_queue.push_back(tuple);
        self.dirty.insert(tuple);
        self.reschedule(tuple);
        true
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST, unless it is one.
    fn reset_for(&mut self, tuple: FourTuple, seg: &TcpRepr<'_>) {
        if seg.control == TcpControl::Rst {
            return;
        }
        let rst = match seg.ack_number {
            Some(ack) => ControlSegment {
                control: TcpControl::Rst,
                seq: Seq::from(ack),
                ack: None,
                mss: None,
            },
            None => {
                let len = seg.payload.len() as u32
                    + u32::from(matches!(seg.control, TcpControl::Syn | TcpControl::Fin));
                ControlSegment {
                    control: TcpControl::Rst,
                    seq: Seq(0),
                    ack: Some(Seq::from(seg.seq_number).wrapping_add(len)),
                    mss: None,
                }
            }
        };
        self.stats.resets_sent += 1;
        self.control.push_back((tuple, rst));
    }

    /// Writes the next segment to send into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.clock = self.clock.max(now);
        if let Some((tuple, c)) = self.control.pop_front() {
            let repr = TcpRepr {
                src_port: tuple.local_port,
                dst_port: tuple.remote_port,
                control: c.control,
                seq_number: c.seq.into(),
                ack_number: c.ack.map(Into::into),
                window_len: if c.control == TcpControl::Rst {
                    0
                } else {
                    u16::MAX
                },
                window_scale: None,
                max_seg_size: c.mss,
                sack_permitted: false,
                sack_ranges: [None; 3],
                timestamp: None,
                payload: &[],
            };
            let len = repr.buffer_len();
            if buf.len() < len {
                return None;
            }
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut buf[..len]),
                &IpAddress::Ipv6(tuple.local),
                &IpAddress::Ipv6(tuple.remote),
                &ChecksumCapabilities::ignored(),
            );
            fill_tcp_checksum(&tuple.local, &tuple.remote, &mut buf[..len]);
            return Some(Transmit {
                tuple,
                len,
                segment_size: None,
            });
        }
        while let Some(tuple) = self.dirty.first().copied() {
            let sent = self
                .connections
                .get_mut(&tuple)
                .and_then(|c| c.poll_transmit_segment(now, buf));
            self.reschedule(tuple);
            if let Some(e) = sent {
                return Some(Transmit {
                    tuple,
                    len: e.len,
                    segment_size: e.segment_size,
                });
            }
            self.dirty.remove(&tuple);
        }
        None
    }

    /// The earliest deadline of any connection (call after `poll_transmit` has drained
    /// what the application's calls queued: that re-files their deadlines).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Fires expired timers and drops half-open connections that timed out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<FourTuple> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, tuple)| *tuple)
            .collect();
        for tuple in due {
            let Some(conn) = self.connections.get_mut(&tuple) else {
                self.reschedule(tuple);
                continue;
            };
            let before = conn.state();
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
            let conn_state = conn.state();
            self.learn_path_mtu(now, &tuple);
            let half_open_died = before == State::SynReceived && conn_state == State::Closed;
            self.dirty.insert(tuple);
            if half_open_died {
                self.half_open_done(tuple.local_port);
                self.connections.remove(&tuple);
                self.dirty.remove(&tuple);
            }
            self.reschedule(tuple);
        }
    }
}

fn tuple_bytes(t: &FourTuple, extra: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(36 + extra.len());
    v.extend_from_slice(&t.local.octets());
    v.extend_from_slice(&t.local_port.to_be_bytes());
    v.extend_from_slice(&t.remote.octets());
    v.extend_from_slice(&t.remote_port.to_be_bytes());
    v.extend_from_slice(extra);
    v
}
