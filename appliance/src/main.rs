//! The `vany` command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vany_appliance::inspect::{self, pcap::LinkType, Input, KeyArg};

/// vany: versatile anycast over Mobile IPv6.
///
/// A group of servers shares one IPv6 address and moves each client between its servers
/// in the middle of live TCP connections, by playing a Mobile IPv6 mobile node towards
/// the client.
#[derive(Parser, Debug)]
#[command(name = "vany", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode IPv6 / Mobile IPv6 packets, check checksums and BU/BA authenticators.
    ///
    /// Prints every header and field one per line, and whether each upper-layer checksum
    /// is valid when computed with the home address in the pseudo-header (HAO address as
    /// source, RH2 address as destination; RFC 6275 §6.1.1). Exit status: 0 when every
    /// packet decoded, 1 when any was malformed (the message names the byte offset and
    /// the rule), 2 for bad arguments or an unreadable file.
    Inspect(InspectCmd),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["hex", "pcap"])))]
#[command(group(clap::ArgGroup::new("key").args(["kbm", "tokens"])))]
struct InspectCmd {
    /// One packet as hex digits (spaces, ':' and '-' allowed).
    #[arg(long, value_name = "HEX")]
    hex: Option<String>,
    /// A classic pcap file (link types raw IPv6 101/229, Ethernet 1, Linux SLL 113/276).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Binding management key Kbm (20 bytes hex), to check BU/BA authenticators.
    #[arg(long, value_name = "HEX")]
    kbm: Option<String>,
    /// Home and care-of keygen tokens (8 bytes hex each); Kbm = SHA1(home | care-of).
    /// Leave the care-of token empty ("HOME:") for a deregistration.
    #[arg(long, value_name = "HOME_HEX:CAREOF_HEX")]
    tokens: Option<String>,
    /// Print one JSON object per packet instead of text.
    #[arg(long)]
    json: bool,
    /// Framing of the --hex packet.
    #[arg(long, value_enum, default_value_t = HexLink::Ipv6)]
    link: HexLink,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum HexLink {
    /// The hex starts with the IPv6 header.
    Ipv6,
    /// The hex starts with an Ethernet header.
    Ethernet,
}

fn run_inspect(cmd: InspectCmd) -> ExitCode {
    let input = match (cmd.hex, cmd.pcap) {
        (Some(hex), _) => Input::Hex(hex),
        (None, Some(path)) => Input::Pcap(path),
        (None, None) => unreachable!("clap requires --hex or --pcap"),
    };
    let key = match (cmd.kbm, cmd.tokens) {
        (Some(k), _) => Some(KeyArg::Kbm(k)),
        (None, Some(t)) => Some(KeyArg::Tokens(t)),
        (None, None) => None,
    };
    let kbm = match key.as_ref().map(inspect::key_from_arg).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vany inspect: {e}");
            return ExitCode::from(2);
        }
    };
    let link = match cmd.link {
        HexLink::Ipv6 => LinkType::RawIp,
        HexLink::Ethernet => LinkType::Ethernet,
    };
    let reports = match inspect::inspect(&input, link, kbm.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vany inspect: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = inspect::write_reports(&mut out, &reports, cmd.json).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("vany inspect: writing output: {e}");
            return ExitCode::from(2);
        }
    }
    let malformed: Vec<_> = reports.iter().filter(|r| r.is_error()).collect();
    for r in &malformed {
        if let Some(e) = &r.error {
            eprintln!(
                "vany inspect: packet {}: malformed at byte offset {}: {}",
                r.index, e.offset, e.message
            );
        }
    }
    if malformed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(cmd) => run_inspect(cmd),
    }
}
