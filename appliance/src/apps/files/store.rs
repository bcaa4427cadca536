//! A site's files as content: the hash cache (canonical path -> OS stamp and SHA-256) and
//! the open file handles that `read_at` reads through.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use super::lru::Lru;
use super::path::id_segments;
use super::{content_type, FileId, FileInfo, FilesError, FilesStats, Refusal, HASH_CACHE_LIMIT};

/// Bytes read at a time when hashing.
const HASH_CHUNK: usize = 256 * 1024;

/// Times a file is hashed again when it changed while it was hashed.
const HASH_TRIES: usize = 3;

/// A file's identity and version as the OS tells it: when any of it changes, the content
/// is taken to have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    pub(crate) len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    pub(crate) fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }

    /// mtime in whole seconds since the epoch, 0 before it.
    pub(crate) fn modified_secs(&self) -> u64 {
        u64::try_from(self.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0)
    }
}

/// A hash cache entry.
#[derive(Debug, Clone)]
struct Hashed {
    stamp: Stamp,
    hash: [u8; 32],
}

/// An open file, verified to have content `hash` while its path still shows `stamp`.
#[derive(Debug)]
struct Handle {
    file: File,
    canon: PathBuf,
    stamp: Stamp,
    hash: [u8; 32],
}

/// The hash cache and the open handles.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    hashes: Lru<PathBuf, Hashed>,
    handles: Lru<String, Handle>,
    buf: Vec<u8>,
}

impl Store {
    /// A store for the canonical `root`, keeping at most `max_open` files open.
    pub(crate) fn new(root: PathBuf, max_open: usize) -> Store {
        Store {
            root,
            hashes: Lru::new(HASH_CACHE_LIMIT),
            handles: Lru::new(max_open),
            buf: Vec::new(),
        }
    }

    /// A store for the same root with a copy of this one's hash cache and no open file.
    pub(crate) fn fork(&self) -> Store {
        Store {
            root: self.root.clone(),
            hashes: self.hashes.clone(),
            handles: Lru::new(self.handles.limit()),
            buf: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn set_hash_cache_limit(&mut self, limit: usize) {
        self.hashes = Lru::new(limit);
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// What the regular file `canon` (canonical, under the root, with metadata `meta`) is,
    /// named `rel`: hashed unless the cache has it at the same stamp.
    pub(crate) fn info(
        &mut self,
        canon: &Path,
        rel: &str,
        meta: &Metadata,
        stats: &mut FilesStats,
    ) -> Result<FileInfo, FilesError> {
        let stamp = Stamp::of(meta);
        let (stamp, hash) = match self.cached(canon, &stamp) {
            Some(hash) => (stamp, hash),
            None => {
                let (file, stamp) = open_regular(canon, rel)?;
                self.hash_open(canon, rel, &file, stamp, stats)?
            }
        };
        Ok(file_info(rel, stamp, hash))
    }

    /// The hash of `canon` if the cache has it at `stamp` (then it is the most recent).
    pub(crate) fn cached(&mut self, canon: &Path, stamp: &Stamp) -> Option<[u8; 32]> {
        let key = canon.to_path_buf();
        match self.hashes.get_mut(&key) {
            Some(h) if h.stamp == *stamp => Some(h.hash),
            _ => None,
        }
    }

    /// The hash of the open `file` (canonical path `canon`, fstat `stamp`), from the cache
    /// or read now; the stamp it holds for.
    pub(crate) fn hash_open(
        &mut self,
        canon: &Path,
        rel: &str,
        file: &File,
        mut stamp: Stamp,
        stats: &mut FilesStats,
    ) -> Result<(Stamp, [u8; 32]), FilesError> {
        for _ in 0..HASH_TRIES {
            if let Some(hash) = self.cached(canon, &stamp) {
                return Ok((stamp, hash));
            }
            let hash = self.hash_contents(file, rel, stats)?;
            let after = file
                .metadata()
                .map(|m| Stamp::of(&m))
                .map_err(|e| io_error(rel, e))?;
            if after == stamp {
                self.hashes
                    .insert(canon.to_path_buf(), Hashed { stamp, hash });
                return Ok((stamp, hash));
            }
            stamp = after;
        }
        Err(FilesError::Unstable {
            path: rel.to_string(),
        })
    }

    /// SHA-256 of the file's content, read in [`HASH_CHUNK`] pieces.
    fn hash_contents(
        &mut self,
        file: &File,
        rel: &str,
        stats: &mut FilesStats,
    ) -> Result<[u8; 32], FilesError> {
        if self.buf.len() != HASH_CHUNK {
            self.buf = vec![0; HASH_CHUNK];
        }
        let mut sha = Sha256::new();
        let mut offset = 0u64;
        loop {
            let n = match file.read_at(&mut self.buf, offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(rel, e)),
            };
            sha.update(&self.buf[..n]);
            offset += n as u64;
        }
        stats.hashed_files += 1;
        stats.hashed_bytes += offset;
        Ok(sha.finalize().into())
    }

    /// Reads file `id` at `offset` into `out` (see [`super::FilesSite::read_at`]).
    pub(crate) fn read_at(
        &mut self,
        id: &FileId,
        offset: u64,
        out: &mut [u8],
        stats: &mut FilesStats,
    ) -> Result<usize, FilesError> {
        let fresh = match self.handles.get_mut(&id.path) {
            Some(h) => {
                h.hash == id.hash
                    && std::fs::metadata(&h.canon).is_ok_and(|m| Stamp::of(&m) == h.stamp)
            }
            None => false,
        };
        if !fresh {
            self.handles.remove(&id.path);
            let opened = self.open_verified(id, stats);
            stats.open_files = self.handles.len() as u64;
            let handle = opened?;
            self.handles.insert(id.path.clone(), handle);
            stats.open_files = self.handles.len() as u64;
        }
        let Some(h) = self.handles.peek(&id.path) else {
            return Err(io_error(&id.path, io::Error::other("no open handle")));
        };
        if offset >= h.stamp.len || out.is_empty() {
            return Ok(0);
        }
        loop {
            match h.file.read_at(out, offset) {
                Ok(0) => {
                    return Err(io_error(
                        &id.path,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("ended before its length {} at {offset}", h.stamp.len),
                        ),
                    ))
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&id.path, e)),
            }
        }
    }

