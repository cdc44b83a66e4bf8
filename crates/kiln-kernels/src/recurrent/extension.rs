//! The fused recurrent layer as a burn backend extension: a `recurrent` operation routed to
//! flex's kernel, and an autodiff implementation whose backward pass is the kernel's
//! handwritten backpropagation through time, so a whole sequence is one graph node.

// burn 0.22 deprecates its libtorch backend in favour of CubeCL's; kiln keeps tch (see
// kiln-runner's backend.rs), and the routing the macro writes for it names the type.
#![cfg_attr(feature = "tch", allow(deprecated))]

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::cpu::{self, Dims, Kind};
use super::{Inputs, Sequence};
use crate::flex::{contiguous, owned, tensor, values};

/// One layer and direction over a whole sequence. `out` is `[B, T, H]`, or `[B, T + 1, H]`
/// with the final cell state as step `T` when `final_cell`.
#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait RecurrentBackend: Backend {
    fn recurrent(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        kind: Kind,
        final_cell: bool,
    ) -> FloatTensor<Self>;
}

/// What a backend needs to train the fused layer: a forward pass that can keep what the
/// backward pass reads, and that backward pass.
pub trait RecurrentKernels: Backend {
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    #[allow(clippy::too_many_arguments)]
    fn recurrent_forward(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        kind: Kind,
        final_cell: bool,
        save: bool,
    ) -> (FloatTensor<Self>, Option<Self::Saved>);

    /// Gradients of `xp, w, bias, h0, c0` from the gradient of the output.
    fn recurrent_backward(saved: Self::Saved, dout: FloatTensor<Self>) -> [FloatTensor<Self>; 5];
}

/// Runs [`RecurrentBackend::recurrent`] on the high-level tensors.
pub(super) fn fused(inputs: Inputs, final_state: bool) -> Sequence {
    let Inputs {
        kind,
        xp,
        w,
        bias,
        h0,
        c0,
    } = inputs;
    let [batch, time, _] = xp.dims();
    let [_, hidden] = h0.dims();
    let final_cell = final_state && kind == Kind::Lstm;
    let out = Tensor::<3>::from_dispatch(<burn::backend::Dispatch as RecurrentBackend>::recurrent(
        xp.into_dispatch(),
        w.into_dispatch(),
        bias.into_dispatch(),
        h0.clone().into_dispatch(),
        c0.clone().into_dispatch(),
        kind,
        final_cell,
    ));
    let outputs = if final_cell {
        out.clone().slice([0..batch, 0..time])
    } else {
        out.clone()
    };
    let h = if time == 0 {
        h0
    } else {
        outputs
            .clone()
            .slice([0..batch, time - 1..time])
            .reshape([batch, hidden])
    };
    let c = if final_cell {
        out.slice([0..batch, time..time + 1])
            .reshape([batch, hidden])
    } else {
        c0
    };
    Sequence { outputs, h, c }
}

/// The sizes, the read-only inputs that the backward pass needs again, and what the forward
/// pass kept.
#[derive(Debug)]
pub struct FlexSaved {
    dims: Dims,
    final_cell: bool,
    w: FlexTensor,
    h0: FlexTensor,
    c0: FlexTensor,
    out: FlexTensor,
    gates: Vec<f32>,
    aux: Vec<f32>,
}

fn dims(xp: &FlexTensor, h0: &FlexTensor, kind: Kind) -> Dims {
    let xs = xp.layout().shape();
    let hs = h0.layout().shape();
    let d = Dims {
        kind,
        batch: xs[0],
        time: xs[1],
        hidden: hs[1],
    };
    assert_eq!(
        xs[2],
        kind.gates() * d.hidden,
        "recurrent: xp has {} features, {kind:?} with hidden {} needs {}",
        xs[2],
        d.hidden,
        kind.gates() * d.hidden
    );
    d
}

impl RecurrentKernels for Flex {
    type Saved = Arc<FlexSaved>;

    fn recurrent_forward(
        xp: FlexTensor,
        w: FlexTensor,
        bias: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        kind: Kind,
        final_cell: bool,
        save: bool,
    ) -> (FlexTensor, Option<Self::Saved>) {
        let d = dims(&xp, &h0, kind);
        let [w, bias, h0, c0] = [w, bias, h0, c0].map(contiguous);
        let fwd = cpu::forward(
            d,
            owned(xp),
            values(&w),
            values(&bias),
            values(&h0),
            values(&c0),
            save,
            final_cell,
        );
        let shape = [d.batch, d.time + usize::from(final_cell), d.hidden];
        let out = tensor(fwd.out, shape);
        let saved = save.then(|| {
            Arc::new(FlexSaved {
                dims: d,
                final_cell,
                w,
                h0,
                c0,
                out: out.clone(),
                gates: fwd.gates,
                aux: fwd.aux,
            })
        });
        (out, saved)
    }

