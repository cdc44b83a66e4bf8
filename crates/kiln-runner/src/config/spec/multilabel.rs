//! Multi-label classification as a file sees it: a table whose target columns are each a
//! yes/no label (0 or 1), any number of them true in a row, or images listed in such a table.

use kiln_models::Invalid;
use kiln_train::{LossKind, MULTILABEL_METRICS, Metric};

use super::TaskSpec;
use crate::config::schema::{DataConfig, DatasetKind, Experiment};

pub struct MultiLabel;

impl TaskSpec for MultiLabel {
    fn name(&self) -> &'static str {
        "multilabel"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[
            (DatasetKind::Table, &["tabular"]),
            (DatasetKind::Images, &["mlp", "cnn", "resnet"]),
        ]
    }
    fn metrics(&self) -> &'static [Metric] {
        MULTILABEL_METRICS
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        if let DataConfig::Images(d) = &exp.data
            && d.targets.is_none()
        {
            return Err(Invalid::new(
                "data.targets",
                "a multilabel task on images needs a table of each image's labels: \
                 data.targets, with data.target naming its 0/1 columns",
            ));
        }
        match exp.train.loss {
            LossKind::CrossEntropy => Ok(()),
            other => Err(Invalid::new(
                "train.loss",
                format!(
                    "a multilabel task learns each label by binary cross-entropy \
                     (`cross_entropy`), not `{}`",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            )),
        }
    }
}
