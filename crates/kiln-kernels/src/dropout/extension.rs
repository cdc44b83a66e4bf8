//! Dropout as a burn backend extension; the backward pass regenerates the mask from the seed.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{Shape, Tensor};
use rayon::prelude::*;

use super::{kept, threshold};
use crate::flex::{contiguous, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait DropoutBackend: Backend {
    /// `x * mask / keep`, the mask drawn from `seed`.
    fn dropout_fused(x: FloatTensor<Self>, seed: u64, keep: f64) -> FloatTensor<Self>;
}

pub(super) fn fused<const D: usize>(x: Tensor<D>, seed: u64, keep: f64) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as DropoutBackend>::dropout_fused(
        x.into_dispatch(),
        seed,
        keep,
    ))
}

/// Elements per parallel task: enough that the task outweighs its scheduling.
const CHUNK: usize = 1 << 16;

/// `x * mask / keep` on flex; the backward pass is the same map on the output's gradient.
fn masked(x: FlexTensor, seed: u64, keep: f64) -> FlexTensor {
    let shape: Shape = x.layout().shape().clone();
    let x = contiguous(x);
    let x = values(&x);
    let (t, scale) = (threshold(keep), (1.0 / keep) as f32);
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (out, x))| {
            let base = c * CHUNK;
            for (i, (o, v)) in out.iter_mut().zip(x).enumerate() {
                *o = if kept(seed, base + i, t) {
                    v * scale
                } else {
                    0.0
                };
            }
        });
    tensor(out, shape)
}

impl DropoutBackend for Flex {
    fn dropout_fused(x: FlexTensor, seed: u64, keep: f64) -> FlexTensor {
        masked(x, seed, keep)
    }
}

#[derive(Debug)]
struct DropoutStep;

impl Backward<Flex, 1> for DropoutStep {
    type State = (u64, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (seed, keep) = ops.state;
        if let [Some(node)] = ops.parents {
            grads.register::<Flex>(node.id, masked(dy, seed, keep));
        }
    }
}

impl<C: CheckpointStrategy> DropoutBackend for Autodiff<Flex, C> {
    fn dropout_fused(x: FloatTensor<Self>, seed: u64, keep: f64) -> FloatTensor<Self> {
        let (x, node) = x.into_parts();
        match DropoutStep.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((seed, keep), masked(x, seed, keep)),
            OpsKind::UnTracked(prep) => prep.finish(masked(x, seed, keep)),
        }
    }
}
