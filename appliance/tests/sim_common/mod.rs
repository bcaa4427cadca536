//! Test-only hosts and scenario helpers shared by the `sim_*` tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use vany_appliance::apps::{App, SourceApp};
use vany_appliance::sim::client::{Client, ClientConfig};
use vany_appliance::sim::{Host, HostId, LinkParams, Sim};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::TCP_PROTOCOL;
use vany_stack::wire::{parse_verified, PacketRepr, UdpDatagram, Upper};

/// The anycast address of the test servers.
pub fn anycast() -> Ipv6Addr {
    "fd00:aa::1".parse().unwrap()
}

/// Address of server `i`.
pub fn server_addr(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x5e, 0, 0, 0, 0, 0, i as u16 + 1)
}

/// Address of client `i`.
pub fn client_addr(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xc1, 0, 0, 0, 0, (i >> 16) as u16, i as u16)
}

/// The port the test servers serve streams on.
pub const PORT: u16 = 8000;

/// A plain TCP server (no Mobile IPv6) listening on the anycast address and its own,
/// serving [`SourceApp`] streams on request.
pub struct SourceServer {
    pub anycast: Ipv6Addr,
    pub unicast: Ipv6Addr,
    endpoint: Endpoint,
    apps: BTreeMap<FourTuple, SourceApp>,
    tx: Vec<u8>,
    more: bool,
    pub accepted: u64,
    pub finished: u64,
    pub packets_in: u64,
}

impl SourceServer {
    pub fn new(
        anycast: Ipv6Addr,
        unicast: Ipv6Addr,
        tcp: TcpConfig,
        mut rng: SeededRandom,
    ) -> Self {
        let mut endpoint = Endpoint::new(tcp, &mut rng);
        endpoint.listen(PORT);
        SourceServer {
            anycast,
            unicast,
            endpoint,
            apps: BTreeMap::new(),
            tx: vec![0; 40 + 65_536],
            more: false,
            accepted: 0,
            finished: 0,
            packets_in: 0,
        }
    }

    fn service(&mut self, now: Instant, tuple: FourTuple) {
        let Some(app) = self.apps.get_mut(&tuple) else {
            return;
        };
        let Some(conn) = self.endpoint.connection_mut(&tuple) else {
            self.apps.remove(&tuple);
            return;
        };
        while conn.poll_event().is_some() {}
        app.poll(now, conn);
        if conn.is_closed() {
            if app.is_finished() {
                self.finished += 1;
            }
            self.apps.remove(&tuple);
            self.endpoint.remove(&tuple);
        }
    }

    fn accept_all(&mut self, now: Instant) {
        while let Some(t) = self.endpoint.accept() {
            self.accepted += 1;
            self.apps.insert(t, SourceApp::requested());
            self.service(now, t);
        }
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        for _ in 0..4096 {
            let Some(t) = self.endpoint.poll_transmit(now, &mut self.tx[40..]) else {
                self.more = false;
                return;
            };
            let repr = PacketRepr::new(t.tuple.local, t.tuple.remote, Upper::None);
            let len = repr
                .emit_headers(&mut self.tx, TCP_PROTOCOL, t.len)
                .unwrap();
            out.push(self.tx[..len].to_vec());
        }
        self.more = true;
    }
}

