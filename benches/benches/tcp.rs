//! TCP engine benchmarks (issue 3), vany against smoltcp in the same run:
//!
//! - `bulk/vany` and `bulk/smoltcp`: a one-way bulk transfer between two stacks over an
//!   in-memory link, MTU 1500 (same segment size, no timestamps), 256 KiB buffers on
//!   both, every segment acknowledged at once on both (so both do the same per-segment
//!   work; smoltcp's default 10 ms ACK delay would send far fewer ACKs), whole IPv6
//!   packets with checksums built and verified on both sides. Throughput is reported by criterion
//!   (bytes per second); the ratio is vany / smoltcp. vany receives through its data path
//!   (`parse_tcp_deferred` + `handle_segment_deferred`: the payload's checksum is summed in
//!   the pass that copies it into the receive buffer; a bad one is still dropped).
//! - `bulk_alternating` (printed last, not a criterion group): the same transfers, 4 MiB
//!   at a time, the two stacks taking turns, so that both see the same machine load: the
//!   ratio to trust on a machine whose load changes while `bulk` runs.
//! - `snapshot/idle` and `snapshot/unacked_64k`: snapshot + serialize + deserialize +
//!   restore of an established connection.
//! - `recv/in_order_segment`: the receive cost of one in-order full-size data segment.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::Ipv6Addr;
use std::rc::Rc;

use criterion::{BenchmarkId, Criterion, Throughput};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp as stcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, TcpRepr};
use vany_stack::tcp::{Connection, FourTuple, Seq, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::{self, PacketRepr, Upper};

const MTU: usize = 1500;
const BUFFER: usize = 256 * 1024;
const TRANSFER: usize = 32 * 1024 * 1024;

// Not parsed from text: `pump` asks for them per packet.
fn a() -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xa)
}
fn b() -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xb)
}

fn vany_config() -> TcpConfig {
    TcpConfig {
        send_buffer: BUFFER,
        recv_buffer: BUFFER,
        mtu: MTU,
        // Same segment size as smoltcp: no room kept for Mobile IPv6 headers here.
        mip6_overhead: 0,
        // smoltcp sends no timestamps by default.
        timestamps: false,
        delayed_ack: None,
        ..TcpConfig::default()
    }
}

/// Two vany connections, established, with whole IPv6 packets between them.
struct VanyPair {
    client: Connection,
    server: Connection,
    now: Instant,
    buf: Vec<u8>,
    sink: Vec<u8>,
    /// The apps write in place and read in place (`send_with`, `recv_with`) instead of
    /// copying from and to buffers of their own.
    zero_copy: bool,
}

impl VanyPair {
    fn new() -> Self {
        let cfg = vany_config();
        let ct = FourTuple {
            local: a(),
            local_port: 40000,
            remote: b(),
            remote_port: 80,
        };
        let st = FourTuple {
            local: b(),
            local_port: 80,
            remote: a(),
            remote_port: 40000,
        };
        let now = Instant::from_secs(1);
        let mut client = Connection::connect(&cfg, ct, Seq(1), now);
        let mut buf = vec![0u8; 65536];
        let n = client.poll_transmit(now, &mut buf[40..]).unwrap();
        let syn = TcpRepr::parse(
            &smoltcp::wire::TcpPacket::new_checked(&buf[40..40 + n]).unwrap(),
            &IpAddress::Ipv6(a()),
            &IpAddress::Ipv6(b()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        )
        .unwrap();
        let server = Connection::accept(&cfg, st, Seq(99), now, &syn);
        let mut pair = VanyPair {
            client,
            server,
            now,
            buf,
            sink: vec![0u8; BUFFER],
            zero_copy: false,
        };
        pair.pump();
        pair
    }

    /// Moves packets both ways until both are quiet; returns bytes read by the server.
    fn pump(&mut self) -> usize {
        let mut read = 0;
        for c in [&mut self.client, &mut self.server] {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.handle_timeout(self.now);
            }
        }
        loop {
            let mut moved = false;
            for to_server in [true, false] {
                let (from, to, src, dst) = if to_server {
                    (&mut self.client, &mut self.server, a(), b())
                } else {
                    (&mut self.server, &mut self.client, b(), a())
                };
                // The IPv6 header template, built once per burst rather than per packet.
                let hdr = PacketRepr::new(src, dst, Upper::None);
                while let Some(n) = from.poll_transmit(self.now, &mut self.buf[40..]) {
                    moved = true;
                    let len = hdr.emit_headers(&mut self.buf, 6, n).unwrap();
                    // The TCP data path's parse: a segment's payload checksum is
                    // verified while the receiver copies it in.
                    match wire::parse_tcp_deferred(&self.buf[..len]) {
                        Ok(Some(input)) => match input.deferred {
                            Some(check) => assert!(
                                to.handle_segment_deferred(self.now, &input.segment, check),
                                "vany sent a bad checksum"
                            ),
                            None => to.handle_segment(self.now, &input.segment),
                        },
                        Ok(None) => panic!("vany sent a packet that is not TCP"),
                        Err(e) => panic!("vany sent a bad packet: {e}"),
                    }
                }
            }
            loop {
                let got = if self.zero_copy {
                    // A sink that consumes the bytes where they lie.
                    self.server.recv_with(|piece| piece.len())
                } else {
                    self.server.recv(&mut self.sink)
                };
                match got {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        read += n;
                        moved = true;
                    }
                }
            }
            if !moved {
                return read;
            }
        }
    }

    fn transfer(&mut self, bytes: usize) -> usize {
        let data = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        let mut read = 0;
        let mut rounds = 0;
        while read < bytes {
            rounds += 1;
            assert!(rounds < 10_000_000);
            if sent < bytes {
                let want = (bytes - sent).min(data.len());
                sent += if self.zero_copy {
                    // An app that generates its bytes writes them in place.
                    self.client
                        .send_with(want, |piece| {
                            piece.fill(0x5a);
                            piece.len()
                        })
                        .unwrap()
                } else {
                    self.client.send(&data[..want]).unwrap()
                };
            }
            read += self.pump();
            self.now = self.now + Duration::from_micros(10);
        }
        read
    }
}

