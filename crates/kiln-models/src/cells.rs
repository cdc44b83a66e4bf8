//! Recurrent cells (Elman RNN, LSTM, GRU) in PyTorch's formulation, stepped over a sequence.
//!
//! kiln runs its own cells rather than burn's `Rnn`/`Lstm`/`Gru` because of a measurement
//! (`examples/recurrent_speed.rs`, one training step of an LSTM-128 on 64 sequences): burn's
//! LSTM slices every step out of the whole input and assigns every output into a whole-sequence
//! tensor, and each of those costs a full-size tensor in the backward pass, O(T^2) in all.
//! At 200 steps that made burn's 250 samples/s against 290 here; at 400 steps 83-96 against
//! 136-143. These cells project each step with one matmul for the input and one for the state,
//! slice the steps out through blocks of about sqrt(T), and stack the outputs once.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

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
    /// Gate blocks in the stacked weights: PyTorch's order, `[i, f, g, o]` for the LSTM and
    /// `[r, z, n]` for the GRU.
    fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
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
        self.forward_from(x, None).0
    }

    /// As [`Cell::forward`], from `state` (zeros when `None`), also returning the state after
    /// the last step: a language model carries it from one window of text to the next.
    pub fn forward_from(&self, x: Tensor<3>, state: Option<CellState>) -> (Tensor<3>, CellState) {
        let [batch, _, _] = x.dims();
        let CellState { mut h, mut c } = state.unwrap_or_else(|| {
            let zeros = Tensor::<2>::zeros([batch, self.d_hidden], &x.device());
            CellState {
                h: zeros.clone(),
                c: zeros,
            }
        });
        let mut out = Vec::new();
        for x_t in steps(x) {
            let xp = self.input.forward(x_t);
            let hp = self.hidden.forward(h.clone());
            h = match self.kind {
                CellKind::Rnn => (xp + hp).tanh(),
                CellKind::Lstm => {
                    let [i, f, g, o]: [Tensor<2>; 4] =
                        (xp + hp).chunk(4, 1).try_into().expect("four gates");
                    c = sigmoid(f) * c + sigmoid(i) * g.tanh();
                    sigmoid(o) * c.clone().tanh()
                }
                CellKind::Gru => {
                    let [xr, xz, xn]: [Tensor<2>; 3] = xp.chunk(3, 1).try_into().expect("3 gates");
                    let [hr, hz, hn]: [Tensor<2>; 3] = hp.chunk(3, 1).try_into().expect("3 gates");
                    let r = sigmoid(xr + hr);
                    let z = sigmoid(xz + hz);
                    let n = (xn + r * hn).tanh();
                    // h' = (1 - z) * n + z * h
                    n.clone() + z * (h - n)
                }
            };
            out.push(h.clone());
        }
        (Tensor::stack(out, 1), CellState { h, c })
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

/// `[B, T, F]` as T tensors `[B, F]`, sliced through blocks of about sqrt(T) steps, so that
/// the backward pass writes O(T^1.5) zeros instead of O(T^2).
fn steps(x: Tensor<3>) -> Vec<Tensor<2>> {
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
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::{GruConfig, LstmConfig, RnnConfig};
    use burn::tensor::{Distribution, TensorData};

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

    #[test]
    fn blocked_steps_are_the_sequence_in_order() {
        let device = Device::flex();
        for t in [1, 2, 5, 16, 17] {
            let values: Vec<f32> = (0..2 * t).map(|v| v as f32).collect();
            let x = Tensor::<3>::from_data(TensorData::new(values, [1, t, 2]), &device);
            let got: Vec<f32> = steps(x)
                .into_iter()
                .flat_map(|s| s.into_data().try_into_vec_as::<f32>().unwrap())
                .collect();
            assert_eq!(got, (0..2 * t).map(|v| v as f32).collect::<Vec<_>>());
        }
    }
}
