//! Raw packet rate of a [`PacketIo`] backend, without any TCP.
//!
//! - [`transmit`]: vany writes one prepared IPv6/UDP packet over and over, in bursts of
//!   `batch` ([`PacketIo::tx_burst`]). Counted: packets the backend accepted (for TUN:
//!   `write(2)` calls that succeeded) and their bytes, whole IPv6 packets.
//! - [`receive`]: someone else sends UDP datagrams towards vany; vany reads them in
//!   bursts of `batch` ([`PacketIo::rx_burst`]). Counted: IPv6/UDP packets to the given
//!   port read from the backend, and their bytes, whole IPv6 packets. The clock starts at
//!   the first such packet.
//!
//! Bytes are IPv6 packets from the first byte of the IPv6 header (a TUN device has no
//! link-layer header); Gbit/s is those bytes times 8 per second.

use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use vany_stack::wire::checksum;

use super::{BenchError, Cancel};
use crate::io::{Batch, PacketIo, IPV6_HEADER_LEN};

/// IP protocol number of UDP.
pub const UDP_PROTOCOL: u8 = 17;
/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// The smallest packet [`udp_packet`] builds: IPv6 and UDP headers, no payload.
pub const MIN_PACKET: usize = IPV6_HEADER_LEN + UDP_HEADER_LEN;

/// What a raw phase counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawCount {
    /// Packets written (accepted by the backend) or read.
    pub packets: u64,
    /// Their bytes, whole IPv6 packets.
    pub bytes: u64,
    /// Packets the backend refused for lack of room (transmit only).
    pub dropped: u64,
    /// How long the counting ran.
    pub elapsed: Duration,
}

impl RawCount {
    /// Packets per second.
    pub fn pps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets as f64 / s
        } else {
            0.0
        }
    }

    /// Gbit/s of whole IPv6 packets.
    pub fn gbit_per_s(&self) -> f64 {
        super::gbit_per_s(self.bytes, self.elapsed.as_secs_f64())
    }
}

/// An IPv6/UDP packet of exactly `size` bytes (at least [`MIN_PACKET`]) from `src` to
/// `dst`, with a valid UDP checksum (the receiving kernel verifies it).
pub fn udp_packet(src: SocketAddrV6, dst: SocketAddrV6, size: usize) -> Vec<u8> {
    let size = size.clamp(MIN_PACKET, usize::from(u16::MAX));
    let mut p = vec![0u8; size];
    let udp_len = size - IPV6_HEADER_LEN;
    crate::io::Ipv6Header {
        src: *src.ip(),
        dst: *dst.ip(),
        next_header: UDP_PROTOCOL,
        hop_limit: 64,
        payload_len: udp_len,
    }
    .emit(&mut p[..IPV6_HEADER_LEN]);
    let udp = &mut p[IPV6_HEADER_LEN..];
    udp[0..2].copy_from_slice(&src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    for (i, b) in udp[UDP_HEADER_LEN..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let sum = checksum::upper_layer(src.ip(), dst.ip(), UDP_PROTOCOL, udp, 6);
    // RFC 8200 §8.1: a computed UDP checksum of zero is sent as 0xffff.
    let sum = if sum == 0 { 0xffff } else { sum };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Whether `p` is an IPv6/UDP packet (no extension headers) to port `port`.
pub fn is_udp_to(p: &[u8], port: u16) -> bool {
    p.len() >= MIN_PACKET
        && p[0] >> 4 == 6
        && p[6] == UDP_PROTOCOL
        && p[IPV6_HEADER_LEN + 2..IPV6_HEADER_LEN + 4] == port.to_be_bytes()
}

/// Writes `packet` into `io` in bursts of `batch` for `duration` (see the module doc).
pub fn transmit<I: PacketIo + ?Sized>(
    io: &mut I,
    packet: &[u8],
    batch: usize,
    duration: Duration,
    cancel: &Cancel,
) -> Result<RawCount, BenchError> {
    let burst = vec![packet.to_vec(); batch.max(1)];
    let mut count = RawCount::default();
    let start = Instant::now();
    loop {
        let r = io.tx_burst(&burst)?;
        count.packets += r.sent as u64;
        count.bytes += r.bytes as u64;
        count.dropped += r.dropped as u64;
        count.elapsed = start.elapsed();
        if count.elapsed >= duration {
            break;
        }
        cancel.check()?;
    }
    Ok(count)
}

/// Reads UDP packets to `port` from `io` in bursts of `batch` for `duration` after the
/// first one (see the module doc). Fails if none arrives within `first_within`.
pub fn receive<I: PacketIo + ?Sized>(
    io: &mut I,
    port: u16,
    batch: usize,
    duration: Duration,
    first_within: Duration,
    cancel: &Cancel,
) -> Result<RawCount, BenchError> {
    let mut b = Batch::with_capacity(batch);
    let mut count = RawCount::default();
    let asked = Instant::now();
    let mut start = None;
    loop {
        let n = io.rx_burst(&mut b)?;
        let now = Instant::now();
        for p in b.iter().filter(|p| is_udp_to(p, port)) {
            if start.is_none() {
                // The first packet starts the clock and is not counted.
                start = Some(now);
                continue;
            }
            count.packets += 1;
            count.bytes += p.len() as u64;
        }
        match start {
            Some(s) => {
                count.elapsed = now - s;
                if count.elapsed >= duration {
                    break;
                }
            }
            None if now - asked > first_within => {
                return Err(BenchError::Timeout {
                    what: "the first UDP packet from the kernel".into(),
                    limit: first_within,
                })
            }
            None => {}
        }
        cancel.check()?;
        if n < b.capacity() {
            io.wait(Duration::from_millis(10))?;
        }
    }
    Ok(count)
}

/// Reads and discards whatever `io` holds now. Returns the number of packets.
pub fn drain<I: PacketIo + ?Sized>(io: &mut I) -> Result<u64, BenchError> {
    let mut buf = vec![0u8; crate::io::MAX_PACKET];
    let mut n = 0;
    while io.recv(&mut buf)?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packet_parses_and_verifies() {
        let src: SocketAddrV6 = "[fd00:6b::2]:9000".parse().unwrap();
        let dst: SocketAddrV6 = "[fd00:6b::1]:9001".parse().unwrap();
        for size in [MIN_PACKET, 64, 1500, 9000] {
            let p = udp_packet(src, dst, size);
            assert_eq!(p.len(), size);
            let parsed = vany_stack::wire::parse_verified(&p).expect("valid packet");
            assert_eq!((parsed.repr.src, parsed.repr.dst), (*src.ip(), *dst.ip()));
            assert!(is_udp_to(&p, 9001) && !is_udp_to(&p, 9000));
        }
    }
}
