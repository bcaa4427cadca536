//! `node.toml`: the configuration of one `vany node`.
//!
//! Every key is described in [`EXAMPLE`] (`vany node --example-config` prints it).
//!
//! [`NodeConfig::parse`] checks everything it can before anything starts; an error names
//! the key and says what is wrong (`members.2.care_of: not an IPv6 address: 'xyz'`).
//! Unknown keys are errors too, so that a misspelt one is not silently ignored.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use serde::Deserialize;
use vany_stack::tcp::TcpConfig;
use vany_stack::time::Duration;

use crate::apps::AppTimeouts;

use super::apps_config::{parse_apps, HostedApps};
use crate::group::member::MemberConfig;
use crate::group::peer::MemberId;

use super::io_config::{check_tun, parse_io, IoBackend, RawIo};
use super::secrets;

/// A commented example configuration with every key.
pub const EXAMPLE: &str = include_str!("node.example.toml");

/// The control socket when the configuration names none (and `vany ctl`'s default).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/vany.sock";
/// Shortest group key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not TOML, a value of the wrong type, or an unknown key (toml's message says where).
    #[error("{0}")]
    Syntax(String),
    /// A key's value is wrong.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key, dotted (`members.2.care_of`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

pub(super) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// One member of the group, as every node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEntry {
    /// A name for logs and status.
    pub name: String,
    /// Its care-of (unicast) address.
    pub care_of: Ipv6Addr,
    /// Whether the network routes the anycast address to it.
    pub contact: bool,
    /// Its foca (gossip) UDP socket, if gossip is on (never on a core member).
    pub gossip: Option<SocketAddr>,
    /// The member whose node runs this one as a further core (`core_of`): it shares
    /// that node's process, port, gossip state and contact role.
    pub core_of: Option<MemberId>,
}

/// SWIM failure-detection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipSettings {
    /// This node's foca UDP socket.
    pub listen: SocketAddr,
    /// How often a random member is probed.
    pub probe_period: StdDuration,
    /// How long a direct probe waits before indirect probes.
    pub probe_rtt: StdDuration,
    /// How long a suspect member has to refute before it is declared down.
    pub suspect_to_down: StdDuration,
}

/// A checked `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This member's id.
    pub id: MemberId,
    /// TUN device name (empty on DPDK).
    pub tun: String,
    /// The packet device: TUN (default) or DPDK (`[io]`).
    pub io: IoBackend,
    /// The group's anycast address.
    pub anycast: Ipv6Addr,
    /// The contact node that runs home tests for this member.
    pub contact_node: MemberId,
    /// The group key (peer channel and gossip authentication).
    pub group_key: Vec<u8>,
    /// The hosted stream source's port.
    pub app_port: u16,
    /// Further hosted apps: port -> app (echo, http, source, files), and the directory
    /// of each files app.
    pub apps: HostedApps,
    /// How long every app waits for a request, and on an idle connection (docs/apps.md).
    pub app_timeouts: AppTimeouts,
    /// Handoff timeout.
    pub handoff_timeout: StdDuration,
    /// Send buffer of each served connection, bytes.
    pub send_buffer: usize,
    /// Receive buffer of each served connection, bytes.
    pub recv_buffer: usize,
    /// Most bytes of incoming session state held for transfers under way.
    pub transfer_budget: usize,
    /// Policy interval.
    pub policy_interval: StdDuration,
    /// The control socket's path.
    pub control_socket: PathBuf,
    /// A group whose members may use the control socket too.
    pub control_group: Option<super::ctl::ControlGroup>,
    /// Where `/metrics` is served, if anywhere (a port alone in the file means
    /// `[::1]:PORT`).
    pub metrics_listen: Option<SocketAddr>,
    /// A tracing filter (`info`, `vany_appliance=debug`, ...).
    pub log_level: String,
    /// Packets per receive burst.
    pub batch: usize,
    /// `tun_offload`: ask the kernel to split vany's TCP super-segments on the TUN
    /// device (transmit only: docs/tun-offload.md). Off by default.
    pub tun_offload: bool,
    /// The most payload of one TCP super-segment (`TcpConfig::tso_max`): 0 from the
    /// file; set when the TUN device was opened with the offload granted.
    pub tso_max: usize,
    /// Spin time after activity before sleeping.
    pub spin: StdDuration,
    /// Longest drain on SIGTERM before exiting anyway.
    pub drain_timeout: StdDuration,
    /// Failure detection, if on.
    pub gossip: Option<GossipSettings>,
    /// Every member, this one included.
    pub members: BTreeMap<MemberId, MemberEntry>,
    /// Things that work but should not be so (a group key readable by others): the node
    /// logs them at start, `--check` prints them.
    pub warnings: Vec<String>,
    /// Where to append one JSON line per handoff (`vany node --events`), if anywhere.
    pub events: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    id: MemberId,
    tun: Option<String>,
    io: Option<RawIo>,
    anycast: String,
    contact_node: MemberId,
    group_key: Option<String>,
    group_key_file: Option<PathBuf>,
    app_port: Option<u16>,
    apps: Option<BTreeMap<String, toml::Value>>,
    app_header_timeout_ms: Option<u64>,
    app_idle_timeout_ms: Option<u64>,
    handoff_timeout_ms: Option<u64>,
    send_buffer_kib: Option<u64>,
    recv_buffer_kib: Option<u64>,
    transfer_budget_mib: Option<u64>,
    policy_interval_ms: Option<u64>,
    control_socket: Option<PathBuf>,
    control_group: Option<String>,
    metrics_listen: Option<String>,
    log_level: Option<String>,
    batch: Option<usize>,
    tun_offload: Option<bool>,
    spin_us: Option<u64>,
    drain_timeout_ms: Option<u64>,
    gossip: Option<RawGossip>,
    members: BTreeMap<String, RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGossip {
    listen: String,
    probe_period_ms: Option<u64>,
    probe_rtt_ms: Option<u64>,
    suspect_to_down_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    name: Option<String>,
    care_of: String,
    contact: Option<bool>,
    gossip: Option<String>,
    core_of: Option<MemberId>,
}

