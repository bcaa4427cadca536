//! `vany bench dpdk`: packet rate through vany's DPDK backend ([`crate::io::dpdk`]) on
//! `net_null` devices (no NIC needed), next to `dpdk-testpmd` on the same devices.
//!
//! vany's phases, one core (this thread, EAL's main lcore), each --seconds, for 64-byte
//! and 1500-byte frames, over two `net_null` ports A and B:
//! - rx-only: `rx_each` on A and B in turn (each frame through layer 2 and read in its
//!   mbuf);
//! - tx-only: `send_with` on A and B in turn (each IPv6 packet written into a lent mbuf,
//!   the Ethernet header in front of it), handed to the device in bursts;
//! - io-forward: what A receives is sent on B and the other way round, through
//!   `PacketIo::forward_to` (each frame through layer 2, then the received mbuf itself
//!   sent behind the next hop's Ethernet header: nothing copied).
//!
//! Then the packet paths ([`super::dpdk_paths`]): `vany client`'s translation (RH2
//! inserted, HAO stripped) and a group member's forwarding, each from a port of its own
//! to port A.
//!
//! `net_null` receive hands out pool mbufs without writing them, so each pool is first
//! primed with a valid frame ([`DpdkIo::prime_pool`]): every frame vany receives passes
//! the Ethernet and IPv6 length checks a real one would.
//!
//! Then `dpdk-testpmd` in io, rxonly and txonly mode with the same EAL arguments (but
//! only the two ports of that size, and two lcores: its main one and one forwarding
//! core), and vany / testpmd per mode.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::dpdk_cores::{self, CoreRow};
use super::dpdk_paths::{self, PathRow, Paths};
use super::dpdk_tcp;
use super::report::TcpRow;
use super::testpmd::{self, Mode};
use super::{BenchError, Cancel};

use crate::io::dpdk::{DpdkIo, ETHERNET_HEADER_LEN};
use crate::io::{Ipv6Header, Lent, PacketIo, IPV6_HEADER_LEN};

/// Options of a run.
#[derive(Debug, Clone)]
pub struct DpdkBenchOptions {
    /// Seconds of each phase.
    pub seconds: f64,
    /// Frame sizes (Ethernet header included, no FCS), each 54 to 2048; at most
    /// [`MAX_SIZES`].
    pub sizes: Vec<usize>,
    /// Frames per burst.
    pub burst: usize,
    /// Skip testpmd.
    pub no_testpmd: bool,
    /// MiB of each TCP transfer over DPDK and over TUN (0: no TCP rows).
    pub tcp_mib: u64,
}

/// Most frame sizes in one run: each takes five `net_null` ports, and DPDK has 32
/// (the core scaling takes four more, the TCP rows two).
pub const MAX_SIZES: usize = 5;

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `vany` or `testpmd`.
    pub who: &'static str,
    /// `rx-only`, `tx-only` or `io-fwd`.
    pub mode: &'static str,
    /// Frame size in bytes.
    pub size: usize,
    /// Frames handled (received, sent, or forwarded).
    pub packets: u64,
    /// Seconds measured.
    pub secs: f64,
    /// Million frames per second (one core).
    pub mpps: f64,
    /// Nanoseconds per frame.
    pub ns_per_packet: f64,
}

impl Row {
    fn new(who: &'static str, mode: &'static str, size: usize, packets: u64, secs: f64) -> Row {
        let secs = secs.max(1e-9);
        Row {
            who,
            mode,
            size,
            packets,
            secs,
            mpps: packets as f64 / secs / 1e6,
            ns_per_packet: if packets == 0 {
                0.0
            } else {
                secs * 1e9 / packets as f64
            },
        }
    }
}

/// vany over testpmd for one mode and size.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The mode.
    pub mode: &'static str,
    /// Frame size.
    pub size: usize,
    /// vany's Mpps / testpmd's.
    pub vany_over_testpmd: f64,
}

