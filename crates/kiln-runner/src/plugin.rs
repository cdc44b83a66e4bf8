//! Everything a crate of one's own needs to add a model to kiln, and nothing else: a task's
//! spec and run-time side for the model, the experiment as read, the data loaded as kiln's
//! own classifiers load it, and `main_with`, which makes the crate's binary the `kiln`
//! command with its tasks registered. `examples/custom-model` compiles against this alone.

pub use crate::cli::main_with;
pub use crate::config::spec::TaskSpec;
pub use crate::config::{DatasetKind, Experiment, LoadedExperiment};
pub use crate::tasks::prepare::Prepared;
pub use crate::tasks::{PreparedTask, TaskKind, fits_in_memory, prepared_classifier};
