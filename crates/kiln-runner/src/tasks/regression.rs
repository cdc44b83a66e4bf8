//! Regression: numeric targets of a table, learnt standardised and reported in their own
//! units. `test.json` has RMSE, MAE and R² per target, `test_outputs.csv` every test row's
//! prediction, and the charts show predicted against actual values and the residuals.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_data::table::{Target, TargetKind};
use kiln_models::{Classifier, Invalid};
use kiln_train::{
    LossKind, Metric, REGRESSION_METRICS, RegressionSplits, StepObserver, Steps, TargetScale,
    TrainError, evaluate_regression, fit_regression,
};
use serde::Serialize;

use super::{PreparedTask, RunContext, TaskKind, Trained, fit_and_record, steps_config};
use crate::manifest::DataInfo;
use crate::observer::RunObserver;
use crate::prepare::own_files::{TableData, load_table};
use crate::prepare::{Data, Prepared};
use crate::preprocessing::Preprocessing;
use crate::run_dir::RunDir;
use crate::schema::{DataConfig, DatasetKind, Experiment, LoadedExperiment};

pub struct Regression;

impl TaskKind for Regression {
    fn name(&self) -> &'static str {
        "regression"
    }

    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[(DatasetKind::Table, &["tabular"])]
    }

    fn metrics(&self) -> &'static [Metric] {
        REGRESSION_METRICS
    }

    fn default_loss(&self) -> LossKind {
        LossKind::Mse
    }

    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
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

    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let exp = &loaded.experiment;
        let DataConfig::Table(d) = &exp.data else {
            anyhow::bail!("a regression learns from a table");
        };
        let prepared = load_table(exp, d, TargetKind::Values)?;
        let Data::Table(table) = &prepared.data else {
            anyhow::bail!("a regression learns from a table");
        };
        let Target::Values { mean, std, .. } = &table.codec.target else {
            anyhow::bail!("a regression needs numeric targets");
        };
        let scale = TargetScale {
            mean: mean.clone(),
            std: std.clone(),
        };
        let model = super::seeded_classifier(loaded, prepared.input_shape(), scale.mean.len())?;
        kiln_models::portable::materialize(&model);
        Ok(Box::new(Ready {
            prepared,
            model,
            scale,
        }))
    }
}

struct Ready {
    prepared: Prepared,
    model: Classifier,
    scale: TargetScale,
}

impl Ready {
    fn table(&self) -> anyhow::Result<&TableData> {
        match &self.prepared.data {
            Data::Table(t) => Ok(t),
            _ => anyhow::bail!("a regression learns from a table"),
        }
    }
}

impl PreparedTask for Ready {
    fn data(&self) -> DataInfo {
        let [train, validation, test] = self.prepared.counts();
        DataInfo {
            source: self.prepared.source.clone(),
            train,
            validation,
            test,
            image: None,
            skipped: 0,
        }
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let (exp, run, device) = (ctx.exp, ctx.run, ctx.device);
        let table = self.table()?;
        Preprocessing::Table {
            codec: table.codec.clone(),
            classes: Vec::new(),
        }
        .write(run)?;
        let [train, validation, test_data] = self.prepared.batches(exp, ctx.eval_size);
        let mut observer = RunObserver::new(run, exp.train.epochs, ctx.checkpointing);
        let splits = RegressionSplits {
            train: train.as_ref(),
            validation: Some(validation.as_ref()),
            scale: &self.scale,
        };
        let model = self.model.clone();
        let (outcome, train_seconds) = fit_and_record(run, ctx.manifest, &mut observer, |o| {
            fit_regression(model, &exp.train, splits, device, exp.seed, o)
        })?;
        let test_clock = Instant::now();
        let (test, predicted) = evaluate_regression(
            &outcome.best,
            test_data.as_ref(),
            exp.train.loss,
            &self.scale,
            device,
            &mut observer,
        )?;
        ctx.manifest.timings.test_s = Some(test_clock.elapsed().as_secs_f64());
        write_outputs(run, table, &predicted, outcome.best_epoch, test.loss)?;
        Ok(Trained::new(
            &outcome,
            observer.epochs,
            test,
            "test",
            train_seconds,
        ))
    }

