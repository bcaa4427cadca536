//! Scale smoke test: many real TCP + CN clients against a few servers. Prints wall time;
//! asserts only on correctness (benchmarks and timings are not assertions).
//! `VANY_SIM_SCALE_CLIENTS` and `VANY_SIM_SCALE_SERVERS` override the number of clients
//! (default 1,000) and servers (default 4).

mod sim_common;

use sim_common::*;
use vany_appliance::sim::client::{Client, ClientSummary};
use vany_appliance::sim::LinkParams;
use vany_stack::time::{Duration, Instant};

#[test]
fn a_thousand_clients_download_64_kib_each() {
    let clients = std::env::var("VANY_SIM_SCALE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let servers = std::env::var("VANY_SIM_SCALE_SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let length = 64 * 1024;
    let started = std::time::Instant::now();
    let mut s = scenario(&ScenarioParams {
        seed: 2024,
        servers,
        clients,
        regions: servers.max(10),
        length,
        rate: None,
        link: LinkParams {
            jitter: Duration::from_millis(1),
            loss: 0.001,
            ..LinkParams::default()
        },
        spread: Duration::from_secs(1),
    });
    let done = s.run(Instant::from_secs(300));
    let wall = started.elapsed();
    let seed = s.sim.seed();
    let mut total = ClientSummary::default();
    for &c in &s.clients.clone() {
        total.add(&s.sim.host_as::<Client>(c).unwrap().summary());
    }
    let stats = s.sim.stats();
    println!(
        "scale: {clients} clients x {length} B, {servers} servers: {:.2} s wall, {} simulated, {} events, {} packets delivered ({:.0} events/s wall)",
        wall.as_secs_f64(),
        s.sim.now(),
        stats.events,
        stats.delivered,
        stats.events as f64 / wall.as_secs_f64()
    );
    println!("scale: {total:?}");
    assert!(done, "seed {seed}: not done by 300 s: {total:?}");
    assert_eq!(total.complete, clients as u64, "seed {seed}: {total:?}");
    assert_eq!(total.mismatches, 0, "seed {seed}");
    assert_eq!(total.bytes_verified, clients as u64 * length, "seed {seed}");
}
