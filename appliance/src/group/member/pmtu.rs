//! ICMPv6 Packet Too Big for the member's TCP connections (RFC 8201, RFC 4443 §3.2):
//! given to the TCP endpoint when this member serves the client, forwarded like the
//! client's own packets when another member does (docs/handoff.md).

use vany_stack::wire::packet::Icmpv6Message;
use vany_stack::wire::PacketTooBigRepr;

use super::*;

impl Member {
    /// An ICMPv6 message for this member (`packet` is the whole IPv6 packet, as received
    /// or as a donor or the contact node forwarded it). A Packet Too Big about a TCP
    /// segment sent from the anycast address (directly, or from a care-of address with
    /// the anycast address in its Home Address option) to a client goes to the
    /// connection: the client is the quoted destination, or the address in the quoted
    /// RH2. Anything else is dropped and counted.
    pub(super) fn handle_icmpv6(
        &mut self,
        now: Instant,
        packet: &[u8],
        msg: &Icmpv6Message<'_>,
        forwarded: bool,
    ) {
        let Ok(ptb) = PacketTooBigRepr::parse(msg.msg_type, msg.body) else {
            self.stats.dropped += 1;
            return;
        };
        if ptb.home_src() != self.cfg.anycast || ptb.tcp.is_none() {
            self.stats.ptb_ignored += 1;
            return;
        }
        let client = ptb.home_dst();
        if let Some(to) = self.ptb_forward_to(now, client, forwarded) {
            let transfer = self
                .sessions
                .get(&client)
                .and_then(|s| s.handoff.frozen())
                .map_or(0, |f| f.transfer);
            self.forward_packet(to, transfer, packet);
            return;
        }
        if self
            .tcp
            .handle_packet_too_big(now, self.cfg.anycast, client, &ptb)
        {
            self.stats.ptb_accepted += 1;
        } else {
            self.stats.ptb_ignored += 1;
        }
    }

    /// Where a Packet Too Big about `client`'s connections goes instead of this member's
    /// endpoint: the acceptor while the session is frozen for a handoff; for a client
    /// this member does not hold, the member it was handed to lately (`moved`) or, at the
    /// contact node, the member that said it serves the client.
    fn ptb_forward_to(&self, now: Instant, client: Ipv6Addr, forwarded: bool) -> Option<MemberId> {
        let me = self.cfg.id;
        let session = self.sessions.get(&client);
        if let Some(f) = session.and_then(|s| s.handoff.frozen()) {
            return Some(f.to);
        }
        if forwarded || session.is_some_and(|s| !s.conns.is_empty()) {
            return None;
        }
        let moved = self
            .moved
            .get(&client)
            .filter(|(_, until)| *until > now)
            .map(|(to, _)| *to);
        moved
            .or_else(|| self.contact.serving_member(&client))
            .filter(|to| *to != me)
    }
}
