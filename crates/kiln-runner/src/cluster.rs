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

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use kiln_data::download::write_atomically;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::schema::ClusterSettings;
use crate::config::{Search, Sweep};
use crate::engine::sweep::{self, State};
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
    pub file: &'a Path,
    pub sets: &'a [String],
    pub results: &'a Path,
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

/// The state of each array task of `jobs` that Slurm still holds, by trial: `PENDING`,
/// `RUNNING`... Empty when squeue is absent or does not answer.
fn queued(jobs: &[Job]) -> Vec<(usize, String, String)> {
    let ids: Vec<&str> = jobs
        .iter()
        .filter(|j| j.scheduler == "slurm")
        .map(|j| j.id.as_str())
        .collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let Ok(out) = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%i %T", "--jobs"])
        .arg(ids.join(","))
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once(' ')?;
            let (job, task) = id.split_once('_')?;
            Some((
                task.parse().ok()?,
                job.to_string(),
                state.trim().to_string(),
            ))
        })
        .collect()
}

/// Slurm's compact list of array indices: `1-3,5,7-8`.
fn array_list(trials: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < trials.len() {
        let mut j = i;
        while j + 1 < trials.len() && trials[j + 1] == trials[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            trials[i].to_string()
        } else {
            format!("{}-{}", trials[i], trials[j])
        });
        i = j + 1;
    }
    parts.join(",")
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
    let mut words = vec![
        quoted(&exe.display().to_string()),
        "run".into(),
        quoted(&o.file.display().to_string()),
    ];
    for s in o.sets {
        words.push("--set".into());
        words.push(quoted(s));
    }
    words.push("--results".into());
    words.push(quoted(&o.results.display().to_string()));
    words.join(" ")
}

/// The command a trial's task runs, `$trial` standing for its number.
fn trial_command(exe: &Path, o: &SubmitOptions, trial: &str) -> String {
    format!("{} --trial {trial}", run_command(exe, o))
}

/// The sbatch script of an array over `trials`.
pub fn slurm_script(
    sweep: &Sweep,
    o: &SubmitOptions,
    exe: &Path,
    workdir: &Path,
    trials: &[usize],
) -> String {
    let cluster = &sweep.trials[0].loaded.experiment.cluster;
    let dir = sweep_dir(sweep, o.results);
    let header = format!(
        "# kiln sweep `{}`: {} trial(s), written by `kiln submit`",
        sweep.name,
        trials.len()
    );
    let echo = format!(
        "echo \"kiln: trial $SLURM_ARRAY_TASK_ID of sweep {} on $(hostname), attempt $((${{SLURM_RESTART_COUNT:-0}} + 1))\"",
        sweep.name
    );
    let command = trial_command(exe, o, "\"$SLURM_ARRAY_TASK_ID\"");
    array_script(
        &sweep.name,
        cluster,
        &dir,
        workdir,
        trials,
        [header, echo, command],
    )
}

