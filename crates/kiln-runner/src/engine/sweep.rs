//! Running a sweep: each trial is an ordinary run in `results/<experiment>/<sweep>/`, made by
//! its own `kiln run --trial N` process, one after another or `-j N` at a time.
//!
//! A trial is identified by a digest of its resolved config, so running the same file again
//! skips trials that completed, re-runs failed ones, and re-runs those whose process died
//! mid-run (their manifest still says `running` but the process is gone; it is marked failed).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use sha2::{Digest, Sha256};

use crate::config::{Experiment, Sweep};
use crate::engine::run::TrialPlacement;
use crate::platform::interrupt;
use crate::store::manifest::{Manifest, Status, TrialInfo};
use crate::store::run_dir::RunDir;

/// 16 hex digits of the SHA-256 of the resolved config, without the datasets folder, the
/// checkpoint settings and the cluster's (none changes what the trial computes).
pub fn trial_key(exp: &Experiment) -> String {
    let mut exp = exp.clone();
    exp.datasets = None;
    exp.checkpoint = Default::default();
    exp.cluster = Default::default();
    let text = toml::to_string(&exp).expect("a loaded experiment serialises");
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Where trial `index` (0-based) of `sweep` goes.
pub fn placement(sweep: &Sweep, index: usize) -> TrialPlacement {
    let t = &sweep.trials[index];
    TrialPlacement {
        start_from: None,
        info: TrialInfo {
            from: None,
            name: sweep.name.clone(),
            trial: index + 1,
            label: t.spec.label(),
            configuration: t.spec.configuration(),
            key: trial_key(&t.loaded.experiment),
        },
        seed: t.loaded.experiment.seed,
    }
}

pub fn folder(sweep: &Sweep, results: &Path) -> PathBuf {
    let name = &sweep.trials[0].loaded.experiment.name;
    results.join(name).join(&sweep.name)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    Done(PathBuf),
    /// Running in a live process (pid), possibly another `kiln run` of the same sweep.
    Running(u32),
    /// Not completed; counts earlier failed attempts, and whether one of them was a process
    /// that died while `running`. `resume` is the newest interrupted attempt (stopped by a
    /// signal, or its process gone), which goes on from its checkpoint.
    ToRun {
        failed: usize,
        killed: usize,
        resume: Option<PathBuf>,
    },
}

/// Each trial's state, from the manifests in the sweep's folder. With `mark`, runs left
/// `running` by a dead process are recorded as interrupted (manifest and index).
pub(crate) fn states(sweep: &Sweep, results: &Path, mark: bool) -> Vec<State> {
    let dir = folder(sweep, results);
    let attempts: Vec<(PathBuf, Manifest)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter_map(|p| {
            Manifest::read(&RunDir::open(&p).manifest())
                .ok()
                .map(|m| (p, m))
        })
        .collect();
    (0..sweep.trials.len())
        .map(|i| {
            let key = placement(sweep, i).info.key;
            let mut state = State::ToRun {
                failed: 0,
                killed: 0,
                resume: None,
            };
            let mut interrupted: Option<(chrono::DateTime<chrono::Utc>, PathBuf)> = None;
            let mut newest_interrupted = |path: &PathBuf, m: &Manifest| {
                if interrupted.as_ref().is_none_or(|(t, _)| m.started_at > *t) {
                    interrupted = Some((m.started_at, path.clone()));
                }
            };
            for (path, m) in attempts
                .iter()
                .filter(|(_, m)| m.sweep.as_ref().is_some_and(|t| t.key == key))
            {
                match m.status {
                    Status::Completed => return State::Done(path.clone()),
                    Status::Running if m.is_gone() => {
                        if let State::ToRun { killed, .. } = &mut state {
                            *killed += 1;
                        }
                        if mark {
                            mark_killed(results, path, m);
                        }
                        newest_interrupted(path, m);
                    }
                    Status::Interrupted | Status::Pruned => newest_interrupted(path, m),
                    Status::Running => state = State::Running(m.pid),
                    Status::Failed => {
                        if let State::ToRun { failed, .. } = &mut state {
                            *failed += 1;
                        }
                    }
                }
            }
            if let State::ToRun { resume, .. } = &mut state {
                *resume = interrupted.map(|(_, path)| path);
            }
            state
        })
        .collect()
}

fn mark_killed(results: &Path, root: &Path, m: &Manifest) {
    let mut m = m.clone();
    m.status = Status::Interrupted;
    m.error = Some(m.killed_error());
    if m.write(&RunDir::open(root).manifest()).is_ok() {
        let _ = crate::store::index::update(results, root, &crate::config::spec::all_metrics());
    }
}

pub(crate) fn describe(state: &State) -> String {
    match state {
        State::Done(_) => "done".into(),
        State::Running(pid) => format!("running (process {pid})"),
        State::ToRun {
            resume: Some(path), ..
        } => format!(
            "to resume ({})",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        State::ToRun {
            failed: 0,
            killed: 0,
            ..
        } => "to run".into(),
        State::ToRun { failed, killed, .. } => {
            let mut why = Vec::new();
            if *failed > 0 {
                why.push(format!("failed ×{failed}"));
            }
            if *killed > 0 {
                why.push(format!("killed ×{killed}"));
            }
            format!("to re-run ({})", why.join(", "))
        }
    }
}

/// Prints every trial and what a run would do with it; writes nothing.
pub fn dry_run(sweep: &Sweep, results: &Path) {
    let states = states(sweep, results, false);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "trial",
        "seed",
        "swept values",
        "state",
        "folder",
    ]);
    for (i, (t, s)) in sweep.trials.iter().zip(&states).enumerate() {
        table.add_row(vec![
            format!("{}", i + 1),
            t.loaded.experiment.seed.to_string(),
            t.spec.label(),
            describe(s),
            match s {
                State::Done(p) => p.display().to_string(),
                _ => String::new(),
            },
        ]);
    }
    println!("{table}");
    let to_run = states
        .iter()
        .filter(|s| matches!(s, State::ToRun { .. }))
        .count();
    println!(
        "sweep `{}`: {} trials, {to_run} to run, into {}",
        sweep.name,
        sweep.trials.len(),
        folder(sweep, results).display()
    );
}

