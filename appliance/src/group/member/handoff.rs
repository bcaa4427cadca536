//! The handoff (docs/handoff.md): peer messages, freezing and transferring a session,
//! restoring it, commit, refusal, thaw, the resolution of two copies when an answer
//! comes late, the handoff deadlines, and the one place a handoff's outcome is set
//! (`finish`, with the backoff after a failure).

use super::*;

impl Member {
    /// Puts the deadline of `client`'s frozen session (if any) into the index.
    pub(super) fn schedule_frozen(&mut self, client: Ipv6Addr) {
        if let Some(d) = self.handoff_deadline(client) {
            self.index.frozen_due.insert((d, client));
        }
    }

    /// When `client`'s handoff next needs attention ([`HandoffState::deadline`]).
    pub(super) fn handoff_deadline(&self, client: Ipv6Addr) -> Option<Instant> {
        let s = self.sessions.get(&client)?;
        s.handoff.deadline(self.cfg.handoff_timeout)
    }

    /// Sets the outcome of handoff `transfer` ([`HandoffLog::finish`]); a failure backs
    /// off automatic handoffs of the session and a drain tries other members first.
    pub(super) fn finish(
        &mut self,
        now: Instant,
        transfer: u64,
        outcome: HandoffOutcome,
        failure: Option<String>,
    ) {
        if let Some(failed) = self.log.finish(now, transfer, outcome, failure) {
            if let Some(s) = self.sessions.get_mut(&failed.client) {
                s.backoff.failed(now, failed.to);
            }
        }
    }

    pub(super) fn handle_peer(&mut self, now: Instant, from: MemberId, body: PeerBody) {
        match body {
            PeerBody::HomeTestRequest { client } => {
                self.start_home_test(now, client, from);
                self.drain_mn();
            }
            PeerBody::HomeToken { client, token } => {
                let info = TokenInfo {
                    token: token.token,
                    nonce_index: token.nonce_index,
                    received: now - Duration::from_micros(token.age_micros),
                    address: self.cfg.anycast,
                };
                self.mn.import_home_token(client, info);
                self.token_arrived(now, client);
            }
            PeerBody::Probe { client } => {
                self.probe_for.entry(client).or_default().insert(from);
                self.mn
                    .start_care_of_test(now, &mut self.rng, client, self.cfg.care_of);
                self.drain_mn();
            }
            PeerBody::ProbeResult { client, rtt_micros } => {
                if let Some(s) = self.sessions.get_mut(&client) {
                    s.rtt.insert(from, Duration::from_micros(rtt_micros));
                }
            }
            PeerBody::Transfer {
                transfer,
                index,
                count,
                session,
            } => self.handle_transfer_part(now, from, transfer, index, count, session),
            PeerBody::Precopy {
                transfer,
                client,
                local_port,
                remote_port,
                offset,
                bytes,
            } => self.handle_precopy(
                now,
                from,
                (transfer, client),
                (local_port, remote_port),
                offset,
                bytes,
            ),
            PeerBody::Restored { transfer } => self.restored(now, from, transfer),
            PeerBody::Refused { transfer, reason } => {
                let why = format!("refused by member {from}: {reason}");
                self.log.refused_for(transfer, reason.label());
                self.call_off(now, transfer, HandoffOutcome::Refused, why);
            }
            PeerBody::Commit { transfer } => self.committed(now, from, transfer),
            PeerBody::Forward { packet, .. } => {
                self.stats.forwarded_in += 1;
                self.handle_ipv6(now, &packet, true);
            }
            PeerBody::Forwards { packets } => {
                for p in packets {
                    self.stats.forwarded_in += 1;
                    self.handle_ipv6(now, &p.packet, true);
                }
            }
            PeerBody::Ack { seqs } => {
                let acked = self.peer.acknowledged(now, from, &seqs);
                for seq in acked {
                    if let Some(c) = self.index.transfer_seqs.remove(&seq) {
                        self.bulk_acked(now, c, seq);
                    }
                }
            }
            PeerBody::Abandon { transfer } => self.abandoned(now, from, transfer),
            PeerBody::Serving { client, member } => self.serving(client, member),
            PeerBody::Load { sessions } => {
                self.load.insert(from, (sessions as usize, now));
            }
            PeerBody::RefreshRequested { client } => {
                if self
                    .sessions
                    .get(&client)
                    .is_some_and(|s| !s.handoff.is_frozen() && s.from_care_of)
                {
                    self.send_bu(now, client);
                }
            }
        }
    }

