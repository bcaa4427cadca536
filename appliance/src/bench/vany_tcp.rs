//! A bulk transfer through vany's TCP engine ([`Endpoint`] driven by a [`Pump`]) over a
//! [`PacketIo`] backend, against a peer that runs elsewhere (the kernel, in a thread).
//!
//! The loop is the appliance's poll loop: receive a burst, run due timers, let the
//! application read and write, transmit a burst, and sleep in the backend's wait only
//! when nothing moved. The peer's thread tells when it is done through `peer_done`.
//! vany's application writes its bytes in place (`Connection::send_with`) and reads them
//! in place (`recv_with`), as the stream source and the HTTP bodies do.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant as StdInstant};

use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Connection, Endpoint, Event, FourTuple, TcpConfig};
use vany_stack::time::Instant;

use super::{BenchError, Cancel, Deadline};
use crate::io::{Clock, PacketIo, Pump, PumpStats};

/// How long the receiver keeps the connection going after the end of stream, for the
/// peer to see its FIN answered.
const LINGER: Duration = Duration::from_secs(5);
/// Bytes written into the send buffer at a time.
const CHUNK: usize = 64 * 1024;

/// How vany's side is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// vany's address on the backend.
    pub local: Ipv6Addr,
    /// The TCP configuration.
    pub config: TcpConfig,
    /// Packets per receive and transmit burst of the pump.
    pub batch: usize,
    /// Seed of the endpoint's secrets and initial sequence numbers.
    pub seed: u64,
}

/// What vany's side saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VanyTcp {
    /// Payload bytes sent (sender) or received (receiver).
    pub bytes: u64,
    /// Sender: from the handshake's completion to the peer being done; receiver: from
    /// the connection's acceptance to end of stream.
    pub elapsed: Duration,
    /// The pump's counters (packets through the backend).
    pub pump: PumpStats,
}

struct Driver {
    endpoint: Endpoint,
    clock: Clock,
    pump: Pump,
}

impl Driver {
    fn new(setup: &Setup) -> Driver {
        let mut pump = Pump::new();
        pump.rx_burst = setup.batch.max(1);
        pump.tx_burst = setup.batch.max(1);
        Driver {
            endpoint: Endpoint::new(setup.config.clone(), &mut SeededRandom::new(setup.seed)),
            clock: Clock::new(Instant::from_secs(1000)),
            pump,
        }
    }

    /// Runs the poll loop, calling `step` between receive and transmit, until `step`
    /// says it is done (second value; the first says whether anything moved).
    fn run<I, F>(
        &mut self,
        io: &mut I,
        cancel: &Cancel,
        deadline: Deadline,
        what: &str,
        mut step: F,
    ) -> Result<(), BenchError>
    where
        I: PacketIo + ?Sized,
        F: FnMut(&mut Endpoint) -> Result<(bool, bool), BenchError>,
    {
        loop {
            cancel.check()?;
            deadline.check(what)?;
            let now = self.clock.now();
            let rx = self.pump.receive(io, &mut self.endpoint, now)?;
            let timers = self.pump.handle_timers(&mut self.endpoint, now);
            let (progress, done) = step(&mut self.endpoint)?;
            let now = self.clock.now();
            let tx = self.pump.transmit(io, &mut self.endpoint, now)?;
            if done {
                return Ok(());
            }
            if rx == 0 && tx == 0 && !timers && !progress {
                self.pump.wait(io, &self.endpoint, now)?;
            }
        }
    }
}

/// Fails on a reset or a time-out of `conn`.
fn check_events(conn: &mut Connection) -> Result<(), BenchError> {
    while let Some(ev) = conn.poll_event() {
        match ev {
            Event::Reset => return Err(BenchError::Tcp(format!("{} was reset", conn.tuple()))),
            Event::TimedOut => return Err(BenchError::Tcp(format!("{} timed out", conn.tuple()))),
            _ => {}
        }
    }
    Ok(())
}

