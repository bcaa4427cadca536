//! The node's data path: one group [`Member`] on a packet device, with the real clock and
//! real randomness, and the threads around it (gossip, control socket, metrics).
//!
//! ```text
//!            ┌──────────── vany node (one process) ─────────────────────────┐
//!  TUN ◀────▶│ data path: rx burst -> member.handle_packet -> tx burst      │
//!            │            member.handle_timeout at poll_timeout()           │
//!            │            wait on the TUN until the next wake (≤ 5 ms)      │
//!            │   ▲ Query (crossbeam)          ▲ MembershipEvent (crossbeam) │
//!            │ ctl thread   metrics thread    gossip thread (foca, UDP)     │
//!            └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! **Peer channel.** The member's peer protocol is UDP/IPv6 on port 4600 between care-of
//! addresses, and it travels like every other packet of the member: out through the TUN
//! into the node's network namespace, whose routing table must send each other member's
//! care-of address towards that member (and this member's care-of address, plus the
//! anycast address on a contact node, into the TUN). The gossip socket, by contrast, is
//! an ordinary kernel UDP socket on an address of the namespace (see
//! [`super::membership`]).
//!
//! **Control.** The control socket and metrics threads never touch the member: they send
//! a [`Query`] with a reply channel, answered by the data path between two bursts (the
//! wait is capped at [`MAX_WAIT`] so that an answer takes at most that long when idle).
//!
//! **Cores.** A node with `[io] cores = N` runs N of these, one per core and queue pair,
//! each with its own member (see [`super::process`]); [`CoreLinks`] hands each packet
//! one core receives for another to that core.
//!
//! **Stopping.** SIGTERM or ctrl-c starts a drain: every session is handed off to the
//! other members, and the node exits once the member has stopped, or after
//! `drain_timeout` with whatever sessions could not move (their clients see a reset or a
//! timeout). A second signal exits at once (status 1). `vany ctl drain` drains the same
//! way, and the node exits when done.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{bounded, Receiver, Sender};
use vany_stack::time::Instant;

use super::config::NodeConfig;
use super::cores::{CoreLinks, LinkStats};
use super::ctl::{self, CoreStatus, MemberStatus, Request, Response, SessionInfo, Status};
use super::lent_tx::LentTx;
use super::log_limit::LogLimit;
use super::membership::{self, GossipView, MembershipEvent, PeerState};
use super::metrics::{HandoffSummary, IoCounters, MetricsSnapshot};
use crate::group::member::Member;
use crate::io::{self, AdaptiveWait, IoError, PacketIo};

#[path = "runtime_events.rs"]
mod events;

/// Longest sleep of the data path (bounds the latency of control answers when idle).
pub const MAX_WAIT: StdDuration = StdDuration::from_millis(5);
/// Longest sleep of a core of a node with several before it looks at its links again.
pub const LINK_POLL: StdDuration = StdDuration::from_micros(100);
/// How long the control and metrics threads wait for the data path.
pub const ANSWER_TIMEOUT: StdDuration = StdDuration::from_secs(2);
/// How long `vany ctl handoff` waits for the handoff's outcome before it answers that
/// the handoff is still under way.
pub const HANDOFF_WAIT: StdDuration = StdDuration::from_secs(12);

