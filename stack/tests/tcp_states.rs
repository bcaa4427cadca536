//! The TCP engine driven by explicit segments and times, one situation per test
//! (smoltcp style): every state transition and each feature of issue 3.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr};
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, Event, Seq, State, TcpConfig, TcpError};
use vany_stack::time::{Duration, Instant};

mod tcp_common;

use tcp_common::*;

/// A data segment from the peer at receive offset `off`.
fn data(off: u32, bytes: &[u8]) -> Seg {
    Seg {
        seq: IRS + 1 + off,
        ack: Some(ISS + 1),
        window: 512,
        ts: Some((800, 0)),
        payload: bytes.to_vec(),
        ..Seg::default()
    }
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

// ---- handshake -------------------------------------------------------------------------

#[test]
fn syn_sent_sends_syn_with_mss_window_scale_sack_and_timestamps() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    let syn = h.out(ms(0)).unwrap();
    assert_eq!(syn.control, TcpControl::Syn);
    assert_eq!(syn.seq, ISS);
    assert_eq!(syn.ack, None);
    // MSS = 1500 - 40 (IPv6) - 20 (TCP) - 24 (RH2 or HAO).
    assert_eq!(syn.mss, Some(1416));
    assert_eq!(syn.wscale, Some(cfg.window_scale()));
    assert!(syn.sack_perm);
    assert!(syn.ts.is_some());
    assert!(h.out(ms(0)).is_none(), "one SYN only");
}

#[test]
fn mss_leaves_room_for_mobile_ipv6_headers() {
    let cfg = TcpConfig {
        mtu: 1280,
        ..TcpConfig::default()
    };
    assert_eq!(cfg.announced_mss(), 1280 - 40 - 20 - 24);
}

#[test]
fn syn_sent_syn_ack_establishes() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    let syn = h.out(ms(0)).unwrap();
    let synack = peer_syn().with_ack(ISS + 1).with_ts(900, syn.ts.unwrap().0);
    h.input(ms(30), &synack);
    assert_eq!(h.conn.state(), State::Established);
    assert_eq!(h.events(), vec![Event::Connected]);
    let ack = h.out(ms(30)).unwrap();
    assert_eq!(
        (ack.control, ack.seq, ack.ack),
        (TcpControl::None, ISS + 1, Some(IRS + 1))
    );
    assert_eq!(ack.ts.unwrap().1, 900, "echoes the peer's TSval");
    assert_eq!(h.conn.srtt(), Some(Duration::from_millis(30)));
}

#[test]
fn syn_sent_rst_bad_ack() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    h.out(ms(0));
    let bad = peer_syn().with_ack(ISS + 77);
    h.input(ms(5), &bad);
    let rst = h.out(ms(5)).unwrap();
    assert_eq!(
        (rst.control, rst.seq, rst.ack),
        (TcpControl::Rst, ISS + 77, None)
    );
    assert_eq!(h.conn.state(), State::SynSent);
}

#[test]
fn syn_sent_rst_with_acceptable_ack_refuses_the_connection() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    h.out(ms(0));
    h.input(
        ms(5),
        &Seg {
            control: Some(TcpControl::Rst),
            seq: 0,
            ack: Some(ISS + 1),
            ..Seg::default()
        },
    );
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(h.events(), vec![Event::Reset, Event::Closed]);
    assert_eq!(h.conn.send(b"x"), Err(TcpError::Reset));
}

#[test]
fn syn_sent_syn_without_ack_is_a_simultaneous_open() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    h.out(ms(0));
    h.input(ms(5), &peer_syn());
    assert_eq!(h.conn.state(), State::SynReceived);
    let synack = h.out(ms(5)).unwrap();
    assert_eq!(
        (synack.control, synack.seq, synack.ack),
        (TcpControl::Syn, ISS, Some(IRS + 1))
    );
    h.input(
        ms(10),
        &Seg {
            control: Some(TcpControl::Syn),
            seq: IRS,
            ack: Some(ISS + 1),
            window: 512,
            ts: Some((800, 0)),
            ..Seg::default()
        },
    );
    // The peer's SYN-ACK: in SYN-RECEIVED a SYN is answered with a challenge ACK, and the
    // ACK completes the handshake from the peer's next segment.
    h.input(ms(11), &ack_of(0));
    assert_eq!(h.conn.state(), State::Established);
}

#[test]
fn syn_syn_received_retransmitted_syn_resends_syn_ack() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::accept(&cfg, tuple(), Seq(ISS), ms(0), &peer_syn().repr()),
        buf: vec![0; 2048],
    };
    let first = h.out(ms(0)).unwrap();
    assert_eq!((first.control, first.ack), (TcpControl::Syn, Some(IRS + 1)));
    assert_eq!(
        first.wscale,
        Some(cfg.window_scale()),
        "peer offered window scaling"
    );
    h.input(ms(300), &peer_syn());
    let again = h.out(ms(300)).unwrap();
    assert_eq!((again.control, again.seq), (TcpControl::Syn, ISS));
}

#[test]
fn syn_received_without_peer_options_answers_without_them() {
    let cfg = config();
    let plain = Seg {
        control: Some(TcpControl::Syn),
        seq: IRS,
        window: 65535,
        ..Seg::default()
    };
    let mut h = Harness {
        conn: Connection::accept(&cfg, tuple(), Seq(ISS), ms(0), &plain.repr()),
        buf: vec![0; 2048],
    };
    let synack = h.out(ms(0)).unwrap();
    assert_eq!(synack.wscale, None);
    assert!(!synack.sack_perm);
    assert_eq!(synack.ts, None);
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let cfg = config();
    let mut h = Harness {
        conn: Connection::accept(&cfg, tuple(), Seq(ISS), ms(0), &peer_syn().repr()),
        buf: vec![0; 2048],
    };
    h.out(ms(0));
    let mut bad = ack_of(50);
    bad.ts = None;
    h.input(ms(5), &bad);
    let rst = h.out(ms(5)).unwrap();
    assert_eq!((rst.control, rst.seq), (TcpControl::Rst, ISS + 51));
}

