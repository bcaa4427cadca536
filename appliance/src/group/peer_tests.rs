//! Unit tests of [`super`]: sealing and opening, authentication, replay, reassembly
//! and retransmission of peer messages.

use super::*;

fn t() -> Instant {
    Instant::from_secs(1)
}

#[test]
fn messages_round_trip_in_chunks() {
    let mut a = PeerChannel::new(1, b"group key");
    let mut b = PeerChannel::new(2, b"group key");
    let body = PeerBody::Transfer {
        transfer: 7,
        index: 0,
        count: 1,
        session: vec![9u8; 10_000],
    };
    let datagrams = a.seal(2, body.clone());
    assert!(datagrams.len() > 1);
    let mut got = None;
    for d in datagrams.iter().rev() {
        match b.open(t(), d) {
            Ok(m) => got = Some(m),
            Err(PeerError::Incomplete) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let m = got.unwrap();
    assert_eq!((m.from, m.body), (1, body));
}

#[test]
fn forged_and_replayed_messages_are_dropped_and_counted() {
    let mut a = PeerChannel::new(1, b"group key");
    let mut b = PeerChannel::new(2, b"group key");
    let mut evil = PeerChannel::new(1, b"wrong key");
    let d = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
    assert!(b.open(t(), &d).is_ok());
    assert_eq!(b.open(t(), &d), Err(PeerError::Replayed));
    // A sequence number not seen yet, so that only the MAC can refuse it.
    let _ = evil.seal(2, PeerBody::Commit { transfer: 2 });
    let forged = evil.seal(2, PeerBody::Commit { transfer: 2 }).remove(0);
    assert_eq!(b.open(t(), &forged), Err(PeerError::Forged));
    let mut tampered = a.seal(2, PeerBody::Commit { transfer: 3 }).remove(0);
    tampered[HEADER] ^= 1; // first byte of the message body
    assert_eq!(b.open(t(), &tampered), Err(PeerError::Forged));
    assert_eq!(b.open(t(), b"nonsense"), Err(PeerError::Malformed));
    let s = b.stats();
    assert_eq!(
        (s.accepted, s.replayed, s.forged, s.malformed),
        (1, 1, 2, 1)
    );
}

#[test]
fn chunks_without_the_group_key_are_never_stored() {
    let mut b = PeerChannel::new(2, b"group key");
    let mut evil = PeerChannel::new(1, b"not the key");
    let body = PeerBody::Transfer {
        transfer: 1,
        index: 0,
        count: 1,
        session: vec![5u8; 20_000],
    };
    let forged = evil.seal(2, body);
    for d in &forged {
        assert_eq!(b.open(t(), d), Err(PeerError::Forged));
    }
    assert!(b.partial.is_empty());
    assert_eq!(b.partial_bytes, 0);
    // A genuine chunk with its tag cut off, or one byte of it changed.
    let mut a = PeerChannel::new(1, b"group key");
    let mut d = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
    let last = d.len() - 1;
    d[last] ^= 1;
    assert_eq!(b.open(t(), &d), Err(PeerError::Forged));
    assert_eq!(b.open(t(), &d[..HEADER + 3]), Err(PeerError::Malformed));
    assert_eq!(b.stats().forged, forged.len() as u64 + 1);
}

#[test]
fn partial_messages_are_purged_by_the_timer() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let body = PeerBody::Transfer {
        transfer: 1,
        index: 0,
        count: 1,
        session: vec![1u8; 5_000],
    };
    let d = a.seal(2, body);
    assert_eq!(b.open(t(), &d[0]), Err(PeerError::Incomplete));
    assert!(b.partial_bytes > 0);
    b.purge(t() + REASSEMBLY_TIMEOUT);
    assert!(b.partial.is_empty());
    assert_eq!(b.partial_bytes, 0);
    assert_eq!(b.stats().reassembly_dropped, 1);
}

#[test]
fn a_message_for_another_member_is_refused() {
    let mut a = PeerChannel::new(1, b"k");
    let mut c = PeerChannel::new(3, b"k");
    let d = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
    assert_eq!(c.open(t(), &d), Err(PeerError::Forged));
}

fn deliver(
    rx: &mut PeerChannel,
    now: Instant,
    datagrams: &[Vec<u8>],
) -> Vec<Result<PeerMessage, PeerError>> {
    datagrams.iter().map(|d| rx.open(now, d)).collect()
}

#[test]
fn a_lost_chunk_is_filled_in_by_the_next_copy_and_acknowledged() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let body = PeerBody::Transfer {
        transfer: 1,
        index: 0,
        count: 1,
        session: vec![3u8; 5_000],
    };
    let (seq, mut datagrams) = a.send(t(), 2, body.clone());
    datagrams.remove(2); // lost
    assert!(deliver(&mut b, t(), &datagrams).iter().all(|r| r.is_err()));
    assert!(b.take_acks(t() + ACK_DELAY).is_empty());
    assert_eq!(a.next_retransmit(), Some(t() + INITIAL_RTO));
    assert!(a.poll_retransmit(t()).is_empty());
    let again = a.poll_retransmit(t() + INITIAL_RTO);
    assert_eq!(again.len(), 5);
    let copies: Vec<Vec<u8>> = again.into_iter().map(|(_, d)| d).collect();
    let got: Vec<PeerMessage> = deliver(&mut b, t(), &copies)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, body);
    assert_eq!(b.take_acks(t() + ACK_DELAY), vec![(1, vec![seq])]);
    assert_eq!(a.acknowledged(t(), 2, &[seq]), vec![seq]);
    assert_eq!(a.next_retransmit(), None);
    assert_eq!(a.stats().retransmitted, 1);
}

