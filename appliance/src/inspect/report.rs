//! Decodes one captured frame into a [`PacketReport`]: every header and field, checksum
//! validity, and (given a key) authenticator validity.

use serde::Serialize;
use vany_stack::mip6::rr::{self, Kbm};
use vany_stack::wire::mh_option::option_name;
use vany_stack::wire::packet::{self, Upper};
use vany_stack::wire::{MhMessage, MhOption, Part, Rule, TcpControl, WireError};

use super::pcap::LinkType;

/// One `name = value` line of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Dotted field name, e.g. `bu.sequence`.
    pub name: String,
    /// The value as text.
    pub value: String,
}

/// A malformed packet: where and which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Byte offset from the start of the frame.
    pub offset: usize,
    /// What rule was broken.
    pub message: String,
}

/// BU/BA flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Flags {
    /// A (BU).
    #[serde(rename = "A", skip_serializing_if = "Option::is_none")]
    pub ack: Option<bool>,
    /// H (BU).
    #[serde(rename = "H", skip_serializing_if = "Option::is_none")]
    pub home: Option<bool>,
    /// L (BU).
    #[serde(rename = "L", skip_serializing_if = "Option::is_none")]
    pub link_local: Option<bool>,
    /// K (BU and BA).
    #[serde(rename = "K")]
    pub key_mgmt: bool,
}

/// Everything `vany inspect` says about one packet.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PacketReport {
    /// 1-based packet number.
    pub index: usize,
    /// Capture timestamp (pcap input only).
    pub timestamp: Option<f64>,
    /// Captured length in bytes.
    pub length: usize,
    /// Set when the frame is not IPv6 and was skipped (pcap input).
    pub skipped: Option<String>,
    /// Set when the packet is malformed.
    pub error: Option<ErrorReport>,
    /// Upper-layer protocol name: MH, TCP, UDP, ICMPv6 or none.
    pub upper: Option<&'static str>,
    /// MH type name, for Mobility Header packets.
    pub mh_type: Option<String>,
    /// Upper-layer checksum as received.
    pub checksum: Option<u16>,
    /// Whether the upper-layer checksum verifies (home address in the pseudo-header).
    pub checksum_ok: Option<bool>,
    /// Whether a BU's or BA's authenticator verifies; null when no key was given or the
    /// packet carries none.
    pub authenticator_ok: Option<bool>,
    /// BU/BA sequence number.
    pub seq: Option<u16>,
    /// BU/BA lifetime in units of 4 seconds (as on the wire).
    pub lifetime: Option<u16>,
    /// BU/BA lifetime in seconds.
    pub lifetime_seconds: Option<u32>,
    /// BU/BA flags.
    pub flags: Option<Flags>,
    /// BA status.
    pub status: Option<u8>,
    /// The home address from the HAO or, failing that, the RH2.
    pub home_address: Option<String>,
    /// The home address in the HAO.
    pub hao_home_address: Option<String>,
    /// The home address in the RH2.
    pub rh2_home_address: Option<String>,
    /// IPv6 source.
    pub src: Option<String>,
    /// IPv6 destination.
    pub dst: Option<String>,
    /// Every header field in order.
    pub fields: Vec<Field>,
}

impl PacketReport {
    fn field(&mut self, name: &str, value: impl ToString) {
        self.fields.push(Field {
            name: name.to_string(),
            value: value.to_string(),
        });
    }

