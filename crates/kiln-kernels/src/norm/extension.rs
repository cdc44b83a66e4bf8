//! Batch normalisation in training as a burn backend extension: one operation on flex whose
//! backward pass is the kernel's, the batch's statistics returned beside the output.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::Normalised;
use super::cpu::{self, NormDims, Statistics};
use crate::flex::{contiguous, tensor, values};
use crate::{Needed, layer_step};

#[backend_extension(Flex, Autodiff)]
pub trait NormBackend: Backend {
    /// `x [batch, channels, ...]` normalised per channel with the batch's statistics, then
    /// `* gamma + beta` (and a ReLU when `relu`); with the batch's mean and biased variance.
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// What a backend needs to train the fused normalisation.
pub trait NormKernels: Backend {
    /// The output, the mean and the variance.
    fn norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of `x`, `gamma` and `beta` from the output's, those `needed`. `y` is the
    /// output where the forward pass applied a ReLU.
    fn norm_backward(
        saved: Saved<Self>,
        dy: FloatTensor<Self>,
        needed: Needed,
    ) -> [Option<FloatTensor<Self>>; 3];
}

/// What the backward pass reads again: handles, not copies.
#[derive(Debug, Clone)]
pub struct Saved<B: Backend> {
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    y: Option<FloatTensor<B>>,
    epsilon: f64,
}

/// Runs [`NormBackend::batch_norm_fused`] on the high-level tensors.
pub(super) fn fused<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    relu: bool,
) -> Normalised<D> {
    let (output, mean, variance) = <burn::backend::Dispatch as NormBackend>::batch_norm_fused(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        relu,
    );
    Normalised {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}

fn dims(x: &FlexTensor) -> NormDims {
    let shape = x.layout().shape();
    assert!(
        shape.num_dims() >= 2,
        "batch norm: the input needs a batch and a channel axis, not {shape:?}"
    );
    NormDims {
        batch: shape[0],
        channels: shape[1],
        inner: shape.iter().skip(2).product(),
    }
}

fn statistics(mean: &FlexTensor, variance: &FlexTensor) -> Statistics {
    let [mean, variance] = [mean, variance].map(|t| values(&contiguous(t.clone())).to_vec());
    Statistics { mean, variance }
}

impl NormKernels for Flex {
    fn norm_forward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let d = dims(&x);
        let shape = x.layout().shape().clone();
        let [x, gamma, beta] = [x, gamma, beta].map(contiguous);
        let (y, stats) = cpu::forward(&d, values(&x), values(&gamma), values(&beta), epsilon, relu);
        (
            tensor(y, shape),
            tensor(stats.mean, [d.channels]),
            tensor(stats.variance, [d.channels]),
        )
    }

    fn norm_backward(
        saved: Saved<Self>,
        dy: FlexTensor,
        needed: Needed,
    ) -> [Option<FlexTensor>; 3] {
        let d = dims(&saved.x);
        let shape = saved.x.layout().shape().clone();
        let stats = statistics(&saved.mean, &saved.variance);
        let [x, gamma, dy] = [saved.x, saved.gamma, dy].map(contiguous);
        let y = saved.y.map(contiguous);
        let (dx, dgamma, dbeta) = cpu::backward(
            &d,
            values(&x),
            values(&gamma),
            &stats,
            saved.epsilon,
            y.as_ref().map(values),
            values(&dy),
            needed,
        );
        [
            dx.map(|v| tensor(v, shape)),
            dgamma.map(|v| tensor(v, [d.channels])),
            dbeta.map(|v| tensor(v, [d.channels])),
        ]
    }
}

impl NormBackend for Flex {
    fn batch_norm_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        Self::norm_forward(x, gamma, beta, epsilon, relu)
    }
}

#[derive(Debug)]
struct NormStep;

impl<B: NormKernels> Backward<B, 3> for NormStep {
    type State = Arc<Saved<B>>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        layer_step::backward::<B, _>(ops, grads, |saved, dy, needed| {
            B::norm_backward((*saved).clone(), dy, needed)
        });
    }
}

impl<B: NormKernels, C: CheckpointStrategy> NormBackend for Autodiff<B, C> {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let untracked = |t: FloatTensor<B>| <Self as AutodiffBackend>::from_inner(t);
        type Stats<B> = (FloatTensor<B>, FloatTensor<B>);
        let keep = |x, gamma, y: &FloatTensor<B>, (mean, variance): &Stats<B>| {
            Arc::new(Saved {
                x,
                gamma,
                mean: mean.clone(),
                variance: variance.clone(),
                y: relu.then(|| y.clone()),
                epsilon,
            })
        };
        let (y, (mean, variance)) = layer_step::forward_with::<B, C, _, _>(
            NormStep,
            [x, gamma, beta],
            keep,
            |x, gamma, beta| {
                let (y, mean, variance) = B::norm_forward(x, gamma, beta, epsilon, relu);
                (y, (mean, variance))
            },
        );
        (y, untracked(mean), untracked(variance))
    }
}
