//! The experiment file's schema: what each key means, its default, and the checks of ranges
//! and combinations that the types cannot express. Which model learns from which dataset,
//! and which metrics it reports, is the tasks' business (`crate::tasks`).

use std::path::PathBuf;

use kiln_models::{Invalid, ModelConfig};
use kiln_train::TrainConfig;
use serde::{Deserialize, Serialize};

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
    /// Generative models: what is sampled or decoded during and after training.
    #[serde(default)]
    pub generation: GenerationConfig,
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
    /// k-fold cross-validation: the training set cut into `folds` parts by a split seeded with
    /// `seed`, part `fold` (0-based) held out for validation instead of
    /// `validation_fraction`. Usually set by `[sweep] folds = k`, which runs every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
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
    /// corpus, pairs: the file to read. By default tiny Shakespeare for a corpus (from the
    /// datasets folder, or downloaded) and `parallel/eng-spa.tsv` in the datasets folder for
    /// pairs; a relative path is read from the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// corpus: tokens per training window (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    /// corpus: read the text as `batch_size` contiguous lanes and carry the model's state
    /// from one window to the next (default false: windows in a shuffled order, each from a
    /// fresh state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
    /// synthetic: which task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<SyntheticTask>,
    /// synthetic: how many distinct problems, split into train, validation and test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// synthetic addition: the operands' largest number of digits (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<usize>,
    /// synthetic addition: write the question backwards (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
    /// synthetic reversal and sorting: strings of `min_length..=max_length` symbols (default
    /// 3 to 10) from the first `alphabet` letters (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabet: Option<usize>,
    /// pairs: drop pairs with a side longer than this many characters, or words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_words: Option<usize>,
    /// pairs, synthetic: the share held out for the final test (default 0.1); validation
    /// takes `validation_fraction` of the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyntheticTask {
    Addition,
    Reversal,
    Sorting,
}

/// What a generative model writes: samples of a language model after every epoch, decoded
/// outputs of an encoder-decoder for scoring and as examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationConfig {
    /// Language models: the text each sample starts from.
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// Language models: tokens drawn per sample.
    #[serde(default = "default_length")]
    pub length: usize,
    /// Language models: one sample per temperature after every epoch.
    #[serde(default = "default_temperatures")]
    pub temperatures: Vec<f32>,
    /// Language models: draw only among the k likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Encoder-decoders: 1 decodes greedily (a batch at once); wider beams pair by pair.
    #[serde(default = "default_beam")]
    pub beam_width: usize,
    /// Encoder-decoders: beam scores are log-probability / length^this.
    #[serde(default = "default_length_penalty")]
    pub length_penalty: f64,
    /// Encoder-decoders: output tokens at most (default: the longest target in the data + 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Encoder-decoders: validation pairs written with their outputs after every epoch.
    #[serde(default = "default_examples")]
    pub examples: usize,
    /// GANs: a finished image-classifier run (mlp or cnn) whose penultimate features score
    /// the samples by their Fréchet distance to real images (`fid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<PathBuf>,
    /// GANs: how many generated and real images each FID compares (default 2000, at most
    /// the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid_samples: Option<usize>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            prompt: default_prompt(),
            length: default_length(),
            temperatures: default_temperatures(),
            top_k: None,
            beam_width: default_beam(),
            length_penalty: default_length_penalty(),
            max_len: None,
            examples: default_examples(),
            classifier: None,
            fid_samples: None,
        }
    }
}

