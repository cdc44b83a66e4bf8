//! What a sweep or a search spent, in the order it spent it: after every epoch any of its
//! trials trained, the trial-seconds and trial-epochs so far and the best value yet. A
//! search's order is its journal's (outcomes as they came in); a plain sweep's is its trials'.
//! Pruned trials count: their epochs were spent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::journal::{Journal, Record};
use crate::store::manifest::Manifest;
use crate::store::run_dir::RunDir;

/// After one more epoch: the trial-seconds and trial-epochs spent so far, and the best value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spent {
    pub seconds: f64,
    pub epochs: usize,
    pub best: f64,
}

/// Each epoch's value of `metric` and its seconds in the run at `dir`.
fn epochs(dir: &Path, metric: &str) -> Vec<(Option<f64>, f64)> {
    match crate::store::metrics_io::epoch_columns(&RunDir::open(dir), &[metric, "epoch_seconds"]) {
        Ok(columns) => columns[0]
            .iter()
            .zip(&columns[1])
            .map(|(v, s)| (*v, s.unwrap_or(0.0)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The run folder of each trial (1-based) of the sweep or search in `dir`: its newest
/// attempt, by the manifests.
pub fn trial_folders(dir: &Path) -> BTreeMap<usize, PathBuf> {
    let mut trials: BTreeMap<usize, (chrono::DateTime<chrono::Utc>, PathBuf)> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(m) = Manifest::read(&RunDir::open(&path).manifest()) else {
            continue;
        };
        if let Some(t) = m.sweep {
            let newer = trials
                .get(&t.trial)
                .is_none_or(|(at, _)| m.started_at > *at);
            if newer {
                trials.insert(t.trial, (m.started_at, path));
            }
        }
    }
    trials.into_iter().map(|(t, (_, path))| (t, path)).collect()
}

/// The sweep or search in `dir`, step by step (empty when it has no trials yet).
pub fn of_folder(dir: &Path, metric: &str, higher_is_better: bool) -> Vec<Spent> {
    let trials = trial_folders(dir);
    // (trial, first epoch, last epoch) in the order they were trained.
    let journal = Journal::at(dir);
    let spans: Vec<(usize, usize, usize)> = match journal.read() {
        Ok(records) if !records.is_empty() => {
            let jobs: Vec<(usize, usize)> = records
                .iter()
                .filter_map(|r| match r {
                    Record::Job { trial, until, .. } => Some((*trial + 1, *until)),
                    _ => None,
                })
                .collect();
            // A population member's new trial trained only after the epoch it took up.
            let mut reached: BTreeMap<usize, usize> = records
                .iter()
                .filter_map(|r| match r {
                    Record::Job {
                        trial,
                        from: Some(f),
                        ..
                    } => Some((*trial + 1, f.epoch)),
                    _ => None,
                })
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            records
                .iter()
                .filter_map(|r| match r {
                    Record::End { job, .. } if seen.insert(*job) => jobs.get(*job).copied(),
                    _ => None,
                })
                .filter_map(|(trial, until)| {
                    let from = reached.insert(trial, until).unwrap_or(0);
                    (until > from).then_some((trial, from + 1, until))
                })
                .collect()
        }
        _ => trials.keys().map(|&t| (t, 1, usize::MAX)).collect(),
    };
    let mut out: Vec<Spent> = Vec::new();
    let mut cache: BTreeMap<usize, Vec<(Option<f64>, f64)>> = BTreeMap::new();
    let (mut seconds, mut epochs_spent) = (0.0, 0);
    let mut best: Option<f64> = None;
    for (trial, from, to) in spans {
        let Some(path) = trials.get(&trial) else {
            continue;
        };
        let table = cache.entry(trial).or_insert_with(|| epochs(path, metric));
        for (value, s) in table.iter().take(to).skip(from - 1) {
            seconds += s;
            epochs_spent += 1;
            if let Some(v) = value.filter(|v| v.is_finite()) {
                let better = best.is_none_or(|b| if higher_is_better { v > b } else { v < b });
                if better {
                    best = Some(v);
                }
            }
            if let Some(b) = best {
                out.push(Spent {
                    seconds,
                    epochs: epochs_spent,
                    best: b,
                });
            }
        }
    }
    out
}

/// The first step at or past `target`.
pub fn reached(steps: &[Spent], target: f64, higher_is_better: bool) -> Option<Spent> {
    steps.iter().copied().find(|s| {
        if higher_is_better {
            s.best >= target
        } else {
            s.best <= target
        }
    })
}

/// The best value of `metric` so far after each trial of the sweep or search in `dir`, in
/// trial order (the order a search proposed them): (trial, best).
pub fn by_trial(dir: &Path, metric: &str, higher_is_better: bool) -> Vec<(f64, f64)> {
    let mut best: Option<f64> = None;
    let mut out = Vec::new();
    for (trial, path) in trial_folders(dir) {
        for (value, _) in epochs(&path, metric) {
            if let Some(v) = value.filter(|v| v.is_finite())
                && best.is_none_or(|b| if higher_is_better { v > b } else { v < b })
            {
                best = Some(v);
            }
        }
        if let Some(b) = best {
            out.push((trial as f64, b));
        }
    }
    out
}
