//! Tests of what a [`super::FilesSite`] keeps about content: the hash cache, `read_at`
//! through its bounded open files, `check`, `prewarm`.

use std::time::{Duration, SystemTime};

use super::tests::{file, fixture, sha, site, write, TempDir};
use super::{FileId, FilesConfig, FilesError, FilesSite, FilesStats, Refusal};

#[test]
fn hash_cache_reuse_and_rehash() {
    let (_base, root) = fixture("hash");
    let mut site = site(&root);
    let first = file(site.resolve("/a.txt"));
    assert_eq!(site.stats().hashed_files, 1);
    assert_eq!(site.stats().hashed_bytes, 7);
    assert_eq!(file(site.resolve("/a.txt")), first);
    assert_eq!(
        site.stats().hashed_files,
        1,
        "hashed again though unchanged"
    );
    // Another length.
    write(root.join("a.txt"), b"hello again");
    let second = file(site.resolve("/a.txt"));
    assert_eq!(site.stats().hashed_files, 2);
    assert_eq!(second.id.hash, sha(b"hello again"));
    assert_ne!(second.etag, first.etag);
    // The same length, another mtime.
    write(root.join("a.txt"), b"HELLO AGAIN");
    let f = std::fs::File::options()
        .write(true)
        .open(root.join("a.txt"))
        .expect("open");
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .expect("mtime");
    drop(f);
    let third = file(site.resolve("/a.txt"));
    assert_eq!(site.stats().hashed_files, 3);
    assert_eq!(third.id.hash, sha(b"HELLO AGAIN"));
    assert_eq!(third.modified, 1_000_000_000);
    // A bounded cache drops its least recently used entry.
    site.set_limits(2, super::PREWARM_LIMIT);
    file(site.resolve("/a.txt"));
    file(site.resolve("/sub/x.txt"));
    file(site.resolve("/a.txt"));
    assert_eq!(site.stats().hashed_files, 5);
    file(site.resolve("/.hidden"));
    file(site.resolve("/a.txt"));
    assert_eq!(
        site.stats().hashed_files,
        6,
        "a.txt was the most recently used"
    );
    file(site.resolve("/sub/x.txt"));
    assert_eq!(site.stats().hashed_files, 7, "sub/x.txt was dropped");
}

#[test]
fn large_files_hash_in_pieces() {
    let base = TempDir::new("large");
    let content: Vec<u8> = (0..(1u32 << 20) + 7).map(|i| (i % 251) as u8).collect();
    write(base.0.join("big.bin"), &content);
    let mut site = site(&base.0);
    let info = file(site.resolve("/big.bin"));
    assert_eq!(info.id.hash, sha(&content));
    assert_eq!(info.len, content.len() as u64);
    assert_eq!(info.content_type, "application/octet-stream");
    assert_eq!(site.stats().hashed_bytes, content.len() as u64);
    let mut out = vec![0; 300_000];
    let mut got = Vec::new();
    let mut offset = 0;
    for _ in 0..100 {
        let n = site.read_at(&info.id, offset, &mut out).expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&out[..n]);
        offset += n as u64;
    }
    assert_eq!(got, content);
}

/// Reads all of `id` in `chunk`-byte pieces.
fn read_all(site: &mut FilesSite, id: &FileId, chunk: usize) -> Vec<u8> {
    let mut out = vec![0; chunk];
    let mut got = Vec::new();
    for _ in 0..10_000 {
        let n = site.read_at(id, got.len() as u64, &mut out).expect("read");
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&out[..n]);
    }
    panic!("no end of file");
}

