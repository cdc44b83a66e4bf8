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
    [x, w, b]: [FloatTensor<Autodiff<B, C>>; 3],
    keep: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> S::State,
    run: impl Fn(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let (x, x_node) = x.into_parts();
    let (w, w_node) = w.into_parts();
    let (b, b_node) = b.into_parts();
    match step
        .prepare::<C>([x_node, w_node, b_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = run(x.clone(), w.clone(), b);
            prep.finish(keep(x, w), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(run(x, w, b)),
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