    /// Donor, step 4 (docs/handoff.md): the acceptor restored the session and sent the
    /// BU. The frozen copy is kept until the commit, or let go once the client has had
    /// ample time to answer (a Commit can be lost).
    fn restored(&mut self, now: Instant, from: MemberId, transfer: u64) {
        if self.outcome_of(transfer) == Some(HandoffOutcome::TimedOut) {
            return self.late_answer(now, from, transfer);
        }
        self.log.restored(transfer, now);
        if let Some(client) = self.frozen_client(transfer) {
            if let Some(s) = self.sessions.get_mut(&client) {
                s.handoff.restored(now, transfer);
            }
            self.schedule_frozen(client);
        }
    }

    /// Donor, step 5 (docs/handoff.md): the client reached the acceptor, which serves it
    /// now. The frozen copy goes; late packets of the client are forwarded for a while;
    /// a session this member had itself received is released at its own donor too.
    fn committed(&mut self, now: Instant, from: MemberId, transfer: u64) {
        if self.outcome_of(transfer) == Some(HandoffOutcome::TimedOut) {
            return self.late_answer(now, from, transfer);
        }
        if let Some(client) = self.frozen_client(transfer) {
            self.moved.insert(client, (from, now + MOVED_FORWARDING));
            let upstream = self
                .sessions
                .remove(&client)
                .and_then(|s| s.handoff.upstream());
            // The client's binding left this member's donor too: release it.
            if let Some(up) = upstream {
                self.commit_to(up);
            }
        }
        if self.outcome_of(transfer) == Some(HandoffOutcome::Pending) {
            self.finish(now, transfer, HandoffOutcome::Committed, None);
        }
    }

    /// The outcome this member (as donor) recorded for `transfer`.
    pub(super) fn outcome_of(&self, transfer: u64) -> Option<HandoffOutcome> {
        self.log.outcome(transfer)
    }

    /// The donor thawed a handoff whose session this member restored: its copy wins (it
    /// may have gone on with the stream), so this one is dropped without a word to the
    /// client, and the client's packets that still come here go back to the donor.
    pub(super) fn abandoned(&mut self, now: Instant, donor: MemberId, transfer: u64) {
        if self
            .incoming
            .get(&transfer)
            .is_some_and(|i| i.from == donor)
        {
            self.drop_incoming(transfer);
        }
        let client = self
            .sessions
            .iter()
            .find(|(_, s)| !s.handoff.is_frozen() && s.history.arrived_by(transfer, donor))
            .map(|(c, _)| *c);
        let Some(client) = client else {
            return;
        };
        if let Some(s) = self.sessions.remove(&client) {
            for tuple in s.conns {
                self.tcp.remove(&tuple);
            }
        }
        let stale: Vec<FourTuple> = self
            .tcp
            .tuples()
            .filter(|t| t.remote == client)
            .copied()
            .collect();
        for t in stale {
            self.tcp.remove(&t);
        }
        self.stats.abandoned += 1;
        self.moved.insert(client, (donor, now + MOVED_FORWARDING));
    }

