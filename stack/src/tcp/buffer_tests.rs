//! Tests of the send and receive buffers (`buffer.rs`).

use super::*;

#[test]
fn send_buffer_copies_across_the_wrap() {
    let mut b = SendBuffer::new(8);
    assert_eq!(b.push(b"abcdef"), 6);
    b.ack_to(4);
    assert_eq!(b.push(b"ghijkl"), 6);
    let mut out = [0u8; 8];
    assert_eq!(b.copy_out(4, &mut out), 8);
    assert_eq!(&out, b"efghijkl");
    assert_eq!(b.copy_out(9, &mut out[..3]), 3);
    assert_eq!(&out[..3], b"jkl");
    assert_eq!(b.copy_out(12, &mut out), 0);
    assert_eq!(b.copy_out(2, &mut out), 0);
}

/// A small deterministic generator for the model tests (xorshift).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn send_buffer_matches_a_plain_byte_model_through_pushes_writes_and_acks() {
    let mut b = SendBuffer::new(10_000);
    let mut model: Vec<u8> = Vec::new();
    let mut model_start = 0u64;
    let mut produced = 0u8;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for step in 0..3000 {
        let r = next_rand(&mut state);
        match r % 4 {
            0 => {
                let n = (r >> 8) as usize % 3000;
                let bytes: Vec<u8> = (0..n).map(|i| produced.wrapping_add(i as u8)).collect();
                let took = b.push(&bytes);
                assert_eq!(took, n.min(10_000 - model.len()), "step {step}");
                model.extend_from_slice(&bytes[..took]);
                produced = produced.wrapping_add(took as u8);
            }
            1 => {
                // Writes in place, sometimes stopping short of the piece it was lent.
                let max = (r >> 8) as usize % 4000;
                let short = (r >> 40).is_multiple_of(3);
                let wrote = b.write_with(max, |piece| {
                    let n = if short { piece.len() / 2 } else { piece.len() };
                    for (i, byte) in piece[..n].iter_mut().enumerate() {
                        *byte = produced.wrapping_add(i as u8);
                    }
                    model.extend((0..n).map(|i| produced.wrapping_add(i as u8)));
                    produced = produced.wrapping_add(n as u8);
                    n
                });
                assert!(wrote <= max, "step {step}");
                assert!(short || wrote == max.min(10_000 + wrote - model.len()));
            }
            2 => {
                let upto = model_start + (r >> 8) % (model.len() as u64 + 1);
                b.ack_to(upto);
                model.drain(..(upto - model_start) as usize);
                model_start = upto;
            }
            _ => {
                let skip = (r >> 8) as usize % (model.len() + 1);
                let mut dst = vec![0u8; (r >> 32) as usize % 2000];
                let (n, sum) = b.copy_out_summing(model_start + skip as u64, &mut dst);
                let want = &model[skip..(skip + dst.len()).min(model.len())];
                assert_eq!(&dst[..n], want, "step {step}");
                assert_eq!(sum, checksum::sum(0, want), "step {step}");
            }
        }
        assert_eq!(
            (b.start(), b.len()),
            (model_start, model.len()),
            "step {step}"
        );
    }
    let snapshot = b.suffix(model_start + 7.min(model.len() as u64));
    let mut whole = snapshot.clone();
    let cut = 7.min(model.len());
    assert!(whole.prepend(model_start, &model[..cut]));
    let mut out = vec![0u8; model.len()];
    assert_eq!(whole.copy_out(model_start, &mut out), model.len());
    assert_eq!(out, model);
}

