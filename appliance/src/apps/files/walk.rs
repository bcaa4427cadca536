//! [`super::FilesSite::prewarm`]: hashing every regular file under the root.

use std::path::PathBuf;

use super::store::{open_regular, Stamp, Store};
use super::{FilesError, FilesStats};

/// Report progress at least every this many files...
const PROGRESS_FILES: u64 = 256;
/// ... or this many bytes.
const PROGRESS_BYTES: u64 = 64 << 20;

/// Walks the root (directories only as themselves: symlinks are skipped), hashing regular
/// files the cache does not have; (files, bytes) of all regular files met.
pub(crate) fn prewarm(
    store: &mut Store,
    limit: u64,
    progress: &mut dyn FnMut(u64, u64),
    stats: &mut FilesStats,
) -> Result<(u64, u64), FilesError> {
    let root = store.root().to_path_buf();
    let mut pending: Vec<PathBuf> = vec![root.clone()];
    let (mut files, mut bytes, mut entries) = (0u64, 0u64, 0u64);
    let (mut reported_files, mut reported_bytes) = (0u64, 0u64);
    while let Some(dir) = pending.pop() {
        let reader = match std::fs::read_dir(&dir) {
            Ok(reader) => reader,
            Err(e) if dir == root => {
                return Err(FilesError::Root {
                    path: root,
                    reason: e.to_string(),
                })
            }
            Err(_) => continue,
        };
        for entry in reader {
            let Ok(entry) = entry else { continue };
            entries += 1;
            if entries > limit {
                return Err(FilesError::TooManyFiles { limit });
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(len) = hash_one(store, &path, &rel, stats) else {
                continue;
            };
            files += 1;
            bytes += len;
            if files - reported_files >= PROGRESS_FILES || bytes - reported_bytes >= PROGRESS_BYTES
            {
                progress(files, bytes);
                (reported_files, reported_bytes) = (files, bytes);
            }
        }
    }
    progress(files, bytes);
    Ok((files, bytes))
}

/// Hashes `path` (a regular file found by the walk: canonical, as no symlink led to it)
/// unless cached; its length, or `None` if it vanished or cannot be read.
fn hash_one(
    store: &mut Store,
    path: &std::path::Path,
    rel: &str,
    stats: &mut FilesStats,
) -> Option<u64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let stamp = Stamp::of(&meta);
    if meta.is_file() && store.cached(path, &stamp).is_some() {
        return Some(stamp.len);
    }
    let (file, stamp) = open_regular(path, rel).ok()?;
    let (stamp, _) = store.hash_open(path, rel, &file, stamp, stats).ok()?;
    Some(stamp.len)
}
