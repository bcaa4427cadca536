//! [`FilesSite`]: one served directory, its hash cache, open files and counters.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use super::listing::listing;
use super::path::{decode_request_path, is_plain_segment, PathFault, RequestPath};
use super::store::{same_hash, Store};
use super::PREWARM_LIMIT;
use super::{FileId, FileInfo, FilesConfig, FilesError, FilesStats, Refusal, Resolved};

/// A served directory. Not plain data: each member opens its own over its own copy.
#[derive(Debug)]
pub struct FilesSite {
    cfg: FilesConfig,
    store: Store,
    stats: FilesStats,
    prewarm_limit: u64,
}

impl FilesSite {
    /// Checks the configuration and that the root exists and is a directory (the root is
    /// canonicalized once, here).
    pub fn open(cfg: FilesConfig) -> Result<FilesSite, FilesError> {
        if cfg.max_open == 0 {
            return Err(FilesError::Config("max_open must be at least 1".into()));
        }
        if let Some(bad) = cfg.index.iter().find(|name| !is_plain_segment(name)) {
            return Err(FilesError::Config(format!(
                "index name {bad:?} is not a single path segment"
            )));
        }
        let root_error = |reason: String| FilesError::Root {
            path: cfg.root.clone(),
            reason,
        };
        let root = std::fs::canonicalize(&cfg.root).map_err(|e| {
            root_error(match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".to_string(),
                _ => e.to_string(),
            })
        })?;
        let meta = std::fs::metadata(&root).map_err(|e| root_error(e.to_string()))?;
        if !meta.is_dir() {
            return Err(root_error("is not a directory".to_string()));
        }
        Ok(FilesSite {
            store: Store::new(root, cfg.max_open),
            cfg,
            stats: FilesStats::default(),
            prewarm_limit: PREWARM_LIMIT,
        })
    }

    /// Another site for the same directory that knows every hash this one computed (so
    /// it need not hash the files again) and holds no open file; its counters start at
    /// zero. For the other cores of a node.
    pub fn fork(&self) -> FilesSite {
        FilesSite {
            cfg: self.cfg.clone(),
            store: self.store.fork(),
            stats: FilesStats::default(),
            prewarm_limit: self.prewarm_limit,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FilesConfig {
        &self.cfg
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The counters.
    pub fn stats(&self) -> &FilesStats {
        &self.stats
    }

    #[cfg(test)]
    pub(crate) fn set_limits(&mut self, hash_cache: usize, prewarm: u64) {
        self.store.set_hash_cache_limit(hash_cache);
        self.prewarm_limit = prewarm;
    }

    /// Resolves `path`, the request target's path without query or fragment and still
    /// percent-encoded (e.g. `/a%20b/c.txt`), by the rules of [`super::path`]; a
    /// directory is answered by its first index file. A file is hashed unless the cache
    /// has it unchanged.
    pub fn resolve(&mut self, path: &str) -> Resolved {
        let req = match decode_request_path(path) {
            Ok(req) => req,
            Err(PathFault::Bad) => {
                self.stats.bad_path += 1;
                return Resolved::BadPath;
            }
            Err(PathFault::Refused(why)) => return self.refuse(why),
        };
        let mut joined = self.store.root().to_path_buf();
        joined.extend(&req.segments);
        let canon = match self.under_root(&joined) {
            Ok(Some(canon)) => canon,
            Ok(None) => return self.not_found(),
            Err(why) => return self.refuse(why),
        };
        let Ok(meta) = std::fs::metadata(&canon) else {
            return self.not_found();
        };
        if meta.is_dir() {
            return self.directory(&req, &canon);
        }
        if !meta.is_file() {
            return self.refuse(Refusal::NotRegular);
        }
        if req.trailing_slash {
            return self.not_found();
        }
        self.file(&canon, &req.relative(), &meta)
    }

    /// A directory: a redirect to the path with '/', its index file, a listing or 403.
    fn directory(&mut self, req: &RequestPath, canon: &Path) -> Resolved {
        if !req.trailing_slash {
            return Resolved::Redirect(req.encoded(true));
        }
        for name in self.cfg.index.clone() {
            let Ok(Some(index)) = self.under_root(&canon.join(&name)) else {
                continue;
            };
            match std::fs::metadata(&index) {
                Ok(meta) if meta.is_file() => {
                    let rel = match req.segments.is_empty() {
                        true => name,
                        false => format!("{}/{name}", req.relative()),
                    };
                    return self.file(&index, &rel, &meta);
                }
                _ => continue,
            }
        }
        if !self.cfg.listing {
            return self.refuse(Refusal::NoIndex);
        }
        match listing(self.store.root(), canon, req) {
            Ok(page) => Resolved::Listing(page),
            Err(_) => self.not_found(),
        }
    }

    /// A regular file under the root.
    fn file(&mut self, canon: &Path, rel: &str, meta: &Metadata) -> Resolved {
        match self.store.info(canon, rel, meta, &mut self.stats) {
            Ok(info) => {
                self.stats.served_files += 1;
                Resolved::File(info)
            }
            Err(FilesError::Refused { reason, .. }) => self.refuse(reason),
            Err(_) => self.not_found(),
        }
    }

    /// The canonical form of `path` if it exists (`None` if not) and is under the root.
    fn under_root(&self, path: &Path) -> Result<Option<PathBuf>, Refusal> {
        match std::fs::canonicalize(path) {
            Ok(canon) if canon.starts_with(self.store.root()) => Ok(Some(canon)),
            Ok(_) => Err(Refusal::OutsideRoot),
            Err(_) => Ok(None),
        }
    }

    fn not_found(&mut self) -> Resolved {
        self.stats.not_found += 1;
        Resolved::NotFound
    }

    fn refuse(&mut self, why: Refusal) -> Resolved {
        let counter = match why {
            Refusal::Traversal | Refusal::EncodedSlash | Refusal::OutsideRoot => {
                &mut self.stats.traversal_refused
            }
            Refusal::NotRegular => &mut self.stats.not_regular,
            Refusal::NoIndex => &mut self.stats.no_index,
        };
        *counter += 1;
        Resolved::Forbidden(why)
    }

    /// Reads up to `out.len()` bytes of file `id` at `offset` into `out`; `Ok(0)` only at
    /// the end of the file (or for an empty `out`). Files stay open in a bounded LRU (at
    /// most `max_open`; the least recently used is closed). Each read checks that the
    /// path still shows the device, inode, length, mtime and ctime the content was hashed
    /// at; if not, the file is opened and hashed again and must still be `id.hash`. `Err`
    /// when the file is gone, refused, or its content is no longer `id`.
    pub fn read_at(
        &mut self,
        id: &FileId,
        offset: u64,
        out: &mut [u8],
    ) -> Result<usize, FilesError> {
        let result = self.store.read_at(id, offset, out, &mut self.stats);
        if result.is_err() {
            self.stats.read_errors += 1;
        }
        result
    }

    /// Whether this site's copy of `id.path` has content hash `id.hash`: what the acceptor
    /// of a handoff checks before taking a response in flight. Its [`FileInfo`] if so; else
    /// `Missing`, `Changed` (another hash), `Refused` (a symlink out of the root, not a
    /// regular file) or `BadId` (a path that is not normalized).
    pub fn check(&mut self, id: &FileId) -> Result<FileInfo, FilesError> {
        let canon = self.store.locate(&id.path)?;
        let meta =
            std::fs::metadata(&canon).map_err(|e| super::store::missing_or_io(&id.path, e))?;
        if !meta.is_file() {
            return Err(FilesError::Refused {
                path: id.path.clone(),
                reason: Refusal::NotRegular,
            });
        }
        let info = self.store.info(&canon, &id.path, &meta, &mut self.stats)?;
        same_hash(&id.path, &id.hash, &info.id.hash)?;
        Ok(info)
    }

    /// Hashes every regular file under the root now (so that no request waits on hashing
    /// a large file), calling `progress(files_done, bytes_done)` now and then and at the
    /// end; returns (files, bytes). Symlinks are not followed (what they point to inside
    /// the root is reached directly); files that vanish or cannot be read are skipped.
    /// Stops with [`FilesError::TooManyFiles`] past [`PREWARM_LIMIT`] entries. With more
    /// than [`super::HASH_CACHE_LIMIT`] files, only the last ones stay cached.
    pub fn prewarm(
        &mut self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(u64, u64), FilesError> {
        let limit = self.prewarm_limit;
        super::walk::prewarm(&mut self.store, limit, progress, &mut self.stats)
    }
}
