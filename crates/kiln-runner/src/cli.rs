use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::compare::{FormatArg, Selection};
use crate::config::Plan;
use crate::sweep_run::{self, SweepOptions};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and evaluate an experiment into results/<experiment>/<run-id>/; a file with a
    /// [sweep] runs each trial not yet completed into results/<experiment>/<sweep>/, and one
    /// with a [sweep.search] works on its search there until it is done.
    Run {
        /// The experiment file, e.g. experiments/cnn_mnist.toml.
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// Go on with an interrupted, killed or failed run from its newest checkpoint, in its
        /// own folder (e.g. results/cnn_mnist/20261202-100000-s42).
        #[arg(long, value_name = "RUN", conflicts_with_all = ["file", "sets", "jobs", "dry_run", "trial"])]
        resume: Option<PathBuf>,
        /// Override a key, e.g. --set train.epochs=3 (repeatable; wins over KILN_* variables).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Where run folders go.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Sweeps: run this many trials at a time, each in its own process (a search: this
        /// many workers).
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// Sweeps: list the trials and what a run would do with each, and stop.
        #[arg(long)]
        dry_run: bool,
        /// Run only this trial (1-based) of the file's sweep; how a sweep starts its trials.
        #[arg(long, hide = true)]
        trial: Option<usize>,
        /// Stop with a checkpoint after this epoch, ending `pruned`; how a search trains a
        /// trial to its next rung.
        #[arg(long, hide = true, value_name = "EPOCH")]
        pause_after: Option<usize>,
    },
    /// Submit a sweep's trials not yet completed to a cluster: a Slurm job array (sbatch) or a
    /// Kubernetes Indexed Job; its [cluster] table says what each trial needs. A search goes
    /// to Slurm as an array of workers sharing its journal.
    Submit {
        /// The experiment file with a [sweep].
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Where the trials' folders go; every node must see it at this path.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// slurm or kubernetes.
        #[arg(long, value_enum)]
        to: crate::cluster::Scheduler,
        /// Print the script or manifest and submit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A sweep's trials: completed, running, pending, preempted, failed, from their folders and
    /// the scheduler's queue; a search's trials best first, its rungs, what runs and what
    /// comes next.
    Status {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Cancel a sweep's Slurm jobs; running trials checkpoint and can be resumed.
    Cancel {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// A trained classifier's answers for new inputs, with the top-k class probabilities
    /// (a regression's: its values): images (PNG, JPEG, folders of them, IDX files), texts
    /// (arguments, files, folders of .txt, a CSV/TSV column, or lines on stdin) or a table's
    /// rows, prepared as the run's data were.
    Predict {
        /// The run folder, e.g. results/cnn_mnist/<run>.
        run: PathBuf,
        #[command(flatten)]
        args: crate::predict::PredictArgs,
    },
    /// A classifier's or regression's best model on another labelled set of its kind,
    /// written as evaluations/<name>/ (test.json with the confusion matrix or each item's
    /// prediction, and charts) inside the run.
    Evaluate {
        /// The run folder.
        run: PathBuf,
        #[command(flatten)]
        args: crate::predict::EvaluateArgs,
    },
    /// A classifier's or regression's best weights for PyTorch: model.safetensors with
    /// PyTorch's names, model.py with the matching torch.nn module and input preparation,
    /// and a self-check (`python model.py`).
    Export {
        /// The run folder.
        run: PathBuf,
        /// The folder to write (default: RUN/pytorch); it must not exist yet.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Use a run that did not complete (its best checkpoint so far).
        #[arg(long)]
        unfinished: bool,
    },
    /// Check an experiment file and print it resolved, with every default filled in.
    Check {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Compare runs from results/index.parquet: one row per run or grouped over seeds.
    Compare {
        #[command(flatten)]
        selection: Selection,
        /// table, markdown, csv or json.
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
        /// Write the table here instead of printing it.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also draw the charts (curves, bars, scatter) as PNG and SVG into this folder.
        #[arg(long, value_name = "DIR")]
        charts: Option<PathBuf>,
    },
    /// Write a self-contained HTML page comparing the selected runs, with charts and configs.
    Report {
        #[command(flatten)]
        selection: Selection,
        /// The page's path; by default results/<experiment>/<sweep>/report.html for one
        /// sweep, else results/reports/report-<time>.html.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        title: Option<String>,
    },
    /// Time training steps (no run folder, no evaluation) of each experiment on each backend,
    /// each in a fresh process: samples/s after a warm-up, and peak memory.
    Bench {
        /// Experiment files, e.g. experiments/cnn_mnist.toml.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Overrides for every file, e.g. --set data.source=sample.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Comma-separated backends to time each file on; by default the file's own.
        #[arg(long, value_delimiter = ',')]
        backends: Vec<String>,
        /// Steps to leave out first (kernel compilation, allocator warm-up).
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Steps to time after the warm-up.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        steps: u64,
        /// table, markdown, csv or json.
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
        /// Also write the table here.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Measure one file in this process and print one JSON line (what each measurement
        /// process is asked to do).
        #[arg(long, hide = true)]
        one: bool,
        /// Instead of timing, write the warm-up and timed steps' batches (in training order)
        /// and the model's description into this folder, for the PyTorch twin
        /// (`bench/pytorch_workload.py`; `cargo xtask bench --against-pytorch` runs both).
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// Time each file beside its PyTorch twin, alternately, with this Python (one that
        /// has torch, e.g. the venv `cargo xtask setup tch` makes); prints a Markdown table.
        #[arg(long, value_name = "PYTHON")]
        against_pytorch: Option<PathBuf>,
        /// With --against-pytorch: rounds of kiln and PyTorch, alternately.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// With --against-pytorch: the twin script.
        #[arg(long, value_name = "FILE", default_value = "bench/pytorch_workload.py")]
        pytorch_script: PathBuf,
    },
    /// Write text with a finished language-model run: the prompt and what the model draws
    /// after it; or, from a GAN run, 64 new samples as a PNG grid in its samples/ folder.
    /// The same seed gives the same output.
    Generate {
        /// The run's folder, e.g. results/charlstm_shakespeare/20261124-080000-s42.
        run: PathBuf,
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
        /// Use a run that did not complete (failed, killed or still training): its best
        /// checkpoint so far.
        #[arg(long)]
        unfinished: bool,
    },
    /// Decode inputs with a finished seq2seq run: the texts given, or each line of stdin.
    Translate {
        /// The run's folder, e.g. results/seq2seq_addition/20261124-080000-s42.
        run: PathBuf,
        /// Inputs; none reads lines from stdin.
        texts: Vec<String>,
        /// Beam width; by default the run's `generation.beam_width`.
        #[arg(long)]
        beam_width: Option<usize>,
        /// Use a run that did not complete: its best checkpoint so far.
        #[arg(long)]
        unfinished: bool,
    },
    /// Rebuild results/index.parquet from the run folders.
    Index {
        /// Read every run folder and write the index anew.
        #[arg(long)]
        rebuild: bool,
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// A command's help (`kiln help run`), or the experiment file's keys: `kiln help config`
    /// lists them, `kiln help config KEY` gives one key's or table's type, default, range and
    /// meaning (e.g. `kiln help config data.vocab_size`, `kiln help config train.optimizer`).
    Help {
        /// A command, or `config` and optionally a key.
        #[arg(value_name = "TOPIC")]
        topic: Vec<String>,
    },
    /// Print a generated reference page as Markdown (what `cargo xtask docs` writes into
    /// docs/src/reference/).
    #[command(hide = true)]
    Reference {
        #[arg(value_enum, default_value = "cli")]
        page: ReferencePage,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReferencePage {
    /// cli.md: every command and option.
    Cli,
    /// config.md: every key of an experiment file.
    Config,
    /// index.md: the run index's columns.
    Index,
}

/// `kiln help [COMMAND | config [KEY]]`.
fn help(topic: &[String]) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut kiln = Cli::command();
    kiln.build();
    match topic {
        [] => print!("{}", kiln.render_long_help()),
        [config, rest @ ..] if config == "config" => match rest {
            [] => print!(
                "{}",
                crate::schema::keys::help(None).map_err(anyhow::Error::msg)?
            ),
            [key] => print!(
                "{}",
                crate::schema::keys::help(Some(key)).map_err(anyhow::Error::msg)?
            ),
            _ => anyhow::bail!("`kiln help config` takes one key, e.g. data.vocab_size"),
        },
        [command] => match kiln.find_subcommand_mut(command) {
            Some(c) if !c.is_hide_set() => print!("{}", c.render_long_help()),
            _ => anyhow::bail!(
                "no command `{command}`; `kiln help` lists the commands, `kiln help config` the experiment file's keys"
            ),
        },
        _ => anyhow::bail!("`kiln help` takes a command, or `config` and a key"),
    }
    Ok(())
}

/// The command-line reference: kiln's help and every command's, as clap renders them from
/// the definitions above, so the page cannot say what the parser does not do.
pub fn reference() -> String {
    use clap::CommandFactory;
    let mut kiln = Cli::command().term_width(96);
    kiln.build();
    let mut s = String::from(
        "# Command-line reference\n\n\
         Every `kiln` command and its options, as `kiln help COMMAND` prints them (through \
         `cargo xtask COMMAND`, the same arguments). Generated from kiln's argument \
         definitions by `cargo xtask docs`; a test fails when this page lags them.\n\n\
         ```text\n",
    );
    s.push_str(kiln.render_long_help().to_string().trim_end());
    s.push_str("\n```\n");
    for command in kiln.get_subcommands_mut() {
        if command.is_hide_set() {
            continue;
        }
        s.push_str(&format!("\n## kiln {}\n\n```text\n", command.get_name()));
        s.push_str(command.render_long_help().to_string().trim_end());
        s.push_str("\n```\n");
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn run_command(
    file: PathBuf,
    sets: Vec<String>,
    results: PathBuf,
    jobs: usize,
    dry_run: bool,
    trial: Option<usize>,
    pause_after: Option<usize>,
    quiet: bool,
) -> anyhow::Result<()> {
    let plan = crate::config::plan(&file, &sets)?;
    if pause_after.is_some() && !matches!(plan, Plan::Search(_)) {
        anyhow::bail!("--pause-after: only a search's trials pause");
    }
    match (plan, trial) {
        (Plan::Search(search), Some(n)) => {
            let (values, fork) =
                crate::search::trial_values(&search, &results, n.saturating_sub(1))?;
            let mut placement = crate::search::placement(&search, n - 1, &values)?;
            // One process per trial: a worker that took over a job may have started this
            // trial again while the first process was still loading its data.
            let folder = crate::search::folder(&search, &results);
            let _trial = crate::lock::FileLock::take(
                &crate::run_dir::SweepDir {
                    root: folder.clone(),
                }
                .trial_lock(n),
            )?;
            if let Some((dir, _)) = crate::search::attempt(&folder, &placement.info.key) {
                println!(
                    "trial {n} has its folder already ({}); its worker goes on from there",
                    dir.display()
                );
                return Ok(());
            }
            if let Some(fork) = fork {
                let (lineage, checkpoint) = crate::search::fork_start(&search, &results, fork)?;
                placement.info.from = Some(lineage);
                placement.start_from = Some(checkpoint);
            }
            let loaded = search.load(&values)?;
            let summary = paused_is_fine(
                crate::run::run(&loaded, &results, Some(&placement), pause_after),
                quiet,
            )?;
            if let (Some(summary), false) = (summary, quiet) {
                crate::summary::print(&summary);
            }
            Ok(())
        }
        (Plan::Search(search), None) if dry_run => {
            println!(
                "{}: a search of {} keys, {} trials at most, each proposed as the search goes; so far:",
                file.display(),
                search.spec.params.len(),
                match search.spec.trials() {
                    usize::MAX => "no limit on the".to_string(),
                    n => n.to_string(),
                }
            );
            crate::search::status(&search, &results)
        }
        (Plan::Search(search), None) => crate::search::run_search(
            &search,
            &crate::search::SearchOptions {
                file: &std::path::absolute(&file)?,
                sets: &sets,
                results: &std::path::absolute(&results)?,
                jobs,
                quiet,
            },
        ),
        (Plan::Single(loaded), None) => {
            if dry_run {
                println!("{}: one run, no [sweep]", file.display());
                return Ok(());
            }
            let summary = crate::run::run(&loaded, &results, None, None)?;
            if !quiet {
                crate::summary::print(&summary);
            }
            Ok(())
        }
        (Plan::Single(_), Some(_)) => {
            anyhow::bail!("--trial: {} has no [sweep]", file.display())
        }
        (Plan::Sweep(sweep), Some(n)) => {
            if n == 0 || n > sweep.trials.len() {
                anyhow::bail!(
                    "--trial {n}: the sweep has trials 1 to {}",
                    sweep.trials.len()
                );
            }
            // A trial's task may run again (a requeue, a time limit): it goes on from where its
            // last attempt stopped, and a completed trial is not run twice.
            let summary = match sweep_run::states(&sweep, &results, true).swap_remove(n - 1) {
                sweep_run::State::Done(dir) => {
                    println!("trial {n} completed already: {}", dir.display());
                    return Ok(());
                }
                sweep_run::State::Running(pid) => anyhow::bail!(
                    "--trial {n}: the trial is running already (process {pid} on this machine)"
                ),
                sweep_run::State::ToRun {
                    resume: Some(dir), ..
                } => crate::run::resume(&dir, None)?,
                sweep_run::State::ToRun { .. } => {
                    let placement = sweep_run::placement(&sweep, n - 1);
                    crate::run::run(
                        &sweep.trials[n - 1].loaded,
                        &results,
                        Some(&placement),
                        None,
                    )?
                }
            };
            if !quiet {
                crate::summary::print(&summary);
            }
            Ok(())
        }
        (Plan::Sweep(sweep), None) if dry_run => {
            sweep_run::dry_run(&sweep, &results);
            Ok(())
        }
        (Plan::Sweep(sweep), None) => sweep_run::run_sweep(
            &sweep,
            &SweepOptions {
                file: &std::path::absolute(&file)?,
                sets: &sets,
                results: &std::path::absolute(&results)?,
                jobs,
                quiet,
            },
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn bench_command(
    files: &[PathBuf],
    sets: &[String],
    backends: &[String],
    (warmup, steps): (usize, usize),
    format: FormatArg,
    output: Option<&std::path::Path>,
    one: bool,
    export: Option<&std::path::Path>,
    pytorch: Option<(&std::path::Path, usize, &std::path::Path)>,
) -> anyhow::Result<()> {
    use crate::bench::{self, Measurement};
    let measurements = Measurement::all(files, backends, sets);
    if let Some((python, rounds, script)) = pytorch {
        anyhow::ensure!(
            script.is_file(),
            "--pytorch-script {}: no such file (run from the kiln checkout, or name the script)",
            script.display()
        );
        let torch = crate::bench_pytorch::Torch {
            python: python.to_path_buf(),
            script: script.to_path_buf(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let exports = std::path::Path::new("results")
            .join("bench")
            .join("workloads");
        let comparisons = crate::bench_pytorch::compare(
            &measurements,
            (warmup, steps, rounds),
            &torch,
            &exports,
        )?;
        let table = crate::bench_pytorch::table(&comparisons, rounds);
        print!("{table}");
        if let Some(path) = output {
            bench::write(path, &table)?;
            println!("written to {}", path.display());
        }
        return Ok(());
    }
    if let Some(dir) = export {
        let [only] = measurements.as_slice() else {
            anyhow::bail!("--export writes one file's workload; give one file and no --backends");
        };
        crate::bench_export::export(&only.load()?, warmup + steps, dir)?;
        println!("{}", dir.display());
        return Ok(());
    }
    if one {
        let [only] = measurements.as_slice() else {
            anyhow::bail!("--one measures one file on one backend");
        };
        let r = bench::bench(&only.load()?, warmup, steps)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    for m in &measurements {
        m.check()?;
    }
    let results = bench::measure_all(&measurements, warmup, steps)?;
    let table = bench::table(&results, format.into())?;
    print!("{table}");
    if let Some(path) = output {
        bench::write(path, &table)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// A run that paused where it was asked to is a success: its summary is for finished runs.
fn paused_is_fine(
    result: anyhow::Result<crate::run::RunSummary>,
    quiet: bool,
) -> anyhow::Result<Option<crate::run::RunSummary>> {
    match result {
        Ok(summary) => Ok(Some(summary)),
        Err(e) => match e.downcast_ref::<crate::observer::Paused>() {
            Some(p) => {
                if !quiet {
                    println!("paused after epoch {}, with a checkpoint there", p.epoch);
                }
                Ok(None)
            }
            None => Err(e),
        },
    }
}

/// The sweep `file` holds; a file without one is refused, since only sweeps go to clusters.
fn sweep_of(file: &std::path::Path, sets: &[String]) -> anyhow::Result<crate::config::Sweep> {
    match crate::config::plan(file, sets)? {
        Plan::Sweep(sweep) => Ok(sweep),
        Plan::Single(_) => anyhow::bail!(
            "{}: no [sweep]; a cluster runs a sweep's trials (a single run: `kiln run`)",
            file.display()
        ),
        Plan::Search(_) => anyhow::bail!(
            "{}: a [sweep.search] proposes its trials as it goes; its status and workers are its own",
            file.display()
        ),
    }
}

pub fn main() -> ExitCode {
    main_with(&[])
}

/// The kiln command with a plug-in crate's own tasks (and so its own models) registered
/// beside kiln's: a plug-in's `main` is `kiln_runner::cli::main_with(&[&MyTask])`, and
/// every command, sweeps' trial processes included, then knows its models.
pub fn main_with(tasks: &[&'static dyn crate::tasks::TaskKind]) -> ExitCode {
    crate::tasks::register(tasks);
    let cli = Cli::parse();
    crate::progress::init(cli.quiet);
    crate::interrupt::install();
    let result = match cli.command {
        Command::Run {
            resume: Some(dir),
            pause_after,
            ..
        } => paused_is_fine(crate::run::resume(&dir, pause_after), cli.quiet).map(|summary| {
            if let (Some(summary), false) = (summary, cli.quiet) {
                crate::summary::print(&summary);
            }
        }),
        Command::Run {
            file,
            sets,
            results,
            jobs,
            dry_run,
            trial,
            pause_after,
            resume: None,
        } => match file {
            Some(file) => run_command(
                file,
                sets,
                results,
                jobs as usize,
                dry_run,
                trial,
                pause_after,
                cli.quiet,
            ),
            None => Err(anyhow::anyhow!(
                "run: give an experiment file, or --resume RUN"
            )),
        },
        Command::Submit {
            file,
            sets,
            results,
            to,
            dry_run,
        } => (|| {
            let options = crate::cluster::SubmitOptions {
                file: &std::path::absolute(&file)?,
                sets: &sets,
                results: &std::path::absolute(&results)?,
                to,
                dry_run,
            };
            match crate::config::plan(&file, &sets)? {
                Plan::Search(search) => crate::cluster::submit_search(&search, &options),
                _ => crate::cluster::submit(&sweep_of(&file, &sets)?, &options),
            }
        })(),
        Command::Status {
            file,
            sets,
            results,
        } => match crate::config::plan(&file, &sets) {
            Ok(Plan::Search(search)) => crate::search::status(&search, &results),
            _ => sweep_of(&file, &sets).and_then(|s| crate::cluster::status(&s, &results)),
        },
        Command::Cancel {
            file,
            sets,
            results,
        } => match crate::config::plan(&file, &sets) {
            Ok(Plan::Search(search)) => crate::cluster::cancel_search(&search, &results),
            _ => sweep_of(&file, &sets).and_then(|s| crate::cluster::cancel(&s, &results)),
        },
        Command::Predict { run, args } => {
            crate::predict::predict(&run, &args, &mut std::io::stdout())
        }
        Command::Evaluate { run, args } => crate::predict::evaluate(&run, &args).map(|_| ()),
        Command::Export {
            run,
            out,
            unfinished,
        } => crate::export::export(&run, out.as_deref(), unfinished).map(|dir| {
            println!("{}", dir.display());
        }),
        Command::Check { file, sets } => match crate::config::plan(&file, &sets) {
            Ok(Plan::Single(l)) => toml::to_string_pretty(&l.experiment)
                .map(|t| print!("{t}"))
                .map_err(anyhow::Error::from),
            Ok(Plan::Sweep(sweep)) => {
                println!(
                    "{}: a sweep of {} trials, each checked; the first resolves to:\n",
                    file.display(),
                    sweep.trials.len()
                );
                toml::to_string_pretty(&sweep.trials[0].loaded.experiment)
                    .map(|t| print!("{t}"))
                    .map_err(anyhow::Error::from)
            }
            Ok(Plan::Search(search)) => {
                println!(
                    "{}: a search over {} keys, each key's extremes and every choice checked; with the first values it resolves to:\n",
                    file.display(),
                    search.spec.params.len()
                );
                toml::to_string_pretty(&search.base.experiment)
                    .map(|t| print!("{t}"))
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        },
        Command::Bench {
            files,
            sets,
            backends,
            warmup,
            steps,
            format,
            output,
            one,
            export,
            against_pytorch,
            rounds,
            pytorch_script,
        } => bench_command(
            &files,
            &sets,
            &backends,
            (warmup, steps as usize),
            format,
            output.as_deref(),
            one,
            export.as_deref(),
            against_pytorch
                .as_deref()
                .map(|p| (p, rounds, pytorch_script.as_path())),
        ),
        Command::Compare {
            selection,
            format,
            output,
            charts,
        } => crate::compare::compare(&selection, format, output.as_deref(), charts.as_deref()),
        Command::Report {
            selection,
            out,
            title,
        } => crate::compare::report(&selection, out.as_deref(), title.as_deref()).map(|p| {
            println!("report: {}", p.display());
        }),
        Command::Generate {
            run,
            prompt,
            temperature,
            length,
            top_k,
            seed,
            unfinished,
        } => crate::inference::generate(
            &run,
            &crate::inference::GenerateArgs {
                prompt,
                temperature,
                length,
                top_k,
                seed,
            },
            unfinished,
        )
        .map(|text| println!("{text}")),
        Command::Translate {
            run,
            texts,
            beam_width,
            unfinished,
        } => crate::inference::translate(
            &run,
            &texts,
            beam_width,
            unfinished,
            &mut std::io::stdout(),
        ),
        Command::Help { topic } => help(&topic),
        Command::Reference { page } => {
            match page {
                ReferencePage::Cli => print!("{}", reference()),
                ReferencePage::Config => print!("{}", crate::schema::keys::reference()),
                ReferencePage::Index => {
                    print!("{}", crate::index::reference(&crate::tasks::metric_names()))
                }
            }
            Ok(())
        }
        Command::Index { rebuild, results } => {
            if rebuild {
                crate::index::rebuild(&results).map(|(rows, skipped)| {
                    for s in &skipped {
                        eprintln!("skipped {s}");
                    }
                    println!(
                        "{}: {rows} runs ({} folders skipped)",
                        crate::index::path(&results).display(),
                        skipped.len()
                    );
                })
            } else {
                crate::index::read(&results).map(|f| {
                    println!(
                        "{}: {} runs, {} columns (--rebuild to rebuild it from the run folders)",
                        crate::index::path(&results).display(),
                        f.height(),
                        f.width()
                    );
                })
            }
        }
    };
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
        Err(e) if e.is::<crate::run::Stopped>() => {
            eprintln!("{e}");
            ExitCode::from(crate::interrupt::RESUMABLE_EXIT)
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
        let written = crate::run_dir::RunDir::create(dir.path(), "cnn_mnist", 42, started).unwrap();
        assert_eq!(
            written.root.file_name().unwrap().to_string_lossy(),
            name,
            "{help}"
        );
    }
}
