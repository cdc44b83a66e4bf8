//! Tasks at run time: each kind of learning problem as one vertical slice, from an
//! experiment's data and model to a trained, tested run folder. What a task takes and
//! reports is its spec (`crate::config::spec`, read with the file); here it loads its data
//! and builds its model before the run folder exists, then trains, tests and writes its own
//! artefacts (vocabularies, samples, outputs, `test.json`) into the folder that
//! [`crate::engine::run`] opened.
//!
//! Adding a task: its spec in `config/spec/` and one line in its `SPECS`, then a module here
//! implementing [`TaskKind`] for the same type and one line in [`TASKS`]; or, from a crate
//! of one's own, a `TaskKind` passed to `kiln_runner::plugin::main_with`, which registers it
//! and its spec beside these (see `examples/custom-model`).

pub(crate) mod classify;
pub mod datasets;
mod gan;
pub(crate) mod language;
mod multilabel;
pub mod prepare;
pub(crate) mod regression;
mod translation;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_models::Invalid;
use kiln_train::{
    EpochRecord, FitOutcome, SplitMetrics, StepObserver, Steps, TrainConfig, TrainError,
};
use serde_json::json;

use crate::config::schema::{Experiment, LoadedExperiment};
use crate::config::spec::{self, TaskSpec};
use crate::store::finished::{Finished, GenerateArgs};
use crate::store::manifest::{DataInfo, Manifest};
use crate::store::observer::{Checkpointing, RunObserver};
use crate::store::run_dir::RunDir;

pub use classify::prepared_classifier;

/// Tasks registered by a plug-in crate's binary, beside [`TASKS`].
static REGISTERED: OnceLock<Vec<&'static dyn TaskKind>> = OnceLock::new();

/// Adds a plug-in's tasks beside kiln's own (their specs too, for reading files). Once per
/// process, before any experiment is read; `false` when tasks were registered already.
pub fn register(tasks: &[&'static dyn TaskKind]) -> bool {
    let specs = tasks.iter().map(|t| *t as &'static dyn TaskSpec).collect();
    REGISTERED.set(tasks.to_vec()).is_ok() && spec::register(specs)
}

/// kiln's tasks, then any a plug-in registered.
pub fn all() -> impl Iterator<Item = &'static dyn TaskKind> {
    TASKS
        .iter()
        .copied()
        .chain(REGISTERED.get().into_iter().flatten().copied())
}

/// The tasks kiln itself has, in the order of their specs (`spec::SPECS`).
pub static TASKS: &[&dyn TaskKind] = &[
    &spec::Classification,
    &spec::LanguageModelling,
    &spec::Translation,
    &spec::GanTask,
    &spec::Regression,
    &spec::MultiLabel,
];

/// The task the experiment names that trains its model on its dataset, with its monitored
/// metric and its own checks passed. Several tasks may share a name (a plug-in's
/// classification of its own model beside kiln's): the one that trains the model is taken.
pub fn for_experiment(exp: &Experiment) -> Result<&'static dyn TaskKind, Invalid> {
    spec::checked(exp, &all().collect::<Vec<_>>())
}

/// A kind of learning problem at run time: its data loaded and its model built, and what
/// `generate` and `translate` do with its finished runs.
pub trait TaskKind: TaskSpec {
    /// Loads the data and builds the seeded model: everything that can be refused, before
    /// the run folder exists.
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>>;
    /// `kiln generate` on a finished run of this task.
    fn generate(&self, run: &Finished, _args: &GenerateArgs) -> anyhow::Result<String> {
        Err(run.not_for("generate", "a language_model or gan run"))
    }
    /// `kiln translate` on a finished run of this task: one output line per input.
    fn translate(
        &self,
        run: &Finished,
        _inputs: &[String],
        _beam_width: Option<usize>,
        _out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        Err(run.not_for("translate", "a seq2seq run"))
    }
}

/// The experiment's model for `input` and `outputs`, with its seeded initial weights and
/// checked to fit in memory. Initialised on flex whatever the backend, so that a seed gives
/// the same weights everywhere; training moves them to the run's device.
pub(crate) fn seeded_classifier(
    loaded: &LoadedExperiment,
    input: kiln_models::InputShape,
    outputs: usize,
) -> anyhow::Result<kiln_models::Classifier> {
    let exp = &loaded.experiment;
    let init_device = Device::flex();
    init_device.seed(exp.seed);
    let model = exp
        .model
        .init(input, outputs, &init_device)
        .map_err(|e| model_error(loaded, e))?;
    fits_in_memory(loaded, &model)?;
    Ok(model)
}

