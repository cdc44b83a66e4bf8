use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use kiln_models::{Classifier, Invalid};

use crate::{Batches, Confusion, Monitor, TrainConfig, optim, schedule};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training config: {0}")]
    Config(#[from] Invalid),
    #[error(
        "training diverged: the loss became {loss} at step {step} (epoch {epoch}); try a lower learning_rate or grad_clip"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f32,
    },
    #[error("training interrupted at step {step} (epoch {epoch})")]
    Interrupted { epoch: usize, step: usize },
    #[error("evaluation interrupted at batch {batch} of {batches}")]
    EvaluationInterrupted { batch: usize, batches: usize },
}

/// One optimisation step, as it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub learning_rate: f64,
    pub samples: usize,
}

/// Loss and classification metrics over one split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitMetrics {
    pub loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub confusion: Confusion,
}

/// One epoch: training metrics are running means over the epoch's batches (dropout active),
/// as Keras reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: SplitMetrics,
    pub validation: Option<SplitMetrics>,
    /// Learning rate of the epoch's last step.
    pub learning_rate: f64,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    pub epoch_seconds: f64,
    /// Whether this epoch is the best so far by the monitored metric.
    pub improved: bool,
}

impl EpochRecord {
    pub fn monitored(&self, monitor: Monitor) -> Option<f64> {
        match monitor {
            Monitor::TrainLoss => Some(self.train.loss),
            Monitor::TrainAccuracy => Some(self.train.accuracy),
            Monitor::ValLoss => self.validation.as_ref().map(|v| v.loss),
            Monitor::ValAccuracy => self.validation.as_ref().map(|v| v.accuracy),
            Monitor::ValMacroF1 => self.validation.as_ref().map(|v| v.macro_f1),
        }
    }
}

/// What the loop tells its caller as it goes.
pub trait Observer {
    fn on_epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    fn on_step(&mut self, _step: &StepRecord) {}
    fn on_evaluation_start(&mut self, _batches: usize) {}
    fn on_evaluation_batch(&mut self) {}
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
    /// Called with the validation-mode model whenever an epoch is the best so far.
    fn on_best(&mut self, _epoch: usize, _model: &Classifier) {}
    /// Polled after every step; `true` ends training with [`TrainError::Interrupted`].
    fn stop_requested(&self) -> bool {
        false
    }
}

/// What [`fit`] learns from: batches to train on, batches to validate on after each epoch,
/// and the number of classes.
#[derive(Clone, Copy)]
pub struct Splits<'a> {
    pub train: &'a dyn Batches,
    pub validation: Option<&'a dyn Batches>,
    pub classes: usize,
}

pub struct FitOutcome {
    /// The best model by the monitored metric, in validation mode.
    pub best: Classifier,
    pub best_epoch: usize,
    pub history: Vec<EpochRecord>,
    pub stopped_early: bool,
}

