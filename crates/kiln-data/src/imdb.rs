//! The Large Movie Review Dataset (Maas et al., 2011) in its original `aclImdb_v1.tar.gz`
//! form: read straight from the gzip stream, or from an `aclImdb/` folder after a safe
//! extraction. Archives are untrusted input: a review entry that is a link, or any entry whose
//! path could land outside the target folder, is an error, and a cut or corrupt archive never
//! leaves a half-extracted folder behind.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::DataError;
use crate::download::{Checksum, Progress, fetch_verified};

pub const ARCHIVE: &str = "aclImdb_v1.tar.gz";
/// SHA-256 of the archive as Stanford publishes it (also what TFDS and others pin).
pub const ARCHIVE_SHA256: &str = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe";
pub const MIRRORS: &[&str] = &["https://ai.stanford.edu/~amaas/data/sentiment"];
/// The folder the archive unpacks to.
pub const FOLDER: &str = "aclImdb";

/// 2,000 training and 1,000 test reviews of aclImdb (half positive), in the original layout,
/// so that a first run needs no network and no data folder.
const SAMPLE: &[u8] = include_bytes!("../../../datasets/samples/imdb/aclImdb_sample.tar.gz");

/// One review. `rating` is the star rating from the file name (1-4 negative, 7-10 positive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: u32,
    pub rating: u8,
    pub positive: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviews {
    pub train: Vec<Review>,
    pub test: Vec<Review>,
}

/// Where the reviews come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImdbSource {
    /// The sample compiled into kiln.
    EmbeddedSample,
    /// `dir/aclImdb/` if it exists, else `dir/aclImdb_v1.tar.gz`, downloaded (and checked
    /// against the published SHA-256) when missing and `download` is set. With `extract`,
    /// the archive is unpacked into `dir/aclImdb/` once and read from there afterwards.
    Directory {
        dir: PathBuf,
        download: bool,
        extract: bool,
    },
}

impl Reviews {
    pub fn load(source: &ImdbSource, progress: &dyn Progress) -> Result<Self, DataError> {
        let (reviews, read_from) = match source {
            ImdbSource::EmbeddedSample => {
                let name = Path::new("<embedded sample>/aclImdb_sample.tar.gz");
                (read_archive(name, SAMPLE)?, name.to_path_buf())
            }
            ImdbSource::Directory {
                dir,
                download,
                extract,
            } => {
                let folder = dir.join(FOLDER);
                let archive = dir.join(ARCHIVE);
                if folder.is_dir() {
                    (read_folder(&folder)?, folder)
                } else {
                    if !archive.is_file() {
                        if !download {
                            return Err(DataError::Missing {
                                name: format!("{ARCHIVE} (or an extracted {FOLDER}/ folder)"),
                                dir: dir.clone(),
                                hint: "put the archive there, or point KILN_DATASETS at a folder that has it".into(),
                            });
                        }
                        fetch_verified(
                            MIRRORS,
                            ARCHIVE,
                            &archive,
                            Checksum::File(ARCHIVE_SHA256),
                            progress,
                        )?;
                    }
                    if *extract {
                        extract_archive(&archive, dir)?;
                        (read_folder(&folder)?, folder)
                    } else {
                        let bytes = fs::read(&archive).map_err(|e| DataError::io(&archive, e))?;
                        (read_archive(&archive, &bytes)?, archive)
                    }
                }
            }
        };
        reviews.check_complete(&read_from)?;
        Ok(reviews)
    }