    /// Whether the packet was malformed.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// Strips the link-layer header, returning the IPv6 packet, or `Ok(None)` for a frame that
/// is not IPv6 (with the reason).
pub fn strip_link(link: LinkType, frame: &[u8]) -> Result<Result<&[u8], String>, WireError> {
    let ethertype_at = match link {
        LinkType::RawIp => {
            return match frame.first().map(|b| b >> 4) {
                Some(6) | None => Ok(Ok(frame)),
                Some(v) => Ok(Err(format!("IP version {v} frame, not IPv6"))),
            }
        }
        LinkType::Ethernet => 12,
        LinkType::LinuxSll => 14,
        LinkType::LinuxSll2 => 0,
    };
    let header_len = match link {
        LinkType::Ethernet => 14,
        LinkType::LinuxSll => 16,
        _ => 20,
    };
    if frame.len() < header_len {
        return Err(WireError::new(
            0,
            Rule::Truncated {
                part: Part::Ethernet,
                needed: header_len,
                available: frame.len(),
            },
        ));
    }
    let mut at = ethertype_at;
    let mut start = header_len;
    let mut ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    // 802.1Q / 802.1ad tags on Ethernet.
    while link == LinkType::Ethernet && (ethertype == 0x8100 || ethertype == 0x88a8) {
        if frame.len() < start + 4 {
            return Err(WireError::new(
                start,
                Rule::Truncated {
                    part: Part::Ethernet,
                    needed: start + 4,
                    available: frame.len(),
                },
            ));
        }
        at += 4;
        start += 4;
        ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    }
    if ethertype != 0x86dd {
        return Ok(Err(format!("EtherType {ethertype:#06x}, not IPv6")));
    }
    Ok(Ok(&frame[start..]))
}

/// Decodes one frame. `kbm`, when given, is used to check BU/BA authenticators.
pub fn decode(index: usize, link: LinkType, frame: &[u8], kbm: Option<&Kbm>) -> PacketReport {
    let mut report = PacketReport {
        index,
        length: frame.len(),
        ..PacketReport::default()
    };
    let (ip, link_len) = match strip_link(link, frame) {
        Ok(Ok(ip)) => (ip, frame.len() - ip.len()),
        Ok(Err(reason)) => {
            report.skipped = Some(reason);
            return report;
        }
        Err(e) => {
            report.error = Some(ErrorReport {
                offset: e.offset,
                message: e.rule.to_string(),
            });
            return report;
        }
    };
    if link_len > 0 {
        report.field("link.header_len", link_len);
    }
    let parsed = match packet::parse(ip) {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(ErrorReport {
                offset: e.offset + link_len,
                message: e.rule.to_string(),
            });
            return report;
        }
    };
    let repr = &parsed.repr;
    describe_ipv6(&mut report, ip, &parsed);
    report.home_address = repr.hao.or(repr.rh2).map(|a| a.to_string());
    report.checksum = Some(parsed.checksum);
    report.checksum_ok = Some(parsed.checksum_ok);
    let checksum_text = format!(
        "{:#06x} ({})",
        parsed.checksum,
        if parsed.checksum_ok {
            "valid"
        } else {
            "INVALID"
        }
    );
    let pseudo = format!("src {} dst {}", repr.pseudo_src(), repr.pseudo_dst());
    let upper = parsed.upper_bytes;
    match &repr.upper {
        Upper::Mh(m) => {
            describe_mh(&mut report, m, &parsed, (&checksum_text, &pseudo), kbm);
        }
        Upper::Tcp(t) => {
            describe_tcp(&mut report, t, upper, (&checksum_text, &pseudo));
        }
        Upper::Udp(u) => {
            report.upper = Some("UDP");
            report.field("udp.src_port", u.src_port);
            report.field("udp.dst_port", u.dst_port);
            report.field("udp.length", upper.len());
            report.field("udp.checksum", &checksum_text);
            report.field("udp.checksum_pseudo_header", &pseudo);
            report.field("udp.payload_len", u.payload.len());
        }
        Upper::Icmpv6(i) => {
            report.upper = Some("ICMPv6");
            report.field("icmpv6.type", i.msg_type);
            report.field("icmpv6.code", i.code);
            report.field("icmpv6.checksum", &checksum_text);
            report.field("icmpv6.checksum_pseudo_header", &pseudo);
            report.field("icmpv6.body_len", i.body.len());
        }
        Upper::None => {
            report.upper = Some("none");
            report.checksum = None;
            report.checksum_ok = None;
            report.field("upper", "no next header (59)");
        }
    }
    report
}

/// The IPv6 header, the Type 2 Routing Header and the Home Address option.
fn describe_ipv6(report: &mut PacketReport, ip: &[u8], parsed: &packet::ParsedPacket<'_>) {
    let repr = &parsed.repr;
    report.src = Some(repr.src.to_string());
    report.dst = Some(repr.dst.to_string());
    report.field("ipv6.version", 6);
    report.field("ipv6.traffic_class", repr.traffic_class);
    report.field("ipv6.flow_label", format!("{:#07x}", repr.flow_label));
    report.field("ipv6.payload_length", u16::from_be_bytes([ip[4], ip[5]]));
    report.field("ipv6.next_header", ip[6]);
    report.field("ipv6.hop_limit", repr.hop_limit);
    report.field("ipv6.src", repr.src);
    report.field("ipv6.dst", repr.dst);
    if let (Some(at), Some(home)) = (parsed.rh2_offset, repr.rh2) {
        report.field("rh2.next_header", ip[at]);
        report.field("rh2.header_len", ip[at + 1]);
        report.field("rh2.routing_type", ip[at + 2]);
        report.field("rh2.segments_left", ip[at + 3]);
        report.field("rh2.home_address", home);
        report.rh2_home_address = Some(home.to_string());
    }
    if let (Some(at), Some(home)) = (parsed.dest_opts_offset, repr.hao) {
        report.field("destopt.next_header", ip[at]);
        report.field("destopt.header_len", ip[at + 1]);
        report.field("destopt.hao.home_address", home);
        report.hao_home_address = Some(home.to_string());
    }
}

