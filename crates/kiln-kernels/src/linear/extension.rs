//! The linear layer as a burn backend extension: a `linear` operation routed to flex's
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

use super::cpu::{self, LinearDims};
use crate::flex::{contiguous, tensor, values};
use crate::{Needed, layer_step};

/// `x [rows, d_in] @ weight [d_in, d_out] + bias [d_out]`; a bias of no values adds nothing.
#[backend_extension(Flex, Autodiff)]
pub trait LinearBackend: Backend {
    fn linear_fused(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// What a backend needs to train the fused linear layer.
pub trait LinearKernels: Backend {
    fn linear_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Gradients of `x`, `weight` and `bias` from the output's, those `needed`.
    fn linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        needed: Needed,
    ) -> [Option<FloatTensor<Self>>; 3];
}

/// Runs [`LinearBackend::linear_fused`] on the high-level tensors, `x` as `[rows, d_in]`.
pub(super) fn fused(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    // No bias: an empty tensor, which takes no part in the graph.
    let bias = bias.unwrap_or_else(|| Tensor::empty([0], &x.device()));
    Tensor::from_dispatch(<burn::backend::Dispatch as LinearBackend>::linear_fused(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

fn dims(x: &FlexTensor, w: &FlexTensor) -> LinearDims {
    let xs = x.layout().shape();
    let ws = w.layout().shape();
    assert_eq!(
        xs[1], ws[0],
        "linear: the input has {} features, the weight expects {}",
        xs[1], ws[0]
    );
    LinearDims {
        rows: xs[0],
        d_in: xs[1],
        d_out: ws[1],
    }
}

impl LinearKernels for Flex {
    fn linear_forward(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        let d = dims(&x, &w);
        let [x, w, b] = [x, w, b].map(contiguous);
        let bias = Some(values(&b)).filter(|b| !b.is_empty());
        let y = cpu::forward(&d, values(&x), values(&w), bias);
        tensor(y, [d.rows, d.d_out])
    }

    fn linear_backward(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        needed: Needed,
    ) -> [Option<FlexTensor>; 3] {
        let d = dims(&x, &w);
        let [x, w, dy] = [x, w, dy].map(contiguous);
        let (dx, dw, db) = cpu::backward(&d, values(&x), values(&w), values(&dy), needed);
        [
            dx.map(|v| tensor(v, [d.rows, d.d_in])),
            dw.map(|v| tensor(v, [d.d_in, d.d_out])),
            db.map(|v| tensor(v, [d.d_out])),
        ]
    }
}

impl LinearBackend for Flex {
    fn linear_fused(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        Self::linear_forward(x, w, b)
    }
}

/// The backward step keeps the input and the weight (handles, not copies).
#[derive(Debug)]
struct LinearStep;

impl<B: LinearKernels> Backward<B, 3> for LinearStep {
    type State = Arc<(FloatTensor<B>, FloatTensor<B>)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        layer_step::backward::<B, _>(ops, grads, |state, dy, needed| {
            let (x, w) = (*state).clone();
            B::linear_backward(x, w, dy, needed)
        });
    }
}

impl<B: LinearKernels, C: CheckpointStrategy> LinearBackend for Autodiff<B, C> {
    fn linear_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        layer_step::forward::<B, C, _>(
            LinearStep,
            [x, w, b],
            |x, w| Arc::new((x, w)),
            B::linear_forward,
        )
    }
}
