//! What the runner does while the loop trains: records metrics, draws progress, logs each
//! epoch, keeps the best checkpoint on disk, rewrites the metric tables and charts after
//! every epoch, so a run killed outright keeps every epoch it finished, and writes training
//! checkpoints as `[checkpoint]` says and when a signal stops the run.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use kiln_models::Classifier;
use kiln_train::{Checkpoint, EpochRecord, Moment, Observer, StepRecord, TrainingState};
use tracing::span::EnteredSpan;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::config::schema::{CheckpointSettings, Every};
use crate::platform::progress::bar;
use crate::store::checkpoints;
use crate::store::run_dir::RunDir;
use crate::{platform::fault, store::charts, store::metrics_io};

/// How a run keeps its training state: the experiment's settings, and the checkpoint a
/// resumed run goes on from.
pub struct Checkpointing {
    pub settings: CheckpointSettings,
    pub resume: Option<checkpoints::Loaded>,
    /// Stop with a checkpoint once this epoch has ended (a search's rung).
    pub pause_after: Option<usize>,
}

/// Training stopped at the end of the epoch [`Checkpointing::pause_after`] named, with a
/// checkpoint there.
#[derive(Debug, thiserror::Error)]
#[error("paused after epoch {epoch}, with a checkpoint there")]
pub struct Paused {
    pub epoch: usize,
}

/// Called with the validation-mode model after every epoch (a generative run writes its
/// samples there).
pub type EpochHook<'a, M> = Box<dyn FnMut(usize, &M) -> anyhow::Result<()> + 'a>;

pub struct RunObserver<'a, M = Classifier> {
    run: &'a RunDir,
    epochs_total: usize,
    pub steps: Vec<StepRecord>,
    pub epochs: Vec<EpochRecord>,
    pub checkpoint_error: Option<String>,
    /// The first error writing the metrics or charts after an epoch.
    pub write_error: Option<anyhow::Error>,
    /// Steps and epochs on disk already, so that nothing is written twice.
    written: Option<(usize, usize)>,
    /// The first error of `epoch_hook`, which ends the run once training stops.
    pub hook_error: Option<anyhow::Error>,
    epoch_hook: Option<EpochHook<'a, M>>,
    training: Option<EnteredSpan>,
    epoch: Option<EnteredSpan>,
    /// Without a terminal (a log file, a cluster job) there are no bars: a plain line
    /// every [`PLAIN_PROGRESS`] instead.
    plain: Option<PlainProgress>,
    checkpoint: CheckpointSettings,
    resume: Option<TrainingState>,
    last_checkpoint: Instant,
    steps_since_checkpoint: usize,
    pause_after: Option<usize>,
    /// Set when the epoch `pause_after` names has ended.
    pub paused: Option<usize>,
}

/// How often a run writes a progress line when its output is not a terminal, unless
/// `KILN_PROGRESS_SECONDS` says otherwise.
const PLAIN_PROGRESS: Duration = Duration::from_secs(10);

struct PlainProgress {
    every: Duration,
    last: Instant,
    epoch: usize,
    batch: usize,
    batches: usize,
}

impl<'a, M> RunObserver<'a, M> {
    pub fn new(run: &'a RunDir, epochs_total: usize, checkpointing: Checkpointing) -> Self {
        let (steps, epochs, resume) = match checkpointing.resume {
            Some(loaded) => (
                loaded.steps,
                loaded.state.state.history.clone(),
                Some(loaded.state),
            ),
            None => (Vec::new(), Vec::new(), None),
        };
        Self {
            run,
            epochs_total,
            steps,
            epochs,
            checkpoint_error: None,
            write_error: None,
            written: None,
            hook_error: None,
            epoch_hook: None,
            training: None,
            epoch: None,
            plain: (!std::io::stderr().is_terminal()).then(|| PlainProgress {
                every: std::env::var("KILN_PROGRESS_SECONDS")
                    .ok()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map_or(PLAIN_PROGRESS, Duration::from_secs_f64),
                last: Instant::now(),
                epoch: 0,
                batch: 0,
                batches: 0,
            }),
            checkpoint: checkpointing.settings,
            resume,
            last_checkpoint: Instant::now(),
            steps_since_checkpoint: 0,
            pause_after: checkpointing.pause_after,
            paused: None,
        }
    }

    pub fn with_epoch_hook(mut self, hook: EpochHook<'a, M>) -> Self {
        self.epoch_hook = Some(hook);
        self
    }

    /// The metric tables and learning curves so far, each file replaced whole; nothing when
    /// no step or epoch came since the last time.
    pub fn persist(&mut self) -> anyhow::Result<()> {
        let now = (self.steps.len(), self.epochs.len());
        if self.written == Some(now) {
            return Ok(());
        }
        let clock = Instant::now();
        metrics_io::write(self.run, &self.steps, &self.epochs)?;
        charts::learning_curves(&self.epochs, |name, ext| self.run.chart(name, ext))?;
        tracing::debug!(
            "metrics and charts of {} epochs written in {:.3} s",
            self.epochs.len(),
            clock.elapsed().as_secs_f64()
        );
        self.written = Some(now);
        Ok(())
    }
}

