//! The runner's side of generative models: building them for the data, training them through
//! kiln-train's tasks, and writing what they generate into the run folder (samples after
//! every epoch, decoded test outputs) beside the usual metrics and checkpoint.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::Device;
use kiln_data::download::write_atomically;
use kiln_data::text::{PairBatcher, Vocabulary, Windows};
use kiln_models::decode::{Sampler, Sampling};
use kiln_models::{LanguageModel, ModelConfig, Seq2Seq};
use kiln_train::{
    Decoding, LanguageModeling, SplitMetrics, Translation, evaluate_language, evaluate_translation,
    fit_task,
};
use serde_json::json;

use crate::config::{Experiment, GenerationConfig, LoadedExperiment};
use crate::manifest::Manifest;
use crate::observer::RunObserver;
use crate::prepare::{CorpusData, PairData, Prepared};
use crate::run::{Trained, model_error, record_fit};
use crate::run_dir::RunDir;

/// The language model for `data`, with seeded weights made on flex (as classifiers are).
pub fn initial_language_model(
    loaded: &LoadedExperiment,
    data: &CorpusData,
) -> anyhow::Result<LanguageModel> {
    let exp = &loaded.experiment;
    let ModelConfig::LanguageModel(config) = &exp.model else {
        unreachable!("the schema pairs a corpus with a language model")
    };
    if data
        .vocab
        .encode(data.tokenizer.as_ref(), &exp.generation.prompt)
        .is_empty()
    {
        anyhow::bail!(
            "{}: `generation.prompt` = {:?} has no tokens to start a sample from",
            loaded.file.display(),
            exp.generation.prompt
        );
    }
    let device = Device::flex();
    device.seed(exp.seed);
    let model = config
        .init(data.vocab.len(), &device)
        .map_err(|e| model_error(loaded, e))?;
    kiln_models::portable::materialize(&model);
    Ok(model)
}

/// The encoder-decoder for `data`, with seeded weights made on flex.
pub fn initial_seq2seq(loaded: &LoadedExperiment, data: &PairData) -> anyhow::Result<Seq2Seq> {
    let exp = &loaded.experiment;
    let ModelConfig::Seq2seq(config) = &exp.model else {
        unreachable!("the schema pairs sentence pairs with seq2seq")
    };
    let device = Device::flex();
    device.seed(exp.seed);
    let model = config
        .init(data.source_vocab.len(), data.target_vocab.len(), &device)
        .map_err(|e| model_error(loaded, e))?;
    kiln_models::portable::materialize(&model);
    Ok(model)
}

/// The special tokens (`<pad>`, `<unk>`, `<bos>`, `<eos>`): markers, not text to draw.
pub const SPECIALS: [usize; 4] = [
    Vocabulary::PAD as usize,
    Vocabulary::UNK as usize,
    Vocabulary::BOS as usize,
    Vocabulary::EOS as usize,
];

/// One sample per temperature, from the same prompt.
pub fn samples(
    model: &LanguageModel,
    data: (&Vocabulary, &dyn kiln_data::text::Tokenizer),
    generation: &GenerationConfig,
    seed: u64,
    device: &Device,
) -> String {
    let (vocab, tokenizer) = data;
    let prompt: Vec<usize> = vocab
        .encode(tokenizer, &generation.prompt)
        .into_iter()
        .map(|t| t as usize)
        .collect();
    let mut sampler = Sampler::new(seed);
    let mut out = String::new();
    for &temperature in &generation.temperatures {
        let how = Sampling {
            temperature,
            top_k: generation.top_k,
        };
        let drawn = model.generate(
            &prompt,
            generation.length,
            how,
            &mut sampler,
            &SPECIALS,
            device,
        );
        let ids: Vec<u32> = prompt.iter().chain(&drawn).map(|&t| t as u32).collect();
        let _ = writeln!(
            out,
            "--- temperature {temperature} ---\n{}\n",
            vocab.decode(tokenizer, &ids)
        );
    }
    out
}

