//! The report of `vany bench tun`: rows, ratios, and their rendering as a table.

use std::io::Write;

use serde::Serialize;

/// The whole report (also the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct TunReport {
    /// What the run was asked to do, and where it ran.
    pub config: ReportConfig,
    /// Raw TUN packet rates.
    pub raw: Vec<RawRow>,
    /// TCP bulk throughputs.
    pub tcp: Vec<TcpRow>,
    /// vany's TCP over the kernel's, for each comparable pair of [`TcpRow`]s.
    pub ratios: Vec<Ratio>,
    /// What is counted, in words.
    pub notes: Vec<String>,
}

/// The run's parameters and machine.
#[derive(Debug, Clone, Serialize)]
pub struct ReportConfig {
    /// MiB moved by each TCP transfer.
    pub mib: u64,
    /// Seconds of each raw packet-rate phase.
    pub seconds: f64,
    /// Packets per burst of vany's TUN backend.
    pub batch: usize,
    /// MTU of every TUN and veth device.
    pub mtu: u32,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
    /// CPUs available to this process.
    pub cpus: usize,
    /// The CPU's model name.
    pub cpu: String,
    /// The offloads of vany's TUN device, in words.
    pub offloads: String,
}

/// One raw packet-rate measurement.
#[derive(Debug, Clone, Serialize)]
pub struct RawRow {
    /// Stable name (`tun_tx_small`, `tun_tx_mtu`, `tun_rx_small`, `tun_rx_mtu`).
    pub id: String,
    /// What was measured.
    pub description: String,
    /// Bytes of each IPv6 packet (from the IPv6 header on).
    pub packet_bytes: usize,
    /// Packets vany's backend wrote (tx) or read (rx).
    pub packets: u64,
    /// How long the counting ran.
    pub seconds: f64,
    /// `packets / seconds`.
    pub pps: f64,
    /// `packets * packet_bytes * 8 / seconds`, in Gbit/s.
    pub gbit_per_s: f64,
    /// Writes the TUN device refused (tx; queue full).
    pub dropped: u64,
    /// The kernel's count: datagrams its socket received (tx) or sent (rx).
    pub kernel_packets: u64,
    /// `kernel_packets` per second of the same phase.
    pub kernel_pps: f64,
}

/// One TCP bulk transfer.
#[derive(Debug, Clone, Serialize)]
pub struct TcpRow {
    /// Stable name (`vany_to_kernel`, `kernel_to_vany`, `kernel_veth`, `kernel_tun_fwd`).
    pub id: String,
    /// Who sends to whom.
    pub description: String,
    /// The path, sender first.
    pub path: String,
    /// Payload bytes the receiver read.
    pub bytes: u64,
    /// The receiver's time from accepting the connection to end of stream.
    pub seconds: f64,
    /// Payload Gbit/s.
    pub gbit_per_s: f64,
    /// Payload MiB/s.
    pub mib_per_s: f64,
    /// Packets that went through vany's TUN backend (both directions; 0 on veth).
    pub tun_packets: u64,
    /// `tun_packets` per second.
    pub tun_pps: f64,
    /// Of `tun_packets`, super-segments vany's TCP sent for the kernel to split.
    pub super_sent: u64,
    /// Of `tun_packets`, segments the kernel coalesced before vany read them.
    pub coalesced_received: u64,
}

impl TcpRow {
    /// A row from a receiver's count and time.
    pub fn new(id: &str, description: &str, path: &str, bytes: u64, secs: f64) -> TcpRow {
        TcpRow {
            id: id.into(),
            description: description.into(),
            path: path.into(),
            bytes,
            seconds: secs,
            gbit_per_s: super::gbit_per_s(bytes, secs),
            mib_per_s: if secs > 0.0 {
                bytes as f64 / f64::from(1u32 << 20) / secs
            } else {
                0.0
            },
            tun_packets: 0,
            tun_pps: 0.0,
            super_sent: 0,
            coalesced_received: 0,
        }
    }

    /// Takes the packet counts of vany's pump.
    pub fn set_pump(&mut self, pump: &crate::io::PumpStats) {
        self.tun_packets = pump.tx_packets + pump.rx_packets;
        self.tun_pps = if self.seconds > 0.0 {
            self.tun_packets as f64 / self.seconds
        } else {
            0.0
        };
        self.super_sent = pump.tx_super;
        self.coalesced_received = pump.rx_coalesced;
    }
}

