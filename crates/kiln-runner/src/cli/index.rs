//! `kiln index`: the run index read, or rebuilt from the run folders.

use super::args::Results;

#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// Read every run folder and write the index anew.
    #[arg(long)]
    rebuild: bool,
    #[command(flatten)]
    results: Results,
}

impl IndexArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if self.rebuild {
            crate::store::index::rebuild(&self.results.results, &crate::config::spec::all_metrics())
                .map(|(rows, skipped)| {
                    for s in &skipped {
                        eprintln!("skipped {s}");
                    }
                    println!(
                        "{}: {rows} runs ({} folders skipped)",
                        crate::store::index::path(&self.results.results).display(),
                        skipped.len()
                    );
                })
        } else {
            crate::store::index::read(&self.results.results).map(|f| {
                println!(
                    "{}: {} runs, {} columns (--rebuild to rebuild it from the run folders)",
                    crate::store::index::path(&self.results.results).display(),
                    f.height(),
                    f.width()
                );
            })
        }
    }
}
