//! The `vany client` loop: sets the host up, moves packets between the TUN device, the
//! uplink and the [`Translator`], and puts the host back as it was on exit.
//!
//! Set-up, in this order (each step undone if a later one fails):
//! 1. the uplink: `--uplink`, or the interface of the route to the first anycast
//!    address (`ip -6 route get`), read before the TUN route exists; its MTU and index;
//! 2. a raw IPv6 socket (`IPPROTO_RAW`: the header is included) bound to the uplink
//!    (`SO_BINDTODEVICE`: the route lookup skips the TUN route of the anycast prefix);
//! 3. an `AF_PACKET` socket with the BPF filter of [`filter::packet_filter`];
//! 4. the TUN device, with MTU = uplink MTU - 24 (room for the RH2), up, and a route for
//!    each anycast prefix into it;
//! 5. the nftables table of [`filter`].
//!
//! On SIGINT or SIGTERM the loop stops, the table is deleted and the TUN device (with
//! its routes) goes away; the counters are printed as one JSON line on stdout.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::unix::io::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vany_stack::mip6::cn::{CnConfig, CorrespondentNode, MhOutcome};
use vany_stack::rand::RandomSource;
use vany_stack::time::Instant;

use super::filter::{self, FilterError, NftTable};
use super::translate::{Prefix, Translator, Verdict};
use crate::io::{self, Clock, IoError, PacketIo};

/// Bytes the RH2 (out) or the HAO (in) add to a packet.
const MIP6_OVERHEAD: u32 = 24;
/// Packets taken from each source per loop round.
const BURST: usize = 64;
/// Longest sleep: the stop flag is looked at least this often.
const MAX_WAIT: StdDuration = StdDuration::from_millis(200);
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_RAW: i32 = 255;
const ENETDOWN: i32 = 100;

/// What `vany client` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Prefixes (or addresses) routed through the correspondent node.
    pub anycast: Vec<Prefix>,
    /// The TUN device to create.
    pub tun: String,
    /// The uplink interface, or `None` to find it from the routing table.
    pub uplink: Option<String>,
    /// Log every Mobility Header message and binding change on stderr.
    pub verbose: bool,
}

/// Why `vany client` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The system's random source failed (the correspondent node's secret Kcn and its
    /// nonces must be unpredictable, RFC 6275 §5.2.7).
    #[error(
        "the system random generator (getrandom) failed: vany client needs it for its secret key"
    )]
    Random,
    /// No `--anycast`.
    #[error("no anycast prefix: give at least one --anycast PREFIX")]
    NoAnycast,
    /// The uplink could not be found.
    #[error("cannot find the uplink interface ({0}); name it with --uplink IFACE")]
    NoUplink(String),
    /// The uplink does not exist.
    #[error("uplink `{0}`: no such interface (see `ip link`)")]
    NoSuchInterface(String),
    /// Reading the uplink's settings failed.
    #[error("uplink `{name}`: cannot read {what}: {source}")]
    Uplink {
        /// The interface.
        name: String,
        /// What was read.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The TUN device.
    #[error(transparent)]
    Tun(#[from] IoError),
    /// An `ip` command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output or why it could not run.
        detail: String,
    },
    /// The nftables rules.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A socket could not be set up.
    #[error("{what}: {source} (vany client needs root, or CAP_NET_ADMIN and CAP_NET_RAW)")]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// Reading from the uplink socket failed.
    #[error("receiving from the uplink: {0}")]
    Receive(std::io::Error),
    /// Waiting failed.
    #[error("epoll wait: {0}")]
    Wait(std::io::Error),
}

/// Counters of the uplink sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UplinkStats {
    /// Packets sent on the uplink.
    pub tx_packets: u64,
    /// Packets the uplink could not take now (full queue), dropped.
    pub tx_dropped: u64,
    /// Packets larger than the path allows (EMSGSIZE), dropped.
    pub tx_too_big: u64,
    /// Other send errors (no route, ...), dropped.
    pub tx_errors: u64,
    /// Packets received by the packet socket.
    pub rx_packets: u64,
    /// Times the packet socket reported the uplink down.
    pub rx_link_down: u64,
    /// Packets written into the TUN device.
    pub to_kernel: u64,
    /// Packets the TUN device could not take, dropped.
    pub to_kernel_dropped: u64,
}

