//! Batch normalisation in training as a burn backend extension: one operation on flex whose
//! backward pass is the kernel's, the batch's statistics returned beside the output; with a
//! residual block's shortcut added before the ReLU, a second operation of four inputs.

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
use crate::flex::{contiguous, tensor, values, values_mut};
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

    /// [`NormBackend::batch_norm_fused`] with `residual` (the shape of `x`) added to the
    /// normalised values before the ReLU.
    fn batch_norm_add_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
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
        residual: Option<FloatTensor<Self>>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of `x`, `gamma`, `beta` and the residual from the output's, those `needed`.
    fn norm_backward(
        saved: Saved<Self>,
        dy: FloatTensor<Self>,
        needed: [bool; 4],
    ) -> [Option<FloatTensor<Self>>; 4];
}

/// What the backward pass reads again: handles, not copies.
#[derive(Debug, Clone)]
pub struct Saved<B: Backend> {
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    /// The output, where the forward pass applied a ReLU.
    y: Option<FloatTensor<B>>,
    epsilon: f64,
}

/// Runs [`NormBackend::batch_norm_fused`] (or its residual form) on the high-level tensors.
pub(super) fn fused<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    relu: bool,
) -> Normalised<D> {
    type Dispatch = burn::backend::Dispatch;
    let [x, gamma, beta] = [
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
    ];
    let (output, mean, variance) = match residual {
        Some(r) => <Dispatch as NormBackend>::batch_norm_add_fused(
            x,
            gamma,
            beta,
            r.into_dispatch(),
            epsilon,
            relu,
        ),
        None => <Dispatch as NormBackend>::batch_norm_fused(x, gamma, beta, epsilon, relu),
    };
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
        residual: Option<FlexTensor>,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let d = dims(&x);
        let shape = x.layout().shape().clone();
        if let Some(r) = &residual {
            assert_eq!(
                r.layout().shape(),
                &shape,
                "batch norm: the residual's shape differs from the input's"
            );
        }
        let [x, gamma, beta] = [x, gamma, beta].map(contiguous);
        let residual = residual.map(contiguous);
        let (y, stats) = cpu::forward(
            &d,
            values(&x),
            values(&gamma),
            values(&beta),
            epsilon,
            residual.as_ref().map(values),
            relu,
        );
        (
            tensor(y, shape),
            tensor(stats.mean, [d.channels]),
            tensor(stats.variance, [d.channels]),
        )
    }

    fn norm_backward(
        saved: Saved<Self>,
        dy: FlexTensor,
        [x_needed, gamma_needed, beta_needed, residual_needed]: [bool; 4],
    ) -> [Option<FlexTensor>; 4] {
        let d = dims(&saved.x);
        let shape = saved.x.layout().shape().clone();
        let stats = statistics(&saved.mean, &saved.variance);
        let [x, gamma] = [saved.x, saved.gamma].map(contiguous);
        let needed = Needed {
            x: x_needed,
            w: gamma_needed,
            bias: beta_needed,
        };
        let dy = contiguous(dy);
        let backward = |dy| {
            let (x, gamma) = (values(&x), values(&gamma));
            cpu::backward(&d, x, gamma, &stats, saved.epsilon, dy, needed)
        };
        // With a ReLU the output's gradient becomes the ReLU's in place (in its own buffer
        // where nothing else holds it): what the residual receives. Without one, the
        // residual receives the output's.
        let (grads, residual) = match saved.y.map(contiguous) {
            Some(y) => {
                let mut g = dy;
                let grads = backward(cpu::OutputGradient::Relu {
                    dy: values_mut(&mut g),
                    y: values(&y),
                });
                (grads, residual_needed.then_some(g))
            }
            None => (
                backward(cpu::OutputGradient::Plain(values(&dy))),
                residual_needed.then_some(dy),
            ),
        };
        [
            grads.x.map(|v| tensor(v, shape)),
            grads.gamma.map(|v| tensor(v, [d.channels])),
            grads.beta.map(|v| tensor(v, [d.channels])),
            residual,
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
        Self::norm_forward(x, gamma, beta, None, epsilon, relu)
    }

    fn batch_norm_add_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        Self::norm_forward(x, gamma, beta, Some(residual), epsilon, relu)
    }
}

/// The autodiff step of the operation of `N` inputs: 3 without a residual, 4 with one.
#[derive(Debug)]
struct NormStep<const N: usize>;

impl<B: NormKernels, const N: usize> Backward<B, N> for NormStep<N> {
    type State = Arc<Saved<B>>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        layer_step::backward_n::<B, _, N>(ops, grads, |saved, dy, needed| {
            let all = std::array::from_fn(|i| needed.get(i).copied().unwrap_or(false));
            let mut computed = B::norm_backward((*saved).clone(), dy, all).into_iter();
            std::array::from_fn(|_| computed.next().flatten())
        });
    }
}

/// The output, the mean and the variance.
type Outputs<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// The autodiff form of both operations: `inputs` are `x`, `gamma`, `beta` and, for the
/// residual form, the residual.
fn tracked<B: NormKernels, C: CheckpointStrategy, const N: usize>(
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    epsilon: f64,
    relu: bool,
) -> Outputs<Autodiff<B, C>> {
    let untracked = |t: FloatTensor<B>| <Autodiff<B, C> as AutodiffBackend>::from_inner(t);
    type Stats<B> = (FloatTensor<B>, FloatTensor<B>);
    let keep =
        |[x, gamma]: [FloatTensor<B>; 2], y: &FloatTensor<B>, (mean, variance): &Stats<B>| {
            Arc::new(Saved {
                x,
                gamma,
                mean: mean.clone(),
                variance: variance.clone(),
                y: relu.then(|| y.clone()),
                epsilon,
            })
        };
    let (y, (mean, variance)) =
        layer_step::forward_n::<B, C, _, _, N, 2>(NormStep::<N>, inputs, keep, |inputs| {
            let mut inputs = inputs.into_iter();
            let mut next = || inputs.next().expect("x, gamma and beta");
            let (x, gamma, beta) = (next(), next(), next());
            let residual = inputs.next();
            let (y, mean, variance) = B::norm_forward(x, gamma, beta, residual, epsilon, relu);
            (y, (mean, variance))
        });
    (y, untracked(mean), untracked(variance))
}

impl<B: NormKernels, C: CheckpointStrategy> NormBackend for Autodiff<B, C> {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        tracked::<B, C, 3>([x, gamma, beta], epsilon, relu)
    }

    fn batch_norm_add_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        tracked::<B, C, 4>([x, gamma, beta, residual], epsilon, relu)
    }
}
