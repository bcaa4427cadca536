//! Read-only views of a member: identity, counters, the handoff log and the sessions,
//! for the node's control plane (`vany ctl`, metrics), the simulator and tests.

use super::*;

/// What [`Member::session_views`] lists of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSummary {
    /// The client.
    pub client: Ipv6Addr,
    /// Its connections (not those in TIME-WAIT).
    pub connections: usize,
    /// Placed by an operator.
    pub pinned: bool,
    /// An app has work under way that cannot move (a proxied response that cannot be
    /// resumed): handoffs wait until it is done.
    pub busy: bool,
    /// The acceptor, while a handoff is under way.
    pub handing_off_to: Option<MemberId>,
}

impl Member {
    /// This member's id.
    pub fn id(&self) -> MemberId {
        self.cfg.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Its care-of address.
    pub fn care_of(&self) -> Ipv6Addr {
        self.cfg.care_of
    }

    /// Counters.
    pub fn stats(&self) -> MemberStats {
        self.stats
    }

    /// TCP endpoint counters (SYN cookies, RSTs, Packet Too Big).
    pub fn tcp_stats(&self) -> vany_stack::tcp::EndpointStats {
        self.tcp.stats()
    }

    /// Peer-channel counters.
    pub fn peer_stats(&self) -> PeerStats {
        self.peer.stats()
    }

    /// Clients the mobile node keeps binding state for.
    pub fn mn_entries(&self) -> usize {
        self.mn.entries()
    }

    /// Mobile-node counters (HoTI/CoTI/BU sent, BA accepted or dropped, BE received).
    pub fn mn_stats(&self) -> vany_stack::mip6::mn::MnStats {
        self.mn.stats()
    }

    /// Handoffs this member started.
    pub fn handoffs(&self) -> &[HandoffRecord] {
        self.log.all()
    }

    /// Clients whose sessions are held here and not frozen in a handoff, finished ones
    /// whose connections are all in TIME-WAIT included (see [`Member::live_clients`]).
    pub fn clients(&self) -> Vec<Ipv6Addr> {
        self.sessions
            .iter()
            .filter(|(_, s)| !s.handoff.is_frozen())
            .map(|(c, _)| *c)
            .collect()
    }

    /// Clients served here now: [`Member::clients`] less the sessions left with
    /// TIME-WAIT connections only (over: the app is done with every connection).
    pub fn live_clients(&self) -> Vec<Ipv6Addr> {
        self.sessions
            .iter()
            .filter(|(_, s)| match &s.handoff {
                HandoffState::Serving { .. } => self.live(s) > 0,
                HandoffState::Precopying { .. } => true,
                HandoffState::Frozen(_) => false,
            })
            .map(|(c, _)| *c)
            .collect()
    }

    /// Bytes of send data (unacknowledged and unsent) held for `client`'s connections.
    pub fn send_queued(&self, client: Ipv6Addr) -> usize {
        self.sessions.get(&client).map_or(0, |s| {
            s.conns
                .iter()
                .filter_map(|t| self.tcp.connection(t))
                .map(|c| c.send_queue())
                .sum()
        })
    }

    /// Every session held here, frozen ones in a handoff included.
    pub fn sessions_held(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the member drained and stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Every session held here (served or frozen in a handoff); those with only
    /// connections in TIME-WAIT are over and not listed.
    pub fn session_views(&self) -> Vec<SessionSummary> {
        self.sessions
            .iter()
            .filter(|(_, s)| !s.handoff.is_idle() || self.live(s) > 0)
            .map(|(c, s)| SessionSummary {
                client: *c,
                connections: s
                    .handoff
                    .frozen()
                    .map_or_else(|| self.live(s), |f| f.connections.len()),
                pinned: s.pinned,
                busy: !s.apps.values().all(AppState::movable),
                handing_off_to: s.handoff.acceptor(),
            })
            .collect()
    }

    /// Whether the member is draining (or has drained).
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether member `id` is excluded from handoffs.
    pub fn is_excluded(&self, id: MemberId) -> bool {
        self.excluded.contains(&id)
    }
}