/// ring's system randomness for the correspondent node's Kcn and nonces. Should the
/// system source fail later, a generator keyed from it at start takes over: HMAC-SHA256
/// of a counter under a 256-bit key (still unpredictable; never a guessable seed).
struct OsRandom {
    rng: SystemRandom,
    fallback: hmac::Key,
    counter: u64,
}

impl OsRandom {
    /// Fails if the system source cannot give the fallback's key.
    fn new() -> Result<OsRandom, ClientError> {
        let rng = SystemRandom::new();
        let mut key = [0u8; 32];
        rng.fill(&mut key).map_err(|_| ClientError::Random)?;
        Ok(OsRandom {
            rng,
            fallback: hmac::Key::new(hmac::HMAC_SHA256, &key),
            counter: 0,
        })
    }
}

impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        if self.rng.fill(dest).is_ok() {
            return;
        }
        for chunk in dest.chunks_mut(32) {
            self.counter += 1;
            let block = hmac::sign(&self.fallback, &self.counter.to_be_bytes());
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
    }
}

fn ip(args: &[&str]) -> Result<String, ClientError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| ClientError::Command {
            command: command.clone(),
            detail: format!("{e} (is iproute2 installed?)"),
        })?;
    if !out.status.success() {
        return Err(ClientError::Command {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The interface of the route to `addr`, from `ip -6 -o route get`.
fn detect_uplink(addr: Ipv6Addr) -> Result<String, ClientError> {
    let out = ip(&["-6", "-o", "route", "get", &addr.to_string()])
        .map_err(|e| ClientError::NoUplink(e.to_string()))?;
    let mut words = out.split_whitespace();
    words
        .find(|w| *w == "dev")
        .and_then(|_| words.next())
        .map(str::to_string)
        .ok_or_else(|| ClientError::NoUplink(format!("no device in the route to {addr}: {out}")))
}

fn read_sys(name: &str, what: &'static str) -> Result<u32, ClientError> {
    let path = format!("/sys/class/net/{name}/{what}");
    let text = std::fs::read_to_string(&path).map_err(|source| {
        if source.kind() == ErrorKind::NotFound {
            ClientError::NoSuchInterface(name.to_string())
        } else {
            ClientError::Uplink {
                name: name.to_string(),
                what,
                source,
            }
        }
    })?;
    text.trim().parse().map_err(|_| ClientError::Uplink {
        name: name.to_string(),
        what,
        source: std::io::Error::new(ErrorKind::InvalidData, format!("{path}: {text:?}")),
    })
}

fn socket_err(what: &'static str) -> impl Fn(std::io::Error) -> ClientError {
    move |source| ClientError::Socket { what, source }
}

/// The raw IPv6 socket translated packets leave by.
fn open_sender(uplink: &str) -> Result<Socket, ClientError> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
        .map_err(socket_err("opening a raw IPv6 socket"))?;
    s.bind_device(Some(uplink.as_bytes()))
        .map_err(socket_err("binding the raw socket to the uplink"))?;
    s.set_nonblocking(true)
        .map_err(socket_err("making the raw socket non-blocking"))?;
    Ok(s)
}

/// The packet socket Mobile IPv6 packets arrive by.
fn open_receiver(ifindex: u32) -> Result<Socket, ClientError> {
    let proto = Protocol::from(i32::from(ETH_P_IPV6.to_be()));
    let s = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))
        .map_err(socket_err("opening an AF_PACKET socket"))?;
    s.attach_filter(&filter::packet_filter(ifindex))
        .map_err(socket_err("attaching the packet filter"))?;
    s.set_nonblocking(true)
        .map_err(socket_err("making the packet socket non-blocking"))?;
    let _ = s.set_recv_buffer_size(4 << 20);
    // Whatever arrived before the filter was attached.
    let mut buf = [0u8; 2048];
    for _ in 0..100_000 {
        if (&s).read(&mut buf).is_err() {
            break;
        }
    }
    Ok(s)
}

