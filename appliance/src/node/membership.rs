//! Group membership and failure detection: SWIM ([`foca`]) over a real UDP socket.
//!
//! Each node runs one foca instance on its own UDP socket (`[gossip] listen` in
//! `node.toml`, an address of the node's network namespace, not the TUN's). Its identity
//! is the member id plus a `bump` (the start time in milliseconds), so that a restarted
//! node wins over what the group remembers of its earlier life, and so that a node that
//! was declared down renews itself and rejoins.
//!
//! Every datagram is authenticated under the group key:
//! `timestamp (8, ms since the Unix epoch, big-endian) | tag (32) | foca payload`, with
//! `tag = HMAC-SHA256(group key, "vany-gossip-1" | timestamp | payload)`. A datagram
//! whose tag does not verify is dropped and counted as `forged`; one whose timestamp is
//! more than [`MAX_SKEW`] away from this node's clock is dropped as `stale` (this bounds
//! replays to that window; SWIM's incarnation numbers make a replayed message within it
//! harmless). Datagrams that authenticate but that foca refuses count as `rejected`.
//! Forged and stale datagrams are logged through a [`LogLimit`]: the first few, then one
//! summary line per 10 s (the counters count them all). Datagrams that the kernel dropped
//! because the socket's receive buffer was full (a flood faster than the node reads)
//! count as `overflow` (`vany_drops_total{reason="gossip_overflow"}`).
//!
//! Foca's notifications become [`MembershipEvent`]s for the data path: a member declared
//! down is excluded from handoffs (`Member::set_excluded(id, true)`), and included again
//! when it is back up. Until foca has seen a member up, the node treats it as down.
//! Members that foca does not know as active are announced to every
//! [`REANNOUNCE`] (bootstrap, and healing after a partition).
//!
//! [`Gossip`] is the sans-IO core (time passed in, datagrams out), tested here with
//! virtual time; [`spawn`] runs it on a thread with a socket.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{SocketAddr, UdpSocket};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use foca::{
    AccumulatingRuntime, Config, Foca, Identity, NoCustomBroadcast, OwnedNotification,
    PostcardCodec, Timer,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::config::GossipSettings;
use super::log_limit::LogLimit;
use crate::group::peer::MemberId;

/// Largest accepted difference between a datagram's timestamp and this node's clock.
pub const MAX_SKEW: StdDuration = StdDuration::from_secs(30);
/// How often members not known to be up are announced to.
pub const REANNOUNCE: StdDuration = StdDuration::from_secs(1);
/// Bytes in front of the foca payload: timestamp and tag.
pub const OVERHEAD: usize = 8 + 32;
const DOMAIN: &[u8] = b"vany-gossip-1";
/// Datagrams taken from the socket at most per wake, after the first.
const RECV_BURST: usize = 256;
/// Log line (and rate-limit reason) of a forged datagram.
const LOG_FORGED: &str = "forged gossip datagram dropped";
/// Log line (and rate-limit reason) of a stale datagram.
const LOG_STALE: &str = "stale gossip datagram dropped";

/// A node's foca identity: its member id and a bump that orders its lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeId {
    /// The member id.
    pub id: MemberId,
    /// Higher wins: the start time in ms, plus one per renewal.
    pub bump: u64,
}

impl Identity for NodeId {
    type Addr = MemberId;

    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            id: self.id,
            bump: self.bump.wrapping_add(1),
        })
    }

    fn addr(&self) -> MemberId {
        self.id
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// What the data path is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipEvent {
    /// The member is up: offer it sessions.
    Up(MemberId),
    /// The member is down: offer it no session.
    Down(MemberId),
}

/// What this node believes of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// Not heard of yet.
    Unknown,
    /// Up.
    Up,
    /// Declared down.
    Down,
}

/// Counters of the gossip socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GossipStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received that authenticated.
    pub received: u64,
    /// Dropped: the tag did not verify (or too short to carry one).
    pub forged: u64,
    /// Dropped: timestamp too far from this node's clock.
    pub stale: u64,
    /// Authenticated but refused by foca.
    pub rejected: u64,
    /// Sends that failed, or to a member with no known address.
    pub send_errors: u64,
    /// Dropped by the kernel before the node read them: the socket's receive buffer was
    /// full (a flood; the `drops` column of `/proc/net/udp6`, read once a second).
    pub overflow: u64,
}

