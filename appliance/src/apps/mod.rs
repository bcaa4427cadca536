//! Applications hosted on the stack. An application's per-connection state is plain data
//! (serde), because it travels with the connection in a client-session snapshot when the
//! group hands the client off (docs/handoff.md).
//!
//! A host drives an [`App`] over a `&mut` [`Connection`]: after segments for the
//! connection were processed ([`App::on_readable`] / [`App::on_writable`], or simply
//! [`App::poll`]), and when [`App::poll_at`] is due. Apps never read a clock: `now` comes
//! in as an argument, as everywhere in the stack.
//!
//! Apps: [`source`] (a deterministic, verifiable byte stream), [`echo`] and [`http`]
//! (HTTP/1.1 static responses with keep-alive). Each is one variant of [`AppState`]; a
//! host picks one per listening port with [`AppKind`], and gives every app the same
//! [`AppTimeouts`]: no app waits for a client forever (docs/apps.md).

pub mod echo;
pub mod files;
pub mod http;
mod http_files;
mod http_parse;
pub mod proxy;
pub mod source;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vany_stack::tcp::{Connection, State};
use vany_stack::time::{Duration, Instant};

pub use echo::EchoApp;
pub use files::{FilesConfig, FilesSite, FilesStats};
pub use http::HttpApp;
pub use proxy::backend::{ProxySite, ProxyStats};
pub use proxy::{ProxyApp, ProxyConfig};
pub use source::{SourceApp, SourceRequest, StreamVerifier};

/// Which app a listening port hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// [`SourceApp`]: the stream the client asks for in its first 24 bytes.
    Source,
    /// [`EchoApp`].
    Echo,
    /// [`HttpApp`].
    Http,
    /// [`HttpApp`] serving a directory: the member's [`AppEnv`] holds the directory of
    /// each port (`apps = { 80 = { kind = "files", root = "/srv/www" } }`).
    Files,
    /// [`ProxyApp`]: a reverse proxy to a backend on the member's host, whose
    /// connections the member's [`AppEnv`] holds.
    Proxy,
}

impl AppKind {
    /// The state of a new connection to this app, with the default [`AppTimeouts`].
    pub fn start(self) -> AppState {
        self.start_with(AppTimeouts::default())
    }

    /// The state of a new connection to this app.
    pub fn start_with(self, timeouts: AppTimeouts) -> AppState {
        match self {
            AppKind::Source => AppState::Source(SourceApp::requested().with_timeouts(timeouts)),
            AppKind::Echo => AppState::Echo(EchoApp::with_timeouts(timeouts)),
            AppKind::Http => AppState::Http(HttpApp::with_timeouts(timeouts)),
            AppKind::Files => AppState::Files(HttpApp::with_timeouts(timeouts)),
            AppKind::Proxy => AppState::Proxy(ProxyApp::with_timeouts(timeouts)),
        }
    }
}

/// What a host starts on a new connection to a port: the app and its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppSpec {
    /// The app.
    pub kind: AppKind,
    /// Its timeouts.
    pub timeouts: AppTimeouts,
}

impl AppSpec {
    /// The state of a new connection.
    pub fn start(self) -> AppState {
        self.kind.start_with(self.timeouts)
    }
}

/// How long apps wait for their clients (node.toml `app_header_timeout_ms` and
/// `app_idle_timeout_ms`). A connection that waits longer is closed, so that clients
/// that open connections and send nothing (or a byte now and then) cannot hold state
/// here, and carry it in every handoff, forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppTimeouts {
    /// A request (an HTTP request head, a `source` request) must arrive whole within
    /// this long after the connection opened or after its first byte; else an HTTP
    /// client that sent part of a head gets `408 Request Timeout`, and the connection is
    /// closed.
    pub header: Duration,
    /// A connection with nothing under way (HTTP keep-alive between requests, echo with
    /// nothing to echo) is closed after this long. It is also how long a client has to
    /// close its side once the app closed its own and the client acknowledged that
    /// (FIN-WAIT-2, as Linux's `tcp_fin_timeout`); then the connection is reset.
    pub idle: Duration,
}