fn ipv6(key: &str, s: &str) -> Result<Ipv6Addr, ConfigError> {
    s.parse()
        .map_err(|_| invalid(key, format!("not an IPv6 address: '{s}'")))
}

fn socket(key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        invalid(
            key,
            format!("not a socket address ('[fd00::1]:4700' or '127.0.0.1:9100'): '{s}'"),
        )
    })
}

/// `metrics_listen`: a socket address, or a port alone meaning `[::1]:PORT` (loopback).
fn metrics_addr(s: &str) -> Result<SocketAddr, ConfigError> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err(invalid("metrics_listen", "port must be 1 to 65535")),
        Ok(port) => Ok(SocketAddr::from((Ipv6Addr::LOCALHOST, port))),
        Err(_) => socket("metrics_listen", s),
    }
}

/// A size in `unit` bytes between 1 and `max` units, as bytes.
fn size(
    key: &str,
    v: Option<u64>,
    default: u64,
    unit: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    match v.unwrap_or(default) {
        n if n == 0 || n > max => Err(invalid(key, format!("must be 1 to {max}"))),
        n => Ok((n * unit) as usize),
    }
}

/// An app timeout: 1 ms to one day.
fn app_timeout(key: &str, v: Option<u64>, default: u64) -> Result<Duration, ConfigError> {
    const DAY_MS: u64 = 86_400_000;
    match v.unwrap_or(default) {
        ms @ 1..=DAY_MS => Ok(Duration::from_millis(ms)),
        _ => Err(invalid(key, format!("must be 1 to {DAY_MS} (one day)"))),
    }
}

fn millis(key: &str, v: Option<u64>, default: u64) -> Result<StdDuration, ConfigError> {
    match v.unwrap_or(default) {
        0 => Err(invalid(key, "must be more than 0")),
        ms => Ok(StdDuration::from_millis(ms)),
    }
}

