//! The `vany node` process: the packet device, one data path per core (a [`Node`] each,
//! see [`super::runtime`]), and the threads around them (gossip, control socket,
//! metrics).
//!
//! **Cores.** On DPDK with `[io] cores = N` the port is opened with N rx/tx queue pairs
//! and each core is a thread (registered with DPDK) that runs one of the node's members
//! on its own queue pair, sharing nothing with the others but the links of
//! [`super::cores`]. The control socket and `/metrics` ask every core and put the
//! answers together ([`super::multicore`]); gossip's membership changes go to every
//! core. A signal drains every core; the node exits when all have stopped (or timed
//! out).

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{bounded, unbounded, Sender};
use ring::rand::{SecureRandom, SystemRandom};
use vany_ffi::Eal;
use vany_stack::l2::{Gateway, OwnAddr};
use vany_stack::tcp::TSO_MAX_PAYLOAD;

use super::config::NodeConfig;
use super::cores;
use super::ctl::{self, Request, Response};
use super::io_config::{DpdkSettings, IoBackend, DPDK_RING};
use super::membership::{self, Gossip, GossipHandle, MembershipEvent};
use super::metrics;
use super::multicore;
use super::runtime::{ask, AppSites, Node, NodeError, Query, ANSWER_TIMEOUT, HANDOFF_WAIT};
use crate::apps::{FilesSite, ProxySite};
use crate::io::dpdk::{DpdkConfig, DpdkIo};
use crate::io::tun::OffloadMode;
use crate::io::{self, IoError, PacketIo};

/// Seeds from the system's random generator (ring's `SystemRandom`).
fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], NodeError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(|_| NodeError::Random)?;
    Ok(b)
}

/// `vany node`: runs the member(s) of `cfg` on its TUN device or DPDK port until drained
/// or signalled (see [`super::runtime`]).
pub fn run(cfg: NodeConfig) -> Result<(), NodeError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal while draining exits at once (status 1).
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .map_err(NodeError::Signal)?;
        signal_hook::flag::register(sig, stop.clone()).map_err(NodeError::Signal)?;
    }
    match &cfg.io {
        IoBackend::Tun => {
            let mode = if cfg.tun_offload {
                OffloadMode::TxOnly
            } else {
                OffloadMode::Off
            };
            let tun = io::Tun::open_mode(&cfg.tun, mode)?;
            let mut cfg = cfg;
            if tun.segmentation_offload() {
                cfg.tso_max = TSO_MAX_PAYLOAD;
            } else if cfg.tun_offload {
                tracing::warn!(tun = %cfg.tun, "the kernel refused TUN offloads: plain TUN");
            }
            tracing::info!(
                tun = %cfg.tun,
                offload = tun.segmentation_offload(),
                "TUN device up"
            );
            serve(cfg, vec![tun], None, &stop)
        }
        IoBackend::Dpdk(d) => {
            let eal = Eal::init(&d.eal).map_err(IoError::from)?;
            let queues = u16::try_from(d.cores).unwrap_or(u16::MAX);
            let ports = DpdkIo::open_queues(&eal, &dpdk_config(&cfg, d), queues)?;
            if let Some(port) = ports.first() {
                tracing::info!(
                    port = %d.port,
                    queues = ports.len(),
                    mac = %crate::io::dpdk::mac_text(port.mac()),
                    gateway = %match d.gateway {
                        Gateway::Ipv6(a) => a.to_string(),
                        Gateway::Mac(m) => crate::io::dpdk::mac_text(m),
                        Gateway::OnLink => "on-link".into(),
                    },
                    max_packet = port.max_packet(),
                    "DPDK port up"
                );
            }
            serve(cfg, ports, Some(eal), &stop)
        }
    }
}

/// The DPDK backend's settings for this node: ND answers for the care-of address of
/// each of its cores, and for the anycast address on a contact node (RFC 4861 §7.2.7:
/// Override = 0).
fn dpdk_config(cfg: &NodeConfig, d: &DpdkSettings) -> DpdkConfig {
    let mut addrs: Vec<OwnAddr> = cfg
        .core_members()
        .iter()
        .map(|id| OwnAddr {
            addr: cfg.members[id].care_of,
            anycast: false,
        })
        .collect();
    if cfg.me().contact {
        addrs.push(OwnAddr {
            addr: cfg.anycast,
            anycast: true,
        });
    }
    let mut c = DpdkConfig::new(&d.port, addrs, d.gateway);
    c.mac = d.mac;
    c.mbufs = d.mbufs;
    c.idle_poll = d.idle_poll;
    c.rx_ring = DPDK_RING;
    c.tx_ring = DPDK_RING;
    c.burst = cfg.batch;
    c
}

