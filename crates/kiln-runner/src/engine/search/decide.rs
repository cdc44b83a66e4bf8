//! What a search does next, as a function of its journal alone.
//!
//! A search is a sequence of jobs, each "train trial t up to epoch e". Job `i` is decided
//! from the outcomes of jobs `0..i - parallel` (the jobs in between count as running: their
//! trials cannot be promoted, and a new trial among them is a "constant liar" for TPE). When
//! that decides nothing, the outcomes of later jobs are waited for one by one. So the jobs
//! are the same whether one worker or many run them, and after any kill and restart.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use super::journal::{Ended, Fork, Record, Values, Worker};
use super::tpe::{self, Dim};
use crate::config::search::{Param, Pruner, Sampler, SearchSpec};
use crate::config::sweep::{Distribution, compact, round4};

/// A job's outcome as the journal has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ended: Ended,
    pub values: Vec<(usize, f64)>,
    pub seconds: f64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub trial: usize,
    pub until: usize,
    pub why: String,
    pub worker: Option<Worker>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub values: Values,
    pub bracket: usize,
    /// A population member's trial that took up another's weights.
    pub from: Option<Fork>,
}

/// The journal replayed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Study {
    pub digest: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub jobs: Vec<Job>,
    pub trials: Vec<Trial>,
}

impl Study {
    pub fn replay(records: &[Record]) -> anyhow::Result<Self> {
        let mut s = Study::default();
        for r in records {
            match r {
                Record::Search { digest, at } => {
                    s.digest.get_or_insert(digest.clone());
                    s.started.get_or_insert(*at);
                }
                Record::Job {
                    job,
                    trial,
                    until,
                    values,
                    bracket,
                    from,
                    why,
                    ..
                } => {
                    anyhow::ensure!(*job == s.jobs.len(), "job {job} recorded out of order");
                    if let Some(values) = values {
                        anyhow::ensure!(*trial == s.trials.len(), "trial {trial} out of order");
                        if let Some(f) = from {
                            anyhow::ensure!(
                                f.trial < s.trials.len() && f.replaces < s.trials.len(),
                                "trial {trial} starts from a trial not yet recorded"
                            );
                        }
                        s.trials.push(Trial {
                            values: values.clone(),
                            bracket: *bracket,
                            from: *from,
                        });
                    }
                    anyhow::ensure!(*trial < s.trials.len(), "job {job}: no trial {trial}");
                    s.jobs.push(Job {
                        trial: *trial,
                        until: *until,
                        why: why.clone(),
                        worker: None,
                        outcome: None,
                    });
                }
                Record::Start { job, worker, .. } => {
                    let j = s
                        .jobs
                        .get_mut(*job)
                        .ok_or_else(|| anyhow::anyhow!("no job {job}"))?;
                    j.worker = Some(worker.clone());
                }
                Record::End {
                    job,
                    ended,
                    values,
                    seconds,
                    error,
                    ..
                } => {
                    let j = s
                        .jobs
                        .get_mut(*job)
                        .ok_or_else(|| anyhow::anyhow!("no job {job}"))?;
                    // Two workers may both finish a job whose first worker seemed dead; the
                    // first outcome stands (the run folder is the same).
                    j.outcome.get_or_insert(Outcome {
                        ended: *ended,
                        values: values.clone(),
                        seconds: *seconds,
                        error: error.clone(),
                    });
                }
            }
        }
        Ok(s)
    }

    /// Each epoch's value of trial `t` from the outcomes of jobs before `m`.
    pub fn known(&self, t: usize, m: usize) -> BTreeMap<usize, f64> {
        let mut out = BTreeMap::new();
        for j in self.jobs[..m].iter().filter(|j| j.trial == t) {
            if let Some(o) = &j.outcome {
                for (e, v) in &o.values {
                    if v.is_finite() {
                        out.insert(*e, *v);
                    }
                }
            }
        }
        out
    }

    /// How trial `t`'s newest job before `m` ended, and the epoch it was to reach.
    pub fn last(&self, t: usize, m: usize) -> Option<(Ended, usize)> {
        self.jobs[..m]
            .iter()
            .rev()
            .find(|j| j.trial == t)
            .and_then(|j| j.outcome.as_ref().map(|o| (o.ended, j.until)))
    }
}

