//! The correspondent node's nonce table (RFC 6275 §5.2.2, §5.2.7, §12).
//!
//! A new nonce is made at most every [`NONCE_REGENERATION`] (30 s), lazily, when a
//! HoTI or CoTI asks for one. A nonce is accepted for [`MAX_NONCE_LIFETIME`] (240 s) after
//! it was made and handed out first, and never after. Since a nonce is handed out for at
//! most 30 s, every token a node hands out stays usable for at least 210 s
//! ([`MAX_TOKEN_LIFETIME`]), as §5.2.7 requires.

use crate::rand::RandomSource;
use crate::time::{Duration, Instant};

use super::rr::{Nonce, NONCE_LEN};

/// MAX_NONCE_LIFETIME (RFC 6275 §12): 240 s.
pub const MAX_NONCE_LIFETIME: Duration = Duration::from_secs(240);
/// MAX_TOKEN_LIFETIME (RFC 6275 §12): 210 s.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(210);
/// How long the newest nonce is handed out before a new one is made.
pub const NONCE_REGENERATION: Duration = Duration::from_secs(30);

/// Slots kept: every nonce younger than MAX_NONCE_LIFETIME, plus the newest.
const SLOTS: usize = (240 / 30) as usize + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    index: u16,
    nonce: Nonce,
    created: Instant,
}

/// Nonces indexed by their 16-bit nonce index.
#[derive(Debug, Clone, Default)]
pub struct NonceTable {
    slots: [Option<Entry>; SLOTS],
    newest: usize,
    next_index: u16,
}

impl NonceTable {
    /// An empty table; the first nonce gets index 0.
    pub fn new() -> Self {
        NonceTable::default()
    }

    /// The nonce to hand out now, with its index; makes a new one from `rng` when the
    /// newest is [`NONCE_REGENERATION`] old or there is none.
    pub fn current(&mut self, now: Instant, rng: &mut dyn RandomSource) -> (u16, Nonce) {
        if let Some(entry) = self.slots[self.newest] {
            if now.saturating_since(entry.created) < NONCE_REGENERATION && now >= entry.created {
                return (entry.index, entry.nonce);
            }
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        let slot = if self.slots[self.newest].is_some() {
            (self.newest + 1) % SLOTS
        } else {
            self.newest
        };
        self.slots[slot] = Some(Entry {
            index,
            nonce,
            created: now,
        });
        self.newest = slot;
        (index, nonce)
    }

    /// The nonce with `index` if it is still acceptable at `now`: no more than
    /// MAX_NONCE_LIFETIME after it was made (§5.2.7).
    pub fn lookup(&self, index: u16, now: Instant) -> Option<Nonce> {
        self.slots.iter().flatten().find_map(|e| {
            let fresh = now >= e.created && now.saturating_since(e.created) <= MAX_NONCE_LIFETIME;
            (e.index == index && fresh).then_some(e.nonce)
        })
    }
}
