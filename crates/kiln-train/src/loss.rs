use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, MultiMarginLossConfig, Reduction};
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor};

use crate::LossKind;

impl LossKind {
    /// Mean loss of `logits` `[batch, classes]` against class indices `targets` `[batch]`.
    pub fn forward(self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        match self {
            // Regression losses never reach a classifier: its task refuses them when the
            // experiment is read.
            LossKind::CrossEntropy | LossKind::Mae | LossKind::Huber => {
                CrossEntropyLossConfig::new()
                    .init(&logits.device())
                    .forward(logits, targets)
            }
            LossKind::Mse => {
                let [_, classes] = logits.dims();
                let one_hot: Tensor<2> = targets.one_hot::<2>(classes).float();
                MseLoss::new()
                    .forward(softmax(logits, 1), one_hot, Reduction::Mean)
                    .reshape([1])
            }
            LossKind::Hinge => {
                MultiMarginLossConfig::new()
                    .init()
                    .forward(logits, targets, Reduction::Mean)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn value(kind: LossKind) -> f32 {
        let d = Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 0.0, 0.0, 0.0, 1.0, 0.0], [2, 3]),
            &d,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &d);
        kind.forward(logits, targets).into_scalar::<f32>()
    }

    #[test]
    fn losses_match_hand_computed_values() {
        // Cross-entropy: mean of -log softmax at the target.
        let ce0 = -(2f32.exp() / (2f32.exp() + 2.0)).ln();
        let ce1 = -(1.0 / (2.0 + 1f32.exp())).ln();
        assert!((value(LossKind::CrossEntropy) - (ce0 + ce1) / 2.0).abs() < 1e-5);
        // Hinge: sum over wrong classes of max(0, 1 - x_y + x_i) / classes, averaged.
        let h0 = (0f32.max(1.0 - 2.0) * 2.0) / 3.0;
        let h1 = (1.0 + 2.0) / 3.0;
        assert!((value(LossKind::Hinge) - (h0 + h1) / 2.0).abs() < 1e-5);
        // MSE between softmax and one-hot, averaged over every element.
        let z0 = 2f32.exp() + 2.0;
        let p0 = [2f32.exp() / z0, 1.0 / z0, 1.0 / z0];
        let z1 = 2.0 + 1f32.exp();
        let p1 = [1.0 / z1, 1f32.exp() / z1, 1.0 / z1];
        let se = (p0[0] - 1.0).powi(2)
            + p0[1].powi(2)
            + p0[2].powi(2)
            + p1[0].powi(2)
            + p1[1].powi(2)
            + (p1[2] - 1.0).powi(2);
        assert!((value(LossKind::Mse) - se / 6.0).abs() < 1e-5);
    }
}
