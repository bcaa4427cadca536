//! `vany demo`: the embedded default. A three-continent anycast group in the simulated
//! WAN: a contact node in Amsterdam and members in New York and Tokyo, with clients
//! around the world downloading verifiable streams from the one anycast address. The
//! clients are moved to their nearest member; then New York drains and leaves; then an
//! operator moves one client by hand. Every handoff is reported with its client-observed
//! gap, its physical floor max(0, L_ss + L_sc(acceptor) - L_sc(donor)) and the excess
//! over it, the client's spurious retransmissions and duplicate ACKs, and the slides'
//! L_ss + 4·L_sc (docs/handoff-timing.md).
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

mod capture;
mod grid;
mod picture;

use capture::Captures;
pub use capture::{CaptureError, CaptureFile};
pub use grid::{gap_grid, gap_grid_asymmetric, grid_cell, render_grid, GridCell, GRID_LOSS_RUNS};
pub use picture::{grid_picture, picture};

use crate::group::member::{HandoffOutcome, HandoffRecord, Member, MemberConfig};
use crate::group::peer::MemberId;
use crate::sim::client::{Client, ClientConfig};
use crate::sim::{HostId, Sim};

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
    /// Write one pcap per host here (created if missing).
    pub pcap_dir: Option<PathBuf>,
    /// Loss probability on client paths.
    pub loss: f64,
    /// Capture timestamps: simulated time zero is this long after the Unix epoch (`vany
    /// demo` passes the wall-clock start of the run). Changes no packet.
    pub pcap_epoch: std::time::Duration,
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
            pcap_epoch: std::time::Duration::ZERO,
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
    /// When the donor froze the session (simulated seconds).
    pub at_s: f64,
    /// When the donor heard `Restored` (simulated seconds).
    pub restored_s: Option<f64>,
    /// When the donor heard `Commit` (simulated seconds).
    pub committed_s: Option<f64>,
    /// One-way latency donor-acceptor.
    pub l_ss_ms: f64,
    /// One-way latency acceptor-client (as `l_sc_acceptor_ms`).
    pub l_sc_ms: f64,
    /// One-way latency donor-client.
    pub l_sc_donor_ms: f64,
    /// One-way latency acceptor-client.
    pub l_sc_acceptor_ms: f64,
    /// The physical floor of the gap: max(0, L_ss + L_sc(acceptor) - L_sc(donor)).
    pub floor_ms: f64,
    /// Client-observed gap (last new in-order byte from the donor to the first from the
    /// acceptor), if the client saw the switch.
    pub gap_ms: Option<f64>,
    /// When the gap began and ended (simulated seconds).
    pub gap_s: Option<(f64, f64)>,
    /// Gap minus floor.
    pub excess_ms: Option<f64>,
    /// Segments the client received whose data it had all received already, in the
    /// handoff's first [`HANDOFF_WINDOW`] (or until the client's next handoff).
    pub client_spurious_retransmissions: u64,
    /// Duplicate ACKs (Wireshark's rule, either direction) at the client, in the same
    /// window.
    pub client_dup_acks: u64,
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
    /// Spurious retransmissions received by the clients, in all.
    pub client_spurious_retransmissions: u64,
    /// Duplicate ACKs at the clients (either direction), in all.
    pub client_dup_acks: u64,
    /// The largest excess of a gap over its floor.
    pub max_excess_ms: Option<f64>,
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
    /// The capture files written (`--pcap`), with their sizes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<CaptureFile>,
    /// When New York started draining, and when the operator moved a client (simulated
    /// seconds).
    pub drain_at_s: f64,
    /// When the operator moved a client (simulated seconds).
    pub manual_at_s: f64,
    /// Bytes each client received over time (for `--plot`; not in the JSON).
    #[serde(skip)]
    pub series: Vec<crate::plot::Series>,
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
        contact_cores: Vec::new(),
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
        transfer_budget: crate::group::member::DEFAULT_TRANSFER_BUDGET,
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
    // For `--plot` (a few thousand points per client).
    cfg.record_progress = true;
    cfg.tcp.recv_buffer = stream_buffer(rate).max(cfg.tcp.recv_buffer);
    cfg
}

