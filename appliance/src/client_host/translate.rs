//! The packet translation of `vany client`, without I/O: the correspondent node
//! (`vany_stack::mip6::cn`) decides, these functions rewrite.
//!
//! ```text
//!   kernel ─TUN─▶ outbound: dst in an anycast prefix?  no ─▶ drop (TUN noise: MLD, RS)
//!                           cn.egress(dst) = care_of ─▶ dst = care_of + RH2(dst) ─▶ uplink
//!                           no binding               ─▶ unchanged              ─▶ uplink
//!                           (the MSS of a SYN is clamped either way)
//!   uplink ─AF_PACKET─▶ inbound: not claimed (no MH, no HAO)  ─▶ ignored: the kernel has it
//!                               Mobility Header ─▶ cn.handle_mh ─▶ HoT, CoT, BA, BE out
//!                               HAO, cn.ingress = FromHome ─▶ src = home, HAO removed ─▶ TUN
//!                               HAO without binding        ─▶ drop (Binding Error out)
//! ```
//!
//! "Claimed" is exactly what the nftables rules of [`super::filter`] keep from the
//! kernel, so every packet is handled once: by the kernel or by `vany client`.
//!
//! Checksums: the upper-layer checksum of a packet with a HAO or an RH2 is computed over
//! the *home* address (RFC 6275 §6.3, §6.4; RFC 8200 §8.1: the final destination), so
//! neither rewrite touches it: after the HAO is removed and the home address put in the
//! source field, the checksum the member computed is the one the kernel verifies; and
//! the kernel's checksum over its own destination (the home address) is what the member
//! verifies behind the RH2. The tests check both with `wire::parse`.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use vany_stack::mip6::cn::{CnStats, CorrespondentNode, Ingress, MhOutcome};
use vany_stack::rand::RandomSource;
use vany_stack::time::Instant;
use vany_stack::wire::hao::{DEST_OPTS_PROTOCOL, HAO_TYPE};
use vany_stack::wire::packet::IPV6_HEADER_LEN;
use vany_stack::wire::rewrite::{self, ipv6_total};
use vany_stack::wire::{parse, Upper};

pub use vany_stack::wire::mh::MH_PROTOCOL;
/// Why a packet could not be rewritten (RFC 6275 §9.3 rewrites live in `wire::rewrite`).
pub use vany_stack::wire::rewrite::RewriteError as TranslateError;
pub use vany_stack::wire::rewrite::{insert_rh2, strip_hao};

/// An IPv6 prefix (an address is a /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: Ipv6Addr,
    len: u8,
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Not an IPv6 address.
    #[error("{0:?} is not an IPv6 address or prefix (e.g. fd00:a::/64 or fd00:a::1)")]
    Address(String),
    /// The length is not 0..=128.
    #[error("prefix length in {0:?} must be a number from 1 to 128")]
    Length(String),
    /// Host bits set.
    #[error("{given:?} has bits set past its length: did you mean {network}?")]
    HostBits {
        /// The text given.
        given: String,
        /// The prefix with host bits cleared.
        network: Prefix,
    },
}

impl Prefix {
    /// `addr/len`; fails if bits past `len` are set or `len` is not 1..=128.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Prefix, PrefixError> {
        if len == 0 || len > 128 {
            return Err(PrefixError::Length(format!("{addr}/{len}")));
        }
        let p = Prefix { addr, len };
        let network = Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & p.mask()),
            len,
        };
        if network != p {
            return Err(PrefixError::HostBits {
                given: format!("{addr}/{len}"),
                network,
            });
        }
        Ok(p)
    }

    /// The single address `addr` (a /128).
    pub fn host(addr: Ipv6Addr) -> Prefix {
        Prefix { addr, len: 128 }
    }

    fn mask(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0)
    }

    /// Whether `a` is inside.
    pub fn contains(&self, a: &Ipv6Addr) -> bool {
        u128::from(*a) & self.mask() == u128::from(self.addr)
    }

    /// The first address of the prefix.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether the prefix is a single address.
    pub fn is_host(&self) -> bool {
        self.len == 128
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: Ipv6Addr = a
            .trim()
            .parse()
            .map_err(|_| PrefixError::Address(s.to_string()))?;
        let len = match l {
            Some(l) => l
                .trim()
                .parse()
                .map_err(|_| PrefixError::Length(s.to_string()))?,
            None => 128,
        };
        Prefix::new(addr, len)
    }
}

