//! The tree-structured Parzen estimator (Bergstra et al. 2011) in the form Optuna's
//! `TPESampler(multivariate=True)` uses: the trials split into the best `γ(n)` and the rest,
//! a Parzen estimator over each group (one kernel per trial plus a prior, truncated normals
//! for numbers, smoothed frequencies for choices), 24 candidates drawn from the good group's
//! estimator and the one with the highest ratio of good to bad density kept.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// One coordinate of the space as the estimator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dim {
    /// A number in `[low, high]` (a log-uniform key in log space, a whole number widened by
    /// half a step either side).
    Numeric { low: f64, high: f64 },
    /// One of `n` choices, as an index.
    Choice(usize),
}

/// How many of `n` trials make the good group: Optuna's default `min(⌈n / 10⌉, 25)`.
pub fn good_count(n: usize) -> usize {
    n.div_ceil(10).clamp(1, 25)
}

const CANDIDATES: usize = 24;
const PRIOR_WEIGHT: f64 = 1.0;

/// A mixture of one kernel per observation and the prior, over the dimensions `dims`.
struct Parzen<'a> {
    dims: &'a [Dim],
    /// Per kernel: per dimension, the centre (a number, or the observed choice's index).
    centres: Vec<Vec<f64>>,
    /// Per dimension: the numeric kernels' bandwidth.
    sigmas: Vec<f64>,
    /// The kernels' log weights, the prior's last.
    log_weights: Vec<f64>,
}

impl<'a> Parzen<'a> {
    fn new(dims: &'a [Dim], observations: &[Vec<f64>]) -> Self {
        let n = observations.len();
        let kernels = n + 1;
        let sigmas = dims
            .iter()
            .map(|d| match d {
                Dim::Numeric { low, high } => {
                    let range = high - low;
                    let sigma =
                        0.2 * (n.max(1) as f64).powf(-1.0 / (dims.len() as f64 + 4.0)) * range;
                    sigma.clamp(range / (100.0_f64).min(1.0 + kernels as f64), range)
                }
                Dim::Choice(_) => 0.0,
            })
            .collect();
        let total = n as f64 + PRIOR_WEIGHT;
        let mut log_weights = vec![(1.0 / total).ln(); n];
        log_weights.push((PRIOR_WEIGHT / total).ln());
        Self {
            dims,
            centres: observations.to_vec(),
            sigmas,
            log_weights,
        }
    }

    fn is_prior(&self, k: usize) -> bool {
        k == self.centres.len()
    }

    /// The log density of kernel `k`'s dimension `d` at `x`.
    fn log_kernel(&self, k: usize, d: usize, x: f64) -> f64 {
        match self.dims[d] {
            Dim::Numeric { low, high } => {
                let (mu, sigma) = if self.is_prior(k) {
                    (0.5 * (low + high), high - low)
                } else {
                    (self.centres[k][d], self.sigmas[d])
                };
                let z = normal_cdf((high - mu) / sigma) - normal_cdf((low - mu) / sigma);
                let u = (x - mu) / sigma;
                -0.5 * u * u
                    - (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln()
                    - z.max(1e-300).ln()
            }
            Dim::Choice(n) => {
                let smoothing = PRIOR_WEIGHT / n as f64;
                if self.is_prior(k) {
                    return -(n as f64).ln();
                }
                let hit = (self.centres[k][d] as usize == x as usize) as u8 as f64;
                ((hit + smoothing) / (1.0 + PRIOR_WEIGHT)).ln()
            }
        }
    }

    fn log_density(&self, x: &[f64]) -> f64 {
        let terms: Vec<f64> = self
            .log_weights
            .iter()
            .enumerate()
            .map(|(k, w)| {
                w + (0..self.dims.len())
                    .map(|d| self.log_kernel(k, d, x[d]))
                    .sum::<f64>()
            })
            .collect();
        let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut k = self.log_weights.len() - 1;
        for (i, w) in self.log_weights.iter().enumerate() {
            acc += w.exp();
            if u < acc {
                k = i;
                break;
            }
        }
        (0..self.dims.len())
            .map(|d| match self.dims[d] {
                Dim::Numeric { low, high } => {
                    let (mu, sigma) = if self.is_prior(k) {
                        (0.5 * (low + high), high - low)
                    } else {
                        (self.centres[k][d], self.sigmas[d])
                    };
                    truncated_normal(rng, mu, sigma, low, high)
                }
                Dim::Choice(n) => {
                    let smoothing = PRIOR_WEIGHT / n as f64;
                    let weights: Vec<f64> = (0..n)
                        .map(|c| {
                            if self.is_prior(k) {
                                1.0
                            } else {
                                (self.centres[k][d] as usize == c) as u8 as f64 + smoothing
                            }
                        })
                        .collect();
                    let total: f64 = weights.iter().sum();
                    let mut u = rng.random::<f64>() * total;
                    let mut chosen = n - 1;
                    for (c, w) in weights.iter().enumerate() {
                        if u < *w {
                            chosen = c;
                            break;
                        }
                        u -= w;
                    }
                    chosen as f64
                }
            })
            .collect()
    }
}

/// The next point: drawn from the good trials' estimator, the candidate with the highest
/// ratio of good to bad density.
pub fn suggest(
    dims: &[Dim],
    good: &[Vec<f64>],
    bad: &[Vec<f64>],
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let l = Parzen::new(dims, good);
    let g = Parzen::new(dims, bad);
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..CANDIDATES {
        let x = l.sample(rng);
        let score = l.log_density(&x) - g.log_density(&x);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, x));
        }
    }
    best.map(|(_, x)| x).expect("at least one candidate")
}

