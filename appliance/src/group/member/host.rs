//! How a member is driven (the simulator's and the node's [`Host`] interface, `crate::host`): packets
//! in, the periodic work of `poll` (peer retransmissions, TCP and mobile-node timers,
//! handoff deadlines, token refresh, load reports, policies) and the next wake-up.

use super::*;

impl Member {
    /// A packet arrived (a whole IPv6 packet); what it makes the member send waits in
    /// [`Member::poll_transmit`].
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if self.stopped {
            return;
        }
        self.now = now;
        self.handle_ipv6(now, packet, false);
        self.run_apps(now);
        self.drain_tcp(now);
    }

    /// Timers and application work due at `now` (see [`Member::poll_timeout`]): peer
    /// retransmissions, TCP and mobile-node timers, handoff deadlines, token refresh,
    /// load reports, policies. What it sends waits in [`Member::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.now = now;
        self.mn_output_waiting = false;
        self.drain_mn();
        self.peer.purge(now);
        if !self.greet.is_empty() {
            self.greet_members(now);
        }
        self.flush_peer(now);
        if self.tcp.poll_timeout().is_some_and(|t| t <= now) {
            self.tcp.handle_timeout(now);
        }
        if self.mn.poll_timeout().is_some_and(|t| t <= now) {
            self.mn.handle_timeout(now);
            self.drain_mn();
        }
        // Frozen sessions whose deadline passed: handoffs the acceptor never answered
        // thaw (docs/handoff.md); a Commit can be lost, so once the acceptor said it
        // sent the BU (or acknowledged the Transfer) and the client has had ample time
        // to answer, the frozen copy is let go (never thawed).
        let mut due = Vec::new();
        while let Some(&(at, c)) = self.index.frozen_due.first() {
            if at > now {
                break;
            }
            self.index.frozen_due.pop_first();
            due.push(c);
        }
        for client in due {
            self.handoff_due(now, client);
        }
        if now >= self.index.next_sweep {
            self.expire_incoming(now);
        }
        if now >= self.index.next_moved_cleanup {
            self.index.next_moved_cleanup = now + SWEEP;
            self.moved.retain(|_, (_, until)| *until > now);
            self.contact.expire(now);
            self.forget_idle_clients(now);
        }
        // Token refresh while a session is active (RFC 6275 §5.2.7: 210 s).
        let mut stale: Vec<Ipv6Addr> = Vec::new();
        while let Some(&(at, c)) = self.index.refresh.first() {
            if at > now {
                break;
            }
            self.index.refresh.pop_first();
            // Frozen sessions are rescheduled when they thaw; moved ones are gone.
            if self.sessions.get(&c).is_some_and(|s| {
                !s.handoff.is_frozen() && now.saturating_since(s.tokens_refreshed) >= TOKEN_REFRESH
            }) {
                stale.push(c);
            }
        }
        for c in stale {
            self.refresh_tokens(now, c);
            if self.sessions.get(&c).is_some_and(|s| s.from_care_of) {
                if let Some(s) = self.sessions.get_mut(&c) {
                    s.bu_waiting = true; // binding refresh once the new tokens are in
                }
            }
        }
        if self.next_load_report.is_some_and(|t| t <= now) {
            self.next_load_report = Some(now + LOAD_REPORT_INTERVAL);
            let sessions = self
                .sessions
                .values()
                .filter(|s| !s.handoff.is_frozen())
                .count() as u32;
            let others = self.other_members();
            for m in others {
                self.send_peer(m, PeerBody::Load { sessions });
            }
        }
        if now >= self.next_policy {
            self.next_policy = now + self.cfg.policy_interval;
            self.run_policies(now);
        }
        self.run_apps(now);
        self.drain_tcp(now);
    }

    /// When [`Member::handle_timeout`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let mut t = [self.tcp.poll_timeout(), self.mn.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let mut consider = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        if let Some(r) = self.peer.next_retransmit() {
            consider(r);
        }
        if let Some(r) = self.peer.next_ack() {
            consider(r);
        }
        if let Some(r) = self.next_load_report {
            consider(r);
        }
        if self.mn_output_waiting || !self.greet.is_empty() {
            consider(self.now);
        }
        if !self.sessions.is_empty() || self.draining || !self.manual.pending.is_empty() {
            consider(self.next_policy);
        }
        if let Some((at, _)) = self.index.frozen_due.first() {
            consider(*at);
        }
        if let Some((at, _)) = self.index.refresh.first() {
            consider(*at);
        }
        if let Some((at, _)) = self.index.app_wake.first() {
            consider(*at);
        }
        if !self.index.dirty.is_empty() {
            consider(self.now);
        }
        if !self.sessions.is_empty() || !self.index.time_wait.is_empty() {
            consider(self.index.next_sweep);
        }
        // Clients to forget once their tokens expire, forwarding to stop.
        if self.mn.entries() > 0 || !self.moved.is_empty() {
            consider(self.index.next_moved_cleanup);
        }
        t
    }

    /// What happened since the last call that the driver reports (logs, the control
    /// socket, `--events`): handoffs this member started that ended, handoffs it accepted
    /// that committed, then handoffs it refused.
    pub fn poll_event(&mut self) -> Option<MemberEvent> {
        if let Some(r) = self.log.pop_done() {
            return Some(MemberEvent::HandoffEnded(r));
        }
        if let Some(r) = self.accepts.pop_done() {
            return Some(MemberEvent::Accepted(r));
        }
        self.refusals.pop_front().map(MemberEvent::Refused)
    }

    /// The next packet to send (a whole IPv6 packet), in the order the member made them.
    /// Client packets gathered to forward are sealed at the first call.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.flush_forwards();
        self.outbox.pop_front()
    }

    /// Appends everything [`Member::poll_transmit`] would give, in its order, to `out`.
    fn take_output(&mut self, out: &mut Vec<Vec<u8>>) {
        self.flush_forwards();
        out.extend(self.outbox.drain(..));
    }
}

/// The simulator's (and the node's timers') interface: the sans-IO calls above, with the
/// output handed over after each call.
impl Host for Member {
    fn addresses(&self) -> Vec<Ipv6Addr> {
        if self.stopped {
            return Vec::new();
        }
        let mut a = vec![self.cfg.care_of];
        if self.cfg.contact {
            a.push(self.cfg.anycast);
        }
        a
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Vec<u8>>) {
        Member::handle_packet(self, now, packet);
        self.take_output(out);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.handle_timeout(now);
        self.take_output(out);
    }

    fn next_wake(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
