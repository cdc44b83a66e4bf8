//! The experiment file: its schema, its checks and how it is loaded.

mod load;
mod schema;

pub use load::{ConfigError, LoadedExperiment, load};
pub use schema::{
    BackendKind, DataConfig, DataSource, DatasetKind, Experiment, NormalizeKind, TokenizerKind,
    TruncateKind,
};
