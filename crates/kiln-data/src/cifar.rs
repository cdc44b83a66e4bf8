//! CIFAR-10 and CIFAR-100 in their binary format: the authors' `.tar.gz` archive (checked
//! against its published MD5 when downloaded) or its extracted folder. Each record is the
//! label byte(s) and 3,072 pixel bytes, the red, green and blue 32x32 planes in turn, which
//! is kiln's `[channels, rows, cols]` layout already.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::download::{Checksum, Progress, fetch_verified};
use crate::{DataError, Digits, Mnist};

pub const MIRRORS: &[&str] = &["https://www.cs.toronto.edu/~kriz"];

const PIXELS: usize = 3 * 32 * 32;

/// Which of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar {
    Ten,
    Hundred,
}

impl Cifar {
    pub fn archive(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-binary.tar.gz",
            Cifar::Hundred => "cifar-100-binary.tar.gz",
        }
    }

    /// The MD5 the authors publish for the archive.
    pub fn md5(self) -> &'static str {
        match self {
            Cifar::Ten => "c32a1d4ab5d03f1284b67883e8d87530",
            Cifar::Hundred => "03b5dce01913d631647c71ecec9e9cb8",
        }
    }

    /// The folder the archive unpacks to.
    pub fn folder(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-batches-bin",
            Cifar::Hundred => "cifar-100-binary",
        }
    }

    fn train_files(self) -> Vec<String> {
        match self {
            Cifar::Ten => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Cifar::Hundred => vec!["train.bin".into()],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            Cifar::Ten => "test_batch.bin",
            Cifar::Hundred => "test.bin",
        }
    }

    fn names_file(self) -> &'static str {
        match self {
            Cifar::Ten => "batches.meta.txt",
            Cifar::Hundred => "fine_label_names.txt",
        }
    }

    /// Label bytes before each image: CIFAR-100 has a coarse and a fine label; kiln learns
    /// the fine one (100 classes).
    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    fn classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    fn expected_records(self) -> (usize, usize) {
        (50_000, 10_000)
    }
}

/// The data set with its class names.
#[derive(Debug, Clone, PartialEq)]
pub struct CifarData {
    pub images: Mnist,
    pub classes: Vec<String>,
    /// What was read: the archive or the folder.
    pub path: PathBuf,
}

/// Reads `dir/<folder>/` if it is there, else `dir/<archive>`, downloading the archive into
/// `dir` first when `download` allows it. A copy with fewer images in the same format (a
/// subset of your own) reads as well; the log says how many there were.
pub fn load(
    which: Cifar,
    dir: &Path,
    download: bool,
    progress: &dyn Progress,
) -> Result<CifarData, DataError> {
    let folder = dir.join(which.folder());
    let archive = dir.join(which.archive());
    let (mut files, path) = if folder.is_dir() {
        let mut files = Vec::new();
        for name in which
            .train_files()
            .iter()
            .map(String::as_str)
            .chain([which.test_file(), which.names_file()])
        {
            let path = folder.join(name);
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            files.push((name.to_string(), bytes));
        }
        (files, folder)
    } else {
        let bytes = if archive.is_file() {
            std::fs::read(&archive).map_err(|e| DataError::io(&archive, e))?
        } else if download {
            fetch_verified(
                MIRRORS,
                which.archive(),
                &archive,
                Checksum::FileMd5(which.md5()),
                progress,
            )?
        } else {
            return Err(DataError::Missing {
                name: which.archive().into(),
                dir: dir.to_path_buf(),
                hint: format!(
                    "put the archive or its {} folder there, or allow data.download",
                    which.folder()
                ),
            });
        };
        (members(which, &archive, &bytes)?, archive)
    };
    let take = |files: &mut Vec<(String, Vec<u8>)>, name: &str| -> Result<Vec<u8>, DataError> {
        files
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| files.remove(i).1)
            .ok_or_else(|| DataError::Invalid {
                what: path.display().to_string(),
                message: format!("no {}/{name} in it", which.folder()),
            })
    };
    let names = String::from_utf8_lossy(&take(&mut files, which.names_file())?).into_owned();
    let classes: Vec<String> = names
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if classes.len() != which.classes() {
        return Err(DataError::Invalid {
            what: format!("{}/{}", path.display(), which.names_file()),
            message: format!(
                "{} class names, expected {}",
                classes.len(),
                which.classes()
            ),
        });
    }
    let mut train = empty();
    for name in which.train_files() {
        let bytes = take(&mut files, &name)?;
        records(which, &path.join(&name), &bytes, &mut train)?;
    }
    let mut test = empty();
    let name = which.test_file();
    records(which, &path.join(name), &take(&mut files, name)?, &mut test)?;
    let (want_train, want_test) = which.expected_records();
    if (train.len(), test.len()) != (want_train, want_test) {
        tracing::warn!(
            "{}: {} training and {} test images, not the published {want_train} and {want_test}",
            path.display(),
            train.len(),
            test.len()
        );
    }
    Ok(CifarData {
        images: Mnist { train, test },
        classes,
        path,
    })
}

