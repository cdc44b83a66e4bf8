//! The experiment file's schema: what each key means, its default, and the checks of ranges
//! that the types cannot express. The file names its task; which models and datasets the
//! task takes, its metrics and its own `[generation]` settings are the task's business
//! (`crate::tasks`).

mod checkpoint;
mod cluster;
mod data;
pub mod keys;
mod legacy;

use std::path::PathBuf;

use kiln_models::{Invalid, ModelConfig};
use kiln_train::TrainConfig;
use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointSettings, Every};
pub use cluster::ClusterSettings;
pub use data::{
    AdditionProblem, AugmentSettings, CifarSettings, CorpusSettings, DataConfig, DataSource,
    DatasetKind, FitKind, ImagesSettings, ImdbSettings, MnistSettings, NormalizeKind,
    PairsSettings, Problem, Split, Strings, SyntheticSettings, TableSettings, TextEncoding,
    TextShape, TextsSettings, TokenizerKind, TruncateKind,
};

/// An experiment as loaded: the resolved config and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedExperiment {
    pub experiment: Experiment,
    pub file: PathBuf,
    /// The `--set` arguments as given.
    pub overrides: Vec<String>,
    /// Names of the `KILN_*` variables that took part.
    pub env_overrides: Vec<String>,
}

/// The keys of [`Experiment`]'s top level, which flat `KILN_*` variables may set.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "task",
    "name",
    "description",
    "seed",
    "backend",
    "device",
    "datasets",
    "data",
    "model",
    "train",
    "generation",
    "checkpoint",
    "cluster",
];

/// An experiment as written in its TOML file. Unknown keys are errors everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// What is learnt: `classification`, `language_modelling`, `translation`, `gan`, or a
    /// plug-in's task; it decides which datasets, models and `[generation]` keys apply.
    pub task: String,
    /// Names the folder under `results/`; letters, digits, `-` and `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Fixes initialisation, the validation split, batch order and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub backend: BackendKind,
    /// Backend device: `default` (the backend's best), `cpu`, `cuda:0`, `discrete-gpu:0`...
    /// (see `backend.rs`).
    #[serde(default = "default_device")]
    pub device: String,
    /// A folder of existing datasets (e.g. `../shared/datasets`) used instead of the download
    /// cache; the environment variable `KILN_DATASETS` sets it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<PathBuf>,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Generative tasks: what is sampled, decoded or scored during and after training, in
    /// the task's own typed form (see [`Experiment::generation_as`]); filled with the task's
    /// defaults when the file is loaded.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub generation: toml::Table,
    /// How often training state is saved for `run --resume`; written only when not the
    /// default, and left out of a trial's identity (it does not change the results).
    #[serde(default, skip_serializing_if = "CheckpointSettings::is_default")]
    pub checkpoint: CheckpointSettings,
    /// What a sweep asks of a cluster when submitted (`kiln submit`); left out of a trial's
    /// identity like `checkpoint`.
    #[serde(default, skip_serializing_if = "ClusterSettings::is_default")]
    pub cluster: ClusterSettings,
    /// Read separately (see `sweep.rs`), with its lines; here only so that it is allowed.
    #[serde(default, skip_serializing)]
    pub sweep: Option<serde::de::IgnoredAny>,
    /// `backends = ["flex", "tch"]`: the experiment once per backend, as a sweep (see
    /// `sweep.rs`); each trial has one `backend`.
    #[serde(default, skip_serializing)]
    pub backends: Option<serde::de::IgnoredAny>,
}

/// The expected name closest to a mistyped one, when close enough to be the one meant.
pub(crate) fn did_you_mean(given: &str, expected: &[&str]) -> Option<String> {
    expected
        .iter()
        .map(|e| (strsim::jaro_winkler(given, e), e))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| e.to_string())
}

fn default_seed() -> u64 {
    42
}

fn default_device() -> String {
    "default".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend, always built.
    #[default]
    Flex,
    Wgpu,
    Tch,
    /// burn's own CUDA backend (CubeCL), the GPU path that outlives tch in burn 0.23.
    Cuda,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Tch => "tch",
            BackendKind::Cuda => "cuda",
        }
    }
}

impl Experiment {
    /// Range checks the types cannot express; `field` is the full dotted key.
    pub fn validate(&self) -> Result<(), Invalid> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(Invalid::new(
                "name",
                format!(
                    "`{}` must be non-empty letters, digits, `-` or `_` (it names a folder)",
                    self.name
                ),
            ));
        }
        self.data.validate().map_err(|e| e.within("data"))?;
        self.cluster.validate().map_err(|e| e.within("cluster"))?;
        if self.checkpoint.keep == 0 {
            return Err(Invalid::new(
                "checkpoint.keep",
                "at least 1 (the newest checkpoint is what `run --resume` goes on from)",
            ));
        }
        if !matches!(self.model, ModelConfig::Seq2seq(_))
            && let Some(key) = [
                ("teacher_forcing", self.train.teacher_forcing.is_some()),
                (
                    "teacher_forcing_final",
                    self.train.teacher_forcing_final.is_some(),
                ),
            ]
            .iter()
            .find(|(_, set)| *set)
            .map(|(k, _)| k)
        {
            return Err(Invalid::new(
                format!("train.{key}"),
                "only applies to seq2seq models",
            ));
        }
        let cross_validated = self.data.split().is_some_and(|s| s.folds.is_some());
        if self.train.monitor.needs_validation()
            && self.data.validation_fraction() == 0.0
            && !cross_validated
        {
            return Err(Invalid::new(
                "train.monitor",
                format!(
                    "{} needs a validation split, but data.validation_fraction is 0; monitor train_loss instead",
                    self.train.monitor.name()
                ),
            ));
        }
        self.model.validate().map_err(|e| e.within("model"))?;
        self.train.validate().map_err(|e| e.within("train"))
    }
}

impl Experiment {
    /// A run folder's resolved `config.toml`, also when an older kiln wrote it.
    pub fn from_resolved(text: &str) -> anyhow::Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        legacy::upgrade(&mut table);
        Ok(toml::Value::Table(table).try_into()?)
    }

    /// The `[generation]` table in the task's typed form. A loaded experiment's table was
    /// read this way already (with file:line errors), so this fails only on a hand-made one.
    pub fn generation_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Invalid> {
        toml::Value::Table(self.generation.clone())
            .try_into()
            .map_err(|e| Invalid::new("generation", e.to_string()))
    }
}
