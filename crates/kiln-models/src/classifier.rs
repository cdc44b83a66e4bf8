use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::cells::CellKind;
use crate::{
    Cnn, CnnConfig, GanConfig, Invalid, LanguageModelConfig, Mlp, MlpConfig, RecurrentClassifier,
    RecurrentConfig, ResNet, ResNetConfig, Seq2SeqConfig, Tabular, TabularConfig,
};

/// Which model to build; `kind` picks the variant in serialised form. Classifiers: image
/// models take `[channels, height, width]` inputs, recurrent ones token ids. The generative
/// kinds (a language model, an encoder-decoder) are built by their own configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    Mlp(MlpConfig),
    Cnn(CnnConfig),
    /// He et al.'s CIFAR ResNets: `depth = 6n + 2`.
    Resnet(ResNetConfig),
    Rnn(RecurrentConfig),
    Lstm(RecurrentConfig),
    Gru(RecurrentConfig),
    /// Tables: category embeddings and numbers into an MLP.
    Tabular(TabularConfig),
    #[serde(rename = "language_model")]
    LanguageModel(LanguageModelConfig),
    Seq2seq(Seq2SeqConfig),
    Gan(GanConfig),
    /// A model defined outside kiln and registered by its crate (see `kiln_runner::plugin`).
    Custom(CustomConfig),
}

/// `kind = "custom"`: a model that a plug-in crate defines. `name` picks the plug-in, which
/// reads its own settings from `options` ([`CustomConfig::options_as`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl CustomConfig {
    /// The options as the plug-in's own typed config; a bad or unknown key is an `Invalid`
    /// naming `options`.
    pub fn options_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Invalid> {
        serde_json::from_value(serde_json::Value::Object(self.options.clone()))
            .map_err(|e| Invalid::new("options", e.to_string()))
    }
}

/// What a classifier reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputShape {
    /// `[channels, height, width]`.
    Image([usize; 3]),
    /// Token ids below `vocab`.
    Tokens { vocab: usize },
    /// Table rows: `numeric` numbers and one level id per categorical column, below that
    /// column's entry in `levels`.
    Table { numeric: usize, levels: Vec<usize> },
}

impl Inputs {
    /// Why a model that reads `reads` cannot take `inputs`.
    pub fn mismatch(reads: &str, inputs: &Inputs) -> Invalid {
        let found = match inputs {
            Inputs::Images(_) => "images",
            Inputs::Tokens { .. } => "token ids",
            Inputs::Table { .. } => "table rows",
        };
        Invalid::new(
            "model.kind",
            format!("the model reads {reads}, but the data are {found}"),
        )
    }
}

/// A batch of inputs, matching [`InputShape`].
// One batch exists at a time, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Inputs {
    /// `[batch, channels, height, width]`.
    Images(Tensor<4>),
    /// `[batch, time]` ids, padded after each sequence's `lengths[b]` real tokens.
    Tokens {
        ids: Tensor<2, Int>,
        lengths: Vec<usize>,
    },
    /// Standardised numbers `[batch, numeric]` and level ids `[batch, categorical columns]`.
    Table {
        numeric: Tensor<2>,
        categories: Tensor<2, Int>,
    },
}

