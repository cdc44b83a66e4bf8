//! An encoder-decoder for sequence-to-sequence tasks (Sutskever et al. 2014), with optional
//! attention over the encoder's outputs in Luong et al. (2015)'s arrangement: the decoder's
//! output at each step scores every source position, either by a dot product (Luong's `dot`)
//! or by Bahdanau et al.'s additive score `v·tanh(W_s s + W_h h)`, and the attended context
//! joins that output before the projection to the target vocabulary.
//!
//! Sources are padded on the left, so that the encoder's final state follows the last real
//! token; attention never looks at padding.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::cells::{Cell, CellKind, CellState};
use crate::decode::{self, Bounds, Hypothesis};
use crate::invalid::{check_dropout, check_positive};
use crate::kernels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// The encoder's last state is all the decoder knows of the source.
    #[default]
    None,
    /// Luong's dot score.
    Dot,
    /// Bahdanau's additive score.
    Additive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seq2SeqConfig {
    pub cell: CellKind,
    #[serde(default = "default_embedding")]
    pub embedding_dim: usize,
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Layers in the encoder, and the same number in the decoder (layer `i` of the decoder
    /// starts from layer `i`'s final encoder state).
    #[serde(default = "default_layers")]
    pub layers: usize,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub attention: AttentionKind,
}

fn default_embedding() -> usize {
    64
}
fn default_hidden() -> usize {
    256
}
fn default_layers() -> usize {
    1
}

impl Seq2SeqConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_positive(&[
            ("embedding_dim", self.embedding_dim),
            ("hidden", self.hidden),
            ("layers", self.layers),
        ])?;
        check_dropout("dropout", self.dropout)
    }

    /// The model from a vocabulary of `source` tokens to one of `target` tokens.
    pub fn init(&self, source: usize, target: usize, device: &Device) -> Result<Seq2Seq, Invalid> {
        self.validate()?;
        if source == 0 || target == 0 {
            return Err(Invalid::new("vocab", "a vocabulary is empty"));
        }
        let h = self.hidden;
        let stack = |d_first: usize| -> Vec<Cell> {
            (0..self.layers)
                .map(|i| Cell::new(self.cell, if i == 0 { d_first } else { h }, h, device))
                .collect()
        };
        let attention = (self.attention != AttentionKind::None).then(|| Attention {
            combine: LinearConfig::new(2 * h, h).init(device),
            additive: (self.attention == AttentionKind::Additive).then(|| Additive {
                source: LinearConfig::new(h, h).with_bias(false).init(device),
                query: LinearConfig::new(h, h).init(device),
                score: LinearConfig::new(h, 1).with_bias(false).init(device),
            }),
        });
        Ok(Seq2Seq {
            source_embedding: EmbeddingConfig::new(source, self.embedding_dim).init(device),
            encoder: stack(self.embedding_dim),
            target_embedding: EmbeddingConfig::new(target, self.embedding_dim).init(device),
            decoder: stack(self.embedding_dim),
            attention,
            dropout: DropoutConfig::new(self.dropout).init(),
            projection: LinearConfig::new(h, target).init(device),
        })
    }
}

#[derive(Module, Debug)]
pub struct Additive {
    source: Linear,
    query: Linear,
    score: Linear,
}

#[derive(Module, Debug)]
pub struct Attention {
    /// `tanh(W [output; context])`, Luong's attentional hidden state.
    combine: Linear,
    /// Present for the additive score; the dot score has no weights of its own.
    additive: Option<Additive>,
}

#[derive(Module, Debug)]
pub struct Seq2Seq {
    source_embedding: Embedding,
    encoder: Vec<Cell>,
    target_embedding: Embedding,
    decoder: Vec<Cell>,
    attention: Option<Attention>,
    dropout: Dropout,
    projection: Linear,
}

/// What the decoder reads of a source batch.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The top layer's output at every source position, `[batch, source, hidden]`.
    pub outputs: Tensor<3>,
    /// `true` where the source is padding, `[batch, source]`.
    pub padding: Tensor<2, Bool>,
    /// Each layer's final state, which the decoder's layers start from.
    pub states: Vec<CellState>,
}

