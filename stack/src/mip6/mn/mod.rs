//! The mobile-node side of route optimization (RFC 6275 §11), shaped for a group: in vany
//! the home test is run by a contact node (from the anycast/home address) and the Binding
//! Update is sent by whichever member serves the client, so tokens, nonce indices and the
//! sequence number can be exported and imported ([`BindingState`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv6Addr;

use crate::rand::RandomSource;
use crate::time::{Duration, Instant};
use crate::wire::mh_option::MhOptions;
use crate::wire::packet::{ParsedPacket, Upper};
use crate::wire::{BindingUpdate, MhMessage, MhOption, MhRepr, PacketRepr};

use super::nonce::MAX_TOKEN_LIFETIME;
use super::rr::{self, Kbm, Token};

mod receive;

/// INITIAL_BINDACK_TIMEOUT (RFC 6275 §12): 1 s.
pub const INITIAL_BINDACK_TIMEOUT: Duration = Duration::from_secs(1);
/// MAX_BINDACK_TIMEOUT (RFC 6275 §12): 32 s.
pub const MAX_BINDACK_TIMEOUT: Duration = Duration::from_secs(32);
/// MAX_UPDATE_RATE (RFC 6275 §12): 3 Binding Updates per second per correspondent.
pub const MAX_UPDATE_RATE: u32 = 3;
/// MAX_RR_BINDING_LIFETIME (RFC 6275 §12): 420 s.
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);

/// A keygen token with its nonce index and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenInfo {
    /// The token.
    pub token: Token,
    /// The nonce index the CN gave with it.
    pub nonce_index: u16,
    /// When it arrived.
    pub received: Instant,
    /// The address it was obtained for (home or care-of address).
    pub address: Ipv6Addr,
}

impl TokenInfo {
    /// Whether the token can still be used at `now` (RFC 6275 §5.2.7: 210 s).
    pub fn usable(&self, now: Instant) -> bool {
        now >= self.received && now.saturating_since(self.received) < MAX_TOKEN_LIFETIME
    }

    /// Time left before the token expires.
    pub fn remaining(&self, now: Instant) -> Duration {
        let end = self.received + MAX_TOKEN_LIFETIME;
        end.saturating_since(now)
    }
}

/// An outstanding HoTI or CoTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PendingTest {
    cookie: [u8; 8],
    address: Ipv6Addr,
    deadline: Instant,
    timeout: Duration,
}

/// Where a binding with one correspondent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BindingStatus {
    /// No binding.
    Unbound,
    /// A BU was sent and its BA is awaited.
    Updating,
    /// The CN acknowledged the binding.
    Bound,
    /// The CN does not do route optimization (Binding Error status 2).
    Unsupported,
}

/// The transferable part of a binding update list entry (RFC 6275 §11.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BindingState {
    /// The correspondent.
    pub correspondent: Ipv6Addr,
    /// The home address (the anycast address).
    pub home: Ipv6Addr,
    /// The last sequence number sent.
    pub seq: u16,
    /// The home keygen token, if held.
    pub home_token: Option<TokenInfo>,
    /// The care-of keygen token, if held (valid only for its address).
    pub care_of_token: Option<TokenInfo>,
    /// Where the binding stands.
    pub status: BindingStatus,
    /// The care-of address last registered.
    pub care_of: Option<Ipv6Addr>,
    /// When the registered binding expires.
    pub bound_until: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Entry {
    state: BindingState,
    hoti: Option<PendingTest>,
    coti: Option<PendingTest>,
    /// The BU awaiting a BA.
    pending_bu: Option<PendingBu>,
    recent_bus: VecDeque<Instant>,
    /// Until when a Binding Error status 2 keeps route optimization off.
    unsupported_until: Option<Instant>,
}

/// How long a Binding Error status 2 ("unrecognized MH type") keeps route optimization
/// off towards a correspondent. A BE is not authenticated (RFC 6275 §9.3.3), so it is a
/// hint: it expires, and then a Binding Update is tried again.
pub const UNSUPPORTED_HOLD: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct PendingBu {
    care_of: Ipv6Addr,
    seq: u16,
    kbm: Kbm,
    deregistration: bool,
    deadline: Instant,
    timeout: Duration,
}

