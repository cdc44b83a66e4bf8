//! From an experiment's `[data]` table to batch sources: loading, splitting, normalising
//! images or tokenising text and learning a vocabulary. Everything here happens before the
//! run folder exists, so bad data leaves no run behind.

pub mod own_files;

use std::time::Instant;

use anyhow::Context;
use kiln_data::mnist::IdxSet;
use kiln_data::split::shuffled;
use kiln_data::table::TableBatcher;
use kiln_data::text::{
    CharTokenizer, Pretrained, SequenceBatcher, Tokenizer, Truncate, Vocabulary, WordTokenizer,
    load_glove,
};
use kiln_data::{Augment, ImageBatcher, Mnist, Normalization, Pair};
use kiln_models::InputShape;
use kiln_train::{Batches, Valued};

use crate::config::schema::{
    CorpusSettings, DataConfig, Experiment, ImdbSettings, MnistSettings, NormalizeKind, Problem,
    TokenizerKind, TruncateKind,
};
use crate::platform::progress::DownloadBar;
use crate::tasks::datasets;
pub use own_files::TableData;

pub struct ImageData {
    pub mnist: Mnist,
    pub normalization: Normalization,
    /// One name per class, label 0 first.
    pub classes: Vec<String>,
    /// What changes the training images.
    pub augment: Augment,
    /// Files left out because they did not decode.
    pub skipped: usize,
    /// A regression's values, when the images were listed in a table of them.
    pub values: Option<ImageValues>,
}

/// The values of images listed in a table, for a regression.
pub struct ImageValues {
    /// The target columns with the training split's mean and standard deviation.
    pub target: kiln_data::table::Target,
    /// `images x targets` as the table has them: the training pool's (train and validation,
    /// indexed as `ImageData::mnist.train`) and the test split's.
    pub pool: Vec<f64>,
    pub test: Vec<f64>,
    /// Each test image's file as the table names it, for the outputs.
    pub test_files: Vec<String>,
}

impl ImageValues {
    pub fn columns(&self) -> &[String] {
        match &self.target {
            kiln_data::table::Target::Values { columns, .. } => columns,
            kiln_data::table::Target::Classes { .. } => &[],
        }
    }
}

pub struct TextData {
    pub vocab: Vocabulary,
    pub tokenizer: Box<dyn Tokenizer>,
    pub(crate) train: Vec<Vec<u32>>,
    pub(crate) train_labels: Vec<u8>,
    pub(crate) test: Vec<Vec<u32>>,
    pub(crate) test_labels: Vec<u8>,
    pub pretrained: Option<Pretrained>,
    pub(crate) max_len: usize,
    pub(crate) truncate: Truncate,
    pub(crate) bucket: bool,
    /// One name per class, label 0 first.
    pub classes: Vec<String>,
}

/// A corpus as token ids, split contiguously.
pub struct CorpusData {
    pub vocab: Vocabulary,
    pub tokenizer: Box<dyn Tokenizer>,
    pub train: Vec<u32>,
    pub validation: Vec<u32>,
    /// Tokens per training window, and whether windows carry the state (`[data]`).
    pub seq_len: usize,
    pub stateful: bool,
}

/// Source/target pairs as token ids, each side with its own vocabulary learnt from the
/// training pairs.
pub struct PairData {
    pub source_vocab: Vocabulary,
    pub target_vocab: Vocabulary,
    pub tokenizer: Box<dyn Tokenizer>,
    pub sources: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
    pub train_idx: Vec<usize>,
    pub val_idx: Vec<usize>,
    pub test_idx: Vec<usize>,
    /// Tokens in the longest target, for the decoding limit.
    pub longest_target: usize,
}

/// A classifier's data: images, labelled token sequences or table rows.
pub enum Data {
    Images(ImageData),
    Text(TextData),
    Table(TableData),
}

/// A dataset ready to batch, with its split.
pub struct Prepared {
    pub data: Data,
    pub train_idx: Vec<usize>,
    pub val_idx: Vec<usize>,
    /// Where the data came from, for the manifest.
    pub source: String,
    pub test_len: usize,
}

