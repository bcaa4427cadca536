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
//! The server ([`serve`]) runs on its own thread and never touches the member: each
//! request goes to the data-path loop through a crossbeam channel (see
//! [`super::runtime`]), which answers between two bursts. [`request`] is the client side
//! that `vany ctl` uses.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};

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
    /// Gossip counters, if gossip is on.
    pub gossip: Option<GossipStats>,
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
    /// Being handed to this member right now.
    pub handing_off_to: Option<MemberId>,
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

/// Listens on `path` (a stale socket file left by a dead node is replaced) and answers
/// each request line with `handle(request)` on a thread.
pub fn serve<F>(path: &Path, handle: F) -> Result<(), CtlError>
where
    F: Fn(Request) -> Response + Send + 'static,
{
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(CtlError::InUse(path.to_path_buf()));
        }
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(|source| CtlError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    std::thread::Builder::new()
        .name("vany-ctl".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = converse(stream, &handle) {
                    tracing::debug!(error = %e, "control connection");
                }
            }
        })
        .map_err(|source| CtlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(())
}

fn converse<F>(stream: UnixStream, handle: &F) -> std::io::Result<()>
where
    F: Fn(Request) -> Response,
{
    stream.set_read_timeout(Some(StdDuration::from_secs(30)))?;
    stream.set_write_timeout(Some(StdDuration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req),
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        let mut text = serde_json::to_string(&response).map_err(std::io::Error::other)?;
        text.push('\n');
        writer.write_all(text.as_bytes())?;
    }
    Ok(())
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
    fn a_socket_answers_each_line_and_refuses_garbage() {
        let path = std::env::temp_dir().join(format!("vany-ctl-test-{}.sock", std::process::id()));
        serve(&path, |req| match req {
            Request::Sessions => Response::Sessions {
                sessions: vec![SessionInfo {
                    client: "fd00::9".parse().unwrap(),
                    connections: 2,
                    pinned: false,
                    handing_off_to: None,
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
            serve(&path, |_| Response::error("x")),
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
