use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Cnn, CnnConfig, Invalid, Mlp, MlpConfig};

/// Which image classifier to build; `kind` picks the variant in serialised form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ClassifierConfig {
    Mlp(MlpConfig),
    Cnn(CnnConfig),
}

impl ClassifierConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            ClassifierConfig::Mlp(c) => c.validate(),
            ClassifierConfig::Cnn(c) => c.validate(),
        }
    }

    /// Builds the model for images of shape `[channels, height, width]` and `classes` outputs.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<Classifier, Invalid> {
        self.validate()?;
        Ok(match self {
            ClassifierConfig::Mlp(c) => {
                Classifier::Mlp(c.init(input.iter().product(), classes, device))
            }
            ClassifierConfig::Cnn(c) => Classifier::Cnn(c.init(input, classes, device)?),
        })
    }
}

/// An image classifier of any kind, so the training loop needs no type parameter.
#[derive(Module, Debug)]
pub enum Classifier {
    Mlp(Mlp),
    Cnn(Cnn),
}

impl Classifier {
    /// `[batch, channels, height, width]` images to `[batch, classes]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::Mlp(m) => m.forward(images.flatten(1, 3)),
            Classifier::Cnn(m) => m.forward(images),
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
        let m = ClassifierConfig::Cnn(c)
            .init([1, 28, 28], 10, &Device::flex())
            .unwrap();
        // Keras' model.summary() for this network: 1,199,882 parameters.
        assert_eq!(m.num_params(), 1_199_882);
        let logits = m.forward(Tensor::zeros([3, 1, 28, 28], &Device::flex()));
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
        let m = ClassifierConfig::Mlp(c)
            .init([1, 28, 28], 10, &Device::flex())
            .unwrap();
        // 784*128+128 + 128*10+10, plus batch norm's gamma, beta and running mean and
        // variance (burn counts the running statistics as parameters too), 128 each.
        assert_eq!(m.num_params(), 101_770 + 4 * 128);
        assert_eq!(
            m.forward(Tensor::zeros([2, 1, 28, 28], &Device::flex()))
                .dims(),
            [2, 10]
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