/// Whether an inbound packet is `vany client`'s rather than the kernel's: exactly what
/// the nftables rules drop at the kernel's input ([`super::filter::ruleset`]):
/// its upper-layer protocol (past the extension headers) is the Mobility Header, or a
/// Destination Options header follows the IPv6 header directly with option type 0xC9
/// (the Home Address option at its 8n+6 place, as every implementation sends it).
pub fn claimed(packet: &[u8]) -> bool {
    if packet.len() < IPV6_HEADER_LEN || packet[0] >> 4 != 6 {
        return false;
    }
    if packet[6] == DEST_OPTS_PROTOCOL && packet.get(IPV6_HEADER_LEN + 6) == Some(&HAO_TYPE) {
        return true;
    }
    rewrite::upper_layer(packet).map(|u| u.protocol) == Some(MH_PROTOCOL)
}

/// What to do with a packet after [`Translator::outbound`] or [`Translator::inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the output buffer on the uplink (to its IPv6 destination).
    Uplink,
    /// Write the output buffer into the TUN device, for the kernel.
    Kernel,
    /// A Mobility Header message the correspondent node consumed; its answers come from
    /// [`Translator::poll_transmit`].
    Consumed {
        /// What the correspondent node did.
        outcome: MhOutcome,
        /// The home address it concerned (the HAO's, else the source).
        home: Ipv6Addr,
    },
    /// Not ours: the kernel receives it (inbound packets without MH or HAO).
    Ignore,
    /// Dropped.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// From the TUN, but not to an anycast prefix (the kernel's MLD or router
    /// solicitations on the TUN link).
    NotAnycast,
    /// Did not parse.
    Malformed,
    /// A HAO for which the binding cache has no matching binding (RFC 6275 §9.3.1).
    NoBinding,
    /// Could not be rewritten.
    Untranslatable(TranslateError),
}

/// Translation counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TranslateStats {
    /// Packets from the kernel to an anycast prefix.
    pub out_packets: u64,
    /// ... sent to a care-of address with an RH2.
    pub out_via_binding: u64,
    /// ... sent unchanged (no binding).
    pub out_plain: u64,
    /// Packets from the kernel not to an anycast prefix, dropped.
    pub out_not_anycast: u64,
    /// Outbound packets that could not be rewritten, dropped.
    pub out_untranslatable: u64,
    /// Mobility Header packets handed to the correspondent node.
    pub in_mh: u64,
    /// Packets with a HAO translated for the kernel.
    pub in_hao_translated: u64,
    /// Packets with a HAO and no binding, dropped.
    pub in_hao_dropped: u64,
    /// Claimed packets that did not parse, dropped.
    pub in_malformed: u64,
    /// Inbound packets left to the kernel.
    pub in_ignored: u64,
    /// SYNs whose MSS was lowered.
    pub mss_clamped: u64,
}

/// The correspondent node and the rewrites around it.
pub struct Translator {
    cn: CorrespondentNode,
    anycast: Vec<Prefix>,
    max_mss: u16,
    rng: Box<dyn RandomSource + Send>,
    /// The address Mobility Header messages arrive at (the source of Binding Refresh
    /// Requests).
    local: Option<Ipv6Addr>,
    stats: TranslateStats,
}

impl Translator {
    /// A translator for packets to `anycast`, clamping SYN MSS options to `max_mss`.
    pub fn new(
        cn: CorrespondentNode,
        anycast: Vec<Prefix>,
        max_mss: u16,
        rng: Box<dyn RandomSource + Send>,
    ) -> Translator {
        Translator {
            cn,
            anycast,
            max_mss,
            rng,
            local: None,
            stats: TranslateStats::default(),
        }
    }