/// Why a datagram was dropped before foca saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// Tag missing or wrong.
    Forged,
    /// Timestamp outside [`MAX_SKEW`].
    Stale,
}

/// The gossip key derived from the group key.
pub fn gossip_key(group_key: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, group_key)
}

fn tag(key: &hmac::Key, ts: [u8; 8], payload: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(DOMAIN);
    ctx.update(&ts);
    ctx.update(payload);
    ctx.sign()
}

/// Wraps `payload` for the wire at wall-clock time `now_ms`.
pub fn seal(key: &hmac::Key, now_ms: u64, payload: &[u8]) -> Vec<u8> {
    let ts = now_ms.to_be_bytes();
    let mut out = Vec::with_capacity(OVERHEAD + payload.len());
    out.extend_from_slice(&ts);
    out.extend_from_slice(tag(key, ts, payload).as_ref());
    out.extend_from_slice(payload);
    out
}

/// Checks a datagram received at wall-clock time `now_ms`; returns its foca payload.
pub fn open<'a>(key: &hmac::Key, now_ms: u64, datagram: &'a [u8]) -> Result<&'a [u8], AuthError> {
    if datagram.len() < OVERHEAD {
        return Err(AuthError::Forged);
    }
    let (ts, rest) = datagram.split_at(8);
    let (t, payload) = rest.split_at(32);
    let mut msg = Vec::with_capacity(DOMAIN.len() + datagram.len());
    msg.extend_from_slice(DOMAIN);
    msg.extend_from_slice(ts);
    msg.extend_from_slice(payload);
    hmac::verify(key, &msg, t).map_err(|_| AuthError::Forged)?;
    let sent = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
    if sent.abs_diff(now_ms) > MAX_SKEW.as_millis() as u64 {
        return Err(AuthError::Stale);
    }
    Ok(payload)
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

type Swim = Foca<NodeId, PostcardCodec, StdRng, NoCustomBroadcast>;