/// What the search knows beyond its journal: the space, the trials' epochs and which way
/// the monitored metric is better.
pub struct Setting<'a> {
    pub spec: &'a SearchSpec,
    pub epochs: usize,
    pub higher_is_better: bool,
    pub metric: String,
}

/// A decided job.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub trial: usize,
    pub until: usize,
    /// A new trial's values and bracket.
    pub new: Option<(Values, usize)>,
    /// A new population member's trial: whose weights it takes up.
    pub from: Option<Fork>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Run(Proposal),
    /// Outcomes of running jobs are needed first.
    Wait,
    Done,
}

impl Setting<'_> {
    /// The epochs at which a trial of `bracket` stops to be compared; the last is its end.
    pub fn rungs(&self, bracket: usize) -> Vec<usize> {
        let end = self.epochs;
        let mut out = Vec::new();
        match self.spec.pruner {
            Pruner::None | Pruner::Pbt { .. } => {}
            Pruner::Median {
                min_epochs,
                interval,
            } => out.extend((min_epochs..end).step_by(interval)),
            Pruner::Asha {
                min_epochs,
                reduction,
            }
            | Pruner::Hyperband {
                min_epochs,
                reduction,
            } => {
                let mut r = min_epochs.saturating_mul(reduction.saturating_pow(bracket as u32));
                while r < end {
                    out.push(r);
                    r = r.saturating_mul(reduction);
                }
            }
        }
        out.push(end);
        out
    }

    pub fn brackets(&self) -> usize {
        match self.spec.pruner {
            Pruner::Hyperband {
                min_epochs,
                reduction,
            } => {
                let mut n = 1;
                let mut r = min_epochs.saturating_mul(reduction);
                while r <= self.epochs {
                    n += 1;
                    r = r.saturating_mul(reduction);
                }
                n
            }
            _ => 1,
        }
    }

    /// Each bracket's share of the trials, as Hyperband (Li et al. 2018) sizes them: the
    /// bracket whose first rung is `reduction^s` times the last's gets
    /// `ceil((s_max + 1) / (s + 1) × reduction^s)` trials a round, so the brackets that stop
    /// early try the most configurations.
    fn bracket_weights(&self) -> Vec<usize> {
        let brackets = self.brackets();
        let reduction = match self.spec.pruner {
            Pruner::Hyperband { reduction, .. } => reduction,
            _ => return vec![1],
        };
        (0..brackets)
            .map(|b| {
                let s = brackets - 1 - b;
                (brackets * reduction.saturating_pow(s as u32)).div_ceil(s + 1)
            })
            .collect()
    }

    /// The bracket of the search's `k`-th trial: the brackets in turn, each as often as its
    /// weight (smooth weighted round robin, so they interleave).
    pub fn bracket_of(&self, k: usize) -> usize {
        let weights = self.bracket_weights();
        if weights.len() == 1 {
            return 0;
        }
        let total: i64 = weights.iter().map(|w| *w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut chosen = 0;
        for _ in 0..=k % total as usize {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += *w as i64;
            }
            chosen = (0..current.len())
                .max_by_key(|&b| (current[b], std::cmp::Reverse(b)))
                .unwrap_or(0);
            current[chosen] -= total;
        }
        chosen
    }

    /// How many trials bracket `b` gets in all (unbounded under a time budget).
    fn bracket_trials(&self, b: usize) -> usize {
        let n = self.spec.trials();
        if n == usize::MAX {
            return n;
        }
        (0..n).filter(|&k| self.bracket_of(k) == b).count()
    }

    /// The better of two values first.
    pub fn better(&self, a: f64, b: f64) -> std::cmp::Ordering {
        let o = a.total_cmp(&b);
        if self.higher_is_better {
            o.reverse()
        } else {
            o
        }
    }

    /// The next job of `study`, decided as the module says.
    pub fn next(&self, study: &Study, now: DateTime<Utc>) -> Next {
        if let Pruner::Pbt { .. } = self.spec.pruner {
            return super::population::next(self, study);
        }
        let i = study.jobs.len();
        let mut m = i.saturating_sub(self.spec.parallel);
        loop {
            if study.jobs[..m].iter().any(|j| j.outcome.is_none()) {
                return Next::Wait;
            }
            if let Some(p) = self.decide(study, i, m, now) {
                return Next::Run(p);
            }
            if m >= i {
                return Next::Done;
            }
            m += 1;
        }
    }

    fn busy(&self, study: &Study, t: usize, i: usize, m: usize) -> bool {
        study.jobs[m..i].iter().any(|j| j.trial == t)
    }

    fn decide(&self, study: &Study, i: usize, m: usize, now: DateTime<Utc>) -> Option<Proposal> {
        if let Some(p) = self.promote(study, i, m) {
            return Some(p);
        }
        let started = study.trials.len();
        let out_of_time = match (self.spec.time, study.started) {
            (Some(limit), Some(at)) => (now - at).to_std().is_ok_and(|d| d >= limit),
            _ => false,
        };
        if started >= self.spec.trials() || out_of_time {
            return None;
        }
        let bracket = self.bracket_of(started);
        let (values, why) = self.sample(study, started, i, m);
        Some(Proposal {
            trial: started,
            until: self.rungs(bracket)[0],
            new: Some((values, bracket)),
            from: None,
            why,
        })
    }

    /// A paused trial that should go on: successive halving's promotion (top rung first),
    /// or the median rule's continuation.
    fn promote(&self, study: &Study, i: usize, m: usize) -> Option<Proposal> {
        let waiting = |t: usize, e: usize| {
            !self.busy(study, t, i, m) && study.last(t, m) == Some((Ended::Paused, e))
        };
        match self.spec.pruner {
            Pruner::None | Pruner::Pbt { .. } => None,
            Pruner::Median { .. } => self.promote_median(study, m, &waiting),
            Pruner::Asha { reduction, .. } | Pruner::Hyperband { reduction, .. } => {
                self.promote_halving(study, i, m, reduction, &waiting)
            }
        }
    }

    /// The median rule: a paused trial goes on when it is no worse than the median of the
    /// others at its epoch (or when there are too few others to tell).
    fn promote_median(
        &self,
        study: &Study,
        m: usize,
        waiting: &dyn Fn(usize, usize) -> bool,
    ) -> Option<Proposal> {
        let rungs = self.rungs(0);
        for t in 0..study.trials.len() {
            let Some((Ended::Paused, e)) = study.last(t, m) else {
                continue;
            };
            if !waiting(t, e) {
                continue;
            }
            let known = study.known(t, m);
            let Some(&v) = known.get(&e) else { continue };
            let mut others: Vec<f64> = (0..study.trials.len())
                .filter(|&o| o != t)
                .filter_map(|o| study.known(o, m).get(&e).copied())
                .collect();
            let Some(&next) = rungs.iter().find(|r| **r > e) else {
                continue;
            };
            if others.len() < 2 {
                return Some(Proposal {
                    trial: t,
                    until: next,
                    new: None,
                    from: None,
                    why: format!("goes on from epoch {e}: too few trials to compare with there"),
                });
            }
            others.sort_by(|a, b| self.better(*a, *b));
            let median = others[others.len() / 2];
            if self.better(v, median) != std::cmp::Ordering::Greater {
                return Some(Proposal {
                    trial: t,
                    until: next,
                    new: None,
                    from: None,
                    why: format!(
                        "goes on from epoch {e}: {} {v:.4}, the others' median {median:.4}",
                        self.metric
                    ),
                });
            }
        }
        None
    }

    /// Successive halving: the top 1/`reduction` of a rung go on to the next, as many as
    /// the bracket plans for it.
    fn promote_halving(
        &self,
        study: &Study,
        i: usize,
        m: usize,
        reduction: usize,
        waiting: &dyn Fn(usize, usize) -> bool,
    ) -> Option<Proposal> {
        for b in 0..self.brackets() {
            let rungs = self.rungs(b);
            for k in (0..rungs.len() - 1).rev() {
                let e = rungs[k];
                let mut members: Vec<(usize, f64)> = (0..study.trials.len())
                    .filter(|&t| study.trials[t].bracket == b)
                    .filter_map(|t| study.known(t, m).get(&e).map(|v| (t, *v)))
                    .collect();
                members.sort_by(|a, c| self.better(a.1, c.1).then(a.0.cmp(&c.0)));
                let top = members.len() / reduction;
                // The next rung holds as many trials as successive halving plans for
                // it; once a rung has all its trials, its best goes on regardless.
                let room = (self.bracket_trials(b) / reduction.pow(k as u32 + 1)).max(1);
                let full = members.len() >= self.bracket_trials(b) / reduction.pow(k as u32);
                let promoted = (0..study.trials.len())
                    .filter(|&t| study.trials[t].bracket == b)
                    .filter(|&t| study.jobs[..i].iter().any(|j| j.trial == t && j.until > e))
                    .count();
                let over = promoted >= room;
                if over && !full {
                    continue;
                }
                if let Some((rank, (t, v))) = members
                    .iter()
                    .enumerate()
                    .take(if over { top.min(1) } else { top })
                    .find(|(_, (t, _))| waiting(*t, e))
                {
                    return Some(Proposal {
                        trial: *t,
                        until: rungs[k + 1],
                        new: None,
                        from: None,
                        why: format!(
                            "promoted at epoch {e}: {} {v:.4}, {} of {} there, the top {top} go on",
                            self.metric,
                            ordinal(rank + 1),
                            members.len()
                        ),
                    });
                }
            }
        }
        None
    }

    /// New trial `k`'s values, and how they were chosen.
    pub(super) fn sample(&self, study: &Study, k: usize, i: usize, m: usize) -> (Values, String) {
        let params = &self.spec.params;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.spec.seed, k as u64));
        match self.spec.sampler {
            Sampler::Grid => {
                let mut order: Vec<usize> = (0..self.spec.grid_size()).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(self.spec.seed));
                let mut n = order[k];
                let values = params
                    .iter()
                    .map(|p| {
                        let Distribution::Choice(list) = &p.distribution else {
                            unreachable!("a grid searches choices only")
                        };
                        let v = list[n % list.len()].clone();
                        n /= list.len();
                        (p.key.clone(), v)
                    })
                    .collect();
                (values, format!("grid point {} of {}", k + 1, order.len()))
            }
            _ => {
                // A repeat of an earlier trial would train the same run again: draw anew,
                // and settle for a repeat only when the space seems to have nothing new.
                let new = |v: &Values| !study.trials.iter().any(|t| &t.values == v);
                let mut drawn = self.draw(study, k, i, m, &mut rng);
                for _ in 0..20 {
                    if new(&drawn.0) {
                        return drawn;
                    }
                    drawn = self.draw(study, k, i, m, &mut rng);
                }
                // TPE keeps choosing a point it has tried: explore instead.
                for _ in 0..1000 {
                    let values = self.random(&mut rng);
                    if new(&values) {
                        return (
                            values,
                            format!("random: {} kept repeating earlier trials", drawn.1),
                        );
                    }
                }
                drawn
                    .1
                    .push_str(" (a repeat: the space seems to have nothing new)");
                drawn
            }
        }
    }

    fn draw(
        &self,
        study: &Study,
        k: usize,
        i: usize,
        m: usize,
        rng: &mut ChaCha8Rng,
    ) -> (Values, String) {
        match self.spec.sampler {
            Sampler::Tpe { startup } if k < startup => (
                self.random(rng),
                format!("random, {} of {startup} before TPE", k + 1),
            ),
            Sampler::Tpe { .. } => self.tpe(study, rng, i, m),
            _ => (self.random(rng), "random".into()),
        }
    }

    fn random(&self, rng: &mut ChaCha8Rng) -> Values {
        let dims: Vec<Dim> = self.spec.params.iter().map(dim).collect();
        let x = tpe::uniform(&dims, rng);
        self.decode(&x)
    }

    /// Coordinates to values, leaving out keys whose condition does not hold.
    fn decode(&self, x: &[f64]) -> Values {
        let params = &self.spec.params;
        let all: Vec<(String, toml::Value)> = params
            .iter()
            .zip(x)
            .map(|(p, x)| (p.key.clone(), value(p, *x)))
            .collect();
        all.iter()
            .zip(params)
            .filter(|(_, p)| active(p, &all))
            .map(|(kv, _)| kv.clone())
            .collect()
    }

    fn tpe(&self, study: &Study, rng: &mut ChaCha8Rng, i: usize, m: usize) -> (Values, String) {
        let params = &self.spec.params;
        // Known trials best first: further trained first, then by their value there.
        let mut scored: Vec<(usize, usize, f64)> = Vec::new();
        let mut pending = Vec::new();
        for t in 0..study.trials.len() {
            match study.known(t, m).last_key_value() {
                Some((e, v)) => scored.push((t, *e, *v)),
                None if study.jobs[m..i].iter().any(|j| j.trial == t) => pending.push(t),
                None => {}
            }
        }
        scored.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(self.better(a.2, b.2))
                .then(a.0.cmp(&b.0))
        });
        if scored.is_empty() {
            return (self.random(rng), "random: no trial has a result yet".into());
        }
        let n_good = tpe::good_count(scored.len() + pending.len()).min(scored.len());
        let good: Vec<usize> = scored[..n_good].iter().map(|s| s.0).collect();
        let bad: Vec<usize> = scored[n_good..]
            .iter()
            .map(|s| s.0)
            .chain(pending.iter().copied())
            .collect();
        let coords = |t: usize, p: &Param| -> Option<f64> {
            let v = &study.trials[t].values.iter().find(|(k, _)| k == &p.key)?.1;
            coordinate(p, v)
        };
        // The unconditional keys together, then each conditional key on the trials that
        // used it.
        let joint: Vec<usize> = (0..params.len())
            .filter(|&j| params[j].when.is_none())
            .collect();
        let dims: Vec<Dim> = joint.iter().map(|&j| dim(&params[j])).collect();
        let rows = |trials: &[usize], keys: &[usize]| -> Vec<Vec<f64>> {
            trials
                .iter()
                .filter_map(|&t| keys.iter().map(|&j| coords(t, &params[j])).collect())
                .collect()
        };
        let mut x = tpe::uniform(&params.iter().map(dim).collect::<Vec<_>>(), rng);
        let sampled = tpe::suggest(&dims, &rows(&good, &joint), &rows(&bad, &joint), rng);
        for (j, v) in joint.iter().zip(sampled) {
            x[*j] = v;
        }
        for j in (0..params.len()).filter(|&j| params[j].when.is_some()) {
            let good = rows(&good, &[j]);
            if !good.is_empty() {
                x[j] = tpe::suggest(&[dim(&params[j])], &good, &rows(&bad, &[j]), rng)[0];
            }
        }
        (
            self.decode(&x),
            format!(
                "TPE from {} trials ({n_good} good), {} running",
                scored.len(),
                pending.len()
            ),
        )
    }
}

