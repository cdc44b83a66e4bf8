//! Sentence pairs for an encoder-decoder: `source<TAB>target[<TAB>anything]` per line, the
//! Tatoeba/manythings layout (`eng-spa.tsv`'s third column is the verse reference), with
//! length filters, since a few very long pairs cost more than they teach.

use std::path::Path;

use crate::DataError;
use crate::corpus::utf8;

/// Where the default sentence pairs (Tatoeba's English-Spanish) lie in a datasets folder; no
/// public mirror serves this file, so it is never downloaded.
pub const DEFAULT_FILE: &str = "parallel/eng-spa.tsv";

/// One source sentence and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub source: String,
    pub target: String,
}

impl Pair {
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
        }
    }
}

/// Pairs longer than this, in characters or in whitespace-separated words, are left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthFilter {
    pub max_chars: Option<usize>,
    pub max_words: Option<usize>,
}

impl LengthFilter {
    fn keeps(&self, text: &str) -> bool {
        self.max_chars.is_none_or(|m| text.chars().count() <= m)
            && self
                .max_words
                .is_none_or(|m| text.split_whitespace().count() <= m)
    }
}

/// What reading a pair file found: the pairs kept, and how many the filter left out.
const SAMPLE: &str = include_str!("../../../datasets/samples/parallel/eng-spa_sample.tsv");

#[derive(Debug, Clone)]
pub struct Pairs {
    pub pairs: Vec<Pair>,
    pub filtered_out: usize,
}

impl Pairs {
    /// Reads `path`. Every line must hold a source and a target separated by a tab; a line
    /// that does not (an empty line included) is an error naming it, rather than a pair
    /// silently lost. Only the newline at the end of the file may be followed by nothing.
    pub fn read(path: &Path, filter: LengthFilter) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        Self::parse(path, &utf8(path, bytes)?, filter)
    }

    /// About 1,000 English-Spanish verse pairs (every 31st line of `eng-spa.tsv`), compiled
    /// in for quick runs and tests.
    pub fn embedded_sample(filter: LengthFilter) -> Result<Self, DataError> {
        Self::parse(Path::new("<embedded eng-spa sample>"), SAMPLE, filter)
    }

    /// As [`Pairs::read`], from text already read; `path` names it in errors.
    pub fn parse(path: &Path, text: &str, filter: LengthFilter) -> Result<Self, DataError> {
        let mut pairs = Vec::new();
        let mut filtered_out = 0;
        let bad = |line: usize, found: &str| DataError::Line {
            path: path.into(),
            line,
            expected: "source<TAB>target".into(),
            found: found.into(),
        };
        for (i, line) in text.lines().enumerate() {
            let number = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                return Err(bad(number, "an empty line"));
            }
            let mut fields = line.split('\t');
            let source = fields.next().unwrap_or_default().trim();
            let Some(target) = fields.next().map(str::trim) else {
                return Err(bad(number, "no tab"));
            };
            if source.is_empty() || target.is_empty() {
                let which = if source.is_empty() {
                    "source"
                } else {
                    "target"
                };
                return Err(bad(number, &format!("an empty {which}")));
            }
            if filter.keeps(source) && filter.keeps(target) {
                pairs.push(Pair::new(source, target));
            } else {
                filtered_out += 1;
            }
        }
        if pairs.is_empty() {
            return Err(DataError::Invalid {
                what: path.display().to_string(),
                message: format!(
                    "no pairs left ({filtered_out} longer than the length filter {filter:?})"
                ),
            });
        }
        Ok(Self {
            pairs,
            filtered_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn read(bytes: &[u8], filter: LengthFilter) -> Result<Pairs, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("pairs.tsv");
        std::fs::write(&path, bytes).unwrap();
        Pairs::read(&path, filter)
    }

    #[test]
    fn pairs_keep_two_columns_and_ignore_the_rest() {
        let p = read(
            b"Go.\tVe.\tref 1\r\nI see it.\tLo veo.\n",
            LengthFilter::default(),
        )
        .unwrap();
        assert_eq!(
            p.pairs,
            [Pair::new("Go.", "Ve."), Pair::new("I see it.", "Lo veo.")]
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        for (bytes, needle) in [
            (
                &b"a\tb\n\nc\td\n"[..],
                "pairs.tsv:2: expected source<TAB>target, found an empty line",
            ),
            (
                &b"a\tb\nno tab here\n"[..],
                "pairs.tsv:2: expected source<TAB>target, found no tab",
            ),
            (
                &b"a\t\n"[..],
                "pairs.tsv:1: expected source<TAB>target, found an empty target",
            ),
            (&b"a\tb\nc\td\xe9\n"[..], "pairs.tsv:2: expected UTF-8 text"),
        ] {
            let e = read(bytes, LengthFilter::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn the_length_filter_counts_characters_and_words() {
        let text = b"one two\tuno dos\none two three\tuno dos tres\nlonglonglong\tx\n";
        let by_words = LengthFilter {
            max_words: Some(2),
            ..Default::default()
        };
        let p = read(text, by_words).unwrap();
        assert_eq!((p.pairs.len(), p.filtered_out), (2, 1));
        let by_chars = LengthFilter {
            max_chars: Some(8),
            ..Default::default()
        };
        let p = read(text, by_chars).unwrap();
        assert_eq!(p.pairs, [Pair::new("one two", "uno dos")]);
        let none = LengthFilter {
            max_chars: Some(1),
            ..Default::default()
        };
        let e = read(text, none).unwrap_err().to_string();
        assert!(e.contains("no pairs left (3 longer"), "{e}");
    }

    #[test]
    #[ignore = "real data: needs KILN_DATASETS (cargo xtask test sets it up)"]
    fn real_eng_spa_pairs_read_whole() {
        let root = crate::real_datasets();
        let path = root.join("parallel/eng-spa.tsv");
        let all = Pairs::read(&path, LengthFilter::default()).unwrap();
        assert_eq!((all.pairs.len(), all.filtered_out), (31_067, 0));
        assert!(all.pairs[0].source.starts_with("In the beginning"));
        let short = LengthFilter {
            max_words: Some(20),
            ..Default::default()
        };
        let kept = Pairs::read(&path, short).unwrap();
        assert_eq!(kept.pairs.len() + kept.filtered_out, 31_067);
        assert!(kept.filtered_out > 0);
    }
}
