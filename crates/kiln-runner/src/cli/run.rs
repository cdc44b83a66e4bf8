//! `kiln run`: a file's run, sweep or search, or `--resume` of a run folder.

use std::path::{Path, PathBuf};

use super::args::{Results, Sets};
use crate::config::Plan;
use crate::engine::sweep::{self, SweepOptions};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The experiment file, e.g. experiments/cnn_mnist.toml.
    #[arg(required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Go on with an interrupted, killed or failed run from its newest checkpoint, in its
    /// own folder (e.g. results/cnn_mnist/20261202-100000-s42).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["file", "sets", "jobs", "dry_run", "trial"])]
    resume: Option<PathBuf>,
    #[command(flatten)]
    sets: Sets,
    #[command(flatten)]
    results: Results,
    /// Sweeps: run this many trials at a time, each in its own process (a search: this
    /// many workers).
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Sweeps: list the trials and what a run would do with each, and stop.
    #[arg(long)]
    dry_run: bool,
    /// Run only this trial (1-based) of the file's sweep; how a sweep starts its trials.
    #[arg(long, hide = true)]
    trial: Option<usize>,
    /// Stop with a checkpoint after this epoch, ending `pruned`; how a search trains a
    /// trial to its next rung.
    #[arg(long, hide = true, value_name = "EPOCH")]
    pause_after: Option<usize>,
}

impl RunArgs {
    pub fn run(self, quiet: bool) -> anyhow::Result<()> {
        match (&self.resume, &self.file) {
            (Some(dir), _) => {
                let summary =
                    paused_is_fine(crate::engine::run::resume(dir, self.pause_after), quiet)?;
                if let (Some(summary), false) = (summary, quiet) {
                    crate::engine::summary::print(&summary);
                }
                Ok(())
            }
            (None, Some(file)) => run_file(&self, file, quiet),
            (None, None) => anyhow::bail!("run: give an experiment file, or --resume RUN"),
        }
    }
}

/// A file's single run, sweep or search, or one trial of it (`--trial`, how a sweep starts its
/// trials' processes).
fn run_file(args: &RunArgs, file: &Path, quiet: bool) -> anyhow::Result<()> {
    let (sets, results) = (&args.sets.sets, &args.results.results);
    let (jobs, dry_run, trial, pause_after) = (
        args.jobs as usize,
        args.dry_run,
        args.trial,
        args.pause_after,
    );
    let plan = crate::config::plan(file, sets)?;
    if pause_after.is_some() && !matches!(plan, Plan::Search(_)) {
        anyhow::bail!("--pause-after: only a search's trials pause");
    }
    match (plan, trial) {
        (Plan::Search(search), Some(n)) => search_trial(&search, n, results, pause_after, quiet),
        (Plan::Search(search), None) if dry_run => {
            println!(
                "{}: a search of {} keys, {} trials at most, each proposed as the search goes; so far:",
                file.display(),
                search.spec.params.len(),
                match search.spec.trials() {
                    usize::MAX => "no limit on the".to_string(),
                    n => n.to_string(),
                }
            );
            crate::engine::search::status(&search, results)
        }
        (Plan::Search(search), None) => crate::engine::search::run_search(
            &search,
            &crate::engine::search::SearchOptions {
                run: sweep::Invocation::new(file, sets, results)?,
                jobs,
                quiet,
            },
        ),
        (Plan::Single(loaded), None) => {
            if dry_run {
                println!("{}: one run, no [sweep]", file.display());
                return Ok(());
            }
            let summary = crate::engine::run::run(&loaded, results, None, None)?;
            if !quiet {
                crate::engine::summary::print(&summary);
            }
            Ok(())
        }
        (Plan::Single(_), Some(_)) => {
            anyhow::bail!("--trial: {} has no [sweep]", file.display())
        }
        (Plan::Sweep(sweep), Some(n)) => sweep_trial(&sweep, n, results, quiet),
        (Plan::Sweep(sweep), None) if dry_run => {
            sweep::dry_run(&sweep, results);
            Ok(())
        }
        (Plan::Sweep(sweep), None) => sweep::run_sweep(
            &sweep,
            &SweepOptions {
                run: sweep::Invocation::new(file, sets, results)?,
                jobs,
                quiet,
            },
        ),
    }
}

/// One trial of a search, in the process its worker started for it.
fn search_trial(
    search: &crate::config::Search,
    n: usize,
    results: &Path,
    pause_after: Option<usize>,
    quiet: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(n >= 1, "--trial counts from 1");
    let (values, fork) = crate::engine::search::trial_values(search, results, n - 1)?;
    let mut placement = crate::engine::search::placement(search, n - 1, &values)?;
    // One process per trial: a worker that took over a job may have started this
    // trial again while the first process was still loading its data.
    let folder = crate::engine::search::folder(search, results);
    let _trial = crate::platform::lock::FileLock::take(
        &crate::store::run_dir::SweepDir {
            root: folder.clone(),
        }
        .trial_lock(n),
    )?;
    if let Some((dir, _)) = crate::engine::search::attempt(&folder, &placement.info.key) {
        println!(
            "trial {n} has its folder already ({}); its worker goes on from there",
            dir.display()
        );
        return Ok(());
    }
    if let Some(fork) = fork {
        let (lineage, checkpoint) = crate::engine::search::fork_start(search, results, fork)?;
        placement.info.from = Some(lineage);
        placement.start_from = Some(checkpoint);
    }
    let loaded = search.load(&values)?;
    let summary = paused_is_fine(
        crate::engine::run::run(&loaded, results, Some(&placement), pause_after),
        quiet,
    )?;
    if let (Some(summary), false) = (summary, quiet) {
        crate::engine::summary::print(&summary);
    }
    Ok(())
}

/// One trial of a sweep, in the process the sweep (or the cluster's array job) started for it.
fn sweep_trial(
    sweep: &crate::config::Sweep,
    n: usize,
    results: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    if n == 0 || n > sweep.trials.len() {
        anyhow::bail!(
            "--trial {n}: the sweep has trials 1 to {}",
            sweep.trials.len()
        );
    }
    // A trial's task may run again (a requeue, a time limit): it goes on from where its
    // last attempt stopped, and a completed trial is not run twice.
    let summary = match sweep::states(sweep, results, true).swap_remove(n - 1) {
        sweep::State::Done(dir) => {
            println!("trial {n} completed already: {}", dir.display());
            return Ok(());
        }
        sweep::State::Running(pid) => anyhow::bail!(
            "--trial {n}: the trial is running already (process {pid} on this machine)"
        ),
        sweep::State::ToRun {
            resume: Some(dir), ..
        } => crate::engine::run::resume(&dir, None)?,
        sweep::State::ToRun { .. } => {
            let placement = sweep::placement(sweep, n - 1);
            crate::engine::run::run(&sweep.trials[n - 1].loaded, results, Some(&placement), None)?
        }
    };
    if !quiet {
        crate::engine::summary::print(&summary);
    }
    Ok(())
}

/// A run that paused where it was asked to is a success: its summary is for finished runs.
fn paused_is_fine(
    result: anyhow::Result<crate::engine::run::RunSummary>,
    quiet: bool,
) -> anyhow::Result<Option<crate::engine::run::RunSummary>> {
    match result {
        Ok(summary) => Ok(Some(summary)),
        Err(e) => match e.downcast_ref::<crate::store::observer::Paused>() {
            Some(p) => {
                if !quiet {
                    println!("paused after epoch {}, with a checkpoint there", p.epoch);
                }
                Ok(None)
            }
            None => Err(e),
        },
    }
}