/// What the manifest records of a classifier's or regression's data.
pub(crate) fn data_info(
    prepared: &crate::tasks::prepare::Prepared,
) -> crate::store::manifest::DataInfo {
    let [train, validation, test] = prepared.counts();
    crate::store::manifest::DataInfo {
        source: prepared.source.clone(),
        train,
        validation,
        test,
        image: match prepared.input_shape() {
            kiln_models::InputShape::Image(shape) => Some(shape),
            _ => None,
        },
        skipped: match &prepared.data {
            crate::tasks::prepare::Data::Images(d) => d.skipped,
            _ => 0,
        },
    }
}

/// Refuses a model whose training would not fit in this machine's memory, before its
/// weights are allocated (burn initialises parameters lazily, so `num_params` costs
/// nothing): the weights, the best epoch's copy, the gradients and the optimizer's state,
/// 4 bytes each. Activations are not counted. `KILN_SKIP_MEMORY_CHECK=1` skips it.
pub fn fits_in_memory<M: burn::module::Module>(
    loaded: &LoadedExperiment,
    model: &M,
) -> anyhow::Result<()> {
    let Some(kiln_data::Budget {
        bytes: available,
        limited_by,
    }) = data_budget()
    else {
        return Ok(());
    };
    let params = model.num_params() as u128;
    let copies = 3 + loaded.experiment.train.optimizer.state_per_parameter() as u128;
    let needed = params * 4 * copies;
    if needed > available as u128 {
        let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
        anyhow::bail!(
            "{}: `model`: {params} parameters need about {:.1} GiB to train (weights, the best \
             epoch's copy, gradients and {} optimizer value(s) each, 4 bytes apiece), but \
             {limited_by} leaves {:.1} GiB available; make the model smaller, or set \
             KILN_SKIP_MEMORY_CHECK=1 to try anyway",
            loaded.file.display(),
            gib(needed),
            copies - 3,
            gib(available as u128)
        );
    }
    Ok(())
}

/// What a run's data and model may take: the memory the machine or the process's memory
/// cgroup can give (`None` where neither is known, or with `KILN_SKIP_MEMORY_CHECK=1`), so
/// that data or a model too large for it is refused before it is allocated.
pub(crate) fn data_budget() -> Option<kiln_data::Budget> {
    if std::env::var_os("KILN_SKIP_MEMORY_CHECK").is_some_and(|v| v != "0") {
        return None;
    }
    crate::platform::memory::available().map(|a| kiln_data::Budget {
        bytes: a.bytes,
        limited_by: a.limited_by,
    })
}

/// A task with its data loaded and its model built, ready to train into a run folder.
pub trait PreparedTask {
    /// Where the data came from and how large its splits are, for the manifest.
    fn data(&self) -> DataInfo;
    /// Whether the data leave anything to validate on, which a `val_` monitor needs:
    /// checked before the run folder exists.
    fn validates(&self) -> bool {
        self.data().validation > 0
    }
    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained>;
    /// Trains for `steps` steps (or until `observer` stops it) and nothing else: no
    /// validation, no run folder. What `kiln bench` times.
    fn train_steps(
        self: Box<Self>,
        exp: &Experiment,
        steps: usize,
        device: &Device,
        observer: &mut dyn StepObserver,
    ) -> Result<(), TrainError>;
}

/// Runs `task` for `steps` steps and nothing else (see [`PreparedTask::train_steps`]).
pub(crate) fn fit_steps<T: kiln_train::Task>(
    model: T::Model,
    task: &mut T,
    exp: &Experiment,
    steps: usize,
    device: &Device,
    observer: &mut dyn StepObserver,
) -> Result<(), TrainError> {
    let config = steps_config(exp, steps, task.num_batches());
    kiln_train::fit_task(model, &config, task, device, exp.seed, &mut Steps(observer)).map(|_| ())
}

