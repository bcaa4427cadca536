//! Writes the committed seed corpora under `fuzz/seeds/<target>/`: valid Mobile IPv6
//! packets (BU/BA signed with the fuzz targets' fixed Kbm, the return-routability
//! messages, BRR, BE), TCP/UDP/ICMPv6 packets with the Mobile IPv6 extension headers (and
//! a Packet Too Big quoting one), and
//! for `inspect_decode` the same packets behind Ethernet, in a pcap file and as hex text.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`.

use std::fs;
use std::net::Ipv6Addr;
use std::path::Path;

use vany_appliance::sim::pcap::PcapWriter;
use vany_stack::mip6::rr;
use vany_stack::time::Instant;
use vany_stack::wire::packet::{Icmpv6Message, UdpDatagram, Upper};
use vany_stack::wire::{
    BindingAck, BindingUpdate, MhMessage, MhOption, MhRepr, PacketRepr, PacketTooBigRepr,
    TcpControl, TcpRepr, TcpSeqNumber, PACKET_TOO_BIG,
};

const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
const ALT_COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 4, 0, 0, 0, 0, 4);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 3);

fn packet(src: Ipv6Addr, dst: Ipv6Addr, upper: Upper<'_>) -> PacketRepr<'_> {
    PacketRepr {
        src,
        dst,
        traffic_class: 0,
        flow_label: 0x12345,
        hop_limit: 64,
        rh2: None,
        hao: None,
        upper,
    }
}

fn mh(message: MhMessage<'static>, options: &[MhOption<'static>]) -> Upper<'static> {
    let mut m = MhRepr::new(message);
    for o in options {
        m.options.push(*o).expect("too many options");
    }
    Upper::Mh(m)
}

fn emit(repr: &PacketRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut buf).expect("emit");
    buf.truncate(n);
    buf
}

fn emit_signed(repr: &PacketRepr<'_>, kbm: &rr::Kbm) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = rr::emit_signed(repr, kbm, &mut buf).expect("emit_signed");
    buf.truncate(n);
    {
        let parsed = vany_stack::wire::parse_verified(&buf).expect("parse_verified");
        assert_eq!(rr::verify_packet(&parsed, kbm), Ok(true));
    }
    buf
}

