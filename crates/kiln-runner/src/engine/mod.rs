//! Running experiments: one run start to end (`run`), a sweep's trials (`sweep`), a search's
//! workers and its decisions (`search`), and the table printed when a run ends (`summary`).
//! Invariant: the engine drives tasks through `TaskKind` and `PreparedTask` and knows no
//! task by name; nothing below it imports it.

pub mod run;
pub mod search;
pub mod summary;
pub mod sweep;
