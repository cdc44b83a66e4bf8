//! `cargo xtask`: the one entry point for automation in the kiln workspace.
//!
//! Everything that trains is built with `--release`, whatever profile this tool itself was
//! built with; tests share that profile so that a run and the tests compile the heavy
//! dependency graph (burn, polars, plotters) once.

mod backends;

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <command> [args]

commands:
  run FILE [--set KEY=VALUE]... [--quiet]   train an experiment (optimised build), e.g.
                                            cargo xtask run experiments/quickstart.toml
      [-j N] [--dry-run]                    a file with a [sweep] runs the trials not yet
                                            completed, N at a time; --dry-run lists them
      --resume RUN                          go on with an interrupted run from its checkpoint
  submit FILE --to slurm|kubernetes         a sweep's trials not yet completed as a Slurm job
      [--dry-run]                           array (sbatch) or a Kubernetes Indexed Job; a
                                            search's workers as a Slurm array
  status FILE                               each trial of a sweep: completed, running, pending,
                                            preempted, failed (folders and squeue); a search's
                                            trials best first, its rungs, what runs next
  cancel FILE                               cancel a sweep's Slurm jobs (trials checkpoint)
  check FILE [--set KEY=VALUE]...           validate an experiment and print it resolved
  compare [SELECTION] [--format F]          compare runs from results/index.parquet, e.g.
      [--charts DIR]                        cargo xtask compare --sweep optimizers --group-by
                                            configuration (table, markdown, csv or json)
  report [SELECTION] [--out FILE]           the same as one self-contained HTML page
  index [--rebuild]                         show, or rebuild from the run folders, the index
  show RUN                                  a run at a glance: status, provenance, test
                                            result, resolved config and files
  generate RUN [--prompt TEXT]              text from a finished language-model run (a GAN
                                            run: 64 new samples as a PNG grid), e.g.
      [--temperature T] [--length N]        cargo xtask generate results/charlstm_shakespeare/
      [--top-k K] [--seed S]                <run> --prompt \"ROMEO:\" --temperature 0.8
  predict RUN [INPUTS]... [--top-k K]       a classifier's or regression's answers for images,
      [--format table|csv|json]             texts (files, folders, a CSV column, stdin) or a
                                            table's rows, with probabilities or values
  evaluate RUN --data PATH [--name N]       a run's best model on another labelled set (IDX or
                                            class folders, aclImdb, CSV/TSV, a table)
  export RUN [--out DIR]                    a run's best weights for PyTorch: safetensors with
                                            PyTorch's names, the torch.nn module, a check
  translate RUN [TEXT]... [--beam-width B]  outputs of a finished seq2seq run for each TEXT,
                                            or for each line of stdin
  bench [FILES] [--backends flex,tch,wgpu]  training samples/s and peak memory per backend,
      [--steps N] [--warmup N]              as a Markdown table in results/bench/backends.md;
                                            default: the MNIST MLP and CNN, the IMDB LSTM and
                                            the char LM on the embedded samples, on each
                                            file's backend
  bench --against-pytorch [PYTHON]          the same workloads beside their PyTorch twins
      [--rounds N]                          (bench/pytorch_workload.py, same batches),
                                            alternately, N rounds (3): samples/s, ratio,
                                            GFLOP/s, peak memory; results/bench/pytorch.md.
                                            PYTHON defaults to the venv of `setup tch`
  bench compare [RUNS] [PARAMETERS]         time compare over a synthetic index (default
                                            10000 runs, 20 parameters)
  setup tch                                 install torch 2.9.0 (libtorch) from PyPI into
                                            ~/.cache/kiln (or KILN_TORCH_DIR), once
  test [ARGS]...                            run the test suite (optimised build); when
                                            KILN_DATASETS names the real datasets folder,
                                            the tests marked as needing real data run too
  lint                                      cargo fmt --check and clippy -D warnings
  docs [--open]                             write the generated reference pages, then build
                                            the book (docs/) into docs/book/ with mdBook,
                                            installed into ~/.cache/kiln on first use
  help [COMMAND | config [KEY]]             this text; a command's help; the experiment
                                            file's keys, or one key's type, default and
                                            meaning (e.g. help config data.vocab_size)