fn empty() -> Digits {
    Digits {
        images: Vec::new(),
        labels: Vec::new(),
        channels: 3,
        rows: 32,
        cols: 32,
    }
}

/// Appends the records of one `.bin` file to `out`, checking their size and labels.
fn records(which: Cifar, path: &Path, bytes: &[u8], out: &mut Digits) -> Result<(), DataError> {
    let label_bytes = which.label_bytes();
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::Format {
            path: path.into(),
            offset: (bytes.len() / record * record) as u64,
            expected: format!("records of {record} bytes ({label_bytes} label, {PIXELS} pixels)"),
            found: format!("{} bytes in all", bytes.len()),
        });
    }
    for (i, r) in bytes.chunks(record).enumerate() {
        let label = r[label_bytes - 1];
        if label as usize >= which.classes() {
            return Err(DataError::Format {
                path: path.into(),
                offset: (i * record + label_bytes - 1) as u64,
                expected: format!("a label below {}", which.classes()),
                found: label.to_string(),
            });
        }
        out.labels.push(label);
        out.images.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

/// The archive's files under its folder, by name; links and paths elsewhere are ignored,
/// since only these names are read.
fn members(
    which: Cifar,
    archive: &Path,
    bytes: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let bad = |e: std::io::Error| DataError::Invalid {
        what: archive.display().to_string(),
        message: format!("not a readable .tar.gz archive: {e}"),
    };
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(GzDecoder::new(bytes));
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.into_owned();
        let parts: Vec<&str> = path.iter().filter_map(|c| c.to_str()).collect();
        if let [folder, name] = parts.as_slice()
            && *folder == which.folder()
        {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(bad)?;
            out.push((name.to_string(), content));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small archive in the real format: `per_file` records in each batch file.
    pub(crate) fn archive(which: Cifar, per_file: usize, dir: &Path) -> PathBuf {
        let path = dir.join(which.archive());
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("{}/{name}", which.folder()), bytes)
                .unwrap();
        };
        let names: String = (0..which.classes())
            .map(|c| format!("class{c}\n"))
            .collect();
        add(which.names_file(), names.as_bytes());
        let record = |i: usize| -> Vec<u8> {
            let mut r = vec![0u8; which.label_bytes()];
            *r.last_mut().unwrap() = (i % which.classes()) as u8;
            r.extend((0..PIXELS).map(|p| ((p / 1024) * 100 + i) as u8));
            r
        };
        for (f, name) in which.train_files().iter().enumerate() {
            let bytes: Vec<u8> = (0..per_file)
                .flat_map(|i| record(f * per_file + i))
                .collect();
            add(name, &bytes);
        }
        let test: Vec<u8> = (0..per_file).flat_map(record).collect();
        add(which.test_file(), &test);
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn both_archives_read_as_colour_planes_with_their_names() {
        for which in [Cifar::Ten, Cifar::Hundred] {
            let dir = tempfile::tempdir().unwrap();
            archive(which, 4, dir.path());
            let d = load(which, dir.path(), false, &crate::download::NoProgress).unwrap();
            let files = which.train_files().len();
            assert_eq!(d.images.train.len(), 4 * files);
            assert_eq!(d.images.test.len(), 4);
            assert_eq!(d.classes.len(), which.classes());
            assert_eq!(d.classes[1], "class1");
            let t = &d.images.train;
            assert_eq!((t.channels, t.rows, t.cols), (3, 32, 32));
            // Record 1: label 1, red plane 1, green 101, blue 201.
            assert_eq!(t.labels[1], 1);
            let img = t.image(1);
            assert_eq!((img[0], img[1024], img[2048]), (1, 101, 201));
        }
    }

    #[test]
    fn a_cut_file_or_a_bad_label_is_named_by_offset() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(Cifar::Ten.folder());
        std::fs::create_dir_all(&folder).unwrap();
        let names: String = (0..10).map(|c| format!("c{c}\n")).collect();
        std::fs::write(folder.join("batches.meta.txt"), names).unwrap();
        let good = vec![3u8; 2 * 3073];
        for i in 1..=5 {
            std::fs::write(folder.join(format!("data_batch_{i}.bin")), &good).unwrap();
        }
        std::fs::write(folder.join("test_batch.bin"), &good[..3073 + 100]).unwrap();
        let err = load(Cifar::Ten, dir.path(), false, &crate::download::NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test_batch.bin: at byte 3073: expected records of 3073 bytes"),
            "{err}"
        );
        let mut bad = good.clone();
        bad[3073] = 12;
        std::fs::write(folder.join("test_batch.bin"), &bad).unwrap();
        let err = load(Cifar::Ten, dir.path(), false, &crate::download::NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at byte 3073: expected a label below 10, found 12"),
            "{err}"
        );
        let err = load(
            Cifar::Hundred,
            dir.path(),
            false,
            &crate::download::NoProgress,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cifar-100-binary.tar.gz: missing"), "{err}");
    }
}
