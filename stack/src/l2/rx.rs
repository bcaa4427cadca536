//! The receive side of [`Neighbors`]: frame checks, Neighbor Solicitations and
//! Advertisements (RFC 4861 §7.1, §7.2.3-§7.2.5), echo requests (RFC 4443 §4.1).

use core::net::Ipv6Addr;
use std::collections::VecDeque;

use smoltcp::phy::Medium;
use smoltcp::wire::{
    HardwareAddress, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, NdiscNeighborFlags, NdiscRepr,
    RawHardwareAddress,
};

use super::cache::{Entry, Evict, NeighborState};
use super::ethernet::{self, FrameError, Ipv6Frame, Mac, ALL_NODES};
use super::nd::{icmp_frame, na_flags, Ingress, Neighbors, ECHO_HOP_LIMIT, ND_HOP_LIMIT};
use crate::time::Instant;

/// Next Header value of ICMPv6.
const ICMPV6: u8 = 58;
const ECHO_REQUEST: u8 = 128;
const ROUTER_SOLICIT: u8 = 133;
const ROUTER_ADVERT: u8 = 134;
const NEIGHBOR_SOLICIT: u8 = 135;
const NEIGHBOR_ADVERT: u8 = 136;
const REDIRECT: u8 = 137;
/// Source and Target Link-Layer Address option types (RFC 4861 §4.6.1).
const SOURCE_LLADDR: u8 = 1;
const TARGET_LLADDR: u8 = 2;
/// ICMPv6 header plus the 16-byte target of NS and NA (RFC 4861 §4.3, §4.4).
const NS_NA_LEN: usize = 24;

/// A validated NS or NA.
struct Nd {
    src: Ipv6Addr,
    target: Ipv6Addr,
    flags: NdiscNeighborFlags,
    /// Source (NS) or target (NA) link-layer address option.
    lladdr: Option<Mac>,
}

