//! The Internet checksum (RFC 1071), summed in vector-friendly lanes (RFC 1071 §2(B):
//! the sum is independent of byte order and can be accumulated in wider words, then
//! folded).
//! It is the hottest loop on the data path: every segment is summed once on the way out
//! and once on the way in.

use core::net::Ipv6Addr;

/// The one's-complement sum of `data` (not complemented), as a big-endian 16-bit value,
/// continuing from `initial` (another such sum).
#[inline]
pub fn sum(initial: u16, data: &[u8]) -> u16 {
    if data.len() < 64 {
        sum_short(initial, data)
    } else {
        sum_long(initial, data)
    }
}

/// [`sum`] of a header-sized `data`: big-endian 32-bit words added up in 64 bits (a
/// 32-bit word is its two 16-bit halves, modulo 0xffff), without the set-up of the
/// vector loop.
#[inline]
fn sum_short(initial: u16, data: &[u8]) -> u16 {
    let mut total = u64::from(initial);
    let (words, rest) = data.as_chunks::<4>();
    for w in words {
        total += u64::from(u32::from_be_bytes(*w));
    }
    let (pairs, odd) = rest.as_chunks::<2>();
    for p in pairs {
        total += u64::from(u16::from_be_bytes(*p));
    }
    if let Some(&b) = odd.first() {
        total += u64::from(u16::from_be_bytes([b, 0]));
    }
    fold(total)
}

/// Folds a sum of big-endian words to 16 bits with end-around carry.
#[inline]
fn fold(mut total: u64) -> u16 {
    total = (total & 0xffff_ffff) + (total >> 32);
    total = (total & 0xffff_ffff) + (total >> 32);
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    total as u16
}

fn sum_long(initial: u16, data: &[u8]) -> u16 {
    // Eight 32-bit lanes of 16-bit words, 16 bytes a step: a shape the compiler turns into
    // SSE2 vector adds on any x86-64 (and NEON elsewhere). A lane gains less than 2^16
    // per step, so it is flushed every 32768 steps (RFC 1071 §2(B): the sum may be taken
    // in any order and width, then folded).
    let mut total: u64 = u64::from(initial.to_be());
    let (chunks, rest) = data.as_chunks::<16>();
    for run in chunks.chunks(32768) {
        let mut lanes = [0u32; 8];
        for c in run {
            let (words, _) = c.as_chunks::<2>();
            for (lane, w) in lanes.iter_mut().zip(words) {
                *lane += u32::from(u16::from_ne_bytes(*w));
            }
        }
        total += lanes.iter().map(|&l| u64::from(l)).sum::<u64>();
    }
    let (pairs, odd) = rest.as_chunks::<2>();
    for p in pairs {
        total += u64::from(u16::from_ne_bytes(*p));
    }
    if let Some(&b) = odd.first() {
        total += u64::from(u16::from_ne_bytes([b, 0]));
    }
    // Native-order words: fold, then read back as big-endian (RFC 1071 §2(B)).
    u16::from_be(fold(total))
}

/// One's-complement addition of two sums from [`sum`].
pub fn add(a: u16, b: u16) -> u16 {
    let t = u32::from(a) + u32::from(b);
    ((t & 0xffff) + (t >> 16)) as u16
}

/// Copies `src` into `dst` (same length) and returns `sum(0, src)`, in one pass over the
/// data: the data path sums a segment's payload while it copies it (out of the send
/// buffer, into the receive buffer) instead of reading it twice.
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut total: u64 = 0;
    let (dchunks, drest) = dst.as_chunks_mut::<32>();
    let (schunks, srest) = src.as_chunks::<32>();
    // As in `sum_long`, with sixteen lanes, 32 bytes a step (flushed every 32768 steps).
    // Each step is read once into a local: summing from `src` after the store to `dst`
    // would load it again (the compiler cannot rule out that they overlap).
    for (druns, sruns) in dchunks.chunks_mut(32768).zip(schunks.chunks(32768)) {
        let mut lanes = [0u32; 16];
        for (d, s) in druns.iter_mut().zip(sruns) {
            let chunk: [u8; 32] = *s;
            *d = chunk;
            let (words, _) = chunk.as_chunks::<2>();
            for (lane, w) in lanes.iter_mut().zip(words) {
                *lane += u32::from(u16::from_ne_bytes(*w));
            }
        }
        total += lanes.iter().map(|&l| u64::from(l)).sum::<u64>();
    }
    drest.copy_from_slice(srest);
    let rest = sum(0, srest);
    total += u64::from(rest.to_be());
    u16::from_be(fold(total))
}

