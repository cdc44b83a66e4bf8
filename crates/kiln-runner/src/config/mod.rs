//! Loading an experiment file: file, environment and `--set` merged by figment, errors with
//! file:line and "did you mean", `[sweep]` expanded into trials, and every trial checked
//! against its schema (`crate::schema`) and its task (`crate::tasks`).

mod lines;
mod load;
pub mod sweep;

pub use crate::schema::{
    BackendKind, DataConfig, DataSource, DatasetKind, Experiment, GenerationConfig,
    LoadedExperiment, NormalizeKind, SyntheticTask, TokenizerKind, TruncateKind,
};
pub use load::{ConfigError, Plan, Sweep, Trial, load, plan};
