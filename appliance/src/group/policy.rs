//! Handoff policies: which member should serve each client session. A policy is a trait
//! object; adding one touches one file.
//!
//! - [`Proximity`]: the member with the lowest CoTI -> CoT round trip, with hysteresis.
//! - [`Drain`]: a leaving member hands every session to the best other member.
//! - [`Manual`]: an operator moves one client.
//! - [`Load`]: keeps the number of sessions per member within a band.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use serde::Serialize;
use vany_stack::time::{Duration, Instant};

use super::peer::MemberId;

/// What a policy sees of one session served here.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView<'a> {
    /// The client.
    pub client: Ipv6Addr,
    /// Round trips measured by each member (including this one) to the client (borrowed
    /// from the session: policies run every interval over every session).
    pub rtt: Cow<'a, BTreeMap<MemberId, Duration>>,
    /// When this member started serving it.
    pub since: Instant,
    /// An operator placed it: automatic policies leave it alone (drain still moves it).
    pub pinned: bool,
    /// Members that failed to take this session lately (refused or silent): a drain
    /// offers it to the others first.
    pub avoid: &'a [MemberId],
}

/// What a policy sees of the group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    /// This member.
    pub me: MemberId,
    /// Members that can take sessions (alive, not draining), this one included unless
    /// it is draining.
    pub candidates: Vec<MemberId>,
    /// Sessions each member serves, as last heard.
    pub load: BTreeMap<MemberId, usize>,
    /// Whether this member is leaving.
    pub draining: bool,
}

/// A decision: move `client` to `to`, for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The client.
    pub client: Ipv6Addr,
    /// The acceptor.
    pub to: MemberId,
    /// Which policy, for the handoff log.
    pub reason: MoveReason,
}

/// Why a session moves: the policy that decided it (or the operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveReason {
    /// [`Proximity`]: another member is closer to the client.
    Proximity,
    /// [`Drain`]: this member leaves.
    Drain,
    /// [`Manual`]: an operator asked.
    Manual,
    /// [`Load`]: this member serves more sessions than the band allows.
    Load,
}

impl MoveReason {
    /// The name used in logs, metrics and the control socket.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveReason::Proximity => "proximity",
            MoveReason::Drain => "drain",
            MoveReason::Manual => "manual",
            MoveReason::Load => "load",
        }
    }
}

impl std::fmt::Display for MoveReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a name as logs show it (`record.reason == "drain"`).
impl PartialEq<&str> for MoveReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A handoff policy.
pub trait Policy: Send {
    /// Which policy this is: the reason its moves are logged under.
    fn reason(&self) -> MoveReason;

    /// Moves to make now for sessions this member serves.
    fn decide(
        &mut self,
        now: Instant,
        group: &GroupView,
        sessions: &[SessionView<'_>],
    ) -> Vec<Move>;

    /// Whether sessions whose last handoff failed are kept from this policy until their
    /// backoff has passed (true for every automatic policy but [`Drain`], which must
    /// move every session and tries other members instead).
    fn waits_out_backoff(&self) -> bool {
        true
    }
}

/// The nearest member by measured round trip, moving only when the gain is above both a
/// ratio and an absolute margin (hysteresis), and not more often than `min_stay`.
#[derive(Debug, Clone)]
pub struct Proximity {
    /// Relative gain required (0.2 = the other member must be 20 % closer).
    pub ratio: f64,
    /// Absolute gain required.
    pub margin: Duration,
    /// A session stays at least this long after a move.
    pub min_stay: Duration,
}

impl Default for Proximity {
    fn default() -> Self {
        Proximity {
            ratio: 0.2,
            margin: Duration::from_millis(5),
            min_stay: Duration::from_secs(2),
        }
    }
}

impl Policy for Proximity {
    fn reason(&self) -> MoveReason {
        MoveReason::Proximity
    }