    /// A handoff this member thawed on its timeout turned out to have reached the acceptor
    /// after all (a late `Restored` or `Commit`): two copies of the session now exist, and
    /// only the one the client has been talking to can go on (the other's sequence
    /// numbers are behind the client's). The acceptor sent the client a BU when it
    /// restored, so its copy is the live one unless the client kept sending here after
    /// this member thawed: then this copy stays and the acceptor is told to `Abandon`
    /// its own, and the client's binding is brought back here.
    pub(super) fn late_answer(&mut self, now: Instant, acceptor: MemberId, transfer: u64) {
        let Some(client) = self.log.client(transfer) else {
            return;
        };
        let Some(s) = self.sessions.get(&client) else {
            // Nothing left here (handed on since): the acceptor's copy is the only one.
            return self.log.revise_committed(transfer, now);
        };
        // A pre-copy in progress for a newer handoff is called off either way.
        if let Some(p) = s.handoff.precopy().map(|p| p.transfer) {
            let why = "a late answer to an earlier handoff".to_string();
            self.call_off(now, p, HandoffOutcome::Abandoned, why);
        }
        let Some(s) = self.sessions.get(&client) else {
            return;
        };
        let live_here = s.history.live_here();
        let (frozen, from_care_of) = (s.handoff.is_frozen(), s.from_care_of);
        if live_here {
            self.send_peer(acceptor, PeerBody::Abandon { transfer });
            if frozen {
                // A newer handoff carries this copy on and binds the client itself.
                return;
            }
            if from_care_of {
                self.send_bu(now, client);
            } else {
                let _ = self.mn.deregister(now, client, self.cfg.care_of);
                self.drain_mn();
            }
            return;
        }
        // The acceptor's copy goes on: drop this one (no RST) and forward. If this copy is
        // already frozen in a newer handoff, that handoff is called off: its acceptor
        // (unless it is this one, which refuses it) is told to abandon it.
        let Some(s) = self.sessions.remove(&client) else {
            return;
        };
        for tuple in &s.conns {
            self.tcp.remove(tuple);
        }
        if let HandoffState::Frozen(f) = s.handoff {
            for seq in f.parts.pending_seqs() {
                self.peer.cancel(seq);
            }
            if f.to != acceptor {
                self.send_peer(
                    f.to,
                    PeerBody::Abandon {
                        transfer: f.transfer,
                    },
                );
            }
            if let Some(up) = f.upstream {
                self.commit_to(up);
            }
            let why =
                format!("member {acceptor} answered an earlier handoff late and serves the client");
            self.finish(now, f.transfer, HandoffOutcome::Abandoned, Some(why));
        }
        self.moved
            .insert(client, (acceptor, now + MOVED_FORWARDING));
        self.log.revise_committed(transfer, now);
    }

    // ---- handoff --------------------------------------------------------------------------

    pub(super) fn start_handoff(&mut self, now: Instant, m: &Move) {
        let Some(s) = self.sessions.get(&m.client) else {
            return;
        };
        if !s.handoff.is_idle() || m.to == self.cfg.id || !self.cfg.members.contains_key(&m.to) {
            return;
        }
        self.transfer_counter += 1;
        let transfer = (u64::from(self.cfg.id) << 48) | self.transfer_counter;
        let ends = (self.cfg.id, m.to);
        self.log.start(now, transfer, m.client, ends, m.reason);
        // A large session is copied while it keeps running, then frozen (bulk.rs).
        let manual = m.reason == MoveReason::Manual;
        self.begin_transfer(now, m.client, transfer, m.to, manual);
    }

