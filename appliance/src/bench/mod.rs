//! `vany bench`: measurements of vany's data path against the Linux kernel, in one run.
//!
//! [`tun`] is `vany bench tun`: packet rate through vany's TUN backend
//! ([`crate::io::Tun`]), and TCP bulk throughput of vany's TCP engine (driven by
//! [`crate::io::Pump`]) next to the kernel's own TCP over comparable paths, with their
//! ratio. The pieces it is built from:
//!
//! - [`netns`]: network namespaces, veth pairs and TUN devices made for the run and
//!   removed at its end (drop guards), and threads that run inside a namespace;
//! - [`kernel`]: the kernel's side — plain sockets (TCP sink and source, UDP counter and
//!   flood) in those threads;
//! - [`raw`]: raw packet rate of the TUN backend, each direction;
//! - [`vany_tcp`]: a bulk transfer through vany's TCP engine over a TUN device;
//! - [`forward`]: a trivial userspace forwarder between two TUN devices, so that the
//!   kernel's TCP can be measured through the same kind of TUN path.
//!
//! [`dpdk`] is `vany bench dpdk`: packet rate through vany's DPDK backend on `net_null`
//! devices next to `dpdk-testpmd` ([`testpmd`]), and the packet paths fed through it
//! ([`dpdk_paths`]: `vany client`'s translation, a member's forwarding).
//!
//! Benchmarks never assert on speed; they report. Everything needs root (namespaces,
//! TUN and veth devices), and uses addresses in `fd00::/8` inside its own namespaces only.

pub mod cli;
pub mod dpdk;
pub mod dpdk_cores;
pub mod dpdk_paths;
pub mod dpdk_tcp;
pub mod forward;
pub mod kernel;
pub mod netns;
pub mod raw;
pub mod report;
pub mod testpmd;
pub mod tun;
pub mod vany_tcp;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::io::IoError;

/// Why a benchmark could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Not running as root.
    #[error(
        "vany bench {what} needs root: it creates network namespaces, TUN and veth devices \
         (CAP_SYS_ADMIN and CAP_NET_ADMIN); run it as root"
    )]
    NotRoot {
        /// The benchmark asked for.
        what: &'static str,
    },
    /// An external program could not be started.
    #[error("cannot run `{program}` ({hint}): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What provides it.
        hint: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An external program failed.
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// Entering a network namespace failed.
    #[error("cannot enter network namespace `{name}`: {source}")]
    Netns {
        /// The namespace.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TUN device failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A kernel socket operation failed.
    #[error("kernel socket: {what}: {source}")]
    Socket {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// vany's TCP connection failed.
    #[error("vany TCP: {0}")]
    Tcp(String),
    /// A phase did not finish in time.
    #[error("{what} did not finish within {limit:?}")]
    Timeout {
        /// The phase.
        what: String,
        /// Its time limit.
        limit: Duration,
    },
    /// A worker thread panicked.
    #[error("the {0} thread panicked")]
    Panicked(String),
    /// The other side of a measurement failed first, and this side was stopped.
    #[error("{0} stopped: the other side of the measurement failed")]
    Abandoned(String),
    /// A benchmark's own check failed (a packet path handled nothing, a set-up step
    /// did not reach the state it measures).
    #[error("{0}")]
    Check(String),
    /// SIGINT or SIGTERM arrived.
    #[error("interrupted")]
    Interrupted,
    /// Installing the signal handler failed.
    #[error("cannot install the SIGINT/SIGTERM handler: {0}")]
    Signal(std::io::Error),
}

impl BenchError {
    pub(crate) fn socket(what: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Socket {
            what: what.into(),
            source,
        }
    }
}

/// A cancellation signal: the run-wide one (set by SIGINT/SIGTERM) and one per phase.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    run: Arc<AtomicBool>,
    phase: Arc<AtomicBool>,
}

impl Cancel {
    /// A signal whose run-wide flag is `run` (e.g. registered with signal-hook).
    pub fn new(run: Arc<AtomicBool>) -> Cancel {
        Cancel {
            run,
            phase: Arc::default(),
        }
    }

    /// A fresh phase flag under the same run-wide flag.
    pub fn phase(&self) -> Cancel {
        Cancel {
            run: Arc::clone(&self.run),
            phase: Arc::default(),
        }
    }

    /// Ends the phase (not the run).
    pub fn stop_phase(&self) {
        self.phase.store(true, Ordering::Relaxed);
    }

    /// Whether the phase or the run is over.
    pub fn is_set(&self) -> bool {
        self.phase.load(Ordering::Relaxed) || self.interrupted()
    }

    /// Whether the run was interrupted.
    pub fn interrupted(&self) -> bool {
        self.run.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once the run was interrupted.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.interrupted() {
            Err(BenchError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// A phase's time limit.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    /// Whether the time is up.
    pub fn passed(&self) -> bool {
        Instant::now() > self.at
    }

    /// `Err(Timeout)` naming `what` once the time is up.
    pub fn check(&self, what: &str) -> Result<(), BenchError> {
        if self.passed() {
            Err(BenchError::Timeout {
                what: what.to_string(),
                limit: self.limit,
            })
        } else {
            Ok(())
        }
    }
}

/// The CPU's model name (`/proc/cpuinfo`), for every figure a bench prints: machines of
/// one kind differ (Intel, AMD), and so do their memcpy and TCP figures.
pub fn cpu_model() -> String {
    cpu_model_in(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// The first `model name` of a `/proc/cpuinfo` text, or "unknown CPU".
fn cpu_model_in(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Bits per second as Gbit/s.
pub fn gbit_per_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e9
    } else {
        0.0
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Joins a worker thread, turning a panic into an error.
pub(crate) fn join<T>(
    handle: std::thread::JoinHandle<Result<T, BenchError>>,
    what: &str,
) -> Result<T, BenchError> {
    handle
        .join()
        .map_err(|_| BenchError::Panicked(what.to_string()))?
}

#[cfg(test)]
mod cpu_tests {
    #[test]
    fn the_model_name_is_found_or_said_unknown() {
        let info = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(super::cpu_model_in(info), "AMD EPYC 7B13");
        assert_eq!(super::cpu_model_in("processor : 0\n"), "unknown CPU");
        assert_ne!(super::cpu_model(), "");
    }
}
