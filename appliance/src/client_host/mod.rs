//! `vany client`: the Mobile IPv6 correspondent node for an unmodified Linux host
//! (docs/client.md).
//!
//! Mainstream kernels have no correspondent-node support, so `vany client` does the
//! part of RFC 6275 a client needs, in user space, around the host's own TCP:
//!
//! ```text
//!   applications ── kernel TCP ──route <anycast prefix>──▶ TUN ─▶ vany client ─▶ raw IPv6 socket ─▶ uplink
//!                        ▲                                          │  ▲    (dst = care-of + RH2, or as is)
//!                        └─────────────── TUN ◀── src = home, no HAO┘  │
//!   uplink ─▶ AF_PACKET socket (BPF: next header 60 or 135) ───────────┘   HoTI/CoTI/BU ─▶ CN ─▶ HoT/CoT/BA/BE
//!   uplink ─▶ kernel input ─▶ nftables: drop Mobility Header and HAO packets (the copy above handles them)
//! ```
//!
//! - Only the anycast prefixes are routed into the TUN device; the host's traffic to
//!   every other destination never meets `vany client`.
//! - Outbound (kernel -> TUN): a packet to a home address with a binding leaves for the
//!   care-of address with a Type 2 Routing Header holding the home address (RFC 6275
//!   §6.4, §9.3.2); without a binding it leaves unchanged. Either way by a raw IPv6
//!   socket bound to the uplink, so that the anycast route does not loop it back.
//! - Inbound: a copy of every packet on the uplink whose next header is a Destination
//!   Options header or a Mobility Header comes in on an `AF_PACKET` socket. Mobility
//!   Header messages go to the correspondent node ([`vany_stack::mip6::cn`], the same
//!   code the simulator's clients run), whose answers leave by the raw socket. A packet
//!   with a Home Address option from the care-of address of a live binding is written
//!   into the TUN device with the home address as source and the option removed
//!   (RFC 6275 §9.3.1); the upper-layer checksum already covers the home address
//!   (§6.3), so it is not touched. One with no matching binding is dropped and answered
//!   by a Binding Error.
//! - The originals never reach the kernel, which would answer them with ICMPv6
//!   Parameter Problems: an nftables table ([`filter`]) drops them at the input hook.
//! - SYNs in both directions get their MSS lowered to uplink MTU - 84, for the 24 bytes
//!   an RH2 or a HAO adds (`vany_stack::wire::rewrite`); the TUN device's MTU is the uplink's minus 24.
//!
//! The simulator's clients ([`crate::sim::client`]) run this same [`Translator`], with
//! a TCP endpoint in the kernel's place and without the TUN device and sockets.
//!
//! Limits: one `vany client` per uplink and network namespace (the nftables table is
//! named after the uplink; a table left by a killed run is replaced at the next start).
//! It is meant for an end host: on a router that forwards IPv6 for others, Mobility
//! Header packets in transit would be answered too (the AF_PACKET socket cannot tell
//! them from the host's own).
//!
//! Modules: [`translate`] (the correspondent node's decisions; the rewrites themselves,
//! RH2, HAO and MSS, are `vany_stack::wire::rewrite`), [`filter`] (nftables and the BPF socket filter), [`runtime`] (set-up and loop).

pub mod filter;
pub mod runtime;
pub mod translate;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use runtime::{run, ClientError, ClientReport, ClientSettings};
pub use translate::{Prefix, Translator, Verdict};

/// Command-line arguments of `vany client`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// An anycast prefix or address to reach through the correspondent node (e.g.
    /// fd00:a::/64 or fd00:a::1). Repeat for several groups.
    #[arg(long, value_name = "PREFIX", required = true)]
    pub anycast: Vec<Prefix>,
    /// Name of the TUN device to create (at most 15 bytes; `%d` picks a number).
    #[arg(long, value_name = "NAME", default_value = "vany%d")]
    pub tun: String,
    /// The interface towards the group. Default: the interface of the route to the
    /// first anycast address before vany client adds its own.
    #[arg(long, value_name = "IFACE")]
    pub uplink: Option<String>,
    /// Log every Mobility Header message on stderr (binding changes are always logged).
    #[arg(long)]
    pub verbose: bool,
}

/// Runs `vany client` until SIGINT or SIGTERM; exit status 0 after a clean stop, 1 when
/// the host could not be set up or the loop failed.
pub fn main(args: ClientArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("vany client: cannot handle signal {sig}: {e}");
            return ExitCode::from(1);
        }
    }
    let settings = ClientSettings {
        anycast: args.anycast,
        tun: args.tun,
        uplink: args.uplink,
        verbose: args.verbose,
    };
    match run(&settings, &stop) {
        Ok(report) => {
            match serde_json::to_string(&report) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("vany client: writing the report: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vany client: {e}");
            ExitCode::from(1)
        }
    }
}
