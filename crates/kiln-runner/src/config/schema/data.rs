//! `[data]`: the dataset, named by `dataset`, and the keys that dataset reads, each with its
//! default filled in when the file is read. A key another dataset reads is an unknown key
//! here, refused by serde at its line like any typo.
//!
//! Keys that several datasets read (`source`, `validation_fraction`, `train_limit`...) are
//! written out in each struct rather than shared through `#[serde(flatten)]`: flatten turns
//! off `deny_unknown_fields`' list of expected keys, and with it "did you mean".

use std::path::PathBuf;

use kiln_models::Invalid;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dataset", rename_all = "lowercase")]
pub enum DataConfig {
    /// Handwritten digits (or any IDX image set laid out like MNIST), 10 classes.
    Mnist(MnistSettings),
    /// Zalando's Fashion-MNIST: 70,000 grey 28x28 pictures of clothing, 10 classes.
    #[serde(rename = "fashion_mnist")]
    FashionMnist(MnistSettings),
    /// Movie reviews, negative (0) or positive (1).
    Imdb(ImdbSettings),
    /// A plain UTF-8 text for a language model.
    Corpus(CorpusSettings),
    /// `source<TAB>target` lines for an encoder-decoder.
    Pairs(PairsSettings),
    /// Sequence problems made from the seed, for an encoder-decoder.
    Synthetic(SyntheticSettings),
    /// Your own table (CSV, TSV, Parquet or JSON lines): a target column and features.
    Table(TableSettings),
    /// Your own labelled texts: a table file with a text column and a label column.
    Texts(TextsSettings),
    /// CIFAR-10: 60,000 32x32 colour images of 10 classes.
    Cifar10(CifarSettings),
    /// CIFAR-100: the same size, 100 classes (the fine labels).
    Cifar100(CifarSettings),
    /// Your own images: a folder of class folders (or of train/ and test/ with class
    /// folders in each).
    Images(ImagesSettings),
}

