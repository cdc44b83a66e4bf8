//! The kiln command: reads experiment files, owns the `results/` layout, and turns a run into
//! metrics, charts and provenance. The only crate that knows about files, TOML and the CLI.

pub mod backend;
pub mod bench;
pub mod bench_export;
pub mod bench_pytorch;
pub mod charts;
pub mod checkpoints;
pub mod cli;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod datasets;
pub mod export;
mod fault;
pub mod finished;
pub mod index;
pub mod inference;
mod interrupt;
pub(crate) mod lock;
pub mod manifest;
mod memory;
pub mod metrics_io;
mod observer;
pub mod predict;
pub mod prepare;
pub mod preprocessing;
pub mod progress;
pub mod run;
pub mod run_dir;
pub mod schema;
pub mod search;
pub mod summary;
pub mod sweep_run;
pub mod tasks;
