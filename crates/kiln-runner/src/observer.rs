//! What the runner does while the loop trains: records metrics, draws progress, logs each
//! epoch and keeps the best checkpoint on disk.

use burn::module::Module;
use kiln_models::Classifier;
use kiln_train::{EpochRecord, Observer, StepRecord};
use tracing::span::EnteredSpan;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::progress::bar;
use crate::run_dir::RunDir;

pub struct RunObserver<'a> {
    run: &'a RunDir,
    epochs_total: usize,
    pub steps: Vec<StepRecord>,
    pub epochs: Vec<EpochRecord>,
    pub checkpoint_error: Option<String>,
    training: Option<EnteredSpan>,
    epoch: Option<EnteredSpan>,
}

impl<'a> RunObserver<'a> {
    pub fn new(run: &'a RunDir, epochs_total: usize) -> Self {
        Self {
            run,
            epochs_total,
            steps: Vec::new(),
            epochs: Vec::new(),
            checkpoint_error: None,
            training: None,
            epoch: None,
        }
    }
}

impl Observer for RunObserver<'_> {
    fn on_epoch_start(&mut self, epoch: usize, batches: usize) {
        if self.training.is_none() {
            let span = tracing::info_span!("training", indicatif.pb_show = true);
            self.training = Some(bar(span, self.epochs_total as u64, "epochs").entered());
        }
        self.epoch = None;
        let span = tracing::info_span!("epoch", indicatif.pb_show = true, n = epoch);
        self.epoch = Some(bar(span, batches as u64, "batches").entered());
    }

    fn on_step(&mut self, step: &StepRecord) {
        if let Some(span) = &self.epoch {
            span.pb_inc(1);
            if step.step.is_multiple_of(20) {
                span.pb_set_message(&format!("loss {:.4}", step.loss));
            }
        }
        self.steps.push(*step);
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
    }

    fn on_epoch_end(&mut self, r: &EpochRecord) {
        self.epoch = None;
        if let Some(span) = &self.training {
            span.pb_inc(1);
        }
        let val = r
            .validation
            .as_ref()
            .map(|v| format!(" | val loss {:.4} acc {:.2}%", v.loss, v.accuracy * 100.0))
            .unwrap_or_default();
        tracing::info!(
            "epoch {}/{}: train loss {:.4} acc {:.2}%{val} | lr {:.2e} | {:.0} samples/s | {:.1} s{}",
            r.epoch,
            self.epochs_total,
            r.train.loss,
            r.train.accuracy * 100.0,
            r.learning_rate,
            r.samples_per_second,
            r.epoch_seconds,
            if r.improved { " *" } else { "" }
        );
        self.epochs.push(r.clone());
    }

    fn stop_requested(&self) -> bool {
        crate::interrupt::requested()
    }

    fn on_best(&mut self, _epoch: usize, model: &Classifier) {
        if let Err(e) = model.clone().save_file(self.run.best_checkpoint()) {
            self.checkpoint_error = Some(e.to_string());
        }
    }
}
