//! Recurrent cells (Elman RNN, LSTM, GRU) in PyTorch's formulation, run over a sequence.
//!
//! Where `kiln_kernels::recurrent` has a fused layer (flex; libtorch with `tch`), a cell
//! projects every step's input with one matrix product over the whole sequence and hands it
//! the recurrence: one operation per layer and direction, with a handwritten backward pass
//! through time. Elsewhere it runs the same equations as burn operations step by step,
//! projecting each step's input as it goes (cheaper there than slicing the projection). kiln runs its own cells rather than burn's
//! `Rnn`/`Lstm`/`Gru`, whose backward pass costs O(T^2): they slice every step out of the
//! whole input and assign every output into a whole-sequence tensor
//! (`examples/recurrent_speed.rs` measures it).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use kiln_kernels::recurrent::{self, Inputs, Kind};
use serde::{Deserialize, Serialize};

use crate::kernels;

/// The recurrent cell; in serialised form it is the model's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// Elman RNN with tanh.
    Rnn,
    Lstm,
    Gru,
}

impl CellKind {
    fn kernel(self) -> Kind {
        match self {
            CellKind::Rnn => Kind::Rnn,
            CellKind::Lstm => Kind::Lstm,
            CellKind::Gru => Kind::Gru,
        }
    }

    /// Gate blocks in the stacked weights: PyTorch's order, `[i, f, g, o]` for the LSTM and
    /// `[r, z, n]` for the GRU.
    fn gates(self) -> usize {
        self.kernel().gates()
    }
}

/// One direction of one layer: `input` maps a step's features to all gates (with the bias),
/// `hidden` maps the previous state to all gates (with a second bias, as PyTorch has).
#[derive(Module, Debug)]
pub struct Cell {
    pub input: Linear,
    pub hidden: Linear,
    #[module(skip)]
    kind: CellKind,
    d_hidden: usize,
}

impl Cell {
    /// Weights uniform in `±1/sqrt(d_hidden)`, PyTorch's initialisation for its cells.
    pub fn new(kind: CellKind, d_input: usize, d_hidden: usize, device: &Device) -> Self {
        let bound = 1.0 / (d_hidden as f64).sqrt();
        let init = burn::nn::Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        let linear = |d_in: usize| {
            LinearConfig::new(d_in, kind.gates() * d_hidden)
                .with_initializer(init.clone())
                .init(device)
        };
        Self {
            input: linear(d_input),
            hidden: linear(d_hidden),
            kind,
            d_hidden,
        }
    }

    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// `[batch, time, features]` to the state after every step `[batch, time, hidden]`,
    /// starting from zeros.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.run(x, None, false).outputs
    }

    /// As [`Cell::forward`], from `state` (zeros when `None`), also returning the state after
    /// the last step: a language model carries it from one window of text to the next.
    pub fn forward_from(&self, x: Tensor<3>, state: Option<CellState>) -> (Tensor<3>, CellState) {
        let s = self.run(x, state, true);
        (s.outputs, CellState { h: s.h, c: s.c })
    }

    /// The state to start from: `state`, or zeros.
    fn initial(&self, x: &Tensor<3>, state: Option<CellState>) -> CellState {
        state.unwrap_or_else(|| {
            let zeros = Tensor::<2>::zeros([x.dims()[0], self.d_hidden], &x.device());
            CellState {
                h: zeros.clone(),
                c: zeros,
            }
        })
    }

    /// The recurrent weights `[hidden, gates * hidden]` and their bias.
    fn recurrence(&self, device: &Device) -> (Tensor<2>, Tensor<1>) {
        let bias = match &self.hidden.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([self.kind.gates() * self.d_hidden], device),
        };
        (self.hidden.weight.val(), bias)
    }

    /// The inputs of the recurrence: every step's input projection at once, and the state.
    pub fn inputs(&self, x: Tensor<3>, state: Option<CellState>) -> Inputs {
        let [batch, time, features] = x.dims();
        let gh = self.kind.gates() * self.d_hidden;
        let CellState { h, c } = self.initial(&x, state);
        let (w, bias) = self.recurrence(&x.device());
        let xp = kernels::linear(&self.input, x.reshape([batch * time, features]))
            .reshape([batch, time, gh]);
        Inputs {
            kind: self.kind.kernel(),
            xp,
            w,
            bias,
            h0: h,
            c0: c,
        }
    }

    fn run(
        &self,
        x: Tensor<3>,
        state: Option<CellState>,
        final_state: bool,
    ) -> recurrent::Sequence {
        match recurrent::path_on(&x.device(), x.dtype()) {
            recurrent::Path::Fused => recurrent::sequence(self.inputs(x, state), final_state),
            recurrent::Path::Composed => {
                let CellState { h, c } = self.initial(&x, state);
                let (w, bias) = self.recurrence(&x.device());
                let xs = recurrent::steps(x)
                    .into_iter()
                    .map(|step| self.input.forward(step));
                recurrent::composed_steps(self.kind.kernel(), xs, w, bias, h, c)
            }
        }
    }
}

