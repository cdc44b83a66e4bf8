//! Language modelling: a char- or word-level model of a corpus, validated on the text's
//! held-out tail read as contiguous lanes, with samples at each temperature written after
//! every epoch.

use std::fmt::Write as _;
use std::time::Instant;

use burn::tensor::Device;
use kiln_data::text::{Vocabulary, Windows};
use kiln_models::decode::{Sampler, Sampling};
use kiln_models::{LanguageModel, ModelConfig};
use kiln_train::{LanguageModeling, StepObserver, TrainError, evaluate_language, fit_task};

use super::{
    PreparedTask, RunContext, TaskKind, Trained, fit_and_record, fit_steps, model_error,
    write_metrics_report, write_sample,
};
use crate::config::schema::{DataConfig, Experiment, LoadedExperiment};
use crate::config::spec::{LanguageModelling, SampleSettings};
use crate::store::finished::{Finished, GenerateArgs};
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::tasks::prepare::CorpusData;

impl TaskKind for LanguageModelling {
    fn generate(&self, run: &Finished, args: &GenerateArgs) -> anyhow::Result<String> {
        let ModelConfig::LanguageModel(config) = &run.experiment.model else {
            return Err(run.not_for("generate", "a language_model run"));
        };
        let vocab = run.vocabulary(run.run.vocabulary())?;
        let tokenizer = run.tokenizer();
        let settings: SampleSettings = run.experiment.generation_as()?;
        let prompt_text = args.prompt.clone().unwrap_or(settings.prompt);
        let prompt: Vec<usize> = vocab
            .encode(tokenizer.as_ref(), &prompt_text)
            .into_iter()
            .map(|t| t as usize)
            .collect();
        if prompt.is_empty() {
            anyhow::bail!("--prompt {prompt_text:?} has no tokens to start from");
        }
        let unknown: Vec<String> =
            kiln_data::text::tokenize::tokens(tokenizer.as_ref(), &prompt_text)
                .into_iter()
                .filter(|t| vocab.id(t) == Vocabulary::UNK)
                .collect();
        if !unknown.is_empty() {
            eprintln!(
                "warning: the run never saw {:?} in training; the model reads it as <unk>",
                unknown
            );
        }
        if let DataConfig::Corpus(d) = &run.experiment.data
            && d.stateful
            && prompt.len() < d.seq_len
        {
            eprintln!(
                "warning: the run trained statefully, so its model rarely started from a zero state; \
                 a prompt of a few lines ({} tokens or more) gives it the context it is used to",
                d.seq_len
            );
        }
        let device = Device::flex();
        let model: LanguageModel = run.load(config.init(vocab.len(), &device)?)?;
        let drawn = model.generate(
            &prompt,
            args.length,
            Sampling {
                temperature: args.temperature,
                top_k: args.top_k,
            },
            &mut Sampler::new(args.seed),
            &SPECIALS,
            &device,
        );
        let ids: Vec<u32> = prompt.iter().chain(&drawn).map(|&t| t as u32).collect();
        Ok(vocab.decode(tokenizer.as_ref(), &ids))
    }
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let exp = &loaded.experiment;
        let DataConfig::Corpus(settings) = &exp.data else {
            anyhow::bail!("{}: a language model reads a corpus", loaded.file.display());
        };
        let (data, source) = CorpusData::load(exp, settings)?;
        let samples: SampleSettings = exp.generation_as()?;
        let model = initial_language_model(loaded, &data, &samples)?;
        Ok(Box::new(Ready {
            data,
            source,
            model,
            samples,
        }))
    }
}

struct Ready {
    data: CorpusData,
    source: String,
    model: LanguageModel,
    samples: SampleSettings,
}

impl PreparedTask for Ready {
    fn data(&self) -> DataInfo {
        DataInfo {
            source: self.source.clone(),
            train: self.data.train.len(),
            validation: self.data.validation.len(),
            test: 0,
            image: None,
            skipped: 0,
        }
    }

    /// Validation reads whole windows: the held-out text must be longer than one.
    fn validates(&self) -> bool {
        self.data.validation.len() > self.data.seq_len
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let Ready {
            data,
            model,
            samples,
            ..
        } = *self;
        language(ctx, &data, model, samples)
    }

