//! The control socket: a Unix stream socket that takes one JSON request per line and
//! answers each with one JSON line.
//!
//! ```text
//! {"cmd":"status"}                                  -> {"kind":"status", ...}
//! {"cmd":"sessions"}                                -> {"kind":"sessions","sessions":[...]}
//! {"cmd":"handoff","client":"fd00::5","member":2}   -> {"kind":"done","message":"committed: ..."}
//!                                                      (or "error" with why it failed; answered
//!                                                      when the handoff ends, at most 12 s)
//! {"cmd":"drain"}  (or "force":true)               -> {"kind":"done","message":"..."}
//! anything wrong                                    -> {"kind":"error","error":"..."}
//! ```
//!
//! A line is at most 64 KiB; only root and the node's own user may connect (the socket
//! is mode 0600 and the peer's credentials are checked); see docs/operations.md.
//!
//! The server ([`serve`]) runs on its own threads and never touches the member: each
//! request goes to the data-path loop through a crossbeam channel (see
//! [`super::runtime`]), which answers between two bursts. [`request`] is the client side
//! that `vany ctl` uses.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::Ipv6Addr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use serde::{Deserialize, Serialize};

use super::conns::{ConnStats, Limits, Line, LineReader, Registry, Ticket};
use super::membership::{GossipStats, PeerState};
use super::metrics::IoCounters;
use crate::group::member::MemberStats;
use crate::group::peer::{MemberId, PeerStats};

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The node's state and counters.
    Status,
    /// The client sessions served here.
    Sessions,
    /// Move `client`'s session to member `member`.
    Handoff {
        /// The client.
        client: Ipv6Addr,
        /// The acceptor.
        member: MemberId,
    },
    /// Hand every session off, then stop. A contact node refuses unless another contact
    /// node is up (draining it withdraws the anycast address), or `force` is set.
    Drain {
        /// Drain even the only contact node that is up.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
}

/// One other member, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    /// Its id.
    pub id: MemberId,
    /// Its name.
    pub name: String,
    /// Its care-of address.
    pub care_of: Ipv6Addr,
    /// What gossip says (`up` when gossip is off).
    pub state: PeerState,
    /// Whether sessions are not offered to it.
    pub excluded: bool,
}

/// The answer to [`Request::Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// This member.
    pub id: MemberId,
    /// Its name.
    pub name: String,
    /// Its care-of address.
    pub care_of: Ipv6Addr,
    /// The group's anycast address.
    pub anycast: Ipv6Addr,
    /// Whether this is a contact node.
    pub contact: bool,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Whether it drains.
    pub draining: bool,
    /// Whether it has drained and stopped.
    pub stopped: bool,
    /// Sessions served here.
    pub sessions: usize,
    /// Handoffs started here.
    pub handoffs: usize,
    /// The other members.
    pub members: Vec<MemberStatus>,
    /// Member counters.
    pub stats: MemberStats,
    /// Peer-channel counters.
    pub peer: PeerStats,
    /// Packet I/O counters.
    pub io: IoCounters,
    /// Layer 2: neighbor discovery and device drops (DPDK only; absent on TUN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer2: Option<crate::io::Layer2Report>,
    /// Gossip counters, if gossip is on.
    pub gossip: Option<GossipStats>,
    /// One entry per core on a node with several (`[io] cores`); the figures above are
    /// the sums over the cores, as the node's member (the first core) is named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cores: Vec<CoreStatus>,
}

/// One core of a node with several: the member it runs and its share of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoreStatus {
    /// The core's index (its rx/tx queue pair).
    pub core: usize,
    /// The member it runs.
    pub member: MemberId,
    /// That member's care-of address.
    pub care_of: Ipv6Addr,
    /// Sessions it serves.
    pub sessions: usize,
    /// Handoffs it started.
    pub handoffs: usize,
    /// Whether it drains.
    pub draining: bool,
    /// Whether it has drained and stopped.
    pub stopped: bool,
    /// Packets received on its queue.
    pub rx_packets: u64,
    /// Packets sent on its queue.
    pub tx_packets: u64,
    /// Packets of the links between cores (handed over, dropped for a full link,
    /// taken over from other cores).
    #[serde(flatten)]
    pub links: super::cores::LinkStats,
}

/// One client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The client.
    pub client: Ipv6Addr,
    /// Its TCP connections.
    pub connections: usize,
    /// Placed by an operator.
    pub pinned: bool,
    /// An app has work under way that cannot move (a proxied response that cannot be
    /// resumed): handoffs, the operator's and a drain's too, wait until it is done.
    pub busy: bool,
    /// Being handed to this member right now.
    pub handing_off_to: Option<MemberId>,
    /// The member that serves it (on a node with several cores, the core's member).
    pub member: MemberId,
}

