//! A member's packet input: peer datagrams, Mobility Header messages, and client TCP
//! segments (forwarded to an acceptor, dropped without a RST, or given to the engine).

use super::*;

impl Member {
    pub(super) fn handle_ipv6(&mut self, now: Instant, packet: &[u8], forwarded: bool) {
        let Ok(parsed) = wire::parse_verified(packet) else {
            self.stats.dropped += 1;
            return;
        };
        let repr = &parsed.repr;
        // Peer datagrams.
        if let Upper::Udp(u) = &repr.upper {
            if u.dst_port == PEER_PORT && repr.dst == self.cfg.care_of {
                if let Ok(msg) = self.peer.open(now, u.payload) {
                    self.handle_peer(now, msg.from, msg.body);
                }
                for (to, seqs) in self.peer.take_acks(now) {
                    self.send_peer(to, PeerBody::Ack { seqs });
                }
                return;
            }
        }
        if let Upper::Mh(mh) = &repr.upper {
            let event = self.mn.handle_mh(now, &parsed);
            if let (Some(event), MhMessage::Hot { cookie, .. }) = (event, &mh.message) {
                self.home_token_arrived(now, event, *cookie);
            } else if let Some(event) = event {
                self.mn_event(now, event);
            }
            self.drain_mn();
            return;
        }
        if let Upper::Icmpv6(m) = &repr.upper {
            return self.handle_icmpv6(now, packet, m, forwarded);
        }
        let Upper::Tcp(seg) = &repr.upper else {
            self.stats.dropped += 1;
            return;
        };
        // A client packet for the anycast address: sent to it directly, or to our care-of
        // address with an RH2 holding it.
        let to_anycast = repr.pseudo_dst() == self.cfg.anycast;
        if !to_anycast {
            self.stats.dropped += 1;
            return;
        }
        self.client_segment(now, packet, repr, seg, forwarded);
    }

    /// A TCP segment from a client to the anycast address: passed on to the member that
    /// serves the client, completed as a SYN cookie, dropped without a RST, or given to
    /// the engine.
    fn client_segment(
        &mut self,
        now: Instant,
        packet: &[u8],
        repr: &PacketRepr<'_>,
        seg: &vany_stack::wire::TcpRepr<'_>,
        forwarded: bool,
    ) {
        let client = repr.src;
        let new_connection =
            seg.control == vany_stack::wire::TcpControl::Syn && seg.ack_number.is_none();
        let held = self
            .sessions
            .get(&client)
            .is_some_and(|s| s.handoff.is_frozen() || !s.conns.is_empty());
        let tuple_known = self
            .tcp
            .connection(&FourTuple {
                local: self.cfg.anycast,
                local_port: seg.dst_port,
                remote: client,
                remote_port: seg.src_port,
            })
            .is_some();
        if self.pass_on(now, packet, repr, held, forwarded) {
            return;
        }
        // A draining member opens no new connection (docs/handoff.md, "Draining"): it
        // would have to hand it on, and a member that stopped under a handshake would
        // lose it. The client's SYN retransmission reaches the member that serves it
        // once its binding moves (or is deregistered), as with any member that left.
        if self.draining && new_connection && !tuple_known {
            self.stats.syns_while_draining += 1;
            return;
        }
        // A segment of a connection this member does not hold is never answered with a
        // RST: the connection may live at another member of the group.
        if !tuple_known && (!new_connection || (forwarded && !held)) {
            // Unless it completes a SYN cookie this member sent (its listener's backlog
            // was full): RFC 4987 §3.6.
            if !new_connection
                && !self.draining
                && self.tcp.try_syn_cookie(now, client, self.cfg.anycast, seg)
            {
                self.index.dirty.push(FourTuple {
                    local: self.cfg.anycast,
                    local_port: seg.dst_port,
                    remote: client,
                    remote_port: seg.src_port,
                });
                self.accept_new(now);
                return;
            }
            if !forwarded && held && !new_connection && self.pass_to_contact_node(client, packet) {
                return;
            }
            self.stats.dropped += 1;
            return;
        }
        self.tcp.handle_segment(now, client, self.cfg.anycast, seg);
        let tuple = FourTuple {
            local: self.cfg.anycast,
            local_port: seg.dst_port,
            remote: client,
            remote_port: seg.src_port,
        };
        if new_connection && !tuple_known && self.tcp.connection(&tuple).is_some() {
            self.index
                .handshakes
                .entry(client)
                .or_default()
                .insert(tuple);
        }
        self.index.dirty.push(tuple);
        self.accept_new(now);
    }