    /// Step 3: freezes `client`'s session, snapshots every connection (leaving out the
    /// send data the acceptor acknowledged in the pre-copy, `acked`), the binding and
    /// the app state, and sends it in parts.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn freeze_and_send(
        &mut self,
        now: Instant,
        client: Ipv6Addr,
        transfer: u64,
        to: MemberId,
        manual: bool,
        acked: BTreeMap<FourTuple, u64>,
    ) {
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        let mut frozen = Vec::new();
        let mut snaps = Vec::new();
        let mut left_out = Vec::new();
        let mut failed = None;
        // Connections still in their handshake are not in `conns` yet: they move too.
        let mut tuples = std::mem::take(&mut s.conns);
        if let Some(h) = self.index.handshakes.remove(&client) {
            tuples.extend(h);
        }
        for tuple in tuples {
            // A connection in TIME-WAIT stays here (docs/handoff.md).
            if self.tcp.connection(&tuple).map(Connection::state) == Some(State::TimeWait) {
                s.apps.remove(&tuple);
                self.index.time_wait.insert(tuple);
                continue;
            }
            let Some(mut conn) = self.tcp.remove(&tuple) else {
                continue;
            };
            conn.freeze();
            let spec = AppSpec {
                kind: self
                    .apps
                    .get(&tuple.local_port)
                    .copied()
                    .unwrap_or(AppKind::Source),
                timeouts: self.app_timeouts,
            };
            let app = s.apps.remove(&tuple).unwrap_or_else(|| spec.start());
            let have = acked.get(&tuple).copied().unwrap_or(0);
            match conn.snapshot_bytes_from(now, have) {
                Ok((bytes, (from, upto))) => {
                    if upto > from {
                        left_out.push((tuple.local_port, tuple.remote_port, from, upto));
                    }
                    snaps.push((bytes, app.clone()));
                }
                Err(e) => failed = Some(e.to_string()),
            }
            frozen.push((conn, app));
        }
        let snapshot = SessionSnapshot {
            client,
            taken_at: now,
            binding: self.mn.export(&client),
            connections: snaps,
            rtt: s.rtt.iter().map(|(k, v)| (*k, v.total_micros())).collect(),
            pinned: s.pinned || manual,
            left_out,
        };
        let bytes = match snapshot.encode() {
            Ok(b) if failed.is_none() => b,
            Ok(_) => Vec::new(),
            Err(e) => {
                failed = Some(e.to_string());
                Vec::new()
            }
        };
        let (connections, size) = (frozen.len(), bytes.len());
        let parts = bulk::PartsOut::new(bytes);
        s.handoff.freeze(now, transfer, to, parts, frozen);
        self.log.snapshot_taken(transfer, size, connections);
        if let Some(why) = failed {
            // Nothing was sent: the session goes on here at once.
            let why = format!("the session could not be snapshotted: {why}");
            return self.thaw(now, transfer, HandoffOutcome::Abandoned, why);
        }
        self.pump_parts(client);
        self.schedule_frozen(client);
    }

    /// Step 4 at the acceptor: restores a whole session (its parts assembled, the send
    /// data it left out taken from `precopied`), sends the BU and goes on; or refuses.
    pub(super) fn accept_transfer(
        &mut self,
        now: Instant,
        from: MemberId,
        transfer: u64,
        bytes: &[u8],
        precopied: Option<bulk::Precopied>,
    ) {
        let refuse = |me: &mut Self, reason: RefuseReason| {
            me.refuse(from, transfer, reason);
        };
        if self.draining || self.stopped {
            return refuse(self, RefuseReason::Draining);
        }
        let snap = match SessionSnapshot::decode(bytes) {
            Ok(s) => s,
            Err(SessionSnapshotError::Version { found }) => {
                let supported = super::SESSION_SNAPSHOT_VERSION;
                return refuse(self, RefuseReason::Version { found, supported });
            }
            Err(e) => return refuse(self, RefuseReason::Malformed(e.to_string())),
        };
        // This member may serve some of the client's connections already: a connection
        // the client opened while its binding was gone (deregistered when its member was
        // taken for dead) reached the group natively. The moved connections join them
        // (a tuple held twice is refused below), so the client's session is whole again.
        let merging = self
            .sessions
            .get(&snap.client)
            .is_some_and(|s| !s.handoff.is_frozen() && !s.conns.is_empty());
        // Step 4: restore every connection first (nothing changes here if one fails).
        let restored = match self.restore_connections(now, from, &snap, precopied.as_ref()) {
            Ok(r) => r,
            Err(reason) => return refuse(self, reason),
        };
        // An app that reads content of this member's own (a file) goes on only with the
        // very same content; else the donor keeps the session.
        for (c, app) in &restored {
            if let Err(why) = app.check_restore(c.tuple().local_port, &mut self.app_env) {
                return refuse(self, RefuseReason::Content(why));
            }
        }
        self.moved.remove(&snap.client);
        // The session comes back while this member still holds a frozen copy from handing
        // it off earlier: that earlier handoff is over (the snapshot is newer).
        let superseded = self
            .sessions
            .get_mut(&snap.client)
            .and_then(|s| s.handoff.supersede());
        if let Some(old) = superseded {
            self.finish(now, old, HandoffOutcome::Committed, None);
        }
        if let Some(b) = snap.binding.clone() {
            self.mn.import(b, snap.taken_at, now);
        }
        // BU from our care-of address, and go on at once.
        if let Err(e) = self.mn.send_bu(now, snap.client, self.cfg.care_of) {
            return refuse(self, RefuseReason::Binding(e.to_string()));
        }
        self.drain_mn();
        let s = self
            .sessions
            .entry(snap.client)
            .or_insert_with(|| Session::new(now, true));
        s.since = now;
        s.pinned |= snap.pinned;
        s.from_care_of = true;
        let arrival = Arrival {
            transfer,
            donor: from,
        };
        s.handoff.arrive(arrival, merging);
        s.history.arrived = Some(arrival);
        for (k, v) in snap.rtt {
            s.rtt.entry(k).or_insert(Duration::from_micros(v));
        }
        let connections = restored.len();
        for (conn, app) in restored {
            let tuple = conn.tuple();
            // Cannot fail: every tuple was checked free above, nothing ran in between.
            if self.tcp.insert(conn).is_ok() {
                s.conns.insert(tuple);
                s.apps.insert(tuple, app);
                self.index.dirty.push(tuple);
            }
        }
        self.schedule_refresh(snap.client);
        self.stats.accepted += 1;
        self.accepts.accepted(AcceptRecord {
            transfer,
            client: snap.client,
            from,
            to: self.cfg.id,
            received: now,
            committed: None,
            snapshot_bytes: bytes.len(),
            connections,
        });
        self.send_peer(from, PeerBody::Restored { transfer });
        if merging {
            // The client talks to this member already: the donor can let go.
            self.accepts.committed(transfer, now);
            self.send_peer(from, PeerBody::Commit { transfer });
            self.tell_contact_node(snap.client);
        }
    }

    /// Restores every connection of `snap` on this member's own path (its care-of test
    /// measured the round trip to the client), with the send data the pre-copy brought;
    /// the first that fails refuses the whole session, before anything changed here.
    fn restore_connections(
        &self,
        now: Instant,
        from: MemberId,
        snap: &SessionSnapshot,
        precopied: Option<&bulk::Precopied>,
    ) -> Result<Vec<(Connection, AppState)>, RefuseReason> {
        let own_rtt = snap.rtt.iter().find(|(m, _)| *m == self.cfg.id);
        let own_rtt = own_rtt.map(|(_, r)| Duration::from_micros(*r));
        // The state's time in transit: half the round trip to the donor, less the
        // acknowledgement batching in that measurement.
        let transit = self.peer.srtt(from).map(|r| {
            Duration::from_micros(
                r.total_micros()
                    .saturating_sub(super::super::peer::ACK_DELAY.total_micros())
                    / 2,
            )
        });
        let mut restored: Vec<(Connection, AppState)> = Vec::new();
        for (tcp, app) in &snap.connections {
            let mut c = match Connection::restore_bytes(tcp, now) {
                Ok(c) => c,
                Err(e) => return Err(RefuseReason::Malformed(e.to_string())),
            };
            let tuple = c.tuple();
            let left_out = snap
                .left_out
                .iter()
                .find(|(l, r, _, _)| (*l, *r) == (tuple.local_port, tuple.remote_port))
                .map_or((0, 0), |(_, _, a, b)| (*a, *b));
            Self::fill_precopied(&mut c, left_out, precopied)?;
            c.adopt_new_path(now, own_rtt, transit);
            if tuple.remote != snap.client || tuple.local != self.cfg.anycast {
                let why = format!("connection {tuple:?} is not the client's");
                return Err(RefuseReason::Malformed(why));
            }
            // A tuple this member holds, or one the snapshot names twice: inserting it
            // would fail after the session had changed here.
            if self.tcp.connection(&tuple).is_some()
                || restored.iter().any(|(r, _)| r.tuple() == tuple)
            {
                return Err(RefuseReason::Collision);
            }
            let mut app = app.clone();
            app.rebase_clock(snap.taken_at, now);
            restored.push((c, app));
        }
        Ok(restored)
    }

    /// The frozen copy of handoff `transfer` goes on here: the acceptor refused, said
    /// nothing in time, or the handoff was called off.
    pub(super) fn thaw(
        &mut self,
        now: Instant,
        transfer: u64,
        outcome: HandoffOutcome,
        why: String,
    ) {
        let Some(client) = self.frozen_client(transfer) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&client) {
            if let Some(f) = s.handoff.thaw() {
                s.history.thawed_at = Some(now);
                for seq in f.parts.pending_seqs() {
                    self.peer.cancel(seq);
                    self.index.transfer_seqs.remove(&seq);
                }
                for (mut conn, app) in f.connections {
                    conn.thaw();
                    let tuple = conn.tuple();
                    // A connection opened on the same tuple while this one was frozen
                    // (the client gave up on it) is the live one: the frozen copy goes.
                    if self.tcp.insert(conn).is_err() {
                        self.stats.thaw_collisions += 1;
                        continue;
                    }
                    s.conns.insert(tuple);
                    s.apps.insert(tuple, app);
                    self.index.dirty.push(tuple);
                }
            }
            s.since = now;
        }
        self.schedule_refresh(client);
        self.finish(now, transfer, outcome, Some(why));
    }
}
