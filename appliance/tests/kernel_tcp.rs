//! Interop with the Linux kernel's TCP, a peer nobody here wrote.
//!
//! Each run makes its own network namespace (`vany-k<pid>-<run>`) and a TUN device that
//! this process opens in the root namespace and then moves into the namespace, where the
//! kernel side gets `fd00:77::1/64`; vany is `fd00:77::2` on the other end of the TUN.
//! The kernel peer is `tests/kernel/peer.py` (plain sockets) run with `ip netns exec`.
//! Both sides send 64 MiB of their own deterministic bytes at once and hash, each on its
//! own, what they sent and what they received; the hashes must cross-match.
//!
//! - (a) vany listens, the kernel connects;
//! - (b) vany connects, the kernel listens;
//! - (c) as (a), but the vany side of the connection is moved at least 10 times during
//!   the transfer: removed, snapshotted, restored into a fresh `Endpoint` (other secrets,
//!   other clock base) and inserted there;
//! - (d) as (a) over a TUN device with offloads (virtio-net header, TSO6 and checksum
//!   offload): vany's TCP sends super-segments the kernel splits and takes the kernel's
//!   coalesced ones, and both must have happened (the pump's counters);
//! - (e) as (d) with offloads forced off: no super-segment either way.
//!
//! With the knobs below, over offloads a loss takes a whole super-segment or coalesced
//! segment at once (a burst of up to 45 segments).
//!
//! The kernel's TCP counters (`nstat -az` in the namespace) are printed before and after
//! each run (`cargo test -p vany-appliance --test kernel_tcp -- --nocapture`). A run
//! fails on a reset (either side), a hash mismatch, or if it takes over 120 s.
//!
//! Needs root (netns, TUN): otherwise each test prints "skipped: needs root" and passes.
//!
//! Stress knobs (off by default; this kernel has no netem, so vany's side of the TUN
//! impairs the path): `VANY_KERNEL_LOSS=<permille>` drops packets in both directions,
//! `VANY_KERNEL_DELAY_MS=<ms>` delays them one way (each direction), and
//! `VANY_KERNEL_MOVE_GAP_MS=<ms>` is how long a moved connection is in transit in run (c)
//! (default 2). `VANY_KERNEL_SEED=<u64>` picks the seeds. `VANY_KERNEL_TRACE=<file>` logs
//! every TCP segment (with a loss or delay knob set).

mod kernel;
mod kernel_impair;
mod netns_common;

use std::net::Ipv6Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant as StdInstant};

use kernel::{Peer, Stream};
use kernel_impair::{env_u64, Impaired, Impairment};
use netns_common::*;
use vany_appliance::io::{self, Clock, PacketIo, Pump, PumpStats};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{
    ConnStats, Connection, Endpoint, EndpointStats, FourTuple, TcpConfig, TSO_MAX_PAYLOAD,
};
use vany_stack::time::Instant;

const KERNEL_ADDR: &str = "fd00:77::1";
const VANY_ADDR: &str = "fd00:77::2";
/// Bytes each side sends.
const VOLUME: u64 = 64 << 20;
/// A run's transfer must finish within this.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Socket timeout of the kernel peer.
const PEER_TIMEOUT_SECS: u64 = 150;

/// The runs share the machine's two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Kernel counters printed for each run.
const COUNTERS: &[&str] = &[
    "TcpActiveOpens",
    "TcpPassiveOpens",
    "TcpInSegs",
    "TcpOutSegs",
    "TcpRetransSegs",
    "TcpInErrs",
    "TcpOutRsts",
    "TcpEstabResets",
    "TcpAttemptFails",
    "TcpExtTCPTimeouts",
    "TcpExtTCPLostRetransmit",
    "TcpExtTCPFastRetrans",
    "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPSACKReorder",
    "TcpExtTCPDSACKRecv",
    "TcpExtTCPDSACKOldSent",
    "TcpExtTCPDSACKOfoSent",
    "TcpExtTCPSpuriousRTOs",
    "TcpExtTCPLossUndo",
    "TcpExtTCPFullUndo",
    "TcpExtTCPPartialUndo",
    "TcpExtTCPSACKReneging",
    "TcpExtTCPLossProbes",
    "TcpExtTCPLossProbeRecovery",
    "TcpExtTCPOFOQueue",
    "TcpExtTCPRcvQDrop",
    "TcpExtTCPZeroWindowDrop",
    "TcpExtTCPToZeroWindowAdv",
    "TcpExtTCPWantZeroWindowAdv",
    "TcpExtPAWSEstab",
    "TcpExtTCPACKSkippedPAWS",
    "TcpExtTCPChallengeACK",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnClose",
    "TcpExtTCPAbortOnTimeout",
    "Ip6InReceives",
    "Ip6OutRequests",
    "Ip6InDiscards",
];

