//! 2-D max pooling (no padding, no dilation) as one operation with a handwritten backward
//! pass: the forward pass records each window's winner, the backward pass sends each output's
//! gradient there. On flex it runs `cpu.rs`; elsewhere, and for other geometries, burn's
//! `max_pool2d`, which is also the reference it is tested against.

mod cpu;
mod extension;

use burn::tensor::module::max_pool2d as burn_max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, Tensor};

pub use extension::PoolBackend;

/// Window size and stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

/// `[B, C, H, W]` to `[B, C, (H - kh) / sh + 1, (W - kw) / sw + 1]`, each output the largest
/// value of its window (the first of equal ones).
pub fn max_pool2d(x: Tensor<4>, window: Window) -> Tensor<4> {
    if crate::fused_on(&x.device()) && x.dtype() == DType::F32 && cpu::supported(window) {
        extension::fused(x, window)
    } else {
        composed(x, window)
    }
}

/// burn's max pooling with the same window.
pub fn composed(x: Tensor<4>, window: Window) -> Tensor<4> {
    burn_max_pool2d(
        x,
        MaxPoolOptions::new(window.kernel).with_stride(window.stride),
    )
}

#[cfg(test)]
mod tests;
