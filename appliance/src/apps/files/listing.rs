//! Directory listings: a small HTML page.

use std::fmt::Write;
use std::io;
use std::path::Path;

use super::path::{html_escape, percent_encode, RequestPath};
use super::LISTING_LIMIT;

/// The listing of directory `dir` (canonical, under the canonical `root`) asked as `req`:
/// subdirectories (with '/') and regular files, sorted by name, at most
/// [`LISTING_LIMIT`] of them. Entries that are symlinks out of the root, neither
/// directories nor regular files, or whose names are not UTF-8 are left out.
pub(crate) fn listing(root: &Path, dir: &Path, req: &RequestPath) -> io::Result<Vec<u8>> {
    let mut names: Vec<String> = Vec::new();
    let mut more = false;
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let is_dir = if kind.is_symlink() {
            match std::fs::canonicalize(entry.path()) {
                Ok(target) if target.starts_with(root) => match std::fs::metadata(&target) {
                    Ok(meta) if meta.is_dir() => true,
                    Ok(meta) if meta.is_file() => false,
                    _ => continue,
                },
                _ => continue,
            }
        } else if kind.is_dir() {
            true
        } else if kind.is_file() {
            false
        } else {
            continue;
        };
        if names.len() == LISTING_LIMIT {
            more = true;
            break;
        }
        names.push(if is_dir { format!("{name}/") } else { name });
    }
    names.sort();
    let title = html_escape(&format!("Index of {}", req.display_dir()));
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n<ul>\n"
    );
    if !req.segments.is_empty() {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for name in &names {
        let (bare, slash) = match name.strip_suffix('/') {
            Some(bare) => (bare, "/"),
            None => (name.as_str(), ""),
        };
        let _ = writeln!(
            page,
            "<li><a href=\"./{}{slash}\">{}</a></li>",
            percent_encode(bare),
            html_escape(name)
        );
    }
    page.push_str("</ul>\n");
    if more {
        let _ = writeln!(
            page,
            "<p>Only the first {LISTING_LIMIT} entries are shown.</p>"
        );
    }
    page.push_str("</body></html>\n");
    Ok(page.into_bytes())
}
