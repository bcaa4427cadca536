//! Tests of [`super::FilesSite::open`] and [`super::FilesSite::resolve`] over a directory
//! made for each test; the helpers the other tests share.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{FilesConfig, FilesError, FilesSite, FilesStats, Refusal, Resolved};

/// A directory under the system's temporary directory, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("vany-files-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn write(path: impl AsRef<Path>, bytes: &[u8]) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

pub(super) fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `base/root` with files, directories, symlinks in and out, a FIFO and a socket;
/// `base/outside` beside it.
pub(super) fn fixture(tag: &str) -> (TempDir, PathBuf) {
    let base = TempDir::new(tag);
    let root = base.0.join("root");
    write(base.0.join("outside/secret.txt"), b"secret");
    write(root.join("index.html"), b"<h1>home</h1>");
    write(root.join("a.txt"), b"hello a");
    write(root.join("a b.txt"), b"space");
    write(root.join(".hidden"), b"h");
    write(root.join("\u{dc}n\u{ef}.txt"), b"unicode");
    write(root.join("docs/index.html"), b"docs home");
    write(root.join("my dir/f.txt"), b"f");
    write(root.join("sub/x.txt"), b"x in sub");
    write(root.join("sub/z.txt"), b"z");
    write(root.join("sub/<b>&\"q'.txt"), b"odd name");
    std::fs::create_dir_all(root.join("sub/b dir")).expect("mkdir");
    symlink("../outside/secret.txt", root.join("out")).expect("symlink");
    symlink(base.0.join("outside"), root.join("outdir")).expect("symlink");
    symlink("a.txt", root.join("inlink")).expect("symlink");
    symlink("sub", root.join("indir")).expect("symlink");
    symlink("nothing-here", root.join("dangling")).expect("symlink");
    symlink("../../outside", root.join("sub/outlink")).expect("symlink");
    symlink("../a.txt", root.join("sub/inlink.txt")).expect("symlink");
    mkfifo(&root.join("fifo"));
    mkfifo(&root.join("sub/fifo"));
    let socket = std::os::unix::net::UnixListener::bind(root.join("sock")).expect("socket");
    drop(socket);
    (base, root)
}

fn mkfifo(path: &Path) {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).expect("mkfifo");
}

pub(super) fn site(root: &Path) -> FilesSite {
    FilesSite::open(FilesConfig::new(root)).expect("open site")
}

pub(super) fn file(r: Resolved) -> super::FileInfo {
    match r {
        Resolved::File(info) => info,
        other => panic!("expected a file, got {other:?}"),
    }
}

#[test]
fn open_checks_root_and_config() {
    let base = TempDir::new("open");
    let missing = base.0.join("missing");
    let err = FilesSite::open(FilesConfig::new(&missing)).expect_err("missing root");
    let msg = err.to_string();
    assert!(
        msg.contains("missing") && msg.contains("does not exist"),
        "{msg}"
    );
    write(base.0.join("plain"), b"x");
    let err = FilesSite::open(FilesConfig::new(base.0.join("plain"))).expect_err("file root");
    assert!(err.to_string().contains("is not a directory"), "{err}");
    let mut cfg = FilesConfig::new(&base.0);
    cfg.max_open = 0;
    assert!(matches!(FilesSite::open(cfg), Err(FilesError::Config(_))));
    let mut cfg = FilesConfig::new(&base.0);
    cfg.index = vec!["../etc/passwd".into()];
    assert!(matches!(FilesSite::open(cfg), Err(FilesError::Config(_))));
    let cfg = FilesConfig::new(&base.0);
    assert_eq!(cfg.index, vec!["index.html".to_string()]);
    assert!(!cfg.listing);
    assert_eq!(cfg.max_open, 64);
    let site = FilesSite::open(cfg.clone()).expect("open");
    assert_eq!(site.config(), &cfg);
}

