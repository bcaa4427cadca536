//! Network namespaces and virtual links made for a benchmark run, removed at its end.
//!
//! A [`Netns`] is a named namespace (`ip netns add`), deleted when the guard drops: on
//! success, on error, and on SIGINT/SIGTERM (which the benchmark turns into an error). A
//! veth pair lives inside namespaces and goes away with them; a TUN device goes away when
//! its file descriptor closes. [`spawn_in`] runs a closure in a thread that has entered a
//! namespace (setns affects only the calling thread), which is how the kernel's sockets
//! of a benchmark are placed.
//!
//! Names carry the process id (`vanyb<pid>-<tag>`), so [`remove_stale`] can delete what
//! a killed earlier run left behind.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;

use super::BenchError;

/// Prefix of every namespace a benchmark creates.
pub const PREFIX: &str = "vanyb";

/// Runs a program, returning its stdout, or an error with its output.
pub fn run(program: &str, args: &[&str]) -> Result<String, BenchError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| BenchError::Spawn {
            program: program.to_string(),
            hint: "iproute2",
            source,
        })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `vanyb<pid>-<tag>` with its loopback up.
    pub fn create(tag: &str) -> Result<Netns, BenchError> {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <name> ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<String, BenchError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Moves device `dev` (in the caller's namespace) into this one.
    pub fn adopt(&self, dev: &str) -> Result<(), BenchError> {
        run("ip", &["link", "set", "dev", dev, "netns", &self.name]).map(drop)
    }

    /// Brings `dev` up with `mtu` and gives it `addr` (e.g. `fd00:6b::1/64`), without
    /// duplicate address detection.
    pub fn configure(&self, dev: &str, mtu: u32, addr: &str) -> Result<(), BenchError> {
        let mtu = mtu.to_string();
        self.ip(&["link", "set", "dev", dev, "mtu", &mtu, "up"])?;
        self.ip(&["-6", "addr", "add", addr, "dev", dev, "nodad"])?;
        Ok(())
    }

    /// Sets a sysctl inside the namespace (`ip netns exec NS sysctl -qw KEY=VALUE`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), BenchError> {
        let kv = format!("{key}={value}");
        run(
            "ip",
            &["netns", "exec", &self.name, "sysctl", "-qw", kv.as_str()],
        )
        .map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Creates a veth pair with one end (`a`) in `ns_a` and the other (`b`) in `ns_b`.
pub fn veth(ns_a: &Netns, a: &str, ns_b: &Netns, b: &str) -> Result<(), BenchError> {
    run(
        "ip",
        &[
            "link", "add", a, "netns", &ns_a.name, "type", "veth", "peer", "name", b, "netns",
            &ns_b.name,
        ],
    )
    .map(drop)
}

/// Runs `f` in a new thread that has first entered namespace `ns`.
pub fn spawn_in<T, F>(ns: &Netns, what: &str, f: F) -> JoinHandle<Result<T, BenchError>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BenchError> + Send + 'static,
{
    let name = ns.name.clone();
    std::thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            enter(&name)?;
            f()
        })
        .expect("spawning a thread")
}

/// Moves the calling thread into namespace `name`.
fn enter(name: &str) -> Result<(), BenchError> {
    let err = |source| BenchError::Netns {
        name: name.to_string(),
        source,
    };
    let file = std::fs::File::open(Path::new("/run/netns").join(name)).map_err(err)?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| err(e.into()))
}

/// Deletes namespaces that earlier benchmark runs left behind (their process is gone).
pub fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
