//! The training loop, for any model and task: seeded batch order, optimizer and schedule
//! steps, divergence and interrupt checks, validation after every epoch, best-model tracking
//! and early stopping. What a batch is and which metrics it gives is the [`Task`]'s business.

use std::path::Path;
use std::time::Instant;

use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use kiln_models::{Classifier, Invalid};

use crate::{Confusion, Monitor, TrainConfig, optim, schedule};

/// A metric a task defines: its name (as in `val_<name>`, `test.json` and the index's
/// `test_<name>` column) and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub higher_is_better: bool,
}

impl Metric {
    pub const fn lower(name: &'static str) -> Self {
        Self {
            name,
            higher_is_better: false,
        }
    }

    pub const fn higher(name: &'static str) -> Self {
        Self {
            name,
            higher_is_better: true,
        }
    }
}

/// The definition of `monitor`'s metric among a task's `metrics`, or why there is none.
pub fn monitored_metric(monitor: &Monitor, metrics: &[Metric]) -> Result<Metric, Invalid> {
    metrics
        .iter()
        .find(|m| m.name == monitor.metric())
        .copied()
        .ok_or_else(|| {
            let prefix = if monitor.needs_validation() {
                "val"
            } else {
                "train"
            };
            let names: Vec<String> = metrics
                .iter()
                .map(|m| format!("{prefix}_{}", m.name))
                .collect();
            Invalid::new(
                "monitor",
                format!(
                    "`{}` is not a metric of this task; it reports {}",
                    monitor.name(),
                    names.join(", ")
                ),
            )
        })
}

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
    /// What the step learnt from: images or sequences for classifiers and encoder-decoders,
    /// predicted tokens for a language model.
    pub samples: usize,
}

/// Loss and metrics over one split. Classifiers have a confusion matrix and macro F1;
/// generative tasks name their own metrics in `extra` (bits per character, BLEU...).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitMetrics {
    pub loss: f64,
    /// Of classes for a classifier, of next tokens for generative models.
    pub accuracy: f64,
    pub macro_f1: Option<f64>,
    pub confusion: Option<Confusion>,
    pub extra: Vec<(&'static str, f64)>,
}

impl SplitMetrics {
    pub fn classification(loss: f64, confusion: Confusion) -> Self {
        Self {
            loss,
            accuracy: confusion.accuracy(),
            macro_f1: Some(confusion.macro_f1()),
            confusion: Some(confusion),
            extra: Vec::new(),
        }
    }

    /// A metric by its name: `loss`, `accuracy`, `macro_f1` or one of the task's own.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" => Some(self.accuracy),
            "macro_f1" => self.macro_f1,
            _ => self.extra.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        }
    }
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
    pub fn monitored(&self, monitor: &Monitor) -> Option<f64> {
        let split = if monitor.needs_validation() {
            self.validation.as_ref()?
        } else {
            &self.train
        };
        split.get(monitor.metric())
    }
}

/// A model that can be written to disk, whatever its type.
pub trait Checkpoint {
    fn save(&self, path: &Path) -> Result<(), String>;
}

impl<M: Module> Checkpoint for M {
    fn save(&self, path: &Path) -> Result<(), String> {
        self.clone().save_file(path).map_err(|e| e.to_string())
    }
}

/// What the loop tells its caller as it goes.
pub trait Observer<M = Classifier> {
    fn on_epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    fn on_step(&mut self, _step: &StepRecord) {}
    fn on_evaluation_start(&mut self, _batches: usize) {}
    fn on_evaluation_batch(&mut self) {}
    /// Called with the validation-mode model after every epoch, before `on_epoch_end`.
    fn on_epoch_model(&mut self, _epoch: usize, _model: &M) {}
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
    /// Called with the validation-mode model whenever an epoch is the best so far.
    fn on_best(&mut self, _epoch: usize, _model: &M) {}
    /// Polled after every step; `true` ends training with [`TrainError::Interrupted`].
    fn stop_requested(&self) -> bool {
        false
    }
}

/// An observer of steps only, for any model: what a benchmark needs.
pub trait StepObserver {
    fn on_epoch_start(&mut self) {}
    fn on_step(&mut self, _step: &StepRecord) {}
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A [`StepObserver`] seen as the loop's [`Observer`] of any model.
pub struct Steps<'a>(pub &'a mut dyn StepObserver);

impl<M> Observer<M> for Steps<'_> {
    fn on_epoch_start(&mut self, _epoch: usize, _batches: usize) {
        self.0.on_epoch_start();
    }
    fn on_step(&mut self, step: &StepRecord) {
        self.0.on_step(step);
    }
    fn stop_requested(&self) -> bool {
        self.0.stop_requested()
    }
}

/// What one training batch's forward pass gave, for a task with one loss.
pub struct TrainStep {
    /// The batch's mean loss, on the autodiff device.
    pub loss: Tensor<1>,
    /// How many samples (see [`StepRecord::samples`]) the batch held.
    pub samples: usize,
    /// How many predictions the mean loss is over (one per sample for a classifier, one per
    /// target token for generative models), and how many were right.
    pub predictions: usize,
    pub correct: usize,
}

/// What one optimisation step did, as the loop records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// The step's loss; not finite when training diverged (nothing was stepped then).
    pub loss: f32,
    pub samples: usize,
    pub predictions: usize,
    pub correct: usize,
}

/// The optimizers of a run, all built from its config, and the step's learning rate.
/// A task with one loss steps optimizer 0 over every parameter ([`Optimizers::step_whole`]);
/// a GAN steps one per network, each with the gradients of its own parameters.
pub struct Optimizers {
    list: Vec<ModuleOptimizer>,
    lr: ModuleLearningRate,
}