pub(crate) fn language(
    exp: &Experiment,
    run: &RunDir,
    data: &CorpusData,
    model: LanguageModel,
    device: &Device,
    eval_size: usize,
    manifest: &mut Manifest,
) -> anyhow::Result<Trained> {
    data.vocab.save(&run.vocabulary())?;
    let seq_len = exp.data.seq_len();
    let stateful = exp.data.stateful.unwrap_or(false);
    // Validation reads the text as contiguous lanes with the state carried, whatever the
    // training layout, as char-rnn and PyTorch's word_language_model evaluate: every character
    // but the lanes' first few is predicted from its full context. Lanes of ten windows or more.
    let lanes = (data.validation.len() / (seq_len * 10)).clamp(1, eval_size);
    let validation = (data.validation.len() > seq_len)
        .then(|| Windows::new(&data.validation, seq_len, lanes, true));
    let mut task = LanguageModeling::new(
        Windows::new(&data.train, seq_len, exp.train.batch_size, stateful),
        validation,
        exp.train.loss,
    );
    let generation = exp.generation.clone();
    let seed = exp.seed;
    let hook_device = device.clone();
    let mut observer = RunObserver::<LanguageModel>::new(run, exp.train.epochs).with_epoch_hook(
        Box::new(move |epoch, model: &LanguageModel| {
            let text = samples(
                model,
                (&data.vocab, data.tokenizer.as_ref()),
                &generation,
                seed.wrapping_add(epoch as u64),
                &hook_device,
            );
            let header = format!(
                "epoch {epoch}: prompt {:?}, {} tokens per sample, seed {}\n\n",
                generation.prompt,
                generation.length,
                seed.wrapping_add(epoch as u64)
            );
            write_sample(run, epoch, &(header + &text))
        }),
    );
    let clock = Instant::now();
    let fitted = fit_task(
        model,
        &exp.train,
        &mut task,
        device,
        exp.seed,
        &mut observer,
    );
    let train_seconds = clock.elapsed().as_secs_f64();
    let outcome = record_fit(run, manifest, &mut observer, fitted, train_seconds)?;

    // A corpus has no test split: the best model is scored on the validation text again.
    let clock = Instant::now();
    let (test, split) = match &task.validation {
        Some(v) => (
            evaluate_language(&outcome.best, v, exp.train.loss, device, &mut observer)?,
            "validation",
        ),
        None => (
            outcome.history[outcome.best_epoch - 1].train.clone(),
            "train",
        ),
    };
    manifest.timings.test_s = Some(clock.elapsed().as_secs_f64());
    write_report(run, &test, outcome.best_epoch, split, data.validation.len())?;
    Ok(Trained {
        epochs: observer.epochs,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        test,
        test_split: split,
        train_seconds,
    })
}

/// How outputs are decoded: the experiment's beam, up to its `max_len` or the longest
/// target in the data plus 10.
pub fn decoding(exp: &Experiment, longest_target: usize) -> Decoding {
    Decoding {
        beam_width: exp.generation.beam_width,
        length_penalty: exp.generation.length_penalty,
        max_len: exp.generation.max_len.unwrap_or(longest_target + 10),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn translation(
    exp: &Experiment,
    run: &RunDir,
    prepared: &Prepared,
    data: &PairData,
    model: Seq2Seq,
    device: &Device,
    eval_size: usize,
    manifest: &mut Manifest,
) -> anyhow::Result<Trained> {
    data.source_vocab.save(&run.side_vocabulary("source"))?;
    data.target_vocab.save(&run.side_vocabulary("target"))?;
    let decoding = decoding(exp, data.longest_target);
    let batcher =
        |idx: &[usize], size| PairBatcher::new(&data.sources, &data.targets, idx.to_vec(), size);
    let validation = (!prepared.val_idx.is_empty()).then(|| batcher(&prepared.val_idx, eval_size));
    let mut task = Translation::new(
        batcher(&prepared.train_idx, exp.train.batch_size),
        validation,
        decoding,
        &exp.train,
    );
    let shown: Vec<usize> = prepared
        .val_idx
        .iter()
        .chain(&prepared.train_idx)
        .take(exp.generation.examples)
        .copied()
        .collect();
    let hook_device = device.clone();
    let mut observer = RunObserver::<Seq2Seq>::new(run, exp.train.epochs).with_epoch_hook(
        Box::new(move |epoch, model: &Seq2Seq| {
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
        }),
    );
    let clock = Instant::now();
    let fitted = fit_task(
        model,
        &exp.train,
        &mut task,
        device,
        exp.seed,
        &mut observer,
    );
    let train_seconds = clock.elapsed().as_secs_f64();
    let outcome = record_fit(run, manifest, &mut observer, fitted, train_seconds)?;

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
    write_report(
        run,
        &translated.metrics,
        outcome.best_epoch,
        "test",
        data.test_idx.len(),
    )?;
    Ok(Trained {
        epochs: observer.epochs,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        test: translated.metrics,
        test_split: "test",
        train_seconds,
    })
}

fn write_sample(run: &RunDir, epoch: usize, text: &str) -> anyhow::Result<()> {
    let path = run.samples(epoch);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(write_atomically(&path, text.as_bytes())?)
}

/// Decoding examples draws no progress and never stops early.
struct Silent;
impl kiln_train::Observer<Seq2Seq> for Silent {}

/// `test.json` of a generative run: loss, token accuracy and the task's own metrics.
fn write_report(
    run: &RunDir,
    metrics: &SplitMetrics,
    best_epoch: usize,
    split: &str,
    samples: usize,
) -> anyhow::Result<()> {
    let mut report = json!({
        "best_epoch": best_epoch,
        "split": split,
        "loss": metrics.loss,
        "accuracy": metrics.accuracy,
        "samples": samples,
    });
    for (name, value) in &metrics.extra {
        report[*name] = json!(value);
    }
    write_atomically(&run.test_report(), &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", run.test_report().display()))
}
