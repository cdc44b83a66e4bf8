//! Loading an experiment file: file, environment and `--set` merged by figment, errors with
//! file:line and "did you mean", `[sweep]` expanded into trials, and every trial checked
//! against its schema (`crate::schema`) and its task (`crate::tasks`).

mod lines;
mod load;
pub mod search;
pub mod sweep;

pub use crate::schema::{
    AdditionProblem, BackendKind, CorpusSettings, DataConfig, DataSource, DatasetKind, Experiment,
    ImdbSettings, LoadedExperiment, MnistSettings, NormalizeKind, PairsSettings, Problem, Split,
    Strings, SyntheticSettings, TokenizerKind, TruncateKind,
};
pub use load::{ConfigError, Plan, Search, Sweep, Trial, load, plan};
