//! A member of the anycast group, and (with `contact`) a contact node: it serves client
//! sessions on the anycast address with the TCP engine and a hosted application, plays
//! the Mobile IPv6 mobile node towards clients, and hands sessions to other members
//! (docs/handoff.md).
//!
//! Handoff of a session from this member (donor) to an acceptor, in the steps of
//! docs/handoff.md: 1. ask and 2. pre-copy while serving; 3. freeze, snapshot and send
//! `Transfer`, forwarding client packets to the acceptor meanwhile; 4. the acceptor
//! restores, sends the BU from its care-of address, answers `Restored` and goes on;
//! 5. the client's BA (or a client packet reaching the acceptor directly) makes it send
//! `Commit`, and the donor drops its copy. `Refused`, or silence past the handoff
//! timeout before the acceptor has the session, thaws the copy. Each session's place in
//! this is its `HandoffState` (state.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};
use vany_stack::mip6::mn::{BindingState, MnEvent, MobileNode, TokenInfo};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, FourTuple, State, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::checksum;
use vany_stack::wire::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL, UDP_PROTOCOL};
use vany_stack::wire::{self, MhMessage, PacketRepr, Upper};

use crate::apps::{
    AppEnv, AppKind, AppSpec, AppState, AppTimeouts, FilesSite, FilesStats, ProxySite, ProxyStats,
};
use crate::host::Host;
use crate::io::{partial_checksum, Built, Segmentation};

use super::cookie::CookieRefusal;
use super::peer::{
    ForwardBatch, MemberId, Outgoing, PeerBody, PeerChannel, PeerStats, RefuseReason, RelayedToken,
    FORWARDS_ROOM, PEER_PORT,
};
use contact_node::ContactNode;

use super::policy::{Drain, GroupView, Manual, Move, MoveReason, Policy, Proximity, SessionView};
pub use bulk::{DEFAULT_TRANSFER_BUDGET, FREEZE_DELTA, PRECOPY_MIN};
pub use lent::LendingSink;
use lent::TCP_AT;
pub use liveness::Refusal;
use records::HandoffLog;
pub use records::{AcceptRecord, HandoffOutcome, HandoffRecord};
pub use snapshot::{SessionSnapshot, SessionSnapshotError, SESSION_SNAPSHOT_VERSION};
use state::{Arrival, Backoff, Due, HandoffState, History};

mod bulk;
mod contact;
mod contact_node;
mod handoff;
mod host;
mod input;
mod lent;
mod liveness;
mod peer_out;
mod pmtu;
mod records;
mod run;
mod snapshot;
mod state;
mod views;

pub use views::SessionSummary;

/// Bytes in front of a peer datagram as it is sealed: its IPv6 and UDP headers.
const PEER_HEADROOM: usize = IPV6_HEADER_LEN + UDP_HEADER_LEN;
const UDP_HEADER_LEN: usize = 8;
/// Most packet buffers a member keeps for reuse ([`Member::recycle`]): what a burst of
/// forwarded packets takes at most (a receive burst of up to 128 packets too large to
/// share a datagram, two datagrams each), at most 1 MiB.
const MAX_SPARE: usize = 256;
/// Largest packet buffer kept for reuse.
const MAX_SPARE_CAPACITY: usize = 4096;

