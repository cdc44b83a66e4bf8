//! Replays samplers and pruners against a grid trained once: every configuration's
//! per-epoch validation curve is read from the grid sweep's trial folders, and each search
//! is simulated against that table over many seeds in seconds.
//!
//!   cargo run --release -p kiln-runner --example search_replay -- \
//!       experiments/mlp_mnist_asha.toml results/mlp_mnist_search/grid [SEEDS]
//!
//! The search file gives the space (choice lists matching the grid's axes) and the metric;
//! its sampler, budget and pruner are replaced by each variant compared.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_runner::config::search::{Pruner, Sampler};
use kiln_runner::config::{Plan, plan};
use kiln_runner::engine::search::decide::{Setting, Study, simulate};
use kiln_runner::engine::search::journal::Values;
use kiln_runner::store::manifest::Manifest;
use kiln_runner::store::run_dir::RunDir;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, grid, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: search_replay SEARCH.toml GRID_FOLDER [SEEDS]");
    };
    let seeds: u64 = rest.first().map_or(Ok(101), |s| s.parse())?;
    let Plan::Search(search) = plan(Path::new(file), &[])? else {
        anyhow::bail!("{file}: no [sweep.search]");
    };
    let metric = search.base.experiment.train.monitor.name();
    let higher =
        kiln_runner::config::spec::higher_is_better(search.base.experiment.train.monitor.metric())
            .unwrap_or(false);
    // Each grid trial's values of the searched keys, from its resolved config, and its curve.
    let mut table: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
    for entry in std::fs::read_dir(grid)? {
        let dir = entry?.path();
        let run = RunDir::open(&dir);
        let Ok(m) = Manifest::read(&run.manifest()) else {
            continue;
        };
        if m.status != kiln_runner::store::manifest::Status::Completed {
            continue;
        }
        let config: toml::Value = toml::from_str(&std::fs::read_to_string(run.config())?)?;
        let values: Values = search
            .spec
            .params
            .iter()
            .map(|p| {
                let mut v = &config;
                for part in p.key.split('.') {
                    v = v.get(part).unwrap_or(&toml::Value::Boolean(false));
                }
                (p.key.clone(), v.clone())
            })
            .collect();
        let curve = kiln_runner::store::metrics_io::epoch_values(&run, &metric)?;
        table.insert(key(&values), curve.into_iter().collect());
    }
    anyhow::ensure!(!table.is_empty(), "{grid}: no completed trials");
    let epochs = search.base.experiment.train.epochs;
    let best = table.values().filter_map(|c| c.get(&epochs)).fold(
        if higher { f64::MIN } else { f64::MAX },
        |a, &b| {
            if higher { a.max(b) } else { a.min(b) }
        },
    );
    println!(
        "{} configurations, best {metric} at epoch {epochs}: {best:.4}; {seeds} seeds each",
        table.len()
    );
    let objective = |v: &Values, e: usize| -> f64 {
        table
            .get(&key(v))
            .and_then(|c| c.get(&e))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let variants: Vec<(String, Sampler, Pruner, usize)> = {
        let n = table.len();
        let tpe = |budget: usize| Sampler::Tpe {
            startup: (budget / 4).clamp(2, 10),
        };
        // Budgets the space holds without repeats, each for random and for TPE.
        let mut out: Vec<(String, Sampler, Pruner, usize)> = [4, 8, 16, 32, 64]
            .into_iter()
            .filter(|&b| b <= n)
            .flat_map(|b| {
                [
                    (
                        format!("random, {b} trials"),
                        Sampler::Random,
                        Pruner::None,
                        b,
                    ),
                    (format!("TPE, {b} trials"), tpe(b), Pruner::None, b),
                ]
            })
            .collect();
        let asha = Pruner::Asha {
            min_epochs: 1,
            reduction: 3,
        };
        for (name, sampler) in [
            ("grid", Sampler::Grid),
            ("random", Sampler::Random),
            ("TPE", tpe(n)),
        ] {
            out.push((format!("{name} + ASHA, {n} trials"), sampler, asha, n));
        }
        out
    };
    println!(
        "| search | median regret | mean regret | P(best found) | trial-epochs: median | 90th percentile | most |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, sampler, pruner, budget) in variants {
        let mut regrets = Vec::new();
        let mut epochs_used = Vec::new();
        for seed in 0..seeds {
            let mut spec = search.spec.clone();
            spec.sampler = sampler.clone();
            spec.pruner = pruner;
            spec.budget = Some(budget);
            spec.seed = seed;
            spec.parallel = 1;
            let setting = Setting {
                spec: &spec,
                epochs,
                higher_is_better: higher,
                metric: metric.clone(),
            };
            let study = simulate(&setting, 1, |_| 0, objective);
            let found = final_best(&study, epochs, higher);
            regrets.push(if higher { best - found } else { found - best });
            epochs_used.push(trial_epochs(&study));
        }
        regrets.sort_by(f64::total_cmp);
        let mean = regrets.iter().sum::<f64>() / regrets.len() as f64;
        let hit = regrets.iter().filter(|r| **r <= 1e-12).count() as f64 / regrets.len() as f64;
        epochs_used.sort();
        let at = |q: f64| epochs_used[((epochs_used.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {name} | {:.4} | {mean:.4} | {:.0} % | {} | {} | {} |",
            regrets[regrets.len() / 2],
            hit * 100.0,
            at(0.5),
            at(0.9),
            at(1.0)
        );
    }
    Ok(())
}

fn key(values: &Values) -> String {
    kiln_runner::engine::search::decide::label(values)
}

/// The best value any trial reached at its last epoch.
fn final_best(study: &Study, epochs: usize, higher: bool) -> f64 {
    let n = study.jobs.len();
    (0..study.trials.len())
        .filter_map(|t| study.known(t, n).get(&epochs).copied())
        .fold(if higher { f64::MIN } else { f64::MAX }, |a, b| {
            if higher { a.max(b) } else { a.min(b) }
        })
}

fn trial_epochs(study: &Study) -> usize {
    let n = study.jobs.len();
    (0..study.trials.len())
        .map(|t| study.known(t, n).keys().max().copied().unwrap_or(0))
        .sum()
}