impl Optimizers {
    /// Steps the parameters of `model` that `grads` holds with optimizer `index` (its state
    /// is its own: Adam's moments are not shared between networks).
    pub fn step<M: Module>(&mut self, index: usize, model: M, grads: GradientsParams) -> M {
        self.list[index].step(self.lr.clone(), model, grads)
    }

    /// The step of a task with one loss: backward through it, every parameter stepped by
    /// optimizer 0. A loss that is not finite steps nothing; the loop stops on it.
    pub fn step_whole<M: Module>(&mut self, model: M, out: TrainStep) -> (M, StepOutcome) {
        let loss = out.loss.clone().into_scalar::<f32>();
        let outcome = StepOutcome {
            loss,
            samples: out.samples,
            predictions: out.predictions,
            correct: out.correct,
        };
        if !loss.is_finite() {
            return (model, outcome);
        }
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        (self.step(0, model, grads), outcome)
    }
}

/// A kind of learning problem: its batches, its optimisation step and its metrics.
pub trait Task {
    type Model: Module;
    /// The metrics this task reports for a split, which `monitor` may name.
    fn metrics(&self) -> &'static [Metric];
    /// How many optimizers the step uses (see [`Optimizers`]).
    fn optimizers(&self) -> usize {
        1
    }
    /// Training batches per epoch.
    fn num_batches(&self) -> usize;
    fn has_validation(&self) -> bool;
    /// Called before each epoch (1-based); the batches' index lists, in the order to train.
    fn start_epoch(&mut self, epoch: usize, seed: u64) -> Vec<Vec<usize>>;
    /// One optimisation step of a training-mode `model` (on the autodiff device) on one
    /// batch; most tasks run their forward pass and hand it to [`Optimizers::step_whole`].
    fn optimize(
        &mut self,
        model: Self::Model,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(Self::Model, StepOutcome), TrainError>;
    /// The epoch's training metrics, given the loop's mean `loss` and `correct / samples`.
    fn train_metrics(&mut self, loss: f64, accuracy: f64) -> SplitMetrics;
    /// Metrics of a validation-mode `model` on the validation split.
    fn validate(
        &mut self,
        model: &Self::Model,
        device: &Device,
        observer: &mut dyn Observer<Self::Model>,
    ) -> Result<SplitMetrics, TrainError>;
}

pub struct FitOutcome<M = Classifier> {
    /// The best model by the monitored metric, in validation mode.
    pub best: M,
    pub best_epoch: usize,
    pub history: Vec<EpochRecord>,
    pub stopped_early: bool,
}

/// The seed of epoch `epoch`'s batch order, for a run seeded with `seed`.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)
}

/// Trains `model` (built on `device`) on `task`, validating after every epoch. `seed` fixes
/// the order of the batches.
pub fn fit_task<T: Task>(
    model: T::Model,
    config: &TrainConfig,
    task: &mut T,
    device: &Device,
    seed: u64,
    observer: &mut dyn Observer<T::Model>,
) -> Result<FitOutcome<T::Model>, TrainError> {
    config.validate()?;
    let monitored = monitored_metric(&config.monitor, task.metrics())?;
    if config.monitor.needs_validation() && !task.has_validation() {
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
    let mut optimizers = Optimizers {
        list: (0..task.optimizers().max(1))
            .map(|_| optim::build(&config.optimizer, config.weight_decay, config.grad_clip))
            .collect(),
        lr: ModuleLearningRate::default(),
    };
    let mut scheduler = schedule::build(config, task.num_batches())?;

    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best: Option<(f64, usize, T::Model)> = None;
    let mut since_best = 0;
    let mut step = 0;
    let mut stopped_early = false;
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let order = task.start_epoch(epoch, epoch_seed(seed, epoch));
        observer.on_epoch_start(epoch, order.len());
        let (mut loss_sum, mut seen, mut predicted, mut correct) = (0.0f64, 0usize, 0usize, 0usize);
        let mut learning_rate = config.learning_rate;
        for indices in &order {
            let lr = scheduler.step();
            learning_rate = lr.base();
            optimizers.lr = lr;
            let (stepped, out) = task.optimize(model, indices, &ad_device, &mut optimizers)?;
            model = stepped;
            let loss_value = out.loss;
            step += 1;
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step,
                    loss: loss_value,
                });
            }

            loss_sum += loss_value as f64 * out.predictions as f64;
            seen += out.samples;
            predicted += out.predictions;
            correct += out.correct;
            observer.on_step(&StepRecord {
                step,
                epoch,
                loss: loss_value as f64,
                accuracy: out.correct as f64 / out.predictions.max(1) as f64,
                learning_rate,
                samples: out.samples,
            });
            if observer.stop_requested() {
                return Err(TrainError::Interrupted { epoch, step });
            }
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let train_metrics = task.train_metrics(
            loss_sum / predicted.max(1) as f64,
            correct as f64 / predicted.max(1) as f64,
        );
        let snapshot = model.valid();
        let validation = if task.has_validation() {
            Some(task.validate(&snapshot, device, observer)?)
        } else {
            None
        };
        observer.on_epoch_model(epoch, &snapshot);
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
        let value = record.monitored(&config.monitor).ok_or_else(|| {
            Invalid::new(
                "monitor",
                format!("this task does not report {}", config.monitor.name()),
            )
        })?;
        let min_delta = config.early_stopping.map_or(0.0, |e| e.min_delta);
        let improved = match &best {
            None => true,
            Some((best_value, _, _)) if monitored.higher_is_better => {
                value > best_value + min_delta
            }
            Some((best_value, _, _)) => value < best_value - min_delta,
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