impl Encoded {
    /// The same source repeated for `n` hypotheses of batch item `item`, for beam search.
    pub fn select(&self, item: usize, n: usize) -> Encoded {
        let rows = |t: Tensor<2>| t.narrow(0, item, 1).repeat_dim(0, n);
        Encoded {
            outputs: self.outputs.clone().narrow(0, item, 1).repeat_dim(0, n),
            padding: self.padding.clone().narrow(0, item, 1).repeat_dim(0, n),
            states: self
                .states
                .iter()
                .map(|s| CellState {
                    h: rows(s.h.clone()),
                    c: rows(s.c.clone()),
                })
                .collect(),
        }
    }
}

impl Seq2Seq {
    /// Source ids `[batch, source]`, left-padded with `pad`.
    pub fn encode(&self, source: Tensor<2, Int>, pad: u32) -> Encoded {
        let padding = source.clone().equal_elem(pad as i64);
        let mut x = self.source_embedding.forward(source);
        let mut states = Vec::with_capacity(self.encoder.len());
        for (i, layer) in self.encoder.iter().enumerate() {
            if i > 0 {
                x = kernels::dropout(&self.dropout, x);
            }
            let (out, state) = layer.forward_from(x, None);
            states.push(state);
            x = out;
        }
        Encoded {
            outputs: x,
            padding,
            states,
        }
    }

    /// Target-side inputs `[batch, time]` (the start token, then the target shifted right,
    /// when teacher forcing) to logits `[batch, time, target vocab]`, from the decoder
    /// `states` (the encoder's final ones at the start) to those after the last step.
    pub fn decode(
        &self,
        inputs: Tensor<2, Int>,
        encoded: &Encoded,
        states: Vec<CellState>,
    ) -> (Tensor<3>, Vec<CellState>) {
        let mut x = self.target_embedding.forward(inputs);
        let mut after = Vec::with_capacity(self.decoder.len());
        for (i, (layer, state)) in self.decoder.iter().zip(states).enumerate() {
            if i > 0 {
                x = kernels::dropout(&self.dropout, x);
            }
            let (out, s) = layer.forward_from(x, Some(state));
            after.push(s);
            x = out;
        }
        if let Some(attention) = &self.attention {
            x = attention.attend(x, encoded);
        }
        (
            self.projection.forward(kernels::dropout(&self.dropout, x)),
            after,
        )
    }

