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
//!   `PacketIo` (`rx_each`, and inside it `send_with` on the other port: one copy).
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

use super::testpmd::{self, Mode};
use super::{BenchError, Cancel};
use vany_stack::l2::{Gateway, Mac, OwnAddr};

use crate::io::dpdk::{DpdkConfig, DpdkIo, ETHERNET_HEADER_LEN};
use crate::io::{Ipv6Header, Lent, PacketIo, IPV6_HEADER_LEN};

/// Options of a run.
#[derive(Debug, Clone)]
pub struct DpdkBenchOptions {
    /// Seconds of each phase.
    pub seconds: f64,
    /// Frame sizes (Ethernet header included, no FCS), each 54 to 2048.
    pub sizes: Vec<usize>,
    /// Frames per burst.
    pub burst: usize,
    /// Skip testpmd.
    pub no_testpmd: bool,
}

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
    /// vany's EAL arguments.
    pub eal: Vec<String>,
    /// Seconds per phase.
    pub seconds: f64,
    /// Frames per burst.
    pub burst: usize,
    /// The measurements.
    pub rows: Vec<Row>,
    /// vany / testpmd.
    pub ratios: Vec<Ratio>,
    /// What is counted, in words.
    pub notes: Vec<String>,
}

/// The EAL arguments both use for frames of `size` bytes on ports `first`, `first + 1`.
fn vdevs(first: usize, size: usize) -> [String; 2] {
    [
        format!("--vdev=net_null{first},size={size}"),
        format!("--vdev=net_null{},size={size}", first + 1),
    ]
}

fn common_eal(prefix: &str, lcores: &str) -> Vec<String> {
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

/// A frame of `size` bytes: Ethernet II to `mac` and an IPv6 packet (no next header).
fn frame(size: usize, mac: [u8; 6]) -> Vec<u8> {
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
    let mut eal = common_eal(&prefix, "0");
    for (i, &size) in opts.sizes.iter().enumerate() {
        eal.extend(vdevs(2 * i, size));
    }
    let handle = vany_ffi::Eal::init(&eal).map_err(crate::io::IoError::from)?;
    let mut rows = Vec::new();
    let phase = Duration::from_secs_f64(opts.seconds);
    for (i, &size) in opts.sizes.iter().enumerate() {
        let mac = [0x02, 0, 0, 0, 0x6d, 1];
        let open = |port: usize| -> Result<DpdkIo, BenchError> {
            let addrs = vec![OwnAddr {
                addr: "fd00:6d::2".parse().expect("address"),
                anycast: false,
            }];
            let gateway = Gateway::Mac(Mac(mac));
            let mut c = DpdkConfig::new(&format!("net_null{port}"), addrs, gateway);
            c.mac = Some(Mac(mac));
            c.burst = opts.burst;
            let mut io = DpdkIo::open(&handle, &c)?;
            io.prime_pool(&frame(size, mac))?;
            Ok(io)
        };
        let mut ports = [open(2 * i)?, open(2 * i + 1)?];
        let packet = frame(size, mac)[ETHERNET_HEADER_LEN..].to_vec();
        for mode in ["rx-only", "tx-only", "io-fwd"] {
            cancel.check()?;
            let _ = writeln!(log, "vany {mode} {size} B ...");
            let (n, secs) = vany_phase(&mut ports, mode, &packet, phase)?;
            rows.push(Row::new("vany", mode, size, n, secs));
        }
        drop(ports);
        if opts.no_testpmd {
            continue;
        }
        let mut tp_eal = common_eal(&format!("{prefix}-tp"), "0-1");
        tp_eal.extend(vdevs(0, size));
        for (mode, name) in [
            (Mode::RxOnly, "rx-only"),
            (Mode::TxOnly, "tx-only"),
            (Mode::Io, "io-fwd"),
        ] {
            cancel.check()?;
            let _ = writeln!(log, "testpmd {name} {size} B ...");
            let c = testpmd::run(&tp_eal, mode, size, opts.seconds)?;
            let n = if mode == Mode::TxOnly { c.tx } else { c.rx };
            rows.push(Row::new("testpmd", name, size, n, c.secs));
        }
    }
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    let ratios = rows
        .iter()
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
        .collect();
    Ok(DpdkReport {
        eal,
        seconds: opts.seconds,
        burst: opts.burst,
        rows,
        ratios,
        notes: vec![
            "one core each: vany's thread (EAL main lcore 0); testpmd's forwarding lcore 1 \
             (-l 0-1, its main lcore idles in the prompt)"
                .into(),
            "vany goes through PacketIo and its layer 2 (Ethernet II, IPv6 length, neighbor \
             discovery's checks): rx-only reads each packet in its mbuf (rx_each), tx-only \
             builds each in a lent mbuf (send_with), io-fwd copies each packet from the \
             received mbuf into one of the other port; testpmd touches no packet data"
                .into(),
            "rx-only and io-fwd count frames received on both ports; tx-only frames sent".into(),
        ],
    })
}

/// One vany phase over both ports for `phase`: frames handled and seconds. Receive
/// reads packets in their mbufs ([`PacketIo::rx_each`]); transmit builds each packet in
/// an mbuf ([`PacketIo::send_with`]): tx-only writes the packet there, io-fwd copies the
/// received packet from its mbuf into the other port's.
fn vany_phase(
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
                    let mut failed = None;
                    n += rx.rx_each(64, &mut |p| {
                        let sent = tx.send_with(&mut |buf| {
                            buf[..p.len()].copy_from_slice(p);
                            p.len()
                        });
                        if let Err(e) = sent {
                            failed = Some(e);
                        }
                    })? as u64;
                    if let Some(e) = failed {
                        return Err(e.into());
                    }
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
        "vany bench dpdk: {} s per phase, bursts of {}",
        r.seconds, r.burst
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
    writeln!(out)?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
