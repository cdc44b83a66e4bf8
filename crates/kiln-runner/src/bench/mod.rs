//! `kiln bench`: a task's training steps timed on a backend (`steps`), a workload written
//! out for PyTorch (`export`), and the two side by side (`pytorch`). Invariant: the bench
//! trains through the task's own batches and `fit` loop, never a copy of them.

pub mod export;
pub mod pytorch;
pub mod steps;
