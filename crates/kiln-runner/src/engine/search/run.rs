//! Running a search: workers (threads of `kiln run -j N`, or separate `kiln run` processes
//! on one machine or a cluster's nodes) take jobs from the journal one at a time, each
//! job a `kiln run --trial N` or `kiln run --resume DIR` process that trains a trial to its
//! next rung and pauses there with a checkpoint, or finishes it.
//!
//! A job's run folder is the truth about it: a worker that finds a job whose worker died
//! looks at the trial's folder and finishes what is left (waiting for a training process
//! that still runs, resuming one that was killed, or just recording one that finished).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use sha2::{Digest, Sha256};

use super::decide::{Next, Setting, Study, label};
use super::journal::{Ended, Fork, Journal, Record, Values, Worker};
use crate::config::Search;
use crate::config::search::Pruner;
use crate::engine::run::TrialPlacement;
use crate::platform::interrupt;
use crate::store::manifest::{Lineage, Manifest, Status, TrialInfo};
use crate::store::run_dir::RunDir;

/// What a search's workers run with: a sweep's options.
pub use crate::engine::sweep::SweepOptions as SearchOptions;

/// `results/<experiment>/<sweep name>/`.
pub fn folder(search: &Search, results: &Path) -> PathBuf {
    results
        .join(&search.base.experiment.name)
        .join(&search.name)
}

/// What makes two searches the same: the resolved file without the searched keys' lines,
/// and the space and settings.
fn digest(search: &Search) -> String {
    let mut spec = search.spec.clone();
    spec.line = 0;
    for p in &mut spec.params {
        p.line = 0;
    }
    let text = format!(
        "{}\n{spec:?}",
        crate::engine::sweep::trial_key(&search.base.experiment)
    );
    let d = Sha256::digest(text.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn setting(search: &Search) -> anyhow::Result<Setting<'_>> {
    let exp = &search.base.experiment;
    let metric = exp.train.monitor.name();
    let higher_is_better = crate::config::spec::higher_is_better(exp.train.monitor.metric())
        .with_context(|| format!("no task reports `{metric}`"))?;
    Ok(Setting {
        spec: &search.spec,
        epochs: exp.train.epochs,
        higher_is_better,
        metric,
    })
}

/// Trial `t`'s (0-based) values, and for a population member's new trial whose checkpoint
/// it goes on from, from the journal in `results`.
pub fn trial_values(
    search: &Search,
    results: &Path,
    t: usize,
) -> anyhow::Result<(Values, Option<Fork>)> {
    let journal = Journal::at(&folder(search, results));
    let study = Study::replay(&journal.read()?)?;
    study
        .trials
        .get(t)
        .map(|trial| (trial.values.clone(), trial.from))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--trial {}: {} has {} trials so far",
                t + 1,
                journal.path.display(),
                study.trials.len()
            )
        })
}

/// A population member's new trial: its lineage, and the parent's checkpoint that it goes
/// on from.
pub fn fork_start(
    search: &Search,
    results: &Path,
    fork: Fork,
) -> anyhow::Result<(Lineage, PathBuf)> {
    let dir = folder(search, results);
    let study = Study::replay(&Journal::at(&dir).read()?)?;
    let parent = study
        .trials
        .get(fork.trial)
        .with_context(|| format!("{}: no trial {}", dir.display(), fork.trial + 1))?;
    let key = placement(search, fork.trial, &parent.values)?.info.key;
    let (run, _) = attempt(&dir, &key).with_context(|| {
        format!(
            "{}: trial {}, whose weights a new member takes up, has no folder",
            dir.display(),
            fork.trial + 1
        )
    })?;
    let snapshot = RunDir::open(&run).snapshot(fork.epoch);
    anyhow::ensure!(
        snapshot.state().exists(),
        "{}: no checkpoint kept at the end of epoch {}",
        run.display(),
        fork.epoch
    );
    Ok((
        Lineage {
            trial: fork.trial + 1,
            run: run
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            epoch: fork.epoch,
            replaces: fork.replaces + 1,
        },
        snapshot.dir,
    ))
}

