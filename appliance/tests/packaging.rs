//! What the Debian package ships around the binary (scripts/build-deb.sh, packaging/):
//! `vany --version` names the git revision, every subcommand a user can see in `--help`
//! has a man page and is in the bash completion, and the systemd units pass
//! `systemd-analyze verify` and start `vany` with flags it accepts. No root needed.

mod netns_common;
mod temp_dir;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netns_common::{skip, BIN};
use temp_dir::TempDir;

fn vany(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run vany")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommands `vany PATH... --help` lists under "Commands:" (without `help`).
fn listed_subcommands(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let out = vany(&args);
    assert!(out.status.success(), "vany {args:?}: {out:?}");
    let text = stdout(&out);
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in text.lines() {
        if line == "Commands:" {
            in_commands = true;
        } else if in_commands {
            match line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            {
                Some(name) if !line.starts_with("   ") => {
                    if name != "help" {
                        names.push(name.to_string());
                    }
                }
                // A wrapped description line.
                Some(_) => {}
                None => break,
            }
        }
    }
    names
}

/// Every subcommand path a user can reach, e.g. `["ctl", "handoff"]`, found through
/// `--help` (not through the definitions the generator walks).
fn all_subcommands() -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut todo = vec![Vec::new()];
    // Bounded: the command tree is two levels deep today.
    for _ in 0..1000 {
        let Some(path) = todo.pop() else { break };
        for name in listed_subcommands(&path) {
            let mut sub = path.clone();
            sub.push(name);
            found.push(sub.clone());
            todo.push(sub);
        }
    }
    assert!(todo.is_empty(), "command tree walk did not end");
    found
}

/// Generates the docs into a fresh directory.
fn generate(test: &str) -> TempDir {
    let dir = TempDir::new(test, "docs");
    let out = vany(&["generate-docs", dir.0.to_str().unwrap()]);
    assert!(out.status.success(), "generate-docs: {out:?}");
    dir
}

#[test]
fn version_names_the_git_revision() {
    let out = vany(&["--version"]);
    assert!(out.status.success());
    let v = stdout(&out);
    let v = v.trim();
    let prefix = format!("vany {} (git ", env!("CARGO_PKG_VERSION"));
    let rev = v
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {v:?}"));
    let hex = rev.strip_suffix("-dirty").unwrap_or(rev);
    assert!(
        hex == "unknown" || (hex.len() >= 7 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
        "revision {rev:?}"
    );
}

#[test]
fn every_subcommand_has_a_man_page_and_shell_completions() {
    let dir = generate("packaging-docs");
    let subs = all_subcommands();
    for must in [
        &["node"][..],
        &["ctl", "handoff"],
        &["bench", "tun"],
        &["client"],
    ] {
        assert!(
            subs.iter().any(|s| s == must),
            "{must:?} not found in --help: {subs:?}"
        );
    }
    let man = dir.0.join("man1");
    let mut expected: BTreeSet<String> = subs
        .iter()
        .map(|p| format!("vany-{}.1", p.join("-")))
        .collect();
    expected.insert("vany.1".into());
    let pages: BTreeSet<String> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pages, expected, "man pages in {}", man.display());
    for page in &pages {
        let text = std::fs::read_to_string(man.join(page)).unwrap();
        let title = page.trim_end_matches(".1");
        assert!(text.contains(".TH") && text.contains(title), "{page}");
    }
    let read = |f: &str| std::fs::read_to_string(dir.0.join("completions").join(f)).unwrap();
    let bash = read("vany.bash");
    for path in &subs {
        let name = path.last().unwrap();
        assert!(
            bash.contains(name.as_str()),
            "bash completion lacks {path:?}"
        );
    }
    // The hidden packaging command is in neither.
    assert!(!bash.contains("generate-docs") && !pages.iter().any(|p| p.contains("generate")));
    assert!(!stdout(&vany(&["--help"])).contains("generate-docs"));
    assert!(read("_vany").contains("#compdef vany"));
    assert!(read("vany.fish").contains("complete -c vany"));
}

