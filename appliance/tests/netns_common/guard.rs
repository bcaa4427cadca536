//! What one root test run leaves behind, removed when it ends: its child processes
//! (killed and waited for), its network namespaces (deleted, last made first) and its
//! directory. On a failing test the last lines of each process's log are printed first,
//! since the directory holding them goes away.

use std::path::PathBuf;
use std::process::{Child, Command};

use super::run;

/// Lines of a process's log shown when the test fails.
const LOG_TAIL: usize = 40;

/// The processes, namespaces and files of one run (see the module doc).
pub struct RunGuard {
    /// The run's directory (configurations, sockets, logs).
    pub dir: PathBuf,
    namespaces: Vec<String>,
    /// Processes by slot, each with the log shown if the test fails.
    procs: Vec<(Option<Child>, PathBuf)>,
}

impl RunGuard {
    /// A run whose files live in `dir` (created now).
    pub fn new(dir: PathBuf) -> RunGuard {
        std::fs::create_dir_all(&dir).expect("the run's directory");
        RunGuard {
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
        }
    }

    /// Creates namespace `name` with its loopback up (and IPv6 forwarding on, if
    /// `forwarding`); it is deleted at the end of the run.
    pub fn add_ns(&mut self, name: &str, forwarding: bool) -> String {
        run("ip", &["netns", "add", name]);
        self.namespaces.push(name.to_string());
        run("ip", &["-n", name, "link", "set", "lo", "up"]);
        if forwarding {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    name,
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
                ],
            );
        }
        name.to_string()
    }

    /// Keeps `child` in slot `slot` (slots grow as needed); `log` is shown if the test
    /// fails.
    pub fn keep(&mut self, slot: usize, child: Child, log: PathBuf) {
        while self.procs.len() <= slot {
            self.procs.push((None, PathBuf::new()));
        }
        self.procs[slot] = (Some(child), log);
    }

    /// Takes the process of `slot` back (the test stops it itself).
    pub fn take(&mut self, slot: usize) -> Option<Child> {
        self.procs.get_mut(slot).and_then(|(c, _)| c.take())
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        for (child, log) in &mut self.procs {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if std::thread::panicking() && !log.as_os_str().is_empty() {
                if let Ok(text) = std::fs::read_to_string(&*log) {
                    let tail: Vec<&str> = text.lines().rev().take(LOG_TAIL).collect();
                    eprintln!("--- last lines of {} ---", log.display());
                    for l in tail.iter().rev() {
                        eprintln!("{l}");
                    }
                }
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
