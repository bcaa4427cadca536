//! `vany node --events FILE`: one JSON line per handoff, for plotting real handoffs
//! (`vany plot FILE ...`) the way `vany demo --plot` draws simulated ones.
//!
//! Each member writes what it saw of a handoff: the donor a `handoff` line when a
//! handoff it started ends (its start, when it heard `Restored` and `Commit`, the
//! outcome), the acceptor an `accepted` line when a handoff it took commits (when the
//! session arrived and was restored with its Binding Update sent, and when the client's
//! binding was confirmed and the donor told to let go), and a `refused` line for each
//! handoff it refused. Times are wall-clock seconds since the Unix epoch (microsecond
//! precision): lines from several members' files line up as far as their clocks agree.
//! `(member, transfer)` of the donor names a handoff in both lines.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use vany_stack::time::Instant;

use crate::group::member::{AcceptRecord, HandoffOutcome, HandoffRecord, Refusal};
use crate::group::peer::MemberId;

/// One line of an events file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventLine {
    /// A handoff this member started ended (the donor's view).
    Handoff {
        /// The donor (this member).
        member: MemberId,
        /// Names the handoff, with the donor.
        transfer: u64,
        /// The client's address.
        client: String,
        /// Acceptor.
        to: MemberId,
        /// Which policy asked (`proximity`, `load`, `drain`, `manual`).
        reason: String,
        /// `committed`, `refused`, `timed_out` or `abandoned`.
        outcome: String,
        /// Why it failed (a metrics label such as `refused_draining`), if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
        /// Serialized session size.
        snapshot_bytes: usize,
        /// Connections moved.
        connections: usize,
        /// When the handoff started: the session froze (or, for a large session, its
        /// copy started while it ran on).
        started: f64,
        /// When the donor heard `Restored`.
        restored: Option<f64>,
        /// When the donor heard `Commit` (or learnt the acceptor serves the client).
        committed: Option<f64>,
    },
    /// A handoff this member accepted committed (the acceptor's view).
    Accepted {
        /// The acceptor (this member).
        member: MemberId,
        /// Names the handoff, with the donor.
        transfer: u64,
        /// The client's address.
        client: String,
        /// Donor.
        from: MemberId,
        /// Serialized session size.
        snapshot_bytes: usize,
        /// Connections restored.
        connections: usize,
        /// When the whole snapshot had arrived; the session was restored and the Binding
        /// Update sent at the same moment.
        received: f64,
        /// When the client's binding was confirmed (Binding Acknowledgement) and the
        /// donor was told to let go.
        committed: f64,
    },
    /// This member refused a handoff (as the acceptor).
    Refused {
        /// The acceptor (this member).
        member: MemberId,
        /// Names the handoff, with the donor.
        transfer: u64,
        /// Donor.
        from: MemberId,
        /// The reason as a metrics label.
        reason: String,
        /// When.
        at: f64,
    },
}

/// Why the events file could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("events file {path}: {source}")]
pub struct EventsError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// The events file, shared by the node's cores; a line is written (and flushed) whole.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Sink>>,
}

#[derive(Debug)]
struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
    /// The first write error, logged once; later lines are dropped.
    failed: bool,
}

impl EventLog {
    /// Opens `path` for appending (created if missing; a restarted node adds to it).
    pub fn open(path: &Path) -> Result<EventLog, EventsError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| EventsError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(EventLog {
            inner: Arc::new(Mutex::new(Sink {
                path: path.to_path_buf(),
                out: BufWriter::new(file),
                failed: false,
            })),
        })
    }

    /// Appends `line`. A write error is logged once, then lines are dropped: the data
    /// path never stops for its events file.
    pub fn write(&self, line: &EventLine) {
        let Ok(mut sink) = self.inner.lock() else {
            return;
        };
        if sink.failed {
            return;
        }
        let written = serde_json::to_writer(&mut sink.out, line)
            .map_err(std::io::Error::other)
            .and_then(|_| sink.out.write_all(b"\n"))
            .and_then(|_| sink.out.flush());
        if let Err(e) = written {
            sink.failed = true;
            tracing::error!(
                path = %sink.path.display(),
                error = %e,
                "cannot write the events file; no more events are written"
            );
        }
    }
}

/// Wall-clock seconds of node time `t`, the node's clock reading `now`.
pub fn wall_seconds(t: Instant, now: Instant) -> f64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i128;
    let ago = i128::from(now.saturating_since(t).total_micros());
    let ahead = i128::from(t.saturating_since(now).total_micros());
    (wall - ago + ahead) as f64 / 1e6
}

fn outcome_name(o: HandoffOutcome) -> &'static str {
    match o {
        HandoffOutcome::Pending => "pending",
        HandoffOutcome::Committed => "committed",
        HandoffOutcome::Refused => "refused",
        HandoffOutcome::TimedOut => "timed_out",
        HandoffOutcome::Abandoned => "abandoned",
    }
}

impl EventLine {
    /// The donor's line for `r`.
    pub fn handoff(r: &HandoffRecord, now: Instant) -> EventLine {
        let wall = |t: Instant| wall_seconds(t, now);
        EventLine::Handoff {
            member: r.from,
            transfer: r.transfer,
            client: r.client.to_string(),
            to: r.to,
            reason: r.reason.to_string(),
            outcome: outcome_name(r.outcome).to_string(),
            failure: r.failure_label.map(str::to_string),
            snapshot_bytes: r.snapshot_bytes,
            connections: r.connections,
            started: wall(r.started),
            restored: r.restored.map(wall),
            committed: r.committed.map(wall),
        }
    }

    /// The acceptor's line for `r`.
    pub fn accepted(r: &AcceptRecord, now: Instant) -> EventLine {
        let wall = |t: Instant| wall_seconds(t, now);
        EventLine::Accepted {
            member: r.to,
            transfer: r.transfer,
            client: r.client.to_string(),
            from: r.from,
            snapshot_bytes: r.snapshot_bytes,
            connections: r.connections,
            received: wall(r.received),
            committed: wall(r.committed.unwrap_or(now)),
        }
    }

    /// The acceptor's line for a refusal `r`, at `now`.
    pub fn refused(member: MemberId, r: &Refusal, now: Instant) -> EventLine {
        EventLine::Refused {
            member,
            transfer: r.transfer,
            from: r.donor,
            reason: r.label.to_string(),
            at: wall_seconds(now, now),
        }
    }
}
