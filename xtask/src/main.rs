//! `cargo xtask`: the one entry point for automation in the kiln workspace.
//!
//! Everything that trains is built with `--release`, whatever profile this tool itself was
//! built with; tests share that profile so that a run and the tests compile the heavy
//! dependency graph (burn, polars, plotters) once.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <command> [args]

commands:
  run FILE [--set KEY=VALUE]... [--quiet]   train an experiment (optimised build), e.g.
                                            cargo xtask run experiments/quickstart.toml
  check FILE [--set KEY=VALUE]...           validate an experiment and print it resolved
  test [ARGS]...                            run the test suite (optimised build); when
                                            KILN_DATASETS names the real datasets folder,
                                            the tests marked as needing real data run too
  lint                                      cargo fmt --check and clippy -D warnings
  help                                      this text

environment:
  KILN_DATASETS   existing datasets folder, e.g. ../shared/datasets (used instead of downloads)
  KILN_A__B=V     overrides key a.b of the experiment (see README)
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
        "run" | "check" => kiln(&command, rest),
        "test" => test(rest),
        "lint" => lint(),
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

/// Makes a relative `KILN_DATASETS` absolute, since tests and runs work from other folders.
fn datasets_env(cmd: &mut Command) -> Option<PathBuf> {
    let value = env::var_os("KILN_DATASETS").filter(|v| !v.is_empty())?;
    let path = PathBuf::from(absolute(&value));
    cmd.env("KILN_DATASETS", &path);
    Some(path)
}

fn status(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}

fn kiln(command: &str, mut rest: Vec<OsString>) -> Result<(), String> {
    if rest.is_empty() {
        return Err(format!(
            "`{command}` needs an experiment file, e.g. experiments/quickstart.toml"
        ));
    }
    rest[0] = absolute(&rest[0]);
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "kiln-runner",
        "--bin",
        "kiln",
        "--",
    ]);
    cmd.arg(command).args(rest);
    datasets_env(&mut cmd);
    status(cmd)
}

fn test(rest: Vec<OsString>) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["test", "--release", "--workspace"]);
    let (cargo_args, harness_args): (Vec<_>, Vec<_>) = match rest.iter().position(|a| a == "--") {
        Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
        None => (rest, Vec::new()),
    };
    cmd.args(cargo_args).arg("--");
    match datasets_env(&mut cmd) {
        Some(path) if path.is_dir() => {
            eprintln!(
                "xtask: KILN_DATASETS={}: running the real-data tests too",
                path.display()
            );
            cmd.arg("--include-ignored");
        }
        Some(path) => return Err(format!("KILN_DATASETS={} is not a folder", path.display())),
        None => eprintln!("xtask: KILN_DATASETS not set: skipping the tests that need real data"),
    }
    cmd.args(harness_args);
    status(cmd)
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
