//! How a member is driven (the simulator's and the node's [`Host`] interface, `crate::host`): packets
//! in, the periodic work of `poll` (peer retransmissions, TCP and mobile-node timers,
//! handoff deadlines, token refresh, load reports, policies) and the next wake-up.

use super::*;

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
        if self.stopped {
            return;
        }
        self.now = now;
        self.handle_ipv6(now, packet, false, out);
        self.run_apps(now);
        self.drain_tcp(now, out);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.stopped {
            return;
        }
        self.now = now;
        self.mn_output_waiting = false;
        self.drain_mn(out);
        self.peer.purge(now);
        if !self.greet.is_empty() {
            self.greet_members(now, out);
        }
        self.flush_peer(now, out);
        if self.tcp.poll_timeout().is_some_and(|t| t <= now) {
            self.tcp.handle_timeout(now);
        }
        if self.mn.poll_timeout().is_some_and(|t| t <= now) {
            self.mn.handle_timeout(now);
            self.drain_mn(out);
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
            self.handoff_due(now, client, out);
        }
        if now >= self.index.next_sweep {
            self.expire_incoming(now);
        }
        if now >= self.index.next_moved_cleanup {
            self.index.next_moved_cleanup = now + SWEEP;
            self.moved.retain(|_, (_, until)| *until > now);
            self.deregistered_for
                .retain(|_, (_, at)| now.saturating_since(*at) < liveness::DEREGISTERED_MEMORY);
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
            self.refresh_tokens(now, c, out);
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
                self.send_peer(m, PeerBody::Load { sessions }, out);
            }
        }
        if now >= self.next_policy {
            self.next_policy = now + self.cfg.policy_interval;
            self.run_policies(now, out);
        }
        self.run_apps(now);
        self.drain_tcp(now, out);
    }

    fn next_wake(&self) -> Option<Instant> {
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

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
