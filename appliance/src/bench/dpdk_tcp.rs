//! `vany bench dpdk --tcp-mib N`: vany's TCP over the DPDK backend against a kernel TCP
//! socket, next to the same transfers over a TUN device, in the same run.
//!
//! Two DPDK ports, each facing a kernel in a namespace of its own (vany `fd00:6b::2`,
//! the kernel `fd00:6b::1`/64; vany reaches the kernel through its own layer 2: the
//! kernel's address is vany's gateway, resolved by neighbor discovery, and the kernel
//! resolves vany's address the same way):
//!
//! - `net_af_packet` on one end of a veth pair whose other end is in the namespace
//!   (the DPDK end stays in this process's namespace, with no address; it goes away with
//!   the namespace). Received frames come through a memory-mapped ring, no system call
//!   per packet; sending takes one `sendto` per burst.
//! - `net_tap`: a tap device created by the EAL and moved into the namespace; one
//!   `read`/`write` per packet, like a TUN device.
//!
//! Then the two TCP rows of `vany bench tun` on a TUN device in another namespace. All
//! use MTU 1500 (an mbuf's room is 2048 bytes) and the same TCP configuration.

use std::io::Write;

use vany_ffi::Eal;
use vany_stack::l2::{Gateway, OwnAddr};

use super::netns::{self, Netns};
use super::report::TcpRow;
use super::tun::{self, Backend, TunBenchOptions, KERNEL_ADDR, VANY_ADDR};
use super::{BenchError, Cancel};
use crate::io::dpdk::{DpdkConfig, DpdkIo};

/// The MTU of every path.
pub const MTU: u32 = 1500;

/// The namespaces and devices of the DPDK TCP rows, made before the EAL starts (the
/// af_packet port binds to its veth end when the EAL probes it).
#[derive(Debug)]
pub struct TcpLab {
    /// EAL arguments creating the two ports.
    pub vdevs: Vec<String>,
    tap_iface: String,
    tap_ns: Netns,
    veth_ns: Netns,
}

impl TcpLab {
    /// Creates the namespaces and the veth pair.
    pub fn prepare() -> Result<TcpLab, BenchError> {
        let pid = std::process::id() % 1_000_000;
        let (tap_iface, dpdk_end, kernel_end) = (
            format!("vbt{pid}"),
            format!("vbp{pid}"),
            format!("vbk{pid}"),
        );
        let tap_ns = Netns::create("dt")?;
        let veth_ns = Netns::create("dp")?;
        netns::run(
            "ip",
            &[
                "link",
                "add",
                &dpdk_end,
                "mtu",
                "1500",
                "type",
                "veth",
                "peer",
                "name",
                &kernel_end,
                "netns",
                veth_ns.name(),
            ],
        )?;
        netns::run("ip", &["link", "set", &dpdk_end, "up"])?;
        veth_ns.configure(&kernel_end, MTU, &format!("{KERNEL_ADDR}/64"))?;
        // The kernel's frames to vany must carry whole checksums: af_packet sees what
        // the veth carries, and a veth leaves TCP checksums to the receiver (partial).
        netns::run(
            "ip",
            &[
                "netns",
                "exec",
                veth_ns.name(),
                "ethtool",
                "-K",
                &kernel_end,
                "tx",
                "off",
            ],
        )?;
        Ok(TcpLab {
            vdevs: vec![
                format!("--vdev=net_af_packet0,iface={dpdk_end}"),
                format!("--vdev=net_tap0,iface={tap_iface}"),
            ],
            tap_iface,
            tap_ns,
            veth_ns,
        })
    }
}

/// Opens `port` for vany at [`VANY_ADDR`], its gateway the kernel at [`KERNEL_ADDR`].
fn open(eal: &Eal, port: &str, burst: usize) -> Result<DpdkIo, BenchError> {
    let addrs = vec![OwnAddr {
        addr: VANY_ADDR,
        anycast: false,
    }];
    let mut config = DpdkConfig::new(port, addrs, Gateway::Ipv6(KERNEL_ADDR));
    config.burst = burst;
    Ok(DpdkIo::open(eal, &config)?)
}

/// What the DPDK rows measure.
const DESCRIPTION: &str = "vany's TCP (Pump over the DPDK backend and its neighbor \
                           discovery) and a kernel socket in a namespace";

/// vany TCP over both DPDK ports, then over TUN: six rows (`af_packet_*`, `tap_*`,
/// `tun_*`, each `vany_to_kernel` and `kernel_to_vany`).
pub fn run(
    eal: &Eal,
    lab: TcpLab,
    mib: u64,
    batch: usize,
    cancel: &Cancel,
    log: &mut dyn Write,
) -> Result<Vec<TcpRow>, BenchError> {
    let opts = TunBenchOptions {
        mib,
        batch,
        mtu: MTU,
        ..TunBenchOptions::default()
    };
    let mut rows = Vec::new();
    let mut both_ways = |io: &mut DpdkIo, ns: &Netns, tag, via| {
        let backend = Backend {
            tag,
            via,
            description: DESCRIPTION,
        };
        tun::both_ways(io, ns, &backend, &opts, cancel, &mut *log)
    };
    let mut io = open(eal, "net_af_packet0", batch)?;
    rows.extend(both_ways(
        &mut io,
        &lab.veth_ns,
        "af_packet",
        "DPDK af_packet",
    )?);
    drop(io);
    // The tap port starts (and brings its device up) here, before the device changes
    // namespace.
    let mut io = open(eal, "net_tap0", batch)?;
    tun::kernel_side(&lab.tap_ns, &lab.tap_iface, MTU)?;
    rows.extend(both_ways(&mut io, &lab.tap_ns, "tap", "DPDK tap")?);
    drop(io);
    drop(lab);
    let _ = writeln!(
        log,
        "vany bench dpdk: the same over TUN, {mib} MiB each way"
    );
    rows.extend(tun::tcp_over_tun(&opts, cancel)?);
    Ok(rows)
}
