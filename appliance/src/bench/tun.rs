//! `vany bench tun`: vany's TUN backend and TCP engine next to the kernel's TCP.
//!
//! The run builds five network namespaces (`vanyb<pid>-t`, `-v1`, `-v2`, `-f1`, `-f2`),
//! all removed at its end:
//!
//! ```text
//!  vany (this process) ── TUN vb<pid>t ── [t]  kernel fd00:6b::1, vany fd00:6b::2
//!  [v1] fd00:6b:1::1 ── veth vb<pid>v1/vb<pid>v2 ── [v2] fd00:6b:1::2
//!  [f1] fd00:6b:2::1 ── TUN vb<pid>f1 ── vany forwarder ── TUN vb<pid>f2 ── [f2] fd00:6b:2::2
//! ```
//!
//! and measures, in this order (see [`super::report`] for the fields):
//!
//! 1. raw TX: vany writes IPv6/UDP packets (64 bytes, then MTU-sized) into the TUN for
//!    `seconds` each; a kernel UDP socket in `t` receives them;
//! 2. raw RX: a kernel UDP socket in `t` floods vany's address; vany reads the TUN;
//! 3. vany's TCP sends `mib` MiB to a kernel socket in `t`, then the reverse;
//! 4. the kernel's TCP over the veth pair, `v1` to `v2`;
//! 5. the kernel's TCP through the two TUN devices and vany's forwarder, `f1` to `f2`;
//!
//! and gives the ratio of each vany TCP row to each kernel TCP row.

use std::io::Write;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use vany_stack::tcp::{TcpConfig, TSO_MAX_PAYLOAD};

use super::kernel::{self, Datagrams, Received};
use super::netns::{self, spawn_in, Netns};
use super::raw::{self, RawCount};
use super::report::{self, RawRow, ReportConfig, TcpRow, TunReport};
use super::vany_tcp::{self, Setup};
use super::{forward, join, BenchError, Cancel, Deadline};
use crate::io::{self, PacketIo, Tun};

/// Size of the small packets of the raw phases (IPv6 + UDP headers + 16 bytes).
pub const SMALL_PACKET: usize = 64;

/// What `vany bench tun` is asked to do.
#[derive(Debug, Clone)]
pub struct TunBenchOptions {
    /// MiB each TCP transfer moves.
    pub mib: u64,
    /// Seconds of each raw packet-rate phase.
    pub seconds: f64,
    /// Packets per burst of vany's TUN backend (raw phases, pump, forwarder).
    pub batch: usize,
    /// MTU of every TUN and veth device (vany's TCP derives its MSS from it).
    pub mtu: u32,
    /// Ask the kernel for TUN offloads on vany's TUN device (virtio-net header,
    /// `TUN_F_CSUM | TUN_F_TSO6`): vany's TCP then sends super-segments the kernel
    /// splits and receives the kernel's coalesced segments. The forwarder's two devices
    /// stay plain.
    pub offload: bool,
}

impl Default for TunBenchOptions {
    fn default() -> Self {
        TunBenchOptions {
            mib: 256,
            seconds: 2.0,
            batch: 64,
            mtu: 1500,
            offload: true,
        }
    }
}

const T_KERNEL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 0, 0, 0, 0, 0, 1);
const T_VANY: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 0, 0, 0, 0, 0, 2);
const V1: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 1, 0, 0, 0, 0, 1);
const V2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 1, 0, 0, 0, 0, 2);
const F1: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 2, 0, 0, 0, 0, 1);
const F2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6b, 2, 0, 0, 0, 0, 2);

fn sa(ip: Ipv6Addr, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(ip, port, 0, 0)
}

/// The devices and namespaces of a run. Field order is drop order: the TUN devices
/// close before their namespaces are deleted.
struct Lab {
    tun: Tun,
    fwd_a: Tun,
    fwd_b: Tun,
    t: Netns,
    v1: Netns,
    v2: Netns,
    f1: Netns,
    f2: Netns,
}

