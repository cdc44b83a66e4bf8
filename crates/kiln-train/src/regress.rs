//! Regression as a [`Task`]: numeric targets learnt standardised (the data's own scale is
//! given back for the metrics), a mean squared, absolute or Huber loss, and RMSE, MAE and
//! R² in the targets' own units.

use burn::tensor::{Device, Tensor};
use kiln_models::Invalid;

use crate::fit::{
    FitOutcome, Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError,
    TrainStep, evaluate_batches, fit_task,
};
use crate::resume::{Carried, CarriedReader};
use crate::{Batches, Classify, LossKind, TrainConfig};

/// What a regression reports for a split: the loss (on standardised targets), then RMSE,
/// MAE and R² in the targets' units, averaged over the targets.
pub const REGRESSION_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::lower("rmse"),
    Metric::lower("mae"),
    Metric::higher("r2"),
];

/// How the standardised targets map back to their units: `y = z * std + mean`, per target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetScale {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl TargetScale {
    /// The scale of a table's (or listed images') numeric targets; none for classes.
    pub fn of(target: &kiln_data::table::Target) -> Option<Self> {
        match target {
            kiln_data::table::Target::Values { mean, std, .. } => Some(TargetScale {
                mean: mean.clone(),
                std: std.clone(),
            }),
            kiln_data::table::Target::Classes { .. } => None,
        }
    }
}

/// What [`fit_regression`] learns from.
#[derive(Clone, Copy)]
pub struct RegressionSplits<'a> {
    pub train: &'a dyn Batches,
    pub validation: Option<&'a dyn Batches>,
    pub scale: &'a TargetScale,
}

/// Sums over a split, per target, in the targets' units.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Residuals {
    n: f64,
    squared: Vec<f64>,
    absolute: Vec<f64>,
    sum: Vec<f64>,
    sum_squares: Vec<f64>,
}

impl Residuals {
    pub fn new(targets: usize) -> Self {
        Residuals {
            n: 0.0,
            squared: vec![0.0; targets],
            absolute: vec![0.0; targets],
            sum: vec![0.0; targets],
            sum_squares: vec![0.0; targets],
        }
    }

    /// Adds rows of predictions and actual values, both `rows x targets` in the targets' units.
    pub fn add(&mut self, predicted: &[f64], actual: &[f64]) {
        let k = self.sum.len();
        for (p, a) in predicted.chunks(k).zip(actual.chunks(k)) {
            for t in 0..k {
                let e = p[t] - a[t];
                self.squared[t] += e * e;
                self.absolute[t] += e.abs();
                self.sum[t] += a[t];
                self.sum_squares[t] += a[t] * a[t];
            }
            self.n += 1.0;
        }
    }

    /// Per target: RMSE, MAE and R² (1 - residual / total sum of squares).
    pub fn per_target(&self) -> Vec<(f64, f64, f64)> {
        let n = self.n.max(1.0);
        (0..self.sum.len())
            .map(|t| {
                let total = self.sum_squares[t] - self.sum[t] * self.sum[t] / n;
                let r2 = if total > 0.0 {
                    1.0 - self.squared[t] / total
                } else {
                    f64::NAN
                };
                ((self.squared[t] / n).sqrt(), self.absolute[t] / n, r2)
            })
            .collect()
    }

    pub fn metrics(&self, loss: f64) -> SplitMetrics {
        let per = self.per_target();
        let k = per.len().max(1) as f64;
        let mean = |f: fn(&(f64, f64, f64)) -> f64| per.iter().map(f).sum::<f64>() / k;
        SplitMetrics {
            loss,
            accuracy: f64::NAN,
            macro_f1: None,
            confusion: None,
            extra: vec![
                ("rmse", mean(|m| m.0)),
                ("mae", mean(|m| m.1)),
                ("r2", mean(|m| m.2)),
            ],
        }
    }

    fn carried(&self) -> Vec<u64> {
        std::iter::once(self.n)
            .chain(self.squared.iter().copied())
            .chain(self.absolute.iter().copied())
            .chain(self.sum.iter().copied())
            .chain(self.sum_squares.iter().copied())
            .map(f64::to_bits)
            .collect()
    }

    fn restore(targets: usize, r: &mut CarriedReader) -> Result<Self, String> {
        let mut take = |n: usize| (0..n).map(|_| r.f64()).collect::<Result<Vec<_>, _>>();
        let n = take(1)?[0];
        Ok(Residuals {
            n,
            squared: take(targets)?,
            absolute: take(targets)?,
            sum: take(targets)?,
            sum_squares: take(targets)?,
        })
    }
}

impl LossKind {
    /// Mean loss of standardised predictions against standardised targets, both
    /// `[batch, targets]`.
    pub fn regression(
        self,
        predicted: Tensor<2>,
        targets: Tensor<2>,
    ) -> Result<Tensor<1>, Invalid> {
        let diff = predicted - targets;
        Ok(match self {
            LossKind::Mse => diff.clone().mul(diff).mean(),
            LossKind::Mae => diff.abs().mean(),
            // Huber with delta 1 (one standard deviation of the target).
            LossKind::Huber => {
                let a = diff.abs();
                let quadratic = a.clone().clamp_max(1.0);
                let linear = a - quadratic.clone();
                (quadratic.clone().mul(quadratic).mul_scalar(0.5) + linear).mean()
            }
            other => {
                return Err(Invalid::new(
                    "train.loss",
                    format!(
                        "{other:?} is a classification loss; a regression takes mse, mae or huber"
                    ),
                ));
            }
        })
    }
}