#[test]
fn syn_retransmitted_with_backoff_then_times_out() {
    let cfg = TcpConfig {
        max_retransmissions: 3,
        ..config()
    };
    let mut h = Harness {
        conn: Connection::connect(&cfg, tuple(), Seq(ISS), ms(0)),
        buf: vec![0; 2048],
    };
    h.out(ms(0));
    let mut now = ms(0);
    let mut gaps = Vec::new();
    for _ in 0..3 {
        let t = h.conn.poll_timeout().unwrap();
        gaps.push(t.total_micros() - now.total_micros());
        now = t;
        h.fire(now);
        let syn = h.out(now).unwrap();
        assert_eq!((syn.control, syn.seq), (TcpControl::Syn, ISS));
    }
    assert_eq!(
        gaps,
        vec![1_000_000, 2_000_000, 4_000_000],
        "RFC 6298 §5.5 doubling from 1 s"
    );
    now = h.conn.poll_timeout().unwrap();
    h.fire(now);
    assert_eq!(h.conn.state(), State::Closed);
    assert!(h.events().contains(&Event::TimedOut));
}

// ---- data ------------------------------------------------------------------------------

#[test]
fn established_sends_data_within_mss_with_psh_on_the_last_segment() {
    let mut h = established();
    let bytes = vec![7u8; 3000];
    assert_eq!(h.conn.send(&bytes), Ok(3000));
    let segs = h.all_out(ms(20));
    let lens: Vec<usize> = segs.iter().map(|s| s.payload.len()).collect();
    // Peer MSS 1400 minus 12 bytes of timestamps.
    assert_eq!(lens, vec![1388, 1388, 224]);
    assert_eq!(segs[0].seq, ISS + 1);
    assert_eq!(segs[1].seq, ISS + 1 + 1388);
    assert_eq!(segs[2].control, TcpControl::Psh);
}

#[test]
fn established_in_order_segment_gets_a_delayed_ack() {
    let mut h = established();
    h.input(ms(20), &data(0, b"hello"));
    assert!(h.out(ms(20)).is_none(), "one segment: the ACK is delayed");
    assert_eq!(h.conn.poll_timeout(), Some(ms(60)));
    h.fire(ms(60));
    let ack = h.out(ms(60)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 1 + 5));
    let mut buf = [0u8; 16];
    assert_eq!(h.conn.recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn established_second_full_segment_is_acked_at_once() {
    let mut h = established();
    h.input(ms(20), &data(0, &[1; 1000]));
    h.input(ms(21), &data(1000, &[2; 1000]));
    let ack = h.out(ms(21)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 1 + 2000));
}

#[test]
fn established_out_of_order_segment_is_acked_at_once_with_sack() {
    let mut h = established();
    h.input(ms(20), &data(1000, &[2; 500]));
    let ack = h.out(ms(20)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 1));
    assert_eq!(ack.sack, vec![(IRS + 1 + 1000, IRS + 1 + 1500)]);
    h.input(ms(21), &data(0, &[1; 1000]));
    let ack = h.out(ms(21)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 1 + 1500));
    assert!(ack.sack.is_empty());
    let mut buf = vec![0u8; 2000];
    assert_eq!(h.conn.recv(&mut buf), Ok(1500));
}

#[test]
fn established_duplicate_data_is_acked_not_delivered_twice() {
    let mut h = established();
    h.input(ms(20), &data(0, b"abc"));
    h.input(ms(21), &data(0, b"abc"));
    let ack = h.out(ms(21)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 4));
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(&mut buf), Ok(3));
}

#[test]
fn established_window_scaling_applies_to_both_directions() {
    let mut h = established();
    // The peer's window field 512 << 7 = 65536 bytes.
    assert_eq!(h.conn.peer_window(), 65536);
    h.input(ms(20), &data(0, b"x"));
    h.fire(ms(100));
    let ack = h.out(ms(100)).unwrap();
    let scale = config().window_scale();
    assert_eq!(
        u64::from(ack.window) << scale,
        (64 * 1024 - 1) as u64 >> scale << scale
    );
}

#[test]
fn zero_window_then_probe_then_reopen() {
    let mut h = established();
    let small = TcpConfig {
        recv_buffer: 1000,
        ..config()
    };
    let _ = small;
    // The peer closes its window.
    let mut zero = ack_of(0);
    zero.window = 0;
    h.input(ms(20), &zero);
    assert_eq!(h.conn.peer_window(), 0);
    h.conn.send(b"waiting").unwrap();
    assert!(h.out(ms(20)).is_none(), "no data into a zero window");
    let t = h.conn.poll_timeout().expect("persist timer armed");
    h.fire(t);
    let probe = h.out(t).unwrap();
    assert_eq!(probe.seq, ISS, "probe with SND.UNA - 1 draws an ACK");
    assert!(probe.payload.is_empty());
    // The window opens: data flows.
    let open = ack_of(0).with_seq(IRS + 1);
    h.input(t, &open);
    let seg = h.out(t).unwrap();
    assert_eq!(seg.payload, b"waiting");
}