/// The demo's simulated world: the group and its clients.
struct World {
    sim: Sim,
    members: BTreeMap<MemberId, Ipv6Addr>,
    member_hosts: Vec<HostId>,
    /// Client name and host, client `i` at `client_addr(i)`.
    client_hosts: Vec<(String, HostId)>,
    latencies: BTreeMap<String, [f64; 3]>,
    start: Instant,
    captures: Option<Captures>,
}

/// Builds the group and the clients (and their captures).
fn build(opts: &DemoOptions) -> Result<World, CaptureError> {
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
    let captures = match &opts.pcap_dir {
        Some(dir) => {
            let members = member_hosts.iter().enumerate().map(|(i, id)| {
                let stem = MEMBERS[i].replace(' ', "-").to_lowercase();
                (format!("member-{stem}"), *id)
            });
            let clients = client_hosts.iter().map(|(name, id)| {
                let stem = name.replace([' ', '#'], "").to_lowercase();
                (format!("client-{stem}"), *id)
            });
            let hosts: Vec<(String, HostId)> = members.chain(clients).collect();
            Some(Captures::start(&mut sim, dir, &hosts, opts.pcap_epoch)?)
        }
        None => None,
    };
    let start = sim.now();
    Ok(World {
        sim,
        members,
        member_hosts,
        client_hosts,
        latencies,
        start,
        captures,
    })
}

/// Runs the scenario: the drain, the manual move, until every stream is done.
fn drive(w: &mut World, opts: &DemoOptions, progress: &mut dyn Write) -> Result<(), CaptureError> {
    let (start, sim) = (w.start, &mut w.sim);
    let limit = start + Duration::from_secs(120);
    let mut drained = false;
    let mut manual_done = false;
    let mut next_progress = start;
    loop {
        let now = sim.now();
        if !drained && now >= start + opts.drain_at {
            drained = true;
            if let Some(m) = sim.host_as::<Member>(w.member_hosts[1]) {
                m.drain();
            }
            for &h in [w.member_hosts[0], w.member_hosts[2]].iter() {
                if let Some(m) = sim.host_as::<Member>(h) {
                    m.set_excluded(now, 2, true);
                }
            }
        }
        if !manual_done && now >= start + opts.manual_at {
            manual_done = true;
            // The operator moves the first Asian client served in Tokyo to Amsterdam.
            let target = w
                .client_hosts
                .iter()
                .position(|(n, _)| n.starts_with("Singapore") || n.starts_with("Osaka"));
            if let Some(t) = target {
                let addr = client_addr(t);
                for &h in &w.member_hosts {
                    if let Some(m) = sim.host_as::<Member>(h) {
                        if m.clients().contains(&addr) {
                            m.manual_move(addr, 1);
                        }
                    }
                }
            }
        }
        let all_done = w
            .client_hosts
            .iter()
            .all(|(_, id)| sim.host_as::<Client>(*id).is_some_and(|c| c.is_done()));
        if all_done || now >= limit {
            break;
        }
        if now >= next_progress {
            next_progress = now + Duration::from_millis(500);
            let verified: u64 = w
                .client_hosts
                .iter()
                .filter_map(|(_, id)| {
                    sim.host_as::<Client>(*id)
                        .map(|c| c.summary().bytes_verified)
                })
                .sum();
            let handoffs: usize = w
                .member_hosts
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
            // A capture that cannot be written ends the run.
            if let Some(c) = &w.captures {
                c.check(sim)?;
            }
        }
        sim.run_for(Duration::from_millis(50));
    }
    let _ = writeln!(progress);
    Ok(())
}

/// How long after a handoff the client's spurious retransmissions and duplicate ACKs are
/// the handoff's (its own timers and windows settle well within it).
pub const HANDOFF_WINDOW: Duration = Duration::from_secs(2);

/// The physical floor of a stop-and-copy handoff's client-observed gap: the donor's
/// last byte left at the freeze and reaches the client after L_sc(donor); the acceptor's
/// first can leave only once the state crossed L_ss, and needs L_sc(acceptor).
pub fn handoff_floor(l_ss: Duration, l_sc_donor: Duration, l_sc_acceptor: Duration) -> Duration {
    let up = (l_ss + l_sc_acceptor).total_micros();
    Duration::from_micros(up.saturating_sub(l_sc_donor.total_micros()))
}

