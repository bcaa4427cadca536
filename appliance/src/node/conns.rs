//! Bounded connection handling for the node's control socket ([`super::ctl`]) and
//! `/metrics` ([`super::metrics`]).
//!
//! Each accepted connection gets its own thread, but at most [`Limits::max_conns`] are
//! open at once. When a new connection arrives at the cap, the oldest connection that is
//! *idle* (waiting for a request, not being answered) is closed to make room, so idle
//! connections can never lock a new one out; only when every open connection is busy is
//! the new one refused, with an answer that says so. Every request must arrive whole
//! within [`Limits::read_deadline`] and fit in a bounded buffer ([`LineReader`]); writes
//! time out after [`Limits::write_timeout`].

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The bounds of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_conns: usize,
    /// The longest wait for one whole request (a ctl line, an HTTP head), idle time
    /// before it included.
    pub read_deadline: Duration,
    /// The longest a write of an answer may block.
    pub write_timeout: Duration,
    /// The longest request (a ctl line, an HTTP head), bytes.
    pub max_request: usize,
}

/// Counters of one server (shown on `/metrics`).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// New connections refused because every open one was busy.
    pub refused_busy: AtomicU64,
    /// Connections refused for the peer's credentials (control socket only).
    pub refused_peer: AtomicU64,
    /// Requests longer than [`Limits::max_request`].
    pub too_long: AtomicU64,
    /// Connections closed because a request did not arrive within
    /// [`Limits::read_deadline`].
    pub timed_out: AtomicU64,
}

impl ConnStats {
    /// `(reason, count)` of the connections closed or refused by the server.
    pub fn closed(&self) -> [(&'static str, u64); 5] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("evicted_idle", g(&self.evicted)),
            ("refused_busy", g(&self.refused_busy)),
            ("refused_peer", g(&self.refused_peer)),
            ("too_long", g(&self.too_long)),
            ("timed_out", g(&self.timed_out)),
        ]
    }
}

/// A stream the servers handle: a Unix or a TCP stream.
pub trait Conn: Read + Write + Send + 'static {
    /// See `set_read_timeout` of the std streams.
    fn read_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
    /// See `set_write_timeout` of the std streams.
    fn write_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
    /// A function that shuts the connection down from another thread.
    fn closer(&self) -> std::io::Result<Box<dyn Fn() + Send>>;
}

macro_rules! conn_impl {
    ($t:ty) => {
        impl Conn for $t {
            fn read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
                self.set_read_timeout(t)
            }
            fn write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
                self.set_write_timeout(t)
            }
            fn closer(&self) -> std::io::Result<Box<dyn Fn() + Send>> {
                let s = self.try_clone()?;
                Ok(Box::new(move || {
                    let _ = s.shutdown(Shutdown::Both);
                }))
            }
        }
    };
}
conn_impl!(UnixStream);
conn_impl!(TcpStream);

struct Entry {
    close: Box<dyn Fn() + Send>,
    busy: bool,
}

/// The stream an accept returned, or `None` after logging its error and pausing a little
/// (out of file descriptors, most likely: an accept loop must not spin on it).
pub fn accepted<S>(result: std::io::Result<S>, what: &str) -> Option<S> {
    match result {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "{what} accept");
            std::thread::sleep(Duration::from_millis(50));
            None
        }
    }
}