/// A control answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// See [`Status`].
    Status(Box<Status>),
    /// The sessions.
    Sessions {
        /// One per client.
        sessions: Vec<SessionInfo>,
    },
    /// A command was taken.
    Done {
        /// What happens now.
        message: String,
    },
    /// A request failed.
    Error {
        /// Why.
        error: String,
    },
}

impl Response {
    /// An error answer.
    pub fn error(e: impl Into<String>) -> Response {
        Response::Error { error: e.into() }
    }
}

/// Why the control socket could not be served or reached.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Binding the socket failed.
    #[error("cannot listen on control socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another node answers on that path.
    #[error("control socket {0} is in use by a running node")]
    InUse(PathBuf),
    /// Something other than a socket is in the way; it is left alone.
    #[error(
        "control_socket {path} is {what}, not a socket: refusing to replace it (remove it, or \
         choose another control_socket)"
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
        /// What is there ("a regular file", "a directory", ...).
        what: &'static str,
    },
    /// Connecting failed.
    #[error("cannot connect to control socket {path} (is `vany node` running?): {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("control socket {path}: {source}")]
    Exchange {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A group whose members may use the control socket too (`control_group`): the socket is
/// then mode 0660 and owned by that group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlGroup {
    /// Its name (or the number given).
    pub name: String,
    /// Its gid.
    pub gid: u32,
    /// The users /etc/group lists as its members (those whose primary group it is are
    /// recognized by their gid).
    pub member_uids: Vec<u32>,
}

impl ControlGroup {
    /// Looks `spec` (a group name or a gid) up in /etc/group, and its members' uids in
    /// /etc/passwd.
    pub fn resolve(spec: &str) -> Result<ControlGroup, String> {
        let read =
            |f: &str| std::fs::read_to_string(f).map_err(|e| format!("cannot read {f}: {e}"));
        ControlGroup::resolve_in(spec, &read("/etc/group")?, &read("/etc/passwd")?)
    }

    fn resolve_in(spec: &str, group: &str, passwd: &str) -> Result<ControlGroup, String> {
        let fields = |l: &str| l.split(':').map(str::to_owned).collect::<Vec<_>>();
        let entry = group
            .lines()
            .map(fields)
            .filter(|f| f.len() >= 4)
            .find(|f| f[0] == spec || f[2] == spec);
        let (name, gid, members) = match entry {
            Some(f) => {
                let gid = f[2]
                    .parse()
                    .map_err(|_| format!("group {spec}: bad gid in /etc/group"))?;
                let members: Vec<String> = f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect();
                (f[0].clone(), gid, members)
            }
            None => match spec.parse::<u32>() {
                Ok(gid) => (spec.to_owned(), gid, Vec::new()),
                Err(_) => return Err(format!("no group '{spec}' in /etc/group")),
            },
        };
        let member_uids = passwd
            .lines()
            .map(fields)
            .filter(|f| f.len() >= 3 && members.contains(&f[0]))
            .filter_map(|f| f[2].parse().ok())
            .collect();
        Ok(ControlGroup {
            name,
            gid,
            member_uids,
        })
    }

    /// Whether a peer with `uid` and primary `gid` belongs to the group.
    pub fn admits(&self, uid: u32, gid: u32) -> bool {
        gid == self.gid || self.member_uids.contains(&uid)
    }
}

/// The control server's bounds: 64 connections (the oldest idle one is closed to make
/// room for a new one), a request line of at most 64 KiB, arriving within 30 s.
pub const LIMITS: Limits = Limits {
    max_conns: 64,
    read_deadline: StdDuration::from_secs(30),
    write_timeout: StdDuration::from_secs(5),
    max_request: 64 * 1024,
};

/// Listens on `path` and answers each request line with `handle(request)`, one thread
/// per connection within [`LIMITS`]; returns the server's counters.
///
/// The socket is created with mode 0600 (0660 and owned by `group`, if given) whatever
/// the umask (see [`bind`]); only root, the node's own user (and members of `group`)
/// may talk to it (`SO_PEERCRED`), others get an error line.
pub fn serve<F>(
    path: &Path,
    group: Option<ControlGroup>,
    handle: F,
) -> Result<Arc<ConnStats>, CtlError>
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    serve_with(path, LIMITS, group, handle)
}