/// Kernel counters that must not move: any reset.
const MUST_STAY_ZERO: &[&str] = &[
    "TcpOutRsts",
    "TcpEstabResets",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnClose",
    "TcpExtTCPAbortOnTimeout",
];

/// One vany node: an endpoint and its own clock.
struct Node {
    endpoint: Endpoint,
    clock: Clock,
}

/// Moves the connection to a fresh node every `every` bytes of progress.
struct Mover {
    every: u64,
    next_at: u64,
    moves: u32,
    rng: SeededRandom,
    port: u16,
    snapshot_bytes: usize,
    max_snapshot: usize,
    /// How long the connection is "in transit" (nobody reads the TUN meanwhile).
    gap: Duration,
    /// Counters of the endpoints left behind.
    retired: Vec<EndpointStats>,
}

impl Mover {
    fn maybe_move(&mut self, node: &mut Node, tuple: FourTuple, progress: u64) {
        if progress < self.next_at {
            return;
        }
        self.next_at += self.every;
        let old_now = node.clock.now();
        let conn = node
            .endpoint
            .remove(&tuple)
            .expect("the connection to move is in the endpoint");
        let bytes = conn.snapshot_bytes(old_now).expect("encodes");
        drop(conn);
        self.snapshot_bytes += bytes.len();
        self.max_snapshot = self.max_snapshot.max(bytes.len());
        std::thread::sleep(self.gap);
        let seed = self.rng.next_u64();
        // Another node, another epoch: up to ~11.6 days ahead of zero, so the new clock
        // is sometimes behind the old one and sometimes ahead.
        let base = Instant::from_secs((self.rng.next_u64() % 1_000_000) as i64);
        let clock = Clock::new(base);
        let mut endpoint = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(seed));
        endpoint.listen(self.port);
        let conn = Connection::restore_bytes(&bytes, clock.now())
            .unwrap_or_else(|e| panic!("restoring move {}: {e}", self.moves + 1));
        endpoint
            .insert(conn)
            .unwrap_or_else(|e| panic!("inserting move {}: {e}", self.moves + 1));
        let old = std::mem::replace(node, Node { endpoint, clock });
        self.retired.push(old.endpoint.stats());
        self.moves += 1;
        println!(
            "  move {:2}: at {:6.1} MiB, snapshot {} bytes, old clock {old_now}, new clock {} (seed {seed})",
            self.moves,
            progress as f64 / (1u64 << 20) as f64,
            bytes.len(),
            node.clock.now()
        );
    }
}

enum Role {
    /// vany listens on the port, the kernel connects.
    Server { port: u16 },
    /// vany connects from `local_port` to the kernel listening on `port`.
    Client { local_port: u16, port: u16 },
}

struct Outcome {
    transfer: Duration,
    total: Duration,
    sent: u64,
    received: u64,
    sent_sha: String,
    recv_sha: String,
    conn: ConnStats,
    endpoint: Vec<EndpointStats>,
    pump: PumpStats,
    moves: u32,
    peer: serde_json::Value,
}

/// The TUN device's offloads in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offload {
    /// A device opened as by `io::open` (no virtio-net header).
    Plain,
    /// Asked for, and required: the kernel must grant them.
    On,
    /// `Tun::open_with(.., false)`: forced off.
    Off,
}

