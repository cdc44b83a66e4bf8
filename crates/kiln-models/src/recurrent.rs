//! Text classifiers: an embedding, a stack of recurrent layers (plain RNN, LSTM or GRU, each
//! optionally bidirectional), a pooling over time and a dense head.
//!
//! Batches are padded at the end, and nothing a model outputs depends on that padding: the
//! forward direction never reads past a sequence's last real token before it is pooled, the
//! backward direction reads each sequence reversed within its own length, and mean and max
//! pooling only see real positions. So a padded and an unpadded copy of a sequence give the
//! same logits.
//!
//! The cells are kiln's own (`cells.rs` says why: burn's are O(T^2) in the backward pass).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::cells::{Cell, CellKind};
use crate::invalid::{check_dropout, check_positive};
use crate::kernels;
use crate::mlp::DenseBlock;
use crate::pytorch::{self, Twin, TwinBuilder};
use crate::{ActivationKind, Invalid};

/// How the per-step outputs of the last layer become one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The state after the last real token (for the backward direction, after the first).
    #[default]
    Last,
    /// The mean over real positions.
    Mean,
    /// The element-wise maximum over real positions.
    Max,
}

fn default_embedding() -> usize {
    128
}
fn default_hidden() -> usize {
    128
}
fn default_layers() -> usize {
    1
}

/// An embedding, `layers` recurrent layers of `hidden` units, pooling, then a dense head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentConfig {
    #[serde(default = "default_embedding")]
    pub embedding_dim: usize,
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    #[serde(default = "default_layers")]
    pub layers: usize,
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout between recurrent layers and on the pooled vector (PyTorch's LSTM `dropout`
    /// plus the tutorial's dropout before the classifier).
    #[serde(default)]
    pub dropout: f64,
    /// Dropout on the embedded tokens.
    #[serde(default)]
    pub embedding_dropout: f64,
    #[serde(default)]
    pub pooling: Pooling,
    /// Sizes of hidden dense layers between the pooled vector and the output.
    #[serde(default)]
    pub head: Vec<usize>,
    #[serde(default)]
    pub head_activation: ActivationKind,
    /// Keep the embedding fixed (useful with pre-trained vectors).
    #[serde(default)]
    pub freeze_embedding: bool,
}

impl RecurrentConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_positive(&[
            ("embedding_dim", self.embedding_dim),
            ("hidden", self.hidden),
            ("layers", self.layers),
        ])?;
        if let Some(i) = self.head.iter().position(|&h| h == 0) {
            return Err(Invalid::new(
                format!("head[{i}]"),
                "layer sizes must be at least 1",
            ));
        }
        check_dropout("dropout", self.dropout)?;
        check_dropout("embedding_dropout", self.embedding_dropout)
    }

    pub fn init(
        &self,
        cell: CellKind,
        vocab_size: usize,
        classes: usize,
        device: &Device,
    ) -> RecurrentClassifier {
        let directions = if self.bidirectional { 2 } else { 1 };
        let build = |d_input: usize| Cell::new(cell, d_input, self.hidden, device);
        let layers = (0..self.layers)
            .map(|i| {
                let d_input = if i == 0 {
                    self.embedding_dim
                } else {
                    self.hidden * directions
                };
                Layer {
                    forward: build(d_input),
                    backward: self.bidirectional.then(|| build(d_input)),
                }
            })
            .collect();
        let mut sizes = vec![self.hidden * directions];
        sizes.extend(&self.head);
        let head = sizes
            .windows(2)
            .map(|w| {
                DenseBlock::new(
                    w[0],
                    w[1],
                    false,
                    self.head_activation,
                    self.dropout,
                    device,
                )
            })
            .collect();
        let mut embedding = EmbeddingConfig::new(vocab_size, self.embedding_dim).init(device);
        if self.freeze_embedding {
            embedding.weight = embedding.weight.set_require_grad(false);
        }
        RecurrentClassifier {
            embedding,
            embedding_dropout: DropoutConfig::new(self.embedding_dropout).init(),
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            head,
            output: LinearConfig::new(*sizes.last().expect("pooled size"), classes).init(device),
            pooling: self.pooling,
            hidden: self.hidden,
        }
    }
}