/// [`serve`] with other bounds.
pub fn serve_with<F>(
    path: &Path,
    limits: Limits,
    group: Option<ControlGroup>,
    handle: F,
) -> Result<Arc<ConnStats>, CtlError>
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    let listener = bind(path, group.as_ref().map(|g| g.gid))?;
    let group = Arc::new(group);
    let stats = Arc::new(ConnStats::default());
    let registry = Registry::new(limits, stats.clone());
    let handle = Arc::new(handle);
    let own_uid = rustix::process::geteuid().as_raw();
    std::thread::Builder::new()
        .name("vany-ctl".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Some(stream) = super::conns::accepted(stream, "control socket") else {
                    continue;
                };
                let handle = handle.clone();
                let group = group.clone();
                let reg = registry.clone();
                let n = registry.limits().max_conns;
                registry.dispatch(
                    "vany-ctl-conn",
                    stream,
                    |mut s| {
                        let _ = answer(
                            &mut s,
                            &Response::error(format!(
                                "all {n} control connections are busy; try again"
                            )),
                        );
                    },
                    move |s, ticket| {
                        if let Err(e) = converse(s, &ticket, &reg, (own_uid, &group), &*handle) {
                            tracing::debug!(error = %e, "control connection");
                        }
                    },
                );
            }
        })
        .map_err(|source| CtlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(stats)
}