/// The run's TUN device `name` with `offload`s (required granted when asked for).
fn open_tun(name: &str, offload: Offload) -> io::Tun {
    let tun = match offload {
        Offload::Plain => io::open(name),
        Offload::On => io::Tun::open_offload(name),
        Offload::Off => io::Tun::open_with(name, false),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    println!("TUN offloads: {:?}", tun.offloads());
    if offload == Offload::On {
        assert!(
            tun.offloads().tso6,
            "this kernel refused TUN_F_TSO6 (kernel {})",
            std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()
        );
    }
    tun
}

/// One run in its own namespace. `tag` is one letter, for unique names;
/// `moves`: move the vany side between endpoints at least this many times.
fn kernel_run(tag: char, what: &str, role: Role, moves: Option<u32>) {
    kernel_run_with(tag, what, role, moves, Offload::Plain)
}

/// [`kernel_run`] with the TUN device's offloads chosen.
fn kernel_run_with(tag: char, what: &str, role: Role, moves: Option<u32>, offload: Offload) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        skip(&format!(
            "needs root (network namespaces and a TUN device) for kernel TCP run '{what}'"
        ));
        return;
    }
    remove_stale_namespaces(&["vany-k"]);
    let pid = std::process::id();
    println!("== kernel TCP run ({tag}) {what}");
    // Declared first, dropped last: the TUN device goes away with its fd before.
    let ns = Netns::create(format!("vany-k{pid}-{tag}"));
    let mut tun = open_tun(&format!("vk{pid}{tag}"), offload);
    let dev = tun.name().to_string();
    run("ip", &["link", "set", &dev, "netns", &ns.name]);
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&["link", "set", &dev, "up"]);
    ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{KERNEL_ADDR}/64"),
        "dev",
        &dev,
        "nodad",
    ]);
    println!(
        "namespace {}, TUN {dev}: kernel {KERNEL_ADDR}, vany {VANY_ADDR}",
        ns.name
    );

    let before = ns.nstat();
    let imp = Impairment::from_env();
    let seed = env_u64("VANY_KERNEL_SEED").unwrap_or_else(|| {
        0x6b65_726e_656c ^ u64::from(std::process::id()) ^ (u64::from(tag) << 40)
    });
    println!("seed {seed} (VANY_KERNEL_SEED replays it), {imp:?}");
    let outcome = if imp.is_none() {
        transfer(&ns, &mut tun, seed, imp, role, moves)
    } else {
        let mut path = Impaired::new(&mut tun, imp, seed ^ 0x6c6f_7373);
        let outcome = transfer(&ns, &mut path, seed, imp, role, moves);
        println!(
            "impairment dropped {} packets from the kernel, {} to it",
            path.rx_dropped, path.tx_dropped
        );
        outcome
    };
    let after = ns.nstat();

    println!("kernel counters (nstat -az in {}):", ns.name);
    println!(
        "  {:<28} {:>12} {:>12} {:>12}",
        "counter", "before", "after", "delta"
    );
    for name in COUNTERS {
        let b = before.get(*name).copied().unwrap_or(0);
        let a = after.get(*name).copied().unwrap_or(0);
        println!("  {name:<28} {b:>12} {a:>12} {:>12}", a as i128 - b as i128);
    }
    let outcome = outcome.unwrap_or_else(|e| panic!("run ({tag}) {what}: {e}"));
    print_outcome(&outcome);
    println!("TUN offload counters: {:?}", tun.offload_stats());
    let resets: u64 = outcome.endpoint.iter().map(|s| s.resets_sent).sum();
    if moves.is_some() {
        println!("moves: {}", outcome.moves);
    }

    // Every check after the counters are printed.
    let peer = &outcome.peer;
    assert!(
        peer["error"].is_null(),
        "kernel peer error: {}",
        peer["error"]
    );
    assert_eq!(outcome.sent, VOLUME, "vany sent");
    assert_eq!(outcome.received, VOLUME, "vany received");
    assert_eq!(peer["sent_bytes"].as_u64(), Some(VOLUME), "kernel sent");
    assert_eq!(peer["recv_bytes"].as_u64(), Some(VOLUME), "kernel received");
    assert_eq!(
        peer["recv_sha256"].as_str(),
        Some(outcome.sent_sha.as_str()),
        "what the kernel received is not what vany sent"
    );
    assert_eq!(
        peer["sent_sha256"].as_str(),
        Some(outcome.recv_sha.as_str()),
        "what vany received is not what the kernel sent"
    );
    for name in MUST_STAY_ZERO {
        let b = before.get(*name).copied().unwrap_or(0);
        let a = after.get(*name).copied().unwrap_or(0);
        assert_eq!(a, b, "kernel counter {name} moved: a reset or abort");
    }
    assert_eq!(resets, 0, "vany's endpoint(s) sent RSTs");
    let (sup, coalesced) = (outcome.pump.tx_super, outcome.pump.rx_coalesced);
    if offload == Offload::On {
        assert!(sup > 0, "no super-segment was sent with offloads on");
        assert!(coalesced > 0, "no coalesced segment was received");
        // The impairment's losses never reached the device.
        let written = tun.offload_stats().tx_super;
        assert!(
            written == sup || (!imp.is_none() && written < sup),
            "{written} {sup}"
        );
    } else {
        assert_eq!((sup, coalesced), (0, 0), "super-segments without offloads");
    }
    if let Some(min) = moves {
        assert!(
            outcome.moves >= min,
            "only {} moves, wanted {min}",
            outcome.moves
        );
    }
    drop(tun);
    drop(ns);
}

