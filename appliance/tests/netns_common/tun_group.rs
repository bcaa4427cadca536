//! Several in-process members on one TUN device, driven by the test's own loop: what
//! `vany node` does for one member, for a whole group (`client_tun.rs`,
//! `client_pmtu_netns.rs`). Packets between members stay inside; everything else goes
//! out through the TUN.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::Duration;

use vany_appliance::demo::ANYCAST;
use vany_appliance::group::member::Member;
use vany_appliance::group::peer::MemberId;
use vany_appliance::io::{self, Clock, PacketIo};

pub fn dst_of(p: &[u8]) -> Option<Ipv6Addr> {
    let b: [u8; 16] = p.get(24..40)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

/// The group side: members and the TUN they share.
pub struct Group {
    pub members: Vec<Member>,
    pub by_addr: BTreeMap<Ipv6Addr, usize>,
    pub tun: io::Tun,
    pub clock: Clock,
    pub queue: VecDeque<Vec<u8>>,
    pub out: Vec<Vec<u8>>,
    pub to_tun: u64,
    pub from_tun: u64,
    pub internal: u64,
}

impl Group {
    /// Members (the first one the contact node) with their care-of addresses, on `tun`.
    pub fn new(
        members: Vec<Member>,
        by_addr: BTreeMap<Ipv6Addr, usize>,
        tun: io::Tun,
        clock: Clock,
    ) -> Group {
        Group {
            members,
            by_addr,
            tun,
            clock,
            queue: VecDeque::new(),
            out: Vec::new(),
            to_tun: 0,
            from_tun: 0,
            internal: 0,
        }
    }

    /// The member a packet to `dst` goes to: the owner of the care-of address, or the
    /// contact node for the anycast address.
    pub fn owner(&self, dst: Ipv6Addr) -> Option<usize> {
        if dst == ANYCAST {
            return Some(0);
        }
        self.by_addr.get(&dst).copied()
    }

    pub fn route_outputs(&mut self) {
        for p in self.out.drain(..) {
            let internal =
                dst_of(&p).is_some_and(|d| d != ANYCAST && self.by_addr.contains_key(&d));
            if internal {
                self.internal += 1;
                self.queue.push_back(p);
            } else if self.tun.send(&p).unwrap_or(false) {
                self.to_tun += 1;
            }
        }
    }

    /// One round: read the TUN, deliver, run due timers. Returns whether anything moved.
    pub fn step(&mut self, buf: &mut [u8]) -> bool {
        let now = self.clock.now();
        let mut busy = false;
        for _ in 0..256 {
            match self.tun.recv(buf) {
                Ok(Some(n)) => {
                    self.from_tun += 1;
                    self.queue.push_back(buf[..n].to_vec());
                }
                Ok(None) => break,
                Err(e) => panic!("group TUN: {e}"),
            }
        }
        for _ in 0..100_000 {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            busy = true;
            if let Some(i) = dst_of(&p).and_then(|d| self.owner(d)) {
                self.members[i].handle_packet(now, &p);
                self.take_output(i);
                self.route_outputs();
            }
        }
        for i in 0..self.members.len() {
            if self.members[i].poll_timeout().is_some_and(|t| t <= now) {
                self.members[i].handle_timeout(now);
                self.take_output(i);
                self.route_outputs();
                busy = true;
            }
        }
        busy
    }

    /// Moves what member `i` made into the packets to route.
    fn take_output(&mut self, i: usize) {
        while let Some(p) = self.members[i].poll_transmit() {
            self.out.push(p);
        }
    }

    pub fn wait(&mut self) {
        let now = self.clock.now();
        let next = self.members.iter().filter_map(|m| m.poll_timeout()).min();
        let us = next.map_or(2000, |t| t.saturating_since(now).total_micros().min(2000));
        let _ = self.tun.wait(Duration::from_micros(us));
    }

    pub fn serving(&self, client: Ipv6Addr) -> Vec<MemberId> {
        self.members
            .iter()
            .filter(|m| m.clients().contains(&client))
            .map(|m| m.id())
            .collect()
    }
}