// ---- smoltcp over an in-memory device ----------------------------------------------------

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

struct Pipe {
    rx: Queue,
    tx: Queue,
}

struct Rx(Vec<u8>);
struct Tx(Queue);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut v = vec![0u8; len];
        let r = f(&mut v);
        self.0.borrow_mut().push_back(v);
        r
    }
}

impl Device for Pipe {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, _: SInstant) -> Option<(Rx, Tx)> {
        let p = self.rx.borrow_mut().pop_front()?;
        Some((Rx(p), Tx(self.tx.clone())))
    }

    fn transmit(&mut self, _: SInstant) -> Option<Tx> {
        Some(Tx(self.tx.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

struct SmolPair {
    dev_a: Pipe,
    dev_b: Pipe,
    iface_a: Interface,
    iface_b: Interface,
    sockets_a: SocketSet<'static>,
    sockets_b: SocketSet<'static>,
    client: smoltcp::iface::SocketHandle,
    server: smoltcp::iface::SocketHandle,
    now: SInstant,
    sink: Vec<u8>,
    /// smoltcp's own in-place calls (`send`/`recv` with a closure) instead of
    /// `send_slice`/`recv_slice`.
    zero_copy: bool,
}

impl SmolPair {
    fn new() -> Self {
        let ab: Queue = Rc::default();
        let ba: Queue = Rc::default();
        let mut dev_a = Pipe {
            rx: ba.clone(),
            tx: ab.clone(),
        };
        let mut dev_b = Pipe { rx: ab, tx: ba };
        let now = SInstant::from_millis(1000);
        let mut iface_a = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut dev_a, now);
        iface_a.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(IpAddress::Ipv6(a()), 64)).unwrap();
        });
        let mut iface_b = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut dev_b, now);
        iface_b.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(IpAddress::Ipv6(b()), 64)).unwrap();
        });
        let socket = || {
            let mut s = stcp::Socket::new(
                stcp::SocketBuffer::new(vec![0u8; BUFFER]),
                stcp::SocketBuffer::new(vec![0u8; BUFFER]),
            );
            s.set_ack_delay(None);
            s.set_nagle_enabled(false);
            s
        };
        let mut sockets_a = SocketSet::new(vec![]);
        let mut sockets_b = SocketSet::new(vec![]);
        let mut server_socket = socket();
        server_socket.listen(80).unwrap();
        let server = sockets_b.add(server_socket);
        let mut client_socket = socket();
        client_socket
            .connect(iface_a.context(), (IpAddress::Ipv6(b()), 80), 40000)
            .unwrap();
        let client = sockets_a.add(client_socket);
        let mut pair = SmolPair {
            dev_a,
            dev_b,
            iface_a,
            iface_b,
            sockets_a,
            sockets_b,
            client,
            server,
            now,
            sink: vec![0u8; BUFFER],
            zero_copy: false,
        };
        for _ in 0..20 {
            pair.pump();
        }
        assert!(
            pair.sockets_a.get::<stcp::Socket>(client).may_send(),
            "smoltcp handshake"
        );
        pair
    }

    fn pump(&mut self) -> usize {
        let mut read = 0;
        for _ in 0..4 {
            self.iface_a
                .poll(self.now, &mut self.dev_a, &mut self.sockets_a);
            self.iface_b
                .poll(self.now, &mut self.dev_b, &mut self.sockets_b);
            let s = self.sockets_b.get_mut::<stcp::Socket>(self.server);
            loop {
                let got = if self.zero_copy {
                    s.recv(|piece| (piece.len(), piece.len()))
                } else {
                    s.recv_slice(&mut self.sink)
                };
                match got {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        }
        read
    }

    fn transfer(&mut self, bytes: usize) -> usize {
        let data = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        let mut read = 0;
        let mut rounds = 0;
        while read < bytes {
            rounds += 1;
            assert!(rounds < 10_000_000);
            if sent < bytes {
                let want = (bytes - sent).min(data.len());
                let s = self.sockets_a.get_mut::<stcp::Socket>(self.client);
                if self.zero_copy {
                    // smoltcp lends one contiguous piece per call: two calls cover a wrap.
                    let mut wrote = 0;
                    for _ in 0..2 {
                        let room = want - wrote;
                        wrote += s
                            .send(|piece| {
                                let n = piece.len().min(room);
                                piece[..n].fill(0x5a);
                                (n, n)
                            })
                            .unwrap_or(0);
                    }
                    sent += wrote;
                } else {
                    sent += s.send_slice(&data[..want]).unwrap_or(0);
                }
            }
            read += self.pump();
            self.now += smoltcp::time::Duration::from_micros(10);
        }
        read
    }
}

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Bytes(TRANSFER as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("vany", "32MiB"), |bench| {
        let mut pair = VanyPair::new();
        bench.iter(|| black_box(pair.transfer(TRANSFER)));
    });
    g.bench_function(BenchmarkId::new("smoltcp", "32MiB"), |bench| {
        let mut pair = SmolPair::new();
        bench.iter(|| black_box(pair.transfer(TRANSFER)));
    });
    g.finish();
}