/// The sbatch script of the array `tasks` whose task runs `command`, with `header` and
/// `echo` lines saying what it is.
fn array_script(
    name: &str,
    cluster: &ClusterSettings,
    dir: &SweepDir,
    workdir: &Path,
    tasks: &[usize],
    [header, echo, command]: [String; 3],
) -> String {
    let parallel = cluster
        .parallel
        .map(|k| format!("%{k}"))
        .unwrap_or_default();
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        header,
        format!("#SBATCH --job-name=kiln-{name}"),
        format!("#SBATCH --array={}{parallel}", array_list(tasks)),
        // A trial stopped by a requeue or before its time limit goes on from its checkpoint.
        "#SBATCH --requeue".into(),
        "#SBATCH --signal=B:USR1@90".into(),
        "#SBATCH --open-mode=append".into(),
        format!("#SBATCH --output={}", dir.trial_log("%a").display()),
        format!("#SBATCH --chdir={}", workdir.display()),
    ];
    let option = |name: &str, value: &Option<String>| {
        value.as_ref().map(|v| format!("#SBATCH --{name}={v}"))
    };
    lines.extend(option("partition", &cluster.partition));
    lines.extend(option("time", &cluster.time));
    lines.extend(option("account", &cluster.account));
    lines.extend(option("mem", &cluster.memory));
    lines.extend(cluster.cpus.map(|n| format!("#SBATCH --cpus-per-task={n}")));
    lines.extend(cluster.gpus.map(|n| format!("#SBATCH --gres=gpu:{n}")));
    lines.extend(cluster.extra.iter().map(|e| format!("#SBATCH {e}")));
    lines.push(String::new());
    lines.push("# Progress in the log every 10 s, not only at epoch ends.".into());
    lines.push("export KILN_PROGRESS_SECONDS=10".into());
    if let Some(d) = std::env::var_os("KILN_DATASETS").filter(|d| !d.is_empty()) {
        let d = std::path::absolute(&d).unwrap_or_else(|_| PathBuf::from(&d));
        lines.push(format!(
            "export KILN_DATASETS={}",
            quoted(&d.display().to_string())
        ));
    }
    lines.push(String::new());
    lines.push(echo);
    lines.push(format!("{command} &"));
    lines.extend(
        [
            "kiln=$!",
            "# Slurm signals the batch shell (B:) before the time limit: pass it on; kiln then",
            "# checkpoints at its next step and exits with 75, and the task is requeued.",
            "preempted=0",
            "trap 'preempted=1; kill -USR1 \"$kiln\" 2>/dev/null' USR1",
            "# A requeue or scancel sends SIGTERM: kiln checkpoints and exits; wait for it.",
            "trap 'kill -TERM \"$kiln\" 2>/dev/null' TERM",
            "status=0",
            "while kill -0 \"$kiln\" 2>/dev/null; do wait \"$kiln\"; status=$?; done",
            "if [ \"$status\" -eq 75 ] && [ \"$preempted\" -eq 1 ]; then",
            "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"",
            "fi",
            "exit \"$status\"",
        ]
        .map(String::from),
    );
    lines.join("\n") + "\n"
}

/// The Kubernetes Indexed Job running every trial of `sweep`: completion index `i` is trial
/// `i + 1`; a trial completed already exits at once.
pub fn kubernetes_job(sweep: &Sweep, o: &SubmitOptions, workdir: &Path) -> serde_json::Value {
    let cluster: &ClusterSettings = &sweep.trials[0].loaded.experiment.cluster;
    let n = sweep.trials.len();
    let name = format!("kiln-{}", sweep.name.to_lowercase().replace('_', "-"));
    let results = o.results.display().to_string();
    let command = trial_command(Path::new("kiln"), o, "$((JOB_COMPLETION_INDEX + 1))");
    let mut limits = serde_json::Map::new();
    if let Some(c) = cluster.cpus {
        limits.insert("cpu".into(), json!(c.to_string()));
    }
    if let Some(m) = &cluster.memory {
        limits.insert("memory".into(), json!(format!("{m}i")));
    }
    if let Some(g) = cluster.gpus {
        limits.insert("nvidia.com/gpu".into(), json!(g.to_string()));
    }
    let mut metadata =
        json!({ "name": name, "labels": { "app": "kiln", "kiln-sweep": sweep.name } });
    if let Some(ns) = &cluster.namespace {
        metadata["namespace"] = json!(ns);
    }
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(claim) = &cluster.volume {
        volumes.push(json!({ "name": "results", "persistentVolumeClaim": { "claimName": claim } }));
        mounts.push(json!({ "name": "results", "mountPath": results }));
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": cluster.parallel.unwrap_or(n).min(n),
            // A stopped trial (exit 75: checkpointed) is started again and goes on; other
            // failures count against each index's retries.
            "backoffLimitPerIndex": 2,
            "podFailurePolicy": {
                "rules": [
                    { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget" }] },
                    { "action": "Ignore", "onExitCodes": { "operator": "In", "values": [75] } }
                ]
            },
            "template": {
                "metadata": { "labels": { "app": "kiln", "kiln-sweep": sweep.name } },
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 120,
                    "containers": [{
                        "name": "trial",
                        "image": cluster.image.clone().unwrap_or_else(|| "kiln:latest".into()),
                        "workingDir": workdir.display().to_string(),
                        "command": ["/bin/sh", "-c", format!("exec {command}")],
                        "env": [{ "name": "KILN_PROGRESS_SECONDS", "value": "10" }],
                        "resources": { "limits": limits.clone(), "requests": limits },
                        "volumeMounts": mounts
                    }],
                    "volumes": volumes
                }
            }
        }
    })
}