/// How a member is set up.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// This member.
    pub id: MemberId,
    /// A name for logs ("Amsterdam").
    pub name: String,
    /// Its own unicast address (care-of address).
    pub care_of: Ipv6Addr,
    /// The group's anycast (home) address.
    pub anycast: Ipv6Addr,
    /// Whether the network routes the anycast address here (contact node).
    pub contact: bool,
    /// Every member's care-of address, this one included.
    pub members: BTreeMap<MemberId, Ipv6Addr>,
    /// The contact node that runs home tests for this member.
    pub contact_node: MemberId,
    /// The members the contact node runs, one per core (empty or `[contact_node]` for a
    /// node with one core): a client's home tests and `Serving` reports go to the core
    /// that owns the client ([`crate::group::shard`]).
    pub contact_cores: Vec<MemberId>,
    /// The group key of the peer channel.
    pub group_key: Vec<u8>,
    /// TCP settings of served connections.
    pub tcp: TcpConfig,
    /// The port the hosted application listens on.
    pub app_port: u16,
    /// A donor thaws a session whose acceptor said nothing for this long.
    pub handoff_timeout: Duration,
    /// How often policies are evaluated.
    pub policy_interval: Duration,
    /// Seed of this member's randomness (ISNs, cookies).
    pub seed: u64,
    /// Most bytes of incoming session state (parts and pre-copied send data of every
    /// transfer under way) this member holds as an acceptor; a transfer past it is
    /// refused as too large.
    pub transfer_budget: usize,
}

/// What a member reports to whoever drives it ([`Member::poll_event`]).
#[derive(Debug, Clone, PartialEq)]
pub enum MemberEvent {
    /// A handoff this member started ended: committed, refused, timed out or abandoned.
    HandoffEnded(HandoffRecord),
    /// This member refused a handoff as the acceptor.
    Refused(Refusal),
    /// A handoff this member accepted committed.
    Accepted(AcceptRecord),
}

/// Member counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemberStats {
    /// Client packets forwarded to an acceptor.
    pub forwarded: u64,
    /// `Forwards` messages sent: client packets of one burst that went together.
    pub forward_batches: u64,
    /// Forwarded packets received from donors.
    pub forwarded_in: u64,
    /// Transfers refused.
    pub refused: u64,
    /// Sessions accepted from donors.
    pub accepted: u64,
    /// Packets dropped (bad checksum, not for us, no session).
    pub dropped: u64,
    /// New connections (SYNs) not opened because this member drains.
    pub syns_while_draining: u64,
    /// Home tokens relayed to other members (contact node).
    pub tokens_relayed: u64,
    /// Restored sessions dropped because their donor had thawed them (`Abandon`).
    pub abandoned: u64,
    /// Binding Refresh Requests relayed to the serving member (contact node).
    pub refreshes_relayed: u64,
    /// Home Tests dropped because their cookie is not one the group made for the
    /// address they came from (forged; no state is created for them).
    pub home_tests_forged: u64,
    /// Home Tests dropped because their cookie was older than its lifetime, or was
    /// taken already: a cookie seen on the wire, replayed (group/cookie.rs).
    pub home_tests_replayed: u64,
    /// Frozen connections dropped when a handoff thawed because a connection on the same
    /// tuple had been opened meanwhile.
    pub thaw_collisions: u64,
    /// Mobile-node entries of clients with no session, binding or test under way,
    /// forgotten once their tokens expired.
    pub bindings_forgotten: u64,
    /// Bindings to a member that left, deregistered at its clients (contact node).
    pub orphans_deregistered: u64,
    /// ICMPv6 Packet Too Big messages a connection took (RFC 8201).
    pub ptb_accepted: u64,
    /// Packet Too Big messages ignored: not about a TCP segment from the anycast
    /// address, or refused by the connection (RFC 5927 §4.1).
    pub ptb_ignored: u64,
}

struct Session {
    conns: BTreeSet<FourTuple>,
    apps: BTreeMap<FourTuple, AppState>,
    since: Instant,
    rtt: BTreeMap<MemberId, Duration>,
    /// Where the session stands in the handoff protocol (state.rs).
    handoff: HandoffState,
    /// Which copy of it the client talks to, should a late answer leave two.
    history: History,
    /// Failed handoffs in a row, and what they hold back.
    backoff: Backoff,
    /// Packets to the client go out from the care-of address with a HAO.
    from_care_of: bool,
    /// A BU waits for this token.
    bu_waiting: bool,
    /// When tokens were last refreshed.
    tokens_refreshed: Instant,
    /// Placed by an operator.
    pinned: bool,
}

