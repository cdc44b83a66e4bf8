//! `kiln compare` and `kiln report`: runs side by side from the index.

use std::path::PathBuf;

use super::args::Results;
use crate::compare::{FormatArg, Selection};

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    results: Results,
    #[command(flatten)]
    selection: Selection,
    /// table, markdown, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Write the table here instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also draw the charts (curves, bars, scatter) as PNG and SVG into this folder.
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
}

impl CompareArgs {
    pub fn run(self) -> anyhow::Result<()> {
        crate::compare::compare(
            &in_folder(self.selection, self.results),
            self.format,
            self.output.as_deref(),
            self.charts.as_deref(),
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    results: Results,
    #[command(flatten)]
    selection: Selection,
    /// The page's path; by default results/<experiment>/<sweep>/report.html for one
    /// sweep, else results/reports/report-<time>.html.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[arg(long)]
    title: Option<String>,
}

impl ReportArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let page = crate::compare::report(
            &in_folder(self.selection, self.results),
            self.out.as_deref(),
            self.title.as_deref(),
        )?;
        println!("report: {}", page.display());
        Ok(())
    }
}

/// The selection, in the results folder `--results` names.
fn in_folder(selection: Selection, results: Results) -> Selection {
    Selection {
        results: results.results,
        ..selection
    }
}