#[test]
fn read_at_keeps_at_most_max_open_files() {
    let base = TempDir::new("lru");
    let contents: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("file {i} ").repeat(i + 1).into_bytes())
        .collect();
    for (i, c) in contents.iter().enumerate() {
        write(base.0.join(format!("f{i}.txt")), c);
    }
    let mut cfg = FilesConfig::new(&base.0);
    cfg.max_open = 2;
    let mut site = FilesSite::open(cfg).expect("open");
    let ids: Vec<FileId> = (0..5)
        .map(|i| file(site.resolve(&format!("/f{i}.txt"))).id)
        .collect();
    assert_eq!(site.stats().open_files, 0);
    let mut got = vec![Vec::new(); 5];
    let mut out = [0u8; 3];
    // Interleaved: every read may open a file and close another.
    for round in 0..100u64 {
        let mut progressed = false;
        for (i, id) in ids.iter().enumerate() {
            let n = site
                .read_at(id, got[i].len() as u64, &mut out)
                .expect("read");
            assert!(
                site.stats().open_files <= 2,
                "round {round}: {:?}",
                site.stats()
            );
            got[i].extend_from_slice(&out[..n]);
            progressed |= n > 0;
        }
        if !progressed {
            break;
        }
    }
    assert_eq!(got, contents);
    assert_eq!(site.stats().open_files, 2);
    assert_eq!(site.stats().read_errors, 0);
    // Past the end: 0; an empty buffer: 0.
    assert_eq!(site.read_at(&ids[0], 1000, &mut out).expect("read"), 0);
    assert_eq!(site.read_at(&ids[0], 0, &mut []).expect("read"), 0);
    assert_eq!(read_all(&mut site, &ids[4], 7), contents[4]);
    // Hashed once each, though reopened many times.
    assert_eq!(site.stats().hashed_files, 5);
}

