//! A veth between two fresh namespaces for DPDK's `net_af_packet` on one end (`vd` in
//! namespace `d`, no kernel IPv6 on it) and the Linux kernel on the other (`vk` in `k`),
//! as the tests that put vany's DPDK backend in front of the kernel use it.

use std::time::Duration;

use super::{is_root, remove_stale_namespaces, wait_for, Netns};

/// Why DPDK on a veth cannot be tried here (not built with DPDK, not root), if so.
pub fn dpdk_skip_reason() -> Option<&'static str> {
    if !vany_ffi::BUILT_WITH_DPDK {
        return Some("vany was built without DPDK (libdpdk not found by pkg-config)");
    }
    if !is_root() {
        return Some("needs root (network namespaces, DPDK's EAL, AF_PACKET)");
    }
    None
}

/// The EAL's runtime directory (`--file-prefix`), removed on drop.
pub struct RuntimeDir(pub String);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Namespaces `{prefix}{pid}-d` and `-k` (stale ones of the prefix removed first) joined
/// by the veth `vd`/`vk`; `vk` up with `kernel_addrs` (no DAD) and `prepare` run on `k`
/// before the kernel's link-local address has left DAD. Returns (d, k, vk's MAC).
pub fn link(
    prefix: &str,
    kernel_addrs: &[String],
    prepare: impl Fn(&Netns),
) -> (Netns, Netns, String) {
    remove_stale_namespaces(&[prefix]);
    let pid = std::process::id();
    let d = Netns::create(format!("{prefix}{pid}-d"));
    let k = Netns::create(format!("{prefix}{pid}-k"));
    d.ip(&[
        "link", "add", "vd", "type", "veth", "peer", "name", "vk", "netns", &k.name,
    ]);
    // The DPDK end has no kernel IPv6 (the kernel stays off vany's link); AF_PACKET sees
    // every frame anyway.
    d.exec(&["sysctl", "-qw", "net.ipv6.conf.vd.disable_ipv6=1"]);
    d.ip(&["link", "set", "vd", "up"]);
    for a in kernel_addrs {
        k.ip(&["addr", "add", a, "dev", "vk", "nodad"]);
    }
    k.ip(&["link", "set", "vk", "up"]);
    k.ip(&["link", "set", "lo", "up"]);
    prepare(&k);
    wait_for(
        "the kernel's link-local address leaves DAD",
        Duration::from_secs(10),
        || {
            k.ip(&["-6", "addr", "show", "dev", "vk", "tentative"])
                .trim()
                .is_empty()
                .then_some(())
        },
    );
    let mac = k
        .exec(&["cat", "/sys/class/net/vk/address"])
        .trim()
        .to_string();
    (d, k, mac)
}
