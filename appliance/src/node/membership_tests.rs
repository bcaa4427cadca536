//! Tests of the gossip core ([`super::Gossip`]) with virtual time.

use super::*;

const KEY: &[u8] = b"0123456789abcdef-gossip";

fn settings() -> GossipSettings {
    GossipSettings {
        listen: "[::1]:1".parse().unwrap(),
        probe_period: StdDuration::from_millis(500),
        probe_rtt: StdDuration::from_millis(150),
        suspect_to_down: StdDuration::from_millis(1500),
    }
}

fn addr(id: MemberId) -> SocketAddr {
    format!("[fd00:99:{id}::2]:4700").parse().unwrap()
}

#[test]
fn seal_and_open_round_trip_and_refuse_tampering() {
    let key = gossip_key(KEY);
    let d = seal(&key, 1_000_000, b"payload");
    assert_eq!(open(&key, 1_000_500, &d), Ok(&b"payload"[..]));
    let mut bad = d.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(open(&key, 1_000_000, &bad), Err(AuthError::Forged));
    assert_eq!(
        open(&gossip_key(b"another key 0123"), 1_000_000, &d),
        Err(AuthError::Forged)
    );
    assert_eq!(open(&key, 1_000_000, &d[..20]), Err(AuthError::Forged));
    let late = 1_000_000 + MAX_SKEW.as_millis() as u64 + 1;
    assert_eq!(open(&key, late, &d), Err(AuthError::Stale));
}

/// Three nodes in virtual time; `cut` drops everything to and from a node.
struct Net {
    nodes: Vec<Gossip>,
    now: StdInstant,
    events: Vec<(MemberId, MembershipEvent)>,
}

impl Net {
    fn new(n: u16) -> Net {
        let now = StdInstant::now();
        let peers: BTreeMap<MemberId, SocketAddr> = (1..=n).map(|i| (i, addr(i))).collect();
        let nodes = (1..=n)
            .map(|i| {
                Gossip::new(
                    i,
                    1000 + u64::from(i),
                    &settings(),
                    peers.clone(),
                    KEY,
                    [i as u8; 32],
                    now,
                )
            })
            .collect();
        Net {
            nodes,
            now,
            events: Vec::new(),
        }
    }

    fn run(&mut self, for_ms: u64, cut: Option<MemberId>) {
        for _ in 0..for_ms / 10 {
            self.now += StdDuration::from_millis(10);
            let ms = wall_ms();
            for g in &mut self.nodes {
                g.poll(self.now, ms);
            }
            // Deliver until quiet.
            for _ in 0..10 {
                let mut flights = Vec::new();
                for g in &mut self.nodes {
                    let from = g.id();
                    for (to, d) in g.take_outgoing() {
                        flights.push((from, to, d));
                    }
                }
                if flights.is_empty() {
                    break;
                }
                for (from, to, d) in flights {
                    let Some(dst) = self.nodes.iter_mut().find(|g| addr(g.id()) == to) else {
                        continue;
                    };
                    if cut.is_some_and(|c| c == from || c == dst.id()) {
                        continue;
                    }
                    dst.handle_datagram(self.now, ms, &d);
                }
            }
            for g in &mut self.nodes {
                let id = g.id();
                self.events
                    .extend(g.take_events().into_iter().map(|e| (id, e)));
            }
        }
    }
}

#[test]
fn members_come_up_and_a_silent_one_goes_down_then_returns() {
    let mut net = Net::new(3);
    net.run(3000, None);
    for g in &net.nodes {
        assert!(
            g.states().values().all(|s| *s == PeerState::Up),
            "node {} sees {:?}",
            g.id(),
            g.states()
        );
        assert_eq!(g.stats().forged + g.stats().stale, 0);
    }
    net.events.clear();
    // Node 3 falls silent: 1 and 2 declare it down.
    net.run(8000, Some(3));
    for who in [1u16, 2] {
        assert!(
            net.events.contains(&(who, MembershipEvent::Down(3))),
            "node {who} never declared 3 down: {:?}",
            net.events
        );
        assert_eq!(
            net.nodes[usize::from(who) - 1].states()[&3],
            PeerState::Down
        );
    }
    net.events.clear();
    // It comes back (renewed identity or re-announce): up again everywhere.
    net.run(8000, None);
    for who in [1u16, 2] {
        assert_eq!(
            net.nodes[usize::from(who) - 1].states()[&3],
            PeerState::Up,
            "{:?}",
            net.events
        );
    }
}

