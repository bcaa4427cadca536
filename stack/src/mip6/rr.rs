//! Return-routability cryptography (RFC 6275 §5.2.5, §6.2.7): HMAC-SHA1 and SHA-1 as the
//! RFC mandates, from RustCrypto's `sha1`/`hmac`, which use the CPU's SHA extensions when
//! present (BU verification is on the hot path of a correspondent node).
//!
//! - home keygen token    = First(64, HMAC_SHA1(Kcn, home address | nonce | 0))
//! - care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1))
//! - Kbm = SHA1(home keygen token | care-of keygen token), or SHA1(home keygen token) when
//!   deregistering (§5.2.5)
//! - Authenticator = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data)),
//!   MH Data being the whole Mobility Header with its checksum taken as zero and without
//!   the 12 authenticator bytes (§6.2.7).

use core::net::Ipv6Addr;

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

use crate::rand::RandomSource;
use crate::wire::mh::{self, CHECKSUM_OFFSET};
use crate::wire::mh_option::{kind, AUTHENTICATOR_LEN};
use crate::wire::packet::{ParsedPacket, Upper};
use crate::wire::MhOption;
use crate::wire::{MhMessage, PacketRepr, WireError};

/// Length of Kcn, the correspondent node's secret key (§5.2.1: 20 octets for HMAC-SHA1).
pub const KCN_LEN: usize = 20;
/// Length of a nonce (§5.2.2 leaves it to the implementation; 64 bits as in UMIP).
pub const NONCE_LEN: usize = 8;
/// Length of a keygen token (§5.2.5: First(64, ...)).
pub const TOKEN_LEN: usize = 8;
/// Length of Kbm (SHA-1 output).
pub const KBM_LEN: usize = 20;

/// A nonce.
pub type Nonce = [u8; NONCE_LEN];
/// A home or care-of keygen token.
pub type Token = [u8; TOKEN_LEN];
/// The binding management key.
pub type Kbm = [u8; KBM_LEN];
/// A BU or BA authenticator.
pub type Authenticator = [u8; AUTHENTICATOR_LEN];

/// The correspondent node's secret Kcn, with its HMAC key schedule prepared once.
#[derive(Clone)]
pub struct Kcn {
    bytes: [u8; KCN_LEN],
    /// HMAC state with the key already absorbed (inner and outer pads hashed once).
    keyed: HmacSha1,
}

impl core::fmt::Debug for Kcn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Kcn(..)")
    }
}

impl Kcn {
    /// Kcn from its 20 bytes.
    pub fn from_bytes(bytes: [u8; KCN_LEN]) -> Self {
        Kcn {
            bytes,
            keyed: keyed_hmac(&bytes),
        }
    }

    /// A fresh Kcn from the caller's random source (§5.2.1).
    pub fn generate(rng: &mut dyn RandomSource) -> Self {
        let mut bytes = [0u8; KCN_LEN];
        rng.fill(&mut bytes);
        Kcn::from_bytes(bytes)
    }

    /// The raw key, e.g. to persist it.
    pub fn as_bytes(&self) -> &[u8; KCN_LEN] {
        &self.bytes
    }

    fn token(&self, addr: &Ipv6Addr, nonce: &Nonce, which: u8) -> Token {
        let mut mac = self.keyed.clone();
        mac.update(&addr.octets());
        mac.update(nonce);
        mac.update(&[which]);
        let tag = mac.finalize().into_bytes();
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&tag[..TOKEN_LEN]);
        token
    }

    /// Home keygen token = First(64, HMAC_SHA1(Kcn, home address | nonce | 0)) (§5.2.5).
    pub fn home_keygen_token(&self, home: &Ipv6Addr, nonce: &Nonce) -> Token {
        self.token(home, nonce, 0)
    }

    /// Care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1)) (§5.2.5).
    pub fn care_of_keygen_token(&self, care_of: &Ipv6Addr, nonce: &Nonce) -> Token {
        self.token(care_of, nonce, 1)
    }
}

/// Kbm = SHA1(home keygen token | care-of keygen token); with `care_of` `None` (a
/// deregistration) Kbm = SHA1(home keygen token) (§5.2.5).
pub fn kbm(home: &Token, care_of: Option<&Token>) -> Kbm {
    let mut h = Sha1::new();
    h.update(home);
    if let Some(care_of) = care_of {
        h.update(care_of);
    }
    h.finalize().into()
}