/// Something the group must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnEvent {
    /// A home token arrived for one of our HoTIs.
    HomeToken {
        /// The correspondent.
        correspondent: Ipv6Addr,
        /// The token.
        token: TokenInfo,
    },
    /// A HoT whose cookie matches no HoTI of ours: the group relays it to the member the
    /// cookie names (docs/architecture.md: any contact node can relay home tokens).
    ForeignHomeToken {
        /// The correspondent.
        correspondent: Ipv6Addr,
        /// The init cookie.
        cookie: [u8; 8],
        /// The token.
        token: TokenInfo,
    },
    /// A care-of token arrived.
    CareOfToken {
        /// The correspondent.
        correspondent: Ipv6Addr,
        /// The token.
        token: TokenInfo,
        /// Round trip of the CoTI/CoT exchange (the proximity measurement).
        rtt: Duration,
    },
    /// The binding was acknowledged.
    Bound {
        /// The correspondent.
        correspondent: Ipv6Addr,
        /// The registered care-of address.
        care_of: Ipv6Addr,
        /// Lifetime granted.
        lifetime: Duration,
    },
    /// A deregistration was acknowledged.
    Deregistered {
        /// The correspondent.
        correspondent: Ipv6Addr,
    },
    /// The CN asked for a fresh home test (BA 136/138, or a BU needs one).
    NeedHomeTest {
        /// The correspondent.
        correspondent: Ipv6Addr,
    },
    /// The CN asked for a fresh care-of test (BA 137/138).
    NeedCareOfTest {
        /// The correspondent.
        correspondent: Ipv6Addr,
    },
    /// The CN refused the binding with this status.
    Refused {
        /// The correspondent.
        correspondent: Ipv6Addr,
        /// BA status.
        status: u8,
    },
    /// The CN asked us to refresh the binding (BRR).
    RefreshRequested {
        /// The correspondent.
        correspondent: Ipv6Addr,
    },
    /// The CN has no binding for our home address (Binding Error status 1).
    BindingLost {
        /// The correspondent.
        correspondent: Ipv6Addr,
    },
}

/// Why a Binding Update could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MnError {
    /// No usable home keygen token.
    #[error("no usable home keygen token for this correspondent: run the home test")]
    NoHomeToken,
    /// No usable care-of keygen token for this care-of address.
    #[error("no usable care-of keygen token for this care-of address: run the care-of test")]
    NoCareOfToken,
    /// MAX_UPDATE_RATE reached.
    #[error("MAX_UPDATE_RATE (3 BUs per second) reached for this correspondent")]
    RateLimited,
    /// The CN does not support route optimization.
    #[error("the correspondent does not support route optimization (Binding Error status 2)")]
    Unsupported,
}

/// Mobile-node counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MnStats {
    /// HoTIs sent (retransmissions included).
    pub hoti_sent: u64,
    /// CoTIs sent (retransmissions included).
    pub coti_sent: u64,
    /// BUs sent.
    pub bu_sent: u64,
    /// BAs accepted.
    pub ba_accepted: u64,
    /// BAs dropped (bad authenticator, unknown sequence number, unsigned success).
    pub ba_dropped: u64,
    /// HoT/CoT whose cookie matched nothing.
    pub unmatched_tests: u64,
    /// Binding Errors received for our home address.
    pub be_received: u64,
    /// Binding Errors status 2 ignored: no BU to that correspondent was awaiting an
    /// answer (a spoofed one cannot turn route optimization off).
    pub be_ignored: u64,
}

/// The mobile-node side for one home address.
pub struct MobileNode {
    home: Ipv6Addr,
    lifetime: Duration,
    entries: BTreeMap<Ipv6Addr, Entry>,
    /// Each entry's earliest retransmission deadline, ordered (a member holds thousands of
    /// entries; `poll_timeout` must not walk them).
    deadlines: BTreeSet<(Instant, Ipv6Addr)>,
    /// The deadline each entry has in `deadlines`.
    indexed: BTreeMap<Ipv6Addr, Instant>,
    out: VecDeque<Vec<u8>>,
    stats: MnStats,
}

fn packet<'a>(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hao: Option<Ipv6Addr>,
    mh: MhRepr<'a>,
) -> PacketRepr<'a> {
    super::mh_packet(src, dst, None, hao, mh)
}

impl MobileNode {
    /// A mobile node for `home`, asking for bindings of `lifetime` (capped at 420 s).
    pub fn new(home: Ipv6Addr, lifetime: Duration) -> Self {
        MobileNode {
            home,
            lifetime: lifetime.min(MAX_RR_BINDING_LIFETIME),
            entries: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            indexed: BTreeMap::new(),
            out: VecDeque::new(),
            stats: MnStats::default(),
        }
    }

