//! Does the Linux kernel split vany's TCP super-segments correctly when they carry the
//! Mobile IPv6 headers a member puts on them (a Home Address option, a Type 2 Routing
//! Header)? A real kernel does the splitting: vany writes each super-segment into a TUN
//! device with offloads in namespace `a`, whose kernel forwards it out of a veth with
//! TSO, GSO and checksum offload off (so `ipv6_gso_segment` splits it in software and
//! each piece's checksum is finished there), and a packet socket
//! in namespace `b` captures what arrives:
//!
//! ```text
//!   vany ── TUN (offloads) ── [a] fd00:78::1 ── veth (tso, gso off) ── [b] fd00:79::2
//! ```
//!
//! Every piece must be a whole IPv6 packet with the same extension header, a TCP
//! checksum that verifies over the home address (RFC 6275 §6.3, §6.4), consecutive
//! sequence numbers, and together the super-segment's payload. Both offload modes
//! (`Both`, and `TxOnly` as a node uses it). Last, a super-segment whose virtio-net
//! header the kernel refuses is dropped and counted, not a device error.
//!
//! Needs root (namespaces, TUN, veth); otherwise it says so and passes (a failure with
//! `VANY_TESTS_REQUIRED=1`).

mod netns_common;

use std::io::Read;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use netns_common::*;
use vany_appliance::io::tun::OffloadMode;
use vany_appliance::io::{self, Lent, PacketIo, Segmentation, Tun};
use vany_stack::tcp::FourTuple;
use vany_stack::wire::{parse_verified, PacketRepr, Upper};

const A_TUN: &str = "fd00:78::1";
/// vany's care-of address, on the TUN's link.
const CARE_OF: &str = "fd00:78::2";
const A_VETH: &str = "fd00:79::1";
const B_VETH: &str = "fd00:79::2";
/// The home address a HAO or an RH2 carries (vany's anycast address, or the client's
/// home address).
const HOME: &str = "fd00:7a::1";
/// Payload bytes per piece, and pieces per super-segment.
const PIECE: usize = 1000;
const PIECES: usize = 12;

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("an address")
}

/// Which Mobile IPv6 header the super-segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mip6 {
    None,
    Hao,
    Rh2,
}

/// The super-segment: IPv6 (+ `mip6`) + TCP, `PIECES * PIECE` bytes of payload from
/// `seq`, its checksum field holding the pseudo-header's sum over the home-level
/// addresses (what `Pump::transmit` and a member write). Returns the packet and how to
/// split it.
fn super_segment(mip6: Mip6, seq: u32, payload: &[u8]) -> (Vec<u8>, Segmentation) {
    let (src, dst) = match mip6 {
        // From the care-of address with the home address in a HAO.
        Mip6::Hao => (ip(CARE_OF), ip(B_VETH)),
        // To b's address (a care-of address) with the home address in an RH2.
        Mip6::Rh2 | Mip6::None => (ip(CARE_OF), ip(B_VETH)),
    };
    let repr = PacketRepr {
        hao: (mip6 == Mip6::Hao).then(|| ip(HOME)),
        rh2: (mip6 == Mip6::Rh2).then(|| ip(HOME)),
        ..PacketRepr::new(src, dst, Upper::None)
    };
    let at = repr.upper_offset();
    let tcp_len = 20 + payload.len();
    let mut buf = vec![0u8; at + tcp_len];
    // A TCP header without options: ports, sequence, ACK 1, offset 5, ACK|PSH, window.
    let tcp = &mut buf[at..];
    tcp[0..2].copy_from_slice(&8080u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;
    tcp[14..16].copy_from_slice(&1000u16.to_be_bytes());
    tcp[20..].copy_from_slice(payload);
    let tuple = FourTuple {
        local: repr.pseudo_src(),
        local_port: 8080,
        remote: repr.pseudo_dst(),
        remote_port: 40000,
    };
    let seg = io::partial_checksum(&mut buf[at..], &tuple, tcp_len, PIECE as u16);
    let len = repr
        .emit_headers(&mut buf, 6, tcp_len)
        .expect("the headers fit");
    assert_eq!(len, buf.len());
    (buf, seg.after(at))
}

/// Captures the IPv6 packets other than ICMPv6 that arrive in namespace `ns` (a thread
/// that enters it) until `want` arrived or `limit` passed.
fn capture(
    ns: String,
    want: usize,
    limit: Duration,
    ready: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    std::thread::spawn(move || {
        enter(&ns).expect("entering b");
        let proto = socket2::Protocol::from(i32::from(0x86ddu16.to_be()));
        // Cooked (no link-layer header): each read is one IPv6 packet.
        let sock = socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::DGRAM, Some(proto))
            .expect("a packet socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let _ = ready.send(());
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_000];
        let mut reader = &sock;
        while got.len() < want && start.elapsed() < limit {
            match reader.read(&mut buf) {
                Ok(n) => {
                    // Not ICMPv6 (b's neighbor discovery, errors about what it got).
                    if n > 40 && buf[6] != 58 {
                        got.push(buf[..n].to_vec());
                    }
                }
                Err(_) => continue,
            }
        }
        got
    })
}

#[test]
fn the_kernel_splits_super_segments_with_hao_and_rh2() {
    splits(OffloadMode::Both, 'a');
}