/// The report (also the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct DpdkReport {
    /// The CPU's model name.
    pub cpu: String,
    /// vany's EAL arguments.
    pub eal: Vec<String>,
    /// Seconds per phase.
    pub seconds: f64,
    /// Frames per burst.
    pub burst: usize,
    /// The measurements.
    pub rows: Vec<Row>,
    /// The packet paths (client translation, member forwarding).
    pub paths: Vec<PathRow>,
    /// vany / testpmd.
    pub ratios: Vec<Ratio>,
    /// io-forward on 1 and 2 cores (the first frame size).
    pub cores: Vec<CoreRow>,
    /// Mpps on 2 cores / on 1.
    pub two_core_scaling: Option<f64>,
    /// vany TCP to and from a kernel socket, over DPDK (af_packet, tap) and over TUN.
    pub tcp: Vec<TcpRow>,
    /// Each TCP direction over DPDK / over TUN.
    pub tcp_dpdk_over_tun: Vec<TcpRatio>,
    /// What is counted, in words.
    pub notes: Vec<String>,
}

/// vany TCP over DPDK against over TUN, one direction.
#[derive(Debug, Clone, Serialize)]
pub struct TcpRatio {
    /// The DPDK port: `af_packet` or `tap`.
    pub port: &'static str,
    /// `vany_to_kernel` or `kernel_to_vany`.
    pub direction: &'static str,
    /// Gbit/s over DPDK / Gbit/s over TUN.
    pub dpdk_over_tun: f64,
}

/// The EAL arguments both use for frames of `size` bytes on ports `first`, `first + 1`.
pub fn vdevs(first: usize, size: usize) -> [String; 2] {
    [
        format!("--vdev=net_null{first},size={size}"),
        format!("--vdev=net_null{},size={size}", first + 1),
    ]
}

/// EAL arguments without devices: lcores `lcores`, no hugepages, no PCI, files under
/// `prefix`.
pub fn common_eal(prefix: &str, lcores: &str) -> Vec<String> {
    [
        "-l",
        lcores,
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--file-prefix={prefix}")])
    .collect()
}

/// vany's EAL arguments: [`common_eal`] with lcore 0 free to run on CPUs 0 and 1
/// (`--lcores 0@(0-1)`, where there are two) instead of pinned to CPU 0, so that the
/// threads the core-scaling phase starts (which inherit the main thread's CPU set) can
/// run on both.
pub fn vany_eal(prefix: &str) -> Vec<String> {
    let mut eal = common_eal(prefix, "0");
    if std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2) {
        eal[0] = "--lcores".into();
        eal[1] = "0@(0-1)".into();
    }
    eal
}

/// A frame of `size` bytes: Ethernet II to `mac` and an IPv6 packet (no next header).
pub fn frame(size: usize, mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; size];
    f[..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xfe]);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    Ipv6Header {
        src: "fd00:6d::1".parse().expect("address"),
        dst: "fd00:6d::2".parse().expect("address"),
        next_header: 59,
        hop_limit: 64,
        payload_len: size - ETHERNET_HEADER_LEN - IPV6_HEADER_LEN,
    }
    .emit(&mut f[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + IPV6_HEADER_LEN]);
    f
}