/// The experiment that the processes of a sweep, a search or a cluster job run: its file
/// and `--set`s and the results folder, absolute so that a process started in another
/// folder or on another machine finds them.
pub struct Invocation<'a> {
    pub file: PathBuf,
    pub sets: &'a [String],
    pub results: PathBuf,
}

impl<'a> Invocation<'a> {
    pub fn new(file: &Path, sets: &'a [String], results: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: std::path::absolute(file)?,
            sets,
            results: std::path::absolute(results)?,
        })
    }

    /// `run FILE [--set KEY=VALUE]... --results DIR`: the arguments of its `kiln run`.
    pub fn run_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["run".into(), self.file.clone().into()];
        for s in self.sets {
            args.extend(["--set".into(), s.into()]);
        }
        args.extend(["--results".into(), self.results.clone().into()]);
        args
    }
}

pub struct SweepOptions<'a> {
    pub run: Invocation<'a>,
    pub jobs: usize,
    pub quiet: bool,
}

/// Runs every trial not yet completed; an error when any failed or the sweep was interrupted.
pub fn run_sweep(sweep: &Sweep, o: &SweepOptions) -> anyhow::Result<()> {
    all_backends_built(sweep)?;
    let states = states(sweep, &o.run.results, true);
    let mut queue: VecDeque<usize> = states
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, State::ToRun { .. }))
        .map(|(i, _)| i)
        .collect();
    let done = states
        .iter()
        .filter(|s| matches!(s, State::Done(_)))
        .count();
    let elsewhere = states
        .iter()
        .filter(|s| matches!(s, State::Running(_)))
        .count();
    let total = queue.len();
    println!(
        "sweep `{}`: {} trials: {done} done already, {elsewhere} running elsewhere, {total} to run, {} at a time",
        sweep.name,
        sweep.trials.len(),
        o.jobs
    );
    let exe = std::env::current_exe()?;
    let clock = Instant::now();
    let mut active: Vec<(usize, Child, Instant)> = Vec::new();
    let (mut completed, mut failed, mut stopped) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        while !interrupt::requested() && active.len() < o.jobs {
            let Some(i) = queue.pop_front() else { break };
            let resume = match &states[i] {
                State::ToRun { resume, .. } => resume.as_deref(),
                _ => None,
            };
            let child = spawn(&exe, o, i, resume)?;
            interrupt::adopt_child(child.id());
            active.push((i, child, Instant::now()));
        }
        if active.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::new();
        for (i, mut child, started) in active {
            match child.try_wait() {
                Ok(None) => still.push((i, child, started)),
                result => {
                    interrupt::forget_child(child.id());
                    let ok = matches!(result, Ok(Some(s)) if s.success());
                    let resumable = matches!(result, Ok(Some(s))
                        if s.code() == Some(i32::from(interrupt::RESUMABLE_EXIT)));
                    let finished = completed.len() + failed.len() + stopped.len() + 1;
                    println!(
                        "[{finished}/{total}] trial {} ({}): {} in {:.1} s",
                        i + 1,
                        sweep.trials[i].spec.label(),
                        outcome(sweep, &o.run.results, i, ok),
                        started.elapsed().as_secs_f64()
                    );
                    match (ok, resumable) {
                        (true, _) => completed.push(i),
                        (false, true) => stopped.push(i),
                        (false, false) => failed.push(i),
                    }
                }
            }
        }
        active = still;
    }
    report_end(sweep, o, (&completed, &stopped, &failed), done, clock)
}