#[test]
fn nagle_holds_a_small_segment_while_data_is_unacknowledged() {
    let mut h = established_with(TcpConfig {
        nagle: true,
        ..config()
    });
    h.conn.send(b"a").unwrap();
    assert_eq!(h.out(ms(20)).unwrap().payload, b"a");
    h.conn.send(b"b").unwrap();
    assert!(
        h.out(ms(20)).is_none(),
        "Nagle holds the second small segment"
    );
    h.input(ms(30), &ack_of(1));
    assert_eq!(h.out(ms(30)).unwrap().payload, b"b");
}

#[test]
fn without_nagle_small_segments_go_at_once() {
    let mut h = established();
    h.conn.send(b"a").unwrap();
    assert_eq!(h.out(ms(20)).unwrap().payload, b"a");
    h.conn.send(b"b").unwrap();
    assert_eq!(h.out(ms(20)).unwrap().payload, b"b");
}

// ---- loss recovery ---------------------------------------------------------------------

#[test]
fn rto_retransmits_the_oldest_segment_and_backs_off() {
    let mut h = established();
    h.conn.send(&[5u8; 100]).unwrap();
    let first = h.out(ms(20)).unwrap();
    let t1 = h.conn.poll_timeout().unwrap();
    h.fire(t1);
    let again = h.out(t1).unwrap();
    assert_eq!((again.seq, again.payload.len()), (first.seq, 100));
    let t2 = h.conn.poll_timeout().unwrap();
    assert_eq!(
        t2.total_micros() - t1.total_micros(),
        2 * (t1.total_micros() - ms(20).total_micros())
    );
    assert_eq!(h.conn.stats().timeouts, 1);
    assert_eq!(h.conn.stats().retransmits, 1);
}

#[test]
fn three_duplicate_acks_trigger_fast_retransmit() {
    let mut h = established();
    h.conn.send(&[9u8; 1388 * 6]).unwrap();
    let segs = h.all_out(ms(20));
    assert_eq!(segs.len(), 6);
    // Segment 0 lost; the peer SACKs the others as they arrive.
    for i in 1..4u32 {
        let mut dup = ack_of(0);
        dup.sack = vec![(ISS + 1 + 1388, ISS + 1 + 1388 * (i + 1))];
        h.input(ms(40 + i as i64), &dup);
    }
    assert!(h.conn.in_recovery());
    let rxt = h.out(ms(44)).unwrap();
    assert_eq!((rxt.seq, rxt.payload.len()), (ISS + 1, 1388));
    assert_eq!(h.conn.stats().fast_recoveries, 1);
    h.input(ms(60), &ack_of(1388 * 6));
    assert!(!h.conn.in_recovery());
}

#[test]
fn newreno_partial_ack_retransmits_the_next_hole_without_sack() {
    let mut cfg = config();
    cfg.sack = false;
    let mut h = established_with(cfg);
    h.conn.send(&[9u8; 1388 * 6]).unwrap();
    h.all_out(ms(20));
    for i in 0..3 {
        h.input(ms(40 + i), &ack_of(0));
    }
    let rxt = h.out(ms(43)).unwrap();
    assert_eq!(rxt.seq, ISS + 1);
    // Partial ACK up to segment 2: segment 2 is resent at once (RFC 6582 §3.2 step 4).
    h.input(ms(60), &ack_of(1388 * 2));
    let next = h.all_out(ms(60));
    assert_eq!(next[0].seq, ISS + 1 + 1388 * 2);
}

// ---- RFC 5961 and PAWS -----------------------------------------------------------------

#[test]
fn established_rst_at_rcv_nxt_resets() {
    let mut h = established();
    h.input(
        ms(20),
        &Seg {
            control: Some(TcpControl::Rst),
            seq: IRS + 1,
            ..Seg::default()
        },
    );
    assert_eq!(h.conn.state(), State::Closed);
    assert!(h.events().contains(&Event::Reset));
}

#[test]
fn established_rst_in_window_but_not_exact_gets_a_challenge_ack() {
    let mut h = established();
    h.input(
        ms(20),
        &Seg {
            control: Some(TcpControl::Rst),
            seq: IRS + 100,
            ..Seg::default()
        },
    );
    assert_eq!(h.conn.state(), State::Established);
    let ack = h.out(ms(20)).unwrap();
    assert_eq!((ack.control, ack.ack), (TcpControl::None, Some(IRS + 1)));
    assert_eq!(h.conn.stats().challenge_acks, 1);
}

#[test]
fn established_rst_out_of_window_is_ignored_silently() {
    let mut h = established();
    h.input(
        ms(20),
        &Seg {
            control: Some(TcpControl::Rst),
            seq: IRS + 10_000_000,
            ..Seg::default()
        },
    );
    assert_eq!(h.conn.state(), State::Established);
    assert!(h.out(ms(20)).is_none());
}

#[test]
fn established_syn_gets_a_challenge_ack() {
    let mut h = established();
    let syn = peer_syn().with_seq(IRS + 1).with_ts(900, 0);
    h.input(ms(20), &syn);
    assert_eq!(h.conn.state(), State::Established);
    let ack = h.out(ms(20)).unwrap();
    assert_eq!(ack.control, TcpControl::None);
    assert_eq!(h.conn.stats().challenge_acks, 1);
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let mut h = established();
    let bad = data(0, b"data").with_ack(ISS + 1 + 5000);
    h.input(ms(20), &bad);
    let ack = h.out(ms(20)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 1), "the data was not taken");
}

