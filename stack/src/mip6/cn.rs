//! The correspondent node (RFC 6275 §5.2, §9): what `vany client` and every simulated
//! client run. Answers the return-routability tests without per-request state, verifies
//! Binding Updates with every check of §9.5.1, keeps a bounded binding cache, sends
//! Binding Acknowledgements, Binding Errors and Binding Refresh Requests, and tells the
//! packet path how to translate home addresses (RH2 out, HAO in).

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;

use crate::rand::RandomSource;
use crate::time::{Duration, Instant};
use crate::wire::mh_option::MhOptions;
use crate::wire::packet::{ParsedPacket, Upper};
use crate::wire::{BindingAck, MhMessage, MhOption, MhRepr, MhType, PacketRepr};

use super::nonce::NonceTable;
use super::reflect::ReflectionLimit;
use super::rr::{self, Kcn};

/// MAX_RR_BINDING_LIFETIME (RFC 6275 §12): 420 s.
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);

/// Binding Acknowledgement status codes the CN uses (RFC 6275 §6.1.8).
pub mod status {
    /// Binding Update accepted.
    pub const ACCEPTED: u8 = 0;
    /// Insufficient resources (binding cache full).
    pub const INSUFFICIENT_RESOURCES: u8 = 130;
    /// Home registration not supported (H flag at a node that is no home agent).
    pub const HOME_REGISTRATION_NOT_SUPPORTED: u8 = 131;
    /// Sequence number out of window.
    pub const SEQUENCE_OUT_OF_WINDOW: u8 = 135;
    /// Expired home nonce index.
    pub const EXPIRED_HOME_NONCE: u8 = 136;
    /// Expired care-of nonce index.
    pub const EXPIRED_CARE_OF_NONCE: u8 = 137;
    /// Expired nonces.
    pub const EXPIRED_NONCES: u8 = 138;
}

/// Binding Error status codes (RFC 6275 §6.1.9).
pub mod be_status {
    /// Unknown binding for Home Address destination option.
    pub const UNKNOWN_BINDING: u8 = 1;
    /// Unrecognized MH Type value.
    pub const UNKNOWN_MH_TYPE: u8 = 2;
}

/// Settings of a correspondent node.
#[derive(Debug, Clone, PartialEq)]
pub struct CnConfig {
    /// Live bindings held at most; a new one beyond gets status 130.
    pub capacity: usize,
    /// The longest lifetime granted (at most MAX_RR_BINDING_LIFETIME).
    pub max_lifetime: Duration,
    /// Binding Errors sent per second at most (RFC 6275 §9.3.3 rate limit).
    pub binding_errors_per_second: u32,
    /// Send a Binding Refresh Request this long before a binding in use expires.
    pub refresh_lead: Duration,
    /// A binding counts as in use if a packet used it within this time.
    pub in_use_window: Duration,
    /// Binding Refresh Advice to put in accepting BAs (units of 4 s), if any.
    pub refresh_advice: Option<u16>,
    /// HoTs, CoTs and unsigned (refusing) BAs sent per second at most to any one /64
    /// ([`super::reflect`]): a spoofed source cannot turn the node into a reflector.
    pub answers_per_prefix_per_second: u32,
}

impl Default for CnConfig {
    fn default() -> Self {
        CnConfig {
            capacity: 65536,
            max_lifetime: MAX_RR_BINDING_LIFETIME,
            binding_errors_per_second: 10,
            refresh_lead: Duration::from_secs(30),
            in_use_window: Duration::from_secs(60),
            refresh_advice: None,
            answers_per_prefix_per_second: 32,
        }
    }
}

/// One binding cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The mobile node's home address (for vany: the anycast address).
    pub home: Ipv6Addr,
    /// Where packets for `home` go (for vany: the serving member).
    pub care_of: Ipv6Addr,
    /// The sequence number of the last accepted BU.
    pub seq: u16,
    /// When the binding expires.
    pub expires: Instant,
    /// When a packet last used the binding.
    pub last_used: Instant,
    /// Whether a BRR was sent for the current lifetime.
    pub refresh_requested: bool,
}

