//! Slurm: a sweep's trials, or a search's workers, as one job array written by kiln and
//! submitted with `sbatch`; `squeue` says what it still holds and `scancel` stops it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use kiln_data::download::write_atomically;

use super::{
    Cluster, Job, Queued, Started, SubmitOptions, Work, quoted, run_command, trial_command,
};
use crate::config::schema::ClusterSettings;
use crate::store::run_dir::SweepDir;

pub(super) struct Slurm;

impl Cluster for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn job(
        &self,
        work: &Work,
        o: &SubmitOptions,
        exe: &Path,
        workdir: &Path,
    ) -> anyhow::Result<String> {
        Ok(match *work {
            Work::Trials {
                sweep,
                trials,
                ref dir,
            } => {
                let lines = [
                    format!(
                        "# kiln sweep `{}`: {} trial(s), written by `kiln submit`",
                        sweep.name,
                        trials.len()
                    ),
                    format!(
                        "echo \"kiln: trial $SLURM_ARRAY_TASK_ID of sweep {} on $(hostname), attempt $((${{SLURM_RESTART_COUNT:-0}} + 1))\"",
                        sweep.name
                    ),
                    trial_command(exe, o, "\"$SLURM_ARRAY_TASK_ID\""),
                ];
                let cluster = &sweep.trials[0].loaded.experiment.cluster;
                array_script(&sweep.name, cluster, dir, workdir, trials, lines)
            }
            Work::Workers {
                search,
                workers,
                ref dir,
            } => {
                let lines = [
                    format!(
                        "# kiln search `{}`: {workers} worker(s) sharing its journal, written by `kiln submit`",
                        search.name
                    ),
                    format!(
                        "echo \"kiln: worker $SLURM_ARRAY_TASK_ID of search {} on $(hostname), attempt $((${{SLURM_RESTART_COUNT:-0}} + 1))\"",
                        search.name
                    ),
                    run_command(exe, o),
                ];
                let tasks: Vec<usize> = (1..=workers).collect();
                let cluster = &search.base.experiment.cluster;
                array_script(&search.name, cluster, dir, workdir, &tasks, lines)
            }
        })
    }

    fn start(
        &self,
        dir: &SweepDir,
        stamp: &str,
        text: &str,
        work: &Work,
    ) -> anyhow::Result<Started> {
        let path = dir.slurm_script(stamp);
        std::fs::create_dir_all(dir.logs())
            .with_context(|| format!("creating {}", dir.logs().display()))?;
        write_atomically(&path, text.as_bytes())?;
        let id = sbatch(&path)?;
        let logs = dir.trial_log("N");
        let (tasks, said) = match *work {
            Work::Trials { sweep, trials, .. } => (
                trials.to_vec(),
                format!(
                    "sweep `{}`: submitted job {id}, trials {} ({} of {}), script {}; logs in {}",
                    sweep.name,
                    array_list(trials),
                    trials.len(),
                    sweep.trials.len(),
                    path.display(),
                    logs.display()
                ),
            ),
            Work::Workers {
                search, workers, ..
            } => (
                (1..=workers).collect(),
                format!(
                    "search `{}`: submitted job {id}, {workers} workers, script {}; logs in {}",
                    search.name,
                    path.display(),
                    logs.display()
                ),
            ),
        };
        Ok(Started {
            path,
            id,
            tasks,
            said,
        })
    }

    /// The state of each array task of `jobs` that Slurm still holds: `PENDING`,
    /// `RUNNING`... Empty when squeue is absent or does not answer.
    fn queued(&self, jobs: &[&Job]) -> Vec<Queued> {
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
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
                Some(Queued {
                    task: task.parse().ok()?,
                    job: job.to_string(),
                    state: state.trim().to_string(),
                    scheduler: "Slurm",
                })
            })
            .collect()
    }

    fn cancel(&self, jobs: &[&Job]) -> anyhow::Result<Option<String>> {
        let queue = self.queued(jobs);
        let mut live: Vec<String> = queue.iter().map(|q| q.job.clone()).collect();
        live.sort();
        live.dedup();
        if live.is_empty() {
            return Ok(None);
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
        Ok(Some(format!(
            "cancelled job(s) {} ({} task(s) queued or running)",
            live.join(", "),
            queue.len()
        )))
    }
}

/// Slurm's compact list of array indices: `1-3,5,7-8`.
pub(super) fn array_list(trials: &[usize]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_are_compact() {
        assert_eq!(array_list(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(array_list(&[4]), "4");
    }
}
