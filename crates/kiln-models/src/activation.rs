use burn::nn::LeakyReluConfig;
use burn::nn::activation::{Activation, ActivationConfig};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// The activations offered between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    #[default]
    Relu,
    /// Negative slope 0.01, as in PyTorch.
    LeakyRelu,
    Sigmoid,
    Tanh,
    Gelu,
}

impl ActivationKind {
    pub(crate) fn init(self, device: &Device) -> Activation {
        let config = match self {
            ActivationKind::Relu => ActivationConfig::Relu,
            ActivationKind::LeakyRelu => ActivationConfig::LeakyRelu(LeakyReluConfig::new()),
            ActivationKind::Sigmoid => ActivationConfig::Sigmoid,
            ActivationKind::Tanh => ActivationConfig::Tanh,
            ActivationKind::Gelu => ActivationConfig::Gelu,
        };
        config.init(device)
    }
}
