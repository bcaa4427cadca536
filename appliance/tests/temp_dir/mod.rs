//! A fresh directory for one test, removed on drop.

use std::path::PathBuf;

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `vany-{test}-{pid}-{what}`, emptied first if a crashed run left it.
    pub fn new(test: &str, what: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vany-{test}-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
