//! One run, start to end: config, device, data, folder, training, test, outputs.
//!
//! Everything that can be refused (a bad config, an absent backend, missing or corrupt data)
//! is checked before the run folder exists, so a refused run leaves nothing behind. Once the
//! folder exists, the manifest says `running` until the end says `completed`, `failed` or
//! `interrupted`; `resume` goes on with an unfinished run in its own folder.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kiln_data::download::write_atomically;
use kiln_train::SplitMetrics;

use crate::backend;
use crate::config::{Experiment, LoadedExperiment};
use crate::store::checkpoints;
use crate::store::manifest::{self, DataInfo, Manifest, Resumption, Status, Timings, TrialInfo};
use crate::store::observer::{Checkpointing, Paused};
use crate::store::run_dir::RunDir;
use crate::tasks::{self, RunContext};

/// Where a sweep's trial goes and what the manifest says about it.
#[derive(Debug, Clone)]
pub struct TrialPlacement {
    pub info: TrialInfo,
    pub seed: u64,
    /// A training checkpoint to go on from instead of starting afresh (population-based
    /// training hands one trial's weights to another).
    pub start_from: Option<std::path::PathBuf>,
}

/// What a finished run reports back.
pub struct RunSummary {
    pub run: RunDir,
    pub experiment: Experiment,
    pub outcome_epochs: Vec<kiln_train::EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test: SplitMetrics,
    /// Which split `test` is: `test`, or `validation` for a corpus, which has no test split.
    pub test_split: &'static str,
    pub train_seconds: f64,
}

/// Runs one experiment (or one trial of a sweep) into a new folder under `results`.
/// With `pause_after`, training stops with a checkpoint once that epoch has ended and the
/// run ends `pruned` (a search's rung); the error is then `Paused`.
pub fn run(
    loaded: &LoadedExperiment,
    results: &Path,
    trial: Option<&TrialPlacement>,
    pause_after: Option<usize>,
) -> anyhow::Result<RunSummary> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let exp = &loaded.experiment;
    let task = tasks::for_file(exp, &loaded.file)?;
    let device = backend::device(exp.backend, &exp.device, exp.seed)?;

    let prepared = task.prepare(loaded)?;
    let data = prepared.data();
    let load_data_s = clock.elapsed().as_secs_f64();
    enough_data(loaded, &data, prepared.validates(), load_data_s)?;

    // A population member's new trial goes on from another's checkpoint: read it whole
    // before the folder exists.
    let start = match trial.and_then(|t| t.start_from.as_deref()) {
        Some(dir) => Some(
            checkpoints::read_folder(dir)
                .with_context(|| format!("taking up the checkpoint in {}", dir.display()))?,
        ),
        None => None,
    };
    let run = match trial {
        None => RunDir::create(results, &exp.name, exp.seed, started_at),
        Some(t) => RunDir::create_named(
            &results.join(&exp.name).join(&t.info.name),
            &RunDir::trial_base(t.info.trial, t.seed),
        ),
    }
    .with_context(|| format!("creating a run folder under {}", results.display()))?;
    let mut manifest = new_manifest(loaded, &run, started_at, data);
    manifest.timings.load_data_s = load_data_s;
    manifest.resolved_device = format!("{device:?}");
    manifest.sweep = trial.map(|t| t.info.clone());
    // The config first: once a manifest exists, the index reads the config beside it.
    let resolved = toml::to_string_pretty(exp).context("serialising the resolved config")?;
    write_atomically(&run.config(), resolved.as_bytes())?;
    manifest.write(&run.manifest())?;
    crate::store::index::update_or_warn(results, &run.root, &crate::config::spec::all_metrics());
    tracing::info!("run folder: {}", run.root.display());
    if let (Some(loaded), Some(from)) = (&start, trial.and_then(|t| t.start_from.as_deref())) {
        take_up(&run, loaded, from)?;
    }
    let checkpointing = Checkpointing {
        settings: exp.checkpoint.clone(),
        resume: start,
        pause_after,
    };
    train_and_record(
        exp,
        prepared,
        &device,
        (results, run),
        manifest,
        checkpointing,
        clock,
    )
}