fn default_prompt() -> String {
    "\n".into()
}
fn default_length() -> usize {
    300
}
fn default_temperatures() -> Vec<f32> {
    vec![0.2, 0.5, 1.0, 1.2]
}
fn default_beam() -> usize {
    1
}
fn default_length_penalty() -> f64 {
    1.0
}
fn default_examples() -> usize {
    10
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
    /// The training and validation indices of `n` training items: fold `fold` of `folds`
    /// when cross-validating, else a `validation_fraction` split; both seeded.
    pub fn split(&self, n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
        match (self.folds, self.fold) {
            (Some(k), Some(f)) => kiln_data::k_fold_split(n, k, f, seed),
            _ => kiln_data::train_validation_split(n, self.validation_fraction, seed),
        }
    }

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

    /// The dataset-specific keys that are set, by name.
    fn own_keys_set(&self) -> Vec<&'static str> {
        let set = [
            ("path", self.path.is_some()),
            ("seq_len", self.seq_len.is_some()),
            ("stateful", self.stateful.is_some()),
            ("task", self.task.is_some()),
            ("count", self.count.is_some()),
            ("digits", self.digits.is_some()),
            ("reverse", self.reverse.is_some()),
            ("min_length", self.min_length.is_some()),
            ("max_length", self.max_length.is_some()),
            ("alphabet", self.alphabet.is_some()),
            ("max_chars", self.max_chars.is_some()),
            ("max_words", self.max_words.is_some()),
            ("test_fraction", self.test_fraction.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len.unwrap_or(100)
    }

    pub fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(0.1)
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
    /// A plain UTF-8 text for a language model.
    Corpus,
    /// `source<TAB>target` lines for an encoder-decoder.
    Pairs,
    /// Sequence tasks made from the seed, for an encoder-decoder.
    Synthetic,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Imdb => "imdb",
            DatasetKind::Corpus => "corpus",
            DatasetKind::Pairs => "pairs",
            DatasetKind::Synthetic => "synthetic",
        }
    }

    pub fn is_text(self) -> bool {
        !matches!(self, DatasetKind::Mnist)
    }

    /// The dataset-specific keys this dataset reads.
    fn own_keys(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist | DatasetKind::Imdb => &[],
            DatasetKind::Corpus => &["path", "seq_len", "stateful"],
            DatasetKind::Pairs => &["path", "max_chars", "max_words", "test_fraction"],
            DatasetKind::Synthetic => &[
                "task",
                "count",
                "digits",
                "reverse",
                "min_length",
                "max_length",
                "alphabet",
                "test_fraction",
            ],
        }
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
        match (d.folds, d.fold) {
            (None, None) => {}
            (Some(k), _) if k < 2 => {
                return Err(Invalid::new(
                    "data.folds",
                    format!("must be at least 2, got {k}"),
                ));
            }
            (Some(k), Some(f)) if f >= k => {
                return Err(Invalid::new(
                    "data.fold",
                    format!("must be below data.folds = {k} (folds count from 0), got {f}"),
                ));
            }
            (Some(_), Some(_)) if !matches!(d.dataset, DatasetKind::Mnist | DatasetKind::Imdb) => {
                return Err(Invalid::new(
                    "data.folds",
                    format!(
                        "does not apply to the {} dataset (cross-validation splits mnist and imdb)",
                        d.dataset.name()
                    ),
                ));
            }
            (Some(_), Some(_)) => {}
            (None, Some(_)) => {
                return Err(Invalid::new(
                    "data.fold",
                    "needs data.folds, the number of folds",
                ));
            }
            (Some(_), None) => {
                return Err(Invalid::new(
                    "data.folds",
                    "needs data.fold, the fold to validate on (or `[sweep] folds = k` to run them all)",
                ));
            }
        }
        if d.train_limit == Some(0) {
            return Err(Invalid::new(
                "data.train_limit",
                "must be at least 1 (or left out)",
            ));
        }
        // The generative datasets read tokenizer, vocab_size and min_freq of the text keys.
        let reads = |key: &str| match d.dataset {
            DatasetKind::Mnist => false,
            DatasetKind::Imdb => true,
            DatasetKind::Corpus | DatasetKind::Pairs => {
                matches!(key, "tokenizer" | "vocab_size" | "min_freq")
            }
            DatasetKind::Synthetic => false,
        };
        if let Some(key) = d.text_keys_set().into_iter().find(|k| !reads(k)) {
            return Err(Invalid::new(
                format!("data.{key}"),
                format!("does not apply to the {} dataset", d.dataset.name()),
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
        if let Some(key) = d
            .own_keys_set()
            .into_iter()
            .find(|k| !d.dataset.own_keys().contains(k))
        {
            return Err(Invalid::new(
                format!("data.{key}"),
                format!("does not apply to the {} dataset", d.dataset.name()),
            ));
        }
        if d.dataset == DatasetKind::Synthetic && d.task.is_none() {
            return Err(Invalid::new(
                "data.task",
                "the synthetic dataset needs a task: addition, reversal or sorting",
            ));
        }
        for (key, value) in [
            ("data.seq_len", d.seq_len),
            ("data.count", d.count),
            ("data.digits", d.digits),
            ("data.min_length", d.min_length),
            ("data.max_length", d.max_length),
            ("data.alphabet", d.alphabet),
            ("data.max_chars", d.max_chars),
            ("data.max_words", d.max_words),
            ("generation.length", Some(self.generation.length)),
            ("generation.beam_width", Some(self.generation.beam_width)),
            ("generation.max_len", self.generation.max_len),
            ("generation.fid_samples", self.generation.fid_samples),
        ] {
            if value == Some(0) {
                return Err(Invalid::new(key, "must be at least 1"));
            }
        }
        if let Some(f) = d.test_fraction
            && !(0.0..1.0).contains(&f)
        {
            return Err(Invalid::new(
                "data.test_fraction",
                format!("must be in [0, 1), got {f}"),
            ));
        }
        if let Some(t) = self
            .generation
            .temperatures
            .iter()
            .find(|t| !(t.is_finite() && **t > 0.0))
        {
            return Err(Invalid::new(
                "generation.temperatures",
                format!("must be positive numbers, got {t}"),
            ));
        }
        if !self.model.is_generative() && self.generation != GenerationConfig::default() {
            return Err(Invalid::new(
                "generation",
                format!(
                    "only applies to generative models (language_model, seq2seq, gan), not {}",
                    self.model.kind()
                ),
            ));
        }
        if self.generation.top_k == Some(0) {
            return Err(Invalid::new("generation.top_k", "must be at least 1"));
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
        if self.train.monitor.needs_validation()
            && d.validation_fraction == 0.0
            && d.folds.is_none()
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
