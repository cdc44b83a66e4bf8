//! Batch normalisation in training, optionally with what follows it in a residual network
//! (the block's shortcut added, then a ReLU), as one operation with a handwritten backward
//! pass.
//!
//! burn's own computes the statistics through transposed copies (channels first) and then
//! normalises in four element-wise passes, each writing a tensor, with as many again backward;
//! those copies alone took a sixth of a ResNet-20 step on flex. On flex
//! [`batch_norm_train`] runs `cpu.rs`: two reads for the statistics, one write for the output,
//! and backward one read and one write (a residual block's addition and ReLU took two more
//! writes each way). Elsewhere it runs burn's, which is also the reference
//! the kernel is tested against.

mod cpu;
mod extension;

use burn::tensor::activation::relu as burn_relu;
use burn::tensor::module::batch_norm_train as burn_batch_norm_train;
use burn::tensor::{DType, Tensor};

pub use extension::NormBackend;

pub use crate::Path;

/// The normalised output and the batch's statistics per channel, `[channels]` each.
#[derive(Debug, Clone)]
pub struct Normalised<const D: usize> {
    pub output: Tensor<D>,
    pub mean: Tensor<1>,
    /// Biased (divided by the count), as burn's batch norm returns it.
    pub variance: Tensor<1>,
}

/// Which path [`batch_norm_train`] takes: the kernel on flex in 32-bit floats, burn's
/// elsewhere.
pub fn path<const D: usize>(x: &Tensor<D>) -> Path {
    if crate::fused_on(&x.device()) && x.dtype() == DType::F32 {
        Path::Fused
    } else {
        Path::Composed
    }
}

/// `x [batch, channels, ...]` normalised per channel with the batch's own mean and variance,
/// scaled by `gamma` and shifted by `beta`, plus `residual` (the shape of `x`) where given,
/// then through a ReLU when `relu`.
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    relu: bool,
) -> Normalised<D> {
    match path(&x) {
        Path::Fused => extension::fused(x, gamma, beta, residual, epsilon, relu),
        Path::Composed => composed(x, gamma, beta, residual, epsilon, relu),
    }
}

/// burn's batch norm in training, the residual's addition and the ReLU.
pub fn composed<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    relu: bool,
) -> Normalised<D> {
    let out = burn_batch_norm_train(x, gamma, beta, epsilon);
    let output = match residual {
        Some(r) => out.output + r,
        None => out.output,
    };
    Normalised {
        output: if relu { burn_relu(output) } else { output },
        mean: out.mean,
        variance: out.variance,
    }
}

#[cfg(test)]
mod tests;
