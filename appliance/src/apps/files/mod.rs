//! `files`: the filesystem and HTTP-semantics core of a static file server over HTTP/1.1.
//!
//! The HTTP app builds the response heads itself and asks this module to
//! - resolve a request path to a file safely ([`FilesSite::resolve`], rules in [`path`]),
//! - name the file's content: a [`FileId`] (path and SHA-256), with a strong entity tag
//!   derived from the hash, so every member's copy of the directory gives the same tag,
//! - evaluate conditional and Range headers ([`conditional::evaluate`], RFC 9110 §13, §14),
//! - pick a content type ([`mime::content_type`]),
//! - read the file's bytes at an offset ([`FilesSite::read_at`]).
//!
//! A connection's state keeps only the [`FileId`] and an offset: plain data that travels in
//! a handoff. Every member has its own copy of the directory; the acceptor of a handoff
//! checks that its copy has the same content ([`FilesSite::check`]) and then reads the same
//! bytes.
//!
//! Trust: the served directory is the operator's; requests are not. A request cannot leave
//! the root (see [`path`]), nor open a FIFO, device or socket. Files are opened with
//! `O_NOFOLLOW | O_NONBLOCK` after the path was canonicalized and checked, so a file
//! swapped for a FIFO or a symlink between the check and the open is refused, not waited
//! on. Content changed in place within one timestamp tick and without a change of length
//! is not noticed (the hash cache and the open handles trust device, inode, length, mtime
//! and ctime).

pub mod conditional;
mod listing;
mod lru;
pub mod mime;
pub mod path;
mod site;
mod store;
mod walk;

#[cfg(test)]
mod conditional_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_content;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use conditional::{evaluate, http_date, parse_http_date, Conditions, Selected};
pub use mime::content_type;
pub use site::FilesSite;

/// Entries kept in a site's hash cache (the least recently used goes first).
pub const HASH_CACHE_LIMIT: usize = 100_000;

/// Entries (files, directories and others) [`FilesSite::prewarm`] visits at most.
pub const PREWARM_LIMIT: u64 = 1_000_000;

/// Entries a directory listing shows at most.
pub const LISTING_LIMIT: usize = 10_000;

/// A files app's configuration:
/// `apps = { 80 = { kind = "files", root = "/srv/www", index = ["index.html"], listing = false, max_open = 64 } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// The directory served.
    pub root: PathBuf,
    /// Names of index files tried, in order, for a directory (single path segments).
    pub index: Vec<String>,
    /// Whether a directory without an index file is listed (else 403).
    pub listing: bool,
    /// Open file handles kept at most (at least 1).
    pub max_open: usize,
}

impl FilesConfig {
    /// A configuration serving `root` with index `index.html`, no listing, 64 open files.
    pub fn new(root: impl Into<PathBuf>) -> FilesConfig {
        FilesConfig {
            root: root.into(),
            index: vec!["index.html".to_string()],
            listing: false,
            max_open: 64,
        }
    }
}

/// Identity of the content being served: the path relative to the root ('/'-separated,
/// normalized, no leading '/') and the SHA-256 of the file's content. Plain data: travels
/// in a handoff.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// Path relative to the root, as requested (after decoding and normalizing; for a
    /// directory, with the index file's name appended).
    pub path: String,
    /// SHA-256 of the content.
    pub hash: [u8; 32],
}

impl FileId {
    /// The strong entity tag of this content, with its quotes: `"` + 32 hex characters
    /// (the first 16 bytes of the hash) + `"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode(&self.hash[..16]))
    }
}

/// What a resolved file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The content's identity.
    pub id: FileId,
    /// Length in bytes.
    pub len: u64,
    /// Seconds since the Unix epoch (mtime; 0 for a time before the epoch).
    pub modified: u64,
    /// Strong entity tag with its quotes, from the hash (see [`FileId::etag`]).
    pub etag: String,
    /// `Content-Type` value, from the path's extension ([`mime::content_type`]).
    pub content_type: &'static str,
}