/// The sans-IO membership core of one node.
pub struct Gossip {
    foca: Swim,
    runtime: AccumulatingRuntime<NodeId>,
    key: hmac::Key,
    peers: BTreeMap<MemberId, SocketAddr>,
    timers: BinaryHeap<Reverse<(StdInstant, u64, Timer<NodeId>)>>,
    timer_seq: u64,
    next_announce: StdInstant,
    states: BTreeMap<MemberId, PeerState>,
    events: Vec<MembershipEvent>,
    outgoing: Vec<(SocketAddr, Vec<u8>)>,
    stats: GossipStats,
    log_limit: LogLimit,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("identity", self.foca.identity())
            .field("states", &self.states)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Gossip {
    /// Member `me` (life `bump`) among `peers` (every member's gossip socket; its own is
    /// ignored), authenticating with `group_key`, its randomness from `seed`.
    pub fn new(
        me: MemberId,
        bump: u64,
        settings: &GossipSettings,
        peers: BTreeMap<MemberId, SocketAddr>,
        group_key: &[u8],
        seed: [u8; 32],
        now: StdInstant,
    ) -> Gossip {
        let size = NonZeroU32::new(peers.len().max(1) as u32).expect("at least 1");
        let config = Config {
            probe_period: settings.probe_period,
            probe_rtt: settings.probe_rtt,
            suspect_to_down_after: settings.suspect_to_down,
            ..Config::new_lan(size)
        };
        let foca = Foca::new(
            NodeId { id: me, bump },
            config,
            StdRng::from_seed(seed),
            PostcardCodec,
        );
        let states = peers
            .keys()
            .filter(|id| **id != me)
            .map(|id| (*id, PeerState::Unknown))
            .collect();
        Gossip {
            foca,
            runtime: AccumulatingRuntime::new(),
            key: gossip_key(group_key),
            peers,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            next_announce: now,
            states,
            events: Vec::new(),
            outgoing: Vec::new(),
            stats: GossipStats::default(),
            log_limit: LogLimit::default(),
        }
    }

    /// This node's member id.
    pub fn id(&self) -> MemberId {
        self.foca.identity().id
    }

    /// What this node believes of every other member.
    pub fn states(&self) -> &BTreeMap<MemberId, PeerState> {
        &self.states
    }

    /// Counters.
    pub fn stats(&self) -> GossipStats {
        self.stats
    }

    /// Members up (foca's active members).
    pub fn members_up(&self) -> usize {
        self.foca.num_members()
    }

    /// A datagram arrived (at `now`, wall clock `now_ms`).
    pub fn handle_datagram(&mut self, now: StdInstant, now_ms: u64, datagram: &[u8]) {
        match open(&self.key, now_ms, datagram) {
            Ok(payload) => {
                self.stats.received += 1;
                if let Err(e) = self.foca.handle_data(payload, &mut self.runtime) {
                    self.stats.rejected += 1;
                    tracing::debug!(error = %e, "gossip datagram refused");
                }
            }
            Err(AuthError::Forged) => {
                self.stats.forged += 1;
                if self.log_limit.allow(now, LOG_FORGED) {
                    tracing::warn!(len = datagram.len(), "{LOG_FORGED}");
                }
            }
            Err(AuthError::Stale) => {
                self.stats.stale += 1;
                if self.log_limit.allow(now, LOG_STALE) {
                    tracing::warn!("{LOG_STALE}");
                }
            }
        }
        self.drain_runtime(now, now_ms);
    }

    /// Runs due timers and announcements, and logs the summaries of suppressed lines.
    pub fn poll(&mut self, now: StdInstant, now_ms: u64) {
        self.log_limit.log_due(now);
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, timer))) = self.timers.pop() else {
                break;
            };
            if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                tracing::debug!(error = %e, "foca timer");
            }
            self.drain_runtime(now, now_ms);
        }
        if now >= self.next_announce {
            self.next_announce = now + REANNOUNCE;
            let me = self.id();
            let silent: Vec<MemberId> = self
                .peers
                .keys()
                .filter(|id| **id != me && self.states.get(id) != Some(&PeerState::Up))
                .copied()
                .collect();
            for id in silent {
                // Any life of `id` accepts an announce addressed to bump 0.
                if let Err(e) = self
                    .foca
                    .announce(NodeId { id, bump: 0 }, &mut self.runtime)
                {
                    tracing::debug!(error = %e, member = id, "announce");
                }
            }
            self.drain_runtime(now, now_ms);
        }
    }

    /// When [`poll`](Gossip::poll) next has work.
    pub fn next_deadline(&self) -> StdInstant {
        let t = self.timers.peek().map(|Reverse((at, _, _))| *at);
        t.map_or(self.next_announce, |t| t.min(self.next_announce))
    }

    /// Leaves the group (tells a few members this node is going down).
    pub fn leave(&mut self, now: StdInstant, now_ms: u64) {
        if let Err(e) = self.foca.leave_cluster(&mut self.runtime) {
            tracing::debug!(error = %e, "leave");
        }
        self.drain_runtime(now, now_ms);
    }

    /// Sealed datagrams to send.
    pub fn take_outgoing(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outgoing)
    }

    /// Membership changes since the last call.
    pub fn take_events(&mut self) -> Vec<MembershipEvent> {
        std::mem::take(&mut self.events)
    }

    /// Counts a failed send.
    pub fn count_send_error(&mut self) {
        self.stats.send_errors += 1;
    }

    /// The kernel's count of datagrams dropped on this node's socket (cumulative).
    pub fn set_overflow(&mut self, dropped: u64) {
        self.stats.overflow = dropped;
    }

    fn drain_runtime(&mut self, now: StdInstant, now_ms: u64) {
        while let Some((to, data)) = self.runtime.to_send() {
            match self.peers.get(&to.id) {
                Some(addr) => {
                    self.outgoing
                        .push((*addr, seal(&self.key, now_ms, &data[..])));
                    self.stats.sent += 1;
                }
                None => self.stats.send_errors += 1,
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timer_seq += 1;
            self.timers
                .push(Reverse((now + after, self.timer_seq, timer)));
        }
        while let Some(n) = self.runtime.to_notify() {
            let (id, state) = match n {
                OwnedNotification::MemberUp(m) => (m.id, PeerState::Up),
                OwnedNotification::MemberDown(m) => (m.id, PeerState::Down),
                // A later life of a member that is up here: it restarted faster than it
                // could be declared down. Its state is gone, so the data path hears it
                // came up (again) and greets it.
                OwnedNotification::Rename(old, new)
                    if old.id == new.id && self.states.get(&new.id) == Some(&PeerState::Up) =>
                {
                    tracing::info!(member = new.id, "member restarted");
                    self.events.push(MembershipEvent::Up(new.id));
                    continue;
                }
                other => {
                    tracing::debug!(notification = ?other, "foca");
                    continue;
                }
            };
            if !self.states.contains_key(&id) {
                continue; // not a configured member (or this node)
            }
            let before = self.states.insert(id, state);
            if before != Some(state) {
                tracing::info!(member = id, state = ?state, "membership");
                self.events.push(match state {
                    PeerState::Up => MembershipEvent::Up(id),
                    _ => MembershipEvent::Down(id),
                });
            }
        }
    }
}