impl Default for AppTimeouts {
    /// 10 s to send a request head (as browsers and curl do at once), 60 s idle.
    fn default() -> AppTimeouts {
        AppTimeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// Moves `at` from a clock reading `old` to one reading `new`.
fn rebase(at: Instant, old: Instant, new: Instant) -> Instant {
    let delta = at.total_micros().saturating_sub(old.total_micros());
    Instant::from_micros(new.total_micros().saturating_add(delta))
}

/// After an app closed its side: since when the client has acknowledged our FIN without
/// closing its own (FIN-WAIT-2). Past [`AppTimeouts::idle`] the connection is reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Linger {
    since: Option<Instant>,
}

impl Linger {
    /// Notes FIN-WAIT-2 and resets the connection once it lasted `limit`.
    fn poll(&mut self, now: Instant, conn: &mut Connection, limit: Duration) {
        if conn.state() != State::FinWait2 {
            return;
        }
        let since = *self.since.get_or_insert(now);
        if now >= since + limit {
            conn.abort();
        }
    }

    /// When [`Linger::poll`] resets the connection, if it is in FIN-WAIT-2.
    fn deadline(&self, limit: Duration) -> Option<Instant> {
        self.since.map(|s| s + limit)
    }

    fn rebase_clock(&mut self, old: Instant, new: Instant) {
        self.since = self.since.map(|t| rebase(t, old, new));
    }
}

impl std::str::FromStr for AppKind {
    type Err = String;
    fn from_str(s: &str) -> Result<AppKind, String> {
        match s {
            "source" => Ok(AppKind::Source),
            "echo" => Ok(AppKind::Echo),
            "http" => Ok(AppKind::Http),
            "files" => Err(
                "the files app needs its directory: { kind = \"files\", root = \"/srv/www\" }"
                    .to_string(),
            ),
            "proxy" => Err(
                "the proxy app needs its backend: { kind = \"proxy\", backend = \"[::1]:8080\" }"
                    .to_string(),
            ),
            other => Err(format!(
                "unknown app '{other}' (expected source, echo, http, files or proxy)"
            )),
        }
    }
}

/// Per-connection application state, driven by the host that owns the connection.
///
/// The state must be plain serializable data: no buffers that cannot be rebuilt, no
/// handles, no clocks. Hosts that hold several kinds of apps use [`AppState`].
pub trait App: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// New in-order data may be readable on `conn`.
    fn on_readable(&mut self, now: Instant, conn: &mut Connection) {
        self.poll(now, conn);
    }

    /// Send-buffer space may have been freed on `conn`.
    fn on_writable(&mut self, now: Instant, conn: &mut Connection) {
        self.poll(now, conn);
    }

    /// Does whatever can be done now: reads what is readable, writes what fits, closes
    /// when done. Calling it with nothing to do is harmless.
    fn poll(&mut self, now: Instant, conn: &mut Connection);

    /// When [`poll`](App::poll) next has work that no connection event will announce
    /// (e.g. rate pacing), if ever.
    fn poll_at(&self) -> Option<Instant>;

    /// Whether the app is done with the connection (it closed its side, or the
    /// connection failed).
    fn is_finished(&self) -> bool;

    /// Moves every stored time from a clock reading `old` to one reading `new` (after a
    /// handoff to a node with another epoch, as `TcpSnapshot::restore` does for the
    /// connection).
    fn rebase_clock(&mut self, old: Instant, new: Instant) {
        let _ = (old, new);
    }
}

/// Any app, as one serializable value: what a host stores per connection and what goes
/// into a session snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AppState {
    /// A [`SourceApp`] stream.
    Source(SourceApp),
    /// An [`EchoApp`] connection.
    Echo(EchoApp),
    /// An [`HttpApp`] connection.
    Http(HttpApp),
    /// An [`HttpApp`] connection serving a directory ([`AppKind::Files`]).
    Files(HttpApp),
    /// A [`ProxyApp`] connection.
    Proxy(ProxyApp),
}

/// Calls `$method` on whichever app `$state` holds.
macro_rules! each_app {
    ($state:expr, $a:ident => $call:expr) => {
        match $state {
            AppState::Source($a) => $call,
            AppState::Echo($a) => $call,
            AppState::Http($a) => $call,
            AppState::Files($a) => $call,
            AppState::Proxy($a) => $call,
        }
    };
}

impl AppState {
    /// Does whatever can be done now ([`App::poll`]); a `files` app finds its directory
    /// in `env` by the connection's local port.
    pub fn poll(&mut self, now: Instant, conn: &mut Connection, env: &mut AppEnv) {
        match self {
            AppState::Files(a) => {
                let site = env.files.get_mut(&conn.tuple().local_port);
                a.poll_with(now, conn, &mut http::Router::Files(site));
            }
            AppState::Proxy(a) => {
                let site = env.proxies.get_mut(&conn.tuple().local_port);
                a.poll_with(now, conn, site);
            }
            AppState::Source(a) => a.poll(now, conn),
            AppState::Echo(a) => a.poll(now, conn),
            AppState::Http(a) => a.poll(now, conn),
        }
    }