/// Where trial `t` (0-based) with `values` goes and what its manifest says.
pub fn placement(search: &Search, t: usize, values: &Values) -> anyhow::Result<TrialPlacement> {
    let loaded = search.load(values)?;
    let label = label(values);
    Ok(TrialPlacement {
        info: TrialInfo {
            name: search.name.clone(),
            trial: t + 1,
            label: label.clone(),
            configuration: label,
            // The trial's number too: two trials of a search are two runs, even with the
            // same values (a discrete space drawn dry).
            key: format!(
                "{}-t{}",
                crate::engine::sweep::trial_key(&loaded.experiment),
                t + 1
            ),
            from: None,
        },
        seed: loaded.experiment.seed,
        start_from: None,
    })
}

/// Runs the search until it is done: `o.jobs` workers in this process, beside any others
/// working on the same folder.
pub fn run_search(search: &Search, o: &SearchOptions) -> anyhow::Result<()> {
    let built = crate::backend::built();
    let backend = search.base.experiment.backend.name();
    if !built.contains(&backend) {
        return Err(crate::backend::BackendError::NotBuilt(backend).into());
    }
    let setting = setting(search)?;
    let dir = folder(search, &o.run.results);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let journal = Journal::at(&dir);
    let digest = digest(search);
    journal.update(|records| match records.first() {
        None => Ok((
            vec![Record::Search {
                digest: digest.clone(),
                at: Utc::now(),
            }],
            (),
        )),
        Some(Record::Search { digest: d, .. }) if *d == digest => Ok((Vec::new(), ())),
        Some(_) => anyhow::bail!(
            "{} holds another search (a different file, space or settings); give this one its own `sweep.name`, or move that folder away",
            dir.display()
        ),
    })?;
    let _heartbeat = super::journal::Heartbeat::start(&dir)?;
    let study = Study::replay(&journal.read()?)?;
    println!(
        "search `{}`: {} trials so far, {} jobs, {} workers here; journal {}",
        search.name,
        study.trials.len(),
        study.jobs.len(),
        o.jobs,
        journal.path.display()
    );
    let clock = Instant::now();
    let exe = std::env::current_exe()?;
    let outcomes: Vec<anyhow::Result<(usize, bool)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.jobs)
            .map(|w| {
                let (journal, setting, exe) = (&journal, &setting, &exe);
                scope.spawn(move || work(search, setting, journal, o, exe, w))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked")))
            })
            .collect()
    });
    let done: usize = outcomes
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.0)
        .sum();
    let stopped = outcomes.iter().any(|r| r.as_ref().is_ok_and(|r| r.1));
    let study = Study::replay(&journal.read()?)?;
    print!("{}", summary(&setting, &study, 10));
    println!(
        "{done} jobs run here in {:.1} s: {}",
        clock.elapsed().as_secs_f64(),
        dir.display()
    );
    if let Some(e) = outcomes.into_iter().find_map(Result::err) {
        return Err(e);
    }
    if interrupt::requested() || stopped {
        return Err(crate::engine::run::Stopped {
            message: "search interrupted; run the same command again to go on (the journal and the trials' checkpoints keep everything)".into(),
        }
        .into());
    }
    if let Pruner::Pbt { .. } = search.spec.pruner
        && is_done(search, &o.run.results)?
    {
        // No member will take up weights any more.
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir_all(RunDir::open(&entry.path()).snapshots());
        }
    }
    println!(
        "compare them: cargo xtask compare --sweep {} --sort {}",
        search.name, setting.metric
    );
    Ok(())
}

/// What a worker took from the journal.
enum Claim {
    Job {
        job: usize,
        trial: usize,
        until: usize,
        values: Values,
        why: String,
    },
    Wait,
    Done,
}