/// Events at `times` in `[from, to)`.
fn count_between(times: &[Instant], from: Instant, to: Option<Instant>) -> u64 {
    times
        .iter()
        .filter(|t| **t >= from && to.is_none_or(|e| **t < e))
        .count() as u64
}

/// One row per handoff record, with the client's view of it.
fn handoff_rows(w: &mut World, records: &[HandoffRecord]) -> Vec<HandoffRow> {
    let coa = |m: MemberId| w.members.get(&m).copied();
    let mut rows = Vec::new();
    let mut used: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, r) in records.iter().enumerate() {
        let Some(c) = (0..w.client_hosts.len()).find(|i| client_addr(*i) == r.client) else {
            continue;
        };
        let (name, host) = &w.client_hosts[c];
        let place = &PLACES[c % PLACES.len()];
        let from_i = usize::from(r.from - 1);
        let to_i = usize::from(r.to - 1);
        let l_ss = one_way(MEMBER_RTT[from_i][to_i]);
        let l_sc_donor = one_way(place.rtt[from_i]);
        let l_sc = one_way(place.rtt[to_i]);
        let floor = handoff_floor(l_ss, l_sc_donor, l_sc);
        // This handoff's events: its first [`HANDOFF_WINDOW`], or until the client's next
        // handoff starts. (Later ones are the stream's own, with loss.)
        let window_end = r.started + HANDOFF_WINDOW;
        let until = records[k + 1..]
            .iter()
            .find(|n| n.client == r.client)
            .map_or(window_end, |n| n.started.min(window_end));
        let until = Some(until);
        let Some(cl) = w.sim.host_as::<Client>(*host) else {
            continue;
        };
        let reports = cl.reports();
        let hs: Vec<_> = reports.iter().flat_map(|d| d.handovers.clone()).collect();
        // The client's switch to the acceptor's address at or after this handoff.
        let skip = used.get(&c).copied().unwrap_or(0);
        let found = hs
            .iter()
            .enumerate()
            .skip(skip)
            .find(|(_, h)| Some(h.new_src) == coa(r.to) && h.first_new >= r.started);
        let switch = found.map(|(i, h)| {
            used.insert(c, i + 1);
            *h
        });
        let gap = switch.map(|h| h.gap());
        let since_start = |t: Instant| t.saturating_since(w.start).total_micros() as f64 / 1e6;
        let spurious = reports
            .iter()
            .map(|d| count_between(&d.spurious_at, r.started, until))
            .sum();
        let dup_acks = reports
            .iter()
            .map(|d| count_between(&d.dup_acks_at, r.started, until))
            .sum();
        rows.push(HandoffRow {
            client: name.clone(),
            from: MEMBERS[from_i].to_string(),
            to: MEMBERS[to_i].to_string(),
            reason: r.reason.to_string(),
            at_s: since_start(r.started),
            restored_s: r.restored.map(since_start),
            committed_s: r.committed.map(since_start),
            l_ss_ms: ms(l_ss),
            l_sc_ms: ms(l_sc),
            l_sc_donor_ms: ms(l_sc_donor),
            l_sc_acceptor_ms: ms(l_sc),
            floor_ms: ms(floor),
            gap_ms: gap.map(ms),
            gap_s: switch.map(|h| (since_start(h.last_old), since_start(h.first_new))),
            excess_ms: gap.map(|g| ms(g) - ms(floor)),
            client_spurious_retransmissions: spurious,
            client_dup_acks: dup_acks,
            slides_ms: ms(l_ss) + 4.0 * ms(l_sc),
            snapshot_bytes: r.snapshot_bytes,
            outcome: r.outcome,
        });
    }
    rows
}