#[test]
fn read_at_fails_once_the_content_changed() {
    let (_base, root) = fixture("changed");
    let mut site = site(&root);
    let id = file(site.resolve("/a.txt")).id;
    let mut out = [0u8; 4];
    assert_eq!(site.read_at(&id, 0, &mut out).expect("read"), 4);
    assert_eq!(&out, b"hell");
    // Replaced (another inode) with other content of the same length.
    write(root.join("a.tmp"), b"HELLO A");
    std::fs::rename(root.join("a.tmp"), root.join("a.txt")).expect("rename");
    let err = site.read_at(&id, 4, &mut out).expect_err("replaced");
    assert!(matches!(err, FilesError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("a.txt"), "{err}");
    assert_eq!(site.stats().read_errors, 1);
    // Back to the same content under yet another inode: readable again.
    write(root.join("a.tmp"), b"hello a");
    std::fs::rename(root.join("a.tmp"), root.join("a.txt")).expect("rename");
    assert_eq!(site.read_at(&id, 4, &mut out).expect("read"), 3);
    assert_eq!(&out[..3], b"o a");
    // Changed in place (another length), then gone.
    write(root.join("a.txt"), b"hello a, longer");
    assert!(matches!(
        site.read_at(&id, 0, &mut out),
        Err(FilesError::Changed { .. })
    ));
    std::fs::remove_file(root.join("a.txt")).expect("rm");
    assert!(matches!(
        site.read_at(&id, 0, &mut out),
        Err(FilesError::Missing { .. })
    ));
    // Paths an id may not have.
    for bad in [
        "../outside/secret.txt",
        "/a.txt",
        "sub//x.txt",
        "sub/./x.txt",
        "",
        "sub\\x.txt",
    ] {
        let id = FileId {
            path: bad.into(),
            hash: [0; 32],
        };
        assert!(
            matches!(
                site.read_at(&id, 0, &mut out),
                Err(FilesError::BadId { .. })
            ),
            "{bad:?}"
        );
    }
    let id = FileId {
        path: "out".into(),
        hash: sha(b"secret"),
    };
    let err = site.read_at(&id, 0, &mut out).expect_err("outside");
    assert!(
        matches!(
            err,
            FilesError::Refused {
                reason: Refusal::OutsideRoot,
                ..
            }
        ),
        "{err}"
    );
    let id = FileId {
        path: "fifo".into(),
        hash: [0; 32],
    };
    let err = site.read_at(&id, 0, &mut out).expect_err("fifo");
    assert!(
        matches!(
            err,
            FilesError::Refused {
                reason: Refusal::NotRegular,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(site.stats().read_errors, 11);
    assert_eq!(site.stats().open_files, 0);
}

#[test]
fn check_as_the_acceptor_of_a_handoff() {
    let (_base, root) = fixture("check");
    let mut giver = site(&root);
    let info = file(giver.resolve("/sub/x.txt"));
    // The acceptor's own copy of the directory.
    let copy = TempDir::new("check-copy");
    write(copy.0.join("sub/x.txt"), b"x in sub");
    write(copy.0.join("a.txt"), b"another a");
    let mut acceptor = site(&copy.0);
    let id: FileId =
        postcard::from_bytes(&postcard::to_stdvec(&info.id).expect("encode")).expect("decode");
    let checked = acceptor.check(&id).expect("same content");
    assert_eq!(checked.id, info.id);
    assert_eq!(checked.etag, info.etag);
    assert_eq!(checked.len, info.len);
    assert_eq!(read_all(&mut acceptor, &id, 3), b"x in sub");
    // Another content, a missing file, refused paths.
    let a = file(giver.resolve("/a.txt")).id;
    let err = acceptor.check(&a).expect_err("different");
    assert!(matches!(err, FilesError::Changed { .. }), "{err}");
    assert!(err.to_string().contains(&hex::encode(a.hash)), "{err}");
    let docs = file(giver.resolve("/docs/")).id;
    assert!(matches!(
        acceptor.check(&docs),
        Err(FilesError::Missing { .. })
    ));
    let out = FileId {
        path: "out".into(),
        hash: sha(b"secret"),
    };
    let err = giver.check(&out).expect_err("outside");
    assert!(
        matches!(
            err,
            FilesError::Refused {
                reason: Refusal::OutsideRoot,
                ..
            }
        ),
        "{err}"
    );
    for path in ["fifo", "sub"] {
        let id = FileId {
            path: path.into(),
            hash: [0; 32],
        };
        let err = giver.check(&id).expect_err("not regular");
        assert!(
            matches!(
                err,
                FilesError::Refused {
                    reason: Refusal::NotRegular,
                    ..
                }
            ),
            "{err}"
        );
    }
    let id = FileId {
        path: "../root/a.txt".into(),
        hash: a.hash,
    };
    assert!(matches!(giver.check(&id), Err(FilesError::BadId { .. })));
    assert_eq!(giver.check(&a).expect("own copy").id, a);
}

#[test]
fn prewarm_hashes_every_regular_file_once() {
    let (_base, root) = fixture("prewarm");
    let mut site = site(&root);
    let mut calls = Vec::new();
    let (files, bytes) = site
        .prewarm(&mut |f, b| calls.push((f, b)))
        .expect("prewarm");
    // Regular files only, not through symlinks, nothing outside the root.
    let all: [&[u8]; 10] = [
        b"<h1>home</h1>",
        b"hello a",
        b"space",
        b"h",
        b"unicode",
        b"docs home",
        b"f",
        b"x in sub",
        b"z",
        b"odd name",
    ];
    assert_eq!(files, all.len() as u64);
    assert_eq!(bytes, all.iter().map(|c| c.len() as u64).sum::<u64>());
    assert_eq!(calls.last(), Some(&(files, bytes)));
    assert_eq!(site.stats().hashed_files, files);
    assert_eq!(site.stats().hashed_bytes, bytes);
    for path in [
        "/",
        "/a.txt",
        "/inlink",
        "/indir/x.txt",
        "/sub/z.txt",
        "/docs/",
    ] {
        file(site.resolve(path));
    }
    assert_eq!(
        site.stats().hashed_files,
        files,
        "a request hashed a prewarmed file"
    );
    // Again: nothing to hash, the same counts.
    assert_eq!(
        site.prewarm(&mut |_, _| {}).expect("prewarm"),
        (files, bytes)
    );
    assert_eq!(site.stats().hashed_files, files);
    // Bounded.
    site.set_limits(super::HASH_CACHE_LIMIT, 3);
    let err = site.prewarm(&mut |_, _| {}).expect_err("too many");
    assert!(
        matches!(err, FilesError::TooManyFiles { limit: 3 }),
        "{err}"
    );
}

#[test]
fn a_fork_knows_the_hashes_and_holds_no_file() {
    let (_base, root) = fixture("fork");
    let mut site = site(&root);
    let (files, _) = site.prewarm(&mut |_, _| {}).expect("prewarm");
    let a = file(site.resolve("/a.txt"));
    assert_eq!(read_all(&mut site, &a.id, 4), b"hello a");
    assert_eq!(site.stats().open_files, 1);
    let mut fork = site.fork();
    assert_eq!(
        fork.stats(),
        &FilesStats::default(),
        "its counters start at zero"
    );
    assert_eq!(fork.config(), site.config());
    let b = file(fork.resolve("/a.txt"));
    assert_eq!(b, a);
    assert_eq!(
        fork.stats().hashed_files,
        0,
        "the fork hashed nothing again"
    );
    assert_eq!(read_all(&mut fork, &b.id, 4), b"hello a");
    assert_eq!(fork.stats().open_files, 1, "its own handle");
    assert_eq!(site.stats().hashed_files, files);
}
