//! The run store: the run folder's layout and every file in it, and the index over all runs.
//! `run_dir` is the only place that spells a file name; `manifest` is a run's provenance and
//! status; `metrics_io` its tables; `checkpoints` its training checkpoints; `charts` its
//! learning curves; `preprocessing` what it learnt about its inputs; `observer` what a run
//! writes while it trains; `finished` a finished run opened for use; `index` the table of
//! every run. Invariant: the store sees configuration and tasks' specs, never a task's
//! running side, a command or a sweep.

pub mod charts;
pub mod checkpoints;
pub mod finished;
pub mod index;
pub mod manifest;
pub mod metrics_io;
pub(crate) mod observer;
pub mod preprocessing;
pub mod run_dir;
