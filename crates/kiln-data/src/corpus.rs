//! A plain-text corpus (any UTF-8 file, e.g. tiny Shakespeare) for a character-level language
//! model, split contiguously: the validation text is the corpus's tail, so that no window of
//! it was seen in training, as in the char-rnn tutorials.

use std::path::{Path, PathBuf};

use crate::DataError;
use crate::download::{Checksum, Progress, fetch_verified, sha256_hex};

/// Where tiny Shakespeare (Karpathy's char-rnn corpus) is served; the first that gives the
/// known bytes wins.
pub const TINY_SHAKESPEARE_MIRRORS: &[&str] = &[
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare",
    "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare",
];
/// SHA-256 of the 1,115,394-byte `input.txt`.
pub const TINY_SHAKESPEARE_SHA256: &str =
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
const SAMPLE: &str = include_str!("../../../datasets/samples/tinyshakespeare/input_sample.txt");

#[derive(Debug, Clone)]
pub struct Corpus {
    pub path: PathBuf,
    pub text: String,
}

impl Corpus {
    /// Reads `path`, which must be non-empty UTF-8; a bad byte is named by line and offset.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let text = utf8(path, bytes)?;
        if text.trim().is_empty() {
            return Err(DataError::Line {
                path: path.into(),
                line: 1,
                expected: "some text".into(),
                found: "an empty file".into(),
            });
        }
        Ok(Self {
            path: path.into(),
            text,
        })
    }

    /// The first 99,843 bytes of tiny Shakespeare, compiled in for quick runs and tests.
    pub fn embedded_sample() -> Self {
        Self {
            path: PathBuf::from("<embedded tiny Shakespeare sample>"),
            text: SAMPLE.to_string(),
        }
    }

    /// Tiny Shakespeare from `dir/input.txt`, checked against its known SHA-256 when `verify`,
    /// and downloaded there first when it is missing and `download` allows it.
    pub fn tiny_shakespeare(
        dir: &Path,
        download: bool,
        verify: bool,
        progress: &dyn Progress,
    ) -> Result<Self, DataError> {
        let path = dir.join("input.txt");
        if !path.exists() {
            if !download {
                return Err(DataError::Missing {
                    name: "input.txt".into(),
                    dir: dir.into(),
                    hint: "set data.download = true, or data.path to a text file".into(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
            fetch_verified(
                TINY_SHAKESPEARE_MIRRORS,
                "input.txt",
                &path,
                Checksum::File(TINY_SHAKESPEARE_SHA256),
                progress,
            )?;
        }
        let corpus = Self::read(&path)?;
        if verify {
            let actual = sha256_hex(corpus.text.as_bytes());
            if actual != TINY_SHAKESPEARE_SHA256 {
                return Err(DataError::Checksum {
                    path,
                    expected: TINY_SHAKESPEARE_SHA256.into(),
                    actual,
                });
            }
        }
        Ok(corpus)
    }

    /// The text before and after the split point: the last `validation_fraction` of the
    /// characters (at least one when the fraction is positive) are the validation text.
    pub fn split(&self, validation_fraction: f64) -> (&str, &str) {
        let chars = self.text.chars().count();
        let validation = if validation_fraction > 0.0 {
            ((chars as f64 * validation_fraction).round() as usize).clamp(1, chars)
        } else {
            0
        };
        let at = self
            .text
            .char_indices()
            .nth(chars - validation)
            .map_or(self.text.len(), |(i, _)| i);
        self.text.split_at(at)
    }
}

/// `bytes` as a string, or the line and byte offset of the first byte that is not UTF-8.
pub(crate) fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, DataError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::Line {
            path: path.into(),
            line,
            expected: "UTF-8 text".into(),
            found: format!("byte 0x{:02x} at byte offset {offset}", bytes[offset]),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.txt");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn the_split_is_contiguous_and_on_character_boundaries() {
        let (_d, path) = write("abcdéfghij".as_bytes());
        let c = Corpus::read(&path).unwrap();
        assert_eq!(c.split(0.3), ("abcdéfg", "hij"));
        assert_eq!(c.split(0.0), ("abcdéfghij", ""));
        // A tiny fraction still leaves one character to validate on.
        assert_eq!(c.split(0.001), ("abcdéfghi", "j"));
        let (train, val) = c.split(0.6);
        assert_eq!((train, val), ("abcd", "éfghij"));
    }

    #[test]
    fn bad_utf8_is_named_by_line_and_offset() {
        let (_d, path) = write(b"first line\nsecond \xff line\n");
        let e = Corpus::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("corpus.txt:2") && e.contains("UTF-8") && e.contains("0xff"),
            "{e}"
        );
        assert!(e.contains("offset 18"), "{e}");
    }

    #[test]
    fn an_empty_corpus_is_refused() {
        let (_d, path) = write(b"\n  \n");
        let e = Corpus::read(&path).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        let e = Corpus::read(Path::new("/nonexistent/corpus.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/corpus.txt"), "{e}");
    }

    #[test]
    #[ignore = "real data: needs KILN_DATASETS (cargo xtask test sets it up)"]
    fn real_tiny_shakespeare_reads_whole() {
        let root = crate::real_datasets();
        let c = Corpus::read(&root.join("tinyshakespeare/input.txt")).unwrap();
        assert_eq!(c.text.len(), 1_115_394);
        assert!(c.text.starts_with("First Citizen:"));
        let (train, val) = c.split(0.1);
        assert_eq!(train.len() + val.len(), c.text.len());
    }
}
