use std::path::PathBuf;

use kiln_models::{Invalid, ModelConfig};
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
    /// Read separately (see `sweep.rs`), with its lines; here only so that it is allowed.
    #[serde(default, skip_serializing)]
    pub sweep: Option<serde::de::IgnoredAny>,
    /// `backends = ["flex", "tch"]`: the experiment once per backend, as a sweep (see
    /// `sweep.rs`); each trial has one `backend`.
    #[serde(default, skip_serializing)]
    pub backends: Option<serde::de::IgnoredAny>,
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
    /// Whether to check the SHA-256 of MNIST files read from disk. (Downloads are always
    /// checked; an aclImdb archive you supply is checked for its layout, not its checksum,
    /// because re-packed copies are common.)
    #[serde(default = "yes")]
    pub verify: bool,
    /// Text datasets only: unpack the archive into the datasets folder once, and read the
    /// folder from then on, instead of reading the archive's gzip stream every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Text datasets only: how text becomes tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerKind>,
    /// Text datasets only: the vocabulary's size, the four special tokens included
    /// (default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// Text datasets only: tokens seen fewer times in the training split are `<unk>`
    /// (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_freq: Option<u64>,
    /// Text datasets only: sequences are cut to this many tokens (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Text datasets only: which end of a long sequence is cut (default `head`, keeping the
    /// last `max_len` tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<TruncateKind>,
    /// Text datasets only: batch sequences of similar length together (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<bool>,
    /// Text datasets only: a GloVe-format text file of word vectors that initialises the
    /// embedding for the words it knows (`model.embedding_dim` must match its size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained_embeddings: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Lower-cased words and punctuation, HTML removed.
    #[default]
    Word,
    /// Characters, HTML removed, case kept.
    Char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncateKind {
    /// Cut the beginning: keep the last `max_len` tokens.
    #[default]
    Head,
    /// Cut the end: keep the first `max_len` tokens.
    Tail,
}

impl DataConfig {
    /// The text-only keys that are set, by name.
    fn text_keys_set(&self) -> Vec<&'static str> {
        let set = [
            ("extract", self.extract.is_some()),
            ("tokenizer", self.tokenizer.is_some()),
            ("vocab_size", self.vocab_size.is_some()),
            ("min_freq", self.min_freq.is_some()),
            ("max_len", self.max_len.is_some()),
            ("truncate", self.truncate.is_some()),
            ("bucket", self.bucket.is_some()),
            (
                "pretrained_embeddings",
                self.pretrained_embeddings.is_some(),
            ),
        ];
        set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size.unwrap_or(20_000)
    }
    pub fn max_len(&self) -> usize {
        self.max_len.unwrap_or(200)
    }
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
    /// Handwritten digits, 10 classes.
    Mnist,
    /// Movie reviews, negative (0) or positive (1).
    Imdb,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Imdb => "imdb",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, DatasetKind::Imdb)
    }
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
        if !d.dataset.is_text()
            && let Some(key) = d.text_keys_set().first()
        {
            return Err(Invalid::new(
                format!("data.{key}"),
                format!(
                    "only applies to text datasets (imdb), not {}",
                    d.dataset.name()
                ),
            ));
        }
        for (key, value) in [
            ("data.vocab_size", d.vocab_size.map(|v| v < 5)),
            ("data.max_len", d.max_len.map(|v| v == 0)),
        ] {
            if value == Some(true) {
                return Err(Invalid::new(
                    key,
                    if key == "data.max_len" {
                        "must be at least 1"
                    } else {
                        "must be at least 5: the four special tokens and one word"
                    },
                ));
            }
        }
        if self.model.reads_tokens() != d.dataset.is_text() {
            return Err(Invalid::new(
                "model.kind",
                format!(
                    "a {} model cannot read {} ({})",
                    self.model.kind(),
                    d.dataset.name(),
                    if d.dataset.is_text() {
                        "text: use rnn, lstm or gru"
                    } else {
                        "images: use mlp or cnn"
                    }
                ),
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
