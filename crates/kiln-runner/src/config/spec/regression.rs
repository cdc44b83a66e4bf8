//! Regression as a file sees it: a table's numeric targets, or those of listed images.

use kiln_models::Invalid;
use kiln_train::{LossKind, Metric, REGRESSION_METRICS};

use super::TaskSpec;
use crate::config::schema::{DataConfig, DatasetKind, Experiment};

pub struct Regression;

impl TaskSpec for Regression {
    fn name(&self) -> &'static str {
        "regression"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[
            (DatasetKind::Table, &["tabular"]),
            (DatasetKind::Images, &["mlp", "cnn", "resnet"]),
        ]
    }
    fn metrics(&self) -> &'static [Metric] {
        REGRESSION_METRICS
    }
    fn default_loss(&self) -> LossKind {
        LossKind::Mse
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        if let DataConfig::Images(d) = &exp.data
            && d.targets.is_none()
        {
            return Err(Invalid::new(
                "data.targets",
                "a regression on images needs a table of each image's values: data.targets, \
                 with data.target naming its value columns",
            ));
        }
        match exp.train.loss {
            LossKind::Mse | LossKind::Mae | LossKind::Huber => Ok(()),
            other => Err(Invalid::new(
                "train.loss",
                format!(
                    "`{}` is a classification loss; a regression takes mse, mae or huber",
                    if other == LossKind::Hinge {
                        "hinge"
                    } else {
                        "cross_entropy"
                    }
                ),
            )),
        }
    }
}
