//! The node's data path ([`Node`]) on the in-memory backend, no root needed: a TCP
//! client (the stack's own endpoint, driven by a [`Pump`] on the other end of a
//! [`vany_appliance::io::mem`] pair) downloads a verified stream from the anycast
//! address, while control requests are answered between bursts.

use std::sync::atomic::AtomicBool;
use std::time::{Duration as StdDuration, Instant as StdInstant};

mod node_common;

use node_common::MemDownload;
use vany_appliance::io;
use vany_appliance::node::ctl::{Request, Response};

const CONFIG: &str = r#"
id = 1
tun = "unused"
anycast = "fd00:aa::1"
contact_node = 1
drain_timeout_ms = 1000
group_key = "00112233445566778899aabbccddeeff"

[members.1]
care_of = "fd00:20:1::1"
contact = true

[members.2]
care_of = "fd00:20:2::1"
"#;

#[test]
fn a_client_downloads_through_the_data_path_and_control_answers() {
    let len = 2u64 << 20;
    let mut d = MemDownload::new(CONFIG, len);
    let mut saw_session = false;
    let start = StdInstant::now();
    while !d.verifier.is_complete() {
        assert!(
            start.elapsed() < StdDuration::from_secs(60),
            "stalled at {} of {len} bytes",
            d.verifier.bytes_ok()
        );
        d.round();
        if !saw_session && d.verifier.bytes_ok() > 0 {
            match d.node.control(Request::Sessions) {
                Response::Sessions { sessions } => {
                    assert_eq!(sessions.len(), 1, "{sessions:?}");
                    assert_eq!(sessions[0].client, d.tuple.local);
                    saw_session = true;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let took = start.elapsed();
    println!(
        "{} MiB through the data path in {:.2} s ({:.0} Mbit/s, debug build, one thread)",
        len >> 20,
        took.as_secs_f64(),
        len as f64 * 8.0 / took.as_secs_f64() / 1e6
    );
    assert!(saw_session);
    let snap = d.node.snapshot();
    assert!(snap.io.rx_packets > 0 && snap.io.tx_packets > 0);
    assert_eq!(snap.sessions, 1);
    // Control: handoff checks, drain, then the loop ends once drained.
    assert!(matches!(
        d.node.control(Request::Handoff {
            client: d.tuple.local,
            member: 9
        }),
        Response::Error { .. }
    ));
    match d.node.control(Request::Status) {
        Response::Status(s) => {
            assert_eq!((s.id, s.contact, s.sessions), (1, true, 1));
            assert_eq!(s.members.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let _ = io::PacketIo::wait(&mut d.client_io, StdDuration::ZERO);
    // Nothing stops this node but the flag: run_until returns once the drain times out
    // (no other member runs, so the session cannot move).
    let stop = AtomicBool::new(true);
    let t = StdInstant::now();
    d.node.run_until(&stop).unwrap();
    assert!(t.elapsed() < StdDuration::from_secs(5));
}
