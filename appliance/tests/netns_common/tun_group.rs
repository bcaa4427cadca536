//! Several in-process members on one TUN device, driven by the test's own loop: what
//! `vany node` does for one member, for a whole group (`client_tun.rs`,
//! `client_pmtu_netns.rs`). Packets between members stay inside; everything else goes
//! out through the TUN.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use vany_appliance::demo::{self, ANYCAST};
use vany_appliance::group::member::Member;
use vany_appliance::group::peer::MemberId;
use vany_appliance::io::{self, Clock, PacketIo};
use vany_stack::time::Instant;

use super::{kernel_download, Download, Fetch};

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
    /// The members `vany demo` configures (member 1 the contact node), at `addrs`, on
    /// `tun`, at simulated time 100 s; member `id` seeded `seed + id`.
    pub fn demo(addrs: &BTreeMap<MemberId, Ipv6Addr>, tun: io::Tun, seed: u64) -> Group {
        let clock = Clock::new(Instant::from_secs(100));
        let members = addrs
            .keys()
            .map(|&id| {
                let cfg = demo::member_config(
                    id,
                    &format!("m{id}"),
                    id == 1,
                    addrs,
                    seed + u64::from(id),
                );
                Member::new(cfg, clock.now())
            })
            .collect();
        let by_addr = addrs
            .iter()
            .map(|(id, a)| (*a, usize::from(id - 1)))
            .collect();
        Group::new(members, by_addr, tun, clock)
    }

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

    /// One round, or a wait when nothing happened.
    pub fn step_or_wait(&mut self, buf: &mut [u8]) {
        if !self.step(buf) {
            self.wait();
        }
    }

    /// Runs the group for `time` (after a download: the last commit and FIN-ACK).
    pub fn run_for(&mut self, buf: &mut [u8], time: Duration) {
        let until = StdInstant::now() + time;
        // Bounded by `time`.
        while StdInstant::now() < until {
            self.step_or_wait(buf);
        }
    }

    /// Runs the group until `download` ends (failing after `limit`, with `context()` in
    /// the message), asking member moves on the way: `(fraction, to)` moves the client's
    /// session to member `to` once that fraction of the download arrived and the
    /// session is settled at one other member. Returns the moves asked, (from, to), and
    /// the rounds run.
    pub fn run_download(
        &mut self,
        download: &KernelDownload,
        client: Ipv6Addr,
        moves: &[(f64, MemberId)],
        limit: Duration,
        context: impl Fn() -> String,
    ) -> (Vec<(MemberId, MemberId)>, u64) {
        let mut buf = vec![0u8; io::MAX_PACKET];
        let mut asked = Vec::new();
        let mut rounds = 0;
        let deadline = StdInstant::now() + limit;
        while !download.done() {
            assert!(
                StdInstant::now() < deadline,
                "download not done within {limit:?}: {} of {} bytes; serving {:?}; {}",
                download.bytes(),
                download.length,
                self.serving(client),
                context()
            );
            rounds += 1;
            self.step_or_wait(&mut buf);
            // The next move, once the previous one has settled at its acceptor.
            let Some(&(at, to)) = moves.get(asked.len()) else {
                continue;
            };
            let got = download.bytes();
            let serving = self.serving(client);
            if got as f64 >= at * download.length as f64 && serving.len() == 1 && serving[0] != to {
                let from = serving[0];
                let t = self.clock.now();
                self.members[usize::from(from - 1)].manual_move(client, to);
                println!(
                    "move {}: {from} -> {to} at {:.1} MiB ({t})",
                    asked.len() + 1,
                    got as f64 / (1u64 << 20) as f64
                );
                asked.push((from, to));
            }
        }
        (asked, rounds)
    }
}

/// An unmodified kernel TCP client in namespace `ns` downloading a `source` stream from
/// the anycast address, port 80, in a thread of its own.
pub struct KernelDownload {
    /// Bytes asked for.
    pub length: u64,
    progress: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: JoinHandle<Download>,
}

impl KernelDownload {
    /// Starts downloading `length` bytes of stream `id` (connect within 10 s, no read
    /// stalling 20 s).
    pub fn start(ns: &str, id: u64, length: u64) -> KernelDownload {
        let progress = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let (ns, progress, done) = (ns.to_string(), Arc::clone(&progress), Arc::clone(&done));
            std::thread::spawn(move || {
                let fetch = Fetch {
                    to: SocketAddr::V6(SocketAddrV6::new(ANYCAST, 80, 0, 0)),
                    id,
                    length,
                    rate: None,
                    connect_timeout: Duration::from_secs(10),
                    read_timeout: Duration::from_secs(20),
                    read_rate: None,
                };
                let d = kernel_download(&ns, fetch, progress);
                done.store(true, Ordering::Relaxed);
                d
            })
        };
        KernelDownload {
            length,
            progress,
            done,
            thread,
        }
    }

    /// Bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Whether the download has ended (well or not).
    pub fn done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// What the download got.
    pub fn join(self) -> Download {
        self.thread.join().expect("the download thread")
    }
}
