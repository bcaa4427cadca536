//! Path MTU discovery in the TCP engine, one situation per test: ICMPv6 Packet Too Big
//! (RFC 8201) validated per RFC 5927 §4.1, and packetization-layer PMTUD (RFC 4821):
//! black-hole detection and probing. The peer announces MSS 1440 (a 1500-byte link), so
//! our own path MTU bounds the segments: 1500 - 40 - 24 (RH2/HAO) - 20 - 12 (timestamps)
//! = 1404 payload bytes.
use std::net::Ipv6Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, FourTuple, Seq, State, TcpConfig};
use vany_stack::testing::TcpSegment;
use vany_stack::time::{Duration, Instant};

mod tcp_common;

use tcp_common::*;

/// ESTABLISHED with a peer that announced MSS 1440 (a 1500-byte link).
fn established() -> Harness {
    established_announcing(config(), 1440)
}

/// As [`established`], with `cfg`.
fn established_with(cfg: TcpConfig) -> Harness {
    established_announcing(cfg, 1440)
}

fn ack_of(upto: u32) -> Seg {
    Seg {
        seq: IRS + 1,
        ack: Some(ISS + 1 + upto),
        window: 512,
        ts: Some((800, 0)),
        ..Seg::default()
    }
}

/// Payload bytes per segment at path MTU `mtu`: 40 (IPv6) + 24 (RH2/HAO) + 20 (TCP) + 12
/// (timestamps) come off.
fn payload_at(mtu: usize) -> usize {
    mtu - 40 - 24 - 20 - 12
}

/// ESTABLISHED with `n` bytes sent in full-sized segments (what the congestion window
/// allows of them), which are returned.
fn sending(n: usize) -> (Harness, Vec<Out>) {
    let mut h = established();
    h.conn.send(&vec![7u8; n]).unwrap();
    let segs = h.all_out(ms(20));
    assert!(segs.iter().all(|s| s.payload.len() <= payload_at(1500)));
    assert_eq!(segs[0].payload.len(), payload_at(1500));
    (h, segs)
}

// ---- Packet Too Big --------------------------------------------------------------------

#[test]
fn packet_too_big_shrinks_segments_and_retransmits() {
    let (mut h, segs) = sending(20_000);
    let cwnd = h.conn.cwnd();
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 1400, Seq(segs[0].seq), 24));
    assert_eq!(h.conn.path_mtu(), 1400);
    assert_eq!(usize::from(h.conn.send_mss()), 1400 - 40 - 24 - 20);
    // Everything in flight goes again at once at the new size, from SND.UNA, with no
    // congestion response (it is not congestion) and no timeout.
    let again = h.all_out(ms(25));
    assert_eq!(again[0].seq, ISS + 1);
    assert!(again.iter().all(|s| s.payload.len() <= payload_at(1400)));
    assert_eq!(again[0].payload.len(), payload_at(1400));
    assert_eq!(h.conn.cwnd(), cwnd);
    assert!(!h.conn.in_recovery());
    let stats = h.conn.stats();
    assert_eq!(
        (stats.ptb_accepted, stats.ptb_ignored, stats.timeouts),
        (1, 0, 0)
    );
    assert!(stats.retransmits >= again.len() as u64 - 1);
    // Further PTBs for the other segments of the same flight are valid and change
    // nothing.
    assert!(h
        .conn
        .handle_packet_too_big(ms(26), 1400, Seq(segs[1].seq), 24));
    assert_eq!(h.conn.stats().ptb_accepted, 2);
    assert!(h.out(ms(26)).is_none());
}