    /// Passes a client's packet on when another member serves the client now (handed
    /// off lately, or frozen in a handoff under way); notes a direct packet after a
    /// handoff. Returns whether the packet was passed on.
    fn pass_on(
        &mut self,
        now: Instant,
        packet: &[u8],
        repr: &PacketRepr<'_>,
        held: bool,
        forwarded: bool,
    ) -> bool {
        let client = repr.src;
        // A segment of a session this member does not hold — late packets after a handoff
        // committed, or packets forwarded for a transfer that was lost or refused — is
        // dropped, never answered: a RST would reset the client's connection. Only a new
        // connection (a SYN not forwarded by a donor) opens a session here.
        // A client whose session this member handed off lately: its packets (a new
        // connection included) go to the member that serves it now.
        if !held && !forwarded {
            if let Some(&(to, until)) = self.moved.get(&client) {
                if until > now && to != self.cfg.id {
                    self.forward_packet(to, 0, packet);
                    return true;
                }
            }
        }
        if let Some(s) = self.sessions.get_mut(&client) {
            if let Some(f) = s.handoff.frozen() {
                // Step 3: not dropped, not answered: forwarded to the acceptor.
                let (to, transfer) = (f.to, f.transfer);
                self.forward_packet(to, transfer, packet);
                return true;
            }
            if !forwarded {
                s.history.heard_at = Some(now);
            }
            // A client packet that reached us directly after a handoff: its binding points
            // here now (RFC 6275 route optimization), so the donor can let go.
            if !forwarded && repr.dst == self.cfg.care_of {
                if let Some(up) = s.handoff.client_confirmed() {
                    self.commit_to(up);
                    self.tell_contact_node(client);
                }
            }
        }
        false
    }

    /// A segment of a connection this member does not know, from a client whose session
    /// it serves: the client may have opened the connection natively, to the anycast
    /// address, while it had no binding (deregistered when its member was taken for
    /// gone), and the contact node took it; once this member's BU bound the client, the
    /// rest of that connection comes here. It is passed to the contact node, which
    /// drops it in turn if it does not hold the connection either. Returns whether it
    /// was passed on.
    fn pass_to_contact_node(&mut self, client: Ipv6Addr, packet: &[u8]) -> bool {
        let contact = self.contact_for(client);
        if contact == self.cfg.id || self.excluded.contains(&contact) {
            return false;
        }
        self.forward_packet(contact, 0, packet);
        true
    }

    pub(super) fn accept_new(&mut self, now: Instant) {
        while let Some(tuple) = self.tcp.accept() {
            let client = tuple.remote;
            if let Some(h) = self.index.handshakes.get_mut(&client) {
                h.remove(&tuple);
                if h.is_empty() {
                    self.index.handshakes.remove(&client);
                }
            }
            let app = self.app_for(tuple.local_port).start();
            let new_session = !self.sessions.contains_key(&client);
            let s = self
                .sessions
                .entry(client)
                .or_insert_with(|| Session::new(now, false));
            s.conns.insert(tuple);
            // A connection restored during its handshake already has its app state.
            s.apps.entry(tuple).or_insert(app);
            self.index.dirty.push(tuple);
            if new_session {
                // Exchanged in advance (docs/handoff.md): a home token, and every member's
                // care-of test, which is also its proximity measurement.
                self.refresh_tokens(now, client);
            }
        }
    }
}
