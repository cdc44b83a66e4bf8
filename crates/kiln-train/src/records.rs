//! What the loop records: its steps, its epochs and the metrics of a split, and what a
//! task's metrics are. Checkpoints carry them, so they read back from JSON.

use serde::{Deserialize, Serialize};

use crate::{Confusion, Monitor};

/// A metric a task defines: its name (as in `val_<name>`, `test.json` and the index's
/// `test_<name>` column) and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub higher_is_better: bool,
}

impl Metric {
    pub const fn lower(name: &'static str) -> Self {
        Self {
            name,
            higher_is_better: false,
        }
    }

    pub const fn higher(name: &'static str) -> Self {
        Self {
            name,
            higher_is_better: true,
        }
    }
}

/// One optimisation step, as it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub learning_rate: f64,
    /// What the step learnt from: images or sequences for classifiers and encoder-decoders,
    /// predicted tokens for a language model.
    pub samples: usize,
}

/// Loss and metrics over one split. Classifiers have a confusion matrix and macro F1;
/// generative tasks name their own metrics in `extra` (bits per character, BLEU...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub loss: f64,
    /// Of classes for a classifier, of next tokens for generative models.
    pub accuracy: f64,
    pub macro_f1: Option<f64>,
    pub confusion: Option<Confusion>,
    #[serde(deserialize_with = "static_names")]
    pub extra: Vec<(&'static str, f64)>,
}

/// Metric names read back from a checkpoint. Tasks name their metrics with constants, so a
/// name is made `'static` once per distinct name and process (a handful per resume).
fn static_names<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(&'static str, f64)>, D::Error> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
    let read: Vec<(String, f64)> = Vec::deserialize(d)?;
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let names = names.get_or_insert_with(HashMap::new);
    Ok(read
        .into_iter()
        .map(|(name, value)| {
            let name = *names
                .entry(name.clone())
                .or_insert_with(|| Box::leak(name.into_boxed_str()));
            (name, value)
        })
        .collect())
}

impl SplitMetrics {
    pub fn classification(loss: f64, confusion: Confusion) -> Self {
        Self {
            loss,
            accuracy: confusion.accuracy(),
            macro_f1: Some(confusion.macro_f1()),
            confusion: Some(confusion),
            extra: Vec::new(),
        }
    }

    /// A metric by its name: `loss`, `accuracy`, `macro_f1` or one of the task's own.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" => Some(self.accuracy),
            "macro_f1" => self.macro_f1,
            _ => self.extra.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        }
    }
}

/// One epoch: training metrics are running means over the epoch's batches (dropout active),
/// as Keras reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: SplitMetrics,
    pub validation: Option<SplitMetrics>,
    /// Learning rate of the epoch's last step.
    pub learning_rate: f64,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    pub epoch_seconds: f64,
    /// Whether this epoch is the best so far by the monitored metric.
    pub improved: bool,
}

impl EpochRecord {
    pub fn monitored(&self, monitor: &Monitor) -> Option<f64> {
        let split = if monitor.needs_validation() {
            self.validation.as_ref()?
        } else {
            &self.train
        };
        split.get(monitor.metric())
    }
}
