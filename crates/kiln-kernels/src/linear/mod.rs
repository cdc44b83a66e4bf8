//! The linear layer, `y = x @ w + b`, as one operation with a handwritten backward pass.
//!
//! [`linear`] is what models call. On flex it runs `extension.rs`'s operation (`cpu.rs`:
//! burn's matrix products, into buffers of kiln's own, with the bias's passes on every
//! thread); elsewhere, and for inputs of more than two dimensions, burn's own `linear`, which
//! is also the reference the kernel is tested against, to the bit.

mod cpu;
mod extension;

use burn::tensor::module::linear as burn_linear;
use burn::tensor::{DType, Tensor};

pub use extension::LinearBackend;

pub use crate::Path;

/// Which path [`linear`] takes: the kernel on flex in 32-bit floats for a vector or a batch of
/// them, burn's elsewhere. burn multiplies inputs of more dimensions (sequences) sample by
/// sample and sums the weight's gradient over the samples; the kernel's one product over all
/// rows would round that sum differently, so those keep burn's path and its numbers.
pub fn path<const D: usize>(x: &Tensor<D>) -> Path {
    if D <= 2 && crate::fused_on(&x.device()) && x.dtype() == DType::F32 {
        Path::Fused
    } else {
        Path::Composed
    }
}

/// `x [..., d_in]`, `weight [d_in, d_out]` (burn's `Linear` layout), `bias [d_out]` to
/// `[..., d_out]`.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    match path(&x) {
        // A weight of another type (quantized, half) goes through burn's layer.
        Path::Fused if weight.dtype() == DType::F32 => {
            let dims = x.dims();
            let d_in = dims[D - 1];
            let [_, d_out] = weight.dims();
            let rows = dims[..D - 1].iter().product::<usize>();
            let mut out = dims;
            out[D - 1] = d_out;
            extension::fused(x.reshape([rows, d_in]), weight, bias).reshape(out)
        }
        _ => composed(x, weight, bias),
    }
}

/// burn's linear layer.
pub fn composed<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    burn_linear(x, weight, bias)
}

#[cfg(test)]
mod tests;