    fn train_steps(
        self: Box<Self>,
        exp: &Experiment,
        steps: usize,
        device: &Device,
        observer: &mut dyn StepObserver,
    ) -> Result<(), TrainError> {
        let [train, _, _] = self.prepared.batches(exp, exp.train.eval_batch_size);
        let config = steps_config(exp, steps, train.num_batches());
        let splits = RegressionSplits {
            train: train.as_ref(),
            validation: None,
            scale: &self.scale,
        };
        fit_regression(
            self.model.clone(),
            &config,
            splits,
            device,
            exp.seed,
            &mut Steps(observer),
        )
        .map(|_| ())
    }
}

#[derive(Serialize)]
struct TargetReport {
    target: String,
    rmse: f64,
    mae: f64,
    r2: f64,
}

#[derive(Serialize)]
struct TestReport {
    best_epoch: usize,
    /// On standardised targets, as trained.
    loss: f64,
    /// Means over the targets, in their own units.
    rmse: f64,
    mae: f64,
    r2: f64,
    samples: usize,
    per_target: Vec<TargetReport>,
}

/// `test.json`, `test_outputs.csv` (each test row's row in its file, actual and predicted
/// values) and the fit and residual charts of the first target.
fn write_outputs(
    run: &RunDir,
    table: &TableData,
    predicted: &[f64],
    best_epoch: usize,
    loss: f64,
) -> anyhow::Result<()> {
    let Target::Values { columns, .. } = &table.codec.target else {
        anyhow::bail!("a regression needs numeric targets");
    };
    let k = columns.len();
    let rows = &table.rows;
    // The batches came in the test split's order.
    let actual: Vec<f64> = table
        .test_idx
        .iter()
        .flat_map(|&i| rows.raw_values[i * k..(i + 1) * k].iter().copied())
        .collect();
    let mut residuals = kiln_train::Residuals::new(k);
    residuals.add(predicted, &actual);
    let per_target: Vec<TargetReport> = columns
        .iter()
        .zip(residuals.per_target())
        .map(|(c, (rmse, mae, r2))| TargetReport {
            target: c.clone(),
            rmse,
            mae,
            r2,
        })
        .collect();
    let n = per_target.len().max(1) as f64;
    let mean = |f: fn(&TargetReport) -> f64| per_target.iter().map(f).sum::<f64>() / n;
    let report = TestReport {
        best_epoch,
        loss,
        rmse: mean(|t| t.rmse),
        mae: mean(|t| t.mae),
        r2: mean(|t| t.r2),
        samples: table.test_idx.len(),
        per_target,
    };
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)?;

    let mut csv = String::from("row");
    for c in columns {
        write!(csv, ",{c},predicted_{c}")?;
    }
    csv.push('\n');
    for (r, row) in table.test_rows.iter().enumerate() {
        write!(csv, "{row}")?;
        for t in 0..k {
            write!(csv, ",{},{}", actual[r * k + t], predicted[r * k + t])?;
        }
        csv.push('\n');
    }
    write_atomically(&run.test_predictions(), csv.as_bytes())?;

    let first = |v: &[f64]| v.iter().step_by(k).copied().collect::<Vec<f64>>();
    let charts = run.chart("fit", "png");
    if let Some(dir) = charts.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (name, residual) in [("fit", false), ("residuals", true)] {
        let chart = kiln_report::charts::Chart::Fit {
            title: format!(
                "{} on {} test rows: RMSE {}, R² {:.3}",
                columns[0],
                table.test_idx.len(),
                kiln_report::render::number(report.per_target[0].rmse),
                report.per_target[0].r2
            ),
            target: columns[0].clone(),
            actual: first(&actual),
            predicted: first(predicted),
            residuals: residual,
        };
        for ext in ["png", "svg"] {
            chart.save(&run.chart(name, ext))?;
        }
    }
    Ok(())
}
