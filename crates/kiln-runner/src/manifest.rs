//! `manifest.json`: what ran, where, with what, and how it ended.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Git {
    pub commit: String,
    pub dirty: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub hostname: String,
    pub os: &'static str,
    pub arch: &'static str,
    pub cpus: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub load_data_s: f64,
    pub train_s: Option<f64>,
    pub test_s: Option<f64>,
    pub total_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    pub source: String,
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub kiln_version: &'static str,
    pub run_id: String,
    pub experiment: String,
    pub status: Status,
    pub error: Option<String>,
    pub seed: u64,
    pub backend: String,
    pub device: String,
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
}

impl Manifest {
    pub fn write(&self, path: &Path) -> Result<(), kiln_data::DataError> {
        let json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        kiln_data::download::write_atomically(path, &json)
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
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
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
