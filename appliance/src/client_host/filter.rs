//! Keeping Mobile IPv6 packets from the host kernel, and receiving them ourselves.
//!
//! Linux without `CONFIG_IPV6_MIP6` (every mainstream kernel) answers a packet with a
//! Home Address option, or a Mobility Header, with an ICMPv6 Parameter Problem (RFC 8200
//! §4.2: option type 0xC9 has its top bits `11`; protocol 135 is unknown to it). So
//! `vany client` installs an nftables table that drops exactly those packets at the
//! kernel's *input* hook on the uplink — after the link layer, where an `AF_PACKET`
//! socket has already received a copy, and before the kernel looks at extension headers:
//!
//! ```text
//! table ip6 vany_client_<uplink> {
//!   chain input {
//!     type filter hook input priority -150; policy accept;
//!     iifname "<uplink>" meta l4proto 135 counter drop
//!     iifname "<uplink>" ip6 nexthdr 60 @nh,368,8 0xc9 counter drop
//!   }
//! }
//! ```
//!
//! (`@nh,368,8` is byte 46: the option type of a Destination Options header right after
//! the IPv6 header whose first option is padded to the HAO's 8n+6 alignment, as every
//! implementation emits it.) [`super::translate::claimed`] is the same test in code.
//!
//! The table is replaced atomically when installed (a table left by a crashed run is
//! overwritten) and deleted when the [`NftTable`] is dropped. One `vany client` per
//! uplink and network namespace.
//!
//! The receiving socket is an `AF_PACKET`/`SOCK_DGRAM` socket for `ETH_P_IPV6` with a
//! classic BPF filter ([`packet_filter`]) so that the kernel copies to user space only
//! packets received on the uplink, addressed to this host, whose IPv6 next header is 60
//! or 135.

use std::io::Write;
use std::process::{Command, Stdio};

use socket2::SockFilter;

/// Why the nftables rules could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// `nft` is not installed.
    #[error(
        "cannot run `nft` ({0}): install nftables (Debian: `apt-get install nftables`); \
         vany client needs it to keep Mobile IPv6 packets from the kernel"
    )]
    NoNft(std::io::Error),
    /// `nft` refused the rules.
    #[error("nft refused the rules for table {table} ({status}): {stderr}")]
    Refused {
        /// The table.
        table: String,
        /// nft's exit status.
        status: std::process::ExitStatus,
        /// What nft printed.
        stderr: String,
    },
    /// The interface name cannot be put into a rule.
    #[error("interface name {0:?} has characters nftables rules cannot carry")]
    BadInterface(String),
}

/// The table name for an uplink: `vany_client_` and the interface name with characters
/// other than letters, digits and `_` turned into `_`.
pub fn table_name(uplink: &str) -> String {
    let clean: String = uplink
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("vany_client_{clean}")
}

fn check_interface(uplink: &str) -> Result<(), FilterError> {
    let ok = !uplink.is_empty()
        && uplink.len() <= 15
        && uplink
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(FilterError::BadInterface(uplink.to_string()))
    }
}

/// The nft script that (re)creates the table for `uplink`.
pub fn ruleset(table: &str, uplink: &str) -> String {
    format!(
        "add table ip6 {table}\n\
         delete table ip6 {table}\n\
         table ip6 {table} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority -150; policy accept;\n\
         \t\tiifname \"{uplink}\" meta l4proto 135 counter drop comment \"vany client: Mobility Header\"\n\
         \t\tiifname \"{uplink}\" ip6 nexthdr 60 @nh,368,8 0xc9 counter drop comment \"vany client: Home Address option\"\n\
         \t}}\n\
         }}\n"
    )
}

fn nft(script: &str) -> Result<std::process::Output, std::io::Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    child.wait_with_output()
}

/// The installed nftables table; deleted on drop.
#[derive(Debug)]
pub struct NftTable {
    table: String,
}