/// Creates the listening socket at `path`, mode 0600 whatever the umask (0660 and owned
/// by group `gid`, if given).
///
/// Only a stale socket (one nobody answers on) is replaced; anything else at `path` is
/// left alone ([`CtlError::NotASocket`], [`CtlError::InUse`]). Race-free: the socket is
/// bound in a fresh private (0700) directory beside `path`, set to 0600 there (nobody
/// else can reach it meanwhile), then hard-linked to `path` (`link` never replaces an
/// existing file) and the private name removed. The umask is process-wide, so it is not
/// touched.
pub fn bind(path: &Path, gid: Option<u32>) -> Result<UnixListener, CtlError> {
    let bind_err = |source| CtlError::Bind {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(CtlError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(bind_err)?;
            tracing::info!(path = %path.display(), "replaced a stale control socket");
        }
        Ok(m) => {
            let t = m.file_type();
            let what = if t.is_file() {
                "a regular file"
            } else if t.is_dir() {
                "a directory"
            } else if t.is_symlink() {
                "a symbolic link"
            } else {
                "a device or FIFO"
            };
            return Err(CtlError::NotASocket {
                path: path.to_path_buf(),
                what,
            });
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    let name = path.file_name().ok_or_else(|| {
        bind_err(std::io::Error::new(
            ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut private_name = std::ffi::OsString::from(".");
    private_name.push(name);
    private_name.push(format!(".{}.bind", std::process::id()));
    let private = parent.join(private_name);
    // A leftover of a node with our pid that died between mkdir and cleanup.
    let _ = std::fs::remove_file(private.join("s"));
    let _ = std::fs::remove_dir(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(bind_err)?;
    let tmp = private.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(&tmp, None, Some(gid))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
        }
        std::fs::hard_link(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    result.map_err(|e: std::io::Error| {
        if e.kind() == ErrorKind::AlreadyExists {
            CtlError::InUse(path.to_path_buf())
        } else {
            bind_err(e)
        }
    })
}

/// Writes one answer line.
fn answer(w: &mut impl Write, response: &Response) -> std::io::Result<()> {
    let mut text = serde_json::to_string(response).map_err(std::io::Error::other)?;
    text.push('\n');
    w.write_all(text.as_bytes())
}

fn converse<F>(
    mut stream: UnixStream,
    ticket: &Ticket,
    reg: &Registry,
    (own_uid, group): (u32, &Option<ControlGroup>),
    handle: &F,
) -> std::io::Result<()>
where
    F: Fn(Request) -> Response,
{
    let limits = reg.limits();
    let peer = rustix::net::sockopt::socket_peercred(&stream)?;
    let (uid, gid) = (peer.uid.as_raw(), peer.gid.as_raw());
    if uid != 0 && uid != own_uid && !group.as_ref().is_some_and(|g| g.admits(uid, gid)) {
        reg.stats().refused_peer.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            uid,
            gid,
            "control connection refused: not root, the node's user or its group"
        );
        let also = group
            .as_ref()
            .map_or(String::new(), |g| format!(" or group {}", g.name));
        let error =
            format!("uid {uid} may not use this control socket (root, uid {own_uid}{also} only)");
        return answer(&mut stream, &Response::error(error));
    }
    let mut lines = LineReader::default();
    loop {
        let deadline = Instant::now() + limits.read_deadline;
        let line = match lines.next(&mut stream, limits.max_request, deadline)? {
            Line::Line(l) => l,
            Line::Eof => return Ok(()),
            Line::TimedOut => {
                reg.stats().timed_out.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Line::TooLong => {
                reg.stats().too_long.fetch_add(1, Ordering::Relaxed);
                let error = format!(
                    "request line longer than {} bytes: closing the connection",
                    limits.max_request
                );
                return answer(&mut stream, &Response::error(error));
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        ticket.set_busy(true);
        let response = match serde_json::from_slice::<Request>(&line) {
            Ok(req) => handle(req),
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        answer(&mut stream, &response)?;
        ticket.set_busy(false);
    }
}

/// Sends one request to the node at `path` and returns its JSON answer.
pub fn request(path: &Path, req: &Request) -> Result<serde_json::Value, CtlError> {
    let exchange = |source| CtlError::Exchange {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| CtlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    stream
        .set_read_timeout(Some(StdDuration::from_secs(20)))
        .map_err(exchange)?;
    let mut line = serde_json::to_string(req).map_err(|e| exchange(std::io::Error::other(e)))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(exchange)?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(exchange)?;
    serde_json::from_str(&answer).map_err(|e| {
        exchange(std::io::Error::other(format!(
            "not a JSON answer ({e}): {answer:?}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_form() {
        let cases = [
            (Request::Status, r#"{"cmd":"status"}"#),
            (Request::Drain { force: false }, r#"{"cmd":"drain"}"#),
            (
                Request::Drain { force: true },
                r#"{"cmd":"drain","force":true}"#,
            ),
            (
                Request::Handoff {
                    client: "fd00::5".parse().unwrap(),
                    member: 2,
                },
                r#"{"cmd":"handoff","client":"fd00::5","member":2}"#,
            ),
        ];
        for (req, text) in cases {
            assert_eq!(serde_json::to_string(&req).unwrap(), text);
            assert_eq!(serde_json::from_str::<Request>(text).unwrap(), req);
        }
    }

    #[test]
    fn a_group_is_found_by_name_or_number_with_its_listed_members() {
        let group = "root:x:0:\nvany:x:990:alice,bob\nempty:x:991:\n";
        let passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/:/bin/sh\n\
                      bob:x:1002:990::/:/bin/sh\ncarol:x:1003:1003::/:/bin/sh\n";
        let g = ControlGroup::resolve_in("vany", group, passwd).unwrap();
        assert_eq!((g.name.as_str(), g.gid), ("vany", 990));
        assert_eq!(g.member_uids, vec![1001, 1002]);
        assert!(g.admits(1001, 1001), "listed member");
        assert!(g.admits(1003, 990), "primary group");
        assert!(!g.admits(1003, 1003));
        assert_eq!(ControlGroup::resolve_in("990", group, passwd).unwrap(), g);
        assert_eq!(
            ControlGroup::resolve_in("5000", group, passwd).unwrap().gid,
            5000
        );
        let e = ControlGroup::resolve_in("wheel", group, passwd).unwrap_err();
        assert_eq!(e, "no group 'wheel' in /etc/group");
    }

    #[test]
    fn a_socket_answers_each_line_and_refuses_garbage() {
        let path = std::env::temp_dir().join(format!("vany-ctl-test-{}.sock", std::process::id()));
        serve(&path, None, |req| match req {
            Request::Sessions => Response::Sessions {
                sessions: vec![SessionInfo {
                    client: "fd00::9".parse().unwrap(),
                    connections: 2,
                    pinned: false,
                    busy: false,
                    handing_off_to: None,
                    member: 3,
                }],
            },
            _ => Response::error("no"),
        })
        .unwrap();
        let v = request(&path, &Request::Sessions).unwrap();
        assert_eq!(v["kind"], "sessions");
        assert_eq!(v["sessions"][0]["client"], "fd00::9");
        assert_eq!(
            request(&path, &Request::Drain { force: false }).unwrap()["kind"],
            "error"
        );
        // A second server on the same path is refused while the first runs.
        assert!(matches!(
            serve(&path, None, |_| Response::error("x")),
            Err(CtlError::InUse(_))
        ));
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"{\"cmd\":\"fly\"}\n").unwrap();
        let mut answer = String::new();
        BufReader::new(&s).read_line(&mut answer).unwrap();
        assert!(answer.contains("bad request"), "{answer}");
        let _ = std::fs::remove_file(&path);
    }
}