/// `numerator / denominator` of two [`TcpRow`]s' Gbit/s.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// Stable name (`<numerator>_over_<denominator>`).
    pub id: String,
    /// The vany row's id.
    pub numerator: String,
    /// The kernel row's id.
    pub denominator: String,
    /// The ratio.
    pub value: f64,
}

/// The ratio of every vany row over every kernel row.
pub fn ratios(tcp: &[TcpRow], vany: &[&str], kernel: &[&str]) -> Vec<Ratio> {
    let find = |id: &str| tcp.iter().find(|r| r.id == id);
    let mut out = Vec::new();
    for k in kernel {
        for v in vany {
            if let (Some(n), Some(d)) = (find(v), find(k)) {
                out.push(Ratio {
                    id: format!("{v}_over_{k}"),
                    numerator: n.id.clone(),
                    denominator: d.id.clone(),
                    value: if d.gbit_per_s > 0.0 {
                        n.gbit_per_s / d.gbit_per_s
                    } else {
                        0.0
                    },
                });
            }
        }
    }
    out
}

fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0} ")
    }
}

/// Writes the report as text tables.
pub fn render(r: &TunReport, out: &mut dyn Write) -> std::io::Result<()> {
    let c = &r.config;
    writeln!(
        out,
        "vany bench tun: MTU {}, batch {}, {} MiB per TCP transfer, {} s per packet-rate \
         phase; kernel {}, {} CPUs: {}",
        c.mtu, c.batch, c.mib, c.seconds, c.kernel, c.cpus, c.cpu
    )?;
    writeln!(out, "TUN offloads of vany's device: {}", c.offloads)?;
    writeln!(out)?;
    writeln!(
        out,
        "raw TUN packet rate (IPv6/UDP packets; bytes are whole IPv6 packets)"
    )?;
    writeln!(
        out,
        "  {:<14} {:>6} {:>12} {:>7} {:>12} {:>8} {:>9}  kernel side",
        "test", "bytes", "packets", "s", "pps", "Gbit/s", "dropped"
    )?;
    for row in &r.raw {
        let kernel = if row.id.starts_with("tun_tx") {
            format!("socket received {}pps", si(row.kernel_pps))
        } else {
            format!("socket sent {}pps", si(row.kernel_pps))
        };
        writeln!(
            out,
            "  {:<14} {:>6} {:>12} {:>7.2} {:>9}pps {:>8.3} {:>9}  {kernel}",
            row.id,
            row.packet_bytes,
            row.packets,
            row.seconds,
            si(row.pps),
            row.gbit_per_s,
            row.dropped
        )?;
    }
    for row in &r.raw {
        writeln!(out, "    {}: {}", row.id, row.description)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "TCP bulk throughput (payload at the receiver, from accept to end of stream)"
    )?;
    writeln!(
        out,
        "  {:<16} {:>9} {:>7} {:>9} {:>8} {:>11} {:>10} {:>10} {:>10}  path",
        "test", "MiB", "s", "MiB/s", "Gbit/s", "TUN packets", "TUN pps", "super sent", "coalesced"
    )?;
    for row in &r.tcp {
        writeln!(
            out,
            "  {:<16} {:>9.1} {:>7.3} {:>9.1} {:>8.3} {:>11} {:>7}pps {:>10} {:>10}  {}",
            row.id,
            row.bytes as f64 / f64::from(1u32 << 20),
            row.seconds,
            row.mib_per_s,
            row.gbit_per_s,
            row.tun_packets,
            si(row.tun_pps),
            row.super_sent,
            row.coalesced_received,
            row.path
        )?;
    }
    for row in &r.tcp {
        writeln!(out, "    {}: {}", row.id, row.description)?;
    }
    writeln!(out)?;
    writeln!(out, "ratio vany TCP / kernel TCP (Gbit/s over Gbit/s)")?;
    for q in &r.ratios {
        writeln!(
            out,
            "  {:<16} / {:<16} {:>6.3}",
            q.numerator, q.denominator, q.value
        )?;
    }
    if !r.notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "notes")?;
        for n in &r.notes {
            writeln!(out, "  - {n}")?;
        }
    }
    Ok(())
}
