//! Tasks: each kind of learning problem as one vertical slice, from an experiment's data and
//! model to a trained, tested run folder. A task says which models and datasets it takes,
//! which metrics it reports (name and direction, so `monitor`, early stopping and the index
//! need no list of their own), loads its data and builds its model before the run folder
//! exists, then trains, tests and writes its own artefacts (vocabularies, samples, outputs,
//! `test.json`) into the folder that [`crate::run`] opened.
//!
//! Adding a task: a module here implementing [`TaskKind`] and one line in [`TASKS`]; or, from
//! a crate of one's own, a `TaskKind` passed to [`crate::cli::main_with`], which registers
//! it beside these (see `examples/custom-model`).

pub(crate) mod classify;
mod gan;
mod language;
pub(crate) mod regression;
mod translation;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use burn::tensor::Device;
use figment::Figment;
use kiln_data::download::write_atomically;
use kiln_models::Invalid;
use kiln_train::{
    EpochRecord, FitOutcome, LossKind, Metric, SplitMetrics, StepObserver, Steps, TrainConfig,
    TrainError,
};
use serde_json::json;

use crate::finished::{Finished, GenerateArgs};
use crate::manifest::{DataInfo, Manifest};
use crate::observer::{Checkpointing, RunObserver};
use crate::run_dir::RunDir;
use crate::schema::{DatasetKind, Experiment, LoadedExperiment};

pub use classify::prepared_classifier;

/// Tasks registered by a plug-in crate's binary, beside [`TASKS`].
static REGISTERED: OnceLock<Vec<&'static dyn TaskKind>> = OnceLock::new();

/// Adds a plug-in's tasks beside kiln's own. Once per process, before any experiment is
/// read; `false` when tasks were registered already.
pub fn register(tasks: &[&'static dyn TaskKind]) -> bool {
    REGISTERED.set(tasks.to_vec()).is_ok()
}

/// kiln's tasks, then any a plug-in registered.
pub fn all() -> impl Iterator<Item = &'static dyn TaskKind> {
    TASKS
        .iter()
        .copied()
        .chain(REGISTERED.get().into_iter().flatten().copied())
}

/// The tasks kiln itself has.
pub static TASKS: &[&dyn TaskKind] = &[
    &classify::Classification,
    &language::LanguageModelling,
    &translation::Translation,
    &gan::GanTask,
    &regression::Regression,
];

/// What reading and checking an experiment file needs of a task: its name, what it learns
/// from, what it reports, its `[generation]` keys and its own checks. No data and no backend:
/// the configuration sees a task only through this.
pub trait TaskSpec: Sync {
    /// What an experiment file's `task` names, e.g. `classification`.
    fn name(&self) -> &'static str;
    /// The datasets it learns from, each with the `model.kind`s that can learn from it.
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])];
    /// What it reports for a split; `train.monitor` names one of them.
    fn metrics(&self) -> &'static [Metric];
    /// Its `[generation]` settings read from `figment`, defaults filled in (with
    /// [`read_generation`]), so serde refuses a key the task does not read; `None` when it
    /// has no such settings.
    fn generation(&self, _figment: &Figment) -> Option<Result<toml::Table, Box<figment::Error>>> {
        None
    }
    /// The loss when the file names none.
    fn default_loss(&self) -> LossKind {
        LossKind::CrossEntropy
    }
    /// Checks of the experiment that only this task knows, by dotted key.
    fn check(&self, _exp: &Experiment) -> Result<(), Invalid> {
        Ok(())
    }
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
pub(crate) fn data_info(prepared: &crate::prepare::Prepared) -> crate::manifest::DataInfo {
    let [train, validation, test] = prepared.counts();
    crate::manifest::DataInfo {
        source: prepared.source.clone(),
        train,
        validation,
        test,
        image: match prepared.input_shape() {
            kiln_models::InputShape::Image(shape) => Some(shape),
            _ => None,
        },
        skipped: match &prepared.data {
            crate::prepare::Data::Images(d) => d.skipped,
            _ => 0,
        },
    }
}

