//! The kiln command: reads experiment files, owns the `results/` layout, and turns a run into
//! metrics, charts and provenance. The only crate that knows about files, TOML and the CLI.

pub mod backend;
pub(crate) mod bench;
pub mod cli;
pub(crate) mod cluster;
pub(crate) mod compare;
pub mod config;
pub mod engine;
pub(crate) mod platform;
pub mod plugin;
pub(crate) mod serve;
pub mod store;
pub(crate) mod tasks;
