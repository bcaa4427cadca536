//! The `vany` command.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use vany_appliance::inspect::{self, pcap::LinkType, Input, KeyArg};
use vany_appliance::plot::PlotFile;

/// `vany --version`: the package version and the git revision it was built from
/// (`unknown` outside a git checkout; `-dirty` with uncommitted changes; see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("VANY_GIT_REV"),
    ")"
);

/// vany: versatile anycast over Mobile IPv6.
///
/// A group of servers shares one IPv6 address and moves each client between its servers
/// in the middle of live TCP connections, by playing a Mobile IPv6 mobile node towards
/// the client.
#[derive(Parser, Debug)]
#[command(name = "vany", version = VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the embedded default: a three-continent anycast group in a simulated WAN.
    ///
    /// A contact node in Amsterdam and members in New York and Tokyo serve clients around
    /// the world from one anycast address. Clients download verifiable streams; the group
    /// moves them to their nearest member, then New York drains and leaves, then an
    /// operator moves one client by hand. Prints one row per handoff with the
    /// client-observed gap next to the slides' L_ss + 4*L_sc, and a summary. No root, no
    /// network: everything runs in a deterministic simulator (same seed, same run).
    Demo(DemoCmd),
    /// Decode IPv6 / Mobile IPv6 packets, check checksums and BU/BA authenticators.
    ///
    /// Prints every header and field one per line, and whether each upper-layer checksum
    /// is valid when computed with the home address in the pseudo-header (HAO address as
    /// source, RH2 address as destination; RFC 6275 §6.1.1). Exit status: 0 when every
    /// packet decoded, 1 when any was malformed (the message names the byte offset and
    /// the rule), 2 for bad arguments or an unreadable file.
    Inspect(InspectCmd),
    /// Be the Mobile IPv6 correspondent node for this (unmodified Linux) host.
    ///
    /// Routes the anycast prefixes into a TUN device and follows the group's handoffs
    /// for every application on the host: keeps the binding cache, answers HoTI/CoTI,
    /// accepts Binding Updates, sends packets to a bound home address to its care-of
    /// address with a Type 2 Routing Header, and hands packets with a Home Address
    /// option to the kernel as if they came from the home address (RFC 6275 §9.3). SYN
    /// MSS options are lowered by the 24 bytes those headers add. Traffic to any other
    /// destination is untouched.
    ///
    /// Mobile IPv6 packets are read from the uplink with an AF_PACKET socket and kept
    /// from the kernel by an nftables table (`table ip6 vany_client_<uplink>`, input
    /// hook), deleted again at exit; translated packets leave by a raw IPv6 socket
    /// bound to the uplink. Needs root (or CAP_NET_ADMIN + CAP_NET_RAW), iproute2 and
    /// nftables. Runs until SIGINT/SIGTERM, then prints its counters as one JSON line.
    Client(vany_appliance::client_host::ClientArgs),
    /// Run one member of an anycast group on a TUN device or a DPDK port (real network,
    /// real clock).
    ///
    /// Reads node.toml (TUN name or `[io]` DPDK port, this member and every other member, anycast address,
    /// contact node, group key, control socket, metrics address, gossip socket, ...),
    /// serves clients of the anycast address with the hosted stream source, hands their
    /// sessions to other members (peer protocol over UDP/IPv6 port 4600 between care-of
    /// addresses, routed by the node's network namespace), detects failed members with
    /// SWIM gossip (foca, HMAC-SHA256 under the group key), answers `vany ctl` on its
    /// control socket and serves Prometheus metrics on GET /metrics. SIGTERM or ctrl-c
    /// drains (hands every session off) and exits; a second signal exits at once. On
    /// DPDK with `cores = N`, runs N members, one per core and queue pair (docs/cores.md).
    /// Logs go to stderr (log_level in the config, or RUST_LOG). Needs root or
    /// CAP_NET_ADMIN (DPDK: root, or hugepages and device access).
    Node(vany_appliance::node::cli::NodeArgs),
    /// Ask a running `vany node` through its control socket (answers are JSON).
    Ctl(vany_appliance::node::cli::CtlArgs),
    /// Measure vany's data path against the Linux kernel's, in one run (needs root).
    ///
    /// `vany bench tun`: packets per second and Gbit/s that vany's TUN backend writes into
    /// and reads from a TUN device (64-byte and MTU-sized IPv6/UDP packets, a kernel UDP
    /// socket on the other side); TCP bulk throughput of vany's TCP engine over that TUN
    /// device to and from a kernel socket; the kernel's own TCP over a veth pair and
    /// through two TUN devices joined by vany's forwarder; and the ratio vany TCP /
    /// kernel TCP. Builds its own network namespaces and devices (fd00::/8 addresses) and
    /// removes them at exit. Reports; never fails on speed.
    Bench(vany_appliance::bench::cli::BenchArgs),
    /// Draw a running group's handoffs as an SVG timeline, from `vany node --events`.
    ///
    /// Takes the events files of one or several nodes (each node logs its side of a
    /// handoff: the donor its start and what it heard back, the acceptor when the session
    /// was restored and when the client's binding was confirmed), joins each handoff's
    /// lines, and draws every handoff over time with its steps up close, as `vany demo
    /// --plot` draws simulated ones. Times are the nodes' wall clocks. Exit status 2 for
    /// an unreadable file or a line that is not an event (the message names the line).
    Plot(PlotCmd),
    /// Write the man pages and shell completions of these commands into DIR (packaging;
    /// hidden from --help).
    #[command(hide = true)]
    GenerateDocs {
        /// Created if missing: DIR/man1/*.1, DIR/completions/{vany.bash,_vany,vany.fish}.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct PlotCmd {
    /// Events files (`vany node --events FILE`), one per node, or several nodes' lines
    /// in one file.
    #[arg(required = true, value_name = "FILE.jsonl")]
    events: Vec<PathBuf>,
    /// The picture to write.
    #[arg(short = 'o', long = "output", value_name = "FILE.svg")]
    output: PathBuf,
}

