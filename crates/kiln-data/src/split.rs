use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

/// Splits `0..n` into shuffled (train, validation) indices; the same seed gives the same split
/// on every machine and backend.
pub fn train_validation_split(
    n: usize,
    validation_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_val = ((n as f64) * validation_fraction).round() as usize;
    let train = indices.split_off(n_val.min(n));
    (train, indices)
}

/// A seeded permutation of `indices`, e.g. one epoch's order.
pub fn shuffled(indices: &[usize], seed: u64) -> Vec<usize> {
    let mut out = indices.to_vec();
    out.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_seeded_partition() {
        let (t, v) = train_validation_split(100, 0.1, 7);
        assert_eq!((t.len(), v.len()), (90, 10));
        let mut all: Vec<_> = t.iter().chain(&v).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(train_validation_split(100, 0.1, 7), (t.clone(), v));
        assert_ne!(train_validation_split(100, 0.1, 8).0, t);
    }

    #[test]
    fn zero_fraction_keeps_everything_for_training() {
        let (t, v) = train_validation_split(5, 0.0, 1);
        assert_eq!((t.len(), v.len()), (5, 0));
    }
}
