//! A simulated client host: one IPv6 address, a TCP endpoint in the role of the host
//! kernel's TCP, and the very [`Translator`] of `vany client` (docs/client.md) between
//! them and the network; a list of downloads of [`source`] streams from the anycast
//! address, each verified byte by byte as it arrives.
//!
//! Packet path, as on a host running `vany client` (its TUN device and AF_PACKET socket
//! are the two calls below):
//!
//! ```text
//!   out: endpoint.poll_transmit ─▶ plain IPv6 packet to the anycast address (what the kernel
//!        writes into the TUN) ─▶ Translator::outbound ─▶ network (RH2 + dst = care-of when bound)
//!        Translator::poll_transmit (HoT, CoT, BA, BE, BRR) ─▶ network
//!   in:  network ─▶ Translator::inbound: Ignore (not MH, no HAO) ─▶ "kernel": the packet as is
//!                                       Kernel (HAO stripped, src = home) ─▶ "kernel": the rewrite
//!                                       Consumed (MH) / Drop ─▶ nothing more
//!        "kernel": parse_verified ─▶ TCP ─▶ endpoint
//! ```
//!
//! Per download the client records what the issue's measurements need: bytes verified,
//! any mismatch (there must never be one), resets, retransmission timeouts, completion
//! time, and every *handover*: in-order new data arriving from another IPv6 source than
//! the previous in-order data. The source is the one on the wire, before
//! `Translator::inbound` (the serving member's care-of address, or the anycast address
//! itself); the endpoint sees the anycast address either way. A handover's gap is the
//! client-observed gap: from the last new in-order byte from the donor to the first new
//! in-order byte from the acceptor, at the client's TCP.
//!
//! It also flags, per download, what Wireshark flags on the client's capture: a
//! *spurious retransmission* is a segment whose data had all been received already, and
//! a *duplicate ACK* is a pure ACK (no data, no SYN, FIN or RST) that repeats the previous
//! segment's ACK number and (non-zero) window in the same direction; both directions
//! count (the server's storm of pure ACKs, and the client's answers to spurious data).
//!
//! A client can also make HTTP/1.1 downloads ([`HttpDownloadSpec`]): requests one after
//! another on one kept-alive connection, each response checked against its expectation
//! as it arrives ([`http`]), with the same transport measurements.
//!
//! [`source`]: crate::apps::source

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use serde::Serialize;
use vany_stack::mip6::cn::{CnConfig, CnStats, CorrespondentNode};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::{Duration, Instant};
use vany_stack::wire::packet::{IPV6_HEADER_LEN, TCP_PROTOCOL};
use vany_stack::wire::rewrite::max_mss_for_mtu;
use vany_stack::wire::{parse_verified, PacketRepr, ParsedPacket, TcpControl, Upper};

use super::Host;
use crate::apps::source::{SourceRequest, StreamVerifier};
use crate::client_host::translate::{DropReason, Prefix, TranslateStats, Translator, Verdict};

pub mod http;
mod report;

use http::HttpDownload;
pub use http::{
    ExpectedBody, HttpDownloadReport, HttpDownloadSpec, HttpExpect, HttpMismatch, HttpRequestSpec,
};
use report::{track, Track, WireView};
pub use report::{ClientSummary, DownloadReport, DownloadStatus, Handover, Progress};

/// Room in front of a TCP segment for the IPv6 header the "kernel" puts there.
const HEADROOM: usize = IPV6_HEADER_LEN;
/// In-order stalls at least this long are recorded ([`DownloadReport::stalls`]).
pub const STALL: Duration = Duration::from_millis(5);
/// Segments sent per call at most; the rest go out on an immediate wake.
const MAX_BURST: usize = 4096;

/// One download: connect to `[anycast]:port` at `start` and ask for `request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DownloadSpec {
    /// When to connect.
    pub start: Instant,
    /// The server port on the anycast address.
    pub port: u16,
    /// The stream to ask for (sent as the first 24 bytes on the connection).
    pub request: SourceRequest,
}

