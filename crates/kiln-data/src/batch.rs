//! Turning digits into burn tensors, one batch at a time.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::Digits;
use crate::split::shuffled;

/// How pixel bytes become inputs: always scaled to `[0, 1]`, then optionally standardised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalization {
    /// `x / 255`.
    Scale,
    /// `(x / 255 - mean) / std`, e.g. MNIST's 0.1307 and 0.3081.
    Standardize { mean: f32, std: f32 },
}

impl Normalization {
    /// Standardisation with the mean and standard deviation of the pixels of `digits` at
    /// `indices`: pass the training split only, so nothing is learnt from validation or test.
    pub fn standardize_from(digits: &Digits, indices: &[usize]) -> Self {
        let mut histogram = [0u64; 256];
        for &i in indices {
            digits
                .image(i)
                .iter()
                .for_each(|&p| histogram[p as usize] += 1);
        }
        let n = histogram.iter().sum::<u64>().max(1) as f64;
        let moment = |f: &dyn Fn(f64) -> f64| {
            histogram
                .iter()
                .enumerate()
                .map(|(v, &c)| f(v as f64 / 255.0) * c as f64)
                .sum::<f64>()
                / n
        };
        let mean = moment(&|x| x);
        let std = moment(&|x| (x - mean).powi(2)).sqrt();
        Normalization::Standardize {
            mean: mean as f32,
            std: std.max(1e-6) as f32,
        }
    }

    /// Maps every byte value once, so that batching is a table look-up.
    fn table(self) -> [f32; 256] {
        let mut t = [0f32; 256];
        for (v, out) in t.iter_mut().enumerate() {
            let x = v as f32 / 255.0;
            *out = match self {
                Normalization::Scale => x,
                Normalization::Standardize { mean, std } => (x - mean) / std,
            };
        }
        t
    }
}

/// One batch: images `[n, 1, rows, cols]` and integer class targets `[n]`, with the targets
/// also kept on the host, so metrics need not read them back from the device.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    pub images: Tensor<4>,
    pub targets: Tensor<1, Int>,
    pub labels: Vec<i64>,
    pub len: usize,
}

/// Serves batches of a subset of `digits` in a seeded order.
pub struct ImageBatcher<'a> {
    digits: &'a Digits,
    indices: Vec<usize>,
    batch_size: usize,
    table: [f32; 256],
}

impl<'a> ImageBatcher<'a> {
    pub fn new(
        digits: &'a Digits,
        indices: Vec<usize>,
        batch_size: usize,
        normalization: Normalization,
    ) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Self {
            digits,
            indices,
            batch_size,
            table: normalization.table(),
        }
    }

    /// Every digit in order.
    pub fn all(digits: &'a Digits, batch_size: usize, normalization: Normalization) -> Self {
        Self::new(
            digits,
            (0..digits.len()).collect(),
            batch_size,
            normalization,
        )
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn num_batches(&self) -> usize {
        self.indices.len().div_ceil(self.batch_size)
    }

    /// The batches' index lists: shuffled with `seed` when given, in stored order otherwise.
    pub fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        let order = match seed {
            Some(seed) => shuffled(&self.indices, seed),
            None => self.indices.clone(),
        };
        order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Builds the tensors for the digits at `indices` on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> ImageBatch {
        let (rows, cols) = (self.digits.rows, self.digits.cols);
        let mut pixels = Vec::with_capacity(indices.len() * rows * cols);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend(self.digits.image(i).iter().map(|&b| self.table[b as usize]));
            labels.push(self.digits.labels[i] as i64);
        }
        let n = indices.len();
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 1, rows, cols]), device),
            targets: Tensor::from_data(TensorData::new(labels.clone(), [n]), device),
            labels,
            len: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits() -> Digits {
        Digits {
            images: (0..5 * 4).map(|v| (v * 10) as u8).collect(),
            labels: vec![0, 1, 2, 3, 4],
            rows: 2,
            cols: 2,
        }
    }

    #[test]
    fn batches_cover_every_index_once_in_seeded_order() {
        let d = digits();
        let b = ImageBatcher::all(&d, 2, Normalization::Scale);
        assert_eq!(b.num_batches(), 3);
        let order = b.order(Some(3));
        assert_eq!(
            order.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let mut flat: Vec<_> = order.concat();
        flat.sort();
        assert_eq!(flat, vec![0, 1, 2, 3, 4]);
        assert_eq!(b.order(Some(3)), order);
        assert_eq!(b.order(None).concat(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn standardisation_uses_the_given_digits_only() {
        let d = digits();
        // Digits 0 and 1 hold the bytes 0..=70 in steps of 10: mean 35/255, std of 0..=7 * 10/255.
        let Normalization::Standardize { mean, std } = Normalization::standardize_from(&d, &[0, 1])
        else {
            panic!()
        };
        assert!((mean - 35.0 / 255.0).abs() < 1e-6, "{mean}");
        let var = (0..8)
            .map(|k| (k as f32 * 10.0 - 35.0).powi(2))
            .sum::<f32>()
            / 8.0;
        assert!((std - var.sqrt() / 255.0).abs() < 1e-6, "{std}");
    }

    #[test]
    fn batch_tensors_hold_normalised_pixels_and_labels() {
        let d = digits();
        let device = Device::flex();
        let norm = Normalization::Standardize {
            mean: 0.5,
            std: 0.25,
        };
        let b = ImageBatcher::all(&d, 2, norm).batch(&[1, 4], &device);
        assert_eq!(b.images.dims(), [2, 1, 2, 2]);
        let px = b.images.into_data().try_into_vec_as::<f32>().unwrap();
        assert!((px[0] - (40.0 / 255.0 - 0.5) / 0.25).abs() < 1e-6);
        assert_eq!(
            b.targets.into_data().try_into_vec_as::<i64>().unwrap(),
            vec![1, 4]
        );
    }
}
