//! A sweep on a cluster: `submit` writes a Slurm array script (or a Kubernetes Indexed Job)
//! over the trials not yet completed and submits it; `status` shows each trial from its
//! folder, merged with what `squeue` says of the sweep's jobs; `cancel` cancels them.
//!
//! Each array task runs `kiln run FILE --trial N`, which goes on from the trial's checkpoint
//! when an earlier attempt was interrupted (a requeue, a time limit) and does nothing when
//! the trial completed, so a trial completes once however often its task runs. The trials'
//! folders, the index and the checkpoints are all under `results/`, which every node must see
//! at the same path (a shared filesystem); the index is merged under an advisory lock
//! (`flock`), which NFS v4 and Lustre honour across nodes.
//!
//! Each scheduler is a [`Cluster`]: `slurm.rs` and `kubernetes.rs`; this module keeps the
//! job list, picks the trials and shows their states.

mod kubernetes;
mod slurm;

use std::path::{Path, PathBuf};

use anyhow::Context;
use kiln_data::download::write_atomically;
use serde::{Deserialize, Serialize};

use crate::config::{Search, Sweep};
use crate::engine::sweep::{self, Invocation, State};
use crate::platform::lock::FileLock;
use crate::store::run_dir::SweepDir;

/// Where a sweep is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    Slurm,
    Kubernetes,
}

/// What `submit` was asked.
pub struct SubmitOptions<'a> {
    pub run: Invocation<'a>,
    pub to: Scheduler,
    pub dry_run: bool,
}

/// One submission, as `cluster/jobs.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub scheduler: String,
    /// Slurm's job id; the Kubernetes Job's name.
    pub id: String,
    /// The trials (1-based) it runs.
    pub trials: Vec<usize>,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub script: PathBuf,
}

fn sweep_dir(sweep: &Sweep, results: &Path) -> SweepDir {
    SweepDir {
        root: sweep::folder(sweep, results),
    }
}

fn read_jobs(dir: &SweepDir) -> anyhow::Result<Vec<Job>> {
    match std::fs::read(dir.jobs()) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a list of kiln jobs", dir.jobs().display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.jobs().display())),
    }
}

/// What kiln needs of a scheduler: a job file over a sweep's trials or a search's workers,
/// starting it, what it still holds and stopping it.
trait Cluster: Sync {
    /// As `cluster/jobs.json` records it.
    fn name(&self) -> &'static str;
    /// The job's file (what `--dry-run` prints), or why this scheduler cannot run `work`.
    fn job(
        &self,
        work: &Work,
        o: &SubmitOptions,
        exe: &Path,
        workdir: &Path,
    ) -> anyhow::Result<String>;
    /// Writes the job file `text` into the sweep's `cluster/` folder and starts it.
    fn start(
        &self,
        dir: &SweepDir,
        stamp: &str,
        text: &str,
        work: &Work,
    ) -> anyhow::Result<Started>;
    /// Each task of its `jobs` that the scheduler still holds.
    fn queued(&self, jobs: &[&Job]) -> Vec<Queued>;
    /// Stops its `jobs` still queued or running: what it did, `None` when none was, or why
    /// kiln cannot.
    fn cancel(&self, jobs: &[&Job]) -> anyhow::Result<Option<String>>;
}

/// Every scheduler kiln knows.
const CLUSTERS: [&dyn Cluster; 2] = [&slurm::Slurm, &kubernetes::Kubernetes];

impl Scheduler {
    fn cluster(self) -> &'static dyn Cluster {
        match self {
            Scheduler::Slurm => &slurm::Slurm,
            Scheduler::Kubernetes => &kubernetes::Kubernetes,
        }
    }
}

/// What a job runs.
enum Work<'a> {
    /// Trials (1-based) of a sweep, each task `kiln run FILE --trial N`.
    Trials {
        sweep: &'a Sweep,
        trials: &'a [usize],
        dir: SweepDir,
    },
    /// A search's workers, each task `kiln run FILE`.
    Workers {
        search: &'a Search,
        workers: usize,
        dir: SweepDir,
    },
}

/// A job written and started: its file, its id, the tasks it covers and what to tell.
struct Started {
    path: PathBuf,
    id: String,
    tasks: Vec<usize>,
    said: String,
}

/// A task a scheduler still holds: its number, its job and its state (`PENDING`...).
struct Queued {
    task: usize,
    job: String,
    state: String,
    /// The scheduler, as people name it.
    scheduler: &'static str,
}

/// `jobs` of `cluster`.
fn of<'a>(jobs: &'a [Job], cluster: &dyn Cluster) -> Vec<&'a Job> {
    jobs.iter()
        .filter(|j| j.scheduler == cluster.name())
        .collect()
}

