//! The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian
//! (Heusel et al., 2017): `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`. With the
//! features of a digit classifier trained by kiln it is a "digit FID": lower means generated
//! images whose statistics are closer to the real ones.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of a set of feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
}

impl Gaussian {
    /// Of `rows` vectors of `dims` values each, stored row after row in `features`. The
    /// covariance is the unbiased one (divided by n - 1), as the reference implementation's.
    pub fn fit(features: &[f32], dims: usize) -> Option<Self> {
        if dims == 0 || !features.len().is_multiple_of(dims) || features.len() / dims < 2 {
            return None;
        }
        let rows = features.len() / dims;
        let x = DMatrix::from_row_iterator(rows, dims, features.iter().map(|&v| v as f64));
        let mean = DVector::from_iterator(dims, x.column_iter().map(|c| c.mean()));
        let mut centred = x;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let covariance = centred.transpose() * &centred / (rows as f64 - 1.0);
        Some(Self { mean, covariance })
    }

    pub fn dims(&self) -> usize {
        self.mean.len()
    }
}

/// The Fréchet distance between two Gaussians of the same dimension.
///
/// `tr((S_a S_b)^(1/2))` is the sum of the square roots of the eigenvalues of
/// `S_a^(1/2) S_b S_a^(1/2)`, which is symmetric and positive semi-definite: two symmetric
/// eigendecompositions, no general matrix square root. Eigenvalues that rounding made
/// slightly negative count as zero.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(a.dims(), b.dims(), "Gaussians of different dimensions");
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let root_a = psd_sqrt(&a.covariance);
    let inner = &root_a * &b.covariance * &root_a;
    let inner = (&inner + inner.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    (mean_term + a.covariance.trace() + b.covariance.trace() - 2.0 * cross).max(0.0)
}

/// The square root of a symmetric positive semi-definite matrix.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(m.clone());
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(mean: &[f64], covariance: &[f64]) -> Gaussian {
        let n = mean.len();
        Gaussian {
            mean: DVector::from_column_slice(mean),
            covariance: DMatrix::from_row_slice(n, n, covariance),
        }
    }

    #[test]
    fn identical_sets_are_at_distance_zero() {
        let features: Vec<f32> = (0..200).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        let g = Gaussian::fit(&features, 4).unwrap();
        assert!(frechet_distance(&g, &g).abs() < 1e-9);
    }

    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        // Diagonal covariances commute: the distance is
        // |mu_a - mu_b|^2 + sum (sqrt(s_a) - sqrt(s_b))^2.
        let a = gaussian(&[0.0, 1.0], &[4.0, 0.0, 0.0, 9.0]);
        let b = gaussian(&[3.0, 1.0], &[1.0, 0.0, 0.0, 16.0]);
        let expected = 9.0 + (2.0f64 - 1.0).powi(2) + (3.0f64 - 4.0).powi(2);
        assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9);
        assert!((frechet_distance(&b, &a) - expected).abs() < 1e-9);
    }

    #[test]
    fn a_rotated_covariance_is_not_a_diagonal_one() {
        // Same eigenvalues (1 and 9), axes swapped: tr(sqrt(S_a S_b)) = 2 * sqrt(9) = 6, so
        // the distance is 10 + 10 - 12 = 8.
        let a = gaussian(&[0.0, 0.0], &[1.0, 0.0, 0.0, 9.0]);
        let b = gaussian(&[0.0, 0.0], &[9.0, 0.0, 0.0, 1.0]);
        assert!((frechet_distance(&a, &b) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn fitting_uses_the_unbiased_covariance() {
        let g = Gaussian::fit(&[0.0, 2.0, 2.0, 0.0], 2).unwrap();
        assert_eq!(g.mean.as_slice(), &[1.0, 1.0]);
        assert_eq!(g.covariance.as_slice(), &[2.0, -2.0, -2.0, 2.0]);
        assert!(
            Gaussian::fit(&[1.0, 2.0], 2).is_none(),
            "one vector has no covariance"
        );
    }
}