/// A member that restarts (a new identity, a later bump) before anyone declares it
/// down is reported up again, so the data path greets it (issue 11 item 6).
#[test]
fn a_quick_restart_is_reported_as_up_again() {
    let mut net = Net::new(3);
    net.run(3000, None);
    net.events.clear();
    let peers: BTreeMap<MemberId, SocketAddr> = (1..=3).map(|i| (i, addr(i))).collect();
    net.nodes[2] = Gossip::new(3, 5000, &settings(), peers, KEY, [9; 32], net.now);
    net.run(3000, None);
    for who in [1u16, 2] {
        assert!(
            net.events.contains(&(who, MembershipEvent::Up(3))),
            "node {who} did not hear that 3 is back: {:?}",
            net.events
        );
    }
}

#[test]
fn the_kernel_drop_count_is_read_from_the_socket_table() {
    let table = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  200: 00000000000000000000000001000000:125C 00000000000000000000000000000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 7001 2 0000000000000000 0
  201: 00000000000000000000000001000000:125D 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7002 2 0000000000000000 181314
";
    assert_eq!(drops_of(table, "7002"), Some(181_314));
    assert_eq!(drops_of(table, "7001"), Some(0));
    assert_eq!(drops_of(table, "700"), None);
    // A real socket of this process: found, nothing dropped yet.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(socket_drops(&s), Some(0));
}

#[test]
fn a_forged_datagram_is_dropped_and_counted() {
    let mut net = Net::new(2);
    net.run(2000, None);
    let before = net.nodes[0].states().clone();
    // A well-formed foca payload under the wrong key, and noise.
    let forged = seal(
        &gossip_key(b"not the group key!"),
        wall_ms(),
        b"\x02\x00\x01",
    );
    let now = net.now;
    net.nodes[0].handle_datagram(now, wall_ms(), &forged);
    net.nodes[0].handle_datagram(now, wall_ms(), b"short");
    assert_eq!(net.nodes[0].stats().forged, 2);
    assert_eq!(net.nodes[0].states(), &before);
    assert!(
        net.nodes[0].take_outgoing().is_empty(),
        "no answer to a forgery"
    );
}

/// Log lines captured from the `tracing` events of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_flood_of_forged_and_stale_datagrams_writes_a_few_lines_per_reason() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let t0 = StdInstant::now();
    let (forged, stale) = (seal(&gossip_key(b"not the group key!"), wall_ms(), b"x"), {
        seal(&gossip_key(KEY), 1_000, b"\x02\x00\x01")
    });
    let mut g = Gossip::new(1, 1, &settings(), BTreeMap::new(), KEY, [1; 32], t0);
    // 50k forged and 5k stale datagrams a second, for 25 s of virtual time.
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..25 * 50_000u64 {
            let now = t0 + StdDuration::from_micros(i * 20);
            g.handle_datagram(now, wall_ms(), &forged);
            if i % 10 == 0 {
                g.handle_datagram(now, wall_ms(), &stale);
            }
            if i % 1000 == 0 {
                g.poll(now, wall_ms());
            }
        }
        g.poll(t0 + StdDuration::from_secs(40), wall_ms());
    });
    assert_eq!(g.stats().forged, 25 * 50_000);
    assert_eq!(g.stats().stale, 25 * 5_000);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for reason in [LOG_FORGED, LOG_STALE] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(reason)).collect();
        let summaries: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("suppressed"))
            .collect();
        // 5 lines, then a summary every 10 s: at 10, 20 and (at the end) 30 s.
        assert_eq!(lines.len() - summaries.len(), 5, "{reason}: {lines:#?}");
        assert!(
            (2..=3).contains(&summaries.len()),
            "{reason}: {summaries:#?}"
        );
    }
}
