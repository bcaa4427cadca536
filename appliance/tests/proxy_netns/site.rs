//! The members' web sites and the backends that serve them: each member's namespace runs
//! nginx (static files: `ETag`, ranges) and Python's `http.server` (neither) on `[::1]`,
//! each serving that member's own copy of the directory; all killed on drop.

use std::fs::File;
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::netns_common::content::write_random;
use super::netns_common::lab::*;
use super::netns_common::*;
use super::temp_dir::TempDir;

/// nginx's port on `[::1]` in every member's namespace.
pub const NGINX_BACKEND: u16 = 8081;
/// Python's `http.server`'s.
pub const PYTHON_BACKEND: u16 = 8082;
/// Every copy's modification time (nginx's `ETag` is made of it and the length).
const MTIME_SECS: u64 = 1_700_000_000;

/// A file every member serves: its name, length and the SHA-256 of member 1's copy.
pub struct Served {
    pub name: &'static str,
    pub len: u64,
    pub sha: [u8; 32],
}

/// The members' directories (`www1`..), the backends' files and the client's downloads.
pub struct Site {
    pub tmp: TempDir,
    pub big: Served,
    pub python: Served,
    pub version: Served,
    pub small: Served,
}

impl Site {
    pub fn root(&self, i: u16) -> PathBuf {
        self.tmp.0.join(format!("www{i}"))
    }

    pub fn client(&self) -> PathBuf {
        self.tmp.0.join("client")
    }
}

fn set_mtime(path: &Path, secs: u64) {
    let f = File::options().write(true).open(path).expect("open");
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set the modification time");
}

/// Writes member 1's files, copies them (separate files, same content and modification
/// time) to the other members; member 3's `version.bin` is another version (other content
/// and time, the same length).
pub fn make_site(nodes: u16) -> Site {
    let tmp = TempDir::new("proxy_netns", "site");
    let dirs: Vec<PathBuf> = (1..=nodes).map(|i| tmp.0.join(format!("www{i}"))).collect();
    for d in dirs.iter().chain([&tmp.0.join("client")]) {
        std::fs::create_dir_all(d).unwrap();
    }
    let started = Instant::now();
    let big_len = env_u64("VANY_PROXY_BIG_MIB", 1024) * MIB;
    let mut served = Vec::new();
    for (name, len, seed) in [
        ("big.bin", big_len, 11),
        ("python.bin", 32 * MIB, 13),
        ("version.bin", 48 * MIB, 14),
        ("small.bin", 16 * 1024, 15),
    ] {
        let sha = write_random(&dirs[0].join(name), len, seed);
        set_mtime(&dirs[0].join(name), MTIME_SECS);
        served.push(Served { name, len, sha });
    }
    for d in &dirs[1..] {
        for s in &served {
            std::fs::copy(dirs[0].join(s.name), d.join(s.name)).unwrap();
            set_mtime(&d.join(s.name), MTIME_SECS);
        }
    }
    // Member 3's version.bin: another version of it.
    let other = dirs[2].join("version.bin");
    write_random(&other, 48 * MIB, 99);
    set_mtime(&other, MTIME_SECS + 3600);
    println!(
        "site written in {:.1} s: big.bin {} MiB, python.bin, version.bin \
         (member 3's differs), small.bin",
        started.elapsed().as_secs_f64(),
        big_len / MIB
    );
    let mut it = served.into_iter();
    let mut next = || it.next().unwrap();
    Site {
        big: next(),
        python: next(),
        version: next(),
        small: next(),
        tmp,
    }
}

/// The backend processes of every member; killed (and waited for) on drop, even when a
/// check panics.
pub struct Backends(Vec<(String, Child)>);

impl Drop for Backends {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `program args` in namespace `ns`, its output into `log`.
fn spawn_in(ns: &str, program: &str, args: &[&str], log: &Path) -> Child {
    let f = File::create(log).expect("a backend's log");
    Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("clone the log"))
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} in {ns}: {e}"))
}

/// Whether something in namespace `ns` accepts connections on `[::1]:port`.
fn listening(ns: &str, port: u16) -> bool {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns).is_ok()
            && TcpStream::connect_timeout(
                &SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
                Duration::from_millis(300),
            )
            .is_ok()
    })
    .join()
    .unwrap_or(false)
}

/// Starts nginx and `http.server` in every member's namespace, each serving the member's
/// own directory, and waits until they listen.
pub fn start_backends(lab: &Lab, site: &Site) -> Backends {
    let mut b = Backends(Vec::new());
    for i in 1..=lab.nodes_count {
        let ns = lab.ns_name(&format!("n{i}"));
        let dir = site.tmp.0.join(format!("nginx{i}"));
        for sub in ["tmp", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).expect("nginx's directories");
        }
        let d = dir.display();
        let www = site.root(i);
        // One process (no master): killing it stops nginx.
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;\n\
             error_log {d}/logs/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; default_type application/octet-stream;\n\
             client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;\n\
             fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
             server {{ listen [::1]:{NGINX_BACKEND}; root {}; }} }}\n",
            www.display()
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let (p, c) = (dir.to_string_lossy(), path.to_string_lossy());
        let child = spawn_in(&ns, "nginx", &["-p", &p, "-c", &c], &dir.join("out.log"));
        b.0.push((format!("nginx of member {i}"), child));
        let port = PYTHON_BACKEND.to_string();
        let www = www.to_string_lossy();
        let args = [
            "-m",
            "http.server",
            &port,
            "--bind",
            "::1",
            "--directory",
            &www,
        ];
        let log = site.tmp.0.join(format!("python{i}.log"));
        let child = spawn_in(&ns, "/usr/bin/python3", &args, &log);
        b.0.push((format!("http.server of member {i}"), child));
        for port in [NGINX_BACKEND, PYTHON_BACKEND] {
            wait_for(
                &format!("member {i}'s backend on [::1]:{port}"),
                Duration::from_secs(10),
                || {
                    for (what, c) in &mut b.0 {
                        if let Ok(Some(s)) = c.try_wait() {
                            panic!("{what} exited ({s})");
                        }
                    }
                    listening(&ns, port).then_some(())
                },
            );
        }
    }
    b
}
