//! Using a finished run: `kiln generate` samples text from a language model and `kiln
//! translate` decodes inputs with an encoder-decoder, each loading the run's resolved config,
//! vocabulary and best checkpoint. Inference runs on flex (CPU) and is seeded, so the same
//! command prints the same text.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use kiln_data::text::{Tokenizer, Vocabulary};
use kiln_models::decode::{Sampler, Sampling};
use kiln_models::{GanConfig, LanguageModel, ModelConfig, Seq2Seq};
use kiln_train::{Decoding, beam_one};

use crate::prepare::generative_tokenizer;
use crate::run_dir::RunDir;
use crate::schema::Experiment;
use crate::tasks::SPECIALS;

/// A finished run's config and folder.
struct Finished {
    run: RunDir,
    experiment: Experiment,
}

impl Finished {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let run = RunDir::open(dir);
        let path = run.config();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: not a run folder (expected {} inside it)",
                dir.display(),
                path.display()
            )
        })?;
        let experiment: Experiment = toml::from_str(&text)
            .with_context(|| format!("{}: not a config this kiln can read", path.display()))?;
        if !run.best_checkpoint().exists() {
            anyhow::bail!(
                "{}: no checkpoint (the run never finished an epoch)",
                run.best_checkpoint().display()
            );
        }
        Ok(Self { run, experiment })
    }

    fn wrong_kind(&self, wanted: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: the run trained a {} model; this command needs a {wanted} run",
            self.run.root.display(),
            self.experiment.model.kind()
        )
    }

    fn tokenizer(&self) -> Box<dyn Tokenizer> {
        generative_tokenizer(&self.experiment)
    }

    fn vocabulary(&self, path: PathBuf) -> anyhow::Result<Vocabulary> {
        Vocabulary::load(&path).with_context(|| format!("reading {}", path.display()))
    }

    fn load<M: Module>(&self, model: M) -> anyhow::Result<M> {
        model
            .try_load_file(self.run.best_checkpoint())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.run.best_checkpoint().display()))
    }
}

/// What `kiln generate` was asked for.
pub struct GenerateArgs {
    pub prompt: Option<String>,
    pub temperature: f32,
    pub length: usize,
    pub top_k: Option<usize>,
    pub seed: u64,
}

/// `length` tokens sampled after the prompt (the run's own prompt when none is given),
/// printed with the prompt.
pub fn generate(dir: &Path, args: &GenerateArgs) -> anyhow::Result<String> {
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        anyhow::bail!(
            "--temperature must be a positive number, got {}",
            args.temperature
        );
    }
    if args.top_k == Some(0) {
        anyhow::bail!("--top-k must be at least 1");
    }
    let f = Finished::open(dir)?;
    if let ModelConfig::Gan(config) = &f.experiment.model {
        return generate_images(&f, config, args.seed);
    }
    let ModelConfig::LanguageModel(config) = &f.experiment.model else {
        return Err(f.wrong_kind("language_model or gan"));
    };
    let vocab = f.vocabulary(f.run.vocabulary())?;
    let tokenizer = f.tokenizer();
    let prompt_text = args
        .prompt
        .clone()
        .unwrap_or_else(|| f.experiment.generation.prompt.clone());
    let prompt: Vec<usize> = vocab
        .encode(tokenizer.as_ref(), &prompt_text)
        .into_iter()
        .map(|t| t as usize)
        .collect();
    if prompt.is_empty() {
        anyhow::bail!("--prompt {prompt_text:?} has no tokens to start from");
    }
    let unknown: Vec<String> = kiln_data::text::tokenize::tokens(tokenizer.as_ref(), &prompt_text)
        .into_iter()
        .filter(|t| vocab.id(t) == Vocabulary::UNK)
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "warning: the run never saw {:?} in training; the model reads it as <unk>",
            unknown
        );
    }
    if f.experiment.data.stateful == Some(true) && prompt.len() < f.experiment.data.seq_len() {
        eprintln!(
            "warning: the run trained statefully, so its model rarely started from a zero state; \
             a prompt of a few lines ({} tokens or more) gives it the context it is used to",
            f.experiment.data.seq_len()
        );
    }
    let device = Device::flex();
    let model: LanguageModel = f.load(config.init(vocab.len(), &device)?)?;
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

/// A grid of 64 new images from a GAN run's best generator, drawn from `seed`'s noise, into
/// the run's `samples/generated_seed<S>.png`; returns what was written.
fn generate_images(f: &Finished, config: &GanConfig, seed: u64) -> anyhow::Result<String> {
    let manifest = crate::manifest::Manifest::read(&f.run.manifest())?;
    let Some(image) = manifest.data.image else {
        anyhow::bail!(
            "{}: the manifest does not give the images' size",
            f.run.manifest().display()
        );
    };
    let device = Device::flex();
    let gan = f.load(config.init(image, &device)?)?;
    let noise = kiln_train::gan::fixed_noise(64, gan.generator.latent(), seed, &device);
    let path = f.run.generated_image(seed);
    crate::tasks::draw_grid(&path, &gan, noise, (image[1], image[2]))?;
    Ok(format!("64 samples: {}", path.display()))
}

/// Decodes each input with the run's model: the inputs given, else every line of stdin.
/// `beam_width` overrides the run's.
pub fn translate(
    dir: &Path,
    inputs: &[String],
    beam_width: Option<usize>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if beam_width == Some(0) {
        anyhow::bail!("--beam-width must be at least 1");
    }
    let f = Finished::open(dir)?;
    let ModelConfig::Seq2seq(config) = &f.experiment.model else {
        return Err(f.wrong_kind("seq2seq"));
    };
    let source_vocab = f.vocabulary(f.run.side_vocabulary("source"))?;
    let target_vocab = f.vocabulary(f.run.side_vocabulary("target"))?;
    let tokenizer = f.tokenizer();
    let device = Device::flex();
    let model: Seq2Seq = f.load(config.init(source_vocab.len(), target_vocab.len(), &device)?)?;
    let generation = &f.experiment.generation;
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
