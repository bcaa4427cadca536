//! `vany demo`: the embedded default. A three-continent anycast group in the simulated
//! WAN: a contact node in Amsterdam and members in New York and Tokyo, with clients
//! around the world downloading verifiable streams from the one anycast address. The
//! clients are moved to their nearest member; then New York drains and leaves; then an
//! operator moves one client by hand. Every handoff is reported with its client-observed
//! gap, next to the slides' L_ss + 4·L_sc.
//!
//! Latencies are one-way, half of public round-trip figures between the cities (typical
//! values of public ping tables such as WonderNetwork's, rounded).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use serde::Serialize;
use vany_stack::tcp::TcpConfig;
use vany_stack::time::{Duration, Instant};

use crate::group::member::{HandoffOutcome, HandoffRecord, Member, MemberConfig};
use crate::group::peer::MemberId;
use crate::sim::client::{Client, ClientConfig};
use crate::sim::{HostId, LinkParams, Sim};

/// A place with its round-trip times to Amsterdam, New York and Tokyo (ms).
struct Place {
    name: &'static str,
    rtt: [u64; 3],
}

const MEMBERS: [&str; 3] = ["Amsterdam", "New York", "Tokyo"];
/// Round trips between the members (ms): AMS-NYC, AMS-TYO, NYC-TYO.
const MEMBER_RTT: [[u64; 3]; 3] = [[0, 75, 235], [75, 0, 160], [235, 160, 0]];

const PLACES: [Place; 12] = [
    Place {
        name: "London",
        rtt: [8, 70, 230],
    },
    Place {
        name: "Boston",
        rtt: [80, 6, 170],
    },
    Place {
        name: "Osaka",
        rtt: [240, 165, 8],
    },
    Place {
        name: "Frankfurt",
        rtt: [8, 85, 240],
    },
    Place {
        name: "Chicago",
        rtt: [95, 20, 145],
    },
    Place {
        name: "Seoul",
        rtt: [250, 180, 32],
    },
    Place {
        name: "Paris",
        rtt: [10, 75, 230],
    },
    Place {
        name: "Toronto",
        rtt: [90, 12, 160],
    },
    Place {
        name: "Singapore",
        rtt: [160, 230, 70],
    },
    Place {
        name: "Stockholm",
        rtt: [22, 100, 250],
    },
    Place {
        name: "Washington",
        rtt: [85, 6, 155],
    },
    Place {
        name: "Sydney",
        rtt: [280, 200, 110],
    },
];

/// Options of `vany demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the run.
    pub seed: u64,
    /// Number of clients (cycling through the places).
    pub clients: usize,
    /// Bytes each client downloads.
    pub stream_len: u64,
    /// Stream rate in bytes per second.
    pub rate: u64,
    /// When New York starts draining.
    pub drain_at: Duration,
    /// When the operator moves a client by hand.
    pub manual_at: Duration,
    /// Write one pcap per host here.
    pub pcap_dir: Option<PathBuf>,
    /// Loss probability on client paths.
    pub loss: f64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 1,
            clients: 12,
            stream_len: 12 * 1024 * 1024,
            rate: 1024 * 1024,
            drain_at: Duration::from_secs(6),
            manual_at: Duration::from_secs(9),
            pcap_dir: None,
            loss: 0.0,
        }
    }
}

/// One row of the handoff table.
#[derive(Debug, Clone, Serialize)]
pub struct HandoffRow {
    /// Client place.
    pub client: String,
    /// Donor member.
    pub from: String,
    /// Acceptor member.
    pub to: String,
    /// Which policy moved it.
    pub reason: String,
    /// When (simulated seconds).
    pub at_s: f64,
    /// One-way latency donor-acceptor.
    pub l_ss_ms: f64,
    /// One-way latency acceptor-client.
    pub l_sc_ms: f64,
    /// Client-observed gap (last new in-order byte from the donor to the first from the
    /// acceptor), if the client saw the switch.
    pub gap_ms: Option<f64>,
    /// The slides' L_ss + 4·L_sc.
    pub slides_ms: f64,
    /// Serialized session size.
    pub snapshot_bytes: usize,
    /// Outcome.
    pub outcome: HandoffOutcome,
}

