use burn::module::Module;
use burn::nn::activation::Activation;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::invalid::check_dropout;
use crate::kernels;
use crate::pytorch::{self, Twin, TwinBuilder};
use crate::{ActivationKind, Invalid};

/// A multi-layer perceptron: `input -> hidden... -> output`, each hidden layer being
/// linear, optional batch norm, activation, then dropout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Sizes of the hidden layers, e.g. `[128]` for 784-128-10.
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout after each hidden layer.
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub batch_norm: bool,
}

impl MlpConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Invalid::new(
                format!("hidden[{i}]"),
                "layer sizes must be at least 1",
            ));
        }
        check_dropout("dropout", self.dropout)
    }

    pub fn init(&self, inputs: usize, outputs: usize, device: &Device) -> Mlp {
        let mut sizes = vec![inputs];
        sizes.extend(&self.hidden);
        let hidden = sizes
            .windows(2)
            .map(|w| {
                DenseBlock::new(
                    w[0],
                    w[1],
                    self.batch_norm,
                    self.activation,
                    self.dropout,
                    device,
                )
            })
            .collect();
        Mlp {
            hidden,
            output: LinearConfig::new(*sizes.last().expect("inputs"), outputs).init(device),
        }
    }
}

/// Linear, optional batch norm, activation, dropout: the unit both dense stacks are made of.
#[derive(Module, Debug)]
pub struct DenseBlock {
    linear: Linear,
    norm: Option<BatchNorm>,
    activation: Activation,
    dropout: Dropout,
}

impl DenseBlock {
    pub(crate) fn new(
        inputs: usize,
        outputs: usize,
        batch_norm: bool,
        activation: ActivationKind,
        dropout: f64,
        device: &Device,
    ) -> Self {
        DenseBlock {
            linear: LinearConfig::new(inputs, outputs).init(device),
            norm: batch_norm.then(|| BatchNormConfig::new(outputs).init(device)),
            activation: activation.init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = kernels::linear(&self.linear, x);
        if let Some(norm) = &self.norm {
            x = kernels::batch_norm(norm, x, false);
        }
        kernels::dropout(&self.dropout, self.activation.forward(x))
    }

    /// Appends the block to a twin's `nn.Sequential` called `seq`.
    pub(crate) fn pytorch(
        &self,
        seq: &str,
        layers: &mut Vec<String>,
        twin: &mut TwinBuilder,
    ) -> Result<(), Invalid> {
        let at = |layers: &Vec<String>| format!("{seq}.{}", layers.len());
        let linear = twin.linear(&at(layers), &self.linear);
        layers.push(linear);
        if let Some(norm) = &self.norm {
            let norm = twin.batch_norm(&at(layers), norm, 1);
            layers.push(norm);
        }
        layers.push(pytorch::activation(&at(layers), &self.activation)?);
        layers.push(pytorch::dropout(&self.dropout));
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<DenseBlock>,
    output: Linear,
}

impl Mlp {
    /// `[batch, features]` to `[batch, outputs]` logits.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        kernels::linear(&self.output, self.features(x))
    }

    /// What the output layer reads: the last hidden layer's activations.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        self.hidden.iter().fold(x, |x, block| block.forward(x))
    }

    /// The MLP on images: `nn.Flatten()` then its layers, in one `nn.Sequential`.
    pub fn pytorch(&self) -> Result<Twin, Invalid> {
        let mut twin = TwinBuilder::default();
        let mut layers = vec!["nn.Flatten()".to_string()];
        self.pytorch_layers("layers", &mut layers, &mut twin)?;
        Ok(Twin {
            tensors: twin.tensors,
            source: pytorch::sequential_model("A kiln MLP, exported by `kiln export`.", &layers),
        })
    }

    /// Appends the hidden blocks and the output layer to a twin's `nn.Sequential` `seq`.
    pub(crate) fn pytorch_layers(
        &self,
        seq: &str,
        layers: &mut Vec<String>,
        twin: &mut TwinBuilder,
    ) -> Result<(), Invalid> {
        for block in &self.hidden {
            block.pytorch(seq, layers, twin)?;
        }
        let output = twin.linear(&format!("{seq}.{}", layers.len()), &self.output);
        layers.push(output);
        Ok(())
    }
}
