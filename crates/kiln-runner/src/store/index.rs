//! `results/index.parquet`: one row per run, so that comparing thousands of runs reads one
//! file instead of thousands of folders.
//!
//! A row is built only from what the run folder holds (manifest, test report, epoch metrics,
//! resolved config), so the index can always be rebuilt from the folders. Writers take an
//! exclusive lock on `results/.index.lock`, read, replace their row and rename a new file
//! into place: readers never see a half-written index and no writer loses another's row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kiln_data::download::write_atomically;
use kiln_report::group::Stats;
use kiln_train::Metric;
use polars::prelude::*;

use crate::platform::lock::FileLock;
use crate::store::manifest::Manifest;
use crate::store::metrics_io::read_parquet;
use crate::store::run_dir::RunDir;

/// The columns every row has before the metrics, in the order tables show them, with what
/// each holds (the reference page is made from these).
const LEADING_COLUMNS: &[(&str, &str)] = &[
    (
        "run",
        "The run's folder under the results folder, e.g. `cnn_mnist/20261202-100000-s42`.",
    ),
    (
        "run_id",
        "The run folder's name: UTC start time and seed, or a trial's `t003-s1`.",
    ),
    ("experiment", "The experiment's `name`."),
    ("sweep", "The sweep's `name`, for a trial (else null)."),
    ("trial", "The trial's number in its sweep, from 1."),
    (
        "parent",
        "A population member: the trial whose weights it took up.",
    ),
    (
        "fork_epoch",
        "A population member: the epoch at which it took them up.",
    ),
    (
        "configuration",
        "A trial's swept values without seed and fold, e.g. `learning_rate=0.001`: what `--group-by configuration` groups.",
    ),
    (
        "status",
        "`running`, `completed`, `failed`, `interrupted` (also a run whose process is gone) or `pruned`.",
    ),
    ("seed", "The run's `seed`."),
    ("backend", "`flex`, `wgpu`, `tch` or `cuda`."),
    ("device", "The device the file asked for."),
    ("resolved_device", "The device the run used."),
];

/// The columns every row has after the metrics.
const TRAILING_COLUMNS: &[(&str, &str)] = &[
    ("final_train_loss", "The training loss of the last epoch."),
    (
        "final_val_accuracy",
        "The validation accuracy of the last epoch.",
    ),
    (
        "samples_per_second",
        "Training throughput, the mean over epochs.",
    ),
    ("epochs", "Epochs run."),
    ("best_epoch", "The epoch `train.monitor` picked."),
    ("wall_s", "Seconds from start to end."),
    ("train_s", "Seconds in training."),
    ("test_s", "Seconds in the final test."),
    ("started_at", "The start, RFC 3339."),
    ("finished_at", "The end, RFC 3339 (null while running)."),
    ("git_commit", "The commit kiln was built from."),
    ("git_dirty", "Whether the checkout had uncommitted changes."),
    ("host", "The machine's host name."),
    ("error", "Why a run failed or was interrupted."),
];

/// Every column a row may have besides parameters, in the order tables show them:
/// `test_<metric>` and `best_val_<metric>` for each of `metrics` (every metric a task
/// defines). Parameters (dotted config keys, e.g. `train.learning_rate`) follow, sorted.
pub fn core_columns(metrics: &[&str]) -> Vec<String> {
    LEADING_COLUMNS
        .iter()
        .map(|(c, _)| c.to_string())
        .chain(metrics.iter().map(|m| format!("test_{m}")))
        .chain(metrics.iter().map(|m| format!("best_val_{m}")))
        .chain(TRAILING_COLUMNS.iter().map(|(c, _)| c.to_string()))
        .collect()
}