/// What the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Seed.
    pub seed: u64,
    /// The latency table used (place -> one-way ms to each member).
    pub latencies_ms: BTreeMap<String, [f64; 3]>,
    /// Every handoff.
    pub handoffs: Vec<HandoffRow>,
    /// Handoffs committed.
    pub committed: usize,
    /// Handoffs refused or timed out.
    pub failed: usize,
    /// Streams complete / total.
    pub streams_complete: u64,
    /// Streams total.
    pub streams: u64,
    /// Stream bytes verified.
    pub bytes_verified: u64,
    /// Wrong bytes seen (must be 0).
    pub mismatches: u64,
    /// Retransmission timeouts at the clients.
    pub client_rtos: u64,
    /// Resets seen by clients.
    pub resets: u64,
    /// Peer messages dropped as forged, malformed or replayed (a copy of a message already
    /// accepted counts as replayed: a retransmission whose first copy arrived after all).
    pub peer_rejected: u64,
    /// Peer messages sent again for want of an acknowledgement.
    pub peer_retransmitted: u64,
    /// Simulated time.
    pub sim_seconds: f64,
    /// Members serving at the end, with their client counts.
    pub final_load: BTreeMap<String, usize>,
}

fn one_way(rtt_ms: u64) -> Duration {
    Duration::from_micros(rtt_ms * 500)
}

fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

fn member_addr(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10 + i as u16, 0, 0, 0, 0, 0, 1)
}

fn client_addr(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xc, 0, 0, 0, 0, 0, 1 + i as u16)
}

/// The group's anycast address.
pub const ANYCAST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 1);

/// The member configuration used by the demo and the gap grid.
pub fn member_config(
    id: MemberId,
    name: &str,
    contact: bool,
    members: &BTreeMap<MemberId, Ipv6Addr>,
    seed: u64,
) -> MemberConfig {
    MemberConfig {
        id,
        name: name.to_string(),
        care_of: members[&id],
        anycast: ANYCAST,
        contact,
        members: members.clone(),
        contact_node: 1,
        group_key: b"vany demo group key".to_vec(),
        tcp: TcpConfig {
            send_buffer: 128 * 1024,
            recv_buffer: 64 * 1024,
            ..TcpConfig::default()
        },
        app_port: 80,
        handoff_timeout: Duration::from_secs(2),
        policy_interval: Duration::from_millis(100),
        seed,
    }
}

/// Buffers sized for a stream of `rate` bytes/s over the demo's longest round trips
/// (280 ms): half a second of stream in the members' send buffers and in the clients'
/// receive buffers, as Linux's autotuning would grow them. With less, a far client's
/// stream is window-limited: the donor sends one burst per round trip and then idles,
/// and a handoff frozen in the idle part shows that idle time as a gap above the floor.
fn stream_buffer(rate: u64) -> usize {
    (rate as usize / 2).max(128 * 1024)
}

/// [`member_config`] with a send buffer for a stream of `rate` bytes/s.
fn demo_member_config(
    id: MemberId,
    name: &str,
    contact: bool,
    members: &BTreeMap<MemberId, Ipv6Addr>,
    seed: u64,
    rate: u64,
) -> MemberConfig {
    let mut cfg = member_config(id, name, contact, members, seed);
    cfg.tcp.send_buffer = stream_buffer(rate);
    cfg
}

/// A client downloading one stream of `len` bytes at `rate` from the anycast address.
fn stream_client(i: usize, start: Instant, id: u64, len: u64, rate: u64) -> ClientConfig {
    let mut cfg =
        ClientConfig::new(client_addr(i), ANYCAST).download(start, 80, id, len, Some(rate));
    cfg.tcp.recv_buffer = stream_buffer(rate).max(cfg.tcp.recv_buffer);
    cfg
}

