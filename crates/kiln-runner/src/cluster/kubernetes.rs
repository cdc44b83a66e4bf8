//! Kubernetes: a sweep's trials as one Indexed Job (completion index `i` is trial `i + 1`),
//! written for `kubectl apply -f`; kiln neither starts nor watches it.

use std::path::Path;

use kiln_data::download::write_atomically;
use serde_json::json;

use super::{Cluster, Job, Queued, Started, SubmitOptions, Work, trial_command};
use crate::config::Sweep;
use crate::config::schema::ClusterSettings;
use crate::store::run_dir::SweepDir;

pub(super) struct Kubernetes;

impl Cluster for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn job(
        &self,
        work: &Work,
        o: &SubmitOptions,
        _exe: &Path,
        workdir: &Path,
    ) -> anyhow::Result<String> {
        match *work {
            Work::Trials { sweep, .. } => {
                Ok(serde_json::to_string_pretty(&kubernetes_job(sweep, o, workdir))? + "\n")
            }
            Work::Workers { search, .. } => anyhow::bail!(
                "search `{}`: a search's workers go to Slurm; on Kubernetes, run `kiln run {}` in as many pods as you like, all seeing {}",
                search.name,
                o.run.file.display(),
                o.run.results.display()
            ),
        }
    }

    /// Writes the Job's manifest; `kubectl apply -f` starts it. It runs every trial (a
    /// completed one exits at once).
    fn start(
        &self,
        dir: &SweepDir,
        stamp: &str,
        text: &str,
        work: &Work,
    ) -> anyhow::Result<Started> {
        let Work::Trials { sweep, .. } = *work else {
            anyhow::bail!("a search's workers go to Slurm");
        };
        let path = dir.kubernetes_job(stamp);
        write_atomically(&path, text.as_bytes())?;
        let job: serde_json::Value = serde_json::from_str(text)?;
        let id = job["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let said = format!(
            "sweep `{}`: Indexed Job `{id}` written to {}; start it with `kubectl apply -f {}`",
            sweep.name,
            path.display(),
            path.display()
        );
        Ok(Started {
            path,
            id,
            tasks: (1..=sweep.trials.len()).collect(),
            said,
        })
    }

    /// kiln does not ask the API server: no task is known to be queued.
    fn queued(&self, _jobs: &[&Job]) -> Vec<Queued> {
        Vec::new()
    }

    fn cancel(&self, jobs: &[&Job]) -> anyhow::Result<Option<String>> {
        match jobs.last() {
            None => Ok(None),
            Some(job) => anyhow::bail!(
                "a Kubernetes Job is stopped with `kubectl delete job {}`",
                job.id
            ),
        }
    }
}

/// The Kubernetes Indexed Job running every trial of `sweep`: completion index `i` is trial
/// `i + 1`; a trial completed already exits at once.
fn kubernetes_job(sweep: &Sweep, o: &SubmitOptions, workdir: &Path) -> serde_json::Value {
    let cluster: &ClusterSettings = &sweep.trials[0].loaded.experiment.cluster;
    let n = sweep.trials.len();
    let name = format!("kiln-{}", sweep.name.to_lowercase().replace('_', "-"));
    let results = o.run.results.display().to_string();
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