backends: flex is always built; `run` builds wgpu, tch and cuda in when the experiment asks
for them (backend = \"wgpu\", backends = [\"flex\", \"tch\"], --set backend=tch).

environment:
  KILN_DATASETS   existing datasets folder, e.g. ../shared/datasets (used instead of downloads)
  KILN_TORCH_DIR  a venv holding torch 2.9.0, instead of the one `setup tch` makes
  KILN_TEST_BACKENDS=wgpu,tch,cuda   `test` builds those backends in (profile `test-backends`)
                  and runs their parity tests against flex (cuda's where a driver is loaded)
  KILN_KERNELS=off   burn's composed operations instead of kiln's fused kernels, everywhere
  KILN_A__B=V     overrides key a.b of the experiment (see docs/src/experiments.md)
  every variable: docs/src/reference/environment.md
";

fn main() -> ExitCode {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.to_string_lossy().into_owned(), rest.to_vec()),
        None => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
    };
    let result = match command.as_str() {
        "run" | "check" | "submit" | "status" | "cancel" => kiln(&command, rest, true),
        "compare" | "report" | "index" => kiln(&command, rest, false),
        "generate" | "translate" | "predict" | "evaluate" | "export" | "show" => {
            // The run folder (and predict's input files) are relative to where the user stands.
            let rest = rest
                .iter()
                .map(|a| {
                    let path = Path::new(a);
                    if path.is_dir()
                        || (command != "generate" && command != "translate" && path.is_file())
                    {
                        absolute(a)
                    } else {
                        a.clone()
                    }
                })
                .collect();
            kiln(&command, rest, false)
        }
        "bench" => bench(rest),
        "setup" => match rest
            .first()
            .map(|s| s.to_string_lossy().into_owned())
            .as_deref()
        {
            Some("tch") => backends::setup_tch(),
            _ => Err(format!("`setup` knows one thing: tch\n\n{HELP}")),
        },
        "test" => test(rest),
        "lint" => lint(),
        "docs" => docs(rest),
        // `help run`, `help config KEY`: kiln's own help.
        "help" if !rest.is_empty() => kiln("help", rest, false),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// A cargo command at the workspace root, without the variables `cargo run` set for xtask
/// itself: build scripts (ring's, for one) rerun when they change, so a build through xtask
/// and one by hand would keep invalidating each other.
fn cargo() -> Command {
    let mut c = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_run = ["CARGO_PKG_", "CARGO_MANIFEST_"]
            .iter()
            .any(|p| key.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&key.as_ref());
        if set_by_cargo_run {
            c.env_remove(key.as_ref());
        }
    }
    c
}

/// Paths given relative to where the user stands, made absolute before we move to the root.
fn absolute(p: &OsString) -> OsString {
    let path = Path::new(p);
    if path.is_absolute() {
        return p.clone();
    }
    env::current_dir()
        .map(|d| d.join(path).into_os_string())
        .unwrap_or_else(|_| p.clone())
}

/// kiln runs from the workspace root, and paths the user typed are relative to where they
/// stand: experiment files and the values of path flags are made absolute.
fn user_paths_absolute(args: &mut [OsString]) {
    for i in 0..args.len() {
        let after_path_flag = i > 0
            && ["--out", "-o", "--output", "--charts", "--results"]
                .contains(&&*args[i - 1].to_string_lossy());
        if after_path_flag || args[i].to_string_lossy().ends_with(".toml") {
            args[i] = absolute(&args[i]);
        }
    }
}

/// Makes a relative `KILN_DATASETS` absolute, since tests and runs work from other folders.
fn datasets_env(cmd: &mut Command) -> Option<PathBuf> {
    let value = env::var_os("KILN_DATASETS").filter(|v| !v.is_empty())?;
    let path = PathBuf::from(absolute(&value));
    cmd.env("KILN_DATASETS", &path);
    Some(path)
}

pub(crate) fn status(mut cmd: Command) -> Result<(), String> {
    let shown = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}

/// Whether the arguments ask for help: then kiln's help for the command is printed,
/// whatever else was typed (`cargo xtask run --help`, `bench --against-pytorch -h`).
fn asks_help(rest: &[OsString]) -> bool {
    rest.iter().any(|a| a == "--help" || a == "-h")
}

fn kiln(command: &str, mut rest: Vec<OsString>, needs_file: bool) -> Result<(), String> {
    if asks_help(&rest) {
        return status(kiln_with(&[], command, vec!["--help".into()])?);
    }
    // `run --resume RUN`: the run folder stands for the file, its resolved config says which
    // backends to build.
    let resume = rest.iter().position(|a| a == "--resume");
    let file = match resume {
        Some(i) if command == "run" => {
            let dir = rest
                .get(i + 1)
                .ok_or("`run --resume` needs a run folder, e.g. results/quickstart/<run>")?;
            rest[i + 1] = absolute(dir);
            Some(Path::new(&rest[i + 1]).join("config.toml"))
        }
        _ if needs_file => {
            if rest.is_empty() {
                return Err(format!(
                    "`{command}` needs an experiment file, e.g. experiments/quickstart.toml"
                ));
            }
            rest[0] = absolute(&rest[0]);
            Some(PathBuf::from(&rest[0]))
        }
        _ => None,
    };
    user_paths_absolute(&mut rest);
    // The backends the experiment asks for are built in; flex always is.
    let wanted = match &file {
        Some(file) => backends::asked(file, &rest),
        None => Vec::new(),
    };
    let mut cmd = kiln_with(&wanted, command, rest)?;
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start cargo run: {e}"))?;
    // kiln has said what went wrong; its exit status (75: stopped, resumable) passes through.
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => Err(format!("kiln ended by a signal ({status})")),
    }
}