/// Trains `model` (built on `device`) on `data`, evaluating on its validation batches after
/// every epoch. `seed` fixes the order of the batches.
pub fn fit(
    model: Classifier,
    config: &TrainConfig,
    data: Splits,
    device: &Device,
    seed: u64,
    observer: &mut dyn Observer,
) -> Result<FitOutcome, TrainError> {
    let Splits {
        train,
        validation,
        classes,
    } = data;
    config.validate()?;
    if config.monitor.needs_validation() && validation.is_none_or(|v| v.is_empty()) {
        return Err(Invalid::new(
            "monitor",
            format!(
                "{} needs a validation split; monitor a train_ metric instead",
                config.monitor.name()
            ),
        )
        .into());
    }
    let ad_device = device.clone().autodiff();
    let mut model = model.fork(&ad_device).train();
    let steps_per_epoch = train.num_batches();
    let mut optimizer = optim::build(&config.optimizer, config.weight_decay, config.grad_clip);
    let mut scheduler = schedule::build(config, steps_per_epoch)?;

    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best: Option<(f64, usize, Classifier)> = None;
    let mut since_best = 0;
    let mut step = 0;
    let mut stopped_early = false;
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let order = train.order(Some(
            seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64),
        ));
        observer.on_epoch_start(epoch, order.len());
        let mut confusion = Confusion::new(classes);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut learning_rate = config.learning_rate;
        for indices in &order {
            let batch = train.batch(indices, &ad_device);
            let logits = model.forward(batch.inputs);
            let predicted = predictions(&logits);
            let loss = config.loss.forward(logits, batch.targets.clone());
            let loss_value = loss.clone().into_scalar::<f32>();
            step += 1;
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step,
                    loss: loss_value,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = scheduler.step();
            learning_rate = lr.base();
            model = optimizer.step(lr, model, grads);

            let correct = predicted
                .iter()
                .zip(&batch.labels)
                .filter(|(p, a)| p == a)
                .count();
            confusion.add(&predicted, &batch.labels);
            loss_sum += loss_value as f64 * batch.len as f64;
            seen += batch.len;
            observer.on_step(&StepRecord {
                step,
                epoch,
                loss: loss_value as f64,
                accuracy: correct as f64 / batch.len as f64,
                learning_rate,
                samples: batch.len,
            });
            if observer.stop_requested() {
                return Err(TrainError::Interrupted { epoch, step });
            }
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let train_metrics = SplitMetrics {
            loss: loss_sum / seen.max(1) as f64,
            accuracy: confusion.accuracy(),
            macro_f1: confusion.macro_f1(),
            confusion,
        };
        let snapshot = model.valid();
        let validation = match validation.filter(|v| !v.is_empty()) {
            Some(v) => Some(evaluate(
                &snapshot,
                v,
                config.loss,
                classes,
                device,
                observer,
            )?),
            None => None,
        };
        let mut record = EpochRecord {
            epoch,
            train: train_metrics,
            validation,
            learning_rate,
            train_seconds,
            samples_per_second: seen as f64 / train_seconds,
            epoch_seconds: epoch_start.elapsed().as_secs_f64(),
            improved: false,
        };
        let value = record.monitored(config.monitor).expect("checked above");
        let min_delta = config.early_stopping.map_or(0.0, |e| e.min_delta);
        let improved = match &best {
            None => true,
            Some((best_value, _, _)) if config.monitor.lower_is_better() => {
                value < best_value - min_delta
            }
            Some((best_value, _, _)) => value > best_value + min_delta,
        };
        record.improved = improved;
        if improved {
            observer.on_best(epoch, &snapshot);
            best = Some((value, epoch, snapshot));
            since_best = 0;
        } else {
            since_best += 1;
        }
        observer.on_epoch_end(&record);
        history.push(record);
        if config
            .early_stopping
            .is_some_and(|e| since_best >= e.patience)
            && epoch < config.epochs
        {
            stopped_early = true;
            break;
        }
    }
    let (_, best_epoch, best) = best.expect("at least one epoch ran");
    Ok(FitOutcome {
        best,
        best_epoch,
        history,
        stopped_early,
    })
}

/// Loss and metrics of a validation-mode `model` over every item of `data`. Stops early,
/// with an error, when the observer asks for it (a long test split can take minutes).
pub fn evaluate(
    model: &Classifier,
    data: &dyn Batches,
    loss: crate::LossKind,
    classes: usize,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<SplitMetrics, TrainError> {
    let order = data.order(None);
    observer.on_evaluation_start(order.len());
    let mut confusion = Confusion::new(classes);
    let (mut loss_sum, mut seen) = (0.0f64, 0usize);
    for (batch, indices) in order.iter().enumerate() {
        if observer.stop_requested() {
            return Err(TrainError::EvaluationInterrupted {
                batch,
                batches: order.len(),
            });
        }
        let batch = data.batch(indices, device);
        let logits = model.forward(batch.inputs);
        confusion.add(&predictions(&logits), &batch.labels);
        loss_sum +=
            loss.forward(logits, batch.targets).into_scalar::<f32>() as f64 * batch.len as f64;
        seen += batch.len;
        observer.on_evaluation_batch();
    }
    Ok(SplitMetrics {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: confusion.accuracy(),
        macro_f1: confusion.macro_f1(),
        confusion,
    })
}

fn predictions(logits: &Tensor<2>) -> Vec<i64> {
    host_ints(logits.clone().detach().argmax(1).flatten(0, 1))
}

fn host_ints(t: Tensor<1, Int>) -> Vec<i64> {
    t.into_data()
        .try_into_vec_as::<i64>()
        .expect("integer tensor")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdamParams, EarlyStopping, GradClip, LossKind, OptimizerConfig, ScheduleConfig};
    use kiln_data::{Digits, ImageBatcher, Normalization};
    use kiln_models::{ActivationKind, ClassifierConfig, InputShape, MlpConfig};

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
            monitor: Monitor::ValAccuracy,
            early_stopping: None,
            eval_batch_size: 64,
        }
    }

    fn train(config: &TrainConfig) -> Result<FitOutcome, TrainError> {
        let data = digits(160);
        let device = Device::flex();
        device.seed(3);
        let model = ClassifierConfig::Mlp(MlpConfig {
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
        c.monitor = Monitor::ValLoss;
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
        let model = ClassifierConfig::Mlp(MlpConfig {
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