/// The IPv6 pseudo-header sum (RFC 8200 §8.1).
#[inline]
pub fn pseudo_header(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u16 {
    pseudo_header_bits(src.to_bits(), dst.to_bits(), next_header, length)
}

/// [`pseudo_header`] of addresses given as integers ([`Ipv6Addr::to_bits`]).
#[inline]
pub(crate) fn pseudo_header_bits(src: u128, dst: u128, next_header: u8, length: u32) -> u16 {
    // Each address as four big-endian 32-bit words (see `sum_short`).
    let words = |v: u128| {
        (0..4)
            .map(|i| u64::from((v >> (32 * i)) as u32))
            .sum::<u64>()
    };
    fold(words(src) + words(dst) + u64::from(length) + u64::from(next_header))
}

/// The checksum of an upper-layer message whose checksum field (2 bytes at
/// `checksum_at`) is taken as zero, over the IPv6 pseudo-header.
pub fn upper_layer(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    data: &[u8],
    checksum_at: usize,
) -> u16 {
    let s = pseudo_header(src, dst, next_header, data.len() as u32);
    let s = sum(s, &data[..checksum_at]);
    !sum(s, &data[checksum_at + 2..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{checksum as smol, IpProtocol};

    #[test]
    fn agrees_with_smoltcp_for_every_length_and_offset() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                let d = &data[start..end];
                assert_eq!(sum(0, d), smol::data(d), "{start}..{end}");
            }
        }
    }

    #[test]
    fn pseudo_header_agrees_with_smoltcp() {
        let a: Ipv6Addr = "fd00::1".parse().unwrap();
        let b: Ipv6Addr = "fd00:ffff::ffff:2".parse().unwrap();
        for len in [0u32, 20, 1480, 65535] {
            assert_eq!(
                pseudo_header(&a, &b, 6, len),
                smol::pseudo_header_v6(&a, &b, IpProtocol::Tcp, len)
            );
        }
    }

    #[test]
    fn copy_and_sum_copies_and_sums_like_sum() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 253) as u8).collect();
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 999, 1000] {
            let mut out = vec![0u8; len];
            let s = copy_and_sum(&mut out, &data[..len]);
            assert_eq!(out, &data[..len]);
            assert_eq!(s, sum(0, &data[..len]), "len {len}");
        }
    }

    #[test]
    fn sums_of_parts_add_up_with_a_swap_after_an_odd_part() {
        let data: Vec<u8> = (0..301u32).map(|i| (i * 7 % 251) as u8).collect();
        for cut in [0usize, 1, 2, 7, 150, 300] {
            let (a, b) = data.split_at(cut);
            let sb = if cut % 2 == 1 {
                sum(0, b).swap_bytes()
            } else {
                sum(0, b)
            };
            assert_eq!(add(sum(0, a), sb), sum(0, &data), "cut {cut}");
        }
    }

    #[test]
    fn long_all_ones_data_sums_correctly_in_every_lane_width() {
        let ones = vec![0xffu8; 1 << 21];
        let mut out = vec![0u8; ones.len()];
        assert_eq!(sum(0, &ones), 0xffff);
        assert_eq!(copy_and_sum(&mut out, &ones), 0xffff);
        let data: Vec<u8> = (0..ones.len()).map(|i| (i * 7919 % 251) as u8).collect();
        let halves = add(sum(0, &data[..1 << 20]), sum(0, &data[1 << 20..]));
        assert_eq!(copy_and_sum(&mut out, &data), halves);
        assert_eq!(sum(0, &data), halves);
    }

    #[test]
    fn all_ones_data_folds_correctly() {
        assert_eq!(sum(0, &[0xff; 4096]), 0xffff);
        assert_eq!(sum(0xffff, &[0xff, 0xff]), 0xffff);
        assert_eq!(sum(0, &[]), 0);
    }
}
