//! One run, start to end: config, device, data, folder, training, test, outputs.
//!
//! Everything that can be refused (a bad config, an absent backend, missing or corrupt data)
//! is checked before the run folder exists, so a refused run leaves nothing behind. Once the
//! folder exists, the manifest says `running` until the end says `completed` or `failed`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kiln_models::Classifier;
use kiln_train::{EpochRecord, FitOutcome, SplitMetrics, Splits, evaluate, fit};
use serde::Serialize;

use crate::config::{Experiment, LoadedExperiment};
use crate::manifest::{self, DataInfo, Manifest, Status, Timings, TrialInfo};
use crate::observer::RunObserver;
use crate::prepare::{Data, Prepared};
use crate::run_dir::RunDir;
use crate::{backend, charts, generative, metrics_io};
use kiln_data::download::write_atomically;

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

/// What training and testing one kind of model gave back.
pub(crate) struct Trained {
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test: SplitMetrics,
    pub test_split: &'static str,
    pub train_seconds: f64,
}

/// A run's model before training, of whichever kind the experiment asks for.
// One per run, moved once: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Initial {
    Classifier(Classifier),
    Language(kiln_models::LanguageModel),
    Seq2seq(kiln_models::Seq2Seq),
}

/// Writes what the loop recorded (even when it failed, so that a diverged run keeps its
/// curves), then passes on its outcome if nothing else went wrong.
pub(crate) fn record_fit<M>(
    run: &RunDir,
    manifest: &mut Manifest,
    observer: &mut RunObserver<M>,
    fitted: Result<FitOutcome<M>, kiln_train::TrainError>,
    train_seconds: f64,
) -> anyhow::Result<FitOutcome<M>> {
    manifest.timings.train_s = Some(train_seconds);
    manifest.epochs_run = observer.epochs.len();
    metrics_io::write(run, &observer.steps, &observer.epochs)?;
    let outcome = fitted?;
    if let Some(e) = &observer.checkpoint_error {
        anyhow::bail!(
            "saving the best checkpoint to {}: {e}",
            run.best_checkpoint().display()
        );
    }
    if let Some(e) = observer.hook_error.take() {
        return Err(e.context("writing the epoch's samples"));
    }
    charts::learning_curves(&observer.epochs, |name, ext| run.chart(name, ext))?;
    Ok(outcome)
}

/// The experiment's model with its seeded initial weights. Initialised on flex whatever the
/// backend, so that a seed gives the same weights everywhere; training moves them to the
/// run's device.
pub fn initial_model(loaded: &LoadedExperiment, prepared: &Prepared) -> anyhow::Result<Classifier> {
    let exp = &loaded.experiment;
    let model_error = |e| model_error(loaded, e);
    let init_device = burn::tensor::Device::flex();
    init_device.seed(exp.seed);
    let mut model = exp
        .model
        .init(
            prepared.input_shape(),
            prepared.class_names().len(),
            &init_device,
        )
        .map_err(model_error)?;
    if let (Data::Text(text), Classifier::Recurrent(m)) = (&prepared.data, &mut model)
        && let Some(pretrained) = &text.pretrained
    {
        m.set_embedding_rows(&pretrained.rows, kiln_data::text::Vocabulary::PAD as usize)
            .map_err(model_error)?;
    }
    kiln_models::portable::materialize(&model);
    Ok(model)
}

/// A model config the data cannot build, named as the file's key.
pub(crate) fn model_error(loaded: &LoadedExperiment, e: kiln_models::Invalid) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: `model.{}`: {}",
        loaded.file.display(),
        e.field,
        e.message
    )
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
    let device = backend::device(exp.backend, &exp.device, exp.seed)?;

    let prepared = Prepared::load(exp)?;
    let [train_n, val_n, test_n] = prepared.counts();
    let load_data_s = clock.elapsed().as_secs_f64();
    tracing::info!(
        "data: {}: {train_n} train, {val_n} validation, {test_n} test {} ({load_data_s:.2} s)",
        prepared.source,
        if matches!(prepared.data, Data::Corpus(_)) {
            "tokens"
        } else {
            "items"
        }
    );
    let model = match &prepared.data {
        Data::Corpus(c) => Initial::Language(generative::initial_language_model(loaded, c)?),
        Data::Pairs(p) => Initial::Seq2seq(generative::initial_seq2seq(loaded, p)?),
        _ => Initial::Classifier(initial_model(loaded, &prepared)?),
    };

    let run = match trial {
        None => RunDir::create(results, &exp.name, exp.seed, started_at),
        Some(t) => RunDir::create_named(
            &results.join(&exp.name).join(&t.info.name),
            &RunDir::trial_base(t.info.trial, t.seed),
        ),
    }
    .with_context(|| format!("creating a run folder under {}", results.display()))?;
    let mut manifest = new_manifest(
        loaded,
        &run,
        started_at,
        DataInfo {
            source: prepared.source.clone(),
            train: train_n,
            validation: val_n,
            test: test_n,
        },
    );
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
            let trained = match (model, &prepared.data) {
                (Initial::Language(m), Data::Corpus(c)) => {
                    generative::language(exp, &run, c, m, &device, eval_size, &mut manifest)?
                }
                (Initial::Seq2seq(m), Data::Pairs(p)) => generative::translation(
                    exp,
                    &run,
                    &prepared,
                    p,
                    m,
                    &device,
                    eval_size,
                    &mut manifest,
                )?,
                (Initial::Classifier(m), _) => {
                    classify(exp, &run, &prepared, m, &device, eval_size, &mut manifest)?
                }
                _ => unreachable!("the model was built for the data"),
            };
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