/// Each task of `jobs` that its scheduler still holds.
fn queued(jobs: &[Job]) -> Vec<Queued> {
    CLUSTERS
        .iter()
        .flat_map(|c| c.queued(&of(jobs, *c)))
        .collect()
}

/// Quotes `s` for a POSIX shell.
fn quoted(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `kiln run FILE --set ... --results R`, quoted for a shell: what a search's worker runs.
fn run_command(exe: &Path, o: &SubmitOptions) -> String {
    std::iter::once(exe.as_os_str().to_owned())
        .chain(o.run.run_args())
        .map(|w| quoted(&w.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command a trial's task runs, `$trial` standing for its number.
fn trial_command(exe: &Path, o: &SubmitOptions, trial: &str) -> String {
    format!("{} --trial {trial}", run_command(exe, o))
}

/// `kiln submit FILE --to slurm|kubernetes`.
pub fn submit(sweep: &Sweep, o: &SubmitOptions) -> anyhow::Result<()> {
    let dir = sweep_dir(sweep, &o.run.results);
    // Two submits of one sweep at once would both see its trials unqueued: one at a time
    // (the lock is released when `_turn` is dropped, after the job is recorded; taking it
    // makes the `cluster/` folder the script is written to).
    let _turn = if o.dry_run {
        None
    } else {
        Some(FileLock::take(&dir.jobs_lock())?)
    };
    let states = sweep::states(sweep, &o.run.results, false);
    let jobs = read_jobs(&dir)?;
    let queue = queued(&jobs);
    let mut skipped = Vec::new();
    let trials: Vec<usize> = (1..=sweep.trials.len())
        .filter(|&t| match &states[t - 1] {
            State::ToRun { .. } => match queue.iter().find(|q| q.task == t) {
                Some(q) => {
                    skipped.push(format!(
                        "trial {t} is {} in job {}",
                        q.state.to_lowercase(),
                        q.job
                    ));
                    false
                }
                None => true,
            },
            _ => false,
        })
        .collect();
    if trials.is_empty() {
        let done = states
            .iter()
            .filter(|s| matches!(s, State::Done(_)))
            .count();
        anyhow::bail!(
            "sweep `{}`: nothing left to run ({done} of {} trials completed{}{})",
            sweep.name,
            sweep.trials.len(),
            if skipped.is_empty() { "" } else { "; " },
            skipped.join(", ")
        );
    }
    let work = Work::Trials {
        sweep,
        trials: &trials,
        dir: dir.clone(),
    };
    if send(&work, &dir, jobs, o)? {
        for s in skipped {
            println!("  not submitted again: {s}");
        }
    }
    Ok(())
}

/// `kiln submit` of a `[sweep.search]`: an array of workers, each a `kiln run` of the file
/// that takes jobs from the search's journal until the search is done; as many as
/// `[cluster] parallel` says, else the search's `parallel`. A requeued worker's job is taken
/// over by the next worker to look, which resumes the trial from its checkpoint.
pub fn submit_search(search: &Search, o: &SubmitOptions) -> anyhow::Result<()> {
    let dir = SweepDir {
        root: crate::engine::search::folder(search, &o.run.results),
    };
    let _turn = if o.dry_run {
        None
    } else {
        Some(FileLock::take(&dir.jobs_lock())?)
    };
    let jobs = read_jobs(&dir)?;
    let queue = queued(&jobs);
    if let Some(q) = queue.first() {
        anyhow::bail!(
            "search `{}`: its workers are {} in job {} already; `kiln status` shows the search, `kiln cancel` stops them",
            search.name,
            q.state.to_lowercase(),
            q.job
        );
    }
    if crate::engine::search::is_done(search, &o.run.results)? {
        anyhow::bail!(
            "search `{}`: nothing left to run (the search is done)",
            search.name
        );
    }
    let workers = search
        .base
        .experiment
        .cluster
        .parallel
        .unwrap_or(search.spec.parallel);
    let work = Work::Workers {
        search,
        workers,
        dir: dir.clone(),
    };
    send(&work, &dir, jobs, o).map(|_| ())
}

/// Writes `work`'s job for the scheduler `o` names and starts it, adding it to `jobs` in
/// `dir`; with `--dry-run`, prints the job instead. Whether it was started.
fn send(work: &Work, dir: &SweepDir, jobs: Vec<Job>, o: &SubmitOptions) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("finding the kiln binary")?;
    let workdir = std::env::current_dir().context("reading the working directory")?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let cluster = o.to.cluster();
    let text = cluster.job(work, o, &exe, &workdir)?;
    if o.dry_run {
        print!("{text}");
        return Ok(false);
    }
    let started = cluster.start(dir, &stamp, &text, work)?;
    record(
        dir,
        jobs,
        (cluster.name(), &started.id),
        &started.tasks,
        &started.path,
    )?;
    println!("{}", started.said);
    Ok(true)
}

/// Adds the job `(scheduler, id)` over `trials`, submitted with `script`, to the sweep's list.
fn record(
    dir: &SweepDir,
    mut jobs: Vec<Job>,
    (scheduler, id): (&str, &str),
    trials: &[usize],
    script: &Path,
) -> anyhow::Result<()> {
    jobs.push(Job {
        scheduler: scheduler.into(),
        id: id.into(),
        trials: trials.to_vec(),
        submitted_at: chrono::Utc::now(),
        script: script.to_path_buf(),
    });
    write_atomically(&dir.jobs(), &serde_json::to_vec_pretty(&jobs)?)
        .with_context(|| format!("recording the job in {}", dir.jobs().display()))
}

/// `kiln status FILE`: each trial of the sweep, from its folders and the scheduler's queue.
pub fn status(sweep: &Sweep, results: &Path) -> anyhow::Result<()> {
    let dir = sweep_dir(sweep, results);
    let states = sweep::states(sweep, results, false);
    let jobs = read_jobs(&dir)?;
    let queue = queued(&jobs);
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["trial", "label", "state", "job", "folder"]);
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (i, (trial, state)) in sweep.trials.iter().zip(&states).enumerate() {
        let in_queue = queue.iter().find(|q| q.task == i + 1);
        let word = match (state, in_queue) {
            (State::Done(_), _) => "completed",
            (State::Running(_), _) => "running",
            (_, Some(q)) if q.state == "RUNNING" => "running",
            (_, Some(_)) => "pending",
            (
                State::ToRun {
                    resume: Some(_), ..
                },
                None,
            ) => "preempted",
            (State::ToRun { failed, .. }, None) if *failed > 0 => "failed",
            (State::ToRun { .. }, None) => "not run",
        };
        *counts.entry(word).or_default() += 1;
        let folder = match state {
            State::Done(p)
            | State::ToRun {
                resume: Some(p), ..
            } => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let detail = match (state, in_queue) {
            (State::Done(_), _) => String::new(),
            (_, Some(q)) => format!(" ({}, in {})", q.state.to_lowercase(), q.scheduler),
            (
                State::ToRun {
                    resume: Some(_), ..
                },
                None,
            ) => " (a submit resumes it from its checkpoint)".into(),
            (State::ToRun { failed, .. }, None) if *failed > 0 => format!(" (×{failed})"),
            _ => String::new(),
        };
        table.add_row([
            (i + 1).to_string(),
            trial.spec.label(),
            format!("{word}{detail}"),
            in_queue
                .map(|q| format!("{}_{}", q.job, q.task))
                .unwrap_or_default(),
            folder,
        ]);
    }
    println!("{table}");
    let summary: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    println!(
        "sweep `{}`: {}; {} job(s) submitted{}",
        sweep.name,
        summary.join(", "),
        jobs.len(),
        jobs.last()
            .map(|j| format!(", the last {} ({})", j.id, j.scheduler))
            .unwrap_or_default()
    );
    Ok(())
}

/// `kiln cancel FILE`: cancels the sweep's Slurm jobs still queued or running. Trials that
/// were running are stopped by SIGTERM: they checkpoint and can be resumed.
pub fn cancel(sweep: &Sweep, results: &Path) -> anyhow::Result<()> {
    cancel_in(&sweep_dir(sweep, results), &sweep.name)
}

/// `kiln cancel FILE` of a search: its workers' jobs.
pub fn cancel_search(search: &Search, results: &Path) -> anyhow::Result<()> {
    let dir = SweepDir {
        root: crate::engine::search::folder(search, results),
    };
    cancel_in(&dir, &search.name)
}

fn cancel_in(dir: &SweepDir, name: &str) -> anyhow::Result<()> {
    let jobs = read_jobs(dir)?;
    let mut refused = None;
    let mut cancelled = Vec::new();
    for cluster in CLUSTERS {
        match cluster.cancel(&of(&jobs, cluster)) {
            Ok(Some(done)) => cancelled.push(done),
            Ok(None) => {}
            Err(e) => refused = refused.or(Some(e)),
        }
    }
    if cancelled.is_empty() {
        return Err(match refused {
            Some(e) => {
                anyhow::anyhow!("sweep `{name}`: no job of it is queued that kiln can see; {e}")
            }
            None => anyhow::anyhow!("sweep `{name}`: no job of it is queued"),
        });
    }
    println!(
        "sweep `{name}`: {}; `kiln submit` again resumes the rest",
        cancelled.join("; ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_a_shell() {
        assert_eq!(quoted("train.epochs=3"), "train.epochs=3");
        assert_eq!(quoted("model.hidden=[64, 32]"), "'model.hidden=[64, 32]'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}