#[test]
fn a_copy_of_an_accepted_message_is_dropped_but_acknowledged_again() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let (seq, d) = a.send(t(), 2, PeerBody::Commit { transfer: 9 });
    assert!(b.open(t(), &d[0]).is_ok());
    assert_eq!(b.take_acks(t() + ACK_DELAY), vec![(1, vec![seq])]); // this Ack is lost
    let copy = a.poll_retransmit(t() + Duration::from_secs(1));
    assert_eq!(b.open(t(), &copy[0].1), Err(PeerError::Replayed));
    assert_eq!(b.take_acks(t() + ACK_DELAY), vec![(1, vec![seq])]);
    // An acknowledgement from another member does not count.
    assert!(a.acknowledged(t(), 3, &[seq]).is_empty());
    assert_eq!(a.acknowledged(t(), 2, &[seq]), vec![seq]);
}

#[test]
fn an_unanswered_message_is_given_up_after_max_tries() {
    let mut a = PeerChannel::new(1, b"k");
    let (_, _) = a.send(t(), 2, PeerBody::Commit { transfer: 9 });
    let mut now = t();
    let mut sends = 1;
    for _ in 0..100 {
        let Some(at) = a.next_retransmit() else { break };
        now = now.max(at);
        sends += a.poll_retransmit(now).len();
    }
    assert_eq!(sends, MAX_TRIES as usize);
    assert_eq!(a.stats().given_up, 1);
    // Acknowledgements and forwarded packets are never kept.
    let _ = a.send(t(), 2, PeerBody::Ack { seqs: vec![1] });
    let _ = a.send(
        t(),
        2,
        PeerBody::Forward {
            transfer: 1,
            packet: vec![],
        },
    );
    assert_eq!(a.next_retransmit(), None);
}

#[test]
fn a_restarted_member_with_a_later_epoch_is_not_a_replay() {
    let mut b = PeerChannel::new(2, b"k");
    let mut first = PeerChannel::new(1, b"k");
    for i in 0..5 {
        let d = first.seal(2, PeerBody::Commit { transfer: i }).remove(0);
        assert!(b.open(t(), &d).is_ok());
    }
    let mut restarted = PeerChannel::new(1, b"k");
    let d = restarted
        .seal(2, PeerBody::Commit { transfer: 7 })
        .remove(0);
    assert_eq!(b.open(t(), &d), Err(PeerError::Replayed));
    restarted.set_epoch(1_000);
    let d = restarted
        .seal(2, PeerBody::Commit { transfer: 7 })
        .remove(0);
    assert!(b.open(t(), &d).is_ok());
    // The earlier life's messages are now too old.
    let old = first.seal(2, PeerBody::Commit { transfer: 8 }).remove(0);
    assert_eq!(b.open(t(), &old), Err(PeerError::Replayed));
}

#[test]
fn out_of_order_messages_within_the_window_are_accepted() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let d1 = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
    let d2 = a.seal(2, PeerBody::Commit { transfer: 2 }).remove(0);
    assert!(b.open(t(), &d2).is_ok());
    assert!(b.open(t(), &d1).is_ok());
    assert_eq!(b.open(t(), &d1), Err(PeerError::Replayed));
}

