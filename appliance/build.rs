//! Records the git revision `vany --version` prints (env `VANY_GIT_REV`): the short
//! commit, `-dirty` when tracked files differ from it, or `unknown` outside a git checkout
//! (a crate tarball, a source package) or without `git`. Nothing here can fail the build.

use std::path::Path;
use std::process::Command;

/// `git ARGS` in the package's directory; its trimmed stdout if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Tells cargo to run this script again when `path` (from `git rev-parse --git-path`)
/// changes, if it exists.
fn watch_git_path(name: &str) {
    if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", name]) {
        if Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}

fn main() {
    // The sources whose edits make the tree dirty (the default "any file of the package"
    // stops applying once a rerun-if-changed is printed).
    for p in [
        "src",
        "Cargo.toml",
        "../stack",
        "../ffi",
        "../Cargo.toml",
        "../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    // Only vany's own repository: a source tarball unpacked inside some other checkout
    // (a vendored copy) must not report that checkout's commit.
    let ours = git(&["ls-files", "--error-unmatch", "Cargo.toml", "build.rs"]).is_some();
    let rev = match git(&["rev-parse", "--short=7", "HEAD"]) {
        Some(rev) if ours && !rev.is_empty() => {
            // HEAD moves on commit and checkout; the ref moves on commit; the index
            // changes on `git add`, when dirtiness may change too.
            watch_git_path("HEAD");
            watch_git_path("index");
            watch_git_path("packed-refs");
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch_git_path(&r);
            }
            // Untracked files do not make a build dirty: only changes to tracked ones.
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=VANY_GIT_REV={rev}");
}