/// `cargo run` of the optimised `kiln` binary with the `wanted` backends built in (and
/// libtorch found when tch is among them), running `command` with `args`.
fn kiln_with(wanted: &[&str], command: &str, args: Vec<OsString>) -> Result<Command, String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "kiln-runner",
        "--bin",
        "kiln",
    ]);
    if !wanted.is_empty() {
        cmd.arg("--features").arg(wanted.join(","));
    }
    if wanted.contains(&"tch") {
        backends::tch_env(&mut cmd)?;
    }
    if wanted.contains(&"cuda") {
        eprintln!("{}", backends::CUDA_BUILD_NOTE);
    }
    cmd.arg("--").arg(command).args(args);
    datasets_env(&mut cmd);
    Ok(cmd)
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(|d| PathBuf::from(absolute(&d)))
        .unwrap_or_else(|| root().join("target"))
}

/// The standard workloads of `bench` and `bench --against-pytorch`, on the embedded samples
/// so that no download is needed (throughput does not depend on which digits or reviews are
/// read). The IMDB LSTM is the one the PyTorch scripts have: 200 tokens, the last state.
const BENCH_WORKLOADS: [&str; 5] = [
    "experiments/mlp_mnist.toml",
    "experiments/cnn_mnist.toml",
    "bench/workloads/resnet20_mnist.toml",
    "bench/workloads/lstm_imdb_last200.toml",
    "experiments/charlstm_shakespeare.toml",
];