/// The CPU's model name (`/proc/cpuinfo`): the ratio differs between machines of one
/// kind (Intel, AMD), so every figure names its CPU.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Medians and fastest deciles of `runs` throughputs, in Gbit/s.
fn spread(mut gbits: Vec<f64>) -> (f64, f64) {
    // Fastest first: the 10th percentile of times is the 90th of throughputs.
    gbits.sort_by(|a, b| b.total_cmp(a));
    (gbits[gbits.len() / 2], gbits[gbits.len() / 10])
}

/// `bulk` again, with the two stacks taking turns, printed after criterion's groups:
/// `ALTERNATING_RUNS` transfers of `ALTERNATING_BYTES` each way, vany's and smoltcp's
/// alternating (and again with the apps writing and reading in place), each timed on its own. Criterion measures all of vany's samples, then all
/// of smoltcp's, seconds apart; on a shared machine whose load changes from second to
/// second that ratio swings, while here both stacks see the same load.
fn bulk_alternating() {
    const ALTERNATING_BYTES: usize = 4 * 1024 * 1024;
    const ALTERNATING_RUNS: usize = 200;
    let mut vany = VanyPair::new();
    let mut smol = SmolPair::new();
    let mut vany_zc = VanyPair::new();
    vany_zc.zero_copy = true;
    let mut smol_zc = SmolPair::new();
    smol_zc.zero_copy = true;
    // In the order the results are read below: both stacks copying, then in place.
    let mut stacks: [&mut dyn FnMut(usize) -> usize; 4] = [
        &mut |b| vany.transfer(b),
        &mut |b| smol.transfer(b),
        &mut |b| vany_zc.transfer(b),
        &mut |b| smol_zc.transfer(b),
    ];
    for transfer in stacks.iter_mut() {
        transfer(TRANSFER);
    }
    let mut runs: [Vec<f64>; 4] = Default::default();
    for _ in 0..ALTERNATING_RUNS {
        for (transfer, gbits) in stacks.iter_mut().zip(runs.iter_mut()) {
            let start = std::time::Instant::now();
            let bytes = transfer(ALTERNATING_BYTES);
            gbits.push(bytes as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9);
        }
    }
    let [v, s, vz, sz] = runs.map(spread);
    println!(
        "bulk_alternating on {}, {} CPUs: see README.md (Development) for the profile \
         with memcpy included",
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "bulk_alternating ({ALTERNATING_RUNS} x 4 MiB each, taking turns): \
         vany {:.1} Gbit/s median ({:.1} fastest decile), \
         smoltcp {:.1} Gbit/s median ({:.1} fastest decile), \
         ratio {:.2} median ({:.2} fastest decile)",
        v.0,
        v.1,
        s.0,
        s.1,
        v.0 / s.0,
        v.1 / s.1,
    );
    println!(
        "bulk_alternating zero-copy (apps write and read in place: vany send_with/recv_with, \
         smoltcp send/recv with a closure): vany {:.1} Gbit/s median ({:.1} fastest decile), \
         smoltcp {:.1} ({:.1}); vany zero-copy / smoltcp copying {:.2} median, \
         / smoltcp in place {:.2} median",
        vz.0,
        vz.1,
        sz.0,
        sz.1,
        vz.0 / s.0,
        vz.0 / sz.0,
    );
}