#[derive(Module, Debug)]
struct Layer {
    forward: Cell,
    backward: Option<Cell>,
}

#[derive(Module, Debug)]
pub struct RecurrentClassifier {
    embedding: Embedding,
    embedding_dropout: Dropout,
    layers: Vec<Layer>,
    dropout: Dropout,
    head: Vec<DenseBlock>,
    output: Linear,
    #[module(skip)]
    pooling: Pooling,
    hidden: usize,
}

/// `[batch, time]`: position `t` of each sequence reversed within its own length; padding
/// positions map to themselves, so reversing twice is the identity.
fn reversed_positions(lengths: &[usize], time: usize, device: &Device) -> Tensor<2, Int> {
    let index: Vec<i64> = lengths
        .iter()
        .flat_map(|&len| (0..time).map(move |t| if t < len { len - 1 - t } else { t } as i64))
        .collect();
    Tensor::from_data(TensorData::new(index, [lengths.len(), time]), device)
}

/// `[batch, 1]`: each sequence's last real position.
fn last_positions(lengths: &[usize], device: &Device) -> Tensor<2, Int> {
    let last: Vec<i64> = lengths.iter().map(|&l| l.max(1) as i64 - 1).collect();
    Tensor::from_data(TensorData::new(last, [lengths.len(), 1]), device)
}

/// `[batch, time, 1]`: 1 at real positions, 0 at padding.
fn real_mask(lengths: &[usize], time: usize, device: &Device) -> Tensor<3> {
    let mask: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..time).map(move |t| if t < len { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(mask, [lengths.len(), time, 1]), device)
}

/// `x[b, index[b, t], :]` for every `b, t`.
fn take_steps(x: Tensor<3>, index: &Tensor<2, Int>) -> Tensor<3> {
    let [batch, _, features] = x.dims();
    let [_, steps] = index.dims();
    let index = index
        .clone()
        .reshape([batch, steps, 1])
        .expand([batch, steps, features]);
    x.gather(1, index)
}