/// A Mobility Header: fixed fields, the message, its options and, with a Kbm, whether
/// its authenticator verifies.
fn describe_mh(
    report: &mut PacketReport,
    m: &vany_stack::wire::MhRepr<'_>,
    parsed: &packet::ParsedPacket<'_>,
    (checksum_text, pseudo): (&str, &str),
    kbm: Option<&Kbm>,
) {
    let repr = &parsed.repr;
    let upper = parsed.upper_bytes;
    report.upper = Some("MH");
    let mh_type = m.message.mh_type();
    report.mh_type = Some(mh_type.name().to_string());
    report.field("mh.payload_proto", upper[0]);
    report.field(
        "mh.header_len",
        format!("{} ({} bytes)", upper[1], upper.len()),
    );
    report.field("mh.type", format!("{} ({})", mh_type.to_u8(), mh_type));
    report.field("mh.reserved", upper[3]);
    report.field("mh.checksum", checksum_text);
    report.field("mh.checksum_pseudo_header", pseudo);
    describe_message(report, &m.message);
    for (i, option) in m.options.iter().enumerate() {
        describe_option(report, i, option);
    }
    if let Some(kbm) = kbm {
        match rr::verify_packet(parsed, kbm) {
            Ok(ok) => {
                report.authenticator_ok = Some(ok);
                let (coa, cn) = rr::auth_addresses(repr).unwrap_or((repr.src, repr.dst));
                report.field(
                    "authenticator",
                    format!(
                        "{} (care-of {coa}, correspondent {cn})",
                        if ok { "valid" } else { "INVALID" }
                    ),
                );
            }
            Err(rr::AuthError::NoAuthData) => {
                report.field("authenticator", "absent (no Binding Authorization Data)")
            }
            Err(_) => {}
        }
    }
}

/// A TCP header and its options.
fn describe_tcp(
    report: &mut PacketReport,
    t: &vany_stack::wire::TcpRepr<'_>,
    upper: &[u8],
    (checksum_text, pseudo): (&str, &str),
) {
    report.upper = Some("TCP");
    report.field("tcp.src_port", t.src_port);
    report.field("tcp.dst_port", t.dst_port);
    report.field("tcp.seq", t.seq_number.0 as u32);
    if let Some(ack) = t.ack_number {
        report.field("tcp.ack", ack.0 as u32);
    }
    report.field("tcp.header_len", (upper[12] >> 4) * 4);
    report.field("tcp.flags", tcp_flags(upper[13]));
    let control = match t.control {
        TcpControl::Syn => "SYN",
        TcpControl::Fin => "FIN",
        TcpControl::Rst => "RST",
        TcpControl::Psh => "PSH",
        TcpControl::None => "none",
    };
    report.field("tcp.control", control);
    report.field("tcp.window", t.window_len);
    report.field("tcp.checksum", checksum_text);
    report.field("tcp.checksum_pseudo_header", pseudo);
    report.field("tcp.urgent", u16::from_be_bytes([upper[18], upper[19]]));
    if let Some(mss) = t.max_seg_size {
        report.field("tcp.option.mss", mss);
    }
    if let Some(ws) = t.window_scale {
        report.field("tcp.option.window_scale", ws);
    }
    if t.sack_permitted {
        report.field("tcp.option.sack_permitted", true);
    }
    for (left, right) in t.sack_ranges.iter().flatten() {
        report.field("tcp.option.sack", format!("{left}-{right}"));
    }
    if let Some(ts) = t.timestamp {
        report.field(
            "tcp.option.timestamp",
            format!("tsval {} tsecr {}", ts.tsval, ts.tsecr),
        );
    }
    report.field("tcp.payload_len", t.payload.len());
}

fn tcp_flags(byte: u8) -> String {
    const NAMES: [(u8, &str); 8] = [
        (0x80, "CWR"),
        (0x40, "ECE"),
        (0x20, "URG"),
        (0x10, "ACK"),
        (0x08, "PSH"),
        (0x04, "RST"),
        (0x02, "SYN"),
        (0x01, "FIN"),
    ];
    let set: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| byte & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "none".to_string()
    } else {
        set.join(" ")
    }
}