/// docs/src/reference/index.md: the index's columns. `metrics` are every task's metric names.
pub fn reference(metrics: &[&str]) -> String {
    let mut s = String::from(
        "# The run index\n\n\
         `results/index.parquet` has one row per run folder under `results/`, written when a \
         run starts and updated when it ends; `kiln index --rebuild` makes it anew from the \
         folders. `compare` and `report` read it; so can polars or pandas. Generated from \
         kiln's column lists by `cargo xtask docs`; a test fails when this page lags them.\n\n\
         | column | what it holds |\n|---|---|\n",
    );
    let row = |s: &mut String, c: &str, what: &str| s.push_str(&format!("| `{c}` | {what} |\n"));
    for (c, what) in LEADING_COLUMNS {
        row(&mut s, c, what);
    }
    let code_list = |items: &mut dyn Iterator<Item = &&str>| {
        items
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = code_list(&mut metrics.iter());
    row(
        &mut s,
        "test_<metric>",
        &format!(
            "The best model's result on the test split, for each metric a task defines: {names}; null where the run's task has no such metric."
        ),
    );
    row(
        &mut s,
        "best_val_<metric>",
        "The best value of `val_<metric>` over the epochs, by the metric's direction.",
    );
    for (c, what) in TRAILING_COLUMNS {
        row(&mut s, c, what);
    }
    let evaluation = code_list(&mut EVALUATION_METRICS.iter().chain(&EVALUATION_VALUE_METRICS));
    row(
        &mut s,
        &format!("{EVALUATION}<name>.<metric>"),
        &format!(
            "`kiln evaluate`'s result on the set it named `<name>` (`--name`, default the data's file name): {evaluation}."
        ),
    );
    let left_out = code_list(&mut NOT_PARAMETERS.iter());
    row(
        &mut s,
        "<dotted.key>",
        &format!(
            "Every key of the run's resolved config, flattened: numbers, booleans and strings as themselves, lists as their TOML text (e.g. `train.learning_rate`, `model.hidden`); not the top-level {left_out}."
        ),
    );
    s
}

/// One value of a row; `None` is null.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Str(Option<String>),
    F64(Option<f64>),
    I64(Option<i64>),
    Bool(Option<bool>),
}

/// One run as named cells.
/// Prefix of the columns of a run's evaluations: `eval.<name>.<metric>`.
pub const EVALUATION: &str = "eval.";
/// What each evaluation contributes to the run's row.
const EVALUATION_METRICS: [&str; 4] = ["accuracy", "loss", "macro_f1", "samples"];
/// What a regression's evaluation adds, in the data's units.
const EVALUATION_VALUE_METRICS: [&str; 3] = ["rmse", "mae", "r2"];

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub cells: BTreeMap<String, Cell>,
}

impl Row {
    pub fn set(&mut self, name: &str, cell: Cell) {
        self.cells.insert(name.to_string(), cell);
    }

    /// What the manifest says: the run, its trial and lineage, status, seed, backend,
    /// timings and provenance.
    fn set_provenance(&mut self, rel: &str, manifest: &Manifest) -> anyhow::Result<()> {
        let s = |v: &str| Cell::Str(Some(v.to_string()));
        self.set("run", s(rel));
        self.set("run_id", s(&manifest.run_id));
        self.set("experiment", s(&manifest.experiment));
        let trial = manifest.sweep.as_ref();
        self.set("sweep", Cell::Str(trial.map(|t| t.name.clone())));
        self.set("trial", Cell::I64(trial.map(|t| t.trial as i64)));
        let lineage = trial.and_then(|t| t.from.as_ref());
        self.set("parent", Cell::I64(lineage.map(|l| l.trial as i64)));
        self.set("fork_epoch", Cell::I64(lineage.map(|l| l.epoch as i64)));
        self.set(
            "configuration",
            Cell::Str(trial.map(|t| t.configuration.clone())),
        );
        let (status, error) = manifest.as_seen();
        let status = serde_json::to_value(status)?;
        self.set("status", s(status.as_str().unwrap_or("unknown")));
        self.set("seed", Cell::I64(Some(manifest.seed as i64)));
        self.set("backend", s(&manifest.backend));
        self.set("device", s(&manifest.device));
        self.set("resolved_device", s(&manifest.resolved_device));
        self.set("epochs", Cell::I64(Some(manifest.epochs_run as i64)));
        self.set(
            "best_epoch",
            Cell::I64(manifest.best_epoch.map(|e| e as i64)),
        );
        self.set("wall_s", Cell::F64(manifest.timings.total_s));
        self.set("train_s", Cell::F64(manifest.timings.train_s));
        self.set("test_s", Cell::F64(manifest.timings.test_s));
        self.set("started_at", s(&manifest.started_at.to_rfc3339()));
        self.set(
            "finished_at",
            Cell::Str(manifest.finished_at.map(|t| t.to_rfc3339())),
        );
        self.set(
            "git_commit",
            Cell::Str(manifest.git.as_ref().map(|g| g.commit.clone())),
        );
        self.set(
            "git_dirty",
            Cell::Bool(manifest.git.as_ref().map(|g| g.dirty)),
        );
        self.set("host", s(&manifest.host.hostname));
        self.set("error", Cell::Str(error));
        Ok(())
    }

