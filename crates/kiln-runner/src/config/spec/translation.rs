//! Translation as a file sees it: pairs or synthetic problems, and the decoding of
//! `[generation]`.

use figment::Figment;
use kiln_models::Invalid;
use kiln_train::{Metric, TRANSLATION_METRICS};
use serde::{Deserialize, Serialize};

use super::{TaskSpec, read_generation};
use crate::config::schema::{DatasetKind, Experiment};

pub struct Translation;

/// An encoder-decoder's `[generation]`: how outputs are decoded for scoring and as examples.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeSettings {
    /// 1 decodes greedily (a batch at once); wider beams pair by pair.
    #[serde(default = "default_beam")]
    pub beam_width: usize,
    /// Beam scores are log-probability / length^this.
    #[serde(default = "default_length_penalty")]
    pub length_penalty: f64,
    /// Output tokens at most (default: the longest target in the data + 10; 100 for
    /// `kiln translate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Validation pairs written with their outputs after every epoch.
    #[serde(default = "default_examples")]
    pub examples: usize,
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

impl TaskSpec for Translation {
    fn name(&self) -> &'static str {
        "translation"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[
            (DatasetKind::Pairs, &["seq2seq"]),
            (DatasetKind::Synthetic, &["seq2seq"]),
        ]
    }
    fn metrics(&self) -> &'static [Metric] {
        TRANSLATION_METRICS
    }
    fn generation(&self, figment: &Figment) -> Option<Result<toml::Table, Box<figment::Error>>> {
        Some(read_generation::<DecodeSettings>(figment))
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        let settings: DecodeSettings = exp.generation_as()?;
        for (key, value) in [
            ("generation.beam_width", Some(settings.beam_width)),
            ("generation.max_len", settings.max_len),
        ] {
            if value == Some(0) {
                return Err(Invalid::new(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}
