//! A node on the in-memory backend and a client downloading a verified stream from its
//! `source` app: the set-up and the round of the tests that drive the node's data path
//! without root.
#![allow(dead_code)]

use crossbeam_channel::{bounded, unbounded, Sender};
use vany_appliance::apps::source::{SourceRequest, StreamVerifier};
use vany_appliance::io::{mem, Clock, MemIo, Pump};
use vany_appliance::node::membership::MembershipEvent;
use vany_appliance::node::runtime::{Node, Query};
use vany_appliance::node::NodeConfig;
use vany_stack::rand::SeededRandom;
use vany_stack::tcp::{Endpoint, FourTuple, TcpConfig};
use vany_stack::time::Instant;

/// The node, and the client (the stack's own endpoint behind a [`Pump`]) connected to
/// port 80 of the anycast address `fd00:aa::1` from `fd00:99:ff::10`.
pub struct MemDownload {
    /// The node under test.
    pub node: Node<MemIo>,
    /// The client's endpoint.
    pub client: Endpoint,
    /// The client's connection.
    pub tuple: FourTuple,
    /// The client's end of the in-memory link.
    pub client_io: MemIo,
    /// Checks every byte of stream 3 as it arrives.
    pub verifier: StreamVerifier,
    /// Bytes asked for.
    pub len: u64,
    pump: Pump,
    clock: Clock,
    asked: bool,
    buf: Vec<u8>,
    // Kept so that the node's channels stay open.
    _queries: Sender<Query>,
    _events: Sender<MembershipEvent>,
}

impl MemDownload {
    /// A node for `config` and a client about to ask it for `len` bytes of stream 3.
    pub fn new(config: &str, len: u64) -> MemDownload {
        let cfg = NodeConfig::parse(config).unwrap();
        let (node_io, client_io) = mem::pair(1024);
        let (queries, query_rx) = bounded::<Query>(4);
        let (events, event_rx) = unbounded();
        let node = Node::new(cfg, node_io, 42, query_rx, event_rx);
        let clock = Clock::new(Instant::from_secs(5));
        let mut client = Endpoint::new(TcpConfig::default(), &mut SeededRandom::new(9));
        let tuple = FourTuple {
            local: "fd00:99:ff::10".parse().unwrap(),
            local_port: 40_000,
            remote: "fd00:aa::1".parse().unwrap(),
            remote_port: 80,
        };
        client.connect(clock.now(), tuple).unwrap();
        MemDownload {
            node,
            client,
            tuple,
            client_io,
            verifier: StreamVerifier::new(3, Some(len)),
            len,
            pump: Pump::new(),
            clock,
            asked: false,
            buf: vec![0u8; 64 * 1024],
            _queries: queries,
            _events: events,
        }
    }

    /// One round: a node step; the client's pump, its request once it can send it,
    /// what it reads fed to the verifier (which fails the test on a wrong byte); the
    /// client's pump again.
    pub fn round(&mut self) {
        self.node.step().unwrap();
        let now = self.clock.now();
        self.pump
            .poll(&mut self.client_io, &mut self.client, now)
            .unwrap();
        if let Some(c) = self.client.connection_mut(&self.tuple) {
            if !self.asked && c.send_capacity() >= 24 {
                let req = SourceRequest {
                    id: 3,
                    length: self.len,
                    rate: None,
                };
                assert_eq!(c.send(&req.to_bytes()).unwrap(), 24);
                self.asked = true;
            }
            let n = c.recv(&mut self.buf).unwrap_or(0);
            self.verifier.feed(&self.buf[..n]).expect("stream intact");
        }
        let now = self.clock.now();
        self.pump
            .poll(&mut self.client_io, &mut self.client, now)
            .unwrap();
    }
}
