//! The Mobile IPv6 side of a member and the contact-node role: home and care-of tests,
//! home tokens relayed by init cookie, Binding Updates, BRR relaying.

use super::*;

impl Member {
    pub(super) fn refresh_tokens(&mut self, now: Instant, client: Ipv6Addr) {
        if let Some(s) = self.sessions.get_mut(&client) {
            s.tokens_refreshed = now;
        }
        self.schedule_refresh(client);
        self.request_home_token(now, client);
        self.mn
            .start_care_of_test(now, &mut self.rng, client, self.cfg.care_of);
        self.probe_for.entry(client).or_default();
        let others = self.other_members();
        for m in others {
            self.send_peer(m, PeerBody::Probe { client });
        }
        self.drain_mn();
    }

    /// Forgets what the mobile node and the contact-node maps hold about clients with no
    /// session here and nothing under way (forged or finished ones): a member's memory
    /// follows its live clients, not every address it ever heard from.
    pub(super) fn forget_idle_clients(&mut self, now: Instant) {
        let sessions = &self.sessions;
        let forgotten = self.mn.forget_idle(now, |c| sessions.contains_key(c));
        if forgotten == 0 {
            return;
        }
        self.stats.bindings_forgotten += forgotten as u64;
        let mn = &self.mn;
        self.probe_for.retain(|c, _| mn.knows(c));
        self.contact.forget_unless(|c| mn.knows(c));
    }

    pub(super) fn request_home_token(&mut self, now: Instant, client: Ipv6Addr) {
        let contact = self.contact_for(client);
        if contact == self.cfg.id {
            self.start_home_test(now, client, self.cfg.id);
            self.drain_mn();
        } else {
            self.send_peer(contact, PeerBody::HomeTestRequest { client });
        }
    }

    pub(super) fn start_home_test(&mut self, now: Instant, client: Ipv6Addr, for_member: MemberId) {
        let secs = self.group_secs(now);
        let cookie = self.contact.home_test_cookie(client, for_member, secs);
        self.mn.start_home_test(now, client, cookie);
    }

    /// A HoT arrived at the anycast address (we are a contact node): keep or relay.
    pub(super) fn home_token_arrived(&mut self, now: Instant, event: MnEvent, cookie: [u8; 8]) {
        let (client, token) = match event {
            MnEvent::HomeToken {
                correspondent,
                token,
            }
            | MnEvent::ForeignHomeToken {
                correspondent,
                token,
                ..
            } => (correspondent, token),
            other => return self.mn_event(now, other),
        };
        // A Home Test whose cookie the group did not make for this client answers no HoTI
        // of ours: dropped before it creates any state, here or at a member it names. So
        // is one whose cookie is past its lifetime or was taken already: a cookie seen on
        // the wire, replayed with a forged token, would spoil the client's next handoff.
        let secs = self.group_secs(now);
        let owner = match self.contact.take_home_test(now, client, cookie, secs) {
            Ok(owner) => owner,
            Err(CookieRefusal::Forged) => {
                self.stats.home_tests_forged += 1;
                return;
            }
            Err(CookieRefusal::Stale) => {
                self.stats.home_tests_replayed += 1;
                return;
            }
        };
        match owner {
            m if m != self.cfg.id => {
                // Kept here too: a deregistration on the serving member's behalf, should
                // it die, needs the client's home token.
                self.mn.import_home_token(client, token);
                self.stats.tokens_relayed += 1;
                let relayed = RelayedToken {
                    token: token.token,
                    nonce_index: token.nonce_index,
                    age_micros: 0,
                };
                self.send_peer(
                    m,
                    PeerBody::HomeToken {
                        client,
                        token: relayed,
                    },
                );
            }
            _ => {
                self.mn.import_home_token(client, token);
                self.token_arrived(now, client);
            }
        }
    }

    pub(super) fn mn_event(&mut self, now: Instant, event: MnEvent) {
        match event {
            MnEvent::CareOfToken {
                correspondent, rtt, ..
            } => {
                let me = self.cfg.id;
                if let Some(s) = self.sessions.get_mut(&correspondent) {
                    s.rtt.insert(me, rtt);
                }
                let askers: Vec<MemberId> = self
                    .probe_for
                    .get(&correspondent)
                    .map(|a| a.iter().copied().collect())
                    .unwrap_or_default();
                for m in askers {
                    let body = PeerBody::ProbeResult {
                        client: correspondent,
                        rtt_micros: rtt.total_micros(),
                    };
                    self.send_peer(m, body);
                }
                self.token_arrived(now, correspondent);
            }
            MnEvent::Bound { correspondent, .. } => {
                if let Some(s) = self.sessions.get_mut(&correspondent) {
                    s.from_care_of = true;
                    if let Some(up) = s.handoff.client_confirmed() {
                        self.commit_to(up);
                    }
                    // Every binding (a refresh included) tells the contact node again
                    // who serves the client: its view heals after any doubt.
                    self.tell_contact_node(correspondent);
                }
            }
            MnEvent::NeedHomeTest { correspondent } => {
                if let Some(s) = self.sessions.get_mut(&correspondent) {
                    s.bu_waiting = true;
                }
                self.request_home_token(now, correspondent);
            }
            MnEvent::NeedCareOfTest { correspondent } => {
                if let Some(s) = self.sessions.get_mut(&correspondent) {
                    s.bu_waiting = true;
                }
                self.mn
                    .start_care_of_test(now, &mut self.rng, correspondent, self.cfg.care_of);
            }
            // A draining member binds no client it serves nothing live for any more: the
            // client may be talking to another member since (its binding was
            // deregistered), and a BU from here would pull it back.
            MnEvent::BindingLost { correspondent }
            | MnEvent::RefreshRequested { correspondent }
                if self.sessions.get(&correspondent).is_some_and(|s| {
                    !s.handoff.is_frozen()
                        && s.from_care_of
                        && !(self.draining && self.live(s) == 0)
                }) =>
            {
                self.send_bu(now, correspondent);
            }
            // A BRR reached the contact node (it goes to the anycast address) for a
            // client served elsewhere: relay it to the member that asked for the client's
            // home token last, or that said it serves the client (RFC 6275 §9.5.5).
            MnEvent::RefreshRequested { correspondent } => {
                if let Some(m) = self.contact.refresh_goes_to(&correspondent) {
                    if m != self.cfg.id {
                        self.stats.refreshes_relayed += 1;
                        let body = PeerBody::RefreshRequested {
                            client: correspondent,
                        };
                        self.send_peer(m, body);
                    }
                }
            }
            _ => {}
        }
        self.drain_mn();
    }

    /// A token arrived: send a BU that was waiting for it.
    pub(super) fn token_arrived(&mut self, now: Instant, client: Ipv6Addr) {
        if self
            .sessions
            .get(&client)
            .is_some_and(|s| s.bu_waiting && !s.handoff.is_frozen())
        {
            self.send_bu(now, client);
        }
    }

    pub(super) fn send_bu(&mut self, now: Instant, client: Ipv6Addr) {
        match self.mn.send_bu(now, client, self.cfg.care_of) {
            Ok(_) => {
                if let Some(s) = self.sessions.get_mut(&client) {
                    s.bu_waiting = false;
                    s.from_care_of = true;
                }
            }
            Err(_) => {
                if let Some(s) = self.sessions.get_mut(&client) {
                    s.bu_waiting = true;
                }
            }
        }
        self.drain_mn();
    }
}
