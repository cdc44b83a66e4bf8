//! One run, start to end: config, device, data, folder, training, test, outputs.
//!
//! Everything that can be refused (a bad config, an absent backend, missing or corrupt data)
//! is checked before the run folder exists, so a refused run leaves nothing behind. Once the
//! folder exists, the manifest says `running` until the end says `completed` or `failed`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kiln_data::download::write_atomically;
use kiln_train::SplitMetrics;

use crate::backend;
use crate::config::{Experiment, LoadedExperiment};
use crate::manifest::{self, DataInfo, Manifest, Status, Timings, TrialInfo};
use crate::run_dir::RunDir;
use crate::tasks::{self, RunContext};

/// Where a sweep's trial goes and what the manifest says about it.
#[derive(Debug, Clone)]
pub struct TrialPlacement {
    pub info: TrialInfo,
    pub seed: u64,
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
pub fn run(
    loaded: &LoadedExperiment,
    results: &Path,
    trial: Option<&TrialPlacement>,
) -> anyhow::Result<RunSummary> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let exp = &loaded.experiment;
    let task = tasks::for_file(exp, &loaded.file)?;
    let device = backend::device(exp.backend, &exp.device, exp.seed)?;

    let prepared = task.prepare(loaded)?;
    let data = prepared.data();
    let load_data_s = clock.elapsed().as_secs_f64();
    let unit = if exp.data.kind() == crate::schema::DatasetKind::Corpus {
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
    if exp.train.monitor.needs_validation() && !prepared.validates() {
        anyhow::bail!(
            "{}: {}: the data are too small for `train.monitor` = {} ({} training and {} validation {unit} after the split): use more data or a larger data.validation_fraction, or monitor a train_ metric",
            loaded.file.display(),
            data.source,
            exp.train.monitor.name(),
            data.train,
            data.validation
        );
    }

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
    update_index(results, &run);
    tracing::info!("run folder: {}", run.root.display());

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
                device: &device,
                eval_size,
                manifest: &mut manifest,
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
    match &result {
        Ok(_) => manifest.status = Status::Completed,
        Err(e) => {
            manifest.status = Status::Failed;
            manifest.error = Some(format!("{e:#}"));
        }
    }
    manifest.write(&run.manifest())?;
    update_index(results, &run);
    result.with_context(|| format!("run {} failed", run.root.display()))
}

/// The run's results stand without the index, so a failure to update it is a warning.
fn update_index(results: &Path, run: &RunDir) {
    if let Err(e) = crate::index::update(results, &run.root) {
        tracing::warn!(
            "{} not updated ({e:#}); `cargo xtask index --rebuild` rebuilds it from the run folders",
            crate::index::path(results).display()
        );
    }
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
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