#[test]
fn packet_too_big_quoting_unsent_data_is_ignored() {
    let (mut h, segs) = sending(20_000);
    let last = segs.last().unwrap();
    let beyond = last.seq + last.payload.len() as u32; // SND.MAX: not sent yet
    assert!(!h.conn.handle_packet_too_big(ms(25), 1400, Seq(beyond), 24));
    assert!(!h
        .conn
        .handle_packet_too_big(ms(25), 1400, Seq(beyond + 100_000), 24));
    // Already acknowledged data is no longer in flight either (RFC 5927 §4.1).
    h.input(ms(30), &ack_of(segs[0].payload.len() as u32));
    assert!(!h
        .conn
        .handle_packet_too_big(ms(31), 1400, Seq(segs[0].seq), 24));
    assert_eq!(h.conn.path_mtu(), 1500);
    assert_eq!(h.conn.stats().ptb_ignored, 3);
    assert_eq!(h.conn.stats().ptb_accepted, 0);
}

#[test]
fn packet_too_big_below_1280_is_clamped() {
    let (mut h, segs) = sending(20_000);
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 576, Seq(segs[2].seq), 24));
    assert_eq!(h.conn.path_mtu(), 1280);
    let again = h.out(ms(25)).unwrap();
    assert_eq!(again.payload.len(), payload_at(1280));
}

#[test]
fn packet_too_big_not_smaller_than_the_mtu_in_use_changes_nothing() {
    let (mut h, segs) = sending(20_000);
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 9000, Seq(segs[0].seq), 24));
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 1500, Seq(segs[0].seq), 24));
    assert_eq!(h.conn.path_mtu(), 1500);
    assert!(h.out(ms(25)).is_none(), "nothing resent");
}

#[test]
fn packet_too_big_counts_more_extension_headers_than_configured() {
    let (mut h, segs) = sending(20_000);
    // The quoted packet carried an RH2 and a HAO: 48 bytes of extension headers.
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 1400, Seq(segs[0].seq), 48));
    assert_eq!(usize::from(h.conn.send_mss()), 1400 - 40 - 48 - 20);
}

// ---- packetization-layer PMTUD ---------------------------------------------------------

/// Fires the retransmission timer; returns when.
fn timeout(h: &mut Harness) -> Instant {
    let t = h.conn.poll_timeout().unwrap();
    h.fire(t);
    t
}

#[test]
fn black_hole_after_two_rtos_falls_back_to_base_mss() {
    let (mut h, segs) = sending(20_000);
    let t1 = timeout(&mut h);
    let first = h.out(t1).unwrap();
    assert_eq!(
        (first.seq, first.payload.len()),
        (segs[0].seq, payload_at(1500))
    );
    assert_eq!(h.conn.path_mtu(), 1500, "one timeout is not a black hole");
    let t2 = timeout(&mut h);
    assert_eq!(h.conn.path_mtu(), 1280);
    assert_eq!(h.conn.stats().mtu_black_holes, 1);
    // The timeouts were the MTU, not congestion: the window restarts at the initial
    // window (10 segments) of the smaller size, and the threshold from before stands.
    assert_eq!(h.conn.cwnd(), 10 * payload_at(1280) as u64);
    let second = h.out(t2).unwrap();
    assert_eq!(
        (second.seq, second.payload.len()),
        (segs[0].seq, payload_at(1280))
    );
}

#[test]
fn timeouts_of_small_segments_are_no_black_hole() {
    let mut h = established();
    h.conn.send(&[1u8; 100]).unwrap();
    h.all_out(ms(20));
    for _ in 0..3 {
        let t = timeout(&mut h);
        h.all_out(t);
    }
    assert_eq!(h.conn.path_mtu(), 1500);
    assert_eq!(h.conn.stats().mtu_black_holes, 0);
}

#[test]
fn black_hole_detection_can_be_disabled() {
    let mut h = established_with(TcpConfig {
        pmtu_probing: false,
        ..config()
    });
    h.conn.send(&[1u8; 20_000]).unwrap();
    h.all_out(ms(20));
    for _ in 0..3 {
        let t = timeout(&mut h);
        h.all_out(t);
    }
    assert_eq!(h.conn.path_mtu(), 1500);
}