/// Prints what a run moved, its hashes and vany's counters.
fn print_outcome(outcome: &Outcome) {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let secs = outcome.transfer.as_secs_f64();
    println!(
        "vany sent {:.1} MiB, received {:.1} MiB in {secs:.2} s ({:.1} MiB/s each way, {:.1} MiB/s total); run with setup {:.2} s",
        mib(outcome.sent),
        mib(outcome.received),
        mib(outcome.sent) / secs,
        mib(outcome.sent + outcome.received) / secs,
        outcome.total.as_secs_f64()
    );
    println!("vany sent sha256     {}", outcome.sent_sha);
    println!("vany received sha256 {}", outcome.recv_sha);
    println!("kernel peer: {}", outcome.peer);
    println!("vany connection: {:?}", outcome.conn);
    let resets: u64 = outcome.endpoint.iter().map(|s| s.resets_sent).sum();
    let cookies: u64 = outcome.endpoint.iter().map(|s| s.syn_cookies_sent).sum();
    println!(
        "vany endpoints: {} (RSTs sent {resets}, SYN cookies sent {cookies})",
        outcome.endpoint.len()
    );
    println!("pump: {:?}", outcome.pump);
}

fn transfer<I: PacketIo>(
    ns: &Netns,
    tun: &mut I,
    seed: u64,
    imp: Impairment,
    role: Role,
    moves: Option<u32>,
) -> Result<Outcome, String> {
    let started = StdInstant::now();
    let deadline = started + RUN_LIMIT;
    let vany: Ipv6Addr = VANY_ADDR.parse().expect("address");
    let kernel: Ipv6Addr = KERNEL_ADDR.parse().expect("address");
    let mut seeds = SeededRandom::new(seed);
    let (ep_seed, vany_seed, kernel_seed) =
        (seeds.next_u64(), seeds.next_u64(), seeds.next_u64() >> 1);
    println!("seeds: endpoint {ep_seed}, vany stream {vany_seed}, kernel stream {kernel_seed}");

    // Super-segments only where the backend has the kernel split them.
    let config = TcpConfig {
        tso_max: if tun.segmentation_offload() {
            TSO_MAX_PAYLOAD
        } else {
            0
        },
        ..TcpConfig::default()
    };
    let mut node = Node {
        endpoint: Endpoint::new(config, &mut SeededRandom::new(ep_seed)),
        clock: Clock::new(Instant::from_secs(1000)),
    };
    let mut pump = Pump::new();
    let mut stream = Stream::new(VOLUME, vany_seed);
    let (mut peer, mut tuple, port) = match role {
        Role::Server { port } => {
            node.endpoint.listen(port);
            let peer = Peer::spawn(ns, "client", VANY_ADDR, port, kernel_seed);
            (peer, None, port)
        }
        Role::Client { local_port, port } => {
            let peer = Peer::spawn(ns, "server", KERNEL_ADDR, port, kernel_seed);
            let ready = peer.next_json(Duration::from_secs(20))?;
            if ready["ready"] != serde_json::Value::Bool(true) {
                return Err(format!("kernel peer did not get ready: {ready}"));
            }
            let t = FourTuple {
                local: vany,
                local_port,
                remote: kernel,
                remote_port: port,
            };
            node.endpoint
                .connect(node.clock.now(), t)
                .map_err(|e| e.to_string())?;
            (peer, Some(t), local_port)
        }
    };
    let mut mover = moves.map(|n| Mover {
        // Spaced so that at least `n` moves happen before the last bytes arrive.
        every: 2 * VOLUME / (u64::from(n) + 3),
        next_at: 2 * VOLUME / (u64::from(n) + 3),
        moves: 0,
        rng: SeededRandom::new(ep_seed ^ 0x6d6f_7665),
        port,
        snapshot_bytes: 0,
        max_snapshot: 0,
        gap: imp.move_gap,
        retired: Vec::new(),
    });

    let mut transfer_start = None;
    let io_err = |e: io::IoError| e.to_string();
    // Transfer until both directions are done and closed.
    let mut iterations: u64 = 0;
    loop {
        iterations += 1;
        if StdInstant::now() > deadline {
            let state = tuple.and_then(|t| node.endpoint.connection(&t)).map(|c| {
                format!(
                    "{:?} {:?} send queue {}",
                    c.state(),
                    c.stats(),
                    c.send_queue()
                )
            });
            return Err(format!(
                "not done within {RUN_LIMIT:?}: vany sent {} received {}; connection {state:?}; pump {:?}",
                stream.sent,
                stream.received,
                pump.stats()
            ));
        }
        if let Some(Err(e)) = peer.exited() {
            return Err(e);
        }
        let now = node.clock.now();
        let rx = pump.receive(tun, &mut node.endpoint, now).map_err(io_err)?;
        let timers = pump.handle_timers(&mut node.endpoint, now);
        if tuple.is_none() {
            tuple = node.endpoint.accept();
        }
        let mut progress = false;
        let mut done = false;
        if let Some(t) = tuple {
            let conn = node
                .endpoint
                .connection_mut(&t)
                .ok_or_else(|| format!("connection {t} vanished"))?;
            if transfer_start.is_none() && conn.state().is_synchronized() {
                transfer_start = Some(StdInstant::now());
                println!("connected: {t}");
            }
            progress = stream.step(conn)?;
            done = stream.done(conn);
            if let Some(m) = mover.as_mut() {
                if !done {
                    m.maybe_move(&mut node, t, stream.progress());
                }
            }
        }
        let now = node.clock.now();
        let tx = pump
            .transmit(tun, &mut node.endpoint, now)
            .map_err(io_err)?;
        if done {
            break;
        }
        if rx == 0 && tx == 0 && !timers && !progress {
            pump.wait(tun, &node.endpoint, now).map_err(io_err)?;
        }
    }
    let transfer_time = transfer_start.map_or(Duration::ZERO, |s| s.elapsed());
    println!("transfer done after {iterations} pump iterations");

    // Keep answering until the kernel peer has exited.
    let exit_deadline = (StdInstant::now() + Duration::from_secs(20)).min(deadline);
    loop {
        match peer.exited() {
            Some(Ok(())) => break,
            Some(Err(e)) => return Err(e),
            None if StdInstant::now() > exit_deadline => {
                return Err("the kernel peer did not exit after the transfer".into())
            }
            None => {}
        }
        let now = node.clock.now();
        let act = pump.poll(tun, &mut node.endpoint, now).map_err(io_err)?;
        if act.is_idle() {
            pump.wait(tun, &node.endpoint, now).map_err(io_err)?;
        }
    }
    let result = peer.next_json(Duration::from_secs(5))?;
    let t = tuple.expect("connected");
    let conn = node
        .endpoint
        .connection(&t)
        .ok_or("connection vanished at the end")?;
    let mut endpoint = Vec::new();
    let mut moved = 0;
    if let Some(m) = &mover {
        endpoint.extend_from_slice(&m.retired);
        moved = m.moves;
        println!(
            "snapshots: {} moves, {} bytes in all, largest {} bytes",
            m.moves, m.snapshot_bytes, m.max_snapshot
        );
    }
    endpoint.push(node.endpoint.stats());
    Ok(Outcome {
        transfer: transfer_time,
        total: started.elapsed(),
        sent: stream.sent,
        received: stream.received,
        sent_sha: hex::encode(stream.sent_hash.clone().finish()),
        recv_sha: hex::encode(stream.recv_hash.clone().finish()),
        conn: conn.stats(),
        endpoint,
        pump: pump.stats(),
        moves: moved,
        peer: result,
    })
}

