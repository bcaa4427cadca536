//! The `[io]` table of `node.toml`: which packet device the node runs on.
//!
//! ```toml
//! [io]
//! backend = "dpdk"          # "tun" (the default: the top-level `tun` device) or "dpdk"
//! eal = ["-l", "0", "--no-huge", "-m", "512", "--no-pci", "--vdev=net_tap0"]
//! port = "net_tap0"         # a --vdev name, a PCI address, or a port id
//! gateway = "fd00:99:3::1"  # the router, resolved by neighbor discovery, or:
//! # gateway_mac = "02:00:00:00:00:01"   # a router with a static MAC
//! # mac = "02:00:00:00:00:02"           # instead of the port's own MAC
//! # mbufs = 8191
//! # idle_poll_us = 50
//! # cores = 1              (more: see docs/cores.md)
//! ```
//!
//! Every DPDK key is checked here, before the EAL starts; what only DPDK can check (the
//! EAL arguments, the port) fails at start with [`vany_ffi::DpdkError`]'s message.

use serde::Deserialize;
use vany_stack::l2::{Gateway, Mac};

use super::config::{invalid, ConfigError};

/// Receive and transmit ring sizes of a node's DPDK port.
pub const DPDK_RING: u16 = 1024;
/// Mbufs a node's DPDK port needs at least: both rings, a burst each way, and the
/// mempool's per-core cache (256) twice over.
pub const MIN_MBUFS: u32 = 2 * DPDK_RING as u32 + 2 * 1024 + 512;

/// Which packet device a node runs on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IoBackend {
    /// A TUN device (the top-level `tun` key names it).
    #[default]
    Tun,
    /// An Ethernet port driven by DPDK.
    Dpdk(DpdkSettings),
}

/// The `[io]` settings of the DPDK backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSettings {
    /// EAL arguments, passed unchanged (testpmd's conventions).
    pub eal: Vec<String>,
    /// The port: a `--vdev` name, a PCI address, or a port id.
    pub port: String,
    /// Our MAC, if not the port's own.
    pub mac: Option<Mac>,
    /// Where packets go: a router resolved by ND, or one with a static MAC.
    pub gateway: Gateway,
    /// Mbufs in the port's pool.
    pub mbufs: u32,
    /// How often an idle node polls the port (it sleeps in between).
    pub idle_poll: std::time::Duration,
    /// Poll loops (one per rx/tx queue pair), each running one of the node's members
    /// (see [`super::cores_config`]).
    pub cores: usize,
}

/// The raw `[io]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIo {
    backend: Option<String>,
    eal: Option<Vec<String>>,
    port: Option<String>,
    cores: Option<usize>,
    mac: Option<String>,
    gateway: Option<String>,
    gateway_mac: Option<String>,
    mbufs: Option<u32>,
    idle_poll_us: Option<u64>,
}

/// The TUN device's name: required on TUN (an interface name the kernel takes,
/// IFNAMSIZ), ignored with a warning on DPDK.
pub(super) fn check_tun(
    tun: Option<&str>,
    io: &IoBackend,
    warnings: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let Some(tun) = tun else {
        return match io {
            IoBackend::Tun => Err(invalid(
                "tun",
                "missing: the TUN device to create (e.g. 'vany0'), or an [io] table with \
                 backend = \"dpdk\"",
            )),
            IoBackend::Dpdk(_) => Ok(String::new()),
        };
    };
    if let IoBackend::Dpdk(_) = io {
        warnings.push(format!(
            "tun = '{tun}' is ignored: the node runs on DPDK ([io] backend = \"dpdk\")"
        ));
        return Ok(String::new());
    }
    if crate::io::tun::MAX_NAME_LEN < tun.len()
        || tun.is_empty()
        || tun
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Err(invalid(
            "tun",
            format!("not an interface name (1 to 15 bytes, no '/', ':' or whitespace): '{tun}'"),
        ));
    }
    Ok(tun.to_string())
}

/// A MAC written `02:00:00:00:00:01`; only unicast MACs are addresses of a station.
fn unicast_mac(key: &str, s: &str) -> Result<Mac, ConfigError> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()
        .filter(|b: &Vec<u8>| b.len() == 6)
        .ok_or_else(|| {
            invalid(
                key,
                format!("not a MAC address ('02:00:00:00:00:01'): '{s}'"),
            )
        })?;
    let mac = Mac::from_bytes(&bytes);
    if !mac.is_unicast() {
        return Err(invalid(
            key,
            format!("{s} is a group (multicast or broadcast) MAC, not a station's"),
        ));
    }
    Ok(mac)
}

