//! The convolution as a burn backend extension: a `conv2d` operation routed to flex's
//! kernel, and an autodiff implementation whose backward pass is the kernel's.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::Geometry;
use super::cpu::{self, ConvDims};
use crate::flex::{contiguous, tensor, values};
use crate::{Needed, layer_step};

/// `x [B, c_in, H, W]`, `weight [c_out, c_in, kh, kw]`, `bias [c_out]` to
/// `[B, c_out, H', W']`, without groups or dilation.
#[backend_extension(Flex, Autodiff)]
pub trait ConvBackend: Backend {
    fn conv2d_fused(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: Geometry,
    ) -> FloatTensor<Self>;
}

/// What a backend needs to train the fused convolution.
pub trait ConvKernels: Backend {
    fn conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: Geometry,
    ) -> FloatTensor<Self>;

    /// Gradients of `x`, `weight` and `bias` from the output's, those `needed`.
    fn conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        geometry: Geometry,
        needed: Needed,
    ) -> [Option<FloatTensor<Self>>; 3];
}

/// Runs [`ConvBackend::conv2d_fused`] on the high-level tensors.
pub(super) fn fused(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    geometry: Geometry,
) -> Tensor<4> {
    let [c_out, ..] = weight.dims();
    let bias = bias.unwrap_or_else(|| Tensor::zeros([c_out], &x.device()));
    Tensor::from_dispatch(<burn::backend::Dispatch as ConvBackend>::conv2d_fused(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        geometry,
    ))
}

fn dims(x: &FlexTensor, w: &FlexTensor, g: Geometry) -> ConvDims {
    let xs = x.layout().shape();
    let ws = w.layout().shape();
    assert_eq!(
        xs[1], ws[1],
        "conv2d: the input has {} channels, the weight expects {}",
        xs[1], ws[1]
    );
    let d = ConvDims {
        batch: xs[0],
        c_in: xs[1],
        h_in: xs[2],
        w_in: xs[3],
        c_out: ws[0],
        kernel: [ws[2], ws[3]],
        stride: g.stride,
        padding: g.padding,
    };
    assert!(
        d.out_hw().is_some(),
        "conv2d: a {:?} kernel does not fit a {}x{} input padded by {:?}",
        d.kernel,
        d.h_in,
        d.w_in,
        d.padding
    );
    d
}

impl ConvKernels for Flex {
    fn conv_forward(x: FlexTensor, w: FlexTensor, b: FlexTensor, g: Geometry) -> FlexTensor {
        let d = dims(&x, &w, g);
        let [x, w, b] = [x, w, b].map(contiguous);
        let out = cpu::forward(&d, values(&x), values(&w), Some(values(&b)));
        let [h, wd] = d.out_hw().expect("checked");
        tensor(out, [d.batch, d.c_out, h, wd])
    }

    fn conv_backward(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        g: Geometry,
        needed: Needed,
    ) -> [Option<FlexTensor>; 3] {
        let d = dims(&x, &w, g);
        let [x, w, dy] = [x, w, dy].map(contiguous);
        let (dx, dw, db) = cpu::backward(&d, values(&x), values(&w), values(&dy), needed);
        [
            dx.map(|v| tensor(v, [d.batch, d.c_in, d.h_in, d.w_in])),
            dw.map(|v| tensor(v, [d.c_out, d.c_in, d.kernel[0], d.kernel[1]])),
            db.map(|v| tensor(v, [d.c_out])),
        ]
    }
}

impl ConvBackend for Flex {
    fn conv2d_fused(x: FlexTensor, w: FlexTensor, b: FlexTensor, g: Geometry) -> FlexTensor {
        Self::conv_forward(x, w, b, g)
    }
}

/// The backward step keeps the input and the weight (handles, not copies).
#[derive(Debug)]
struct ConvStep;

impl<B: ConvKernels> Backward<B, 3> for ConvStep {
    type State = Arc<(FloatTensor<B>, FloatTensor<B>, Geometry)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        layer_step::backward::<B, _>(ops, grads, |state, dy, needed| {
            let (x, w, g) = (*state).clone();
            B::conv_backward(x, w, dy, g, needed)
        });
    }
}

impl<B: ConvKernels, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        g: Geometry,
    ) -> FloatTensor<Self> {
        layer_step::forward::<B, C, _>(
            ConvStep,
            [x, w, b],
            |x, w| Arc::new((x, w, g)),
            |x, w, b| B::conv_forward(x, w, b, g),
        )
    }
}