#[test]
fn receive_buffer_lends_its_bytes_in_place_across_the_wrap() {
    let mut r = RecvBuffer::new(64);
    assert_eq!(r.insert(0, &[1u8; 50]), 50);
    let mut out = [0u8; 45];
    assert_eq!(r.read(&mut out), 45);
    let data: Vec<u8> = (0..40).collect();
    assert_eq!(r.insert(50, &data), 40);
    // The bytes wrap: two pieces, the second lent only once the first is taken.
    let mut seen = Vec::new();
    let mut calls = 0;
    assert_eq!(
        r.read_with(|piece| {
            calls += 1;
            seen.extend_from_slice(piece);
            piece.len()
        }),
        45
    );
    assert_eq!(
        (calls, &seen[..5], &seen[5..]),
        (2, &[1u8; 5][..], &data[..])
    );
    assert_eq!(r.insert(90, &data[..10]), 10);
    // Taking part of a piece leaves the rest.
    assert_eq!(r.read_with(|piece| piece.len().min(4)), 4);
    assert_eq!(r.readable(), 6);
    assert_eq!(r.read_with(|_| 0), 0);
}

#[test]
fn receive_buffer_reassembles_out_of_order_and_overlaps() {
    let mut r = RecvBuffer::new(100);
    assert_eq!(r.insert(5, b"fghij"), 0);
    assert_eq!(r.insert(12, b"mn"), 0);
    assert_eq!(r.sack_ranges(3), vec![(12, 14), (5, 10)]);
    assert_eq!(r.insert(3, b"defghijkl"), 0);
    assert_eq!(r.insert(0, b"abcd"), 14);
    let mut out = [0u8; 20];
    assert_eq!(r.read(&mut out), 14);
    assert_eq!(&out[..14], b"abcdefghijklmn");
    assert!(!r.has_gaps());
}

#[test]
fn receive_buffer_stages_across_the_wrap_and_takes_staged_bytes_in_place() {
    let mut r = RecvBuffer::new(8192);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut at, mut read, mut out) = (0usize, 0usize, Vec::new());
    let mut sink = [0u8; 3001];
    // Odd sizes, so that staged bytes wrap around the ring at odd offsets.
    for (i, len) in [1439usize, 1440, 1, 3001, 777, 1440, 2999, 1440, 1441, 5]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
    {
        let len = (*len).min(r.window()).min(data.len() - at);
        let bytes = &data[at..at + len];
        let sum = r.stage_summing(bytes);
        assert_eq!(sum, checksum::sum(0, bytes), "segment {i}");
        if i % 5 == 4 {
            // Dropped (a bad checksum): the next insert copies.
            r.drop_staged();
        } else {
            r.keep_staged(r.next(), len);
        }
        assert_eq!(r.insert(at as u64, bytes), len);
        at += len;
        let n = r.read(&mut sink[..(i * 389) % 3001]);
        out.extend_from_slice(&sink[..n]);
        read += n;
    }
    while r.readable() > 0 {
        let n = r.read(&mut sink);
        out.extend_from_slice(&sink[..n]);
        read += n;
    }
    assert_eq!(read, at);
    assert_eq!(out, &data[..at]);
}

#[test]
fn staged_bytes_are_only_taken_at_the_offset_they_were_staged_for() {
    let mut r = RecvBuffer::new(100);
    r.stage_summing(b"abcdef");
    r.keep_staged(0, 6);
    // An insert that starts before (overlap trimmed) copies instead.
    assert_eq!(r.insert(0, b"abc"), 3);
    r.stage_summing(b"zzzz");
    r.keep_staged(3, 4);
    assert_eq!(r.insert(1, b"bcdefg"), 4);
    let mut out = [0u8; 10];
    assert_eq!(r.read(&mut out), 7);
    assert_eq!(&out[..7], b"abcdefg");
}

#[test]
fn receive_buffer_trims_to_window() {
    let mut r = RecvBuffer::new(4);
    assert_eq!(r.insert(0, b"abcdef"), 4);
    assert_eq!(r.window(), 0);
    assert_eq!(r.insert(4, b"x"), 0);
    let mut out = [0u8; 2];
    r.read(&mut out);
    assert_eq!(r.insert(4, b"efgh"), 2);
}