    /// The correspondent node (binding cache, counters).
    pub fn cn(&self) -> &CorrespondentNode {
        &self.cn
    }

    /// Correspondent-node counters.
    pub fn cn_stats(&self) -> CnStats {
        self.cn.stats()
    }

    /// Translation counters.
    pub fn stats(&self) -> TranslateStats {
        self.stats
    }

    /// Whether `a` is in an anycast prefix.
    pub fn is_anycast(&self, a: &Ipv6Addr) -> bool {
        self.anycast.iter().any(|p| p.contains(a))
    }

    fn clamp(&mut self, packet: &mut [u8]) {
        if rewrite::clamp_packet(packet, self.max_mss).is_some() {
            self.stats.mss_clamped += 1;
        }
    }

    /// A packet the kernel wrote into the TUN device. The packet to send is left in `out`.
    pub fn outbound(&mut self, now: Instant, packet: &[u8], out: &mut Vec<u8>) -> Verdict {
        let dst = match ipv6_total(packet) {
            Ok(_) => {
                let mut d = [0u8; 16];
                d.copy_from_slice(&packet[24..40]);
                Ipv6Addr::from(d)
            }
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        if !self.is_anycast(&dst) {
            self.stats.out_not_anycast += 1;
            return Verdict::Drop(DropReason::NotAnycast);
        }
        self.stats.out_packets += 1;
        match self.cn.egress(now, &dst) {
            Some(care_of) => {
                if let Err(e) = insert_rh2(packet, care_of, out) {
                    self.stats.out_untranslatable += 1;
                    return Verdict::Drop(DropReason::Untranslatable(e));
                }
                self.stats.out_via_binding += 1;
            }
            None => {
                out.clear();
                out.extend_from_slice(packet);
                self.stats.out_plain += 1;
            }
        }
        self.clamp(out);
        Verdict::Uplink
    }

    /// A packet that arrived on the uplink. A packet for the kernel is left in `out`.
    pub fn inbound(&mut self, now: Instant, packet: &[u8], out: &mut Vec<u8>) -> Verdict {
        if !claimed(packet) {
            self.stats.in_ignored += 1;
            return Verdict::Ignore;
        }
        let Ok(parsed) = parse(packet) else {
            self.stats.in_malformed += 1;
            return Verdict::Drop(DropReason::Malformed);
        };
        if let Upper::Mh(_) = &parsed.repr.upper {
            self.stats.in_mh += 1;
            self.local = Some(parsed.repr.dst);
            let outcome = self.cn.handle_mh(now, &mut *self.rng, &parsed);
            let home = parsed.repr.pseudo_src();
            return Verdict::Consumed { outcome, home };
        }
        match self.cn.ingress(now, &parsed.repr) {
            Ingress::FromHome(_) => match strip_hao(packet, out) {
                Ok(_) => {
                    self.stats.in_hao_translated += 1;
                    self.clamp(out);
                    Verdict::Kernel
                }
                Err(e) => {
                    self.stats.in_malformed += 1;
                    Verdict::Drop(DropReason::Untranslatable(e))
                }
            },
            Ingress::Drop => {
                self.stats.in_hao_dropped += 1;
                Verdict::Drop(DropReason::NoBinding)
            }
            // Claimed for a HAO that `parse` then placed elsewhere: not translatable.
            Ingress::Plain => {
                self.stats.in_malformed += 1;
                Verdict::Drop(DropReason::Malformed)
            }
        }
    }

    /// The next packet the correspondent node sends (HoT, CoT, BA, BE, BRR): a whole
    /// IPv6 packet for the uplink, as is (never through a binding: RFC 6275 §5.2.5 sends
    /// the HoT to the home address).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.cn.poll_transmit()
    }

    /// When [`handle_timeout`](Translator::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cn.poll_timeout()
    }

    /// Expires bindings and sends Binding Refresh Requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        let me = self.local.unwrap_or(Ipv6Addr::UNSPECIFIED);
        self.cn.handle_timeout(now, me);
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