fn main() {
    let kbm = rr::kbm(b"homeTOKN", Some(b"careTOKN"));
    let auth = MhOption::AuthData([0; 12]);
    let nonces = MhOption::NonceIndices {
        home: 7,
        care_of: 9,
    };
    let bu = BindingUpdate {
        seq: 1000,
        ack: true,
        lifetime: 105,
        ..BindingUpdate::default()
    };
    let mut packets: Vec<(&str, Vec<u8>)> = Vec::new();

    // BU from a member's CoA with HAO, Nonce Indices and Binding Authorization Data.
    let mut r = packet(COA, CN, mh(MhMessage::Bu(bu), &[nonces, auth]));
    r.hao = Some(HOA);
    packets.push(("bu_hao_signed", emit_signed(&r, &kbm)));
    // BU with Alternate Care-of Address.
    let mut r = packet(
        COA,
        CN,
        mh(
            MhMessage::Bu(bu),
            &[MhOption::AltCareOf(ALT_COA), nonces, auth],
        ),
    );
    r.hao = Some(HOA);
    packets.push(("bu_altcoa_signed", emit_signed(&r, &kbm)));
    // Deregistration BU (lifetime 0), Kbm = SHA1(home token).
    let dereg_kbm = rr::kbm(b"homeTOKN", None);
    let mut r = packet(
        HOA,
        CN,
        mh(
            MhMessage::Bu(BindingUpdate { lifetime: 0, ..bu }),
            &[nonces, auth],
        ),
    );
    r.hao = Some(HOA);
    packets.push(("bu_dereg_signed", emit_signed(&r, &dereg_kbm)));
    // BA from the client to the CoA with RH2, Binding Refresh Advice and authenticator.
    let ba = BindingAck {
        status: 0,
        seq: 1000,
        lifetime: 105,
        ..BindingAck::default()
    };
    let mut r = packet(
        CN,
        COA,
        mh(
            MhMessage::Ba(ba),
            &[MhOption::RefreshAdvice { interval: 50 }, auth],
        ),
    );
    r.rh2 = Some(HOA);
    packets.push(("ba_rh2_signed", emit_signed(&r, &kbm)));
    // BA status 135 (sequence number out of window), unsigned.
    let mut r = packet(
        CN,
        COA,
        mh(MhMessage::Ba(BindingAck { status: 135, ..ba }), &[]),
    );
    r.rh2 = Some(HOA);
    packets.push(("ba_135", emit(&r)));
    // Return routability.
    let cookie = *b"cookie!!";
    packets.push((
        "hoti",
        emit(&packet(HOA, CN, mh(MhMessage::Hoti { cookie }, &[]))),
    ));
    packets.push((
        "coti",
        emit(&packet(COA, CN, mh(MhMessage::Coti { cookie }, &[]))),
    ));
    packets.push((
        "hot",
        emit(&packet(
            CN,
            HOA,
            mh(
                MhMessage::Hot {
                    nonce_index: 7,
                    cookie,
                    token: *b"homeTOKN",
                },
                &[],
            ),
        )),
    ));
    packets.push((
        "cot",
        emit(&packet(
            CN,
            COA,
            mh(
                MhMessage::Cot {
                    nonce_index: 9,
                    cookie,
                    token: *b"careTOKN",
                },
                &[],
            ),
        )),
    ));
    let mut r = packet(CN, COA, mh(MhMessage::Brr, &[]));
    r.rh2 = Some(HOA);
    packets.push(("brr", emit(&r)));
    packets.push((
        "be",
        emit(&packet(
            CN,
            COA,
            mh(
                MhMessage::Be {
                    status: 1,
                    home_address: HOA,
                },
                &[],
            ),
        )),
    ));
    // An unknown MH type and an unknown option.
    let body = [0xaa, 0xbb];
    packets.push((
        "mh_unknown_type",
        emit(&packet(
            COA,
            CN,
            Upper::Mh(MhRepr::new(MhMessage::Unknown {
                mh_type: 42,
                body: &body,
            })),
        )),
    ));
    let mut r = packet(
        COA,
        CN,
        mh(
            MhMessage::Bu(bu),
            &[
                MhOption::Unknown {
                    kind: 77,
                    data: b"xyz",
                },
                nonces,
                auth,
            ],
        ),
    );
    r.hao = Some(HOA);
    packets.push(("bu_unknown_option_signed", emit_signed(&r, &kbm)));
    // Upper layers behind RH2 + HAO.
    let tcp = TcpRepr {
        src_port: 80,
        dst_port: 40000,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(1),
        ack_number: Some(TcpSeqNumber(2)),
        window_len: 64000,
        window_scale: Some(7),
        max_seg_size: Some(1400),
        sack_permitted: true,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let mut r = packet(COA, CN, Upper::Tcp(tcp));
    r.hao = Some(HOA);
    packets.push(("tcp_synack_hao", emit(&r)));
    let tcp = TcpRepr {
        control: TcpControl::Psh,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [Some((10, 20)), None, None],
        payload: b"GET / HTTP/1.1\r\n\r\n",
        ..tcp
    };
    let mut r = packet(CN, COA, Upper::Tcp(tcp));
    r.rh2 = Some(HOA);
    packets.push(("tcp_data_rh2", emit(&r)));
    let mut r = packet(
        COA,
        CN,
        Upper::Udp(UdpDatagram {
            src_port: 53,
            dst_port: 5353,
            payload: b"hello",
        }),
    );
    r.hao = Some(HOA);
    packets.push(("udp_hao", emit(&r)));
    let mut r = packet(
        CN,
        COA,
        Upper::Icmpv6(Icmpv6Message {
            msg_type: 128,
            code: 0,
            body: &[0, 1, 0, 2, b'p', b'i', b'n', b'g'],
        }),
    );
    r.rh2 = Some(HOA);
    r.hao = Some(HOA);
    packets.push(("icmpv6_rh2_hao", emit(&r)));
    // A Packet Too Big (RFC 4443 §3.2) from a router to our care-of address, quoting a
    // full-sized data segment we sent from it with a HAO and to the peer's care-of
    // address with an RH2.
    let payload = [0x5a; 1200];
    let data = TcpRepr {
        control: TcpControl::Psh,
        payload: &payload,
        ..tcp
    };
    let mut invoking = packet(COA, ALT_COA, Upper::Tcp(data));
    invoking.hao = Some(HOA);
    invoking.rh2 = Some(CN);
    let mut body = Vec::new();
    PacketTooBigRepr::emit_body(1280, &emit(&invoking), &mut body);
    let r = packet(
        Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1),
        COA,
        Upper::Icmpv6(Icmpv6Message {
            msg_type: PACKET_TOO_BIG,
            code: 0,
            body: &body,
        }),
    );
    packets.push(("icmpv6_packet_too_big", emit(&r)));
    packets.push(("none", emit(&packet(COA, CN, Upper::None))));

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let pp = root.join("packet_parse");
    let id = root.join("inspect_decode");
    fs::create_dir_all(&pp).unwrap();
    fs::create_dir_all(&id).unwrap();
    for (name, bytes) in &packets {
        fs::write(pp.join(format!("{name}.bin")), bytes).unwrap();
    }
    // inspect_decode: raw packets, Ethernet frames (one with an 802.1Q tag), a pcap file
    // and hex text.
    for (name, bytes) in packets.iter().take(5) {
        fs::write(id.join(format!("raw_{name}.bin")), bytes).unwrap();
        let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
        eth.extend_from_slice(bytes);
        fs::write(id.join(format!("eth_{name}.bin")), eth).unwrap();
    }
    let mut vlan = vec![
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0, 5, 0x86, 0xdd,
    ];
    vlan.extend_from_slice(&packets[0].1);
    fs::write(id.join("eth_vlan_bu.bin"), vlan).unwrap();
    let records: Vec<&[u8]> = packets.iter().map(|(_, b)| b.as_slice()).collect();
    fs::write(id.join("all.pcap"), pcap(&records)).unwrap();
    fs::write(id.join("bu.pcap"), pcap(&records[..1])).unwrap();
    let hex: String = packets[0].1.iter().map(|b| format!("{b:02x}")).collect();
    fs::write(id.join("bu.hex"), format!("0x{hex}\n")).unwrap();
    let ct = write_all(
        &root.join("client_translate"),
        client_translate_seeds(&packets),
    );
    let pd = write_all(&root.join("peer_datagram"), peer_datagram_seeds());
    println!(
        "wrote {} packet_parse, {} inspect_decode, {ct} client_translate and {pd} \
         peer_datagram seeds under {}",
        fs::read_dir(&pp).unwrap().count(),
        fs::read_dir(&id).unwrap().count(),
        root.display()
    );
}

