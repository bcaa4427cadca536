//! The contact-node role (docs/handoff.md, docs/security.md): what a member that the
//! network routes the anycast address to keeps for the whole group. It runs the home
//! tests of every member (the HoT comes back to the anycast address) and relays each
//! home token by the init cookie that names the member; it learns which member serves
//! each client, to relay the client's Binding Refresh Requests; and it deregisters the
//! bindings of a member that left, and remembers that it did, to bind those clients
//! back should the member return.
//!
//! Plain state and decisions only: the member (`contact.rs`, `liveness.rs`) sends what
//! they call for.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use vany_stack::time::{Duration, Instant};

use crate::group::cookie::{CookieRefusal, HomeCookies, COOKIE_LIFETIME_SECS, COOKIE_SKEW_SECS};
use crate::group::peer::MemberId;

/// How long a contact node remembers that it deregistered a client on a member's behalf
/// (the longest binding the client could have held: RFC 6275 MAX_RR_BINDING_LIFETIME).
pub(super) const DEREGISTERED_MEMORY: Duration = Duration::from_secs(420);

/// Cookies taken are pruned of expired ones once this many are held.
const COOKIES_TAKEN_PRUNE: usize = 1024;

/// The contact-node role's state.
pub(super) struct ContactNode {
    /// Makes and checks the home init cookies that name members.
    cookies: HomeCookies,
    /// The cookies of the Home Tests taken, and when: each is taken once.
    cookies_taken: BTreeMap<(Ipv6Addr, [u8; 8]), Instant>,
    /// Which member said it serves each client (after a handoff).
    serving_at: BTreeMap<Ipv6Addr, MemberId>,
    /// Home tests run for members: client -> member that asked last.
    hoti_for: BTreeMap<Ipv6Addr, MemberId>,
    /// Clients deregistered on a member's behalf when it was taken for gone, and when.
    deregistered_for: BTreeMap<Ipv6Addr, (MemberId, Instant)>,
}

impl ContactNode {
    /// The role of a member of the group keyed by `group_key`.
    pub(super) fn new(group_key: &[u8]) -> ContactNode {
        ContactNode {
            cookies: HomeCookies::new(group_key),
            cookies_taken: BTreeMap::new(),
            serving_at: BTreeMap::new(),
            hoti_for: BTreeMap::new(),
            deregistered_for: BTreeMap::new(),
        }
    }

    /// A home test of `client` starts for `member` at group second `secs`: the init
    /// cookie to send, which names the member (group/cookie.rs).
    pub(super) fn home_test_cookie(
        &mut self,
        client: Ipv6Addr,
        member: MemberId,
        secs: u64,
    ) -> [u8; 8] {
        self.hoti_for.insert(client, member);
        self.cookies.make(member, client, secs)
    }

    /// A Home Test from `client` with `cookie` arrived at `now` (group second `secs`):
    /// the member its token is for, or why it is dropped without state: a cookie the
    /// group did not make for this client (`Forged`), or one past its lifetime or taken
    /// already (`Stale`: a cookie seen on the wire, replayed).
    pub(super) fn take_home_test(
        &mut self,
        now: Instant,
        client: Ipv6Addr,
        cookie: [u8; 8],
        secs: u64,
    ) -> Result<MemberId, CookieRefusal> {
        let owner = self.cookies.verify(client, &cookie, secs)?;
        if !self.take_cookie(now, client, cookie) {
            return Err(CookieRefusal::Stale);
        }
        Ok(owner)
    }

