//! Using finished runs: `predict` and `evaluate` (`predict`), `generate` and `translate`
//! (`inference`, answered by the run's task) and `export` to PyTorch (`export`). Invariant:
//! a finished run is prepared from what its folder holds (config, vocabularies, codec,
//! preprocessing, checkpoint), never from new data or the experiment file.

pub mod export;
pub mod inference;
pub mod predict;
