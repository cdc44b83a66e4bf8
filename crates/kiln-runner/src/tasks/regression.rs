//! Regression: numeric targets of a table, or of images listed in one, learnt standardised
//! and reported in their own units. `test.json` has RMSE, MAE and R² per target, `test_outputs.csv` every test row's
//! prediction, and the charts show predicted against actual values and the residuals.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_data::table::{Target, TargetKind};
use kiln_models::Classifier;
use kiln_train::{
    RegressionSplits, StepObserver, Steps, TargetScale, TrainError, evaluate_regression,
    fit_regression,
};
use serde::Serialize;

use super::{PreparedTask, RunContext, TaskKind, Trained, fit_and_record, steps_config};
use crate::config::schema::{DataConfig, Experiment, LoadedExperiment};
use crate::config::spec::Regression;
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::store::preprocessing::Preprocessing;
use crate::store::run_dir::RunDir;
use crate::tasks::prepare::own_files::{load_images, load_table};
use crate::tasks::prepare::{Data, ImageData, Prepared};

impl TaskKind for Regression {
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let (prepared, target) =
            load_values(&loaded.experiment, TargetKind::Values, "a regression")?;
        let Some(scale) = TargetScale::of(&target) else {
            anyhow::bail!("a regression needs numeric targets");
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

/// A table, or images listed in one, with the value columns `kind` reads, and their target;
/// `task` names the task in the refusal of any other data.
pub(crate) fn load_values(
    exp: &Experiment,
    kind: TargetKind,
    task: &str,
) -> anyhow::Result<(Prepared, Target)> {
    let prepared = match &exp.data {
        DataConfig::Table(d) => load_table(exp, d, kind)?,
        DataConfig::Images(d) => load_images(exp, d, kind)?,
        other => anyhow::bail!(
            "{task} learns from a table or listed images, not from {}",
            other.kind().name()
        ),
    };
    let target = match &prepared.data {
        Data::Table(t) => t.codec.target.clone(),
        Data::Images(ImageData {
            values: Some(v), ..
        }) => v.target.clone(),
        _ => anyhow::bail!("{task} needs numeric targets"),
    };
    Ok((prepared, target))
}

struct Ready {
    prepared: Prepared,
    model: Classifier,
    scale: TargetScale,
}

/// What `preprocessing.json` records of a table's or listed images' numeric targets, and the
/// test split's items and values as the data have them, for the outputs.
pub(crate) fn record(prepared: &Prepared) -> anyhow::Result<(Preprocessing, Tested)> {
    match &prepared.data {
        Data::Table(table) => {
            let Target::Values { columns, .. } = &table.codec.target else {
                anyhow::bail!("the data have no numeric targets");
            };
            let k = columns.len();
            let rows = &table.rows;
            // The batches come in the test split's order.
            let actual = table
                .test_idx
                .iter()
                .flat_map(|&i| rows.raw_values[i * k..(i + 1) * k].iter().copied())
                .collect();
            Ok((
                Preprocessing::Table {
                    codec: table.codec.clone(),
                    classes: Vec::new(),
                },
                Tested {
                    key: "row",
                    items: table.test_rows.iter().map(usize::to_string).collect(),
                    columns: columns.clone(),
                    actual,
                },
            ))
        }
        Data::Images(ImageData {
            mnist,
            normalization,
            values: Some(v),
            ..
        }) => {
            let t = &mnist.train;
            Ok((
                Preprocessing::Image {
                    shape: [t.channels, t.rows, t.cols],
                    normalization: (*normalization).into(),
                    classes: Vec::new(),
                    target: Some(v.target.clone()),
                },
                Tested {
                    key: "file",
                    items: v.test_files.clone(),
                    columns: v.columns().to_vec(),
                    actual: v.test.clone(),
                },
            ))
        }
        _ => anyhow::bail!("the data have no numeric targets"),
    }
}

impl PreparedTask for Ready {
    fn data(&self) -> DataInfo {
        super::data_info(&self.prepared)
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let (exp, run, device) = (ctx.exp, ctx.run, ctx.device);
        let (preprocessing, tested) = record(&self.prepared)?;
        preprocessing.write(run)?;
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
        write_report(run, &tested, &predicted, outcome.best_epoch, test.loss)?;
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

/// A split's items as the outputs name them, with their actual values.
pub(crate) struct Tested {
    /// The name of the column that says which item a line is: `row` or `file`.
    pub key: &'static str,
    pub items: Vec<String>,
    pub columns: Vec<String>,
    /// `items x columns`, in the data's own units.
    pub actual: Vec<f64>,
}

/// `test.json`, `test_outputs.csv` (each item's name, actual and predicted values) and
/// the fit and residual charts of the first target, in `run` (a run or an evaluation's
/// folder). Returns the report's mean RMSE, MAE and R².
pub(crate) fn write_report(
    run: &RunDir,
    tested: &Tested,
    predicted: &[f64],
    best_epoch: usize,
    loss: f64,
) -> anyhow::Result<[f64; 3]> {
    let Tested {
        key,
        items,
        columns,
        actual,
    } = tested;
    let k = columns.len();
    let mut residuals = kiln_train::Residuals::new(k);
    residuals.add(predicted, actual);
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
        samples: items.len(),
        per_target,
    };
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)?;

    let mut csv = String::from(*key);
    for c in columns {
        write!(
            csv,
            ",{},{}",
            csv_field(c),
            csv_field(&format!("predicted_{c}"))
        )?;
    }
    csv.push('\n');
    for (r, item) in items.iter().enumerate() {
        csv.push_str(&csv_field(item));
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
    let what = if *key == "row" { "rows" } else { "images" };
    for (name, residual) in [("fit", false), ("residuals", true)] {
        let chart = kiln_report::charts::Chart::Fit {
            title: format!(
                "{} on {} test {what}: RMSE {}, R² {:.3}",
                columns[0],
                items.len(),
                kiln_report::render::number(report.per_target[0].rmse),
                report.per_target[0].r2
            ),
            target: columns[0].clone(),
            actual: first(actual),
            predicted: first(predicted),
            residuals: residual,
        };
        for ext in ["png", "svg"] {
            chart.save(&run.chart(name, ext))?;
        }
    }
    Ok([report.rmse, report.mae, report.r2])
}

/// A CSV field, quoted when it holds a comma, quote or line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