    /// `kiln evaluate`'s reports, beside the run's own test.
    fn set_evaluations(&mut self, folder: &RunDir) {
        for name in folder.evaluations() {
            let report = RunDir::open(&folder.evaluation(&name)).test_report();
            let Some(json) = std::fs::read(&report)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            for metric in EVALUATION_METRICS {
                let v = json[metric].as_f64();
                self.set(&format!("{EVALUATION}{name}.{metric}"), Cell::F64(v));
            }
            for metric in EVALUATION_VALUE_METRICS {
                if let Some(v) = json.get(metric) {
                    self.set(
                        &format!("{EVALUATION}{name}.{metric}"),
                        Cell::F64(v.as_f64()),
                    );
                }
            }
        }
    }

    /// The row of the run in `root`, which lies under `results`.
    /// `metrics`: every metric a task defines, each run getting a `test_` and a `best_val_`
    /// column for each (null where its task has no such metric).
    pub fn from_run(results: &Path, root: &Path, metrics: &[Metric]) -> anyhow::Result<Self> {
        let folder = RunDir::open(root);
        let manifest = Manifest::read(&folder.manifest())?;
        let mut row = Row::default();
        let rel = root
            .strip_prefix(results)
            .unwrap_or(root)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        row.set_provenance(&rel, &manifest)?;

        let test: Option<serde_json::Value> = std::fs::read(folder.test_report())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        for metric in metrics.iter().map(|m| m.name) {
            let v = test.as_ref().and_then(|t| t[metric].as_f64());
            row.set(&format!("test_{metric}"), Cell::F64(v));
        }
        row.set_evaluations(&folder);
        let epochs = folder.metrics("epochs", "parquet");
        let frame = read_parquet(&epochs).ok();
        let series = |name: &str| -> Vec<f64> {
            frame
                .as_ref()
                .and_then(|f| f.column(name).ok())
                .and_then(|c| c.cast(&DataType::Float64).ok())
                .map(|c| {
                    c.f64()
                        .map(|ca| ca.iter().flatten().collect())
                        .unwrap_or_default()
                })
                .unwrap_or_default()
        };
        let stats = |name: &str| Stats::of(&series(name));
        for metric in metrics {
            let best = stats(&format!("val_{}", metric.name)).map(|s| {
                if metric.higher_is_better {
                    s.max
                } else {
                    s.min
                }
            });
            row.set(&format!("best_val_{}", metric.name), Cell::F64(best));
        }
        row.set(
            "final_train_loss",
            Cell::F64(series("train_loss").last().copied()),
        );
        row.set(
            "final_val_accuracy",
            Cell::F64(series("val_accuracy").last().copied()),
        );
        row.set(
            "samples_per_second",
            Cell::F64(stats("samples_per_second").map(|s| s.mean)),
        );

        if let Ok(text) = std::fs::read_to_string(folder.config()) {
            let config: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{}: not valid TOML", folder.config().display()))?;
            flatten_config(&config, "", &mut row);
        }
        Ok(row)
    }
}

/// Top-level keys that are core columns already (or say nothing about the result).
const NOT_PARAMETERS: &[&str] = &[
    "name",
    "description",
    "seed",
    "backend",
    "device",
    "datasets",
];