/// What a worker takes next, decided from the journal's `records`: a job whose worker is
/// gone first, else the search's next job (written with the records to append), else a
/// wait or the end.
fn claim(
    records: &[Record],
    setting: &Setting,
    dir: &Path,
) -> anyhow::Result<(Vec<Record>, Claim)> {
    let study = Study::replay(records)?;
    let me = Worker::this();
    let start = |job: usize| Record::Start {
        job,
        worker: me.clone(),
        at: Utc::now(),
    };
    // A job whose worker is gone is taken over first.
    if let Some((i, j)) = study
        .jobs
        .iter()
        .enumerate()
        .find(|(_, j)| j.outcome.is_none() && j.worker.as_ref().is_none_or(|w| !w.alive(dir)))
    {
        return Ok((
            vec![start(i)],
            Claim::Job {
                job: i,
                trial: j.trial,
                until: j.until,
                values: study.trials[j.trial].values.clone(),
                why: format!("{} (taken over from a worker that stopped)", j.why),
            },
        ));
    }
    Ok(match setting.next(&study, Utc::now()) {
        Next::Run(p) => {
            let i = study.jobs.len();
            let values = match &p.new {
                Some((v, _)) => v.clone(),
                None => study.trials[p.trial].values.clone(),
            };
            let job = Record::Job {
                job: i,
                trial: p.trial,
                until: p.until,
                bracket: p.new.as_ref().map_or(0, |n| n.1),
                from: p.from,
                values: p.new.map(|n| n.0),
                why: p.why.clone(),
                at: Utc::now(),
            };
            (
                vec![job, start(i)],
                Claim::Job {
                    job: i,
                    trial: p.trial,
                    until: p.until,
                    values,
                    why: p.why,
                },
            )
        }
        Next::Wait => (Vec::new(), Claim::Wait),
        Next::Done => (Vec::new(), Claim::Done),
    })
}

/// One worker: takes jobs until the search is done or interrupted; returns how many it ran,
/// and whether a job's process was stopped (a signal), which stops the worker too.
fn work(
    search: &Search,
    setting: &Setting,
    journal: &Journal,
    o: &SearchOptions,
    exe: &Path,
    worker: usize,
) -> anyhow::Result<(usize, bool)> {
    let dir = folder(search, &o.run.results);
    let mut ran = 0;
    while !interrupt::requested() {
        let claim = journal.update(|records| claim(records, setting, &dir))?;
        match claim {
            Claim::Done => break,
            Claim::Wait => std::thread::sleep(Duration::from_millis(200)),
            Claim::Job {
                job,
                trial,
                until,
                values,
                why,
            } => {
                let clock = Instant::now();
                println!(
                    "[worker {}] job {}: trial {} ({}) to epoch {until}: {why}",
                    worker + 1,
                    job + 1,
                    trial + 1,
                    label(&values)
                );
                let Some(end) = execute(search, setting, o, exe, trial, until, &values)? else {
                    // Stopped by a signal: the job stays open for the next run to take over.
                    println!(
                        "[worker {}] job {}: trial {} stopped by a signal, with a checkpoint",
                        worker + 1,
                        job + 1,
                        trial + 1
                    );
                    return Ok((ran, true));
                };
                let (ended, values, error) = end;
                let last = values
                    .last()
                    .map(|(e, v)| format!(", {} {v:.4} at epoch {e}", setting.metric))
                    .unwrap_or_default();
                println!(
                    "[worker {}] job {}: trial {} {}{last} ({:.1} s){}",
                    worker + 1,
                    job + 1,
                    trial + 1,
                    match ended {
                        Ended::Paused => "paused",
                        Ended::Completed => "completed",
                        Ended::Failed => "failed",
                    },
                    clock.elapsed().as_secs_f64(),
                    error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                let seconds = clock.elapsed().as_secs_f64();
                journal.update(|_| {
                    Ok((
                        vec![Record::End {
                            job,
                            ended,
                            values,
                            seconds,
                            error,
                            at: Utc::now(),
                        }],
                        (),
                    ))
                })?;
                ran += 1;
            }
        }
    }
    Ok((ran, false))
}

type JobEnd = (Ended, Vec<(usize, f64)>, Option<String>);

/// The newest attempt in the search's folder of the trial whose config digest is `key`.
pub fn attempt(dir: &Path, key: &str) -> Option<(PathBuf, Manifest)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m = Manifest::read(&RunDir::open(&e.path()).manifest()).ok()?;
            m.sweep
                .as_ref()
                .is_some_and(|s| s.key == key)
                .then_some((e.path(), m))
        })
        .max_by_key(|(_, m)| m.started_at)
}

