//! Population-based training (Jaderberg et al. 2017), decided from the journal alone.
//!
//! The search's `budget` trials are the population's members. All train `interval` epochs
//! and pause; once every member has paused there, the members are ranked by the monitored
//! metric at that epoch, and each member in the worst `quantile` is replaced by a new trial
//! that takes up the checkpoint of one of the best `quantile` (chosen by the seed) with that
//! trial's values perturbed; the rest go on. A generation is decided only when all its
//! outcomes are known, so the trials and their lineage are the same at any `-j`.

use std::cmp::Ordering;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::decide::{Next, Proposal, Setting, Study, coordinate, label, mix, ordinal, value};
use super::journal::{Ended, Fork, Values};

use crate::config::search::{Param, Pruner};
use crate::config::sweep::Distribution;

/// The population member (0-based) that trial `t` belongs to.
pub fn member(study: &Study, mut t: usize) -> usize {
    while let Some(f) = study.trials[t].from {
        t = f.replaces;
    }
    t
}

/// Where a member stands: its current trial and that trial's newest job.
struct Standing {
    trial: usize,
    until: usize,
    ended: Option<Ended>,
}

fn standing(study: &Study, m: usize) -> Standing {
    let trial = (0..study.trials.len())
        .rev()
        .find(|&t| member(study, t) == m)
        .expect("a member has a trial");
    let job = study
        .jobs
        .iter()
        .rev()
        .find(|j| j.trial == trial)
        .expect("a trial has a job");
    Standing {
        trial,
        until: job.until,
        ended: job.outcome.as_ref().map(|o| o.ended),
    }
}

/// The trial that was member `m` while it trained up to epoch `e`.
fn trial_at(study: &Study, m: usize, e: usize) -> usize {
    (0..study.trials.len())
        .rev()
        .find(|&t| member(study, t) == m && study.trials[t].from.is_none_or(|f| f.epoch < e))
        .expect("a member has a trial")
}

/// The population's next job.
pub fn next(setting: &Setting, study: &Study) -> Next {
    let Pruner::Pbt {
        interval,
        quantile,
        resample,
    } = setting.spec.pruner
    else {
        unreachable!("a population search")
    };
    let size = setting.spec.trials();
    let originals = study.trials.iter().filter(|t| t.from.is_none()).count();
    let epochs = setting.epochs;
    let step = |e: usize| (e + interval).min(epochs);
    if originals < size {
        let k = study.trials.len();
        let (values, why) = setting.sample(study, k, study.jobs.len(), study.jobs.len());
        return Next::Run(Proposal {
            trial: k,
            until: step(0),
            new: Some((values, 0)),
            from: None,
            why: format!("member {} of {size}: {why}", k + 1),
        });
    }
    let members: Vec<Standing> = (0..size).map(|m| standing(study, m)).collect();
    // Members still in training: a completed trial (its last epoch, or stopped early) is done.
    let open = |s: &Standing| s.ended != Some(Ended::Completed);
    let mut boundaries: Vec<usize> = members
        .iter()
        .filter(|s| open(s))
        .map(|s| s.until)
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    for e in boundaries {
        if members
            .iter()
            .any(|s| open(s) && s.until == e && s.ended.is_none())
        {
            return Next::Wait;
        }
        if let Some(p) = decide_at(setting, study, &members, e, step(e), (quantile, resample)) {
            return Next::Run(p);
        }
        // Only failed members that no member could replace were left at e: they end there.
    }
    Next::Done
}

/// A member, its trial at an epoch and the trial's value there.
type Ranked = (usize, usize, Option<f64>);