/// vany connects from `local_port` to `remote`, sends `total` bytes and closes; the loop
/// runs until `peer_done()` (the receiver has read everything).
#[allow(clippy::too_many_arguments)]
pub fn send<I: PacketIo + ?Sized>(
    io: &mut I,
    setup: &Setup,
    local_port: u16,
    remote: SocketAddrV6,
    total: u64,
    peer_done: &dyn Fn() -> bool,
    cancel: &Cancel,
    deadline: Deadline,
) -> Result<VanyTcp, BenchError> {
    let mut d = Driver::new(setup);
    let tuple = FourTuple {
        local: setup.local,
        local_port,
        remote: *remote.ip(),
        remote_port: remote.port(),
    };
    d.endpoint
        .connect(d.clock.now(), tuple)
        .map_err(|e| BenchError::Tcp(e.to_string()))?;
    let (mut sent, mut closed, mut start) = (0u64, false, None);
    d.run(io, cancel, deadline, "vany's TCP send", |ep| {
        let conn = ep
            .connection_mut(&tuple)
            .ok_or_else(|| BenchError::Tcp(format!("{tuple} vanished")))?;
        check_events(conn)?;
        if start.is_none() && conn.state().is_synchronized() {
            start = Some(StdInstant::now());
        }
        let mut progress = false;
        while sent < total {
            let want = (total - sent).min(CHUNK as u64) as usize;
            // Generated in place, straight into the send buffer (no copy of our own).
            let n = conn
                .send_with(want, |piece| {
                    piece.fill(0x5a);
                    piece.len()
                })
                .map_err(|e| BenchError::Tcp(format!("send: {e}")))?;
            if n == 0 {
                break;
            }
            sent += n as u64;
            progress = true;
        }
        if sent == total && !closed {
            conn.close();
            closed = true;
            progress = true;
        }
        Ok((progress, closed && peer_done()))
    })?;
    Ok(VanyTcp {
        bytes: sent,
        elapsed: start.map_or(Duration::ZERO, |s| s.elapsed()),
        pump: d.pump.stats(),
    })
}

/// vany listens on `port`, accepts one connection and reads it to the end, then closes
/// and lingers until `peer_done()` (the sender saw the FIN) or [`LINGER`].
pub fn receive<I: PacketIo + ?Sized>(
    io: &mut I,
    setup: &Setup,
    port: u16,
    peer_done: &dyn Fn() -> bool,
    cancel: &Cancel,
    deadline: Deadline,
) -> Result<VanyTcp, BenchError> {
    let mut d = Driver::new(setup);
    d.endpoint.listen(port);
    let (mut tuple, mut received) = (None::<FourTuple>, 0u64);
    let (mut start, mut end) = (None::<StdInstant>, None::<StdInstant>);
    d.run(io, cancel, deadline, "vany's TCP receive", |ep| {
        if tuple.is_none() {
            tuple = ep.accept();
            if tuple.is_some() {
                start = Some(StdInstant::now());
            }
        }
        let Some(t) = tuple else {
            return Ok((false, peer_done()));
        };
        let mut progress = false;
        match ep.connection_mut(&t) {
            Some(conn) => {
                check_events(conn)?;
                loop {
                    // Consumed where it lies (a discard sink, as the kernel side's read
                    // into one reused buffer).
                    let n = conn
                        .recv_with(|piece| piece.len())
                        .map_err(|e| BenchError::Tcp(format!("recv: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    received += n as u64;
                    progress = true;
                }
                if end.is_none() && conn.is_read_closed() {
                    end = Some(StdInstant::now());
                    conn.close();
                    progress = true;
                }
            }
            // Closed and removed: nothing left to do.
            None if end.is_some() => return Ok((false, true)),
            None => return Err(BenchError::Tcp(format!("{t} vanished"))),
        }
        let done = end.is_some_and(|e| peer_done() || e.elapsed() > LINGER);
        Ok((progress, done))
    })?;
    let elapsed = match (start, end) {
        (Some(s), Some(e)) => e - s,
        _ => Duration::ZERO,
    };
    if end.is_none() {
        return Err(BenchError::Tcp(
            "the kernel sender finished before vany saw the end of its stream".into(),
        ));
    }
    Ok(VanyTcp {
        bytes: received,
        elapsed,
        pump: d.pump.stats(),
    })
}