/// Runs the demo; progress lines go to `progress` (one line, rewritten).
pub fn run(opts: &DemoOptions, progress: &mut dyn Write) -> DemoReport {
    let mut sim = Sim::new(opts.seed);
    let members: BTreeMap<MemberId, Ipv6Addr> = (0..3)
        .map(|i| (i as MemberId + 1, member_addr(i)))
        .collect();
    // Locations: 0..3 members, 3.. clients.
    for (a, row) in MEMBER_RTT.iter().enumerate() {
        for (b, rtt) in row.iter().enumerate() {
            if a != b {
                sim.set_latency(a, b, one_way(*rtt));
            }
        }
    }
    let mut member_hosts: Vec<HostId> = Vec::new();
    for (i, name) in MEMBERS.iter().enumerate() {
        let seed = sim.fork_rng().next_u64();
        let cfg = demo_member_config(i as MemberId + 1, name, i == 0, &members, seed, opts.rate);
        member_hosts.push(sim.add_host(Box::new(Member::new(cfg, sim.now())), i));
    }
    let mut client_hosts = Vec::new();
    let mut latencies = BTreeMap::new();
    for c in 0..opts.clients {
        let place = &PLACES[c % PLACES.len()];
        let loc = 3 + c;
        for (m, rtt) in place.rtt.iter().enumerate() {
            sim.set_latency(loc, m, one_way(*rtt));
            if opts.loss > 0.0 {
                let mut link = sim.link(loc, m);
                link.loss = opts.loss;
                sim.set_link(loc, m, link);
            }
        }
        for other in 3..loc {
            sim.set_latency(loc, other, one_way(200));
        }
        let name = if c < PLACES.len() {
            place.name.to_string()
        } else {
            format!("{} #{}", place.name, c / PLACES.len() + 1)
        };
        latencies.insert(name.clone(), place.rtt.map(|r| r as f64 / 2.0));
        let start = sim.now() + Duration::from_millis(10 * c as u64);
        let cfg = stream_client(c, start, 1000 + c as u64, opts.stream_len, opts.rate);
        let rng = sim.fork_rng();
        client_hosts.push((name, sim.add_host(Box::new(Client::new(cfg, rng)), loc)));
    }
    if let Some(dir) = &opts.pcap_dir {
        let _ = std::fs::create_dir_all(dir);
        for (i, id) in member_hosts.iter().enumerate() {
            let _ = sim.capture(
                *id,
                &dir.join(format!(
                    "member-{}.pcap",
                    MEMBERS[i].replace(' ', "-").to_lowercase()
                )),
            );
        }
        for (name, id) in &client_hosts {
            let _ = sim.capture(
                *id,
                &dir.join(format!(
                    "client-{}.pcap",
                    name.replace([' ', '#'], "").to_lowercase()
                )),
            );
        }
    }

    let start = sim.now();
    let limit = start + Duration::from_secs(120);
    let mut drained = false;
    let mut manual_done = false;
    let mut next_progress = start;
    loop {
        let now = sim.now();
        if !drained && now >= start + opts.drain_at {
            drained = true;
            if let Some(m) = sim.host_as::<Member>(member_hosts[1]) {
                m.drain();
            }
            for &h in [member_hosts[0], member_hosts[2]].iter() {
                if let Some(m) = sim.host_as::<Member>(h) {
                    m.set_excluded(2, true);
                }
            }
        }
        if !manual_done && now >= start + opts.manual_at {
            manual_done = true;
            // The operator moves the first Asian client served in Tokyo to Amsterdam.
            let target = client_hosts
                .iter()
                .position(|(n, _)| n.starts_with("Singapore") || n.starts_with("Osaka"));
            if let Some(t) = target {
                let addr = client_addr(t);
                for &h in &member_hosts {
                    if let Some(m) = sim.host_as::<Member>(h) {
                        if m.clients().contains(&addr) {
                            m.manual_move(addr, 1);
                        }
                    }
                }
            }
        }
        let all_done = client_hosts
            .iter()
            .all(|(_, id)| sim.host_as::<Client>(*id).is_some_and(|c| c.is_done()));
        if all_done || now >= limit {
            break;
        }
        if now >= next_progress {
            next_progress = now + Duration::from_millis(500);
            let verified: u64 = client_hosts
                .iter()
                .filter_map(|(_, id)| {
                    sim.host_as::<Client>(*id)
                        .map(|c| c.summary().bytes_verified)
                })
                .sum();
            let handoffs: usize = member_hosts
                .iter()
                .filter_map(|id| sim.host_as::<Member>(*id).map(|m| m.handoffs().len()))
                .sum();
            let _ = write!(
                progress,
                "\r[vany demo] t={:5.1}s  handoffs {:3}  verified {:7.1} MiB ",
                now.saturating_since(start).total_micros() as f64 / 1e6,
                handoffs,
                verified as f64 / 1048576.0
            );
            let _ = progress.flush();
        }
        sim.run_for(Duration::from_millis(50));
    }
    let _ = writeln!(progress);
    sim.flush_captures().ok();

    // Collect.
    let mut records: Vec<HandoffRecord> = Vec::new();
    let mut peer_rejected = 0;
    let mut peer_retransmitted = 0;
    let mut final_load = BTreeMap::new();
    for (i, id) in member_hosts.iter().enumerate() {
        if let Some(m) = sim.host_as::<Member>(*id) {
            records.extend(m.handoffs().iter().cloned());
            let ps = m.peer_stats();
            peer_rejected += ps.forged + ps.replayed + ps.malformed;
            peer_retransmitted += ps.retransmitted;
            if !m.is_stopped() {
                final_load.insert(MEMBERS[i].to_string(), m.clients().len());
            }
        }
    }
    records.sort_by_key(|r| (r.started, r.transfer));
    let coa = |m: MemberId| members.get(&m).copied();
    let mut rows = Vec::new();
    let mut used: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &records {
        let Some(c) = (0..client_hosts.len()).find(|i| client_addr(*i) == r.client) else {
            continue;
        };
        let (name, host) = &client_hosts[c];
        let place = &PLACES[c % PLACES.len()];
        let from_i = usize::from(r.from - 1);
        let to_i = usize::from(r.to - 1);
        let l_ss = one_way(MEMBER_RTT[from_i][to_i]);
        let l_sc = one_way(place.rtt[to_i]);
        // The client's switch to the acceptor's address at or after this handoff.
        let gap = sim.host_as::<Client>(*host).and_then(|cl| {
            let hs: Vec<_> = cl
                .reports()
                .iter()
                .flat_map(|d| d.handovers.clone())
                .collect();
            let skip = used.get(&c).copied().unwrap_or(0);
            let found = hs
                .iter()
                .enumerate()
                .skip(skip)
                .find(|(_, h)| Some(h.new_src) == coa(r.to) && h.first_new >= r.started);
            found.map(|(i, h)| {
                used.insert(c, i + 1);
                h.gap()
            })
        });
        rows.push(HandoffRow {
            client: name.clone(),
            from: MEMBERS[from_i].to_string(),
            to: MEMBERS[to_i].to_string(),
            reason: r.reason.clone(),
            at_s: r.started.saturating_since(start).total_micros() as f64 / 1e6,
            l_ss_ms: ms(l_ss),
            l_sc_ms: ms(l_sc),
            gap_ms: gap.map(ms),
            slides_ms: ms(l_ss) + 4.0 * ms(l_sc),
            snapshot_bytes: r.snapshot_bytes,
            outcome: r.outcome,
        });
    }
    let mut summary = crate::sim::client::ClientSummary::default();
    for (_, id) in &client_hosts {
        if let Some(c) = sim.host_as::<Client>(*id) {
            summary.add(&c.summary());
        }
    }
    DemoReport {
        seed: opts.seed,
        latencies_ms: latencies,
        committed: rows
            .iter()
            .filter(|r| r.outcome == HandoffOutcome::Committed)
            .count(),
        failed: rows
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    HandoffOutcome::Refused | HandoffOutcome::TimedOut | HandoffOutcome::Abandoned
                )
            })
            .count(),
        handoffs: rows,
        streams_complete: summary.complete,
        streams: summary.downloads,
        bytes_verified: summary.bytes_verified,
        mismatches: summary.mismatches,
        client_rtos: summary.rto_count,
        resets: summary.resets,
        peer_rejected,
        peer_retransmitted,
        sim_seconds: sim.now().saturating_since(start).total_micros() as f64 / 1e6,
        final_load,
    }
}

