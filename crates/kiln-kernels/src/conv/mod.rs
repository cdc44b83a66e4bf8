//! 2-D convolution as one operation with a handwritten backward pass.
//!
//! [`conv2d`] is what models call. On flex it runs `extension.rs`'s operation (per-sample
//! im2col into a cache-sized buffer and matrix products, `cpu.rs`); elsewhere, and for
//! geometries the kernel does not cover (groups, dilation, other float types), burn's own
//! `conv2d`, which is also the reference the kernel is tested against.

mod cpu;
mod extension;

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};

pub use extension::ConvBackend;

/// Stride and symmetric zero padding of a convolution without groups or dilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

pub use crate::Path;

/// Which path [`conv2d`] takes: the kernel on flex in 32-bit floats, burn's elsewhere.
pub fn path(x: &Tensor<4>) -> Path {
    if crate::fused_on(&x.device()) && x.dtype() == DType::F32 {
        Path::Fused
    } else {
        Path::Composed
    }
}

/// `x [B, c_in, H, W]`, `weight [c_out, c_in, kh, kw]`, `bias [c_out]` to
/// `[B, c_out, H', W']`.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    geometry: Geometry,
) -> Tensor<4> {
    match path(&x) {
        Path::Fused => extension::fused(x, weight, bias, geometry),
        Path::Composed => composed(x, weight, bias, geometry),
    }
}

/// burn's convolution with the same geometry.
pub fn composed(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    geometry: Geometry,
) -> Tensor<4> {
    burn_conv2d(
        x,
        weight,
        bias,
        ConvOptions::new(geometry.stride, geometry.padding, [1, 1], 1),
    )
}

#[cfg(test)]
mod tests;
