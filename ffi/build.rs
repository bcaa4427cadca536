//! Finds the system DPDK with pkg-config and compiles the C shim against it. Without
//! DPDK (or with `VANY_NO_DPDK=1`) the build succeeds anyway: the crate is compiled
//! without the `vany_dpdk` cfg and its API returns `DpdkError::NotBuilt`.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=shim/vany_shim.c");
    println!("cargo:rerun-if-env-changed=VANY_NO_DPDK");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    if env::var("VANY_NO_DPDK").is_ok_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=VANY_NO_DPDK is set: building vany without DPDK");
        return;
    }
    let lib = match pkg_config::Config::new()
        .atleast_version("21.11")
        // Linked below, after the shim: with `--as-needed` a shared library must come
        // after the object that needs it.
        .cargo_metadata(false)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            let first = e.to_string();
            let first = first
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("pkg-config failed");
            println!(
                "cargo:warning=DPDK not found ({first}); building vany without DPDK \
                 (apt-get install libdpdk-dev pkg-config, then rebuild)"
            );
            return;
        }
    };
    let mut build = cc::Build::new();
    build.file("shim/vany_shim.c").warnings(true);
    for path in &lib.include_paths {
        build.include(path);
    }
    // DPDK's headers need its compile flags too (`-include rte_config.h`, `-march=...`),
    // which the pkg-config crate does not hand out: ask pkg-config itself.
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    if let Ok(out) = Command::new(pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
    {
        let cflags = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut it = cflags.split_whitespace();
        while let Some(flag) = it.next() {
            if flag == "-include" {
                if let Some(header) = it.next() {
                    build.flag("-include").flag(header);
                }
            } else if flag.starts_with("-march=") || flag.starts_with("-D") {
                build.flag(flag);
            }
        }
    }
    build.compile("vany_dpdk_shim");
    for path in &lib.link_paths {
        println!("cargo:rustc-link-search=native={}", path.display());
    }
    for name in &lib.libs {
        println!("cargo:rustc-link-lib={name}");
    }
    println!("cargo:rustc-cfg=vany_dpdk");
}