/// Runs the benchmark; progress lines go to `log`.
pub fn run(
    opts: &DpdkBenchOptions,
    cancel: &Cancel,
    log: &mut dyn std::io::Write,
) -> Result<DpdkReport, BenchError> {
    let prefix = format!("vany-bench-{}", std::process::id());
    if opts.sizes.len() > MAX_SIZES {
        return Err(BenchError::Check(format!(
            "at most {MAX_SIZES} frame sizes per run"
        )));
    }
    let mut eal = vany_eal(&prefix);
    for (i, &size) in opts.sizes.iter().enumerate() {
        eal.extend(vdevs(2 * i, size));
    }
    // The paths' source ports follow every size's pair.
    let path_port = |i: usize| 2 * opts.sizes.len() + dpdk_paths::PORTS_PER_SIZE * i;
    for (i, &size) in opts.sizes.iter().enumerate() {
        eal.extend(dpdk_paths::vdevs(path_port(i), size));
    }
    // The core scaling's ports follow the paths'.
    let cores_port = path_port(opts.sizes.len());
    if let Some(&first) = opts.sizes.first() {
        eal.extend(dpdk_cores::vdevs(cores_port, first));
    }
    let tcp_lab = if opts.tcp_mib > 0 {
        let lab = dpdk_tcp::TcpLab::prepare()?;
        eal.extend(lab.vdevs.iter().cloned());
        Some(lab)
    } else {
        None
    };
    let handle = vany_ffi::Eal::init(&eal).map_err(crate::io::IoError::from)?;
    let _ = writeln!(
        log,
        "setting up vany client's translator and a two-member group (simulated handoff) ..."
    );
    let mut paths = Paths::new()?;
    let (mut rows, mut path_rows, mut path_notes) = (Vec::new(), Vec::new(), Vec::new());
    let phase = Duration::from_secs_f64(opts.seconds);
    for (i, &size) in opts.sizes.iter().enumerate() {
        let mac = dpdk_cores::BENCH_MAC.0;
        let primed = frame(size, mac);
        let open = |port| dpdk_cores::open(&handle, port, opts.burst, &primed);
        let mut ports = [open(2 * i)?, open(2 * i + 1)?];
        let packet = primed[ETHERNET_HEADER_LEN..].to_vec();
        for mode in ["rx-only", "tx-only", "io-fwd"] {
            cancel.check()?;
            let _ = writeln!(log, "vany {mode} {size} B ...");
            let (n, secs) = vany_phase(&mut ports, mode, &packet, phase)?;
            rows.push(Row::new("vany", mode, size, n, secs));
        }
        // Port A is done: it takes the paths' output.
        let (r, n) = dpdk_paths::run_size(
            &handle,
            &mut paths,
            path_port(i),
            size,
            &mut ports[0],
            opts.burst,
            phase,
            cancel,
            log,
        )?;
        path_rows.extend(r);
        path_notes.extend(n);
        drop(ports);
        if opts.no_testpmd {
            continue;
        }
        rows.extend(testpmd_rows(&prefix, size, opts.seconds, cancel, log)?);
    }
    let cores = match opts.sizes.first() {
        Some(&size) => dpdk_cores::run(
            &handle,
            cores_port,
            &frame(size, dpdk_cores::BENCH_MAC.0),
            opts.burst,
            phase,
            cancel,
            log,
        )?,
        None => Vec::new(),
    };
    let two_core_scaling = match cores.as_slice() {
        [one, two, ..] if one.mpps > 0.0 => Some(two.mpps / one.mpps),
        _ => None,
    };
    let tcp = match tcp_lab {
        Some(lab) => {
            cancel.check()?;
            dpdk_tcp::run(&handle, lab, opts.tcp_mib, opts.burst, cancel, log)?
        }
        None => Vec::new(),
    };
    let tcp_dpdk_over_tun = tcp_ratios(&tcp);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    let ratios = testpmd_ratios(&rows);
    Ok(DpdkReport {
        cpu: super::cpu_model(),
        eal,
        seconds: opts.seconds,
        burst: opts.burst,
        rows,
        paths: path_rows,
        ratios,
        cores,
        two_core_scaling,
        tcp,
        tcp_dpdk_over_tun,
        notes: notes(path_notes),
    })
}

