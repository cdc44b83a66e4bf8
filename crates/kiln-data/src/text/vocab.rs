//! A vocabulary: token <-> id, learnt from the training split only, with fixed special tokens
//! at the front and a plain-text file format that can be read back.

use std::collections::HashMap;
use std::path::Path;

use crate::DataError;
use crate::text::Tokenizer;

/// Special tokens, always ids 0..4 in this order: `<pad>` is 0 so that zero padding is padding.
pub const SPECIALS: [&str; 4] = ["<pad>", "<unk>", "<bos>", "<eos>"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocabulary {
    pub const PAD: u32 = 0;
    pub const UNK: u32 = 1;
    pub const BOS: u32 = 2;
    pub const EOS: u32 = 3;

    /// Counts the tokens of `texts`, split over the available threads.
    pub fn count<S: AsRef<str> + Sync>(
        tokenizer: &dyn Tokenizer,
        texts: &[S],
    ) -> HashMap<String, u64> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = texts.len().div_ceil(threads).max(1);
        let partial: Vec<HashMap<String, u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut counts: HashMap<String, u64> = HashMap::new();
                        for text in part {
                            tokenizer.tokenize(text.as_ref(), &mut |t| {
                                if let Some(c) = counts.get_mut(t) {
                                    *c += 1;
                                } else {
                                    counts.insert(t.to_string(), 1);
                                }
                            });
                        }
                        counts
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut total = HashMap::new();
        for counts in partial {
            for (token, c) in counts {
                *total.entry(token).or_insert(0) += c;
            }
        }
        total
    }

    /// The specials, then the tokens seen at least `min_freq` times, most frequent first (ties
    /// by token, so the result does not depend on hash order), up to `max_size` entries in all
    /// (specials included).
    pub fn build(counts: &HashMap<String, u64>, max_size: Option<usize>, min_freq: u64) -> Self {
        let mut ranked: Vec<(&String, u64)> = counts
            .iter()
            .filter(|(t, c)| **c >= min_freq.max(1) && !SPECIALS.contains(&t.as_str()))
            .map(|(t, c)| (t, *c))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let room = max_size.map_or(usize::MAX, |m| m.saturating_sub(SPECIALS.len()));
        let tokens = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(ranked.into_iter().take(room).map(|(t, _)| t.clone()))
            .collect();
        Self::from_tokens(tokens)
    }

    fn from_tokens(tokens: Vec<String>) -> Self {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self { tokens, ids }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn id(&self, token: &str) -> u32 {
        self.ids.get(token).copied().unwrap_or(Self::UNK)
    }

    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .map_or(SPECIALS[1], String::as_str)
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Appends the ids of `text`'s tokens to `out`; unknown tokens become `<unk>`.
    pub fn encode_into(&self, tokenizer: &dyn Tokenizer, text: &str, out: &mut Vec<u32>) {
        tokenizer.tokenize(text, &mut |t| out.push(self.id(t)));
    }

    pub fn encode(&self, tokenizer: &dyn Tokenizer, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(tokenizer, text, &mut out);
        out
    }

    /// Encodes many texts over the available threads, keeping their order.
    pub fn encode_all<S: AsRef<str> + Sync>(
        &self,
        tokenizer: &dyn Tokenizer,
        texts: &[S],
    ) -> Vec<Vec<u32>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = texts.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|t| self.encode(tokenizer, t.as_ref()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    }

    /// Text for `ids`, leaving out padding.
    pub fn decode(&self, tokenizer: &dyn Tokenizer, ids: &[u32]) -> String {
        let tokens: Vec<&str> = ids
            .iter()
            .filter(|&&i| i != Self::PAD)
            .map(|&i| self.token(i))
            .collect();
        tokenizer.join(&tokens)
    }

    /// One token per line in id order; `\` `\n` `\r` `\t` escaped so that any token (a newline
    /// is one for char models) survives.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        let mut out = String::new();
        for t in &self.tokens {
            for c in t.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('\n');
        }
        crate::download::write_atomically(path, out.as_bytes())
    }

    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let mut tokens = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let bad = |message: String| DataError::Invalid {
                what: format!("{}:{}", path.display(), n + 1),
                message,
            };
            let mut token = String::with_capacity(line.len());
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    token.push(c);
                    continue;
                }
                token.push(match chars.next() {
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    other => {
                        return Err(bad(format!(
                            "expected one of \\\\ \\n \\r \\t, found \\{}",
                            other.map_or(String::new(), String::from)
                        )));
                    }
                });
            }
            if let Some(expected) = SPECIALS.get(n)
                && token != *expected
            {
                return Err(bad(format!(
                    "expected the special token {expected}, found {token:?}"
                )));
            }
            tokens.push(token);
        }
        let vocab = Self::from_tokens(tokens);
        if vocab.ids.len() != vocab.tokens.len() {
            return Err(DataError::Invalid {
                what: path.display().to_string(),
                message: "a token is listed twice".into(),
            });
        }
        if vocab.len() < SPECIALS.len() {
            return Err(DataError::Invalid {
                what: path.display().to_string(),
                message: format!("expected at least the {} special tokens", SPECIALS.len()),
            });
        }
        Ok(vocab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{CharTokenizer, WordTokenizer};

    fn corpus() -> Vec<&'static str> {
        vec!["the cat sat", "the dog sat", "the cat ran", "a bird"]
    }

    #[test]
    fn frequency_order_with_specials_first_and_limits() {
        let counts = Vocabulary::count(&WordTokenizer, &corpus());
        assert_eq!(counts["the"], 3);
        let v = Vocabulary::build(&counts, None, 1);
        assert_eq!(
            &v.tokens()[..7],
            ["<pad>", "<unk>", "<bos>", "<eos>", "the", "cat", "sat"]
        );
        // Ties (a, bird, dog, ran: once each) are alphabetical.
        assert_eq!(&v.tokens()[7..], ["a", "bird", "dog", "ran"]);
        let small = Vocabulary::build(&counts, Some(6), 1);
        assert_eq!(small.len(), 6);
        assert_eq!(small.id("sat"), Vocabulary::UNK);
        let frequent = Vocabulary::build(&counts, None, 2);
        assert_eq!(&frequent.tokens()[4..], ["the", "cat", "sat"]);
    }

    #[test]
    fn encode_decode_round_trip_and_unknowns() {
        let v = Vocabulary::build(&Vocabulary::count(&WordTokenizer, &corpus()), None, 1);
        let ids = v.encode(&WordTokenizer, "The cat sat");
        assert_eq!(ids, [4, 5, 6]);
        assert_eq!(v.decode(&WordTokenizer, &ids), "the cat sat");
        assert_eq!(v.encode(&WordTokenizer, "the zebra"), [4, Vocabulary::UNK]);
        assert_eq!(v.decode(&WordTokenizer, &[4, 0, 0]), "the");
        let texts = corpus();
        let all = v.encode_all(&WordTokenizer, &texts);
        let one_by_one: Vec<_> = texts.iter().map(|t| v.encode(&WordTokenizer, t)).collect();
        assert_eq!(all, one_by_one);
    }

    #[test]
    fn char_vocabulary_survives_a_file_round_trip() {
        let t = CharTokenizer {
            lowercase: false,
            strip_html: false,
        };
        let text = "a\\b\nc\td\r é";
        let v = Vocabulary::build(&Vocabulary::count(&t, &[text]), None, 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        v.save(&path).unwrap();
        let back = Vocabulary::load(&path).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.decode(&t, &back.encode(&t, text)), text);
    }

    #[test]
    fn a_damaged_vocabulary_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, "<pad>\n<unk>\n<bos>\n<eos>\nfine\nbad\\x\n").unwrap();
        let err = Vocabulary::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("vocab.txt:6") && err.contains("found \\x"),
            "{err}"
        );
        std::fs::write(&path, "<unk>\n").unwrap();
        let err = Vocabulary::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("vocab.txt:1") && err.contains("<pad>"),
            "{err}"
        );
    }
}
