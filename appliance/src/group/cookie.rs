//! Home init cookies that name a member and that only the group can make.
//!
//! A contact node runs the home test for whichever member serves a client, and the Home
//! Test comes back to the anycast address: to any member the network routes it to. The
//! cookie (RFC 6275 §6.1.3: 8 bytes the mobile node chooses and the correspondent echoes)
//! tells that member whom to relay the home token to. A cookie anyone could make would
//! let forged Home Tests create state at every member they are relayed to, so the cookie
//! carries a tag under the group key, bound to the client it was sent to:
//!
//! ```text
//! member (2, big-endian) | issued (2) | first 4 bytes of HMAC-SHA256(key, "vany-home-cookie" | client | member | issued)
//! ```
//!
//! `issued` is the group clock's second (mod 2^16) at which the HoTI left. A member
//! checks the tag and the age before it keeps or relays a token: a forged Home Test is
//! dropped without state (one in 2^32 forgeries passes, and then only as one token for
//! the address it was sent from), and so is one echoing a cookie older than
//! [`COOKIE_LIFETIME_SECS`]: a cookie seen once on the wire cannot be replayed with a
//! forged token later. Within its lifetime a cookie is taken once per contact node
//! (`Member`'s record of the cookies it accepted).

use std::net::Ipv6Addr;

use ring::hmac;

use super::peer::MemberId;

const LABEL: &[u8] = b"vany-home-cookie";

/// Seconds a cookie is good for after its HoTI left (its retransmissions included).
pub const COOKIE_LIFETIME_SECS: u64 = 64;
/// Seconds a cookie may seem to come from the future (the contact nodes' clocks differ).
pub const COOKIE_SKEW_SECS: u64 = 8;

/// Why a Home Test's cookie is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieRefusal {
    /// The group did not make it for this client.
    Forged,
    /// It is older than [`COOKIE_LIFETIME_SECS`] (or from too far in the future).
    Stale,
}

/// Makes and checks home init cookies under the group key.
pub struct HomeCookies {
    key: hmac::Key,
}

impl HomeCookies {
    /// Cookies under `group_key`.
    pub fn new(group_key: &[u8]) -> Self {
        HomeCookies {
            key: hmac::Key::new(hmac::HMAC_SHA256, group_key),
        }
    }

    fn tag(&self, client: Ipv6Addr, member: [u8; 2], issued: [u8; 2]) -> [u8; 4] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(LABEL);
        ctx.update(&client.octets());
        ctx.update(&member);
        ctx.update(&issued);
        let t = ctx.sign();
        let t = t.as_ref();
        [t[0], t[1], t[2], t[3]]
    }

    /// The cookie of a HoTI sent to `client` on behalf of `member` at second `now_secs`
    /// of the group clock.
    pub fn make(&self, member: MemberId, client: Ipv6Addr, now_secs: u64) -> [u8; 8] {
        let m = member.to_be_bytes();
        let s = ((now_secs & 0xffff) as u16).to_be_bytes();
        let t = self.tag(client, m, s);
        [m[0], m[1], s[0], s[1], t[0], t[1], t[2], t[3]]
    }

    /// The member a Home Test from `client` echoing `cookie` is for, at second
    /// `now_secs` of the group clock: the cookie must be one the group made for that
    /// client, at most [`COOKIE_LIFETIME_SECS`] ago.
    pub fn verify(
        &self,
        client: Ipv6Addr,
        cookie: &[u8; 8],
        now_secs: u64,
    ) -> Result<MemberId, CookieRefusal> {
        let member = self.owner(client, cookie).ok_or(CookieRefusal::Forged)?;
        let issued = u16::from_be_bytes([cookie[2], cookie[3]]);
        let age = ((now_secs & 0xffff) as u16).wrapping_sub(issued);
        let fresh =
            u64::from(age) <= COOKIE_LIFETIME_SECS || u64::from(age) >= 0x1_0000 - COOKIE_SKEW_SECS;
        if fresh {
            Ok(member)
        } else {
            Err(CookieRefusal::Stale)
        }
    }

    /// The member a Home Test from `client` echoing `cookie` is for, if the cookie is one
    /// the group made for that client (its age unchecked: see [`HomeCookies::verify`]).
    pub fn owner(&self, client: Ipv6Addr, cookie: &[u8; 8]) -> Option<MemberId> {
        let (m, s) = ([cookie[0], cookie[1]], [cookie[2], cookie[3]]);
        let expected = self.tag(client, m, s);
        // Not secret-dependent timing that matters here: the tag is 32 bits and a
        // mismatch only drops the packet; still, compare without early exit.
        let diff = expected
            .iter()
            .zip(&cookie[4..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| u16::from_be_bytes(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, n)
    }

    #[test]
    fn a_cookie_names_its_member_for_its_client_only() {
        let c = HomeCookies::new(b"0123456789abcdef");
        let cookie = c.make(7, client(1), 0xbeef);
        assert_eq!(c.owner(client(1), &cookie), Some(7));
        assert_eq!(c.owner(client(2), &cookie), None, "another client");
        let other_key = HomeCookies::new(b"fedcba9876543210");
        assert_eq!(other_key.owner(client(1), &cookie), None, "another group");
        let mut renamed = cookie;
        renamed[1] ^= 1;
        assert_eq!(c.owner(client(1), &renamed), None, "member changed");
    }

    #[test]
    fn the_old_guessable_format_is_refused() {
        let c = HomeCookies::new(b"0123456789abcdef");
        // "va" | member 2 | salt: what any attacker could write before.
        let guessable = [b'v', b'a', 0, 2, 1, 2, 3, 4];
        assert_eq!(c.owner(client(1), &guessable), None);
    }

    #[test]
    fn a_cookie_is_good_for_its_lifetime_only() {
        let c = HomeCookies::new(b"0123456789abcdef");
        let who = client(7);
        let cookie = c.make(3, who, 100_000);
        for now in [
            100_000,
            100_000 + COOKIE_LIFETIME_SECS,
            100_000 - COOKIE_SKEW_SECS,
        ] {
            assert_eq!(c.verify(who, &cookie, now), Ok(3), "at {now}");
        }
        for now in [
            100_000 + COOKIE_LIFETIME_SECS + 1,
            100_000 + 3600,
            100_000 - COOKIE_SKEW_SECS - 1,
        ] {
            assert_eq!(
                c.verify(who, &cookie, now),
                Err(CookieRefusal::Stale),
                "at {now}"
            );
        }
        // Across the 16-bit wrap of the issue second.
        let wrap = c.make(3, who, 0xffff);
        assert_eq!(c.verify(who, &wrap, 0x1_0000 + 10), Ok(3));
        assert_eq!(
            c.verify(client(8), &cookie, 100_000),
            Err(CookieRefusal::Forged)
        );
    }
}
