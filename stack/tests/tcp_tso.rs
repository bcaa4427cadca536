//! Segmentation offload (`TcpConfig::tso_max`): super-segments of whole MSS-sized pieces
//! within the peer's window and the congestion window, the segment size reported with
//! them, and loss recovery that resends a lost piece by the MSS.

use smoltcp::wire::TcpControl;
use vany_stack::tcp::{Emitted, TcpConfig};
use vany_stack::time::Instant;

mod tcp_common;

use tcp_common::*;

/// Payload per full segment: the peer's MSS (1400) minus the Timestamps option.
const SEG: usize = 1388;

fn tso_config() -> TcpConfig {
    TcpConfig {
        send_buffer: 256 * 1024,
        recv_buffer: 64 * 1024,
        tso_max: 65_535,
        ..TcpConfig::default()
    }
}

/// The next segment and what `poll_transmit_segment` said of it.
fn next(h: &mut Harness, now: Instant) -> Option<(Out, Emitted)> {
    let e = h.conn.poll_transmit_segment(now, &mut h.buf)?;
    Some((parse_out(&h.buf[..e.len]), e))
}

fn ack_of(upto: usize, window: u16, sack: &[(usize, usize)]) -> Seg {
    Seg {
        seq: IRS + 1,
        ack: Some(ISS + 1 + upto as u32),
        window,
        ts: Some((800, 0)),
        sack: sack
            .iter()
            .map(|&(s, e)| (ISS + 1 + s as u32, ISS + 1 + e as u32))
            .collect(),
        ..Seg::default()
    }
}

#[test]
fn off_by_default_no_segment_exceeds_the_mss() {
    let mut h = established();
    h.conn.send(&[1u8; 20_000]).unwrap();
    let mut n = 0;
    while let Some((o, e)) = next(&mut h, ms(20)) {
        assert!(o.payload.len() <= SEG);
        assert_eq!(e.segment_size, None);
        n += 1;
        assert!(n < 100);
    }
    assert_eq!(n, 10, "the initial window: ten segments");
}

#[test]
fn the_initial_window_goes_as_one_super_segment() {
    let mut h = established_with(tso_config());
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    h.conn.send(&data).unwrap();
    // The checksum over the whole super-segment verifies (parse_out checks it).
    let (o, e) = next(&mut h, ms(20)).unwrap();
    assert_eq!(o.payload.len(), 10 * SEG);
    assert_eq!(o.payload, data[..10 * SEG]);
    assert_eq!(e.segment_size, Some(SEG as u16));
    assert_eq!(o.seq, ISS + 1);
    // The congestion window is full: nothing more until an ACK.
    assert!(next(&mut h, ms(20)).is_none());
    assert_eq!(h.conn.stats().segs_out, 1 + 10, "SYN-ACK and ten segments");
    // An ACK of all of it grows the window (slow start): the next one is larger.
    h.input(ms(30), &ack_of(10 * SEG, 512, &[]));
    let (o, e) = next(&mut h, ms(30)).unwrap();
    assert_eq!(o.seq, ISS + 1 + (10 * SEG) as u32);
    assert!(o.payload.len() > 10 * SEG && o.payload.len() % SEG == 0);
    assert_eq!(e.segment_size, Some(SEG as u16));
}

#[test]
fn the_peer_window_bounds_a_super_segment_to_whole_segments() {
    let mut h = established_with(tso_config());
    // The peer's window: 5000 bytes (no scaling applies to the last ACK's field << 7:
    // 39 << 7 = 4992).
    h.input(ms(15), &ack_of(0, 39, &[]));
    h.conn.send(&[7u8; 30_000]).unwrap();
    let (o, e) = next(&mut h, ms(20)).unwrap();
    // 4992 bytes of room: three whole segments, not 3.6.
    assert_eq!(o.payload.len(), 3 * SEG);
    assert_eq!(e.segment_size, Some(SEG as u16));
    // The rest of the window (588 bytes) waits for room (silly window avoidance).
    assert!(next(&mut h, ms(20)).is_none());
}

#[test]
fn the_end_of_the_data_may_leave_a_short_last_piece_and_carries_the_fin() {
    let mut h = established_with(tso_config());
    h.conn.send(&[3u8; 5000]).unwrap();
    h.conn.close();
    let (o, e) = next(&mut h, ms(20)).unwrap();
    assert_eq!(o.payload.len(), 5000);
    assert_eq!(o.control, TcpControl::Fin);
    assert_eq!(e.segment_size, Some(SEG as u16));
    // A single short segment is no super-segment.
    let mut h = established_with(tso_config());
    h.conn.send(&[3u8; 1000]).unwrap();
    let (o, e) = next(&mut h, ms(20)).unwrap();
    assert_eq!((o.payload.len(), e.segment_size), (1000, None));
}

#[test]
fn a_lost_piece_of_a_super_segment_is_resent_alone() {
    let mut h = established_with(tso_config());
    let data: Vec<u8> = (0..10 * SEG as u32).map(|i| (i % 13) as u8).collect();
    h.conn.send(&data).unwrap();
    let (o, _) = next(&mut h, ms(20)).unwrap();
    assert_eq!(o.payload.len(), 10 * SEG);
    // Piece 2 (of 0..10) was lost: the peer acks 0..2 and SACKs what follows, piece by
    // piece.
    for i in 3..7 {
        h.input(
            ms(40 + i as i64),
            &ack_of(2 * SEG, 512, &[(3 * SEG, i * SEG + SEG)]),
        );
    }
    assert!(h.conn.in_recovery());
    let (rxt, e) = next(&mut h, ms(47)).unwrap();
    assert_eq!(rxt.seq, ISS + 1 + (2 * SEG) as u32);
    assert_eq!(rxt.payload, data[2 * SEG..3 * SEG]);
    assert_eq!(e.segment_size, None, "a hole is resent by the MSS");
    assert_eq!(h.conn.stats().retransmits, 1);
    // The rest arrives: recovery ends, all acknowledged.
    h.input(ms(60), &ack_of(10 * SEG, 512, &[]));
    assert!(!h.conn.in_recovery());
}

#[test]
fn after_a_timeout_the_window_of_one_segment_bounds_the_resend() {
    let mut h = established_with(tso_config());
    h.conn.send(&[9u8; 10 * SEG]).unwrap();
    let (o, _) = next(&mut h, ms(20)).unwrap();
    assert_eq!(o.payload.len(), 10 * SEG);
    let t = h.conn.poll_timeout().unwrap();
    h.fire(t);
    let (again, e) = next(&mut h, t).unwrap();
    assert_eq!((again.seq, again.payload.len()), (ISS + 1, SEG));
    assert_eq!(e.segment_size, None);
    assert!(
        next(&mut h, t).is_none(),
        "cwnd is one segment after a timeout"
    );
}

#[test]
fn a_small_buffer_bounds_a_super_segment_too() {
    let mut h = established_with(tso_config());
    h.buf = vec![0; 4 * SEG + 10];
    h.conn.send(&[5u8; 20_000]).unwrap();
    let (o, e) = next(&mut h, ms(20)).unwrap();
    assert_eq!(
        o.payload.len(),
        3 * SEG,
        "what fits the buffer with the header"
    );
    assert_eq!(e.segment_size, Some(SEG as u16));
}