/// Found by the `peer_datagram` fuzz target: `seq + WINDOW` overflowed for a sender whose
/// sequence numbers neared `u64::MAX` (a panic with overflow checks; without them, every
/// message after the first refused as a replay).
#[test]
fn sequence_numbers_near_the_top_of_u64_are_accepted_once() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    a.next_seq = u64::MAX - 10;
    let first = a.seal(2, PeerBody::Commit { transfer: 1 }).remove(0);
    let second = a.seal(2, PeerBody::Commit { transfer: 2 }).remove(0);
    assert!(b.open(t(), &first).is_ok());
    assert!(b.open(t(), &second).is_ok());
    assert_eq!(b.open(t(), &first), Err(PeerError::Replayed));
    assert_eq!(b.open(t(), &second), Err(PeerError::Replayed));
    // An old sequence number is still too old.
    a.next_seq = u64::MAX - 10 - WINDOW;
    let old = a.seal(2, PeerBody::Commit { transfer: 3 }).remove(0);
    assert_eq!(b.open(t(), &old), Err(PeerError::Replayed));
    assert_eq!(b.stats().accepted, 2);
}

/// A client packet of `len` bytes, as a donor forwards it.
fn packet(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn a_message_of_one_datagram_carries_one_mac_over_header_and_message() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let body = PeerBody::Forward {
        transfer: 4,
        packet: packet(74),
    };
    let d = a.seal(2, body.clone());
    assert_eq!(d.len(), 1);
    let d = d.into_iter().next().unwrap();
    let msg = postcard::to_allocvec(&PeerMessage {
        from: 1,
        to: 2,
        seq: 1,
        body: body.clone(),
    })
    .unwrap();
    // Header (count 1), the message, and HMAC-SHA256 of both: no chunk tag, no message
    // MAC of its own.
    assert_eq!(d.len(), HEADER + msg.len() + TAG);
    assert_eq!(&d[17..19], &1u16.to_be_bytes());
    assert_eq!(&d[HEADER..HEADER + msg.len()], &msg[..]);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k");
    assert!(ring::hmac::verify(&key, &d[..d.len() - TAG], &d[d.len() - TAG..]).is_ok());
    let m = b.open(t(), &d).unwrap();
    assert_eq!((m.from, m.to, m.seq, m.body), (1, 2, 1, body));
}

#[test]
fn a_flipped_bit_anywhere_in_a_single_datagram_is_refused() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let d = a
        .seal(
            2,
            PeerBody::Forward {
                transfer: 0,
                packet: packet(74),
            },
        )
        .remove(0);
    let (mut forged, mut malformed) = (0u64, 0u64);
    for bit in 0..d.len() * 8 {
        let mut x = d.clone();
        x[bit / 8] ^= 1 << (bit % 8);
        match b.open(t(), &x) {
            Err(PeerError::Forged) => forged += 1,
            // Magic, version, a chunk index or count out of range: refused unread.
            Err(PeerError::Malformed) if bit / 8 < HEADER => malformed += 1,
            other => panic!("bit {bit}: {other:?}"),
        }
    }
    // Every bit of the sender, sequence number and everything after the header is
    // refused as forged.
    assert!(forged >= ((d.len() - HEADER + 10) * 8) as u64, "{forged}");
    assert!(b.partial.is_empty() && b.partial_bytes == 0);
    let s = b.stats();
    assert_eq!((s.accepted, s.forged, s.malformed), (0, forged, malformed));
    assert!(b.take_acks(t() + ACK_DELAY).is_empty());
    // The genuine datagram is still accepted, once; its copy is a replay.
    assert!(b.open(t(), &d).is_ok());
    assert_eq!(b.open(t(), &d), Err(PeerError::Replayed));
    assert_eq!(b.stats().replayed, 1);
}

#[test]
fn a_truncated_extended_or_other_version_single_datagram_is_refused() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let d = a.seal(2, PeerBody::Commit { transfer: 5 }).remove(0);
    for len in 0..d.len() {
        let r = b.open(t(), &d[..len]);
        assert!(
            matches!(r, Err(PeerError::Malformed | PeerError::Forged)),
            "{len}: {r:?}"
        );
    }
    let mut longer = d.clone();
    longer.push(0);
    assert_eq!(b.open(t(), &longer), Err(PeerError::Forged));
    for version in [0, 1, 2, VERSION + 1] {
        let mut v = d.clone();
        v[4] = version;
        assert_eq!(b.open(t(), &v), Err(PeerError::Malformed), "{version}");
    }
    assert_eq!(b.stats().accepted, 0);
    assert!(b.open(t(), &d).is_ok());
}