/// After deregistration or expiry the sequence number is remembered while the nonces
/// that authorized the binding could still be used (RFC 6275 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tombstone {
    seq: u16,
    until: Instant,
}

/// Why a Binding Update was silently discarded (RFC 6275 §9.5.1: no BA is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    /// The MH checksum is wrong.
    BadChecksum,
    /// No unicast home address (in the HAO or the source).
    NoHomeAddress,
    /// No Nonce Indices option.
    MissingNonceIndices,
    /// No Binding Authorization Data option.
    MissingAuthData,
    /// The authenticator does not verify.
    BadAuthenticator,
    /// The care-of address is the home address of another binding (circular).
    CircularRegistration,
}

/// What became of a Mobility Header message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MhOutcome {
    /// A HoTI or CoTI was answered.
    TestAnswered,
    /// A BU was accepted; `deregistered` when it deleted the binding.
    Accepted {
        /// Whether the binding was deleted.
        deregistered: bool,
    },
    /// A BU was refused with this BA status.
    Refused(u8),
    /// A BU was dropped without an answer.
    Discarded(DiscardReason),
    /// An unknown MH type: Binding Error status 2 (if not rate-limited).
    UnknownType,
    /// A message a CN does not act on (HoT, CoT, BA, BE, BRR).
    Ignored,
    /// A HoTI or CoTI left unanswered: its source's /64 had its answers for this second
    /// ([`super::reflect`]).
    RateLimited,
}

/// What the packet path should do with an incoming non-MH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// No HAO: deliver as is.
    Plain,
    /// A HAO with a matching binding: deliver with the home address as source.
    FromHome(Ipv6Addr),
    /// A HAO without a matching binding: drop (a Binding Error status 1 was queued
    /// unless rate-limited; RFC 6275 §9.3.1).
    Drop,
}

/// Correspondent-node counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CnStats {
    /// HoTs sent.
    pub hot_sent: u64,
    /// CoTs sent.
    pub cot_sent: u64,
    /// BUs accepted (including deregistrations).
    pub bu_accepted: u64,
    /// BUs refused with a BA status >= 128.
    pub bu_refused: u64,
    /// BUs refused because the sequence number was stale (replays included).
    pub bu_stale_seq: u64,
    /// BUs discarded because the authenticator did not verify (forgeries).
    pub bu_bad_auth: u64,
    /// BUs discarded for other reasons.
    pub bu_discarded: u64,
    /// BAs sent.
    pub ba_sent: u64,
    /// Binding Errors sent.
    pub be_sent: u64,
    /// Binding Errors suppressed by the rate limit.
    pub be_suppressed: u64,
    /// Binding Refresh Requests sent.
    pub brr_sent: u64,
    /// HAO packets dropped for lack of a binding.
    pub hao_dropped: u64,
    /// HoTI/CoTI not answered: the /64 they came from had its answers for this second.
    pub tests_rate_limited: u64,
    /// Refusing BAs not sent: the /64 of the claimed care-of address had its answers for
    /// this second.
    pub ba_rate_limited: u64,
}

/// The correspondent node.
pub struct CorrespondentNode {
    config: CnConfig,
    kcn: Kcn,
    nonces: NonceTable,
    bindings: HashMap<Ipv6Addr, Binding>,
    tombstones: HashMap<Ipv6Addr, Tombstone>,
    out: VecDeque<Vec<u8>>,
    be_window_start: Instant,
    be_in_window: u32,
    /// Answers to unauthenticated sources, per /64.
    reflect: ReflectionLimit,
    stats: CnStats,
}

/// Sequence numbers compare modulo 2^16 (RFC 6275 §9.5.1).
pub fn seq_newer(new: u16, last: u16) -> bool {
    (new.wrapping_sub(last) as i16) > 0
}

fn lifetime_units(d: Duration) -> u16 {
    (d.secs() / 4).min(u64::from(u16::MAX)) as u16
}

/// Where the answer to a Binding Update goes (RFC 6275 §6.1.8: to the care-of address
/// with an RH2 holding the home address), and what kind of BU it answers.
struct BuReply {
    /// This node's address the BU was sent to.
    me: Ipv6Addr,
    /// The care-of address (the alternate one if given, else the source).
    to: Ipv6Addr,
    /// The home address, when it differs from the care-of address.
    rh2: Option<Ipv6Addr>,
    /// Lifetime 0, or care-of address equal to the home address (§9.5.1).
    deregistration: bool,
}