/// Decodes a hex key (whitespace ignored) of at least [`MIN_KEY_LEN`] bytes. An error
/// never shows any of the key.
fn key_from_hex(key: &str, text: &str) -> Result<Vec<u8>, ConfigError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&digits).map_err(|e| {
        let why = match e {
            hex::FromHexError::InvalidHexCharacter { index, .. } => {
                format!("digit {} is not a hex digit", index + 1)
            }
            hex::FromHexError::OddLength => "an odd number of hex digits".into(),
            hex::FromHexError::InvalidStringLength => "a wrong number of hex digits".into(),
        };
        invalid(key, format!("not hex: {why}"))
    })?;
    if bytes.len() < MIN_KEY_LEN {
        return Err(invalid(
            key,
            format!(
                "{} bytes is too short (at least {MIN_KEY_LEN})",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

impl NodeConfig {
    /// Reads and checks a configuration file. A relative `group_key_file` is taken
    /// relative to the configuration file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        NodeConfig::parse_in(&text, Some(path))
    }

    /// Checks a configuration given as text (a relative `group_key_file` is taken
    /// relative to the working directory).
    pub fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse_in(text, None)
    }

    /// `path`: the file `text` was read from, if any.
    fn parse_in(text: &str, path: Option<&Path>) -> Result<NodeConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| secrets::syntax_error(text, &e))?;
        let mut warnings = Vec::new();
        let anycast = ipv6("anycast", &raw.anycast)?;
        let io = parse_io(raw.io.as_ref())?;
        let tun = check_tun(raw.tun.as_deref(), &io, &mut warnings)?;
        let gossip = parse_gossip(raw.gossip.as_ref())?;
        let members = parse_members(&raw, anycast, gossip.as_ref())?;
        let group_key = parse_group_key(&raw, path, &mut warnings)?;
        let metrics_listen = raw
            .metrics_listen
            .as_deref()
            .map(metrics_addr)
            .transpose()?;
        let log_level = raw.log_level.clone().unwrap_or_else(|| "info".into());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_level) {
            return Err(invalid(
                "log_level",
                format!("not a level or tracing filter: '{log_level}' ({e})"),
            ));
        }
        let batch = raw.batch.unwrap_or(64);
        if !(1..=1024).contains(&batch) {
            return Err(invalid("batch", format!("must be 1 to 1024, not {batch}")));
        }
        let app_port = raw.app_port.unwrap_or(80);
        if app_port == 0 {
            return Err(invalid("app_port", "must be 1 to 65535"));
        }
        let apps = parse_apps(raw.apps.clone().unwrap_or_default(), app_port)?;
        let cfg = NodeConfig {
            id: raw.id,
            tun,
            io,
            anycast,
            contact_node: raw.contact_node,
            group_key,
            app_port,
            apps,
            app_timeouts: AppTimeouts {
                header: app_timeout("app_header_timeout_ms", raw.app_header_timeout_ms, 10_000)?,
                idle: app_timeout("app_idle_timeout_ms", raw.app_idle_timeout_ms, 60_000)?,
            },
            handoff_timeout: millis("handoff_timeout_ms", raw.handoff_timeout_ms, 2000)?,
            // A window scale of 14 allows 1 GiB; a send buffer is state a handoff moves.
            send_buffer: size("send_buffer_kib", raw.send_buffer_kib, 256, 1024, 1 << 20)?,
            recv_buffer: size("recv_buffer_kib", raw.recv_buffer_kib, 256, 1024, 1 << 20)?,
            transfer_budget: size(
                "transfer_budget_mib",
                raw.transfer_budget_mib,
                1024,
                1 << 20,
                1 << 20,
            )?,
            policy_interval: millis("policy_interval_ms", raw.policy_interval_ms, 100)?,
            control_socket: raw
                .control_socket
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            control_group: raw
                .control_group
                .as_deref()
                .map(super::ctl::ControlGroup::resolve)
                .transpose()
                .map_err(|e| invalid("control_group", e))?,
            metrics_listen,
            log_level,
            batch,
            tun_offload: raw.tun_offload.unwrap_or(false),
            tso_max: 0,
            spin: StdDuration::from_micros(raw.spin_us.unwrap_or(0)),
            drain_timeout: millis("drain_timeout_ms", raw.drain_timeout_ms, 10_000)?,
            gossip,
            members,
            warnings,
            events: None,
        };
        super::cores_config::check_cores(&cfg)?;
        Ok(cfg)
    }

    /// This member's entry.
    pub fn me(&self) -> &MemberEntry {
        &self.members[&self.id]
    }

    /// The group [`Member`](crate::group::member::Member)'s configuration, with `seed`
    /// for its randomness.
    pub fn member_config(&self, seed: u64) -> MemberConfig {
        let me = self.me();
        MemberConfig {
            id: self.id,
            name: me.name.clone(),
            care_of: me.care_of,
            anycast: self.anycast,
            contact: me.contact,
            members: self
                .members
                .iter()
                .map(|(id, m)| (*id, m.care_of))
                .collect(),
            contact_node: self.contact_node,
            contact_cores: self.node_of(self.contact_node),
            group_key: self.group_key.clone(),
            tcp: TcpConfig {
                send_buffer: self.send_buffer,
                recv_buffer: self.recv_buffer,
                tso_max: self.tso_max,
                ..TcpConfig::default()
            },
            app_port: self.app_port,
            handoff_timeout: stack_duration(self.handoff_timeout),
            policy_interval: stack_duration(self.policy_interval),
            seed,
            transfer_budget: self.transfer_budget,
        }
    }
}

