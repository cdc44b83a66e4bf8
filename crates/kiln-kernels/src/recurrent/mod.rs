//! One recurrent layer and direction over a whole sequence, as one operation.
//!
//! [`sequence`] is what models call. On flex it runs the fused operation of
//! `extension.rs` (one autodiff node per layer, a handwritten backward pass through time,
//! `cpu.rs`); on other backends it runs [`composed`], the same equations as burn tensor
//! operations stepped over time, which is also the reference the fused one is tested against.

mod cpu;
mod extension;
#[cfg(any(test, feature = "tch"))]
mod primitive;

use burn::tensor::activation::sigmoid;
use burn::tensor::{DType, Device, Tensor};

pub use cpu::Kind;
pub use extension::RecurrentBackend;

/// A layer's output: the state after every step, and the final state.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// `[batch, time, hidden]`.
    pub outputs: Tensor<3>,
    /// `[batch, hidden]`: the output after the last step (`h0` for an empty sequence).
    pub h: Tensor<2>,
    /// `[batch, hidden]`: the LSTM's cell state after the last step; `c0` for the others.
    pub c: Tensor<2>,
}

/// The inputs of one layer and direction.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub kind: Kind,
    /// `[batch, time, gates * hidden]`: every step's input projection, its bias included.
    pub xp: Tensor<3>,
    /// `[hidden, gates * hidden]`, applied as `h @ w` (burn's `Linear` layout).
    pub w: Tensor<2>,
    /// `[gates * hidden]`.
    pub bias: Tensor<1>,
    /// `[batch, hidden]` initial states.
    pub h0: Tensor<2>,
    pub c0: Tensor<2>,
}

pub use crate::Path;

/// Which path [`sequence`] takes for these inputs (see [`path_on`]).
pub fn path(inputs: &Inputs) -> Path {
    path_on(&inputs.xp.device(), inputs.xp.dtype())
}

/// Fused where kiln has a kernel for the backend (flex in 32-bit floats; libtorch, built with
/// `tch`, through its own operations), composed elsewhere.
pub fn path_on(device: &Device, dtype: DType) -> Path {
    match crate::backend_of(device) {
        Some(crate::KernelBackend::Flex) if dtype == DType::F32 => Path::Fused,
        #[cfg(feature = "tch")]
        Some(crate::KernelBackend::LibTorch) => Path::Fused,
        _ => Path::Composed,
    }
}

/// Runs the layer over the sequence, fused where the backend allows (see [`path`]).
/// `final_state` asks for `h` and `c` to be usable (the LSTM's `c` costs one more output row
/// per sequence, so classifiers that only pool the outputs leave it off).
pub fn sequence(inputs: Inputs, final_state: bool) -> Sequence {
    match path(&inputs) {
        Path::Fused => extension::fused(inputs, final_state),
        Path::Composed => composed(inputs),
    }
}

/// The layer as burn operations, one step at a time: what [`sequence`] computes, on any
/// backend.
pub fn composed(inputs: Inputs) -> Sequence {
    let Inputs {
        kind,
        xp,
        w,
        bias,
        h0,
        c0,
    } = inputs;
    composed_steps(kind, steps(xp), w, bias, h0, c0)
}

/// [`composed`] over the steps' input projections given one by one (`[batch, gates *
/// hidden]` each). Where the layer runs composed, slicing the input `[B, T, F]` and projecting
/// each step costs less than slicing the projection: slicing's backward pass writes zeros the
/// size of what was sliced, `gates * hidden` wide instead of `F`.
pub fn composed_steps(
    kind: Kind,
    xs: impl IntoIterator<Item = Tensor<2>>,
    w: Tensor<2>,
    bias: Tensor<1>,
    mut h0: Tensor<2>,
    mut c0: Tensor<2>,
) -> Sequence {
    let bias = bias.unsqueeze_dim::<2>(0);
    let mut out = Vec::new();
    for x in xs {
        let p = h0.clone().matmul(w.clone()) + bias.clone();
        h0 = match kind {
            Kind::Rnn => (x + p).tanh(),
            Kind::Lstm => {
                let [i, f, g, o]: [Tensor<2>; 4] =
                    (x + p).chunk(4, 1).try_into().expect("four gates");
                c0 = sigmoid(f) * c0 + sigmoid(i) * g.tanh();
                sigmoid(o) * c0.clone().tanh()
            }
            Kind::Gru => {
                let [xr, xz, xn]: [Tensor<2>; 3] = x.chunk(3, 1).try_into().expect("3 gates");
                let [pr, pz, pn]: [Tensor<2>; 3] = p.chunk(3, 1).try_into().expect("3 gates");
                let r = sigmoid(xr + pr);
                let z = sigmoid(xz + pz);
                let n = (xn + r * pn).tanh();
                // h' = (1 - z) * n + z * h
                n.clone() + z * (h0 - n)
            }
        };
        out.push(h0.clone());
    }
    let outputs = if out.is_empty() {
        let [batch, hidden] = h0.dims();
        Tensor::zeros([batch, 0, hidden], &h0.device())
    } else {
        Tensor::stack(out, 1)
    };
    Sequence {
        outputs,
        h: h0,
        c: c0,
    }
}

/// `[B, T, F]` as T tensors `[B, F]`, sliced through blocks of about sqrt(T) steps, so that
/// the backward pass writes O(T^1.5) zeros instead of O(T^2).
pub fn steps(x: Tensor<3>) -> Vec<Tensor<2>> {
    let [b, t, _] = x.dims();
    let block = (t as f64).sqrt().ceil().max(1.0) as usize;
    let mut out = Vec::with_capacity(t);
    for start in (0..t).step_by(block) {
        let end = (start + block).min(t);
        let chunk = x.clone().slice([0..b, start..end]);
        for i in 0..end - start {
            out.push(chunk.clone().slice([0..b, i..i + 1]).squeeze_dim::<2>(1));
        }
    }
    out
}

#[cfg(test)]
mod tests;
