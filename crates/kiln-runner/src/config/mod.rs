//! Loading an experiment file: file, environment and `--set` merged by figment, errors with
//! file:line and "did you mean", `[sweep]` expanded into trials, and every trial checked
//! against its schema (`crate::config::schema`) and its task's spec (`spec`).

mod lines;
mod load;
pub mod schema;
pub mod search;
pub mod spec;
pub mod sweep;

pub use load::{ConfigError, Plan, Search, Sweep, Trial, load, plan};
pub use schema::{
    AdditionProblem, BackendKind, CorpusSettings, DataConfig, DataSource, DatasetKind, Experiment,
    ImdbSettings, LoadedExperiment, MnistSettings, NormalizeKind, PairsSettings, Problem, Split,
    Strings, SyntheticSettings, TokenizerKind, TruncateKind,
};