impl Prepared {
    pub fn load(exp: &Experiment) -> anyhow::Result<Self> {
        match &exp.data {
            DataConfig::Mnist(d) => Self::load_idx(exp, d, &kiln_data::mnist::MNIST),
            DataConfig::FashionMnist(d) => Self::load_idx(exp, d, &kiln_data::mnist::FASHION_MNIST),
            DataConfig::Imdb(d) => Self::load_imdb(exp, d),
            DataConfig::Texts(d) => own_files::load_texts(exp, d),
            DataConfig::Images(d) => {
                own_files::load_images(exp, d, kiln_data::table::TargetKind::Classes)
            }
            DataConfig::Cifar10(d) => Self::load_cifar(exp, d, kiln_data::cifar::Cifar::Ten),
            DataConfig::Cifar100(d) => Self::load_cifar(exp, d, kiln_data::cifar::Cifar::Hundred),
            DataConfig::Table(d) => {
                own_files::load_table(exp, d, kiln_data::table::TargetKind::Classes)
            }
            other => anyhow::bail!(
                "the {} dataset is not labelled for a classifier",
                other.kind().name()
            ),
        }
    }

    fn load_cifar(
        exp: &Experiment,
        d: &crate::config::schema::CifarSettings,
        which: kiln_data::cifar::Cifar,
    ) -> anyhow::Result<Self> {
        let (data, source) =
            datasets::load_cifar(which, d, exp.datasets.as_deref(), &DownloadBar::default())?;
        let mnist = data.images;
        let (train_idx, val_idx) =
            kiln_data::train_validation_split(mnist.train.len(), d.validation_fraction, exp.seed);
        let normalization = match d.normalize {
            NormalizeKind::Scale => Normalization::Scale,
            NormalizeKind::Standardize => Normalization::standardize_from(&mnist.train, &train_idx),
        };
        Ok(Prepared {
            test_len: mnist.test.len(),
            data: Data::Images(ImageData {
                mnist,
                normalization,
                classes: data.classes,
                augment: d.augment.into(),
                skipped: 0,
                values: None,
            }),
            train_idx,
            val_idx,
            source,
        })
    }

    /// Items in the train, validation and test splits.
    pub fn counts(&self) -> [usize; 3] {
        [self.train_idx.len(), self.val_idx.len(), self.test_len]
    }
}

impl CorpusData {
    /// The corpus, tokenised, split and checked to hold one training window; and where it
    /// came from.
    pub fn load(exp: &Experiment, d: &CorpusSettings) -> anyhow::Result<(Self, String)> {
        let (corpus, source) =
            datasets::load_corpus(d, exp.datasets.as_deref(), &DownloadBar::default())?;
        let (train_text, validation_text) = corpus.split(d.validation_fraction);
        let train_text = match d.train_limit {
            Some(limit) => train_text
                .char_indices()
                .nth(limit)
                .map_or(train_text, |(at, _)| &train_text[..at]),
            None => train_text,
        };
        let tokenizer = exp.data.generative_tokenizer();
        let counts = Vocabulary::count(tokenizer.as_ref(), &[train_text]);
        let vocab = Vocabulary::build(&counts, Some(d.vocab_size), d.min_freq);
        let train = vocab.encode(tokenizer.as_ref(), train_text);
        let validation = vocab.encode(tokenizer.as_ref(), validation_text);
        tracing::info!(
            "corpus: {} training and {} validation tokens, a vocabulary of {}",
            train.len(),
            validation.len(),
            vocab.len()
        );
        let seq_len = d.seq_len;
        if train.len() <= seq_len {
            anyhow::bail!(
                "{source}: the training text has {} tokens, fewer than one window of data.seq_len = {seq_len} plus its target",
                train.len()
            );
        }
        Ok((
            CorpusData {
                vocab,
                tokenizer,
                train,
                validation,
                seq_len,
                stateful: d.stateful,
            },
            source,
        ))
    }
}