/// A question for the data path, with where to send the answer.
#[derive(Debug)]
pub enum Query {
    /// A control request.
    Ctl(Request, Sender<Response>),
    /// A metrics snapshot.
    Metrics(Sender<MetricsSnapshot>),
}

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Packet I/O failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The control socket failed.
    #[error(transparent)]
    Ctl(#[from] ctl::CtlError),
    /// A socket could not be bound.
    #[error("cannot bind the {what} socket on {addr}: {source}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// Where.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The system's random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// Installing signal handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A core's thread ended in a panic (a bug: please report it with the log).
    #[error("a core's thread panicked")]
    CorePanicked,
    /// A `proxy` app cannot start (no epoll set).
    #[error("apps.{port}: cannot start the proxy: {source}")]
    Proxy {
        /// The app's port.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// The events file (`--events`) cannot be opened.
    #[error(transparent)]
    Events(#[from] super::events::EventsError),
    /// The directory of a `files` app cannot be served.
    #[error("apps.{port}: cannot serve the directory: {source}")]
    Files {
        /// The app's port.
        port: u16,
        /// Why.
        source: crate::apps::files::FilesError,
    },
}

/// What a node's `files` and `proxy` apps serve from, by port.
#[derive(Debug, Default)]
pub struct AppSites {
    /// Directories.
    pub files: std::collections::BTreeMap<u16, crate::apps::FilesSite>,
    /// Backends.
    pub proxies: std::collections::BTreeMap<u16, crate::apps::ProxySite>,
}

/// How often a node with a proxy's backend connection open looks at it when idle, if
/// the packet device cannot wake it for that (DPDK).
const APP_POLL: StdDuration = StdDuration::from_micros(500);

/// Packets per second over a sliding one-second window.
#[derive(Debug)]
struct Rate {
    samples: VecDeque<(StdInstant, u64, u64)>,
}

impl Rate {
    fn update(&mut self, now: StdInstant, rx: u64, tx: u64) -> Option<(f64, f64)> {
        if self
            .samples
            .back()
            .is_none_or(|(t, _, _)| now.duration_since(*t) >= StdDuration::from_millis(100))
        {
            self.samples.push_back((now, rx, tx));
        }
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > StdDuration::from_secs(1)
        {
            self.samples.pop_front();
        }
        let (t0, rx0, tx0) = *self.samples.front()?;
        let dt = now.duration_since(t0).as_secs_f64();
        (dt > 0.0).then(|| ((rx - rx0) as f64 / dt, (tx - tx0) as f64 / dt))
    }
}

/// One member on one packet device: the data path.
pub struct Node<I: PacketIo> {
    cfg: NodeConfig,
    member: Member,
    io: I,
    clock: io::Clock,
    started: StdInstant,
    out: Vec<Vec<u8>>,
    queries: Receiver<Query>,
    events: Receiver<MembershipEvent>,
    gossip: Option<Arc<std::sync::Mutex<GossipView>>>,
    counters: IoCounters,
    rate: Rate,
    wait: AdaptiveWait,
    /// An app's epoll set the packet device cannot wait on: look at it every APP_POLL.
    app_poll: bool,
    /// `vany ctl handoff` requests waiting for their handoff's outcome.
    waiting: Vec<WaitingHandoff>,
    /// Failed handoffs are logged per reason through this (peers decide some of them).
    log_limit: LogLimit,
    /// The links to the node's other cores, on a node with several.
    links: Option<CoreLinks>,
    /// `--events`: one line per handoff.
    event_log: Option<super::events::EventLog>,
}

/// A `vany ctl handoff` answered once the handoff ends.
#[derive(Debug)]
struct WaitingHandoff {
    client: Ipv6Addr,
    to: u16,
    until: StdInstant,
    reply: Sender<Response>,
}

impl<I: PacketIo> Node<I> {
    /// Serves each directory with the `files` app of its port, and each backend with
    /// the `proxy` app of its port.
    pub fn serve_sites(&mut self, sites: AppSites) -> Result<(), IoError> {
        for (port, site) in sites.files {
            self.member.host_files(port, site);
        }
        for (port, site) in sites.proxies {
            self.member.host_proxy(port, site);
        }
        // The packet device's wait ends for a backend's event too where it can (TUN);
        // elsewhere the idle loop looks every APP_POLL.
        for fd in self.member.app_wake_fds() {
            if !self.io.wake_on(fd)? {
                self.app_poll = true;
            }
        }
        Ok(())
    }

    /// A node for `cfg` on `io`; `seed` seeds the member's randomness. Queries arrive on
    /// `queries`, membership changes on `events`.
    pub fn new(
        cfg: NodeConfig,
        io: I,
        seed: u64,
        queries: Receiver<Query>,
        events: Receiver<MembershipEvent>,
    ) -> Node<I> {
        let clock = io::Clock::new(Instant::from_secs(1));
        let mut member = Member::new(cfg.member_config(seed), clock.now());
        member.set_peer_epoch(clock.now(), membership::wall_ms());
        for (port, kind) in &cfg.apps.kinds {
            member.host_app(*port, *kind);
        }
        member.set_app_timeouts(cfg.app_timeouts);
        Node {
            wait: AdaptiveWait::new(cfg.spin),
            app_poll: false,
            cfg,
            member,
            io,
            clock,
            started: StdInstant::now(),
            out: Vec::new(),
            queries,
            events,
            gossip: None,
            counters: IoCounters::default(),
            rate: Rate {
                samples: VecDeque::new(),
            },
            waiting: Vec::new(),
            log_limit: LogLimit::default(),
            links: None,
            event_log: None,
        }
    }

    /// Writes one line per handoff to `log` (`vany node --events`).
    pub fn attach_event_log(&mut self, log: super::events::EventLog) {
        self.event_log = Some(log);
    }

    /// Runs this node as one core of several: `links` reach the others.
    pub fn attach_links(&mut self, links: CoreLinks) {
        self.links = Some(links);
    }

    /// The counters of the links to the node's other cores, on a node with several.
    pub fn link_stats(&self) -> Option<LinkStats> {
        self.links.as_ref().map(CoreLinks::stats)
    }

    /// The other members this node runs (its other cores).
    fn sibling_cores(&self) -> Vec<u16> {
        let mut ids = self.cfg.node_of(self.cfg.id);
        ids.retain(|id| *id != self.cfg.id);
        ids
    }

    /// Starts a drain: every session goes to the members of other nodes (the node's
    /// other cores drain too).
    fn start_drain(&mut self) {
        let now = self.clock.now();
        for id in self.sibling_cores() {
            self.member.set_excluded(now, id, true);
        }
        self.member.drain();
    }

    /// Uses gossip for membership: every other member is excluded until gossip sees it
    /// up; `view` is shown in status and metrics.
    pub fn attach_gossip(&mut self, view: Arc<std::sync::Mutex<GossipView>>) {
        let now = self.clock.now();
        let mine = self.cfg.node_of(self.cfg.id);
        for id in self.cfg.members.keys().filter(|id| !mine.contains(id)) {
            self.member.set_excluded(now, *id, true);
        }
        self.gossip = Some(view);
    }

    /// The member.
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// Packet counters.
    pub fn counters(&self) -> IoCounters {
        self.counters
    }

    /// Moves what the member made into the batch to send (a packet for another core of
    /// this node goes to that core instead).
    fn take_member_output(&mut self) {
        while let Some(p) = self.member.poll_transmit() {
            match self.links.as_mut() {
                Some(l) => match l.local_destination(&p) {
                    Some(core) => {
                        l.hand_over_owned(core, p);
                    }
                    None => self.out.push(p),
                },
                None => self.out.push(p),
            }
        }
    }

    /// One round: a receive burst, due timers, a transmit burst, queries and membership
    /// events. Returns whether anything happened.
    pub fn step(&mut self) -> Result<bool, IoError> {
        let now = self.clock.now();
        // Each packet is handled where the backend holds it (a DPDK mbuf: not copied);
        // then, once per burst, the apps run and the TCP segments due are written into
        // buffers the backend lends (an mbuf: no allocation, no copy).
        let (member, counters, links) = (&mut self.member, &mut self.counters, &mut self.links);
        let mut n = self.io.rx_each(self.cfg.batch, &mut |p| {
            counters.rx_packets += 1;
            counters.rx_bytes += p.len() as u64;
            if let Some(l) = links.as_mut() {
                let core = l.owner(p);
                if core != l.core() {
                    l.hand_over(core, p);
                    return;
                }
            }
            member.receive(now, p);
        })?;
        if let (Some(l), member, io) = (self.links.as_mut(), &mut self.member, &mut self.io) {
            n += l.receive(&mut |p| member.receive(now, p));
            // Neighbor discovery answers the device gave another queue.
            io.take_shared_l2(&mut |f| l.share_l2(f));
            l.receive_l2(&mut |f| io.give_shared_l2(f));
        }
        if n > 0 {
            self.take_member_output();
            self.flush_out()?;
            let mut sink = LentTx {
                io: &mut self.io,
                counters: &mut self.counters,
                failed: None,
            };
            self.member.transmit_lent(now, &mut sink);
            if let Some(e) = sink.failed {
                return Err(e);
            }
        }
        let now = self.clock.now();
        let app_io = self.member.app_io_active() && self.member.poll_app_io();
        let due = app_io || self.member.poll_timeout().is_some_and(|t| t <= now);
        if due {
            self.member.handle_timeout(now);
            self.take_member_output();
        }
        let sent = self.flush_out()?;
        let mut busy = n > 0 || due || sent > 0;
        self.report_member_events();
        self.log_limit.log_due(StdInstant::now());
        if !self.waiting.is_empty() {
            self.answer_waiting_handoffs();
        }
        while let Ok(e) = self.events.try_recv() {
            let (id, down) = match e {
                MembershipEvent::Up(id) => (id, false),
                MembershipEvent::Down(id) => (id, true),
            };
            tracing::info!(member = id, excluded = down, "membership change");
            // A node's other cores (its core members) come and go with it.
            for id in self.cfg.node_of(id) {
                self.member.set_excluded(self.clock.now(), id, down);
            }
            busy = true;
        }
        busy |= self.answer_queries() > 0;
        if let Some((rx, tx)) = self.rate.update(
            StdInstant::now(),
            self.counters.rx_packets,
            self.counters.tx_packets,
        ) {
            self.counters.rx_pps = rx;
            self.counters.tx_pps = tx;
        }
        Ok(busy)
    }

    /// Answers the `handoff` requests that waited [`HANDOFF_WAIT`] without an outcome:
    /// still under way, or not started because an app keeps the session (busy).
    fn answer_waiting_handoffs(&mut self) {
        let now = StdInstant::now();
        for w in std::mem::take(&mut self.waiting) {
            if w.until > now {
                self.waiting.push(w);
                continue;
            }
            let busy = self
                .member
                .session_views()
                .iter()
                .any(|v| v.client == w.client && v.busy);
            let message = if busy {
                format!(
                    "handoff of {} to member {} waits: an app has a response under way that \
                     cannot move (busy); the session moves once it is complete (see `vany ctl \
                     sessions`)",
                    w.client, w.to
                )
            } else {
                format!(
                    "handoff of {} to member {} started; still under way after {} s (see \
                     `vany ctl sessions`)",
                    w.client,
                    w.to,
                    HANDOFF_WAIT.as_secs()
                )
            };
            let _ = w.reply.send(Response::Done { message });
        }
    }

    /// Answers the control and metrics questions waiting; returns how many. A core that
    /// has stopped keeps answering while the node's other cores finish.
    pub fn answer_queries(&mut self) -> usize {
        let mut n = 0;
        while let Ok(q) = self.queries.try_recv() {
            self.answer(q);
            n += 1;
        }
        n
    }

    /// Sends the member's owned output packets; returns how many there were.
    fn flush_out(&mut self) -> Result<usize, IoError> {
        let n = self.out.len();
        if n > 0 {
            let r = self.io.tx_burst(&self.out)?;
            self.counters.tx_packets += r.sent as u64;
            self.counters.tx_bytes += r.bytes as u64;
            self.counters.tx_dropped += r.dropped as u64;
            // The member seals its next peer datagrams into these (no allocation each).
            for buf in self.out.drain(..) {
                self.member.recycle(buf);
            }
        }
        Ok(n)
    }

    /// Sleeps (or spins) until the device may have a packet, the member's next wake, or
    /// [`MAX_WAIT`].
    pub fn idle(&mut self, busy: bool) -> Result<(), IoError> {
        let now = self.clock.now();
        let timeout = match self.member.poll_timeout() {
            Some(t) if t <= now => StdDuration::ZERO,
            Some(t) => StdDuration::from_micros(t.saturating_since(now).total_micros()),
            None => MAX_WAIT,
        }
        .min(MAX_WAIT);
        // The device cannot wake this core for a packet another core hands it: with
        // links, look at them every LINK_POLL at least.
        let timeout = match &self.links {
            Some(l) if l.pending() => StdDuration::ZERO,
            Some(_) => timeout.min(LINK_POLL),
            None => timeout,
        };
        // Nor, on DPDK, for a proxy's backend connection: while one is open, look every
        // APP_POLL.
        let timeout = if self.app_poll && self.member.app_io_active() {
            timeout.min(APP_POLL)
        } else {
            timeout
        };
        self.wait.idle(&mut self.io, busy, timeout)
    }

    /// Runs until the member has stopped (drained), or `stop` is set and the drain it
    /// starts ends or times out.
    pub fn run_until(&mut self, stop: &AtomicBool) -> Result<(), IoError> {
        let mut drain_deadline = None;
        loop {
            let busy = self.step()?;
            if stop.load(Ordering::SeqCst) && drain_deadline.is_none() {
                if let Some(why) = self.sole_contact_node() {
                    tracing::warn!("{why}");
                }
                tracing::info!(
                    sessions = self.member.live_clients().len(),
                    "signal: draining, then exiting"
                );
                self.start_drain();
                drain_deadline = Some(StdInstant::now() + self.cfg.drain_timeout);
            }
            if self.member.is_stopped() {
                tracing::info!("drained: stopping");
                return Ok(());
            }
            if drain_deadline.is_some_and(|d| StdInstant::now() >= d) {
                // Whatever could not move is reset rather than left hanging: the
                // clients' applications see it at once and connect again (to another
                // member: this one withdraws its addresses as it exits).
                let held = self.member.sessions_held();
                let reset = self.member.abort_served(self.clock.now());
                self.take_member_output();
                if !self.out.is_empty() {
                    let _ = self.io.tx_burst(&self.out);
                    self.out.clear();
                }
                tracing::warn!(
                    sessions = held,
                    connections_reset = reset,
                    "drain timed out: exiting with sessions left"
                );
                return Ok(());
            }
            self.idle(busy)?;
        }
    }

    /// Why draining this node would cut the group off from new clients: it is a contact
    /// node and no other contact node is up (as gossip sees it), so the anycast address
    /// leaves with it.
    fn sole_contact_node(&self) -> Option<String> {
        if !self.cfg.me().contact {
            return None;
        }
        let view = self.gossip_view();
        let mine = self.cfg.node_of(self.cfg.id);
        let other_up = self.cfg.members.iter().any(|(id, m)| {
            !mine.contains(id)
                && m.contact
                && !self.member.is_excluded(*id)
                && view
                    .as_ref()
                    .is_none_or(|v| v.states.get(id) == Some(&PeerState::Up))
        });
        (!other_up).then(|| {
            format!(
                "this node is the only contact node up: draining it withdraws the anycast \
                 address {} (new clients could not reach the group)",
                self.cfg.anycast
            )
        })
    }

    fn gossip_view(&self) -> Option<GossipView> {
        self.gossip
            .as_ref()
            .and_then(|v| v.lock().ok().map(|g| g.clone()))
    }

    fn answer(&mut self, q: Query) {
        match q {
            Query::Metrics(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Query::Ctl(Request::Handoff { client, member }, reply) => {
                // Answered when the handoff ends (see `handoff_done`), or at once if it
                // cannot start.
                match self.handoff(client, member) {
                    Response::Done { .. } => self.waiting.push(WaitingHandoff {
                        client,
                        to: member,
                        until: StdInstant::now() + HANDOFF_WAIT,
                        reply,
                    }),
                    refused => {
                        let _ = reply.send(refused);
                    }
                }
            }
            Query::Ctl(req, reply) => {
                let _ = reply.send(self.control(req));
            }
        }
    }

    /// Answers a control request.
    pub fn control(&mut self, req: Request) -> Response {
        match req {
            Request::Status => Response::Status(Box::new(self.status())),
            Request::Sessions => Response::Sessions {
                sessions: self
                    .member
                    .session_views()
                    .into_iter()
                    .map(|v| SessionInfo {
                        client: v.client,
                        connections: v.connections,
                        pinned: v.pinned,
                        busy: v.busy,
                        handing_off_to: v.handing_off_to,
                        member: self.cfg.id,
                    })
                    .collect(),
            },
            Request::Handoff { client, member } => self.handoff(client, member),
            Request::Drain { force } => {
                if !force {
                    if let Some(why) = self.sole_contact_node() {
                        return Response::error(format!(
                            "{why}; `vany ctl drain --force` drains it anyway"
                        ));
                    }
                }
                if self.member.is_draining() {
                    return Response::Done {
                        message: "already draining".into(),
                    };
                }
                tracing::info!("control: drain");
                self.start_drain();
                Response::Done {
                    message: format!(
                        "draining {} session(s); the node exits when done",
                        self.member.live_clients().len()
                    ),
                }
            }
        }
    }

    fn handoff(&mut self, client: Ipv6Addr, to: u16) -> Response {
        if to == self.cfg.id {
            return Response::error(format!("member {to} is this node"));
        }
        if !self.cfg.members.contains_key(&to) {
            return Response::error(format!("no member {to} in the group"));
        }
        if self.member.is_excluded(to) {
            return Response::error(format!("member {to} is down (excluded from handoffs)"));
        }
        if !self.member.live_clients().contains(&client) {
            return Response::error(format!("no session of client {client} is served here"));
        }
        if self.waiting.iter().any(|w| w.client == client) {
            return Response::error(format!("a handoff of {client} is already under way"));
        }
        tracing::info!(%client, to, "control: handoff");
        self.member.manual_move(client, to);
        Response::Done {
            message: format!("handing {client} to member {to}"),
        }
    }

    fn status(&self) -> Status {
        let view = self.gossip_view();
        let members = self
            .cfg
            .members
            .iter()
            .filter(|(id, _)| **id != self.cfg.id)
            .map(|(id, m)| MemberStatus {
                id: *id,
                name: m.name.clone(),
                care_of: m.care_of,
                // A core member is up or down with its node (gossip knows the node).
                state: view.as_ref().map_or(PeerState::Up, |v| {
                    let node = m.core_of.unwrap_or(*id);
                    v.states.get(&node).copied().unwrap_or(PeerState::Unknown)
                }),
                excluded: self.member.is_excluded(*id),
            })
            .collect();
        let me = self.cfg.me();
        Status {
            id: self.cfg.id,
            name: me.name.clone(),
            care_of: me.care_of,
            anycast: self.cfg.anycast,
            contact: me.contact,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            draining: self.member.is_draining(),
            stopped: self.member.is_stopped(),
            sessions: self.member.live_clients().len(),
            handoffs: self.member.handoffs().len(),
            members,
            stats: self.member.stats(),
            peer: self.member.peer_stats(),
            io: self.counters,
            layer2: self.io.layer2(),
            gossip: view.map(|v| v.stats),
            cores: self.core_status().into_iter().collect(),
        }
    }

    /// This core's entry in a multi-core node's status and metrics.
    fn core_status(&self) -> Option<CoreStatus> {
        let links = self.links.as_ref()?;
        Some(CoreStatus {
            core: links.core(),
            member: self.cfg.id,
            care_of: self.cfg.me().care_of,
            sessions: self.member.live_clients().len(),
            handoffs: self.member.handoffs().len(),
            draining: self.member.is_draining(),
            stopped: self.member.is_stopped(),
            rx_packets: self.counters.rx_packets,
            tx_packets: self.counters.tx_packets,
            links: links.stats(),
        })
    }

    /// The metrics of this instant.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let view = self.gossip_view();
        MetricsSnapshot {
            member_id: self.cfg.id,
            member_name: self.cfg.me().name.clone(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            sessions: self.member.live_clients().len() as u64,
            draining: self.member.is_draining(),
            member: self.member.stats(),
            peer: self.member.peer_stats(),
            mn: self.member.mn_stats(),
            handoffs: HandoffSummary::from_records(self.member.handoffs()),
            io: self.counters,
            layer2: self.io.layer2(),
            tcp: self.member.tcp_stats().into(),
            members_up: view
                .as_ref()
                .map(|v| v.states.values().filter(|s| **s == PeerState::Up).count() as u64),
            gossip: view.map(|v| v.stats),
            refusals_sent: self.member.refusals_sent().clone(),
            files: (!self.cfg.apps.files.is_empty()).then(|| self.member.files_stats()),
            proxy: (!self.cfg.apps.proxies.is_empty()).then(|| self.member.proxy_stats()),
            cores: self.core_status().into_iter().collect(),
        }
    }
}

/// Asks the data path through `queries`; `None` if it does not answer within `wait`.
pub(super) fn ask<T>(
    queries: &Sender<Query>,
    wait: StdDuration,
    make: impl FnOnce(Sender<T>) -> Query,
) -> Option<T> {
    let (tx, rx) = bounded(1);
    queries.send(make(tx)).ok()?;
    rx.recv_timeout(wait).ok()
}