impl Session {
    /// A session that starts at `now`, answered from the care-of address (after a
    /// handoff) or from the anycast address.
    fn new(now: Instant, from_care_of: bool) -> Session {
        Session {
            conns: BTreeSet::new(),
            apps: BTreeMap::new(),
            since: now,
            rtt: BTreeMap::new(),
            handoff: HandoffState::SERVING,
            history: History::default(),
            backoff: Backoff::default(),
            from_care_of,
            bu_waiting: false,
            tokens_refreshed: now,
            pinned: false,
        }
    }
}

/// A group member (and maybe contact node) as a simulated host.
pub struct Member {
    cfg: MemberConfig,
    rng: SeededRandom,
    tcp: Endpoint,
    mn: MobileNode,
    peer: PeerChannel,
    /// The contact-node role's state (used when the network routes the anycast address
    /// here, `cfg.contact`, or this member runs the group's home tests).
    contact: ContactNode,
    /// The wall clock this member's `now` corresponds to ([`Member::set_peer_epoch`]):
    /// the group clock of the home cookies. `None` (the simulator): `now` itself.
    wall: Option<(Instant, u64)>,
    sessions: BTreeMap<Ipv6Addr, Session>,
    manual: Manual,
    policies: Vec<Box<dyn Policy>>,
    next_policy: Instant,
    draining: bool,
    /// A drained member with nothing left but connections in their handshake stops at
    /// this time at the latest.
    drain_handshakes_until: Option<Instant>,
    stopped: bool,
    excluded: BTreeSet<MemberId>,
    transfer_counter: u64,
    /// The app each listening port hosts.
    apps: BTreeMap<u16, AppKind>,
    /// The apps' timeouts.
    app_timeouts: AppTimeouts,
    /// The directories of the `files` apps (this member's own copies).
    app_env: AppEnv,
    /// The mobile node queued packets outside a packet or poll call (to send at once).
    mn_output_waiting: bool,
    /// Sessions each other member reported serving, and when.
    load: BTreeMap<MemberId, (usize, Instant)>,
    /// When this member next reports its load (only while a load policy runs).
    next_load_report: Option<Instant>,
    /// Who asked this member to probe a client.
    probe_for: BTreeMap<Ipv6Addr, BTreeSet<MemberId>>,
    /// Clients handed off lately: where they went, until when packets are forwarded.
    moved: BTreeMap<Ipv6Addr, (MemberId, Instant)>,
    /// The handoffs this member started, and their outcomes.
    log: HandoffLog,
    /// The handoffs this member accepted, until they commit.
    accepts: records::AcceptLog,
    /// Members that came up since the last poll, to greet ([`liveness`]).
    greet: BTreeSet<MemberId>,
    /// Handoffs refused as the acceptor, for the log, and counted by reason.
    refusals: std::collections::VecDeque<Refusal>,
    refusal_counts: BTreeMap<&'static str, u64>,
    /// Acceptor: what arrived of each transfer under way, and its total size.
    incoming: BTreeMap<u64, bulk::Incoming>,
    incoming_bytes: usize,
    stats: MemberStats,
    /// Packets made and not yet taken ([`Member::poll_transmit`]).
    outbox: std::collections::VecDeque<Vec<u8>>,
    /// Packet buffers given back by the driver ([`Member::recycle`]), for peer datagrams.
    spare: Vec<Vec<u8>>,
    /// Peer datagrams being sealed (kept for its capacity).
    sealed: Vec<Vec<u8>>,
    /// Client packets to forward, gathered until the burst ends (see
    /// [`Member::forward_packet`]).
    forwards: ForwardBatch,
    buf: Vec<u8>,
    /// The time of the packet or poll being handled (for the peer channel's timers).
    now: Instant,
    /// Bookkeeping that spares walking every session on every packet.
    index: Index,
}