impl<M: Checkpoint> Observer<M> for RunObserver<'_, M> {
    fn on_epoch_start(&mut self, epoch: usize, batches: usize) {
        if self.training.is_none() {
            let span = tracing::info_span!("training", indicatif.pb_show = true);
            self.training = Some(bar(span, self.epochs_total as u64, "epochs").entered());
        }
        self.epoch = None;
        let span = tracing::info_span!("epoch", indicatif.pb_show = true, n = epoch);
        self.epoch = Some(bar(span, batches as u64, "batches").entered());
        if let Some(p) = &mut self.plain {
            (p.epoch, p.batch, p.batches) = (epoch, 0, batches);
        }
    }

    fn on_step(&mut self, step: &StepRecord) {
        if let Some(span) = &self.epoch {
            span.pb_inc(1);
            if step.step.is_multiple_of(20) {
                span.pb_set_message(&format!("loss {:.4}", step.loss));
            }
        }
        self.steps.push(*step);
        self.steps_since_checkpoint += 1;
        fault::point("step");
        if let Some(p) = &mut self.plain {
            p.batch += 1;
            if p.last.elapsed() >= p.every {
                p.last = Instant::now();
                tracing::info!(
                    "epoch {}/{}: batch {}/{} ({:.0} %), loss {:.4}",
                    p.epoch,
                    self.epochs_total,
                    p.batch,
                    p.batches,
                    100.0 * p.batch as f64 / p.batches.max(1) as f64,
                    step.loss
                );
            }
        }
    }

    fn on_evaluation_start(&mut self, batches: usize) {
        self.epoch = None;
        let span = tracing::info_span!("validate", indicatif.pb_show = true);
        self.epoch = Some(bar(span, batches as u64, "batches").entered());
    }

    fn on_evaluation_batch(&mut self) {
        if let Some(span) = &self.epoch {
            span.pb_inc(1);
        }
        fault::point("evaluation");
    }

    fn on_epoch_end(&mut self, r: &EpochRecord) {
        self.epoch = None;
        if let Some(span) = &self.training {
            span.pb_inc(1);
        }
        // A regression has no accuracy: its own metrics say it.
        let scores = |m: &kiln_train::SplitMetrics| -> String {
            let accuracy = if m.accuracy.is_nan() {
                String::new()
            } else {
                format!(" acc {:.2}%", m.accuracy * 100.0)
            };
            let extra: String = m
                .extra
                .iter()
                .map(|(name, v)| format!(" {name} {v:.4}"))
                .collect();
            format!("{accuracy}{extra}")
        };
        let val = r
            .validation
            .as_ref()
            .map(|v| format!(" | val loss {:.4}{}", v.loss, scores(v)))
            .unwrap_or_default();
        tracing::info!(
            "epoch {}/{}: train loss {:.4}{}{val} | lr {:.2e} | {:.0} samples/s | {:.1} s{}",
            r.epoch,
            self.epochs_total,
            r.train.loss,
            scores(&r.train),
            r.learning_rate,
            r.samples_per_second,
            r.epoch_seconds,
            if r.improved { " *" } else { "" }
        );
        self.epochs.push(r.clone());
        if self.pause_after == Some(r.epoch) && r.epoch < self.epochs_total {
            self.paused = Some(r.epoch);
        }
        fault::point("epoch");
        if self.write_error.is_none()
            && let Err(e) = self.persist()
        {
            self.write_error = Some(e);
        }
    }

    fn stop_requested(&self) -> bool {
        crate::platform::interrupt::requested() || self.paused.is_some()
    }

    fn take_resume(&mut self) -> Option<TrainingState> {
        self.resume.take()
    }

    fn checkpoint_due(&mut self, at: Moment) -> bool {
        if crate::platform::interrupt::requested()
            || (self.paused.is_some() && at == Moment::EpochEnd)
        {
            return true;
        }
        if at == Moment::Finished {
            return self.checkpoint.every != Every::Never;
        }
        match self.checkpoint.every {
            Every::Never => false,
            Every::Steps(n) => self.steps_since_checkpoint >= n,
            Every::Period(p) => self.last_checkpoint.elapsed() >= p,
        }
    }

    fn on_checkpoint(&mut self, checkpoint: TrainingState) -> Result<(), String> {
        let clock = Instant::now();
        let step = checkpoint.state.step;
        self.persist().map_err(|e| format!("{e:#}"))?;
        let bytes = checkpoints::write(self.run, checkpoint, &self.steps, self.checkpoint.keep)
            .map_err(|e| format!("{e:#}"))?;
        let seconds = clock.elapsed().as_secs_f64();
        tracing::debug!(
            "checkpoint after step {step}: {:.1} MB in {seconds:.3} s",
            bytes as f64 / 1e6
        );
        self.last_checkpoint = Instant::now();
        self.steps_since_checkpoint = 0;
        Ok(())
    }

    fn on_best(&mut self, _epoch: usize, model: &M) {
        if let Err(e) = model.save(&self.run.best_checkpoint()) {
            self.checkpoint_error = Some(e);
        }
    }

    fn on_epoch_model(&mut self, epoch: usize, model: &M) {
        if let Some(hook) = &mut self.epoch_hook
            && self.hook_error.is_none()
            && let Err(e) = hook(epoch, model)
        {
            self.hook_error = Some(e);
        }
    }
}