    /// Whether a usable care-of keygen token for `care_of` is held for `cn` (a Binding
    /// Update from `care_of` also needs the home token, which a handoff brings along).
    pub fn has_care_of_token(&self, now: Instant, cn: &Ipv6Addr, care_of: Ipv6Addr) -> bool {
        self.entries.get(cn).is_some_and(|e| {
            e.state
                .care_of_token
                .is_some_and(|t| t.usable(now) && t.address == care_of)
        })
    }

    /// Counters.
    pub fn stats(&self) -> MnStats {
        self.stats
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    fn entry(&mut self, cn: Ipv6Addr) -> &mut Entry {
        let home = self.home;
        self.entries.entry(cn).or_insert_with(|| Entry {
            state: BindingState {
                correspondent: cn,
                home,
                seq: 0,
                home_token: None,
                care_of_token: None,
                status: BindingStatus::Unbound,
                care_of: None,
                bound_until: None,
            },
            hoti: None,
            coti: None,
            pending_bu: None,
            recent_bus: VecDeque::new(),
            unsupported_until: None,
        })
    }

    /// Puts `cn`'s earliest pending deadline (HoTI, CoTI or BU) into the index.
    fn reindex(&mut self, cn: Ipv6Addr) {
        if let Some(old) = self.indexed.remove(&cn) {
            self.deadlines.remove(&(old, cn));
        }
        let next = self.entries.get(&cn).and_then(|e| {
            [
                e.hoti.map(|p| p.deadline),
                e.coti.map(|p| p.deadline),
                e.pending_bu.map(|p| p.deadline),
            ]
            .into_iter()
            .flatten()
            .min()
        });
        if let Some(t) = next {
            self.indexed.insert(cn, t);
            self.deadlines.insert((t, cn));
        }
    }

    fn queue(&mut self, repr: &PacketRepr<'_>, kbm: Option<&Kbm>) {
        if let Some(p) = super::emit_mh(repr, kbm) {
            self.out.push_back(p);
        }
    }

    /// Sends a HoTI from the home address with `cookie` (which, in a group, names the
    /// member that asked). Retransmitted from 1 s, doubling to 32 s, until a HoT arrives.
    pub fn start_home_test(&mut self, now: Instant, cn: Ipv6Addr, cookie: [u8; 8]) {
        let home = self.home;
        self.entry(cn).hoti = Some(PendingTest {
            cookie,
            address: home,
            deadline: now + INITIAL_BINDACK_TIMEOUT,
            timeout: INITIAL_BINDACK_TIMEOUT,
        });
        self.reindex(cn);
        self.send_hoti(cn, cookie);
    }

    /// Sends a HoTI with a random cookie.
    pub fn start_home_test_random(
        &mut self,
        now: Instant,
        rng: &mut dyn RandomSource,
        cn: Ipv6Addr,
    ) -> [u8; 8] {
        let mut cookie = [0u8; 8];
        rng.fill(&mut cookie);
        self.start_home_test(now, cn, cookie);
        cookie
    }

    fn send_hoti(&mut self, cn: Ipv6Addr, cookie: [u8; 8]) {
        let hoti = MhRepr::new(MhMessage::Hoti { cookie });
        self.queue(&packet(self.home, cn, None, hoti), None);
        self.stats.hoti_sent += 1;
    }

    /// Sends a CoTI from `care_of`.
    pub fn start_care_of_test(
        &mut self,
        now: Instant,
        rng: &mut dyn RandomSource,
        cn: Ipv6Addr,
        care_of: Ipv6Addr,
    ) {
        let mut cookie = [0u8; 8];
        rng.fill(&mut cookie);
        self.entry(cn).coti = Some(PendingTest {
            cookie,
            address: care_of,
            deadline: now + INITIAL_BINDACK_TIMEOUT,
            timeout: INITIAL_BINDACK_TIMEOUT,
        });
        self.reindex(cn);
        self.send_coti(cn, care_of, cookie);
    }

    fn send_coti(&mut self, cn: Ipv6Addr, care_of: Ipv6Addr, cookie: [u8; 8]) {
        let coti = MhRepr::new(MhMessage::Coti { cookie });
        self.queue(&packet(care_of, cn, None, coti), None);
        self.stats.coti_sent += 1;
    }

    /// Stores a home token obtained elsewhere (relayed by a contact node).
    pub fn import_home_token(&mut self, cn: Ipv6Addr, token: TokenInfo) {
        let e = self.entry(cn);
        e.state.home_token = Some(token);
        e.hoti = None;
        self.reindex(cn);
    }

    /// Whether this mobile node keeps state for `cn`.
    pub fn knows(&self, cn: &Ipv6Addr) -> bool {
        self.entries.contains_key(cn)
    }

    /// How many correspondents this mobile node keeps state for.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Forgets correspondents that `keep` does not name and for which nothing is left:
    /// no test or BU under way, no binding that may still be registered (RFC 6275
    /// §11.1: a Binding Update List entry lives as long as its binding), no token still
    /// usable. Their next exchange starts from scratch, as with a new correspondent.
    /// Returns how many were forgotten.
    pub fn forget_idle(&mut self, now: Instant, keep: impl Fn(&Ipv6Addr) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|cn, e| {
            let busy = e.hoti.is_some() || e.coti.is_some() || e.pending_bu.is_some();
            let bound = e.state.bound_until.is_some_and(|t| t > now)
                || e.state.status == BindingStatus::Updating;
            let tokens = [e.state.home_token, e.state.care_of_token]
                .into_iter()
                .flatten()
                .any(|t| t.usable(now));
            let hint = e.unsupported_until.is_some_and(|t| t > now);
            keep(cn) || busy || bound || tokens || hint
        });
        // A forgotten entry had no test or BU under way, so `reindex` had already taken
        // it out of the deadline index.
        before - self.entries.len()
    }