    /// The most likely output of every source row `[batch, source]` (left-padded with `pad`),
    /// decoded together, each cut before its first `end` token or at `max_len` tokens.
    pub fn greedy(&self, sources: Tensor<2, Int>, pad: u32, bounds: Bounds) -> Vec<Vec<usize>> {
        let [batch, _] = sources.dims();
        let device = sources.device();
        let encoded = self.encode(sources, pad);
        let mut states = encoded.states.clone();
        let mut input = Tensor::<2, Int>::full([batch, 1], bounds.start as i64, &device);
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); batch];
        let mut done = vec![false; batch];
        for _ in 0..bounds.max_len {
            let (logits, next) = self.decode(input, &encoded, states);
            states = next;
            let best = logits.argmax(2).reshape([batch, 1]);
            let ids: Vec<i64> = best
                .clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .expect("integer tensor");
            for (b, &id) in ids.iter().enumerate() {
                if !done[b] {
                    if id as usize == bounds.end {
                        done[b] = true;
                    } else {
                        out[b].push(id as usize);
                    }
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
            input = best;
        }
        out
    }

    /// Beam search of `width` for one unpadded source `[1, source]`: the best finished
    /// hypotheses, best first (see [`decode::beam_search`]).
    pub fn beam(
        &self,
        source: Tensor<2, Int>,
        pad: u32,
        bounds: Bounds,
        width: usize,
        length_penalty: f64,
    ) -> Vec<Hypothesis> {
        let device = source.device();
        let encoded = self.encode(source, pad);
        let mut step = |states: &[Vec<CellState>], last: &[usize]| {
            let n = states.len();
            let layers = states[0].len();
            let joined: Vec<CellState> = (0..layers)
                .map(|l| CellState {
                    h: Tensor::cat(states.iter().map(|s| s[l].h.clone()).collect(), 0),
                    c: Tensor::cat(states.iter().map(|s| s[l].c.clone()).collect(), 0),
                })
                .collect();
            let tokens = Tensor::<2, Int>::from_data(
                TensorData::new(last.iter().map(|&t| t as i64).collect(), [n, 1]),
                &device,
            );
            let (logits, next) = self.decode(tokens, &encoded.select(0, n), joined);
            let log_probs = log_softmax(logits.reshape([n, self.target_vocab()]), 1)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("float tensor");
            let vocab = self.target_vocab();
            (0..n)
                .map(|i| {
                    let state = next
                        .iter()
                        .map(|s| CellState {
                            h: s.h.clone().narrow(0, i, 1),
                            c: s.c.clone().narrow(0, i, 1),
                        })
                        .collect();
                    (state, log_probs[i * vocab..(i + 1) * vocab].to_vec())
                })
                .collect()
        };
        decode::beam_search(
            encoded.states.clone(),
            bounds,
            width,
            length_penalty,
            &mut step,
        )
    }

    pub fn target_vocab(&self) -> usize {
        self.projection.weight.dims()[1]
    }

    pub fn source_vocab(&self) -> usize {
        self.source_embedding.weight.dims()[0]
    }
}