/// What lets a member with thousands of sessions do per-packet work in proportion to what
/// the packet touched: connections to give to their apps, app wake-ups, sessions in a
/// handoff, token refresh deadlines and the position of each handoff record.
#[derive(Default)]
struct Index {
    /// Connections whose app must run (a segment arrived, or they were just placed); may
    /// hold one several times. A Vec, not a set, so that the data path reuses its
    /// capacity instead of allocating a tree node per burst.
    dirty: Vec<FourTuple>,
    /// `run_apps`' list of sessions it touched (kept for its capacity).
    touched: Vec<Ipv6Addr>,
    /// Apps' next wake-ups, and the one each connection has in it.
    app_wake: BTreeSet<(Instant, FourTuple)>,
    app_wake_of: BTreeMap<FourTuple, Instant>,
    /// Deadlines of frozen sessions (thaw or release; may hold stale entries, checked
    /// when due).
    frozen_due: BTreeSet<(Instant, Ipv6Addr)>,
    /// The client of each pending `Transfer` message (peer-channel sequence number).
    transfer_seqs: BTreeMap<u64, Ipv6Addr>,
    /// Token refresh deadlines (an entry is stale when the session moved its own).
    refresh: BTreeSet<(Instant, Ipv6Addr)>,
    /// Connections in TIME-WAIT: out of their sessions (nothing more to serve, nothing
    /// to hand off), left in the endpoint to answer a retransmitted FIN until they close.
    time_wait: BTreeSet<FourTuple>,
    /// Connections of each client still in their handshake (not accepted yet, so not in
    /// the session): they move with the session too.
    handshakes: BTreeMap<Ipv6Addr, BTreeSet<FourTuple>>,
    /// When every connection's app next runs regardless (closes found by timers).
    next_sweep: Instant,
    /// When expired entries of `moved` are next dropped.
    next_moved_cleanup: Instant,
}

/// How often every app runs regardless of wake-ups (closed connections are collected).
const SWEEP: Duration = Duration::from_secs(1);

const TOKEN_REFRESH: Duration = Duration::from_secs(120);

/// How long a donor forwards the packets of a client it handed off (late packets, and
/// new connections the client opens before its binding reaches it).
const MOVED_FORWARDING: Duration = Duration::from_secs(30);

/// How often members running a load policy report their sessions to each other.
pub const LOAD_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Load reports older than this are ignored (the member may be gone).
const LOAD_REPORT_MAX_AGE: Duration = Duration::from_secs(3);

impl Member {
    /// A member that listens on `cfg.app_port` of the anycast address.
    pub fn new(cfg: MemberConfig, now: Instant) -> Self {
        let mut rng = SeededRandom::new(cfg.seed);
        let mut tcp = Endpoint::new(cfg.tcp.clone(), &mut rng);
        tcp.listen(cfg.app_port);
        let apps = BTreeMap::from([(cfg.app_port, AppKind::Source)]);
        let mn = MobileNode::new(cfg.anycast, Duration::from_secs(420));
        let peer = PeerChannel::new(cfg.id, &cfg.group_key);
        let contact = ContactNode::new(&cfg.group_key);
        Member {
            rng,
            tcp,
            mn,
            peer,
            contact,
            wall: None,
            sessions: BTreeMap::new(),
            manual: Manual::default(),
            policies: vec![Box::new(Drain), Box::new(Proximity::default())],
            next_policy: now + cfg.policy_interval,
            draining: false,
            drain_handshakes_until: None,
            stopped: false,
            excluded: BTreeSet::new(),
            transfer_counter: 0,
            apps,
            app_timeouts: AppTimeouts::default(),
            app_env: AppEnv::new(),
            load: BTreeMap::new(),
            next_load_report: None,
            mn_output_waiting: false,
            probe_for: BTreeMap::new(),
            moved: BTreeMap::new(),
            log: HandoffLog::default(),
            accepts: records::AcceptLog::default(),
            greet: BTreeSet::new(),
            refusals: std::collections::VecDeque::new(),
            refusal_counts: BTreeMap::new(),
            incoming: BTreeMap::new(),
            incoming_bytes: 0,
            stats: MemberStats::default(),
            outbox: std::collections::VecDeque::new(),
            spare: Vec::new(),
            sealed: Vec::new(),
            forwards: ForwardBatch::default(),
            buf: vec![0u8; 65536 + 128],
            now,
            index: Index::default(),
            cfg,
        }
    }