/// Logs the data's sizes and refuses data that leave nothing to train on or too little to
/// validate what `train.monitor` names.
fn enough_data(
    loaded: &LoadedExperiment,
    data: &DataInfo,
    validates: bool,
    load_data_s: f64,
) -> anyhow::Result<()> {
    let exp = &loaded.experiment;
    let unit = if exp.data.kind() == crate::config::schema::DatasetKind::Corpus {
        "tokens"
    } else {
        "items"
    };
    tracing::info!(
        "data: {}: {} train, {} validation, {} test {unit} ({load_data_s:.2} s)",
        data.source,
        data.train,
        data.validation,
        data.test,
    );
    if data.train == 0 {
        anyhow::bail!(
            "{}: {}: the data leave no training {unit} ({} validation, {} test); use more data or a smaller data.validation_fraction",
            loaded.file.display(),
            data.source,
            data.validation,
            data.test
        );
    }
    if exp.train.monitor.needs_validation() && !validates {
        anyhow::bail!(
            "{}: {}: the data are too small for `train.monitor` = {} ({} training and {} validation {unit} after the split): use more data or a larger data.validation_fraction, or monitor a train_ metric",
            loaded.file.display(),
            data.source,
            exp.train.monitor.name(),
            data.train,
            data.validation
        );
    }
    Ok(())
}

/// A population member's first checkpoint, its parent's at `from`, so that a kill before
/// it writes one goes on from there too, and the parent's best weights as its best so far.
fn take_up(run: &RunDir, loaded: &checkpoints::Loaded, from: &Path) -> anyhow::Result<()> {
    crate::platform::fault::point("fork");
    let own = run.training_checkpoint(loaded.step);
    checkpoints::clone_folder(
        from,
        &run.partial_checkpoint(loaded.step).dir,
        &own.dir,
        false,
    )?;
    if own.best().exists() {
        std::fs::copy(own.best(), run.best_checkpoint())
            .with_context(|| format!("writing {}", run.best_checkpoint().display()))?;
    }
    tracing::info!(
        "going on from {} after step {} (epoch {})",
        from.display(),
        loaded.step,
        loaded.state.state.epoch - 1
    );
    Ok(())
}

/// Goes on with the run in `dir` from its newest checkpoint (from the start when it has
/// none), in its own folder: one run, one index row, the interruption listed in its manifest.
pub fn resume(dir: &Path, pause_after: Option<usize>) -> anyhow::Result<RunSummary> {
    let clock = Instant::now();
    let run = RunDir::open(dir);
    let read = || {
        Manifest::read(&run.manifest())
            .with_context(|| format!("{}: not a run folder", dir.display()))
    };
    let mut manifest = read()?;
    // A search's trial is trained by one process at a time (its workers may both reach
    // it): wait for any other, then look again at where it left the run.
    let search = dir.parent().map(|parent| crate::store::run_dir::SweepDir {
        root: parent.to_path_buf(),
    });
    let _trial = match (&manifest.sweep, search) {
        (Some(t), Some(search)) if search.journal().is_file() => {
            let held = crate::platform::lock::FileLock::take(&search.trial_lock(t.trial))?;
            manifest = read()?;
            Some(held)
        }
        _ => None,
    };
    if let Some(epoch) = pause_after
        && manifest.status == Status::Pruned
        && manifest.epochs_run >= epoch
    {
        return Err(Paused { epoch }.into());
    }
    let after = why_resumed(&manifest, dir)?;
    let loaded = recorded(&run, &manifest)?;
    let exp = &loaded.experiment;
    let task = tasks::for_file(exp, &loaded.file)?;
    let device = backend::device(exp.backend, &exp.device, exp.seed)?;
    let prepared = task.prepare(&loaded)?;
    same_data(&prepared.data(), &manifest.data, dir)?;
    let checkpoint = restored_checkpoint(&run, &manifest, dir)?;
    let position = checkpoint.as_ref().map(|c| {
        let s = &c.state.state;
        (s.step, if s.batch == 0 { s.epoch - 1 } else { s.epoch })
    });
    match position {
        Some((step, epoch)) => tracing::info!(
            "resuming {} from its checkpoint after step {step} (epoch {epoch})",
            dir.display()
        ),
        None => tracing::info!(
            "resuming {}: it has no checkpoint, so training starts over",
            dir.display()
        ),
    }
    // Stopped by a signal just as it reached its pause (the epoch ended, the checkpoint was
    // written): it is where it was to pause, and must not train on.
    if let (Some(pause), Some(c)) = (pause_after, &checkpoint)
        && !c.state.state.finished
        && c.state.state.epoch > pause
    {
        let epoch = c.state.state.epoch - 1;
        manifest.status = Status::Pruned;
        manifest.error = Some(Paused { epoch }.to_string());
        manifest.epochs_run = epoch;
        manifest.write(&run.manifest())?;
        crate::store::index::update_or_warn(
            &crate::store::index::results_of(&run.root),
            &run.root,
            &crate::config::spec::all_metrics(),
        );
        return Err(Paused { epoch }.into());
    }
    mark_resumed(&mut manifest, after, position, &device, clock);
    manifest.write(&run.manifest())?;
    let results = crate::store::index::results_of(&run.root);
    crate::store::index::update_or_warn(&results, &run.root, &crate::config::spec::all_metrics());
    let checkpointing = Checkpointing {
        settings: exp.checkpoint.clone(),
        resume: checkpoint,
        pause_after,
    };
    train_and_record(
        exp,
        prepared,
        &device,
        (&results, run),
        manifest,
        checkpointing,
        clock,
    )
}