/// Every leaf of the resolved config as a `dotted.key` cell: numbers, booleans and strings as
/// themselves, lists as their TOML text.
fn flatten_config(table: &toml::Table, prefix: &str, row: &mut Row) {
    for (key, value) in table {
        if prefix.is_empty() && NOT_PARAMETERS.contains(&key.as_str()) {
            continue;
        }
        let name = format!("{prefix}{key}");
        let cell = match value {
            toml::Value::Table(t) => {
                flatten_config(t, &format!("{name}."), row);
                continue;
            }
            toml::Value::Integer(i) => Cell::I64(Some(*i)),
            toml::Value::Float(f) => Cell::F64(Some(*f)),
            toml::Value::Boolean(b) => Cell::Bool(Some(*b)),
            toml::Value::String(s) => Cell::Str(Some(s.clone())),
            other => Cell::Str(Some(crate::config::sweep::compact(other))),
        };
        row.set(&name, cell);
    }
}

/// Rows as one frame: the union of their columns, core columns first.
pub fn frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let mut kinds: BTreeMap<&str, DataType> = BTreeMap::new();
    for row in rows {
        for (name, cell) in &row.cells {
            let dtype = match cell {
                Cell::Str(_) => DataType::String,
                Cell::F64(_) => DataType::Float64,
                Cell::I64(_) => DataType::Int64,
                Cell::Bool(_) => DataType::Boolean,
            };
            kinds
                .entry(name)
                .and_modify(|d| *d = unify(d, &dtype))
                .or_insert(dtype);
        }
    }
    let columns: Vec<Column> = kinds
        .iter()
        .map(|(name, dtype)| {
            let cells = rows.iter().map(|r| r.cells.get(*name));
            let name: PlSmallStr = (*name).into();
            match dtype {
                DataType::Float64 => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Some(Cell::F64(v)) => *v,
                            Some(Cell::I64(v)) => v.map(|v| v as f64),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                DataType::Int64 => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Some(Cell::I64(v)) => *v,
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                DataType::Boolean => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Some(Cell::Bool(v)) => *v,
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Some(Cell::Str(v)) => v.clone(),
                            Some(Cell::F64(v)) => v.map(|v| v.to_string()),
                            Some(Cell::I64(v)) => v.map(|v| v.to_string()),
                            Some(Cell::Bool(v)) => v.map(|v| v.to_string()),
                            None => None,
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        })
        .collect();
    ordered(DataFrame::new(rows.len(), columns)?)
}

/// The type two rows' values for one column share: whole numbers widen to floats, anything
/// else mixed becomes text.
fn unify(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (a, b) if a == b => a.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        _ => DataType::String,
    }
}

/// The leading columns, the `test_` and `best_val_` metrics, the trailing columns, then the
/// parameters; metrics and parameters sorted by name.
fn ordered(frame: DataFrame) -> PolarsResult<DataFrame> {
    let mut names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let position = |list: &[(&str, &str)], name: &str| list.iter().position(|(c, _)| *c == name);
    names.sort_by_cached_key(|name| {
        let group = if let Some(i) = position(LEADING_COLUMNS, name) {
            (0, i)
        } else if let Some(i) = position(TRAILING_COLUMNS, name) {
            (3, i)
        } else if name.starts_with("test_") {
            (1, 0)
        } else if name.starts_with("best_val_") {
            (2, 0)
        } else {
            (4, 0)
        };
        (group, name.clone())
    });
    frame.select(names)
}

