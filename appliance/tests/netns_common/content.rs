//! Files of pseudo-random content for the download tests (`files_netns`, `proxy_netns`):
//! written once with their SHA-256, and the SHA-256 of what a client saved.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Writes `len` pseudo-random bytes (splitmix64 of `seed` and the word index) to `path`;
/// returns their SHA-256.
pub fn write_random(path: &Path, len: u64, seed: u64) -> [u8; 32] {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
    let mut sha = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut word = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut left = len;
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            word = word.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = word;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            w.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n]).expect("write");
        sha.update(&chunk[..n]);
        left -= n as u64;
    }
    out.flush().expect("flush");
    sha.finalize().into()
}

/// The SHA-256 of a file.
pub fn sha256_file(path: &Path) -> [u8; 32] {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    // Bounded by the file's length.
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    sha.finalize().into()
}
