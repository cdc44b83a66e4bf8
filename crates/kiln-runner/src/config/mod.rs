//! The experiment file: its schema, its checks and how it is loaded.

mod load;
mod schema;
pub mod sweep;

pub use load::{ConfigError, LoadedExperiment, Plan, Sweep, Trial, load, plan};
pub use schema::{
    BackendKind, DataConfig, DataSource, DatasetKind, Experiment, GenerationConfig, NormalizeKind,
    SyntheticTask, TokenizerKind, TruncateKind,
};