#[test]
fn ancient_ack_beyond_max_window_gets_a_challenge_ack() {
    let mut h = established();
    let old = data(0, b"data").with_ack(ISS.wrapping_sub(200_000));
    h.input(ms(20), &old);
    assert_eq!(h.conn.stats().challenge_acks, 1);
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp() {
    let mut h = established();
    h.input(ms(20), &data(0, b"new"));
    let old = data(3, b"old").with_ts(100, 0); // older than 800
    h.input(ms(21), &old);
    assert_eq!(h.conn.stats().paws_drops, 1);
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(&mut buf), Ok(3));
}

// ---- closing ---------------------------------------------------------------------------

fn fin_from_peer(off: u32) -> Seg {
    Seg {
        control: Some(TcpControl::Fin),
        seq: IRS + 1 + off,
        ack: Some(ISS + 1),
        window: 512,
        ts: Some((900, 0)),
        ..Seg::default()
    }
}

#[test]
fn active_close_fin_wait_1_fin_wait_2_time_wait_closed() {
    let mut h = established_with(TcpConfig {
        time_wait: Duration::from_secs(5),
        ..config()
    });
    h.conn.close();
    assert_eq!(h.conn.state(), State::FinWait1);
    let fin = h.out(ms(20)).unwrap();
    assert_eq!((fin.control, fin.seq), (TcpControl::Fin, ISS + 1));
    h.input(ms(30), &ack_of(1));
    assert_eq!(h.conn.state(), State::FinWait2);
    h.input(ms(40), &fin_from_peer(0).with_ack(ISS + 2));
    assert_eq!(h.conn.state(), State::TimeWait);
    let ack = h.out(ms(40)).unwrap();
    assert_eq!(ack.ack, Some(IRS + 2));
    h.fire(ms(40) + Duration::from_secs(5));
    assert_eq!(h.conn.state(), State::Closed);
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut h = established();
    h.input(ms(20), &fin_from_peer(0));
    assert_eq!(h.conn.state(), State::CloseWait);
    assert!(h.events().contains(&Event::PeerClosed));
    let mut buf = [0u8; 4];
    assert_eq!(h.conn.recv(&mut buf), Ok(0));
    assert!(h.conn.is_read_closed());
    h.conn.send(b"bye").unwrap();
    h.conn.close();
    assert_eq!(h.conn.state(), State::LastAck);
    let segs = h.all_out(ms(20));
    let fin = segs.last().unwrap();
    assert_eq!(fin.control, TcpControl::Fin);
    assert_eq!(fin.payload, b"bye", "FIN rides on the last data segment");
    let last = ack_of(4).with_seq(IRS + 2).with_ts(901, 0);
    h.input(ms(40), &last);
    assert_eq!(h.conn.state(), State::Closed);
}

#[test]
fn simultaneous_close_closing_then_time_wait() {
    let mut h = established();
    h.conn.close();
    h.out(ms(20)).unwrap();
    h.input(ms(21), &fin_from_peer(0)); // the peer's FIN does not ack ours
    assert_eq!(h.conn.state(), State::Closing);
    let ack = ack_of(1).with_seq(IRS + 2).with_ts(901, 0);
    h.input(ms(30), &ack);
    assert_eq!(h.conn.state(), State::TimeWait);
}

#[test]
fn out_of_order_fin_waits_for_the_data_before_it() {
    let mut h = established();
    let fin = fin_from_peer(3).with_payload(b"def");
    h.input(ms(20), &fin);
    assert_eq!(
        h.conn.state(),
        State::Established,
        "FIN after a gap is held"
    );
    h.input(ms(21), &data(0, b"abc"));
    assert_eq!(h.conn.state(), State::CloseWait);
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"abcdef");
}

#[test]
fn keepalive_probes_then_times_out() {
    let mut h = established_with(TcpConfig {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(2),
        keepalive_probes: 2,
        ..config()
    });
    h.input(ms(20), &data(0, b"x"));
    h.fire(ms(100));
    h.all_out(ms(100));
    let mut now;
    let mut probes = 0;
    while h.conn.state() != State::Closed {
        now = h.conn.poll_timeout().expect("keepalive armed");
        h.fire(now);
        probes += h.all_out(now).len();
        assert!(probes < 10);
    }
    assert_eq!(probes, 2);
    assert!(h.events().contains(&Event::TimedOut));
}

// ---- handoff ---------------------------------------------------------------------------

#[test]
fn frozen_connection_neither_sends_nor_answers() {
    let mut h = established();
    h.conn.send(b"queued").unwrap();
    h.conn.freeze();
    assert!(h.out(ms(20)).is_none());
    h.input(ms(21), &data(0, b"ignored"));
    assert!(h.out(ms(21)).is_none());
    assert_eq!(h.conn.poll_timeout(), None);
    assert_eq!(h.conn.recv_queue(), 0);
}