    /// [`App::poll_at`].
    pub fn poll_at(&self) -> Option<Instant> {
        each_app!(self, a => a.poll_at())
    }

    /// [`App::is_finished`].
    pub fn is_finished(&self) -> bool {
        each_app!(self, a => a.is_finished())
    }

    /// [`App::rebase_clock`].
    pub fn rebase_clock(&mut self, old: Instant, new: Instant) {
        each_app!(self, a => a.rebase_clock(old, new))
    }

    /// Whether another member can take the connection over now (a proxied response
    /// that cannot be resumed keeps it here until it is complete).
    pub fn movable(&self) -> bool {
        match self {
            AppState::Proxy(a) => a.movable(),
            _ => true,
        }
    }

    /// Whether this member can go on with the app on `port` after a handoff: a `files`
    /// app needs a directory served on the port here, holding the very file a response
    /// in flight is reading (same content hash); a `proxy` app needs a proxy on the port
    /// here. The reason otherwise.
    pub fn check_restore(&self, port: u16, env: &mut AppEnv) -> Result<(), String> {
        if let AppState::Proxy(_) = self {
            return match env.proxies.contains_key(&port) {
                true => Ok(()),
                false => Err(format!("no proxy app on port {port} here")),
            };
        }
        let AppState::Files(a) = self else {
            return Ok(());
        };
        let Some(site) = env.files.get_mut(&port) else {
            return Err(format!("no files app on port {port} here"));
        };
        match a.file_in_flight() {
            Some(file) => site
                .check(file)
                .map(|_| ())
                .map_err(|e| format!("cannot go on with /{}: {e}", file.path)),
            None => Ok(()),
        }
    }
}

/// What the apps of one member reach beyond their connection: the directory of each
/// port that hosts a `files` app, and the backend connections of each `proxy` app. Not
/// part of any snapshot: each member has its own copy of the directory (checked against
/// the content hash a moved response names) and its own backend.
#[derive(Debug, Default)]
pub struct AppEnv {
    files: BTreeMap<u16, FilesSite>,
    proxies: BTreeMap<u16, ProxySite>,
}

impl AppEnv {
    /// No directory, no proxy.
    pub fn new() -> AppEnv {
        AppEnv::default()
    }

    /// Serves `site` to the `files` app on `port`.
    pub fn serve_files(&mut self, port: u16, site: FilesSite) {
        self.files.insert(port, site);
    }

    /// The directory served on `port`.
    pub fn files(&self, port: u16) -> Option<&FilesSite> {
        self.files.get(&port)
    }

    /// Proxies to `site`'s backend from `port`.
    pub fn serve_proxy(&mut self, port: u16, site: ProxySite) {
        self.proxies.insert(port, site);
    }

    /// The proxy of `port`.
    pub fn proxy(&self, port: u16) -> Option<&ProxySite> {
        self.proxies.get(&port)
    }

    /// The descriptors that become readable when an app's own connection has an event
    /// (one epoll set per proxy).
    pub fn wake_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.proxies.values().map(ProxySite::wake_fd).collect()
    }

    /// Whether any proxy has a backend connection open (the node then polls them).
    pub fn io_active(&self) -> bool {
        self.proxies.values().any(ProxySite::active)
    }

    /// The client connections whose backend connection had an event (no waiting).
    pub fn io_ready(&mut self, out: &mut Vec<vany_stack::tcp::FourTuple>) {
        for p in self.proxies.values_mut() {
            p.ready(out);
        }
    }

    /// Closes backend connections whose client connection is no longer here.
    pub fn retain_io(&mut self, live: impl Fn(&vany_stack::tcp::FourTuple) -> bool) {
        for p in self.proxies.values_mut() {
            p.retain(&live);
        }
    }

    /// The counters of every proxy, summed.
    pub fn proxy_stats(&self) -> ProxyStats {
        let mut t = ProxyStats::default();
        for s in self.proxies.values() {
            t += s.stats();
        }
        t
    }

    /// The counters of every directory, summed.
    pub fn files_stats(&self) -> FilesStats {
        let mut t = FilesStats::default();
        for s in self.files.values() {
            t += *s.stats();
        }
        t
    }
}