    /// Opens file `id`, checking that its content is `id.hash`.
    fn open_verified(&mut self, id: &FileId, stats: &mut FilesStats) -> Result<Handle, FilesError> {
        let canon = self.locate(&id.path)?;
        let (file, stamp) = open_regular(&canon, &id.path)?;
        let (stamp, hash) = self.hash_open(&canon, &id.path, &file, stamp, stats)?;
        same_hash(&id.path, &id.hash, &hash)?;
        Ok(Handle {
            file,
            canon,
            stamp,
            hash,
        })
    }

    /// The canonical path of the [`FileId`] path `rel`, checked to be under the root.
    pub(crate) fn locate(&self, rel: &str) -> Result<PathBuf, FilesError> {
        let segments = id_segments(rel).ok_or_else(|| FilesError::BadId {
            path: rel.to_string(),
        })?;
        let mut joined = self.root.clone();
        joined.extend(segments);
        let canon = std::fs::canonicalize(&joined).map_err(|e| missing_or_io(rel, e))?;
        if !canon.starts_with(&self.root) {
            return Err(FilesError::Refused {
                path: rel.to_string(),
                reason: Refusal::OutsideRoot,
            });
        }
        Ok(canon)
    }
}

/// Opens the regular file at the canonical path `canon` without blocking (a FIFO swapped
/// in is not waited on) and without following a symlink swapped in; its fstat stamp.
pub(crate) fn open_regular(canon: &Path, rel: &str) -> Result<(File, Stamp), FilesError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(canon, flags, Mode::empty())
        .map_err(|e| missing_or_io(rel, io::Error::from(e)))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| io_error(rel, e))?;
    if !meta.is_file() {
        return Err(FilesError::Refused {
            path: rel.to_string(),
            reason: Refusal::NotRegular,
        });
    }
    Ok((file, Stamp::of(&meta)))
}

/// The [`FileInfo`] of content `hash` at `rel` with `stamp`.
pub(crate) fn file_info(rel: &str, stamp: Stamp, hash: [u8; 32]) -> FileInfo {
    let id = FileId {
        path: rel.to_string(),
        hash,
    };
    FileInfo {
        etag: id.etag(),
        len: stamp.len,
        modified: stamp.modified_secs(),
        content_type: content_type(rel),
        id,
    }
}

/// `Err(Changed)` unless `found` is `expected`.
pub(crate) fn same_hash(
    rel: &str,
    expected: &[u8; 32],
    found: &[u8; 32],
) -> Result<(), FilesError> {
    if expected == found {
        Ok(())
    } else {
        Err(FilesError::Changed {
            path: rel.to_string(),
            expected: hex::encode(expected),
            found: hex::encode(found),
        })
    }
}

fn io_error(rel: &str, source: io::Error) -> FilesError {
    FilesError::Io {
        path: rel.to_string(),
        source,
    }
}

/// `Missing` for "no such file" (also a path through a regular file), else `Io`.
pub(crate) fn missing_or_io(rel: &str, e: io::Error) -> FilesError {
    if matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) {
        FilesError::Missing {
            path: rel.to_string(),
        }
    } else {
        io_error(rel, e)
    }
}