#[test]
fn a_single_datagram_recast_as_a_chunk_of_several_is_refused() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let d = a.seal(2, PeerBody::Commit { transfer: 5 }).remove(0);
    // Count 2: the 32-byte MAC's last 16 bytes are no chunk tag; nothing is stored.
    let mut x = d.clone();
    x[17..19].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(b.open(t(), &x), Err(PeerError::Forged));
    assert!(b.partial.is_empty());
    // A chunk of a long message with its count set to 1 fails the single MAC.
    let mut long = a.seal(
        2,
        PeerBody::Forward {
            transfer: 0,
            packet: packet(1500),
        },
    );
    assert_eq!(long.len(), 2);
    long[0][17..19].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(b.open(t(), &long[0]), Err(PeerError::Forged));
}

#[test]
fn a_borrowed_forward_is_sealed_as_a_peer_body_forward() {
    for len in [0, 74, 1000, 1100, 1500, 9000] {
        let p = packet(len);
        let mut a = PeerChannel::new(1, b"k");
        let mut a2 = PeerChannel::new(1, b"k");
        let owned = a.seal(
            2,
            PeerBody::Forward {
                transfer: 77,
                packet: p.clone(),
            },
        );
        let (mut spare, mut out) = (vec![Vec::with_capacity(3000)], Vec::new());
        let seq = a2.send_into(
            t(),
            2,
            Outgoing::Forward {
                transfer: 77,
                packet: &p,
            },
            48,
            &mut spare,
            &mut out,
        );
        assert_eq!(seq, 1);
        let borrowed: Vec<Vec<u8>> = out.iter().map(|d| d[48..].to_vec()).collect();
        assert_eq!(owned, borrowed, "{len}");
        // Not kept for retransmission.
        assert_eq!(a2.next_retransmit(), None);
    }
}

#[test]
fn messages_either_side_of_one_datagram_round_trip() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let mut counts = BTreeSet::new();
    for len in 1000..1100 {
        let body = PeerBody::Forward {
            transfer: 1,
            packet: packet(len),
        };
        let d = a.seal(2, body.clone());
        assert!(d.iter().all(|d| d.len() <= HEADER + CHUNK + TAG));
        counts.insert(d.len());
        let got: Vec<PeerMessage> = deliver(&mut b, t(), &d)
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(got.len(), 1, "{len}");
        assert_eq!(got[0].body, body);
    }
    assert_eq!(counts, BTreeSet::from([1, 2]));
}

#[test]
fn a_reliable_message_sent_with_headroom_is_kept_without_it() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    let (mut spare, mut out) = (Vec::new(), Vec::new());
    let body = PeerBody::Commit { transfer: 3 };
    a.send_into(t(), 2, Outgoing::Body(&body), 48, &mut spare, &mut out);
    assert_eq!(out.len(), 1);
    let again = a.poll_retransmit(t() + INITIAL_RTO);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1, out[0][48..]);
    assert_eq!(b.open(t(), &again[0].1).unwrap().body, body);
}

/// The group MAC is HMAC-SHA256 as ring computes it, for keys shorter, as long as and
/// longer than the block, and messages across block boundaries; a tag is verified whole
/// or cut to 16 bytes, never shorter, never altered.
#[test]
fn the_group_mac_is_hmac_sha256() {
    for key_len in [0usize, 1, 13, 32, 63, 64, 65, 100, 200] {
        let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + key_len) as u8).collect();
        let ours = GroupMac::new(&key);
        let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        for len in (0..300).chain([1100, 1183, 5000]) {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
            let want = ring::hmac::sign(&ring_key, &data);
            let tag = ours.sign(&data);
            assert_eq!(&tag[..], want.as_ref(), "key {key_len}, {len} bytes");
            assert!(ours.verify(&data, &tag));
            assert!(ours.verify(&data, &tag[..CHUNK_TAG]));
            assert!(!ours.verify(&data, &tag[..CHUNK_TAG - 1]));
            assert!(!ours.verify(&data, &[]));
            let mut bad = tag;
            bad[len % TAG] ^= 0x40;
            assert!(!ours.verify(&data, &bad));
        }
    }
}

#[test]
fn a_forward_is_encoded_as_postcard_encodes_it() {
    for (from, to, seq, transfer) in [
        (0, 0, 0, 0),
        (1, 2, 1, 0),
        (127, 128, 16_383, 16_384),
        (u16::MAX, u16::MAX - 1, u64::MAX, u64::MAX),
        (300, 7, (1_733_200_000_000 << 20) | 5, 1 << 40),
    ] {
        for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let p = packet(len);
            let ours = msg::OutgoingMessage {
                from,
                to,
                seq,
                body: Outgoing::Forward {
                    transfer,
                    packet: &p,
                },
            }
            .encode(vec![9])
            .unwrap();
            let want = postcard::to_allocvec(&PeerMessage {
                from,
                to,
                seq,
                body: PeerBody::Forward {
                    transfer,
                    packet: p.clone(),
                },
            })
            .unwrap();
            assert_eq!(ours[0], 9, "appended");
            assert_eq!(ours[1..], want[..], "{from} {to} {seq} {transfer} {len}");
        }
    }
}

