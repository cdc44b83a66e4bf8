//! Multi-label classification as a [`Task`]: each row has any number of labels, one 0/1
//! column each, learnt as independent yes/no answers (a sigmoid and binary cross-entropy per
//! label) and reported per label and over the row.

use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_models::Invalid;

use crate::fit::{
    FitOutcome, Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError,
    TrainStep, evaluate_batches, fit_task,
};
use crate::resume::{Carried, CarriedReader};
use crate::{Batches, Classify, TrainConfig};

/// What a multi-label run reports for a split: the loss; `accuracy`, the share of
/// (row, label) answers that are right (one minus the Hamming loss); the F1 of each label
/// averaged (`macro_f1`) and of all answers pooled (`micro_f1`); and `subset_accuracy`, the
/// share of rows whose every label is right.
pub const MULTILABEL_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::higher("accuracy"),
    Metric::higher("macro_f1"),
    Metric::higher("micro_f1"),
    Metric::higher("subset_accuracy"),
];

/// A label is predicted when its probability reaches this.
pub const THRESHOLD: f64 = 0.5;

/// What [`fit_multilabel`] learns from: batches whose values are `labels` columns of 0
/// and 1.
#[derive(Clone, Copy)]
pub struct MultiLabelSplits<'a> {
    pub train: &'a dyn Batches,
    pub validation: Option<&'a dyn Batches>,
    pub labels: usize,
}

/// Counts over a split: each label's true and false positives and negatives, and the rows
/// with every label right.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelCounts {
    rows: u64,
    exact: u64,
    /// `[true positives, false positives, false negatives, true negatives]` per label.
    cells: Vec<[u64; 4]>,
}

/// One label's scores over a split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows that have the label.
    pub support: u64,
}

impl LabelCounts {
    pub fn new(labels: usize) -> Self {
        LabelCounts {
            rows: 0,
            exact: 0,
            cells: vec![[0; 4]; labels],
        }
    }