impl Lab {
    fn build(mtu: u32, offload: bool) -> Result<Lab, BenchError> {
        netns::remove_stale();
        let pid = std::process::id();
        // Namespaces first: if anything below fails, they are deleted on the way out.
        let t = Netns::create("t")?;
        let (v1, v2) = (Netns::create("v1")?, Netns::create("v2")?);
        let (f1, f2) = (Netns::create("f1")?, Netns::create("f2")?);
        let tun = Tun::open_with(&format!("vb{pid}t"), offload)?;
        let fwd_a = io::open(&format!("vb{pid}f1"))?;
        let fwd_b = io::open(&format!("vb{pid}f2"))?;
        t.adopt(tun.name())?;
        t.configure(tun.name(), mtu, &format!("{T_KERNEL}/64"))?;
        let (va, vb) = (format!("vb{pid}v1"), format!("vb{pid}v2"));
        netns::veth(&v1, &va, &v2, &vb)?;
        v1.configure(&va, mtu, &format!("{V1}/64"))?;
        v2.configure(&vb, mtu, &format!("{V2}/64"))?;
        f1.adopt(fwd_a.name())?;
        f2.adopt(fwd_b.name())?;
        f1.configure(fwd_a.name(), mtu, &format!("{F1}/64"))?;
        f2.configure(fwd_b.name(), mtu, &format!("{F2}/64"))?;
        Ok(Lab {
            tun,
            fwd_a,
            fwd_b,
            t,
            v1,
            v2,
            f1,
            f2,
        })
    }
}

/// Waits for a kernel thread's "ready"; if it never comes, its error.
fn await_ready<T>(
    ready: &mpsc::Receiver<()>,
    handle: JoinHandle<Result<T, BenchError>>,
    what: &str,
) -> Result<JoinHandle<Result<T, BenchError>>, BenchError> {
    match ready.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => Ok(handle),
        Err(_) => match join(handle, what) {
            Err(e) => Err(e),
            Ok(_) => Err(BenchError::Timeout {
                what: format!("{what} getting ready"),
                limit: Duration::from_secs(10),
            }),
        },
    }
}

/// Of a failed vany side and the kernel side's result, the error that explains more:
/// the kernel's, unless it only gave up because vany failed.
fn blame<T, U>(
    vany: Result<T, BenchError>,
    peer: Result<U, BenchError>,
) -> Result<(T, U), BenchError> {
    match (vany, peer) {
        (Ok(v), Ok(p)) => Ok((v, p)),
        (Err(BenchError::Interrupted), _) | (_, Err(BenchError::Interrupted)) => {
            Err(BenchError::Interrupted)
        }
        (Err(v), Err(BenchError::Abandoned(_))) => Err(v),
        (_, Err(p)) => Err(p),
        (Err(v), Ok(_)) => Err(v),
    }
}