    fn check_complete(&self, read_from: &Path) -> Result<(), DataError> {
        for (name, split) in [("train", &self.train), ("test", &self.test)] {
            for positive in [false, true] {
                if !split.iter().any(|r| r.positive == positive) {
                    return Err(DataError::Invalid {
                        what: read_from.display().to_string(),
                        message: format!(
                            "no {name}/{} reviews: expected the aclImdb layout {FOLDER}/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt",
                            if positive { "pos" } else { "neg" }
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Which split and class a path inside the archive or folder holds, if it is a review.
fn review_slot(relative: &Path) -> Option<(bool, bool, &str)> {
    let parts: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
    let [root, split, label, file] = parts.as_slice() else {
        return None;
    };
    if *root != FOLDER || !file.ends_with(".txt") {
        return None;
    }
    let train = match *split {
        "train" => true,
        "test" => false,
        _ => return None,
    };
    let positive = match *label {
        "pos" => true,
        "neg" => false,
        _ => return None,
    };
    Some((train, positive, file))
}

/// `<id>_<rating>.txt` -> (id, rating).
fn parse_name(path: &Path, file: &str) -> Result<(u32, u8), DataError> {
    let stem = file.trim_end_matches(".txt");
    let parsed = stem
        .split_once('_')
        .and_then(|(id, rating)| Some((id.parse().ok()?, rating.parse().ok()?)));
    match parsed {
        Some((id, rating)) if (1..=10).contains(&rating) => Ok((id, rating)),
        _ => Err(DataError::Invalid {
            what: path.display().to_string(),
            message: "expected a review file named <id>_<rating>.txt with a rating from 1 to 10"
                .into(),
        }),
    }
}

/// A review from its file name and content; `path` names it in errors.
fn review(path: &Path, file: &str, positive: bool, bytes: Vec<u8>) -> Result<Review, DataError> {
    let (id, rating) = parse_name(path, file)?;
    Ok(Review {
        id,
        rating,
        positive,
        text: utf8(path, bytes)?,
    })
}

fn push(reviews: &mut Reviews, train: bool, review: Review) {
    if train {
        reviews.train.push(review)
    } else {
        reviews.test.push(review)
    }
}

/// Stored order differs between archives and file systems; sorting makes it canonical.
fn sort(mut reviews: Reviews) -> Reviews {
    for split in [&mut reviews.train, &mut reviews.test] {
        split.sort_by_key(|r| (r.positive, r.id));
    }
    reviews
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, DataError> {
    String::from_utf8(bytes).map_err(|e| DataError::Format {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to() as u64,
        expected: "UTF-8 text".into(),
        found: "an invalid byte sequence".into(),
    })
}

/// A path inside an archive that stays inside the folder it is unpacked into: relative, and
/// made of plain names only.
fn safe_relative(archive: &Path, path: &Path) -> Result<(), DataError> {
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)))
        && path.components().next().is_some();
    if ok {
        Ok(())
    } else {
        Err(DataError::Invalid {
            what: archive.display().to_string(),
            message: format!(
                "refusing entry {:?}: archive paths must be relative, without `..`",
                path.display().to_string()
            ),
        })
    }
}

fn corrupt(archive: &Path, e: std::io::Error) -> DataError {
    DataError::Invalid {
        what: archive.display().to_string(),
        message: format!("truncated or corrupt archive ({e}); delete it to download it again"),
    }
}

/// Reads the reviews straight out of a `.tar.gz` held in memory.
pub fn read_archive(archive: &Path, gz: &[u8]) -> Result<Reviews, DataError> {
    let mut tar = tar::Archive::new(GzDecoder::new(gz));
    let mut reviews = Reviews {
        train: Vec::with_capacity(25_000),
        test: Vec::with_capacity(25_000),
    };
    for entry in tar.entries().map_err(|e| corrupt(archive, e))? {
        let mut entry = entry.map_err(|e| corrupt(archive, e))?;
        let path = entry.path().map_err(|e| corrupt(archive, e))?.into_owned();
        safe_relative(archive, &path)?;
        let inner = archive.join(&path);
        // Refused wherever it is, as extraction refuses it: a link is never followed.
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(DataError::Invalid {
                what: inner.display().to_string(),
                message: "refusing a link or special file: the archive must hold plain files"
                    .into(),
            });
        }
        let Some((train, positive, file)) = review_slot(&path) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(archive, e))?;
        let review = review(&inner, file, positive, bytes)?;
        push(&mut reviews, train, review);
    }
    Ok(sort(reviews))
}

/// Reads the reviews from an extracted `aclImdb/` folder.
pub fn read_folder(folder: &Path) -> Result<Reviews, DataError> {
    let mut reviews = Reviews {
        train: Vec::with_capacity(25_000),
        test: Vec::with_capacity(25_000),
    };
    for split in ["train", "test"] {
        for label in ["neg", "pos"] {
            let dir = folder.join(split).join(label);
            let listing = fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))?;
            for item in listing {
                let item = item.map_err(|e| DataError::io(&dir, e))?;
                let path = item.path();
                let name = item.file_name();
                let relative = Path::new(FOLDER).join(split).join(label).join(&name);
                let Some((train, positive, file)) = review_slot(&relative) else {
                    continue;
                };
                let bytes = fs::read(&path).map_err(|e| DataError::io(&path, e))?;
                let review = review(&path, file, positive, bytes)?;
                push(&mut reviews, train, review);
            }
        }
    }
    Ok(sort(reviews))
}

/// Unpacks `archive` into `dir/aclImdb/`. Everything is written into a temporary folder inside
/// `dir` first and renamed into place only when the whole archive has been read, so a failure
/// leaves nothing that a later run could mistake for the dataset.
pub fn extract_archive(archive: &Path, dir: &Path) -> Result<PathBuf, DataError> {
    let target = dir.join(FOLDER);
    let file = fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".aclImdb-partial-")
        .tempdir_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    let mut tar = tar::Archive::new(GzDecoder::new(std::io::BufReader::new(file)));
    for entry in tar.entries().map_err(|e| corrupt(archive, e))? {
        let mut entry = entry.map_err(|e| corrupt(archive, e))?;
        let path = entry.path().map_err(|e| corrupt(archive, e))?.into_owned();
        safe_relative(archive, &path)?;
        if path.components().next() != Some(Component::Normal(FOLDER.as_ref())) {
            return Err(DataError::Invalid {
                what: archive.display().to_string(),
                message: format!(
                    "refusing entry {:?}: everything must be under {FOLDER}/",
                    path.display().to_string()
                ),
            });
        }
        let dest = staging.path().join(&path);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(|e| DataError::io(&dest, e))?;
        } else if kind.is_file() {
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
            }
            let mut out = fs::File::create(&dest).map_err(|e| DataError::io(&dest, e))?;
            std::io::copy(&mut entry, &mut out).map_err(|e| corrupt(archive, e))?;
        } else {
            return Err(DataError::Invalid {
                what: archive.display().to_string(),
                message: format!(
                    "refusing entry {:?}: links and special files are not extracted",
                    path.display().to_string()
                ),
            });
        }
    }
    let unpacked = staging.path().join(FOLDER);
    if !unpacked.is_dir() {
        return Err(DataError::Invalid {
            what: archive.display().to_string(),
            message: format!("no {FOLDER}/ folder in the archive"),
        });
    }
    fs::rename(&unpacked, &target).map_err(|e| DataError::io(&target, e))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A tar entry written byte by byte, so that tests can build the hostile archives that
    /// `tar::Builder` itself refuses to make.
    fn raw_entry(out: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if kind.is_symlink() || kind.is_hard_link() {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        out.append(&header, data).unwrap();
    }

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            raw_entry(&mut tar, name, *kind, data);
        }
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;

    /// The error of loading `dir` as a datasets folder, without downloads or extraction.
    fn load_error(dir: &Path) -> String {
        let source = ImdbSource::Directory {
            dir: dir.into(),
            download: false,
            extract: false,
        };
        Reviews::load(&source, &crate::download::NoProgress)
            .unwrap_err()
            .to_string()
    }

    fn good() -> Vec<u8> {
        archive(&[
            ("aclImdb/", tar::EntryType::Directory, b""),
            ("aclImdb/README", FILE, b"readme"),
            (
                "aclImdb/train/pos/3_9.txt",
                FILE,
                b"Great film.<br />Loved it",
            ),
            ("aclImdb/train/neg/1_2.txt", FILE, b"Dull."),
            ("aclImdb/train/neg/0_1.txt", FILE, b"Awful."),
            ("aclImdb/test/pos/7_10.txt", FILE, b"Superb!"),
            ("aclImdb/test/neg/5_4.txt", FILE, b"Meh."),
            ("aclImdb/train/unsup/9_0.txt", FILE, b"ignored"),
        ])
    }

    #[test]
    fn reads_reviews_with_ratings_in_canonical_order() {
        let r = read_archive(Path::new("a.tar.gz"), &good()).unwrap();
        let ids: Vec<_> = r
            .train
            .iter()
            .map(|r| (r.id, r.rating, r.positive))
            .collect();
        assert_eq!(ids, [(0, 1, false), (1, 2, false), (3, 9, true)]);
        assert_eq!(r.train[2].text, "Great film.<br />Loved it");
        assert_eq!(r.test.len(), 2);
    }

    #[test]
    fn extraction_and_stream_agree_and_leave_only_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ARCHIVE);
        fs::write(&path, good()).unwrap();
        let folder = extract_archive(&path, dir.path()).unwrap();
        assert_eq!(
            read_folder(&folder).unwrap(),
            read_archive(&path, &good()).unwrap()
        );
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [FOLDER, ARCHIVE]);
    }

    /// Each hostile archive is refused with a message naming the entry, and the dataset
    /// folder (and its parent) hold exactly what they held before.
    #[test]
    fn hostile_archives_are_refused_and_write_nothing() {
        let cases: [(&str, Vec<u8>, &str); 5] = [
            (
                "parent",
                archive(&[
                    ("aclImdb/train/pos/1_9.txt", FILE, b"ok"),
                    ("aclImdb/../../escaped.txt", FILE, b"evil"),
                ]),
                "without `..`",
            ),
            (
                "absolute",
                archive(&[("/tmp/kiln-absolute-escape.txt", FILE, b"evil")]),
                "must be relative",
            ),
            (
                "symlink",
                archive(&[("aclImdb/train/pos/1_9.txt", tar::EntryType::Symlink, b"")]),
                "link",
            ),
            (
                "hardlink",
                archive(&[("aclImdb/x", tar::EntryType::Link, b"")]),
                "links",
            ),
            (
                "outside the folder",
                archive(&[("elsewhere.txt", FILE, b"evil")]),
                "must be under aclImdb/",
            ),
        ];
        for (what, bytes, expected) in cases {
            let outer = tempfile::tempdir().unwrap();
            let dir = outer.path().join("datasets");
            fs::create_dir(&dir).unwrap();
            let path = dir.join(ARCHIVE);
            fs::write(&path, &bytes).unwrap();
            let err = extract_archive(&path, &dir).unwrap_err().to_string();
            assert!(err.contains(expected), "{what}: {err}");
            assert!(err.contains(ARCHIVE), "{what}: {err}");
            let names = |d: &Path| fs::read_dir(d).unwrap().count();
            assert_eq!(names(&dir), 1, "{what}: only the archive is left");
            assert_eq!(names(outer.path()), 1, "{what}: nothing beside the folder");
            assert!(!Path::new("/tmp/kiln-absolute-escape.txt").exists());
            if what != "outside the folder" {
                let stream = read_archive(&path, &bytes).unwrap_err().to_string();
                assert!(stream.contains("refusing"), "{what}: {stream}");
            }
        }
    }

    #[test]
    fn a_cut_archive_is_a_clear_error_and_leaves_no_folder() {
        let bytes = good();
        let cut = &bytes[..bytes.len() * 2 / 3];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ARCHIVE);
        fs::write(&path, cut).unwrap();
        let err = extract_archive(&path, dir.path()).unwrap_err().to_string();
        assert!(err.contains("truncated or corrupt archive"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = read_archive(&path, cut).unwrap_err().to_string();
        assert!(err.contains("truncated or corrupt archive"), "{err}");
        let source = ImdbSource::Directory {
            dir: dir.path().into(),
            download: false,
            extract: true,
        };
        assert!(Reviews::load(&source, &crate::download::NoProgress).is_err());
        assert!(!dir.path().join(FOLDER).exists());
    }

    #[test]
    fn bad_names_and_missing_splits_are_named() {
        let bad = archive(&[("aclImdb/train/pos/great.txt", FILE, b"x")]);
        let err = read_archive(Path::new("a.tar.gz"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.tar.gz/aclImdb/train/pos/great.txt") && err.contains("<id>_<rating>"),
            "{err}"
        );
        let latin1 = archive(&[("aclImdb/train/pos/1_9.txt", FILE, b"caf\xe9")]);
        let err = read_archive(Path::new("a.tar.gz"), &latin1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at byte 3") && err.contains("UTF-8"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let only_train = archive(&[
            ("aclImdb/train/pos/1_9.txt", FILE, b"a"),
            ("aclImdb/train/neg/2_1.txt", FILE, b"b"),
        ]);
        fs::write(dir.path().join(ARCHIVE), only_train).unwrap();
        let err = load_error(dir.path());
        assert!(err.contains("no test/neg reviews"), "{err}");
        // The file read, not a Rust value.
        assert!(
            err.starts_with(&dir.path().join(ARCHIVE).display().to_string())
                && !err.contains("Directory {"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_archive_without_download_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_error(dir.path());
        assert!(
            err.contains(ARCHIVE) && err.contains("downloads are disabled"),
            "{err}"
        );
    }

    #[test]
    fn the_embedded_sample_is_balanced() {
        let r = Reviews::load(&ImdbSource::EmbeddedSample, &crate::download::NoProgress).unwrap();
        assert_eq!((r.train.len(), r.test.len()), (2000, 1000));
        assert_eq!(r.train.iter().filter(|r| r.positive).count(), 1000);
        assert_eq!(r.test.iter().filter(|r| r.positive).count(), 500);
    }
}