/// A client's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The client's address (fd00::/8 in simulations).
    pub address: Ipv6Addr,
    /// The group's anycast address.
    pub anycast: Ipv6Addr,
    /// Downloads, in order; each download (of either kind) takes the next local port
    /// from `first_local_port` on, in the order added.
    pub downloads: Vec<DownloadSpec>,
    /// HTTP downloads, added after `downloads`.
    pub http_downloads: Vec<HttpDownloadSpec>,
    /// TCP settings.
    pub tcp: TcpConfig,
    /// Correspondent-node settings.
    pub cn: CnConfig,
    /// Hop limit of sent packets.
    pub hop_limit: u8,
    /// Local port of the first download.
    pub first_local_port: u16,
    /// Record each download's bytes over time ([`DownloadReport::progress`], for `vany
    /// demo --plot`); off by default (large campaigns would hold millions of points).
    pub record_progress: bool,
}

impl ClientConfig {
    /// A client at `address` with no downloads, default TCP and CN settings.
    pub fn new(address: Ipv6Addr, anycast: Ipv6Addr) -> ClientConfig {
        ClientConfig {
            address,
            anycast,
            downloads: Vec::new(),
            http_downloads: Vec::new(),
            tcp: TcpConfig::default(),
            cn: CnConfig::default(),
            hop_limit: 64,
            first_local_port: 49152,
            record_progress: false,
        }
    }

    /// Adds a download of stream `id` (`length` bytes at `rate` bytes/s, or unpaced) from
    /// `port`, starting at `start`.
    pub fn download(
        mut self,
        start: Instant,
        port: u16,
        id: u64,
        length: u64,
        rate: Option<u64>,
    ) -> ClientConfig {
        self.downloads.push(DownloadSpec {
            start,
            port,
            request: SourceRequest { id, length, rate },
        });
        self
    }

    /// Adds an HTTP download.
    pub fn http_download(mut self, spec: HttpDownloadSpec) -> ClientConfig {
        self.http_downloads.push(spec);
        self
    }
}

struct Download {
    report: DownloadReport,
    tuple: FourTuple,
    verifier: StreamVerifier,
    wire: WireView,
}

/// A download of either kind, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Source(usize),
    Http(usize),
}

/// Client counters outside the downloads. `mh`, `ingress_dropped` and `tx_via_binding`
/// are the translator's ([`Client::translate_stats`] has all of its counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets that did not parse or failed their checksum (at the translator or at the
    /// "kernel" behind it), or that the translator could not rewrite.
    pub malformed: u64,
    /// Mobility Header packets handed to the CN (`in_mh`).
    pub mh: u64,
    /// TCP segments handed to the endpoint.
    pub tcp: u64,
    /// Packets with a HAO and no binding, dropped (`in_hao_dropped`).
    pub ingress_dropped: u64,
    /// Packets with an RH2 that does not name this client, dropped.
    pub misrouted: u64,
    /// Other packets (UDP, ICMPv6, ...), ignored.
    pub other: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// TCP segments sent to a care-of address with an RH2 (`out_via_binding`).
    pub tx_via_binding: u64,
}

/// The simulated client host.
pub struct Client {
    address: Ipv6Addr,
    anycast: Ipv6Addr,
    hop_limit: u8,
    first_local_port: u16,
    /// [`ClientConfig::record_progress`].
    record_progress: bool,
    /// The host kernel's TCP.
    endpoint: Endpoint,
    /// `vany client`'s packet path, with the correspondent node.
    translator: Translator,
    downloads: Vec<Download>,
    http: Vec<HttpDownload>,
    /// Download by local port.
    by_port: BTreeMap<u16, Slot>,
    /// Downloads not started yet, by start time and order added.
    pending: BTreeMap<(Instant, usize), Slot>,
    /// The "kernel"'s outgoing packet: IPv6 header and TCP segment.
    tx: Vec<u8>,
    /// Translator output: the packet for the network, or for the "kernel".
    translated: Vec<u8>,
    rx: Vec<u8>,
    more_to_send: bool,
    stats: ClientStats,
}