impl RecurrentClassifier {
    /// Token ids `[batch, time]` padded after each sequence's `lengths[b]` tokens to
    /// `[batch, classes]` logits.
    pub fn forward(&self, tokens: Tensor<2, Int>, lengths: &[usize]) -> Tensor<2> {
        let [batch, time] = tokens.dims();
        assert_eq!(lengths.len(), batch, "one length per sequence");
        let device = tokens.device();
        // Built only when a bidirectional layer needs it, once for all layers.
        let mut reversed_index: Option<Tensor<2, Int>> = None;
        let mut x = kernels::dropout(&self.embedding_dropout, self.embedding.forward(tokens));
        let mut backward_out = None;
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = kernels::dropout(&self.dropout, x);
            }
            let forward = layer.forward.forward(x.clone());
            x = match &layer.backward {
                None => forward,
                Some(cell) => {
                    let index = reversed_index
                        .get_or_insert_with(|| reversed_positions(lengths, time, &device));
                    let reversed = cell.forward(take_steps(x, index));
                    let backward = take_steps(reversed, index);
                    backward_out = Some(backward.clone());
                    Tensor::cat(vec![forward, backward], 2)
                }
            };
        }
        let pooled: Tensor<2> = match self.pooling {
            Pooling::Last => {
                let at_last = take_steps(x, &last_positions(lengths, &device)).squeeze_dim(1);
                match backward_out {
                    // The backward direction ends at position 0.
                    Some(backward) => {
                        let forward = at_last.slice([0..batch, 0..self.hidden]);
                        let first = backward.slice([0..batch, 0..1]).squeeze_dim(1);
                        Tensor::cat(vec![forward, first], 1)
                    }
                    None => at_last,
                }
            }
            Pooling::Mean => {
                let lens: Vec<f32> = lengths.iter().map(|&l| l.max(1) as f32).collect();
                let lens = Tensor::<1>::from_data(TensorData::new(lens, [batch]), &device);
                (x * real_mask(lengths, time, &device))
                    .sum_dim(1)
                    .squeeze_dim::<2>(1)
                    / lens.unsqueeze_dim(1)
            }
            Pooling::Max => {
                let padding = real_mask(lengths, time, &device).equal_elem(0.0);
                let [_, _, features] = x.dims();
                x.mask_fill(padding.expand([batch, time, features]), -1e9)
                    .max_dim(1)
                    .squeeze_dim(1)
            }
        };
        let x = kernels::dropout(&self.dropout, pooled);
        let x = self.head.iter().fold(x, |x, block| block.forward(x));
        kernels::linear(&self.output, x)
    }

    /// Replaces the embedding rows given in `rows` (vocabulary id -> vector), e.g. with
    /// pre-trained word vectors; other rows keep their random initialisation, and the padding
    /// row is zero. Returns an error if a vector's size is not the embedding's.
    pub fn set_embedding_rows(
        &mut self,
        rows: &[Option<Vec<f32>>],
        pad: usize,
    ) -> Result<(), Invalid> {
        let weight = self.embedding.weight.val();
        let [vocab, dim] = weight.dims();
        let device = weight.device();
        let mut values = weight
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float weights");
        for (id, row) in rows.iter().enumerate().take(vocab) {
            if let Some(vector) = row {
                if vector.len() != dim {
                    return Err(Invalid::new(
                        "embedding_dim",
                        format!(
                            "is {dim}, but the pre-trained vectors have {} values",
                            vector.len()
                        ),
                    ));
                }
                values[id * dim..(id + 1) * dim].copy_from_slice(vector);
            }
        }
        if pad < vocab {
            values[pad * dim..(pad + 1) * dim].fill(0.0);
        }
        let require_grad = self.embedding.weight.is_require_grad();
        self.embedding.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [vocab, dim]),
            &device,
        ))
        .set_require_grad(require_grad);
        Ok(())
    }

    pub fn embedding_weights(&self) -> Tensor<2> {
        self.embedding.weight.val()
    }

    /// `nn.Embedding`, one `nn.RNN`/`nn.LSTM`/`nn.GRU` (stacked, bidirectional, on packed
    /// sequences so that each direction sees only real tokens, as kiln's does), the pooling,
    /// and the head as an `nn.Sequential`.
    pub fn pytorch(&self) -> Result<Twin, Invalid> {
        let mut twin = TwinBuilder::default();
        let [vocab, dim] = self.embedding.weight.dims();
        twin.float("embedding.weight", self.embedding.weight.val());
        let kind = self.layers[0].forward.kind();
        let bidirectional = self.layers[0].backward.is_some();
        for (k, layer) in self.layers.iter().enumerate() {
            let cells = [Some(&layer.forward), layer.backward.as_ref()];
            for (cell, suffix) in cells.into_iter().zip(["", "_reverse"]) {
                let Some(cell) = cell else { continue };
                for (name, linear) in [("ih", &cell.input), ("hh", &cell.hidden)] {
                    twin.linear_as(
                        format!("rnn.weight_{name}_l{k}{suffix}"),
                        format!("rnn.bias_{name}_l{k}{suffix}"),
                        linear,
                    );
                }
            }
        }
        let mut head = vec![pytorch::dropout(&self.dropout)];
        for block in &self.head {
            block.pytorch("head", &mut head, &mut twin)?;
        }
        let output = twin.linear(&format!("head.{}", head.len()), &self.output);
        head.push(output);

        let rnn = match kind {
            CellKind::Rnn => "nn.RNN",
            CellKind::Lstm => "nn.LSTM",
            CellKind::Gru => "nn.GRU",
        };
        let layers = self.layers.len();
        let between = if layers > 1 {
            format!(", dropout={}", pytorch::python_float(self.dropout.prob))
        } else {
            String::new()
        };
        let h = self.hidden;
        let pooled = pooled_python(self.pooling, bidirectional, h);
        let mut s = String::new();
        s.push_str(&format!(
            "class Model(nn.Module):\n    \"\"\"A kiln {} classifier, exported by `kiln export`.\"\"\"\n\n",
            rnn.trim_start_matches("nn.")
        ));
        s.push_str("    def __init__(self):\n        super().__init__()\n");
        s.push_str(&format!(
            "        self.embedding = nn.Embedding({vocab}, {dim})\n"
        ));
        s.push_str(&format!(
            "        self.embedding_dropout = {}\n",
            pytorch::dropout(&self.embedding_dropout)
        ));
        s.push_str(&format!(
            "        self.rnn = {rnn}({dim}, {h}, num_layers={layers}, bidirectional={}, batch_first=True{between})\n",
            if bidirectional { "True" } else { "False" }
        ));
        s.push_str("        self.head = nn.Sequential(\n");
        for l in &head {
            s.push_str(&format!("            {l},\n"));
        }
        s.push_str("        )\n\n");
        s.push_str(
            "    def forward(self, ids, lengths):\n        \
             \"\"\"`[batch, time]` token ids, padded after each row's `lengths[b]` (at least 1) \
             real ones, to `[batch, classes]` logits.\"\"\"\n",
        );
        s.push_str("        lengths = lengths.to(device=ids.device, dtype=torch.long)\n");
        s.push_str("        time = ids.shape[1]\n");
        s.push_str("        x = self.embedding_dropout(self.embedding(ids))\n");
        s.push_str(
            "        packed = nn.utils.rnn.pack_padded_sequence(\n            \
             x, lengths.cpu(), batch_first=True, enforce_sorted=False\n        )\n",
        );
        s.push_str(
            "        out, _ = nn.utils.rnn.pad_packed_sequence(\n            \
             self.rnn(packed)[0], batch_first=True, total_length=time\n        )\n",
        );
        if self.pooling == Pooling::Max {
            s.push_str("        steps = torch.arange(time, device=ids.device).unsqueeze(0)\n");
        }
        s.push_str(&format!("        pooled = {pooled}\n"));
        s.push_str("        return self.head(pooled)\n");
        Ok(Twin {
            tensors: twin.tensors,
            source: s,
        })
    }
}