#[test]
fn vany_server_kernel_client_64mib_each_way() {
    kernel_run(
        'a',
        "vany listens, the kernel connects, 64 MiB each way",
        Role::Server { port: 7001 },
        None,
    );
}

#[test]
fn vany_client_kernel_server_64mib_each_way() {
    kernel_run(
        'b',
        "vany connects, the kernel listens, 64 MiB each way",
        Role::Client {
            local_port: 40001,
            port: 7002,
        },
        None,
    );
}

#[test]
fn vany_server_moved_between_endpoints_mid_transfer() {
    kernel_run(
        'c',
        "vany listens, the kernel connects, 64 MiB each way, the connection moved >= 10 times",
        Role::Server { port: 7003 },
        Some(10),
    );
}

#[test]
fn tun_offloads_on_64mib_each_way() {
    kernel_run_with(
        'd',
        "vany listens, the kernel connects, 64 MiB each way, TUN offloads (TSO6, GRO)",
        Role::Server { port: 7004 },
        None,
        Offload::On,
    );
}

#[test]
fn tun_offloads_off_64mib_each_way() {
    kernel_run_with(
        'e',
        "vany connects, the kernel listens, 64 MiB each way, TUN offloads forced off",
        Role::Client {
            local_port: 40005,
            port: 7005,
        },
        None,
        Offload::Off,
    );
}
