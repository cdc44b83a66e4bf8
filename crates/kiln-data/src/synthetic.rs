//! Sequence tasks made in code from a seed, for encoder-decoders: addition (as Keras'
//! `addition_rnn` example), reversal and sorting. Each gives source/target [`Pair`]s of
//! characters; tokenising and padding are the batcher's business.

use std::collections::HashSet;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::DataError;
use crate::pairs::Pair;

/// A synthetic task and its size parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// `a+b` → the sum, each operand of 1 to `digits` digits; `reverse` writes the question
    /// backwards, which the Keras example found to train faster (short paths between the
    /// digits that must be added).
    Addition { digits: usize, reverse: bool },
    /// A random string → the same backwards.
    Reversal(Strings),
    /// A random string → its symbols in sorted order.
    Sorting(Strings),
}

/// Random strings of `min_len..=max_len` symbols from the first `alphabet` letters (a, b, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strings {
    pub min_len: usize,
    pub max_len: usize,
    pub alphabet: usize,
}

impl Task {
    /// `count` distinct problems drawn with `seed`. Distinct means no two sources are equal
    /// (for addition, no two share their operands in either order, as in the Keras
    /// example), so that a held-out split is really unseen.
    pub fn generate(self, count: usize, seed: u64) -> Result<Vec<Pair>, DataError> {
        self.check(count)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seen = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let (key, pair) = self.draw(&mut rng);
            if seen.insert(key) {
                out.push(pair);
            }
        }
        Ok(out)
    }

    /// How many distinct problems exist, where that is small enough to matter.
    fn capacity(self) -> Option<u128> {
        match self {
            Task::Addition { digits, .. } => {
                let n = 10u128.checked_pow(digits as u32)?;
                Some(n * (n + 1) / 2)
            }
            Task::Reversal(strings) | Task::Sorting(strings) => (strings.min_len..=strings.max_len)
                .map(|l| (strings.alphabet as u128).checked_pow(l as u32))
                .sum::<Option<u128>>(),
        }
    }

    fn check(self, count: usize) -> Result<(), DataError> {
        let invalid = |message: String| DataError::Invalid {
            what: format!("{self:?}"),
            message,
        };
        match self {
            Task::Addition { digits, .. } if !(1..=18).contains(&digits) => {
                return Err(invalid("digits must be 1 to 18".into()));
            }
            Task::Reversal(strings) | Task::Sorting(strings)
                if strings.min_len == 0
                    || strings.min_len > strings.max_len
                    || !(2..=26).contains(&strings.alphabet) =>
            {
                return Err(invalid(
                    "expected 1 <= min_len <= max_len and an alphabet of 2 to 26 letters".into(),
                ));
            }
            _ => {}
        }
        if let Some(capacity) = self.capacity()
            && count as u128 > capacity
        {
            return Err(invalid(format!(
                "{count} distinct problems asked for, but only {capacity} exist"
            )));
        }
        Ok(())
    }

    /// One problem and the key that makes it distinct.
    fn draw(self, rng: &mut ChaCha8Rng) -> (String, Pair) {
        match self {
            Task::Addition { digits, reverse } => {
                let mut operand = || {
                    let len = rng.random_range(1..=digits);
                    (0..len).fold(0u64, |n, _| n * 10 + rng.random_range(0..10u64))
                };
                let (a, b) = (operand(), operand());
                let question = format!("{a}+{b}");
                let source = if reverse {
                    question.chars().rev().collect()
                } else {
                    question
                };
                (
                    format!("{}+{}", a.min(b), a.max(b)),
                    Pair::new(source, (a + b).to_string()),
                )
            }
            Task::Reversal(strings) | Task::Sorting(strings) => {
                let len = rng.random_range(strings.min_len..=strings.max_len);
                let source: String = (0..len)
                    .map(|_| (b'a' + rng.random_range(0..strings.alphabet as u8)) as char)
                    .collect();
                let target: String = if matches!(self, Task::Reversal(_)) {
                    source.chars().rev().collect()
                } else {
                    let mut chars: Vec<char> = source.chars().collect();
                    chars.sort_unstable();
                    chars.into_iter().collect()
                };
                (source.clone(), Pair::new(source, target))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addition_problems_are_right_distinct_and_fixed_by_the_seed() {
        let task = Task::Addition {
            digits: 3,
            reverse: false,
        };
        let problems = task.generate(2000, 7).unwrap();
        let mut keys = HashSet::new();
        for p in &problems {
            let (a, b) = p.source.split_once('+').unwrap();
            let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(a < 1000 && b < 1000, "{p:?}");
            assert_eq!(p.target, (a + b).to_string());
            assert!(keys.insert((a.min(b), a.max(b))), "{p:?} twice");
        }
        assert_eq!(problems, task.generate(2000, 7).unwrap());
        assert_ne!(problems, task.generate(2000, 8).unwrap());
    }

    #[test]
    fn reversed_addition_writes_the_question_backwards() {
        let forward = Task::Addition {
            digits: 2,
            reverse: false,
        }
        .generate(50, 3)
        .unwrap();
        let backward = Task::Addition {
            digits: 2,
            reverse: true,
        }
        .generate(50, 3)
        .unwrap();
        for (f, b) in forward.iter().zip(&backward) {
            assert_eq!(b.source, f.source.chars().rev().collect::<String>());
            assert_eq!(b.target, f.target);
        }
    }

    #[test]
    fn reversal_and_sorting_targets() {
        let shape = (3, 6, 5);
        let strings = Strings {
            min_len: shape.0,
            max_len: shape.1,
            alphabet: shape.2,
        };
        let reversal = Task::Reversal(strings);
        for p in reversal.generate(100, 1).unwrap() {
            assert!((3..=6).contains(&p.source.len()), "{p:?}");
            assert!(
                p.source.bytes().all(|b| (b'a'..=b'e').contains(&b)),
                "{p:?}"
            );
            assert_eq!(p.target, p.source.chars().rev().collect::<String>());
        }
        let sorting = Task::Sorting(strings);
        for p in sorting.generate(100, 1).unwrap() {
            let mut sorted: Vec<u8> = p.source.bytes().collect();
            sorted.sort();
            assert_eq!(p.target.as_bytes(), sorted.as_slice());
        }
    }

    #[test]
    fn impossible_requests_are_refused() {
        // 1-digit operands: 55 distinct unordered pairs.
        let e = Task::Addition {
            digits: 1,
            reverse: false,
        }
        .generate(56, 1)
        .unwrap_err()
        .to_string();
        assert!(e.contains("only 55 exist"), "{e}");
        assert_eq!(
            Task::Addition {
                digits: 1,
                reverse: false
            }
            .generate(55, 1)
            .unwrap()
            .len(),
            55
        );
        let e = Task::Sorting(Strings {
            min_len: 4,
            max_len: 2,
            alphabet: 5,
        })
        .generate(1, 1)
        .unwrap_err()
        .to_string();
        assert!(e.contains("min_len"), "{e}");
        // Strings of 1 or 2 symbols from {a, b}: 2 + 4 of them.
        let tiny = Strings {
            min_len: 1,
            max_len: 2,
            alphabet: 2,
        };
        let e = Task::Sorting(tiny).generate(7, 1).unwrap_err().to_string();
        assert!(e.contains("only 6 exist"), "{e}");
        assert_eq!(Task::Reversal(tiny).generate(6, 1).unwrap().len(), 6);
    }
}
