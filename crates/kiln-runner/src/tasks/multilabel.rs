//! Multi-label classification: 0/1 label columns of a table, or of images listed in one,
//! each learnt as a yes/no answer. `test.json` has each label's precision, recall, F1 and
//! support beside the split's metrics, and `test_outputs.csv` every test row's (or image's)
//! labels and probabilities.

use std::fmt::Write as _;
use std::time::Instant;

use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_data::table::{Target, TargetKind};
use kiln_models::Classifier;
use kiln_train::{
    LabelCounts, MultiLabelSplits, StepObserver, Steps, THRESHOLD, TrainError, evaluate_multilabel,
    fit_multilabel,
};
use serde::Serialize;

use super::regression::{Tested, csv_field, load_values, record};
use super::{PreparedTask, RunContext, TaskKind, Trained, fit_and_record, steps_config};
use crate::config::schema::{Experiment, LoadedExperiment};
use crate::config::spec::MultiLabel;
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::store::run_dir::RunDir;
use crate::tasks::prepare::Prepared;

impl TaskKind for MultiLabel {
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let (prepared, target) =
            load_values(&loaded.experiment, TargetKind::Labels, "a multilabel task")?;
        let Target::Values {
            columns: labels, ..
        } = target
        else {
            anyhow::bail!("a multilabel task needs label columns");
        };
        let model = super::seeded_classifier(loaded, prepared.input_shape(), labels.len())?;
        kiln_models::portable::materialize(&model);
        Ok(Box::new(Ready {
            prepared,
            model,
            labels,
        }))
    }
}

struct Ready {
    prepared: Prepared,
    model: Classifier,
    labels: Vec<String>,
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
        let splits = MultiLabelSplits {
            train: train.as_ref(),
            validation: Some(validation.as_ref()),
            labels: self.labels.len(),
        };
        let model = self.model.clone();
        let (outcome, train_seconds) = fit_and_record(run, ctx.manifest, &mut observer, |o| {
            fit_multilabel(model, &exp.train, splits, device, exp.seed, o)
        })?;
        let test_clock = Instant::now();
        let evaluated = evaluate_multilabel(
            &outcome.best,
            test_data.as_ref(),
            self.labels.len(),
            device,
            &mut observer,
        )?;
        ctx.manifest.timings.test_s = Some(test_clock.elapsed().as_secs_f64());
        write_report(
            run,
            &self.labels,
            &evaluated.counts,
            &evaluated.metrics,
            outcome.best_epoch,
        )?;
        // The batches come in the test split's order, as `tested` has it.
        write_outputs(run, &tested, &evaluated.probabilities)?;
        Ok(Trained::new(
            &outcome,
            observer.epochs,
            evaluated.metrics,
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
        let splits = MultiLabelSplits {
            train: train.as_ref(),
            validation: None,
            labels: self.labels.len(),
        };
        fit_multilabel(
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
struct LabelReport<'a> {
    label: &'a str,
    precision: f64,
    recall: f64,
    f1: f64,
    /// Test rows that have the label.
    support: u64,
}

#[derive(Serialize)]
struct TestReport<'a> {
    best_epoch: usize,
    loss: f64,
    accuracy: f64,
    macro_f1: f64,
    micro_f1: f64,
    subset_accuracy: f64,
    /// A label is predicted when its probability is at least this.
    threshold: f64,
    samples: u64,
    per_label: Vec<LabelReport<'a>>,
}

/// `test.json`: the split's metrics and each label's scores.
fn write_report(
    run: &RunDir,
    labels: &[String],
    counts: &LabelCounts,
    metrics: &kiln_train::SplitMetrics,
    best_epoch: usize,
) -> anyhow::Result<()> {
    let per = counts.per_label();
    let report = TestReport {
        best_epoch,
        loss: metrics.loss,
        accuracy: metrics.accuracy,
        macro_f1: metrics.macro_f1.unwrap_or(f64::NAN),
        micro_f1: metrics.get("micro_f1").unwrap_or(f64::NAN),
        subset_accuracy: metrics.get("subset_accuracy").unwrap_or(f64::NAN),
        threshold: THRESHOLD,
        samples: counts.rows(),
        per_label: labels
            .iter()
            .zip(&per)
            .map(|(label, s)| LabelReport {
                label,
                precision: s.precision,
                recall: s.recall,
                f1: s.f1,
                support: s.support,
            })
            .collect(),
    };
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)?;
    Ok(())
}

/// `test_outputs.csv`: each test item (a row number in its file, or an image's file), then
/// per label its actual value and predicted probability.
fn write_outputs(run: &RunDir, tested: &Tested, probabilities: &[f64]) -> anyhow::Result<()> {
    let k = tested.columns.len();
    let mut csv = String::from(tested.key);
    for l in &tested.columns {
        write!(
            csv,
            ",{},{}",
            csv_field(l),
            csv_field(&format!("probability_{l}"))
        )?;
    }
    csv.push('\n');
    for (r, item) in tested.items.iter().enumerate() {
        csv.push_str(&csv_field(item));
        for t in 0..k {
            write!(
                csv,
                ",{},{:.6}",
                tested.actual[r * k + t],
                probabilities[r * k + t]
            )?;
        }
        csv.push('\n');
    }
    write_atomically(&run.test_predictions(), csv.as_bytes())?;
    Ok(())
}
