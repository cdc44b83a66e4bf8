//! A character- (or token-) level language model: an embedding, a stack of recurrent layers
//! and a projection of every step's output to the vocabulary, as in the char-rnn tutorials.
//!
//! The forward pass takes and returns the layers' states, so a training loop can carry them
//! across consecutive windows (stateful training) and a generator can feed one token at a time.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::cells::{Cell, CellKind, CellState};
use crate::decode::{Sampler, Sampling};
use crate::invalid::{check_dropout, check_positive};
use crate::kernels;

/// The tutorial's model by default: two LSTM layers of 128.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageModelConfig {
    pub cell: CellKind,
    #[serde(default = "default_embedding")]
    pub embedding_dim: usize,
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Dropout between layers and before the projection.
    #[serde(default)]
    pub dropout: f64,
}

fn default_embedding() -> usize {
    64
}
fn default_hidden() -> usize {
    128
}
fn default_layers() -> usize {
    2
}

impl LanguageModelConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_positive(&[
            ("embedding_dim", self.embedding_dim),
            ("hidden", self.hidden),
            ("layers", self.layers),
        ])?;
        check_dropout("dropout", self.dropout)
    }

    /// The model for a vocabulary of `vocab` tokens.
    pub fn init(&self, vocab: usize, device: &Device) -> Result<LanguageModel, Invalid> {
        self.validate()?;
        if vocab == 0 {
            return Err(Invalid::new("vocab", "the vocabulary is empty"));
        }
        let layers = (0..self.layers)
            .map(|i| {
                let d_input = if i == 0 {
                    self.embedding_dim
                } else {
                    self.hidden
                };
                Cell::new(self.cell, d_input, self.hidden, device)
            })
            .collect();
        Ok(LanguageModel {
            embedding: EmbeddingConfig::new(vocab, self.embedding_dim).init(device),
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            projection: LinearConfig::new(self.hidden, vocab).init(device),
        })
    }
}

#[derive(Module, Debug)]
pub struct LanguageModel {
    embedding: Embedding,
    layers: Vec<Cell>,
    dropout: Dropout,
    projection: Linear,
}

impl LanguageModel {
    /// Token ids `[batch, time]` to next-token logits `[batch, time, vocab]`, from `state`
    /// (zeros when `None`, else one per layer as returned before) to the state after the last
    /// step.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        state: Option<Vec<CellState>>,
    ) -> (Tensor<3>, Vec<CellState>) {
        let mut states = state.map(Vec::into_iter);
        let mut x = self.embedding.forward(tokens);
        let mut after = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = kernels::dropout(&self.dropout, x);
            }
            let (out, s) = layer.forward_from(x, states.as_mut().and_then(Iterator::next));
            after.push(s);
            x = out;
        }
        (
            self.projection.forward(kernels::dropout(&self.dropout, x)),
            after,
        )
    }

    /// Reads `prompt` (at least one token) and then draws `length` more tokens one at a time,
    /// each fed back in: the char-rnn way of writing text. `banned` tokens (padding and other
    /// markers the text never holds) are never drawn.
    pub fn generate(
        &self,
        prompt: &[usize],
        length: usize,
        how: Sampling,
        sampler: &mut Sampler,
        banned: &[usize],
        device: &Device,
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "a prompt of at least one token");
        let ids = |t: &[usize]| {
            Tensor::<2, Int>::from_data(
                TensorData::new(t.iter().map(|&x| x as i64).collect(), [1, t.len()]),
                device,
            )
        };
        let (mut logits, mut state) = self.forward(ids(prompt), None);
        let mut out = Vec::with_capacity(length);
        for _ in 0..length {
            let steps = logits.dims()[1];
            let mut last = logits
                .narrow(1, steps - 1, 1)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("float tensor");
            for &b in banned {
                last[b] = f32::NEG_INFINITY;
            }
            let next = sampler.sample(&last, how);
            out.push(next);
            (logits, state) = self.forward(ids(&[next]), Some(state));
        }
        out
    }

    pub fn vocab(&self) -> usize {
        self.projection.weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(cell: CellKind) -> LanguageModel {
        let device = Device::flex();
        LanguageModelConfig {
            cell,
            embedding_dim: 6,
            hidden: 8,
            layers: 2,
            dropout: 0.0,
        }
        .init(11, &device)
        .unwrap()
    }

    fn tokens(ids: &[i64], batch: usize) -> Tensor<2, Int> {
        let t = ids.len() / batch;
        Tensor::from_data(TensorData::new(ids.to_vec(), [batch, t]), &Device::flex())
    }

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn logits_cover_the_vocabulary_at_every_step() {
        let m = model(CellKind::Lstm);
        let (logits, state) = m.forward(tokens(&[1, 2, 3, 4, 5, 6, 7, 8], 2), None);
        assert_eq!(logits.dims(), [2, 4, 11]);
        assert_eq!(m.vocab(), 11);
        assert_eq!(state.len(), 2);
        assert_eq!(state[1].h.dims(), [2, 8]);
    }

    #[test]
    fn carried_state_continues_the_text_exactly() {
        // Reading 6 tokens at once, or 4 and then 2 from the state the 4 left: the same logits.
        for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            let m = model(cell);
            let ids = [3, 1, 4, 1, 5, 9];
            let (whole, _) = m.forward(tokens(&ids, 1), None);
            let (first, state) = m.forward(tokens(&ids[..4], 1), None);
            let (second, _) = m.forward(tokens(&ids[4..], 1), Some(state));
            let joined = values(Tensor::cat(vec![first, second], 1));
            let whole = values(whole);
            let worst = whole
                .iter()
                .zip(&joined)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{cell:?}: {worst}");
            // And a fresh state is not the same as a carried one.
            let (cold, _) = m.forward(tokens(&ids[4..], 1), None);
            assert_ne!(values(cold), joined[4 * 11..]);
        }
    }

    #[test]
    fn generation_repeats_for_a_seed_and_is_greedy_near_zero_temperature() {
        let m = model(CellKind::Gru);
        let d = Device::flex();
        let warm = Sampling {
            temperature: 1.0,
            top_k: None,
        };
        let run = |seed, how| m.generate(&[1, 2], 20, how, &mut Sampler::new(seed), &[], &d);
        let a = run(7, warm);
        assert_eq!(a.len(), 20);
        let banned = [0, 1, 2, 3, 4, 5, 6, 7, 8];
        let allowed = m.generate(&[1, 2], 200, warm, &mut Sampler::new(7), &banned, &d);
        assert!(allowed.iter().all(|t| *t >= 9), "{allowed:?}");
        assert_eq!(a, run(7, warm));
        assert_ne!(a, run(8, warm));
        let cold = Sampling {
            temperature: 1e-7,
            top_k: None,
        };
        // Near zero temperature every seed draws the argmax path.
        assert_eq!(run(1, cold), run(2, cold));
        let (logits, _) = m.forward(tokens(&[1, 2], 1), None);
        let last = logits
            .narrow(1, 1, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(run(3, cold)[0], crate::decode::argmax(&last));
    }

    #[test]
    fn bad_sizes_are_named() {
        let mut c = LanguageModelConfig {
            cell: CellKind::Gru,
            embedding_dim: 4,
            hidden: 0,
            layers: 1,
            dropout: 0.0,
        };
        assert_eq!(c.validate().unwrap_err().field, "hidden");
        c.hidden = 4;
        c.dropout = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "dropout");
        c.dropout = 0.1;
        assert_eq!(c.init(0, &Device::flex()).unwrap_err().field, "vocab");
    }
}
