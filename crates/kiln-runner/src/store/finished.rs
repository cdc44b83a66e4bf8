//! A finished run opened for use: its resolved config, its folder, its vocabularies and its
//! best checkpoint, for `kiln generate` and `kiln translate`, which the run's task answers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use kiln_data::text::{Tokenizer, Vocabulary};

use crate::config::schema::Experiment;
use crate::store::manifest::{Manifest, Status};
use crate::store::run_dir::RunDir;

/// The resolved experiment a run folder recorded (its config.toml).
pub fn recorded_experiment(run: &RunDir) -> anyhow::Result<Experiment> {
    let path = run.config();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: not a run folder (expected {} inside it)",
            run.root.display(),
            path.display()
        )
    })?;
    Experiment::from_resolved(&text)
        .with_context(|| format!("{}: not a config this kiln can read", path.display()))
}

/// A finished run's config and folder.
pub struct Finished {
    pub run: RunDir,
    pub experiment: Experiment,
}

impl Finished {
    /// The run in `dir`. One that did not complete (it failed, was killed, or is still
    /// training) is refused unless `unfinished`: its checkpoint is only the best so far.
    pub fn open(dir: &Path, unfinished: bool) -> anyhow::Result<Self> {
        let run = RunDir::open(dir);
        let experiment = recorded_experiment(&run)?;
        if !run.best_checkpoint().exists() {
            anyhow::bail!(
                "{}: no checkpoint (the run never finished an epoch)",
                run.best_checkpoint().display()
            );
        }
        let manifest = Manifest::read(&run.manifest())?;
        if manifest.status != Status::Completed {
            let why = match (&manifest.status, &manifest.error) {
                (Status::Failed, Some(e)) => format!("failed ({e})"),
                (Status::Failed, None) => "failed".to_string(),
                (Status::Interrupted, _) => {
                    "was interrupted (`run --resume` finishes it)".to_string()
                }
                _ => "did not complete (still training, or killed)".to_string(),
            };
            let state = format!(
                "its checkpoint is the best of {} epoch(s) of {}",
                manifest.epochs_run, experiment.train.epochs
            );
            if !unfinished {
                anyhow::bail!(
                    "{}: the run {why}; {state}. Pass --unfinished to use it anyway",
                    dir.display()
                );
            }
            eprintln!("warning: {}: the run {why}; {state}", dir.display());
        }
        Ok(Self { run, experiment })
    }

    /// Why `command` does not apply to this run.
    pub fn not_for(&self, command: &str, runs: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: the run trained a {} model; `{command}` needs {runs}",
            self.run.root.display(),
            self.experiment.model.kind()
        )
    }

    pub fn tokenizer(&self) -> Box<dyn Tokenizer> {
        self.experiment.data.generative_tokenizer()
    }

    pub fn vocabulary(&self, path: PathBuf) -> anyhow::Result<Vocabulary> {
        Vocabulary::load(&path).with_context(|| format!("reading {}", path.display()))
    }

    pub fn load<M: Module>(&self, model: M) -> anyhow::Result<M> {
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
