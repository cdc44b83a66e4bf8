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

/// What a known SHA-256 is the digest of.
#[derive(Debug, Clone, Copy)]
pub enum Checksum<'a> {
    /// Of the decompressed content: stable when mirrors recompress (MNIST).
    Content(&'a str),
    /// Of the file as served: for archives whose publisher gives that digest (aclImdb).
    File(&'a str),
    /// The MD5 of the file as served, for archives whose publisher gives only that (CIFAR).
    FileMd5(&'a str),
}

/// The MD5 of `bytes` in hex, as publishers print it.
pub fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Downloads `name` from the first mirror that serves bytes matching `checksum`, and stores
/// them as `dest`. Returns the decompressed content for [`Checksum::Content`] and the file's
/// bytes for [`Checksum::File`] and [`Checksum::FileMd5`].
pub fn fetch_verified(
    mirrors: &[&str],
    name: &str,
    dest: &Path,
    checksum: Checksum,
    progress: &dyn Progress,
) -> Result<Vec<u8>, DataError> {
    let mut attempts = String::new();
    for mirror in mirrors {
        let url = format!("{}/{}", mirror.trim_end_matches('/'), name);
        tracing::info!(%url, "downloading");
        match download(&url, name, progress) {
            Ok(raw) => {
                if let Checksum::FileMd5(expected) = checksum {
                    let actual = md5_hex(&raw);
                    if actual != expected {
                        attempts.push_str(&format!(
                            "  {url}: MD5 of file {actual}, expected {expected}\n"
                        ));
                        continue;
                    }
                    keep(dest, &raw)?;
                    return Ok(raw);
                }
                let (content, expected_sha256, what) = match checksum {
                    Checksum::File(sha) | Checksum::FileMd5(sha) => (raw.clone(), sha, "file"),
                    Checksum::Content(sha) => {
                        match crate::idx::decompress_if_gzip(Path::new(&url), raw.clone()) {
                            Ok(c) => (c, sha, "content"),
                            Err(e) => {
                                attempts.push_str(&format!("  {url}: {e}\n"));
                                continue;
                            }
                        }
                    }
                };
                let actual = sha256_hex(&content);
                if actual != expected_sha256 {
                    attempts.push_str(&format!(
                        "  {url}: SHA-256 of {what} {actual}, expected {expected_sha256}\n"
                    ));
                    continue;
                }
                keep(dest, &raw)?;
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

/// Stores verified bytes. The cache folder appears only once there is something verified to
/// put in it.
fn keep(dest: &Path, raw: &[u8]) -> Result<(), DataError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    write_atomically(dest, raw)
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
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = readable_temp_file(dir).map_err(|e| {
        // The file is written beside `dest` first; say so, and why, for the path asked.
        let why = if dir.is_dir() && e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{} exists but takes no new files (a virtual file system?): {e}",
                dir.display()
            )
        } else {
            format!("cannot create a file in {}: {e}", dir.display())
        };
        DataError::io(dest, std::io::Error::new(e.kind(), why))
    })?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| DataError::io(dest, e))?;
    tmp.persist(dest)
        .map_err(|e| DataError::io(dest, e.error))?;
    Ok(())
}

/// Fills a folder at `hidden` (beside `dest`, under a name readers skip) with `fill`, then
/// renames it to `dest`, replacing what was there: no reader sees half a folder. A
/// failure removes it; one left by a killed process is removed by the next write.
pub fn write_folder_atomically<E: From<DataError>>(
    hidden: &Path,
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    if hidden.exists() {
        std::fs::remove_dir_all(hidden).map_err(|e| DataError::io(hidden, e))?;
    }
    std::fs::create_dir_all(hidden).map_err(|e| DataError::io(hidden, e))?;
    let placed = fill(hidden).and_then(|()| {
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(|e| DataError::io(dest, e))?;
        }
        std::fs::rename(hidden, dest).map_err(|e| E::from(DataError::io(dest, e)))
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(hidden);
    }
    placed
}

/// A temporary file that, once renamed into place, is readable like any other file
/// (tempfile's default of 0600 would hide datasets and results from the rest of a team).
pub fn readable_temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_placed_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (hidden, dest) = (dir.path().join(".out.partial"), dir.path().join("out"));
        let failed: Result<(), DataError> = write_folder_atomically(&hidden, &dest, |d| {
            std::fs::write(d.join("a"), b"1").unwrap();
            Err(DataError::io(d, std::io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert!(!hidden.exists() && !dest.exists());
        std::fs::create_dir_all(hidden.join("stale")).unwrap();
        write_folder_atomically::<DataError>(&hidden, &dest, |d| {
            std::fs::write(d.join("a"), b"2").map_err(|e| DataError::io(d, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"2");
        assert!(!dest.join("stale").exists() && !hidden.exists());
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Serves `body` for every request on a loopback port, `requests` times, and returns
    /// the base URL.
    fn serve(body: Vec<u8>, requests: usize) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        url
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_mirror_with_wrong_content_is_skipped_for_the_next() {
        let content = b"the real content".to_vec();
        let wrong = serve(gzip(b"something else"), 1);
        let right = serve(gzip(&content), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.gz");
        let got = fetch_verified(
            &[&wrong, &right],
            "f.gz",
            &dest,
            Checksum::Content(&sha256_hex(&content)),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(got, content);
        // The archive is kept as served; only its decompressed content was checked.
        assert_eq!(crate::idx::read_maybe_gzip(&dest).unwrap(), content);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o644,
                "readable by others, as downloads usually are"
            );
        }
    }

    #[test]
    fn an_md5_checksum_is_checked_as_published() {
        let url = serve(b"cifar bytes".to_vec(), 2);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c.tar.gz");
        let err = fetch_verified(
            &[&url],
            "c.tar.gz",
            &dest,
            Checksum::FileMd5("00000000000000000000000000000000"),
            &NoProgress,
        )
        .unwrap_err();
        assert!(err.to_string().contains("MD5 of file"), "{err}");
        assert!(!dest.exists(), "nothing kept that does not match");
        // md5("cifar bytes"), as `md5sum` prints it.
        let got = fetch_verified(
            &[&url],
            "c.tar.gz",
            &dest,
            Checksum::FileMd5("51ae52c4d7d2fdbaf1a9a1524e08cf05"),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(got, b"cifar bytes");
        assert_eq!(std::fs::read(&dest).unwrap(), b"cifar bytes");
    }

    #[test]
    fn a_file_checksum_is_of_the_bytes_as_served() {
        let archive = gzip(b"archive content");
        let url = serve(archive.clone(), 2);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.tar.gz");
        let err = fetch_verified(
            &[&url],
            "a.tar.gz",
            &dest,
            Checksum::File(&sha256_hex(b"archive content")),
            &NoProgress,
        )
        .unwrap_err();
        assert!(err.to_string().contains("SHA-256 of file"), "{err}");
        let got = fetch_verified(
            &[&url],
            "a.tar.gz",
            &dest,
            Checksum::File(&sha256_hex(&archive)),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(got, archive);
        assert_eq!(std::fs::read(&dest).unwrap(), archive);
    }

    #[test]
    fn no_matching_mirror_keeps_nothing() {
        let bad = serve(gzip(b"tampered"), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.gz");
        let err = fetch_verified(
            &[&bad],
            "f.gz",
            &dest,
            Checksum::Content(&sha256_hex(b"genuine")),
            &NoProgress,
        )
        .unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn unreachable_mirrors_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.gz");
        // Port 9 on loopback (discard) is closed here; no traffic leaves the machine.
        let err = fetch_verified(
            &["http://127.0.0.1:9"],
            "f.gz",
            &dest,
            Checksum::File("00"),
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("127.0.0.1:9/f.gz"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