/// The open connections of one server, oldest first.
pub struct Registry {
    limits: Limits,
    stats: Arc<ConnStats>,
    conns: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

/// One admitted connection; dropping it unregisters the connection.
pub struct Ticket {
    registry: Arc<Registry>,
    id: u64,
}

impl Ticket {
    /// Marks the connection busy (being answered: not evicted) or idle.
    pub fn set_busy(&self, busy: bool) {
        if let Some(e) = self.registry.lock().1.get_mut(&self.id) {
            e.busy = busy;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.registry.lock().1.remove(&self.id).is_some() {
            self.registry.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Registry {
    /// A registry with `limits`, counting into `stats`.
    pub fn new(limits: Limits, stats: Arc<ConnStats>) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            stats,
            conns: Mutex::new((0, BTreeMap::new())),
        })
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The counters.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, Entry>)> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection, closing the oldest idle one if the server is full.
    /// `None` (counted) if every open connection is busy.
    fn admit(self: &Arc<Self>, close: Box<dyn Fn() + Send>) -> Option<Ticket> {
        let mut g = self.lock();
        if g.1.len() >= self.limits.max_conns {
            let oldest_idle = g.1.iter().find(|(_, e)| !e.busy).map(|(id, _)| *id);
            match oldest_idle.and_then(|id| g.1.remove(&id)) {
                Some(e) => {
                    (e.close)();
                    self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                    self.stats.open.fetch_sub(1, Ordering::Relaxed);
                }
                None => {
                    self.stats.refused_busy.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let id = g.0;
        g.0 += 1;
        g.1.insert(id, Entry { close, busy: false });
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Some(Ticket {
            registry: self.clone(),
            id,
        })
    }

    /// Admits `conn` and runs `handle` on a thread of its own; if the server is full of
    /// busy connections, `refuse` answers it instead (on the calling thread, with the
    /// write timeout set).
    pub fn dispatch<C: Conn>(
        self: &Arc<Self>,
        name: &str,
        conn: C,
        refuse: impl FnOnce(C),
        handle: impl FnOnce(C, Ticket) + Send + 'static,
    ) {
        let write = Some(self.limits.write_timeout);
        if conn.write_timeout(write).is_err() {
            return;
        }
        let Ok(close) = conn.closer() else { return };
        let Some(ticket) = self.admit(close) else {
            // A short write timeout: the accepting thread must not wait on this peer.
            let _ = conn.write_timeout(Some(Duration::from_millis(100)));
            refuse(conn);
            return;
        };
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .stack_size(256 * 1024)
            .spawn(move || handle(conn, ticket));
        if let Err(e) = spawned {
            // The closure (and with it the ticket) is dropped: the connection closes.
            tracing::warn!(error = %e, server = name, "cannot start a connection thread");
        }
    }
}

/// What [`LineReader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, without its `\n` (a `\r` before it is removed too).
    Line(Vec<u8>),
    /// The peer closed the connection (after its last whole line).
    Eof,
    /// No `\n` within the given number of bytes; nothing more is read.
    TooLong,
    /// The deadline passed first.
    TimedOut,
}

/// Reads `\n`-terminated lines from a connection, buffering at most a bounded number of
/// bytes, each before a deadline.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    /// The next line of at most `max` bytes (terminator excluded), read before
    /// `deadline`.
    pub fn next<C: Conn>(
        &mut self,
        conn: &mut C,
        max: usize,
        deadline: Instant,
    ) -> std::io::Result<Line> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                if pos > max {
                    return Ok(Line::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Line(line));
            }
            if self.buf.len() > max {
                return Ok(Line::TooLong);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Line::TimedOut);
            }
            conn.read_timeout(Some(left))?;
            // Never more than one byte past `max` is kept.
            let room = (max + 1 - self.buf.len()).min(chunk.len());
            match conn.read(&mut chunk[..room]) {
                Ok(0) if self.buf.is_empty() => return Ok(Line::Eof),
                Ok(0) => return Ok(Line::Line(std::mem::take(&mut self.buf))),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Line::TimedOut)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_conns: usize) -> Limits {
        Limits {
            max_conns,
            read_deadline: Duration::from_secs(5),
            write_timeout: Duration::from_secs(1),
            max_request: 64,
        }
    }

    #[test]
    fn a_full_server_evicts_its_oldest_idle_connection_and_refuses_when_all_are_busy() {
        let stats = Arc::new(ConnStats::default());
        let reg = Registry::new(limits(2), stats.clone());
        let closed = Arc::new(AtomicU64::new(0));
        let closer = |n: u64| -> Box<dyn Fn() + Send> {
            let c = closed.clone();
            Box::new(move || {
                c.fetch_add(n, Ordering::Relaxed);
            })
        };
        let a = reg.admit(closer(1)).unwrap();
        let b = reg.admit(closer(10)).unwrap();
        a.set_busy(true);
        // Full: b (idle) goes, a (busy, older) stays.
        let c = reg.admit(closer(100)).unwrap();
        assert_eq!(closed.load(Ordering::Relaxed), 10);
        c.set_busy(true);
        assert!(reg.admit(closer(1000)).is_none(), "every open one is busy");
        assert_eq!(stats.refused_busy.load(Ordering::Relaxed), 1);
        drop(b);
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
        drop(a);
        assert!(reg.admit(closer(1000)).is_some());
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn lines_are_bounded_and_split() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut r = LineReader::default();
        a.write_all(b"one\r\ntwo\nthree").unwrap();
        assert_eq!(
            r.next(&mut b, 8, deadline).unwrap(),
            Line::Line(b"one".to_vec())
        );
        assert_eq!(
            r.next(&mut b, 8, deadline).unwrap(),
            Line::Line(b"two".to_vec())
        );
        a.write_all(&[b'x'; 100]).unwrap();
        assert_eq!(r.next(&mut b, 8, deadline).unwrap(), Line::TooLong);
        let mut r = LineReader::default();
        let soon = Instant::now() + Duration::from_millis(50);
        let (_a, mut b) = UnixStream::pair().unwrap();
        assert_eq!(r.next(&mut b, 8, soon).unwrap(), Line::TimedOut);
    }
}