/// The report as a human-readable table.
pub fn render(report: &DemoReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "vany demo: one anycast address, members in Amsterdam (contact node), New York and Tokyo"
    )?;
    writeln!(out, "one-way latencies (ms, half of public round-trip figures) from each client to AMS / NYC / TYO:")?;
    for (name, l) in &report.latencies_ms {
        writeln!(
            out,
            "  {name:<14} {:>6.1} {:>6.1} {:>6.1}",
            l[0], l[1], l[2]
        )?;
    }
    writeln!(
        out,
        "between members: AMS-NYC 37.5, AMS-TYO 117.5, NYC-TYO 80.0"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>6}  {:<14} {:<22} {:<9} {:>7} {:>7} {:>8} {:>14} {:>9}  outcome",
        "t (s)",
        "client",
        "donor -> acceptor",
        "reason",
        "L_ss",
        "L_sc",
        "gap",
        "L_ss+4*L_sc",
        "snapshot",
    )?;
    for r in &report.handoffs {
        let gap = r.gap_ms.map_or("-".to_string(), |g| format!("{g:.1}"));
        writeln!(
            out,
            "{:>6.2}  {:<14} {:<22} {:<9} {:>7.1} {:>7.1} {:>8} {:>14.1} {:>8}B  {:?}",
            r.at_s,
            r.client,
            format!("{} -> {}", r.from, r.to),
            r.reason,
            r.l_ss_ms,
            r.l_sc_ms,
            gap,
            r.slides_ms,
            r.snapshot_bytes,
            r.outcome
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "summary: {} handoffs ({} committed, {} failed), streams {}/{} complete, {:.1} MiB verified, {} wrong bytes, {} client RTOs, {} resets, {} peer messages rejected, {} resent, {:.1} s simulated",
        report.handoffs.len(),
        report.committed,
        report.failed,
        report.streams_complete,
        report.streams,
        report.bytes_verified as f64 / 1048576.0,
        report.mismatches,
        report.client_rtos,
        report.resets,
        report.peer_rejected,
        report.peer_retransmitted,
        report.sim_seconds
    )?;
    let load: Vec<String> = report
        .final_load
        .iter()
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    writeln!(out, "serving at the end: {}", load.join(", "))?;
    Ok(())
}

