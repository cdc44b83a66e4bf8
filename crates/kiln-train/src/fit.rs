//! The training loop, for any model and task: seeded batch order, optimizer and schedule
//! steps, divergence and interrupt checks, validation after every epoch, best-model tracking
//! and early stopping. What a batch is and which metrics it gives is the [`Task`]'s business.

use std::path::Path;
use std::time::Instant;

pub use crate::records::{EpochRecord, Metric, SplitMetrics, StepRecord};
use crate::resume::{
    self, Carried, CarriedReader, EpochSums, LoopState, Moment, TrainingState, Unfit,
};
use crate::{Monitor, TrainConfig, optim, schedule};
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use kiln_models::{Classifier, Invalid};

/// Runs `each` on every batch of `data` in its fixed order, for an evaluation: tells
/// `observer` of each, stops with [`TrainError::EvaluationInterrupted`] when it asks (a long
/// test split can take minutes), and returns the mean over items of each batch's mean loss.
pub(crate) fn evaluate_batches<M>(
    data: &dyn crate::Batches,
    device: &Device,
    observer: &mut dyn Observer<M>,
    mut each: impl FnMut(crate::Batch) -> Result<f64, TrainError>,
) -> Result<f64, TrainError> {
    let order = data.order(None);
    observer.on_evaluation_start(order.len());
    let (mut loss_sum, mut seen) = (0.0f64, 0usize);
    for (batch, indices) in order.iter().enumerate() {
        if observer.stop_requested() {
            return Err(TrainError::EvaluationInterrupted {
                batch,
                batches: order.len(),
            });
        }
        let batch = data.batch(indices, device);
        let len = batch.len;
        loss_sum += each(batch)? * len as f64;
        seen += len;
        observer.on_evaluation_batch();
    }
    Ok(loss_sum / seen.max(1) as f64)
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
    #[error("writing a checkpoint at step {step}: {message}")]
    Checkpoint { step: usize, message: String },
    #[error(transparent)]
    Resume(#[from] Unfit),
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
    /// The checkpoint to go on from, asked once when the loop starts.
    fn take_resume(&mut self) -> Option<TrainingState> {
        None
    }
    /// Asked after every step, every epoch and at the end: whether to take a checkpoint now
    /// (taking one copies the weights and optimizer state to the host). Asked after a step
    /// before [`Observer::stop_requested`], so a stop can leave a checkpoint behind.
    fn checkpoint_due(&mut self, _at: Moment) -> bool {
        false
    }
    /// Keeps a checkpoint the loop took because [`Observer::checkpoint_due`] said so; an
    /// error ends training with [`TrainError::Checkpoint`].
    fn on_checkpoint(&mut self, _checkpoint: TrainingState) -> Result<(), String> {
        Ok(())
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
    /// What the task carries from one batch to the next within an epoch (running sums, a
    /// stateful model's hidden state, a random stream), for a checkpoint.
    fn carried(&self) -> Carried {
        Carried::default()
    }
    /// Takes back what [`Task::carried`] gave, after [`Task::start_epoch`] of the same epoch.
    fn restore(&mut self, _carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        Ok(())
    }
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
/// the order of the batches and the backend's random numbers. When the observer hands over a
/// checkpoint ([`Observer::take_resume`]), training goes on from it and ends as it would
/// have without the interruption.
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
    let optimizers = Optimizers {
        list: (0..task.optimizers().max(1))
            .map(|_| optim::build(&config.optimizer, config.weight_decay, config.grad_clip))
            .collect(),
        lr: ModuleLearningRate::default(),
    };
    let scheduler = schedule::build(config, task.num_batches())?;
    let mut fit = Fit {
        config,
        task,
        device,
        ad_device: device.clone().autodiff(),
        seed,
        observer,
        monitored,
        optimizers,
        scheduler,
        state: LoopState {
            epoch: 1,
            batch: 0,
            step: 0,
            finished: false,
            stopped_early: false,
            best: None,
            since_best: 0,
            history: Vec::new(),
            sums: EpochSums::default(),
            carried: Carried::default(),
        },
        best: None,
    };
    let model = fit.restore(model)?;
    if fit.state.finished {
        return outcome(fit.state, fit.best);
    }
    let mut model = model.fork(&fit.ad_device).train();
    while fit.state.epoch <= config.epochs {
        let epoch = fit.state.epoch;
        let epoch_start = Instant::now();
        let (order, before) = fit.begin_epoch(epoch)?;
        model = fit.steps(model, epoch, &order, before, epoch_start)?;
        let train_seconds = before + epoch_start.elapsed().as_secs_f64();
        if !fit.end_epoch(&model, epoch, (before, epoch_start), train_seconds)? {
            break;
        }
    }
    fit.state.finished = true;
    if fit.observer.checkpoint_due(Moment::Finished) {
        fit.keep(&model)?;
    }
    outcome(fit.state, fit.best)
}

/// One training run in progress: what [`fit_task`]'s pieces share.
struct Fit<'a, T: Task> {
    config: &'a TrainConfig,
    task: &'a mut T,
    device: &'a Device,
    ad_device: Device,
    seed: u64,
    observer: &'a mut dyn Observer<T::Model>,
    monitored: Metric,
    optimizers: Optimizers,
    scheduler: ModuleLrScheduler,
    state: LoopState,
    /// The best model so far, in validation mode.
    best: Option<T::Model>,
}

impl<T: Task> Fit<'_, T> {
    /// The model to train: `model` as built, or the observer's checkpoint loaded into it,
    /// with the optimizers' state, the best model so far, the schedule replayed to its step
    /// and the loop's state.
    fn restore(&mut self, model: T::Model) -> Result<T::Model, TrainError> {
        let Some(checkpoint) = self.observer.take_resume() else {
            return Ok(model);
        };
        if checkpoint.optimizers.len() != self.optimizers.list.len() {
            return Err(Unfit(format!(
                "it holds {} optimizer states, the task steps {}",
                checkpoint.optimizers.len(),
                self.optimizers.list.len()
            ))
            .into());
        }
        let config = self.config;
        for (optimizer, record) in self.optimizers.list.iter_mut().zip(checkpoint.optimizers) {
            *optimizer = optim::build(&config.optimizer, config.weight_decay, config.grad_clip)
                .load_record(record);
        }
        // `valid` gives the best model batch-norm statistics of its own: a clone shares
        // them with `model`, which the training weights are loaded into next.
        self.best = match checkpoint.best {
            Some(record) => Some(
                resume::load(model.clone(), record)?
                    .valid()
                    .fork(self.device),
            ),
            None => None,
        };
        for _ in 0..checkpoint.state.step {
            self.scheduler.step();
        }
        self.state = checkpoint.state;
        Ok(resume::load(model, checkpoint.model)?)
    }

    /// The epoch's batch order and the seconds it had trained already: a resumed epoch gets
    /// the task's carried state back, a new one fresh sums.
    fn begin_epoch(&mut self, epoch: usize) -> Result<(Vec<Vec<usize>>, f64), TrainError> {
        let order = self.task.start_epoch(epoch, epoch_seed(self.seed, epoch));
        if self.state.batch > 0 {
            let carried = std::mem::take(&mut self.state.carried);
            self.task
                .restore(&mut CarriedReader::new(carried), &self.ad_device)
                .map_err(Unfit)?;
        } else {
            self.state.sums = EpochSums {
                learning_rate: self.config.learning_rate,
                ..EpochSums::default()
            };
        }
        self.observer.on_epoch_start(epoch, order.len());
        Ok((order, self.state.sums.seconds))
    }

    /// The epoch's training steps from where it stands, with a checkpoint when one is due and
    /// a stop when one is asked for.
    fn steps(
        &mut self,
        mut model: T::Model,
        epoch: usize,
        order: &[Vec<usize>],
        before: f64,
        epoch_start: Instant,
    ) -> Result<T::Model, TrainError> {
        for indices in &order[self.state.batch.min(order.len())..] {
            let lr = self.scheduler.step();
            self.state.sums.learning_rate = lr.base();
            self.optimizers.lr = lr;
            resume::seed_step(self.device, self.seed, self.state.step);
            let (stepped, out) =
                self.task
                    .optimize(model, indices, &self.ad_device, &mut self.optimizers)?;
            model = stepped;
            let loss_value = out.loss;
            self.state.step += 1;
            self.state.batch += 1;
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step: self.state.step,
                    loss: loss_value,
                });
            }

            let sums = &mut self.state.sums;
            sums.loss += loss_value as f64 * out.predictions as f64;
            sums.samples += out.samples;
            sums.predictions += out.predictions;
            sums.correct += out.correct;
            self.observer.on_step(&StepRecord {
                step: self.state.step,
                epoch,
                loss: loss_value as f64,
                accuracy: out.correct as f64 / out.predictions.max(1) as f64,
                learning_rate: sums.learning_rate,
                samples: out.samples,
            });
            // After an epoch's last step, its end (after validation) checkpoints and stops.
            if self.state.batch == order.len() {
                continue;
            }
            if self.observer.checkpoint_due(Moment::Step) {
                self.state.sums.seconds = before + epoch_start.elapsed().as_secs_f64();
                self.state.carried = self.task.carried();
                let kept = self.keep(&model);
                self.state.carried = Carried::default();
                kept?;
            }
            if self.observer.stop_requested() {
                return Err(TrainError::Interrupted {
                    epoch,
                    step: self.state.step,
                });
            }
        }
        Ok(model)
    }

    /// Validation, the epoch's record, the best model so far and early stopping; `false` when
    /// training stops early. `(before, epoch_start)`: the seconds trained before this
    /// process took the epoch up, and when it did.
    fn end_epoch(
        &mut self,
        model: &T::Model,
        epoch: usize,
        (before, epoch_start): (f64, Instant),
        train_seconds: f64,
    ) -> Result<bool, TrainError> {
        let config = self.config;
        let sums = self.state.sums;
        let train_metrics = self.task.train_metrics(
            sums.loss / sums.predictions.max(1) as f64,
            sums.correct as f64 / sums.predictions.max(1) as f64,
        );
        let snapshot = model.valid();
        let validation = if self.task.has_validation() {
            match self
                .task
                .validate(&snapshot, self.device, &mut *self.observer)
            {
                // Stopped while validating: the epoch's steps are done, so a checkpoint here
                // goes on with its validation.
                Err(stop @ TrainError::EvaluationInterrupted { .. })
                    if self.observer.checkpoint_due(Moment::Step) =>
                {
                    self.state.sums.seconds = train_seconds;
                    self.state.carried = self.task.carried();
                    self.keep(model)?;
                    return Err(stop);
                }
                result => Some(result?),
            }
        } else {
            None
        };
        self.observer.on_epoch_model(epoch, &snapshot);
        let mut record = EpochRecord {
            epoch,
            train: train_metrics,
            validation,
            learning_rate: sums.learning_rate,
            train_seconds,
            samples_per_second: sums.samples as f64 / train_seconds,
            epoch_seconds: before + epoch_start.elapsed().as_secs_f64(),
            improved: false,
        };
        let value = record.monitored(&config.monitor).ok_or_else(|| {
            Invalid::new(
                "monitor",
                format!("this task does not report {}", config.monitor.name()),
            )
        })?;
        let min_delta = config.early_stopping.map_or(0.0, |e| e.min_delta);
        let improved = match self.state.best {
            None => true,
            Some((best_value, _)) if self.monitored.higher_is_better => {
                value > best_value + min_delta
            }
            Some((best_value, _)) => value < best_value - min_delta,
        };
        record.improved = improved;
        if improved {
            self.observer.on_best(epoch, &snapshot);
            self.state.best = Some((value, epoch));
            self.best = Some(snapshot);
            self.state.since_best = 0;
        } else {
            self.state.since_best += 1;
        }
        self.observer.on_epoch_end(&record);
        let state = &mut self.state;
        state.history.push(record);
        state.epoch += 1;
        state.batch = 0;
        state.sums = EpochSums::default();
        if config
            .early_stopping
            .is_some_and(|e| state.since_best >= e.patience)
            && epoch < config.epochs
        {
            state.stopped_early = true;
            return Ok(false);
        }
        if self.state.epoch <= config.epochs && self.observer.checkpoint_due(Moment::EpochEnd) {
            self.keep(model)?;
        }
        if self.observer.stop_requested() && self.state.epoch <= config.epochs {
            return Err(TrainError::Interrupted {
                epoch,
                step: self.state.step,
            });
        }
        Ok(true)
    }

    fn keep(&mut self, model: &T::Model) -> Result<(), TrainError> {
        keep(
            &mut *self.observer,
            &self.state,
            model,
            &self.optimizers,
            self.best.as_ref(),
        )
    }
}