impl ModelConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            ModelConfig::Mlp(c) => c.validate(),
            ModelConfig::Cnn(c) => c.validate(),
            ModelConfig::Resnet(c) => c.validate(),
            ModelConfig::Rnn(c) | ModelConfig::Lstm(c) | ModelConfig::Gru(c) => c.validate(),
            ModelConfig::Tabular(c) => c.validate(),
            ModelConfig::LanguageModel(c) => c.validate(),
            ModelConfig::Seq2seq(c) => c.validate(),
            ModelConfig::Gan(c) => c.validate(),
            ModelConfig::Custom(_) => Ok(()),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Cnn(_) => "cnn",
            ModelConfig::Resnet(_) => "resnet",
            ModelConfig::Rnn(_) => "rnn",
            ModelConfig::Lstm(_) => "lstm",
            ModelConfig::Gru(_) => "gru",
            ModelConfig::Tabular(_) => "tabular",
            ModelConfig::LanguageModel(_) => "language_model",
            ModelConfig::Seq2seq(_) => "seq2seq",
            ModelConfig::Gan(_) => "gan",
            ModelConfig::Custom(_) => "custom",
        }
    }

    /// What picks the model's task: its kind, or a custom model's registered name.
    pub fn name(&self) -> &str {
        match self {
            ModelConfig::Custom(c) => &c.name,
            other => other.kind(),
        }
    }

    /// Whether the model reads token ids.
    pub fn reads_tokens(&self) -> bool {
        matches!(
            self,
            ModelConfig::Rnn(_) | ModelConfig::Lstm(_) | ModelConfig::Gru(_)
        )
    }

    /// Whether the model generates sequences (else it classifies).
    pub fn is_generative(&self) -> bool {
        matches!(
            self,
            ModelConfig::LanguageModel(_) | ModelConfig::Seq2seq(_) | ModelConfig::Gan(_)
        )
    }

    /// Builds the classifier for `input` and `classes` outputs.
    pub fn init(
        &self,
        input: InputShape,
        classes: usize,
        device: &Device,
    ) -> Result<Classifier, Invalid> {
        self.validate()?;
        let mismatch = |reads: &str| {
            Invalid::new(
                "kind",
                format!(
                    "a {} model reads {reads}, but the data are {input:?}",
                    self.kind()
                ),
            )
        };
        let recurrent = |cell, config: &RecurrentConfig| match &input {
            InputShape::Tokens { vocab } => Ok(Classifier::Recurrent(
                config.init(cell, *vocab, classes, device),
            )),
            _ => Err(mismatch("token ids")),
        };
        Ok(match (self, &input) {
            (ModelConfig::Mlp(c), InputShape::Image(shape)) => {
                Classifier::Mlp(c.init(shape.iter().product(), classes, device))
            }
            (ModelConfig::Cnn(c), InputShape::Image(shape)) => {
                Classifier::Cnn(c.init(*shape, classes, device)?)
            }
            (ModelConfig::Resnet(c), InputShape::Image(shape)) => {
                Classifier::ResNet(c.init(*shape, classes, device)?)
            }
            (ModelConfig::Mlp(_) | ModelConfig::Cnn(_) | ModelConfig::Resnet(_), _) => {
                return Err(mismatch("images"));
            }
            (ModelConfig::Tabular(c), InputShape::Table { numeric, levels }) => {
                Classifier::Tabular(c.init(*numeric, levels, classes, device))
            }
            (ModelConfig::Tabular(_), _) => return Err(mismatch("table rows")),
            (ModelConfig::Rnn(r), _) => recurrent(CellKind::Rnn, r)?,
            (ModelConfig::Lstm(r), _) => recurrent(CellKind::Lstm, r)?,
            (ModelConfig::Gru(r), _) => recurrent(CellKind::Gru, r)?,
            (
                ModelConfig::LanguageModel(_)
                | ModelConfig::Seq2seq(_)
                | ModelConfig::Gan(_)
                | ModelConfig::Custom(_),
                _,
            ) => {
                return Err(Invalid::new(
                    "kind",
                    format!("a {} model is not one of kiln's classifiers", self.kind()),
                ));
            }
        })
    }
}

/// A classifier of any kind, so the training loop needs no type parameter.
// A run holds one or two of these, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Classifier {
    Mlp(Mlp),
    Cnn(Cnn),
    Recurrent(RecurrentClassifier),
    Tabular(Tabular),
    ResNet(ResNet),
}

impl Classifier {
    /// Inputs to `[batch, classes]` logits; inputs of another kind than the model was built
    /// for ([`ModelConfig::init`] checks that against the data's [`InputShape`]) are refused.
    pub fn forward(&self, inputs: Inputs) -> Result<Tensor<2>, Invalid> {
        Ok(match (self, inputs) {
            (Classifier::Mlp(m), Inputs::Images(images)) => m.forward(images.flatten(1, 3)),
            (Classifier::Cnn(m), Inputs::Images(images)) => m.forward(images),
            (Classifier::ResNet(m), Inputs::Images(images)) => m.forward(images),
            (Classifier::Recurrent(m), Inputs::Tokens { ids, lengths }) => m.forward(ids, &lengths),
            (
                Classifier::Tabular(m),
                Inputs::Table {
                    numeric,
                    categories,
                },
            ) => m.forward(numeric, categories),
            (model, inputs) => return Err(Inputs::mismatch(model.reads(), &inputs)),
        })
    }

    /// The model as a `torch.nn` module and its `state_dict` ([`crate::pytorch`]).
    pub fn pytorch(&self) -> Result<crate::pytorch::Twin, Invalid> {
        match self {
            Classifier::Mlp(m) => m.pytorch(),
            Classifier::Cnn(m) => m.pytorch(),
            Classifier::ResNet(m) => m.pytorch(),
            Classifier::Recurrent(m) => m.pytorch(),
            Classifier::Tabular(m) => m.pytorch(),
        }
    }

    /// What the model reads: `"images"` or `"token ids"`.
    pub fn reads(&self) -> &'static str {
        match self {
            Classifier::Recurrent(_) => "token ids",
            Classifier::Tabular(_) => "table rows",
            _ => "images",
        }
    }
}

