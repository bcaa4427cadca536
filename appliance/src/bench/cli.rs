//! The `vany bench` command line.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::report;
use super::tun::{self, TunBenchOptions};
use super::{BenchError, Cancel};

/// `vany bench` and its benchmarks.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The benchmark to run.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Packet rate through vany's TUN backend, and vany's TCP against the kernel's TCP.
    ///
    /// Makes five network namespaces (vanyb<PID>-t, -v1, -v2, -f1, -f2) with TUN and veth
    /// devices (fd00:6b::/48 addresses only, all of them at --mtu) and removes them at the
    /// end, also on error or ctrl-c. Measures, one after the other:
    ///
    /// raw TX/RX: vany writes 64-byte and MTU-sized IPv6/UDP packets into the TUN device
    /// for --seconds (a kernel UDP socket receives them), then a kernel UDP socket floods
    /// vany's address and vany reads the TUN device; pps and Gbit/s of whole IPv6
    /// packets handled by vany's backend, in bursts of --batch;
    ///
    /// vany_to_kernel, kernel_to_vany: --mib MiB through vany's TCP engine (io::Pump
    /// over the TUN backend) to and from a kernel socket;
    ///
    /// kernel_veth: the kernel's TCP between two namespaces over a veth pair;
    ///
    /// kernel_tun_fwd: the kernel's TCP through two TUN devices with vany's TUN backend
    /// forwarding between them (the path comparable to vany's);
    ///
    /// and the ratio of each vany TCP row over each kernel TCP row. TCP throughput is
    /// payload at the receiver, from accept to end of stream. Needs root (exit status 2
    /// otherwise) and iproute2; never fails on speed.
    Tun(TunArgs),
    /// Packet rate through vany's DPDK backend on net_null devices, next to dpdk-testpmd.
    ///
    /// Starts DPDK's EAL with `--no-huge -m 512 --no-pci` and two net_null ports per frame
    /// size (no NIC, no hugepages needed). vany, on one core, through its PacketIo
    /// backend: rx-only (frames received on both ports, each read in its mbuf), tx-only
    /// (IPv6 packets built in lent mbufs and sent), io-forward (each port's frames sent out
    /// of the other in the mbufs they arrived in); then the packet paths, each from a net_null port of its own
    /// through the real code to another: vany client's translation (client-out: an RH2
    /// inserted for an anycast address with a binding; client-in: a Home Address option
    /// stripped) and a group member's forwarding (member-fwd: the contact node passing a
    /// client's packets to the member serving it after a handoff, set up in the simulator;
    /// each receive burst's packets sealed together, as vany node does).
    /// Each path packet is checked: a path that translated or forwarded nothing fails the
    /// run. Then dpdk-testpmd (Debian package dpdk-dev) on the same
    /// devices in rxonly, txonly and io mode, each run for --seconds through its prompt,
    /// and the ratio vany / testpmd. Million packets per second per core and ns per
    /// packet. Then (unless --tcp-mib 0) vany's TCP to and from a kernel socket in a
    /// network namespace, over a DPDK net_tap port and over a TUN device, and the ratio
    /// DPDK / TUN. Needs root and a vany built with DPDK (exit status 2 otherwise); never fails
    /// on speed.
    Dpdk(DpdkArgs),
}

/// Options of `vany bench dpdk`.
#[derive(Args, Debug)]
pub struct DpdkArgs {
    /// Seconds of each phase (nine per frame size).
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Frame sizes in bytes (Ethernet header included), comma-separated, 54 to 2048; at
    /// most 6.
    #[arg(long, value_delimiter = ',', default_values_t = [64u16, 1500],
          value_parser = clap::value_parser!(u16).range(54..=2048))]
    pub sizes: Vec<u16>,
    /// Frames per receive/transmit burst.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub burst: u16,
    /// Measure vany only (no dpdk-testpmd).
    #[arg(long)]
    pub no_testpmd: bool,
    /// MiB of each TCP transfer between vany and a kernel socket, over DPDK (a net_tap
    /// port, vany's neighbor discovery resolving the kernel) and then over TUN, each
    /// direction; 0 skips the TCP rows.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(0..=65536))]
    pub tcp_mib: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Options of `vany bench tun`.
