//! The plug-in's own model, written as any burn module: nothing here knows kiln beyond the
//! one trait that says how it classifies a batch.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use kiln_models::{Inputs, Invalid};
use kiln_train::Classify;
use serde::Deserialize;

/// `[model.options]` of a residual MLP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualMlpConfig {
    /// Width of every hidden layer.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Residual blocks (norm, linear, ReLU, linear, added back) after the input projection.
    #[serde(default = "default_blocks")]
    pub blocks: usize,
}

fn default_width() -> usize {
    256
}
fn default_blocks() -> usize {
    2
}

impl ResidualMlpConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.width == 0 {
            return Err(Invalid::new("width", "must be at least 1"));
        }
        Ok(())
    }

    pub fn init(&self, inputs: usize, classes: usize, device: &Device) -> ResidualMlp {
        ResidualMlp {
            input: LinearConfig::new(inputs, self.width).init(device),
            blocks: (0..self.blocks)
                .map(|_| Block {
                    norm: LayerNormConfig::new(self.width).init(device),
                    expand: LinearConfig::new(self.width, self.width).init(device),
                    project: LinearConfig::new(self.width, self.width).init(device),
                })
                .collect(),
            output: LinearConfig::new(self.width, classes).init(device),
        }
    }
}

#[derive(Module, Debug)]
struct Block {
    norm: LayerNorm,
    expand: Linear,
    project: Linear,
}

#[derive(Module, Debug)]
pub struct ResidualMlp {
    input: Linear,
    blocks: Vec<Block>,
    output: Linear,
}

impl Classify for ResidualMlp {
    fn logits(&self, inputs: Inputs) -> Result<Tensor<2>, Invalid> {
        let Inputs::Images(images) = inputs else {
            return Err(Inputs::mismatch("images", &inputs));
        };
        let mut x = relu(self.input.forward(images.flatten(1, 3)));
        for b in &self.blocks {
            x = x.clone() + b.project.forward(relu(b.expand.forward(b.norm.forward(x))));
        }
        Ok(self.output.forward(x))
    }
}