impl PairData {
    /// Pairs read or made, split into train, validation and test, and tokenised with
    /// vocabularies learnt from the training pairs; and where they came from.
    pub fn load(exp: &Experiment) -> anyhow::Result<(Self, String)> {
        let (pairs, source) = match &exp.data {
            DataConfig::Synthetic(d) => {
                let task = match &d.problem {
                    Problem::Addition(a) => kiln_data::Task::Addition {
                        digits: a.digits,
                        reverse: a.reverse,
                    },
                    Problem::Reversal(s) => kiln_data::Task::Reversal(strings(s)),
                    Problem::Sorting(s) => kiln_data::Task::Sorting(strings(s)),
                };
                let pairs = task.generate(d.count, exp.seed).context("data.problem")?;
                (pairs, format!("synthetic {task:?}"))
            }
            DataConfig::Pairs(d) => {
                let (read, source) = datasets::load_pairs(d, exp.datasets.as_deref())?;
                if read.filtered_out > 0 {
                    tracing::info!(
                        "pairs: {} of {} dropped by the length filter",
                        read.filtered_out,
                        read.filtered_out + read.pairs.len()
                    );
                }
                (read.pairs, source)
            }
            other => anyhow::bail!("the {} dataset has no sentence pairs", other.kind().name()),
        };
        let d = &exp.data;
        if pairs.is_empty() {
            anyhow::bail!(
                "{source}: no pairs left to learn from (check data.max_chars and data.max_words)"
            );
        }
        let order = shuffled(&(0..pairs.len()).collect::<Vec<_>>(), exp.seed ^ 0x7e57);
        let test_n = (pairs.len() as f64 * d.test_fraction().unwrap_or(0.0)).round() as usize;
        let (test_idx, rest) = order.split_at(test_n);
        let val_n = (rest.len() as f64 * d.validation_fraction()).round() as usize;
        let (val_idx, train_idx) = rest.split_at(val_n);
        let mut train_idx = train_idx.to_vec();
        if let Some(limit) = d.train_limit() {
            train_idx.truncate(limit);
        }
        if train_idx.is_empty() {
            anyhow::bail!(
                "{source}: {} pairs leave none for training after the test and validation splits",
                pairs.len()
            );
        }
        let tokenizer = exp.data.generative_tokenizer();
        // Made-up problems keep every symbol they use.
        let (vocab_size, min_freq) = d.vocabulary().unwrap_or((20_000, 1));
        let vocab_of = |side: fn(&Pair) -> &str| {
            let texts: Vec<&str> = train_idx.iter().map(|&i| side(&pairs[i])).collect();
            let counts = Vocabulary::count(tokenizer.as_ref(), &texts);
            Vocabulary::build(&counts, Some(vocab_size), min_freq)
        };
        let source_vocab = vocab_of(|p| p.source.as_str());
        let target_vocab = vocab_of(|p| p.target.as_str());
        let encode = |vocab: &Vocabulary, side: fn(&Pair) -> &str| -> Vec<Vec<u32>> {
            let texts: Vec<&str> = pairs.iter().map(side).collect();
            vocab.encode_all(tokenizer.as_ref(), &texts)
        };
        let sources = encode(&source_vocab, |p| p.source.as_str());
        let targets = encode(&target_vocab, |p| p.target.as_str());
        let longest_target = targets.iter().map(Vec::len).max().unwrap_or(0);
        tracing::info!(
            "pairs: {} train, {} validation, {} test; vocabularies of {} source and {} target tokens",
            train_idx.len(),
            val_idx.len(),
            test_idx.len(),
            source_vocab.len(),
            target_vocab.len()
        );
        Ok((
            PairData {
                source_vocab,
                target_vocab,
                tokenizer,
                sources,
                targets,
                train_idx,
                val_idx: val_idx.to_vec(),
                test_idx: test_idx.to_vec(),
                longest_target,
            },
            source,
        ))
    }
}

impl Prepared {
    /// MNIST or a set laid out like it: class names from the settings, else the set's own
    /// (the digits for any other IDX folder with more labels).
    fn load_idx(exp: &Experiment, d: &MnistSettings, set: &IdxSet) -> anyhow::Result<Self> {
        let root = exp.datasets.as_deref();
        let (mnist, source) = datasets::load_idx_set(d, set, root, &DownloadBar::default())?;
        let (train_idx, val_idx) = d.split().indices(mnist.train.len(), exp.seed);
        let normalization = match d.normalize {
            NormalizeKind::Scale => Normalization::Scale,
            NormalizeKind::Standardize => Normalization::standardize_from(&mnist.train, &train_idx),
        };
        let test_len = mnist.test.len();
        let highest = mnist
            .train
            .labels
            .iter()
            .chain(&mnist.test.labels)
            .copied()
            .max()
            .unwrap_or(0) as usize;
        let classes = match &d.classes {
            Some(names) if names.len() <= highest => anyhow::bail!(
                "`data.classes`: {} names, but {source} has labels up to {highest}; name every class, label 0 first",
                names.len()
            ),
            Some(names) => names.clone(),
            None if highest < set.classes.len() => {
                set.classes.iter().map(|c| c.to_string()).collect()
            }
            None => (0..=highest).map(|c| c.to_string()).collect(),
        };
        Ok(Prepared {
            data: Data::Images(ImageData {
                mnist,
                normalization,
                classes,
                augment: Augment::default(),
                skipped: 0,
                values: None,
            }),
            train_idx,
            val_idx,
            source,
            test_len,
        })
    }