    fn decide(
        &mut self,
        now: Instant,
        group: &GroupView,
        sessions: &[SessionView<'_>],
    ) -> Vec<Move> {
        let mut moves = Vec::new();
        for s in sessions {
            if s.pinned || now.saturating_since(s.since) < self.min_stay {
                continue;
            }
            let Some(mine) = s.rtt.get(&group.me).copied() else {
                continue;
            };
            let best = s
                .rtt
                .iter()
                .filter(|(m, _)| group.candidates.contains(m) && **m != group.me)
                .min_by_key(|(m, rtt)| (**rtt, **m));
            if let Some((&to, &rtt)) = best {
                let needed = (mine.total_micros() as f64 * (1.0 - self.ratio)) as u64;
                if rtt.total_micros() < needed
                    && mine.total_micros() - rtt.total_micros() > self.margin.total_micros()
                {
                    moves.push(Move {
                        client: s.client,
                        to,
                        reason: MoveReason::Proximity,
                    });
                }
            }
        }
        moves
    }
}

/// When this member drains, every session goes to the closest other candidate (or any
/// candidate when no round trip was measured).
#[derive(Debug, Clone, Default)]
pub struct Drain;

impl Policy for Drain {
    fn reason(&self) -> MoveReason {
        MoveReason::Drain
    }

    fn waits_out_backoff(&self) -> bool {
        false
    }

    fn decide(
        &mut self,
        _now: Instant,
        group: &GroupView,
        sessions: &[SessionView<'_>],
    ) -> Vec<Move> {
        if !group.draining {
            return Vec::new();
        }
        let others: Vec<MemberId> = group
            .candidates
            .iter()
            .copied()
            .filter(|m| *m != group.me)
            .collect();
        if others.is_empty() {
            return Vec::new();
        }
        sessions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // Members that failed to take it lately come last (all of them, when
                // every member failed: the drain keeps trying).
                let fresh: Vec<MemberId> = others
                    .iter()
                    .copied()
                    .filter(|m| !s.avoid.contains(m))
                    .collect();
                let pool = if fresh.is_empty() { &others } else { &fresh };
                let to = pool
                    .iter()
                    .filter_map(|m| s.rtt.get(m).map(|r| (*r, *m)))
                    .min()
                    .map(|(_, m)| m)
                    .unwrap_or(pool[i % pool.len()]);
                Move {
                    client: s.client,
                    to,
                    reason: MoveReason::Drain,
                }
            })
            .collect()
    }
}

/// Operator commands: move one client to one member, once.
#[derive(Debug, Clone, Default)]
pub struct Manual {
    /// Pending commands.
    pub pending: Vec<(Ipv6Addr, MemberId)>,
}

impl Policy for Manual {
    fn reason(&self) -> MoveReason {
        MoveReason::Manual
    }

    fn decide(
        &mut self,
        _now: Instant,
        group: &GroupView,
        sessions: &[SessionView<'_>],
    ) -> Vec<Move> {
        let mut moves = Vec::new();
        self.pending.retain(|(client, to)| {
            if !sessions.iter().any(|s| s.client == *client) {
                return true; // not here (yet): keep the command
            }
            if *to != group.me && group.candidates.contains(to) {
                moves.push(Move {
                    client: *client,
                    to: *to,
                    reason: MoveReason::Manual,
                });
            }
            false
        });
        moves
    }
}

/// Keeps sessions per member within `band` of the group mean: a member above the band
/// hands its newest sessions to the least loaded candidate that has measured its round
/// trip to the client (so it holds a care-of token and can bind at once). It decides only
/// with a load report from every other candidate, and then waits [`Load::COOLDOWN`]
/// (one report round) before deciding again, so that members do not shed on each
/// other's stale counts.
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// Allowed excess over the mean (in sessions).
    pub band: usize,
    /// When this policy last moved sessions.
    pub last_move: Option<Instant>,
}

impl Load {
    /// How long after moving sessions the policy waits (the load report interval).
    pub const COOLDOWN: Duration = Duration::from_secs(1);

    /// A load policy with `band`.
    pub fn new(band: usize) -> Load {
        Load {
            band,
            last_move: None,
        }
    }
}

impl Policy for Load {
    fn reason(&self) -> MoveReason {
        MoveReason::Load
    }