fn describe_message(report: &mut PacketReport, message: &MhMessage<'_>) {
    match *message {
        MhMessage::Brr => {}
        MhMessage::Hoti { cookie } => report.field("hoti.home_init_cookie", hex(&cookie)),
        MhMessage::Coti { cookie } => report.field("coti.care_of_init_cookie", hex(&cookie)),
        MhMessage::Hot {
            nonce_index,
            cookie,
            token,
        } => {
            report.field("hot.home_nonce_index", nonce_index);
            report.field("hot.home_init_cookie", hex(&cookie));
            report.field("hot.home_keygen_token", hex(&token));
        }
        MhMessage::Cot {
            nonce_index,
            cookie,
            token,
        } => {
            report.field("cot.care_of_nonce_index", nonce_index);
            report.field("cot.care_of_init_cookie", hex(&cookie));
            report.field("cot.care_of_keygen_token", hex(&token));
        }
        MhMessage::Bu(bu) => {
            report.seq = Some(bu.seq);
            report.lifetime = Some(bu.lifetime);
            report.lifetime_seconds = Some(u32::from(bu.lifetime) * 4);
            report.flags = Some(Flags {
                ack: Some(bu.ack),
                home: Some(bu.home),
                link_local: Some(bu.link_local),
                key_mgmt: bu.key_mgmt,
            });
            report.field("bu.sequence", bu.seq);
            report.field("bu.flag.A", bu.ack);
            report.field("bu.flag.H", bu.home);
            report.field("bu.flag.L", bu.link_local);
            report.field("bu.flag.K", bu.key_mgmt);
            report.field("bu.reserved", format!("{:#05x}", bu.reserved));
            report.field(
                "bu.lifetime",
                format!("{} ({} s)", bu.lifetime, u32::from(bu.lifetime) * 4),
            );
        }
        MhMessage::Ba(ba) => {
            report.seq = Some(ba.seq);
            report.lifetime = Some(ba.lifetime);
            report.lifetime_seconds = Some(u32::from(ba.lifetime) * 4);
            report.status = Some(ba.status);
            report.flags = Some(Flags {
                key_mgmt: ba.key_mgmt,
                ..Flags::default()
            });
            report.field(
                "ba.status",
                format!("{} ({})", ba.status, ba_status_text(ba.status)),
            );
            report.field("ba.flag.K", ba.key_mgmt);
            report.field("ba.reserved", format!("{:#04x}", ba.reserved));
            report.field("ba.sequence", ba.seq);
            report.field(
                "ba.lifetime",
                format!("{} ({} s)", ba.lifetime, u32::from(ba.lifetime) * 4),
            );
        }
        MhMessage::Be {
            status,
            home_address,
        } => {
            report.status = Some(status);
            let text = match status {
                1 => "unknown binding for Home Address destination option",
                2 => "unrecognized MH type value",
                _ => "unassigned",
            };
            report.field("be.status", format!("{status} ({text})"));
            report.field("be.home_address", home_address);
        }
        MhMessage::Unknown { mh_type, body } => {
            report.field("mh.unknown_type", mh_type);
            report.field("mh.body", hex(body));
        }
    }
}

fn ba_status_text(status: u8) -> &'static str {
    match status {
        0 => "Binding Update accepted",
        1 => "accepted but prefix discovery necessary",
        128 => "reason unspecified",
        129 => "administratively prohibited",
        130 => "insufficient resources",
        131 => "home registration not supported",
        132 => "not home subnet",
        133 => "not home agent for this mobile node",
        134 => "duplicate address detection failed",
        135 => "sequence number out of window",
        136 => "expired home nonce index",
        137 => "expired care-of nonce index",
        138 => "expired nonces",
        139 => "registration type change disallowed",
        _ => "unassigned",
    }
}

fn describe_option(report: &mut PacketReport, i: usize, option: &MhOption<'_>) {
    let name = format!("mh.option[{i}]");
    let text = match *option {
        MhOption::RefreshAdvice { interval } => format!(
            "{}: refresh interval {interval} ({} s)",
            option.name(),
            u32::from(interval) * 4
        ),
        MhOption::AltCareOf(addr) => format!("{}: {addr}", option.name()),
        MhOption::NonceIndices { home, care_of } => {
            format!("{}: home {home}, care-of {care_of}", option.name())
        }
        MhOption::AuthData(auth) => format!("{}: authenticator {}", option.name(), hex(&auth)),
        MhOption::Unknown { kind, data } => {
            format!(
                "type {kind} ({}), {} bytes: {}",
                option_name(kind),
                data.len(),
                hex(data)
            )
        }
    };
    report.field(&name, text);
}
