//! Pre-trained word vectors in GloVe's text format (`word v1 v2 ... vd`, one word per line,
//! as in `glove.6B.100d.txt`), looked up for a vocabulary.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::DataError;
use crate::text::Vocabulary;

/// Vectors for the vocabulary entries the file knows: `rows[id]` is `Some(vector)` when found.
#[derive(Debug, Clone, PartialEq)]
pub struct Pretrained {
    pub dim: usize,
    pub rows: Vec<Option<Vec<f32>>>,
}

impl Pretrained {
    /// How many vocabulary entries, specials left out, have a vector.
    pub fn found(&self) -> usize {
        self.rows
            .iter()
            .skip(crate::text::SPECIALS.len())
            .flatten()
            .count()
    }

    /// The share of non-special vocabulary entries with a vector.
    pub fn coverage(&self) -> f64 {
        let words = self.rows.len().saturating_sub(crate::text::SPECIALS.len());
        if words == 0 {
            0.0
        } else {
            self.found() as f64 / words as f64
        }
    }
}

/// Reads the vectors of `vocab`'s tokens from `path`. Every line must have the same number
/// of values as the first; a bad line is named with its number and column.
pub fn load_glove(path: &Path, vocab: &Vocabulary) -> Result<Pretrained, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; vocab.len()];
    let mut dim = None;
    let mut line = String::new();
    let mut reader = BufReader::new(file);
    let mut number = 0;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let bad = |message: String| DataError::Invalid {
            what: format!("{}:{number}", path.display()),
            message,
        };
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let mut fields = text.split(' ');
        let word = fields.next().unwrap_or_default();
        let values: Vec<&str> = fields.collect();
        let expected = *dim.get_or_insert(values.len());
        if values.len() != expected || expected == 0 {
            return Err(bad(format!(
                "expected a word and {expected} numbers, found {} numbers",
                values.len()
            )));
        }
        let id = vocab.id(word);
        if id == Vocabulary::UNK && word != crate::text::SPECIALS[1] {
            continue;
        }
        let vector = values
            .iter()
            .enumerate()
            .map(|(col, v)| {
                v.parse::<f32>()
                    .map_err(|_| bad(format!("value {} is {v:?}, expected a number", col + 1)))
            })
            .collect::<Result<Vec<f32>, _>>()?;
        rows[id as usize].get_or_insert(vector);
    }
    let Some(dim) = dim else {
        return Err(DataError::Invalid {
            what: path.display().to_string(),
            message: "no vectors in the file".into(),
        });
    };
    Ok(Pretrained { dim, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::WordTokenizer;

    fn vocab() -> Vocabulary {
        let counts = Vocabulary::count(&WordTokenizer, &["good bad good film zzqx"]);
        Vocabulary::build(&counts, None, 1)
    }

    #[test]
    fn vectors_are_matched_to_the_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("glove.tiny.3d.txt");
        std::fs::write(
            &path,
            "the 0.1 0.2 0.3\ngood 1 2 3\nbad -1 -2 -3.5e-1\nfilm 0 0 1\n",
        )
        .unwrap();
        let v = vocab();
        let p = load_glove(&path, &v).unwrap();
        assert_eq!(p.dim, 3);
        assert_eq!(p.rows[v.id("good") as usize], Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(p.rows[v.id("bad") as usize], Some(vec![-1.0, -2.0, -0.35]));
        assert_eq!(p.rows[v.id("zzqx") as usize], None);
        assert_eq!(p.rows[Vocabulary::PAD as usize], None);
        // good, bad, film of good, bad, film, zzqx.
        assert_eq!(p.found(), 3);
        assert!((p.coverage() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn ragged_or_non_numeric_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.txt");
        std::fs::write(&path, "good 1 2 3\nbad 1 2\n").unwrap();
        let err = load_glove(&path, &vocab()).unwrap_err().to_string();
        assert!(
            err.contains("g.txt:2") && err.contains("expected a word and 3 numbers"),
            "{err}"
        );
        std::fs::write(&path, "good 1 2 3\nbad 1 x 3\n").unwrap();
        let err = load_glove(&path, &vocab()).unwrap_err().to_string();
        assert!(
            err.contains("g.txt:2") && err.contains("value 2 is \"x\""),
            "{err}"
        );
        std::fs::write(&path, "").unwrap();
        assert!(load_glove(&path, &vocab()).is_err());
    }
}