impl Attention {
    /// Decoder outputs `[batch, time, hidden]` to attentional states of the same shape.
    fn attend(&self, queries: Tensor<3>, encoded: &Encoded) -> Tensor<3> {
        let [batch, time, hidden] = queries.dims();
        let source = encoded.outputs.dims()[1];
        let scores: Tensor<3> = match &self.additive {
            None => queries
                .clone()
                .matmul(encoded.outputs.clone().swap_dims(1, 2)),
            Some(a) => {
                let keys = a
                    .source
                    .forward(encoded.outputs.clone())
                    .reshape([batch, 1, source, hidden]);
                let q = a
                    .query
                    .forward(queries.clone())
                    .reshape([batch, time, 1, hidden]);
                a.score
                    .forward((keys + q).tanh())
                    .reshape([batch, time, source])
            }
        };
        let mask = encoded
            .padding
            .clone()
            .reshape([batch, 1, source])
            .expand([batch, time, source]);
        let weights = softmax(scores.mask_fill(mask, -1e9), 2);
        let context = weights.matmul(encoded.outputs.clone());
        self.combine
            .forward(Tensor::cat(vec![queries, context], 2))
            .tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(cell: CellKind, attention: AttentionKind) -> Seq2Seq {
        let device = Device::flex();
        Seq2SeqConfig {
            cell,
            embedding_dim: 5,
            hidden: 6,
            layers: 2,
            dropout: 0.0,
            attention,
        }
        .init(9, 7, &device)
        .unwrap()
    }

    fn ids(values: &[i64], batch: usize) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [batch, values.len() / batch]),
            &Device::flex(),
        )
    }

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn worst(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn step_by_step_decoding_equals_the_whole_sequence() {
        for attention in [
            AttentionKind::None,
            AttentionKind::Dot,
            AttentionKind::Additive,
        ] {
            let m = model(CellKind::Gru, attention);
            let encoded = m.encode(ids(&[0, 4, 5, 6, 7, 8, 4, 5], 2), 0);
            let targets = ids(&[2, 4, 5, 2, 6, 6], 2);
            let (whole, _) = m.decode(targets.clone(), &encoded, encoded.states.clone());
            assert_eq!(whole.dims(), [2, 3, 7]);
            let mut states = encoded.states.clone();
            let mut steps = Vec::new();
            for t in 0..3 {
                let (logits, next) = m.decode(targets.clone().narrow(1, t, 1), &encoded, states);
                steps.push(logits);
                states = next;
            }
            let joined = values(Tensor::cat(steps, 1));
            assert!(worst(&values(whole), &joined) < 1e-5, "{attention:?}");
        }
    }

    #[test]
    fn attention_puts_no_weight_on_padding() {
        // Whatever the encoder output at a padded position, the decoder's logits are the same.
        for attention in [AttentionKind::Dot, AttentionKind::Additive] {
            let m = model(CellKind::Lstm, attention);
            let short = m.encode(ids(&[4, 5, 6], 1), 0);
            let device = Device::flex();
            let padded = |junk: f32| Encoded {
                outputs: Tensor::cat(
                    vec![
                        Tensor::<3>::full([1, 1, 6], junk, &device),
                        short.outputs.clone(),
                    ],
                    1,
                ),
                padding: Tensor::<2, Int>::from_data(
                    TensorData::new(vec![0i64, 1, 1, 1], [1, 4]),
                    &device,
                )
                .equal_elem(0),
                states: short.states.clone(),
            };
            let run = |e: &Encoded| values(m.decode(ids(&[2, 4], 1), e, e.states.clone()).0);
            let reference = run(&short);
            assert!(
                worst(&reference, &run(&padded(5.0))) < 1e-5,
                "{attention:?}"
            );
            assert!(
                worst(&reference, &run(&padded(-3.0))) < 1e-5,
                "{attention:?}"
            );
            // And a real (unmasked) extra position does change them.
            let mut unmasked = padded(5.0);
            unmasked.padding = Tensor::<2, Int>::zeros([1, 4], &device).equal_elem(1);
            assert!(worst(&reference, &run(&unmasked)) > 1e-4, "{attention:?}");
        }
    }

    #[test]
    fn beam_of_width_one_is_greedy_and_batched_greedy_matches_one_by_one() {
        let m = model(CellKind::Lstm, AttentionKind::Additive);
        let bounds = Bounds {
            start: 2,
            end: 3,
            max_len: 6,
        };
        let rows = [[4i64, 5, 6], [8, 8, 7]];
        let batched = m.greedy(ids(&[4, 5, 6, 8, 8, 7], 2), 0, bounds);
        for (row, expected) in rows.iter().zip(&batched) {
            let beam = m.beam(ids(row, 1), 0, bounds, 1, 0.0);
            let mut tokens = beam[0].tokens.clone();
            if tokens.last() == Some(&bounds.end) {
                tokens.pop();
            }
            assert_eq!(&tokens, expected);
        }
    }

    #[test]
    fn encoded_rows_repeat_for_beams() {
        let m = model(CellKind::Lstm, AttentionKind::Dot);
        let encoded = m.encode(ids(&[0, 4, 5, 6, 7, 8], 2), 0);
        let beams = encoded.select(1, 3);
        assert_eq!(beams.outputs.dims(), [3, 3, 6]);
        assert_eq!(beams.states[0].h.dims(), [3, 6]);
        let row = values(encoded.outputs.clone().narrow(0, 1, 1));
        let rep = values(beams.outputs.narrow(0, 2, 1));
        assert_eq!(row, rep);
    }

    #[test]
    fn bad_sizes_are_named() {
        let mut c = Seq2SeqConfig {
            cell: CellKind::Gru,
            embedding_dim: 4,
            hidden: 4,
            layers: 0,
            dropout: 0.0,
            attention: AttentionKind::Dot,
        };
        assert_eq!(c.validate().unwrap_err().field, "layers");
        c.layers = 1;
        assert_eq!(c.init(3, 0, &Device::flex()).unwrap_err().field, "vocab");
        assert_eq!(m_vocab(&c), (3, 5));
    }

    fn m_vocab(c: &Seq2SeqConfig) -> (usize, usize) {
        let m = c.init(3, 5, &Device::flex()).unwrap();
        (m.source_vocab(), m.target_vocab())
    }
}