impl Client {
    /// A client; `rng` (e.g. [`crate::sim::Sim::fork_rng`]) seeds its TCP secrets and
    /// its CN's Kcn and nonces. The translator clamps SYN MSS options as `vany client`
    /// does on an uplink whose MTU is `config.tcp.mtu`.
    pub fn new(config: ClientConfig, mut rng: SeededRandom) -> Client {
        let endpoint = Endpoint::new(config.tcp.clone(), &mut rng);
        let cn = CorrespondentNode::new(config.cn.clone(), &mut rng);
        let anycast = Prefix::host(config.anycast);
        let mtu = u32::try_from(config.tcp.mtu).unwrap_or(u32::MAX);
        let translator = Translator::new(cn, vec![anycast], max_mss_for_mtu(mtu), Box::new(rng));
        let mut client = Client {
            address: config.address,
            anycast: config.anycast,
            hop_limit: config.hop_limit,
            first_local_port: config.first_local_port,
            record_progress: config.record_progress,
            endpoint,
            translator,
            downloads: Vec::new(),
            http: Vec::new(),
            by_port: BTreeMap::new(),
            pending: BTreeMap::new(),
            tx: vec![0; HEADROOM + 65_536],
            translated: Vec::with_capacity(HEADROOM + 24 + 65_536),
            rx: vec![0; 64 * 1024],
            more_to_send: false,
            stats: ClientStats::default(),
        };
        for spec in config.downloads {
            client.add_download(spec);
        }
        for spec in config.http_downloads {
            client.add_http_download(spec);
        }
        client
    }

    /// The next download's order number, local port and four-tuple.
    fn next_connection(&self, port: u16) -> (usize, u16, FourTuple) {
        let order = self.downloads.len() + self.http.len();
        let local_port = self.first_local_port.wrapping_add(order as u16);
        let tuple = FourTuple {
            local: self.address,
            local_port,
            remote: self.anycast,
            remote_port: port,
        };
        (order, local_port, tuple)
    }

    /// Adds a download; returns its index in [`Client::reports`]. It takes the next
    /// local port (`first_local_port + index` if it has no HTTP downloads).
    pub fn add_download(&mut self, spec: DownloadSpec) -> usize {
        let index = self.downloads.len();
        let (order, local_port, tuple) = self.next_connection(spec.port);
        self.downloads.push(Download {
            report: DownloadReport {
                index,
                spec,
                local_port,
                status: DownloadStatus::Pending,
                started_at: None,
                connected_at: None,
                completed_at: None,
                bytes_verified: 0,
                mismatch: None,
                sha256: None,
                resets: 0,
                timed_out: false,
                rto_count: 0,
                retransmits: 0,
                paws_drops: 0,
                handovers: Vec::new(),
                spurious_at: Vec::new(),
                dup_acks_at: Vec::new(),
                stalls: Vec::new(),
                last_src: None,
                last_data_at: None,
                progress: Default::default(),
            },
            tuple,
            verifier: StreamVerifier::new(spec.request.id, Some(spec.request.length)),
            wire: WireView::default(),
        });
        self.by_port.insert(local_port, Slot::Source(index));
        self.pending
            .insert((spec.start, order), Slot::Source(index));
        index
    }

