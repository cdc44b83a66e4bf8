//! Turning digits into burn tensors, one batch at a time.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::Digits;
use crate::split::batch_order;

/// How pixel bytes become inputs: always scaled to `[0, 1]`, then optionally standardised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalization {
    /// `x / 255`.
    Scale,
    /// `(x / 255 - mean) / std`, e.g. MNIST's 0.1307 and 0.3081.
    Standardize { mean: f32, std: f32 },
    /// Colour images: each of the three channels standardised with its own statistics.
    Channels { mean: [f32; 3], std: [f32; 3] },
}

impl Normalization {
    /// Standardisation with the mean and standard deviation of the pixels of `digits` at
    /// `indices`, per channel for colour images: pass the training split only, so nothing
    /// is learnt from validation or test.
    pub fn standardize_from(digits: &Digits, indices: &[usize]) -> Self {
        let plane = digits.rows * digits.cols;
        let mut histograms = vec![[0u64; 256]; digits.channels.max(1)];
        for &i in indices {
            for (c, pixels) in digits.image(i).chunks(plane.max(1)).enumerate() {
                pixels.iter().for_each(|&p| histograms[c][p as usize] += 1);
            }
        }
        let stats: Vec<(f32, f32)> = histograms
            .iter()
            .map(|histogram| {
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
                (mean as f32, std.max(1e-6) as f32)
            })
            .collect();
        match stats.as_slice() {
            [(a, sa), (b, sb), (c, sc)] => Normalization::Channels {
                mean: [*a, *b, *c],
                std: [*sa, *sb, *sc],
            },
            _ => Normalization::Standardize {
                mean: stats[0].0,
                std: stats[0].1,
            },
        }
    }

    /// Maps every byte value of `channel` once, so that batching is a table look-up.
    fn table(self, channel: usize) -> [f32; 256] {
        let mut t = [0f32; 256];
        for (v, out) in t.iter_mut().enumerate() {
            let x = v as f32 / 255.0;
            *out = match self {
                Normalization::Scale => x,
                Normalization::Standardize { mean, std } => (x - mean) / std,
                Normalization::Channels { mean, std } => {
                    (x - mean[channel.min(2)]) / std[channel.min(2)]
                }
            };
        }
        t
    }
}

/// Random changes to training images, drawn per item from the epoch's seed, so that an
/// epoch (and a resumed one) sees the same changed images whatever the batch order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    /// Mirror left to right half of the time.
    pub flip: bool,
    /// Pad by this many pixels on each side, then crop the original size at a random
    /// offset: a shift of up to this many pixels each way, the uncovered edge filled with 0.
    pub crop_padding: usize,
}

impl Augment {
    pub fn is_identity(&self) -> bool {
        !self.flip && self.crop_padding == 0
    }

    /// Whether to flip, and the shift `(dy, dx)`, for `item` in the epoch of `seed`.
    fn draw(&self, seed: u64, item: usize) -> (bool, isize, isize) {
        let mut h = seed ^ (item as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = || {
            // splitmix64
            h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let flip = self.flip && next() & 1 == 1;
        let p = self.crop_padding as u64;
        let mut shift = || (next() % (2 * p + 1)) as isize - p as isize;
        let (dy, dx) = if p > 0 { (shift(), shift()) } else { (0, 0) };
        (flip, dy, dx)
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
    /// One look-up table per channel.
    tables: Vec<[f32; 256]>,
    augment: Augment,
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
            tables: (0..digits.channels.max(1))
                .map(|c| normalization.table(c))
                .collect(),
            augment: Augment::default(),
        }
    }

    /// Training batches changed by `augment` (see [`ImageBatcher::augmented_batch`]).
    pub fn augment(mut self, augment: Augment) -> Self {
        self.augment = augment;
        self
    }

    pub fn augments(&self) -> bool {
        !self.augment.is_identity()
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
        batch_order(&self.indices, self.batch_size, seed)
    }

    /// Builds the tensors for the images at `indices` on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> ImageBatch {
        self.build(indices, device, None)
    }