impl CorrespondentNode {
    /// A CN with a fresh Kcn from `rng`.
    pub fn new(config: CnConfig, rng: &mut dyn RandomSource) -> Self {
        CorrespondentNode::with_kcn(config, Kcn::generate(rng))
    }

    /// A CN with a given Kcn.
    pub fn with_kcn(config: CnConfig, kcn: Kcn) -> Self {
        CorrespondentNode {
            reflect: ReflectionLimit::new(config.answers_per_prefix_per_second, 4096),
            config,
            kcn,
            nonces: NonceTable::new(),
            bindings: HashMap::new(),
            tombstones: HashMap::new(),
            out: VecDeque::new(),
            be_window_start: Instant::ZERO,
            be_in_window: 0,
            stats: CnStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> CnStats {
        self.stats
    }

    /// The binding for `home`, if live.
    pub fn binding(&self, home: &Ipv6Addr) -> Option<&Binding> {
        self.bindings.get(home)
    }

    /// Number of live bindings.
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// The next control packet (a whole IPv6 packet) to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    fn queue(&mut self, repr: &PacketRepr<'_>, sign: Option<&rr::Kbm>) {
        if let Some(p) = super::emit_mh(repr, sign) {
            self.out.push_back(p);
        }
    }

    fn packet<'a>(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        rh2: Option<Ipv6Addr>,
        mh: MhRepr<'a>,
    ) -> PacketRepr<'a> {
        super::mh_packet(src, dst, rh2, None, mh)
    }

    /// Processes a Mobility Header packet addressed to this CN.
    pub fn handle_mh(
        &mut self,
        now: Instant,
        rng: &mut dyn RandomSource,
        parsed: &ParsedPacket<'_>,
    ) -> MhOutcome {
        let Upper::Mh(mh) = &parsed.repr.upper else {
            return MhOutcome::Ignored;
        };
        // RFC 6275 §9.2: a bad checksum is dropped.
        if !parsed.checksum_ok {
            if matches!(mh.message, MhMessage::Bu(_)) {
                self.stats.bu_discarded += 1;
                return MhOutcome::Discarded(DiscardReason::BadChecksum);
            }
            return MhOutcome::Ignored;
        }
        let me = parsed.repr.dst;
        let from = parsed.repr.src;
        match mh.message {
            // RFC 6275 §5.2.3, §9.4.1, §9.4.2: stateless answers.
            MhMessage::Hoti { cookie } => self.answer_test(now, rng, me, from, cookie, true),
            MhMessage::Coti { cookie } => self.answer_test(now, rng, me, from, cookie, false),
            MhMessage::Bu(bu) => self.handle_bu(now, parsed, mh, bu),
            MhMessage::Unknown { .. } => {
                // RFC 6275 §9.2: Binding Error status 2 to the source; the Home Address
                // field carries the HAO's address, or the unspecified address without one.
                let home = parsed.repr.hao.unwrap_or(Ipv6Addr::UNSPECIFIED);
                self.binding_error(now, me, from, be_status::UNKNOWN_MH_TYPE, home);
                MhOutcome::UnknownType
            }
            _ => MhOutcome::Ignored,
        }
    }

    /// Answers a HoTI (`home`) or a CoTI with a HoT or CoT from the current nonce.
    fn answer_test(
        &mut self,
        now: Instant,
        rng: &mut dyn RandomSource,
        me: Ipv6Addr,
        from: Ipv6Addr,
        cookie: [u8; 8],
        home: bool,
    ) -> MhOutcome {
        if !self.reflect.allow(now, from) {
            self.stats.tests_rate_limited += 1;
            return MhOutcome::RateLimited;
        }
        let (nonce_index, nonce) = self.nonces.current(now, rng);
        let message = if home {
            self.stats.hot_sent += 1;
            MhMessage::Hot {
                nonce_index,
                cookie,
                token: self.kcn.home_keygen_token(&from, &nonce),
            }
        } else {
            self.stats.cot_sent += 1;
            MhMessage::Cot {
                nonce_index,
                cookie,
                token: self.kcn.care_of_keygen_token(&from, &nonce),
            }
        };
        self.queue(&Self::packet(me, from, None, MhRepr::new(message)), None);
        MhOutcome::TestAnswered
    }

    fn handle_bu(
        &mut self,
        now: Instant,
        parsed: &ParsedPacket<'_>,
        mh: &MhRepr<'_>,
        bu: crate::wire::BindingUpdate,
    ) -> MhOutcome {
        let repr = &parsed.repr;
        // RFC 6275 §9.5.1: a unicast home address, in the HAO or else the source.
        let home = repr.hao.unwrap_or(repr.src);
        if home.is_multicast() || home.is_unspecified() || home.is_loopback() {
            return self.discard(DiscardReason::NoHomeAddress);
        }
        let care_of = mh.alt_care_of().unwrap_or(repr.src);
        let reply = BuReply {
            me: repr.dst,
            to: care_of,
            rh2: (care_of != home).then_some(home),
            deregistration: bu.lifetime == 0 || care_of == home,
        };
        // §9.5.1: the H flag asks for home registration, which a CN does not do.
        if bu.home {
            let code = status::HOME_REGISTRATION_NOT_SUPPORTED;
            return self.refuse_bu(now, &reply, code, bu.seq, None);
        }
        let kbm = match self.authenticate_bu(now, parsed, mh, bu.seq, home, &reply) {
            Ok(kbm) => kbm,
            Err(outcome) => return outcome,
        };
        // §9.5.1: the sequence number must be newer than the last accepted (modulo 2^16),
        // also across a recent deregistration (§5.2.8).
        let last = self.bindings.get(&home).map(|b| b.seq).or_else(|| {
            self.tombstones
                .get(&home)
                .filter(|t| t.until > now)
                .map(|t| t.seq)
        });
        if let Some(last) = last.filter(|last| !seq_newer(bu.seq, *last)) {
            self.stats.bu_stale_seq += 1;
            let code = status::SEQUENCE_OUT_OF_WINDOW;
            return self.refuse_bu(now, &reply, code, last, Some(&kbm));
        }
        // A care-of address that is another binding's home address would loop.
        if !reply.deregistration && self.bindings.contains_key(&care_of) {
            return self.discard(DiscardReason::CircularRegistration);
        }
        self.accept_bu(now, &reply, bu, home, &kbm)
    }

    /// §9.5.1: nonce indices still valid (the care-of one is not inspected when
    /// deleting) and an authenticator that verifies; the Kbm for the answer.
    fn authenticate_bu(
        &mut self,
        now: Instant,
        parsed: &ParsedPacket<'_>,
        mh: &MhRepr<'_>,
        seq: u16,
        home: Ipv6Addr,
        reply: &BuReply,
    ) -> Result<rr::Kbm, MhOutcome> {
        let Some((home_index, care_of_index)) = mh.nonce_indices() else {
            return Err(self.discard(DiscardReason::MissingNonceIndices));
        };
        let Some(received) = mh.authenticator() else {
            return Err(self.discard(DiscardReason::MissingAuthData));
        };
        let care_of = reply.to;
        let home_nonce = self.nonces.lookup(home_index, now);
        let care_of_nonce = if reply.deregistration {
            None
        } else {
            self.nonces.lookup(care_of_index, now)
        };
        let expired = match (
            home_nonce.is_some(),
            care_of_nonce.is_some() || reply.deregistration,
        ) {
            (true, true) => None,
            (false, true) => Some(status::EXPIRED_HOME_NONCE),
            (true, false) => Some(status::EXPIRED_CARE_OF_NONCE),
            (false, false) => Some(status::EXPIRED_NONCES),
        };
        if let Some(code) = expired {
            // §6.1.8: no Kbm can be computed, so the BA is not signed.
            return Err(self.refuse_bu(now, reply, code, seq, None));
        }
        let home_token = self
            .kcn
            .home_keygen_token(&home, &home_nonce.unwrap_or_default());
        let care_of_token = care_of_nonce.map(|n| self.kcn.care_of_keygen_token(&care_of, &n));
        let kbm = rr::kbm(&home_token, care_of_token.as_ref());
        // For a deregistration RFC 6275 §6.2.7/§5.2.6 take the home address as the care-of
        // address in the MAC; UMIP and KAME use the actual care-of address. Accept both.
        let verifies = |coa: &Ipv6Addr| {
            rr::authenticator(&kbm, coa, &reply.me, parsed.upper_bytes)
                .map(|a| rr::authenticators_equal(&a, &received))
                .unwrap_or(false)
        };
        let authentic =
            verifies(&care_of) || (reply.deregistration && care_of != home && verifies(&home));
        if !authentic {
            self.stats.bu_bad_auth += 1;
            return Err(MhOutcome::Discarded(DiscardReason::BadAuthenticator));
        }
        Ok(kbm)
    }

    /// An authentic, fresh BU: deletes the binding (§9.5.3) or creates/updates it
    /// (§9.5.2), keeping its sequence number for a while (§5.2.8).
    fn accept_bu(
        &mut self,
        now: Instant,
        reply: &BuReply,
        bu: crate::wire::BindingUpdate,
        home: Ipv6Addr,
        kbm: &rr::Kbm,
    ) -> MhOutcome {
        let tombstone = Tombstone {
            seq: bu.seq,
            until: now + super::nonce::MAX_NONCE_LIFETIME,
        };
        if reply.deregistration {
            self.bindings.remove(&home);
            self.tombstones.insert(home, tombstone);
            self.stats.bu_accepted += 1;
            if bu.ack {
                self.send_ba(now, reply, status::ACCEPTED, bu.seq, 0, Some(kbm));
            }
            return MhOutcome::Accepted { deregistered: true };
        }
        if !self.bindings.contains_key(&home) && self.bindings.len() >= self.config.capacity {
            // §9.5.2: no room; a live binding is never evicted to make some.
            let code = status::INSUFFICIENT_RESOURCES;
            return self.refuse_bu(now, reply, code, bu.seq, Some(kbm));
        }
        // §9.5.2: lifetime no longer than asked nor than MAX_RR_BINDING_LIFETIME.
        let max = self.config.max_lifetime.min(MAX_RR_BINDING_LIFETIME);
        let granted = Duration::from_secs(u64::from(bu.lifetime) * 4).min(max);
        let units = lifetime_units(granted);
        self.bindings.insert(
            home,
            Binding {
                home,
                care_of: reply.to,
                seq: bu.seq,
                expires: now + Duration::from_secs(u64::from(units) * 4),
                last_used: now,
                refresh_requested: false,
            },
        );
        self.tombstones.insert(home, tombstone);
        self.stats.bu_accepted += 1;
        if bu.ack {
            self.send_ba(now, reply, status::ACCEPTED, bu.seq, units, Some(kbm));
        }
        MhOutcome::Accepted {
            deregistered: false,
        }
    }

    /// Refuses a BU with BA status `code` (signed when a Kbm could be computed).
    fn refuse_bu(
        &mut self,
        now: Instant,
        reply: &BuReply,
        code: u8,
        seq: u16,
        kbm: Option<&rr::Kbm>,
    ) -> MhOutcome {
        self.send_ba(now, reply, code, seq, 0, kbm);
        self.stats.bu_refused += 1;
        MhOutcome::Refused(code)
    }

    fn discard(&mut self, reason: DiscardReason) -> MhOutcome {
        self.stats.bu_discarded += 1;
        MhOutcome::Discarded(reason)
    }

    fn send_ba(
        &mut self,
        now: Instant,
        reply: &BuReply,
        status_code: u8,
        seq: u16,
        lifetime: u16,
        kbm: Option<&rr::Kbm>,
    ) {
        let (me, to, rh2) = (reply.me, reply.to, reply.rh2);
        // An unsigned BA answers a BU nobody authenticated: at most so many per second to
        // one /64 of the claimed care-of address.
        if kbm.is_none() && !self.reflect.allow(now, to) {
            self.stats.ba_rate_limited += 1;
            return;
        }
        let mut options = MhOptions::new();
        if status_code < 128 {
            if let Some(advice) = self.config.refresh_advice {
                let _ = options.push(MhOption::RefreshAdvice { interval: advice });
            }
        }
        if kbm.is_some() {
            let _ = options.push(MhOption::AuthData([0; 12]));
        }
        let ba = MhRepr {
            message: MhMessage::Ba(BindingAck {
                status: status_code,
                key_mgmt: false,
                reserved: 0,
                seq,
                lifetime,
            }),
            options,
        };
        // §6.1.8: sent to the care-of address with an RH2 holding the home address.
        self.queue(&Self::packet(me, to, rh2, ba), kbm);
        self.stats.ba_sent += 1;
    }

    fn binding_error(
        &mut self,
        now: Instant,
        me: Ipv6Addr,
        to: Ipv6Addr,
        status_code: u8,
        home: Ipv6Addr,
    ) {
        // RFC 6275 §9.3.3: rate-limited.
        if now.saturating_since(self.be_window_start) >= Duration::from_secs(1)
            || now < self.be_window_start
        {
            self.be_window_start = now;
            self.be_in_window = 0;
        }
        if self.be_in_window >= self.config.binding_errors_per_second {
            self.stats.be_suppressed += 1;
            return;
        }
        self.be_in_window += 1;
        let be = MhRepr::new(MhMessage::Be {
            status: status_code,
            home_address: home,
        });
        self.queue(&Self::packet(me, to, None, be), None);
        self.stats.be_sent += 1;
    }

    /// Checks an incoming non-MH packet (RFC 6275 §9.3.1): a HAO is honoured only with a
    /// binding whose care-of address is the packet's source.
    pub fn ingress(&mut self, now: Instant, repr: &PacketRepr<'_>) -> Ingress {
        let Some(home) = repr.hao else {
            return Ingress::Plain;
        };
        match self.bindings.get_mut(&home) {
            Some(b) if b.care_of == repr.src && b.expires > now => {
                b.last_used = now;
                Ingress::FromHome(home)
            }
            _ => {
                self.stats.hao_dropped += 1;
                self.binding_error(now, repr.dst, repr.src, be_status::UNKNOWN_BINDING, home);
                Ingress::Drop
            }
        }
    }

    /// Where a packet to `dst` should go (RFC 6275 §9.3.2): `Some(care_of)` when `dst` is
    /// a home address with a live binding (send to the care-of address with an RH2).
    pub fn egress(&mut self, now: Instant, dst: &Ipv6Addr) -> Option<Ipv6Addr> {
        let b = self.bindings.get_mut(dst)?;
        if b.expires <= now {
            return None;
        }
        b.last_used = now;
        Some(b.care_of)
    }

    /// When `handle_timeout` next has work: an expiry or a refresh request.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings
            .values()
            .map(|b| {
                if b.refresh_requested {
                    b.expires
                } else {
                    b.expires - self.config.refresh_lead
                }
            })
            .min()
    }

    /// Expires bindings and sends Binding Refresh Requests for those in use
    /// (RFC 6275 §9.5.5). `me` is the CN's address for the BRR's source.
    pub fn handle_timeout(&mut self, now: Instant, me: Ipv6Addr) {
        let mut expired = Vec::new();
        let mut refresh = Vec::new();
        for b in self.bindings.values_mut() {
            if b.expires <= now {
                expired.push(b.home);
            } else if !b.refresh_requested
                && b.expires - self.config.refresh_lead <= now
                && now.saturating_since(b.last_used) <= self.config.in_use_window
            {
                b.refresh_requested = true;
                refresh.push(b.home);
            } else if b.expires - self.config.refresh_lead <= now {
                b.refresh_requested = true;
            }
        }
        for home in expired {
            self.bindings.remove(&home);
        }
        self.tombstones.retain(|_, t| t.until > now);
        for home in refresh {
            let brr = MhRepr::new(MhMessage::Brr);
            self.queue(&Self::packet(me, home, None, brr), None);
            self.stats.brr_sent += 1;
        }
    }

    /// The MH type of a message, for logs.
    pub fn type_name(mh: &MhRepr<'_>) -> MhType {
        mh.message.mh_type()
    }
}
