//! The commands that use a finished run: `predict`, `evaluate`, `export`, `generate` and
//! `translate`.

use std::path::PathBuf;

use super::args::{RunFolder, Unfinished};

#[derive(Debug, clap::Args)]
pub struct PredictCommand {
    #[command(flatten)]
    run: RunFolder,
    #[command(flatten)]
    args: crate::serve::predict::PredictArgs,
}

impl PredictCommand {
    pub fn run(self) -> anyhow::Result<()> {
        crate::serve::predict::predict(&self.run.run, &self.args, &mut std::io::stdout())
    }
}

#[derive(Debug, clap::Args)]
pub struct EvaluateCommand {
    #[command(flatten)]
    run: RunFolder,
    #[command(flatten)]
    args: crate::serve::predict::EvaluateArgs,
}

impl EvaluateCommand {
    pub fn run(self) -> anyhow::Result<()> {
        crate::serve::predict::evaluate(&self.run.run, &self.args).map(|_| ())
    }
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    run: RunFolder,
    /// The folder to write (default: RUN/pytorch); it must not exist yet.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    unfinished: Unfinished,
}

impl ExportArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let dir = crate::serve::export::export(
            &self.run.run,
            self.out.as_deref(),
            self.unfinished.unfinished,
        )?;
        println!("{}", dir.display());
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    run: RunFolder,
    /// The text to continue; by default the run's `generation.prompt`.
    #[arg(long)]
    prompt: Option<String>,
    /// Below 1 picks likelier tokens, above 1 more surprising ones.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Tokens to draw after the prompt.
    #[arg(long, default_value_t = 500)]
    length: usize,
    /// Draw only among the k likeliest tokens.
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    unfinished: Unfinished,
}

impl GenerateArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let text = crate::serve::inference::generate(
            &self.run.run,
            &crate::serve::inference::GenerateArgs {
                prompt: self.prompt,
                temperature: self.temperature,
                length: self.length,
                top_k: self.top_k,
                seed: self.seed,
            },
            self.unfinished.unfinished,
        )?;
        println!("{text}");
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    #[command(flatten)]
    run: RunFolder,
    /// Inputs; none reads lines from stdin.
    texts: Vec<String>,
    /// Beam width; by default the run's `generation.beam_width`.
    #[arg(long)]
    beam_width: Option<usize>,
    #[command(flatten)]
    unfinished: Unfinished,
}

impl TranslateArgs {
    pub fn run(self) -> anyhow::Result<()> {
        crate::serve::inference::translate(
            &self.run.run,
            &self.texts,
            self.beam_width,
            self.unfinished.unfinished,
            &mut std::io::stdout(),
        )
    }
}