/// The PyTorch expression that pools the recurrent outputs `out` as kiln's `pooling` does.
fn pooled_python(pooling: Pooling, bidirectional: bool, h: usize) -> String {
    match (pooling, bidirectional) {
        (Pooling::Last, false) => {
            "out[torch.arange(len(ids), device=out.device), lengths - 1]".to_string()
        }
        // The backward direction ends at position 0.
        (Pooling::Last, true) => format!(
            "torch.cat([out[torch.arange(len(ids), device=out.device), lengths - 1, :{h}], \
             out[:, 0, {h}:]], 1)"
        ),
        (Pooling::Mean, _) => {
            "out.sum(1) / lengths.to(out.dtype).unsqueeze(1)  # padding is zero".to_string()
        }
        (Pooling::Max, _) => {
            "out.masked_fill((steps >= lengths.unsqueeze(1)).unsqueeze(2), -1e9).amax(1)"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bidirectional: bool, pooling: Pooling, layers: usize) -> RecurrentConfig {
        RecurrentConfig {
            embedding_dim: 6,
            hidden: 5,
            layers,
            bidirectional,
            dropout: 0.0,
            embedding_dropout: 0.0,
            pooling,
            head: vec![4],
            head_activation: ActivationKind::Relu,
            freeze_embedding: false,
        }
    }

    fn ids(rows: &[&[i64]], width: usize, device: &Device) -> Tensor<2, Int> {
        let mut data = Vec::new();
        for r in rows {
            data.extend_from_slice(r);
            data.extend(std::iter::repeat_n(0, width - r.len()));
        }
        Tensor::from_data(TensorData::new(data, [rows.len(), width]), device)
    }

    fn close(a: Tensor<2>, b: Tensor<2>) {
        let a = a.into_data().try_into_vec_as::<f32>().unwrap();
        let b = b.into_data().try_into_vec_as::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} != {b:?}");
        }
    }

    /// The property the module promises: padding never changes a sequence's logits, for every
    /// cell, direction, depth and pooling.
    #[test]
    fn padding_does_not_change_the_output() {
        let device = Device::flex();
        device.seed(11);
        let seq: &[i64] = &[3, 7, 2, 9, 4];
        let other: &[i64] = &[5, 1, 8, 6, 2, 7, 3, 9, 4];
        for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for bidirectional in [false, true] {
                for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
                    for layers in [1, 2] {
                        let m = config(bidirectional, pooling, layers).init(cell, 10, 2, &device);
                        let alone = m.forward(ids(&[seq], seq.len(), &device), &[seq.len()]);
                        let padded = m.forward(
                            ids(&[seq, other], other.len(), &device),
                            &[seq.len(), other.len()],
                        );
                        let what =
                            format!("{cell:?} bi={bidirectional} {pooling:?} layers={layers}");
                        assert_eq!(padded.dims(), [2, 2], "{what}");
                        close(alone, padded.slice([0..1, 0..2]));
                    }
                }
            }
        }
    }

    /// The fused recurrence (flex) against burn's composed cells, whole models: the logits and
    /// every parameter's gradient agree within 1e-5 for every cell, direction and depth, on a
    /// batch whose sequences are padded to different lengths.
    #[test]
    fn fused_and_composed_models_agree_with_every_gradient() {
        use burn::optim::GradientsParams;
        use kiln_kernels::recurrent::{Path, path_on};
        let device = Device::flex().autodiff();
        let rows: [&[i64]; 3] = [&[3, 7, 2, 9, 4], &[5, 1, 8, 6, 2, 7, 3, 9, 4], &[6]];
        let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
        let weights = Tensor::<2>::from_data(
            TensorData::new(vec![0.7f32, -1.3, 0.2, 1.1, -0.4, 0.9], [3, 2]),
            &device,
        );
        let mut seed = 0;
        for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for bidirectional in [false, true] {
                for pooling in [Pooling::Last, Pooling::Mean] {
                    for layers in [1, 2] {
                        seed += 1;
                        device.seed(seed);
                        let m = config(bidirectional, pooling, layers).init(cell, 10, 2, &device);
                        let run = || {
                            let logits = m.forward(ids(&rows, 9, &device), &lengths);
                            let loss = (logits.clone() * weights.clone()).sum();
                            let grads = GradientsParams::from_grads(loss.backward(), &m);
                            let got: Vec<Vec<f32>> = crate::testing::gradients(&grads, &m)
                                .into_iter()
                                .map(|g| g.expect("every parameter has a gradient"))
                                .collect();
                            let logits = logits
                                .into_data()
                                .convert::<f32>()
                                .try_to_vec::<f32>()
                                .unwrap();
                            (logits, got)
                        };
                        assert_eq!(path_on(&device, burn::tensor::DType::F32), Path::Fused);
                        let fused = run();
                        let composed = kiln_kernels::without_kernels(|| {
                            assert_eq!(path_on(&device, burn::tensor::DType::F32), Path::Composed);
                            run()
                        });
                        let what =
                            format!("{cell:?} bi={bidirectional} {pooling:?} layers={layers}");
                        let all = |r: &(Vec<f32>, Vec<Vec<f32>>)| {
                            std::iter::once(r.0.clone())
                                .chain(r.1.clone())
                                .collect::<Vec<_>>()
                        };
                        let (a, b) = (all(&fused), all(&composed));
                        assert_eq!(a.len(), b.len(), "{what}");
                        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                            assert_eq!(x.len(), y.len(), "{what}: tensor {i}");
                            let diff = x
                                .iter()
                                .zip(y)
                                .map(|(p, q)| (p - q).abs())
                                .fold(0.0, f32::max);
                            assert!(
                                diff < 1e-5,
                                "{what}: tensor {i} (0 = logits) differs by {diff}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Bidirectional last-state pooling is order-sensitive in both directions: reversing the
    /// sequence changes the output (so the backward direction really reads it).
    #[test]
    fn the_backward_direction_sees_the_sequence() {
        let device = Device::flex();
        device.seed(5);
        // No ReLU layer in the head: with one, a draw whose units are all dead for both inputs
        // gives equal outputs. (flex's RNG is global, so tests running beside this one change
        // the draw.)
        let c = RecurrentConfig {
            head: Vec::new(),
            ..config(true, Pooling::Last, 1)
        };
        let m = c.init(CellKind::Lstm, 10, 2, &device);
        let a = m.forward(ids(&[&[1, 2, 3]], 3, &device), &[3]);
        let b = m.forward(ids(&[&[3, 2, 1]], 3, &device), &[3]);
        let diff = (a - b).abs().sum().into_scalar::<f32>();
        assert!(diff > 1e-4, "diff {diff}");
    }

    #[test]
    fn sizes_match_pytorch_formulas() {
        let device = Device::flex();
        // The PyTorch tutorial's BiLSTM: vocab 20k, embedding 100, 2 layers of 256 per
        // direction, linear to 2 classes. Like PyTorch, burn has two bias vectors per gate.
        let c = RecurrentConfig {
            embedding_dim: 100,
            hidden: 256,
            layers: 2,
            bidirectional: true,
            dropout: 0.5,
            embedding_dropout: 0.0,
            pooling: Pooling::Last,
            head: vec![],
            head_activation: ActivationKind::Relu,
            freeze_embedding: false,
        };
        let m = c.init(CellKind::Lstm, 20_000, 2, &device);
        let lstm = |i: usize, h: usize| 4 * (i * h + h * h + 2 * h);
        let pytorch = 20_000 * 100 + 2 * lstm(100, 256) + 2 * lstm(512, 256) + 512 * 2 + 2;
        assert_eq!(m.num_params(), pytorch);
    }

    #[test]
    fn pretrained_rows_replace_the_embedding_and_freezing_sticks() {
        let device = Device::flex();
        let mut c = config(false, Pooling::Mean, 1);
        c.freeze_embedding = true;
        let mut m = c.init(CellKind::Gru, 5, 2, &device);
        let v = vec![0.5f32; 6];
        m.set_embedding_rows(&[None, None, None, None, Some(v.clone())], 0)
            .unwrap();
        let w = m
            .embedding_weights()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(&w[24..30], v.as_slice());
        assert!(w[..6].iter().all(|&x| x == 0.0));
        let trained = m.clone().fork(&device.clone().autodiff()).train();
        assert!(!trained.embedding.weight.is_require_grad());
        let err = m.set_embedding_rows(&[Some(vec![1.0; 3])], 0).unwrap_err();
        assert_eq!(err.field, "embedding_dim");
    }

    #[test]
    fn zero_sizes_are_refused_by_name() {
        let mut c = config(false, Pooling::Last, 1);
        c.layers = 0;
        assert_eq!(c.validate().unwrap_err().field, "layers");
        let mut c = config(false, Pooling::Last, 1);
        c.head = vec![3, 0];
        assert_eq!(c.validate().unwrap_err().field, "head[1]");
        let mut c = config(false, Pooling::Last, 1);
        c.dropout = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "dropout");
    }
}