/// `bench [FILES] [--backends ...]`: training throughput per backend, as a Markdown table;
/// `bench compare`: the compare command over a synthetic index.
fn bench(mut rest: Vec<OsString>) -> Result<(), String> {
    if asks_help(&rest) {
        return status(kiln_with(&[], "bench", vec!["--help".into()])?);
    }
    if rest.first().is_some_and(|s| s == "compare") {
        return bench_compare(rest);
    }
    let has = |flag: &str| rest.iter().any(|a| a == flag);
    let (files_given, format_given, output_given, against_pytorch) = (
        rest.iter().any(|a| a.to_string_lossy().ends_with(".toml")),
        has("--format"),
        has("-o") || has("--output"),
        has("--against-pytorch"),
    );
    user_paths_absolute(&mut rest);
    if !files_given {
        rest.extend(
            BENCH_WORKLOADS
                .iter()
                .map(|f| root().join(f).into_os_string()),
        );
        rest.extend(["--set".into(), "data.source=sample".into()]);
    }
    if against_pytorch {
        // `--against-pytorch` alone: the Python of the torch venv `setup tch` makes.
        let i = rest
            .iter()
            .position(|a| a == "--against-pytorch")
            .expect("has it");
        let named = rest.get(i + 1).is_some_and(|next| {
            !next.to_string_lossy().starts_with('-') && !next.to_string_lossy().ends_with(".toml")
        });
        if !named {
            rest.insert(i + 1, backends::torch_python()?.into_os_string());
        }
    } else if !format_given {
        rest.extend(["--format".into(), "markdown".into()]);
    }
    if !output_given {
        let name = if against_pytorch {
            "pytorch.md"
        } else {
            "backends.md"
        };
        rest.push("--output".into());
        rest.push(
            root()
                .join("results")
                .join("bench")
                .join(name)
                .into_os_string(),
        );
    }
    // `--backends wgpu,tch` as `--set backends=...` for the feature scan.
    let mut scan = rest.clone();
    if let Some(i) = rest.iter().position(|a| a == "--backends")
        && let Some(list) = rest.get(i + 1)
    {
        scan.push(format!("backends={}", list.to_string_lossy()).into());
    }
    let mut wanted = Vec::new();
    for file in rest
        .iter()
        .filter(|a| a.to_string_lossy().ends_with(".toml"))
    {
        wanted.extend(backends::asked(Path::new(file), &scan));
    }
    wanted.sort();
    wanted.dedup();
    status(kiln_with(&wanted, "bench", rest)?)
}

