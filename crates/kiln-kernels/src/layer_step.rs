//! What the autodiff steps of kiln's fused operations share: recording the forward pass with
//! what its backward pass keeps, which inputs take part in the graph, and handing the
//! gradients computed for them back. Most are layers of an input, a weight and a bias
//! ([`forward`], [`backward`]); the `_n` forms take any number of inputs.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// Which gradients a backward pass computes: those of inputs that take part in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    pub x: bool,
    pub w: bool,
    pub bias: bool,
}

/// The forward pass of a layer `(x, w, bias)` under autodiff: `run` on the inner backend's
/// tensors and, where the graph is tracked, `keep(x, w)` as `step`'s state (handles, not
/// copies).
pub(crate) fn forward<B: Backend, C: CheckpointStrategy, S: Backward<B, 3>>(
    step: S,
    inputs: [FloatTensor<Autodiff<B, C>>; 3],
    keep: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> S::State,
    run: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let keep = |x, w, _: &FloatTensor<B>, _: &()| keep(x, w);
    forward_with::<B, C, S, ()>(step, inputs, keep, |x, w, b| (run(x, w, b), ())).0
}

/// [`forward`] for a layer whose pass also returns values outside the graph (`E`, such as
/// batch norm's statistics): `keep` sees the output and those too.
pub(crate) fn forward_with<B: Backend, C: CheckpointStrategy, S: Backward<B, 3>, E>(
    step: S,
    inputs: [FloatTensor<Autodiff<B, C>>; 3],
    keep: impl FnOnce(FloatTensor<B>, FloatTensor<B>, &FloatTensor<B>, &E) -> S::State,
    run: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> (FloatTensor<B>, E),
) -> (FloatTensor<Autodiff<B, C>>, E) {
    forward_n::<B, C, S, E, 3, 2>(
        step,
        inputs,
        |[x, w], y, extra| keep(x, w, y, extra),
        |[x, w, b]| run(x, w, b),
    )
}

/// [`forward_with`] for an operation of `N` inputs, the first `K` of which `keep` holds on to
/// (handles: the backward pass reads them again).
pub(crate) fn forward_n<
    B: Backend,
    C: CheckpointStrategy,
    S: Backward<B, N>,
    E,
    const N: usize,
    const K: usize,
>(
    step: S,
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    keep: impl FnOnce([FloatTensor<B>; K], &FloatTensor<B>, &E) -> S::State,
    run: impl FnOnce([FloatTensor<B>; N]) -> (FloatTensor<B>, E),
) -> (FloatTensor<Autodiff<B, C>>, E) {
    let (inner, nodes): (Vec<_>, Vec<_>) = inputs.into_iter().map(|t| t.into_parts()).unzip();
    let inner: [FloatTensor<B>; N] = inner.try_into().unwrap_or_else(|_| unreachable!());
    let nodes = nodes.try_into().unwrap_or_else(|_| unreachable!());
    match step.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let kept: [FloatTensor<B>; K] = std::array::from_fn(|i| inner[i].clone());
            let (y, extra) = run(inner);
            let state = keep(kept, &y, &extra);
            (prep.finish(state, y), extra)
        }
        OpsKind::UnTracked(prep) => {
            let (y, extra) = run(inner);
            (prep.finish(y), extra)
        }
    }
}

/// One backward step of a layer `(x, w, bias)`: the output's gradient and the step's state
/// go to `compute`, which returns the gradients of those `needed`; each is registered with
/// its input.
pub(crate) fn backward<B: Backend, S>(
    ops: Ops<S, 3>,
    grads: &mut Gradients,
    compute: impl FnOnce(S, FloatTensor<B>, Needed) -> [Option<FloatTensor<B>>; 3],
) {
    backward_n::<B, S, 3>(ops, grads, |state, dy, [x, w, bias]| {
        compute(state, dy, Needed { x, w, bias })
    });
}

/// [`backward`] for an operation of `N` inputs: `needed[i]` says whether input `i` takes part
/// in the graph.
pub(crate) fn backward_n<B: Backend, S, const N: usize>(
    ops: Ops<S, N>,
    grads: &mut Gradients,
    compute: impl FnOnce(S, FloatTensor<B>, [bool; N]) -> [Option<FloatTensor<B>>; N],
) {
    let dy = grads.consume::<B>(&ops.node);
    let needed = ops.parents.each_ref().map(Option::is_some);
    let computed = compute(ops.state, dy, needed);
    for (parent, grad) in ops.parents.into_iter().zip(computed) {
        if let (Some(node), Some(grad)) = (parent, grad) {
            grads.register::<B>(node.id, grad);
        }
    }
}