/// `config` with as many epochs as `steps` need and nothing between epochs that is not
/// training.
pub(crate) fn steps_config(
    exp: &Experiment,
    steps: usize,
    batches_per_epoch: usize,
) -> TrainConfig {
    let mut config = exp.train.clone();
    config.epochs = steps.div_ceil(batches_per_epoch.max(1)).max(1);
    config.monitor = kiln_train::Monitor::train("loss");
    config.early_stopping = None;
    config
}

/// Where a prepared task trains.
pub struct RunContext<'a> {
    pub exp: &'a Experiment,
    pub run: &'a RunDir,
    pub device: &'a Device,
    /// The evaluation batch size the backend takes (see [`crate::backend::eval_batch_size`]).
    pub eval_size: usize,
    pub manifest: &'a mut Manifest,
    /// For the run's observer (see [`RunObserver::new`]).
    pub checkpointing: Checkpointing,
}

/// What training and testing gave back.
pub struct Trained {
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test: SplitMetrics,
    /// Which split `test` is: `test`, or `validation` for a corpus, which has no test split.
    pub test_split: &'static str,
    pub train_seconds: f64,
}

impl Trained {
    /// The loop's `outcome` with the epochs its observer kept and the best model's metrics
    /// on `test_split`.
    pub fn new<M>(
        outcome: &FitOutcome<M>,
        epochs: Vec<EpochRecord>,
        test: SplitMetrics,
        test_split: &'static str,
        train_seconds: f64,
    ) -> Self {
        Self {
            epochs,
            best_epoch: outcome.best_epoch,
            stopped_early: outcome.stopped_early,
            test,
            test_split,
            train_seconds,
        }
    }
}

/// [`for_experiment`] for the experiment read from `file`, its error naming the file. A loaded
/// experiment has passed this check already (config loading runs it with line numbers);
/// run, bench and inference ask again for the task itself.
pub fn for_file(exp: &Experiment, file: &Path) -> anyhow::Result<&'static dyn TaskKind> {
    for_experiment(exp)
        .map_err(|e| anyhow::anyhow!("{}: `{}`: {}", file.display(), e.field, e.message))
}

/// A model config the data cannot build, named as the file's key.
pub(crate) fn model_error(loaded: &LoadedExperiment, e: Invalid) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: `model.{}`: {}",
        loaded.file.display(),
        e.field,
        e.message
    )
}

/// Runs `fit` (the loop, reporting to `observer`) and times it, then writes what the loop
/// recorded, even when it failed, so that a diverged run keeps its curves; passes on its
/// outcome and training seconds if nothing else went wrong.
pub(crate) fn fit_and_record<M>(
    run: &RunDir,
    manifest: &mut Manifest,
    observer: &mut RunObserver<M>,
    fit: impl FnOnce(&mut RunObserver<M>) -> Result<FitOutcome<M>, TrainError>,
) -> anyhow::Result<(FitOutcome<M>, f64)> {
    let clock = std::time::Instant::now();
    let fitted = fit(observer);
    let train_seconds = clock.elapsed().as_secs_f64();
    manifest.timings.train_s = Some(train_seconds);
    manifest.epochs_run = observer.epochs.len();
    // Written after every epoch already; once more for the steps of an unfinished epoch.
    observer.persist()?;
    let outcome = match (fitted, observer.paused) {
        (Err(TrainError::Interrupted { .. }), Some(epoch))
            if !crate::platform::interrupt::requested() =>
        {
            return Err(crate::store::observer::Paused { epoch }.into());
        }
        (fitted, _) => fitted?,
    };
    if let Some(e) = &observer.checkpoint_error {
        anyhow::bail!(
            "saving the best checkpoint to {}: {e}",
            run.best_checkpoint().display()
        );
    }
    if let Some(e) = observer.hook_error.take() {
        return Err(e.context("writing the epoch's samples"));
    }
    if let Some(e) = observer.write_error.take() {
        return Err(e.context("writing the metrics after an epoch"));
    }
    Ok((outcome, train_seconds))
}

/// `test.json` of a task without a confusion matrix: every metric of `metrics`, which split
/// they were measured on, and how many items it held.
pub(crate) fn write_metrics_report(
    run: &RunDir,
    metrics: &SplitMetrics,
    best_epoch: usize,
    split: &str,
    samples: usize,
) -> anyhow::Result<()> {
    let mut report = json!({
        "best_epoch": best_epoch,
        "split": split,
        "loss": metrics.loss,
        "accuracy": metrics.accuracy,
        "samples": samples,
    });
    for (name, value) in &metrics.extra {
        report[*name] = json!(value);
    }
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", run.test_report().display()))
}