    /// Adds an HTTP download; returns its index in [`Client::http_reports`]. It takes the
    /// next local port.
    pub fn add_http_download(&mut self, spec: HttpDownloadSpec) -> usize {
        let index = self.http.len();
        let (order, local_port, tuple) = self.next_connection(spec.port);
        let start = spec.start;
        let report = HttpDownloadReport {
            index,
            spec,
            local_port,
            status: DownloadStatus::Pending,
            started_at: None,
            connected_at: None,
            completed_at: None,
            responses: 0,
            statuses: Vec::new(),
            response_done_at: Vec::new(),
            bytes_verified: 0,
            bytes_received: 0,
            mismatch: None,
            resets: 0,
            timed_out: false,
            rto_count: 0,
            retransmits: 0,
            paws_drops: 0,
            handovers: Vec::new(),
            spurious_at: Vec::new(),
            dup_acks_at: Vec::new(),
            stalls: Vec::new(),
            last_src: None,
            last_data_at: None,
        };
        self.http.push(HttpDownload::new(report, tuple));
        self.by_port.insert(local_port, Slot::Http(index));
        self.pending.insert((start, order), Slot::Http(index));
        index
    }

    /// The client's address.
    pub fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// The anycast address it downloads from.
    pub fn anycast(&self) -> Ipv6Addr {
        self.anycast
    }

    /// The correspondent node (binding cache, counters).
    pub fn cn(&self) -> &CorrespondentNode {
        self.translator.cn()
    }

    /// The CN's counters.
    pub fn cn_stats(&self) -> CnStats {
        self.translator.cn_stats()
    }

    /// The translator (`vany client`'s packet path).
    pub fn translator(&self) -> &Translator {
        &self.translator
    }

    /// The translator's counters, as `vany client` reports them.
    pub fn translate_stats(&self) -> TranslateStats {
        self.translator.stats()
    }

    /// The TCP endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Packet counters.
    pub fn stats(&self) -> ClientStats {
        let t = self.translator.stats();
        ClientStats {
            mh: t.in_mh,
            ingress_dropped: t.in_hao_dropped,
            tx_via_binding: t.out_via_binding,
            ..self.stats
        }
    }

    /// Every download's report.
    pub fn reports(&self) -> Vec<DownloadReport> {
        self.downloads.iter().map(|d| d.report.clone()).collect()
    }

    /// One download's report.
    pub fn report(&self, index: usize) -> Option<&DownloadReport> {
        self.downloads.get(index).map(|d| &d.report)
    }

    /// Every HTTP download's report.
    pub fn http_reports(&self) -> Vec<HttpDownloadReport> {
        self.http.iter().map(|d| d.report.clone()).collect()
    }

    /// One HTTP download's report.
    pub fn http_report(&self, index: usize) -> Option<&HttpDownloadReport> {
        self.http.get(index).map(|d| &d.report)
    }

    /// Whether every download (of either kind) has completed or failed.
    pub fn is_done(&self) -> bool {
        let done = |s| matches!(s, DownloadStatus::Complete | DownloadStatus::Failed);
        self.downloads.iter().all(|d| done(d.report.status))
            && self.http.iter().all(|d| done(d.report.status))
    }

    /// Totals.
    pub fn summary(&self) -> ClientSummary {
        let cn = self.translator.cn_stats();
        let mut s = ClientSummary {
            downloads: self.downloads.len() as u64,
            bu_accepted: cn.bu_accepted,
            bu_refused: cn.bu_refused,
            bu_bad_auth: cn.bu_bad_auth,
            hao_dropped: cn.hao_dropped,
            malformed: self.stats.malformed,
            resets_sent: self.endpoint.stats().resets_sent,
            ..ClientSummary::default()
        };
        for d in &self.downloads {
            let r = &d.report;
            s.complete += u64::from(r.status == DownloadStatus::Complete);
            s.failed += u64::from(r.status == DownloadStatus::Failed);
            s.bytes_verified += r.bytes_verified;
            s.mismatches += u64::from(r.mismatch.is_some());
            s.resets += u64::from(r.resets);
            s.timed_out += u64::from(r.timed_out);
            s.rto_count += r.rto_count;
            s.handovers += r.handovers.len() as u64;
            s.spurious_retransmissions += r.spurious_at.len() as u64;
            s.dup_acks += r.dup_acks_at.len() as u64;
        }
        for d in &self.http {
            let r = &d.report;
            s.downloads += 1;
            s.complete += u64::from(r.status == DownloadStatus::Complete);
            s.failed += u64::from(r.status == DownloadStatus::Failed);
            s.bytes_verified += r.bytes_verified;
            s.mismatches += u64::from(r.mismatch.is_some());
            s.resets += u64::from(r.resets);
            s.timed_out += u64::from(r.timed_out);
            s.rto_count += r.rto_count;
            s.handovers += r.handovers.len() as u64;
            s.spurious_retransmissions += r.spurious_at.len() as u64;
            s.dup_acks += r.dup_acks_at.len() as u64;
        }
        s
    }

