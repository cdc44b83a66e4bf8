//! The command line: one file a command, each an `Args` with a `run`, and the arguments that
//! several commands take (the experiment file, `--set`, `--results`, a run folder) defined
//! once in `args.rs`. This module parses, dispatches and turns the outcome into an exit code.

mod args;
mod bench;
mod check;
mod cluster;
mod compare;
mod finished;
mod help;
mod index;
mod run;
mod show;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use args::ExperimentArgs;
pub use help::reference;

/// kiln: declare a deep-learning experiment in TOML, run it, and keep everything it produced.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Only warnings and errors; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

// These doc comments are each command's `--help` for clap, written for a terminal.
#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::private_intra_doc_links
)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and evaluate an experiment into results/<experiment>/<run-id>/; a file with a
    /// [sweep] runs each trial not yet completed into results/<experiment>/<sweep>/, and one
    /// with a [sweep.search] works on its search there until it is done.
    Run(run::RunArgs),
    /// Submit a sweep's trials not yet completed to a cluster: a Slurm job array (sbatch) or a
    /// Kubernetes Indexed Job; its [cluster] table says what each trial needs. A search goes
    /// to Slurm as an array of workers sharing its journal. Every node must see the results
    /// folder at the same path.
    Submit(cluster::SubmitArgs),
    /// A sweep's trials: completed, running, pending, preempted, failed, from their folders and
    /// the scheduler's queue; a search's trials best first, its rungs, what runs and what
    /// comes next.
    Status(ExperimentArgs),
    /// Cancel a sweep's Slurm jobs; running trials checkpoint and can be resumed.
    Cancel(ExperimentArgs),
    /// A trained classifier's answers for new inputs, with the top-k class probabilities
    /// (a regression's: its values): images (PNG, JPEG, folders of them, IDX files), texts
    /// (arguments, files, folders of .txt, a CSV/TSV column, or lines on stdin) or a table's
    /// rows, prepared as the run's data were.
    Predict(finished::PredictCommand),
    /// A classifier's or regression's best model on another labelled set of its kind,
    /// written as evaluations/<name>/ (test.json with the confusion matrix or each item's
    /// prediction, and charts) inside the run.
    Evaluate(finished::EvaluateCommand),
    /// A classifier's or regression's best weights for PyTorch: model.safetensors with
    /// PyTorch's names, model.py with the matching torch.nn module and input preparation,
    /// and a self-check (`python model.py`).
    Export(finished::ExportArgs),
    /// Check an experiment file and print it resolved, with every default filled in.
    Check(check::CheckArgs),
    /// Compare runs from results/index.parquet: one row per run or grouped over seeds.
    Compare(compare::CompareArgs),
    /// Write a self-contained HTML page comparing the selected runs, with charts and configs.
    Report(compare::ReportArgs),
    /// Time training steps (no run folder, no evaluation) of each experiment on each backend,
    /// each in a fresh process: samples/s after a warm-up, and peak memory.
    Bench(bench::BenchArgs),
    /// Write text with a finished language-model run: the prompt and what the model draws
    /// after it; or, from a GAN run, 64 new samples as a PNG grid in its samples/ folder.
    /// The same seed gives the same output.
    Generate(finished::GenerateArgs),
    /// Decode inputs with a finished seq2seq run: the texts given, or each line of stdin.
    Translate(finished::TranslateArgs),
    /// Rebuild results/index.parquet from the run folders.
    Index(index::IndexArgs),
    /// One run at a glance: its status and provenance, test result, resolved config and
    /// files.
    Show(show::ShowArgs),
    /// A command's help (`kiln help run`), or the experiment file's keys: `kiln help config`
    /// lists them, `kiln help config KEY` gives one key's or table's type, default, range and
    /// meaning (e.g. `kiln help config data.vocab_size`, `kiln help config train.optimizer`).
    Help(help::HelpArgs),
    /// Print a generated reference page as Markdown (what `cargo xtask docs` writes into
    /// docs/src/reference/).
    #[command(hide = true)]
    Reference(help::ReferenceArgs),
}

impl Command {
    fn run(self, quiet: bool) -> anyhow::Result<()> {
        match self {
            Command::Run(args) => args.run(quiet),
            Command::Submit(args) => args.run(),
            Command::Status(args) => cluster::status(args),
            Command::Cancel(args) => cluster::cancel(args),
            Command::Predict(args) => args.run(),
            Command::Evaluate(args) => args.run(),
            Command::Export(args) => args.run(),
            Command::Check(args) => args.run(),
            Command::Compare(args) => args.run(),
            Command::Report(args) => args.run(),
            Command::Bench(args) => args.run(),
            Command::Generate(args) => args.run(),
            Command::Translate(args) => args.run(),
            Command::Index(args) => args.run(),
            Command::Show(args) => args.run(),
            Command::Help(args) => args.run(),
            Command::Reference(args) => args.run(),
        }
    }
}

pub fn main() -> ExitCode {
    main_with(&[])
}

/// The kiln command with a plug-in crate's own tasks (and so its own models) registered
/// beside kiln's: a plug-in's `main` is `kiln_runner::cli::main_with(&[&MyTask])`, and
/// every command, sweeps' trial processes included, then knows its models.
pub fn main_with(tasks: &[&'static dyn crate::tasks::TaskKind]) -> ExitCode {
    crate::platform::allocator::keep_freed_pages();
    crate::tasks::register(tasks);
    let cli = Cli::parse();
    crate::platform::progress::init(cli.quiet);
    crate::platform::interrupt::install();
    let result = cli.command.run(cli.quiet);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `kiln predict ... | head`: the reader has what it wanted.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<crate::engine::run::Stopped>() => {
            eprintln!("{e}");
            ExitCode::from(crate::platform::interrupt::RESUMABLE_EXIT)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The run folder `run --resume`'s help shows is one kiln could have written.
    #[test]
    fn the_resume_example_is_a_folder_name_kiln_writes() {
        let help = Cli::command()
            .find_subcommand_mut("run")
            .expect("a run command")
            .render_long_help()
            .to_string();
        let example = help
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .find(|w| w.starts_with("results/cnn_mnist/"))
            .expect("an example folder");
        let name = example.rsplit('/').next().unwrap();
        let started = chrono::NaiveDateTime::parse_from_str("20261202-100000", "%Y%m%d-%H%M%S")
            .unwrap()
            .and_utc();
        let dir = tempfile::tempdir().unwrap();
        let written =
            crate::store::run_dir::RunDir::create(dir.path(), "cnn_mnist", 42, started).unwrap();
        assert_eq!(
            written.root.file_name().unwrap().to_string_lossy(),
            name,
            "{help}"
        );
    }
}