/// An HMAC-SHA1 state keyed with `key` (HMAC takes keys of any length).
fn keyed_hmac(key: &[u8]) -> HmacSha1 {
    match HmacSha1::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Why an authenticator could not be computed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The packet is not a Binding Update or Binding Acknowledgement.
    #[error("only Binding Updates and Binding Acknowledgements carry an authenticator")]
    NotBuOrBa,
    /// The MH has no Binding Authorization Data option.
    #[error("the Mobility Header has no Binding Authorization Data option")]
    NoAuthData,
    /// The packet is malformed.
    #[error(transparent)]
    Malformed(#[from] WireError),
}

/// Checks that `mh` ends with a Binding Authorization Data option carrying a 96-bit
/// authenticator (§6.2.7: it is always last).
fn auth_data_at_end(mh: &[u8]) -> Result<usize, AuthError> {
    let len = mh.len();
    let at = len
        .checked_sub(AUTHENTICATOR_LEN + 2)
        .ok_or(AuthError::NoAuthData)?;
    if at < 12 || mh[at] != kind::AUTH_DATA || mh[at + 1] as usize != AUTHENTICATOR_LEN {
        return Err(AuthError::NoAuthData);
    }
    Ok(len - AUTHENTICATOR_LEN)
}

/// Authenticator = First(96, HMAC_SHA1(Kbm, care-of | correspondent | MH Data)) over the
/// Mobility Header `mh`, whose last option must be Binding Authorization Data (§6.2.7).
/// `mh` must be one whose parse showed that (its last 14 bytes are then the option);
/// this function only checks the option's type and length bytes.
pub fn authenticator(
    kbm: &Kbm,
    care_of: &Ipv6Addr,
    correspondent: &Ipv6Addr,
    mh: &[u8],
) -> Result<Authenticator, AuthError> {
    let auth_at = auth_data_at_end(mh)?;
    let mut mac = keyed_hmac(kbm);
    mac.update(&care_of.octets());
    mac.update(&correspondent.octets());
    mac.update(&mh[..CHECKSUM_OFFSET]);
    mac.update(&[0, 0]);
    mac.update(&mh[CHECKSUM_OFFSET + 2..auth_at]);
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; AUTHENTICATOR_LEN];
    out.copy_from_slice(&tag[..AUTHENTICATOR_LEN]);
    Ok(out)
}

/// Compares two authenticators in constant time.
pub fn authenticators_equal(a: &Authenticator, b: &Authenticator) -> bool {
    a.ct_eq(b).into()
}

/// The (care-of address, correspondent address) pair an authenticator covers: for a BU,
/// the Alternate Care-of Address option or else the source, and the destination; for a BA,
/// the destination and the source (§6.1.7, §6.1.8, §6.2.5).
pub fn auth_addresses(repr: &PacketRepr<'_>) -> Result<(Ipv6Addr, Ipv6Addr), AuthError> {
    match &repr.upper {
        Upper::Mh(m) => match m.message {
            MhMessage::Bu(_) => Ok((m.alt_care_of().unwrap_or(repr.src), repr.dst)),
            MhMessage::Ba(_) => Ok((repr.dst, repr.src)),
            _ => Err(AuthError::NotBuOrBa),
        },
        _ => Err(AuthError::NotBuOrBa),
    }
}

/// Whether a parsed BU's or BA's authenticator is right for `kbm` (constant-time compare).
pub fn verify_packet(parsed: &ParsedPacket<'_>, kbm: &Kbm) -> Result<bool, AuthError> {
    let (care_of, correspondent) = auth_addresses(&parsed.repr)?;
    let received = match &parsed.repr.upper {
        Upper::Mh(m) => m.authenticator().ok_or(AuthError::NoAuthData)?,
        _ => return Err(AuthError::NotBuOrBa),
    };
    let computed = authenticator(kbm, &care_of, &correspondent, parsed.upper_bytes)?;
    Ok(authenticators_equal(&computed, &received))
}

/// Emits `repr` (a BU or BA whose last option is Binding Authorization Data, whose value
/// is ignored) into `buf`, computes its authenticator with `kbm`, writes it, and fixes the
/// MH checksum. Returns the packet length.
pub fn emit_signed(repr: &PacketRepr<'_>, kbm: &Kbm, buf: &mut [u8]) -> Result<usize, AuthError> {
    let (care_of, correspondent) = auth_addresses(repr)?;
    // Decide from the repr, not from bytes an unknown option's data could imitate.
    match &repr.upper {
        Upper::Mh(m) if matches!(m.options.last(), Some(MhOption::AuthData(_))) => {}
        _ => return Err(AuthError::NoAuthData),
    }
    let len = repr.emit(buf)?;
    let at = repr.upper_offset();
    let mh_bytes = &mut buf[at..len];
    let auth = authenticator(kbm, &care_of, &correspondent, mh_bytes)?;
    let auth_at = mh_bytes.len() - AUTHENTICATOR_LEN;
    mh_bytes[auth_at..].copy_from_slice(&auth);
    mh::fill_checksum(&repr.pseudo_src(), &repr.pseudo_dst(), mh_bytes);
    Ok(len)
}