/// The units in packaging/systemd, with `/usr/bin/vany` replaced by the binary under test.
fn units_with_binary(dir: &Path) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd");
    let mut units = Vec::new();
    for name in ["vany-node@.service", "vany-client@.service"] {
        let text = std::fs::read_to_string(src.join(name)).unwrap();
        assert!(text.contains("ExecStart=/usr/bin/vany "), "{name}");
        let path = dir.join(name);
        std::fs::write(&path, text.replace("/usr/bin/vany", BIN)).unwrap();
        units.push(path);
    }
    units
}

#[test]
fn systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("`systemd-analyze` is not installed (Debian: apt-get install systemd)");
        return;
    }
    // verify looks up the units' man: documentation links with `man`.
    if Command::new("man").arg("--version").output().is_err() {
        skip("`man` is not installed (Debian: apt-get install man-db)");
        return;
    }
    let docs = generate("packaging-units");
    let dir = TempDir::new("packaging-units", "units");
    let units = units_with_binary(&dir.0);
    // MANPATH: the units' man: documentation links must resolve (to the generated pages).
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("MANPATH", &docs.0)
        .output()
        .expect("systemd-analyze");
    // verify exits 0 on many problems (unknown keys, bad values): it must say nothing.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );
}

#[test]
fn the_node_unit_starts_vany_with_flags_it_accepts() {
    let dir = TempDir::new("packaging-flags", "etc");
    let config = dir.0.join("test.toml");
    let example = vany(&["node", "--example-config"]);
    assert!(example.status.success());
    std::fs::write(&config, &example.stdout).unwrap();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd/vany-node@.service"),
    )
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/vany "))
        .expect("ExecStart");
    let args: Vec<String> = exec
        .replace("/etc/vany/%i.toml", config.to_str().unwrap())
        .replace("%i", "test")
        .split_whitespace()
        .map(String::from)
        .chain(["--check".to_string()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = vany(&args);
    assert!(out.status.success(), "vany {args:?}: {out:?}");
    assert!(
        stdout(&out).contains("control /run/vany/test/control.sock"),
        "the unit's socket flag did not take: {}",
        stdout(&out)
    );
}

/// `vany node` under `Type=notify`: READY=1 arrives on `$NOTIFY_SOCKET` once the node
/// serves (its control socket answers), and SIGTERM still drains and exits 0. One member
/// on a TUN device it creates in a namespace of its own (root).
#[test]
fn the_node_tells_systemd_when_it_serves() {
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, Instant};

    if !netns_common::is_root() {
        skip("needs root (a TUN device in a network namespace)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("vany-notify-{}", std::process::id()));
    let mut guard = netns_common::guard::RunGuard::new(dir.clone());
    let ns = guard.add_ns(&format!("vany-notify-{}", std::process::id()), false);
    let socket = dir.join("control.sock");
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "id = 1\ntun = \"vnotify0\"\nanycast = \"fd00:aa::1\"\ncontact_node = 1\n\
             group_key = \"5ca1ab1e0ddba11c0ffee000deadbeef\"\n\
             control_socket = \"{}\"\n\
             [members.1]\nname = \"A\"\ncare_of = \"fd00:20:1::1\"\ncontact = true\n",
            socket.display()
        ),
    )
    .unwrap();
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log = dir.join("node.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, BIN, "node", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("spawn vany node");
    guard.keep(0, child, log);
    let mut buf = [0u8; 256];
    let start = Instant::now();
    let ready = loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no READY=1 within 30 s"
        );
        if let Ok(n) = notify.recv(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    };
    assert_eq!(ready, "READY=1");
    // Ready means serving: the control socket answers at once.
    let out = vany(&["ctl", "--socket", socket.to_str().unwrap(), "status"]);
    assert!(out.status.success(), "ctl status after READY=1: {out:?}");
    let mut child = guard.take(0).expect("node");
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the node did not exit within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "node exit after SIGTERM: {status}");
}