/// The gap grid's stream rate (bytes/s).
const GRID_RATE: u64 = 1024 * 1024;

/// One cell of the handoff-gap grid.
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    /// One-way latency donor-acceptor.
    pub l_ss_ms: f64,
    /// One-way latency member-client.
    pub l_sc_ms: f64,
    /// Measured client-observed gap.
    pub gap_ms: Option<f64>,
    /// Target: L_ss + L_sc.
    pub target_ms: f64,
    /// The slides: L_ss + 4·L_sc.
    pub slides_ms: f64,
    /// Client retransmission timeouts.
    pub rtos: u64,
    /// Stream intact.
    pub intact: bool,
}

/// Measures the client-observed gap of one manual handoff for every L_ss, L_sc in
/// {2, 10, 40, 120} ms, with a continuous stream.
pub fn gap_grid(seed: u64) -> Vec<GridCell> {
    let values = [2u64, 10, 40, 120];
    let mut cells = Vec::new();
    for &l_ss in &values {
        for &l_sc in &values {
            let mut sim = Sim::new(seed);
            sim.set_default_link(LinkParams::default());
            let members: BTreeMap<MemberId, Ipv6Addr> = [(1, member_addr(0)), (2, member_addr(1))]
                .into_iter()
                .collect();
            sim.set_latency(0, 1, Duration::from_millis(l_ss));
            sim.set_latency(0, 2, Duration::from_millis(l_sc));
            sim.set_latency(1, 2, Duration::from_millis(l_sc));
            let d = sim.add_host(
                Box::new(Member::new(
                    demo_member_config(1, "donor", true, &members, 11, GRID_RATE),
                    sim.now(),
                )),
                0,
            );
            sim.add_host(
                Box::new(Member::new(
                    demo_member_config(2, "acceptor", false, &members, 12, GRID_RATE),
                    sim.now(),
                )),
                1,
            );
            let cfg = stream_client(0, sim.now(), 7, 4 * 1024 * 1024, GRID_RATE);
            let rng = sim.fork_rng();
            let c = sim.add_host(Box::new(Client::new(cfg, rng)), 2);
            sim.run_for(Duration::from_secs(2));
            if let Some(m) = sim.host_as::<Member>(d) {
                m.manual_move(client_addr(0), 2);
            }
            let end = sim.now() + Duration::from_secs(30);
            while sim.now() < end && !sim.host_as::<Client>(c).is_some_and(|x| x.is_done()) {
                sim.run_for(Duration::from_millis(100));
            }
            let (gap, rtos, intact) = sim
                .host_as::<Client>(c)
                .map(|x| {
                    let r = x.reports();
                    let gap = r
                        .iter()
                        .flat_map(|d| d.handovers.iter())
                        .map(|h| h.gap())
                        .max();
                    let s = x.summary();
                    (
                        gap,
                        s.rto_count,
                        s.mismatches == 0 && s.complete == s.downloads,
                    )
                })
                .unwrap_or((None, 0, false));
            cells.push(GridCell {
                l_ss_ms: l_ss as f64,
                l_sc_ms: l_sc as f64,
                gap_ms: gap.map(ms),
                target_ms: (l_ss + l_sc) as f64,
                slides_ms: (l_ss + 4 * l_sc) as f64,
                rtos,
                intact,
            });
        }
    }
    cells
}

/// The grid as a table.
pub fn render_grid(cells: &[GridCell], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "client-observed handoff gap (ms), continuous 1 MiB/s stream, one manual handoff"
    )?;
    writeln!(
        out,
        "{:>6} {:>6} {:>9} {:>12} {:>14} {:>5} {:>7}",
        "L_ss", "L_sc", "gap", "L_ss+L_sc", "L_ss+4*L_sc", "RTOs", "intact"
    )?;
    for c in cells {
        let gap = c.gap_ms.map_or("-".to_string(), |g| format!("{g:.1}"));
        writeln!(
            out,
            "{:>6.0} {:>6.0} {:>9} {:>12.0} {:>14.0} {:>5} {:>7}",
            c.l_ss_ms, c.l_sc_ms, gap, c.target_ms, c.slides_ms, c.rtos, c.intact
        )?;
    }
    Ok(())
}