/// Checks the `[io]` table (absent: TUN).
pub(super) fn parse_io(raw: Option<&RawIo>) -> Result<IoBackend, ConfigError> {
    let Some(raw) = raw else {
        return Ok(IoBackend::Tun);
    };
    match raw.backend.as_deref().unwrap_or("tun") {
        "tun" => {
            let dpdk_only = [
                ("io.eal", raw.eal.is_some()),
                ("io.port", raw.port.is_some()),
                ("io.cores", raw.cores.is_some()),
                ("io.mac", raw.mac.is_some()),
                ("io.gateway", raw.gateway.is_some()),
                ("io.gateway_mac", raw.gateway_mac.is_some()),
                ("io.mbufs", raw.mbufs.is_some()),
                ("io.idle_poll_us", raw.idle_poll_us.is_some()),
            ];
            if let Some((key, _)) = dpdk_only.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    *key,
                    "only for backend = \"dpdk\" (the TUN backend is configured by the \
                     top-level `tun` key)",
                ));
            }
            Ok(IoBackend::Tun)
        }
        "dpdk" => parse_dpdk(raw).map(IoBackend::Dpdk),
        other => Err(invalid(
            "io.backend",
            format!("must be \"tun\" or \"dpdk\", not '{other}'"),
        )),
    }
}