/// The experiment as the run recorded it, with the data where `KILN_DATASETS` says when
/// the run named no folder.
fn recorded(run: &RunDir, manifest: &Manifest) -> anyhow::Result<LoadedExperiment> {
    let mut experiment = crate::store::finished::recorded_experiment(run)?;
    if experiment.datasets.is_none() {
        experiment.datasets = std::env::var_os("KILN_DATASETS").map(Into::into);
    }
    Ok(LoadedExperiment {
        experiment,
        file: run.config(),
        overrides: manifest.overrides.clone(),
        env_overrides: manifest.env_overrides.clone(),
    })
}

/// The manifest of a run that goes on: running again, here, with a `Resumption` that says
/// why it stopped and where it goes on from.
fn mark_resumed(
    manifest: &mut Manifest,
    after: String,
    position: Option<(usize, usize)>,
    device: &burn::tensor::Device,
    clock: Instant,
) {
    manifest.resumptions.push(Resumption {
        at: chrono::Utc::now(),
        pid: std::process::id(),
        host: manifest::host().hostname,
        after,
        from_step: position.map(|p| p.0),
        from_epoch: position.map(|p| p.1),
    });
    manifest.status = Status::Running;
    manifest.error = None;
    manifest.finished_at = None;
    manifest.pid = std::process::id();
    manifest.host = manifest::host();
    manifest.scheduler = manifest::SchedulerJob::current();
    manifest.oom_counters = crate::platform::memory::oom_counters();
    manifest.resolved_device = format!("{device:?}");
    manifest.timings.load_data_s = clock.elapsed().as_secs_f64();
}

/// Why the run stopped, for its `Resumption`; or why it cannot be resumed (it completed,
/// or it still runs).
fn why_resumed(manifest: &Manifest, dir: &Path) -> anyhow::Result<String> {
    Ok(match manifest.status {
        Status::Completed => anyhow::bail!(
            "{}: the run completed; there is nothing to resume",
            dir.display()
        ),
        Status::Running
            if manifest.host.hostname != manifest::host().hostname && !manifest.is_gone() =>
        {
            anyhow::bail!(
                "{}: the run is recorded as running on {} (process {}); resume it there, or once \
             that process is gone",
                dir.display(),
                manifest.host.hostname,
                manifest.pid
            )
        }
        Status::Running if !manifest.is_gone() => anyhow::bail!(
            "{}: the run is still running (process {})",
            dir.display(),
            manifest.pid
        ),
        Status::Running => manifest.killed_error(),
        Status::Interrupted
            if manifest
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("killed")) =>
        {
            manifest.error.clone().unwrap_or_default()
        }
        Status::Interrupted => format!(
            "interrupted: {}",
            manifest.error.as_deref().unwrap_or("no reason recorded")
        ),
        Status::Failed => format!(
            "failed: {}",
            manifest.error.as_deref().unwrap_or("no error recorded")
        ),
        Status::Pruned => format!(
            "pruned: {}",
            manifest.error.as_deref().unwrap_or("stopped by its search")
        ),
    })
}

