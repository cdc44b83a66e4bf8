use std::path::PathBuf;

use kiln_models::{ClassifierConfig, Invalid};
use kiln_train::TrainConfig;
use serde::{Deserialize, Serialize};

/// The keys of [`Experiment`]'s top level, which flat `KILN_*` variables may set.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "backend",
    "device",
    "datasets",
    "data",
    "model",
    "train",
];

/// An experiment as written in its TOML file. Unknown keys are errors everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Names the folder under `results/`; letters, digits, `-` and `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Fixes initialisation, the validation split, batch order and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub backend: BackendKind,
    /// Backend device, e.g. `cpu`.
    #[serde(default = "default_device")]
    pub device: String,
    /// A folder of existing datasets (e.g. `../shared/datasets`) used instead of the download
    /// cache; the environment variable `KILN_DATASETS` sets it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<PathBuf>,
    pub data: DataConfig,
    pub model: ClassifierConfig,
    pub train: TrainConfig,
}

fn default_seed() -> u64 {
    42
}

fn default_device() -> String {
    "cpu".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend, always built.
    #[default]
    Flex,
    Wgpu,
    Tch,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Tch => "tch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// `full` reads (or downloads) the whole dataset, `sample` the one compiled into kiln.
    #[serde(default)]
    pub source: DataSource,
    /// Share of the training set held out for validation, by a split seeded with `seed`.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    #[serde(default)]
    pub normalize: NormalizeKind,
    /// Use only the first N training items (before the split), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Whether a missing dataset may be downloaded into `datasets/`.
    #[serde(default = "yes")]
    pub download: bool,
    /// Whether to check the SHA-256 of files read from disk.
    #[serde(default = "yes")]
    pub verify: bool,
}

fn default_validation_fraction() -> f64 {
    0.1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Mnist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    #[default]
    Full,
    Sample,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeKind {
    /// Pixels scaled to [0, 1].
    Scale,
    /// Scaled, then standardised with the training set's mean and std (MNIST: 0.1307, 0.3081).
    #[default]
    Standardize,
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
        let d = &self.data;
        if !(0.0..1.0).contains(&d.validation_fraction) {
            return Err(Invalid::new(
                "data.validation_fraction",
                format!("must be in [0, 1), got {}", d.validation_fraction),
            ));
        }
        if d.train_limit == Some(0) {
            return Err(Invalid::new(
                "data.train_limit",
                "must be at least 1 (or left out)",
            ));
        }
        if self.train.monitor.needs_validation() && d.validation_fraction == 0.0 {
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