#[test]
fn restored_connection_continues_with_newer_timestamps_on_another_clock() {
    let mut h = established();
    h.conn.send(&[1u8; 2000]).unwrap();
    let before = h.all_out(ms(20));
    let last_ts = before.last().unwrap().ts.unwrap().0;
    h.input(ms(21), &data(0, b"unread"));
    h.conn.freeze();
    let bytes = h.conn.snapshot_bytes(ms(25)).unwrap();
    // Another node whose clock is 1000 s behind.
    let other_now = Instant::from_secs(3);
    let mut restored = Harness {
        conn: Connection::restore_bytes(&bytes, other_now).unwrap(),
        buf: vec![0; 65536],
    };
    assert_eq!(restored.conn.state(), State::Established);
    assert!(!restored.conn.is_frozen());
    let mut buf = [0u8; 16];
    assert_eq!(restored.conn.recv(&mut buf), Ok(6), "unread data travels");
    restored.conn.send(b"more").unwrap();
    let out = restored.all_out(other_now);
    let seg = out.iter().find(|o| !o.payload.is_empty()).unwrap();
    assert_eq!(seg.seq, ISS + 1 + 2000, "the byte stream continues");
    assert!(
        seg.ts.unwrap().0.wrapping_sub(last_ts) as i32 > 0,
        "TSval moves forward across the move"
    );
    // The retransmission timer kept its remaining time on the new clock.
    let rto_left = restored.conn.poll_timeout().unwrap().total_micros() - other_now.total_micros();
    assert!(rto_left > 0 && rto_left <= 1_000_000, "{rto_left}");
    // Unacknowledged data is retransmittable after the move.
    let t = restored.conn.poll_timeout().unwrap();
    restored.fire(t);
    let rxt = restored.out(t).unwrap();
    assert_eq!(rxt.seq, ISS + 1);
}

/// A pure ACK from the peer up to send offset `upto` with TSval `tsval`, SACKing `sack`.
fn ack_ts(upto: u32, tsval: u32, sack: &[(u32, u32)]) -> Seg {
    Seg {
        sack: sack
            .iter()
            .map(|(l, r)| (ISS + 1 + l, ISS + 1 + r))
            .collect(),
        ts: Some((tsval, 0)),
        ..ack_of(upto)
    }
}

/// An established connection on a short path (8 ms) whose window grew, with `flight`
/// bytes sent and unacknowledged: a donor about to hand it off. Returns the harness, the
/// send offset of the first unacknowledged byte, and the next TSval for the peer.
fn donor_with_flight(flight: usize) -> (Harness, u32, u32) {
    let mut h = established();
    let mut t = 20;
    let mut tsval = 800;
    let mut acked = 0u32;
    // Three round trips of slow start, every segment acknowledged on its own.
    for _ in 0..3 {
        h.conn.send(&vec![1u8; 16 * 1388]).unwrap();
        let segs = h.all_out(ms(t));
        t += 8;
        for s in segs {
            acked = s.seq - ISS - 1 + s.payload.len() as u32;
            tsval += 1;
            h.input(ms(t), &ack_ts(acked, tsval, &[]));
        }
    }
    assert!(h.conn.cwnd() > 30_000, "cwnd {}", h.conn.cwnd());
    assert_eq!(h.all_out(ms(t)).len(), 0);
    h.conn.send(&vec![2u8; flight]).unwrap();
    let sent: usize = h.all_out(ms(t)).iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, flight, "the whole flight fits the old path's window");
    (h, acked, tsval)
}

/// Freezes, snapshots and restores `h` on another node at `now` (another clock), which
/// adopts its own path to the peer with `rtt`.
fn hand_off(h: &Harness, now: Instant, rtt: Option<Duration>) -> Harness {
    let bytes = h.conn.snapshot_bytes(ms(100)).unwrap();
    let mut conn = Connection::restore_bytes(&bytes, now).unwrap();
    conn.adopt_new_path(now, rtt, None);
    Harness {
        conn,
        buf: vec![0; 65536],
    }
}

#[test]
fn adopted_connection_times_its_own_path_and_starts_a_fresh_window() {
    let (donor, una, mut tsval) = donor_with_flight(30_000);
    let old_end = una + 30_000;
    let now = Instant::from_secs(3);
    let mut h = hand_off(&donor, now, Some(Duration::from_millis(240)));
    // RFC 6298 first sample: RTO = 240 + 4 * 120 = 720 ms (the old path's was 200 ms).
    assert_eq!(h.conn.srtt(), Some(Duration::from_millis(240)));
    assert_eq!(
        h.conn.poll_timeout(),
        Some(now + Duration::from_millis(720))
    );
    // The old path's bytes do not hold the send buffer: the application writes at once.
    assert!(
        h.conn.send_capacity() >= 60_000,
        "{}",
        h.conn.send_capacity()
    );
    h.conn.send(&vec![3u8; 40_000]).unwrap();
    // RFC 9000 §9.4: a fresh path sends the initial window, not more, and the old path's
    // 30,000 bytes in flight do not count against it.
    let segs = h.all_out(now);
    assert_eq!(segs.first().map(|s| s.seq), Some(ISS + 1 + old_end));
    let sent: usize = segs.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 10 * 1388);
    assert_eq!(h.conn.cwnd(), 10 * 1388);
    // The client SACKs the new data before the old path's tail reached it: reordering
    // across the paths, not loss (the old segments are not due yet): nothing is resent.
    let t1 = now + Duration::from_millis(5);
    for i in 1..=5u32 {
        tsval += 1;
        let sack = [(old_end, old_end + i * 1388)];
        h.input(t1, &ack_ts(una, tsval, &sack));
    }
    assert!(!h.conn.in_recovery());
    // Those SACKs are this path's acknowledgments: its window grows (slow start) and the
    // SACKed segments leave its flight, so new data goes on while the old path's tail
    // still holds the cumulative ACK back.
    assert_eq!(h.conn.cwnd(), 15 * 1388);
    let more = h.all_out(t1);
    assert_eq!(more.len(), 10, "{}", h.conn.debug_summary());
    assert!(more.iter().all(|s| s.seq >= ISS + 1 + old_end + 10 * 1388));
    // ACKs of the old path's bytes do not grow the new window...
    tsval += 1;
    h.input(
        t1,
        &ack_ts(old_end, tsval, &[(old_end, old_end + 5 * 1388)]),
    );
    assert_eq!(h.conn.cwnd(), 15 * 1388);
    // ...this path's own do, and they time it (Karn: only segments sent here).
    let t2 = now + Duration::from_millis(240);
    tsval += 1;
    h.input(t2, &ack_ts(old_end + 10 * 1388, tsval, &[]));
    assert!(h.conn.cwnd() > 15 * 1388);
    assert_eq!(h.conn.srtt(), Some(Duration::from_millis(240)));
}