impl Host for SourceServer {
    fn addresses(&self) -> Vec<Ipv6Addr> {
        vec![self.anycast, self.unicast]
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Vec<u8>>) {
        self.packets_in += 1;
        if let Ok(p) = parse_verified(packet) {
            if let Upper::Tcp(seg) = &p.repr.upper {
                let (src, dst) = (p.repr.pseudo_src(), p.repr.pseudo_dst());
                self.endpoint.handle_segment(now, src, dst, seg);
                self.accept_all(now);
                let tuple = FourTuple {
                    local: dst,
                    local_port: seg.dst_port,
                    remote: src,
                    remote_port: seg.src_port,
                };
                self.service(now, tuple);
            }
        }
        self.flush(now, out);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        let tuples: Vec<FourTuple> = self.apps.keys().copied().collect();
        for t in tuples {
            self.service(now, t);
        }
        self.flush(now, out);
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.more {
            return Some(Instant::ZERO);
        }
        self.apps
            .values()
            .filter_map(App::poll_at)
            .chain(self.endpoint.poll_timeout())
            .min()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A host that records what it receives and sends UDP datagrams it is told to send.
pub struct Recorder {
    pub addresses: Vec<Ipv6Addr>,
    pub received: Vec<(Instant, Vec<u8>)>,
    pub to_send: Vec<(Instant, Vec<u8>)>,
}

impl Recorder {
    pub fn new(addresses: Vec<Ipv6Addr>) -> Recorder {
        Recorder {
            addresses,
            received: Vec::new(),
            to_send: Vec::new(),
        }
    }
}

/// A checksummed UDP packet of `payload_len` bytes of payload.
pub fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
    let payload = vec![0x5a; payload_len];
    let repr = PacketRepr::new(
        src,
        dst,
        Upper::Udp(UdpDatagram {
            src_port: 1000,
            dst_port: 2000,
            payload: &payload,
        }),
    );
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    buf
}

impl Host for Recorder {
    fn addresses(&self) -> Vec<Ipv6Addr> {
        self.addresses.clone()
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8], _out: &mut Vec<Vec<u8>>) {
        self.received.push((now, packet.to_vec()));
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let (due, later): (Vec<_>, Vec<_>) = self.to_send.drain(..).partition(|(t, _)| *t <= now);
        self.to_send = later;
        out.extend(due.into_iter().map(|(_, p)| p));
    }

    fn next_wake(&self) -> Option<Instant> {
        self.to_send.iter().map(|(t, _)| *t).min()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A scenario: `servers` source servers at locations `0..servers`, and clients at
/// locations `servers..servers + regions`, each client downloading one stream.
pub struct Scenario {
    pub sim: Sim,
    pub servers: Vec<HostId>,
    pub clients: Vec<HostId>,
}

/// Parameters of [`scenario`].
#[derive(Clone)]
pub struct ScenarioParams {
    pub seed: u64,
    pub servers: usize,
    pub clients: usize,
    pub regions: usize,
    pub length: u64,
    pub rate: Option<u64>,
    /// Link template; latency is replaced by the matrix.
    pub link: LinkParams,
    /// Clients start spread over this time.
    pub spread: Duration,
}

pub fn scenario(p: &ScenarioParams) -> Scenario {
    let mut sim = Sim::new(p.seed);
    sim.set_default_link(p.link);
    // Server s at location s, region r at location servers + r: 5 ms + 7 ms per step of
    // distance, so each region has one nearest server.
    for s in 0..p.servers {
        for r in 0..p.regions {
            let distance = (r % p.servers).abs_diff(s) as u64;
            sim.set_link(
                s,
                p.servers + r,
                LinkParams {
                    latency: Duration::from_millis(5 + 7 * distance),
                    ..p.link
                },
            );
        }
        for t in 0..p.servers {
            sim.set_latency(s, t, Duration::from_millis(3 + 10 * s.abs_diff(t) as u64));
        }
    }
    let servers: Vec<HostId> = (0..p.servers)
        .map(|s| {
            let rng = sim.fork_rng();
            sim.add_host(
                Box::new(SourceServer::new(
                    anycast(),
                    server_addr(s),
                    TcpConfig::default(),
                    rng,
                )),
                s,
            )
        })
        .collect();
    let clients: Vec<HostId> = (0..p.clients)
        .map(|c| {
            let start = Instant::ZERO
                + Duration::from_micros(
                    p.spread.total_micros() * c as u64 / p.clients.max(1) as u64,
                );
            let config = ClientConfig::new(client_addr(c), anycast()).download(
                start,
                PORT,
                1000 + c as u64,
                p.length,
                p.rate,
            );
            let rng = sim.fork_rng();
            sim.add_host(
                Box::new(Client::new(config, rng)),
                p.servers + c % p.regions.max(1),
            )
        })
        .collect();
    Scenario {
        sim,
        servers,
        clients,
    }
}

impl Scenario {
    /// Runs in steps of 100 ms until every client is done or `limit` passes.
    pub fn run(&mut self, limit: Instant) -> bool {
        while self.sim.now() < limit {
            self.sim.run_for(Duration::from_millis(100));
            let done = self
                .clients
                .clone()
                .into_iter()
                .all(|c| self.sim.host_as::<Client>(c).unwrap().is_done());
            if done {
                return true;
            }
        }
        false
    }
}
