//! Sequence-to-sequence learning as a [`Task`]: masked next-token cross-entropy under teacher
//! forcing (the true previous token fed with probability `teacher_forcing`, else the model's
//! own guess), and on the validation split, decoded outputs scored by exact match and corpus
//! BLEU-4 beside the teacher-forced loss and token accuracy.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};
use kiln_data::text::{PairBatch, PairBatcher, Vocabulary};
use kiln_models::Seq2Seq;
use kiln_models::decode::Bounds;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::TrainConfig;
use crate::bleu::corpus_bleu;
use crate::fit::{
    Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError, TrainStep,
};
use crate::resume::{Carried, CarriedReader};

/// How outputs are decoded for scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoding {
    /// 1 decodes a whole batch greedily at once; wider beams decode pair by pair.
    pub beam_width: usize,
    pub length_penalty: f64,
    /// Output tokens at most (the end token not counted).
    pub max_len: usize,
}

/// What an encoder-decoder reports for a split: the teacher-forced loss and token accuracy,
/// and the decoded outputs' exact matches and corpus BLEU-4.
pub const TRANSLATION_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::higher("accuracy"),
    Metric::higher("exact_match"),
    Metric::higher("bleu"),
];

pub struct Translation<'a> {
    pub train: PairBatcher<'a>,
    pub validation: Option<PairBatcher<'a>>,
    pub decoding: Decoding,
    config: TrainConfig,
    ratio: f64,
    coin: Coin,
}

/// The teacher-forcing coin: a seeded stream that counts its tosses, so that a checkpoint can
/// put it back where it was (replaying is cheap: a few thousand tosses an epoch).
struct Coin {
    seed: u64,
    rng: ChaCha8Rng,
    tosses: u64,
}

impl Coin {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            tosses: 0,
        }
    }

    fn at(seed: u64, tosses: u64) -> Self {
        let mut coin = Self::new(seed);
        for _ in 0..tosses {
            coin.toss();
        }
        coin
    }

    fn toss(&mut self) -> f64 {
        self.tosses += 1;
        self.rng.random::<f64>()
    }
}

impl<'a> Translation<'a> {
    pub fn new(
        train: PairBatcher<'a>,
        validation: Option<PairBatcher<'a>>,
        decoding: Decoding,
        config: &TrainConfig,
    ) -> Self {
        Self {
            train,
            validation,
            decoding,
            config: config.clone(),
            ratio: 1.0,
            coin: Coin::new(0),
        }
    }
}

/// Teacher-forced logits `[batch, time, vocab]`: every step at once when the ratio is 1, step
/// by step otherwise.
fn logits(model: &Seq2Seq, batch: &PairBatch, ratio: f64, coin: &mut Coin) -> Tensor<3> {
    let encoded = model.encode(batch.sources.clone(), Vocabulary::PAD);
    if ratio >= 1.0 {
        return model
            .decode(
                batch.decoder_inputs.clone(),
                &encoded,
                encoded.states.clone(),
            )
            .0;
    }
    let [n, steps] = batch.decoder_inputs.dims();
    let mut states = encoded.states.clone();
    let mut input = batch.decoder_inputs.clone().narrow(1, 0, 1);
    let mut out = Vec::with_capacity(steps);
    for t in 0..steps {
        let (step_logits, next) = model.decode(input.clone(), &encoded, states);
        states = next;
        if t + 1 < steps {
            input = if coin.toss() < ratio {
                batch.decoder_inputs.clone().narrow(1, t + 1, 1)
            } else {
                step_logits.clone().detach().argmax(2).reshape([n, 1])
            };
        }
        out.push(step_logits);
    }
    Tensor::cat(out, 1)
}

/// Mean cross-entropy over the non-padding labels, their count and the correct guesses.
fn masked_loss(logits: Tensor<3>, labels: Tensor<2, Int>) -> (Tensor<1>, usize, usize) {
    let [b, t, v] = logits.dims();
    let labels = labels.reshape([b * t]);
    let logits = logits.reshape([b * t, v]);
    let real = labels.clone().not_equal_elem(Vocabulary::PAD as i64);
    let count = real.clone().int().sum().into_scalar::<i64>() as usize;
    let correct = logits
        .clone()
        .detach()
        .argmax(1)
        .reshape([b * t])
        .equal(labels.clone())
        .bool_and(real.clone())
        .int()
        .sum()
        .into_scalar::<i64>() as usize;
    let picked = log_softmax(logits, 1)
        .gather(1, labels.reshape([b * t, 1]))
        .reshape([b * t]);
    let loss = -(picked * real.float()).sum() / count.max(1) as f32;
    (loss, count, correct)
}