    /// The transferable state for `cn`.
    pub fn export(&self, cn: &Ipv6Addr) -> Option<BindingState> {
        // An unauthenticated Binding Error's hint stays here: it never travels in a
        // handoff (one spoofed BE must not follow the client from member to member).
        self.entries.get(cn).map(|e| {
            let mut state = e.state.clone();
            if state.status == BindingStatus::Unsupported {
                state.status = BindingStatus::Unbound;
            }
            state
        })
    }

    /// Takes over state exported by another member. Times in `state` are on the
    /// exporter's clock reading `their_now`; they are moved to ours reading `now`.
    pub fn import(&mut self, mut state: BindingState, their_now: Instant, now: Instant) {
        let shift = |t: Instant| {
            Instant::from_micros(now.total_micros() + (t.total_micros() - their_now.total_micros()))
        };
        if let Some(t) = &mut state.home_token {
            t.received = shift(t.received);
        }
        if let Some(t) = &mut state.care_of_token {
            t.received = shift(t.received);
        }
        state.bound_until = state.bound_until.map(shift);
        let cn = state.correspondent;
        let e = self.entry(cn);
        // Never go backwards in sequence numbers.
        if super::cn::seq_newer(e.state.seq, state.seq) {
            state.seq = e.state.seq;
        }
        // A care-of token is only good for its care-of address: keep our own when the
        // imported one was obtained for another member's address.
        if let Some(mine) = e.state.care_of_token {
            if state
                .care_of_token
                .is_none_or(|t| t.address != mine.address)
            {
                state.care_of_token = Some(mine);
            }
        }
        e.state = state;
        self.reindex(cn);
    }

    /// Sends a Binding Update registering `care_of` (RFC 6275 §11.7.2): sequence number
    /// last + 1, lifetime at most min(420 s, token validity), A flag, Nonce Indices and
    /// Binding Authorization Data, from the care-of address with a HAO.
    pub fn send_bu(
        &mut self,
        now: Instant,
        cn: Ipv6Addr,
        care_of: Ipv6Addr,
    ) -> Result<u16, MnError> {
        self.send_bu_inner(now, cn, care_of, false)
    }

    /// Deregisters (lifetime 0; Kbm from the home token only, RFC 6275 §5.2.5), sent
    /// from `care_of` (the current care-of address).
    pub fn deregister(
        &mut self,
        now: Instant,
        cn: Ipv6Addr,
        care_of: Ipv6Addr,
    ) -> Result<u16, MnError> {
        self.send_bu_inner(now, cn, care_of, true)
    }

    fn send_bu_inner(
        &mut self,
        now: Instant,
        cn: Ipv6Addr,
        care_of: Ipv6Addr,
        dereg: bool,
    ) -> Result<u16, MnError> {
        let sent = self.send_bu_unindexed(now, cn, care_of, dereg);
        self.reindex(cn);
        sent
    }

