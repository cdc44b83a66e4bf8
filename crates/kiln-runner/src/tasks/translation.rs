//! Translation: an encoder-decoder on sentence pairs or synthetic sequence problems, scored
//! by exact match and corpus BLEU-4 of its decoded outputs, with examples written after every
//! epoch and every test output in `test_outputs.tsv`.

use std::fmt::Write as _;
use std::io::BufRead;

use anyhow::Context;
use std::time::Instant;

use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_data::text::{PairBatcher, Vocabulary};
use kiln_models::{ModelConfig, Seq2Seq};
use kiln_train::{
    Decoding, StepObserver, TrainError, Translation as TranslationTask, beam_one,
    evaluate_translation, fit_task,
};

use super::{
    PreparedTask, RunContext, TaskKind, Trained, fit_and_record, fit_steps, model_error,
    write_metrics_report, write_sample,
};
use crate::config::schema::{Experiment, LoadedExperiment};
use crate::config::spec::{DecodeSettings, Translation};
use crate::store::finished::Finished;
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::tasks::prepare::PairData;

impl TaskKind for Translation {
    fn translate(
        &self,
        run: &Finished,
        inputs: &[String],
        beam_width: Option<usize>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        let ModelConfig::Seq2seq(config) = &run.experiment.model else {
            return Err(run.not_for("translate", "a seq2seq run"));
        };
        let source_vocab = run.vocabulary(run.run.side_vocabulary("source"))?;
        let target_vocab = run.vocabulary(run.run.side_vocabulary("target"))?;
        let tokenizer = run.tokenizer();
        let device = Device::flex();
        let model: Seq2Seq =
            run.load(config.init(source_vocab.len(), target_vocab.len(), &device)?)?;
        let generation: DecodeSettings = run.experiment.generation_as()?;
        let decoding = Decoding {
            beam_width: beam_width.unwrap_or(generation.beam_width),
            length_penalty: generation.length_penalty,
            max_len: generation.max_len.unwrap_or(100),
        };
        let mut one = |text: &str| -> anyhow::Result<()> {
            let source = source_vocab.encode(tokenizer.as_ref(), text);
            let output = if source.is_empty() {
                Vec::new()
            } else {
                beam_one(&model, &source, decoding, &device)
            };
            writeln!(out, "{}", target_vocab.decode(tokenizer.as_ref(), &output))?;
            Ok(())
        };
        if inputs.is_empty() {
            for line in std::io::stdin().lock().lines() {
                one(&line.context("reading stdin")?)?;
            }
        } else {
            for text in inputs {
                one(text)?;
            }
        }
        Ok(())
    }
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let (data, source) = PairData::load(&loaded.experiment)?;
        let model = initial_seq2seq(loaded, &data)?;
        Ok(Box::new(Ready {
            data,
            source,
            model,
            settings: loaded.experiment.generation_as()?,
        }))
    }
}

struct Ready {
    data: PairData,
    source: String,
    model: Seq2Seq,
    settings: DecodeSettings,
}

impl PreparedTask for Ready {
    fn data(&self) -> DataInfo {
        DataInfo {
            source: self.source.clone(),
            train: self.data.train_idx.len(),
            validation: self.data.val_idx.len(),
            test: self.data.test_idx.len(),
            image: None,
            skipped: 0,
        }
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let Ready {
            data,
            model,
            settings,
            ..
        } = *self;
        translation(ctx, &data, model, &settings)
    }

    fn train_steps(
        self: Box<Self>,
        exp: &Experiment,
        steps: usize,
        device: &Device,
        observer: &mut dyn StepObserver,
    ) -> Result<(), TrainError> {
        let Ready {
            data,
            model,
            settings,
            ..
        } = *self;
        let decoding = decoding(&settings, data.longest_target);
        let mut task = TranslationTask::new(train_pairs(&data, exp), None, decoding, &exp.train);
        fit_steps(model, &mut task, exp, steps, device, observer)
    }
}

/// The encoder-decoder for `data`, with seeded weights made on flex.
fn initial_seq2seq(loaded: &LoadedExperiment, data: &PairData) -> anyhow::Result<Seq2Seq> {
    let exp = &loaded.experiment;
    let ModelConfig::Seq2seq(config) = &exp.model else {
        return Err(model_error(
            loaded,
            kiln_models::Invalid::new("kind", "sentence pairs need a seq2seq model"),
        ));
    };
    let device = Device::flex();
    device.seed(exp.seed);
    let model = config
        .init(data.source_vocab.len(), data.target_vocab.len(), &device)
        .map_err(|e| model_error(loaded, e))?;
    super::fits_in_memory(loaded, &model)?;
    kiln_models::portable::materialize(&model);
    Ok(model)
}