/// Stacks frames with different columns: missing cells are null, clashing types unify.
pub fn concat(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut kinds: Vec<(String, DataType)> = Vec::new();
    for f in &frames {
        for c in f.columns() {
            match kinds.iter_mut().find(|(n, _)| n == c.name().as_str()) {
                Some((_, d)) => *d = unify(d, c.dtype()),
                None => kinds.push((c.name().to_string(), c.dtype().clone())),
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for f in frames {
        let columns = kinds
            .iter()
            .map(|(name, dtype)| match f.column(name) {
                Ok(c) => c.cast(dtype),
                Err(_) => Ok(Column::full_null(name.into(), f.height(), dtype)),
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        let f = DataFrame::new(f.height(), columns)?;
        out = Some(match out {
            None => f,
            Some(mut acc) => {
                acc.vstack_mut(&f)?;
                acc
            }
        });
    }
    let out = out.unwrap_or_default();
    ordered(out)
}

pub fn path(results: &Path) -> PathBuf {
    crate::store::run_dir::index(results)
}

/// The status of a run whose process ended while its manifest said `running`.
pub const INTERRUPTED: &str = "interrupted";

/// The index with the status of its `running` rows checked against their processes: a run
/// whose process is gone from this machine shows as `interrupted`, without a rebuild.
pub fn read_live(results: &Path) -> anyhow::Result<DataFrame> {
    let mut frame = read(results)?;
    let runs: Vec<Option<String>> = frame
        .column("run")?
        .str()?
        .iter()
        .map(|r| r.map(str::to_string))
        .collect();
    let errors: Vec<Option<String>> = frame
        .column("error")
        .ok()
        .and_then(|c| {
            c.str()
                .ok()
                .map(|c| c.iter().map(|e| e.map(str::to_string)).collect())
        })
        .unwrap_or_else(|| vec![None; runs.len()]);
    let (statuses, errors): (Vec<Option<String>>, Vec<Option<String>>) = frame
        .column("status")?
        .str()?
        .iter()
        .zip(&runs)
        .zip(errors)
        .map(|((status, run), error)| match (status, run) {
            (Some("running"), Some(run)) => {
                let manifest = RunDir::open(&results.join(run)).manifest();
                match Manifest::read(&manifest).ok().filter(|m| m.was_killed()) {
                    Some(m) => (Some(INTERRUPTED.to_string()), Some(m.killed_error())),
                    None => (Some("running".to_string()), error),
                }
            }
            (status, _) => (status.map(str::to_string), error),
        })
        .unzip();
    frame.with_column(Column::new("status".into(), statuses))?;
    frame.with_column(Column::new("error".into(), errors))?;
    Ok(frame)
}

/// The whole index; an error that says how to make one when there is none.
pub fn read(results: &Path) -> anyhow::Result<DataFrame> {
    let p = path(results);
    if !p.exists() {
        anyhow::bail!(
            "{}: no run index yet; run an experiment, or build it from the run folders with `cargo xtask index --rebuild`",
            p.display()
        );
    }
    read_parquet(&p).map_err(|e| {
        anyhow::anyhow!(
            "{}: the run index is damaged ({e}); rebuild it from the run folders with `cargo xtask index --rebuild`",
            p.display()
        )
    })
}

fn write(results: &Path, frame: &mut DataFrame) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(frame)?;
    write_atomically(&path(results), &bytes)?;
    Ok(())
}

/// The `results` folder the run folder `root` is in: the nearest folder above it holding the
/// index, else the one two levels up (`results/<experiment>/<run>`).
pub fn results_of(root: &Path) -> PathBuf {
    root.ancestors()
        .skip(1)
        .find(|a| path(a).exists())
        .or_else(|| root.ancestors().nth(2))
        .unwrap_or(root)
        .to_path_buf()
}

/// [`update`], with a failure a warning: the run's results stand without the index.
pub fn update_or_warn(results: &Path, root: &Path, metrics: &[Metric]) {
    if let Err(e) = update(results, root, metrics) {
        tracing::warn!(
            "{} not updated ({e:#}); `cargo xtask index --rebuild` rebuilds it from the run folders",
            path(results).display()
        );
    }
}

/// Adds or replaces the row of the run in `root`.
pub fn update(results: &Path, root: &Path, metrics: &[Metric]) -> anyhow::Result<()> {
    let row = frame(&[Row::from_run(results, root, metrics)?])?;
    let key = row
        .column("run")?
        .str()?
        .get(0)
        .unwrap_or_default()
        .to_string();
    let _lock = FileLock::take(&crate::store::run_dir::index_lock(results))?;
    remove_strays(results);
    let index = path(results);
    let mut merged = match read_parquet(&index) {
        // A damaged index is rebuilt whole (this run's folder among the rest), never
        // replaced by this run's row alone.
        Err(e) if index.exists() => {
            tracing::warn!(
                "{}: the run index was damaged ({e}); rebuilt from the run folders",
                index.display()
            );
            frame(&rows_of_folders(results, metrics).0)?
        }
        Ok(existing) => {
            let keep: BooleanChunked = existing
                .column("run")?
                .str()?
                .iter()
                .map(|r| Some(r != Some(key.as_str())))
                .collect();
            concat(vec![existing.filter(&keep)?, row])?
        }
        Err(_) => row,
    };
    write(results, &mut merged)
}

/// Every folder under `results` that holds a run's manifest.
pub fn run_folders(results: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        if RunDir::open(dir).manifest().is_file() {
            out.push(dir.to_path_buf());
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        for d in dirs {
            walk(&d, depth - 1, out);
        }
    }
    let mut out = Vec::new();
    walk(results, 4, &mut out);
    out
}

/// The rows of every run folder, and the folders skipped with why.
fn rows_of_folders(results: &Path, metrics: &[Metric]) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for folder in run_folders(results) {
        match Row::from_run(results, &folder, metrics) {
            Ok(r) => rows.push(r),
            Err(e) => skipped.push(format!("{}: {e:#}", folder.display())),
        }
    }
    (rows, skipped)
}

/// Temporary files of index writers that were killed mid-write. Only index writers, which
/// hold the lock while they write, make temporary files in `results/` itself, so under the
/// lock every one there is a stray.
fn remove_strays(results: &Path) {
    let Ok(entries) = std::fs::read_dir(results) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp") && entry.path().is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Rebuilds the index from the run folders; returns the rows written and the folders skipped
/// with why.
pub fn rebuild(results: &Path, metrics: &[Metric]) -> anyhow::Result<(usize, Vec<String>)> {
    let (rows, skipped) = rows_of_folders(results, metrics);
    let _lock = FileLock::take(&crate::store::run_dir::index_lock(results))?;
    remove_strays(results);
    let mut f = frame(&rows)?;
    write(results, &mut f)?;
    Ok((rows.len(), skipped))
}

/// Writes `rows` as the whole index (synthetic indexes for benchmarks).
pub fn replace(results: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let _lock = FileLock::take(&crate::store::run_dir::index_lock(results))?;
    let mut f = frame(rows)?;
    write(results, &mut f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder with a manifest and a config, as `kiln run` leaves it.
    fn fake_run(results: &Path, i: usize) -> PathBuf {
        let root = results.join("exp").join(format!("run-{i:03}"));
        std::fs::create_dir_all(root.join("metrics")).unwrap();
        let manifest = serde_json::json!({
            "kiln_version": "0.1.0", "run_id": format!("run-{i:03}"), "experiment": "exp",
            "status": "completed", "error": null, "pid": 1, "seed": i, "backend": "flex",
            "device": "cpu", "config_file": "exp.toml", "overrides": [], "env_overrides": [],
            "command": [], "git": null, "crates": {},
            "host": { "hostname": "h", "os": "linux", "arch": "x86_64", "cpus": 2 },
            "data": { "source": "s", "train": 1, "validation": 1, "test": 1 },
            "started_at": "2026-11-24T00:00:00Z", "finished_at": null,
            "timings": { "load_data_s": 0.1, "train_s": 1.0, "test_s": null, "total_s": 2.0 },
            "epochs_run": 3, "best_epoch": 2, "stopped_early": false
        });
        std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
        let lr = if i.is_multiple_of(2) { "0.01" } else { "1" };
        std::fs::write(
            root.join("config.toml"),
            format!("name = \"exp\"\nseed = {i}\n[train]\nlearning_rate = {lr}\nhidden = [{i}, 2]\n[train.optimizer]\nname = \"adam\"\n"),
        )
        .unwrap();
        std::fs::write(
            root.join("test.json"),
            format!("{{\"accuracy\": 0.{i:03}}}"),
        )
        .unwrap();
        root
    }

    #[test]
    fn concurrent_writers_lose_no_row() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().to_path_buf();
        let roots: Vec<PathBuf> = (0..24).map(|i| fake_run(&results, i)).collect();
        std::thread::scope(|s| {
            for chunk in roots.chunks(3) {
                let results = &results;
                s.spawn(move || {
                    for root in chunk {
                        update(results, root, &crate::config::spec::all_metrics()).unwrap();
                        // A second update of the same run replaces its row.
                        update(results, root, &crate::config::spec::all_metrics()).unwrap();
                    }
                });
            }
        });
        let index = read(&results).unwrap();
        assert_eq!(index.height(), 24);
        let mut runs: Vec<String> = index
            .column("run")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|r| r.unwrap().to_string())
            .collect();
        runs.sort();
        runs.dedup();
        assert_eq!(runs.len(), 24);
        assert_eq!(runs[5], "exp/run-005");
    }

    #[test]
    fn rows_flatten_the_config_and_rebuild_matches_updates() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path();
        for i in 0..3 {
            let root = fake_run(results, i);
            update(results, &root, &crate::config::spec::all_metrics()).unwrap();
        }
        let live = read(results).unwrap();
        // Whole and fractional learning rates share one float column; lists are text.
        assert_eq!(
            live.column("train.learning_rate").unwrap().dtype(),
            &DataType::Float64
        );
        assert_eq!(
            live.column("train.hidden").unwrap().str().unwrap().get(1),
            Some("[1,2]")
        );
        assert_eq!(
            live.column("train.optimizer.name")
                .unwrap()
                .str()
                .unwrap()
                .get(0),
            Some("adam")
        );
        assert_eq!(
            live.column("test_accuracy").unwrap().f64().unwrap().get(2),
            Some(0.002)
        );
        assert_eq!(
            live.column("wall_s").unwrap().f64().unwrap().get(0),
            Some(2.0)
        );
        assert!(live.column("seed").is_ok() && live.column("name").is_err());
        std::fs::remove_file(path(results)).unwrap();
        let (rows, skipped) = rebuild(results, &crate::config::spec::all_metrics()).unwrap();
        assert_eq!((rows, skipped.len()), (3, 0));
        let rebuilt = read(results).unwrap();
        assert!(rebuilt.equals_missing(&live), "{rebuilt}\n{live}");
    }

    #[test]
    fn a_damaged_index_is_named_with_its_repair_and_never_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path();
        for i in 0..3 {
            update(
                results,
                &fake_run(results, i),
                &crate::config::spec::all_metrics(),
            )
            .unwrap();
        }
        // Truncated, as a kill or a full disk mid-write would leave it.
        let bytes = std::fs::read(path(results)).unwrap();
        std::fs::write(path(results), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(results.join(".tmpAb12Cd"), b"half an index").unwrap();
        let e = read(results).unwrap_err().to_string();
        assert!(
            e.contains("damaged") && e.contains("cargo xtask index --rebuild"),
            "{e}"
        );
        // The next run's update keeps every run, and clears the stray.
        update(
            results,
            &fake_run(results, 3),
            &crate::config::spec::all_metrics(),
        )
        .unwrap();
        assert_eq!(read(results).unwrap().height(), 4);
        assert!(!results.join(".tmpAb12Cd").exists());
    }

    #[test]
    fn concat_widens_and_fills() {
        let a = df!("run" => ["a"], "x" => [1i64]).unwrap();
        let b = df!("run" => ["b"], "x" => [0.5], "y" => ["t"]).unwrap();
        let c = concat(vec![a, b]).unwrap();
        assert_eq!(c.column("x").unwrap().dtype(), &DataType::Float64);
        assert_eq!(c.column("y").unwrap().str().unwrap().get(0), None);
        assert_eq!(c.height(), 2);
    }
}
