//! The handoff state machine driven directly, one table row per protocol rule
//! (docs/handoff.md), besides the campaigns that drive whole groups.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use vany_stack::tcp::FourTuple;
use vany_stack::time::{Duration, Instant};

use super::super::bulk::{PartsOut, Precopy, PRECOPY_MAX};
use super::super::records::{HandoffLog, HandoffOutcome};
use super::*;
use crate::group::peer::TRANSFER_PART;
use crate::group::policy::MoveReason;

const TIMEOUT: Duration = Duration::from_millis(500);
const ACCEPTOR: MemberId = 2;
const DONOR: MemberId = 1;

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// One thing that happens to a session, at a time in ms.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// A handoff brings the session here (step 4): transfer, client already here.
    Arrive(u64, bool),
    /// Step 4: the session comes back while frozen here.
    Supersede,
    /// Step 5: the client confirmed (BA, or a packet sent here directly).
    Confirm,
    /// A pre-copy starts: transfer, whether it copies send data ahead.
    StartPrecopy(u64, bool, u64),
    /// The acceptor acknowledged a pre-copy piece at this time.
    PrecopyProgress(u64),
    /// The pre-copy caught up.
    EndPrecopy,
    /// A pre-copy is called off.
    CallOff(u64),
    /// Step 3: frozen in handoff `transfer` (a snapshot of two parts), at this time.
    Freeze(u64, u64),
    /// A part went out as peer message `seq`.
    SendPart(u64),
    /// The acceptor acknowledged peer message `seq` at this time.
    AckPart(u64, u64),
    /// Step 4: `Restored` for `transfer` at this time.
    Restored(u64, u64),
    /// Refused or silent: thaw.
    Thaw,
}

/// What an event returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ret {
    /// Nothing to say.
    Unit,
    /// A transfer number (the upstream to commit, the handoff thawed or called off).
    Transfer(u64),
    /// No such thing.
    Nothing,
    /// A yes/no answer.
    Bool(bool),
}

