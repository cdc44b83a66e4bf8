//! What reading and checking an experiment file needs of a task, apart from running it:
//! each task's [`TaskSpec`] (its name, what it learns from, its metrics, its typed
//! `[generation]` settings and its own checks) and the registry of them. No data and no
//! backend, so the configuration and the store see tasks only through this; the task layer
//! (`crate::tasks`) implements running for the same types.

mod classification;
mod gan;
mod language;
mod multilabel;
mod regression;
mod translation;

use std::sync::OnceLock;

use figment::Figment;
use kiln_models::Invalid;
use kiln_train::{LossKind, Metric};

use crate::config::schema::{DatasetKind, Experiment};

pub use classification::Classification;
pub use gan::{FidSettings, GanTask};
pub use language::{LanguageModelling, SampleSettings};
pub use multilabel::MultiLabel;
pub use regression::Regression;
pub use translation::{DecodeSettings, Translation};

/// kiln's own tasks; `crate::tasks::TASKS` lists their run-time side in the same order.
pub static SPECS: &[&dyn TaskSpec] = &[
    &Classification,
    &LanguageModelling,
    &Translation,
    &GanTask,
    &Regression,
    &MultiLabel,
];

/// The specs of the tasks a plug-in registered (`crate::tasks::register`).
static REGISTERED: OnceLock<Vec<&'static dyn TaskSpec>> = OnceLock::new();

/// Adds a plug-in's task specs beside kiln's own; `false` when some were registered already.
pub fn register(specs: Vec<&'static dyn TaskSpec>) -> bool {
    REGISTERED.set(specs).is_ok()
}

/// kiln's task specs, then any a plug-in registered.
pub fn all() -> Vec<&'static dyn TaskSpec> {
    SPECS
        .iter()
        .copied()
        .chain(REGISTERED.get().into_iter().flatten().copied())
        .collect()
}

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

/// The task the experiment names, or why it cannot learn the experiment's model from its
/// data. Several tasks may share a name (a plug-in's classification of its own model beside
/// kiln's): the one that trains the model is taken.
pub fn checked<T: TaskSpec + ?Sized>(
    exp: &Experiment,
    tasks: &[&'static T],
) -> Result<&'static T, Invalid> {
    let task = named(exp, tasks)?;
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
    for name in all().into_iter().map(|t| t.name()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The task `exp.task` names that trains its model from its dataset.
pub fn named<T: TaskSpec + ?Sized>(
    exp: &Experiment,
    tasks: &[&'static T],
) -> Result<&'static T, Invalid> {
    let named: Vec<&'static T> = tasks
        .iter()
        .copied()
        .filter(|t| t.name() == exp.task)
        .collect();
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
    let trains = |t: &&'static T| t.learns().iter().any(|(_, m)| m.contains(&kind));
    let Some(task) = named.iter().copied().find(trains) else {
        let models: Vec<&str> = named
            .iter()
            .flat_map(|t| t.learns())
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        let elsewhere = tasks
            .iter()
            .copied()
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
    named(exp, &all())
}

/// The spec of the task that learns the experiment ([`checked`]), for checking a file.
pub fn spec_for(exp: &Experiment) -> Result<&'static dyn TaskSpec, Invalid> {
    checked(exp, &all())
}

/// Every metric any task reports, each name once (the first task's direction): what the run
/// index gets a `test_` and a `best_val_` column for.
pub fn all_metrics() -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    for m in all().into_iter().flat_map(|t| t.metrics()) {
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
        .into_iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_unique_and_directions_agree_across_tasks() {
        let names = metric_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for m in SPECS.iter().flat_map(|t| t.metrics()) {
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