/// A resumed run must see the data it started with.
fn same_data(now: &DataInfo, then: &DataInfo, dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        (now.train, now.validation, now.test) == (then.train, then.validation, then.test),
        "{}: the data changed since the run started: {} train, {} validation, {} test now, {} / {} / {} then",
        dir.display(),
        now.train,
        now.validation,
        now.test,
        then.train,
        then.validation,
        then.test
    );
    Ok(())
}

/// The newest checkpoint to go on from (a population member's parent's, when it stopped
/// before writing its own), with its best weights put back as the run's best so far.
fn restored_checkpoint(
    run: &RunDir,
    manifest: &Manifest,
    dir: &Path,
) -> anyhow::Result<Option<checkpoints::Loaded>> {
    let mut checkpoint = checkpoints::newest(run)
        .with_context(|| format!("{}: reading its checkpoints", dir.display()))?;
    // A population member's trial stopped before it wrote its first checkpoint goes on
    // from its parent's, as it started.
    if let (None, Some(from), Some(parent)) = (
        &checkpoint,
        manifest.sweep.as_ref().and_then(|t| t.from.as_ref()),
        dir.parent(),
    ) {
        let snapshot = RunDir::open(&parent.join(&from.run)).snapshot(from.epoch);
        let loaded = checkpoints::read_folder(&snapshot.dir)
            .with_context(|| format!("taking up the checkpoint in {}", snapshot.dir.display()))?;
        checkpoints::clone_folder(
            &snapshot.dir,
            &run.partial_checkpoint(loaded.step).dir,
            &run.training_checkpoint(loaded.step).dir,
            false,
        )?;
        checkpoint = Some(loaded);
    }
    if let Some(c) = &checkpoint {
        // The best epoch's weights on disk may be newer than the checkpoint's; the resumed
        // run will write them again, and until then the checkpoint's are the best so far.
        let best = run.training_checkpoint(c.step).best();
        if best.exists() {
            std::fs::copy(&best, run.best_checkpoint())
                .with_context(|| format!("restoring {}", run.best_checkpoint().display()))?;
        }
    }
    Ok(checkpoint)
}

