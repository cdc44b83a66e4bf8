//! Language modelling as a [`Task`]: next-token cross-entropy over windows of a token stream,
//! in nats per token, with bits per token and perplexity beside it. With stateful windows the
//! layers' state runs on from one batch to the next (detached, so backpropagation stops at
//! the window's edge) and starts from zeros each epoch.

use std::f64::consts::LN_2;

use burn::tensor::{Device, Tensor};
use kiln_data::text::Windows;
use kiln_models::{CellState, LanguageModel};

use crate::LossKind;
use crate::fit::{
    Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError, TrainStep,
};
use crate::resume::{Carried, CarriedReader};

/// What a language model reports for a split: the loss in nats per token, its other two
/// faces, and the share of next tokens guessed right.
pub const LANGUAGE_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::higher("accuracy"),
    Metric::lower("bits_per_char"),
    Metric::lower("perplexity"),
];

pub struct LanguageModeling<'a> {
    pub train: Windows<'a>,
    pub validation: Option<Windows<'a>>,
    pub loss: LossKind,
    state: Option<Vec<CellState>>,
}

impl<'a> LanguageModeling<'a> {
    pub fn new(train: Windows<'a>, validation: Option<Windows<'a>>, loss: LossKind) -> Self {
        Self {
            train,
            validation,
            loss,
            state: None,
        }
    }
}

