//! What a mobile node does with the Mobility Header messages it receives: Home and
//! Care-of Tests (RFC 6275 §11.6), Binding Acknowledgements (§11.7.3), Binding Refresh
//! Requests (§11.7.4) and Binding Errors (§11.3.6).

use std::net::Ipv6Addr;

use super::*;

impl MobileNode {
    /// Processes a Mobility Header packet addressed to the home address or a care-of
    /// address of ours.
    pub fn handle_mh(&mut self, now: Instant, parsed: &ParsedPacket<'_>) -> Option<MnEvent> {
        let event = self.handle_mh_unindexed(now, parsed);
        self.reindex(parsed.repr.src);
        event
    }

    fn handle_mh_unindexed(&mut self, now: Instant, parsed: &ParsedPacket<'_>) -> Option<MnEvent> {
        let Upper::Mh(mh) = &parsed.repr.upper else {
            return None;
        };
        if !parsed.checksum_ok {
            return None;
        }
        let cn = parsed.repr.src;
        match mh.message {
            MhMessage::Hot {
                nonce_index,
                cookie,
                token,
            } => {
                let info = TokenInfo {
                    token,
                    nonce_index,
                    received: now,
                    address: self.home,
                };
                let matched = self
                    .entries
                    .get(&cn)
                    .and_then(|e| e.hoti)
                    .is_some_and(|p| p.cookie == cookie);
                if matched {
                    self.import_home_token(cn, info);
                    Some(MnEvent::HomeToken {
                        correspondent: cn,
                        token: info,
                    })
                } else {
                    self.stats.unmatched_tests += 1;
                    Some(MnEvent::ForeignHomeToken {
                        correspondent: cn,
                        cookie,
                        token: info,
                    })
                }
            }
            MhMessage::Cot {
                nonce_index,
                cookie,
                token,
            } => {
                let e = self.entries.get_mut(&cn)?;
                let pending = e
                    .coti
                    .filter(|p| p.cookie == cookie && p.address == parsed.repr.dst);
                let Some(p) = pending else {
                    self.stats.unmatched_tests += 1;
                    return None;
                };
                let info = TokenInfo {
                    token,
                    nonce_index,
                    received: now,
                    address: p.address,
                };
                e.state.care_of_token = Some(info);
                e.coti = None;
                let sent = p.deadline - p.timeout;
                Some(MnEvent::CareOfToken {
                    correspondent: cn,
                    token: info,
                    rtt: now.saturating_since(sent),
                })
            }
            MhMessage::Ba(ba) => self.handle_ba(now, parsed, cn, ba),
            MhMessage::Brr => self
                .entries
                .contains_key(&cn)
                .then_some(MnEvent::RefreshRequested { correspondent: cn }),
            MhMessage::Be {
                status,
                home_address,
            } if home_address == self.home => {
                self.stats.be_received += 1;
                let e = self.entries.get_mut(&cn)?;
                match status {
                    // RFC 6275 §9.3.3: status 2 answers a Mobility Header the CN did not
                    // recognize; unauthenticated, it counts only while a BU to that CN
                    // awaits its answer, and only for UNSUPPORTED_HOLD.
                    2 if e.pending_bu.is_some() => {
                        e.state.status = BindingStatus::Unsupported;
                        e.unsupported_until = Some(now + UNSUPPORTED_HOLD);
                        e.pending_bu = None;
                        None
                    }
                    2 => {
                        self.stats.be_ignored += 1;
                        None
                    }
                    _ => {
                        e.state.status = BindingStatus::Unbound;
                        Some(MnEvent::BindingLost { correspondent: cn })
                    }
                }
            }
            _ => None,
        }
    }

    fn handle_ba(
        &mut self,
        now: Instant,
        parsed: &ParsedPacket<'_>,
        cn: Ipv6Addr,
        ba: crate::wire::BindingAck,
    ) -> Option<MnEvent> {
        let Some(e) = self.entries.get_mut(&cn) else {
            self.stats.ba_dropped += 1;
            return None;
        };
        let Some(p) = e.pending_bu else {
            self.stats.ba_dropped += 1;
            return None;
        };
        let signed = match &parsed.repr.upper {
            Upper::Mh(m) => m.authenticator().is_some(),
            _ => false,
        };
        // RFC 6275 §11.7.3: a BA must verify with Kbm; only 136-138 come unsigned.
        let authentic = signed && rr::verify_packet(parsed, &p.kbm).unwrap_or(false);
        let nonce_error = (136..=138).contains(&ba.status);
        if !(authentic || (nonce_error && !signed)) {
            self.stats.ba_dropped += 1;
            return None;
        }
        if ba.status != 135 && ba.seq != p.seq {
            self.stats.ba_dropped += 1;
            return None;
        }
        self.stats.ba_accepted += 1;
        match ba.status {
            0 | 1 => {
                e.pending_bu = None;
                if p.deregistration {
                    e.state.status = BindingStatus::Unbound;
                    e.state.bound_until = None;
                    e.state.care_of = None;
                    return Some(MnEvent::Deregistered { correspondent: cn });
                }
                let lifetime = Duration::from_secs(u64::from(ba.lifetime) * 4);
                e.state.status = BindingStatus::Bound;
                e.state.care_of = Some(p.care_of);
                e.state.bound_until = Some(now + lifetime);
                Some(MnEvent::Bound {
                    correspondent: cn,
                    care_of: p.care_of,
                    lifetime,
                })
            }
            135 => {
                // Take the CN's sequence number and resend (RFC 6275 §11.7.3).
                e.state.seq = ba.seq;
                e.pending_bu = None;
                let care_of = p.care_of;
                let _ = if p.deregistration {
                    self.deregister(now, cn, care_of)
                } else {
                    self.send_bu(now, cn, care_of)
                };
                None
            }
            136 => {
                e.state.home_token = None;
                e.pending_bu = None;
                Some(MnEvent::NeedHomeTest { correspondent: cn })
            }
            137 => {
                e.state.care_of_token = None;
                e.pending_bu = None;
                Some(MnEvent::NeedCareOfTest { correspondent: cn })
            }
            138 => {
                e.state.home_token = None;
                e.state.care_of_token = None;
                e.pending_bu = None;
                Some(MnEvent::NeedHomeTest { correspondent: cn })
            }
            status => {
                e.pending_bu = None;
                e.state.status = BindingStatus::Unbound;
                Some(MnEvent::Refused {
                    correspondent: cn,
                    status,
                })
            }
        }
    }
}