/// Trains into the run folder whose manifest says `running`, tests, and records how it
/// ended: `completed`, `failed`, or `interrupted` (a signal stopped it: the error says how
/// to go on).
fn train_and_record(
    exp: &Experiment,
    prepared: Box<dyn tasks::PreparedTask>,
    device: &burn::tensor::Device,
    (results, run): (&Path, RunDir),
    mut manifest: Manifest,
    checkpointing: Checkpointing,
    clock: Instant,
) -> anyhow::Result<RunSummary> {
    // A panic inside burn or plotters must still end as a `failed` manifest, not `running`.
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> anyhow::Result<RunSummary> {
            let eval_size = backend::eval_batch_size(exp.backend, exp.train.eval_batch_size);
            if eval_size != exp.train.eval_batch_size {
                tracing::info!(
                    "evaluating in batches of {eval_size} instead of {} on {}: larger ones overflow wgpu's storage-buffer limit on some adapters",
                    exp.train.eval_batch_size,
                    exp.backend.name()
                );
            }
            let trained = prepared.train(RunContext {
                exp,
                run: &run,
                device,
                eval_size,
                manifest: &mut manifest,
                checkpointing,
            })?;
            manifest.best_epoch = Some(trained.best_epoch);
            manifest.stopped_early = trained.stopped_early;
            Ok(RunSummary {
                run: run.clone(),
                experiment: exp.clone(),
                outcome_epochs: trained.epochs,
                best_epoch: trained.best_epoch,
                stopped_early: trained.stopped_early,
                test: trained.test,
                test_split: trained.test_split,
                train_seconds: trained.train_seconds,
            })
        },
    ));
    let result = attempt.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(anyhow::anyhow!("internal error (panic): {message}"))
    });

    manifest.finished_at = Some(chrono::Utc::now());
    manifest.timings.total_s = Some(clock.elapsed().as_secs_f64());
    let stopped = result.as_ref().err().and_then(stopped_by_signal);
    let paused = result
        .as_ref()
        .err()
        .and_then(|e| e.chain().find_map(|c| c.downcast_ref::<Paused>()))
        .map(|p| p.epoch);
    match (&result, &stopped) {
        (Err(_), _) if paused.is_some() => {
            manifest.status = Status::Pruned;
            manifest.error = result.as_ref().err().map(|e| format!("{e:#}"));
        }
        (Ok(_), _) => {
            manifest.status = Status::Completed;
            // Training state is for going on; a completed run keeps its best weights.
            for (_, c) in checkpoints::list(&run) {
                let _ = std::fs::remove_dir_all(&c.dir);
            }
        }
        (Err(_), Some(how)) => {
            manifest.status = Status::Interrupted;
            manifest.error = Some(how.clone());
        }
        (Err(e), None) => {
            manifest.status = Status::Failed;
            manifest.error = Some(format!("{e:#}"));
        }
    }
    manifest.write(&run.manifest())?;
    crate::store::index::update_or_warn(results, &run.root, &crate::config::spec::all_metrics());
    match (result, stopped) {
        (Err(e), _) if paused.is_some() => Err(e),
        (Err(_), Some(how)) => Err(Stopped {
            message: format!(
                "run {} {how}; go on with: cargo xtask run --resume {}",
                run.root.display(),
                run.root.display()
            ),
        }
        .into()),
        (result, _) => result.with_context(|| format!("run {} failed", run.root.display())),
    }
}

/// A run a signal stopped, resumable: the CLI exits with
/// `platform::interrupt::RESUMABLE_EXIT`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Stopped {
    pub message: String,
}

/// How a signal stopped training or evaluation, when one did.
fn stopped_by_signal(e: &anyhow::Error) -> Option<String> {
    let by = crate::platform::interrupt::signal_name()?;
    e.chain()
        .find_map(|c| c.downcast_ref::<kiln_train::TrainError>())
        .and_then(|t| match t {
            kiln_train::TrainError::Interrupted { epoch, step } => Some(format!(
                "stopped by {by} after step {step} (epoch {epoch}), with a checkpoint there"
            )),
            kiln_train::TrainError::EvaluationInterrupted { .. } => Some(format!(
                "stopped by {by} while evaluating; it goes on from its newest checkpoint (a \
                 validation stopped starts again)"
            )),
            _ => None,
        })
}

fn new_manifest(
    loaded: &LoadedExperiment,
    run: &RunDir,
    started_at: chrono::DateTime<chrono::Utc>,
    data: DataInfo,
) -> Manifest {
    let exp = &loaded.experiment;
    Manifest {
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run.id.clone(),
        experiment: exp.name.clone(),
        status: Status::Running,
        error: None,
        sweep: None,
        pid: std::process::id(),
        seed: exp.seed,
        backend: exp.backend.name().into(),
        device: exp.device.clone(),
        resolved_device: String::new(),
        config_file: absolute(&loaded.file),
        overrides: loaded.overrides.clone(),
        env_overrides: loaded.env_overrides.clone(),
        command: std::env::args().collect(),
        git: manifest::git(),
        crates: manifest::crates(),
        host: manifest::host(),
        data,
        started_at,
        finished_at: None,
        timings: Timings::default(),
        epochs_run: 0,
        best_epoch: None,
        stopped_early: false,
        resumptions: Vec::new(),
        scheduler: manifest::SchedulerJob::current(),
        oom_counters: crate::platform::memory::oom_counters(),
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
