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
use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use kiln_models::{Classifier, Invalid};

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
    let ad_device = device.clone().autodiff();
    let mut optimizers = Optimizers {
        list: (0..task.optimizers().max(1))
            .map(|_| optim::build(&config.optimizer, config.weight_decay, config.grad_clip))
            .collect(),
        lr: ModuleLearningRate::default(),
    };
    let mut scheduler = schedule::build(config, task.num_batches())?;

    let mut state = LoopState {
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
    };
    let mut best: Option<T::Model> = None;
    let mut model = match observer.take_resume() {
        None => model,
        Some(checkpoint) => {
            if checkpoint.optimizers.len() != optimizers.list.len() {
                return Err(Unfit(format!(
                    "it holds {} optimizer states, the task steps {}",
                    checkpoint.optimizers.len(),
                    optimizers.list.len()
                ))
                .into());
            }
            for (optimizer, record) in optimizers.list.iter_mut().zip(checkpoint.optimizers) {
                *optimizer = optim::build(&config.optimizer, config.weight_decay, config.grad_clip)
                    .load_record(record);
            }
            // `valid` gives the best model batch-norm statistics of its own: a clone shares
            // them with `model`, which the training weights are loaded into next.
            best = match checkpoint.best {
                Some(record) => Some(resume::load(model.clone(), record)?.valid().fork(device)),
                None => None,
            };
            for _ in 0..checkpoint.state.step {
                scheduler.step();
            }
            state = checkpoint.state;
            resume::load(model, checkpoint.model)?
        }
    };
    if state.finished {
        return outcome(state, best);
    }
    model = model.fork(&ad_device).train();

    while state.epoch <= config.epochs {
        let epoch = state.epoch;
        let epoch_start = Instant::now();
        let order = task.start_epoch(epoch, epoch_seed(seed, epoch));
        if state.batch > 0 {
            let carried = std::mem::take(&mut state.carried);
            task.restore(&mut CarriedReader::new(carried), &ad_device)
                .map_err(Unfit)?;
        } else {
            state.sums = EpochSums {
                learning_rate: config.learning_rate,
                ..EpochSums::default()
            };
        }
        observer.on_epoch_start(epoch, order.len());
        let before = state.sums.seconds;
        for indices in &order[state.batch.min(order.len())..] {
            let lr = scheduler.step();
            state.sums.learning_rate = lr.base();
            optimizers.lr = lr;
            resume::seed_step(device, seed, state.step);
            let (stepped, out) = task.optimize(model, indices, &ad_device, &mut optimizers)?;
            model = stepped;
            let loss_value = out.loss;
            state.step += 1;
            state.batch += 1;
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step: state.step,
                    loss: loss_value,
                });
            }

            let sums = &mut state.sums;
            sums.loss += loss_value as f64 * out.predictions as f64;
            sums.samples += out.samples;
            sums.predictions += out.predictions;
            sums.correct += out.correct;
            observer.on_step(&StepRecord {
                step: state.step,
                epoch,
                loss: loss_value as f64,
                accuracy: out.correct as f64 / out.predictions.max(1) as f64,
                learning_rate: sums.learning_rate,
                samples: out.samples,
            });
            // After an epoch's last step, its end (after validation) checkpoints and stops.
            if state.batch == order.len() {
                continue;
            }
            if observer.checkpoint_due(Moment::Step) {
                state.sums.seconds = before + epoch_start.elapsed().as_secs_f64();
                state.carried = task.carried();
                let kept = keep(observer, &state, &model, &optimizers, best.as_ref());
                state.carried = Carried::default();
                kept?;
            }
            if observer.stop_requested() {
                return Err(TrainError::Interrupted {
                    epoch,
                    step: state.step,
                });
            }
        }
        let train_seconds = before + epoch_start.elapsed().as_secs_f64();
        let sums = state.sums;
        let train_metrics = task.train_metrics(
            sums.loss / sums.predictions.max(1) as f64,
            sums.correct as f64 / sums.predictions.max(1) as f64,
        );
        let snapshot = model.valid();
        let validation = if task.has_validation() {
            match task.validate(&snapshot, device, observer) {
                // Stopped while validating: the epoch's steps are done, so a checkpoint here
                // goes on with its validation.
                Err(stop @ TrainError::EvaluationInterrupted { .. })
                    if observer.checkpoint_due(Moment::Step) =>
                {
                    state.sums.seconds = train_seconds;
                    state.carried = task.carried();
                    keep(observer, &state, &model, &optimizers, best.as_ref())?;
                    return Err(stop);
                }
                result => Some(result?),
            }
        } else {
            None
        };
        observer.on_epoch_model(epoch, &snapshot);
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
        let improved = match state.best {
            None => true,
            Some((best_value, _)) if monitored.higher_is_better => value > best_value + min_delta,
            Some((best_value, _)) => value < best_value - min_delta,
        };
        record.improved = improved;
        if improved {
            observer.on_best(epoch, &snapshot);
            state.best = Some((value, epoch));
            best = Some(snapshot);
            state.since_best = 0;
        } else {
            state.since_best += 1;
        }
        observer.on_epoch_end(&record);
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
            break;
        }
        if state.epoch <= config.epochs && observer.checkpoint_due(Moment::EpochEnd) {
            keep(observer, &state, &model, &optimizers, best.as_ref())?;
        }
        if observer.stop_requested() && state.epoch <= config.epochs {
            return Err(TrainError::Interrupted {
                epoch,
                step: state.step,
            });
        }
    }
    state.finished = true;
    if observer.checkpoint_due(Moment::Finished) {
        keep(observer, &state, &model, &optimizers, best.as_ref())?;
    }
    outcome(state, best)
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