    fn start_due(&mut self, now: Instant) {
        // Bounded by the number of downloads.
        while let Some((&(start, order), &slot)) = self.pending.first_key_value() {
            if start > now {
                break;
            }
            self.pending.remove(&(start, order));
            let index = match slot {
                Slot::Source(index) => index,
                Slot::Http(index) => {
                    self.start_http(now, index);
                    continue;
                }
            };
            let d = &mut self.downloads[index];
            d.report.started_at = Some(now);
            match self.endpoint.connect(now, d.tuple) {
                Ok(tuple) => {
                    d.report.status = DownloadStatus::Connecting;
                    if let Some(conn) = self.endpoint.connection_mut(&tuple) {
                        // Queued before the handshake; goes out right after it.
                        let request = d.report.spec.request.to_bytes();
                        if conn.send(&request) != Ok(request.len()) {
                            d.report.status = DownloadStatus::Failed;
                        }
                    }
                }
                Err(_) => d.report.status = DownloadStatus::Failed,
            }
        }
    }

    /// Connects HTTP download `index` and queues its first request.
    fn start_http(&mut self, now: Instant, index: usize) {
        let d = &mut self.http[index];
        d.report.started_at = Some(now);
        match self.endpoint.connect(now, d.tuple) {
            Ok(tuple) => {
                d.report.status = DownloadStatus::Connecting;
                if let Some(conn) = self.endpoint.connection_mut(&tuple) {
                    // Queued before the handshake; goes out right after it.
                    d.send_requests(conn);
                }
            }
            Err(_) => d.report.status = DownloadStatus::Failed,
        }
    }

    /// Reads, verifies and handles events of a download.
    fn service(&mut self, slot: Slot, now: Instant) {
        let index = match slot {
            Slot::Source(index) => index,
            Slot::Http(index) => {
                let d = &mut self.http[index];
                if d.report.status == DownloadStatus::Pending {
                    return;
                }
                if let Some(conn) = self.endpoint.connection_mut(&d.tuple) {
                    d.service(now, conn, &mut self.rx);
                }
                return;
            }
        };
        let d = &mut self.downloads[index];
        if d.report.status == DownloadStatus::Pending {
            return;
        }
        let Some(conn) = self.endpoint.connection_mut(&d.tuple) else {
            return;
        };
        // Bounded: events are queued by finite processing.
        while let Some(event) = conn.poll_event() {
            track!(d.report).event(now, event);
        }
        let r = &mut d.report;
        // Bounded by the receive queue.
        while conn.recv_queue() > 0 {
            let n = match conn.recv(&mut self.rx) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Err(m) = d.verifier.feed(&self.rx[..n]) {
                if r.mismatch.is_none() {
                    r.mismatch = Some(m);
                }
            }
        }
        if self.record_progress && d.verifier.bytes_ok() != r.bytes_verified {
            r.progress.note(now, d.verifier.bytes_ok());
        }
        r.bytes_verified = d.verifier.bytes_ok();
        track!(r).conn_stats(conn.stats());
        let active = matches!(
            r.status,
            DownloadStatus::Connecting | DownloadStatus::Receiving
        );
        if active && r.mismatch.is_some() {
            r.status = DownloadStatus::Failed;
            conn.abort();
        } else if active && conn.is_read_closed() {
            r.status = if d.verifier.is_complete() {
                DownloadStatus::Complete
            } else {
                DownloadStatus::Failed
            };
            r.completed_at = Some(now);
            r.sha256 = Some(hex::encode(d.verifier.sha256()));
            conn.close();
        } else if active && conn.is_closed() {
            r.status = DownloadStatus::Failed;
            r.sha256 = Some(hex::encode(d.verifier.sha256()));
        }
    }