/// What training gave once it has finished (or a resumed run found it finished).
fn outcome<M>(state: LoopState, best: Option<M>) -> Result<FitOutcome<M>, TrainError> {
    Ok(FitOutcome {
        best: best.ok_or_else(|| Unfit("training finished without a best model".into()))?,
        best_epoch: state.best.map_or(0, |(_, epoch)| epoch),
        history: state.history,
        stopped_early: state.stopped_early,
    })
}

/// Hands the observer a checkpoint of the loop as it stands (`model` is the training model,
/// `best` the best epoch's).
fn keep<M: Module>(
    observer: &mut dyn Observer<M>,
    state: &LoopState,
    model: &M,
    optimizers: &Optimizers,
    best: Option<&M>,
) -> Result<(), TrainError> {
    let checkpoint = TrainingState {
        state: state.clone(),
        // Through `valid`, which folds the batch norms' pending running statistics into their
        // values first: a record of the training model would hold them one update behind.
        model: model.valid().into_record(),
        optimizers: optimizers.list.iter().map(|o| o.to_record()).collect(),
        best: best.map(|b| b.clone().into_record()),
    };
    observer
        .on_checkpoint(checkpoint)
        .map_err(|message| TrainError::Checkpoint {
            step: state.step,
            message,
        })
}
