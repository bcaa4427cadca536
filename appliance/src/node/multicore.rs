//! The control socket and `/metrics` of a node with several cores: a request goes to
//! every core (or to the one that serves the client in question), and the answers are
//! put together into the node's (counters summed; per-core figures under `cores`).

use std::collections::BTreeMap;

use crossbeam_channel::Sender;

use super::ctl::{Request, Response, SessionInfo, Status};
use super::metrics::{HandoffSummary, IoCounters, MetricsSnapshot, TcpCounters};
use super::runtime::{ask, Query, ANSWER_TIMEOUT, HANDOFF_WAIT};
use crate::group::member::MemberStats;
use crate::group::peer::PeerStats;
use crate::io::Layer2Report;
use vany_stack::l2::Counters as L2Counters;
use vany_stack::mip6::mn::MnStats;

/// Counters that add up over the cores.
trait Merge {
    /// Adds `other`'s counts to this.
    fn merge(&mut self, other: &Self);
}

/// `Merge` by adding the named fields.
macro_rules! merge_by_sum {
    ($ty:ty: $($field:ident)*) => {
        impl Merge for $ty {
            fn merge(&mut self, other: &Self) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

merge_by_sum!(MemberStats: forwarded forwarded_in refused accepted dropped
    syns_while_draining tokens_relayed abandoned refreshes_relayed home_tests_forged
    home_tests_replayed thaw_collisions bindings_forgotten orphans_deregistered
    ptb_accepted ptb_ignored);
merge_by_sum!(PeerStats: sent accepted forged replayed malformed retransmitted given_up
    reassembly_dropped);
merge_by_sum!(MnStats: hoti_sent coti_sent bu_sent ba_accepted ba_dropped unmatched_tests
    be_received be_ignored);
merge_by_sum!(IoCounters: rx_packets rx_bytes tx_packets tx_bytes tx_dropped tx_super rx_pps tx_pps);
merge_by_sum!(TcpCounters: syn_cookies_sent syn_cookies_accepted syn_cookies_rejected
    resets_sent);
/// `Merge` by the type's own `+=`.
macro_rules! merge_by_add {
    ($($ty:ty),*) => {
        $(impl Merge for $ty {
            fn merge(&mut self, other: &Self) {
                *self += *other;
            }
        })*
    };
}

merge_by_add!(crate::apps::FilesStats, crate::apps::ProxyStats);
merge_by_sum!(L2Counters: rx_frames rx_not_ipv6 rx_not_our_mac rx_malformed rx_ipv6
    nd_bad_hop_limit icmp_bad_checksum nd_bad_code nd_bad_option nd_invalid nd_ignored
    ns_rx ns_not_ours na_tx na_rx na_unsolicited na_for_own_address ns_tx ns_rate_limited
    echo_replies echo_ignored cache_created cache_evicted cache_full resolution_failed
    probe_failed queued queue_full queue_dropped_unresolved egress_no_entry
    egress_malformed tx_full);

impl Merge for Layer2Report {
    fn merge(&mut self, other: &Self) {
        self.nd.merge(&other.nd);
        self.cache_entries += other.cache_entries;
        self.queued += other.queued;
        // The device's own counters are the port's, the same on every core.
        self.rx_missed = self.rx_missed.max(other.rx_missed);
        self.rx_no_mbuf = self.rx_no_mbuf.max(other.rx_no_mbuf);
        self.tx_dropped = self.tx_dropped.max(other.tx_dropped);
    }
}

impl Merge for HandoffSummary {
    fn merge(&mut self, other: &Self) {
        self.pending += other.pending;
        self.committed += other.committed;
        self.refused += other.refused;
        self.timed_out += other.timed_out;
        self.abandoned += other.abandoned;
        for (b, o) in self.buckets.iter_mut().zip(other.buckets) {
            *b += o;
        }
        self.over += other.over;
        self.sum_seconds += other.sum_seconds;
        merge_map(&mut self.failures, &other.failures);
    }
}

impl<T: Merge + Clone> Merge for Option<T> {
    fn merge(&mut self, other: &Self) {
        match (self.as_mut(), other) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => *self = Some(b.clone()),
            (_, None) => {}
        }
    }
}

fn merge_map(into: &mut BTreeMap<&'static str, u64>, from: &BTreeMap<&'static str, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// The node's status from its cores' (the first core's identity, sums, every core).
pub fn merge_status(parts: Vec<Status>) -> Option<Status> {
    let mut parts = parts.into_iter();
    let mut s = parts.next()?;
    let own: Vec<u16> = s.cores.iter().map(|c| c.member).collect();
    for p in parts {
        s.draining |= p.draining;
        s.stopped &= p.stopped;
        s.sessions += p.sessions;
        s.handoffs += p.handoffs;
        s.stats.merge(&p.stats);
        s.peer.merge(&p.peer);
        s.io.merge(&p.io);
        s.layer2.merge(&p.layer2);
        s.cores.extend(p.cores);
    }
    // The node's other cores are listed under `cores`, not as other members.
    let mine: Vec<u16> = s.cores.iter().map(|c| c.member).chain(own).collect();
    s.members.retain(|m| !mine.contains(&m.id));
    Some(s)
}

/// The node's metrics from its cores'.
pub fn merge_metrics(parts: Vec<MetricsSnapshot>) -> Option<MetricsSnapshot> {
    let mut parts = parts.into_iter();
    let mut s = parts.next()?;
    for p in parts {
        s.sessions += p.sessions;
        s.draining |= p.draining;
        s.member.merge(&p.member);
        s.peer.merge(&p.peer);
        s.mn.merge(&p.mn);
        s.handoffs.merge(&p.handoffs);
        s.io.merge(&p.io);
        s.layer2.merge(&p.layer2);
        s.tcp.merge(&p.tcp);
        merge_map(&mut s.refusals_sent, &p.refusals_sent);
        s.files.merge(&p.files);
        s.proxy.merge(&p.proxy);
        s.cores.extend(p.cores);
    }
    Some(s)
}

/// Asks every core; `None` if one does not answer in time.
fn ask_all<T>(cores: &[Sender<Query>], make: impl Fn(Sender<T>) -> Query) -> Option<Vec<T>> {
    cores
        .iter()
        .map(|q| ask(q, ANSWER_TIMEOUT, &make))
        .collect()
}

/// The node's metrics: every core's, put together.
pub fn metrics(cores: &[Sender<Query>]) -> Option<MetricsSnapshot> {
    merge_metrics(ask_all(cores, Query::Metrics)?)
}

const NO_ANSWER: &str = "the data path did not answer in time";

/// Answers a control request for the node whose core `k` takes queries on `cores[k]`.
pub fn control(cores: &[Sender<Query>], req: Request) -> Response {
    let ask_core = |k: usize, req: Request, wait| {
        ask(&cores[k], wait, |tx| Query::Ctl(req, tx)).unwrap_or_else(|| Response::error(NO_ANSWER))
    };
    match req {
        Request::Status => {
            let parts = ask_all(cores, |tx| Query::Ctl(Request::Status, tx));
            let statuses = parts.map(|p| {
                p.into_iter()
                    .filter_map(|r| match r {
                        Response::Status(s) => Some(*s),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            });
            match statuses.and_then(merge_status) {
                Some(s) => Response::Status(Box::new(s)),
                None => Response::error(NO_ANSWER),
            }
        }
        Request::Sessions => match sessions(cores) {
            Some(sessions) => Response::Sessions { sessions },
            None => Response::error(NO_ANSWER),
        },
        Request::Handoff { client, member } => {
            let Some(by_core) = core_sessions(cores) else {
                return Response::error(NO_ANSWER);
            };
            match by_core
                .iter()
                .position(|s| s.iter().any(|s| s.client == client))
            {
                Some(k) => ask_core(
                    k,
                    Request::Handoff { client, member },
                    HANDOFF_WAIT + ANSWER_TIMEOUT,
                ),
                None => Response::error(format!("no session of client {client} is served here")),
            }
        }
        Request::Drain { force } => {
            // Counted first: a core with nothing to hand off stops at once.
            let sessions = sessions(cores).map_or(0, |s| s.len());
            // The first core decides (a sole contact node refuses without `force`); the
            // others follow it.
            let first = ask_core(0, Request::Drain { force }, ANSWER_TIMEOUT);
            if matches!(first, Response::Error { .. }) {
                return first;
            }
            for k in 1..cores.len() {
                if let Response::Error { error } =
                    ask_core(k, Request::Drain { force: true }, ANSWER_TIMEOUT)
                {
                    return Response::error(format!("core {k}: {error}"));
                }
            }
            Response::Done {
                message: format!(
                    "draining {sessions} session(s) on {} cores; the node exits when done",
                    cores.len()
                ),
            }
        }
    }
}

/// Each core's sessions, by core.
fn core_sessions(cores: &[Sender<Query>]) -> Option<Vec<Vec<SessionInfo>>> {
    ask_all(cores, |tx| Query::Ctl(Request::Sessions, tx))?
        .into_iter()
        .map(|r| match r {
            Response::Sessions { sessions } => Some(sessions),
            _ => None,
        })
        .collect()
}

/// Every core's sessions.
fn sessions(cores: &[Sender<Query>]) -> Option<Vec<SessionInfo>> {
    Some(core_sessions(cores)?.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::sync::{Arc, Mutex};

    use crossbeam_channel::{bounded, Receiver};

    use super::*;
    use crate::node::ctl::{CoreStatus, MemberStatus};
    use crate::node::membership::PeerState;

    fn core_status(core: usize, member: u16, sessions: usize) -> CoreStatus {
        CoreStatus {
            core,
            member,
            care_of: Ipv6Addr::new(0xfd00, 0x20, member, 0, 0, 0, 0, 1),
            sessions,
            handoffs: 1,
            draining: false,
            stopped: false,
            rx_packets: 10 * core as u64 + 5,
            tx_packets: 7,
            links: Default::default(),
        }
    }

    fn status(core: usize, member: u16, sessions: usize, others: &[u16]) -> Status {
        Status {
            id: member,
            name: format!("member-{member}"),
            care_of: Ipv6Addr::new(0xfd00, 0x20, member, 0, 0, 0, 0, 1),
            anycast: "fd00:aa::1".parse().unwrap(),
            contact: false,
            uptime_seconds: 1.0,
            draining: core == 1,
            stopped: false,
            sessions,
            handoffs: 1,
            members: others
                .iter()
                .map(|id| MemberStatus {
                    id: *id,
                    name: String::new(),
                    care_of: Ipv6Addr::LOCALHOST,
                    state: PeerState::Up,
                    excluded: false,
                })
                .collect(),
            stats: MemberStats {
                forwarded: 3,
                ..Default::default()
            },
            peer: PeerStats {
                sent: 2,
                ..Default::default()
            },
            io: IoCounters {
                rx_packets: 100,
                ..Default::default()
            },
            layer2: None,
            gossip: None,
            cores: vec![core_status(core, member, sessions)],
        }
    }

    #[test]
    fn a_nodes_status_sums_its_cores_and_lists_each() {
        let s = merge_status(vec![status(0, 3, 2, &[1, 4]), status(1, 4, 5, &[1, 3])]).unwrap();
        assert_eq!((s.id, s.sessions, s.handoffs), (3, 7, 2));
        assert!(s.draining, "a core drains: the node drains");
        assert_eq!(
            (s.stats.forwarded, s.peer.sent, s.io.rx_packets),
            (6, 4, 200)
        );
        assert_eq!(
            s.cores.iter().map(|c| c.member).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(
            s.members.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![1],
            "the node's own cores are not other members"
        );
        assert!(merge_status(Vec::new()).is_none());
    }

    #[test]
    fn a_nodes_metrics_sum_its_cores() {
        let part = |core: usize, sessions: u64| {
            let mut m = MetricsSnapshot {
                member_id: 3,
                sessions,
                cores: vec![core_status(core, 3 + core as u16, sessions as usize)],
                ..Default::default()
            };
            m.handoffs.committed = 2;
            m.handoffs.buckets[3] = 1;
            m.handoffs.failures.insert("timed_out", 1);
            m.refusals_sent.insert("refused_draining", 2);
            m.mn.bu_sent = 4;
            m.tcp.resets_sent = 1;
            m.files = Some(crate::apps::FilesStats {
                traversal_refused: 3,
                ..Default::default()
            });
            m.proxy = Some(crate::apps::ProxyStats {
                resumed: 2,
                ..Default::default()
            });
            m
        };
        let m = merge_metrics(vec![part(0, 1), part(1, 2)]).unwrap();
        assert_eq!((m.member_id, m.sessions), (3, 3));
        assert_eq!((m.handoffs.committed, m.handoffs.buckets[3]), (4, 2));
        assert_eq!(m.handoffs.failures["timed_out"], 2);
        assert_eq!(m.refusals_sent["refused_draining"], 4);
        assert_eq!((m.mn.bu_sent, m.tcp.resets_sent), (8, 2));
        assert_eq!(m.files.map(|f| f.traversal_refused), Some(6));
        assert_eq!(m.proxy.map(|p| p.resumed), Some(4));
        assert_eq!(m.cores.len(), 2);
    }

    /// A core that serves `clients` and records the control requests it is asked.
    fn fake_core(
        member: u16,
        clients: Vec<Ipv6Addr>,
        asked: Arc<Mutex<Vec<(u16, Request)>>>,
    ) -> Sender<Query> {
        let (tx, rx): (Sender<Query>, Receiver<Query>) = bounded(8);
        std::thread::spawn(move || {
            for q in rx.iter() {
                let Query::Ctl(req, reply) = q else { continue };
                let answer = match &req {
                    Request::Sessions => Response::Sessions {
                        sessions: clients
                            .iter()
                            .map(|c| SessionInfo {
                                client: *c,
                                connections: 1,
                                pinned: false,
                                busy: false,
                                handing_off_to: None,
                                member,
                            })
                            .collect(),
                    },
                    Request::Drain { force: false } if member == 3 => {
                        Response::error("the only contact node")
                    }
                    _ => Response::Done {
                        message: format!("core {member}"),
                    },
                };
                asked.lock().unwrap().push((member, req));
                let _ = reply.send(answer);
            }
        });
        tx
    }

    #[test]
    fn a_handoff_goes_to_the_core_that_serves_the_client_and_a_drain_to_all() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd00::a".parse().unwrap(), "fd00::b".parse().unwrap());
        let cores = vec![
            fake_core(3, vec![a], asked.clone()),
            fake_core(4, vec![b], asked.clone()),
        ];
        let handoffs = |asked: &Mutex<Vec<(u16, Request)>>| -> Vec<u16> {
            let v = asked.lock().unwrap();
            v.iter()
                .filter(|(_, r)| matches!(r, Request::Handoff { .. }))
                .map(|(m, _)| *m)
                .collect()
        };
        let r = control(
            &cores,
            Request::Handoff {
                client: b,
                member: 3,
            },
        );
        assert_eq!(
            r,
            Response::Done {
                message: "core 4".into()
            }
        );
        assert_eq!(handoffs(&asked), vec![4]);
        let r = control(
            &cores,
            Request::Handoff {
                client: "fd00::c".parse().unwrap(),
                member: 3,
            },
        );
        assert!(
            matches!(r, Response::Error { error } if error.contains("no session of client fd00::c"))
        );
        let Response::Sessions { sessions } = control(&cores, Request::Sessions) else {
            panic!("sessions")
        };
        assert_eq!(
            sessions.iter().map(|s| s.member).collect::<Vec<_>>(),
            vec![3, 4]
        );

        // The first core refuses (sole contact node): nothing drains.
        asked.lock().unwrap().clear();
        let r = control(&cores, Request::Drain { force: false });
        assert!(matches!(r, Response::Error { .. }), "{r:?}");
        let drains = |asked: &Mutex<Vec<(u16, Request)>>| -> Vec<u16> {
            let v = asked.lock().unwrap();
            v.iter()
                .filter(|(_, r)| matches!(r, Request::Drain { .. }))
                .map(|(m, _)| *m)
                .collect()
        };
        assert_eq!(drains(&asked), vec![3]);
        asked.lock().unwrap().clear();
        let r = control(&cores, Request::Drain { force: true });
        assert!(
            matches!(&r, Response::Done { message } if message.contains("2 cores")),
            "{r:?}"
        );
        assert_eq!(drains(&asked), vec![3, 4]);
    }
}