/// Brings trial `t` to epoch `until` (its end when that is the last epoch) from wherever
/// its folder stands; `None` when a signal stopped it.
fn execute(
    search: &Search,
    setting: &Setting,
    o: &SearchOptions,
    exe: &Path,
    t: usize,
    until: usize,
    values: &Values,
) -> anyhow::Result<Option<JobEnd>> {
    let dir = folder(search, &o.run.results);
    let key = match placement(search, t, values) {
        Ok(p) => p.info.key,
        Err(e) => return Ok(Some((Ended::Failed, Vec::new(), Some(format!("{e:#}"))))),
    };
    let pause = (until < setting.epochs).then_some(until);
    // A process that exits without moving the trial on (it crashed while loading, say) is
    // started again, up to this many times.
    let mut tries = 0;
    loop {
        let found = attempt(&dir, &key);
        let resume = match &found {
            None => None,
            Some((path, m)) => match m.status {
                Status::Completed => break,
                Status::Pruned if m.epochs_run >= until => break,
                Status::Failed => break,
                Status::Running if !m.is_gone() => {
                    // Another process trains it (a worker's job that outlived its worker).
                    std::thread::sleep(Duration::from_millis(500));
                    if interrupt::requested() {
                        return Ok(None);
                    }
                    continue;
                }
                _ => Some(path.clone()),
            },
        };
        if tries == 3 {
            return Ok(Some((
                Ended::Failed,
                Vec::new(),
                Some(format!(
                    "{tries} processes ended without training it (see their messages)"
                )),
            )));
        }
        tries += 1;
        let mut cmd = crate::engine::sweep::trial_process(exe, o, t, resume.as_deref());
        if let Some(e) = pause {
            cmd.arg("--pause-after").arg(e.to_string());
        }
        if o.jobs > 1 {
            cmd.stdout(Stdio::null());
        }
        cmd.process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting trial {} ({})", t + 1, exe.display()))?;
        interrupt::adopt_child(child.id());
        let status = child.wait();
        interrupt::forget_child(child.id());
        if status?.code() == Some(i32::from(interrupt::RESUMABLE_EXIT)) || interrupt::requested() {
            return Ok(None);
        }
    }
    let (path, m) = attempt(&dir, &key).expect("the trial has a folder");
    if let (Pruner::Pbt { .. }, Status::Pruned) = (&setting.spec.pruner, m.status) {
        // Kept for the members that may take up this one's weights at this epoch.
        if let Err(e) = crate::store::checkpoints::snapshot(&RunDir::open(&path), until) {
            return Ok(Some((Ended::Failed, Vec::new(), Some(format!("{e:#}")))));
        }
    }
    let values = crate::store::metrics_io::epoch_values(&RunDir::open(&path), &setting.metric)
        .unwrap_or_default();
    Ok(Some(match m.status {
        Status::Completed => (Ended::Completed, values, None),
        Status::Pruned => (Ended::Paused, values, None),
        _ => (
            Ended::Failed,
            values,
            Some(m.error.unwrap_or_else(|| format!("ended {:?}", m.status))),
        ),
    }))
}

/// The trials best first (further trained first, then by value), the rungs' counts and
/// what is running.
pub fn summary(setting: &Setting, study: &Study, top: usize) -> String {
    let n = study.jobs.len();
    let mut rows: Vec<(usize, usize, f64, String)> = Vec::new();
    let (mut running, mut paused, mut completed, mut failed, mut replaced) = (0, 0, 0, 0, 0);
    for t in 0..study.trials.len() {
        let known = study.known(t, n);
        let open = study
            .jobs
            .iter()
            .any(|j| j.trial == t && j.outcome.is_none());
        let state = match (open, study.last(t, n)) {
            (true, _) => {
                running += 1;
                "running".to_string()
            }
            (false, Some((Ended::Paused, e))) => {
                match (0..study.trials.len())
                    .find(|&o| study.trials[o].from.is_some_and(|f| f.replaces == t))
                {
                    Some(o) => {
                        replaced += 1;
                        format!("replaced at epoch {e} by trial {}", o + 1)
                    }
                    None => {
                        paused += 1;
                        format!("pruned at epoch {e}")
                    }
                }
            }
            (false, Some((Ended::Completed, _))) => {
                completed += 1;
                "completed".into()
            }
            (false, _) => {
                failed += 1;
                "failed".into()
            }
        };
        if let Some((e, v)) = known.last_key_value() {
            rows.push((t, *e, *v, state));
        } else {
            rows.push((t, 0, f64::NAN, state));
        }
    }
    rows.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(setting_order(setting, a.2, b.2))
            .then(a.0.cmp(&b.0))
    });
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "trial".to_string(),
        "values".into(),
        "epochs".into(),
        setting.metric.clone(),
        "state".into(),
    ]);
    for (t, e, v, state) in rows.iter().take(top) {
        table.add_row(vec![
            (t + 1).to_string(),
            label(&study.trials[*t].values),
            e.to_string(),
            if v.is_nan() {
                String::new()
            } else {
                format!("{v:.4}")
            },
            state.clone(),
        ]);
    }
    let epochs = trained_epochs(study);
    let mut out = format!("{table}\n");
    if rows.len() > top {
        out.push_str(&format!("... and {} more trials\n", rows.len() - top));
    }
    out.push_str(&format!(
        "{} trials: {completed} completed, {paused} pruned, {}{running} running, {failed} failed; {} jobs, {epochs} trial-epochs trained\n",
        study.trials.len(),
        if replaced > 0 {
            format!("{replaced} replaced, ")
        } else {
            String::new()
        },
        n
    ));
    if replaced > 0 {
        out.push_str(
            "population: the lineage is in each run's manifest (sweep.from) and in compare's parent and fork_epoch columns\n",
        );
    }
    out.push_str(&rung_counts(setting, study));
    out
}

