//! The `vany node` and `vany ctl` commands: their arguments and entry points.

use std::io::Write as _;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::config::{NodeConfig, DEFAULT_CONTROL_SOCKET};
use super::ctl::{self, Request};
use crate::group::peer::MemberId;

/// Arguments of `vany node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The node's configuration (TOML); `--example-config` prints one with every key
    /// explained. An error names the key and what is wrong with it (exit status 2).
    #[arg(long, value_name = "FILE", required_unless_present = "example_config")]
    pub config: Option<PathBuf>,
    /// Print a commented example configuration and exit.
    #[arg(long)]
    pub example_config: bool,
    /// Check the configuration, print it, and exit without starting.
    #[arg(long)]
    pub check: bool,
    /// Append one JSON line per handoff to FILE (created if missing): as the donor when
    /// a handoff it started ends, as the acceptor when one it took commits or when it
    /// refuses one, with wall-clock times of each step. `vany plot FILE...` draws them.
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: Option<PathBuf>,
    /// The control socket, instead of `control_socket` in the configuration (the
    /// systemd unit vany-node@NAME puts it at /run/vany/NAME/control.sock).
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
}

/// Arguments of `vany ctl`.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The node's control socket (`control_socket` in its node.toml); before or after
    /// the command.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET, global = true)]
    pub socket: PathBuf,
    /// What to ask.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// A `vany ctl` request.
#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// The node's identity, members (as gossip sees them), sessions and counters.
    Status,
    /// The client sessions served by the node (client, connections, handoff under way).
    Sessions,
    /// Move CLIENT's session (all its connections) to member MEMBER now.
    Handoff {
        /// The client's address.
        client: Ipv6Addr,
        /// The acceptor's member id.
        member: MemberId,
    },
    /// Hand every session to the other members, then stop the node. A contact node
    /// refuses while no other contact node is up: draining it withdraws the group's
    /// anycast address, so new clients could not reach the group.
    Drain {
        /// Drain even the only contact node that is up.
        #[arg(long)]
        force: bool,
    },
}

/// Sets up logging: `RUST_LOG` if set, else `level` (a tracing filter), to stderr.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `vany node`: exit status 0 after a drain or signal, 1 on a runtime error, 2 on a bad
/// configuration.
pub fn main_node(args: NodeArgs) -> ExitCode {
    if args.example_config {
        print!("{}", super::config::EXAMPLE);
        return ExitCode::SUCCESS;
    }
    let Some(path) = args.config else {
        eprintln!("vany node: --config FILE is required");
        return ExitCode::from(2);
    };
    let mut cfg = match NodeConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vany node: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    if let Some(socket) = args.control_socket {
        cfg.control_socket = socket;
    }
    if args.check {
        for w in &cfg.warnings {
            eprintln!("vany node: warning: {w}");
        }
        // Not the Debug form: it would print the group key.
        let me = cfg.me();
        println!(
            "configuration OK: member {} ({}) care-of {}{}, anycast {}, {} members, {}, \
             control {}, metrics {}, gossip {}",
            cfg.id,
            me.name,
            me.care_of,
            if me.contact { " (contact node)" } else { "" },
            cfg.anycast,
            cfg.members.len(),
            device(&cfg),
            cfg.control_socket.display(),
            cfg.metrics_listen.map_or("off".into(), |a| a.to_string()),
            cfg.gossip
                .as_ref()
                .map_or("off".into(), |g| g.listen.to_string()),
        );
        println!("apps: {}", apps_line(&cfg));
        return ExitCode::SUCCESS;
    }
    cfg.events = args.events;
    init_logging(&cfg.log_level);
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    match super::process::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "node failed");
            eprintln!("vany node: {e}");
            ExitCode::from(1)
        }
    }
}

/// The hosted apps in one line: `80 source, 8080 files /srv/www, 81 proxy [::1]:8080`.
fn apps_line(cfg: &NodeConfig) -> String {
    let mut apps = vec![(cfg.app_port, "source".to_string())];
    for (port, kind) in &cfg.apps.kinds {
        let what = match (cfg.apps.files.get(port), cfg.apps.proxies.get(port)) {
            (Some(f), _) => format!("files {}", f.root.display()),
            (_, Some(p)) => format!("proxy to {}", p.backend),
            _ => format!("{kind:?}").to_lowercase(),
        };
        apps.push((*port, what));
    }
    apps.sort();
    apps.iter()
        .map(|(p, w)| format!("{p} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The packet device in one phrase: the TUN device, or the DPDK port and its cores.
fn device(cfg: &NodeConfig) -> String {
    match &cfg.io {
        super::io_config::IoBackend::Tun => format!("TUN device {}", cfg.tun),
        super::io_config::IoBackend::Dpdk(d) => {
            let members: Vec<String> = cfg.core_members().iter().map(u16::to_string).collect();
            format!(
                "DPDK port {}, {} core(s) (members {})",
                d.port,
                d.cores,
                members.join(", ")
            )
        }
    }
}

/// `vany ctl`: prints the node's JSON answer; exit status 0 if it is not an error, 1 if
/// it is, 2 if the node cannot be reached.
pub fn main_ctl(args: CtlArgs) -> ExitCode {
    let req = match args.command {
        CtlCommand::Status => Request::Status,
        CtlCommand::Sessions => Request::Sessions,
        CtlCommand::Handoff { client, member } => Request::Handoff { client, member },
        CtlCommand::Drain { force } => Request::Drain { force },
    };
    match ctl::request(&args.socket, &req) {
        Ok(v) => {
            // Not println!: `vany ctl status | head` must not panic on a closed pipe.
            let _ = writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
            );
            if v["kind"] == "error" {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("vany ctl: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Ctl {
        #[command(flatten)]
        args: CtlArgs,
    }

    #[test]
    fn the_socket_may_come_before_or_after_the_command() {
        for argv in [
            &["ctl", "--socket", "/tmp/x.sock", "status"][..],
            &["ctl", "status", "--socket", "/tmp/x.sock"],
            &["ctl", "drain", "--socket", "/tmp/x.sock", "--force"],
        ] {
            let c = Ctl::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(c.args.socket, PathBuf::from("/tmp/x.sock"), "{argv:?}");
        }
        let c = Ctl::try_parse_from(["ctl", "sessions"]).unwrap();
        assert_eq!(c.args.socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert!(matches!(c.args.command, CtlCommand::Sessions));
    }
}