/// Trains and tests a classifier.
fn classify(
    exp: &Experiment,
    run: &RunDir,
    prepared: &Prepared,
    model: Classifier,
    device: &burn::tensor::Device,
    eval_size: usize,
    manifest: &mut Manifest,
) -> anyhow::Result<Trained> {
    if let Data::Text(text) = &prepared.data {
        text.vocab.save(&run.vocabulary())?;
    }
    let classes = prepared.class_names().len();
    let [train, validation, test_data] = prepared.batches(exp, eval_size);
    let mut observer = RunObserver::new(run, exp.train.epochs);
    let train_clock = Instant::now();
    let splits = Splits {
        train: train.as_ref(),
        validation: Some(validation.as_ref()),
        classes,
    };
    let fitted = fit(model, &exp.train, splits, device, exp.seed, &mut observer);
    let train_seconds = train_clock.elapsed().as_secs_f64();
    let outcome = record_fit(run, manifest, &mut observer, fitted, train_seconds)?;

    let test_clock = Instant::now();
    let test = evaluate(
        &outcome.best,
        test_data.as_ref(),
        exp.train.loss,
        classes,
        device,
        &mut observer,
    )?;
    manifest.timings.test_s = Some(test_clock.elapsed().as_secs_f64());
    write_test_report(run, &test, outcome.best_epoch, &prepared.class_names())?;
    Ok(Trained {
        epochs: observer.epochs,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        test,
        test_split: "test",
        train_seconds,
    })
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

#[derive(Serialize)]
struct ClassReport {
    class: usize,
    name: String,
    precision: f64,
    recall: f64,
    f1: f64,
    support: u64,
}

#[derive(Serialize)]
struct TestReport {
    best_epoch: usize,
    loss: f64,
    accuracy: f64,
    macro_f1: f64,
    /// For two classes, the positive (second) class's precision, recall and F1, as
    /// sentiment papers report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<BinaryReport>,
    samples: u64,
    per_class: Vec<ClassReport>,
}

#[derive(Serialize)]
struct BinaryReport {
    precision: f64,
    recall: f64,
    f1: f64,
}

fn write_test_report(
    run: &RunDir,
    test: &SplitMetrics,
    best_epoch: usize,
    names: &[String],
) -> anyhow::Result<()> {
    let c = test
        .confusion
        .as_ref()
        .expect("a classifier's metrics have a confusion matrix");
    let per_class: Vec<ClassReport> = c
        .per_class()
        .into_iter()
        .enumerate()
        .map(|(class, (precision, recall, f1))| ClassReport {
            class,
            name: names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string()),
            precision,
            recall,
            f1,
            support: (0..c.classes()).map(|p| c.count(class, p)).sum(),
        })
        .collect();
    let binary = (per_class.len() == 2).then(|| BinaryReport {
        precision: per_class[1].precision,
        recall: per_class[1].recall,
        f1: per_class[1].f1,
    });
    let report = TestReport {
        best_epoch,
        loss: test.loss,
        accuracy: test.accuracy,
        macro_f1: test.macro_f1.unwrap_or(f64::NAN),
        binary,
        samples: c.total(),
        per_class,
    };
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)?;
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut csv = String::from("actual");
    (0..c.classes()).for_each(|p| csv.push_str(&format!(",predicted_{}", name(p))));
    csv.push('\n');
    for a in 0..c.classes() {
        csv.push_str(&name(a));
        (0..c.classes()).for_each(|p| csv.push_str(&format!(",{}", c.count(a, p))));
        csv.push('\n');
    }
    write_atomically(&run.confusion(), csv.as_bytes())?;
    Ok(())
}
