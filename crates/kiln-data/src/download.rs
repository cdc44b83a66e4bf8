//! Fetching a file from a list of mirrors, trusting it only when the SHA-256 of its
//! decompressed content matches. The file appears in the cache folder atomically: a partial or
//! corrupt download never sits where a later run would pick it up.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::DataError;

/// Told about a download as it goes, so a front end can draw a progress bar.
pub trait Progress {
    fn start(&self, name: &str, total_bytes: Option<u64>);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// For callers that do not show progress.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads `name` from the first mirror that serves content whose decompressed SHA-256 is
/// `expected_sha256`, and stores it as `dest`. Returns the decompressed bytes.
pub fn fetch_verified(
    mirrors: &[&str],
    name: &str,
    dest: &Path,
    expected_sha256: &str,
    progress: &dyn Progress,
) -> Result<Vec<u8>, DataError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let mut attempts = String::new();
    for mirror in mirrors {
        let url = format!("{}/{}", mirror.trim_end_matches('/'), name);
        tracing::info!(%url, "downloading");
        match download(&url, name, progress) {
            Ok(raw) => {
                let content = match crate::idx::decompress_if_gzip(Path::new(&url), raw.clone()) {
                    Ok(c) => c,
                    Err(e) => {
                        attempts.push_str(&format!("  {url}: {e}\n"));
                        continue;
                    }
                };
                let actual = sha256_hex(&content);
                if actual != expected_sha256 {
                    attempts.push_str(&format!(
                        "  {url}: SHA-256 of content {actual}, expected {expected_sha256}\n"
                    ));
                    continue;
                }
                write_atomically(dest, &raw)?;
                return Ok(content);
            }
            Err(e) => attempts.push_str(&format!("  {url}: {e}\n")),
        }
    }
    Err(DataError::Download {
        name: name.to_string(),
        attempts,
    })
}

fn download(url: &str, name: &str, progress: &dyn Progress) -> Result<Vec<u8>, String> {
    let response = ureq::get(url).call().map_err(|e| e.to_string())?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    progress.start(name, total);
    let mut reader = response.into_body().into_reader();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        progress.advance(n as u64);
    }
    progress.finish();
    Ok(out)
}

/// Writes to a temporary file beside `dest`, then renames it into place, so that no reader
/// ever sees a partial file.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DataError::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| DataError::io(dest, e))?;
    tmp.persist(dest)
        .map_err(|e| DataError::io(dest, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn unreachable_mirrors_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.gz");
        // Port 9 on loopback (discard) is closed here; no traffic leaves the machine.
        let err = fetch_verified(&["http://127.0.0.1:9"], "f.gz", &dest, "00", &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("127.0.0.1:9/f.gz"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
