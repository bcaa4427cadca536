//! `vany demo --pcap DIR`: one classic pcap file per simulated host.
//!
//! The directory is created (with its parents) and every file is created before the
//! simulation starts, so that an unwritable directory is an error at once; a write error
//! during the run is an error too. At the end the files are listed with their sizes.
//!
//! Record timestamps are the simulated time plus an epoch chosen by the caller (`vany
//! demo` uses the wall-clock time at which the run started), so that Wireshark shows a
//! real date; the simulation itself never reads it (same seed, same packets).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::sim::pcap::{CaptureSink, PcapWriter};
use crate::sim::{HostId, Sim};

/// Why `--pcap` failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The directory could not be created.
    #[error("cannot create the capture directory {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A capture file could not be created.
    #[error("cannot create the capture file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a capture failed during the run.
    #[error("writing the captures in {}: {source}", dir.display())]
    Write {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A capture file written by the demo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The captures of a run under way.
#[derive(Debug)]
pub struct Captures {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl Captures {
    /// Creates `dir` and one file per host (`hosts`: file stem and host), and attaches
    /// them; record times are simulated time plus `epoch` (time since the Unix epoch).
    pub fn start(
        sim: &mut Sim,
        dir: &Path,
        hosts: &[(String, HostId)],
        epoch: std::time::Duration,
    ) -> Result<Captures, CaptureError> {
        std::fs::create_dir_all(dir).map_err(|source| CaptureError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut files = Vec::with_capacity(hosts.len());
        for (stem, host) in hosts {
            let path = dir.join(format!("{stem}.pcap"));
            let writer = CaptureSink::file(&path)
                .and_then(|sink| PcapWriter::with_epoch(sink, epoch))
                .map_err(|source| CaptureError::File {
                    path: path.clone(),
                    source,
                })?;
            sim.attach_capture(*host, writer);
            files.push(path);
        }
        Ok(Captures {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Flushes every capture; the first write error of the run so far, if any.
    pub fn check(&self, sim: &mut Sim) -> Result<(), CaptureError> {
        sim.flush_captures().map_err(|source| CaptureError::Write {
            dir: self.dir.clone(),
            source,
        })
    }

    /// Flushes every capture and lists the files with their sizes.
    pub fn finish(self, sim: &mut Sim) -> Result<Vec<CaptureFile>, CaptureError> {
        self.check(sim)?;
        self.files
            .into_iter()
            .map(|path| match std::fs::metadata(&path) {
                Ok(m) => Ok(CaptureFile {
                    path,
                    bytes: m.len(),
                }),
                Err(source) => Err(CaptureError::Write {
                    dir: self.dir.clone(),
                    source,
                }),
            })
            .collect()
    }
}

/// "pcap: N files, X MB in DIR", then one line per file.
pub fn render(files: &[CaptureFile], out: &mut dyn Write) -> std::io::Result<()> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let dir = first.path.parent().unwrap_or(Path::new("."));
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    writeln!(
        out,
        "pcap: {} files, {:.1} MB in {}",
        files.len(),
        total as f64 / 1e6,
        dir.display()
    )?;
    for f in files {
        writeln!(out, "  {:>12} bytes  {}", f.bytes, f.path.display())?;
    }
    Ok(())
}
