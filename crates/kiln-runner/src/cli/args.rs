//! The arguments several commands take, each defined once and flattened where it is used.

use std::path::PathBuf;

/// `--set KEY=VALUE`: overrides of an experiment file's keys.
#[derive(Debug, Clone, clap::Args)]
pub struct Sets {
    /// Override a key, e.g. --set train.epochs=3 (repeatable; wins over KILN_* variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// `--results DIR`: where run folders and the index live.
#[derive(Debug, Clone, clap::Args)]
pub struct Results {
    /// The results folder: run folders, sweeps and index.parquet.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

/// An experiment file with its overrides.
#[derive(Debug, Clone, clap::Args)]
pub struct ExperimentFile {
    /// The experiment file, e.g. experiments/cnn_mnist.toml.
    pub file: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
}

/// An experiment file with its overrides and results folder.
#[derive(Debug, Clone, clap::Args)]
pub struct ExperimentArgs {
    #[command(flatten)]
    pub experiment: ExperimentFile,
    #[command(flatten)]
    pub results: Results,
}

/// A finished run's folder, for the commands that use a trained model.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFolder {
    /// The run's folder, e.g. results/cnn_mnist/20261202-100000-s42.
    pub run: PathBuf,
}

/// `--unfinished`: a run that did not complete is refused unless asked for.
#[derive(Debug, Clone, clap::Args)]
pub struct Unfinished {
    /// Use a run that did not complete (failed, killed or still training): its best
    /// checkpoint so far.
    #[arg(long)]
    pub unfinished: bool,
}