#[test]
fn adopted_connection_on_a_shorter_path_waits_for_the_old_paths_tail() {
    // Old path 8 ms (4 ms one way), new path 2 ms (1 ms), 1 ms in transit between the
    // nodes: sent at once, new data would arrive 2 ms before the old path's last segment.
    let (donor, una, _) = donor_with_flight(10_000);
    let srtt = donor.conn.srtt().unwrap().total_micros();
    let now = Instant::from_secs(3);
    let bytes = donor.conn.snapshot_bytes(ms(100)).unwrap();
    let mut h = Harness {
        conn: Connection::restore_bytes(&bytes, now).unwrap(),
        buf: vec![0; 65536],
    };
    h.conn.adopt_new_path(
        now,
        Some(Duration::from_millis(2)),
        Some(Duration::from_millis(1)),
    );
    h.conn.send(&[4u8; 5000]).unwrap();
    assert!(h.all_out(now).is_empty(), "new data waits");
    let release = now + Duration::from_micros(srtt / 2 - 1000 - 1000);
    assert_eq!(h.conn.poll_timeout(), Some(release));
    h.fire(release);
    let segs = h.all_out(release);
    assert_eq!(segs.first().map(|s| s.seq), Some(ISS + 1 + una + 10_000));
    assert_eq!(segs.iter().map(|s| s.payload.len()).sum::<usize>(), 5000);
    // A pure ACK is never held.
    let mut h2 = hand_off(&donor, now, Some(Duration::from_millis(2)));
    h2.input(now, &data(0, b"x"));
    h2.input(now, &data(1, b"y"));
    assert!(h2.out(now).is_some_and(|o| o.payload.is_empty()));
}

#[test]
fn adopted_connection_still_resends_the_old_paths_lost_data() {
    let (donor, una, mut tsval) = donor_with_flight(20_000);
    let old_end = una + 20_000;
    let now = Instant::from_secs(3);
    let mut h = hand_off(&donor, now, Some(Duration::from_millis(100)));
    // SACKs of the old path's own later bytes show its first segment lost (one path
    // keeps its order): recovery starts at once, before the old path is even due.
    let late = now + Duration::from_millis(5);
    for i in 1..=4u32 {
        tsval += 1;
        let sack = [(una + 1388, una + 1388 + i * 1388)];
        h.input(late, &ack_ts(una, tsval, &sack));
    }
    assert!(h.conn.in_recovery(), "{}", h.conn.debug_summary());
    let rxt = h.out(late).unwrap();
    assert_eq!(
        rxt.seq,
        ISS + 1 + una,
        "the old path's first byte is resent"
    );
    assert_eq!(rxt.payload.len(), 1388);
    // And with no measurement at all: the initial RTO (RFC 6298 §2.1), then go-back-N.
    let mut h = hand_off(&donor, now, None);
    assert_eq!(h.conn.srtt(), None);
    let t = h.conn.poll_timeout().unwrap();
    assert_eq!(t, now + Duration::from_secs(1));
    h.fire(t);
    assert_eq!(h.out(t).unwrap().seq, ISS + 1 + una);
    // After the timeout everything outstanding is this path's (go-back-N).
    assert!(h.conn.debug_summary().contains("old_path=None"));
    assert!(old_end > una);
}

#[test]
fn adopted_connection_after_a_donor_timeout_resends_within_the_initial_window() {
    let (mut donor, una, _) = donor_with_flight(30_000);
    // The donor's RTO fired before the freeze: go-back-N from SND.UNA.
    let t = donor.conn.poll_timeout().unwrap();
    donor.fire(t);
    let now = Instant::from_secs(3);
    let mut h = hand_off(&donor, now, Some(Duration::from_millis(50)));
    let out = h.all_out(now);
    assert_eq!(out.first().map(|s| s.seq), Some(ISS + 1 + una));
    let sent: usize = out.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 10 * 1388, "no burst above the initial window");
}

#[test]
fn fast_retransmit_sends_the_first_lost_segment_whatever_the_pipe() {
    // The acceptor's fresh window is full of its own new data when SACKs of the donor's
    // later bytes show a donor segment lost: the window shrinks below the pipe, and the
    // lost segment must still go at once (RFC 6675 §5 step 4.3), not a round trip later.
    let (donor, una, mut tsval) = donor_with_flight(20_000);
    let now = Instant::from_secs(3);
    let mut h = hand_off(&donor, now, Some(Duration::from_millis(240)));
    h.conn.send(&vec![3u8; 20_000]).unwrap();
    let sent: usize = h.all_out(now).iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 10 * 1388);
    let t = now + Duration::from_millis(5);
    for i in 1..=4u32 {
        tsval += 1;
        let sack = [(una + 1388, una + 1388 + i * 1388)];
        h.input(t, &ack_ts(una, tsval, &sack));
    }
    assert!(h.conn.in_recovery());
    assert!(h.conn.cwnd() < 10 * 1388, "{}", h.conn.debug_summary());
    let rxt = h.out(t).expect("the first lost segment goes at once");
    assert_eq!(rxt.seq, ISS + 1 + una);
    assert!(h.out(t).is_none(), "the rest waits for the pipe");
}

