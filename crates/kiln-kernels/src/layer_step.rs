//! What the autodiff steps of the layers with an input, a weight and a bias share: recording
//! the forward pass with what its backward pass keeps, which of the three inputs take part in
//! the graph, and handing the gradients computed for them back.

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
    [x, w, b]: [FloatTensor<Autodiff<B, C>>; 3],
    keep: impl FnOnce(FloatTensor<B>, FloatTensor<B>, &FloatTensor<B>, &E) -> S::State,
    run: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> (FloatTensor<B>, E),
) -> (FloatTensor<Autodiff<B, C>>, E) {
    let (x, x_node) = x.into_parts();
    let (w, w_node) = w.into_parts();
    let (b, b_node) = b.into_parts();
    match step
        .prepare::<C>([x_node, w_node, b_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (y, extra) = run(x.clone(), w.clone(), b);
            let state = keep(x, w, &y, &extra);
            (prep.finish(state, y), extra)
        }
        OpsKind::UnTracked(prep) => {
            let (y, extra) = run(x, w, b);
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
    let dy = grads.consume::<B>(&ops.node);
    let [px, pw, pb] = &ops.parents;
    let needed = Needed {
        x: px.is_some(),
        w: pw.is_some(),
        bias: pb.is_some(),
    };
    let computed = compute(ops.state, dy, needed);
    for (parent, grad) in ops.parents.into_iter().zip(computed) {
        if let (Some(node), Some(grad)) = (parent, grad) {
            grads.register::<B>(node.id, grad);
        }
    }
}
