//! Max pooling as a burn backend extension, with a backward pass that reuses the winners.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::Window;
use super::cpu;
use crate::flex::{contiguous, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait PoolBackend: Backend {
    fn max_pool2d_fused(x: FloatTensor<Self>, window: Window) -> FloatTensor<Self>;
}

/// What a backend needs to train the fused pooling.
pub trait PoolKernels: Backend {
    type Winners: Clone + Send + std::fmt::Debug + 'static;

    fn pool_forward(x: FloatTensor<Self>, window: Window) -> (FloatTensor<Self>, Self::Winners);
    fn pool_backward(winners: Self::Winners, dy: FloatTensor<Self>) -> FloatTensor<Self>;
}

pub(super) fn fused(x: Tensor<4>, window: Window) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    assert!(
        cpu::out_hw(h, w, window).is_some(),
        "max_pool2d: a {:?} window does not fit a {h}x{w} input",
        window.kernel
    );
    Tensor::from_dispatch(<burn::backend::Dispatch as PoolBackend>::max_pool2d_fused(
        x.into_dispatch(),
        window,
    ))
}

/// Each output's winner in its window, and the input's shape.
#[derive(Debug)]
pub struct FlexWinners {
    winners: Vec<u8>,
    shape: [usize; 4],
    window: Window,
}

impl PoolKernels for Flex {
    type Winners = Arc<FlexWinners>;

    fn pool_forward(x: FlexTensor, window: Window) -> (FlexTensor, Self::Winners) {
        let s = x.layout().shape();
        let shape = [s[0], s[1], s[2], s[3]];
        let [b, c, h, w] = shape;
        let x = contiguous(x);
        let (out, winners) = cpu::forward(values(&x), b * c, h, w, window);
        let [oh, ow] = cpu::out_hw(h, w, window).expect("checked");
        let saved = FlexWinners {
            winners,
            shape,
            window,
        };
        (tensor(out, [b, c, oh, ow]), Arc::new(saved))
    }

    fn pool_backward(saved: Self::Winners, dy: FlexTensor) -> FlexTensor {
        let [b, c, h, w] = saved.shape;
        let dy = contiguous(dy);
        let dx = cpu::backward(values(&dy), &saved.winners, b * c, h, w, saved.window);
        tensor(dx, saved.shape)
    }
}

impl PoolBackend for Flex {
    fn max_pool2d_fused(x: FlexTensor, window: Window) -> FlexTensor {
        Self::pool_forward(x, window).0
    }
}

#[derive(Debug)]
struct PoolStep;

impl<B: PoolKernels> Backward<B, 1> for PoolStep {
    type State = B::Winners;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::pool_backward(ops.state, dy));
        }
    }
}

impl<B: PoolKernels, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
    fn max_pool2d_fused(x: FloatTensor<Self>, window: Window) -> FloatTensor<Self> {
        let (x, node) = x.into_parts();
        match PoolStep.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, winners) = B::pool_forward(x, window);
                prep.finish(winners, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::pool_forward(x, window).0),
        }
    }
}
