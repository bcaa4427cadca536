//! The node's data path ([`Node`]) on the in-memory backend, no root needed: a TCP
//! client (the stack's own endpoint, driven by a [`Pump`] on the other end of a
//! [`vany_appliance::io::mem`] pair) downloads a verified stream from the anycast
//! address, while control requests are answered between bursts.

use std::sync::atomic::AtomicBool;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{bounded, unbounded};
use vany_appliance::apps::source::{SourceRequest, StreamVerifier};
use vany_appliance::io::{self, mem, Clock, Pump};
use vany_appliance::node::ctl::{Request, Response};
use vany_appliance::node::runtime::{Node, Query};
use vany_appliance::node::NodeConfig;
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::Instant;

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
    let cfg = NodeConfig::parse(CONFIG).unwrap();
    let (node_io, mut client_io) = mem::pair(1024);
    let (_query_tx, query_rx) = bounded::<Query>(4);
    let (_event_tx, event_rx) = unbounded();
    let mut node = Node::new(cfg, node_io, 42, query_rx, event_rx);

    let clock = Clock::new(Instant::from_secs(5));
    let mut client = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(9));
    let tuple = FourTuple {
        local: "fd00:99:ff::10".parse().unwrap(),
        local_port: 40_000,
        remote: "fd00:aa::1".parse().unwrap(),
        remote_port: 80,
    };
    client.connect(clock.now(), tuple).unwrap();
    let mut pump = Pump::new();
    let len = 2u64 << 20;
    let mut verifier = StreamVerifier::new(3, Some(len));
    let mut asked = false;
    let mut buf = vec![0u8; 64 * 1024];
    let mut saw_session = false;
    let start = StdInstant::now();
    while !verifier.is_complete() {
        assert!(
            start.elapsed() < StdDuration::from_secs(60),
            "stalled at {} of {len} bytes",
            verifier.bytes_ok()
        );
        node.step().unwrap();
        pump.poll(&mut client_io, &mut client, clock.now()).unwrap();
        if let Some(c) = client.connection_mut(&tuple) {
            if !asked && c.send_capacity() >= 24 {
                let req = SourceRequest {
                    id: 3,
                    length: len,
                    rate: None,
                };
                assert_eq!(c.send(&req.to_bytes()).unwrap(), 24);
                asked = true;
            }
            let n = c.recv(&mut buf).unwrap_or(0);
            verifier.feed(&buf[..n]).expect("stream intact");
        }
        pump.poll(&mut client_io, &mut client, clock.now()).unwrap();
        if !saw_session && verifier.bytes_ok() > 0 {
            match node.control(Request::Sessions) {
                Response::Sessions { sessions } => {
                    assert_eq!(sessions.len(), 1, "{sessions:?}");
                    assert_eq!(sessions[0].client, tuple.local);
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
    let snap = node.snapshot();
    assert!(snap.io.rx_packets > 0 && snap.io.tx_packets > 0);
    assert_eq!(snap.sessions, 1);
    // Control: handoff checks, drain, then the loop ends once drained.
    assert!(matches!(
        node.control(Request::Handoff {
            client: tuple.local,
            member: 9
        }),
        Response::Error { .. }
    ));
    match node.control(Request::Status) {
        Response::Status(s) => {
            assert_eq!((s.id, s.contact, s.sessions), (1, true, 1));
            assert_eq!(s.members.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let _ = io::PacketIo::wait(&mut client_io, StdDuration::ZERO);
    // Nothing stops this node but the flag: run_until returns once the drain times out
    // (no other member runs, so the session cannot move).
    let stop = AtomicBool::new(true);
    let t = StdInstant::now();
    node.run_until(&stop).unwrap();
    assert!(t.elapsed() < StdDuration::from_secs(5));
}