/// A backend left out of this build would fail its trials one by one: say so at once.
fn all_backends_built(sweep: &Sweep) -> anyhow::Result<()> {
    let built = crate::backend::built();
    if let Some(t) = sweep
        .trials
        .iter()
        .find(|t| !built.contains(&t.loaded.experiment.backend.name()))
    {
        return Err(
            crate::backend::BackendError::NotBuilt(t.loaded.experiment.backend.name()).into(),
        );
    }
    Ok(())
}

/// What the sweep did, and an error when it left trials interrupted or failed.
fn report_end(
    sweep: &Sweep,
    o: &SweepOptions,
    (completed, stopped, failed): (&[usize], &[usize], &[usize]),
    done: usize,
    clock: Instant,
) -> anyhow::Result<()> {
    let dir = folder(sweep, &o.run.results);
    println!(
        "sweep `{}`: {} completed now, {} interrupted, {} failed, {done} done before, in {:.1} s: {}",
        sweep.name,
        completed.len(),
        stopped.len(),
        failed.len(),
        clock.elapsed().as_secs_f64(),
        dir.display()
    );
    if interrupt::requested() || !stopped.is_empty() {
        anyhow::bail!(
            "sweep interrupted with {} of {} trials done; run the same command again to finish the rest (interrupted trials go on from their checkpoints)",
            done + completed.len(),
            sweep.trials.len()
        );
    }
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|i| (i + 1).to_string()).collect();
        anyhow::bail!(
            "{} trials failed (trials {}); their run folders say why, and running the same command again retries them",
            failed.len(),
            list.join(", ")
        );
    }
    println!(
        "compare them: cargo xtask compare --sweep {} --group-by configuration",
        sweep.name
    );
    Ok(())
}

/// Starts trial `i`, or goes on with its interrupted attempt in `resume`.
fn spawn(exe: &Path, o: &SweepOptions, i: usize, resume: Option<&Path>) -> anyhow::Result<Child> {
    let mut cmd = trial_process(exe, o, i, resume);
    if o.jobs > 1 {
        cmd.stdout(Stdio::null());
    }
    // Its own process group: a terminal's Ctrl-C reaches the sweep, which passes it on once.
    cmd.process_group(0);
    cmd.spawn()
        .map_err(|e| anyhow::anyhow!("starting trial {} ({}): {e}", i + 1, exe.display()))
}

/// The `kiln run` process of trial `i` (0-based), or of its interrupted attempt in `resume`;
/// quiet beside other trials, its output left to the caller.
pub(crate) fn trial_process(
    exe: &Path,
    o: &SweepOptions,
    i: usize,
    resume: Option<&Path>,
) -> Command {
    let mut cmd = Command::new(exe);
    if o.quiet || o.jobs > 1 {
        cmd.arg("--quiet");
    }
    match resume {
        Some(dir) => {
            cmd.arg("run").arg("--resume").arg(dir);
        }
        None => {
            cmd.args(o.run.run_args())
                .arg("--trial")
                .arg((i + 1).to_string());
        }
    }
    cmd
}

/// "completed: test accuracy 97.91 %" or "failed: <why>", from the trial's newest folder.
fn outcome(sweep: &Sweep, results: &Path, i: usize, ok: bool) -> String {
    let p = placement(sweep, i);
    let (key, base) = (p.info.key, RunDir::trial_base(p.info.trial, p.seed));
    let newest = std::fs::read_dir(folder(sweep, results))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| RunDir::is_attempt_of(&e.file_name().to_string_lossy(), &base))
        .filter_map(|e| {
            let m = Manifest::read(&RunDir::open(&e.path()).manifest()).ok()?;
            m.sweep
                .as_ref()
                .is_some_and(|t| t.key == key)
                .then_some((m.started_at, e.path(), m))
        })
        .max_by_key(|(t, _, _)| *t);
    match newest {
        Some((_, path, m)) if ok && m.status == Status::Completed => {
            let acc = std::fs::read(RunDir::open(&path).test_report())
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["accuracy"].as_f64());
            match acc {
                Some(a) => format!("completed, test accuracy {:.2} %", a * 100.0),
                None => "completed".into(),
            }
        }
        Some((_, _, m)) if m.status == Status::Interrupted => format!(
            "interrupted ({}); running the sweep again resumes it",
            m.error.unwrap_or_default()
        ),
        Some((_, _, m)) => format!(
            "failed: {}",
            m.error.unwrap_or_else(|| "no error recorded".into())
        ),
        None if ok => "completed".into(),
        None => "failed before its run folder existed (see the messages above)".into(),
    }
}