impl Classifier {
    /// An image model's penultimate activations, `[batch, features]`: the space in which a
    /// Fréchet distance compares generated images with real ones. `None` for a model that
    /// reads tokens.
    pub fn image_features(&self, images: Tensor<4>) -> Option<Tensor<2>> {
        match self {
            Classifier::Mlp(m) => Some(m.features(images.flatten(1, 3))),
            Classifier::Cnn(m) => Some(m.features(images)),
            Classifier::ResNet(m) => Some(m.features(images)),
            Classifier::Recurrent(_) | Classifier::Tabular(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivationKind, ConvBlockConfig};

    fn keras_cnn() -> CnnConfig {
        let block = |channels, pool, dropout| ConvBlockConfig {
            channels,
            kernel: 3,
            stride: 1,
            padding: 0,
            pool,
            batch_norm: false,
            dropout,
        };
        CnnConfig {
            blocks: vec![block(32, None, 0.0), block(64, Some(2), 0.25)],
            dense: vec![128],
            activation: ActivationKind::Relu,
            dense_dropout: 0.5,
            dense_batch_norm: false,
        }
    }

    #[test]
    fn keras_cnn_has_the_published_shape_and_size() {
        let c = keras_cnn();
        assert_eq!(c.output_shape([1, 28, 28]).unwrap(), [64, 12, 12]);
        let m = ModelConfig::Cnn(c)
            .init(InputShape::Image([1, 28, 28]), 10, &Device::flex())
            .unwrap();
        // Keras' model.summary() for this network: 1,199,882 parameters.
        assert_eq!(m.num_params(), 1_199_882);
        let logits = m
            .forward(Inputs::Images(Tensor::zeros(
                [3, 1, 28, 28],
                &Device::flex(),
            )))
            .unwrap();
        assert_eq!(logits.dims(), [3, 10]);
    }

    #[test]
    fn mlp_784_128_10_has_101770_parameters() {
        let c = MlpConfig {
            hidden: vec![128],
            activation: ActivationKind::Relu,
            dropout: 0.0,
            batch_norm: true,
        };
        let m = ModelConfig::Mlp(c)
            .init(InputShape::Image([1, 28, 28]), 10, &Device::flex())
            .unwrap();
        // 784*128+128 + 128*10+10, plus batch norm's gamma, beta and running mean and
        // variance (burn counts the running statistics as parameters too), 128 each.
        assert_eq!(m.num_params(), 101_770 + 4 * 128);
        assert_eq!(
            m.forward(Inputs::Images(Tensor::zeros(
                [2, 1, 28, 28],
                &Device::flex()
            )))
            .unwrap()
            .dims(),
            [2, 10]
        );
    }

    #[test]
    fn models_refuse_data_they_cannot_read() {
        let device = Device::flex();
        let lstm: ModelConfig = serde_json::from_str(r#"{"kind": "lstm"}"#).unwrap();
        let err = lstm
            .init(InputShape::Image([1, 28, 28]), 10, &device)
            .unwrap_err();
        assert!(err.message.contains("lstm model reads token ids"), "{err}");
        let m = lstm
            .init(InputShape::Tokens { vocab: 30 }, 2, &device)
            .unwrap();
        let ids = Tensor::<2, Int>::zeros([3, 4], &device);
        assert_eq!(
            m.forward(Inputs::Tokens {
                ids,
                lengths: vec![4, 2, 1]
            })
            .unwrap()
            .dims(),
            [3, 2]
        );
        // Images to a recurrent model: refused, not a panic.
        let err = m
            .forward(Inputs::Images(Tensor::zeros([1, 1, 2, 2], &device)))
            .unwrap_err();
        assert_eq!(err.field, "model.kind");
        assert!(
            err.message
                .contains("reads token ids, but the data are images"),
            "{err}"
        );
        let mlp: ModelConfig = serde_json::from_str(r#"{"kind": "mlp", "hidden": [4]}"#).unwrap();
        assert!(
            mlp.init(InputShape::Tokens { vocab: 5 }, 2, &device)
                .is_err()
        );
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let mut c = keras_cnn();
        c.blocks[1].dropout = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "blocks[1].dropout");
        let mut c = keras_cnn();
        c.dense_dropout = -0.1;
        assert_eq!(c.validate().unwrap_err().field, "dense_dropout");
        let mut c = keras_cnn();
        c.blocks[0].kernel = 30;
        assert_eq!(
            c.output_shape([1, 28, 28]).unwrap_err().field,
            "blocks[0].kernel"
        );
        let mlp = MlpConfig {
            hidden: vec![5, 0],
            activation: ActivationKind::Tanh,
            dropout: 0.0,
            batch_norm: false,
        };
        assert_eq!(mlp.validate().unwrap_err().field, "hidden[1]");
    }

    #[test]
    fn every_activation_builds_and_runs() {
        for activation in [
            ActivationKind::Relu,
            ActivationKind::LeakyRelu,
            ActivationKind::Sigmoid,
            ActivationKind::Tanh,
            ActivationKind::Gelu,
        ] {
            let c = MlpConfig {
                hidden: vec![4],
                activation,
                dropout: 0.1,
                batch_norm: false,
            };
            let m = c.init(3, 2, &Device::flex());
            let y = m.forward(Tensor::ones([2, 3], &Device::flex()));
            assert_eq!(y.dims(), [2, 2], "{activation:?}");
        }
    }
}
