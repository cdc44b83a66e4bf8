//! What the autodiff steps of the layers with an input, a weight and a bias share: which of
//! the three take part in the graph, and handing the gradients computed for them back.

use burn::backend::Backend;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::Ops;
use burn::backend::tensor::FloatTensor;

/// Which gradients a backward pass computes: those of inputs that take part in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    pub x: bool,
    pub w: bool,
    pub bias: bool,
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