#[test]
fn index_files_and_redirects() {
    let (_base, root) = fixture("index");
    let mut site = site(&root);
    let home = file(site.resolve("/"));
    assert_eq!(home.id.path, "index.html");
    assert_eq!(home.id.hash, sha(b"<h1>home</h1>"));
    assert_eq!(home.len, 13);
    assert_eq!(home.content_type, "text/html; charset=utf-8");
    assert_eq!(
        home.etag,
        format!("\"{}\"", hex::encode(&sha(b"<h1>home</h1>")[..16]))
    );
    assert_eq!(home.etag.len(), 34);
    assert_eq!(home.etag, home.id.etag());
    let modified = std::fs::metadata(root.join("index.html"))
        .expect("stat")
        .modified()
        .expect("mtime");
    let secs = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs();
    assert_eq!(home.modified, secs);
    let docs = file(site.resolve("/docs/"));
    assert_eq!(docs.id.path, "docs/index.html");
    assert_eq!(site.resolve("/docs"), Resolved::Redirect("/docs/".into()));
    assert_eq!(
        site.resolve("/my%20dir"),
        Resolved::Redirect("/my%20dir/".into())
    );
    // Never a scheme-relative `//host/`: the target is rebuilt from the segments.
    assert_eq!(site.resolve("//docs"), Resolved::Redirect("/docs/".into()));
    assert_eq!(site.resolve("/."), Resolved::Redirect("/".into()));
    assert_eq!(site.resolve("/indir"), Resolved::Redirect("/indir/".into()));
    // A second index name is tried when the first is absent.
    let mut cfg = FilesConfig::new(&root);
    cfg.index = vec!["index.htm".into(), "x.txt".into()];
    let mut other = FilesSite::open(cfg).expect("open");
    assert_eq!(file(other.resolve("/sub/")).id.path, "sub/x.txt");
    assert_eq!(site.stats().served_files, 2);
}

#[test]
fn listing_on_and_off() {
    let (_base, root) = fixture("listing");
    let mut off = site(&root);
    assert_eq!(off.resolve("/sub/"), Resolved::Forbidden(Refusal::NoIndex));
    assert_eq!(off.stats().no_index, 1);
    let mut cfg = FilesConfig::new(&root);
    cfg.listing = true;
    let mut on = FilesSite::open(cfg).expect("open");
    let Resolved::Listing(page) = on.resolve("/sub/") else {
        panic!("expected a listing");
    };
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains("<title>Index of /sub/</title>"), "{page}");
    assert!(page.contains("<a href=\"../\">../</a>"), "{page}");
    let odd = "<a href=\"./%3Cb%3E%26%22q%27.txt\">&lt;b&gt;&amp;&quot;q&#39;.txt</a>";
    assert!(page.contains(odd), "{page}");
    assert!(page.contains("<a href=\"./b%20dir/\">b dir/</a>"), "{page}");
    assert!(
        page.contains("<a href=\"./inlink.txt\">inlink.txt</a>"),
        "{page}"
    );
    assert!(
        !page.contains("outlink"),
        "a symlink out of the root is listed: {page}"
    );
    assert!(!page.contains("fifo"), "a FIFO is listed: {page}");
    let order: Vec<usize> = ["&lt;b&gt;", "b dir/", "inlink.txt", "x.txt", "z.txt"]
        .iter()
        .map(|name| page.find(&format!(">{name}")).expect(name))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "not sorted: {page}");
    // A directory with an index is not listed; the root's listing has no parent link.
    assert!(matches!(on.resolve("/docs/"), Resolved::File(_)));
    std::fs::remove_file(root.join("index.html")).expect("rm");
    let Resolved::Listing(page) = on.resolve("/") else {
        panic!("expected a listing");
    };
    let page = String::from_utf8(page).expect("utf-8");
    assert!(!page.contains("../"), "{page}");
    assert!(
        page.contains("<a href=\"./%C3%9Cn%C3%AF.txt\">\u{dc}n\u{ef}.txt</a>"),
        "{page}"
    );
    assert!(
        !page.contains("outdir") && !page.contains(">out<"),
        "{page}"
    );
    assert!(
        !page.contains("sock") && !page.contains("dangling"),
        "{page}"
    );
}