/// How outputs are decoded: the experiment's beam, up to its `max_len` or the longest
/// target in the data plus 10.
fn decoding(settings: &DecodeSettings, longest_target: usize) -> Decoding {
    Decoding {
        beam_width: settings.beam_width,
        length_penalty: settings.length_penalty,
        max_len: settings.max_len.unwrap_or(longest_target + 10),
    }
}

/// The training batches, one builder for a run and for the bench.
fn train_pairs<'a>(data: &'a PairData, exp: &Experiment) -> PairBatcher<'a> {
    PairBatcher::new(
        &data.sources,
        &data.targets,
        data.train_idx.clone(),
        exp.train.batch_size,
    )
}

fn translation(
    ctx: RunContext,
    data: &PairData,
    model: Seq2Seq,
    settings: &DecodeSettings,
) -> anyhow::Result<Trained> {
    let RunContext {
        exp,
        run,
        device,
        eval_size,
        manifest,
        checkpointing,
    } = ctx;
    data.source_vocab.save(&run.side_vocabulary("source"))?;
    data.target_vocab.save(&run.side_vocabulary("target"))?;
    let decoding = decoding(settings, data.longest_target);
    let batcher =
        |idx: &[usize], size| PairBatcher::new(&data.sources, &data.targets, idx.to_vec(), size);
    let validation = (!data.val_idx.is_empty()).then(|| batcher(&data.val_idx, eval_size));
    let mut task = TranslationTask::new(train_pairs(data, exp), validation, decoding, &exp.train);
    let shown: Vec<usize> = data
        .val_idx
        .iter()
        .chain(&data.train_idx)
        .take(settings.examples)
        .copied()
        .collect();
    let hook_device = device.clone();
    let mut observer = RunObserver::<Seq2Seq>::new(run, exp.train.epochs, checkpointing)
        .with_epoch_hook(Box::new(move |epoch, model: &Seq2Seq| {
            if shown.is_empty() {
                return Ok(());
            }
            let examples =
                PairBatcher::new(&data.sources, &data.targets, shown.clone(), shown.len());
            let outputs =
                evaluate_translation(model, &examples, decoding, &hook_device, &mut Silent)?
                    .outputs;
            let mut text = format!("epoch {epoch}: source, target, output\n\n");
            for (&i, output) in shown.iter().zip(&outputs) {
                let _ = writeln!(
                    text,
                    "> {}\n= {}\n< {}\n",
                    data.source_vocab
                        .decode(data.tokenizer.as_ref(), &data.sources[i]),
                    data.target_vocab
                        .decode(data.tokenizer.as_ref(), &data.targets[i]),
                    data.target_vocab.decode(data.tokenizer.as_ref(), output),
                );
            }
            write_sample(run, epoch, &text)
        }));
    let (outcome, train_seconds) = fit_and_record(run, manifest, &mut observer, |o| {
        fit_task(model, &exp.train, &mut task, device, exp.seed, o)
    })?;

    let clock = Instant::now();
    let test_data = batcher(&data.test_idx, eval_size);
    let translated =
        evaluate_translation(&outcome.best, &test_data, decoding, device, &mut observer)?;
    manifest.timings.test_s = Some(clock.elapsed().as_secs_f64());
    let mut tsv = String::from("source\ttarget\toutput\n");
    let text = |vocab: &Vocabulary, ids: &[u32]| {
        vocab
            .decode(data.tokenizer.as_ref(), ids)
            .replace(['\t', '\n'], " ")
    };
    for (&i, output) in data.test_idx.iter().zip(&translated.outputs) {
        let _ = writeln!(
            tsv,
            "{}\t{}\t{}",
            text(&data.source_vocab, &data.sources[i]),
            text(&data.target_vocab, &data.targets[i]),
            text(&data.target_vocab, output)
        );
    }
    write_atomically(&run.test_outputs(), tsv.as_bytes())?;
    write_metrics_report(
        run,
        &translated.metrics,
        outcome.best_epoch,
        "test",
        data.test_idx.len(),
    )?;
    Ok(Trained::new(
        &outcome,
        observer.epochs,
        translated.metrics,
        "test",
        train_seconds,
    ))
}

/// Decoding examples draws no progress and never stops early.
struct Silent;
impl kiln_train::Observer<Seq2Seq> for Silent {}