    fn recurrent_backward(saved: Self::Saved, dout: FlexTensor) -> [FlexTensor; 5] {
        // The gate buffer becomes the gradient: ours to overwrite unless the state was shared.
        let s = Arc::try_unwrap(saved).unwrap_or_else(|shared| FlexSaved {
            w: shared.w.clone(),
            h0: shared.h0.clone(),
            c0: shared.c0.clone(),
            out: shared.out.clone(),
            gates: shared.gates.clone(),
            aux: shared.aux.clone(),
            ..*shared
        });
        let d = s.dims;
        let gh = d.kind.gates() * d.hidden;
        let dout = contiguous(dout);
        let g = cpu::backward(
            d,
            values(&s.w),
            values(&s.h0),
            values(&s.c0),
            values(&s.out),
            s.gates,
            &s.aux,
            values(&dout),
            s.final_cell,
        );
        [
            tensor(g.xp, [d.batch, d.time, gh]),
            tensor(g.w, [d.hidden, gh]),
            tensor(g.bias, [gh]),
            tensor(g.h0, [d.batch, d.hidden]),
            tensor(g.c0, [d.batch, d.hidden]),
        ]
    }
}

impl RecurrentBackend for Flex {
    fn recurrent(
        xp: FlexTensor,
        w: FlexTensor,
        bias: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        kind: Kind,
        final_cell: bool,
    ) -> FlexTensor {
        Self::recurrent_forward(xp, w, bias, h0, c0, kind, final_cell, false).0
    }
}

#[derive(Debug)]
struct RecurrentStep;

impl<B: RecurrentKernels> Backward<B, 5> for RecurrentStep {
    type State = B::Saved;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = grads.consume::<B>(&ops.node);
        let computed = B::recurrent_backward(ops.state, dout);
        for (parent, grad) in ops.parents.into_iter().zip(computed) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: RecurrentKernels, C: CheckpointStrategy> RecurrentBackend for Autodiff<B, C> {
    fn recurrent(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        kind: Kind,
        final_cell: bool,
    ) -> FloatTensor<Self> {
        let (xp, xp_node) = xp.into_parts();
        let (w, w_node) = w.into_parts();
        let (bias, bias_node) = bias.into_parts();
        let (h0, h0_node) = h0.into_parts();
        let (c0, c0_node) = c0.into_parts();
        match RecurrentStep
            .prepare::<C>([xp_node, w_node, bias_node, h0_node, c0_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, saved) =
                    B::recurrent_forward(xp, w, bias, h0, c0, kind, final_cell, true);
                prep.finish(saved.expect("kept for the backward pass"), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::recurrent_forward(xp, w, bias, h0, c0, kind, final_cell, false).0)
            }
        }
    }
}

/// libtorch runs the layer through its own operations, one per step and gate, with this
/// crate's backward pass instead of autodiff's graph of them (`primitive.rs`).
#[cfg(feature = "tch")]
mod libtorch {
    use burn::backend::LibTorch;
    use burn::backend::tensor::FloatTensor;

    use super::super::primitive;
    use super::{Kind, RecurrentBackend, RecurrentKernels};

    type T = FloatTensor<LibTorch>;

    impl RecurrentKernels for LibTorch {
        type Saved = primitive::Saved<LibTorch>;

        fn recurrent_forward(
            xp: T,
            w: T,
            bias: T,
            h0: T,
            c0: T,
            kind: Kind,
            final_cell: bool,
            save: bool,
        ) -> (T, Option<Self::Saved>) {
            primitive::forward::<LibTorch>(xp, w, bias, h0, c0, kind, final_cell, save)
        }

        fn recurrent_backward(saved: Self::Saved, dout: T) -> [T; 5] {
            primitive::backward::<LibTorch>(saved, dout)
        }
    }

    impl RecurrentBackend for LibTorch {
        fn recurrent(xp: T, w: T, bias: T, h0: T, c0: T, kind: Kind, final_cell: bool) -> T {
            Self::recurrent_forward(xp, w, bias, h0, c0, kind, final_cell, false).0
        }
    }
}