    fn send_bu_unindexed(
        &mut self,
        now: Instant,
        cn: Ipv6Addr,
        care_of: Ipv6Addr,
        dereg: bool,
    ) -> Result<u16, MnError> {
        let home = self.home;
        let lifetime_cap = self.lifetime;
        let e = self.entry(cn);
        if e.state.status == BindingStatus::Unsupported {
            if e.unsupported_until.is_some_and(|t| now < t) {
                return Err(MnError::Unsupported);
            }
            e.state.status = BindingStatus::Unbound;
            e.unsupported_until = None;
        }
        let home_token = e
            .state
            .home_token
            .filter(|t| t.usable(now))
            .ok_or(MnError::NoHomeToken)?;
        let care_of_token = if dereg {
            None
        } else {
            Some(
                e.state
                    .care_of_token
                    .filter(|t| t.usable(now) && t.address == care_of)
                    .ok_or(MnError::NoCareOfToken)?,
            )
        };
        // MAX_UPDATE_RATE: at most 3 BUs in any second.
        while e
            .recent_bus
            .front()
            .is_some_and(|t| now.saturating_since(*t) >= Duration::from_secs(1))
        {
            e.recent_bus.pop_front();
        }
        if e.recent_bus.len() as u32 >= MAX_UPDATE_RATE {
            return Err(MnError::RateLimited);
        }
        e.recent_bus.push_back(now);
        let seq = e.state.seq.wrapping_add(1);
        e.state.seq = seq;
        let validity = care_of_token.map_or(home_token.remaining(now), |c| {
            c.remaining(now).min(home_token.remaining(now))
        });
        let lifetime = if dereg {
            0
        } else {
            (lifetime_cap.min(validity).secs() / 4).min(u64::from(u16::MAX)) as u16
        };
        let kbm = rr::kbm(&home_token.token, care_of_token.as_ref().map(|t| &t.token));
        let timeout = e.pending_bu.map_or(INITIAL_BINDACK_TIMEOUT, |p| {
            if p.care_of == care_of {
                p.timeout
            } else {
                INITIAL_BINDACK_TIMEOUT
            }
        });
        e.pending_bu = Some(PendingBu {
            care_of,
            seq,
            kbm,
            deregistration: dereg,
            deadline: now + timeout,
            timeout,
        });
        e.state.status = BindingStatus::Updating;
        let mut options = MhOptions::new();
        let _ = options.push(MhOption::NonceIndices {
            home: home_token.nonce_index,
            care_of: care_of_token.map_or(0, |t| t.nonce_index),
        });
        let _ = options.push(MhOption::AuthData([0; 12]));
        let bu = MhRepr {
            message: MhMessage::Bu(BindingUpdate {
                seq,
                ack: true,
                home: false,
                link_local: false,
                key_mgmt: false,
                reserved: 0,
                lifetime,
            }),
            options,
        };
        // A deregistration from the home address itself carries no HAO.
        let hao = (care_of != home).then_some(home);
        self.queue(&packet(care_of, cn, hao, bu), Some(&kbm));
        self.stats.bu_sent += 1;
        Ok(seq)
    }

    /// The earliest retransmission deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Retransmits HoTI, CoTI and BU whose deadline passed, doubling the timeout up to
    /// MAX_BINDACK_TIMEOUT (RFC 6275 §11.8).
    pub fn handle_timeout(&mut self, now: Instant) {
        let cns: Vec<Ipv6Addr> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, cn)| *cn)
            .collect();
        for cn in cns {
            let mut hoti = None;
            let mut coti = None;
            let mut bu = None;
            if let Some(e) = self.entries.get_mut(&cn) {
                if let Some(p) = e.hoti.as_mut().filter(|p| p.deadline <= now) {
                    p.timeout = (p.timeout + p.timeout).min(MAX_BINDACK_TIMEOUT);
                    p.deadline = now + p.timeout;
                    hoti = Some(p.cookie);
                }
                if let Some(p) = e.coti.as_mut().filter(|p| p.deadline <= now) {
                    p.timeout = (p.timeout + p.timeout).min(MAX_BINDACK_TIMEOUT);
                    p.deadline = now + p.timeout;
                    coti = Some((p.address, p.cookie));
                }
                if let Some(p) = e.pending_bu.as_mut().filter(|p| p.deadline <= now) {
                    p.timeout = (p.timeout + p.timeout).min(MAX_BINDACK_TIMEOUT);
                    p.deadline = now + p.timeout;
                    bu = Some((p.care_of, p.deregistration));
                }
            }
            if let Some(cookie) = hoti {
                self.send_hoti(cn, cookie);
            }
            if let Some((address, cookie)) = coti {
                self.send_coti(cn, address, cookie);
            }
            if let Some((care_of, dereg)) = bu {
                // Each retransmission carries a new sequence number (RFC 6275 §11.8).
                let _ = self.send_bu_inner(now, cn, care_of, dereg);
            }
            self.reindex(cn);
        }
    }
}