/// Runs the demo; progress lines go to `progress` (one line, rewritten). Fails only when
/// the captures asked for (`pcap_dir`) cannot be written.
pub fn run(opts: &DemoOptions, progress: &mut dyn Write) -> Result<DemoReport, CaptureError> {
    let mut w = build(opts)?;
    drive(&mut w, opts, progress)?;
    let captures = match w.captures.take() {
        Some(c) => c.finish(&mut w.sim)?,
        None => Vec::new(),
    };
    let mut records: Vec<HandoffRecord> = Vec::new();
    let mut peer_rejected = 0;
    let mut peer_retransmitted = 0;
    let mut final_load = BTreeMap::new();
    for (i, id) in w.member_hosts.iter().enumerate() {
        if let Some(m) = w.sim.host_as::<Member>(*id) {
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
    let rows = handoff_rows(&mut w, &records);
    let mut summary = crate::sim::client::ClientSummary::default();
    let mut series = Vec::new();
    let since_start = |t: Instant| t.saturating_since(w.start).total_micros() as f64 / 1e6;
    for (name, id) in &w.client_hosts {
        if let Some(c) = w.sim.host_as::<Client>(*id) {
            summary.add(&c.summary());
            // The demo's clients download one stream each.
            let points = c.reports().first().map_or(Vec::new(), |r| {
                r.progress.all().map(|(t, b)| (since_start(t), b)).collect()
            });
            series.push(crate::plot::Series {
                client: name.clone(),
                points,
            });
        }
    }
    Ok(DemoReport {
        seed: opts.seed,
        latencies_ms: std::mem::take(&mut w.latencies),
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
        max_excess_ms: rows
            .iter()
            .filter_map(|r| r.excess_ms)
            .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e)))),
        handoffs: rows,
        streams_complete: summary.complete,
        streams: summary.downloads,
        bytes_verified: summary.bytes_verified,
        mismatches: summary.mismatches,
        client_rtos: summary.rto_count,
        client_spurious_retransmissions: summary.spurious_retransmissions,
        client_dup_acks: summary.dup_acks,
        resets: summary.resets,
        peer_rejected,
        peer_retransmitted,
        sim_seconds: w.sim.now().saturating_since(w.start).total_micros() as f64 / 1e6,
        final_load,
        captures,
        drain_at_s: opts.drain_at.total_micros() as f64 / 1e6,
        manual_at_s: opts.manual_at.total_micros() as f64 / 1e6,
        series,
    })
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
    writeln!(
        out,
        "floor = max(0, L_ss + L_sc(acceptor) - L_sc(donor)); excess = gap - floor; spur = spurious retransmissions and dupACK = duplicate ACKs at the client"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>6}  {:<14} {:<22} {:<9} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>4} {:>6} {:>11} {:>9}  outcome",
        "t (s)",
        "client",
        "donor -> acceptor",
        "reason",
        "L_ss",
        "L_sc(d)",
        "L_sc(a)",
        "floor",
        "gap",
        "excess",
        "spur",
        "dupACK",
        "L_ss+4*L_sc",
        "snapshot",
    )?;
    for r in &report.handoffs {
        let gap = r.gap_ms.map_or("-".to_string(), |g| format!("{g:.1}"));
        let excess = r.excess_ms.map_or("-".to_string(), |g| format!("{g:.1}"));
        writeln!(
            out,
            "{:>6.2}  {:<14} {:<22} {:<9} {:>6.1} {:>7.1} {:>7.1} {:>6.1} {:>6} {:>6} {:>4} {:>6} {:>11.1} {:>8}B  {:?}",
            r.at_s,
            r.client,
            format!("{} -> {}", r.from, r.to),
            r.reason,
            r.l_ss_ms,
            r.l_sc_donor_ms,
            r.l_sc_acceptor_ms,
            r.floor_ms,
            gap,
            excess,
            r.client_spurious_retransmissions,
            r.client_dup_acks,
            r.slides_ms,
            r.snapshot_bytes,
            r.outcome
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "summary: {} handoffs ({} committed, {} failed), largest excess {} ms, streams {}/{} complete, {:.1} MiB verified, {} wrong bytes, {} client RTOs, {} spurious retransmissions and {} duplicate ACKs at the clients, {} resets, {} peer messages rejected, {} resent, {:.1} s simulated",
        report.handoffs.len(),
        report.committed,
        report.failed,
        report.max_excess_ms.map_or("-".to_string(), |e| format!("{e:.1}")),
        report.streams_complete,
        report.streams,
        report.bytes_verified as f64 / 1048576.0,
        report.mismatches,
        report.client_rtos,
        report.client_spurious_retransmissions,
        report.client_dup_acks,
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
    capture::render(&report.captures, out)
}
