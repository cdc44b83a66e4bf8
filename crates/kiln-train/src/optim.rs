use burn::grad_clipping::GradientClipping;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig,
};

use crate::{GradClip, OptimizerConfig};

/// burn's optimizer for `config`, with L2 `weight_decay` (decoupled for AdamW) and clipping.
pub(crate) fn build(
    config: &OptimizerConfig,
    weight_decay: f64,
    clip: Option<GradClip>,
) -> ModuleOptimizer {
    let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
    let optim = match *config {
        OptimizerConfig::Sgd {
            momentum,
            dampening,
            nesterov,
        } => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(dampening)
                    .with_nesterov(nesterov)
            }))
            .init(),
        OptimizerConfig::Adagrad { lr_decay, epsilon } => AdaGradConfig::new()
            .with_lr_decay(lr_decay)
            .with_epsilon(epsilon)
            .with_weight_decay(l2)
            .init(),
        OptimizerConfig::Rmsprop {
            alpha,
            momentum,
            epsilon,
            centered,
        } => RmsPropConfig::new()
            .with_alpha(alpha)
            .with_momentum(momentum)
            .with_epsilon(epsilon)
            .with_centered(centered)
            .with_weight_decay(l2)
            .init(),
        OptimizerConfig::Adam(p) => AdamConfig::new()
            .with_beta_1(p.beta1)
            .with_beta_2(p.beta2)
            .with_epsilon(p.epsilon)
            .with_amsgrad(p.amsgrad)
            .with_weight_decay(l2)
            .init(),
        OptimizerConfig::Adamw(p) => AdamWConfig::new()
            .with_beta_1(p.beta1)
            .with_beta_2(p.beta2)
            .with_epsilon(p.epsilon)
            .with_amsgrad(p.amsgrad)
            .with_weight_decay(weight_decay as f32)
            .init(),
    };
    match clip {
        Some(GradClip::Norm(v)) => optim.with_grad_clipping(GradientClipping::Norm(v)),
        Some(GradClip::Value(v)) => optim.with_grad_clipping(GradientClipping::Value(v)),
        None => optim,
    }
}