/// Writes one epoch's samples (text, or an image grid's caption) under `samples/`.
pub(crate) fn write_sample(run: &RunDir, epoch: usize, text: &str) -> anyhow::Result<()> {
    let path = run.samples(epoch);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(write_atomically(&path, text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_kind_has_a_task_and_each_task_one_entry_per_dataset() {
        for kind in [
            "mlp",
            "cnn",
            "resnet",
            "tabular",
            "rnn",
            "lstm",
            "gru",
            "language_model",
            "seq2seq",
            "gan",
        ] {
            let n = TASKS
                .iter()
                .filter(|t| t.learns().iter().any(|(_, m)| m.contains(&kind)))
                .count();
            assert!(n >= 1, "{kind}");
        }
        for task in TASKS {
            let datasets: Vec<_> = task.learns().iter().map(|(d, _)| *d).collect();
            for (i, d) in datasets.iter().enumerate() {
                assert!(!datasets[..i].contains(d), "{}: {d:?}", task.name());
            }
        }
    }

    fn experiment(task: &str, dataset: &str, model: &str, monitor: &str) -> Experiment {
        toml::from_str(&format!(
            "task = \"{task}\"\nname = \"t\"\n[data]\ndataset = \"{dataset}\"\n[model]\n{model}\n\
             [train]\nepochs = 1\nbatch_size = 8\nlearning_rate = 0.01\nmonitor = \"{monitor}\"\n"
        ))
        .unwrap()
    }

    fn refused(exp: &Experiment) -> Invalid {
        match for_experiment(exp) {
            Ok(task) => panic!("accepted by the {} task", task.name()),
            Err(e) => e,
        }
    }

    #[test]
    fn the_file_names_the_task_which_must_train_the_model_on_the_data_and_report_the_monitor() {
        let mlp = "kind = \"mlp\"\nhidden = [8]";
        let classify =
            |dataset, model, monitor| experiment("classification", dataset, model, monitor);
        let task = for_experiment(&classify("mnist", mlp, "val_accuracy")).unwrap();
        assert_eq!(task.name(), "classification");
        let gan = experiment("gan", "mnist", "kind = \"gan\"", "val_loss");
        assert_eq!(for_experiment(&gan).unwrap().name(), "gan");

        let e = refused(&experiment("clasification", "mnist", mlp, "val_accuracy"));
        assert_eq!(e.field, "task");
        assert!(
            e.message.contains("did you mean `classification`"),
            "{}",
            e.message
        );

        let e = refused(&experiment("gan", "mnist", mlp, "val_loss"));
        assert_eq!(e.field, "model.kind");
        assert!(
            e.message
                .contains("trains gan, not `mlp`; task = \"classification\" trains it"),
            "{}",
            e.message
        );

        let e = refused(&classify("imdb", mlp, "val_accuracy"));
        assert_eq!(e.field, "data.dataset");
        assert!(
            e.message.contains(
                "on mnist, fashion_mnist, images, cifar10 or cifar100, not on the imdb dataset"
            ),
            "{}",
            e.message
        );

        let e = refused(&classify("mnist", mlp, "val_acuracy"));
        assert_eq!(e.field, "train.monitor");
        assert!(
            e.message.contains("did you mean `val_accuracy`"),
            "{}",
            e.message
        );
        let e = refused(&classify("mnist", mlp, "val_bleu"));
        assert!(e.message.contains("val_macro_f1") && !e.message.contains("did you mean"));

        let custom = "kind = \"custom\"\nname = \"mine\"";
        let e = refused(&classify("mnist", custom, "val_loss"));
        assert_eq!(e.field, "model.name");
        assert!(
            e.message.contains("`mine`") && e.message.contains("examples/custom-model"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_task_runs_the_spec_in_the_same_place_of_the_spec_registry() {
        assert_eq!(TASKS.len(), spec::SPECS.len());
        for (task, spec) in TASKS.iter().zip(spec::SPECS) {
            assert_eq!(task.name(), spec.name());
            assert_eq!(task.learns(), spec.learns());
            assert_eq!(task.metrics(), spec.metrics());
        }
    }
}
