//! Classification as a [`Task`]: labelled batches, cross-entropy (or the configured loss),
//! a confusion matrix per split.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use kiln_models::{Classifier, Inputs, Invalid};

use crate::fit::{
    FitOutcome, Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError,
    TrainStep, evaluate_batches, fit_task,
};
use crate::resume::{Carried, CarriedReader};
use crate::{Batches, Confusion, LossKind, TrainConfig};

/// What [`fit`] learns from: batches to train on, batches to validate on after each epoch,
/// and the number of classes.
#[derive(Clone, Copy)]
pub struct Splits<'a> {
    pub train: &'a dyn Batches,
    pub validation: Option<&'a dyn Batches>,
    pub classes: usize,
}

/// What a classifier reports for a split.
pub const CLASSIFICATION_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::higher("accuracy"),
    Metric::higher("macro_f1"),
];

/// A model that classifies batches: kiln's own [`Classifier`], or a model a plug-in crate
/// defines, which then trains and evaluates through the same task.
pub trait Classify: Module {
    /// Inputs to `[batch, classes]` logits; inputs of a kind the model does not read are an
    /// `Invalid` (see [`Inputs::mismatch`]), never a panic.
    fn logits(&self, inputs: Inputs) -> Result<Tensor<2>, Invalid>;
}

impl Classify for Classifier {
    fn logits(&self, inputs: Inputs) -> Result<Tensor<2>, Invalid> {
        self.forward(inputs)
    }
}

struct Classification<'a, M> {
    splits: Splits<'a>,
    /// The current epoch's seed, which draws its augmentation.
    epoch_seed: u64,
    loss: LossKind,
    confusion: Confusion,
    model: std::marker::PhantomData<M>,
}