/// A uniform point of the space.
pub fn uniform(dims: &[Dim], rng: &mut ChaCha8Rng) -> Vec<f64> {
    dims.iter()
        .map(|d| match *d {
            Dim::Numeric { low, high } => low + (high - low) * rng.random::<f64>(),
            Dim::Choice(n) => rng.random_range(0..n) as f64,
        })
        .collect()
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// By rejection, falling back to uniform when the window is far in a tail.
fn truncated_normal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64, low: f64, high: f64) -> f64 {
    for _ in 0..100 {
        // Box–Muller.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let x = mu + sigma * z;
        if (low..=high).contains(&x) {
            return x;
        }
    }
    low + (high - low) * rng.random::<f64>()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_good_groups_size_follows_optuna() {
        assert_eq!(good_count(1), 1);
        assert_eq!(good_count(10), 1);
        assert_eq!(good_count(11), 2);
        assert_eq!(good_count(1000), 25);
    }

    #[test]
    fn suggestions_stay_in_range_and_move_toward_the_good_trials() {
        let dims = [
            Dim::Numeric {
                low: 0.0,
                high: 10.0,
            },
            Dim::Choice(3),
        ];
        let good = vec![vec![2.0, 1.0], vec![2.5, 1.0]];
        let bad: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![5.0 + i as f64 * 0.25, (i % 3) as f64])
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let points: Vec<Vec<f64>> = (0..50)
            .map(|_| suggest(&dims, &good, &bad, &mut rng))
            .collect();
        for p in &points {
            assert!(
                (0.0..=10.0).contains(&p[0]) && [0.0, 1.0, 2.0].contains(&p[1]),
                "{p:?}"
            );
        }
        let near = points.iter().filter(|p| p[0] < 4.0).count();
        let chosen = points.iter().filter(|p| p[1] == 1.0).count();
        assert!(near > 35, "{near} of 50 near the good trials");
        assert!(chosen > 30, "{chosen} of 50 take the good trials' choice");
        let again: Vec<Vec<f64>> = {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            (0..50)
                .map(|_| suggest(&dims, &good, &bad, &mut rng))
                .collect()
        };
        assert_eq!(points, again, "a seed fixes the suggestions");
    }

    #[test]
    fn densities_integrate_to_one() {
        let dims = [Dim::Numeric {
            low: -1.0,
            high: 3.0,
        }];
        let p = Parzen::new(&dims, &[vec![0.0], vec![2.9]]);
        let steps = 4000;
        let h = 4.0 / steps as f64;
        let total: f64 = (0..steps)
            .map(|i| p.log_density(&[-1.0 + (i as f64 + 0.5) * h]).exp() * h)
            .sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }
}
