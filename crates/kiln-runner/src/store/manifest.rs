//! `manifest.json`: what ran, where, with what, and how it ended.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Completed,
    Failed,
    /// Stopped by a signal, or its process found gone: `run --resume` goes on from its
    /// newest checkpoint.
    Interrupted,
    /// Stopped at an epoch end by its search's pruner, with a checkpoint there: the search
    /// resumes it if it promotes it later (as does `run --resume`).
    Pruned,
}

/// The cluster job a run ran in, from the scheduler's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerJob {
    /// `slurm` or `kubernetes`.
    pub scheduler: String,
    /// Slurm's array job id (or job id); the Kubernetes pod's name.
    pub job: String,
    /// Slurm's array task id; the Kubernetes completion index.
    pub task: Option<String>,
}

impl SchedulerJob {
    /// The job this process runs in, if a scheduler started it.
    pub fn current() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        if let Some(job) = var("SLURM_ARRAY_JOB_ID").or_else(|| var("SLURM_JOB_ID")) {
            return Some(Self {
                scheduler: "slurm".into(),
                job,
                task: var("SLURM_ARRAY_TASK_ID"),
            });
        }
        let index = var("JOB_COMPLETION_INDEX")?;
        Some(Self {
            scheduler: "kubernetes".into(),
            job: var("HOSTNAME").unwrap_or_default(),
            task: Some(index),
        })
    }
}

/// One time a run went on after it had stopped (`run --resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resumption {
    pub at: DateTime<Utc>,
    pub pid: u32,
    pub host: String,
    /// How the run had ended: `interrupted: ...`, `failed: ...` or `killed: ...`.
    pub after: String,
    /// The step of the checkpoint it went on from; `None` when it had none and started over.
    pub from_step: Option<usize>,
    pub from_epoch: Option<usize>,
}

/// Where a run sits in its sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialInfo {
    /// The sweep's name, its folder under `results/<experiment>/`.
    pub name: String,
    /// 1-based position in the sweep's expansion.
    pub trial: usize,
    /// The swept keys and values, seed included.
    pub label: String,
    /// The label without the seed: what repetitions over seeds share.
    pub configuration: String,
    /// Digest of the resolved config: a completed run with the same key is the same trial.
    pub key: String,
    /// A population member's trial that started from another trial's checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Lineage>,
}

/// Who a population-based trial copied, when, and whom it replaced: its metrics up to
/// `epoch` are the parent's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The parent's trial number (1-based) and run folder name.
    pub trial: usize,
    pub run: String,
    pub epoch: usize,
    /// The trial (1-based) whose place in the population this one took.
    pub replaces: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Git {
    pub commit: String,
    pub dirty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub load_data_s: f64,
    pub train_s: Option<f64>,
    pub test_s: Option<f64>,
    pub total_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataInfo {
    pub source: String,
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    /// `[channels, height, width]` of image data, which a model rebuilt from the run folder
    /// needs (a GAN's generator) and the config does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<[usize; 3]>,
    /// Files left out because they did not decode (`data.skip_unreadable`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub kiln_version: String,
    pub run_id: String,
    pub experiment: String,
    pub status: Status,
    pub error: Option<String>,
    /// Set when the run is a trial of a sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<TrialInfo>,
    /// The process that ran it: a `running` run whose process is gone was killed.
    #[serde(default)]
    pub pid: u32,
    pub seed: u64,
    pub backend: String,
    /// As the experiment asked, e.g. `default`.
    pub device: String,
    /// What `device` became, as burn names it.
    #[serde(default)]
    pub resolved_device: String,
    pub config_file: String,
    pub overrides: Vec<String>,
    pub env_overrides: Vec<String>,
    pub command: Vec<String>,
    pub git: Option<Git>,
    pub crates: BTreeMap<String, String>,
    pub host: Host,
    pub data: DataInfo,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub timings: Timings,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    /// Every `run --resume` of this run, oldest first; what stopped it each time is in
    /// `after`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumptions: Vec<Resumption>,
    /// The cluster job it runs in, when a scheduler started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerJob>,
    /// The out-of-memory kill counters when the run (last) started, so that a run found
    /// dead can say whether the kernel killed it for memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oom_counters: Vec<crate::platform::memory::OomCounter>,
}

impl Manifest {
    pub fn write(&self, path: &Path) -> Result<(), kiln_data::DataError> {
        let json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        kiln_data::download::write_atomically(path, &json)
    }

    /// A run left `running` on this machine by a process that is gone: it was killed. A
    /// process of that pid that started after the run did is another one (pids are reused).
    pub fn was_killed(&self) -> bool {
        let reused = || {
            crate::platform::interrupt::started_at(self.pid)
                .is_some_and(|t| t > self.started_at + chrono::Duration::seconds(2))
        };
        self.status == Status::Running
            && self.host.hostname == host().hostname
            && (!crate::platform::interrupt::alive(self.pid) || reused())
    }

    /// A `running` run whose process is gone: killed on this machine, or an earlier
    /// incarnation of the Slurm array task this process is (a requeued task runs once at a
    /// time, so the one recorded is over, on whichever node it ran).
    pub fn is_gone(&self) -> bool {
        self.was_killed()
            || (self.status == Status::Running
                && self
                    .scheduler
                    .as_ref()
                    .is_some_and(|s| s.scheduler == "slurm")
                && self.scheduler == SchedulerJob::current())
    }

    /// The status and error to show: a run left `running` by a process that is gone from this
    /// machine was killed, and is shown interrupted without its folder being touched.
    pub fn as_seen(&self) -> (Status, Option<String>) {
        if self.was_killed() {
            (Status::Interrupted, Some(self.killed_error()))
        } else {
            (self.status, self.error.clone())
        }
    }

    /// What a killed run's error says.
    pub fn killed_error(&self) -> String {
        match crate::platform::memory::oom_kills_since(&self.oom_counters) {
            Some((file, kills)) => format!(
                "killed, probably for memory: process {} ended while the run was running, and \
                 the kernel's out-of-memory killer ended {kills} process(es) meanwhile ({}); \
                 make the model or batch smaller, or give the job more memory",
                self.pid,
                file.display()
            ),
            None => format!(
                "killed: process {} ended while the run was running (killed or crashed)",
                self.pid
            ),
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a kiln manifest", path.display()))
    }
}

/// The commit checked out in the working directory and whether tracked files differ from it.
pub fn git() -> Option<Git> {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"])?;
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(Git { commit, dirty })
}

pub fn host() -> Host {
    Host {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Versions of kiln and of the dependencies that shape results, as locked at build time.
pub fn crates() -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = env!("LOCKED_DEP_VERSIONS")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.insert("kiln".into(), env!("CARGO_PKG_VERSION").into());
    out.insert(
        "rustc-target".into(),
        format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_versions_include_burn() {
        assert_eq!(crates().get("burn").map(String::as_str), Some("0.22.1"));
    }
}