/// Loss and correct next-token guesses of `model` on one batch, and the state it ended in.
fn forward(
    model: &LanguageModel,
    windows: &Windows,
    starts: &[usize],
    state: Option<Vec<CellState>>,
    loss: LossKind,
    device: &Device,
) -> (Tensor<1>, usize, usize, Vec<CellState>) {
    let batch = windows.batch(starts, device);
    let (logits, state) = model.forward(batch.inputs, state);
    let [b, t, v] = logits.dims();
    let logits = logits.reshape([b * t, v]);
    let targets = batch.targets.reshape([b * t]);
    let correct = logits
        .clone()
        .detach()
        .argmax(1)
        .reshape([b * t])
        .equal(targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>() as usize;
    (loss.forward(logits, targets), b * t, correct, state)
}

/// Loss in nats per token, with its other two faces.
pub fn language_metrics(loss: f64, accuracy: f64) -> SplitMetrics {
    SplitMetrics {
        loss,
        accuracy,
        macro_f1: None,
        confusion: None,
        extra: vec![("bits_per_char", loss / LN_2), ("perplexity", loss.exp())],
    }
}

impl Task for LanguageModeling<'_> {
    type Model = LanguageModel;

    fn num_batches(&self) -> usize {
        self.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.validation
            .as_ref()
            .is_some_and(|v| v.num_batches() > 0)
    }

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.state = None;
        self.train.order(Some(seed))
    }

    fn metrics(&self) -> &'static [Metric] {
        LANGUAGE_METRICS
    }

    fn optimize(
        &mut self,
        model: LanguageModel,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(LanguageModel, StepOutcome), TrainError> {
        let out = {
            let model = &model;
            let carried = self.state.take();
            let (loss, tokens, correct, state) =
                forward(model, &self.train, indices, carried, self.loss, device);
            if self.train.is_stateful() {
                self.state = Some(state.into_iter().map(CellState::detach).collect());
            }
            TrainStep {
                loss,
                samples: tokens,
                predictions: tokens,
                correct,
            }
        };
        Ok(optimizers.step_whole(model, out))
    }

    fn carried(&self) -> Carried {
        let mut carried = Carried::default();
        if let Some(layers) = &self.state {
            carried.words.push(layers.len() as u64);
            for s in layers {
                carried.tensors.push(s.h.to_data());
                carried.tensors.push(s.c.to_data());
            }
        }
        carried
    }

    fn restore(&mut self, carried: &mut CarriedReader, device: &Device) -> Result<(), String> {
        self.state = match carried.word() {
            Err(_) => None,
            Ok(layers) => Some(
                (0..layers)
                    .map(|_| {
                        Ok(CellState {
                            h: Tensor::from_data(carried.tensor()?, device),
                            c: Tensor::from_data(carried.tensor()?, device),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
        };
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, accuracy: f64) -> SplitMetrics {
        language_metrics(loss, accuracy)
    }

    fn validate(
        &mut self,
        model: &LanguageModel,
        device: &Device,
        observer: &mut dyn Observer<LanguageModel>,
    ) -> Result<SplitMetrics, TrainError> {
        let windows = self.validation.as_ref().expect("has_validation checked it");
        evaluate_language(model, windows, self.loss, device, observer)
    }
}

/// Loss and metrics of a validation-mode `model` over every window of `windows`.
pub fn evaluate_language(
    model: &LanguageModel,
    windows: &Windows,
    loss: LossKind,
    device: &Device,
    observer: &mut dyn Observer<LanguageModel>,
) -> Result<SplitMetrics, TrainError> {
    let order = windows.order(None);
    observer.on_evaluation_start(order.len());
    let (mut loss_sum, mut tokens, mut correct) = (0.0f64, 0usize, 0usize);
    let mut state = None;
    for (batch, starts) in order.iter().enumerate() {
        if observer.stop_requested() {
            return Err(TrainError::EvaluationInterrupted {
                batch,
                batches: order.len(),
            });
        }
        let (l, n, c, s) = forward(model, windows, starts, state.take(), loss, device);
        if windows.is_stateful() {
            state = Some(s);
        }
        loss_sum += l.into_scalar::<f32>() as f64 * n as f64;
        tokens += n;
        correct += c;
        observer.on_evaluation_batch();
    }
    Ok(language_metrics(
        loss_sum / tokens.max(1) as f64,
        correct as f64 / tokens.max(1) as f64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdamParams, Monitor, OptimizerConfig, ScheduleConfig, TrainConfig, fit_task};
    use kiln_models::{CellKind, LanguageModelConfig};

    fn config(epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: 8,
            learning_rate: 0.01,
            optimizer: OptimizerConfig::Adam(AdamParams::default()),
            weight_decay: 0.0,
            schedule: ScheduleConfig::Constant,
            warmup_epochs: 0.0,
            loss: LossKind::CrossEntropy,
            grad_clip: None,
            monitor: Monitor::val("loss"),
            early_stopping: None,
            eval_batch_size: 8,
            teacher_forcing: None,
            teacher_forcing_final: None,
        }
    }

    struct Quiet;
    impl Observer<LanguageModel> for Quiet {}

    #[test]
    fn a_periodic_text_is_learnt_statefully_and_not() {
        // "abcd" repeated: after a few epochs the next token is certain, so the loss falls
        // far below the uniform ln(6) nats.
        let tokens: Vec<u32> = (0..2000).map(|i| 2 + (i % 4) as u32).collect();
        for stateful in [false, true] {
            let device = Device::flex();
            device.seed(1);
            let model = LanguageModelConfig {
                cell: CellKind::Gru,
                embedding_dim: 8,
                hidden: 16,
                layers: 1,
                dropout: 0.0,
            }
            .init(6, &device)
            .unwrap();
            let (train, val) = tokens.split_at(1600);
            let mut task = LanguageModeling::new(
                Windows::new(train, 10, 8, stateful),
                Some(Windows::new(val, 10, 8, stateful)),
                LossKind::CrossEntropy,
            );
            let outcome = fit_task(model, &config(4), &mut task, &device, 1, &mut Quiet).unwrap();
            let last = outcome.history.last().unwrap();
            let val = last.validation.as_ref().unwrap();
            assert!(val.loss < 0.2, "stateful {stateful}: {}", val.loss);
            assert!(val.accuracy > 0.95, "stateful {stateful}: {}", val.accuracy);
            let bpc = val.get("bits_per_char").unwrap();
            assert!((bpc - val.loss / LN_2).abs() < 1e-12);
            assert!((val.get("perplexity").unwrap() - val.loss.exp()).abs() < 1e-9);
            // Samples are predicted tokens: 1600 tokens make 159 windows of 10 (or 8 lanes
            // of 199, 19 windows each).
            let per_epoch: usize = if stateful { 19 * 8 * 10 } else { 159 * 10 };
            assert_eq!(task.train.tokens_per_epoch(), per_epoch);
        }
    }
}