/// A pcap file (LINKTYPE_IPV6) of `packets`, 250 ms apart from 1 700 000 000 s.
fn pcap(packets: &[&[u8]]) -> Vec<u8> {
    let epoch = std::time::Duration::from_secs(1_700_000_000);
    let mut w = PcapWriter::with_epoch(Vec::new(), epoch).expect("pcap to memory");
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(Instant::from_millis(250 * i as i64), p)
            .expect("pcap to memory");
    }
    w.into_inner()
}

fn write_all(dir: &Path, seeds: Vec<(&'static str, Vec<u8>)>) -> usize {
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in &seeds {
        fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
    seeds.len()
}

/// `client_translate` op lists (see the opcodes in `fuzz_targets/client_translate.rs`):
/// replays of the set-up exchange's packets both ways, a handoff to another care-of
/// address with data through both bindings, a deregistration, expiry and refresh timers,
/// mutated BUs and raw packets.
fn client_translate_seeds(packets: &[(&str, Vec<u8>)]) -> Vec<(&'static str, Vec<u8>)> {
    // Opcodes.
    const RAW_OUT: u8 = 0;
    const RAW_IN: u8 = 1;
    const FLIP_IN: u8 = 3;
    const POOL_OUT: u8 = 4;
    const POOL_IN: u8 = 5;
    const TIME: u8 = 6;
    const MN: u8 = 7;
    const TCP: u8 = 8;
    // MN actions: 0 home test, 1 care-of test, 2 BU, 3 deregistration; care-of address
    // number in the bits above.
    let mn = |action: u8, coa: u8| [MN, action | (coa << 2)];
    // TCP packets: [direction, src | dst << 4, rh2/hao flags, control, mss hi, mss lo,
    // payload units, seq]. Addresses: 0 client, 1 anycast, 2 other anycast,
    // 3 not anycast, 4/5 care-of addresses 0/1.
    let syn_out = [TCP, 0, 0x10, 0, 2, 0x05, 0xb5, 0, 0];
    let data_out = [TCP, 0, 0x10, 0, 1, 0, 0, 40, 1];
    // From care-of address `coa` (4 + coa) to the client (0), HAO holding the anycast
    // address (1 << 5), 20 units of payload.
    let hao_in = |coa: u8| [TCP, 1, 4 + coa, 2 | (1 << 5), 0, 0, 0, 20, 2];
    let mut replay = Vec::new();
    for k in 0..10 {
        replay.extend_from_slice(&[POOL_IN, k, POOL_OUT, k]);
    }
    let mut handoff = Vec::new();
    handoff.extend_from_slice(&syn_out);
    handoff.extend_from_slice(&hao_in(0));
    handoff.extend_from_slice(&mn(1, 1));
    handoff.extend_from_slice(&mn(2, 1));
    handoff.extend_from_slice(&data_out);
    handoff.extend_from_slice(&hao_in(1));
    handoff.extend_from_slice(&hao_in(0));
    handoff.extend_from_slice(&[TIME, 0x01, 0x90, 3]); // 400 s, timers
    handoff.extend_from_slice(&data_out);
    handoff.extend_from_slice(&[TIME, 0x00, 0x40, 3]);
    handoff.extend_from_slice(&data_out);
    let mut dereg = Vec::new();
    dereg.extend_from_slice(&mn(3, 0));
    dereg.extend_from_slice(&data_out);
    dereg.extend_from_slice(&mn(0, 0));
    dereg.extend_from_slice(&mn(1, 2));
    dereg.extend_from_slice(&mn(2, 2));
    dereg.extend_from_slice(&syn_out);
    let mut flips = Vec::new();
    for k in 0..8 {
        flips.extend_from_slice(&[FLIP_IN, k, 1, 0, 40 + 8 * k, k]);
    }
    let mut raw = Vec::new();
    for (_, p) in packets.iter().take(12) {
        for op in [RAW_IN, RAW_OUT] {
            raw.push(op);
            raw.extend_from_slice(&(p.len() as u16).to_be_bytes());
            raw.extend_from_slice(p);
        }
    }
    vec![
        ("replay_exchange", replay),
        ("handoff", handoff),
        ("deregister_rebind", dereg),
        ("flipped_pool", flips),
        ("raw_packets", raw),
    ]
}

/// `peer_datagram` op lists (see the opcodes in `fuzz_targets/peer_datagram.rs`):
/// small and multi-chunk messages delivered in order, reversed, twice, mutated and cut,
/// retransmissions and acknowledgements over time, messages signed by the harness with
/// a valid body, and a forged message.
fn peer_datagram_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use vany_appliance::group::peer::PeerBody;
    const SEAL: u8 = 1;
    const DELIVER: u8 = 2;
    const FLIP: u8 = 3;
    const CUT: u8 = 4;
    const TIME: u8 = 5;
    const SIGN_MSG: u8 = 7;
    const FORGED: u8 = 8;
    // SEAL: [sender/receiver/reliable bits, kind, size hi, size lo]; kind 2 is Transfer,
    // 8 Commit. Bit 8 of the first byte: sent reliably (retransmitted).
    let mut small = vec![SEAL, 8, 8, 0, 0, DELIVER, 0, DELIVER, 0];
    small.extend_from_slice(&[SEAL, 1, 1, 0, 0, DELIVER, 1, FLIP, 1, 1, 0, 20, 3]);
    small.extend_from_slice(&[CUT, 1, 0, 30, CUT, 1, 0x80, 4, 1, 2, 3, 4]);
    let mut chunks = vec![SEAL, 8, 2, 0x13, 0x88]; // a 5000-byte Transfer: 5 datagrams
    for k in [4u8, 2, 0, 3, 3, 1, 0] {
        chunks.extend_from_slice(&[DELIVER, k]);
    }
    chunks.extend_from_slice(&[TIME, 0x00, 0x05, TIME, 0x03, 0xe8, TIME, 0x07, 0xd0]);
    chunks.extend_from_slice(&[DELIVER, 5, DELIVER, 6, FLIP, 2, 2, 0x04, 0x00, 1, 0, 7, 0]);
    let mut retransmit = vec![SEAL, 8, 0, 0, 0, SEAL, 9, 7, 0, 0];
    for _ in 0..6 {
        retransmit.extend_from_slice(&[TIME, 0x03, 0xe8]);
    }
    retransmit.extend_from_slice(&[DELIVER, 2, TIME, 0, 3, DELIVER, 3]);
    let body = postcard::to_allocvec(&PeerBody::Commit { transfer: 9 }).unwrap();
    let mut signed = vec![SIGN_MSG, 0, 5, 0, 0, 0, 0, 0, 0, 0, 7];
    signed.extend_from_slice(&(body.len() as u16).to_be_bytes());
    signed.push(0);
    signed.extend_from_slice(&body);
    signed.extend_from_slice(&[DELIVER, 0]);
    let mut forged = vec![FORGED, 2, 0x10, 0x00, SEAL, 8, 2, 0x10, 0x00];
    for k in 0..6 {
        forged.extend_from_slice(&[DELIVER, 4 + k]);
    }
    vec![
        ("small_messages", small),
        ("chunked_transfer", chunks),
        ("retransmit_ack", retransmit),
        ("harness_signed", signed),
        ("forged_then_genuine", forged),
    ]
}
