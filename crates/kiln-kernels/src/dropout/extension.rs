//! Dropout as a burn backend extension; the backward pass regenerates the mask from the seed.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{Shape, Tensor};
use pulp::Simd;
use rayon::prelude::*;

use super::threshold;
use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::{contiguous, tensor, values, zeros};

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
    let mut out = zeros(x.len());
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (out, x))| {
            vectorised(Chunk {
                seed,
                first: c * CHUNK,
                threshold: t,
                scale,
                x,
                out,
            })
        });
    tensor(out, shape)
}

/// One chunk of the map, from element `first` on, in whole vectors.
struct Chunk<'a> {
    seed: u64,
    first: usize,
    threshold: u32,
    scale: f32,
    x: &'a [f32],
    out: &'a mut [f32],
}

impl Vectorised for Chunk<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let s = v.0;
        let iota: Vec<u32> = (0..Lanes::<S>::N as u32).collect();
        let iota = s.partial_load_u32s(&iota);
        let scale = v.splat(self.scale);
        let (low, threshold) = (s.splat_u32s(self.seed as u32), s.splat_u32s(self.threshold));
        let mut i = 0;
        while i < self.x.len() {
            // The scalar `kept` of the same index, lane by lane.
            let index = (self.first + i) as u64;
            let at = s.add_u32s(s.splat_u32s(index as u32), iota);
            let high = (self.seed >> 32) as u32 ^ ((index >> 32) as u32).rotate_left(16);
            let h = hash(
                s,
                s.xor_u32s(hash(s, s.xor_u32s(at, low)), s.splat_u32s(high)),
            );
            let keep = s.less_than_u32s(h, threshold);
            let y = s.select_f32s(keep, v.mul(v.load(self.x, i), scale), v.splat(0.0));
            v.store(self.out, i, y);
            i += Lanes::<S>::N;
        }
    }
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

/// lowbias32 on every lane (a closure here would be compiled outside the dispatch, and its
/// vector instructions called one by one).
#[inline(always)]
fn hash<S: Simd>(s: S, mut h: S::u32s) -> S::u32s {
    h = s.xor_u32s(h, s.wrapping_dyn_shr_u32s(h, s.splat_u32s(16)));
    h = s.mul_u32s(h, s.splat_u32s(0x7feb_352d));
    h = s.xor_u32s(h, s.wrapping_dyn_shr_u32s(h, s.splat_u32s(15)));
    h = s.mul_u32s(h, s.splat_u32s(0x846c_a68b));
    s.xor_u32s(h, s.wrapping_dyn_shr_u32s(h, s.splat_u32s(16)))
}