    /// The client whose session is frozen in handoff `transfer` here.
    fn frozen_client(&self, transfer: u64) -> Option<Ipv6Addr> {
        let client = self.log.client(transfer)?;
        self.sessions
            .get(&client)
            .and_then(|s| s.handoff.frozen())
            .is_some_and(|f| f.transfer == transfer)
            .then_some(client)
    }

    /// Schedules `client`'s next token refresh.
    fn schedule_refresh(&mut self, client: Ipv6Addr) {
        if let Some(s) = self.sessions.get(&client) {
            self.index
                .refresh
                .insert((s.tokens_refreshed + TOKEN_REFRESH, client));
        }
    }

    /// Replaces the handoff policies (default: drain, then proximity); they are asked in
    /// order and the first decision for a client wins (an operator's move comes first).
    /// A policy named `load` makes this member report its sessions to the others every
    /// [`LOAD_REPORT_INTERVAL`].
    pub fn set_policies(&mut self, policies: Vec<Box<dyn Policy>>) {
        let load = policies.iter().any(|p| p.reason() == MoveReason::Load);
        // Due at once: the first report goes out at the next poll.
        self.next_load_report = load.then_some(Instant::ZERO);
        self.policies = policies;
    }

    /// Hosts `kind` on `port` of the anycast address as well (every member of a group
    /// must host the same apps on the same ports: sessions move between them).
    pub fn host_app(&mut self, port: u16, kind: AppKind) {
        self.tcp.listen(port);
        self.apps.insert(port, kind);
    }

    /// Serves the directory `site` with the `files` app on `port` of the anycast
    /// address (every member must serve the same content there: a response moves
    /// between members only when the acceptor's file has the same content hash).
    pub fn host_files(&mut self, port: u16, site: FilesSite) {
        self.host_app(port, AppKind::Files);
        self.app_env.serve_files(port, site);
    }

    /// The counters of the `files` apps' directories, summed.
    pub fn files_stats(&self) -> FilesStats {
        self.app_env.files_stats()
    }

    /// Serves the `proxy` app on `port` of the anycast address, to `site`'s backend (a
    /// server on this member's host; every member must proxy to the same content).
    pub fn host_proxy(&mut self, port: u16, site: ProxySite) {
        self.host_app(port, AppKind::Proxy);
        self.app_env.serve_proxy(port, site);
    }

    /// The counters of the `proxy` apps, summed.
    pub fn proxy_stats(&self) -> ProxyStats {
        self.app_env.proxy_stats()
    }

