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

/// Fold `fold` of `folds` of a seeded permutation of `0..n` as (train, validation): the
/// `folds` validation sets partition `0..n` (sizes differ by at most one), so k runs see
/// every item validated exactly once.
pub fn k_fold_split(n: usize, folds: usize, fold: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let folds = folds.max(1);
    let (start, end) = (
        n * fold.min(folds) / folds,
        n * (fold + 1).min(folds) / folds,
    );
    let validation = indices[start..end].to_vec();
    indices.drain(start..end);
    (indices, validation)
}

/// `indices` cut into batches of `size`: shuffled with `seed` when given (an epoch's order),
/// in the given order otherwise (evaluation).
pub fn batch_order(indices: &[usize], size: usize, seed: Option<u64>) -> Vec<Vec<usize>> {
    let order = match seed {
        Some(seed) => shuffled(indices, seed),
        None => indices.to_vec(),
    };
    order.chunks(size).map(<[usize]>::to_vec).collect()
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
    fn folds_partition_the_items_and_each_fold_trains_on_the_rest() {
        let (n, k) = (103, 5);
        let mut seen = vec![0; n];
        for fold in 0..k {
            let (train, val) = k_fold_split(n, k, fold, 9);
            assert!(val.len() == 20 || val.len() == 21, "{}", val.len());
            assert_eq!(train.len() + val.len(), n);
            val.iter().for_each(|&i| seen[i] += 1);
            assert!(train.iter().all(|i| !val.contains(i)));
        }
        assert!(seen.iter().all(|&c| c == 1));
        assert_eq!(k_fold_split(n, k, 2, 9), k_fold_split(n, k, 2, 9));
        assert_ne!(k_fold_split(n, k, 2, 9).1, k_fold_split(n, k, 2, 10).1);
    }

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
