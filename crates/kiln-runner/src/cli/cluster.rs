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
            run: crate::engine::sweep::Invocation::new(file, sets, results)?,
            to: self.to,
            dry_run: self.dry_run,
        };
        match crate::config::plan(file, sets)? {
            Plan::Search(search) => crate::cluster::submit_search(&search, &options),
            plan => crate::cluster::submit(&sweep_of(file, plan)?, &options),
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
    match crate::config::plan(file, sets)? {
        Plan::Search(search) => crate::engine::search::status(&search, results),
        plan => crate::cluster::status(&sweep_of(file, plan)?, results),
    }
}

/// `cancel`: the sweep's Slurm jobs.
pub fn cancel(args: ExperimentArgs) -> anyhow::Result<()> {
    let (file, sets, results) = parts(&args);
    match crate::config::plan(file, sets)? {
        Plan::Search(search) => crate::cluster::cancel_search(&search, results),
        plan => crate::cluster::cancel(&sweep_of(file, plan)?, results),
    }
}

/// The sweep `file`'s plan holds; a file without one is refused, since only sweeps go to
/// clusters.
fn sweep_of(file: &std::path::Path, plan: Plan) -> anyhow::Result<crate::config::Sweep> {
    match plan {
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