/// Refuses the regression losses for a task that predicts classes or tokens.
pub(crate) fn classification_loss(exp: &Experiment) -> Result<(), Invalid> {
    match exp.train.loss {
        LossKind::Mae | LossKind::Huber => Err(Invalid::new(
            "train.loss",
            format!(
                "`{}` is a regression loss; a {} task takes cross_entropy, mse or hinge",
                if exp.train.loss == LossKind::Mae {
                    "mae"
                } else {
                    "huber"
                },
                exp.task
            ),
        )),
        _ => Ok(()),
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
    if std::env::var_os("KILN_SKIP_MEMORY_CHECK").is_some_and(|v| v != "0") {
        return Ok(());
    }
    let Some(crate::memory::Available {
        bytes: available,
        limited_by,
    }) = crate::memory::available()
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

/// `[generation]` read as the task's typed settings `T`, with `T`'s defaults, back as the
/// table that the resolved config records. Errors name their full key.
pub fn read_generation<T>(figment: &Figment) -> Result<toml::Table, Box<figment::Error>>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let typed: T = figment.focus("generation").extract().map_err(|errors| {
        errors
            .into_iter()
            .map(|mut e| {
                e.path.insert(0, "generation".into());
                e
            })
            .reduce(figment::Error::chain)
            .unwrap_or_else(|| figment::Error::from("`generation` cannot be read".to_string()))
    })?;
    toml::Table::try_from(typed).map_err(|e| Box::new(figment::Error::from(e.to_string())))
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

/// The task the experiment names, or why it cannot learn the experiment's model from its
/// data. Several tasks may share a name (a plug-in's classification of its own model beside
/// kiln's): the one that trains the model is taken.
pub fn for_experiment(exp: &Experiment) -> Result<&'static dyn TaskKind, Invalid> {
    let task = named(exp)?;
    kiln_train::monitored_metric(&exp.train.monitor, task.metrics()).map_err(|mut e| {
        let names = ["val", "train"].iter().flat_map(|split| {
            task.metrics()
                .iter()
                .map(move |m| format!("{split}_{}", m.name))
        });
        if let Some(name) = closest(&exp.train.monitor.name(), names, 0.85) {
            e.message.push_str(&format!("; did you mean `{name}`?"));
        }
        e.within("train")
    })?;
    task.check(exp)?;
    Ok(task)
}

/// The name among `names` nearest `given`, if near enough to be a typo of it.
fn closest(given: &str, names: impl Iterator<Item = String>, at_least: f64) -> Option<String> {
    names
        .map(|name| (strsim::jaro_winkler(given, &name), name))
        .filter(|(score, _)| *score > at_least)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// The names an experiment's `task` may take, each once.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = Vec::new();
    for name in all().map(|t| t.name()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The task `exp.task` names that trains its model from its dataset.
pub fn named(exp: &Experiment) -> Result<&'static dyn TaskKind, Invalid> {
    let named: Vec<&dyn TaskKind> = all().filter(|t| t.name() == exp.task).collect();
    if named.is_empty() {
        let names = names();
        let hint = closest(&exp.task, names.iter().map(|n| n.to_string()), 0.8)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        return Err(Invalid::new(
            "task",
            format!(
                "unknown task `{}`{hint} (expected one of: {})",
                exp.task,
                names.join(", ")
            ),
        ));
    }
    let kind = exp.model.name();
    let dataset = exp.data.kind();
    let trains = |t: &&dyn TaskKind| t.learns().iter().any(|(_, m)| m.contains(&kind));
    let Some(task) = named.iter().copied().find(trains) else {
        let models: Vec<&str> = named
            .iter()
            .flat_map(|t| t.learns())
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        let elsewhere = all()
            .find(trains)
            .map(|t| format!("; task = \"{}\" trains it", t.name()))
            .unwrap_or_else(|| match &exp.model {
                kiln_models::ModelConfig::Custom(_) => "; a custom model is trained by the binary \
                     of the crate that registers it (see examples/custom-model)"
                    .into(),
                _ => String::new(),
            });
        let key = match &exp.model {
            kiln_models::ModelConfig::Custom(_) => "model.name",
            _ => "model.kind",
        };
        return Err(Invalid::new(
            key,
            format!(
                "the {} task trains {}, not `{kind}`{elsewhere}",
                exp.task,
                or_list(&models)
            ),
        ));
    };
    if !task
        .learns()
        .iter()
        .any(|(d, m)| *d == dataset && m.contains(&kind))
    {
        let takes: Vec<&str> = task
            .learns()
            .iter()
            .filter(|(_, m)| m.contains(&kind))
            .map(|(d, _)| d.name())
            .collect();
        return Err(Invalid::new(
            "data.dataset",
            format!(
                "the {} task trains {kind} on {}, not on the {} dataset",
                exp.task,
                or_list(&takes),
                dataset.name()
            ),
        ));
    }
    Ok(task)
}

/// The spec of the task `exp.task` names ([`named`]), for reading a file.
pub fn spec_named(exp: &Experiment) -> Result<&'static dyn TaskSpec, Invalid> {
    named(exp).map(|task| task as &dyn TaskSpec)
}

/// The spec of the task that learns the experiment ([`for_experiment`]), for checking a file.
pub fn spec_for(exp: &Experiment) -> Result<&'static dyn TaskSpec, Invalid> {
    for_experiment(exp).map(|task| task as &dyn TaskSpec)
}

/// [`for_experiment`] for the experiment read from `file`, its error naming the file. A loaded
/// experiment has passed this check already (config loading runs it with line numbers);
/// run, bench and inference ask again for the task itself.
pub fn for_file(exp: &Experiment, file: &Path) -> anyhow::Result<&'static dyn TaskKind> {
    for_experiment(exp)
        .map_err(|e| anyhow::anyhow!("{}: `{}`: {}", file.display(), e.field, e.message))
}

/// Every metric any task reports, each name once (the first task's direction): what the run
/// index gets a `test_` and a `best_val_` column for.
pub fn all_metrics() -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    for m in all().flat_map(|t| t.metrics()) {
        if !metrics.iter().any(|seen| seen.name == m.name) {
            metrics.push(*m);
        }
    }
    metrics
}

/// Every metric name any task reports, first seen first: the index's `test_<name>` columns.
pub fn metric_names() -> Vec<&'static str> {
    all_metrics().iter().map(|m| m.name).collect()
}

/// Whether higher is better for the metric `name`, by the first task that defines it.
pub fn higher_is_better(name: &str) -> Option<bool> {
    all()
        .flat_map(|t| t.metrics())
        .find(|m| m.name == name)
        .map(|m| m.higher_is_better)
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => "nothing".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
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
        (Err(TrainError::Interrupted { .. }), Some(epoch)) if !crate::interrupt::requested() => {
            return Err(crate::observer::Paused { epoch }.into());
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
            e.message
                .contains("on mnist, images, cifar10 or cifar100, not on the imdb dataset"),
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
    fn metric_names_are_unique_and_directions_agree_across_tasks() {
        let names = metric_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for m in TASKS.iter().flat_map(|t| t.metrics()) {
            assert_eq!(
                higher_is_better(m.name),
                Some(m.higher_is_better),
                "{}",
                m.name
            );
        }
        assert_eq!(higher_is_better("fid"), Some(false));
        assert_eq!(higher_is_better("bleu"), Some(true));
    }
}
