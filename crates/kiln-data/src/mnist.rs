//! MNIST and the sets published like it (Fashion-MNIST) in their IDX form: from the sample
//! compiled into kiln, or from a folder with the canonical file names (gzip or raw),
//! downloading what is missing when allowed.

use std::path::{Path, PathBuf};

use crate::download::{Checksum, Progress, fetch_verified, sha256_hex};
use crate::{DataError, idx};

/// An image set published as MNIST is: four IDX files under canonical names, each with
/// its published checksum, on some mirrors.
#[derive(Debug, Clone, Copy)]
pub struct IdxSet {
    pub name: &'static str,
    /// Its folder in a datasets folder or the download cache.
    pub folder: &'static str,
    /// Mirrors tried in order.
    pub mirrors: &'static [&'static str],
    /// (canonical name, checksum): training images and labels, then test images and labels.
    pub files: [(&'static str, Checksum<'static>); 4],
    /// The class names, label 0 first.
    pub classes: &'static [&'static str],
    /// A part of it compiled into kiln, gzipped, in the order of `files`.
    pub sample: Option<[&'static [u8]; 4]>,
}

/// The handwritten digits. The original host is the last mirror because it is often down.
/// Archives are recompressed by some mirrors, so the SHA-256 of the content is the stable
/// identity.
pub const MNIST: IdxSet = IdxSet {
    name: "MNIST",
    folder: "mnist",
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist",
        "http://yann.lecun.com/exdb/mnist",
    ],
    files: [
        (
            "train-images-idx3-ubyte",
            Checksum::Content("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ),
        (
            "train-labels-idx1-ubyte",
            Checksum::Content("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ),
        (
            "t10k-images-idx3-ubyte",
            Checksum::Content("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ),
        (
            "t10k-labels-idx1-ubyte",
            Checksum::Content("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ),
    ],
    classes: &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    sample: Some(SAMPLE),
};

/// Zalando's Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 70,000 grey 28x28 pictures of
/// clothing in 10 classes, laid out as MNIST. Its authors publish the MD5 of each archive.
pub const FASHION_MNIST: IdxSet = IdxSet {
    name: "Fashion-MNIST",
    folder: "fashion_mnist",
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
    ],
    files: [
        (
            "train-images-idx3-ubyte",
            Checksum::FileMd5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ),
        (
            "train-labels-idx1-ubyte",
            Checksum::FileMd5("25c81989df183df01b3e8a0aad5dffbe"),
        ),
        (
            "t10k-images-idx3-ubyte",
            Checksum::FileMd5("bef4ecab320f06d8554ea6380940ec79"),
        ),
        (
            "t10k-labels-idx1-ubyte",
            Checksum::FileMd5("bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ],
    classes: &[
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    sample: None,
};

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
    /// `download` is set; every file is checked against its published checksum when
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
    /// MNIST itself.
    pub fn load(source: &MnistSource, progress: &dyn Progress) -> Result<Self, DataError> {
        Self::load_set(&MNIST, source, progress)
    }

    /// Any set published as MNIST is.
    pub fn load_set(
        set: &IdxSet,
        source: &MnistSource,
        progress: &dyn Progress,
    ) -> Result<Self, DataError> {
        let mut contents = Vec::with_capacity(4);
        for (i, (name, checksum)) in set.files.iter().enumerate() {
            let (path, bytes) = match source {
                MnistSource::EmbeddedSample => {
                    let path = PathBuf::from(format!("<embedded sample>/{name}.gz"));
                    let Some(sample) = set.sample else {
                        return Err(DataError::Missing {
                            name: format!("{name}.gz"),
                            dir: PathBuf::from("<embedded sample>"),
                            hint: format!("kiln has no sample of {} compiled in", set.name),
                        });
                    };
                    let bytes = idx::decompress_if_gzip(&path, sample[i].to_vec())?;
                    (path, bytes)
                }
                MnistSource::Directory {
                    dir,
                    download,
                    verify,
                } => read_or_fetch(set, dir, name, *checksum, (*download, *verify), progress)?,
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
    set: &IdxSet,
    dir: &Path,
    name: &str,
    checksum: Checksum,
    (download, verify): (bool, bool),
    progress: &dyn Progress,
) -> Result<(PathBuf, Vec<u8>), DataError> {
    for candidate in [dir.join(format!("{name}.gz")), dir.join(name)] {
        if candidate.is_file() {
            let content = idx::read_maybe_gzip(&candidate)?;
            if verify {
                check_file(&candidate, &content, checksum)?;
            }
            return Ok((candidate, content));
        }
    }
    if !download {
        return Err(DataError::Missing {
            name: format!("{name}.gz"),
            dir: dir.to_path_buf(),
            hint: format!(
                "put the canonical {} files there, or point KILN_DATASETS at a folder that has them",
                set.name
            ),
        });
    }
    let dest = dir.join(format!("{name}.gz"));
    let bytes = fetch_verified(
        set.mirrors,
        &format!("{name}.gz"),
        &dest,
        checksum,
        progress,
    )?;
    // The MD5 of an archive is checked on the archive; the images are inside it.
    let bytes = match checksum {
        Checksum::FileMd5(_) | Checksum::File(_) => idx::decompress_if_gzip(&dest, bytes)?,
        Checksum::Content(_) => bytes,
    };
    Ok((dest, bytes))
}

/// A local file (its decompressed `content` read already) against its published checksum:
/// the SHA-256 of its content, or the digest of the archive as published, which an
/// unpacked file cannot show.
fn check_file(path: &Path, content: &[u8], checksum: Checksum) -> Result<(), DataError> {
    let (expected, actual) = match checksum {
        Checksum::Content(sha) => (sha, sha256_hex(content)),
        Checksum::File(digest) | Checksum::FileMd5(digest) => {
            if path.extension().is_none_or(|e| e != "gz") {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    offset: 0,
                    expected: "the published .gz archive, whose checksum is known (set data.verify = false to use unpacked files)".into(),
                    found: "an unpacked file".into(),
                });
            }
            let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            let actual = match checksum {
                Checksum::FileMd5(_) => crate::download::md5_hex(&raw),
                _ => sha256_hex(&raw),
            };
            (digest, actual)
        }
    };
    if actual != expected {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
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