fn send_uplink(raw: &Socket, packet: &[u8], stats: &mut UplinkStats, verbose: bool) {
    const ENOBUFS: i32 = 105;
    const EMSGSIZE: i32 = 90;
    if packet.len() < 40 {
        return;
    }
    let mut d = [0u8; 16];
    d.copy_from_slice(&packet[24..40]);
    let to = SockAddr::from(SocketAddrV6::new(Ipv6Addr::from(d), 0, 0, 0));
    for _ in 0..3 {
        match raw.send_to(packet, &to) {
            Ok(_) => {
                stats.tx_packets += 1;
                return;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.raw_os_error() == Some(ENOBUFS) => {
                stats.tx_dropped += 1;
                return;
            }
            Err(e) if e.raw_os_error() == Some(EMSGSIZE) => {
                stats.tx_too_big += 1;
                return;
            }
            Err(e) => {
                stats.tx_errors += 1;
                if verbose || stats.tx_errors == 1 {
                    eprintln!(
                        "vany client: sending {} bytes to {}: {e}",
                        packet.len(),
                        Ipv6Addr::from(d)
                    );
                }
                return;
            }
        }
    }
}

/// The host set up for `vany client`; undone on drop (nft table, then TUN and routes).
struct Setup {
    uplink: String,
    mtu: u32,
    raw: Socket,
    packets: Socket,
    // Dropped before `tun`: fields drop in declaration order.
    nft: NftTable,
    tun: io::Tun,
}

fn set_up(settings: &ClientSettings) -> Result<Setup, ClientError> {
    let first = settings.anycast.first().ok_or(ClientError::NoAnycast)?;
    let uplink = match &settings.uplink {
        Some(u) => u.clone(),
        None => detect_uplink(first.addr())?,
    };
    let ifindex = read_sys(&uplink, "ifindex")?;
    let mtu = read_sys(&uplink, "mtu")?;
    let raw = open_sender(&uplink)?;
    let packets = open_receiver(ifindex)?;
    let tun = io::open(&settings.tun)?;
    let dev = tun.name().to_string();
    let tun_mtu = mtu.saturating_sub(MIP6_OVERHEAD).max(1280).to_string();
    ip(&["link", "set", "dev", &dev, "mtu", &tun_mtu, "up"])?;
    for p in &settings.anycast {
        ip(&["-6", "route", "add", &p.to_string(), "dev", &dev])?;
    }
    let nft = NftTable::install(&uplink)?;
    Ok(Setup {
        uplink,
        mtu,
        raw,
        packets,
        nft,
        tun,
    })
}

/// What a run did, printed as JSON at exit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientReport {
    /// Translation counters.
    pub translate: super::translate::TranslateStats,
    /// Uplink counters.
    pub uplink: UplinkStats,
    /// Correspondent-node counters (`CnStats` fields).
    pub cn: serde_json::Value,
    /// Packets the nftables rules kept from the kernel: (Mobility Header, HAO).
    pub nft_dropped: Option<(u64, u64)>,
}

/// Runs until `stop` is set. Prints `ready ...` on stdout once the host is set up.
pub fn run(settings: &ClientSettings, stop: &AtomicBool) -> Result<ClientReport, ClientError> {
    let mut rng = OsRandom::new()?;
    let setup = set_up(settings)?;
    let max_mss = vany_stack::wire::rewrite::max_mss_for_mtu(setup.mtu);
    let cn = CorrespondentNode::new(CnConfig::default(), &mut rng);
    let mut tr = Translator::new(cn, settings.anycast.clone(), max_mss, Box::new(rng));
    let prefixes: Vec<String> = settings.anycast.iter().map(|p| p.to_string()).collect();
    println!(
        "ready: tun {} (mtu {}), uplink {} (mtu {}), anycast {}, SYN MSS <= {max_mss}, nft table ip6 {}",
        setup.tun.name(),
        setup.mtu.saturating_sub(MIP6_OVERHEAD).max(1280),
        setup.uplink,
        setup.mtu,
        prefixes.join(" "),
        setup.nft.name()
    );
    let _ = std::io::stdout().flush();
    // Under systemd (packaging/systemd/vany-client@.service, Type=notify): ready now.
    if let Err(e) = crate::sd_notify::notify("READY=1") {
        eprintln!("vany client: cannot tell systemd that the service is ready: {e}");
    }
    let Setup {
        raw,
        packets,
        nft,
        mut tun,
        ..
    } = setup;
    let uplink = pump(&mut tr, &mut tun, &raw, &packets, stop, settings.verbose)?;
    let cn = tr.cn_stats();
    let report = ClientReport {
        translate: tr.stats(),
        uplink,
        cn: serde_json::json!({
            "hot_sent": cn.hot_sent, "cot_sent": cn.cot_sent, "bu_accepted": cn.bu_accepted,
            "bu_refused": cn.bu_refused, "bu_stale_seq": cn.bu_stale_seq,
            "bu_bad_auth": cn.bu_bad_auth, "bu_discarded": cn.bu_discarded,
            "ba_sent": cn.ba_sent, "be_sent": cn.be_sent, "be_suppressed": cn.be_suppressed,
            "brr_sent": cn.brr_sent, "hao_dropped": cn.hao_dropped,
            "tests_rate_limited": cn.tests_rate_limited, "ba_rate_limited": cn.ba_rate_limited,
            "bindings": tr.cn().binding_count(),
        }),
        nft_dropped: nft.counters(),
    };
    drop(nft);
    drop(tun);
    Ok(report)
}