/// The ranking at epoch `e`: every member's trial there, best first, those without a value
/// last.
fn ranking(setting: &Setting, study: &Study, size: usize, e: usize) -> Vec<Ranked> {
    let n = study.jobs.len();
    let mut ranked: Vec<Ranked> = (0..size)
        .map(|m| {
            let t = trial_at(study, m, e);
            (m, t, study.known(t, n).get(&e).copied())
        })
        .collect();
    ranked.sort_by(|a, b| match (a.2, b.2) {
        (Some(x), Some(y)) => setting.better(x, y).then(a.0.cmp(&b.0)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    ranked
}

/// A donor among `donors` for member `m` at epoch `e`, drawn from a stream of the search's
/// seed, the epoch and the member, with the donor's values perturbed.
fn draw_donor(
    setting: &Setting,
    study: &Study,
    donors: &[Ranked],
    (e, m): (usize, usize),
    resample: f64,
) -> (Ranked, Values, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(
        setting.spec.seed ^ 0x5042_5400,
        ((e as u64) << 32) | m as u64,
    ));
    // Two members that took up the same trial with the same values would train the
    // same run twice: draw again (a few times) rather than repeat one.
    let taken = |donor: usize, values: &Values| {
        study.trials.iter().any(|t| {
            t.from.is_some_and(|f| f.epoch == e && f.trial == donor) && &t.values == values
        })
    };
    let mut draw = || {
        let (dm, donor, dv) = donors[rng.random_range(0..donors.len())];
        let (values, how) = perturb(
            &setting.spec.params,
            &study.trials[donor].values,
            resample,
            &mut rng,
        );
        ((dm, donor, dv), values, how)
    };
    let mut drawn = draw();
    for _ in 0..8 {
        if !taken(drawn.0.1, &drawn.1) {
            break;
        }
        drawn = draw();
    }
    drawn
}

/// The job for the first member at epoch `e` still to be decided there, if any.
fn decide_at(
    setting: &Setting,
    study: &Study,
    members: &[Standing],
    e: usize,
    until: usize,
    (quantile, resample): (f64, f64),
) -> Option<Proposal> {
    let size = members.len();
    let ranked = ranking(setting, study, size, e);
    let cut = ((size as f64 * quantile).floor() as usize).clamp(1, size / 2);
    let paused_at = |t: usize| {
        study.jobs.iter().any(|j| {
            j.trial == t
                && j.until == e
                && j.outcome.as_ref().is_some_and(|o| o.ended == Ended::Paused)
        })
    };
    let donors: Vec<Ranked> = ranked[..cut]
        .iter()
        .filter(|(_, t, v)| v.is_some() && paused_at(*t))
        .copied()
        .collect();
    let place = |m: usize| ranked.iter().position(|r| r.0 == m).expect("ranked") + 1;
    let shown = |v: Option<f64>| v.map_or("no value".to_string(), |v| format!("{v:.4}"));
    for s in members
        .iter()
        .filter(|s| s.ended != Some(Ended::Completed) && s.until == e)
    {
        let m = member(study, s.trial);
        let rank = place(m);
        let failed = s.ended == Some(Ended::Failed);
        let value_here = ranked[rank - 1].2;
        if (rank > size - cut || failed) && !donors.is_empty() {
            let drawn = draw_donor(setting, study, &donors, (e, m), resample);
            let ((dm, donor, dv), values, how) = drawn;
            return Some(Proposal {
                trial: study.trials.len(),
                until,
                new: Some((values, 0)),
                from: Some(Fork {
                    trial: donor,
                    epoch: e,
                    replaces: s.trial,
                }),
                why: format!(
                    "member {}: at epoch {e} trial {} ({} {}, {} of {size}) takes up trial {}'s weights ({}, {} as member {}): {how}",
                    m + 1,
                    s.trial + 1,
                    setting.metric,
                    shown(value_here),
                    ordinal(rank),
                    donor + 1,
                    shown(dv),
                    ordinal(place(dm)),
                    dm + 1,
                ),
            });
        }
        if failed {
            continue;
        }
        return Some(Proposal {
            trial: s.trial,
            until,
            new: None,
            from: None,
            why: format!(
                "member {}: goes on from epoch {e}, {} {}, {} of {size}",
                m + 1,
                setting.metric,
                shown(value_here),
                ordinal(rank)
            ),
        });
    }
    None
}

/// The donor's values, each perturbed: redrawn with probability `resample`, else a number
/// times 0.8 or 1.2 (kept in its range) or a choice moved to a neighbour.
pub fn perturb(
    params: &[Param],
    values: &Values,
    resample: f64,
    rng: &mut ChaCha8Rng,
) -> (Values, String) {
    let mut out = Vec::new();
    let mut how = Vec::new();
    for (key, v) in values {
        let Some(p) = params.iter().find(|p| &p.key == key) else {
            out.push((key.clone(), v.clone()));
            continue;
        };
        let short = key.rsplit('.').next().unwrap_or(key);
        let new = if rng.random::<f64>() < resample {
            let x = super::tpe::uniform(&[super::decide::dim(p)], rng)[0];
            let new = value(p, x);
            how.push(format!(
                "{short} drawn anew: {}",
                crate::config::sweep::compact(&new)
            ));
            new
        } else {
            let up = rng.random::<bool>();
            let new = match &p.distribution {
                Distribution::Choice(list) => {
                    let i = coordinate(p, v).unwrap_or(0.0) as usize;
                    let j = if up {
                        (i + 1).min(list.len() - 1)
                    } else {
                        i.saturating_sub(1)
                    };
                    list[j].clone()
                }
                d => {
                    let x = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                    let scaled = x.unwrap_or(0.0) * if up { 1.2 } else { 0.8 };
                    let coordinate = match d {
                        Distribution::LogUniform(..) => scaled.ln(),
                        _ => scaled,
                    };
                    value(p, coordinate)
                }
            };
            how.push(format!(
                "{short} {} -> {}",
                crate::config::sweep::compact(v),
                crate::config::sweep::compact(&new)
            ));
            new
        };
        out.push((key.clone(), new));
    }
    let text = if how.is_empty() {
        label(&out)
    } else {
        how.join(", ")
    };
    (out, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::search::{Sampler, SearchSpec};
    use crate::engine::search::decide::simulate;

    fn spec(resample: f64, size: usize) -> SearchSpec {
        let param = |key: &str, distribution| Param {
            key: key.into(),
            distribution,
            when: None,
            line: 1,
        };
        SearchSpec {
            sampler: Sampler::Random,
            budget: Some(size),
            time: None,
            seed: 1,
            parallel: 4,
            pruner: Pruner::Pbt {
                interval: 2,
                quantile: 0.25,
                resample,
            },
            params: vec![
                param("train.learning_rate", Distribution::LogUniform(1e-4, 1e-1)),
                param("model.dropout", Distribution::Uniform(0.0, 0.5)),
                param(
                    "train.optimizer.beta_1",
                    Distribution::Choice(vec![0.8.into(), 0.9.into(), 0.95.into()]),
                ),
            ],
            line: 1,
        }
    }

    fn setting(spec: &SearchSpec) -> Setting<'_> {
        Setting {
            spec,
            epochs: 7,
            higher_is_better: false,
            metric: "val_loss".into(),
        }
    }

    fn lr(values: &Values) -> f64 {
        values[0].1.as_float().unwrap()
    }

    /// Best near a learning rate of 1e-2; no value at all above 5e-2 (a diverged run).
    fn loss(values: &Values, epoch: usize) -> f64 {
        let x = lr(values);
        if x > 5e-2 {
            return f64::NAN;
        }
        (x.log10() + 2.0).powi(2) + 1.0 / epoch as f64
    }

    fn jobs(study: &Study) -> Vec<(usize, usize, Values, Option<Fork>)> {
        study
            .jobs
            .iter()
            .map(|j| {
                let t = &study.trials[j.trial];
                (j.trial, j.until, t.values.clone(), t.from)
            })
            .collect()
    }

    #[test]
    fn the_same_population_whatever_the_workers_and_the_order_outcomes_come_in() {
        let spec = spec(0.25, 8);
        let s = setting(&spec);
        let one = jobs(&simulate(&s, 1, |_| 0, loss));
        let mut state = 7u64;
        let shuffled = jobs(&simulate(
            &s,
            3,
            |running| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 33) as usize % running.len()
            },
            loss,
        ));
        assert_eq!(one, shuffled);
        assert_ne!(
            one,
            jobs(&simulate(&setting(&self::spec(0.5, 8)), 1, |_| 0, loss))
        );
    }

    #[test]
    fn the_worst_quarter_takes_up_the_best_quarters_weights_at_every_interval() {
        let spec = spec(0.0, 8);
        let s = setting(&spec);
        let study = simulate(&s, 2, |_| 0, loss);
        let n = study.jobs.len();
        // Every member reaches the last epoch, each generation in steps of 2.
        for m in 0..8 {
            let t = (0..study.trials.len())
                .rev()
                .find(|&t| member(&study, t) == m)
                .unwrap();
            assert_eq!(study.last(t, n).map(|l| l.1), Some(7), "member {m}");
        }
        let forks: Vec<(usize, Fork)> = (0..study.trials.len())
            .filter_map(|t| study.trials[t].from.map(|f| (t, f)))
            .collect();
        // Two of eight at each of epochs 2, 4 and 6.
        for e in [2, 4, 6] {
            assert_eq!(forks.iter().filter(|(_, f)| f.epoch == e).count(), 2, "{e}");
        }
        for (t, f) in &forks {
            let at = |trial: usize| study.known(trial, n).get(&f.epoch).copied();
            let ranked: Vec<Option<f64>> =
                (0..8).map(|m| at(trial_at(&study, m, f.epoch))).collect();
            let mut values: Vec<f64> = ranked.iter().flatten().copied().collect();
            values.sort_by(f64::total_cmp);
            // The parent is among the two best, the replaced trial among the two worst
            // (a trial with no value counts as the worst).
            assert!(
                at(f.trial).unwrap() <= values[1],
                "{t}: parent {:?}",
                at(f.trial)
            );
            let replaced = at(f.replaces);
            assert!(
                replaced.is_none_or(|v| v >= values[values.len() - 2]),
                "{t}: replaced {replaced:?} of {values:?}"
            );
            // Without resampling, each number is the parent's times 0.8 or 1.2 (in range)
            // and each choice the parent's or a neighbour.
            let (parent, child) = (&study.trials[f.trial].values, &study.trials[*t].values);
            let ratio = lr(child) / lr(parent);
            assert!(
                [0.8, 1.2].iter().any(|r| (ratio - r).abs() < 2e-3) || lr(child) == 1e-1,
                "ratio {ratio}"
            );
            let choice = |v: &Values| {
                [0.8, 0.9, 0.95]
                    .iter()
                    .position(|c| v[2].1.as_float() == Some(*c))
                    .unwrap()
            };
            assert!(choice(parent).abs_diff(choice(child)) <= 1);
        }
        // No two members take up the same trial with the same values at one epoch.
        for (i, (t, f)) in forks.iter().enumerate() {
            for (u, g) in &forks[i + 1..] {
                assert!(
                    !(f.epoch == g.epoch
                        && f.trial == g.trial
                        && study.trials[*t].values == study.trials[*u].values),
                    "trials {t} and {u} repeat each other"
                );
            }
        }
        // A member with no value (a diverged trial) is replaced at the next interval.
        let diverged: Vec<usize> = (0..8)
            .filter(|&t| lr(&study.trials[t].values) > 5e-2)
            .collect();
        assert!(!diverged.is_empty(), "the seed draws no diverging member");
        for t in diverged {
            assert!(
                forks.iter().any(|(_, f)| f.replaces == t && f.epoch == 2),
                "{t}"
            );
        }
    }

    #[test]
    fn members_that_take_up_one_trial_at_one_epoch_get_different_values() {
        let mut spec = spec(0.0, 8);
        spec.params.truncate(1);
        spec.pruner = Pruner::Pbt {
            interval: 1,
            quantile: 0.5,
            resample: 0.0,
        };
        let study = simulate(&setting(&spec), 1, |_| 0, loss);
        let mut seen = std::collections::BTreeSet::new();
        for t in &study.trials {
            if let Some(f) = t.from {
                let key = (f.epoch, f.trial, lr(&t.values).to_bits());
                assert!(seen.insert(key), "{key:?} twice");
            }
        }
        assert_eq!(seen.len(), 4 * 6);
    }

    #[test]
    fn perturbed_values_stay_in_their_ranges() {
        let spec = spec(0.0, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let top: Values = vec![
            ("train.learning_rate".into(), 0.1.into()),
            ("model.dropout".into(), 0.5.into()),
            ("train.optimizer.beta_1".into(), 0.95.into()),
        ];
        for _ in 0..50 {
            let (v, how) = perturb(&spec.params, &top, 0.0, &mut rng);
            assert!(lr(&v) <= 0.1 && lr(&v) >= 0.08 * 0.999, "{how}");
            let p = v[1].1.as_float().unwrap();
            assert!((0.4 * 0.999..=0.5).contains(&p), "{how}");
            assert!(how.contains("learning_rate 0.1 -> "), "{how}");
        }
    }
}
