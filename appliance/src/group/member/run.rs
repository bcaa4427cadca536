//! Periodic work: the policies' decisions, and giving connections to their apps.

use super::*;

impl Member {
    pub(super) fn run_policies(&mut self, now: Instant) {
        let mut candidates: Vec<MemberId> = self
            .cfg
            .members
            .keys()
            .copied()
            .filter(|m| !self.excluded.contains(m))
            .collect();
        if self.draining {
            candidates.retain(|m| *m != self.cfg.id);
        }
        let group = GroupView {
            me: self.cfg.id,
            candidates,
            load: self
                .load
                .iter()
                .filter(|(m, (_, at))| {
                    !self.excluded.contains(m) && now.saturating_since(*at) <= LOAD_REPORT_MAX_AGE
                })
                .map(|(m, (n, _))| (*m, *n))
                .collect(),
            draining: self.draining,
        };
        // A session whose app cannot move now (a proxied response that cannot be
        // resumed) is left alone by every policy, the drain's and the operator's too,
        // until it can (docs/apps.md).
        let views: Vec<SessionView> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.handoff.is_idle() && self.live(s) > 0 && s.apps.values().all(AppState::movable)
            })
            .map(|(c, s)| SessionView {
                client: *c,
                rtt: std::borrow::Cow::Borrowed(&s.rtt),
                since: s.since,
                pinned: s.pinned,
                avoid: s.backoff.avoid(),
            })
            .collect();
        // After a failed handoff a session waits out its backoff before automatic
        // policies may move it again; an operator's move and a drain do not wait.
        let settled: Vec<SessionView> = views
            .iter()
            .filter(|v| {
                self.sessions
                    .get(&v.client)
                    .is_none_or(|s| s.backoff.settled(now))
            })
            .cloned()
            .collect();
        let mut moves = self.manual.decide(now, &group, &views);
        for p in &mut self.policies {
            let sessions = if p.waits_out_backoff() {
                &settled
            } else {
                &views
            };
            for m in p.decide(now, &group, sessions) {
                if !moves.iter().any(|x| x.client == m.client) {
                    moves.push(m);
                }
            }
        }
        for m in moves {
            self.start_handoff(now, &m);
        }
        // A drained member stops once its peer messages are delivered (or given up): a
        // `Refused` or `Commit` it still owes another member must not die with it.
        // Sessions left with connections in TIME-WAIT only are over (docs/handoff.md).
        // A connection still in its handshake (begun before the drain) may complete and
        // become a session the drain hands on: it is waited for, at most the handoff
        // timeout (the client may have given up on it and reached another member).
        let over = |s: &Session| s.handoff.is_idle() && self.live(s) == 0;
        if self.draining
            && self.sessions.values().all(over)
            && self.peer.next_retransmit().is_none()
        {
            let grace = *self
                .drain_handshakes_until
                .get_or_insert(now + self.cfg.handoff_timeout);
            if self.index.handshakes.is_empty() || now >= grace {
                self.stopped = true;
            }
        }
    }

    /// Gives connections to their apps: those a segment touched or that were just placed,
    /// those whose app asked to be woken by now, and every one once per [`SWEEP`] (which
    /// also collects connections closed by timers). Sessions left with no connection and
    /// no frozen copy end.
    pub(super) fn run_apps(&mut self, now: Instant) {
        let mut tuples = std::mem::take(&mut self.index.dirty);
        while let Some(&(at, tuple)) = self.index.app_wake.first() {
            if at > now {
                break;
            }
            self.index.app_wake.pop_first();
            self.index.app_wake_of.remove(&tuple);
            tuples.push(tuple);
        }
        if now >= self.index.next_sweep {
            self.index.next_sweep = now + SWEEP;
            self.sessions
                .retain(|_, s| !s.conns.is_empty() || !s.handoff.is_idle());
            let tcp = &self.tcp;
            self.index.handshakes.retain(|_, h| {
                h.retain(|t| tcp.connection(t).is_some());
                !h.is_empty()
            });
            self.collect_time_wait();
            for s in self.sessions.values().filter(|s| !s.handoff.is_frozen()) {
                tuples.extend(s.conns.iter().copied());
            }
            // The apps' own connections (a proxy's backend) of connections gone from
            // here (moved, closed) are closed; a frozen session's stay (it may thaw).
            let sessions = &self.sessions;
            self.app_env.retain_io(|t| {
                sessions
                    .get(&t.remote)
                    .is_some_and(|s| s.apps.contains_key(t) || s.handoff.is_frozen())
            });
        }
        // In tuple order, each once (as a set would give them).
        tuples.sort_unstable();
        tuples.dedup();
        let mut touched = std::mem::take(&mut self.index.touched);
        for &tuple in &tuples {
            let client = tuple.remote;
            let Some(s) = self.sessions.get_mut(&client) else {
                continue;
            };
            touched.push(client);
            // During a pre-copy the apps write nothing new: the client is still served
            // from what the send buffers hold, and the copy converges (bulk.rs).
            if !s.handoff.apps_run() {
                continue;
            }
            let Some(app) = s.apps.get_mut(&tuple) else {
                continue;
            };
            let wake = match self.tcp.connection_mut(&tuple) {
                Some(conn) => {
                    app.poll(now, conn, &mut self.app_env);
                    if conn.state() == State::Closed {
                        s.conns.remove(&tuple);
                        s.apps.remove(&tuple);
                        if conn.reset_pending() {
                            // An app reset it: the RST goes out first (the endpoint
                            // sends it), the sweep takes the connection out after.
                            self.index.time_wait.insert(tuple);
                        } else {
                            self.tcp.remove(&tuple);
                        }
                        None
                    } else {
                        app.poll_at()
                    }
                }
                None => {
                    s.conns.remove(&tuple);
                    s.apps.remove(&tuple);
                    None
                }
            };
            if let Some(old) = self.index.app_wake_of.remove(&tuple) {
                self.index.app_wake.remove(&(old, tuple));
            }
            if let Some(w) = wake {
                self.index.app_wake_of.insert(tuple, w);
                self.index.app_wake.insert((w, tuple));
            }
        }
        for client in touched.drain(..) {
            if self
                .sessions
                .get(&client)
                .is_some_and(|s| s.conns.is_empty() && s.handoff.is_idle())
            {
                self.sessions.remove(&client);
            }
        }
        self.index.touched = touched;
        // The list goes back for its capacity (apps may have marked connections since).
        tuples.clear();
        tuples.append(&mut self.index.dirty);
        self.index.dirty = tuples;
    }

    /// How many of `s`'s connections are live: not in TIME-WAIT (the app is done with
    /// those; they only answer a retransmitted FIN until they close).
    pub(super) fn live(&self, s: &Session) -> usize {
        s.conns
            .iter()
            .filter(|t| self.tcp.connection(t).map(Connection::state) != Some(State::TimeWait))
            .count()
    }

    /// Takes out of the endpoint the TIME-WAIT connections a handoff left behind, once
    /// their time is up (or drops them from the list when a new connection of the same
    /// tuple took their place).
    fn collect_time_wait(&mut self) {
        let tcp = &mut self.tcp;
        let sessions = &self.sessions;
        self.index
            .time_wait
            .retain(|t| match tcp.connection(t).map(Connection::state) {
                Some(State::TimeWait) => true,
                Some(State::Closed) => {
                    if !sessions.get(&t.remote).is_some_and(|s| s.conns.contains(t)) {
                        tcp.remove(t);
                    }
                    false
                }
                _ => false,
            });
    }
}