pub(super) fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A seed per trial, from the search's seed: SplitMix64's finaliser.
pub(super) fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed ^ k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn dim(p: &Param) -> Dim {
    match &p.distribution {
        Distribution::Uniform(a, b) => Dim::Numeric { low: *a, high: *b },
        Distribution::LogUniform(a, b) => Dim::Numeric {
            low: a.ln(),
            high: b.ln(),
        },
        Distribution::Int(a, b, s) => Dim::Numeric {
            low: *a as f64 - 0.5 * *s as f64,
            high: *b as f64 + 0.5 * *s as f64,
        },
        Distribution::Choice(list) => Dim::Choice(list.len()),
    }
}

pub(super) fn value(p: &Param, x: f64) -> toml::Value {
    match &p.distribution {
        Distribution::Uniform(a, b) => toml::Value::Float(round4(x).clamp(*a, *b)),
        Distribution::LogUniform(a, b) => toml::Value::Float(round4(x.exp()).clamp(*a, *b)),
        Distribution::Int(a, b, s) => {
            let steps = ((x - *a as f64) / *s as f64).round() as i64;
            toml::Value::Integer((a + steps * s).clamp(*a, *b))
        }
        Distribution::Choice(list) => list[(x as usize).min(list.len() - 1)].clone(),
    }
}

