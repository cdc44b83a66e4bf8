//! A population's family tree as the report draws it: every trial's values over the epochs
//! it trained itself, starting from its parent's point where it took up the parent's weights.

use std::path::Path;

use super::decide::Study;
use super::journal::Journal;
use super::population::member;
use crate::store::run_dir::RunDir;

/// One trial of a population.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// 1-based, as folders and tables number trials.
    pub trial: usize,
    /// 0-based population member.
    pub member: usize,
    /// The parent trial (1-based) and the epoch whose weights this one took up.
    pub parent: Option<(usize, usize)>,
    /// (epoch, value) from the fork's epoch (the parent's value there) on.
    pub points: Vec<(f64, f64)>,
    /// On the line of descent of the best trial at the last epoch.
    pub best_line: bool,
}

/// The population in `dir`, with each trial's per-epoch `column` (a metric, or a searched
/// key's value when `key` is given, held over the epochs the trial trained); `None` when
/// the folder holds no population.
pub fn of_folder(
    dir: &Path,
    column: &str,
    key: Option<&str>,
    higher_is_better: bool,
) -> Option<Vec<Branch>> {
    let study = Study::replay(&Journal::at(dir).read().ok()?).ok()?;
    if !study.trials.iter().any(|t| t.from.is_some()) {
        return None;
    }
    let folders = super::progress::trial_folders(dir);
    let mut branches: Vec<Branch> = Vec::new();
    let mut ends: Vec<(usize, f64, f64)> = Vec::new();
    for (t, trial) in study.trials.iter().enumerate() {
        let Some(folder) = folders.get(&(t + 1)) else {
            continue;
        };
        let curve = crate::store::metrics_io::epoch_values(&RunDir::open(folder), column)
            .unwrap_or_default();
        let start = trial.from.map_or(1, |f| f.epoch);
        let points: Vec<(f64, f64)> = match key {
            None => curve
                .iter()
                .filter(|(e, v)| *e >= start && v.is_finite())
                .map(|(e, v)| (*e as f64, *v))
                .collect(),
            Some(key) => {
                let Some(v) = number(&trial.values, key) else {
                    continue;
                };
                let last = curve.last().map_or(start, |(e, _)| *e);
                // From the parent's value, where it took up the parent's weights.
                let parent = trial
                    .from
                    .and_then(|f| number(&study.trials[f.trial].values, key));
                parent
                    .map(|p| (start as f64, p))
                    .into_iter()
                    .chain([(start as f64, v), (last as f64, v)])
                    .collect()
            }
        };
        // Where the trial ended on the metric, for the best trial below.
        let end = match key {
            Some(_) => curve.last().map(|(e, v)| (*e as f64, *v)),
            None => points.last().copied(),
        };
        if let Some((e, v)) = end {
            ends.push((t + 1, e, v));
        }
        branches.push(Branch {
            trial: t + 1,
            member: member(&study, t),
            parent: trial.from.map(|f| (f.trial + 1, f.epoch)),
            points,
            best_line: false,
        });
    }
    // The best at the last epoch any trial reached, and its ancestors.
    let last = ends.iter().map(|c| c.1).fold(0.0, f64::max);
    let best = ends
        .iter()
        .filter(|c| c.1 == last && c.2.is_finite())
        .min_by(|a, b| {
            let o = a.2.total_cmp(&b.2);
            if higher_is_better { o.reverse() } else { o }
        })
        .map(|c| c.0);
    let mut next = best;
    while let Some(t) = next {
        next = None;
        if let Some(b) = branches.iter_mut().find(|b| b.trial == t) {
            b.best_line = true;
            next = b.parent.map(|p| p.0);
        }
    }
    Some(branches)
}

/// The population's searched keys that take numbers, in the space's order.
pub fn numeric_keys(dir: &Path) -> Vec<String> {
    let Some(study) = Journal::at(dir)
        .read()
        .ok()
        .and_then(|r| Study::replay(&r).ok())
    else {
        return Vec::new();
    };
    study.trials.first().map_or_else(Vec::new, |t| {
        t.values
            .iter()
            .filter(|(_, v)| v.is_float() || v.is_integer())
            .map(|(k, _)| k.clone())
            .collect()
    })
}

fn number(values: &super::journal::Values, key: &str) -> Option<f64> {
    values
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
}
