use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::run::{RunOptions, run};

/// kiln: declare a deep-learning experiment in TOML, run it, and keep everything it produced.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// Only warnings and errors; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and evaluate an experiment into results/<experiment>/<run-id>/.
    Run {
        /// The experiment file, e.g. experiments/cnn_mnist.toml.
        file: PathBuf,
        /// Override a key, e.g. --set train.epochs=3 (repeatable; wins over KILN_* variables).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Where run folders go.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Check an experiment file and print it resolved, with every default filled in.
    Check {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::progress::init(cli.quiet);
    crate::interrupt::install();
    let result = match cli.command {
        Command::Run {
            file,
            sets,
            results,
        } => run(&RunOptions {
            file,
            sets,
            results,
        })
        .map(|s| {
            if !cli.quiet {
                crate::summary::print(&s);
            }
        }),
        Command::Check { file, sets } => crate::config::load(&file, &sets)
            .map_err(anyhow::Error::from)
            .and_then(|l| {
                print!("{}", toml::to_string_pretty(&l.experiment)?);
                Ok(())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