pub(super) fn coordinate(p: &Param, v: &toml::Value) -> Option<f64> {
    let num = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match &p.distribution {
        Distribution::Uniform(..) | Distribution::Int(..) => num,
        Distribution::LogUniform(..) => num.map(f64::ln),
        Distribution::Choice(list) => list.iter().position(|c| c == v).map(|i| i as f64),
    }
}

fn active(p: &Param, values: &[(String, toml::Value)]) -> bool {
    p.when.as_ref().is_none_or(|c| {
        values
            .iter()
            .any(|(k, v)| k == &c.key && c.values.contains(v))
    })
}

/// `key=value` pairs, short keys, for logs and tables.
pub fn label(values: &Values) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), compact(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a search in memory against `objective` (a trial's values and an epoch to the
/// monitored metric there) with `workers` jobs at a time; `pick` chooses which running job
/// finishes next (by its position in the list it is given). What the tests and a replay
/// over a table of precomputed results use.
pub fn simulate(
    setting: &Setting,
    workers: usize,
    mut pick: impl FnMut(&[usize]) -> usize,
    objective: impl Fn(&Values, usize) -> f64,
) -> Study {
    let mut study = Study {
        started: Some(Utc::now()),
        ..Study::default()
    };
    let mut running: Vec<usize> = Vec::new();
    loop {
        while running.len() < workers.max(1) {
            let Next::Run(p) = setting.next(&study, Utc::now()) else {
                break;
            };
            if let Some((values, bracket)) = p.new {
                study.trials.push(Trial {
                    values,
                    bracket,
                    from: p.from,
                });
            }
            running.push(study.jobs.len());
            study.jobs.push(Job {
                trial: p.trial,
                until: p.until,
                why: p.why,
                worker: None,
                outcome: None,
            });
        }
        if running.is_empty() {
            return study;
        }
        let i = running.remove(pick(&running).min(running.len() - 1));
        let (t, until) = (study.jobs[i].trial, study.jobs[i].until);
        let from = study
            .known(t, study.jobs.len())
            .keys()
            .max()
            .copied()
            .or(study.trials[t].from.map(|f| f.epoch))
            .unwrap_or(0);
        let values = &study.trials[t].values;
        let curve: Vec<(usize, f64)> = (from + 1..=until)
            .map(|e| (e, objective(values, e)))
            .collect();
        study.jobs[i].outcome = Some(Outcome {
            ended: if until >= setting.epochs {
                Ended::Completed
            } else {
                Ended::Paused
            },
            values: curve,
            seconds: 0.0,
            error: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::search::Condition;

    fn param(key: &str, distribution: Distribution) -> Param {
        Param {
            key: key.into(),
            distribution,
            when: None,
            line: 1,
        }
    }

    fn space(sampler: Sampler, pruner: Pruner, budget: usize, seed: u64) -> SearchSpec {
        let mut momentum = param("train.optimizer.momentum", Distribution::Uniform(0.0, 0.99));
        momentum.when = Some(Condition {
            key: "train.optimizer.name".into(),
            values: vec![toml::Value::String("sgd".into())],
        });
        SearchSpec {
            sampler,
            budget: Some(budget),
            time: None,
            seed,
            parallel: 4,
            pruner,
            params: vec![
                param("train.learning_rate", Distribution::LogUniform(1e-5, 1.0)),
                param("model.dropout", Distribution::Uniform(0.0, 0.8)),
                param("train.batch_size", Distribution::Int(16, 256, 16)),
                param(
                    "train.optimizer.name",
                    Distribution::Choice(vec!["sgd".into(), "adam".into()]),
                ),
                momentum,
            ],
            line: 1,
        }
    }

    fn get(values: &Values, key: &str) -> Option<f64> {
        values
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    }

    /// A loss with its minimum 0 at lr 1e-2, dropout 0.3, batch 64, adam; epochs lower it.
    fn loss(values: &Values, epoch: usize) -> f64 {
        let lr = get(values, "train.learning_rate").unwrap();
        let p = get(values, "model.dropout").unwrap();
        let b = get(values, "train.batch_size").unwrap();
        let adam = values.iter().any(|(_, v)| v.as_str() == Some("adam"));
        let momentum = get(values, "train.optimizer.momentum").unwrap_or(0.0);
        let base = (lr.log10() + 2.0).powi(2)
            + 4.0 * (p - 0.3).powi(2)
            + ((b / 64.0).log2()).powi(2) * 0.3
            + if adam {
                0.0
            } else {
                0.5 * (1.0 - momentum) + 0.2
            };
        base + 1.0 / epoch as f64
    }

    fn setting(spec: &SearchSpec) -> Setting<'_> {
        Setting {
            spec,
            epochs: 9,
            higher_is_better: false,
            metric: "val_loss".into(),
        }
    }

    fn jobs(study: &Study) -> Vec<(usize, usize, Values)> {
        study
            .jobs
            .iter()
            .map(|j| (j.trial, j.until, study.trials[j.trial].values.clone()))
            .collect()
    }

    #[test]
    fn the_same_jobs_whatever_the_workers_and_the_order_outcomes_come_in() {
        for pruner in [
            Pruner::Asha {
                min_epochs: 1,
                reduction: 3,
            },
            Pruner::Median {
                min_epochs: 1,
                interval: 2,
            },
            Pruner::Hyperband {
                min_epochs: 1,
                reduction: 3,
            },
        ] {
            let spec = space(Sampler::Tpe { startup: 5 }, pruner, 20, 11);
            let s = setting(&spec);
            let one = simulate(&s, 1, |_| 0, loss);
            assert!(one.jobs.len() > 20, "{pruner:?}");
            for workers in [2, 4, 7] {
                for order in 0..3u64 {
                    let mut rng = ChaCha8Rng::seed_from_u64(order);
                    let other = simulate(
                        &s,
                        workers,
                        |running| rand::RngExt::random_range(&mut rng, 0..running.len()),
                        loss,
                    );
                    assert_eq!(jobs(&one), jobs(&other), "{pruner:?}, {workers} workers");
                }
            }
        }
    }

    #[test]
    fn successive_halving_promotes_the_top_of_each_rung_and_late_promotions_resume() {
        let mut spec = space(
            Sampler::Grid,
            Pruner::Asha {
                min_epochs: 1,
                reduction: 3,
            },
            9,
            5,
        );
        spec.params = vec![param(
            "model.dropout",
            Distribution::Choice(
                (0..9)
                    .map(|i| toml::Value::Float(i as f64 / 10.0))
                    .collect(),
            ),
        )];
        spec.parallel = 1;
        let by_dropout =
            |v: &Values, e: usize| (get(v, "model.dropout").unwrap() - 0.3).abs() + 1.0 / e as f64;
        assert_eq!(setting(&spec).rungs(0), [1, 3, 9]);
        for seed in 0..40 {
            spec.seed = seed;
            let s = setting(&spec);
            let study = simulate(&s, 1, |_| 0, by_dropout);
            let n = study.jobs.len();
            let reached = |e: usize| {
                (0..9)
                    .filter(|&t| study.known(t, n).contains_key(&e))
                    .count()
            };
            // The rungs hold what successive halving plans (9, 3, 1), and at most one more:
            // the best of a full rung whose room went to trials that looked better early.
            assert_eq!(reached(1), 9);
            assert!((3..=4).contains(&reached(3)), "{}", reached(3));
            assert!((1..=2).contains(&reached(9)), "{}", reached(9));
            // The best configuration goes all the way, resumed at every rung.
            let best = (0..9)
                .find(|&t| get(&study.trials[t].values, "model.dropout") == Some(0.3))
                .unwrap();
            assert_eq!(
                study.last(best, n),
                Some((Ended::Completed, 9)),
                "seed {seed}"
            );
            let untils: Vec<usize> = study
                .jobs
                .iter()
                .filter(|j| j.trial == best)
                .map(|j| j.until)
                .collect();
            assert_eq!(untils, [1, 3, 9]);
        }
        let study = simulate(&setting(&spec), 1, |_| 0, by_dropout);
        // Grid: every configuration once.
        let mut seen: Vec<String> = study.trials.iter().map(|t| label(&t.values)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9);
        // Promotions are late when a better trial arrives after its rung was judged: a trial
        // promoted by a job decided after newer trials had started.
        assert!(study.jobs.iter().any(|j| j.why.starts_with("promoted")));
    }

    #[test]
    fn random_and_tpe_do_not_repeat_a_trial_while_the_space_has_new_values() {
        for sampler in [Sampler::Random, Sampler::Tpe { startup: 3 }] {
            let mut spec = space(sampler.clone(), Pruner::None, 12, 9);
            spec.params = vec![
                param(
                    "a",
                    Distribution::Choice((0..4).map(toml::Value::Integer).collect()),
                ),
                param(
                    "b",
                    Distribution::Choice((0..3).map(toml::Value::Integer).collect()),
                ),
            ];
            let study = simulate(&setting(&spec), 1, |_| 0, |v, _| get(v, "a").unwrap());
            let mut seen: Vec<String> = study.trials.iter().map(|t| label(&t.values)).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 12, "{sampler:?}: {seen:?}");
        }
    }

    #[test]
    fn hyperband_brackets_start_at_different_rungs() {
        let spec = space(
            Sampler::Random,
            Pruner::Hyperband {
                min_epochs: 1,
                reduction: 3,
            },
            9,
            1,
        );
        let s = setting(&spec);
        assert_eq!(s.brackets(), 3);
        assert_eq!(
            (s.rungs(0), s.rungs(1), s.rungs(2)),
            (vec![1, 3, 9], vec![3, 9], vec![9])
        );
        // Li et al.'s sizes for reduction 3 and three brackets: 9, 5 and 3 trials a round,
        // interleaved.
        let rounds: Vec<usize> = (0..34).map(|k| s.bracket_of(k)).collect();
        for round in rounds.chunks(17) {
            let count = |b| round.iter().filter(|&&x| x == b).count();
            assert_eq!((count(0), count(1), count(2)), (9, 5, 3), "{round:?}");
        }
        assert_eq!(&rounds[..4], [0, 1, 0, 2]);
        let study = simulate(&s, 1, |_| 0, loss);
        let first: Vec<usize> = (0..9)
            .map(|t| study.jobs.iter().find(|j| j.trial == t).unwrap().until)
            .collect();
        let expected: Vec<usize> = (0..9).map(|k| [1, 3, 9][s.bracket_of(k)]).collect();
        assert_eq!(first, expected);
    }

    #[test]
    fn conditional_keys_appear_only_with_their_condition() {
        let spec = space(Sampler::Tpe { startup: 3 }, Pruner::None, 30, 2);
        let study = simulate(&setting(&spec), 1, |_| 0, loss);
        let mut both = (0, 0);
        for t in &study.trials {
            let sgd = t.values.iter().any(|(_, v)| v.as_str() == Some("sgd"));
            let momentum = get(&t.values, "train.optimizer.momentum").is_some();
            assert_eq!(sgd, momentum, "{}", label(&t.values));
            let batch = get(&t.values, "train.batch_size").unwrap() as i64;
            assert!(batch % 16 == 0 && (16..=256).contains(&batch), "{batch}");
            if sgd { both.0 += 1 } else { both.1 += 1 }
        }
        assert!(both.0 > 0 && both.1 > 0, "{both:?}");
    }

    /// Regret of the best final value after the first `n` trials.
    fn regret(study: &Study, n: usize) -> f64 {
        let end = study.jobs.len();
        (0..n.min(study.trials.len()))
            .filter_map(|t| study.known(t, end).get(&9).copied())
            .fold(f64::INFINITY, f64::min)
            - 1.0 / 9.0
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn tpe_after_n_trials_does_no_worse_than_random_after_2n() {
        let (n, seeds) = (30, 0..31u64);
        let run = |sampler: Sampler, budget: usize, seed: u64| {
            let mut spec = space(sampler, Pruner::None, budget, seed);
            spec.parallel = 1;
            simulate(&setting(&spec), 1, |_| 0, loss)
        };
        let tpe: Vec<f64> = seeds
            .clone()
            .map(|s| regret(&run(Sampler::Tpe { startup: 10 }, n, s), n))
            .collect();
        let random: Vec<f64> = seeds
            .clone()
            .map(|s| regret(&run(Sampler::Random, 2 * n, s), 2 * n))
            .collect();
        let (tpe, random) = (median(tpe), median(random));
        eprintln!(
            "median regret: TPE {tpe:.4} after {n}, random {random:.4} after {}",
            2 * n
        );
        assert!(
            tpe <= random,
            "median regret: TPE {tpe:.4} after {n}, random {random:.4} after {}",
            2 * n
        );
        assert_eq!(
            jobs(&run(Sampler::Tpe { startup: 10 }, n, 3)),
            jobs(&run(Sampler::Tpe { startup: 10 }, n, 3))
        );
        assert_ne!(
            jobs(&run(Sampler::Tpe { startup: 10 }, n, 3)),
            jobs(&run(Sampler::Tpe { startup: 10 }, n, 4))
        );
    }
}