/// What the gossip thread shares with the rest of the node (read-only outside it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GossipView {
    /// Every other member's state.
    pub states: BTreeMap<MemberId, PeerState>,
    /// Counters.
    pub stats: GossipStats,
}

/// A running gossip thread.
#[derive(Debug)]
pub struct GossipHandle {
    /// The latest view, updated by the thread.
    pub view: Arc<Mutex<GossipView>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GossipHandle {
    /// Leaves the group and stops the thread (waits for it, at most about 100 ms).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds the gossip socket and runs `gossip` on a thread; membership changes go to
/// `events`.
pub fn spawn(
    mut gossip: Gossip,
    listen: SocketAddr,
    events: Sender<MembershipEvent>,
) -> std::io::Result<GossipHandle> {
    let socket = UdpSocket::bind(listen)?;
    let view = Arc::new(Mutex::new(GossipView {
        states: gossip.states().clone(),
        stats: gossip.stats(),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let (v, s) = (view.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("vany-gossip".into())
        .spawn(move || {
            let mut buf = vec![0u8; 2048];
            let mut next_overflow_read = StdInstant::now();
            loop {
                let now = StdInstant::now();
                if s.load(Ordering::SeqCst) {
                    gossip.leave(now, wall_ms());
                    send_all(&socket, &mut gossip);
                    break;
                }
                gossip.poll(now, wall_ms());
                send_all(&socket, &mut gossip);
                let wait = gossip
                    .next_deadline()
                    .saturating_duration_since(StdInstant::now())
                    .clamp(StdDuration::from_millis(1), StdDuration::from_millis(100));
                let _ = socket.set_read_timeout(Some(wait));
                if let Ok((n, _from)) = socket.recv_from(&mut buf) {
                    gossip.handle_datagram(StdInstant::now(), wall_ms(), &buf[..n]);
                    // More may be queued (a flood): take a burst without waiting, so
                    // that the per-wake work (timeouts, the view) is paid once for it.
                    if socket.set_nonblocking(true).is_ok() {
                        for _ in 0..RECV_BURST {
                            let Ok((n, _from)) = socket.recv_from(&mut buf) else {
                                break;
                            };
                            gossip.handle_datagram(StdInstant::now(), wall_ms(), &buf[..n]);
                        }
                        let _ = socket.set_nonblocking(false);
                    }
                    send_all(&socket, &mut gossip);
                }
                for e in gossip.take_events() {
                    let _ = events.send(e);
                }
                if StdInstant::now() >= next_overflow_read {
                    next_overflow_read = StdInstant::now() + StdDuration::from_secs(1);
                    if let Some(n) = socket_drops(&socket) {
                        gossip.set_overflow(n);
                    }
                }
                if let Ok(mut view) = v.lock() {
                    view.states.clone_from(gossip.states());
                    view.stats = gossip.stats();
                }
            }
        })?;
    Ok(GossipHandle {
        view,
        stop,
        thread: Some(thread),
    })
}

/// The kernel's drop counter of `socket` (receive buffer overflows): the last column of
/// its line in `/proc/self/net/udp6` (or `udp`), found by the socket's inode.
fn socket_drops(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    let inode = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .to_string();
    ["/proc/self/net/udp6", "/proc/self/net/udp"]
        .iter()
        .find_map(|table| drops_of(&std::fs::read_to_string(table).ok()?, &inode))
}

/// The `drops` (last) column of the line of socket `inode` (the 10th column) in a
/// `/proc/net/udp`-format table.
fn drops_of(table: &str, inode: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(9) == Some(&inode))
            .then(|| cols.last()?.parse().ok())
            .flatten()
    })
}

fn send_all(socket: &UdpSocket, gossip: &mut Gossip) {
    for (to, datagram) in gossip.take_outgoing() {
        if let Err(e) = socket.send_to(&datagram, to) {
            tracing::debug!(error = %e, %to, "gossip send");
            gossip.count_send_error();
        }
    }
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