/// dpdk-testpmd in rxonly, txonly and io mode on two `net_null` ports of `size`.
fn testpmd_rows(
    prefix: &str,
    size: usize,
    seconds: f64,
    cancel: &Cancel,
    log: &mut dyn std::io::Write,
) -> Result<Vec<Row>, BenchError> {
    let mut tp_eal = common_eal(&format!("{prefix}-tp"), "0-1");
    tp_eal.extend(vdevs(0, size));
    let mut rows = Vec::new();
    for (mode, name) in [
        (Mode::RxOnly, "rx-only"),
        (Mode::TxOnly, "tx-only"),
        (Mode::Io, "io-fwd"),
    ] {
        cancel.check()?;
        let _ = writeln!(log, "testpmd {name} {size} B ...");
        let c = testpmd::run(&tp_eal, mode, size, seconds)?;
        let n = if mode == Mode::TxOnly { c.tx } else { c.rx };
        rows.push(Row::new("testpmd", name, size, n, c.secs));
    }
    Ok(rows)
}

/// vany over testpmd for every mode and size both measured.
fn testpmd_ratios(rows: &[Row]) -> Vec<Ratio> {
    rows.iter()
        .filter(|r| r.who == "vany")
        .filter_map(|v| {
            let t = rows
                .iter()
                .find(|t| t.who == "testpmd" && t.mode == v.mode && t.size == v.size)?;
            Some(Ratio {
                mode: v.mode,
                size: v.size,
                vany_over_testpmd: if t.mpps > 0.0 { v.mpps / t.mpps } else { 0.0 },
            })
        })
        .collect()
}

/// Each DPDK port's TCP rows over TUN's, per direction.
fn tcp_ratios(tcp: &[TcpRow]) -> Vec<TcpRatio> {
    ["af_packet", "tap"]
        .into_iter()
        .flat_map(|port| {
            ["vany_to_kernel", "kernel_to_vany"]
                .into_iter()
                .map(move |d| (port, d))
        })
        .filter_map(|(port, direction)| {
            let gbit = |id: String| tcp.iter().find(|r| r.id == id).map(|r| r.gbit_per_s);
            let d = gbit(format!("{port}_{direction}"))?;
            let t = gbit(format!("tun_{direction}"))?;
            Some(TcpRatio {
                port,
                direction,
                dpdk_over_tun: if t > 0.0 { d / t } else { 0.0 },
            })
        })
        .collect()
}

/// What the report's numbers count, in words, then `extra`.
fn notes(extra: Vec<String>) -> Vec<String> {
    [
        "one core each: vany's thread (EAL main lcore 0); testpmd's forwarding lcore 1 \
         (-l 0-1, its main lcore idles in the prompt)"
            .into(),
        "vany goes through PacketIo and its layer 2 (Ethernet II, IPv6 length, neighbor \
         discovery's checks): rx-only reads each packet in its mbuf (rx_each), tx-only \
         builds each in a lent mbuf (send_with), io-fwd sends each received mbuf out of \
         the other port behind the next hop's Ethernet header (forward_to: nothing \
         copied); testpmd touches no packet data"
            .into(),
        "rx-only and io-fwd count frames received on both ports; tx-only frames sent".into(),
        "paths, one core: each frame received through PacketIo, run through the real code \
         and its output sent on port A; 'handled' counts the packets translated (client-out: \
         RH2 inserted for a bound anycast address; client-in: HAO stripped) or forwarded \
         (member-fwd: a contact node passing a client's packets to the member that serves \
         it after a handoff, each receive burst's as vany node does: sealed together, about \
         16 small packets per datagram and MAC; column 'frames sent' counts datagrams), and \
         Mpps is handled packets per second"
            .into(),
        "a TCP/IPv6 frame takes at least 74 bytes (98 with a HAO): smaller sizes run the \
         paths with frames of that length (column 'frame')"
            .into(),
    ]
    .into_iter()
    .chain(extra)
    .collect()
}

