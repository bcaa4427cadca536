//! The kernel's side of a benchmark: plain sockets, run in threads that entered a
//! benchmark namespace ([`super::netns::spawn_in`]).
//!
//! Every blocking call has a short timeout, so that each loop notices a [`Cancel`] (end
//! of the phase, or SIGINT) and its deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV6, TcpStream, UdpSocket};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{BenchError, Cancel, Deadline};

/// How long one blocking socket call may wait before the loop looks at its flags.
const TICK: Duration = Duration::from_millis(100);
/// Bytes per read or write call.
const CHUNK: usize = 256 * 1024;

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn check(cancel: &Cancel, deadline: Deadline, what: &str) -> Result<(), BenchError> {
    cancel.check()?;
    if cancel.is_set() {
        return Err(BenchError::Abandoned(what.to_string()));
    }
    deadline.check(what)
}

/// What a TCP receiver measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Received {
    /// Payload bytes read.
    pub bytes: u64,
    /// From the connection's acceptance to the peer's FIN (end of stream).
    pub elapsed: Duration,
}

/// Listens on `addr`, says so on `ready`, accepts one connection and reads it to the
/// end; the time runs from `accept` returning to end of stream.
pub fn tcp_sink(
    addr: SocketAddrV6,
    ready: Sender<()>,
    cancel: Cancel,
    deadline: Deadline,
) -> Result<Received, BenchError> {
    let what = "the kernel TCP receiver";
    let sock = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| BenchError::socket("socket()", e))?;
    sock.set_reuse_address(true)
        .map_err(|e| BenchError::socket("SO_REUSEADDR", e))?;
    sock.bind(&SocketAddr::V6(addr).into())
        .map_err(|e| BenchError::socket(format!("bind [{}]:{}", addr.ip(), addr.port()), e))?;
    sock.listen(4)
        .map_err(|e| BenchError::socket("listen", e))?;
    // On Linux SO_RCVTIMEO bounds accept() too.
    sock.set_read_timeout(Some(TICK))
        .map_err(|e| BenchError::socket("SO_RCVTIMEO", e))?;
    let _ = ready.send(());
    let conn = loop {
        match sock.accept() {
            Ok((c, _)) => break c,
            Err(e) if is_timeout(&e) => check(&cancel, deadline, what)?,
            Err(e) => return Err(BenchError::socket("accept", e)),
        }
    };
    let start = Instant::now();
    let mut stream: TcpStream = conn.into();
    stream
        .set_read_timeout(Some(TICK))
        .map_err(|e| BenchError::socket("SO_RCVTIMEO", e))?;
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                // Two atomic loads per read: ctrl-c ends even a transfer that never stalls.
                if cancel.is_set() {
                    check(&cancel, deadline, what)?;
                }
            }
            Err(e) if is_timeout(&e) => check(&cancel, deadline, what)?,
            Err(e) => return Err(BenchError::socket("read", e)),
        }
    }
    Ok(Received {
        bytes,
        elapsed: start.elapsed(),
    })
}

/// Connects to `dst`, writes `total` bytes, shuts its sending side down and waits for
/// the peer's FIN. Returns the bytes written.
pub fn tcp_source(
    dst: SocketAddrV6,
    total: u64,
    cancel: Cancel,
    deadline: Deadline,
) -> Result<u64, BenchError> {
    let what = "the kernel TCP sender";
    let mut stream = TcpStream::connect_timeout(&SocketAddr::V6(dst), Duration::from_secs(5))
        .map_err(|e| BenchError::socket(format!("connect to [{}]:{}", dst.ip(), dst.port()), e))?;
    stream
        .set_write_timeout(Some(TICK))
        .and_then(|()| stream.set_read_timeout(Some(TICK)))
        .map_err(|e| BenchError::socket("socket timeouts", e))?;
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(CHUNK as u64) as usize;
        match stream.write(&chunk[..n]) {
            Ok(0) => return Err(BenchError::socket("write", ErrorKind::WriteZero.into())),
            Ok(n) => {
                sent += n as u64;
                if cancel.is_set() {
                    check(&cancel, deadline, what)?;
                }
            }
            Err(e) if is_timeout(&e) => check(&cancel, deadline, what)?,
            Err(e) => return Err(BenchError::socket("write", e)),
        }
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| BenchError::socket("shutdown", e))?;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => check(&cancel, deadline, what)?,
            Err(e) => return Err(BenchError::socket("read", e)),
        }
    }
    Ok(sent)
}

/// Datagrams counted by a UDP socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Datagrams {
    /// Datagrams.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Send calls the kernel refused (`ENOBUFS`, `EAGAIN`), for a sender.
    pub refused: u64,
}

/// Binds a UDP socket to `addr`, says so on `ready`, and counts what it receives until
/// `cancel` is set.
pub fn udp_count(
    addr: SocketAddrV6,
    ready: Sender<()>,
    cancel: Cancel,
) -> Result<Datagrams, BenchError> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| BenchError::socket("socket()", e))?;
    // As large as net.core.rmem_max allows: fewer drops while this thread is descheduled.
    let _ = sock.set_recv_buffer_size(8 << 20);
    sock.bind(&SocketAddr::V6(addr).into())
        .map_err(|e| BenchError::socket(format!("bind [{}]:{}", addr.ip(), addr.port()), e))?;
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(TICK))
        .map_err(|e| BenchError::socket("SO_RCVTIMEO", e))?;
    let _ = ready.send(());
    let mut buf = vec![0u8; 65536];
    let mut got = Datagrams::default();
    while !cancel.is_set() {
        match sock.recv(&mut buf) {
            Ok(n) => {
                got.packets += 1;
                got.bytes += n as u64;
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(BenchError::socket("recv", e)),
        }
    }
    Ok(got)
}

/// Sends UDP datagrams of `payload` bytes from `src` to `dst` as fast as the socket
/// takes them, until `cancel` is set.
pub fn udp_flood(
    src: SocketAddrV6,
    dst: SocketAddrV6,
    payload: usize,
    cancel: Cancel,
) -> Result<Datagrams, BenchError> {
    let sock = UdpSocket::bind(SocketAddr::V6(src))
        .map_err(|e| BenchError::socket(format!("bind [{}]", src.ip()), e))?;
    sock.connect(SocketAddr::V6(dst))
        .map_err(|e| BenchError::socket(format!("connect to [{}]", dst.ip()), e))?;
    sock.set_write_timeout(Some(TICK))
        .map_err(|e| BenchError::socket("SO_SNDTIMEO", e))?;
    let data = vec![0x5au8; payload];
    let mut sent = Datagrams::default();
    let mut round = 0u32;
    loop {
        // The flag is an atomic load: look at it every 64 sends.
        round = round.wrapping_add(1);
        if round & 63 == 0 && cancel.is_set() {
            break;
        }
        match sock.send(&data) {
            Ok(n) => {
                sent.packets += 1;
                sent.bytes += n as u64;
            }
            Err(e) if is_timeout(&e) || e.raw_os_error() == Some(105) => sent.refused += 1,
            Err(e) => return Err(BenchError::socket("send", e)),
        }
    }
    Ok(sent)
}