/// Starts gossip (if configured) with its membership changes going to every core.
fn start_gossip(
    cfg: &NodeConfig,
    rng: &SystemRandom,
    cores: Vec<Sender<MembershipEvent>>,
) -> Result<Option<GossipHandle>, NodeError> {
    let Some(g) = &cfg.gossip else {
        return Ok(None);
    };
    let peers = cfg
        .members
        .iter()
        .filter_map(|(id, m)| m.gossip.map(|a| (*id, a)))
        .collect();
    let core = Gossip::new(
        cfg.id,
        membership::wall_ms(),
        g,
        peers,
        &cfg.group_key,
        random(rng)?,
        StdInstant::now(),
    );
    let (events, fan_out) = unbounded();
    let handle = membership::spawn(core, g.listen, events).map_err(|source| NodeError::Bind {
        what: "gossip",
        addr: g.listen,
        source,
    })?;
    // Ends when gossip stops (its sender goes).
    std::thread::Builder::new()
        .name("vany-gossip-events".into())
        .spawn(move || {
            for e in fan_out.iter() {
                for core in &cores {
                    let _ = core.send(e);
                }
            }
        })
        .map_err(NodeError::Thread)?;
    Ok(Some(handle))
}

/// Serves the control socket and `/metrics` for the cores that take queries on `cores`.
fn start_servers(cfg: &NodeConfig, cores: Vec<Sender<Query>>) -> Result<(), NodeError> {
    let answer = {
        let cores = cores.clone();
        move |req: Request| -> Response {
            if cores.len() > 1 {
                return multicore::control(&cores, req);
            }
            let wait = match req {
                Request::Handoff { .. } => HANDOFF_WAIT + ANSWER_TIMEOUT,
                _ => ANSWER_TIMEOUT,
            };
            ask(&cores[0], wait, |tx| Query::Ctl(req, tx))
                .unwrap_or_else(|| Response::error("the data path did not answer in time"))
        }
    };
    let ctl_stats = ctl::serve(&cfg.control_socket, cfg.control_group.clone(), answer)?;
    if let Some(addr) = cfg.metrics_listen {
        let snapshot = move || {
            if cores.len() > 1 {
                multicore::metrics(&cores)
            } else {
                ask(&cores[0], ANSWER_TIMEOUT, Query::Metrics)
            }
        };
        metrics::serve(addr, snapshot, Some(ctl_stats)).map_err(|source| NodeError::Bind {
            what: "metrics",
            addr,
            source,
        })?;
        if addr.ip().is_loopback() {
            tracing::info!(%addr, "serving /metrics (counters, member id and name) on loopback");
        } else {
            tracing::warn!(
                %addr,
                "serving /metrics beyond loopback: anyone who reaches it reads the member's \
                 id, name and counters (no addresses, no keys); see docs/operations.md"
            );
        }
    }
    Ok(())
}