    /// Adds rows of probabilities and actual labels (0 or 1), both `rows x labels`.
    pub fn add(&mut self, probabilities: &[f64], actual: &[f64]) {
        let k = self.cells.len().max(1);
        for (p, a) in probabilities.chunks(k).zip(actual.chunks(k)) {
            let mut all_right = true;
            for (cell, (&p, &a)) in self.cells.iter_mut().zip(p.iter().zip(a)) {
                let (said, is) = (p >= THRESHOLD, a >= 0.5);
                all_right &= said == is;
                cell[match (said, is) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                }] += 1;
            }
            self.rows += 1;
            self.exact += u64::from(all_right);
        }
    }

    /// Rows counted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn per_label(&self) -> Vec<LabelScores> {
        self.cells.iter().map(|&c| scores(c)).collect()
    }

    pub fn metrics(&self, loss: f64) -> SplitMetrics {
        let answers: u64 = self.cells.iter().map(|c| c.iter().sum::<u64>()).sum();
        let right: u64 = self.cells.iter().map(|c| c[0] + c[3]).sum();
        let per = self.per_label();
        let pooled = self.cells.iter().fold([0; 4], |mut s, c| {
            for (s, c) in s.iter_mut().zip(c) {
                *s += c;
            }
            s
        });
        SplitMetrics {
            loss,
            accuracy: ratio(right, answers),
            macro_f1: Some(per.iter().map(|s| s.f1).sum::<f64>() / per.len().max(1) as f64),
            confusion: None,
            extra: vec![
                ("micro_f1", scores(pooled).f1),
                ("subset_accuracy", ratio(self.exact, self.rows)),
            ],
        }
    }

    fn carried(&self) -> Vec<u64> {
        [self.rows, self.exact]
            .into_iter()
            .chain(self.cells.iter().flatten().copied())
            .collect()
    }

    fn restore(labels: usize, r: &mut CarriedReader) -> Result<Self, String> {
        let mut word = || r.word();
        let (rows, exact) = (word()?, word()?);
        let cells = (0..labels)
            .map(|_| Ok([word()?, word()?, word()?, word()?]))
            .collect::<Result<_, String>>()?;
        Ok(LabelCounts { rows, exact, cells })
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Precision, recall and F1 from `[tp, fp, fn, tn]`; 0 where undefined (no predictions or
/// no positives), as scikit-learn's `zero_division=0` does.
fn scores([tp, fp, fneg, _]: [u64; 4]) -> LabelScores {
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    LabelScores {
        precision,
        recall,
        f1: ratio(2 * tp, 2 * tp + fp + fneg),
        support: tp + fneg,
    }
}

/// The batch's labels as 0/1 on the host and as integers on the device.
fn labels(batch: &crate::Batch) -> Result<(Vec<f64>, Tensor<2, Int>), TrainError> {
    let values = batch.values.clone().ok_or_else(|| {
        TrainError::from(Invalid::new(
            "data",
            "the data have no label columns for a multi-label classifier",
        ))
    })?;
    let [rows, k] = values.dims();
    let actual: Vec<f64> = host(values.clone())
        .into_iter()
        .map(|v| f64::from(u8::from(v >= 0.5)))
        .collect();
    let ints: Vec<i64> = actual.iter().map(|&a| a as i64).collect();
    let device = values.device();
    Ok((
        actual,
        Tensor::from_data(TensorData::new(ints, [rows, k]), &device),
    ))
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap_or_default()
}

/// Mean binary cross-entropy of `logits` against 0/1 `labels`, both `[rows, labels]`.
fn loss(logits: Tensor<2>, labels: Tensor<2, Int>) -> Tensor<1> {
    BinaryCrossEntropyLossConfig::new()
        .with_logits(true)
        .init(&logits.device())
        .forward(logits, labels)
}

struct MultiLabel<'a, M> {
    splits: MultiLabelSplits<'a>,
    epoch_seed: u64,
    counts: LabelCounts,
    model: std::marker::PhantomData<M>,
}

impl<M: Classify> Task for MultiLabel<'_, M> {
    type Model = M;

    fn metrics(&self) -> &'static [Metric] {
        MULTILABEL_METRICS
    }

    fn num_batches(&self) -> usize {
        self.splits.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.splits.validation.is_some_and(|v| !v.is_empty())
    }

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.epoch_seed = seed;
        self.counts = LabelCounts::new(self.splits.labels);
        self.splits.train.order(Some(seed))
    }

    fn optimize(
        &mut self,
        model: M,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(M, StepOutcome), TrainError> {
        let out = {
            let batch = self
                .splits
                .train
                .train_batch(indices, device, self.epoch_seed);
            let (actual, targets) = labels(&batch)?;
            let logits = model.logits(batch.inputs)?;
            let probabilities = host(burn::tensor::activation::sigmoid(logits.clone().detach()));
            self.counts.add(&probabilities, &actual);
            TrainStep {
                loss: loss(logits, targets),
                samples: batch.len,
                predictions: batch.len,
                correct: 0,
            }
        };
        Ok(optimizers.step_whole(model, out))
    }

    fn carried(&self) -> Carried {
        Carried {
            words: self.counts.carried(),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        self.counts = LabelCounts::restore(self.splits.labels, carried)?;
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, _accuracy: f64) -> SplitMetrics {
        self.counts.metrics(loss)
    }

    fn validate(
        &mut self,
        model: &M,
        device: &Device,
        observer: &mut dyn Observer<M>,
    ) -> Result<SplitMetrics, TrainError> {
        let data = self.splits.validation.expect("has_validation checked it");
        evaluate_multilabel(model, data, self.splits.labels, device, observer).map(|e| e.metrics)
    }
}

/// Trains a multi-label classifier, validating after every epoch.
pub fn fit_multilabel<M: Classify>(
    model: M,
    config: &TrainConfig,
    data: MultiLabelSplits,
    device: &Device,
    seed: u64,
    observer: &mut dyn Observer<M>,
) -> Result<FitOutcome<M>, TrainError> {
    let mut task = MultiLabel {
        splits: data,
        epoch_seed: 0,
        counts: LabelCounts::new(data.labels),
        model: std::marker::PhantomData,
    };
    fit_task(model, config, &mut task, device, seed, observer)
}

/// A split evaluated: its metrics, the counts behind them, and every row's probabilities
/// (`rows x labels`, in the data's order).
pub struct MultiLabelEvaluation {
    pub metrics: SplitMetrics,
    pub counts: LabelCounts,
    pub probabilities: Vec<f64>,
}

/// Loss and metrics of a validation-mode `model` over `data`.
pub fn evaluate_multilabel<M: Classify>(
    model: &M,
    data: &dyn Batches,
    labels_per_row: usize,
    device: &Device,
    observer: &mut dyn Observer<M>,
) -> Result<MultiLabelEvaluation, TrainError> {
    let mut counts = LabelCounts::new(labels_per_row);
    let mut probabilities = Vec::new();
    let mean_loss = evaluate_batches(data, device, observer, |batch| {
        let (actual, targets) = labels(&batch)?;
        let logits = model.logits(batch.inputs)?;
        let p = host(burn::tensor::activation::sigmoid(logits.clone()));
        counts.add(&p, &actual);
        probabilities.extend(p);
        Ok(loss(logits, targets).into_scalar::<f32>() as f64)
    })?;
    Ok(MultiLabelEvaluation {
        metrics: counts.metrics(mean_loss),
        counts,
        probabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_give_hand_computed_metrics() {
        let mut c = LabelCounts::new(2);
        // Rows: (yes, no) said (0.9, 0.2): both right; (yes, yes) said (0.4, 0.7): first
        // missed; (no, yes) said (0.6, 0.8): first wrong; (no, no) said (0.1, 0.5): second
        // wrong (0.5 is a yes).
        c.add(
            &[0.9, 0.2, 0.4, 0.7, 0.6, 0.8, 0.1, 0.5],
            &[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0],
        );
        let m = c.metrics(0.25);
        assert_eq!(m.accuracy, 5.0 / 8.0);
        assert_eq!(m.get("subset_accuracy"), Some(1.0 / 4.0));
        let per = c.per_label();
        // Label 0: tp 1, fp 1, fn 1: precision, recall and F1 all 1/2.
        assert_eq!(per[0].f1, 0.5);
        assert_eq!(per[0].support, 2);
        // Label 1: tp 2, fp 1, fn 0: precision 2/3, recall 1, F1 4/5.
        assert!((per[1].precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(per[1].recall, 1.0);
        assert!((per[1].f1 - 0.8).abs() < 1e-12);
        assert!((m.macro_f1.unwrap() - 0.65).abs() < 1e-12);
        // Pooled: tp 3, fp 2, fn 1: F1 6/9.
        assert!((m.get("micro_f1").unwrap() - 6.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn counts_survive_a_checkpoint() {
        let mut c = LabelCounts::new(3);
        c.add(
            &[0.9, 0.1, 0.7, 0.2, 0.8, 0.3],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
        );
        let mut r = CarriedReader::new(Carried {
            words: c.carried(),
            tensors: Vec::new(),
        });
        assert_eq!(LabelCounts::restore(3, &mut r).unwrap(), c);
    }

    #[test]
    fn loss_is_binary_cross_entropy_of_the_sigmoid() {
        let d = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 2.0], [1, 2]), &d);
        let labels = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &d);
        let p = 1.0 / (1.0 + (-2.0f32).exp());
        let expected = (-(0.5f32).ln() - (1.0 - p).ln()) / 2.0;
        assert!((loss(logits, labels).into_scalar::<f32>() - expected).abs() < 1e-5);
    }
}