    fn decide(
        &mut self,
        now: Instant,
        group: &GroupView,
        sessions: &[SessionView<'_>],
    ) -> Vec<Move> {
        if group.candidates.len() < 2
            || self.last_move.is_some_and(|t| now < t + Load::COOLDOWN)
            || group
                .candidates
                .iter()
                .any(|m| *m != group.me && !group.load.contains_key(m))
        {
            return Vec::new();
        }
        let mut load = group.load.clone();
        load.insert(group.me, sessions.len());
        let total: usize = group
            .candidates
            .iter()
            .map(|m| load.get(m).copied().unwrap_or(0))
            .sum();
        let mean = total / group.candidates.len();
        let mut mine = sessions.len();
        let mut moves = Vec::new();
        let mut newest: Vec<&SessionView> = sessions.iter().filter(|s| !s.pinned).collect();
        newest.sort_by_key(|s| std::cmp::Reverse(s.since));
        for s in newest {
            if mine <= mean + self.band {
                break;
            }
            let Some((&to, _)) = group
                .candidates
                .iter()
                .filter(|m| **m != group.me && s.rtt.contains_key(m))
                .map(|m| (m, load.get(m).copied().unwrap_or(0)))
                .filter(|(_, l)| *l < mean + self.band)
                .min_by_key(|(m, l)| (*l, **m))
            else {
                continue;
            };
            *load.entry(to).or_default() += 1;
            mine -= 1;
            moves.push(Move {
                client: s.client,
                to,
                reason: MoveReason::Load,
            });
        }
        if !moves.is_empty() {
            self.last_move = Some(now);
        }
        moves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(me: MemberId) -> GroupView {
        GroupView {
            me,
            candidates: vec![1, 2, 3],
            load: BTreeMap::new(),
            draining: false,
        }
    }

    fn session(rtts: &[(MemberId, u64)]) -> SessionView<'static> {
        SessionView {
            client: "fd00::99".parse().unwrap(),
            rtt: Cow::Owned(
                rtts.iter()
                    .map(|(m, ms)| (*m, Duration::from_millis(*ms)))
                    .collect(),
            ),
            since: Instant::ZERO,
            pinned: false,
            avoid: &[],
        }
    }

    #[test]
    fn proximity_moves_to_a_clearly_closer_member_only() {
        let mut p = Proximity::default();
        let now = Instant::from_secs(10);
        let moves = p.decide(now, &view(1), &[session(&[(1, 100), (2, 20), (3, 50)])]);
        assert_eq!(moves[0].to, 2);
        // 10 % closer: inside the hysteresis band.
        assert!(p
            .decide(now, &view(1), &[session(&[(1, 100), (2, 90)])])
            .is_empty());
        // Not yet measured here: no move.
        assert!(p.decide(now, &view(1), &[session(&[(2, 10)])]).is_empty());
        // Placed by an operator: left alone.
        let mut pinned = session(&[(1, 100), (2, 20)]);
        pinned.pinned = true;
        assert!(p.decide(now, &view(1), &[pinned]).is_empty());
    }

    #[test]
    fn drain_moves_everything_to_the_closest_other_member() {
        let mut d = Drain;
        let mut g = view(1);
        assert!(d
            .decide(Instant::ZERO, &g, &[session(&[(2, 30), (3, 10)])])
            .is_empty());
        g.draining = true;
        g.candidates = vec![2, 3];
        let moves = d.decide(Instant::ZERO, &g, &[session(&[(2, 30), (3, 10)])]);
        assert_eq!(moves[0].to, 3);
    }

    #[test]
    fn load_sheds_sessions_above_the_band() {
        let mut l = Load::new(1);
        let mut g = view(1);
        g.load = [(2, 0), (3, 0)].into_iter().collect();
        let sessions: Vec<SessionView> = (0..6)
            .map(|i| SessionView {
                client: format!("fd00::{}", i + 1).parse().unwrap(),
                rtt: Cow::Owned(
                    [(2, Duration::from_millis(9)), (3, Duration::from_millis(9))].into(),
                ),
                since: Instant::from_secs(i),
                pinned: false,
                avoid: &[],
            })
            .collect();
        let moves = l.decide(Instant::ZERO, &g, &sessions);
        // Mean 2, band 1: keep 3, move 3 (newest first), spread over 2 and 3.
        assert_eq!(moves.len(), 3);
        assert_eq!(moves[0].client, "fd00::6".parse::<Ipv6Addr>().unwrap());
    }
}