/// The epochs the study's finished jobs trained, each counted once (a promoted trial goes
/// on from where its last job stopped, a population member from its parent's epoch).
fn trained_epochs(study: &Study) -> usize {
    study
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.outcome.is_some())
        .map(|(i, j)| {
            let before = study.jobs[..i]
                .iter()
                .filter(|p| p.trial == j.trial && p.outcome.is_some())
                .map(|p| p.until)
                .max()
                .or(study.trials[j.trial].from.map(|f| f.epoch))
                .unwrap_or(0);
            j.until.saturating_sub(before)
        })
        .sum()
}

/// How many trials reached each rung of each bracket, a line a bracket.
fn rung_counts(setting: &Setting, study: &Study) -> String {
    let n = study.jobs.len();
    let mut out = String::new();
    for b in 0..setting.brackets() {
        let rungs = setting.rungs(b);
        if rungs.len() < 2 {
            continue;
        }
        let counts: Vec<String> = rungs
            .iter()
            .map(|e| {
                let reached = (0..study.trials.len())
                    .filter(|&t| study.trials[t].bracket == b && study.known(t, n).contains_key(e))
                    .count();
                format!("epoch {e}: {reached}")
            })
            .collect();
        let name = if setting.brackets() > 1 {
            format!("bracket {} rungs", b + 1)
        } else {
            "rungs".into()
        };
        out.push_str(&format!("{name}: {}\n", counts.join(", ")));
    }
    out
}

fn setting_order(setting: &Setting, a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => setting.better(a, b),
    }
}

/// Whether the search in `results` has nothing left to do.
pub fn is_done(search: &Search, results: &Path) -> anyhow::Result<bool> {
    let setting = setting(search)?;
    let study = Study::replay(&Journal::at(&folder(search, results)).read()?)?;
    Ok(study.jobs.iter().all(|j| j.outcome.is_some())
        && setting.next(&study, Utc::now()) == Next::Done)
}

/// `kiln status` of a search: its journal as a table.
pub fn status(search: &Search, results: &Path) -> anyhow::Result<()> {
    let setting = setting(search)?;
    let journal = Journal::at(&folder(search, results));
    let study = Study::replay(&journal.read()?)?;
    if study.jobs.is_empty() {
        println!(
            "search `{}`: nothing run yet ({})",
            search.name,
            journal.path.display()
        );
        return Ok(());
    }
    print!("{}", summary(&setting, &study, 20));
    let running: Vec<String> = study
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.outcome.is_none())
        .map(|(i, j)| {
            format!(
                "job {} (trial {} to epoch {}) on {}",
                i + 1,
                j.trial + 1,
                j.until,
                j.worker
                    .as_ref()
                    .map_or("nobody".into(), |w| format!("{} process {}", w.host, w.pid))
            )
        })
        .collect();
    if !running.is_empty() {
        println!("running: {}", running.join("; "));
    }
    match setting.next(&study, Utc::now()) {
        Next::Done if running.is_empty() => println!("the search is done"),
        Next::Run(p) => println!(
            "next: trial {} to epoch {}: {}",
            p.trial + 1,
            p.until,
            p.why
        ),
        _ => {}
    }
    Ok(())
}
