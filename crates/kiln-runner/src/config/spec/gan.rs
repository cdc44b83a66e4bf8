//! A GAN as a file sees it: MNIST-like images, and how `[generation]` scores its samples.

use std::path::PathBuf;

use figment::Figment;
use kiln_models::Invalid;
use kiln_train::Metric;
use kiln_train::gan::GAN_METRICS;
use serde::{Deserialize, Serialize};

use super::{TaskSpec, read_generation};
use crate::config::schema::{DatasetKind, Experiment};

pub struct GanTask;

/// A GAN's `[generation]`: how its samples are scored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FidSettings {
    /// A finished image-classifier run (mlp or cnn), or an experiment's folder of runs (the
    /// newest completed one), whose penultimate features score the samples by their Fréchet
    /// distance to real images (`fid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<PathBuf>,
    /// How many generated and real images each FID compares (at most the split's size).
    #[serde(default = "default_fid_samples")]
    pub fid_samples: usize,
}

fn default_fid_samples() -> usize {
    2000
}

impl TaskSpec for GanTask {
    fn name(&self) -> &'static str {
        "gan"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[(DatasetKind::Mnist, &["gan"])]
    }
    fn metrics(&self) -> &'static [Metric] {
        GAN_METRICS
    }
    fn generation(&self, figment: &Figment) -> Option<Result<toml::Table, Box<figment::Error>>> {
        Some(read_generation::<FidSettings>(figment))
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        let settings: FidSettings = exp.generation_as()?;
        if settings.fid_samples < 2 {
            return Err(Invalid::new(
                "generation.fid_samples",
                "must be at least 2: a covariance needs two images",
            ));
        }
        if exp.train.monitor.metric() == "fid" && settings.classifier.is_none() {
            return Err(Invalid::new(
                "train.monitor",
                "val_fid needs generation.classifier, the run folder of an image classifier",
            ));
        }
        Ok(())
    }
}