/// A connection that fell back to 1280 after a black hole, everything it sent acked
/// (its window grown back to about 12 segments), with `more` bytes queued.
fn fallen_back(more: usize) -> (Harness, Instant) {
    let (mut h, segs) = sending(14_040);
    let t1 = timeout(&mut h);
    h.all_out(t1);
    let t2 = timeout(&mut h);
    h.all_out(t2);
    assert_eq!(h.conn.path_mtu(), 1280);
    let sent: usize = segs.iter().map(|s| s.payload.len()).sum();
    let now = t2 + Duration::from_millis(5);
    // Acknowledged a segment at a time, as the resent segments arrive: the window grows
    // from the one segment the timeout left (slow start).
    for upto in (payload_at(1280)..sent)
        .step_by(payload_at(1280))
        .chain([sent])
    {
        h.input(now, &ack_of(upto as u32));
    }
    h.conn.send(&vec![3u8; more]).unwrap();
    (h, now)
}

#[test]
fn probe_raises_mss_when_acknowledged() {
    let (mut h, now) = fallen_back(20_000);
    // One probe halfway between 1280 and 1500: 1390 bytes.
    let probe = h.out(now).unwrap();
    assert_eq!(probe.payload.len(), payload_at(1390));
    assert_eq!(h.conn.stats().mtu_probes_sent, 1);
    // While it is in flight, segments keep the size in use.
    let next = h.out(now).unwrap();
    assert_eq!(next.payload.len(), payload_at(1280));
    let acked = probe.seq + probe.payload.len() as u32 - ISS - 1;
    h.input(now + Duration::from_millis(10), &ack_of(acked));
    assert_eq!(h.conn.path_mtu(), 1390);
    assert_eq!(h.conn.stats().mtu_probes_acked, 1);
    // The search goes on: the next probe tests 1445.
    let out = h.all_out(now + Duration::from_millis(10));
    assert!(out.iter().any(|s| s.payload.len() == payload_at(1445)));
}

#[test]
fn probe_acknowledged_by_sack_counts() {
    let (mut h, now) = fallen_back(20_000);
    let probe = h.out(now).unwrap();
    let after = h.out(now).unwrap();
    let mut ack = ack_of(0);
    ack.ack = Some(probe.seq); // SND.UNA: nothing new cumulatively
    ack.sack = vec![(probe.seq, after.seq + after.payload.len() as u32)];
    h.input(now + Duration::from_millis(10), &ack);
    assert_eq!(h.conn.path_mtu(), 1390);
}

#[test]
fn lost_probe_lowers_the_search_bound_and_waits() {
    let (mut h, now) = fallen_back(20_000);
    let probe = h.out(now).unwrap();
    assert_eq!(probe.payload.len(), payload_at(1390));
    // The probe is lost: only a timeout tells.
    let t = timeout(&mut h);
    assert_eq!(h.conn.path_mtu(), 1280);
    let again = h.out(t).unwrap();
    assert_eq!(
        (again.seq, again.payload.len()),
        (probe.seq, payload_at(1280))
    );
    assert_eq!(
        h.conn.stats().mtu_black_holes,
        1,
        "a lost probe is no black hole"
    );
    // Everything acknowledged: no probe until PROBE_INTERVAL passed ...
    let later = t + Duration::from_millis(20);
    let sent_to = again.seq + again.payload.len() as u32 - ISS - 1;
    h.input(later, &ack_of(sent_to));
    let out = h.all_out(later);
    assert!(out.iter().all(|s| s.payload.len() <= payload_at(1280)));
    // ... then the next one tests halfway to 1389: 1335.
    let sent: u32 = sent_to + out.iter().map(|s| s.payload.len() as u32).sum::<u32>();
    h.conn.send(&[4u8; 20_000]).unwrap();
    let much_later = t + Duration::from_secs(11);
    h.input(much_later, &ack_of(sent));
    let out = h.all_out(much_later);
    assert!(out.iter().any(|s| s.payload.len() == payload_at(1335)));
}

// ---- handoff and endpoint --------------------------------------------------------------

