//! A model for tables, as fastai's tabular learner: one learned embedding per categorical
//! column (its width from fastai's rule), concatenated with the standardised numbers, then
//! an MLP.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::invalid::check_dropout;
use crate::kernels;
use crate::pytorch::{self, Twin, TwinBuilder};
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

    /// The model as a `torch.nn` module: `embeddings` (an `nn.ModuleList`, one
    /// `nn.Embedding` per categorical column, whose weights burn keeps in PyTorch's
    /// layout), `embedding_dropout`, and the MLP as `layers`.
    pub fn pytorch(&self) -> Result<Twin, Invalid> {
        let mut twin = TwinBuilder::default();
        let mut embeddings = Vec::new();
        for (j, e) in self.embeddings.iter().enumerate() {
            let [levels, width] = e.weight.dims();
            twin.float(format!("embeddings.{j}.weight"), e.weight.val());
            embeddings.push(format!("nn.Embedding({levels}, {width})"));
        }
        let mut layers = Vec::new();
        self.body.pytorch_layers("layers", &mut layers, &mut twin)?;
        let mut s = String::new();
        s.push_str("class Model(nn.Module):\n");
        s.push_str("    \"\"\"A kiln tabular model, exported by `kiln export`: an embedding per categorical\n    column, concatenated with the standardised numbers, then an MLP.\"\"\"\n\n");
        s.push_str("    def __init__(self):\n        super().__init__()\n");
        s.push_str("        self.embeddings = nn.ModuleList([\n");
        for e in &embeddings {
            s.push_str(&format!("            {e},\n"));
        }
        s.push_str("        ])\n");
        s.push_str(&format!(
            "        self.embedding_dropout = {}\n",
            pytorch::dropout(&self.embedding_dropout)
        ));
        s.push_str("        self.layers = nn.Sequential(\n");
        for l in &layers {
            s.push_str(&format!("            {l},\n"));
        }
        s.push_str("        )\n\n");
        s.push_str(&format!(
            "    def forward(self, numeric, categories):\n        \"\"\"`[batch, {}]` standardised numbers and `[batch, {}]` level ids to outputs.\"\"\"\n",
            self.numeric,
            self.embeddings.len()
        ));
        if self.embeddings.is_empty() && self.numeric == 0 {
            // No feature at all: kiln reads one constant zero.
            s.push_str("        return self.layers(numeric.new_zeros(numeric.shape[0], 1))\n");
        } else {
            s.push_str("        parts = []\n");
            if !self.embeddings.is_empty() {
                s.push_str("        embedded = [e(categories[:, j]) for j, e in enumerate(self.embeddings)]\n");
                s.push_str(
                    "        parts.append(self.embedding_dropout(torch.cat(embedded, 1)))\n",
                );
            }
            if self.numeric > 0 {
                s.push_str("        parts.append(numeric)\n");
            }
            s.push_str("        return self.layers(torch.cat(parts, 1))\n");
        }
        Ok(Twin {
            tensors: twin.tensors,
            source: s,
        })
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
    fn the_twin_names_each_embedding_and_layer_as_pytorch_does() {
        let device = Device::flex();
        let c: TabularConfig = serde_json::from_str(r#"{"hidden": [8]}"#).unwrap();
        let twin = c.init(3, &[4, 10], 2, &device).pytorch().unwrap();
        let names: Vec<(&str, &[usize])> = twin
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice()))
            .collect();
        let (a, b) = (embedding_width(4), embedding_width(10));
        assert_eq!(names[0], ("embeddings.0.weight", &[4, a][..]));
        assert_eq!(names[1], ("embeddings.1.weight", &[10, b][..]));
        assert_eq!(names[2], ("layers.0.weight", &[8, a + b + 3][..]));
        assert_eq!(names.last().unwrap().0, "layers.4.bias");
        assert!(twin.source.contains("parts.append(numeric)"));
        // Without numbers, the numeric input is not read.
        let twin = c.init(0, &[4], 2, &device).pytorch().unwrap();
        assert!(!twin.source.contains("parts.append(numeric)"));
    }

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