#[test]
fn stale_pure_ack_failing_paws_is_dropped_without_an_answer() {
    // After a handoff the client's ACKs come both ways: straight from the client, and
    // forwarded by the donor, older. Answering each old one was the pure-ACK storm.
    let mut h = established();
    h.conn.send(&[5u8; 1000]).unwrap();
    let _ = h.all_out(ms(20));
    h.input(ms(30), &ack_ts(1000, 900, &[]));
    assert!(h.out(ms(30)).is_none());
    for old in [880u32, 890, 899] {
        h.input(ms(31), &ack_ts(900, old, &[]));
        assert!(h.out(ms(31)).is_none(), "a stale pure ACK gets no answer");
    }
    // A stale segment with data is still answered (RFC 7323 §5.3 R1).
    let seg = data(0, b"old").with_ts(850, 0);
    h.input(ms(32), &seg);
    let ack = h.out(ms(32)).expect("an ACK answers stale data");
    assert_eq!(ack.ack, Some(IRS + 1));
}

#[test]
fn snapshot_without_precopied_send_data_restores_the_same_connection_once_filled() {
    let mut h = established();
    h.conn.send(&[7u8; 3000]).unwrap();
    let _ = h.all_out(ms(20));
    h.conn.send(&[8u8; 1000]).unwrap(); // unsent
    let (start, end) = h.conn.send_stream_range();
    assert_eq!((start, end), (0, 4000));
    // Copied ahead of the handoff while the connection ran: the first 2500 bytes.
    let mut precopy = vec![0u8; 2500];
    assert_eq!(h.conn.copy_send_stream(start, &mut precopy), 2500);
    h.conn.freeze();
    let whole = Connection::restore_bytes(&h.conn.snapshot_bytes(ms(25)).unwrap(), ms(30)).unwrap();
    let (bytes, left_out) = h.conn.snapshot_bytes_from(ms(25), 2500).unwrap();
    assert_eq!(left_out, (0, 2500));
    assert!(bytes.len() < h.conn.snapshot_bytes(ms(25)).unwrap().len() - 2400);
    let mut restored = Connection::restore_bytes(&bytes, ms(30)).unwrap();
    // Put back at the wrong place, or too little: refused, nothing changed.
    assert!(restored.fill_send_prefix(1, &precopy[1..]).is_err());
    assert!(restored.fill_send_prefix(0, &precopy[..2000]).is_err());
    restored.fill_send_prefix(0, &precopy).unwrap();
    assert_eq!(restored, whole);
    // Leaving out nothing (or past the end) is a whole snapshot.
    let (_, none) = h.conn.snapshot_bytes_from(ms(25), 0).unwrap();
    assert_eq!(none, (0, 0));
    let (_, all) = h.conn.snapshot_bytes_from(ms(25), 1 << 40).unwrap();
    assert_eq!(all, (0, 4000));
}

#[test]
fn snapshot_of_another_version_is_refused() {
    let h = established();
    let mut bytes = h.conn.snapshot_bytes(ms(0)).unwrap();
    bytes[0] = 99;
    assert!(matches!(
        Connection::restore_bytes(&bytes, ms(0)),
        Err(vany_stack::tcp::SnapshotError::Version { found: 99 })
    ));
    assert!(Connection::restore_bytes(&bytes[1..3], ms(0)).is_err());
}

// ---- endpoint --------------------------------------------------------------------------

fn endpoint(backlog: usize) -> Endpoint {
    let mut rng = SeededRandom::new(42);
    Endpoint::new(
        TcpConfig {
            accept_backlog: backlog,
            ..config()
        },
        &mut rng,
    )
}

fn endpoint_out(ep: &mut Endpoint, now: Instant) -> Vec<Out> {
    let mut buf = vec![0u8; 4096];
    let mut v = Vec::new();
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        v.push(parse_out(&buf[..t.len]));
        assert!(v.len() < 1000);
    }
    v
}

#[test]
fn endpoint_resets_a_syn_to_a_closed_port() {
    let mut ep = endpoint(8);
    ep.handle_segment(ms(0), addr(REMOTE), addr(LOCAL), &peer_syn().repr());
    let out = endpoint_out(&mut ep, ms(0));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].control, out[0].seq, out[0].ack),
        (TcpControl::Rst, 0, Some(IRS + 1))
    );
}

#[test]
fn endpoint_accepts_a_connection_on_a_listening_port() {
    let mut ep = endpoint(8);
    ep.listen(80);
    ep.handle_segment(ms(0), addr(REMOTE), addr(LOCAL), &peer_syn().repr());
    let synack = endpoint_out(&mut ep, ms(0)).remove(0);
    assert_eq!(synack.control, TcpControl::Syn);
    let ack = Seg {
        seq: IRS + 1,
        ack: Some(synack.seq.wrapping_add(1)),
        window: 512,
        ts: Some((778, synack.ts.unwrap().0)),
        payload: b"GET /".to_vec(),
        ..Seg::default()
    };
    ep.handle_segment(ms(5), addr(REMOTE), addr(LOCAL), &ack.repr());
    let t = ep.accept().expect("established connection to accept");
    assert_eq!(t, tuple());
    let mut buf = [0u8; 16];
    assert_eq!(ep.connection_mut(&t).unwrap().recv(&mut buf), Ok(5));
}