    fn service_all(&mut self, now: Instant) {
        for i in 0..self.downloads.len() {
            self.service(Slot::Source(i), now);
        }
        for i in 0..self.http.len() {
            self.service(Slot::Http(i), now);
        }
    }

    /// The connection, capture view and transport measurements of a download.
    fn parts(&mut self, slot: Slot) -> (FourTuple, &mut WireView, Track<'_>) {
        match slot {
            Slot::Source(i) => {
                let d = &mut self.downloads[i];
                (d.tuple, &mut d.wire, track!(d.report))
            }
            Slot::Http(i) => {
                let d = &mut self.http[i];
                (d.tuple, &mut d.wire, track!(d.report))
            }
        }
    }

    /// Bytes of a download that arrived in order at the client's TCP.
    fn in_order(&self, slot: Slot) -> u64 {
        match slot {
            Slot::Source(i) => {
                let d = &self.downloads[i];
                let queued = self.endpoint.connection(&d.tuple);
                d.verifier.bytes_ok() + queued.map_or(0, |c| c.recv_queue() as u64)
            }
            Slot::Http(i) => {
                let d = &self.http[i];
                d.in_order(self.endpoint.connection(&d.tuple))
            }
        }
    }

    /// Sends what the translator's CN and the endpoint have queued: the endpoint's
    /// segments as the kernel would write them into `vany client`'s TUN device (plain, to
    /// the anycast address), each through [`Translator::outbound`].
    fn flush(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        // Bounded by the CN's queue.
        while let Some(p) = self.translator.poll_transmit() {
            self.stats.tx_packets += 1;
            out.push(p);
        }
        for _ in 0..MAX_BURST {
            let Some(t) = self.endpoint.poll_transmit(now, &mut self.tx[HEADROOM..]) else {
                self.more_to_send = false;
                return;
            };
            self.note_sent(now, t.tuple.local_port, t.len);
            let repr = PacketRepr {
                src: t.tuple.local,
                dst: t.tuple.remote,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: self.hop_limit,
                rh2: None,
                hao: None,
                upper: Upper::None,
            };
            let Ok(len) = repr.emit_headers(&mut self.tx, TCP_PROTOCOL, t.len) else {
                self.stats.malformed += 1;
                continue;
            };
            let verdict = self
                .translator
                .outbound(now, &self.tx[..len], &mut self.translated);
            // A drop is counted by the translator (`out_untranslatable`, `out_not_anycast`).
            if verdict == Verdict::Uplink {
                self.stats.tx_packets += 1;
                out.push(self.translated.clone());
            }
        }
        self.more_to_send = true;
    }

    /// Flags a duplicate ACK among the client's own segments (the TCP header and payload
    /// at `tx[HEADROOM..HEADROOM + len]`).
    fn note_sent(&mut self, now: Instant, local_port: u16, len: usize) {
        let Some(&slot) = self.by_port.get(&local_port) else {
            return;
        };
        let h = &self.tx[HEADROOM..HEADROOM + len];
        if h.len() < 20 {
            return;
        }
        let ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let header_len = usize::from(h[12] >> 4) * 4;
        let flags = h[13];
        let window = u16::from_be_bytes([h[14], h[15]]);
        // No data, ACK set, none of FIN (0x01), SYN (0x02), RST (0x04).
        let pure = len == header_len && flags & 0x10 != 0 && flags & 0x07 == 0;
        let (_, wire, track) = self.parts(slot);
        if WireView::dup_ack(&mut wire.last_out, ack, window, pure) {
            track.dup_acks_at.push(now);
        }
    }