    fn train_steps(
        self: Box<Self>,
        exp: &Experiment,
        steps: usize,
        device: &Device,
        observer: &mut dyn StepObserver,
    ) -> Result<(), TrainError> {
        let Ready { data, model, .. } = *self;
        let mut task = LanguageModeling::new(train_windows(&data, exp), None, exp.train.loss);
        fit_steps(model, &mut task, exp, steps, device, observer)
    }
}

/// The language model for `data`, with seeded weights made on flex (as classifiers are).
fn initial_language_model(
    loaded: &LoadedExperiment,
    data: &CorpusData,
    settings: &SampleSettings,
) -> anyhow::Result<LanguageModel> {
    let exp = &loaded.experiment;
    let ModelConfig::LanguageModel(config) = &exp.model else {
        return Err(model_error(
            loaded,
            kiln_models::Invalid::new("kind", "the corpus dataset needs a language_model"),
        ));
    };
    if data
        .vocab
        .encode(data.tokenizer.as_ref(), &settings.prompt)
        .is_empty()
    {
        anyhow::bail!(
            "{}: `generation.prompt` = {:?} has no tokens to start a sample from",
            loaded.file.display(),
            settings.prompt
        );
    }
    let device = Device::flex();
    device.seed(exp.seed);
    let model = config
        .init(data.vocab.len(), &device)
        .map_err(|e| model_error(loaded, e))?;
    super::fits_in_memory(loaded, &model)?;
    kiln_models::portable::materialize(&model);
    Ok(model)
}

/// The special tokens (`<pad>`, `<unk>`, `<bos>`, `<eos>`): markers, not text to draw.
const SPECIALS: [usize; 4] = [
    Vocabulary::PAD as usize,
    Vocabulary::UNK as usize,
    Vocabulary::BOS as usize,
    Vocabulary::EOS as usize,
];

/// One sample per temperature, from the same prompt.
fn samples(
    model: &LanguageModel,
    data: (&Vocabulary, &dyn kiln_data::text::Tokenizer),
    generation: &SampleSettings,
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

/// The training batches, one builder for a run and for the bench: windows of the training
/// text, contiguous lanes when the model carries its state.
pub(crate) fn train_windows<'a>(data: &'a CorpusData, exp: &Experiment) -> Windows<'a> {
    Windows::new(
        &data.train,
        data.seq_len,
        exp.train.batch_size,
        data.stateful,
    )
}

fn language(
    ctx: RunContext,
    data: &CorpusData,
    model: LanguageModel,
    generation: SampleSettings,
) -> anyhow::Result<Trained> {
    let RunContext {
        exp,
        run,
        device,
        eval_size,
        manifest,
        checkpointing,
    } = ctx;
    data.vocab.save(&run.vocabulary())?;
    let seq_len = data.seq_len;
    // Validation reads the text as contiguous lanes with the state carried, whatever the
    // training layout, as char-rnn and PyTorch's word_language_model evaluate: every character
    // but the lanes' first few is predicted from its full context. Lanes of ten windows or more.
    let lanes = (data.validation.len() / (seq_len * 10)).clamp(1, eval_size);
    let validation = (data.validation.len() > seq_len)
        .then(|| Windows::new(&data.validation, seq_len, lanes, true));
    let mut task = LanguageModeling::new(train_windows(data, exp), validation, exp.train.loss);
    let seed = exp.seed;
    let hook_device = device.clone();
    let mut observer = RunObserver::<LanguageModel>::new(run, exp.train.epochs, checkpointing)
        .with_epoch_hook(Box::new(move |epoch, model: &LanguageModel| {
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
        }));
    let (outcome, train_seconds) = fit_and_record(run, manifest, &mut observer, |o| {
        fit_task(model, &exp.train, &mut task, device, exp.seed, o)
    })?;

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
    write_metrics_report(run, &test, outcome.best_epoch, split, data.validation.len())?;
    Ok(Trained::new(
        &outcome,
        observer.epochs,
        test,
        split,
        train_seconds,
    ))
}