fn pump(
    tr: &mut Translator,
    tun: &mut io::Tun,
    raw: &Socket,
    packets: &Socket,
    stop: &AtomicBool,
    verbose: bool,
) -> Result<UplinkStats, ClientError> {
    let clock = Clock::new(Instant::from_secs(1));
    let mut poll = Poll::new().map_err(ClientError::Wait)?;
    let (tun_fd, pkt_fd) = (tun.as_raw_fd(), packets.as_raw_fd());
    poll.registry()
        .register(&mut SourceFd(&tun_fd), Token(0), Interest::READABLE)
        .map_err(ClientError::Wait)?;
    poll.registry()
        .register(&mut SourceFd(&pkt_fd), Token(1), Interest::READABLE)
        .map_err(ClientError::Wait)?;
    let mut events = Events::with_capacity(8);
    let mut rx = vec![0u8; io::MAX_PACKET];
    let mut out = Vec::with_capacity(io::MAX_PACKET + 64);
    let mut stats = UplinkStats::default();
    while !stop.load(Ordering::Relaxed) {
        let now = clock.now();
        let mut busy = false;
        // Kernel -> uplink.
        for _ in 0..BURST {
            let Some(n) = tun.recv(&mut rx)? else { break };
            busy = true;
            if tr.outbound(now, &rx[..n], &mut out) == Verdict::Uplink {
                send_uplink(raw, &out, &mut stats, verbose);
            }
        }
        // Uplink -> correspondent node or kernel.
        for _ in 0..BURST {
            let n = match (&*packets).read(&mut rx) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // The uplink went down (once per event): it may come back.
                Err(e) if e.raw_os_error() == Some(ENETDOWN) => {
                    stats.rx_link_down += 1;
                    break;
                }
                Err(e) => return Err(ClientError::Receive(e)),
            };
            busy = true;
            stats.rx_packets += 1;
            match tr.inbound(now, &rx[..n], &mut out) {
                Verdict::Kernel => {
                    if tun.send(&out)? {
                        stats.to_kernel += 1;
                    } else {
                        stats.to_kernel_dropped += 1;
                    }
                }
                Verdict::Consumed { outcome, home } if verbose => log_mh(tr, outcome, home),
                Verdict::Consumed { outcome, home } => {
                    if let MhOutcome::Accepted { .. } = outcome {
                        log_mh(tr, outcome, home);
                    }
                }
                _ => {}
            }
        }
        if tr.poll_timeout().is_some_and(|t| t <= now) {
            tr.handle_timeout(now);
        }
        while let Some(p) = tr.poll_transmit() {
            send_uplink(raw, &p, &mut stats, verbose);
        }
        if busy {
            continue;
        }
        let mut wait = MAX_WAIT;
        if let Some(t) = tr.poll_timeout() {
            let us = t.saturating_since(now).total_micros();
            wait = wait.min(StdDuration::from_micros(us));
        }
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(ClientError::Wait(e)),
        }
    }
    Ok(stats)
}

fn log_mh(tr: &Translator, outcome: MhOutcome, home: Ipv6Addr) {
    match (outcome, tr.cn().binding(&home)) {
        (
            MhOutcome::Accepted {
                deregistered: false,
            },
            Some(b),
        ) => eprintln!(
            "vany client: binding {home} -> {} (sequence {})",
            b.care_of, b.seq
        ),
        (MhOutcome::Accepted { deregistered: true }, _) => {
            eprintln!("vany client: binding for {home} deleted")
        }
        (other, _) => eprintln!("vany client: Mobility Header for {home}: {other:?}"),
    }
}