    /// Records that a Home Test with `cookie` from `client` was taken; `false` if one was
    /// already. Entries older than a cookie's lifetime go first: the record holds only
    /// cookies the group made in the last minute, as many as real home tests.
    fn take_cookie(&mut self, now: Instant, client: Ipv6Addr, cookie: [u8; 8]) -> bool {
        let lifetime = Duration::from_secs(COOKIE_LIFETIME_SECS + COOKIE_SKEW_SECS);
        if self.cookies_taken.len() >= COOKIES_TAKEN_PRUNE {
            self.cookies_taken
                .retain(|_, at| now.saturating_since(*at) <= lifetime);
        }
        match self.cookies_taken.entry((client, cookie)) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(now);
                true
            }
        }
    }

    /// `member` said it serves `client`: a deregistration on an earlier member's behalf
    /// is over.
    pub(super) fn serving(&mut self, client: Ipv6Addr, member: MemberId) {
        self.serving_at.insert(client, member);
        self.deregistered_for.remove(&client);
    }

    /// The member that said it serves `client`.
    pub(super) fn serving_member(&self, client: &Ipv6Addr) -> Option<MemberId> {
        self.serving_at.get(client).copied()
    }

    /// Where a Binding Refresh Request of `client` goes (RFC 6275 §9.5.5): the member
    /// that said it serves the client, else the one that asked for its home token last.
    pub(super) fn refresh_goes_to(&self, client: &Ipv6Addr) -> Option<MemberId> {
        self.serving_member(client)
            .or_else(|| self.hoti_for.get(client).copied())
    }

    /// `member` was taken for gone: the clients it served, forgotten here (their
    /// bindings are deregistered by the caller, which records each with
    /// [`ContactNode::deregistered`]).
    pub(super) fn orphans_of(&mut self, member: MemberId) -> Vec<Ipv6Addr> {
        let orphans: Vec<Ipv6Addr> = self
            .serving_at
            .iter()
            .filter(|(_, m)| **m == member)
            .map(|(c, _)| *c)
            .collect();
        for c in &orphans {
            self.serving_at.remove(c);
        }
        orphans
    }

    /// `client`'s binding to `member` was deregistered at `now`.
    pub(super) fn deregistered(&mut self, client: Ipv6Addr, member: MemberId, now: Instant) {
        self.deregistered_for.insert(client, (member, now));
    }

    /// `member` came back at `now`: the clients deregistered on its behalf lately, to
    /// be bound back by it (taken out of the record).
    pub(super) fn take_deregistered(&mut self, member: MemberId, now: Instant) -> Vec<Ipv6Addr> {
        let clients: Vec<Ipv6Addr> = self
            .deregistered_for
            .iter()
            .filter(|(_, (m, at))| *m == member && now.saturating_since(*at) < DEREGISTERED_MEMORY)
            .map(|(c, _)| *c)
            .collect();
        for c in &clients {
            self.deregistered_for.remove(c);
        }
        clients
    }

    /// Forgets deregistrations older than [`DEREGISTERED_MEMORY`].
    pub(super) fn expire(&mut self, now: Instant) {
        self.deregistered_for
            .retain(|_, (_, at)| now.saturating_since(*at) < DEREGISTERED_MEMORY);
    }

    /// Forgets what it holds about clients the mobile node no longer knows.
    pub(super) fn forget_unless(&mut self, knows: impl Fn(&Ipv6Addr) -> bool) {
        self.hoti_for.retain(|c, _| knows(c));
        self.serving_at.retain(|c, _| knows(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn a_home_test_is_taken_once_and_only_with_a_cookie_the_group_made() {
        let client: Ipv6Addr = "fd00:c1::1".parse().unwrap();
        let other: Ipv6Addr = "fd00:c1::2".parse().unwrap();
        let mut c = ContactNode::new(b"group key");
        let cookie = c.home_test_cookie(client, 3, 100);
        assert_eq!(
            c.take_home_test(at(100), other, cookie, 100),
            Err(CookieRefusal::Forged)
        );
        assert_eq!(c.take_home_test(at(101), client, cookie, 101), Ok(3));
        assert_eq!(
            c.take_home_test(at(102), client, cookie, 102),
            Err(CookieRefusal::Stale)
        );
        let late = c.home_test_cookie(client, 3, 200);
        let too_late = 200 + COOKIE_LIFETIME_SECS + COOKIE_SKEW_SECS + 1;
        assert_eq!(
            c.take_home_test(at(too_late), client, late, too_late),
            Err(CookieRefusal::Stale)
        );
    }

    #[test]
    fn orphans_are_deregistered_and_bound_back_if_their_member_returns() {
        let (a, b): (Ipv6Addr, Ipv6Addr) =
            ("fd00:c1::1".parse().unwrap(), "fd00:c1::2".parse().unwrap());
        let mut c = ContactNode::new(b"k");
        c.serving(a, 2);
        c.serving(b, 3);
        assert_eq!(c.refresh_goes_to(&a), Some(2));
        assert_eq!(c.orphans_of(2), vec![a]);
        assert_eq!(c.serving_member(&a), None);
        c.deregistered(a, 2, at(10));
        assert_eq!(c.take_deregistered(3, at(11)), Vec::<Ipv6Addr>::new());
        assert_eq!(c.take_deregistered(2, at(11)), vec![a]);
        assert_eq!(
            c.take_deregistered(2, at(12)),
            Vec::<Ipv6Addr>::new(),
            "once"
        );
        c.deregistered(b, 3, at(20));
        c.expire(at(20) + DEREGISTERED_MEMORY);
        assert_eq!(
            c.take_deregistered(3, at(21)),
            Vec::<Ipv6Addr>::new(),
            "expired"
        );
    }
}