/// One vany phase (`rx-only`, `tx-only` or `io-fwd`) over both ports for `phase`: frames
/// handled and seconds. Receive reads packets in their mbufs ([`PacketIo::rx_each`]);
/// transmit builds each packet in an mbuf ([`PacketIo::send_with`]); io-fwd sends each
/// received mbuf out of the other port ([`PacketIo::forward_to`]: nothing copied).
pub fn vany_phase(
    ports: &mut [DpdkIo; 2],
    mode: &str,
    packet: &[u8],
    phase: Duration,
) -> Result<(u64, f64), BenchError> {
    let start = Instant::now();
    let mut n = 0u64;
    let mut rounds = 0u32;
    let mut bytes = 0usize;
    loop {
        match mode {
            "rx-only" => {
                for p in ports.iter_mut() {
                    n += p.rx_each(64, &mut |packet| bytes += packet.len())? as u64;
                }
            }
            "tx-only" => {
                for p in ports.iter_mut() {
                    for _ in 0..64 {
                        let lent = p.send_with(&mut |buf| {
                            buf[..packet.len()].copy_from_slice(packet);
                            packet.len()
                        })?;
                        n += u64::from(matches!(lent, Lent::Sent(_)));
                    }
                }
            }
            _ => {
                for from in 0..2 {
                    let (a, b) = ports.split_at_mut(1);
                    let (rx, tx) = if from == 0 {
                        (&mut a[0], &mut b[0])
                    } else {
                        (&mut b[0], &mut a[0])
                    };
                    // The received mbuf itself goes out of the other port.
                    n += rx.forward_to(tx, 64, &mut |p| p.len())? as u64;
                }
            }
        }
        rounds = rounds.wrapping_add(1);
        if rounds & 63 == 0 && start.elapsed() >= phase {
            break;
        }
    }
    for p in ports.iter_mut() {
        p.flush();
    }
    std::hint::black_box(bytes);
    Ok((n, start.elapsed().as_secs_f64()))
}

/// Renders the report as a table.
pub fn render(r: &DpdkReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "vany bench dpdk: {} s per phase, bursts of {}; {}",
        r.seconds, r.burst, r.cpu
    )?;
    writeln!(out, "EAL: {}", r.eal.join(" "))?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<8} {:<8} {:>6} {:>14} {:>9} {:>10}",
        "who", "mode", "bytes", "packets", "Mpps", "ns/packet"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "{:<8} {:<8} {:>6} {:>14} {:>9.2} {:>10.1}",
            row.who, row.mode, row.size, row.packets, row.mpps, row.ns_per_packet
        )?;
    }
    if !r.paths.is_empty() {
        writeln!(out)?;
        dpdk_paths::render(&r.paths, out)?;
    }
    if !r.ratios.is_empty() {
        writeln!(out)?;
        writeln!(out, "{:<8} {:>6} {:>16}", "mode", "bytes", "vany / testpmd")?;
        for q in &r.ratios {
            writeln!(
                out,
                "{:<8} {:>6} {:>15.2}x",
                q.mode, q.size, q.vany_over_testpmd
            )?;
        }
    }
    if !r.cores.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<8} {:>6} {:>6} {:>14} {:>9} {:>10}",
            "io-fwd", "bytes", "cores", "packets", "Mpps", "Mpps/core"
        )?;
        for c in &r.cores {
            writeln!(
                out,
                "{:<8} {:>6} {:>6} {:>14} {:>9.2} {:>10.2}",
                "vany", c.size, c.cores, c.packets, c.mpps, c.mpps_per_core
            )?;
        }
        if let Some(f) = r.two_core_scaling {
            writeln!(out, "2 cores / 1 core: {f:.2}x")?;
        }
    }
    if !r.tcp.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<22} {:>10} {:>9} {:>10}  path",
            "TCP", "MiB", "Gbit/s", "packets"
        )?;
        for t in &r.tcp {
            writeln!(
                out,
                "{:<22} {:>10.1} {:>9.2} {:>10}  {}",
                t.id,
                t.bytes as f64 / f64::from(1u32 << 20),
                t.gbit_per_s,
                t.tun_packets,
                t.path
            )?;
        }
        for q in &r.tcp_dpdk_over_tun {
            writeln!(
                out,
                "{:<22} {:>10} {:>9.2}x  DPDK {} / TUN, {}",
                "ratio", "", q.dpdk_over_tun, q.port, q.direction
            )?;
        }
    }
    writeln!(out)?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
