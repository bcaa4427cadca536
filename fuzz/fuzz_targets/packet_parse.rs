//! Fuzz target `packet_parse`: arbitrary bytes into `vany_stack::wire::parse`.
//!
//! Properties checked on every input:
//! - `parse` and `parse_verified` never panic (they return a typed error);
//! - the data path's deferred parses (`parse_deferred`, `parse_tcp_deferred`) agree with
//!   `parse_verified`: the checksum the TCP engine finishes while copying the payload
//!   decides as the verified parse does, and the segment and addresses are the same;
//! - `rr::verify_packet` never panics on a parsed packet, nor does the Packet Too Big
//!   parser on an ICMPv6 message;
//! - a parsed packet round-trips: its repr emits into exactly `buffer_len()` bytes, the
//!   emitted bytes parse again to an equal repr, and their upper-layer checksum verifies;
//! - a parsed BU or BA that carries Binding Authorization Data, re-signed with
//!   `rr::emit_signed`, passes `parse_verified` and `rr::verify_packet`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vany_stack::mip6::rr::{self, Kbm};
use vany_stack::wire::{self, Upper};

/// The fixed Kbm, the same one `examples/gen_seeds.rs` signs its seeds with:
/// SHA1(home token | care-of token).
fn kbm() -> &'static Kbm {
    static KBM: OnceLock<Kbm> = OnceLock::new();
    KBM.get_or_init(|| rr::kbm(b"homeTOKN", Some(b"careTOKN")))
}

fuzz_target!(|data: &[u8]| {
    let kbm = kbm();
    let verified = wire::parse_verified(data);
    let deferred = wire::parse_deferred(data);
    match (&deferred, &verified) {
        (Ok(d), _) if d.deferred.is_some() => {
            let Upper::Tcp(seg) = &d.repr.upper else {
                panic!("deferred check on a non-TCP packet")
            };
            let check = d.deferred.unwrap();
            assert_eq!(
                check.verifies(wire::checksum::sum(0, seg.payload)),
                verified.is_ok()
            );
            if let Ok(v) = &verified {
                assert_eq!(&v.repr, &d.repr);
            }
        }
        _ => assert_eq!(&deferred, &verified),
    }
    match wire::parse_tcp_deferred(data) {
        Ok(Some(t)) => {
            let d = deferred.as_ref().expect("parse_deferred agrees on TCP");
            assert_eq!(&d.repr.upper, &Upper::Tcp(t.segment));
            assert_eq!(d.deferred, t.deferred);
            assert_eq!(
                (t.pseudo_src(), t.pseudo_dst()),
                (d.repr.pseudo_src(), d.repr.pseudo_dst())
            );
        }
        Ok(None) => assert!(!matches!(&deferred, Ok(d) if matches!(d.repr.upper, Upper::Tcp(_)))),
        Err(e) => assert_eq!(Err(e), deferred.as_ref().map(|_| ()).map_err(|e| e.clone())),
    }
    let Ok(parsed) = wire::parse(data) else {
        return;
    };
    let _ = rr::verify_packet(&parsed, kbm);
    // An ICMPv6 Packet Too Big's quoted packet (RFC 4443 §3.2): a typed error, never a
    // panic; a TCP quote has its 8 bytes.
    if let Upper::Icmpv6(m) = &parsed.repr.upper {
        if let Ok(ptb) = wire::PacketTooBigRepr::parse(m.msg_type, m.body) {
            assert!(ptb.next_header != 6 || ptb.tcp.is_some());
        }
    }

    // Round trip: emit the repr and parse it again.
    let repr = &parsed.repr;
    let mut buf = vec![0u8; repr.buffer_len()];
    let len = match repr.emit(&mut buf) {
        Ok(len) => len,
        Err(e) => panic!("a parsed repr does not emit: {e}\nrepr: {repr:?}"),
    };
    assert_eq!(len, buf.len(), "emit length != buffer_len()");
    let reparsed = match wire::parse(&buf[..len]) {
        Ok(p) => p,
        Err(e) => panic!(
            "re-emitted packet does not parse: {e}\nrepr: {repr:?}\nemitted: {}",
            hex(&buf[..len])
        ),
    };
    assert_eq!(
        &reparsed.repr,
        repr,
        "round trip changed the repr; emitted: {}",
        hex(&buf[..len])
    );
    assert!(
        reparsed.checksum_ok,
        "re-emitted packet's checksum does not verify; emitted: {}",
        hex(&buf[..len])
    );

    // Re-sign BUs and BAs: `emit_signed` refuses a repr whose last option is not Binding
    // Authorization Data, and whatever it emits must verify.
    let mut signed_buf = vec![0u8; repr.buffer_len()];
    if let Ok(n) = rr::emit_signed(repr, kbm, &mut signed_buf) {
        let signed = match wire::parse_verified(&signed_buf[..n]) {
            Ok(p) => p,
            Err(e) => panic!(
                "emit_signed output does not parse_verified: {e}\nemitted: {}",
                hex(&signed_buf[..n])
            ),
        };
        assert_eq!(
            rr::verify_packet(&signed, kbm),
            Ok(true),
            "emit_signed output does not verify; emitted: {}",
            hex(&signed_buf[..n])
        );
    }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