/// Runs the node on `ios` (one per core) until drained or `stop` (see the module doc);
/// `eal` registers the cores' threads with DPDK.
fn serve<I: PacketIo + Send + 'static>(
    cfg: NodeConfig,
    ios: Vec<I>,
    eal: Option<Eal>,
    stop: &Arc<AtomicBool>,
) -> Result<(), NodeError> {
    let rng = SystemRandom::new();
    let ids = cfg.core_members();
    let care_of: Vec<Ipv6Addr> = ids.iter().map(|id| cfg.members[id].care_of).collect();
    let links: Vec<Option<cores::CoreLinks>> = if ids.len() > 1 {
        cores::links(&care_of, cfg.anycast)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let (mut nodes, mut queries, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let event_log = cfg
        .events
        .as_deref()
        .map(super::events::EventLog::open)
        .transpose()?;
    // Hashed once; each core gets its own site with a copy of the hashes.
    let files = open_files(&cfg)?;
    for ((io, id), link) in ios.into_iter().zip(&ids).zip(links) {
        let seed = u64::from_be_bytes(random(&rng)?);
        let (query_tx, query_rx) = bounded::<Query>(64);
        let (event_tx, event_rx) = unbounded();
        let mut node = Node::new(cfg.for_core(*id), io, seed, query_rx, event_rx);
        node.serve_sites(core_sites(&cfg, &files)?)?;
        if let Some(l) = link {
            node.attach_links(l);
        }
        if let Some(log) = &event_log {
            node.attach_event_log(log.clone());
        }
        nodes.push(node);
        queries.push(query_tx);
        events.push(event_tx);
    }
    let gossip = start_gossip(&cfg, &rng, events)?;
    if let Some(g) = &gossip {
        for node in &mut nodes {
            node.attach_gossip(g.view.clone());
        }
    }
    start_servers(&cfg, queries)?;
    tracing::info!(
        id = cfg.id,
        name = %cfg.me().name,
        device = %match &cfg.io {
            IoBackend::Tun => cfg.tun.clone(),
            IoBackend::Dpdk(d) => d.port.clone(),
        },
        care_of = %cfg.me().care_of,
        anycast = %cfg.anycast,
        contact = cfg.me().contact,
        cores = ids.len(),
        core_members = ?ids,
        members = cfg.members.len(),
        control = %cfg.control_socket.display(),
        metrics = ?cfg.metrics_listen,
        gossip = ?cfg.gossip.as_ref().map(|g| g.listen),
        "node up"
    );
    crate::sd_notify::ready();
    let result = run_cores(nodes, eal, stop);
    if let Some(g) = gossip {
        g.stop();
    }
    let _ = std::fs::remove_file(&cfg.control_socket);
    result
}

/// One core's sites: its own copy of each directory (`files`, their hashes known) and its
/// own proxies (each core polls its own backend connections).
fn core_sites(cfg: &NodeConfig, files: &BTreeMap<u16, FilesSite>) -> Result<AppSites, NodeError> {
    let mut sites = AppSites {
        files: files.iter().map(|(p, s)| (*p, s.fork())).collect(),
        ..AppSites::default()
    };
    for (port, proxy) in &cfg.apps.proxies {
        let port = *port;
        let site =
            ProxySite::open(proxy.clone()).map_err(|source| NodeError::Proxy { port, source })?;
        tracing::info!(port, backend = %proxy.backend, "proxy app ready");
        sites.proxies.insert(port, site);
    }
    Ok(sites)
}

/// Opens the directory of every `files` app and hashes its files (the strong validator
/// of each, and what a handoff compares) before any request waits on that; progress is
/// logged every few seconds.
fn open_files(cfg: &NodeConfig) -> Result<BTreeMap<u16, FilesSite>, NodeError> {
    let mut sites = BTreeMap::new();
    for (port, files) in &cfg.apps.files {
        let port = *port;
        let err = |source| NodeError::Files { port, source };
        let mut site = FilesSite::open(files.clone()).map_err(err)?;
        let root = files.root.display().to_string();
        let started = StdInstant::now();
        let mut logged = started;
        let (n, bytes) = site
            .prewarm(&mut |n, bytes| {
                if logged.elapsed() >= StdDuration::from_secs(3) {
                    logged = StdInstant::now();
                    tracing::info!(port, root = %root, files = n, mib = bytes >> 20, "hashing the files app's directory");
                }
            })
            .map_err(err)?;
        tracing::info!(
            port,
            root = %root,
            files = n,
            mib = bytes >> 20,
            seconds = started.elapsed().as_secs_f64(),
            "files app ready"
        );
        sites.insert(port, site);
    }
    Ok(sites)
}

/// Runs each node on its own thread (the first on this one) until all have returned;
/// the first error, if any (an error on one core stops the others: they drain).
fn run_cores<I: PacketIo + Send + 'static>(
    mut nodes: Vec<Node<I>>,
    eal: Option<Eal>,
    stop: &Arc<AtomicBool>,
) -> Result<(), NodeError> {
    if nodes.is_empty() {
        return Ok(());
    }
    let first = nodes.remove(0);
    let running = Arc::new(AtomicUsize::new(nodes.len() + 1));
    let mut threads = Vec::new();
    for (k, mut node) in nodes.into_iter().enumerate() {
        let stop = stop.clone();
        let running = running.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vany-core{}", k + 1))
            .spawn(move || -> Result<(), NodeError> {
                let _lcore = eal
                    .map(|e| e.register_thread())
                    .transpose()
                    .map_err(IoError::from)?;
                let result = run_core(&mut node, &stop, k + 1, &running);
                result.map_err(NodeError::from)
            })
            .map_err(NodeError::Thread)?;
        threads.push(thread);
    }
    let mut first = first;
    let mut result = run_core(&mut first, stop, 0, &running).map_err(NodeError::from);
    for t in threads {
        let r = t.join().unwrap_or(Err(NodeError::CorePanicked));
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// Runs one core's node; an error sets `stop` so that the other cores drain and exit.
/// Once its member has stopped (drained), the core goes on reading its queue, handing
/// what belongs to the other cores over to them, and answering queries (status, a
/// drain's count), until every core of the node (`running`) has stopped: the device
/// chooses the queue of each packet, so a sibling still draining may have its peers'
/// answers arrive here.
fn run_core<I: PacketIo>(
    node: &mut Node<I>,
    stop: &AtomicBool,
    core: usize,
    running: &AtomicUsize,
) -> Result<(), IoError> {
    let result = node.run_until(stop);
    running.fetch_sub(1, Ordering::SeqCst);
    let mut reading = result.is_ok();
    while running.load(Ordering::SeqCst) > 0 {
        if reading {
            // A device error here ends the reading, not the node: the siblings go on.
            reading = node.step().and_then(|busy| node.idle(busy)).is_ok();
        } else {
            node.answer_queries();
            std::thread::sleep(StdDuration::from_millis(1));
        }
    }
    if let Err(e) = &result {
        tracing::error!(core, error = %e, "core failed: draining the others");
        stop.store(true, Ordering::SeqCst);
    }
    let c = node.counters();
    tracing::info!(
        core,
        member = node.member().id(),
        rx_packets = c.rx_packets,
        tx_packets = c.tx_packets,
        tx_dropped = c.tx_dropped,
        "core stopped"
    );
    result
}