#[derive(Args, Debug)]
pub struct TunArgs {
    /// MiB each TCP transfer moves.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub mib: u64,
    /// Seconds of each raw packet-rate phase (four of them).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Packets per receive/transmit burst of vany's TUN backend.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub batch: u16,
    /// MTU of every TUN and veth device, in bytes.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1280..=65535))]
    pub mtu: u32,
    /// TUN offloads on vany's TUN device (virtio-net header, TSO6 and checksum offload;
    /// `on` falls back to a plain device when the kernel refuses them).
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub offload: OnOff,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A switch given as `on` or `off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// Runs `vany bench ...`. Exit status: 0 when the run completed, 1 when a measurement
/// failed, 2 for bad arguments or missing privileges, 130 on SIGINT/SIGTERM.
pub fn main(args: BenchArgs) -> ExitCode {
    match args.command {
        BenchCommand::Tun(a) => main_tun(a),
        BenchCommand::Dpdk(a) => main_dpdk(a),
    }
}

fn main_dpdk(a: DpdkArgs) -> ExitCode {
    let max = super::dpdk::MAX_SIZES;
    if !(0.05..=3600.0).contains(&a.seconds) || a.sizes.is_empty() || a.sizes.len() > max {
        eprintln!("vany bench dpdk: --seconds must be 0.05 to 3600, and 1 to {max} --sizes");
        return ExitCode::from(2);
    }
    if !vany_ffi::BUILT_WITH_DPDK {
        eprintln!("vany bench dpdk: {}", vany_ffi::DpdkError::NotBuilt);
        return ExitCode::from(2);
    }
    if !super::is_root() {
        eprintln!("vany bench dpdk needs root (DPDK's EAL maps memory and devices)");
        return ExitCode::from(2);
    }
    let stop = match stop_on_signals("dpdk") {
        Ok(stop) => stop,
        Err(code) => return code,
    };
    let opts = super::dpdk::DpdkBenchOptions {
        seconds: a.seconds,
        sizes: a.sizes.iter().map(|&s| usize::from(s)).collect(),
        burst: usize::from(a.burst),
        no_testpmd: a.no_testpmd,
        tcp_mib: a.tcp_mib,
    };
    let report = match super::dpdk::run(&opts, &Cancel::new(stop), &mut std::io::stderr()) {
        Ok(r) => r,
        Err(e @ BenchError::Interrupted) => {
            eprintln!("vany bench dpdk: {e}");
            return ExitCode::from(130);
        }
        Err(e) => {
            eprintln!("vany bench dpdk: {e}");
            return ExitCode::from(1);
        }
    };
    print_report("dpdk", a.json, &report, super::dpdk::render)
}

fn main_tun(a: TunArgs) -> ExitCode {
    if !(0.05..=3600.0).contains(&a.seconds) {
        eprintln!("vany bench tun: --seconds must be between 0.05 and 3600");
        return ExitCode::from(2);
    }
    if !super::is_root() {
        eprintln!("{}", BenchError::NotRoot { what: "tun" });
        return ExitCode::from(2);
    }
    let stop = match stop_on_signals("tun") {
        Ok(stop) => stop,
        Err(code) => return code,
    };
    let opts = TunBenchOptions {
        mib: a.mib,
        seconds: a.seconds,
        batch: usize::from(a.batch),
        mtu: a.mtu,
        offload: a.offload == OnOff::On,
    };
    let report = match tun::run(&opts, &Cancel::new(stop), &mut std::io::stderr()) {
        Ok(r) => r,
        Err(e @ BenchError::Interrupted) => {
            eprintln!("vany bench tun: {e}; namespaces and devices removed");
            return ExitCode::from(130);
        }
        Err(e @ BenchError::NotRoot { .. }) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("vany bench tun: {e}");
            return ExitCode::from(1);
        }
    };
    print_report("tun", a.json, &report, report::render)
}

/// A flag SIGINT and SIGTERM set (the run then stops between phases and cleans up); exit
/// status 2 if the handlers cannot be installed.
fn stop_on_signals(command: &str) -> Result<Arc<AtomicBool>, ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("vany bench {command}: {}", BenchError::Signal(e));
            return Err(ExitCode::from(2));
        }
    }
    Ok(stop)
}

/// Writes `report` to stdout as JSON (`json`) or as `render`'s table. A closed pipe is
/// not an error; another write error is exit status 2.
fn print_report<R: serde::Serialize>(
    command: &str,
    json: bool,
    report: &R,
    render: fn(&R, &mut dyn Write) -> std::io::Result<()>,
) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        render(report, &mut out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vany bench {command}: writing output: {e}");
            ExitCode::from(2)
        }
    }
}