    /// A packet as the host kernel receives it: straight from the network, or rewritten
    /// by [`Translator::inbound`]. `wire_src` is its source on the network.
    fn kernel_input(&mut self, now: Instant, packet: &[u8], wire_src: Ipv6Addr) {
        match parse_verified(packet) {
            Err(_) => self.stats.malformed += 1,
            Ok(p) if p.repr.rh2.is_some_and(|h| h != self.address) => {
                self.stats.misrouted += 1;
            }
            Ok(p) if matches!(p.repr.upper, Upper::Tcp(_)) => self.handle_tcp(now, &p, wire_src),
            Ok(_) => self.stats.other += 1,
        }
    }

    /// A TCP segment for the endpoint; the handover detector looks at `wire_src`, the
    /// endpoint at the (translated) source.
    fn handle_tcp(&mut self, now: Instant, parsed: &ParsedPacket<'_>, wire_src: Ipv6Addr) {
        let Upper::Tcp(seg) = &parsed.repr.upper else {
            return;
        };
        let peer = parsed.repr.src;
        self.stats.tcp += 1;
        let slot = self.by_port.get(&seg.dst_port).copied().filter(|&slot| {
            let (t, _, _) = self.parts(slot);
            t.remote == peer && t.remote_port == seg.src_port
        });
        if let Some(slot) = slot {
            let (_, wire, track) = self.parts(slot);
            let seq = seg.seq_number.0 as u32;
            if wire.data_in(seq, seg.payload.len()) {
                track.spurious_at.push(now);
            }
            let pure =
                seg.payload.is_empty() && matches!(seg.control, TcpControl::None | TcpControl::Psh);
            if let Some(ack) = seg.ack_number {
                let ack = ack.0 as u32;
                if WireView::dup_ack(&mut wire.last_in, ack, seg.window_len, pure) {
                    track.dup_acks_at.push(now);
                }
            }
        }
        let before = slot.map(|s| self.in_order(s));
        self.endpoint.handle_segment(now, peer, self.address, seg);
        let (Some(slot), Some(before)) = (slot, before) else {
            return;
        };
        if self.in_order(slot) > before {
            self.parts(slot).2.progress(now, wire_src, before);
        }
        self.service(slot, now);
    }
}

impl Host for Client {
    fn addresses(&self) -> Vec<Ipv6Addr> {
        vec![self.address]
    }

    /// The packet path of `vany client`'s AF_PACKET socket and TUN device: the
    /// translator first, then the "kernel" gets the packet as is (`Ignore`) or its
    /// rewrite (`Kernel`).
    fn handle_packet(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Vec<u8>>) {
        self.stats.rx_packets += 1;
        let wire_src = match packet.get(8..24).and_then(|a| <[u8; 16]>::try_from(a).ok()) {
            Some(a) => Ipv6Addr::from(a),
            None => Ipv6Addr::UNSPECIFIED,
        };
        let mut translated = std::mem::take(&mut self.translated);
        match self.translator.inbound(now, packet, &mut translated) {
            Verdict::Ignore => self.kernel_input(now, packet, wire_src),
            Verdict::Kernel => self.kernel_input(now, &translated, wire_src),
            // Answers, if any, come from `Translator::poll_transmit` in `flush`.
            Verdict::Consumed { .. } | Verdict::Drop(DropReason::NoBinding) => {}
            Verdict::Drop(_) | Verdict::Uplink => self.stats.malformed += 1,
        }
        self.translated = translated;
        self.flush(now, out);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.start_due(now);
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        if self.translator.poll_timeout().is_some_and(|t| t <= now) {
            self.translator.handle_timeout(now);
        }
        self.service_all(now);
        self.flush(now, out);
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.more_to_send {
            return Some(Instant::ZERO);
        }
        [
            self.endpoint.poll_timeout(),
            self.translator.poll_timeout(),
            self.pending.first_key_value().map(|(&(t, _), _)| t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