/// A std duration as the stack's.
pub fn stack_duration(d: StdDuration) -> Duration {
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The `[gossip]` table, if any.
fn parse_gossip(gossip: Option<&RawGossip>) -> Result<Option<GossipSettings>, ConfigError> {
    gossip
        .map(|g| -> Result<GossipSettings, ConfigError> {
            let s = GossipSettings {
                listen: socket("gossip.listen", &g.listen)?,
                probe_period: millis("gossip.probe_period_ms", g.probe_period_ms, 1000)?,
                probe_rtt: millis("gossip.probe_rtt_ms", g.probe_rtt_ms, 300)?,
                suspect_to_down: millis("gossip.suspect_to_down_ms", g.suspect_to_down_ms, 3000)?,
            };
            if s.probe_rtt >= s.probe_period {
                return Err(invalid(
                    "gossip.probe_rtt_ms",
                    "must be less than gossip.probe_period_ms",
                ));
            }
            Ok(s)
        })
        .transpose()
}

/// The `[members]` tables, with this node and the contact node among them.
fn parse_members(
    raw: &RawConfig,
    anycast: Ipv6Addr,
    gossip: Option<&GossipSettings>,
) -> Result<BTreeMap<MemberId, MemberEntry>, ConfigError> {
    if raw.members.is_empty() {
        return Err(invalid("members", "no member: add a [members.ID] table"));
    }
    let mut members = BTreeMap::new();
    for (k, m) in &raw.members {
        let id: MemberId = k.parse().map_err(|_| {
            invalid(
                format!("members.{k}"),
                "a member's key is its id, a number from 0 to 65535",
            )
        })?;
        let care_of = ipv6(&format!("members.{k}.care_of"), &m.care_of)?;
        if care_of == anycast {
            return Err(invalid(
                format!("members.{k}.care_of"),
                "is the anycast address; a care-of address is the member's own",
            ));
        }
        if let Some((other, _)) = members
            .iter()
            .find(|(_, e): &(&MemberId, &MemberEntry)| e.care_of == care_of)
        {
            return Err(invalid(
                format!("members.{k}.care_of"),
                format!("{care_of} is member {other}'s care-of address too"),
            ));
        }
        if m.core_of.is_some() {
            super::cores_config::check_core_member(k, m.gossip.is_some(), m.contact.is_some())?;
        }
        let gossip_addr = match (&m.gossip, gossip) {
            (Some(s), _) => Some(socket(&format!("members.{k}.gossip"), s)?),
            (None, Some(_)) if m.core_of.is_some() => None,
            (None, Some(_)) => {
                return Err(invalid(
                    format!("members.{k}.gossip"),
                    "missing: every member needs its gossip address when [gossip] is set",
                ))
            }
            (None, None) => None,
        };
        members.insert(
            id,
            MemberEntry {
                name: m.name.clone().unwrap_or_else(|| format!("member-{id}")),
                care_of,
                contact: m.contact.unwrap_or(false),
                gossip: gossip_addr,
                core_of: m.core_of,
            },
        );
    }
    super::cores_config::resolve_cores(&mut members)?;
    if !members.contains_key(&raw.id) {
        return Err(invalid(
            "id",
            format!("no member {} in [members] (this node must be one)", raw.id),
        ));
    }
    match members.get(&raw.contact_node) {
        None => {
            return Err(invalid(
                "contact_node",
                format!("no member {} in [members]", raw.contact_node),
            ))
        }
        Some(m) if !m.contact => {
            return Err(invalid(
                "contact_node",
                format!(
                    "member {} is not a contact node (set members.{}.contact = true)",
                    raw.contact_node, raw.contact_node
                ),
            ))
        }
        Some(_) => {}
    }
    Ok(members)
}

/// The group key, inline or from its file (a relative path is taken from the
/// configuration's directory); warns when others could read it.
fn parse_group_key(
    raw: &RawConfig,
    path: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, ConfigError> {
    let dir = path.and_then(Path::parent);
    let key = match (&raw.group_key, &raw.group_key_file) {
        (Some(hex), None) => {
            if let Some(p) = path {
                warnings.extend(secrets::exposed(
                    "the configuration (it holds group_key)",
                    p,
                ));
            }
            key_from_hex("group_key", hex)?
        }
        (None, Some(file)) => {
            let path = match dir {
                Some(d) if file.is_relative() => d.join(file),
                _ => file.clone(),
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    "group_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            warnings.extend(secrets::exposed("group_key_file", &path));
            key_from_hex("group_key_file", &text)?
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "group_key",
                "give group_key or group_key_file, not both",
            ))
        }
        (None, None) => {
            return Err(invalid(
                "group_key",
                "missing: give group_key (hex) or group_key_file",
            ))
        }
    };
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = 2
tun = "vtun"
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"
metrics_listen = "[fd00:99:2::2]:9100"

[gossip]
listen = "[fd00:99:2::2]:4700"

[members.1]
name = "Amsterdam"
care_of = "fd00:20:1::1"
contact = true
gossip = "[fd00:99:1::2]:4700"

[members.2]
name = "New York"
care_of = "fd00:20:2::1"
gossip = "[fd00:99:2::2]:4700"
"#;

    fn err(text: &str) -> String {
        NodeConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn hosted_apps_are_read_and_bad_ones_named() {
        let with = |apps: &str| NodeConfig::parse(&format!("{apps}\n{GOOD}"));
        let c = with("apps = { 7 = \"echo\", 8080 = \"http\" }").unwrap();
        assert_eq!(c.apps.kinds[&7], crate::apps::AppKind::Echo);
        assert_eq!(c.apps.kinds[&8080], crate::apps::AppKind::Http);
        assert_eq!(c.app_timeouts, AppTimeouts::default());
        let c = with("app_header_timeout_ms = 500\napp_idle_timeout_ms = 2500").unwrap();
        assert_eq!(c.app_timeouts.header, Duration::from_millis(500));
        assert_eq!(c.app_timeouts.idle, Duration::from_millis(2500));
        let e = with("apps = { 7 = \"gopher\" }").unwrap_err().to_string();
        assert!(e.contains("apps.7") && e.contains("gopher"), "{e}");
        let e = with("apps = { x = \"echo\" }").unwrap_err().to_string();
        assert!(e.contains("apps.x"), "{e}");
        let e = with("apps = { 80 = \"echo\" }").unwrap_err().to_string();
        assert!(e.contains("apps.80"), "{e}");
    }

    #[test]
    fn a_good_config_parses_with_defaults() {
        let c = NodeConfig::parse(GOOD).unwrap();
        assert_eq!((c.id, c.contact_node, c.app_port, c.batch), (2, 1, 80, 64));
        assert_eq!(c.me().name, "New York");
        assert!(!c.me().contact && c.members[&1].contact);
        assert_eq!(c.group_key.len(), 16);
        assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert_eq!(c.gossip.as_ref().unwrap().probe_period.as_millis(), 1000);
        let m = c.member_config(7);
        assert_eq!((m.id, m.seed, m.members.len()), (2, 7, 2));
        assert_eq!(m.care_of, "fd00:20:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(m.handoff_timeout, Duration::from_millis(2000));
    }

    #[test]
    fn the_example_parses() {
        let c = NodeConfig::parse(EXAMPLE).unwrap();
        assert_eq!((c.id, c.members.len(), c.batch), (2, 2, 64));
        assert!(c.gossip.is_some() && c.metrics_listen.is_some());
    }

    #[test]
    fn a_bad_care_of_names_its_key() {
        let e = err(&GOOD.replace("fd00:20:2::1", "xyz"));
        assert_eq!(e, "members.2.care_of: not an IPv6 address: 'xyz'");
    }

    #[test]
    fn each_mistake_names_the_key() {
        let cases = [
            (
                GOOD.replace("fd00:aa::1", "nope"),
                "anycast: not an IPv6 address",
            ),
            (GOOD.replace("id = 2", "id = 5"), "id: no member 5"),
            (
                GOOD.replace("contact_node = 1", "contact_node = 2"),
                "contact_node: member 2 is not a contact node",
            ),
            (
                GOOD.replace("[members.2]", "[members.x]"),
                "members.x: a member's key",
            ),
            (
                GOOD.replace("00112233445566778899aabbccddeeff", "0011"),
                "group_key: 2 bytes is too short",
            ),
            (
                GOOD.replace("00112233445566778899aabbccddeeff", "zz"),
                "group_key: not hex",
            ),
            (
                GOOD.replace("group_key = \"00112233445566778899aabbccddeeff\"", ""),
                "group_key: missing",
            ),
            (
                GOOD.replace("[fd00:99:2::2]:9100", "localhost"),
                "metrics_listen: not a socket address",
            ),
            (
                GOOD.replace("gossip = \"[fd00:99:1::2]:4700\"", ""),
                "members.1.gossip: missing",
            ),
            (GOOD.replace("vtun", "a/b"), "tun: not an interface name"),
            (
                GOOD.replace("fd00:20:2::1", "fd00:20:1::1"),
                "members.2.care_of: fd00:20:1::1 is member 1's care-of address too",
            ),
            (
                GOOD.replace("id = 2", "id = 2\nbatch = 0"),
                "batch: must be 1 to 1024",
            ),
            (
                GOOD.replace("id = 2", "id = 2\nhandoff_timeout_ms = 0"),
                "handoff_timeout_ms: must be more than 0",
            ),
            (
                GOOD.replace("id = 2", "id = 2\napp_idle_timeout_ms = 0"),
                "app_idle_timeout_ms: must be 1 to 86400000",
            ),
            (
                GOOD.replace("id = 2", "id = 2\napp_header_timeout_ms = 86400001"),
                "app_header_timeout_ms: must be 1 to 86400000",
            ),
            (
                GOOD.replace("id = 2", "id = 2\nsend_buffer_kib = 0"),
                "send_buffer_kib: must be 1 to 1048576",
            ),
            (
                GOOD.replace("id = 2", "id = 2\ntransfer_budget_mib = 99999999"),
                "transfer_budget_mib: must be 1 to 1048576",
            ),
        ];
        for (text, want) in cases {
            let e = err(&text);
            assert!(e.contains(want), "want {want:?}, got {e:?}");
        }
    }

    #[test]
    fn a_control_group_is_looked_up() {
        let c = NodeConfig::parse(&GOOD.replace("id = 2", "id = 2\ncontrol_group = \"root\""));
        assert_eq!(c.unwrap().control_group.unwrap().gid, 0);
        let e = err(&GOOD.replace("id = 2", "id = 2\ncontrol_group = \"no-such-vany-group\""));
        assert_eq!(
            e,
            "control_group: no group 'no-such-vany-group' in /etc/group"
        );
    }

    #[test]
    fn a_metrics_port_alone_means_loopback() {
        let c = NodeConfig::parse(&GOOD.replace("[fd00:99:2::2]:9100", "9100")).unwrap();
        assert_eq!(c.metrics_listen, Some("[::1]:9100".parse().unwrap()));
        let e = err(&GOOD.replace("[fd00:99:2::2]:9100", "0"));
        assert!(e.contains("metrics_listen: port must be 1 to 65535"), "{e}");
        let c = NodeConfig::parse(&GOOD.replace("metrics_listen", "# metrics_listen")).unwrap();
        assert_eq!(c.metrics_listen, None, "off unless configured");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_place() {
        let e = err(&GOOD.replace("id = 2", "id = 2\nanycats = \"x\""));
        assert!(e.contains("anycats"), "{e}");
        let e = err(&GOOD.replace("id = 2", "id = \"two\""));
        assert!(e.contains("line") && e.contains("id"), "{e}");
    }

    #[test]
    fn a_key_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("vany-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("group.key"),
            "0011223344556677\n8899aabbccddeeff\n",
        )
        .unwrap();
        let text = GOOD.replace(
            "group_key = \"00112233445566778899aabbccddeeff\"",
            "group_key_file = \"group.key\"",
        );
        std::fs::write(dir.join("node.toml"), &text).unwrap();
        let c = NodeConfig::load(&dir.join("node.toml")).unwrap();
        assert_eq!(
            c.group_key,
            hex::decode("00112233445566778899aabbccddeeff").unwrap()
        );
        std::fs::remove_file(dir.join("group.key")).unwrap();
        let e = NodeConfig::load(&dir.join("node.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("group_key_file: cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
