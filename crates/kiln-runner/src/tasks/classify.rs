//! Classification: MLPs and CNNs on images, recurrent classifiers on reviews. A confusion
//! matrix per split, `test.json` with per-class precision, recall and F1, and
//! `confusion.csv`.

use std::time::Instant;

use anyhow::Context;

use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_models::Classifier;
use kiln_train::{Classify, SplitMetrics, Splits, StepObserver, Steps, TrainError, evaluate, fit};
use serde::Serialize;

use super::{
    PreparedTask, RunContext, TaskKind, Trained, fit_and_record, model_error, steps_config,
};
use crate::config::schema::{Experiment, LoadedExperiment};
use crate::config::spec::Classification;
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::store::preprocessing::Preprocessing;
use crate::store::run_dir::RunDir;
use crate::tasks::prepare::{Data, Prepared};

impl TaskKind for Classification {
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let prepared = Prepared::load(&loaded.experiment)?;
        let model = initial_model(loaded, &prepared)?;
        Ok(prepared_classifier(prepared, model))
    }
}

/// Classification of `prepared` by `model`, ready to train: kiln's own classifiers, or a
/// plug-in's model (its `TaskKind::prepare` loads the data with [`Prepared::load`], builds
/// its model for [`Prepared::input_shape`] and its classes, and hands both here).
pub fn prepared_classifier<M: Classify + 'static>(
    prepared: Prepared,
    model: M,
) -> Box<dyn PreparedTask> {
    Box::new(Ready { prepared, model })
}

struct Ready<M> {
    prepared: Prepared,
    model: M,
}

impl<M: Classify + 'static> PreparedTask for Ready<M> {
    fn data(&self) -> DataInfo {
        super::data_info(&self.prepared)
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let Ready { prepared, model } = *self;
        let (exp, run, device) = (ctx.exp, ctx.run, ctx.device);
        if let Data::Text(text) = &prepared.data {
            text.vocab.save(&run.vocabulary())?;
        }
        let classes = prepared.class_names();
        match &prepared.data {
            Data::Images(d) => Preprocessing::Image {
                shape: [
                    d.mnist.train.channels,
                    d.mnist.train.rows,
                    d.mnist.train.cols,
                ],
                normalization: d.normalization.into(),
                classes,
                target: None,
            },
            Data::Text(_) => Preprocessing::Text { classes },
            Data::Table(d) => Preprocessing::Table {
                codec: d.codec.clone(),
                classes,
            },
        }
        .write(run)?;
        let classes = prepared.class_names().len();
        let [train, validation, test_data] = prepared.batches(exp, ctx.eval_size);
        let mut observer = RunObserver::new(run, exp.train.epochs, ctx.checkpointing);
        let splits = Splits {
            train: train.as_ref(),
            validation: Some(validation.as_ref()),
            classes,
        };
        let (outcome, train_seconds) = fit_and_record(run, ctx.manifest, &mut observer, |o| {
            fit(model, &exp.train, splits, device, exp.seed, o)
        })?;

        let test_clock = Instant::now();
        let test = evaluate(
            &outcome.best,
            test_data.as_ref(),
            exp.train.loss,
            classes,
            device,
            &mut observer,
        )?;
        ctx.manifest.timings.test_s = Some(test_clock.elapsed().as_secs_f64());
        write_test_report(run, &test, outcome.best_epoch, &prepared.class_names())?;
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
        let Ready { prepared, model } = *self;
        let [train, _, _] = prepared.batches(exp, exp.train.eval_batch_size);
        let config = steps_config(exp, steps, train.num_batches());
        let splits = Splits {
            train: train.as_ref(),
            validation: None,
            classes: prepared.class_names().len(),
        };
        fit(
            model,
            &config,
            splits,
            device,
            exp.seed,
            &mut Steps(observer),
        )
        .map(|_| ())
    }
}

/// The experiment's classifier ([`super::seeded_classifier`]), its embedding from pre-trained
/// vectors where the data bring them.
fn initial_model(loaded: &LoadedExperiment, prepared: &Prepared) -> anyhow::Result<Classifier> {
    let model_error = |e| model_error(loaded, e);
    let mut model =
        super::seeded_classifier(loaded, prepared.input_shape(), prepared.class_names().len())?;
    if let (Data::Text(text), Classifier::Recurrent(m)) = (&prepared.data, &mut model)
        && let Some(pretrained) = &text.pretrained
    {
        m.set_embedding_rows(&pretrained.rows, kiln_data::text::Vocabulary::PAD as usize)
            .map_err(model_error)?;
    }
    kiln_models::portable::materialize(&model);
    Ok(model)
}

#[derive(Serialize)]
struct ClassReport {
    class: usize,
    name: String,
    precision: f64,
    recall: f64,
    f1: f64,
    support: u64,
}

#[derive(Serialize)]
struct TestReport {
    best_epoch: usize,
    loss: f64,
    accuracy: f64,
    macro_f1: f64,
    /// For two classes, the positive (second) class's precision, recall and F1, as
    /// sentiment papers report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<BinaryReport>,
    samples: u64,
    per_class: Vec<ClassReport>,
}

#[derive(Serialize)]
struct BinaryReport {
    precision: f64,
    recall: f64,
    f1: f64,
}

pub(crate) fn write_test_report(
    run: &RunDir,
    test: &SplitMetrics,
    best_epoch: usize,
    names: &[String],
) -> anyhow::Result<()> {
    let Some(c) = test.confusion.as_ref() else {
        anyhow::bail!("the classifier's test metrics have no confusion matrix");
    };
    let per_class: Vec<ClassReport> = c
        .per_class()
        .into_iter()
        .enumerate()
        .map(|(class, (precision, recall, f1))| ClassReport {
            class,
            name: names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string()),
            precision,
            recall,
            f1,
            support: (0..c.classes()).map(|p| c.count(class, p)).sum(),
        })
        .collect();
    let binary = (per_class.len() == 2).then(|| BinaryReport {
        precision: per_class[1].precision,
        recall: per_class[1].recall,
        f1: per_class[1].f1,
    });
    let report = TestReport {
        best_epoch,
        loss: test.loss,
        accuracy: test.accuracy,
        macro_f1: test.macro_f1.unwrap_or(f64::NAN),
        binary,
        samples: c.total(),
        per_class,
    };
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)?;
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut csv = String::from("actual");
    (0..c.classes()).for_each(|p| csv.push_str(&format!(",predicted_{}", name(p))));
    csv.push('\n');
    for a in 0..c.classes() {
        csv.push_str(&name(a));
        (0..c.classes()).for_each(|p| csv.push_str(&format!(",{}", c.count(a, p))));
        csv.push('\n');
    }
    write_atomically(&run.confusion(), csv.as_bytes())?;
    let chart = kiln_report::charts::Chart::Confusion {
        title: format!(
            "confusion on {} items: accuracy {:.2} %",
            c.total(),
            100.0 * test.accuracy
        ),
        classes: (0..c.classes()).map(name).collect(),
        counts: (0..c.classes())
            .map(|a| (0..c.classes()).map(|p| c.count(a, p)).collect())
            .collect(),
    };
    let charts = run.chart("confusion", "png");
    if let Some(dir) = charts.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for ext in ["png", "svg"] {
        chart.save(&run.chart("confusion", ext))?;
    }
    Ok(())
}
