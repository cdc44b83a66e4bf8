//! A model for tables, as fastai's tabular learner: one learned embedding per categorical
//! column (its width from fastai's rule), concatenated with the standardised numbers, then
//! an MLP.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::invalid::check_dropout;
use crate::kernels;
use crate::{ActivationKind, Invalid, Mlp, MlpConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularConfig {
    /// Sizes of the hidden layers (fastai's default `[200, 100]`).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout after each hidden layer.
    #[serde(default)]
    pub dropout: f64,
    /// Batch norm after each hidden layer's linear.
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Dropout on the concatenated embeddings.
    #[serde(default)]
    pub embedding_dropout: f64,
    /// Every embedding this wide instead of fastai's `min(600, round(1.6 n^0.56))`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_dim: Option<usize>,
}

fn default_hidden() -> Vec<usize> {
    vec![200, 100]
}

fn yes() -> bool {
    true
}

impl TabularConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.body().validate()?;
        check_dropout("embedding_dropout", self.embedding_dropout)?;
        if self.embedding_dim == Some(0) {
            return Err(Invalid::new("embedding_dim", "must be at least 1"));
        }
        Ok(())
    }

    fn body(&self) -> MlpConfig {
        MlpConfig {
            hidden: self.hidden.clone(),
            activation: self.activation,
            dropout: self.dropout,
            batch_norm: self.batch_norm,
        }
    }

    /// `numeric` standardised inputs and one embedding per entry of `levels` (each
    /// column's number of levels, its missing/unseen one included).
    pub fn init(
        &self,
        numeric: usize,
        levels: &[usize],
        outputs: usize,
        device: &Device,
    ) -> Tabular {
        let embeddings: Vec<Embedding> = levels
            .iter()
            .map(|&n| {
                let width = self.embedding_dim.unwrap_or_else(|| embedding_width(n));
                EmbeddingConfig::new(n.max(1), width).init(device)
            })
            .collect();
        let width: usize = numeric + embeddings.iter().map(|e| e.weight.dims()[1]).sum::<usize>();
        Tabular {
            embeddings,
            embedding_dropout: DropoutConfig::new(self.embedding_dropout).init(),
            numeric,
            body: self.body().init(width.max(1), outputs, device),
        }
    }
}

/// fastai's rule for an embedding's width: `min(600, round(1.6 * n^0.56))` for `n` levels.
pub fn embedding_width(levels: usize) -> usize {
    (1.6 * (levels as f64).powf(0.56)).round().clamp(1.0, 600.0) as usize
}

#[derive(Module, Debug)]
pub struct Tabular {
    embeddings: Vec<Embedding>,
    embedding_dropout: Dropout,
    numeric: usize,
    body: Mlp,
}

impl Tabular {
    /// Numbers `[batch, numeric]` and level ids `[batch, columns]` to `[batch, outputs]`.
    pub fn forward(&self, numeric: Tensor<2>, categories: Tensor<2, Int>) -> Tensor<2> {
        let [batch, _] = numeric.dims();
        let mut parts = Vec::with_capacity(self.embeddings.len() + 1);
        if !self.embeddings.is_empty() {
            let embedded: Vec<Tensor<2>> = self
                .embeddings
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let ids = categories.clone().slice([0..batch, j..j + 1]);
                    let width = e.weight.dims()[1];
                    e.forward(ids).reshape([batch, width])
                })
                .collect();
            parts.push(kernels::dropout(
                &self.embedding_dropout,
                Tensor::cat(embedded, 1),
            ));
        }
        if self.numeric > 0 {
            parts.push(numeric);
        }
        let x = if parts.is_empty() {
            Tensor::zeros([batch, 1], &categories.device())
        } else {
            Tensor::cat(parts, 1)
        };
        self.body.forward(x)
    }

    /// The level ids each embedding takes (its number of rows).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.embeddings.iter().map(|e| e.weight.dims()[0]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_each_column_and_reads_the_numbers() {
        let device = Device::flex();
        let c: TabularConfig = serde_json::from_str(r#"{"hidden": [8]}"#).unwrap();
        let m = c.init(3, &[4, 10], 5, &device);
        assert_eq!(m.cardinalities(), [4, 10]);
        let y = m.forward(
            Tensor::ones([2, 3], &device),
            Tensor::from_data([[0i64, 9], [3, 1]], &device),
        );
        assert_eq!(y.dims(), [2, 5]);
        // Only numbers, only categories.
        let m = c.init(3, &[], 2, &device);
        assert_eq!(
            m.forward(
                Tensor::ones([4, 3], &device),
                Tensor::zeros([4, 0], &device)
            )
            .dims(),
            [4, 2]
        );
        let m = c.init(0, &[3], 2, &device);
        assert_eq!(
            m.forward(
                Tensor::zeros([4, 0], &device),
                Tensor::ones([4, 1], &device)
            )
            .dims(),
            [4, 2]
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let c: TabularConfig = serde_json::from_str(r#"{"embedding_dropout": 1.5}"#).unwrap();
        assert_eq!(c.validate().unwrap_err().field, "embedding_dropout");
        let c: TabularConfig = serde_json::from_str(r#"{"hidden": [0]}"#).unwrap();
        assert_eq!(c.validate().unwrap_err().field, "hidden[0]");
    }
}