/// Packets of every encoded length class, for member `to`, each with its own transfer.
fn batch_of(to: MemberId, lens: &[usize]) -> (ForwardBatch, Vec<ForwardedPacket>) {
    let mut batch = ForwardBatch::default();
    let mut want = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let p = ForwardedPacket {
            transfer: [0, 1, 127, 128, 1 << 40, u64::MAX][i % 6],
            packet: packet(len),
        };
        assert!(batch.push(to, p.transfer, &p.packet, usize::MAX));
        want.push(p);
    }
    (batch, want)
}

#[test]
fn forwards_are_encoded_as_postcard_encodes_them() {
    for lens in [&[0usize, 1][..], &[74, 74, 74], &[127, 128, 300, 16_384, 5]] {
        let (batch, packets) = batch_of(3, lens);
        for (from, to, seq) in [(0, 0, 0), (u16::MAX, 3, u64::MAX), (7, 3, 1 << 45)] {
            let ours = msg::OutgoingMessage {
                from,
                to,
                seq,
                body: batch.outgoing(),
            };
            let want = postcard::to_allocvec(&PeerMessage {
                from,
                to,
                seq,
                body: PeerBody::Forwards {
                    packets: packets.clone(),
                },
            })
            .unwrap();
            let encoded = ours.encode(vec![9]).unwrap();
            assert_eq!(encoded[0], 9, "appended");
            assert_eq!(encoded[1..], want[..], "{lens:?}");
            // Through serde (the form a generic serializer sees), the same bytes.
            assert_eq!(postcard::to_allocvec(&ours).unwrap(), want, "{lens:?}");
        }
    }
}

#[test]
fn a_lone_packet_goes_as_a_forward_and_a_batch_keeps_to_its_member_and_room() {
    let (one, _) = batch_of(2, &[74]);
    assert!(matches!(
        one.outgoing(),
        Outgoing::Forward { transfer: 0, packet: p } if p == &packet(74)[..]
    ));
    let mut batch = ForwardBatch::default();
    assert!(batch.is_empty());
    // An entry of 74 bytes takes 76 with its transfer (0) and length; 13 fit in 1000.
    for i in 0..13 {
        assert!(batch.push(2, 0, &packet(74), 1000), "{i}");
    }
    assert!(!batch.push(2, 0, &packet(74), 1000), "room");
    assert!(!batch.push(4, 0, &packet(1), 1000), "another member");
    assert_eq!((batch.len(), batch.to()), (13, 2));
    batch.clear();
    assert!(
        batch.push(4, 9, &packet(1), 1000),
        "empty again: any member"
    );
    assert!(
        !batch.push(4, 9, &packet(2000), 1000),
        "never more than the room"
    );
}

#[test]
fn forwards_fill_one_datagram_and_open_in_order_once() {
    let mut a = PeerChannel::new(1, b"k");
    let mut b = PeerChannel::new(2, b"k");
    // As full as a member fills it, at the largest sequence numbers and member ids.
    a.set_epoch(u64::MAX >> 20);
    let mut batch = ForwardBatch::default();
    let mut want = Vec::new();
    let mut len = 0;
    while batch.push(2, u64::MAX, &packet(len), FORWARDS_ROOM) {
        want.push(ForwardedPacket {
            transfer: u64::MAX,
            packet: packet(len),
        });
        len = (len + 37) % 200;
    }
    assert!(want.len() > 5);
    let (mut spare, mut out) = (Vec::new(), Vec::new());
    a.send_into(t(), 2, batch.outgoing(), 0, &mut spare, &mut out);
    assert_eq!(out.len(), 1, "one datagram");
    assert!(out[0].len() <= HEADER + CHUNK);
    assert_eq!(a.next_retransmit(), None, "not kept");
    let m = b.open(t(), &out[0]).unwrap();
    assert_eq!(m.body, PeerBody::Forwards { packets: want });
    // Replayed: refused, counted; altered: forged.
    assert_eq!(b.open(t(), &out[0]), Err(PeerError::Replayed));
    let mut bad = out[0].clone();
    bad[HEADER + 8] ^= 1;
    assert_eq!(b.open(t(), &bad), Err(PeerError::Forged));
}
