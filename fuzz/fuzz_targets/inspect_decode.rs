//! Fuzz target `inspect_decode`: arbitrary bytes through the `vany inspect` decoding path.
//!
//! The same input is read as a classic pcap file (`inspect_pcap`), as one frame of each
//! link type `decode` knows (Ethernet, raw IP, Linux SLL v1/v2), with and without a key,
//! and, when it is UTF-8, as `--hex` text (`parse_hex`). Every report is rendered as text
//! and as JSON with `write_reports`. Nothing may panic, and rendering into a `Vec` must
//! not fail.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vany_appliance::inspect::pcap::LinkType;
use vany_appliance::inspect::{decode, inspect_pcap, parse_hex, write_reports, PacketReport};
use vany_stack::mip6::rr::{self, Kbm};

/// The fixed Kbm, the same one `examples/gen_seeds.rs` signs its seeds with.
fn kbm() -> &'static Kbm {
    static KBM: OnceLock<Kbm> = OnceLock::new();
    KBM.get_or_init(|| rr::kbm(b"homeTOKN", Some(b"careTOKN")))
}

fn render(reports: &[PacketReport]) {
    let mut out = Vec::new();
    write_reports(&mut out, reports, false).expect("text rendering into a Vec failed");
    write_reports(&mut out, reports, true).expect("JSON rendering into a Vec failed");
}

fuzz_target!(|data: &[u8]| {
    let kbm = kbm();
    match inspect_pcap(data, Some(kbm)) {
        Ok(reports) => render(&reports),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let mut reports = Vec::with_capacity(6);
    for link in [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ] {
        reports.push(decode(1, link, data, Some(kbm)));
    }
    reports.push(decode(2, LinkType::RawIp, data, None));
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = parse_hex(text) {
            reports.push(decode(3, LinkType::RawIp, &bytes, Some(kbm)));
        }
    }
    render(&reports);
});
