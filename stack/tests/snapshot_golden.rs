//! Golden bytes of the TCP snapshot format (issue 13): the digest of a fixed
//! connection's snapshot, per format version. A change to what a `Connection` serializes
//! fails here until `SNAPSHOT_VERSION` is bumped and the new version's digest is added
//! (an acceptor of the old version then refuses the new layout by its version, instead of
//! restoring garbage).

use std::net::Ipv6Addr;

use vany_stack::tcp::{Connection, FourTuple, Seq, TcpConfig, SNAPSHOT_VERSION};
use vany_stack::time::Instant;

/// SHA-256 of the fixed connection's snapshot, by format version.
const GOLDEN: &[(u16, &str)] = &[(
    2,
    "edad51317fe8a154864880825a2bc02ad5e37069eef38a0eaab3da3c9f828855",
)];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_snapshot_layout_changes_only_with_its_version() {
    let tuple = FourTuple {
        local: Ipv6Addr::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 1),
        local_port: 80,
        remote: Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 2),
        remote_port: 40000,
    };
    let mut conn = Connection::connect(
        &TcpConfig::default(),
        tuple,
        Seq(1000),
        Instant::from_secs(1),
    );
    conn.send(b"golden bytes").unwrap();
    let bytes = conn.snapshot_bytes(Instant::from_secs(2)).unwrap();
    let digest = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    let expected = GOLDEN.iter().find(|(v, _)| *v == SNAPSHOT_VERSION);
    assert_eq!(
        expected.map(|(_, d)| *d),
        Some(digest.as_str()),
        "the TCP snapshot of version {SNAPSHOT_VERSION} serializes differently than it did \
         ({} bytes now, digest {digest}): bump SNAPSHOT_VERSION in stack/src/tcp/snapshot.rs \
         and add (version, digest) to GOLDEN",
        bytes.len()
    );
    // And it still restores.
    let back = Connection::restore_bytes(&bytes, Instant::from_secs(5)).unwrap();
    assert_eq!(back.tuple(), tuple);
}
