//! Classification as a file sees it: images, reviews, texts and tables into classes.

use kiln_models::Invalid;
use kiln_train::{CLASSIFICATION_METRICS, Metric};

use super::{TaskSpec, classification_loss};
use crate::config::schema::{DataConfig, DatasetKind, Experiment};

pub struct Classification;

impl TaskSpec for Classification {
    fn name(&self) -> &'static str {
        "classification"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[
            (DatasetKind::Mnist, &["mlp", "cnn", "resnet"]),
            (DatasetKind::FashionMnist, &["mlp", "cnn", "resnet"]),
            (DatasetKind::Imdb, &["rnn", "lstm", "gru"]),
            (DatasetKind::Texts, &["rnn", "lstm", "gru"]),
            (DatasetKind::Table, &["tabular"]),
            (DatasetKind::Images, &["mlp", "cnn", "resnet"]),
            (DatasetKind::Cifar10, &["mlp", "cnn", "resnet"]),
            (DatasetKind::Cifar100, &["mlp", "cnn", "resnet"]),
        ]
    }
    fn metrics(&self) -> &'static [Metric] {
        CLASSIFICATION_METRICS
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        if let DataConfig::Images(d) = &exp.data
            && d.targets.is_some()
        {
            return Err(Invalid::new(
                "data.targets",
                "a table of values is for task = \"regression\"; a classifier learns from \
                 class folders",
            ));
        }
        classification_loss(exp)
    }
}