fn parse_dpdk(raw: &RawIo) -> Result<DpdkSettings, ConfigError> {
    let eal = raw.eal.clone().ok_or_else(|| {
        invalid(
            "io.eal",
            "missing: the EAL arguments, e.g. [\"-l\", \"0\", \"--no-huge\", \"-m\", \"512\", \
             \"--no-pci\", \"--vdev=net_tap0\"] to try it without a NIC, or [\"-l\", \"0\", \
             \"-a\", \"0000:01:00.0\"] for a NIC bound to vfio-pci",
        )
    })?;
    if let Some(bad) = eal.iter().find(|a| a.contains('\0')) {
        return Err(invalid(
            "io.eal",
            format!("an argument holds a NUL byte: {bad:?}"),
        ));
    }
    let port = raw
        .port
        .clone()
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| {
            invalid(
                "io.port",
                "missing: the DPDK port, a --vdev name ('net_tap0'), a PCI address \
                 ('0000:01:00.0') or a port id ('0')",
            )
        })?;
    let cores = raw.cores.unwrap_or(1);
    if !(1..=super::cores_config::MAX_CORES).contains(&cores) {
        return Err(invalid(
            "io.cores",
            format!(
                "must be 1 to {}, not {cores} (one poll loop and one queue pair per core)",
                super::cores_config::MAX_CORES
            ),
        ));
    }
    let mac = raw
        .mac
        .as_deref()
        .map(|m| unicast_mac("io.mac", m))
        .transpose()?;
    let gateway = match (&raw.gateway, &raw.gateway_mac) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "io.gateway_mac",
                "give either `gateway` (resolved by neighbor discovery) or `gateway_mac` \
                 (static), not both",
            ))
        }
        (Some(g), None) => {
            let addr: std::net::Ipv6Addr = g
                .parse()
                .map_err(|_| invalid("io.gateway", format!("not an IPv6 address: '{g}'")))?;
            if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
                return Err(invalid(
                    "io.gateway",
                    format!("{addr} cannot be a router's address"),
                ));
            }
            Gateway::Ipv6(addr)
        }
        (None, Some(m)) => Gateway::Mac(unicast_mac("io.gateway_mac", m)?),
        (None, None) => {
            return Err(invalid(
                "io.gateway",
                "missing: the router every packet goes to, as an IPv6 address on the port's \
                 link (`gateway`, resolved by neighbor discovery) or a MAC (`gateway_mac`)",
            ))
        }
    };
    let mbufs = raw.mbufs.unwrap_or(8191);
    if mbufs < MIN_MBUFS {
        return Err(invalid(
            "io.mbufs",
            format!(
                "{mbufs} is too few: the receive and transmit rings ({DPDK_RING} each), a \
                 burst each way and the pool's cache need at least {MIN_MBUFS}"
            ),
        ));
    }
    let idle_poll_us = raw.idle_poll_us.unwrap_or(50);
    if !(1..=100_000).contains(&idle_poll_us) {
        return Err(invalid(
            "io.idle_poll_us",
            format!(
                "must be 1 to 100000 µs, not {idle_poll_us} (shorter answers the first \
                 packet after a pause sooner and costs more CPU while idle)"
            ),
        ));
    }
    Ok(DpdkSettings {
        eal,
        port,
        mac,
        gateway,
        mbufs,
        idle_poll: std::time::Duration::from_micros(idle_poll_us),
        cores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IoBackend, ConfigError> {
        let raw: RawIo = toml::from_str(text).expect("toml");
        parse_io(Some(&raw))
    }

    const DPDK: &str = r#"
backend = "dpdk"
eal = ["-l", "0", "--no-huge", "-m", "512", "--no-pci", "--vdev=net_tap0"]
port = "net_tap0"
gateway = "fd00:99:3::1"
"#;

    #[test]
    fn absent_or_tun_is_tun() {
        assert_eq!(parse_io(None).unwrap(), IoBackend::Tun);
        assert_eq!(parse("backend = \"tun\"").unwrap(), IoBackend::Tun);
    }

    #[test]
    fn a_dpdk_table_parses_with_defaults() {
        let IoBackend::Dpdk(d) = parse(DPDK).unwrap() else {
            panic!("dpdk")
        };
        assert_eq!(d.port, "net_tap0");
        assert_eq!(d.eal.len(), 7);
        assert_eq!(d.gateway, Gateway::Ipv6("fd00:99:3::1".parse().unwrap()));
        assert_eq!((d.mac, d.mbufs, d.cores), (None, 8191, 1));
        assert_eq!(d.idle_poll, std::time::Duration::from_micros(50));
        let with_macs = DPDK.replace(
            "gateway = \"fd00:99:3::1\"",
            "gateway_mac = \"02:00:00:00:00:01\"\nmac = \"02:aa:00:00:00:02\"",
        );
        let IoBackend::Dpdk(d) = parse(&with_macs).unwrap() else {
            panic!("dpdk")
        };
        assert_eq!(d.gateway, Gateway::Mac(Mac([2, 0, 0, 0, 0, 1])));
        assert_eq!(d.mac, Some(Mac([2, 0xaa, 0, 0, 0, 2])));
    }

    #[test]
    fn the_example_config_runs_on_dpdk_when_its_io_table_is_uncommented() {
        use super::super::config::{NodeConfig, EXAMPLE};
        let text: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if ["[io]", "backend", "eal", "port", "gateway "]
                        .iter()
                        .any(|k| rest.starts_with(k)) =>
                {
                    rest.to_string()
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = NodeConfig::parse(&text).unwrap();
        let IoBackend::Dpdk(d) = &c.io else {
            panic!("dpdk: {:?}", c.io)
        };
        assert_eq!(d.port, "net_tap0");
        assert!(c.tun.is_empty());
        assert!(c.warnings.iter().any(|w| w.contains("is ignored")));
        assert_eq!(NodeConfig::parse(EXAMPLE).unwrap().io, IoBackend::Tun);
        let no_tun = EXAMPLE.replace("tun = \"vany0\"", "");
        assert!(NodeConfig::parse(&no_tun)
            .unwrap_err()
            .to_string()
            .starts_with("tun: missing"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(String, &str)] = &[
            ("backend = \"xdp\"".into(), "io.backend"),
            ("port = \"net_tap0\"".into(), "io.port"),
            (DPDK.replace("eal = ", "#"), "io.eal"),
            (DPDK.replace("port = ", "#"), "io.port"),
            (DPDK.replace("gateway = ", "#"), "io.gateway"),
            (DPDK.replace("fd00:99:3::1", "ff02::1"), "io.gateway"),
            (DPDK.replace("fd00:99:3::1", "router"), "io.gateway"),
            (
                format!("{DPDK}gateway_mac = \"02:00:00:00:00:01\""),
                "io.gateway_mac",
            ),
            (format!("{DPDK}mac = \"01:00:5e:00:00:01\""), "io.mac"),
            (format!("{DPDK}mac = \"02:00:00:00:00\""), "io.mac"),
            (format!("{DPDK}mac = \"02:00:00:00:00:zz\""), "io.mac"),
            (format!("{DPDK}cores = 0"), "io.cores"),
            (format!("{DPDK}cores = 65"), "io.cores"),
            (format!("{DPDK}mbufs = 1000"), "io.mbufs"),
            (format!("{DPDK}idle_poll_us = 0"), "io.idle_poll_us"),
            ("idle_poll_us = 10".into(), "io.idle_poll_us"),
        ];
        for (text, key) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        assert!(
            toml::from_str::<RawIo>("queues = 2").is_err(),
            "unknown keys refused"
        );
    }
}