impl Neighbors {
    /// Takes a received frame: ND and echo requests for our addresses are handled here,
    /// other IPv6 packets are passed up, everything else is dropped and counted.
    ///
    /// The common case (an IPv6 packet that is not ICMPv6) inlines into the receive
    /// loop; the rest is out of line.
    #[inline(always)]
    pub fn ingress<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Ingress<'a> {
        self.counters.rx_frames += 1;
        let f = match ethernet::parse(frame, self.cfg.mac) {
            Ok(f) => f,
            Err(e) => return self.rx_bad_frame(e),
        };
        // The Next Header byte (`parse` checked that the header is whole).
        if f.packet.get(6) == Some(&ICMPV6) {
            return self.rx_icmpv6(now, f);
        }
        self.counters.rx_ipv6 += 1;
        Ingress::Ipv6(f.packet)
    }

    /// A frame [`ethernet::parse`] refused: counted, dropped.
    #[inline(never)]
    fn rx_bad_frame(&mut self, e: FrameError) -> Ingress<'static> {
        match e {
            FrameError::NotIpv6(_) => self.counters.rx_not_ipv6 += 1,
            FrameError::NotOurMac(_) => self.counters.rx_not_our_mac += 1,
            FrameError::Truncated(_) | FrameError::BadIpv6 | FrameError::GroupSource(_) => {
                self.counters.rx_malformed += 1
            }
        }
        Ingress::Dropped
    }

    /// An ICMPv6 packet: ND and echo requests for our addresses handled here, router
    /// messages ignored, the rest passed up.
    #[inline(never)]
    fn rx_icmpv6<'a>(&mut self, now: Instant, f: Ipv6Frame<'a>) -> Ingress<'a> {
        let ip = Ipv6Packet::new_unchecked(f.packet);
        // `parse` cut the packet at its Payload Length: the payload follows the header.
        match f.packet.get(40).copied() {
            Some(NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT) => return self.rx_nd(now, &f),
            Some(ECHO_REQUEST) if self.own(ip.dst_addr()).is_some() => return self.rx_echo(&f),
            Some(ROUTER_SOLICIT | ROUTER_ADVERT | REDIRECT) => {
                self.counters.nd_ignored += 1;
                return Ingress::Dropped;
            }
            _ => {}
        }
        self.counters.rx_ipv6 += 1;
        Ingress::Ipv6(f.packet)
    }

    /// RFC 4861 §7.1.1 and §7.1.2 validity checks; `None` means dropped and counted.
    fn validate_nd(&mut self, ip: &Ipv6Packet<&[u8]>) -> Option<Nd> {
        let c = &mut self.counters;
        if ip.hop_limit() != ND_HOP_LIMIT {
            c.nd_bad_hop_limit += 1;
            return None;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let body = ip.payload();
        if body.len() < NS_NA_LEN {
            c.nd_invalid += 1;
            return None;
        }
        let icmp = Icmpv6Packet::new_unchecked(body);
        if !icmp.verify_checksum(&src, &dst) {
            c.icmp_bad_checksum += 1;
            return None;
        }
        if icmp.msg_code() != 0 {
            c.nd_bad_code += 1;
            return None;
        }
        // §7.1.1: all included options have a length greater than zero (and fit). A
        // link-layer address option is 8 bytes on Ethernet (RFC 4861 §4.6.1, RFC 2464 §6).
        let mut off = NS_NA_LEN;
        while off < body.len() {
            let len = body.get(off + 1).map_or(0, |l| usize::from(*l) * 8);
            let lladdr_option = matches!(body[off], SOURCE_LLADDR | TARGET_LLADDR);
            if len == 0 || off + len > body.len() || (lladdr_option && len != 8) {
                c.nd_bad_option += 1;
                return None;
            }
            off += len;
        }
        let (target, flags, raw) = match NdiscRepr::parse(&icmp) {
            Ok(NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            }) => (target_addr, NdiscNeighborFlags::empty(), lladdr),
            Ok(NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            }) => (target_addr, flags, lladdr),
            _ => {
                c.nd_invalid += 1;
                return None;
            }
        };
        let lladdr = match raw.map(|r: RawHardwareAddress| r.parse(Medium::Ethernet)) {
            None => None,
            Some(Ok(HardwareAddress::Ethernet(m))) => Some(m),
            Some(_) => {
                c.nd_bad_option += 1;
                return None;
            }
        };
        let is_ns = icmp.msg_type() == smoltcp::wire::Icmpv6Message::NeighborSolicit;
        let invalid = target.is_multicast()
            || (is_ns
                && src.is_unspecified()
                && (lladdr.is_some() || dst != ethernet::solicited_node(target)))
            || (!is_ns && dst.is_multicast() && flags.contains(NdiscNeighborFlags::SOLICITED))
            || src.is_multicast();
        if invalid {
            c.nd_invalid += 1;
            return None;
        }
        Some(Nd {
            src,
            target,
            flags,
            lladdr,
        })
    }

    fn rx_nd(&mut self, now: Instant, f: &Ipv6Frame<'_>) -> Ingress<'static> {
        let ip = Ipv6Packet::new_unchecked(f.packet);
        let is_ns = ip.payload().first() == Some(&NEIGHBOR_SOLICIT);
        let Some(nd) = self.validate_nd(&ip) else {
            return Ingress::Dropped;
        };
        if is_ns {
            self.rx_ns(now, f.src, nd)
        } else {
            self.rx_na(now, nd)
        }
    }

    /// RFC 4861 §7.2.3 (receipt of NS) and §7.2.4 (sending the solicited NA).
    fn rx_ns(&mut self, now: Instant, eth_src: Mac, nd: Nd) -> Ingress<'static> {
        self.counters.ns_rx += 1;
        let Some(own) = self.own(nd.target) else {
            self.counters.ns_not_ours += 1;
            return Ingress::Dropped;
        };
        if !nd.src.is_unspecified() {
            if let Some(m) = nd.lladdr {
                self.learn_from_ns(now, nd.src, m);
            }
        }
        let (ip_dst, mac_dst, solicited) = if nd.src.is_unspecified() {
            // §7.2.4: a solicitation from the unspecified address (DAD) is answered to
            // the all-nodes multicast address, with Solicited = 0.
            (ALL_NODES, ethernet::multicast_mac(ALL_NODES), false)
        } else {
            let cached = self.cache.entries.get(&nd.src).and_then(|e| e.mac);
            (nd.src, nd.lladdr.or(cached).unwrap_or(eth_src), true)
        };
        let na = NdiscRepr::NeighborAdvert {
            flags: na_flags(own, solicited),
            target_addr: nd.target,
            lladdr: Some(RawHardwareAddress::from(self.cfg.mac)),
        };
        let frame = icmp_frame(
            mac_dst,
            self.cfg.mac,
            nd.target,
            ip_dst,
            ND_HOP_LIMIT,
            &Icmpv6Repr::Ndisc(na),
        );
        self.counters.na_tx += 1;
        self.push_tx(frame);
        Ingress::Handled
    }

    /// §7.2.3: a solicitation with a source link-layer address creates a STALE entry or
    /// updates an existing one whose address changed (STALE). A new entry is only created
    /// if there is room or an unused STALE entry can be evicted (flood protection).
    fn learn_from_ns(&mut self, now: Instant, src: Ipv6Addr, mac: Mac) {
        if let Some(e) = self.cache.entries.get_mut(&src) {
            if e.mac != Some(mac) {
                self.next_timer.set(None);
                e.mac = Some(mac);
                e.state = NeighborState::Stale;
                e.since = now;
                let queue = std::mem::take(&mut e.queue);
                self.release(mac, queue);
            }
            return;
        }
        if !self.make_room(Evict::UnusedStaleOnly) {
            self.counters.cache_full += 1;
            return;
        }
        self.counters.cache_created += 1;
        self.cache.insert(
            src,
            Entry {
                mac: Some(mac),
                state: NeighborState::Stale,
                since: now,
                timer: now,
                probes: 0,
                used: false,
                queue: VecDeque::new(),
                id: 0,
            },
        );
    }

    /// RFC 4861 §7.2.5: receipt of a Neighbor Advertisement.
    fn rx_na(&mut self, now: Instant, nd: Nd) -> Ingress<'static> {
        self.counters.na_rx += 1;
        if self.own(nd.target).is_some() {
            self.counters.na_for_own_address += 1;
            return Ingress::Dropped;
        }
        let solicited = nd.flags.contains(NdiscNeighborFlags::SOLICITED);
        let override_ = nd.flags.contains(NdiscNeighborFlags::OVERRIDE);
        let Some(e) = self.cache.entries.get_mut(&nd.target) else {
            // "If no entry exists, the advertisement SHOULD be silently discarded."
            self.counters.na_unsolicited += 1;
            return Ingress::Handled;
        };
        self.next_timer.set(None);
        if e.state == NeighborState::Incomplete {
            // Without a target link-layer address, the NA is of no use here.
            let Some(m) = nd.lladdr else {
                return Ingress::Handled;
            };
            e.mac = Some(m);
            e.state = if solicited {
                NeighborState::Reachable
            } else {
                NeighborState::Stale
            };
            e.since = now;
            e.probes = 0;
            let queue = std::mem::take(&mut e.queue);
            self.release(m, queue);
            return Ingress::Handled;
        }
        let changed = nd.lladdr.is_some_and(|m| Some(m) != e.mac);
        if !override_ && changed {
            // O = 0 and a different address: a REACHABLE entry becomes STALE, the
            // address is not updated.
            if e.state == NeighborState::Reachable {
                e.state = NeighborState::Stale;
                e.since = now;
            }
            return Ingress::Handled;
        }
        if let Some(m) = nd.lladdr {
            e.mac = Some(m);
        }
        if solicited {
            e.state = NeighborState::Reachable;
            e.since = now;
            e.probes = 0;
        } else if changed {
            e.state = NeighborState::Stale;
            e.since = now;
        }
        Ingress::Handled
    }

    /// Frames and sends the packets that waited for `mac`.
    fn release(&mut self, mac: Mac, queue: VecDeque<Vec<u8>>) {
        self.queued_total = self.queued_total.saturating_sub(queue.len());
        for p in queue {
            let frame = ethernet::frame(mac, self.cfg.mac, &p);
            self.push_tx(frame);
        }
    }

    /// RFC 4443 §4.2: an echo request to one of our addresses is answered from that
    /// address with the same identifier, sequence number and data.
    fn rx_echo(&mut self, f: &Ipv6Frame<'_>) -> Ingress<'static> {
        let ip = Ipv6Packet::new_unchecked(f.packet);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let icmp = Icmpv6Packet::new_unchecked(ip.payload());
        if icmp.check_len().is_err() || ip.payload().len() < 8 {
            self.counters.echo_ignored += 1;
            return Ingress::Dropped;
        }
        if !icmp.verify_checksum(&src, &dst) {
            self.counters.icmp_bad_checksum += 1;
            return Ingress::Dropped;
        }
        if icmp.msg_code() != 0 || src.is_multicast() || src.is_unspecified() {
            self.counters.echo_ignored += 1;
            return Ingress::Dropped;
        }
        let reply = Icmpv6Repr::EchoReply {
            ident: icmp.echo_ident(),
            seq_no: icmp.echo_seq_no(),
            data: &ip.payload()[8..],
        };
        let frame = icmp_frame(f.src, self.cfg.mac, dst, src, ECHO_HOP_LIMIT, &reply);
        self.counters.echo_replies += 1;
        self.push_tx(frame);
        Ingress::Handled
    }
}
