//! Choosing the next token from a model's scores, on the host: sampling with a temperature and
//! top-k (the char-LM), greedy and beam-search decoding (seq2seq). The model is behind a step
//! function, so these know nothing of burn and test on plain numbers.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Below this temperature sampling is taken to mean argmax: dividing by it would overflow.
const ARGMAX_BELOW: f32 = 1e-4;

/// How a token is drawn from logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Softmax temperature: under 1 sharpens the distribution, over 1 flattens it.
    pub temperature: f32,
    /// Draw only among the `k` highest logits.
    pub top_k: Option<usize>,
}

/// A seeded source of draws, so that a seed repeats a generated text exactly.
pub struct Sampler {
    rng: ChaCha8Rng,
}

impl Sampler {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The index of the token drawn from `logits`.
    ///
    /// # Panics
    /// On empty logits.
    pub fn sample(&mut self, logits: &[f32], how: Sampling) -> usize {
        assert!(!logits.is_empty(), "no logits to sample from");
        if how.temperature < ARGMAX_BELOW || how.top_k == Some(1) {
            return argmax(logits);
        }
        let mut candidates: Vec<usize> = (0..logits.len()).collect();
        if let Some(k) = how.top_k.filter(|&k| k < logits.len()) {
            candidates.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
            candidates.truncate(k.max(1));
        }
        let max = candidates
            .iter()
            .map(|&i| logits[i])
            .fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = candidates
            .iter()
            .map(|&i| (((logits[i] - max) / how.temperature) as f64).exp())
            .collect();
        let mut target = self.rng.random::<f64>() * weights.iter().sum::<f64>();
        for (&i, w) in candidates.iter().zip(&weights) {
            if target < *w {
                return i;
            }
            target -= w;
        }
        *candidates.last().expect("at least one candidate")
    }
}

/// The index of the largest value (the first, on ties).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// One decoded sequence: its tokens after the start token (the end token included when it
/// was produced) and its total log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<usize>,
    pub log_prob: f64,
}

/// Where decoding starts and stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub start: usize,
    pub end: usize,
    pub max_len: usize,
}

/// The decoder behind decoding: from each live sequence's state and last token, its next
/// state and the log-probabilities of every next token.
pub trait Step<S> {
    fn step(&mut self, states: &[S], last: &[usize]) -> Vec<(S, Vec<f32>)>;
}

impl<S, F: FnMut(&[S], &[usize]) -> Vec<(S, Vec<f32>)>> Step<S> for F {
    fn step(&mut self, states: &[S], last: &[usize]) -> Vec<(S, Vec<f32>)> {
        self(states, last)
    }
}

/// The most likely token at every step until the end token or `max_len` tokens.
pub fn greedy<S>(initial: S, bounds: Bounds, decoder: &mut impl Step<S>) -> Hypothesis {
    let mut state = initial;
    let mut last = bounds.start;
    let mut out = Hypothesis {
        tokens: Vec::new(),
        log_prob: 0.0,
    };
    while out.tokens.len() < bounds.max_len {
        let (next, log_probs) = decoder
            .step(std::slice::from_ref(&state), &[last])
            .pop()
            .expect("one result per state");
        last = argmax(&log_probs);
        out.log_prob += log_probs[last] as f64;
        out.tokens.push(last);
        state = next;
        if last == bounds.end {
            break;
        }
    }
    out
}