fn raw_tx(
    lab: &mut Lab,
    size: usize,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<(RawCount, Datagrams), BenchError> {
    let phase = cancel.phase();
    let (ready_tx, ready) = mpsc::channel();
    let p = phase.clone();
    let counter = spawn_in(&lab.t, "udp-counter", move || {
        kernel::udp_count(sa(T_KERNEL, 9000), ready_tx, p)
    });
    let counter = await_ready(&ready, counter, "the kernel UDP receiver")?;
    let packet = raw::udp_packet(sa(T_VANY, 9002), sa(T_KERNEL, 9000), size);
    let dur = Duration::from_secs_f64(opts.seconds);
    let sent = raw::transmit(&mut lab.tun, &packet, opts.batch, dur, cancel);
    // Let the receiver empty its socket buffer before it stops counting.
    std::thread::sleep(Duration::from_millis(200));
    phase.stop_phase();
    let got = join(counter, "UDP receiver");
    raw::drain(&mut lab.tun)?;
    blame(sent, got)
}

fn raw_rx(
    lab: &mut Lab,
    size: usize,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<(RawCount, Datagrams), BenchError> {
    let phase = cancel.phase();
    let p = phase.clone();
    let payload = size.saturating_sub(raw::MIN_PACKET);
    let flood = spawn_in(&lab.t, "udp-flood", move || {
        kernel::udp_flood(sa(T_KERNEL, 9003), sa(T_VANY, 9001), payload, p)
    });
    let dur = Duration::from_secs_f64(opts.seconds);
    let got = raw::receive(
        &mut lab.tun,
        9001,
        opts.batch,
        dur,
        Duration::from_secs(5),
        cancel,
    );
    phase.stop_phase();
    let sent = join(flood, "UDP flood");
    // What the flood left in the device's queue.
    std::thread::sleep(Duration::from_millis(50));
    raw::drain(&mut lab.tun)?;
    blame(got, sent)
}

fn tcp_limit(opts: &TunBenchOptions) -> Duration {
    // Generous: 4 MiB/s would be a broken path, not a slow one.
    Duration::from_secs(30 + opts.mib / 4)
}

/// vany's side over a backend: super-segments (`tso_max`) when `tso` (the backend
/// splits them).
fn vany_setup(opts: &TunBenchOptions, tso: bool) -> Setup {
    let config = TcpConfig {
        mtu: opts.mtu as usize,
        // The same MSS as the kernel's on the same MTU (no room kept for RH2/HAO).
        mip6_overhead: 0,
        tso_max: if tso { TSO_MAX_PAYLOAD } else { 0 },
        ..TcpConfig::default()
    };
    Setup {
        local: T_VANY,
        config,
        batch: opts.batch,
        seed: u64::from(std::process::id()) ^ 0x6265_6e63_6821,
    }
}

fn vany_to_kernel(
    lab: &mut Lab,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<TcpRow, BenchError> {
    let names = RowNames {
        id: "vany_to_kernel".into(),
        description: "vany's TCP engine (Pump over the TUN backend) sends to a kernel socket \
                      in the namespace"
            .into(),
        path: "vany TCP -> TUN -> kernel TCP".into(),
    };
    vany_to_kernel_on(&mut lab.tun, &lab.t, opts, cancel, names)
}

/// What a TCP row is called.
pub(super) struct RowNames {
    /// Its stable id.
    pub id: String,
    /// What it measures.
    pub description: String,
    /// The path, sender first.
    pub path: String,
}

/// A backend whose vany TCP is measured both ways against a kernel ([`both_ways`]).
pub(super) struct Backend<'a> {
    /// The rows' id prefix (`tun`, `af_packet`, ...).
    pub tag: &'a str,
    /// The path's middle (`TUN`, `DPDK af_packet`, ...).
    pub via: &'a str,
    /// What the rows measure.
    pub description: &'a str,
}

/// vany's TCP over `io` to a kernel socket in `ns` and back (rows
/// `{tag}_vany_to_kernel`, `{tag}_kernel_to_vany`); each direction announced on `log`.
pub(super) fn both_ways<I: PacketIo>(
    io: &mut I,
    ns: &Netns,
    backend: &Backend<'_>,
    opts: &TunBenchOptions,
    cancel: &Cancel,
    log: &mut dyn Write,
) -> Result<Vec<TcpRow>, BenchError> {
    let Backend {
        tag,
        via,
        description,
    } = backend;
    let mut rows = Vec::new();
    for to_kernel in [true, false] {
        cancel.check()?;
        let (direction, path) = if to_kernel {
            ("vany_to_kernel", format!("vany TCP -> {via} -> kernel TCP"))
        } else {
            ("kernel_to_vany", format!("kernel TCP -> {via} -> vany TCP"))
        };
        let _ = writeln!(log, "vany bench dpdk: {path}, {} MiB", opts.mib);
        let names = RowNames {
            id: format!("{tag}_{direction}"),
            description: description.to_string(),
            path,
        };
        rows.push(if to_kernel {
            vany_to_kernel_on(io, ns, opts, cancel, names)?
        } else {
            kernel_to_vany_on(io, ns, opts, cancel, names)?
        });
    }
    Ok(rows)
}

/// vany's TCP over `io` sends `mib` MiB to a kernel socket at [`T_KERNEL`] in `ns`
/// (vany is [`T_VANY`] on the same link): the row called `names`.
fn vany_to_kernel_on<I: PacketIo>(
    io: &mut I,
    ns: &Netns,
    opts: &TunBenchOptions,
    cancel: &Cancel,
    names: RowNames,
) -> Result<TcpRow, BenchError> {
    let phase = cancel.phase();
    let deadline = Deadline::after(tcp_limit(opts));
    let (ready_tx, ready) = mpsc::channel();
    let p = phase.clone();
    let sink = spawn_in(ns, "tcp-sink", move || {
        kernel::tcp_sink(sa(T_KERNEL, 5001), ready_tx, p, deadline)
    });
    let sink = await_ready(&ready, sink, "the kernel TCP receiver")?;
    let total = opts.mib << 20;
    let v = vany_tcp::send(
        io,
        &vany_setup(opts, io.segmentation_offload()),
        40001,
        sa(T_KERNEL, 5001),
        total,
        &|| sink.is_finished(),
        cancel,
        deadline,
    );
    phase.stop_phase();
    let k = join(sink, "TCP receiver");
    raw::drain(io)?;
    let (v, k): (_, Received) = blame(v, k)?;
    let secs = k.elapsed.as_secs_f64();
    let mut row = TcpRow::new(&names.id, &names.description, &names.path, k.bytes, secs);
    row.set_pump(&v.pump);
    Ok(row)
}

fn kernel_to_vany(
    lab: &mut Lab,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<TcpRow, BenchError> {
    let names = RowNames {
        id: "kernel_to_vany".into(),
        description: "a kernel socket in the namespace sends to vany's TCP engine (Pump \
                      over the TUN backend)"
            .into(),
        path: "kernel TCP -> TUN -> vany TCP".into(),
    };
    kernel_to_vany_on(&mut lab.tun, &lab.t, opts, cancel, names)
}

/// A kernel socket in `ns` sends `mib` MiB to vany's TCP at [`T_VANY`] over `io`: the
/// row called `names`.
fn kernel_to_vany_on<I: PacketIo>(
    io: &mut I,
    ns: &Netns,
    opts: &TunBenchOptions,
    cancel: &Cancel,
    names: RowNames,
) -> Result<TcpRow, BenchError> {
    let phase = cancel.phase();
    let deadline = Deadline::after(tcp_limit(opts));
    let total = opts.mib << 20;
    let p = phase.clone();
    let source = spawn_in(ns, "tcp-source", move || {
        kernel::tcp_source(sa(T_VANY, 5002), total, p, deadline)
    });
    let v = vany_tcp::receive(
        io,
        &vany_setup(opts, io.segmentation_offload()),
        5002,
        &|| source.is_finished(),
        cancel,
        deadline,
    );
    phase.stop_phase();
    let k = join(source, "TCP sender");
    raw::drain(io)?;
    let (v, _) = blame(v, k)?;
    let secs = v.elapsed.as_secs_f64();
    let mut row = TcpRow::new(&names.id, &names.description, &names.path, v.bytes, secs);
    row.set_pump(&v.pump);
    Ok(row)
}

/// The kernel's side of a vany-to-kernel link in a namespace of its own: `dev` (a TUN
/// device or DPDK's tap, already in this process's namespace) moved into `ns` and given
/// [`T_KERNEL`]/64; vany is [`T_VANY`].
pub(super) fn kernel_side(ns: &Netns, dev: &str, mtu: u32) -> Result<(), BenchError> {
    ns.adopt(dev)?;
    ns.configure(dev, mtu, &format!("{T_KERNEL}/64"))
}

/// vany's address and the kernel's on the link of [`kernel_side`].
pub(super) const VANY_ADDR: Ipv6Addr = T_VANY;
/// The kernel's address there.
pub(super) const KERNEL_ADDR: Ipv6Addr = T_KERNEL;

/// vany TCP to and from a kernel socket over a TUN device, in a namespace of its own:
/// the two TCP rows of `vany bench tun`, for benches that compare another backend.
pub(super) fn tcp_over_tun(
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<Vec<TcpRow>, BenchError> {
    let ns = Netns::create("tt")?;
    let mut tun = io::open(&format!("vb{}tt", std::process::id()))?;
    kernel_side(&ns, tun.name(), opts.mtu)?;
    let backend = Backend {
        tag: "tun",
        via: "TUN",
        description: "vany's TCP (Pump over the TUN backend) and a kernel socket in a \
                      namespace",
    };
    // Announced by the caller as a whole.
    both_ways(&mut tun, &ns, &backend, opts, cancel, &mut std::io::sink())
}

fn kernel_to_kernel(
    from: &Netns,
    to: &Netns,
    to_addr: SocketAddrV6,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<Received, BenchError> {
    let phase = cancel.phase();
    let deadline = Deadline::after(tcp_limit(opts));
    let (ready_tx, ready) = mpsc::channel();
    let p = phase.clone();
    let sink = spawn_in(to, "tcp-sink", move || {
        kernel::tcp_sink(to_addr, ready_tx, p, deadline)
    });
    let sink = await_ready(&ready, sink, "the kernel TCP receiver")?;
    let total = opts.mib << 20;
    let p = phase.clone();
    let source = spawn_in(from, "tcp-source", move || {
        kernel::tcp_source(to_addr, total, p, deadline)
    });
    let sent = join(source, "TCP sender");
    if sent.is_err() {
        phase.stop_phase();
    }
    let got = join(sink, "TCP receiver");
    blame(sent, got).map(|(_, got)| got)
}

fn kernel_veth(lab: &Lab, opts: &TunBenchOptions, cancel: &Cancel) -> Result<TcpRow, BenchError> {
    let k = kernel_to_kernel(&lab.v1, &lab.v2, sa(V2, 5003), opts, cancel)?;
    Ok(TcpRow::new(
        "kernel_veth",
        "kernel socket to kernel socket over a veth pair between two namespaces (same \
         MTU; veth keeps the kernel's TSO/GSO, so it moves up to 64 KiB per packet)",
        "kernel TCP -> veth -> kernel TCP",
        k.bytes,
        k.elapsed.as_secs_f64(),
    ))
}

fn kernel_tun_fwd(
    lab: &mut Lab,
    opts: &TunBenchOptions,
    cancel: &Cancel,
) -> Result<TcpRow, BenchError> {
    let fwd_cancel = cancel.phase();
    let Lab {
        fwd_a,
        fwd_b,
        f1,
        f2,
        ..
    } = lab;
    let (k, fwd) = std::thread::scope(|s| {
        let c = fwd_cancel.clone();
        let fwd = s.spawn(move || forward::forward(fwd_a, fwd_b, opts.batch, &c));
        let k = kernel_to_kernel(f1, f2, sa(F2, 5004), opts, cancel);
        fwd_cancel.stop_phase();
        let fwd = fwd
            .join()
            .map_err(|_| BenchError::Panicked("forwarder".into()))
            .and_then(|r| r);
        (k, fwd)
    });
    let (k, fwd) = blame(k, fwd)?;
    let mut row = TcpRow::new(
        "kernel_tun_fwd",
        "kernel socket to kernel socket through two TUN devices, vany's TUN backend \
         forwarding between them in userspace (no offloads on TUN: MTU-sized packets, \
         as vany's TCP)",
        "kernel TCP -> TUN -> vany forwarder -> TUN -> kernel TCP",
        k.bytes,
        k.elapsed.as_secs_f64(),
    );
    row.tun_packets = fwd.a_to_b + fwd.b_to_a;
    row.tun_pps = if row.seconds > 0.0 {
        row.tun_packets as f64 / row.seconds
    } else {
        0.0
    };
    Ok(row)
}

fn raw_row(id: &str, description: &str, size: usize, c: RawCount, k: Datagrams) -> RawRow {
    let secs = c.elapsed.as_secs_f64();
    RawRow {
        id: id.into(),
        description: description.into(),
        packet_bytes: size,
        packets: c.packets,
        seconds: secs,
        pps: c.pps(),
        gbit_per_s: c.gbit_per_s(),
        dropped: c.dropped,
        kernel_packets: k.packets,
        kernel_pps: if secs > 0.0 {
            k.packets as f64 / secs
        } else {
            0.0
        },
    }
}

/// Runs every measurement (see the module doc). Progress lines go to `progress`.
pub fn run(
    opts: &TunBenchOptions,
    cancel: &Cancel,
    progress: &mut dyn Write,
) -> Result<TunReport, BenchError> {
    if !super::is_root() {
        return Err(BenchError::NotRoot { what: "tun" });
    }
    let mut say = |s: &str| {
        let _ = writeln!(progress, "vany bench tun: {s}");
    };
    let mtu = opts.mtu.clamp(1280, 65535);
    let opts = &TunBenchOptions {
        mtu,
        ..opts.clone()
    };
    say("setting up namespaces, TUN and veth devices");
    let mut lab = Lab::build(mtu, opts.offload)?;
    let offloads = offload_words(opts.offload, lab.tun.offloads());
    say(&format!("vany's TUN device: {offloads}"));
    let mut raws = Vec::new();
    for (size, tag) in [(SMALL_PACKET, "small"), (mtu as usize, "mtu")] {
        cancel.check()?;
        say(&format!("raw TX, {size}-byte packets"));
        let (c, k) = raw_tx(&mut lab, size, opts, cancel)?;
        raws.push(raw_row(
            &format!("tun_tx_{tag}"),
            "vany writes IPv6/UDP packets into the TUN device in bursts of --batch (counted: \
             writes the device accepted); a kernel UDP socket in the namespace receives them",
            size,
            c,
            k,
        ));
    }
    for (size, tag) in [(SMALL_PACKET, "small"), (mtu as usize, "mtu")] {
        cancel.check()?;
        say(&format!("raw RX, {size}-byte packets"));
        let (c, k) = raw_rx(&mut lab, size, opts, cancel)?;
        raws.push(raw_row(
            &format!("tun_rx_{tag}"),
            "a kernel UDP socket in the namespace floods vany's address; vany reads the TUN \
             device in bursts of --batch (counted: UDP packets read, after the first)",
            size,
            c,
            k,
        ));
    }
    let mut tcp = Vec::new();
    say(&format!("TCP vany -> kernel, {} MiB", opts.mib));
    tcp.push(vany_to_kernel(&mut lab, opts, cancel)?);
    say(&format!("TCP kernel -> vany, {} MiB", opts.mib));
    tcp.push(kernel_to_vany(&mut lab, opts, cancel)?);
    say(&format!("TCP kernel -> kernel over veth, {} MiB", opts.mib));
    tcp.push(kernel_veth(&lab, opts, cancel)?);
    say(&format!(
        "TCP kernel -> kernel through TUN + vany forwarder, {} MiB",
        opts.mib
    ));
    tcp.push(kernel_tun_fwd(&mut lab, opts, cancel)?);
    drop(lab);
    let ratios = report::ratios(
        &tcp,
        &["vany_to_kernel", "kernel_to_vany"],
        &["kernel_tun_fwd", "kernel_veth"],
    );
    Ok(TunReport {
        config: ReportConfig {
            mib: opts.mib,
            seconds: opts.seconds,
            batch: opts.batch,
            mtu,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: super::cpu_model(),
            offloads,
        },
        raw: raws,
        tcp,
        ratios,
        notes: notes(),
    })
}

/// The offloads of vany's TUN device, in words.
fn offload_words(asked: bool, got: vany_ffi::tun::TunOffloads) -> String {
    if !asked {
        "none (--offload off)".into()
    } else if got.tso6 {
        "virtio-net header, TUN_F_CSUM + TUN_F_TSO6 (super-segments both ways)".into()
    } else {
        "none (the kernel refused TUN_F_TSO6: a plain TUN device)".into()
    }
}

fn notes() -> Vec<String> {
    [
        "raw: bytes and Gbit/s count whole IPv6 packets (IPv6 header included; a TUN device \
         has no link-layer header); one write(2) or read(2) per packet",
        "TCP: payload bytes, timed by the receiver from accept to end of stream; vany's \
         TCP uses the same MSS as the kernel's (no room kept for Mobile IPv6 headers)",
        "with TUN offloads, a TUN packet of a vany row may be a super-segment of up to 64 KiB \
         (super_sent: vany's, which the kernel splits; coalesced_received: the kernel's); \
         the raw rows then carry a 10-byte virtio-net header per packet as well",
        "kernel_tun_fwd is the comparable path for vany's TCP: every packet crosses the \
         kernel/user boundary through a TUN device, as vany's do; it runs three busy \
         threads (sender, receiver, forwarder) where the vany rows run two",
        "kernel_veth never leaves the kernel and uses TSO/GSO: an upper bound, not a peer",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
