//! MNIST in its original IDX form: from the sample compiled into kiln, or from a folder with
//! the canonical file names (gzip or raw), downloading what is missing when allowed.

use std::path::{Path, PathBuf};

use crate::download::{Checksum, Progress, fetch_verified, sha256_hex};
use crate::{DataError, idx};

/// Mirrors tried in order; the original host is last because it is often down.
pub const MIRRORS: &[&str] = &[
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
];

/// (canonical name, SHA-256 of the decompressed content). Archives are recompressed by some
/// mirrors, so only the content is a stable identity.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// The first 5,000 training and 1,000 test digits of MNIST, so that a first run needs no
/// network and no data folder.
const SAMPLE: [&[u8]; 4] = [
    include_bytes!("../../../datasets/samples/mnist/train-images-idx3-ubyte.gz"),
    include_bytes!("../../../datasets/samples/mnist/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../../datasets/samples/mnist/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../../datasets/samples/mnist/t10k-labels-idx1-ubyte.gz"),
];

/// Where MNIST comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnistSource {
    /// The sample compiled into kiln.
    EmbeddedSample,
    /// The four canonical files in `dir`. Missing files are downloaded into `dir` when
    /// `download` is set; every file's content is checked against the known SHA-256 when
    /// `verify` is set.
    Directory {
        dir: PathBuf,
        download: bool,
        verify: bool,
    },
}

/// Images as bytes: `len() * channels * rows * cols` pixels, each image's channels one after
/// the other (`[channels, rows, cols]`, row-major), and one label each. MNIST's digits have
/// one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn pixels_per_image(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.pixels_per_image();
        &self.images[i * n..(i + 1) * n]
    }

    /// Keeps the first `n` digits (all of them if there are fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.truncate(n * self.pixels_per_image());
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    pub train: Digits,
    pub test: Digits,
}

impl Mnist {
    pub fn load(source: &MnistSource, progress: &dyn Progress) -> Result<Self, DataError> {
        let mut contents = Vec::with_capacity(4);
        for (i, (name, sha)) in FILES.iter().enumerate() {
            let (path, bytes) = match source {
                MnistSource::EmbeddedSample => {
                    let path = PathBuf::from(format!("<embedded sample>/{name}.gz"));
                    let bytes = idx::decompress_if_gzip(&path, SAMPLE[i].to_vec())?;
                    (path, bytes)
                }
                MnistSource::Directory {
                    dir,
                    download,
                    verify,
                } => read_or_fetch(dir, name, sha, *download, *verify, progress)?,
            };
            contents.push((path, bytes));
        }
        let train = digits(&contents[0], &contents[1])?;
        let test = digits(&contents[2], &contents[3])?;
        // A model is built for the training images' size; test images of another size
        // would fail only after a whole epoch of training.
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(DataError::Format {
                path: contents[2].0.clone(),
                offset: 8,
                expected: format!(
                    "{}x{} images, the size of the training images in {}",
                    train.rows,
                    train.cols,
                    contents[0].0.display()
                ),
                found: format!("{}x{}", test.rows, test.cols),
            });
        }
        Ok(Mnist { train, test })
    }
}

fn read_or_fetch(
    dir: &Path,
    name: &str,
    sha: &str,
    download: bool,
    verify: bool,
    progress: &dyn Progress,
) -> Result<(PathBuf, Vec<u8>), DataError> {
    for candidate in [dir.join(format!("{name}.gz")), dir.join(name)] {
        if candidate.is_file() {
            let bytes = idx::read_maybe_gzip(&candidate)?;
            if verify {
                let actual = sha256_hex(&bytes);
                if actual != sha {
                    return Err(DataError::Checksum {
                        path: candidate,
                        expected: sha.to_string(),
                        actual,
                    });
                }
            }
            return Ok((candidate, bytes));
        }
    }
    if !download {
        return Err(DataError::Missing {
            name: format!("{name}.gz"),
            dir: dir.to_path_buf(),
            hint: "put the canonical MNIST files there, or point KILN_DATASETS at a folder with an mnist/ subfolder".into(),
        });
    }
    let dest = dir.join(format!("{name}.gz"));
    let bytes = fetch_verified(
        MIRRORS,
        &format!("{name}.gz"),
        &dest,
        Checksum::Content(sha),
        progress,
    )?;
    Ok((dest, bytes))
}

/// Images and their labels from an IDX pair (gzipped or not), of any size and label range:
/// the two files must hold as many items, of at least 1x1 pixels.
pub fn read_pair(images: &Path, labels: &Path) -> Result<Digits, DataError> {
    pair(
        &(images.to_path_buf(), idx::read_maybe_gzip(images)?),
        &(labels.to_path_buf(), idx::read_maybe_gzip(labels)?),
    )
}