/// `kiln submit FILE --to slurm|kubernetes`.
pub fn submit(sweep: &Sweep, o: &SubmitOptions) -> anyhow::Result<()> {
    let dir = sweep_dir(sweep, o.results);
    // Two submits of one sweep at once would both see its trials unqueued: one at a time
    // (the lock is released when `_turn` is dropped, after the job is recorded; taking it
    // makes the `cluster/` folder the script is written to).
    let _turn = if o.dry_run {
        None
    } else {
        Some(FileLock::take(&dir.jobs_lock())?)
    };
    let states = sweep::states(sweep, o.results, false);
    let jobs = read_jobs(&dir)?;
    let queue = queued(&jobs);
    let mut skipped = Vec::new();
    let trials: Vec<usize> = (1..=sweep.trials.len())
        .filter(|&t| match &states[t - 1] {
            State::ToRun { .. } => match queue.iter().find(|(q, _, _)| *q == t) {
                Some((_, job, state)) => {
                    skipped.push(format!(
                        "trial {t} is {} in job {job}",
                        state.to_lowercase()
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
    let exe = std::env::current_exe().context("finding the kiln binary")?;
    let workdir = std::env::current_dir().context("reading the working directory")?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    match o.to {
        Scheduler::Slurm => {
            let script = slurm_script(sweep, o, &exe, &workdir, &trials);
            if o.dry_run {
                print!("{script}");
                return Ok(());
            }
            let (path, id) = write_and_sbatch(&dir, &stamp, &script)?;
            record(&dir, jobs, ("slurm", &id), &trials, &path)?;
            println!(
                "sweep `{}`: submitted job {id}, trials {} ({} of {}), script {}; logs in {}",
                sweep.name,
                array_list(&trials),
                trials.len(),
                sweep.trials.len(),
                path.display(),
                dir.trial_log("N").display()
            );
            for s in skipped {
                println!("  not submitted again: {s}");
            }
        }
        Scheduler::Kubernetes => {
            let job = kubernetes_job(sweep, o, &workdir);
            let text = serde_json::to_string_pretty(&job)? + "\n";
            if o.dry_run {
                print!("{text}");
                return Ok(());
            }
            let path = dir.kubernetes_job(&stamp);
            write_atomically(&path, text.as_bytes())?;
            let name = job["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let all: Vec<usize> = (1..=sweep.trials.len()).collect();
            record(&dir, jobs, ("kubernetes", &name), &all, &path)?;
            println!(
                "sweep `{}`: Indexed Job `{name}` written to {}; start it with `kubectl apply -f {}`",
                sweep.name,
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes `script` into the sweep's `cluster/` folder and submits it: its path and the job id.
fn write_and_sbatch(
    dir: &SweepDir,
    stamp: &str,
    script: &str,
) -> anyhow::Result<(PathBuf, String)> {
    let path = dir.slurm_script(stamp);
    std::fs::create_dir_all(dir.logs())
        .with_context(|| format!("creating {}", dir.logs().display()))?;
    write_atomically(&path, script.as_bytes())?;
    let id = sbatch(&path)?;
    Ok((path, id))
}

/// Submits the script at `path`; Slurm's job id.
fn sbatch(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(path)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "sbatch is not on the PATH: submitting needs a Slurm client (the script is in {}; `--dry-run` prints it)",
                path.display()
            ),
            _ => anyhow::anyhow!("starting sbatch: {e}"),
        })?;
    if !out.status.success() {
        anyhow::bail!(
            "sbatch refused {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string())
}

/// `kiln submit` of a `[sweep.search]`: an array of workers, each a `kiln run` of the file
/// that takes jobs from the search's journal until the search is done; as many as
/// `[cluster] parallel` says, else the search's `parallel`. A requeued worker's job is taken
/// over by the next worker to look, which resumes the trial from its checkpoint.
pub fn submit_search(search: &Search, o: &SubmitOptions) -> anyhow::Result<()> {
    let dir = SweepDir {
        root: crate::engine::search::folder(search, o.results),
    };
    let _turn = if o.dry_run {
        None
    } else {
        Some(FileLock::take(&dir.jobs_lock())?)
    };
    let jobs = read_jobs(&dir)?;
    let queue = queued(&jobs);
    if let Some((_, job, state)) = queue.first() {
        anyhow::bail!(
            "search `{}`: its workers are {} in job {job} already; `kiln status` shows the search, `kiln cancel` stops them",
            search.name,
            state.to_lowercase()
        );
    }
    if crate::engine::search::is_done(search, o.results)? {
        anyhow::bail!(
            "search `{}`: nothing left to run (the search is done)",
            search.name
        );
    }
    let cluster = &search.base.experiment.cluster;
    let workers = cluster.parallel.unwrap_or(search.spec.parallel);
    let tasks: Vec<usize> = (1..=workers).collect();
    let exe = std::env::current_exe().context("finding the kiln binary")?;
    let workdir = std::env::current_dir().context("reading the working directory")?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    match o.to {
        Scheduler::Slurm => {
            let script = array_script(
                &search.name,
                cluster,
                &dir,
                &workdir,
                &tasks,
                [
                    format!(
                        "# kiln search `{}`: {workers} worker(s) sharing its journal, written by `kiln submit`",
                        search.name
                    ),
                    format!(
                        "echo \"kiln: worker $SLURM_ARRAY_TASK_ID of search {} on $(hostname), attempt $((${{SLURM_RESTART_COUNT:-0}} + 1))\"",
                        search.name
                    ),
                    run_command(&exe, o),
                ],
            );
            if o.dry_run {
                print!("{script}");
                return Ok(());
            }
            let (path, id) = write_and_sbatch(&dir, &stamp, &script)?;
            record(&dir, jobs, ("slurm", &id), &tasks, &path)?;
            println!(
                "search `{}`: submitted job {id}, {workers} workers, script {}; logs in {}",
                search.name,
                path.display(),
                dir.trial_log("N").display()
            );
        }
        Scheduler::Kubernetes => {
            anyhow::bail!(
                "search `{}`: a search's workers go to Slurm; on Kubernetes, run `kiln run {}` in as many pods as you like, all seeing {}",
                search.name,
                o.file.display(),
                o.results.display()
            );
        }
    }
    Ok(())
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
        let in_queue = queue.iter().find(|(t, _, _)| *t == i + 1);
        let word = match (state, in_queue) {
            (State::Done(_), _) => "completed",
            (State::Running(_), _) => "running",
            (_, Some((_, _, s))) if s == "RUNNING" => "running",
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
            (_, Some((_, _, s))) => format!(" ({}, in Slurm)", s.to_lowercase()),
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
                .map(|(t, job, _)| format!("{job}_{t}"))
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
    let queue = queued(&jobs);
    let mut live: Vec<String> = queue.iter().map(|(_, job, _)| job.clone()).collect();
    live.sort();
    live.dedup();
    if live.is_empty() {
        let kube: Vec<&str> = jobs
            .iter()
            .filter(|j| j.scheduler == "kubernetes")
            .map(|j| j.id.as_str())
            .collect();
        if let Some(name_of_job) = kube.last() {
            anyhow::bail!(
                "sweep `{name}`: no Slurm job is queued; a Kubernetes Job is stopped with `kubectl delete job {job}`",
                job = name_of_job
            );
        }
        anyhow::bail!("sweep `{name}`: no job of it is queued");
    }
    let out = Command::new("scancel")
        .args(&live)
        .output()
        .map_err(|e| anyhow::anyhow!("starting scancel: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "scancel {}: {}",
            live.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!(
        "sweep `{name}`: cancelled job(s) {} ({} task(s) queued or running); `kiln submit` again resumes the rest",
        live.join(", "),
        queue.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_are_compact_and_words_are_quoted() {
        assert_eq!(array_list(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(array_list(&[4]), "4");
        assert_eq!(quoted("train.epochs=3"), "train.epochs=3");
        assert_eq!(quoted("model.hidden=[64, 32]"), "'model.hidden=[64, 32]'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}
