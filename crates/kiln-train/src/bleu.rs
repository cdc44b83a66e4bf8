//! Corpus BLEU-4 (Papineni et al., 2002), as translation papers report it: clipped n-gram
//! counts summed over the whole corpus before dividing, uniform weights over 1- to 4-grams,
//! one brevity penalty for the corpus, no smoothing (any order without a match gives 0).

use std::collections::HashMap;
use std::hash::Hash;

const MAX_ORDER: usize = 4;

/// BLEU-4 of `candidates` against one reference each, in [0, 1].
///
/// # Panics
/// If the two lists differ in length: a missing translation is a bug, not a score.
pub fn corpus_bleu<T: Eq + Hash>(candidates: &[Vec<T>], references: &[Vec<T>]) -> f64 {
    assert_eq!(
        candidates.len(),
        references.len(),
        "one reference per candidate"
    );
    let mut matched = [0usize; MAX_ORDER];
    let mut total = [0usize; MAX_ORDER];
    let (mut candidate_len, mut reference_len) = (0usize, 0usize);
    for (candidate, reference) in candidates.iter().zip(references) {
        candidate_len += candidate.len();
        reference_len += reference.len();
        for n in 1..=MAX_ORDER {
            let available = ngrams(reference, n);
            for (gram, count) in ngrams(candidate, n) {
                matched[n - 1] += count.min(available.get(&gram).copied().unwrap_or(0));
                total[n - 1] += count;
            }
        }
    }
    if candidate_len == 0 || matched.contains(&0) {
        return 0.0;
    }
    let log_precision: f64 = matched
        .iter()
        .zip(&total)
        .map(|(&m, &t)| (m as f64 / t as f64).ln())
        .sum::<f64>()
        / MAX_ORDER as f64;
    let brevity = if candidate_len >= reference_len {
        0.0
    } else {
        1.0 - reference_len as f64 / candidate_len as f64
    };
    (brevity + log_precision).exp()
}

fn ngrams<T: Eq + Hash>(tokens: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    const REFERENCE: &str = "the cat sat on the mat";

    #[test]
    fn a_perfect_translation_scores_one() {
        let s = corpus_bleu(&[words(REFERENCE)], &[words(REFERENCE)]);
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn precisions_by_hand() {
        // "the cat sat on the red mat": 1-grams 6/7, 2-grams 4/6 (the cat, cat sat, sat on,
        // on the), 3-grams 3/5, 4-grams 2/4; longer than the reference, so no penalty.
        let s = corpus_bleu(&[words("the cat sat on the red mat")], &[words(REFERENCE)]);
        let by_hand = (6.0 / 7.0 * 4.0 / 6.0 * 3.0 / 5.0 * 2.0 / 4.0f64).powf(0.25);
        assert!((s - by_hand).abs() < 1e-12, "{s} vs {by_hand}");
    }

    #[test]
    fn short_candidates_pay_the_brevity_penalty() {
        // Every n-gram of "the cat sat on" matches; 4 words against 6: exp(1 - 6/4).
        let s = corpus_bleu(&[words("the cat sat on")], &[words(REFERENCE)]);
        assert!((s - (-0.5f64).exp()).abs() < 1e-12, "{s}");
    }

    #[test]
    fn counts_are_clipped_and_summed_over_the_corpus() {
        // "the" seven times matches "the" at most twice: 2/7, and no 2-gram matches, so 0.
        let s = corpus_bleu(&[words("the the the the the the the")], &[words(REFERENCE)]);
        assert_eq!(s, 0.0);
        // Both sentences above as one corpus: (6+4)/(7+4), (4+3)/(6+3), (3+2)/(5+2),
        // (2+1)/(4+1); 11 candidate words against 12 reference words.
        let s = corpus_bleu(
            &[words("the cat sat on the red mat"), words("the cat sat on")],
            &[words(REFERENCE), words(REFERENCE)],
        );
        let by_hand = (1.0 - 12.0 / 11.0f64).exp()
            * (10.0 / 11.0 * 7.0 / 9.0 * 5.0 / 7.0 * 3.0 / 5.0f64).powf(0.25);
        assert!((s - by_hand).abs() < 1e-12, "{s} vs {by_hand}");
    }
}