#[test]
fn restored_connection_starts_from_the_acceptors_path_mtu() {
    let (mut h, segs) = sending(20_000);
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 1300, Seq(segs[0].seq), 24));
    let bytes = h.conn.snapshot_bytes(ms(30)).unwrap();
    let mut restored = Connection::restore_bytes(&bytes, ms(5_000)).unwrap();
    assert_eq!(
        restored.path_mtu(),
        1300,
        "the snapshot carries the donor's"
    );
    restored.reset_path_mtu(ms(5_000), 1500);
    assert_eq!(restored.path_mtu(), 1500);
    assert_eq!(usize::from(restored.send_mss()), 1500 - 40 - 24 - 20);
    restored.reset_path_mtu(ms(5_000), 9000);
    assert_eq!(restored.path_mtu(), 1500, "never above the configured MTU");
    restored.reset_path_mtu(ms(5_000), 1000);
    assert_eq!(restored.path_mtu(), 1280, "never below 1280");
}

/// Parses a SYN the endpoint sent: (seq, mss).
fn syn_of(bytes: &[u8], local: Ipv6Addr, remote: Ipv6Addr) -> (u32, Option<u16>) {
    let packet = TcpPacket::new_checked(bytes).unwrap();
    let r = TcpRepr::parse(
        &packet,
        &IpAddress::Ipv6(local),
        &IpAddress::Ipv6(remote),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    (r.seq_number.0 as u32, r.max_seg_size)
}

/// An endpoint with one connection to `remote` established from port `port`; returns
/// its tuple and ISS.
fn endpoint_connection(ep: &mut Endpoint, remote: Ipv6Addr, port: u16) -> (FourTuple, u32) {
    let tuple = FourTuple {
        local: addr(LOCAL),
        local_port: port,
        remote,
        remote_port: 443,
    };
    let mut buf = vec![0u8; 65536];
    ep.connect(ms(0), tuple).unwrap();
    // Other connections may have segments queued first.
    let t = std::iter::from_fn(|| ep.poll_transmit(ms(0), &mut buf))
        .find(|t| t.tuple == tuple)
        .unwrap();
    let (iss, _) = syn_of(&buf[..t.len], tuple.local, tuple.remote);
    let synack = TcpSegment::new(443, port)
        .control(TcpControl::Syn)
        .seq(IRS)
        .ack(iss.wrapping_add(1))
        .window(65535)
        .mss(1440);
    ep.handle_segment(ms(10), remote, tuple.local, &synack.repr());
    while ep.poll_transmit(ms(10), &mut buf).is_some() {}
    assert_eq!(ep.connection(&tuple).unwrap().state(), State::Established);
    (tuple, iss)
}

fn quoted_ptb(mtu: u32, tuple: &FourTuple, seq: u32) -> vany_stack::wire::PacketTooBigRepr {
    vany_stack::wire::PacketTooBigRepr {
        mtu,
        src: tuple.local,
        dst: tuple.remote,
        rh2: None,
        hao: None,
        ext_len: 0,
        next_header: 6,
        original_len: 1500,
        tcp: Some(vany_stack::wire::QuotedTcp {
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq,
        }),
    }
}

#[test]
fn endpoint_dispatches_packet_too_big_and_caches_the_mtu_per_destination() {
    let mut ep = Endpoint::new(config(), &mut SeededRandom::new(3));
    let remote = addr(REMOTE);
    let (tuple, iss) = endpoint_connection(&mut ep, remote, 50_000);
    let mut buf = vec![0u8; 65536];
    ep.connection_mut(&tuple)
        .unwrap()
        .send(&[1u8; 10_000])
        .unwrap();
    while ep.poll_transmit(ms(20), &mut buf).is_some() {}
    // A PTB for no connection of ours, and one quoting no data in flight: ignored.
    let mut other = tuple;
    other.local_port = 1;
    assert!(!ep.handle_packet_too_big(
        ms(21),
        tuple.local,
        remote,
        &quoted_ptb(1400, &other, iss + 1)
    ));
    assert!(!ep.handle_packet_too_big(ms(21), tuple.local, remote, &quoted_ptb(1400, &tuple, iss)));
    assert!(ep.handle_packet_too_big(
        ms(22),
        tuple.local,
        remote,
        &quoted_ptb(1400, &tuple, iss + 1)
    ));
    let stats = ep.stats();
    assert_eq!((stats.ptb_accepted, stats.ptb_ignored), (1, 2));
    assert_eq!(ep.connection(&tuple).unwrap().path_mtu(), 1400);
    assert_eq!(ep.path_mtu(ms(22), &remote), Some(1400));
    // A new connection to that destination starts with it ...
    let (second, _) = endpoint_connection(&mut ep, remote, 50_001);
    assert_eq!(ep.connection(&second).unwrap().path_mtu(), 1400);
    // ... and so does a connection restored here (after a handoff).
    let conn = ep.remove(&second).unwrap();
    let mut fresh = Endpoint::new(config(), &mut SeededRandom::new(4));
    fresh.insert(conn.clone()).unwrap();
    assert_eq!(
        fresh.connection(&second).unwrap().path_mtu(),
        1500,
        "its own path"
    );
    ep.insert(conn).unwrap();
    assert_eq!(ep.connection(&second).unwrap().path_mtu(), 1400);
    // RFC 8201 §4: after 10 minutes the entry is gone.
    assert_eq!(
        ep.path_mtu(ms(22) + Duration::from_secs(601), &remote),
        None
    );
}

#[test]
fn lost_probe_alone_is_no_congestion() {
    let (mut h, now) = fallen_back(60_000);
    let probe = h.out(now).unwrap();
    assert_eq!(probe.payload.len(), payload_at(1390));
    let after = h.all_out(now);
    assert!(after.len() >= 4, "{}", after.len());
    let cwnd = h.conn.cwnd();
    // The peer got everything after the probe: SACKs tell, segment by segment.
    for (i, seg) in after.iter().enumerate().take(4) {
        let mut dup = ack_of(probe.seq - ISS - 1);
        dup.sack = vec![(after[0].seq, seg.seq + seg.payload.len() as u32)];
        h.input(now + Duration::from_millis(20 + i as u64), &dup);
    }
    assert!(h.conn.in_recovery());
    assert_eq!(h.conn.cwnd(), cwnd, "no window reduction for a lost probe");
    assert_eq!(h.conn.path_mtu(), 1280);
    let rxt = h.out(now + Duration::from_millis(25)).unwrap();
    assert_eq!((rxt.seq, rxt.payload.len()), (probe.seq, payload_at(1280)));
}

#[test]
fn restore_moves_the_probe_deadline_to_the_new_clock() {
    let (mut h, segs) = sending(14_040);
    assert!(h
        .conn
        .handle_packet_too_big(ms(25), 1300, Seq(segs[0].seq), 24));
    h.all_out(ms(25));
    h.input(ms(40), &ack_of(14_040));
    // The donor's clock reads 10 s; the acceptor's 1000 s.
    let bytes = h.conn.snapshot_bytes(ms(50)).unwrap();
    let far = Instant::from_secs(1000);
    let mut restored = Connection::restore_bytes(&bytes, far).unwrap();
    assert_eq!(restored.path_mtu(), 1300);
    // A larger size is tried 10 minutes after the PTB on the new clock, not at once ...
    restored.send(&[1u8; 20_000]).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = restored.poll_transmit(far, &mut buf).unwrap();
    assert_eq!(n, 20 + 12 + payload_at(1300));
    // ... and then it is.
    let later = far + Duration::from_secs(601);
    let mut sizes = Vec::new();
    while let Some(n) = restored.poll_transmit(later, &mut buf) {
        sizes.push(n);
    }
    assert!(sizes.contains(&(20 + 12 + payload_at(1400))), "{sizes:?}");
}
