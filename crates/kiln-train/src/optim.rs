use burn::grad_clipping::GradientClipping;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState,
    AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer, RmsPropConfig, SgdConfig,
};
use burn::tensor::{Device, Tensor};
use kiln_kernels::adam::{self, Decay};

use crate::config::AdamParams;
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
        OptimizerConfig::Adam(p) => ModuleOptimizer::from(Fused {
            burn: AdamConfig::new()
                .with_beta_1(p.beta1)
                .with_beta_2(p.beta2)
                .with_epsilon(p.epsilon)
                .with_amsgrad(p.amsgrad)
                .with_weight_decay(l2)
                .build(),
            params: p,
            decay: Decay::L2(weight_decay as f32),
        }),
        OptimizerConfig::Adamw(p) => ModuleOptimizer::from(Fused {
            burn: AdamWConfig::new()
                .with_beta_1(p.beta1)
                .with_beta_2(p.beta2)
                .with_epsilon(p.epsilon)
                .with_amsgrad(p.amsgrad)
                .with_weight_decay(weight_decay as f32)
                .build(),
            params: p,
            decay: Decay::Decoupled(weight_decay as f32),
        }),
    };
    match clip {
        Some(GradClip::Norm(v)) => optim.with_grad_clipping(GradientClipping::Norm(v)),
        Some(GradClip::Value(v)) => optim.with_grad_clipping(GradientClipping::Value(v)),
        None => optim,
    }
}

/// burn's Adam or AdamW, whose steps run through kiln's fused kernel where it applies (flex,
/// f32, no AMSGrad) and through burn's own otherwise. The state is burn's, so checkpoints
/// and resumed runs see no difference.
#[derive(Clone)]
struct Fused<O> {
    burn: O,
    params: AdamParams,
    decay: Decay,
}

/// Adam and AdamW, for [`Fused`]: their states hold the same moments.
trait AdamLike: Optimizer {
    fn moments<const D: usize>(state: Self::State<D>) -> AdaptiveMomentumState<D>;
    fn state<const D: usize>(m: AdaptiveMomentumState<D>) -> Self::State<D>;
}

impl AdamLike for Adam {
    fn moments<const D: usize>(state: AdamState<D>) -> AdaptiveMomentumState<D> {
        state.momentum
    }
    fn state<const D: usize>(m: AdaptiveMomentumState<D>) -> AdamState<D> {
        AdamState::new(m)
    }
}

impl AdamLike for AdamW {
    fn moments<const D: usize>(state: AdamWState<D>) -> AdaptiveMomentumState<D> {
        state.momentum
    }
    fn state<const D: usize>(m: AdaptiveMomentumState<D>) -> AdamWState<D> {
        AdamWState::new(m)
    }
}

impl<O: AdamLike> Optimizer for Fused<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if self.params.amsgrad || !adam::fused_for(&tensor) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moments) = match state.map(O::moments) {
            Some(m) => (m.time + 1, Some((m.moment_1, m.moment_2))),
            None => (1, None),
        };
        let step = adam::Step {
            learning_rate: lr as f32,
            beta1: self.params.beta1,
            beta2: self.params.beta2,
            epsilon: self.params.epsilon,
            time,
            decay: self.decay,
        };
        let (param, m, v) = adam::step(tensor, grad, moments, step);
        (
            param,
            Some(O::state(AdaptiveMomentumState::new(time, m, v))),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    fn weights(m: &Linear) -> Vec<f32> {
        let mut v = m.weight.val().into_data().try_to_vec::<f32>().unwrap();
        v.extend(
            m.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        v
    }

    /// kiln's Adam and AdamW (fused on flex) take the steps burn's take, from the same start.
    #[test]
    fn the_fused_optimizers_step_as_burns_do() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let configs = [
            (OptimizerConfig::Adam(AdamParams::default()), 0.0),
            (OptimizerConfig::Adam(AdamParams::default()), 0.05),
            (OptimizerConfig::Adamw(AdamParams::default()), 0.05),
        ];
        for (config, weight_decay) in configs {
            let start = LinearConfig::new(7, 5).init(&device);
            let x = Tensor::<2>::random([9, 7], Distribution::Normal(0.0, 1.0), &device);
            let burns = match &config {
                OptimizerConfig::Adam(p) => AdamConfig::new()
                    .with_beta_1(p.beta1)
                    .with_beta_2(p.beta2)
                    .with_epsilon(p.epsilon)
                    .with_weight_decay(
                        (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
                    )
                    .init(),
                _ => AdamWConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(weight_decay as f32)
                    .init(),
            };
            let mut models = [start.clone(), start];
            let mut optims = [build(&config, weight_decay, None), burns];
            for _ in 0..5 {
                for (m, o) in models.iter_mut().zip(optims.iter_mut()) {
                    let loss = m.forward(x.clone()).powi_scalar(2).sum();
                    let grads = GradientsParams::from_grads(loss.backward(), m);
                    *m = o.step(1e-2, m.clone(), grads);
                }
            }
            let (a, b) = (weights(&models[0]), weights(&models[1]));
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{config:?} decay {weight_decay}: {worst}");
            assert!(models[0].num_params() > 0);
        }
    }
}
