//! From an experiment's `[data]` table to batch sources: loading, splitting, normalising
//! images or tokenising text and learning a vocabulary. Everything here happens before the
//! run folder exists, so bad data leaves no run behind.

use std::time::Instant;

use anyhow::Context;
use kiln_data::text::{
    CharTokenizer, Pretrained, SequenceBatcher, Tokenizer, Truncate, Vocabulary, WordTokenizer,
    load_glove,
};
use kiln_data::{ImageBatcher, Mnist, Normalization, train_validation_split};
use kiln_models::InputShape;
use kiln_train::Batches;

use crate::config::{DatasetKind, Experiment, NormalizeKind, TokenizerKind, TruncateKind};
use crate::datasets;
use crate::progress::DownloadBar;

pub struct ImageData {
    mnist: Mnist,
    normalization: Normalization,
}

pub struct TextData {
    pub vocab: Vocabulary,
    pub tokenizer: Box<dyn Tokenizer>,
    train: Vec<Vec<u32>>,
    train_labels: Vec<u8>,
    test: Vec<Vec<u32>>,
    test_labels: Vec<u8>,
    pub pretrained: Option<Pretrained>,
}

pub enum Data {
    Images(ImageData),
    Text(TextData),
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
        match exp.data.dataset {
            DatasetKind::Mnist => {
                let (mnist, source) = datasets::load_mnist(exp, &DownloadBar::default())?;
                let (train_idx, val_idx) = train_validation_split(
                    mnist.train.len(),
                    exp.data.validation_fraction,
                    exp.seed,
                );
                let normalization = match exp.data.normalize {
                    NormalizeKind::Scale => Normalization::Scale,
                    NormalizeKind::Standardize => {
                        Normalization::standardize_from(&mnist.train, &train_idx)
                    }
                };
                let test_len = mnist.test.len();
                Ok(Prepared {
                    data: Data::Images(ImageData {
                        mnist,
                        normalization,
                    }),
                    train_idx,
                    val_idx,
                    source,
                    test_len,
                })
            }
            DatasetKind::Imdb => Self::load_imdb(exp),
        }
    }

    fn load_imdb(exp: &Experiment) -> anyhow::Result<Self> {
        let clock = Instant::now();
        let (reviews, source) = datasets::load_imdb(exp, &DownloadBar::default())?;
        let read_s = clock.elapsed().as_secs_f64();
        let tokenizer: Box<dyn Tokenizer> = match exp.data.tokenizer.unwrap_or_default() {
            TokenizerKind::Word => Box::new(WordTokenizer),
            TokenizerKind::Char => Box::new(CharTokenizer {
                lowercase: false,
                strip_html: true,
            }),
        };
        let (train_idx, val_idx) =
            train_validation_split(reviews.train.len(), exp.data.validation_fraction, exp.seed);
        let clock = Instant::now();
        // The vocabulary is learnt from the training split only: validation and test words
        // the model never trained on must be `<unk>` to it.
        let train_texts: Vec<&str> = train_idx
            .iter()
            .map(|&i| reviews.train[i].text.as_str())
            .collect();
        let counts = Vocabulary::count(tokenizer.as_ref(), &train_texts);
        let vocab = Vocabulary::build(
            &counts,
            Some(exp.data.vocab_size()),
            exp.data.min_freq.unwrap_or(1),
        );
        let train = vocab.encode_all(tokenizer.as_ref(), &texts(&reviews.train));
        let test = vocab.encode_all(tokenizer.as_ref(), &texts(&reviews.test));
        let tokenize_s = clock.elapsed().as_secs_f64();
        let tokens: usize = train.iter().chain(&test).map(Vec::len).sum();
        tracing::info!(
            "text: read {} reviews in {read_s:.2} s, tokenised them into {tokens} tokens and a vocabulary of {} in {tokenize_s:.2} s",
            reviews.train.len() + reviews.test.len(),
            vocab.len()
        );
        let pretrained = match &exp.data.pretrained_embeddings {
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
            }),
            train_idx,
            val_idx,
            source,
        })
    }

    pub fn input_shape(&self) -> InputShape {
        match &self.data {
            Data::Images(d) => InputShape::Image([1, d.mnist.train.rows, d.mnist.train.cols]),
            Data::Text(d) => InputShape::Tokens {
                vocab: d.vocab.len(),
            },
        }
    }

    pub fn class_names(&self) -> Vec<String> {
        match &self.data {
            Data::Images(_) => (0..10).map(|c| c.to_string()).collect(),
            Data::Text(_) => vec!["neg".into(), "pos".into()],
        }
    }

    /// Train, validation and test batch sources; `eval_size` is the evaluation batch the
    /// backend can take (see [`crate::backend::eval_batch_size`]).
    pub fn batches(&self, exp: &Experiment, eval_size: usize) -> [Box<dyn Batches + '_>; 3] {
        let train_size = exp.train.batch_size;
        match &self.data {
            Data::Images(d) => {
                let n = d.normalization;
                [
                    Box::new(ImageBatcher::new(
                        &d.mnist.train,
                        self.train_idx.clone(),
                        train_size,
                        n,
                    )),
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
                let truncate = match exp.data.truncate.unwrap_or_default() {
                    TruncateKind::Head => Truncate::Head,
                    TruncateKind::Tail => Truncate::Tail,
                };
                let bucket = exp.data.bucket.unwrap_or(true);
                let max_len = exp.data.max_len();
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
        }
    }
}

fn texts(split: &[kiln_data::Review]) -> Vec<&str> {
    split.iter().map(|r| r.text.as_str()).collect()
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