    /// A training batch with each image changed as [`Augment`] draws it for the epoch of
    /// `epoch_seed`; the same as [`ImageBatcher::batch`] without augmentation.
    pub fn augmented_batch(
        &self,
        indices: &[usize],
        device: &Device,
        epoch_seed: u64,
    ) -> ImageBatch {
        self.build(indices, device, Some(epoch_seed))
    }

    fn build(&self, indices: &[usize], device: &Device, epoch_seed: Option<u64>) -> ImageBatch {
        let d = self.digits;
        let (channels, rows, cols) = (d.channels.max(1), d.rows, d.cols);
        let plane = rows * cols;
        let mut pixels = Vec::with_capacity(indices.len() * channels * plane);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let image = d.image(i);
            match epoch_seed.filter(|_| !self.augment.is_identity()) {
                None => {
                    for (c, bytes) in image.chunks(plane.max(1)).enumerate() {
                        let table = &self.tables[c];
                        pixels.extend(bytes.iter().map(|&b| table[b as usize]));
                    }
                }
                Some(seed) => {
                    let (flip, dy, dx) = self.augment.draw(seed, i);
                    for (c, bytes) in image.chunks(plane.max(1)).enumerate() {
                        let table = &self.tables[c];
                        // Outside the image: a 0 byte, as padding with zeros gives.
                        let zero = table[0];
                        for y in 0..rows as isize {
                            let sy = y + dy;
                            for x in 0..cols as isize {
                                let x = if flip { cols as isize - 1 - x } else { x };
                                let sx = x + dx;
                                pixels.push(
                                    if sy < 0
                                        || sx < 0
                                        || sy >= rows as isize
                                        || sx >= cols as isize
                                    {
                                        zero
                                    } else {
                                        table[bytes[sy as usize * cols + sx as usize] as usize]
                                    },
                                );
                            }
                        }
                    }
                }
            }
            labels.push(d.labels[i] as i64);
        }
        let n = indices.len();
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, channels, rows, cols]), device),
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
            channels: 1,
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

    #[test]
    fn augmentation_flips_and_shifts_by_epoch_and_item_only() {
        let d = Digits {
            images: (0..2 * 3 * 4).map(|v| v as u8 + 1).collect(),
            labels: vec![0, 1],
            channels: 2,
            rows: 3,
            cols: 2,
        };
        let device = Device::flex();
        let values = |b: ImageBatch| b.images.into_data().try_to_vec::<f32>().unwrap();
        let plain = ImageBatcher::all(&d, 2, Normalization::Scale);
        // Without augmentation a training batch is the plain one.
        assert_eq!(
            values(plain.augmented_batch(&[0, 1], &device, 7)),
            values(plain.batch(&[0, 1], &device))
        );
        let flips = ImageBatcher::all(&d, 2, Normalization::Scale).augment(Augment {
            flip: true,
            crop_padding: 0,
        });
        let mirrored = |i: usize| -> Vec<f32> {
            let img = d.image(i);
            (0..2 * 3)
                .flat_map(|row| [img[row * 2 + 1], img[row * 2]])
                .map(|b| b as f32 / 255.0)
                .collect()
        };
        let mut seen = [false, false];
        for seed in 0..16 {
            let got = values(flips.augmented_batch(&[1], &device, seed));
            let flipped = got == mirrored(1);
            assert!(flipped || got == values(flips.batch(&[1], &device)));
            seen[flipped as usize] = true;
            // The same epoch and item give the same image, whatever batch it is in.
            let again = values(flips.augmented_batch(&[0, 1], &device, seed));
            assert_eq!(again[12..], got[..]);
        }
        assert_eq!(seen, [true, true], "both outcomes over 16 epochs");
        let shifts = ImageBatcher::all(&d, 2, Normalization::Scale).augment(Augment {
            flip: false,
            crop_padding: 1,
        });
        let shifted: std::collections::HashSet<Vec<u32>> = (0..32)
            .map(|seed| {
                let v = values(shifts.augmented_batch(&[0], &device, seed));
                // Every value is a pixel of the image or the zero fill.
                assert!(
                    v.iter()
                        .all(|x| *x == 0.0 || d.image(0).contains(&((x * 255.0).round() as u8)))
                );
                v.iter().map(|x| x.to_bits()).collect()
            })
            .collect();
        assert!(shifted.len() > 3, "{} different shifts", shifted.len());
    }
}