    fn load_imdb(exp: &Experiment, d: &ImdbSettings) -> anyhow::Result<Self> {
        let clock = Instant::now();
        let (reviews, source) =
            datasets::load_imdb(d, exp.datasets.as_deref(), &DownloadBar::default())?;
        let read_s = clock.elapsed().as_secs_f64();
        let tokenizer = review_tokenizer(d.tokenizer);
        let (train_idx, val_idx) = d.split().indices(reviews.train.len(), exp.seed);
        let clock = Instant::now();
        // The vocabulary is learnt from the training split only: validation and test words
        // the model never trained on must be `<unk>` to it.
        let train_texts: Vec<&str> = train_idx
            .iter()
            .map(|&i| reviews.train[i].text.as_str())
            .collect();
        let counts = Vocabulary::count(tokenizer.as_ref(), &train_texts);
        let vocab = Vocabulary::build(&counts, Some(d.vocab_size), d.min_freq);
        let train = vocab.encode_all(tokenizer.as_ref(), &texts(&reviews.train));
        let test = vocab.encode_all(tokenizer.as_ref(), &texts(&reviews.test));
        let tokenize_s = clock.elapsed().as_secs_f64();
        let tokens: usize = train.iter().chain(&test).map(Vec::len).sum();
        tracing::info!(
            "text: read {} reviews in {read_s:.2} s, tokenised them into {tokens} tokens and a vocabulary of {} in {tokenize_s:.2} s",
            reviews.train.len() + reviews.test.len(),
            vocab.len()
        );
        let pretrained = match &d.pretrained_embeddings {
            None => None,
            Some(path) => {
                let p = load_glove(path, &vocab)
                    .with_context(|| "reading data.pretrained_embeddings".to_string())?;
                tracing::info!(
                    "embeddings: {} of {} vocabulary words found in {} ({:.1} %)",
                    p.found(),
                    vocab.len() - kiln_data::text::SPECIALS.len(),
                    path.display(),
                    100.0 * p.coverage()
                );
                Some(p)
            }
        };
        let labels = |split: &[kiln_data::Review]| -> Vec<u8> {
            split.iter().map(|r| r.positive as u8).collect()
        };
        Ok(Prepared {
            test_len: reviews.test.len(),
            data: Data::Text(TextData {
                train_labels: labels(&reviews.train),
                test_labels: labels(&reviews.test),
                train,
                test,
                vocab,
                tokenizer,
                pretrained,
                max_len: d.max_len,
                truncate: truncation(d.truncate),
                bucket: d.bucket,
                classes: vec!["neg".into(), "pos".into()],
            }),
            train_idx,
            val_idx,
            source,
        })
    }

    pub fn input_shape(&self) -> InputShape {
        match &self.data {
            Data::Images(d) => {
                let t = &d.mnist.train;
                InputShape::Image([t.channels, t.rows, t.cols])
            }
            Data::Text(d) => InputShape::Tokens {
                vocab: d.vocab.len(),
            },
            Data::Table(d) => InputShape::Table {
                numeric: d.codec.numeric_width(),
                levels: d.codec.cardinalities(),
            },
        }
    }

    /// The class names, label 0 first (empty for a regression table).
    pub fn class_names(&self) -> Vec<String> {
        match &self.data {
            Data::Images(d) => d.classes.clone(),
            Data::Text(d) => d.classes.clone(),
            Data::Table(d) => d
                .codec
                .class_names()
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
        }
    }

