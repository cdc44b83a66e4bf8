//! The training loop of kiln: burn's optimizers and LR schedulers behind typed configs, losses,
//! classification metrics, early stopping and best-model tracking.
//!
//! The loop reports through [`Observer`] and returns models; writing files, drawing progress
//! and reading experiment files are the caller's business.

mod batches;
pub mod bleu;
mod classify;
mod config;
pub mod fid;
mod fit;
pub mod gan;
mod language;
mod loss;
mod metrics;
mod multilabel;
mod optim;
mod records;
mod regress;
pub mod resume;
mod schedule;
mod translation;
mod validate;

pub use batches::{Batch, Batches, Valued};
pub use classify::{CLASSIFICATION_METRICS, Classify, Splits, evaluate, fit};
pub use config::{
    AdamParams, EarlyStopping, GradClip, LossKind, Monitor, OptimizerConfig, ScheduleConfig,
    TrainConfig,
};
pub use fit::{
    Checkpoint, EpochRecord, FitOutcome, Metric, Observer, Optimizers, SplitMetrics, StepObserver,
    StepOutcome, StepRecord, Steps, Task, TrainError, TrainStep, epoch_seed, fit_task,
    monitored_metric,
};
pub use language::{LANGUAGE_METRICS, LanguageModeling, evaluate_language, language_metrics};
pub use metrics::Confusion;
pub use multilabel::{
    LabelCounts, LabelScores, MULTILABEL_METRICS, MultiLabelEvaluation, MultiLabelSplits,
    THRESHOLD, evaluate_multilabel, fit_multilabel,
};
pub use regress::{
    REGRESSION_METRICS, RegressionSplits, Residuals, TargetScale, evaluate_regression,
    fit_regression,
};
pub use resume::{Carried, CarriedReader, Moment, TrainingState};
pub use translation::{
    Decoding, TRANSLATION_METRICS, Translated, Translation, beam_one, evaluate_translation,
};