#[derive(Args, Debug)]
struct DemoCmd {
    /// Seed of the simulation (the same seed gives the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of clients.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(1..=1000))]
    clients: u16,
    /// MiB each client downloads.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=4096))]
    mib: u64,
    /// Packet loss on client paths, in percent.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write one pcap per simulated host into DIR (created if missing; openable in
    /// Wireshark), and list the files at the end. Timestamps start at the wall-clock time
    /// the run started (the simulation does not depend on it: same seed, same packets).
    /// An unwritable DIR is an error (exit status 2) before the run starts.
    #[arg(long, value_name = "DIR")]
    pcap: Option<PathBuf>,
    /// Measure the handoff gap over L_ss, L_sc in {2, 10, 40, 120} ms instead (no
    /// captures: it runs many short scenarios).
    #[arg(long, conflicts_with = "pcap")]
    gap_grid: bool,
    /// Also draw the run as an SVG picture into FILE: each client's bytes over simulated
    /// time with every handoff marked, then each handoff up close (its gap shaded, the
    /// floor and L_ss + 4·L_sc drawn beside it). With --gap-grid: a heatmap of gap minus
    /// floor over (L_ss, L_sc). An unwritable FILE is an error before the run starts.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["hex", "pcap"])))]
#[command(group(clap::ArgGroup::new("key").args(["kbm", "tokens"])))]
struct InspectCmd {
    /// One packet as hex digits (spaces, ':' and '-' allowed).
    #[arg(long, value_name = "HEX")]
    hex: Option<String>,
    /// A capture file, classic pcap or pcapng (link types raw IPv6 101/229, Ethernet 1,
    /// Linux SLL 113/276).
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

fn run_demo(cmd: DemoCmd) -> ExitCode {
    if !(0.0..=50.0).contains(&cmd.loss) {
        eprintln!("vany demo: --loss must be a percentage between 0 and 50");
        return ExitCode::from(2);
    }
    // Opened (and so checked) before a run that may take a while.
    let mut plot = match cmd.plot.as_deref().map(PlotFile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vany demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout().lock();
    if cmd.gap_grid {
        let mut cells = vany_appliance::demo::gap_grid(cmd.seed);
        cells.extend(vany_appliance::demo::gap_grid_asymmetric(cmd.seed));
        let ok = cells.iter().all(|c| c.intact && c.loss_not_intact == 0);
        let written = if cmd.json {
            serde_json::to_writer_pretty(&mut stdout, &cells)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(stdout))
        } else {
            vany_appliance::demo::render_grid(&cells, &mut stdout)
        };
        if let Err(e) = written {
            eprintln!("vany demo: writing output: {e}");
            return ExitCode::from(2);
        }
        if let Some(p) = plot.as_mut() {
            if let Err(e) = p.write(vany_appliance::demo::grid_picture(&cells)) {
                eprintln!("vany demo: {e}");
                return ExitCode::from(2);
            }
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let opts = vany_appliance::demo::DemoOptions {
        seed: cmd.seed,
        clients: usize::from(cmd.clients),
        stream_len: cmd.mib * 1024 * 1024,
        pcap_dir: cmd.pcap,
        loss: cmd.loss / 100.0,
        pcap_epoch: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
        ..Default::default()
    };
    // The progress line is rewritten with `\r`: only for a person at a terminal.
    let mut progress: Box<dyn Write> = if !cmd.json && std::io::stderr().is_terminal() {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::sink())
    };
    let report = match vany_appliance::demo::run(&opts, &mut progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vany demo: {e}");
            return ExitCode::from(2);
        }
    };
    let written = if cmd.json {
        serde_json::to_writer_pretty(&mut stdout, &report)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(stdout))
    } else {
        vany_appliance::demo::render(&report, &mut stdout)
    };
    if let Err(e) = written {
        eprintln!("vany demo: writing output: {e}");
        return ExitCode::from(2);
    }
    if let Some(p) = plot.as_mut() {
        if let Err(e) = p.write(vany_appliance::demo::picture(&report)) {
            eprintln!("vany demo: {e}");
            return ExitCode::from(2);
        }
    }
    // Every stream must arrive intact; anything else is a failure of the run.
    if report.mismatches == 0 && report.streams_complete == report.streams && report.resets == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "vany demo: streams incomplete or corrupted (seed {})",
            cmd.seed
        );
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(cmd) => run_inspect(cmd),
        Command::Demo(cmd) => run_demo(cmd),
        Command::Client(args) => vany_appliance::client_host::main(args),
        Command::Node(args) => vany_appliance::node::cli::main_node(args),
        Command::Ctl(args) => vany_appliance::node::cli::main_ctl(args),
        Command::Bench(args) => vany_appliance::bench::cli::main(args),
        Command::Plot(cmd) => run_plot(cmd),
        Command::GenerateDocs { dir } => {
            match vany_appliance::docs::generate(&Cli::command(), &dir) {
                Ok(files) => {
                    for f in files {
                        println!("{}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vany generate-docs: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run_plot(cmd: PlotCmd) -> ExitCode {
    let mut events = Vec::new();
    for path in &cmd.events {
        match vany_appliance::plot::read_events(path) {
            Ok(e) => events.extend(e),
            Err(e) => {
                eprintln!("vany plot: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let timeline = vany_appliance::plot::events_timeline(&events);
    let written = PlotFile::create(&cmd.output)
        .and_then(|mut f| f.write(vany_appliance::plot::render_timeline(&timeline)));
    match written {
        Ok(()) => {
            println!(
                "{} handoffs drawn into {}",
                timeline.handoffs.len(),
                cmd.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vany plot: {e}");
            ExitCode::from(2)
        }
    }
}