    /// Train, validation and test batch sources; `eval_size` is the evaluation batch the
    /// backend can take (see [`crate::backend::eval_batch_size`]).
    pub fn batches(&self, exp: &Experiment, eval_size: usize) -> [Box<dyn Batches + '_>; 3] {
        let train_size = exp.train.batch_size;
        match &self.data {
            Data::Images(ImageData {
                mnist,
                normalization: n,
                augment,
                values: Some(v),
                ..
            }) => {
                let k = v.columns().len();
                let (pool, test) = (v.target.standardise(&v.pool), v.target.standardise(&v.test));
                let valued = |inner, values: &Vec<f32>| Valued {
                    inner,
                    values: values.clone(),
                    targets: k,
                };
                [
                    Box::new(valued(
                        ImageBatcher::new(&mnist.train, self.train_idx.clone(), train_size, *n)
                            .augment(*augment),
                        &pool,
                    )),
                    Box::new(valued(
                        ImageBatcher::new(&mnist.train, self.val_idx.clone(), eval_size, *n),
                        &pool,
                    )),
                    Box::new(valued(ImageBatcher::all(&mnist.test, eval_size, *n), &test)),
                ]
            }
            Data::Images(d) => {
                let n = d.normalization;
                [
                    Box::new(
                        ImageBatcher::new(&d.mnist.train, self.train_idx.clone(), train_size, n)
                            .augment(d.augment),
                    ),
                    Box::new(ImageBatcher::new(
                        &d.mnist.train,
                        self.val_idx.clone(),
                        eval_size,
                        n,
                    )),
                    Box::new(ImageBatcher::all(&d.mnist.test, eval_size, n)),
                ]
            }
            Data::Text(d) => {
                let (truncate, bucket, max_len) = (d.truncate, d.bucket, d.max_len);
                let make = |seqs, labels, idx, size| {
                    sequences(seqs, labels, idx, size, max_len, truncate, bucket)
                };
                [
                    Box::new(make(
                        &d.train,
                        &d.train_labels,
                        self.train_idx.clone(),
                        train_size,
                    )),
                    Box::new(make(
                        &d.train,
                        &d.train_labels,
                        self.val_idx.clone(),
                        eval_size,
                    )),
                    Box::new(make(
                        &d.test,
                        &d.test_labels,
                        (0..d.test.len()).collect(),
                        eval_size,
                    )),
                ]
            }
            Data::Table(d) => [
                Box::new(TableBatcher::new(
                    &d.rows,
                    self.train_idx.clone(),
                    train_size,
                )),
                Box::new(TableBatcher::new(&d.rows, self.val_idx.clone(), eval_size)),
                Box::new(TableBatcher::new(&d.rows, d.test_idx.clone(), eval_size)),
            ],
        }
    }
}

fn strings(s: &crate::config::schema::Strings) -> kiln_data::Strings {
    kiln_data::Strings {
        min_len: s.min_length,
        max_len: s.max_length,
        alphabet: s.alphabet,
    }
}

fn texts(split: &[kiln_data::Review]) -> Vec<&str> {
    split.iter().map(|r| r.text.as_str()).collect()
}

/// How reviews are cut into tokens: also what `kiln predict` does to new text.
pub fn review_tokenizer(kind: TokenizerKind) -> Box<dyn Tokenizer> {
    match kind {
        TokenizerKind::Word => Box::new(WordTokenizer),
        // Reviews carry `<br />` tags.
        TokenizerKind::Char => Box::new(CharTokenizer {
            lowercase: false,
            strip_html: true,
        }),
    }
}

pub fn truncation(kind: TruncateKind) -> Truncate {
    match kind {
        TruncateKind::Head => Truncate::Head,
        TruncateKind::Tail => Truncate::Tail,
    }
}

fn sequences<'a>(
    seqs: &'a [Vec<u32>],
    labels: &'a [u8],
    idx: Vec<usize>,
    size: usize,
    max_len: usize,
    truncate: Truncate,
    bucket: bool,
) -> SequenceBatcher<'a> {
    SequenceBatcher::new(seqs, labels, idx, size, max_len)
        .truncate(truncate)
        .bucket(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_data::text::tokenize::tokens;
    use std::collections::HashSet;

    #[test]
    fn the_vocabulary_knows_only_training_split_words() {
        let exp: Experiment = toml::from_str(
            r#"
            task = "classification"
            name = "t"
            [data]
            dataset = "imdb"
            source = "sample"
            validation_fraction = 0.5
            vocab_size = 1000000
            [model]
            kind = "lstm"
            [train]
            epochs = 1
            batch_size = 8
            learning_rate = 0.001
            "#,
        )
        .unwrap();
        let prepared = Prepared::load(&exp).unwrap();
        let Data::Text(text) = &prepared.data else {
            panic!("text data expected")
        };
        let reviews = kiln_data::Reviews::load(
            &kiln_data::ImdbSource::EmbeddedSample,
            &kiln_data::download::NoProgress,
        )
        .unwrap();
        let words = |idx: &[usize]| -> HashSet<String> {
            idx.iter()
                .flat_map(|&i| tokens(&WordTokenizer, &reviews.train[i].text))
                .collect()
        };
        let train = words(&prepared.train_idx);
        let unseen: Vec<String> = words(&prepared.val_idx)
            .difference(&train)
            .cloned()
            .collect();
        assert!(unseen.len() > 100, "the split should leave words unseen");
        for word in &unseen {
            assert_eq!(text.vocab.id(word), Vocabulary::UNK, "{word} leaked");
        }
        assert_eq!(
            text.vocab.len(),
            train.len() + kiln_data::text::SPECIALS.len()
        );
    }
}