/// Which dataset, without its settings: what tasks declare they learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Imdb,
    Corpus,
    Pairs,
    Synthetic,
    Table,
    Texts,
    Images,
    Cifar10,
    Cifar100,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion_mnist",
            DatasetKind::Imdb => "imdb",
            DatasetKind::Corpus => "corpus",
            DatasetKind::Pairs => "pairs",
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Table => "table",
            DatasetKind::Texts => "texts",
            DatasetKind::Images => "images",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnistSettings {
    /// `full` reads (or downloads) the whole dataset, `sample` the one compiled into kiln.
    #[serde(default)]
    pub source: DataSource,
    /// Share of the training set held out for validation, by a split seeded with `seed`.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Cross-validation: the training set cut into `folds` seeded parts, part `fold` (from
    /// 0) held out for validation instead. `[sweep] folds = k` sets both and runs every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Use only the first N training items (before the split), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Whether missing files may be downloaded into `datasets/`.
    #[serde(default = "yes")]
    pub download: bool,
    /// Whether to check the SHA-256 of the files' decompressed content (downloads are always
    /// checked).
    #[serde(default = "yes")]
    pub verify: bool,
    #[serde(default)]
    pub normalize: NormalizeKind,
    /// Names of the classes, label 0 first (e.g. Fashion-MNIST's "T-shirt", "Trouser"...);
    /// test.json, confusion.csv and `kiln predict` show them. Default: the digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImdbSettings {
    #[serde(default)]
    pub source: DataSource,
    /// Share of the training set held out for validation, by a split seeded with `seed`.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Cross-validation: the training set cut into `folds` seeded parts, part `fold` (from
    /// 0) held out for validation instead. `[sweep] folds = k` sets both and runs every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Use only the first N training reviews (half of each class), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    #[serde(default = "yes")]
    pub download: bool,
    /// Unpack the downloaded archive into `datasets/` once and read the folder from then on,
    /// instead of the archive's gzip stream every run (the archive you supply through
    /// `datasets` is never unpacked).
    #[serde(default)]
    pub extract: bool,
    /// How text becomes tokens: `word` (lower-cased words and punctuation) or `char`; HTML
    /// is removed either way.
    #[serde(default)]
    pub tokenizer: TokenizerKind,
    /// The vocabulary's size, the four special tokens included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Tokens seen fewer times in the training split are `<unk>`.
    #[serde(default = "default_min_freq")]
    pub min_freq: u64,
    /// Reviews are cut to this many tokens.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Which end of a long review is cut: `head` keeps the last `max_len` tokens.
    #[serde(default)]
    pub truncate: TruncateKind,
    /// Batch reviews of similar length together.
    #[serde(default = "yes")]
    pub bucket: bool,
    /// A GloVe-format text file of word vectors that initialises the embedding for the
    /// words it knows (`model.embedding_dim` must match its size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained_embeddings: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusSettings {
    #[serde(default)]
    pub source: DataSource,
    /// The text to read; by default tiny Shakespeare from the datasets folder, or
    /// downloaded. A relative path is read from the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The share of the text, from its end, held out for validation.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Use only the first N characters of the training text, for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    #[serde(default = "yes")]
    pub download: bool,
    #[serde(default = "yes")]
    pub verify: bool,
    /// `char` (the default) or `word`.
    #[serde(default = "char_tokens")]
    pub tokenizer: TokenizerKind,
    /// The vocabulary's size, the four special tokens included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Tokens seen fewer times in the training split are `<unk>`.
    #[serde(default = "default_min_freq")]
    pub min_freq: u64,
    /// Tokens per training window.
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Read the text as `batch_size` contiguous lanes and carry the model's state from one
    /// window to the next (else windows in a shuffled order, each from a fresh state).
    #[serde(default)]
    pub stateful: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsSettings {
    #[serde(default)]
    pub source: DataSource,
    /// The `source<TAB>target` file; by default `parallel/eng-spa.tsv` in the datasets
    /// folder. A relative path is read from the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The share held out for the final test; validation takes `validation_fraction` of
    /// the rest.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Use only the first N training pairs, for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Drop pairs with a side longer than this many characters, or words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_words: Option<usize>,
    /// `word` (the default) or `char`.
    #[serde(default)]
    pub tokenizer: TokenizerKind,
    /// The vocabulary's size, the four special tokens included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Tokens seen fewer times in the training split are `<unk>`.
    #[serde(default = "default_min_freq")]
    pub min_freq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSettings {
    /// Which problem, with its own settings: `[data.problem]` with `kind = "addition"`,
    /// `"reversal"` or `"sorting"`.
    pub problem: Problem,
    /// How many distinct problems, split into train, validation and test.
    #[serde(default = "default_count")]
    pub count: usize,
    /// The share held out for the final test; validation takes `validation_fraction` of
    /// the rest.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSettings {
    /// The training file (.csv, .tsv, .parquet or .jsonl). A relative path is read from the
    /// working directory.
    pub path: PathBuf,
    /// A test file with the same columns; without one, `test_fraction` of `path`'s rows
    /// are held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// A validation file with the same columns; without one, `validation_fraction` of the
    /// training rows are held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PathBuf>,
    /// The column to predict: a class for classification, one or more numeric columns
    /// (a list) for regression.
    #[serde(deserialize_with = "one_or_many")]
    pub target: Vec<String>,
    /// The feature columns; by default every column but the target and `ignore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Columns read as categories whatever their type (e.g. numeric codes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
    /// Columns read as numbers whatever their type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numeric: Vec<String>,
    /// Columns that are not features (identifiers, leaks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Integer columns with at most this many distinct values are categories, not numbers;
    /// text and true/false columns always are.
    #[serde(default = "default_max_levels")]
    pub max_levels: usize,
    #[serde(default = "default_table_test_fraction")]
    pub test_fraction: f64,
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Hold out the same share of every class (classification only).
    #[serde(default = "yes")]
    pub stratify: bool,
    /// `utf-8` or `latin-1`, for CSV, TSV and JSON lines.
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Use only the first N training rows (after the splits), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextsSettings {
    /// The training file (.csv, .tsv, .parquet or .jsonl) with a text and a label column. A
    /// relative path is read from the working directory.
    pub path: PathBuf,
    /// A test file with the same columns; without one, `test_fraction` of `path`'s rows
    /// are held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// A validation file; without one, `validation_fraction` of the training rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PathBuf>,
    /// The column holding the texts.
    #[serde(default = "default_text_column")]
    pub text: String,
    /// The column holding each text's class name.
    #[serde(default = "default_label_column")]
    pub label: String,
    #[serde(default)]
    pub encoding: TextEncoding,
    #[serde(default = "default_table_test_fraction")]
    pub test_fraction: f64,
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Hold out the same share of every class.
    #[serde(default = "yes")]
    pub stratify: bool,
    /// Use only the first N training texts (after the splits), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// How text becomes tokens: `word` (lower-cased words and punctuation) or `char`; HTML
    /// is removed either way.
    #[serde(default)]
    pub tokenizer: TokenizerKind,
    /// The vocabulary's size, the four special tokens included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Tokens seen fewer times in the training split are `<unk>`.
    #[serde(default = "default_min_freq")]
    pub min_freq: u64,
    /// Texts are cut to this many tokens.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Which end of a long text is cut: `head` keeps the last `max_len` tokens.
    #[serde(default)]
    pub truncate: TruncateKind,
    /// Batch texts of similar length together.
    #[serde(default = "yes")]
    pub bucket: bool,
    /// A GloVe-format text file of word vectors for the embedding's initial rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained_embeddings: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesSettings {
    /// The folder: `<class>/<images>`, or `train/<class>/...` and `test/<class>/...` (and
    /// optionally `validation/`). Class names are the folder names. A relative path is
    /// read from the working directory.
    pub path: PathBuf,
    /// 1 (grey) or 3 (RGB). Transparent pixels are laid on white.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// `[height, width]` every image is brought to.
    #[serde(default = "default_image_size")]
    pub size: [usize; 2],
    /// How an image of another shape gets there: `resize` (stretch), `crop` (cover, then
    /// cut the centre) or `pad` (fit inside, fill the rest with 0).
    #[serde(default)]
    pub fit: FitKind,
    /// Without a test/ folder, this share of the images (of each class) is held out for
    /// the test.
    #[serde(default = "default_table_test_fraction")]
    pub test_fraction: f64,
    /// Without a validation/ folder, this share of the training images.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Hold out the same share of every class.
    #[serde(default = "yes")]
    pub stratify: bool,
    /// Skip files that do not decode (counted in the log and the manifest) instead of
    /// refusing the folder.
    #[serde(default)]
    pub skip_unreadable: bool,
    #[serde(default)]
    pub normalize: NormalizeKind,
    /// Keep the decoded images in `datasets/.cache/`, so the next run of the same folder
    /// and settings skips the decoding.
    #[serde(default = "yes")]
    pub cache: bool,
    /// Use only the first N training images (after the splits), for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Random changes to the training images, drawn from the seed, the epoch and the image.
    #[serde(default)]
    pub augment: AugmentSettings,
    /// For a regression: a table (.csv, .tsv, .parquet or .jsonl) with a row per image, its
    /// file (relative to `path`) in `file_column` and its values in the `target` columns.
    /// The images are then the files it lists, wherever they lie under `path`, and files
    /// under `path/train/`, `path/validation/` and `path/test/` keep to those splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<PathBuf>,
    /// The column of `targets` naming each image's file (default `file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_column: Option<String>,
    /// The column or columns of `targets` to predict.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub target: Vec<String>,
}

impl ImagesSettings {
    pub fn file_column(&self) -> &str {
        self.file_column.as_deref().unwrap_or("file")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifarSettings {
    /// Share of the 50,000 training images held out for validation, seeded.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Use only the first N training images, for quick runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Whether the archive may be downloaded into `datasets/` (its published MD5 checked).
    #[serde(default = "yes")]
    pub download: bool,
    /// Per channel, from the training split; or `scale` (x / 255).
    #[serde(default)]
    pub normalize: NormalizeKind,
    #[serde(default)]
    pub augment: AugmentSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentSettings {
    /// Mirror left to right half of the time.
    #[serde(default)]
    pub flip: bool,
    /// Pad each side by this many pixels and crop the original size at a random place: a
    /// shift of up to this many pixels each way.
    #[serde(default)]
    pub crop_padding: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FitKind {
    #[default]
    Resize,
    Crop,
    Pad,
}

/// How a text file's bytes are characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
}

impl From<FitKind> for kiln_data::images::Fit {
    fn from(f: FitKind) -> Self {
        match f {
            FitKind::Resize => kiln_data::images::Fit::Resize,
            FitKind::Crop => kiln_data::images::Fit::Crop,
            FitKind::Pad => kiln_data::images::Fit::Pad,
        }
    }
}

impl From<AugmentSettings> for kiln_data::Augment {
    fn from(a: AugmentSettings) -> Self {
        kiln_data::Augment {
            flip: a.flip,
            crop_padding: a.crop_padding,
        }
    }
}

impl From<TextEncoding> for kiln_data::table::Encoding {
    fn from(e: TextEncoding) -> Self {
        match e {
            TextEncoding::Utf8 => kiln_data::table::Encoding::Utf8,
            TextEncoding::Latin1 => kiln_data::table::Encoding::Latin1,
        }
    }
}

/// A column name or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Problem {
    /// `a+b` -> the sum.
    Addition(AdditionProblem),
    /// A string -> the same string backwards.
    Reversal(Strings),
    /// A string -> its symbols in order.
    Sorting(Strings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdditionProblem {
    /// The operands' largest number of digits.
    #[serde(default = "default_digits")]
    pub digits: usize,
    /// Write the question backwards.
    #[serde(default)]
    pub reverse: bool,
}

/// Strings of `min_length..=max_length` symbols from the first `alphabet` letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    #[serde(default = "default_min_length")]
    pub min_length: usize,
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    #[serde(default = "default_alphabet")]
    pub alphabet: usize,
}

/// How a text classifier's texts became token sequences: what prediction and export repeat
/// on new text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextShape {
    pub tokenizer: TokenizerKind,
    pub max_len: usize,
    pub truncate: TruncateKind,
    pub bucket: bool,
}

/// How a labelled training set gives up its validation items: a seeded share, or one fold
/// of a seeded k-fold cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub validation_fraction: f64,
    pub folds: Option<usize>,
    pub fold: Option<usize>,
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
    /// Scaled, then standardised with the training split's mean and std.
    #[default]
    Standardize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Lower-cased words and punctuation.
    #[default]
    Word,
    /// Characters, case kept.
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
    /// How a generative dataset's text becomes tokens: the dataset's `tokenizer` (words for
    /// sentence pairs and characters for a corpus by default); characters for a synthetic
    /// problem.
    pub fn generative_tokenizer(&self) -> Box<dyn kiln_data::text::Tokenizer> {
        let kind = match self {
            DataConfig::Corpus(d) => d.tokenizer,
            DataConfig::Pairs(d) => d.tokenizer,
            _ => TokenizerKind::Char,
        };
        match kind {
            TokenizerKind::Word => Box::new(kiln_data::text::WordTokenizer),
            TokenizerKind::Char => Box::new(kiln_data::text::CharTokenizer {
                lowercase: false,
                strip_html: false,
            }),
        }
    }

    pub fn kind(&self) -> DatasetKind {
        match self {
            DataConfig::Mnist(_) => DatasetKind::Mnist,
            DataConfig::FashionMnist(_) => DatasetKind::FashionMnist,
            DataConfig::Imdb(_) => DatasetKind::Imdb,
            DataConfig::Corpus(_) => DatasetKind::Corpus,
            DataConfig::Pairs(_) => DatasetKind::Pairs,
            DataConfig::Synthetic(_) => DatasetKind::Synthetic,
            DataConfig::Table(_) => DatasetKind::Table,
            DataConfig::Texts(_) => DatasetKind::Texts,
            DataConfig::Images(_) => DatasetKind::Images,
            DataConfig::Cifar10(_) => DatasetKind::Cifar10,
            DataConfig::Cifar100(_) => DatasetKind::Cifar100,
        }
    }

    pub fn validation_fraction(&self) -> f64 {
        match self {
            DataConfig::Mnist(d) | DataConfig::FashionMnist(d) => d.validation_fraction,
            DataConfig::Imdb(d) => d.validation_fraction,
            DataConfig::Corpus(d) => d.validation_fraction,
            DataConfig::Pairs(d) => d.validation_fraction,
            DataConfig::Synthetic(d) => d.validation_fraction,
            DataConfig::Table(d) => d.validation_fraction,
            DataConfig::Texts(d) => d.validation_fraction,
            DataConfig::Images(d) => d.validation_fraction,
            DataConfig::Cifar10(d) | DataConfig::Cifar100(d) => d.validation_fraction,
        }
    }

    /// Use only the first N training items (characters of a corpus).
    pub fn train_limit(&self) -> Option<usize> {
        match self {
            DataConfig::Mnist(d) | DataConfig::FashionMnist(d) => d.train_limit,
            DataConfig::Imdb(d) => d.train_limit,
            DataConfig::Corpus(d) => d.train_limit,
            DataConfig::Pairs(d) => d.train_limit,
            DataConfig::Synthetic(d) => d.train_limit,
            DataConfig::Table(d) => d.train_limit,
            DataConfig::Texts(d) => d.train_limit,
            DataConfig::Images(d) => d.train_limit,
            DataConfig::Cifar10(d) | DataConfig::Cifar100(d) => d.train_limit,
        }
    }

    /// The share held out for the final test, for the sets made whole (pairs, synthetic
    /// problems); the others come with their own test split.
    pub fn test_fraction(&self) -> Option<f64> {
        match self {
            DataConfig::Pairs(d) => Some(d.test_fraction),
            DataConfig::Synthetic(d) => Some(d.test_fraction),
            DataConfig::Table(d) => Some(d.test_fraction),
            DataConfig::Texts(d) => Some(d.test_fraction),
            DataConfig::Images(d) => Some(d.test_fraction),
            _ => None,
        }
    }

    /// `vocab_size` and `min_freq`, for the datasets whose vocabulary they shape.
    pub fn vocabulary(&self) -> Option<(usize, u64)> {
        match self {
            DataConfig::Imdb(d) => Some((d.vocab_size, d.min_freq)),
            DataConfig::Corpus(d) => Some((d.vocab_size, d.min_freq)),
            DataConfig::Pairs(d) => Some((d.vocab_size, d.min_freq)),
            DataConfig::Texts(d) => Some((d.vocab_size, d.min_freq)),
            _ => None,
        }
    }

    /// How a table run's files are decoded (UTF-8 for any other dataset).
    pub fn table_encoding(&self) -> kiln_data::table::Encoding {
        match self {
            DataConfig::Table(d) => d.encoding.into(),
            DataConfig::Texts(d) => d.encoding.into(),
            _ => kiln_data::table::Encoding::Utf8,
        }
    }

    /// Tokenisation and length of a labelled text dataset.
    pub fn text_shape(&self) -> Option<TextShape> {
        match self {
            DataConfig::Imdb(d) => Some(TextShape {
                tokenizer: d.tokenizer,
                max_len: d.max_len,
                truncate: d.truncate,
                bucket: d.bucket,
            }),
            DataConfig::Texts(d) => Some(TextShape {
                tokenizer: d.tokenizer,
                max_len: d.max_len,
                truncate: d.truncate,
                bucket: d.bucket,
            }),
            _ => None,
        }
    }

    /// How a labelled training set is split, for the datasets that have one.
    pub fn split(&self) -> Option<Split> {
        match self {
            DataConfig::Mnist(d) | DataConfig::FashionMnist(d) => Some(d.split()),
            DataConfig::Imdb(d) => Some(d.split()),
            _ => None,
        }
    }

    /// Range checks the types cannot express, by key below `data`.
    pub fn validate(&self) -> Result<(), Invalid> {
        let fraction = |key: &str, value: f64| {
            if (0.0..1.0).contains(&value) {
                Ok(())
            } else {
                Err(Invalid::new(key, format!("must be in [0, 1), got {value}")))
            }
        };
        fraction("validation_fraction", self.validation_fraction())?;
        if let Some(split) = self.split() {
            split.validate()?;
        }
        if self.vocabulary().is_some_and(|(size, _)| size < 5) {
            return Err(Invalid::new(
                "vocab_size",
                "must be at least 5: the four special tokens and one word",
            ));
        }
        if let Some(test) = self.test_fraction() {
            fraction("test_fraction", test)?;
        }
        let mut at_least_one = vec![("train_limit", self.train_limit())];
        match self {
            DataConfig::Mnist(d) => d.validate_classes()?,
            DataConfig::FashionMnist(d) => {
                d.validate_classes()?;
                if d.source == DataSource::Sample {
                    return Err(Invalid::new(
                        "source",
                        "kiln has no sample of Fashion-MNIST compiled in: use source = \"full\"",
                    ));
                }
            }
            DataConfig::Imdb(d) => at_least_one.push(("max_len", Some(d.max_len))),
            DataConfig::Texts(d) => {
                at_least_one.push(("max_len", Some(d.max_len)));
                if d.text == d.label {
                    return Err(Invalid::new(
                        "label",
                        format!("`{}` is the text column too; name two columns", d.label),
                    ));
                }
            }
            DataConfig::Images(d) => {
                at_least_one.extend([("size[0]", Some(d.size[0])), ("size[1]", Some(d.size[1]))]);
                d.validate()?;
            }
            DataConfig::Cifar10(d) | DataConfig::Cifar100(d) => {
                if d.augment.crop_padding >= 32 {
                    return Err(Invalid::new(
                        "augment.crop_padding",
                        "must be below 32, the images' size",
                    ));
                }
            }
            DataConfig::Table(d) => {
                if d.target.is_empty() {
                    return Err(Invalid::new("target", "name at least one column"));
                }
                if let Some(c) = d.categorical.iter().find(|c| d.numeric.contains(c)) {
                    return Err(Invalid::new(
                        "numeric",
                        format!("`{c}` is listed in data.categorical too"),
                    ));
                }
            }
            DataConfig::Corpus(d) => at_least_one.push(("seq_len", Some(d.seq_len))),
            DataConfig::Pairs(d) => {
                at_least_one.extend([("max_chars", d.max_chars), ("max_words", d.max_words)])
            }
            DataConfig::Synthetic(d) => {
                at_least_one.push(("count", Some(d.count)));
                match &d.problem {
                    Problem::Addition(a) => at_least_one.push(("problem.digits", Some(a.digits))),
                    Problem::Reversal(s) | Problem::Sorting(s) => at_least_one.extend([
                        ("problem.min_length", Some(s.min_length)),
                        ("problem.max_length", Some(s.max_length)),
                        ("problem.alphabet", Some(s.alphabet)),
                    ]),
                }
            }
        }
        match at_least_one.into_iter().find(|(_, v)| *v == Some(0)) {
            Some((key, _)) => Err(Invalid::new(key, "must be at least 1")),
            None => Ok(()),
        }
    }
}

impl ImagesSettings {
    /// Channels, the columns a regression on images names, and the augmentation's room.
    fn validate(&self) -> Result<(), Invalid> {
        if ![1, 3].contains(&self.channels) {
            return Err(Invalid::new(
                "channels",
                format!("must be 1 (grey) or 3 (RGB), got {}", self.channels),
            ));
        }
        match (&self.targets, self.target.is_empty()) {
            (Some(_), true) => {
                return Err(Invalid::new(
                    "target",
                    "name the column (or columns) of data.targets to predict",
                ));
            }
            (None, false) => {
                return Err(Invalid::new(
                    "targets",
                    "data.target names columns of a table of values; give that table \
                     as data.targets (a class folder needs neither)",
                ));
            }
            _ => {}
        }
        if let Some(c) = self.target.iter().find(|c| *c == self.file_column()) {
            return Err(Invalid::new(
                "target",
                format!("`{c}` is the file column; name the value columns"),
            ));
        }
        if self.augment.crop_padding >= self.size[0].min(self.size[1]) {
            return Err(Invalid::new(
                "augment.crop_padding",
                format!(
                    "{} pixels would shift the image out of its {}x{} frame",
                    self.augment.crop_padding, self.size[0], self.size[1]
                ),
            ));
        }
        Ok(())
    }
}

impl MnistSettings {
    /// Class names, when given, are distinct, non-empty and free of commas and line breaks
    /// (they become CSV and chart labels).
    fn validate_classes(&self) -> Result<(), Invalid> {
        let Some(names) = &self.classes else {
            return Ok(());
        };
        let mut seen = std::collections::HashSet::new();
        if let Some(bad) = names
            .iter()
            .find(|n| n.trim().is_empty() || n.contains([',', '\n']) || !seen.insert(*n))
        {
            return Err(Invalid::new(
                "classes",
                format!(
                    "`{bad}`: each class needs a name of its own, without commas or line breaks"
                ),
            ));
        }
        Ok(())
    }

    pub fn split(&self) -> Split {
        Split {
            validation_fraction: self.validation_fraction,
            folds: self.folds,
            fold: self.fold,
        }
    }
}

impl ImdbSettings {
    pub fn split(&self) -> Split {
        Split {
            validation_fraction: self.validation_fraction,
            folds: self.folds,
            fold: self.fold,
        }
    }
}

impl Split {
    /// The training and validation indices of `n` training items, both seeded.
    pub fn indices(&self, n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
        match (self.folds, self.fold) {
            (Some(k), Some(f)) => kiln_data::k_fold_split(n, k, f, seed),
            _ => kiln_data::train_validation_split(n, self.validation_fraction, seed),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        match (self.folds, self.fold) {
            (None, None) => Ok(()),
            (Some(k), _) if k < 2 => Err(Invalid::new(
                "folds",
                format!("must be at least 2, got {k}"),
            )),
            (Some(k), Some(f)) if f >= k => Err(Invalid::new(
                "fold",
                format!("must be below data.folds = {k} (folds count from 0), got {f}"),
            )),
            (Some(_), Some(_)) => Ok(()),
            (None, Some(_)) => Err(Invalid::new(
                "fold",
                "needs data.folds, the number of folds",
            )),
            (Some(_), None) => Err(Invalid::new(
                "folds",
                "needs data.fold, the fold to validate on (or `[sweep] folds = k` to run them all)",
            )),
        }
    }
}

fn yes() -> bool {
    true
}
fn char_tokens() -> TokenizerKind {
    TokenizerKind::Char
}
fn default_validation_fraction() -> f64 {
    0.1
}
fn default_test_fraction() -> f64 {
    0.1
}
fn default_table_test_fraction() -> f64 {
    0.2
}
fn default_channels() -> usize {
    3
}
fn default_image_size() -> [usize; 2] {
    [32, 32]
}
fn default_max_levels() -> usize {
    10
}
fn default_text_column() -> String {
    "text".into()
}
fn default_label_column() -> String {
    "label".into()
}
fn default_vocab_size() -> usize {
    20_000
}
fn default_min_freq() -> u64 {
    1
}
fn default_max_len() -> usize {
    200
}
fn default_seq_len() -> usize {
    100
}
fn default_count() -> usize {
    50_000
}
fn default_digits() -> usize {
    3
}
fn default_min_length() -> usize {
    3
}
fn default_max_length() -> usize {
    10
}
fn default_alphabet() -> usize {
    10
}
