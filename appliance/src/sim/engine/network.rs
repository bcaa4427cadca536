//! The simulated network between hosts: anycast routing to the nearest up host, the
//! links' latency, jitter, loss and MTU (with ICMPv6 Packet Too Big from the near end),
//! and delivery.

use super::*;

impl Sim {
    /// The host a packet from `from_location` to `dst` goes to.
    pub(super) fn route(&mut self, from_location: usize, dst: Ipv6Addr) -> Option<HostId> {
        let owners = self.routes.get(&dst)?;
        match owners.as_slice() {
            [] => None,
            [only] => Some(*only),
            many => {
                if let Some(&h) = self.route_cache.get(&(from_location, dst)) {
                    return Some(h);
                }
                // Owners are sorted by id, and `min_by_key` keeps the first of equals.
                let best = many
                    .iter()
                    .copied()
                    .min_by_key(|&h| self.link(from_location, self.hosts[h].location).latency)?;
                self.route_cache.insert((from_location, dst), best);
                Some(best)
            }
        }
    }

    pub(super) fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    pub(super) fn delay_upto(&mut self, max: Duration) -> Duration {
        match max.total_micros() {
            0 => Duration::ZERO,
            m => Duration::from_micros(self.rng.next_u64() % (m + 1)),
        }
    }

    pub(super) fn capture_packet(&mut self, id: HostId, packet: &[u8]) {
        let now = self.now;
        if let Some(c) = &mut self.hosts[id].capture {
            if let Err(e) = c.write_packet(now, packet) {
                self.hosts[id].capture = None;
                self.capture_error.get_or_insert(e);
            }
        }
    }

    /// Puts a packet sent by `from` now on its path.
    pub(super) fn send(&mut self, from: HostId, packet: Vec<u8>) {
        self.stats.sent += 1;
        self.capture_packet(from, &packet);
        let Some(dst) = destination(&packet) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let from_location = self.hosts[from].location;
        let Some(to) = self.route(from_location, dst) else {
            self.stats.dropped.no_route += 1;
            return;
        };
        if let Some(filter) = &mut self.filter {
            let info = PacketInfo {
                at: self.now,
                from,
                to,
                packet: &packet,
            };
            if !filter(&info) {
                self.stats.dropped.filtered += 1;
                return;
            }
        }
        let link = self.link(from_location, self.hosts[to].location);
        if packet.len() > link.mtu {
            self.stats.dropped.mtu += 1;
            if link.packet_too_big {
                self.packet_too_big(to, &packet, link.mtu);
            }
            return;
        }
        if self.chance(link.loss) {
            self.stats.dropped.loss += 1;
            return;
        }
        if self.chance(link.duplicate) {
            self.stats.duplicated += 1;
            let at = self.arrival(from, to, &link, packet.len());
            self.push(
                at,
                EventKind::Deliver {
                    from,
                    to,
                    packet: packet.clone(),
                },
            );
        }
        let at = self.arrival(from, to, &link, packet.len());
        self.push(at, EventKind::Deliver { from, to, packet });
    }

    /// A router at `near`'s end of the path answers `packet` with a Packet Too Big for
    /// `mtu`, quoting as much of it as fits in 1280 bytes (RFC 4443 §2.4 (c), §3.2), to
    /// its source, routed from `near`'s location (for an anycast source, the nearest
    /// owner). It is neither lost nor filtered.
    pub(super) fn packet_too_big(&mut self, near: HostId, packet: &[u8], mtu: usize) {
        let Some(src) = source(packet) else {
            return;
        };
        let mtu = mtu.min(u32::MAX as usize) as u32;
        let ptb = PacketTooBigRepr::emit_packet(PTB_ROUTER, src, mtu, packet);
        let location = self.hosts[near].location;
        let Some(back) = self.route(location, src) else {
            return;
        };
        let latency = self.link(location, self.hosts[back].location).latency;
        self.stats.packet_too_big += 1;
        let at = self.now + latency;
        self.push(
            at,
            EventKind::Deliver {
                from: near,
                to: back,
                packet: ptb,
            },
        );
    }

    /// When a packet of `len` bytes sent now from `from` to `to` arrives.
    pub(super) fn arrival(
        &mut self,
        from: HostId,
        to: HostId,
        link: &LinkParams,
        len: usize,
    ) -> Instant {
        let jitter = self.delay_upto(link.jitter);
        let reordered = self.chance(link.reorder);
        let extra = if reordered {
            self.stats.reordered += 1;
            self.delay_upto(link.reorder_delay)
        } else {
            Duration::ZERO
        };
        if link.jitter == Duration::ZERO && link.bandwidth.is_none() {
            // Constant delay keeps the path in order by itself.
            return self.now + link.latency + extra;
        }
        let now = self.now;
        let path = self.paths.entry((from, to)).or_default();
        let mut depart = now;
        if let Some(rate) = link.bandwidth.filter(|&r| r > 0) {
            let tx = (len as u128 * 1_000_000).div_ceil(u128::from(rate)) as u64;
            depart = now.max(path.busy_until) + Duration::from_micros(tx);
            path.busy_until = depart;
        }
        let at = depart + link.latency + jitter;
        if reordered {
            at + extra
        } else {
            let at = at.max(path.last_arrival);
            path.last_arrival = at;
            at
        }
    }

    pub(super) fn deliver(&mut self, from: HostId, to: HostId, packet: Vec<u8>) {
        if !self.hosts[to].up {
            self.stats.dropped.host_down += 1;
            return;
        }
        self.stats.events += 1;
        self.stats.delivered += 1;
        self.stats.delivered_bytes += packet.len() as u64;
        self.fold_digest(from, to, &packet);
        self.capture_packet(to, &packet);
        let mut out = std::mem::take(&mut self.out);
        self.hosts[to]
            .host
            .handle_packet(self.now, &packet, &mut out);
        self.after_call(to, &mut out);
        self.out = out;
    }
}
