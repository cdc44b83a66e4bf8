use burn::module::Module;
use burn::nn::activation::Activation;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::invalid::check_dropout;
use crate::kernels;
use crate::pytorch::{self, Twin, TwinBuilder};
use crate::{ActivationKind, Invalid, MlpConfig};

fn one() -> usize {
    1
}

/// Convolution, optional batch norm, activation, optional max-pool, dropout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBlockConfig {
    /// Output channels.
    pub channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    /// Zero padding on every side.
    #[serde(default)]
    pub padding: usize,
    /// Square max-pool window (and stride) after the activation.
    #[serde(default)]
    pub pool: Option<usize>,
    #[serde(default)]
    pub batch_norm: bool,
    #[serde(default)]
    pub dropout: f64,
}

/// Convolution blocks, then a dense head (an MLP) on the flattened features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    pub blocks: Vec<ConvBlockConfig>,
    /// Hidden sizes of the dense head.
    #[serde(default)]
    pub dense: Vec<usize>,
    #[serde(default)]
    pub activation: ActivationKind,
    /// Dropout after each hidden dense layer.
    #[serde(default)]
    pub dense_dropout: f64,
    #[serde(default)]
    pub dense_batch_norm: bool,
}

impl CnnConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.blocks.is_empty() {
            return Err(Invalid::new(
                "blocks",
                "needs at least one convolution block",
            ));
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let at = |e: Invalid| e.within(&format!("blocks[{i}]"));
            for (name, v) in [
                ("channels", b.channels),
                ("kernel", b.kernel),
                ("stride", b.stride),
            ] {
                if v == 0 {
                    return Err(at(Invalid::new(name, "must be at least 1")));
                }
            }
            if b.pool == Some(0) {
                return Err(at(Invalid::new("pool", "must be at least 1 (or left out)")));
            }
            check_dropout("dropout", b.dropout).map_err(at)?;
        }
        self.head().validate().map_err(|e| match e.field.as_str() {
            "dropout" => Invalid::new("dense_dropout", e.message),
            f => Invalid::new(f.replace("hidden", "dense"), e.message),
        })
    }

    fn head(&self) -> MlpConfig {
        MlpConfig {
            hidden: self.dense.clone(),
            activation: self.activation,
            dropout: self.dense_dropout,
            batch_norm: self.dense_batch_norm,
        }
    }

    /// Feature-map shape `[channels, height, width]` after the blocks, or which block leaves
    /// nothing of an input of shape `input`.
    pub fn output_shape(&self, input: [usize; 3]) -> Result<[usize; 3], Invalid> {
        let [mut c, mut h, mut w] = input;
        for (i, b) in self.blocks.iter().enumerate() {
            let conv = |x: usize| {
                (x + 2 * b.padding)
                    .checked_sub(b.kernel)
                    .map(|v| v / b.stride + 1)
            };
            let (Some(nh), Some(nw)) = (conv(h), conv(w)) else {
                return Err(Invalid::new(
                    format!("blocks[{i}].kernel"),
                    format!(
                        "kernel {} is larger than the {h}x{w} input it gets (with padding {})",
                        b.kernel, b.padding
                    ),
                ));
            };
            (c, h, w) = (b.channels, nh, nw);
            if let Some(p) = b.pool {
                if h < p || w < p {
                    return Err(Invalid::new(
                        format!("blocks[{i}].pool"),
                        format!("pool {p} is larger than the {h}x{w} feature map"),
                    ));
                }
                (h, w) = (h / p, w / p);
            }
        }
        Ok([c, h, w])
    }

    pub fn init(&self, input: [usize; 3], outputs: usize, device: &Device) -> Result<Cnn, Invalid> {
        let [c, h, w] = self.output_shape(input)?;
        let mut in_channels = input[0];
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                let conv = Conv2dConfig::new([in_channels, b.channels], [b.kernel, b.kernel])
                    .with_stride([b.stride, b.stride])
                    .with_padding(PaddingConfig2d::Explicit(
                        b.padding, b.padding, b.padding, b.padding,
                    ))
                    .init(device);
                in_channels = b.channels;
                ConvBlock {
                    conv,
                    norm: b
                        .batch_norm
                        .then(|| BatchNormConfig::new(b.channels).init(device)),
                    activation: self.activation.init(device),
                    pool: b.pool.map(|p| MaxPool2dConfig::new([p, p]).init()),
                    dropout: DropoutConfig::new(b.dropout).init(),
                }
            })
            .collect();
        Ok(Cnn {
            blocks,
            head: self.head().init(c * h * w, outputs, device),
        })
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    activation: Activation,
    pool: Option<MaxPool2d>,
    dropout: Dropout,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = kernels::conv2d(&self.conv, x);
        if let Some(norm) = &self.norm {
            x = kernels::batch_norm(norm, x, false);
        }
        x = match &self.pool {
            // The same values and gradients, with the activation on a quarter of them.
            Some(pool) if kernels::commutes_with_max(&self.activation) => {
                self.activation.forward(kernels::max_pool2d(pool, x))
            }
            Some(pool) => kernels::max_pool2d(pool, self.activation.forward(x)),
            None => self.activation.forward(x),
        };
        kernels::dropout(&self.dropout, x)
    }
}

#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    head: crate::Mlp,
}

impl Cnn {
    /// `[batch, channels, height, width]` images to `[batch, outputs]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.convolved(x))
    }

    /// What the output layer reads: the dense head's last hidden activations.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.features(self.convolved(x))
    }

    /// The blocks, `nn.Flatten()` and the dense head in one `nn.Sequential`. kiln may pool
    /// before an activation that commutes with max; the twin keeps the written order, which
    /// gives the same values.
    pub fn pytorch(&self) -> Result<Twin, Invalid> {
        let mut twin = TwinBuilder::default();
        let mut layers = Vec::new();
        let at = |layers: &Vec<String>| format!("layers.{}", layers.len());
        for block in &self.blocks {
            let conv = twin.conv2d(&at(&layers), &block.conv)?;
            layers.push(conv);
            if let Some(norm) = &block.norm {
                let norm = twin.batch_norm(&at(&layers), norm, 2);
                layers.push(norm);
            }
            layers.push(pytorch::activation(&at(&layers), &block.activation)?);
            if let Some(pool) = &block.pool {
                layers.push(pytorch::max_pool2d(&at(&layers), pool)?);
            }
            layers.push(pytorch::dropout(&block.dropout));
        }
        layers.push("nn.Flatten()".into());
        self.head.pytorch_layers("layers", &mut layers, &mut twin)?;
        Ok(Twin {
            tensors: twin.tensors,
            source: pytorch::sequential_model("A kiln CNN, exported by `kiln export`.", &layers),
        })
    }

    /// The convolution blocks' output, flattened for the dense head.
    fn convolved(&self, x: Tensor<4>) -> Tensor<2> {
        self.blocks
            .iter()
            .fold(x, |x, b| b.forward(x))
            .flatten(1, 3)
    }
}