fn host(t: Tensor<2>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap_or_default()
}

fn unscale(z: &[f64], scale: &TargetScale) -> Vec<f64> {
    let k = scale.mean.len().max(1);
    z.iter()
        .enumerate()
        .map(|(i, v)| v * scale.std[i % k] + scale.mean[i % k])
        .collect()
}

/// A batch's targets, which a regression's batches must carry.
fn values(batch: &crate::Batch) -> Result<Tensor<2>, TrainError> {
    batch.values.clone().ok_or_else(|| {
        TrainError::from(Invalid::new(
            "data",
            "the data have no numeric targets for a regression",
        ))
    })
}

struct Regression<'a, M> {
    splits: RegressionSplits<'a>,
    epoch_seed: u64,
    loss: LossKind,
    residuals: Residuals,
    model: std::marker::PhantomData<M>,
}

impl<M: Classify> Task for Regression<'_, M> {
    type Model = M;

    fn num_batches(&self) -> usize {
        self.splits.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.splits.validation.is_some_and(|v| !v.is_empty())
    }

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.epoch_seed = seed;
        self.residuals = Residuals::new(self.splits.scale.mean.len());
        self.splits.train.order(Some(seed))
    }

    fn metrics(&self) -> &'static [Metric] {
        REGRESSION_METRICS
    }

    fn optimize(
        &mut self,
        model: M,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(M, StepOutcome), TrainError> {
        let out = {
            let batch = self
                .splits
                .train
                .train_batch(indices, device, self.epoch_seed);
            let targets = values(&batch)?;
            let predicted = model.logits(batch.inputs)?;
            let scale = self.splits.scale;
            self.residuals.add(
                &unscale(&host(predicted.clone().detach()), scale),
                &unscale(&host(targets.clone()), scale),
            );
            TrainStep {
                loss: self.loss.regression(predicted, targets)?,
                samples: batch.len,
                predictions: batch.len,
                correct: 0,
            }
        };
        Ok(optimizers.step_whole(model, out))
    }

    fn carried(&self) -> Carried {
        Carried {
            words: self.residuals.carried(),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        self.residuals = Residuals::restore(self.splits.scale.mean.len(), carried)?;
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, _accuracy: f64) -> SplitMetrics {
        self.residuals.metrics(loss)
    }

    fn validate(
        &mut self,
        model: &M,
        device: &Device,
        observer: &mut dyn Observer<M>,
    ) -> Result<SplitMetrics, TrainError> {
        let data = self.splits.validation.expect("has_validation checked it");
        evaluate_regression(model, data, self.loss, self.splits.scale, device, observer)
            .map(|(m, _)| m)
    }
}

/// Trains a regression model, validating after every epoch.
pub fn fit_regression<M: Classify>(
    model: M,
    config: &TrainConfig,
    data: RegressionSplits,
    device: &Device,
    seed: u64,
    observer: &mut dyn Observer<M>,
) -> Result<FitOutcome<M>, TrainError> {
    let mut task = Regression {
        splits: data,
        epoch_seed: 0,
        loss: config.loss,
        residuals: Residuals::new(data.scale.mean.len()),
        model: std::marker::PhantomData,
    };
    fit_task(model, config, &mut task, device, seed, observer)
}

/// Loss and metrics of a validation-mode `model` over `data`, with every row's prediction
/// in the targets' units (`rows x targets`, in `data`'s order).
pub fn evaluate_regression<M: Classify>(
    model: &M,
    data: &dyn Batches,
    loss: LossKind,
    scale: &TargetScale,
    device: &Device,
    observer: &mut dyn Observer<M>,
) -> Result<(SplitMetrics, Vec<f64>), TrainError> {
    let mut residuals = Residuals::new(scale.mean.len());
    let mut predictions = Vec::new();
    let mean_loss = evaluate_batches(data, device, observer, |batch| {
        let targets = values(&batch)?;
        let predicted = model.logits(batch.inputs)?;
        let p = unscale(&host(predicted.clone()), scale);
        residuals.add(&p, &unscale(&host(targets.clone()), scale));
        predictions.extend(p);
        Ok(loss.regression(predicted, targets)?.into_scalar::<f32>() as f64)
    })?;
    Ok((residuals.metrics(mean_loss), predictions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn residual_metrics_match_hand_computed_values() {
        let mut r = Residuals::new(1);
        r.add(&[1.0, 2.0, 4.0], &[1.0, 3.0, 5.0]);
        let [(rmse, mae, r2)] = r.per_target()[..] else {
            panic!()
        };
        assert!((rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((mae - 2.0 / 3.0).abs() < 1e-12);
        // Actual mean 3, total sum of squares 8, residual 2.
        assert!((r2 - 0.75).abs() < 1e-12);
    }

    #[test]
    fn losses_match_hand_computed_values() {
        let d = Device::flex();
        let p = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 3.0], [2, 1]), &d);
        let t = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, 0.0], [2, 1]), &d);
        let v = |k: LossKind| {
            k.regression(p.clone(), t.clone())
                .unwrap()
                .into_scalar::<f32>()
        };
        assert!((v(LossKind::Mse) - (0.25 + 9.0) / 2.0).abs() < 1e-6);
        assert!((v(LossKind::Mae) - 3.5 / 2.0).abs() < 1e-6);
        // Huber: 0.5 * 0.5^2 for the small error, 3 - 0.5 for the large one.
        assert!((v(LossKind::Huber) - (0.125 + 2.5) / 2.0).abs() < 1e-6);
        assert!(LossKind::CrossEntropy.regression(p, t).is_err());
    }
}
