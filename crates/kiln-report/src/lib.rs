//! Comparing runs: filters, grouped statistics over seeds, tables in four formats, charts
//! across runs and a self-contained HTML page. It works on polars frames and plain values
//! and knows nothing of run folders or the index file; the runner feeds it.

pub mod charts;
pub mod filter;
pub mod grid;
pub mod group;
pub mod html;
pub mod params;
pub mod render;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Filter(String),
    #[error("no column `{name}`{hint}")]
    UnknownColumn { name: String, hint: String },
    #[error("chart {0}")]
    Chart(String),
    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
}