fn snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    let idle = VanyPair::new();
    let now = idle.now;
    println!(
        "snapshot size, idle: {} bytes",
        idle.server.snapshot_bytes(now).unwrap().len()
    );
    g.bench_function("idle", |bench| {
        bench.iter(|| {
            let bytes = idle.server.snapshot_bytes(now).unwrap();
            black_box(Connection::restore_bytes(&bytes, Instant::from_secs(77)).unwrap())
        })
    });
    // 64 KiB sent and not yet acknowledged.
    let mut busy = VanyPair::new();
    busy.client.send(&vec![1u8; 64 * 1024]).unwrap();
    let mut scratch = vec![0u8; 2048];
    while busy.client.poll_transmit(busy.now, &mut scratch).is_some() {}
    assert!(busy.client.send_queue() >= 64 * 1024);
    println!(
        "snapshot size, 64 KiB unacknowledged: {} bytes",
        busy.client.snapshot_bytes(busy.now).unwrap().len()
    );
    g.bench_function("unacked_64k", |bench| {
        bench.iter(|| {
            let bytes = busy.client.snapshot_bytes(busy.now).unwrap();
            black_box(Connection::restore_bytes(&bytes, Instant::from_secs(77)).unwrap())
        })
    });
    g.finish();
}

fn receive(c: &mut Criterion) {
    // One full in-order segment into an established connection whose reader keeps up.
    let mut pair = VanyPair::new();
    let seg_payload = vec![7u8; 1440];
    let mut sink = vec![0u8; 4096];
    let mut seq = 0u32;
    let base = {
        // The server's RCV.NXT: the client's next sequence number.
        let mut tmp = vec![0u8; 2048];
        pair.client.send(b"x").unwrap();
        let n = pair.client.poll_transmit(pair.now, &mut tmp).unwrap();
        let r = TcpRepr::parse(
            &smoltcp::wire::TcpPacket::new_checked(&tmp[..n]).unwrap(),
            &IpAddress::Ipv6(a()),
            &IpAddress::Ipv6(b()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        )
        .unwrap();
        pair.server.handle_segment(pair.now, &r);
        pair.server.recv(&mut sink).unwrap();
        (r.seq_number.0 as u32).wrapping_add(1)
    };
    c.bench_function("recv/in_order_segment", |bench| {
        bench.iter(|| {
            let repr = TcpRepr {
                src_port: 40000,
                dst_port: 80,
                control: smoltcp::wire::TcpControl::None,
                seq_number: smoltcp::wire::TcpSeqNumber(base.wrapping_add(seq) as i32),
                // The server's ISS is 99: its SYN took 99, so SND.UNA is 100.
                ack_number: Some(smoltcp::wire::TcpSeqNumber(100)),
                window_len: 65535,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None; 3],
                timestamp: None,
                payload: &seg_payload,
            };
            seq = seq.wrapping_add(1440);
            pair.server.handle_segment(pair.now, black_box(&repr));
            pair.server.recv(&mut sink).unwrap();
        })
    });
}

// `criterion_main!(criterion_group!(..))` spelled out: the macro's `pub fn` has no doc
// comment, which the workspace's `missing_docs` lint would flag.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bulk(&mut c);
    snapshot(&mut c);
    receive(&mut c);
    c.final_summary();
    // Only on a benchmark run whose filter (if any) selects it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench")
        && !args.iter().any(|a| a == "--test" || a == "--list")
        && args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .all(|f| "bulk_alternating".contains(f.as_str()));
    if benchmarking {
        bulk_alternating();
    }
}
