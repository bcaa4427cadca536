//! `vany bench dpdk`: io-forward on one core, then on two, and the scaling factor.
//!
//! Each core is a thread registered with DPDK (an lcore id, so the mempools' per-core
//! caches work) that owns a pair of `net_null` ports of its own and forwards between
//! them through [`PacketIo::forward_to`], as the single-core io-fwd phase does; nothing
//! is shared between the cores. The 1-core row runs the first pair alone, the 2-core row
//! both pairs at once; packets are summed over the cores.

use std::time::{Duration, Instant};

use serde::Serialize;
use vany_ffi::Eal;
use vany_stack::l2::Mac;

use super::{BenchError, Cancel};
use crate::io::dpdk::DpdkIo;
use crate::io::PacketIo;

/// Most cores measured (ports: two per core).
pub const MAX_CORES: usize = 2;

/// The `net_null` ports of the run, from `first`, with frames of `size` bytes.
pub fn vdevs(first: usize, size: usize) -> Vec<String> {
    (0..2 * MAX_CORES)
        .map(|i| format!("--vdev=net_null{},size={size}", first + i))
        .collect()
}

/// io-forward on some cores.
#[derive(Debug, Clone, Serialize)]
pub struct CoreRow {
    /// Cores (threads), each with its own pair of ports.
    pub cores: usize,
    /// Frame size.
    pub size: usize,
    /// Frames forwarded, all cores together.
    pub packets: u64,
    /// Seconds measured.
    pub secs: f64,
    /// Million frames per second, all cores together.
    pub mpps: f64,
    /// The same per core.
    pub mpps_per_core: f64,
}

/// The MAC of vany's bench ports: frames are sent to and accepted from it.
pub const BENCH_MAC: Mac = Mac([0x02, 0, 0, 0, 0x6d, 1]);

/// Opens port `net_null{n}` for the bench's phases, its pool primed with `frame`.
pub fn open(eal: &Eal, n: usize, burst: usize, frame: &[u8]) -> Result<DpdkIo, BenchError> {
    super::dpdk_paths::open_port(eal, &format!("net_null{n}"), BENCH_MAC, burst, None, frame)
}

/// A core's pair of ports.
type Pair = (DpdkIo, DpdkIo);

/// One core's loop: forwards between the ports of `pair` for `phase`; frames forwarded,
/// and the pair back (a closed DPDK port is gone: the next row reuses them).
fn forward_loop(eal: Eal, pair: Pair, phase: Duration) -> (Result<u64, BenchError>, Pair) {
    let (mut a, mut b) = pair;
    let n = forward_for(eal, &mut a, &mut b, phase);
    (n, (a, b))
}

fn forward_for(
    eal: Eal,
    a: &mut DpdkIo,
    b: &mut DpdkIo,
    phase: Duration,
) -> Result<u64, BenchError> {
    let _lcore = eal.register_thread().map_err(crate::io::IoError::from)?;
    let start = Instant::now();
    let (mut n, mut rounds) = (0u64, 0u32);
    loop {
        n += a.forward_to(b, 64, &mut |p| p.len())? as u64;
        n += b.forward_to(a, 64, &mut |p| p.len())? as u64;
        rounds = rounds.wrapping_add(1);
        if rounds & 63 == 0 && start.elapsed() >= phase {
            break;
        }
    }
    a.flush();
    b.flush();
    Ok(n)
}

/// io-forward of `frame` (a whole Ethernet frame) on 1 and then 2 cores, on the ports
/// of [`vdevs`] from `first`.
pub fn run(
    eal: &Eal,
    first: usize,
    frame: &[u8],
    burst: usize,
    phase: Duration,
    cancel: &Cancel,
    log: &mut dyn std::io::Write,
) -> Result<Vec<CoreRow>, BenchError> {
    let size = frame.len();
    let mut pairs: Vec<Pair> = Vec::new();
    for c in 0..MAX_CORES {
        let a = open(eal, first + 2 * c, burst, frame)?;
        let b = open(eal, first + 2 * c + 1, burst, frame)?;
        pairs.push((a, b));
    }
    let mut rows = Vec::new();
    for cores in 1..=MAX_CORES {
        cancel.check()?;
        let _ = writeln!(log, "vany io-fwd {size} B on {cores} core(s) ...");
        let start = Instant::now();
        let mut threads = Vec::new();
        for c in 0..cores {
            let pair = pairs.remove(0);
            let eal = *eal;
            let t = std::thread::Builder::new()
                .name(format!("vany-fwd-{c}"))
                .spawn(move || forward_loop(eal, pair, phase))
                .map_err(|e| BenchError::Check(format!("cannot start a thread: {e}")))?;
            threads.push(t);
        }
        let mut packets = 0;
        let mut failed = None;
        for t in threads {
            let (n, pair) = t
                .join()
                .map_err(|_| BenchError::Check("a forwarding thread panicked".into()))?;
            pairs.push(pair);
            match n {
                Ok(n) => packets += n,
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let mpps = packets as f64 / secs / 1e6;
        rows.push(CoreRow {
            cores,
            size,
            packets,
            secs,
            mpps,
            mpps_per_core: mpps / cores as f64,
        });
    }
    Ok(rows)
}