/// `bench compare`: `kiln compare` over a synthetic index, timed from outside the process.
fn bench_compare(rest: Vec<OsString>) -> Result<(), String> {
    let arg = |i: usize, default: &str| {
        rest.get(i)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| default.into())
    };
    let (runs, params) = (arg(1, "10000"), arg(2, "20"));
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "kiln-runner",
        "--bin",
        "kiln",
        "--example",
        "synthetic_index",
    ]);
    status(build)?;
    let target = target_dir().join("release");
    let dir = target_dir().join("bench-compare");
    let _ = std::fs::remove_dir_all(&dir);
    let mut make = Command::new(target.join("examples").join("synthetic_index"));
    make.arg(&dir).args([&runs, &params]);
    status(make)?;
    let size = std::fs::metadata(dir.join("index.parquet")).map_or(0, |m| m.len());
    let queries: [(&str, Vec<&str>); 4] = [
        ("every run, one row each", vec!["--status", "all"]),
        (
            "filter on two parameters",
            vec![
                "--where",
                "param.p00<0.01",
                "--where",
                "param.p02=adam",
                "--sort",
                "test_accuracy",
            ],
        ),
        (
            "group by a sweep's configurations",
            vec!["--group-by", "configuration", "--sort", "test_accuracy"],
        ),
        (
            "group by two parameters, 3 metrics",
            vec![
                "--group-by",
                "param.p02,param.p01",
                "--metrics",
                "test_accuracy,test_loss,wall_s",
            ],
        ),
    ];
    println!(
        "kiln compare over {runs} runs × {params} parameters ({size} bytes of index), wall time of the whole command, best and median of 5:\n"
    );
    println!("| query | best s | median s |\n|---|---:|---:|");
    for (name, args) in queries {
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let out = Command::new(target.join("kiln"))
                .arg("compare")
                .arg("--results")
                .arg(&dir)
                .args(&args)
                .output()
                .map_err(|e| format!("running kiln compare: {e}"))?;
            times.push(start.elapsed().as_secs_f64());
            if !out.status.success() {
                return Err(format!(
                    "kiln compare {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        times.sort_by(f64::total_cmp);
        println!("| {name} | {:.3} | {:.3} |", times[0], times[2]);
    }
    Ok(())
}

/// Debian names it `chromium`; other systems `chromium-browser` or Chrome.
fn chromium() -> Option<String> {
    if let Ok(b) = env::var("KILN_CHROMIUM") {
        return Some(b);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

const BROWSER_TEST: &str = "report_opens_in_headless_chromium";
const SEARCH_BROWSER_TEST: &str = "a_search_report_opens_in_headless_chromium";
const SLURM_TEST: &str = "a_sweep_on_slurm_survives_a_requeue_and_completes_every_trial_once";
const SLURM_SEARCH_TEST: &str =
    "a_search_on_slurm_shares_its_journal_between_workers_and_survives_a_requeue";
const TORCH_TEST: &str = "pytorch_gives_kilns_logits_for_every_exported_classifier";

/// An ignored test that needs a tool (not real data), and whether this machine has it.
struct OptionalTest {
    name: &'static str,
    /// Its test binary in kiln-runner.
    target: &'static str,
    runnable: bool,
    found: &'static str,
    missing: &'static str,
}

/// Whether a Slurm controller, node daemon and munge are installed (Debian's slurm-wlm and
/// munge), and this is root, which slurmd needs to start jobs.
fn slurm() -> bool {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    runs("slurmctld", "-V")
        && runs("slurmd", "-V")
        && runs("munged", "--version")
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn test(rest: Vec<OsString>) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]);
    let (mut cargo_args, harness_args): (Vec<_>, Vec<_>) = match rest.iter().position(|a| a == "--")
    {
        Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
        None => (rest, Vec::new()),
    };
    with_test_backends(&mut cmd, &mut cargo_args)?;
    cmd.args(&cargo_args).arg("--");
    let real_data = match datasets_env(&mut cmd) {
        Some(path) if path.is_dir() => {
            eprintln!(
                "xtask: KILN_DATASETS={}: running the real-data tests too",
                path.display()
            );
            cmd.arg("--include-ignored");
            true
        }
        Some(path) => return Err(format!("KILN_DATASETS={} is not a folder", path.display())),
        None => {
            eprintln!("xtask: KILN_DATASETS not set: skipping the tests that need real data");
            false
        }
    };
    // Ignored tests that need a tool rather than real data: with real data they run in the
    // main pass unless the tool is missing; without it, alone afterwards if it is there.
    let browser = chromium();
    let torch = backends::export_test_python();
    let has_slurm = slurm();
    let optional = optional_tests(browser.is_some(), torch.is_some(), has_slurm);
    let tools = |c: &mut Command| {
        if let Some(b) = &browser {
            c.env("KILN_CHROMIUM", b);
        }
        if let Some(p) = &torch {
            c.env("KILN_TORCH_PYTHON", p);
        }
    };
    tools(&mut cmd);
    for t in &optional {
        eprintln!("xtask: {}", if t.runnable { t.found } else { t.missing });
        if !t.runnable && real_data {
            cmd.args(["--skip", t.name]);
        }
    }
    cmd.args(&harness_args);
    status(cmd)?;
    if !real_data {
        for t in optional.iter().filter(|t| t.runnable) {
            let mut only = cargo();
            only.args(["test", "-p", "kiln-runner", "--test", t.target])
                .args(&cargo_args)
                .args(["--", "--ignored", "--exact", t.name]);
            tools(&mut only);
            status(only)?;
        }
    }
    Ok(())
}

/// The ignored tests that need a tool rather than real data, each runnable where the tool is.
fn optional_tests(browser: bool, torch: bool, slurm: bool) -> [OptionalTest; 5] {
    [
        OptionalTest {
            name: BROWSER_TEST,
            target: "sweeps",
            runnable: browser,
            found: "chromium found: checking the HTML report in it",
            missing: "no chromium: skipping the report's browser test",
        },
        OptionalTest {
            name: SEARCH_BROWSER_TEST,
            target: "search",
            runnable: browser,
            found: "chromium found: checking a search's report in it",
            missing: "no chromium: skipping the search report's browser test",
        },
        OptionalTest {
            name: SLURM_TEST,
            target: "cluster",
            runnable: slurm,
            found: "Slurm and munge found: submitting a sweep to a one-node cluster",
            missing: "no Slurm (or not root): skipping the cluster test",
        },
        OptionalTest {
            name: SLURM_SEARCH_TEST,
            target: "cluster",
            runnable: slurm,
            found: "Slurm and munge found: a search's workers on a one-node cluster",
            missing: "no Slurm (or not root): skipping the search's cluster test",
        },
        OptionalTest {
            name: TORCH_TEST,
            target: "export",
            runnable: torch,
            found: "torch and safetensors found: loading exported weights in PyTorch",
            missing: "no torch venv with safetensors (`cargo xtask setup tch`): skipping the PyTorch round trip",
        },
    ]
}

/// The other backends go into this same build, whose tests then include their parity
/// checks: one compilation of the dependency graph, not one per feature set. The profile is
/// `release` for flex alone (shared with `cargo xtask run`), `test-backends` (Cargo.toml)
/// with other backends, whose GPU and libtorch stacks it builds unoptimised.
fn with_test_backends(cmd: &mut Command, cargo_args: &mut Vec<OsString>) -> Result<(), String> {
    let backends = test_backends()?;
    if backends.is_empty() {
        cargo_args.push("--release".into());
    } else {
        cargo_args.extend(["--profile".into(), "test-backends".into()]);
        eprintln!(
            "xtask: building {} in: their parity tests against flex run too",
            backends.join(", ")
        );
        if backends.contains(&"cuda") {
            eprintln!("{}", backends::CUDA_BUILD_NOTE);
        }
        let features: Vec<String> = backends
            .iter()
            .map(|b| format!("kiln-runner/{b}"))
            .collect();
        cargo_args.extend(["--features".into(), features.join(",").into()]);
        if backends.contains(&"tch") {
            backends::tch_env(cmd)?;
        }
    }
    Ok(())
}

/// `KILN_TEST_BACKENDS=wgpu,tch,cuda`: the backends whose parity tests run beside flex's.
fn test_backends() -> Result<Vec<&'static str>, String> {
    let Some(list) = env::var("KILN_TEST_BACKENDS")
        .ok()
        .filter(|l| !l.trim().is_empty())
    else {
        eprintln!("xtask: KILN_TEST_BACKENDS not set: flex only, no backend parity tests");
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .map(|b| {
            ["wgpu", "tch", "cuda"]
                .into_iter()
                .find(|known| *known == b)
                .ok_or_else(|| {
                    format!("KILN_TEST_BACKENDS: unknown backend `{b}` (wgpu, tch, cuda)")
                })
        })
        .collect()
}

fn lint() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    status(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    status(clippy)
}

/// The mdBook version `docs` installs when none is on the PATH.
const MDBOOK_VERSION: &str = "0.4.52";

/// `docs [--open]`: the generated reference pages written, then the book in docs/ built
/// with mdBook into docs/book/ (and opened).
fn docs(rest: Vec<OsString>) -> Result<(), String> {
    let open = rest.iter().any(|a| a == "--open");
    if let Some(other) = rest.iter().find(|a| *a != "--open") {
        return Err(format!(
            "`docs` takes --open only, not `{}`",
            other.to_string_lossy()
        ));
    }
    let on_path = Command::new("mdbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mdbook = if on_path {
        PathBuf::from("mdbook")
    } else {
        let root = backends::cache_dir().join("mdbook");
        let bin = root.join("bin").join("mdbook");
        if !bin.is_file() {
            eprintln!(
                "xtask: installing mdBook {MDBOOK_VERSION} into {} (once; a few minutes)",
                root.display()
            );
            let mut install = cargo();
            install
                .args(["install", "mdbook", "--locked", "--version", MDBOOK_VERSION])
                .arg("--root")
                .arg(&root);
            status(install)?;
        }
        bin
    };
    // The pages generated from the code first.
    for (page, file) in [
        ("cli", "cli.md"),
        ("config", "config.md"),
        ("index", "index.md"),
    ] {
        let mut reference = kiln_with(&[], "reference", vec![page.into()])?;
        let output = reference
            .output()
            .map_err(|e| format!("cannot start cargo run: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let page = root().join("docs/src/reference").join(file);
        std::fs::write(&page, &output.stdout)
            .map_err(|e| format!("writing {}: {e}", page.display()))?;
    }
    let mut build = Command::new(&mdbook);
    build.arg("build").arg(root().join("docs"));
    if open {
        build.arg("--open");
    }
    status(build)?;
    println!("{}", root().join("docs/book/index.html").display());
    Ok(())
}