    /// The descriptors that become readable when an app's own connection has an event
    /// (the host's wait should end then; see [`Member::poll_app_io`]).
    pub fn app_wake_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.app_env.wake_fds()
    }

    /// Whether apps have connections of their own open (a proxy's backend
    /// connections): the host then calls [`Member::poll_app_io`] often.
    pub fn app_io_active(&self) -> bool {
        self.app_env.io_active()
    }

    /// Looks (without waiting) for events on the apps' own connections, and marks their
    /// client connections for the apps to run at the next [`Member::handle_timeout`].
    /// Returns whether there was any. (The only I/O a member does itself, and only with
    /// a proxy app; the simulator's members have none.)
    pub fn poll_app_io(&mut self) -> bool {
        let before = self.index.dirty.len();
        self.app_env.io_ready(&mut self.index.dirty);
        self.index.dirty.len() > before
    }

    /// Sets the timeouts of the apps on connections opened from now on (default:
    /// [`AppTimeouts::default`]).
    pub fn set_app_timeouts(&mut self, timeouts: AppTimeouts) {
        self.app_timeouts = timeouts;
    }

    /// After a handoff committed here: the contact node learns who serves `client`, to
    /// relay the client's Binding Refresh Requests.
    fn tell_contact_node(&mut self, client: Ipv6Addr) {
        let me = self.cfg.id;
        let contact = self.contact_for(client);
        if contact == me {
            self.serving(client, me);
        } else {
            let body = PeerBody::Serving { client, member: me };
            self.send_peer(contact, body);
        }
    }

    /// The member of the contact node that is contact node for `client`: the core of a
    /// multi-core contact node that owns it, else the contact node.
    fn contact_for(&self, client: Ipv6Addr) -> MemberId {
        match self.cfg.contact_cores.as_slice() {
            [] => self.cfg.contact_node,
            cores => cores[crate::group::shard::shard(client, cores.len())],
        }
    }

    /// The app hosted on `port` (the stream source unless another was set).
    fn app_for(&self, port: u16) -> AppSpec {
        AppSpec {
            kind: self.apps.get(&port).copied().unwrap_or(AppKind::Source),
            timeouts: self.app_timeouts,
        }
    }

    /// Starts this member's peer-message sequence numbers at `epoch << 20`: a member
    /// restarted with a later epoch (such as its start time in milliseconds since the Unix
    /// epoch) is not refused as a replay by the members that remember its earlier life.
    /// `epoch` is also the wall clock (ms) at `now`: it gives the group clock of the home
    /// cookies (group/cookie.rs).
    pub fn set_peer_epoch(&mut self, now: Instant, epoch: u64) {
        self.peer.set_epoch(epoch);
        self.wall = Some((now, epoch));
    }

    /// Seconds on the group's shared clock: wall-clock seconds on a node (its clock is
    /// NTP's), the simulator's own time in a simulation.
    pub(super) fn group_secs(&self, now: Instant) -> u64 {
        match self.wall {
            Some((at, ms)) => (ms + now.saturating_since(at).total_micros() / 1000) / 1000,
            None => u64::try_from(now.total_micros()).unwrap_or(0) / 1_000_000,
        }
    }

    /// Resets every connection served here (not those frozen in a handoff: the acceptor
    /// may be serving them): a node that exits with sessions it could not hand off tells
    /// their clients at once instead of leaving them to time out. Returns how many.
    pub fn abort_served(&mut self, now: Instant) -> usize {
        let tuples: Vec<FourTuple> = self
            .sessions
            .values()
            .filter(|s| !s.handoff.is_frozen())
            .flat_map(|s| s.conns.iter().copied())
            .collect();
        for t in &tuples {
            if let Some(c) = self.tcp.connection_mut(t) {
                c.abort();
            }
        }
        self.drain_tcp(now);
        tuples.len()
    }

    /// An operator asks to move `client` to member `to`.
    pub fn manual_move(&mut self, client: Ipv6Addr, to: MemberId) {
        self.manual.pending.push((client, to));
        self.next_policy = Instant::ZERO;
    }

    /// This member leaves: every session is handed off, then it stops.
    pub fn drain(&mut self) {
        self.draining = true;
        self.next_policy = Instant::ZERO;
    }

    /// Another member left (or came back): it is (no longer) offered sessions.
    ///
    /// A contact node also deregisters, at each client that member served, the binding
    /// that points at it (a BU with lifetime 0 under the client's home token, RFC 6275
    /// §5.2.5): a member that died took its sessions with it, but the client's new
    /// connections to the anycast address must not keep going to its care-of address
    /// until the binding expires. A drained member handed its sessions on first, so this
    /// finds none of its clients.
    ///
    /// Every member also stops forwarding to it the packets of clients it handed to it
    /// lately (`moved`): they would be lost, a new connection of such a client included,
    /// where this member can now open it itself.
    pub fn set_excluded(&mut self, now: Instant, member: MemberId, excluded: bool) {
        if !excluded {
            self.excluded.remove(&member);
            self.member_came_up(member);
            return;
        }
        self.excluded.insert(member);
        self.moved.retain(|_, (to, _)| *to != member);
        if !self.cfg.contact || member == self.cfg.id {
            return;
        }
        for client in self.contact.orphans_of(member) {
            if self.sessions.contains_key(&client) {
                continue;
            }
            self.contact.deregistered(client, member, now);
            if self.mn.deregister(now, client, self.cfg.care_of).is_ok() {
                self.stats.orphans_deregistered += 1;
                self.mn_output_waiting = true;
            }
        }
    }

    // ---- output helpers -------------------------------------------------------------------

    /// Every other member offered sessions (not excluded).
    fn other_members(&self) -> Vec<MemberId> {
        self.cfg
            .members
            .keys()
            .copied()
            .filter(|m| *m != self.cfg.id && !self.excluded.contains(m))
            .collect()
    }

    /// Tells the donor of handoff `up` that its client is bound elsewhere now: it lets
    /// its copy go (`Commit`).
    fn commit_to(&mut self, up: Arrival) {
        self.accepts.committed(up.transfer, self.now);
        let body = PeerBody::Commit {
            transfer: up.transfer,
        };
        self.send_peer(up.donor, body);
    }

    fn drain_mn(&mut self) {
        while let Some(p) = self.mn.poll_transmit() {
            self.outbox.push_back(p);
        }
    }

    fn drain_tcp(&mut self, now: Instant) {
        let mut buf = std::mem::take(&mut self.buf);
        // Owned packets are sent whole: with segmentation offload (`tso_max`), a buffer
        // of one MTU keeps the segments built here to one MSS (a super-segment never
        // exceeds its buffer); only `transmit_lent` hands super-segments on.
        let cap = if self.cfg.tcp.tso_max > 0 {
            (TCP_AT + self.cfg.tcp.mtu).min(buf.len())
        } else {
            buf.len()
        };
        for _ in 0..100_000 {
            match self.next_tcp_packet(now, &mut buf[..cap]) {
                Some((0, _)) => {}
                Some((len, None)) => self.outbox.push_back(buf[..len].to_vec()),
                // Cannot happen (see above); dropped, TCP would resend it.
                Some((_, Some(_))) => {}
                None => break,
            }
        }
        self.buf = buf;
    }

    /// Writes the endpoint's next TCP segment into `buf` as a whole IPv6 packet (from the
    /// anycast address, or from the care-of address with a Home Address option for a
    /// session that talks to it): its length, `Some(0)` for a segment that could not be
    /// framed (dropped), `None` when there is nothing to send. `buf` must hold
    /// [`TCP_AT`] bytes of headers in front of a segment. With segmentation offload
    /// (`tso_max`) the segment may be a super-segment: then with its [`Segmentation`],
    /// its checksum field holding the pseudo-header's sum over the home-level addresses
    /// the kernel's splitter keeps.
    pub(super) fn next_tcp_packet(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(usize, Option<Segmentation>)> {
        let t = self.tcp.poll_transmit(now, buf.get_mut(TCP_AT..)?)?;
        let seg = t
            .segment_size
            .map(|size| partial_checksum(&mut buf[TCP_AT..TCP_AT + t.len], &t.tuple, t.len, size));
        let from_care_of = self
            .sessions
            .get(&t.tuple.remote)
            .is_some_and(|s| s.from_care_of);
        let src = if from_care_of {
            self.cfg.care_of
        } else {
            self.cfg.anycast
        };
        let repr = PacketRepr {
            hao: from_care_of.then_some(self.cfg.anycast),
            ..PacketRepr::new(src, t.tuple.remote, Upper::None)
        };
        let at = repr.upper_offset();
        if at != TCP_AT {
            buf.copy_within(TCP_AT..TCP_AT + t.len, at);
        }
        let len = repr.emit_headers(buf, TCP_PROTOCOL, t.len).unwrap_or(0);
        Some((len, seg.filter(|_| len > 0).map(|s| s.after(at))))
    }
}
