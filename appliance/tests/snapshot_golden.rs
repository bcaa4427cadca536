//! The session snapshot format (issue 13): its bytes change only with its version, and a
//! member refuses a session of another version with a typed reason, so a group in the
//! middle of a rolling upgrade leaves such a session where it is.

mod group_common;

use std::net::Ipv6Addr;

use group_common::*;
use vany_appliance::apps::AppKind;
use vany_appliance::group::member::{
    MemberEvent, SessionSnapshot, SessionSnapshotError, SESSION_SNAPSHOT_VERSION,
};
use vany_appliance::group::peer::{PeerBody, PeerChannel};
use vany_stack::tcp::{Connection, FourTuple, Seq, TcpConfig};
use vany_stack::time::{Duration, Instant};

/// SHA-256 of the fixed session's encoding, by session format version (the TCP snapshot
/// inside has its own golden test in the stack).
const GOLDEN: &[(u16, &str)] = &[(
    1,
    "8b5405cf2c6a12f1d6f420d9b4ecf4396c5e155f6af683363995c9a270a0dcd1",
)];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fixed_session(client: Ipv6Addr) -> SessionSnapshot {
    let tuple = FourTuple {
        local: vany_appliance::demo::ANYCAST,
        local_port: 80,
        remote: client,
        remote_port: 40000,
    };
    let conn = Connection::connect(
        &TcpConfig::default(),
        tuple,
        Seq(1000),
        Instant::from_secs(1),
    );
    let tcp = conn.snapshot_bytes(Instant::from_secs(2)).unwrap();
    SessionSnapshot {
        client,
        taken_at: Instant::from_secs(2),
        binding: None,
        connections: vec![(tcp, AppKind::Echo.start())],
        rtt: vec![(1, 10_000), (2, 30_000)],
        pinned: false,
        left_out: vec![(80, 40000, 1, 1)],
    }
}

#[test]
fn the_session_layout_changes_only_with_its_version() {
    let client: Ipv6Addr = "fd00:10::2".parse().unwrap();
    let bytes = fixed_session(client).encode().unwrap();
    let digest = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    let expected = GOLDEN.iter().find(|(v, _)| *v == SESSION_SNAPSHOT_VERSION);
    assert_eq!(
        expected.map(|(_, d)| *d),
        Some(digest.as_str()),
        "the session snapshot of version {SESSION_SNAPSHOT_VERSION} encodes differently \
         ({} bytes, digest {digest}): bump SESSION_SNAPSHOT_VERSION in \
         appliance/src/group/member/snapshot.rs and add (version, digest) to GOLDEN",
        bytes.len()
    );
    let back = SessionSnapshot::decode(&bytes).unwrap();
    assert_eq!(back.client, client);
    assert_eq!(back.connections.len(), 1);
}

#[test]
fn another_version_is_a_typed_error_not_garbage() {
    let client: Ipv6Addr = "fd00:10::2".parse().unwrap();
    let mut bytes = fixed_session(client).encode().unwrap();
    // postcard writes a u16 below 128 as one byte.
    bytes[0] = (SESSION_SNAPSHOT_VERSION + 1) as u8;
    assert_eq!(
        SessionSnapshot::decode(&bytes).unwrap_err(),
        SessionSnapshotError::Version {
            found: SESSION_SNAPSHOT_VERSION + 1
        }
    );
    assert!(matches!(
        SessionSnapshot::decode(&bytes[..3]),
        Err(SessionSnapshotError::Version { .. } | SessionSnapshotError::Malformed(_))
    ));
}

/// A rolling upgrade: member 3 runs a later version and hands its client's session to
/// member 2, which reads only this version. Member 2 refuses with `refused_version` (a
/// typed reason the donor logs; the donor keeps the session), restores nothing, and goes
/// on serving its own client.
#[test]
fn a_member_refuses_a_session_of_another_version() {
    let mut g = Group::new(61, 3, &[], |_, _| Duration::from_millis(20), |_| {});
    let loc = g.place(
        &[
            Duration::from_millis(10),
            Duration::from_millis(30),
            Duration::from_millis(40),
        ],
        0.0,
    );
    g.add_client(loc, |c| {
        c.download(Instant::ZERO, 80, 4242, 500_000, Some(200_000))
    });
    let attacker = g.add_attacker(Duration::from_millis(1));
    g.sim.run_until(Instant::from_millis(1000));
    let accepted = g.member(2).stats().accepted;
    // The newer member 3's transfer of another client's session.
    let other: Ipv6Addr = "fd00:10::99".parse().unwrap();
    let mut session = fixed_session(other).encode().unwrap();
    session[0] = (SESSION_SNAPSHOT_VERSION + 1) as u8;
    let mut newer = PeerChannel::new(3, GROUP_KEY);
    let datagrams = newer.seal(
        2,
        PeerBody::Transfer {
            transfer: (3 << 48) | 1,
            index: 0,
            count: 1,
            session,
        },
    );
    let packets = datagrams
        .iter()
        .map(|d| peer_packet(member_addr(3), member_addr(2), d))
        .collect();
    inject(&mut g.sim, attacker, Instant::from_millis(1100), packets);
    g.sim.run_until(Instant::from_millis(1500));
    let seed = g.sim.seed();
    let m2 = g.member(2);
    let counts = m2.refusals_sent().clone();
    let refusal = std::iter::from_fn(|| m2.poll_event()).find_map(|e| match e {
        MemberEvent::Refused(r) => Some(r),
        MemberEvent::HandoffEnded(_) | MemberEvent::Accepted(_) => None,
    });
    println!("{counts:?} {refusal:?}");
    assert_eq!(counts.get("refused_version"), Some(&1), "seed {seed}");
    let refusal = refusal.expect("a refusal to log");
    assert_eq!(refusal.donor, 3);
    assert!(refusal.reason.contains("version"), "{}", refusal.reason);
    assert_eq!(m2.stats().accepted, accepted, "nothing restored");
    assert!(g.run_until_done(Instant::from_secs(30), Duration::from_millis(100)));
    let r = g.client(0).reports().remove(0);
    assert_eq!(download_problem(&r), None, "seed {seed}: {r:?}");
}