#[test]
fn path_rules() {
    use Refusal::{EncodedSlash, NotRegular, OutsideRoot, Traversal};
    let (_base, root) = fixture("paths");
    let mut site = site(&root);
    enum Want {
        File(&'static str),
        Forbidden(Refusal),
        NotFound,
        BadPath,
    }
    let table: &[(&str, Want)] = &[
        ("/a.txt", Want::File("a.txt")),
        ("/./a.txt", Want::File("a.txt")),
        ("//sub//x.txt", Want::File("sub/x.txt")),
        ("/sub/./x.txt", Want::File("sub/x.txt")),
        ("/a%20b.txt", Want::File("a b.txt")),
        ("/%61.txt", Want::File("a.txt")),
        ("/.hidden", Want::File(".hidden")),
        ("/%C3%9Cn%C3%AF.txt", Want::File("\u{dc}n\u{ef}.txt")),
        ("/inlink", Want::File("inlink")),
        ("/indir/x.txt", Want::File("indir/x.txt")),
        ("/sub/inlink.txt", Want::File("sub/inlink.txt")),
        ("a.txt", Want::BadPath),
        ("", Want::BadPath),
        ("/a%2", Want::BadPath),
        ("/a%zz.txt", Want::BadPath),
        ("/%FF.txt", Want::BadPath),
        ("/%C3", Want::BadPath),
        ("/../a.txt", Want::Forbidden(Traversal)),
        ("/sub/../a.txt", Want::Forbidden(Traversal)),
        ("/sub/..", Want::Forbidden(Traversal)),
        ("/%2e%2e/a.txt", Want::Forbidden(Traversal)),
        ("/.%2E/root/a.txt", Want::Forbidden(Traversal)),
        ("/sub\\x.txt", Want::Forbidden(Traversal)),
        ("/..\\a.txt", Want::Forbidden(Traversal)),
        ("/a.txt%00", Want::Forbidden(Traversal)),
        ("/a.txt\0", Want::Forbidden(Traversal)),
        ("/sub%2Fx.txt", Want::Forbidden(EncodedSlash)),
        ("/sub%2fx.txt", Want::Forbidden(EncodedSlash)),
        ("/sub%5Cx.txt", Want::Forbidden(EncodedSlash)),
        ("/sub%5cx.txt", Want::Forbidden(EncodedSlash)),
        (
            "/%2E%2E%2Foutside/secret.txt",
            Want::Forbidden(EncodedSlash),
        ),
        ("/out", Want::Forbidden(OutsideRoot)),
        ("/outdir/secret.txt", Want::Forbidden(OutsideRoot)),
        ("/outdir/", Want::Forbidden(OutsideRoot)),
        ("/sub/outlink/secret.txt", Want::Forbidden(OutsideRoot)),
        ("/fifo", Want::Forbidden(NotRegular)),
        ("/sub/fifo", Want::Forbidden(NotRegular)),
        ("/sock", Want::Forbidden(NotRegular)),
        ("/missing", Want::NotFound),
        ("/a.txt/", Want::NotFound),
        ("/a.txt/x", Want::NotFound),
        ("/dangling", Want::NotFound),
        ("/A.TXT", Want::NotFound),
    ];
    let mut want_stats = FilesStats::default();
    for (path, want) in table {
        let got = site.resolve(path);
        match want {
            Want::File(rel) => {
                want_stats.served_files += 1;
                assert_eq!(file(got).id.path, *rel, "{path:?}");
            }
            Want::Forbidden(why) => {
                match why {
                    NotRegular => want_stats.not_regular += 1,
                    _ => want_stats.traversal_refused += 1,
                }
                assert_eq!(got, Resolved::Forbidden(*why), "{path:?}");
            }
            Want::NotFound => {
                want_stats.not_found += 1;
                assert_eq!(got, Resolved::NotFound, "{path:?}");
            }
            Want::BadPath => {
                want_stats.bad_path += 1;
                assert_eq!(got, Resolved::BadPath, "{path:?}");
            }
        }
    }
    let stats = *site.stats();
    assert_eq!(
        FilesStats {
            hashed_files: 0,
            hashed_bytes: 0,
            ..stats
        },
        want_stats
    );
    // Files reached through symlinks inside the root are hashed once (canonical key).
    let distinct = [
        "a.txt",
        "a b.txt",
        ".hidden",
        "\u{dc}n\u{ef}.txt",
        "sub/x.txt",
    ];
    assert_eq!(stats.hashed_files, distinct.len() as u64);
    assert_eq!(file(site.resolve("/inlink")).id.hash, sha(b"hello a"));
}
