//! Language modelling as a file sees it: a corpus, and the samples of `[generation]`.

use figment::Figment;
use kiln_models::Invalid;
use kiln_train::{LANGUAGE_METRICS, Metric};
use serde::{Deserialize, Serialize};

use super::{TaskSpec, classification_loss, read_generation};
use crate::config::schema::{DatasetKind, Experiment};

pub struct LanguageModelling;

/// A language model's `[generation]`: the samples written after every epoch, and the
/// defaults of `kiln generate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSettings {
    /// The text each sample starts from.
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// Tokens drawn per sample.
    #[serde(default = "default_length")]
    pub length: usize,
    /// One sample per temperature after every epoch.
    #[serde(default = "default_temperatures")]
    pub temperatures: Vec<f32>,
    /// Draw only among the k likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
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

impl SampleSettings {
    fn validate(&self) -> Result<(), Invalid> {
        if self.length == 0 {
            return Err(Invalid::new("length", "must be at least 1"));
        }
        if self.top_k == Some(0) {
            return Err(Invalid::new("top_k", "must be at least 1"));
        }
        if let Some(t) = self
            .temperatures
            .iter()
            .find(|t| !(t.is_finite() && **t > 0.0))
        {
            return Err(Invalid::new(
                "temperatures",
                format!("must be positive numbers, got {t}"),
            ));
        }
        Ok(())
    }
}

impl TaskSpec for LanguageModelling {
    fn name(&self) -> &'static str {
        "language_modelling"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[(DatasetKind::Corpus, &["language_model"])]
    }
    fn metrics(&self) -> &'static [Metric] {
        LANGUAGE_METRICS
    }
    fn generation(&self, figment: &Figment) -> Option<Result<toml::Table, Box<figment::Error>>> {
        Some(read_generation::<SampleSettings>(figment))
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        classification_loss(exp)?;
        let settings: SampleSettings = exp.generation_as()?;
        settings.validate().map_err(|e| e.within("generation"))
    }
}