/// Beam search of `width`: the `width` best finished sequences, best first, scored by
/// log-probability divided by length^`length_penalty` (0: raw log-probability, which favours
/// short outputs; about 0.6 to 1 is usual for translation).
pub fn beam_search<S: Clone>(
    initial: S,
    bounds: Bounds,
    width: usize,
    length_penalty: f64,
    decoder: &mut impl Step<S>,
) -> Vec<Hypothesis> {
    let width = width.max(1);
    let score = |h: &Hypothesis| h.log_prob / (h.tokens.len().max(1) as f64).powf(length_penalty);
    let mut live = vec![(
        initial,
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
        },
    )];
    let mut finished: Vec<Hypothesis> = Vec::new();
    for _ in 0..bounds.max_len {
        let states: Vec<S> = live.iter().map(|(s, _)| s.clone()).collect();
        let last: Vec<usize> = live
            .iter()
            .map(|(_, h)| h.tokens.last().copied().unwrap_or(bounds.start))
            .collect();
        let stepped = decoder.step(&states, &last);
        let mut candidates: Vec<(usize, usize, f64)> = Vec::new();
        for (beam, (_, log_probs)) in stepped.iter().enumerate() {
            let base = live[beam].1.log_prob;
            for (token, &lp) in log_probs.iter().enumerate() {
                candidates.push((beam, token, base + lp as f64));
            }
        }
        // Ties go to the lower beam, then the lower token, as greedy's argmax does.
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        let mut next = Vec::with_capacity(width);
        for (beam, token, log_prob) in candidates.into_iter().take(width) {
            let mut tokens = live[beam].1.tokens.clone();
            tokens.push(token);
            let h = Hypothesis { tokens, log_prob };
            if token == bounds.end {
                finished.push(h);
            } else {
                next.push((stepped[beam].0.clone(), h));
            }
        }
        live = next;
        if live.is_empty() || finished.len() >= width {
            break;
        }
    }
    // Sequences cut at max_len compete with the finished ones.
    finished.extend(live.into_iter().map(|(_, h)| h));
    finished.sort_by(|a, b| score(b).total_cmp(&score(a)));
    finished.truncate(width);
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temperature_near_zero_is_argmax() {
        let logits = [0.1, 2.0, 1.99, -3.0];
        let mut s = Sampler::new(1);
        for t in [0.0, 1e-6, 1e-5] {
            for _ in 0..100 {
                let how = Sampling {
                    temperature: t,
                    top_k: None,
                };
                assert_eq!(s.sample(&logits, how), 1);
            }
        }
    }

    #[test]
    fn top_k_never_draws_outside_the_k_best() {
        let logits = [0.5, 3.0, 0.1, 2.9, 2.8, -1.0];
        let mut s = Sampler::new(2);
        let how = Sampling {
            temperature: 5.0, // flat: every token would be drawn without the cut
            top_k: Some(3),
        };
        let mut seen = [0usize; 6];
        for _ in 0..3000 {
            seen[s.sample(&logits, how)] += 1;
        }
        assert_eq!((seen[0], seen[2], seen[5]), (0, 0, 0), "{seen:?}");
        assert!(seen[1] > 0 && seen[3] > 0 && seen[4] > 0, "{seen:?}");
    }

    #[test]
    fn draws_follow_the_softmax_and_repeat_with_the_seed() {
        // Probabilities 1/7, 2/7, 4/7 at temperature 1.
        let logits = [0.0, 2f32.ln(), 4f32.ln()];
        let how = Sampling {
            temperature: 1.0,
            top_k: None,
        };
        let draws = |seed| {
            let mut s = Sampler::new(seed);
            (0..7000)
                .map(|_| s.sample(&logits, how))
                .collect::<Vec<_>>()
        };
        let a = draws(3);
        assert_eq!(a, draws(3));
        assert_ne!(a, draws(4));
        for (token, expected) in [(0, 1000.0), (1, 2000.0), (2, 4000.0)] {
            let n = a.iter().filter(|&&t| t == token).count() as f64;
            assert!((n - expected).abs() < 0.1 * expected, "{token}: {n}");
        }
    }

    /// A toy decoder over 4 tokens (0 start, 3 end) whose scores depend on the state, a
    /// counter, and on the last token, so beams really differ.
    fn toy(states: &[u32], last: &[usize]) -> Vec<(u32, Vec<f32>)> {
        states
            .iter()
            .zip(last)
            .map(|(&s, &l)| {
                let raw = [
                    0.0,
                    1.0 + (s % 3) as f32,
                    2.0 - l as f32 * 0.7,
                    s as f32 * 0.9 - 1.5,
                ];
                let log_z = raw.iter().map(|x| x.exp()).sum::<f32>().ln();
                (s + 1, raw.iter().map(|x| x - log_z).collect())
            })
            .collect()
    }

    const BOUNDS: Bounds = Bounds {
        start: 0,
        end: 3,
        max_len: 12,
    };

    #[test]
    fn beam_search_of_width_one_is_greedy() {
        let g = greedy(0u32, BOUNDS, &mut toy);
        let b = beam_search(0u32, BOUNDS, 1, 0.0, &mut toy);
        assert_eq!(b, vec![g.clone()]);
        assert_eq!(g.tokens.last(), Some(&3), "{g:?}");
    }

    #[test]
    fn a_wider_beam_finds_what_greedy_misses() {
        // Greedy takes token 2 after [2, 1, 1] and ends later, less likely in all
        // (-2.95); a beam of 4 keeps [2, 1, 1] -> 3 (-2.24).
        let g = greedy(0u32, BOUNDS, &mut toy);
        let b = beam_search(0u32, BOUNDS, 4, 0.0, &mut toy);
        assert_eq!(g.tokens, [2, 1, 1, 2, 3]);
        assert_eq!(b[0].tokens, [2, 1, 1, 3]);
        assert!(b[0].log_prob > g.log_prob, "{b:?} vs {g:?}");
        assert!(b.len() <= 4);
        assert!(
            b.windows(2).all(|w| w[0].log_prob >= w[1].log_prob),
            "{b:?}"
        );
    }

    #[test]
    fn decoding_stops_at_max_len() {
        // End is never likely: the sequence is cut at max_len.
        let mut never_end = |states: &[u32], _: &[usize]| -> Vec<(u32, Vec<f32>)> {
            states
                .iter()
                .map(|&s| (s, vec![-5.0, -0.1, -3.0, -9.0]))
                .collect()
        };
        let bounds = Bounds {
            max_len: 5,
            ..BOUNDS
        };
        assert_eq!(greedy(0u32, bounds, &mut never_end).tokens, [1; 5]);
        let b = beam_search(0u32, bounds, 3, 0.0, &mut never_end);
        assert_eq!(b[0].tokens, [1; 5]);
    }
}