/// A cell's state between steps: `h` `[batch, hidden]`, and the LSTM's memory `c` (zeros,
/// unused, for the RNN and GRU).
#[derive(Debug, Clone)]
pub struct CellState {
    pub h: Tensor<2>,
    pub c: Tensor<2>,
}

impl CellState {
    /// The same state cut off from the graph that made it, so that backpropagation through
    /// time stops at the window's edge.
    pub fn detach(self) -> Self {
        Self {
            h: self.h.detach(),
            c: self.c.detach(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::{GruConfig, LstmConfig, RnnConfig};
    use burn::tensor::Distribution;

    fn close(a: Tensor<3>, b: Tensor<3>) {
        let a = a.into_data().try_into_vec_as::<f32>().unwrap();
        let b = b.into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    /// Columns `[k * h, (k + 1) * h)` of a `[d, gates * h]` weight (burn's row layout).
    fn block(w: &Tensor<2>, k: usize, h: usize) -> Tensor<2> {
        let [d, _] = w.dims();
        w.clone().slice([0..d, k * h..(k + 1) * h])
    }

    fn block1(b: &Tensor<1>, k: usize, h: usize) -> Tensor<1> {
        b.clone().slice(k * h..(k + 1) * h)
    }

    fn set(linear: &mut Linear, w: Tensor<2>, b: Tensor<1>) {
        linear.weight = Param::from_tensor(w);
        linear.bias = Some(Param::from_tensor(b));
    }

    /// The same weights in burn's cells give the same outputs: the formulas are PyTorch's,
    /// which burn's cells also implement.
    #[test]
    fn cells_match_burns_with_the_same_weights() {
        let device = Device::flex();
        device.seed(1);
        let (d, h) = (3, 4);
        let x = Tensor::<3>::random([2, 7, d], Distribution::Normal(0.0, 1.0), &device);
        for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            let cell = Cell::new(kind, d, h, &device);
            let wi = cell.input.weight.val();
            let wh = cell.hidden.weight.val();
            let bi = cell.input.bias.as_ref().unwrap().val();
            let bh = cell.hidden.bias.as_ref().unwrap().val();
            let gate = |g: &mut burn::nn::GateController, k: usize| {
                set(&mut g.input_transform, block(&wi, k, h), block1(&bi, k, h));
                set(&mut g.hidden_transform, block(&wh, k, h), block1(&bh, k, h));
            };
            let theirs = match kind {
                CellKind::Rnn => {
                    let mut m = RnnConfig::new(d, h, true).init(&device);
                    gate(&mut m.gate, 0);
                    m.forward(x.clone(), None).0
                }
                CellKind::Lstm => {
                    let mut m = LstmConfig::new(d, h, true).init(&device);
                    gate(&mut m.input_gate, 0);
                    gate(m.forget_gate.as_mut().unwrap(), 1);
                    gate(&mut m.cell_gate, 2);
                    gate(&mut m.output_gate, 3);
                    m.forward(x.clone(), None).0
                }
                CellKind::Gru => {
                    let mut m = GruConfig::new(d, h, true).init(&device);
                    gate(&mut m.reset_gate, 0);
                    gate(&mut m.update_gate, 1);
                    gate(&mut m.new_gate, 2);
                    m.forward(x.clone(), None)
                }
            };
            close(cell.forward(x.clone()), theirs);
        }
    }
}
