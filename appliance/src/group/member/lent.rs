//! The node's data path on buffers the backend lends: TCP segments written where the NIC
//! will read them (a DPDK mbuf), with no allocation per packet.
//!
//! The simulator drives a member one packet at a time ([`Member::handle_packet`], output
//! as owned packets from [`Member::poll_transmit`]). The node does a receive burst in
//! two steps: [`Member::receive`] for each packet (its protocol output, rarer, still as
//! owned packets in `poll_transmit`), then once per burst [`Member::transmit_lent`]: the
//! apps run and every TCP segment due is written into a buffer the [`LendingSink`]
//! lends.

use super::*;

/// Bytes kept in front of a TCP segment for its headers: the IPv6 header and a
/// Destination Options header with a Home Address option (RFC 6275 §6.3).
pub(super) const TCP_AT: usize = 64;

/// Lends one buffer per packet (on DPDK an mbuf's data room).
pub trait LendingSink {
    /// Calls `build` with a buffer; `build` writes one packet at its start and returns
    /// the packet's length (0: none). Returns `false` when no buffer could be lent (no
    /// room): the member stops sending for now (TCP sends it later).
    /// `build` also says when the packet is a TCP super-segment the backend is to have
    /// split ([`crate::io::Segmentation`]: only with the TCP configuration's `tso_max`).
    fn lend(&mut self, build: &mut dyn FnMut(&mut [u8]) -> Built) -> bool;
}

impl Member {
    /// Takes one received packet; what it makes the member send, other than TCP
    /// segments, waits in [`Member::poll_transmit`]. Follow a burst of these with one
    /// [`transmit_lent`](Member::transmit_lent).
    pub fn receive(&mut self, now: Instant, packet: &[u8]) {
        if self.stopped {
            return;
        }
        self.now = now;
        self.handle_ipv6(now, packet, false);
    }

    /// Runs the apps and writes every TCP segment due into buffers `sink` lends (after a
    /// burst of [`receive`](Member::receive)). Returns the number of segments written.
    pub fn transmit_lent(&mut self, now: Instant, sink: &mut dyn LendingSink) -> usize {
        if self.stopped {
            return 0;
        }
        self.now = now;
        self.run_apps(now);
        let mut sent = 0;
        for _ in 0..100_000 {
            let mut done = false;
            let lent = sink.lend(&mut |buf| match self.next_tcp_packet(now, buf) {
                Some(built) => built,
                None => {
                    done = true;
                    (0, None)
                }
            });
            if done || !lent {
                break;
            }
            sent += 1;
        }
        sent
    }
}