/// `repr` as bytes from REMOTE to LOCAL, checksummed, with its deferred check.
fn deferred(repr: &TcpRepr<'_>) -> (Vec<u8>, vany_stack::wire::DeferredChecksum) {
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut bytes[..]),
        &IpAddress::Ipv6(addr(REMOTE)),
        &IpAddress::Ipv6(addr(LOCAL)),
        &ChecksumCapabilities::default(),
    );
    let check = vany_stack::wire::DeferredChecksum::new(
        &addr(REMOTE),
        &addr(LOCAL),
        &bytes,
        repr.header_len(),
    );
    (bytes, check)
}

#[test]
fn endpoint_takes_deferred_segments_and_drops_those_whose_checksum_fails() {
    let mut ep = endpoint(8);
    ep.listen(80);
    // No connection: a bad checksum is dropped without a RST.
    let stray = Seg {
        seq: IRS + 1,
        ack: Some(12345),
        window: 512,
        payload: b"stray".to_vec(),
        ..Seg::default()
    };
    let (mut bytes, check) = deferred(&stray.repr());
    bytes[22] ^= 0xff;
    let bad = vany_stack::wire::tcp::parse_header(&bytes).unwrap();
    assert!(!ep.handle_segment_deferred(ms(0), addr(REMOTE), addr(LOCAL), &bad, check));
    assert!(endpoint_out(&mut ep, ms(0)).is_empty());

    ep.handle_segment(ms(0), addr(REMOTE), addr(LOCAL), &peer_syn().repr());
    let synack = endpoint_out(&mut ep, ms(0)).remove(0);
    let ack = Seg {
        seq: IRS + 1,
        ack: Some(synack.seq.wrapping_add(1)),
        window: 512,
        ts: Some((778, synack.ts.unwrap().0)),
        payload: b"GET /".to_vec(),
        ..Seg::default()
    };
    let (bytes, check) = deferred(&ack.repr());
    // A corrupted copy changes nothing: still half-open, nothing to read.
    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x20;
    let bad = vany_stack::wire::tcp::parse_header(&corrupt).unwrap();
    assert!(!ep.handle_segment_deferred(ms(5), addr(REMOTE), addr(LOCAL), &bad, check));
    assert_eq!(ep.accept(), None);
    assert_eq!(ep.connection(&tuple()).unwrap().state(), State::SynReceived);
    // The intact one establishes the connection, and its payload is read back.
    let good = vany_stack::wire::tcp::parse_header(&bytes).unwrap();
    assert!(ep.handle_segment_deferred(ms(5), addr(REMOTE), addr(LOCAL), &good, check));
    let t = ep.accept().expect("established connection to accept");
    let mut buf = [0u8; 16];
    assert_eq!(ep.connection_mut(&t).unwrap().recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"GET /");
    // In-order data after that goes through the in-place path.
    let more = Seg {
        seq: IRS + 6,
        ack: Some(synack.seq.wrapping_add(1)),
        window: 512,
        ts: Some((779, synack.ts.unwrap().0)),
        payload: b" HTTP/1.1".to_vec(),
        ..Seg::default()
    };
    let (bytes, check) = deferred(&more.repr());
    let seg = vany_stack::wire::tcp::parse_header(&bytes).unwrap();
    assert!(ep.handle_segment_deferred(ms(6), addr(REMOTE), addr(LOCAL), &seg, check));
    assert_eq!(ep.connection_mut(&t).unwrap().recv(&mut buf), Ok(9));
    assert_eq!(&buf[..9], b" HTTP/1.1");
}

#[test]
fn endpoint_uses_syn_cookies_when_the_backlog_is_full() {
    let mut ep = endpoint(0);
    ep.listen(80);
    ep.handle_segment(ms(0), addr(REMOTE), addr(LOCAL), &peer_syn().repr());
    assert_eq!(ep.len(), 0, "no state kept for a cookie SYN-ACK");
    let synack = endpoint_out(&mut ep, ms(0)).remove(0);
    assert_eq!(synack.control, TcpControl::Syn);
    assert_eq!(ep.stats().syn_cookies_sent, 1);
    // A forged cookie is refused with a RST.
    let forged = Seg {
        seq: IRS + 1,
        ack: Some(synack.seq.wrapping_add(2)),
        window: 512,
        ..Seg::default()
    };
    ep.handle_segment(ms(5), addr(REMOTE), addr(LOCAL), &forged.repr());
    assert_eq!(ep.stats().syn_cookies_rejected, 1);
    assert_eq!(endpoint_out(&mut ep, ms(5))[0].control, TcpControl::Rst);
    // The real cookie establishes the connection with the encoded MSS.
    let good = Seg {
        seq: IRS + 1,
        ack: Some(synack.seq.wrapping_add(1)),
        window: 512,
        payload: b"hi".to_vec(),
        ..Seg::default()
    };
    ep.handle_segment(ms(6), addr(REMOTE), addr(LOCAL), &good.repr());
    assert_eq!(ep.stats().syn_cookies_accepted, 1);
    let t = ep.accept().unwrap();
    let c = ep.connection_mut(&t).unwrap();
    assert_eq!(c.state(), State::Established);
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf), Ok(2));
}

#[test]
fn initial_sequence_numbers_differ_per_tuple_and_advance_with_time() {
    let ep = endpoint(8);
    let a = tuple();
    let mut b = tuple();
    b.remote_port += 1;
    assert_ne!(
        ep.initial_sequence(ms(0), &a),
        ep.initial_sequence(ms(0), &b)
    );
    let d = ep
        .initial_sequence(ms(1), &a)
        .diff(ep.initial_sequence(ms(0), &a));
    assert_eq!(d, 250, "RFC 6528: a 4 µs clock");
}