fn pair(images: &(PathBuf, Vec<u8>), labels: &(PathBuf, Vec<u8>)) -> Result<Digits, DataError> {
    let img = idx::parse(&images.0, &images.1, 3)?;
    let lab = idx::parse(&labels.0, &labels.1, 1)?;
    if img.dims[1] == 0 || img.dims[2] == 0 {
        return Err(DataError::Format {
            path: images.0.clone(),
            offset: 8,
            expected: "images of at least 1x1 pixels".into(),
            found: format!("{}x{}", img.dims[1], img.dims[2]),
        });
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::Format {
            path: labels.0.clone(),
            offset: 4,
            expected: format!(
                "{} labels, one per image in {}",
                img.dims[0],
                images.0.display()
            ),
            found: format!("{}", lab.dims[0]),
        });
    }
    Ok(Digits {
        images: img.data,
        labels: lab.data,
        channels: 1,
        rows: img.dims[1],
        cols: img.dims[2],
    })
}

/// An MNIST pair: [`pair`], with digit labels.
fn digits(images: &(PathBuf, Vec<u8>), labels: &(PathBuf, Vec<u8>)) -> Result<Digits, DataError> {
    let digits = pair(images, labels)?;
    if let Some(pos) = digits.labels.iter().position(|&l| l > 9) {
        return Err(DataError::Format {
            path: labels.0.clone(),
            offset: 8 + pos as u64,
            expected: "a digit label 0..=9".into(),
            found: format!("{}", digits.labels[pos]),
        });
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::NoProgress;

    #[test]
    fn embedded_sample_is_real_mnist() {
        let m = Mnist::load(&MnistSource::EmbeddedSample, &NoProgress).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (5000, 1000));
        assert_eq!((m.train.rows, m.train.cols), (28, 28));
        // The first training digit of MNIST is a 5, the first test digit a 7.
        assert_eq!((m.train.labels[0], m.test.labels[0]), (5, 7));
        let mut seen = [0usize; 10];
        m.train.labels.iter().for_each(|&l| seen[l as usize] += 1);
        assert!(seen.iter().all(|&c| c > 350), "{seen:?}");
    }

    fn write_fixture(dir: &Path, n_images: usize, n_labels: usize) {
        let files = [
            (
                "train-images-idx3-ubyte",
                idx::encode(&[n_images, 2, 2], &vec![9; n_images * 4]),
            ),
            (
                "train-labels-idx1-ubyte",
                idx::encode(&[n_labels], &vec![3; n_labels]),
            ),
            (
                "t10k-images-idx3-ubyte",
                idx::encode(&[1, 2, 2], &[1, 2, 3, 4]),
            ),
            ("t10k-labels-idx1-ubyte", idx::encode(&[1], &[4])),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    fn dir_source(dir: &Path) -> MnistSource {
        MnistSource::Directory {
            dir: dir.to_path_buf(),
            download: false,
            verify: false,
        }
    }

    #[test]
    fn reads_raw_files_from_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 3, 3);
        let m = Mnist::load(&dir_source(dir.path()), &NoProgress).unwrap();
        assert_eq!(m.train.len(), 3);
        assert_eq!(m.test.image(0), &[1, 2, 3, 4]);
    }

    #[test]
    fn count_mismatch_names_the_label_file() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 3, 2);
        let err = Mnist::load(&dir_source(dir.path()), &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-labels-idx1-ubyte") && err.contains("3 labels"),
            "{err}"
        );
    }

    #[test]
    fn test_images_of_another_size_and_empty_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 3, 3);
        let test_images = dir.path().join("t10k-images-idx3-ubyte");
        std::fs::write(&test_images, idx::encode(&[1, 3, 3], &[0; 9])).unwrap();
        let err = Mnist::load(&dir_source(dir.path()), &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte")
                && err.contains("expected 2x2 images")
                && err.contains("found 3x3"),
            "{err}"
        );
        let train_images = dir.path().join("train-images-idx3-ubyte");
        std::fs::write(&train_images, idx::encode(&[3, 0, 0], &[])).unwrap();
        let err = Mnist::load(&dir_source(dir.path()), &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("found 0x0"),
            "{err}"
        );
    }

    #[test]
    fn missing_files_without_download_say_where_they_were_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = Mnist::load(&dir_source(dir.path()), &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte.gz") && err.contains("KILN_DATASETS"),
            "{err}"
        );
    }

    #[test]
    fn checksum_mismatch_is_an_error_when_verifying() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 1, 1);
        let source = MnistSource::Directory {
            dir: dir.path().to_path_buf(),
            download: false,
            verify: true,
        };
        let err = Mnist::load(&source, &NoProgress).unwrap_err().to_string();
        assert!(err.contains("SHA-256"), "{err}");
    }

    #[test]
    #[ignore = "real data: needs KILN_DATASETS (cargo xtask test sets it up)"]
    fn real_mnist_loads_with_verified_checksums() {
        let root = crate::real_datasets();
        let source = MnistSource::Directory {
            dir: root.join("mnist"),
            download: false,
            verify: true,
        };
        let m = Mnist::load(&source, &NoProgress).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
        let sample = Mnist::load(&MnistSource::EmbeddedSample, &NoProgress).unwrap();
        assert_eq!(&m.train.images[..5000 * 784], &sample.train.images[..]);
    }
}