impl<M: Classify> Task for Classification<'_, M> {
    type Model = M;

    fn num_batches(&self) -> usize {
        self.splits.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.splits.validation.is_some_and(|v| !v.is_empty())
    }

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.epoch_seed = seed;
        self.confusion = Confusion::new(self.splits.classes);
        self.splits.train.order(Some(seed))
    }

    fn metrics(&self) -> &'static [Metric] {
        CLASSIFICATION_METRICS
    }

    fn optimize(
        &mut self,
        model: M,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(M, StepOutcome), TrainError> {
        let out = {
            let model = &model;
            let batch = self
                .splits
                .train
                .train_batch(indices, device, self.epoch_seed);
            let logits = model.logits(batch.inputs)?;
            let predicted = predictions(&logits);
            let loss = self.loss.forward(logits, batch.targets);
            let correct = predicted
                .iter()
                .zip(&batch.labels)
                .filter(|(p, a)| p == a)
                .count();
            self.confusion.add(&predicted, &batch.labels);
            TrainStep {
                loss,
                samples: batch.len,
                predictions: batch.len,
                correct,
            }
        };
        Ok(optimizers.step_whole(model, out))
    }

    fn carried(&self) -> Carried {
        Carried {
            words: self.confusion.counts().to_vec(),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        let classes = self.splits.classes;
        let counts = (0..classes * classes)
            .map(|_| carried.word())
            .collect::<Result<Vec<_>, _>>()?;
        self.confusion = Confusion::from_counts(classes, counts);
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, _accuracy: f64) -> SplitMetrics {
        SplitMetrics::classification(loss, self.confusion.clone())
    }

    fn validate(
        &mut self,
        model: &M,
        device: &Device,
        observer: &mut dyn Observer<M>,
    ) -> Result<SplitMetrics, TrainError> {
        let data = self.splits.validation.expect("has_validation checked it");
        evaluate(
            model,
            data,
            self.loss,
            self.splits.classes,
            device,
            observer,
        )
    }
}

/// Trains a classifier on `data`, evaluating on its validation batches after every epoch.
/// `seed` fixes the order of the batches.
pub fn fit<M: Classify>(
    model: M,
    config: &TrainConfig,
    data: Splits,
    device: &Device,
    seed: u64,
    observer: &mut dyn Observer<M>,
) -> Result<FitOutcome<M>, TrainError> {
    let mut task = Classification {
        splits: data,
        epoch_seed: 0,
        loss: config.loss,
        confusion: Confusion::new(data.classes),
        model: std::marker::PhantomData,
    };
    fit_task(model, config, &mut task, device, seed, observer)
}

/// Loss and metrics of a validation-mode `model` over every item of `data`. Stops early,
/// with an error, when the observer asks for it (a long test split can take minutes).
pub fn evaluate<M: Classify>(
    model: &M,
    data: &dyn Batches,
    loss: LossKind,
    classes: usize,
    device: &Device,
    observer: &mut dyn Observer<M>,
) -> Result<SplitMetrics, TrainError> {
    let mut confusion = Confusion::new(classes);
    let mean_loss = evaluate_batches(data, device, observer, |batch| {
        let logits = model.logits(batch.inputs)?;
        confusion.add(&predictions(&logits), &batch.labels);
        Ok(loss.forward(logits, batch.targets).into_scalar::<f32>() as f64)
    })?;
    Ok(SplitMetrics::classification(mean_loss, confusion))
}

fn predictions(logits: &Tensor<2>) -> Vec<i64> {
    host_ints(logits.clone().detach().argmax(1).flatten(0, 1))
}

pub(crate) fn host_ints(t: Tensor<1, Int>) -> Vec<i64> {
    t.into_data()
        .try_into_vec_as::<i64>()
        .expect("integer tensor")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AdamParams, EarlyStopping, GradClip, LossKind, Monitor, OptimizerConfig, ScheduleConfig,
    };
    use kiln_data::{Digits, ImageBatcher, Normalization};
    use kiln_models::{ActivationKind, InputShape, MlpConfig, ModelConfig};

    /// Two classes of 4x4 images: dark ones (class 0) and bright ones (class 1), with noise.
    fn digits(n: usize) -> Digits {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let class = (i % 2) as u8;
            labels.push(class);
            images
                .extend((0..16).map(|p| (40 + 150 * class as usize + (i * 7 + p * 13) % 60) as u8));
        }
        Digits {
            images,
            labels,
            channels: 1,
            rows: 4,
            cols: 4,
        }
    }

    fn config(optimizer: OptimizerConfig, learning_rate: f64) -> TrainConfig {
        TrainConfig {
            epochs: 4,
            batch_size: 16,
            learning_rate,
            optimizer,
            weight_decay: 1e-4,
            schedule: ScheduleConfig::Constant,
            warmup_epochs: 0.0,
            loss: LossKind::CrossEntropy,
            grad_clip: Some(GradClip::Norm(5.0)),
            monitor: Monitor::val("accuracy"),
            early_stopping: None,
            eval_batch_size: 64,
            teacher_forcing: None,
            teacher_forcing_final: None,
        }
    }

    fn train(config: &TrainConfig) -> Result<FitOutcome, TrainError> {
        let data = digits(160);
        let device = Device::flex();
        device.seed(3);
        let model = ModelConfig::Mlp(MlpConfig {
            hidden: vec![8],
            activation: ActivationKind::Tanh,
            dropout: 0.0,
            batch_norm: false,
        })
        .init(InputShape::Image([1, 4, 4]), 2, &device)
        .unwrap();
        let train = ImageBatcher::new(
            &data,
            (0..128).collect(),
            config.batch_size,
            Normalization::Scale,
        );
        let val = ImageBatcher::new(&data, (128..160).collect(), 64, Normalization::Scale);
        struct Quiet;
        impl Observer for Quiet {}
        fit(
            model,
            config,
            Splits {
                train: &train,
                validation: Some(&val),
                classes: 2,
            },
            &device,
            3,
            &mut Quiet,
        )
    }

    #[test]
    fn every_optimizer_learns_a_separable_problem() {
        let optimizers = [
            (
                OptimizerConfig::Sgd {
                    momentum: 0.9,
                    dampening: 0.0,
                    nesterov: true,
                },
                0.1,
            ),
            (
                OptimizerConfig::Sgd {
                    momentum: 0.0,
                    dampening: 0.0,
                    nesterov: false,
                },
                0.5,
            ),
            (
                OptimizerConfig::Adagrad {
                    lr_decay: 0.0,
                    epsilon: 1e-10,
                },
                0.1,
            ),
            (
                OptimizerConfig::Rmsprop {
                    alpha: 0.99,
                    momentum: 0.0,
                    epsilon: 1e-8,
                    centered: false,
                },
                0.01,
            ),
            (OptimizerConfig::Adam(AdamParams::default()), 0.02),
            (OptimizerConfig::Adamw(AdamParams::default()), 0.02),
        ];
        for (optimizer, lr) in optimizers {
            let outcome = train(&config(optimizer.clone(), lr)).unwrap();
            let first = &outcome.history[0];
            let last = outcome.history.last().unwrap();
            assert!(
                last.train.loss < first.train.loss,
                "{optimizer:?}: loss did not fall"
            );
            let val = last.validation.as_ref().unwrap();
            assert!(
                val.accuracy > 0.95,
                "{optimizer:?}: validation accuracy {}",
                val.accuracy
            );
        }
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch() {
        let mut c = config(OptimizerConfig::Adam(AdamParams::default()), 0.02);
        c.epochs = 10;
        c.monitor = Monitor::val("loss");
        // No later epoch can beat the first by this much, so patience runs out at epoch 3.
        c.early_stopping = Some(EarlyStopping {
            patience: 2,
            min_delta: 1e9,
        });
        let outcome = train(&c).unwrap();
        assert!(outcome.stopped_early);
        assert_eq!(outcome.history.len(), 3);
        assert_eq!(outcome.best_epoch, 1);
        assert!(outcome.history[0].improved && !outcome.history[2].improved);
    }

    #[test]
    fn monitoring_validation_without_a_split_is_refused() {
        let data = digits(8);
        let device = Device::flex();
        let c = config(OptimizerConfig::Adam(AdamParams::default()), 0.01);
        let model = ModelConfig::Mlp(MlpConfig {
            hidden: vec![],
            activation: ActivationKind::Relu,
            dropout: 0.0,
            batch_norm: false,
        })
        .init(InputShape::Image([1, 4, 4]), 2, &device)
        .unwrap();
        let train = ImageBatcher::all(&data, 4, Normalization::Scale);
        struct Quiet;
        impl Observer for Quiet {}
        let err = fit(
            model,
            &c,
            Splits {
                train: &train,
                validation: None,
                classes: 2,
            },
            &device,
            1,
            &mut Quiet,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("val_accuracy needs a validation split"),
            "{err}"
        );
    }
}
