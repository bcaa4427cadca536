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
//! member (2, big-endian) | salt (2) | first 4 bytes of HMAC-SHA256(key, "vany-home-cookie" | client | member | salt)
//! ```
//!
//! A member checks the tag before it keeps or relays a token; a forged Home Test is
//! dropped without state (one in 2^32 forgeries passes, and then only as one token
//! for the address it was sent from).

use std::net::Ipv6Addr;

use ring::hmac;

use super::peer::MemberId;

const LABEL: &[u8] = b"vany-home-cookie";

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

    fn tag(&self, client: Ipv6Addr, member: [u8; 2], salt: [u8; 2]) -> [u8; 4] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(LABEL);
        ctx.update(&client.octets());
        ctx.update(&member);
        ctx.update(&salt);
        let t = ctx.sign();
        let t = t.as_ref();
        [t[0], t[1], t[2], t[3]]
    }

    /// The cookie of a HoTI sent to `client` on behalf of `member`.
    pub fn make(&self, member: MemberId, client: Ipv6Addr, salt: u16) -> [u8; 8] {
        let m = member.to_be_bytes();
        let s = salt.to_be_bytes();
        let t = self.tag(client, m, s);
        [m[0], m[1], s[0], s[1], t[0], t[1], t[2], t[3]]
    }

    /// The member a Home Test from `client` echoing `cookie` is for, if the cookie is one
    /// the group made for that client.
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
}
