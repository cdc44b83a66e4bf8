//! `[sweep.search]`: a search that proposes trials from what earlier trials gave (grid,
//! random or TPE) and stops poor ones at epoch ends (median, successive halving, Hyperband),
//! resuming a stopped trial from its checkpoint when it earns a promotion later, or trains a
//! population whose worst members take up the best ones' weights.
//!
//! `decide.rs` is the policy, a function of the journal, with `population.rs` for
//! population-based training; `tpe.rs` the estimator;
//! `journal.rs` the append-only record that workers share; `run.rs` the workers.

pub mod decide;
pub mod journal;
pub mod lineage;
pub mod population;
pub mod progress;
pub mod run;
pub mod tpe;

pub use run::{
    SearchOptions, attempt, folder, fork_start, is_done, placement, run_search, status,
    trial_values,
};
