//! A member's output on the peer channel: messages sealed straight into IPv6/UDP
//! packets in recycled buffers, client packets to forward gathered per burst
//! (`Forwards`), acknowledgements and retransmissions.

use super::*;

impl Member {
    /// Sends a peer message (kept and sent again until acknowledged unless it is an
    /// `Ack` or a `Forward`); returns its sequence number.
    pub(super) fn send_peer(&mut self, to: MemberId, body: PeerBody) -> u64 {
        self.send_outgoing(to, Outgoing::Body(&body))
    }

    /// Seals `msg` for member `to` straight into IPv6 packets (behind room for their
    /// headers, in recycled buffers when there are any) and queues them, after the
    /// client packets gathered to forward (which keeps the order the member said things
    /// in).
    pub(super) fn send_outgoing(&mut self, to: MemberId, msg: Outgoing<'_>) -> u64 {
        self.flush_forwards();
        self.seal_outgoing(to, msg)
    }

    /// Seals and queues `msg` for member `to` (see [`send_outgoing`](Self::send_outgoing)).
    pub(super) fn seal_outgoing(&mut self, to: MemberId, msg: Outgoing<'_>) -> u64 {
        let Some(&dst) = self.cfg.members.get(&to) else {
            return 0;
        };
        if to == self.cfg.id {
            return 0;
        }
        let mut sealed = std::mem::take(&mut self.sealed);
        let seq = self.peer.send_into(
            self.now,
            to,
            msg,
            PEER_HEADROOM,
            &mut self.spare,
            &mut sealed,
        );
        for packet in sealed.drain(..) {
            self.emit_sealed(dst, packet);
        }
        self.sealed = sealed;
        seq
    }

    /// Passes a client's packet on to member `to` (naming handoff `transfer`, 0 for
    /// none), counted. Packets for the same member are gathered until the driver takes
    /// the member's output ([`Member::poll_transmit`]) or the member sends something
    /// else, and go as one `Forwards` under one MAC: a burst of small packets costs one
    /// datagram, not one each. A lone packet goes as a `Forward`, as does one too large
    /// to share a datagram.
    pub(super) fn forward_packet(&mut self, to: MemberId, transfer: u64, packet: &[u8]) {
        self.stats.forwarded += 1;
        if self.forwards.push(to, transfer, packet, FORWARDS_ROOM) {
            return;
        }
        self.flush_forwards();
        if !self.forwards.push(to, transfer, packet, FORWARDS_ROOM) {
            self.seal_outgoing(to, Outgoing::Forward { transfer, packet });
        }
    }

    /// Seals and queues the client packets gathered to forward.
    pub(super) fn flush_forwards(&mut self) {
        if self.forwards.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.forwards);
        if batch.len() > 1 {
            self.stats.forward_batches += 1;
        }
        self.seal_outgoing(batch.to(), batch.outgoing());
        self.forwards = batch;
        self.forwards.clear();
    }

    /// Acknowledgements the peer channel owes, and messages due to be sent again.
    pub(super) fn flush_peer(&mut self, now: Instant) {
        for (to, seqs) in self.peer.take_acks(now) {
            self.send_peer(to, PeerBody::Ack { seqs });
        }
        for (to, datagram) in self.peer.poll_retransmit(now) {
            if let Some(&dst) = self.cfg.members.get(&to) {
                self.emit_peer_datagram(dst, &datagram);
            }
        }
    }

    /// Queues a peer datagram (sent again) in an IPv6 packet to `dst`.
    pub(super) fn emit_peer_datagram(&mut self, dst: Ipv6Addr, datagram: &[u8]) {
        let mut packet = self.spare.pop().unwrap_or_default();
        packet.clear();
        packet.resize(PEER_HEADROOM, 0);
        packet.extend_from_slice(datagram);
        self.emit_sealed(dst, packet);
    }

    /// Queues `packet`, a peer datagram behind [`PEER_HEADROOM`] bytes, once its IPv6
    /// and UDP headers (to `dst`) are written in front of it.
    pub(super) fn emit_sealed(&mut self, dst: Ipv6Addr, mut packet: Vec<u8>) {
        let src = self.cfg.care_of;
        let Some(udp) = packet.get_mut(IPV6_HEADER_LEN..) else {
            return;
        };
        let Ok(udp_len) = u16::try_from(udp.len()) else {
            return;
        };
        if udp.len() < UDP_HEADER_LEN {
            return;
        }
        udp[0..2].copy_from_slice(&PEER_PORT.to_be_bytes());
        udp[2..4].copy_from_slice(&PEER_PORT.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        // RFC 8200 §8.1: a computed zero is sent as 0xffff.
        let sum = match checksum::upper_layer(&src, &dst, UDP_PROTOCOL, udp, 6) {
            0 => 0xffff,
            s => s,
        };
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
        let repr = PacketRepr::new(src, dst, Upper::None);
        if repr
            .emit_headers(&mut packet, UDP_PROTOCOL, usize::from(udp_len))
            .is_ok()
        {
            self.outbox.push_back(packet);
        }
    }

    /// Takes back a packet buffer the driver is done with (one [`Member::poll_transmit`]
    /// returned): peer datagrams are sealed into it, sparing an allocation each. At most
    /// [`MAX_SPARE`] are kept.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buf.capacity() <= MAX_SPARE_CAPACITY {
            self.spare.push(buf);
        }
    }
}
