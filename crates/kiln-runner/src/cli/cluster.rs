//! `kiln submit`, `status` and `cancel`: a sweep's or a search's trials on a cluster.

use super::args::ExperimentArgs;
use crate::config::Plan;

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// slurm or kubernetes.
    #[arg(long, value_enum)]
    to: crate::cluster::Scheduler,
    /// Print the script or manifest and submit nothing.
    #[arg(long)]
    dry_run: bool,
}

impl SubmitArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let (file, sets, results) = parts(&self.experiment);
        let options = crate::cluster::SubmitOptions {
            file: &std::path::absolute(file)?,
            sets,
            results: &std::path::absolute(results)?,
            to: self.to,
            dry_run: self.dry_run,
        };
        match crate::config::plan(file, sets)? {
            Plan::Search(search) => crate::cluster::submit_search(&search, &options),
            _ => crate::cluster::submit(&sweep_of(file, sets)?, &options),
        }
    }
}

fn parts(args: &ExperimentArgs) -> (&std::path::Path, &[String], &std::path::Path) {
    (
        &args.experiment.file,
        &args.experiment.sets.sets,
        &args.results.results,
    )
}

/// `status`: what each trial is doing.
pub fn status(args: ExperimentArgs) -> anyhow::Result<()> {
    let (file, sets, results) = parts(&args);
    match crate::config::plan(file, sets) {
        Ok(Plan::Search(search)) => crate::search::status(&search, results),
        _ => sweep_of(file, sets).and_then(|s| crate::cluster::status(&s, results)),
    }
}

/// `cancel`: the sweep's Slurm jobs.
pub fn cancel(args: ExperimentArgs) -> anyhow::Result<()> {
    let (file, sets, results) = parts(&args);
    match crate::config::plan(file, sets) {
        Ok(Plan::Search(search)) => crate::cluster::cancel_search(&search, results),
        _ => sweep_of(file, sets).and_then(|s| crate::cluster::cancel(&s, results)),
    }
}

/// The sweep `file` holds; a file without one is refused, since only sweeps go to clusters.
fn sweep_of(file: &std::path::Path, sets: &[String]) -> anyhow::Result<crate::config::Sweep> {
    match crate::config::plan(file, sets)? {
        Plan::Sweep(sweep) => Ok(sweep),
        Plan::Single(_) => anyhow::bail!(
            "{}: no [sweep]; a cluster runs a sweep's trials (a single run: `kiln run`)",
            file.display()
        ),
        Plan::Search(_) => anyhow::bail!(
            "{}: a [sweep.search] proposes its trials as it goes; its status and workers are its own",
            file.display()
        ),
    }
}