impl Task for Translation<'_> {
    type Model = Seq2Seq;

    fn num_batches(&self) -> usize {
        self.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| !v.is_empty())
    }

    fn start_epoch(&mut self, epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.ratio = self.config.teacher_forcing_at(epoch);
        self.coin = Coin::new(seed ^ 0x7eac_4e55);
        self.train.order(Some(seed))
    }

    fn metrics(&self) -> &'static [Metric] {
        TRANSLATION_METRICS
    }

    fn optimize(
        &mut self,
        model: Seq2Seq,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(Seq2Seq, StepOutcome), TrainError> {
        let out = {
            let model = &model;
            let batch = self.train.batch(indices, device);
            let logits = logits(model, &batch, self.ratio, &mut self.coin);
            let (loss, tokens, correct) = masked_loss(logits, batch.labels);
            TrainStep {
                loss,
                samples: batch.len,
                predictions: tokens,
                correct,
            }
        };
        Ok(optimizers.step_whole(model, out))
    }

    fn carried(&self) -> Carried {
        Carried {
            words: vec![self.coin.seed, self.coin.tosses],
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        let (seed, tosses) = (carried.word()?, carried.word()?);
        self.coin = Coin::at(seed, tosses);
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, accuracy: f64) -> SplitMetrics {
        SplitMetrics {
            loss,
            accuracy,
            macro_f1: None,
            confusion: None,
            extra: Vec::new(),
        }
    }

    fn validate(
        &mut self,
        model: &Seq2Seq,
        device: &Device,
        observer: &mut dyn Observer<Seq2Seq>,
    ) -> Result<SplitMetrics, TrainError> {
        let data = self.validation.as_ref().expect("has_validation checked it");
        Ok(evaluate_translation(model, data, self.decoding, device, observer)?.metrics)
    }
}

/// Metrics of a split and what the model wrote for each pair, in the batcher's order.
pub struct Translated {
    pub metrics: SplitMetrics,
    pub outputs: Vec<Vec<u32>>,
}

/// Teacher-forced loss and token accuracy, then decoded outputs scored by exact match and
/// BLEU-4, over every pair of `data`.
pub fn evaluate_translation<M>(
    model: &Seq2Seq,
    data: &PairBatcher,
    decoding: Decoding,
    device: &Device,
    observer: &mut dyn Observer<M>,
) -> Result<Translated, TrainError> {
    let order = data.order(None);
    observer.on_evaluation_start(order.len());
    let (mut loss_sum, mut tokens, mut correct) = (0.0f64, 0usize, 0usize);
    let mut outputs: Vec<Vec<u32>> = Vec::with_capacity(data.len());
    let bounds = Bounds {
        start: Vocabulary::BOS as usize,
        end: Vocabulary::EOS as usize,
        max_len: decoding.max_len,
    };
    let mut unused = Coin::new(0);
    for (b, indices) in order.iter().enumerate() {
        if observer.stop_requested() {
            return Err(TrainError::EvaluationInterrupted {
                batch: b,
                batches: order.len(),
            });
        }
        let batch = data.batch(indices, device);
        let (loss, n, c) = masked_loss(
            logits(model, &batch, 1.0, &mut unused),
            batch.labels.clone(),
        );
        loss_sum += loss.into_scalar::<f32>() as f64 * n as f64;
        tokens += n;
        correct += c;
        if decoding.beam_width <= 1 {
            outputs.extend(
                model
                    .greedy(batch.sources, Vocabulary::PAD, bounds)
                    .into_iter()
                    .map(|o| o.into_iter().map(|t| t as u32).collect::<Vec<u32>>()),
            );
        } else {
            for &i in indices {
                outputs.push(beam_one(model, data.source(i), decoding, device));
            }
        }
        observer.on_evaluation_batch();
    }
    let references: Vec<Vec<u32>> = data
        .indices()
        .iter()
        .map(|&i| data.target(i).to_vec())
        .collect();
    let exact = outputs
        .iter()
        .zip(&references)
        .filter(|(o, r)| o == r)
        .count();
    Ok(Translated {
        metrics: SplitMetrics {
            loss: loss_sum / tokens.max(1) as f64,
            accuracy: correct as f64 / tokens.max(1) as f64,
            macro_f1: None,
            confusion: None,
            extra: vec![
                ("exact_match", exact as f64 / references.len().max(1) as f64),
                ("bleu", corpus_bleu(&outputs, &references)),
            ],
        },
        outputs,
    })
}

/// The best beam for one source, its end token dropped.
pub fn beam_one(model: &Seq2Seq, source: &[u32], decoding: Decoding, device: &Device) -> Vec<u32> {
    let source = Tensor::<2, Int>::from_data(
        burn::tensor::TensorData::new(
            source.iter().map(|&t| t as i64).collect(),
            [1, source.len()],
        ),
        device,
    );
    let bounds = Bounds {
        start: Vocabulary::BOS as usize,
        end: Vocabulary::EOS as usize,
        max_len: decoding.max_len,
    };
    let best = model
        .beam(
            source,
            Vocabulary::PAD,
            bounds,
            decoding.beam_width,
            decoding.length_penalty,
        )
        .into_iter()
        .next()
        .map(|h| h.tokens)
        .unwrap_or_default();
    best.into_iter()
        .filter(|&t| t != bounds.end)
        .map(|t| t as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdamParams, LossKind, Monitor, OptimizerConfig, ScheduleConfig, fit_task};
    use burn::tensor::TensorData;
    use kiln_models::{AttentionKind, CellKind, Seq2SeqConfig};

    #[test]
    fn the_masked_loss_ignores_padding() {
        let d = Device::flex();
        // Two labels: a real 1 and a pad; the pad's row is garbage that must not count.
        let logits = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 2.0, 0.0, 9.0, -9.0, 0.0], [1, 2, 3]),
            &d,
        );
        let labels = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &d);
        let (loss, count, correct) = masked_loss(logits, labels);
        let expected = -(2.0f64.exp() / (2.0 + 2.0f64.exp())).ln();
        assert!((loss.into_scalar::<f32>() as f64 - expected).abs() < 1e-5);
        assert_eq!((count, correct), (1, 1));
    }

    struct Quiet;
    impl Observer<Seq2Seq> for Quiet {}

    fn config(epochs: usize, teacher_forcing: Option<f64>) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: 16,
            learning_rate: 0.01,
            optimizer: OptimizerConfig::Adam(AdamParams::default()),
            weight_decay: 0.0,
            schedule: ScheduleConfig::Constant,
            warmup_epochs: 0.0,
            loss: LossKind::CrossEntropy,
            grad_clip: None,
            monitor: Monitor::val("exact_match"),
            early_stopping: None,
            eval_batch_size: 64,
            teacher_forcing,
            teacher_forcing_final: None,
        }
    }

    #[test]
    fn reversal_is_learnt_with_and_without_teacher_forcing() {
        // Reverse strings of 4 symbols out of 3 (81 pairs; 4 symbols so that BLEU-4 has a
        // 4-gram to count), a few epochs of a small GRU.
        let sources: Vec<Vec<u32>> = (0..81u32)
            .map(|i| vec![4 + i % 3, 4 + (i / 3) % 3, 4 + (i / 9) % 3, 4 + i / 27])
            .collect();
        let targets: Vec<Vec<u32>> = sources
            .iter()
            .map(|s| s.iter().rev().copied().collect())
            .collect();
        for (forcing, attention) in [(None, AttentionKind::Dot), (Some(0.5), AttentionKind::None)] {
            let device = Device::flex();
            device.seed(5);
            let model = Seq2SeqConfig {
                cell: CellKind::Gru,
                embedding_dim: 16,
                hidden: 48,
                layers: 1,
                dropout: 0.0,
                attention,
            }
            .init(7, 7, &device)
            .unwrap();
            let config = config(40, forcing);
            let decoding = Decoding {
                beam_width: 1,
                length_penalty: 0.0,
                max_len: 6,
            };
            let mut task = Translation::new(
                PairBatcher::new(&sources, &targets, (0..81).collect(), 16),
                Some(PairBatcher::new(&sources, &targets, (0..81).collect(), 81)),
                decoding,
                &config,
            );
            let outcome = fit_task(model, &config, &mut task, &device, 5, &mut Quiet).unwrap();
            let best = &outcome.history[outcome.best_epoch - 1];
            let val = best.validation.as_ref().unwrap();
            assert!(
                val.get("exact_match").unwrap() > 0.9,
                "{forcing:?}: {val:?}"
            );
            assert!(val.get("bleu").unwrap() > 0.8, "{forcing:?}: {val:?}");
            // A beam of 3 on the best model agrees with what greedy got right.
            let wide = Decoding {
                beam_width: 3,
                ..decoding
            };
            let beamed = evaluate_translation(
                &outcome.best,
                task.validation.as_ref().unwrap(),
                wide,
                &device,
                &mut Quiet,
            )
            .unwrap();
            assert!(beamed.metrics.get("exact_match").unwrap() > 0.9);
        }
    }

    #[test]
    fn teacher_forcing_moves_linearly_to_its_final_ratio() {
        let mut c = config(5, Some(1.0));
        c.teacher_forcing_final = Some(0.5);
        let ratios: Vec<f64> = (1..=5).map(|e| c.teacher_forcing_at(e)).collect();
        assert_eq!(ratios, vec![1.0, 0.875, 0.75, 0.625, 0.5]);
        c.teacher_forcing_final = None;
        assert_eq!(c.teacher_forcing_at(3), 1.0);
        c.teacher_forcing = Some(1.5);
        assert_eq!(c.validate().unwrap_err().field, "teacher_forcing");
    }
}