fn apply(state: &mut HandoffState, ev: Ev) -> Ret {
    let some = |t: Option<u64>| t.map_or(Ret::Nothing, Ret::Transfer);
    match ev {
        Ev::Arrive(transfer, merging) => {
            let donor = DONOR;
            state.arrive(Arrival { transfer, donor }, merging);
            Ret::Unit
        }
        Ev::Supersede => some(state.supersede()),
        Ev::Confirm => some(state.client_confirmed().map(|a| a.transfer)),
        Ev::StartPrecopy(transfer, copies, ms) => {
            let mut next = BTreeMap::new();
            if copies {
                let tuple = FourTuple {
                    local: Ipv6Addr::LOCALHOST,
                    local_port: 80,
                    remote: Ipv6Addr::LOCALHOST,
                    remote_port: 4000,
                };
                next.insert(tuple, 1);
            }
            let copy = Precopy::new((transfer, ACCEPTOR), at(ms), false, next, 1);
            Ret::Bool(state.start_precopy(copy))
        }
        Ev::PrecopyProgress(ms) => match state.precopy_mut() {
            Some(p) => {
                p.progress_at = at(ms);
                Ret::Unit
            }
            None => Ret::Nothing,
        },
        Ev::EndPrecopy => some(state.end_precopy().map(|p| p.transfer)),
        Ev::CallOff(t) => some(state.call_off_precopy(t).map(|p| p.transfer)),
        Ev::Freeze(transfer, ms) => {
            // Two parts.
            let parts = PartsOut::new(vec![7; TRANSFER_PART + 1]);
            state.freeze(at(ms), transfer, ACCEPTOR, parts, Vec::new());
            Ret::Unit
        }
        Ev::SendPart(seq) => match state.frozen_mut() {
            Some(f) => {
                let (_, _, bytes) = f.parts.next_part().expect("a part to send");
                f.parts.sent(seq, bytes.len());
                Ret::Unit
            }
            None => Ret::Nothing,
        },
        Ev::AckPart(seq, ms) => Ret::Bool(
            state
                .frozen_mut()
                .is_some_and(|f| f.part_acked(at(ms), seq)),
        ),
        Ev::Restored(t, ms) => Ret::Bool(state.restored(at(ms), t)),
        Ev::Thaw => some(state.thaw().map(|f| f.transfer)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Serving,
    Precopying,
    Frozen,
}

fn kind(state: &HandoffState) -> Kind {
    match state {
        HandoffState::Serving { .. } => Kind::Serving,
        HandoffState::Precopying { .. } => Kind::Precopying,
        HandoffState::Frozen(_) => Kind::Frozen,
    }
}

/// A protocol rule: events (with what each returns), then the state they leave, the
/// donor still owed a Commit, whether the apps run, and what is due when.
struct Rule {
    rule: &'static str,
    events: Vec<(Ev, Ret)>,
    kind: Kind,
    upstream: Option<u64>,
    apps_run: bool,
    due: Vec<(u64, Due)>,
}

fn rules() -> Vec<Rule> {
    use Ev::*;
    use Ret::{Bool, Nothing, Transfer, Unit};
    let ms = at;
    vec![
        Rule {
            rule: "a session nobody handed here is served with no donor waiting",
            events: vec![],
            kind: Kind::Serving,
            upstream: None,
            apps_run: true,
            due: vec![(0, Due::Nothing), (100_000, Due::Nothing)],
        },
        Rule {
            rule: "step 3: a frozen session thaws when the acceptor acknowledges nothing for the timeout",
            events: vec![(Freeze(7, 0), Unit), (SendPart(1), Unit)],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![
                (499, Due::NotYet(ms(500))),
                (500, Due::FrozenSilent { transfer: 7, to: ACCEPTOR }),
            ],
        },
        Rule {
            rule: "an acknowledged part that leaves parts outstanding pushes the thaw back",
            events: vec![
                (Freeze(7, 0), Unit),
                (SendPart(1), Unit),
                (SendPart(2), Unit),
                (AckPart(1, 300), Bool(true)),
            ],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![
                (500, Due::NotYet(ms(800))),
                (800, Due::FrozenSilent { transfer: 7, to: ACCEPTOR }),
            ],
        },
        Rule {
            rule: "an acknowledgement of a message that is no part of the snapshot is no progress",
            events: vec![
                (Freeze(7, 0), Unit),
                (SendPart(1), Unit),
                (AckPart(9, 300), Bool(false)),
            ],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![(500, Due::FrozenSilent { transfer: 7, to: ACCEPTOR })],
        },
        Rule {
            rule: "every part acknowledged: silence no longer thaws, the copy is released later",
            events: vec![
                (Freeze(7, 0), Unit),
                (SendPart(1), Unit),
                (SendPart(2), Unit),
                (AckPart(2, 100), Bool(true)),
                (AckPart(1, 300), Bool(true)),
            ],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![
                (800, Due::NotYet(ms(300) + RELEASE_UNANSWERED)),
                (10_300, Due::Release),
            ],
        },
        Rule {
            rule: "step 4: Restored makes the donor wait RELEASE_AFTER for the Commit, then release",
            events: vec![(Freeze(7, 0), Unit), (SendPart(1), Unit), (Restored(7, 200), Bool(true))],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![(3_199, Due::NotYet(ms(200) + RELEASE_AFTER)), (3_200, Due::Release)],
        },
        Rule {
            rule: "Restored wins over the delivery of the last part heard after it",
            events: vec![
                (Freeze(7, 0), Unit),
                (SendPart(1), Unit),
                (SendPart(2), Unit),
                (AckPart(1, 100), Bool(true)),
                (Restored(7, 200), Bool(true)),
                (AckPart(2, 400), Bool(true)),
            ],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![(3_200, Due::Release)],
        },
        Rule {
            rule: "Restored naming another transfer changes nothing",
            events: vec![(Freeze(7, 0), Unit), (Restored(8, 200), Bool(false))],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![(500, Due::FrozenSilent { transfer: 7, to: ACCEPTOR })],
        },
        Rule {
            rule: "step 4: an arrival leaves the donor waiting for the client's confirmation",
            events: vec![(Arrive(3, false), Unit)],
            kind: Kind::Serving,
            upstream: Some(3),
            apps_run: true,
            due: vec![(0, Due::Nothing)],
        },
        Rule {
            rule: "step 4: a client already talking to this member: no donor left waiting",
            events: vec![(Arrive(3, true), Unit)],
            kind: Kind::Serving,
            upstream: None,
            apps_run: true,
            due: vec![],
        },
        Rule {
            rule: "step 5: the client's confirmation owes the donor exactly one Commit",
            events: vec![(Arrive(3, false), Unit), (Confirm, Transfer(3)), (Confirm, Nothing)],
            kind: Kind::Serving,
            upstream: None,
            apps_run: true,
            due: vec![],
        },
        Rule {
            rule: "a session frozen before the client confirmed carries its donor along",
            events: vec![(Arrive(3, false), Unit), (Freeze(7, 0), Unit), (Confirm, Nothing)],
            kind: Kind::Frozen,
            upstream: Some(3),
            apps_run: false,
            due: vec![],
        },
        Rule {
            rule: "a failed handoff thaws: the session is served again, its donor still waiting",
            events: vec![(Arrive(3, false), Unit), (Freeze(7, 0), Unit), (Thaw, Transfer(7))],
            kind: Kind::Serving,
            upstream: Some(3),
            apps_run: true,
            due: vec![(10_000, Due::Nothing)],
        },
        Rule {
            rule: "only a frozen session thaws",
            events: vec![(Thaw, Nothing)],
            kind: Kind::Serving,
            upstream: None,
            apps_run: true,
            due: vec![],
        },
        Rule {
            rule: "step 4: a session that comes back supersedes the frozen copy of its handoff",
            events: vec![(Freeze(7, 0), Unit), (Supersede, Transfer(7)), (Arrive(9, false), Unit)],
            kind: Kind::Serving,
            upstream: Some(9),
            apps_run: true,
            due: vec![],
        },
        Rule {
            rule: "a pre-copy whose acceptor acknowledges nothing for the timeout is called off",
            events: vec![(StartPrecopy(5, true, 0), Bool(true))],
            kind: Kind::Precopying,
            upstream: None,
            apps_run: false,
            due: vec![
                (499, Due::NotYet(ms(500))),
                (500, Due::PrecopySilent { transfer: 5, to: ACCEPTOR }),
            ],
        },
        Rule {
            rule: "a pre-copy that keeps progressing freezes after PRECOPY_MAX",
            events: vec![(StartPrecopy(5, true, 0), Bool(true)), (PrecopyProgress(9_800), Unit)],
            kind: Kind::Precopying,
            upstream: None,
            apps_run: false,
            due: vec![(PRECOPY_MAX.total_micros() / 1000, Due::PrecopyLong)],
        },
        Rule {
            rule: "a small session's pre-copy only asks the question: its apps keep running",
            events: vec![(StartPrecopy(5, false, 0), Bool(true))],
            kind: Kind::Precopying,
            upstream: None,
            apps_run: true,
            due: vec![],
        },
        Rule {
            rule: "a pre-copy starts only from serving",
            events: vec![(Freeze(7, 0), Unit), (StartPrecopy(5, true, 0), Bool(false))],
            kind: Kind::Frozen,
            upstream: None,
            apps_run: false,
            due: vec![],
        },
        Rule {
            rule: "calling off another transfer's pre-copy changes nothing",
            events: vec![(StartPrecopy(5, true, 0), Bool(true)), (CallOff(6), Nothing)],
            kind: Kind::Precopying,
            upstream: None,
            apps_run: false,
            due: vec![],
        },
        Rule {
            rule: "a pre-copy called off serves the session again, its donor still waiting",
            events: vec![
                (Arrive(3, false), Unit),
                (StartPrecopy(5, true, 0), Bool(true)),
                (CallOff(5), Transfer(5)),
            ],
            kind: Kind::Serving,
            upstream: Some(3),
            apps_run: true,
            due: vec![(1_000, Due::Nothing)],
        },
        Rule {
            rule: "step 3 after a pre-copy: the freeze carries the waiting donor along",
            events: vec![
                (Arrive(3, false), Unit),
                (StartPrecopy(5, true, 0), Bool(true)),
                (EndPrecopy, Transfer(5)),
                (Freeze(5, 100), Unit),
            ],
            kind: Kind::Frozen,
            upstream: Some(3),
            apps_run: false,
            due: vec![(600, Due::FrozenSilent { transfer: 5, to: ACCEPTOR })],
        },
    ]
}

#[test]
fn each_protocol_rule_of_the_handoff_state_machine() {
    for r in rules() {
        let mut state = HandoffState::SERVING;
        for (i, (ev, want)) in r.events.iter().enumerate() {
            let got = apply(&mut state, *ev);
            assert_eq!(got, *want, "{}: event {i} ({ev:?})", r.rule);
        }
        assert_eq!(kind(&state), r.kind, "{}: state", r.rule);
        let upstream = state.upstream().map(|a| a.transfer);
        assert_eq!(upstream, r.upstream, "{}: donor waiting", r.rule);
        assert_eq!(state.apps_run(), r.apps_run, "{}: apps run", r.rule);
        for (ms, want) in &r.due {
            assert_eq!(
                state.due(at(*ms), TIMEOUT),
                *want,
                "{}: due at {ms} ms",
                r.rule
            );
        }
        let acceptor = (r.kind != Kind::Serving).then_some(ACCEPTOR);
        assert_eq!(state.acceptor(), acceptor, "{}: acceptor", r.rule);
    }
}

#[test]
fn the_copy_the_client_talks_to_wins() {
    // (thawed at, heard at, live here)
    let table = [
        (None, None, false),
        (None, Some(5), false),
        (Some(5), None, false),
        (Some(5), Some(5), false),
        (Some(5), Some(4), false),
        (Some(5), Some(6), true),
    ];
    for (thawed, heard, live) in table {
        let h = History {
            arrived: None,
            thawed_at: thawed.map(at),
            heard_at: heard.map(at),
        };
        assert_eq!(h.live_here(), live, "thawed {thawed:?}, heard {heard:?}");
    }
    let h = History {
        arrived: Some(Arrival {
            transfer: 3,
            donor: DONOR,
        }),
        ..History::default()
    };
    assert!(h.arrived_by(3, DONOR));
    assert!(!h.arrived_by(3, ACCEPTOR), "an Abandon names the donor too");
    assert!(!h.arrived_by(4, DONOR));
}

#[test]
fn failed_handoffs_back_off_doubling_up_to_the_maximum() {
    let mut b = Backoff::default();
    assert!(b.settled(at(0)));
    let mut now = at(0);
    for (failure, wait_s) in [
        (1, 1),
        (2, 2),
        (3, 4),
        (4, 8),
        (5, 16),
        (6, 32),
        (7, 60),
        (8, 60),
    ] {
        b.failed(now, if failure % 2 == 0 { 2 } else { 3 });
        let wait = Duration::from_secs(wait_s);
        assert!(
            !b.settled(now + wait - Duration::from_millis(1)),
            "failure {failure}"
        );
        assert!(b.settled(now + wait), "failure {failure}");
        now = now + wait;
    }
    assert_eq!(
        b.avoid(),
        &[3, 2],
        "each acceptor that failed is avoided once"
    );
}

#[test]
fn the_outcome_is_set_once_and_reported_once() {
    let client: Ipv6Addr = "fd00::1".parse().unwrap();
    let mut log = HandoffLog::default();
    log.start(at(0), 7, client, (DONOR, ACCEPTOR), MoveReason::Drain);
    log.start(at(0), 8, client, (DONOR, ACCEPTOR), MoveReason::Manual);
    log.start(at(0), 9, client, (DONOR, ACCEPTOR), MoveReason::Proximity);
    assert_eq!(log.outcome(7), Some(HandoffOutcome::Pending));
    assert_eq!(log.outcome(10), None);

    // A refusal carries the acceptor's reason label; the failure backs the session off.
    log.refused_for(7, "refused_draining");
    let failed = log.finish(at(5), 7, HandoffOutcome::Refused, Some("no".into()));
    assert_eq!(failed.map(|f| (f.client, f.to)), Some((client, ACCEPTOR)));
    let r = log.get(7).unwrap();
    assert_eq!(r.failure_label, Some("refused_draining"));
    assert_eq!(r.reason, "drain");

    // A commit is no failure, keeps its first time, and is reported once.
    assert!(log
        .finish(at(6), 8, HandoffOutcome::Committed, None)
        .is_none());
    assert!(log
        .finish(at(9), 8, HandoffOutcome::Committed, None)
        .is_none());
    assert_eq!(log.get(8).unwrap().committed, Some(at(6)));

    // A timeout revised to committed by a late answer is not reported again.
    let failed = log.finish(at(7), 9, HandoffOutcome::TimedOut, Some("silent".into()));
    assert!(failed.is_some());
    assert_eq!(log.get(9).unwrap().failure_label, Some("timed_out"));
    log.revise_committed(9, at(8));
    assert_eq!(log.outcome(9), Some(HandoffOutcome::Committed));
    assert_eq!(log.get(9).unwrap().committed, Some(at(8)));

    let done: Vec<(u64, HandoffOutcome)> = std::iter::from_fn(|| log.pop_done())
        .map(|r| (r.transfer, r.outcome))
        .collect();
    assert_eq!(
        done,
        [
            (7, HandoffOutcome::Refused),
            (8, HandoffOutcome::Committed),
            (9, HandoffOutcome::TimedOut),
        ]
    );
    assert_eq!(log.all().len(), 3);
}