impl NftTable {
    /// Installs (or replaces) the table for `uplink`.
    pub fn install(uplink: &str) -> Result<NftTable, FilterError> {
        check_interface(uplink)?;
        let table = table_name(uplink);
        let out = nft(&ruleset(&table, uplink)).map_err(FilterError::NoNft)?;
        if !out.status.success() {
            return Err(FilterError::Refused {
                table,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(NftTable { table })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.table
    }

    /// Packets the two rules dropped so far: (Mobility Header, Home Address option).
    pub fn counters(&self) -> Option<(u64, u64)> {
        let out = Command::new("nft")
            .args(["list", "table", "ip6", &self.table])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut counts = text.lines().filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "packets")?;
            words.next()?.parse::<u64>().ok()
        });
        Some((counts.next()?, counts.next()?))
    }
}

impl Drop for NftTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip6", &self.table])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// Classic BPF (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
/// SKF_AD_OFF + SKF_AD_PKTTYPE / SKF_AD_IFINDEX: the skb's packet type and interface.
const AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const AD_IFINDEX: u32 = 0xffff_f000 + 8;
/// PACKET_HOST: addressed to this host (not outgoing, not promiscuous).
const PACKET_HOST: u32 = 0;

/// A socket filter for an `AF_PACKET`/`SOCK_DGRAM` socket (data starts at the IPv6
/// header): accept packets received on interface `ifindex` for this host whose IPv6 next
/// header is a Destination Options header (60) or a Mobility Header (135).
pub fn packet_filter(ifindex: u32) -> Vec<SockFilter> {
    vec![
        SockFilter::new(LD_W_ABS, 0, 0, AD_IFINDEX),
        SockFilter::new(JEQ_K, 0, 6, ifindex), // -> drop
        SockFilter::new(LD_W_ABS, 0, 0, AD_PKTTYPE),
        SockFilter::new(JEQ_K, 0, 4, PACKET_HOST), // -> drop
        SockFilter::new(LD_B_ABS, 0, 0, 6),        // IPv6 next header
        SockFilter::new(JEQ_K, 1, 0, 135),         // -> accept
        SockFilter::new(JEQ_K, 0, 1, 60),          // -> accept / drop
        SockFilter::new(RET_K, 0, 0, 0x0004_0000), // accept
        SockFilter::new(RET_K, 0, 0, 0),           // drop
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_nft_identifiers() {
        assert_eq!(table_name("eth0"), "vany_client_eth0");
        assert_eq!(table_name("veth-a.1"), "vany_client_veth_a_1");
    }

    #[test]
    fn ruleset_drops_mh_and_hao_on_the_uplink_only() {
        let r = ruleset("vany_client_eth0", "eth0");
        assert!(r.starts_with("add table ip6 vany_client_eth0\ndelete table"));
        assert!(r.contains("hook input"));
        assert!(r.contains("iifname \"eth0\" meta l4proto 135 counter drop"));
        assert!(r.contains("iifname \"eth0\" ip6 nexthdr 60 @nh,368,8 0xc9 counter drop"));
    }

    #[test]
    fn interface_names_that_could_break_a_rule_are_refused() {
        for bad in ["", "a\"b", "a b", "a;b", "sixteen-chars-xx"] {
            assert!(check_interface(bad).is_err(), "{bad:?}");
        }
        for good in ["eth0", "veth-a.1", "wlp2s0", "br_lan@x"] {
            assert!(check_interface(good).is_ok(), "{good:?}");
        }
    }

    /// The kernel's BPF checker accepts the program (it refuses jumps past the end and
    /// programs that do not end in a return). Needs CAP_NET_RAW; skipped otherwise.
    #[test]
    fn kernel_accepts_the_packet_filter() {
        use socket2::{Domain, Protocol, Socket, Type};
        let proto = Protocol::from(i32::from(0x86ddu16.to_be()));
        match Socket::new(Domain::PACKET, Type::DGRAM, Some(proto)) {
            Ok(s) => s.attach_filter(&packet_filter(1)).expect("filter accepted"),
            Err(e) => println!("skipped: no AF_PACKET socket without CAP_NET_RAW ({e})"),
        }
    }
}