/// The same with offloads on the transmit side only (no `TUN_F_TSO6`: what a node uses,
/// whose kernel must not coalesce the packets it may forward).
#[test]
fn the_kernel_splits_super_segments_without_tun_f_tso6() {
    splits(OffloadMode::TxOnly, 'b');
}

fn splits(mode: OffloadMode, tag: char) {
    if !is_root() {
        skip("needs root (network namespaces, a TUN and a veth device)");
        return;
    }
    remove_stale_namespaces(&["vany-xo"]);
    let pid = std::process::id();
    let a = Netns::create(format!("vany-xo{pid}-{tag}a"));
    let b = Netns::create(format!("vany-xo{pid}-{tag}b"));
    let mut tun = Tun::open_mode(&format!("vxo{pid}{tag}"), mode).unwrap_or_else(|e| panic!("{e}"));
    if !tun.segmentation_offload() {
        skip("this kernel refused the TUN offloads");
        return;
    }
    let dev = tun.name().to_string();
    let (va, vb) = (format!("vxo{pid}{tag}a"), format!("vxo{pid}{tag}b"));
    run("ip", &["link", "set", &dev, "netns", &a.name]);
    run(
        "ip",
        &[
            "link", "add", &va, "netns", &a.name, "type", "veth", "peer", "name", &vb, "netns",
            &b.name,
        ],
    );
    for (ns, link, addr) in [(&a, &dev, A_TUN), (&a, &va, A_VETH), (&b, &vb, B_VETH)] {
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", link, "mtu", "1500", "up"]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            link,
            "nodad",
        ]);
    }
    a.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    // a's kernel must split in software (ipv6_gso_segment) and finish each piece's
    // checksum itself (a veth passes a partial one on otherwise); b must not coalesce
    // the pieces again.
    a.exec(&[
        "ethtool", "-K", &va, "tx", "off", "tso", "off", "gso", "off",
    ]);
    b.exec(&["ethtool", "-K", &vb, "gro", "off"]);
    // b's neighbor entry up front: the first super-segment does not wait for NDP.
    let b_mac = b.ip(&["-j", "link", "show", &vb]);
    let b_mac: serde_json::Value = serde_json::from_str(&b_mac).expect("ip -j link");
    let b_mac = b_mac[0]["address"].as_str().expect("b's MAC").to_string();
    a.ip(&[
        "-6",
        "neigh",
        "replace",
        B_VETH,
        "lladdr",
        &b_mac,
        "dev",
        &va,
        "nud",
        "permanent",
    ]);

    let payload: Vec<u8> = (0..PIECE * PIECES)
        .map(|i| (i * 7 + i / 999) as u8)
        .collect();
    for (k, mip6) in [Mip6::None, Mip6::Hao, Mip6::Rh2].into_iter().enumerate() {
        let seq = 1_000_000 * (k as u32 + 1);
        let (packet, seg) = super_segment(mip6, seq, &payload);
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let cap = capture(b.name.clone(), PIECES, Duration::from_secs(5), ready_tx);
        ready
            .recv_timeout(Duration::from_secs(5))
            .expect("the capture started");
        let lent = tun
            .send_with_meta(&mut |buf| {
                buf[..packet.len()].copy_from_slice(&packet);
                (packet.len(), Some(seg))
            })
            .expect("the TUN takes a super-segment");
        assert_eq!(lent, Lent::Sent(packet.len()), "{mip6:?}");
        let pieces = cap.join().expect("the capture thread");
        println!(
            "{mip6:?}: super-segment of {} bytes -> {} packets",
            packet.len(),
            pieces.len()
        );
        assert_eq!(pieces.len(), PIECES, "{mip6:?}: pieces captured in b");
        let mut joined = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let parsed = parse_verified(p)
                .unwrap_or_else(|e| panic!("{mip6:?} piece {i}: {e} (a bad checksum?)"));
            assert_eq!(
                parsed.repr.hao.is_some(),
                mip6 == Mip6::Hao,
                "{mip6:?} piece {i}"
            );
            assert_eq!(
                parsed.repr.rh2.is_some(),
                mip6 == Mip6::Rh2,
                "{mip6:?} piece {i}"
            );
            assert_eq!(parsed.repr.hop_limit, 63, "forwarded once");
            let Upper::Tcp(t) = &parsed.repr.upper else {
                panic!("{mip6:?} piece {i}: not TCP");
            };
            assert_eq!(
                t.seq_number.0 as u32,
                seq + (i * PIECE) as u32,
                "{mip6:?} piece {i}"
            );
            assert_eq!(t.payload.len(), PIECE, "{mip6:?} piece {i}");
            joined.extend_from_slice(t.payload);
        }
        assert!(
            joined == payload,
            "{mip6:?}: the pieces are the super-segment's payload"
        );
    }
    // A super-segment whose header the kernel refuses (the checksum's place past its
    // end) is dropped and counted, not an error of the device.
    let (packet, seg) = super_segment(Mip6::None, 1, &payload);
    let bad = Segmentation {
        tcp_at: packet.len() as u16,
        ..seg
    };
    let lent = tun
        .send_with_meta(&mut |buf| {
            buf[..packet.len()].copy_from_slice(&packet);
            (packet.len(), Some(bad))
        })
        .expect("a refused super-segment is no device error");
    assert_eq!(lent, Lent::Dropped(packet.len()));
    assert_eq!(tun.offload_stats().tx_refused, 1);
    drop(tun);
    drop(a);
    drop(b);
}