/// The outcome of [`FilesSite::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file under the root.
    File(FileInfo),
    /// A directory asked without its trailing slash: redirect (301) to this path, the
    /// normalized request path, percent-encoded, with '/' appended (no query). Built from
    /// the decoded segments, so `//host` can never come out as a scheme-relative URL.
    Redirect(String),
    /// A directory listing (only when `listing` is on and the directory has no index
    /// file): a small HTML page (UTF-8), names escaped and sorted, links percent-encoded.
    /// Symlinks out of the root, non-regular files and names that are not UTF-8 are not
    /// listed.
    Listing(Vec<u8>),
    /// Nothing there (also: a file asked with a trailing slash, a dangling symlink).
    NotFound,
    /// Refused (403); counted in [`FilesStats`] by reason.
    Forbidden(Refusal),
    /// Malformed path (bad percent-encoding, not UTF-8, not starting with '/'): 400.
    /// Counted.
    BadPath,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `..` segment (after decoding), a literal backslash or a NUL byte.
    Traversal,
    /// An encoded slash: `%2F` or `%5C`.
    EncodedSlash,
    /// A symlink whose target is outside the root.
    OutsideRoot,
    /// Not a regular file (FIFO, device, socket).
    NotRegular,
    /// A directory without an index file, listing off.
    NoIndex,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Traversal => "path traversal ('..', backslash or NUL)",
            Refusal::EncodedSlash => "encoded slash (%2F or %5C)",
            Refusal::OutsideRoot => "symlink out of the root",
            Refusal::NotRegular => "not a regular file",
            Refusal::NoIndex => "directory without an index file",
        })
    }
}

/// Counters of a [`FilesSite`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FilesStats {
    /// `resolve` answered [`Resolved::File`].
    pub served_files: u64,
    /// `resolve` answered [`Resolved::NotFound`].
    pub not_found: u64,
    /// Refused as [`Refusal::Traversal`], [`Refusal::EncodedSlash`] or
    /// [`Refusal::OutsideRoot`].
    pub traversal_refused: u64,
    /// Refused as [`Refusal::NotRegular`].
    pub not_regular: u64,
    /// Refused as [`Refusal::NoIndex`].
    pub no_index: u64,
    /// `resolve` answered [`Resolved::BadPath`].
    pub bad_path: u64,
    /// Files hashed (cache misses).
    pub hashed_files: u64,
    /// Bytes hashed.
    pub hashed_bytes: u64,
    /// File handles open now.
    pub open_files: u64,
    /// `read_at` calls that failed.
    pub read_errors: u64,
}

impl std::ops::AddAssign for FilesStats {
    /// Adds `other`'s counts (several sites, several cores).
    fn add_assign(&mut self, o: FilesStats) {
        self.served_files += o.served_files;
        self.not_found += o.not_found;
        self.traversal_refused += o.traversal_refused;
        self.not_regular += o.not_regular;
        self.no_index += o.no_index;
        self.bad_path += o.bad_path;
        self.hashed_files += o.hashed_files;
        self.hashed_bytes += o.hashed_bytes;
        self.open_files += o.open_files;
        self.read_errors += o.read_errors;
    }
}

/// What went wrong in a [`FilesSite`].
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The root cannot be served.
    #[error("files root {path}: {reason}")]
    Root {
        /// The configured root.
        path: PathBuf,
        /// Why (does not exist, not a directory, the OS error).
        reason: String,
    },
    /// A configuration value is wrong.
    #[error("files app configuration: {0}")]
    Config(String),
    /// No file at the path.
    #[error("files: {path} is missing")]
    Missing {
        /// The path relative to the root.
        path: String,
    },
    /// The path is refused.
    #[error("files: {path} refused: {reason}")]
    Refused {
        /// The path relative to the root.
        path: String,
        /// Why.
        reason: Refusal,
    },
    /// A [`FileId`]'s path is not a normalized relative path.
    #[error("files: {path:?} is not a normalized path relative to the root")]
    BadId {
        /// The path given.
        path: String,
    },
    /// The content is not the one named.
    #[error("files: {path} has content {found}, not {expected} (SHA-256)")]
    Changed {
        /// The path relative to the root.
        path: String,
        /// Hex SHA-256 asked for.
        expected: String,
        /// Hex SHA-256 found.
        found: String,
    },
    /// The file kept changing while it was hashed.
    #[error("files: {path} kept changing while it was hashed")]
    Unstable {
        /// The path relative to the root.
        path: String,
    },
    /// An OS error on a file.
    #[error("files: {path}: {source}")]
    Io {
        /// The path relative to the root.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// [`FilesSite::prewarm`] met more than [`PREWARM_LIMIT`] entries.
    #[error("files: more than {limit} entries under the root; prewarm stopped")]
    TooManyFiles {
        /// The limit.
        limit: u64,
    },
}
