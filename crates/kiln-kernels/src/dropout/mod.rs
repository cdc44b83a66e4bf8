//! Dropout as one operation whose mask is never stored: on flex each element's fate is a hash
//! of its index and a seed drawn from the device's generator, so the backward pass computes
//! the same mask again. burn's dropout draws a float per element through a generic random
//! stream (about 15 ns each here), which cost a CNN step more than its first convolution.
//! Elsewhere burn's dropout runs.

mod extension;

use burn::tensor::{DType, Distribution, Int, Tensor};

pub use extension::DropoutBackend;

/// Zeroes each element with probability `prob` and scales the rest by `1 / (1 - prob)`.
/// Always active: callers decide whether they are training.
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    if prob <= 0.0 {
        return x;
    }
    if prob >= 1.0 {
        return x.zeros_like();
    }
    if crate::fused_on(&x.device()) && x.dtype() == DType::F32 {
        // Two draws of 30 bits from the device's generator: the run's seed still decides
        // every mask.
        let draws = Tensor::<1, Int>::random(
            [2],
            Distribution::Uniform(0.0, 1_073_741_824.0),
            &x.device(),
        )
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("two integers");
        let seed = ((draws[0] as u64) << 30) ^ (draws[1] as u64);
        extension::fused(x, seed, 1.0 - prob)
    } else {
        composed(x, prob)
    }
}

/// burn's dropout arithmetic: a Bernoulli mask from the backend's generator.
pub fn composed<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    let keep = 1.0 - prob;
    let mask = x.random_like(Distribution::Bernoulli(keep));
    x * mask * (1.0 / keep)
}

/// Whether element `i` is kept, for a mask drawn with `seed`: two rounds of a 32-bit integer
/// hash (Wellons' lowbias32), compared with `threshold = keep * 2^32`. The kernel computes the
/// same in vectors; this is its definition, which the tests hold it to.
#[cfg(test)]
fn kept(seed: u64, i: usize, threshold: u32) -> bool {
    let h = hash(i as u32 ^ seed as u32);
    let h = hash(h ^ (seed >> 32) as u32 ^ ((i as u64 >> 32) as u32).rotate_left(16));
    h < threshold
}

#[cfg(test)]
fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

fn threshold(keep: f64) -> u32 {
    (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

#[cfg(test)]
mod tests;
