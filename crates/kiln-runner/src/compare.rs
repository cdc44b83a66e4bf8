//! `kiln compare` and `kiln report`: select runs from the index, show them one per row or
//! grouped (mean, std and count over seeds), chart them, and write an HTML page.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kiln_report::charts::{Band, Bar, Chart, CurveGroup, Point};
use kiln_report::filter::{self, Filter};
use kiln_report::group::{self, Stats};
use kiln_report::html::{Page, RunEntry};
use kiln_report::render::{self, Format};
use polars::prelude::*;

use crate::store::index;
use crate::store::metrics_io::read_parquet;
use crate::store::run_dir::RunDir;

/// Metrics shown when `--metrics` is not given (those the index has).
const DEFAULT_METRICS: &[&str] = &[
    "test_accuracy",
    "test_loss",
    "test_rmse",
    "test_r2",
    "samples_per_second",
    "wall_s",
];
/// At most this many runs listed, with their configs, in a report: the page stays a page.
const REPORT_RUNS: usize = 500;
/// At most this many lines or bars in one chart: past it a chart stops being readable.
const CHART_LIMIT: usize = 30;
/// Lines of the learning-curve chart: its legend stays readable.
const CURVE_LIMIT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BandArg {
    Std,
    Minmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Table,
    Markdown,
    Csv,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
        }
    }
}

/// Which runs, how grouped, which metrics: shared by `compare` and `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct Selection {
    /// The results folder holding index.parquet: the command's `--results`, which it
    /// defines with every command that takes one.
    #[arg(skip)]
    pub results: PathBuf,
    /// Only runs of this experiment (repeatable).
    #[arg(short, long = "experiment", value_name = "NAME")]
    pub experiments: Vec<String>,
    /// Only trials of this sweep (repeatable).
    #[arg(short, long = "sweep", value_name = "NAME")]
    pub sweeps: Vec<String>,
    /// Only this run, by id or by its path under results/ (repeatable).
    #[arg(long = "run", value_name = "ID")]
    pub runs: Vec<String>,
    /// Keep runs where KEY OP VALUE holds, OP one of = != < <= > >= ~ (repeatable), e.g.
    /// --where train.learning_rate<=0.01 --where train.optimizer.name=adam
    #[arg(short, long = "where", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Runs with this status: completed, pruned (stopped at a rung by a search), failed,
    /// running, interrupted (its process ended while it ran) or all.
    #[arg(long, default_value = "completed")]
    pub status: String,
    /// Group runs by these columns (comma-separated) and show mean ± std and the count over
    /// each group; `configuration` groups a sweep's trials over their seeds.
    #[arg(short, long = "group-by", value_delimiter = ',', value_name = "KEYS")]
    pub group_by: Vec<String>,
    /// Metric columns to show (comma-separated); the first one is also the bars' and the
    /// scatter's. Default: test_accuracy,test_loss,test_rmse,test_r2,samples_per_second,wall_s (those the index has).
    #[arg(short, long, value_delimiter = ',', value_name = "COLUMNS")]
    pub metrics: Vec<String>,
    /// Sort by this column (a grouped metric sorts by its mean), highest first.
    #[arg(long, value_name = "COLUMN")]
    pub sort: Option<String>,
    /// Sort lowest first.
    #[arg(long)]
    pub ascending: bool,
    /// The per-epoch metric of the learning-curve chart.
    #[arg(long, default_value = "val_accuracy", value_name = "COLUMN")]
    pub curve: String,
    /// Also chart the first metric against this (numeric) parameter, e.g. train.learning_rate.
    #[arg(long, value_name = "PARAMETER")]
    pub scatter: Option<String>,
    /// What bands and error bars show over a group: std (mean ± 1 std) or minmax.
    #[arg(long, value_enum, default_value = "std")]
    pub band: BandArg,
    /// Time to a target, as DAWNBench and MLPerf count it: the epochs and seconds (training
    /// and validation) until the first epoch whose METRIC reached VALUE (at or above it; at
    /// or below for a loss or error), e.g. --target val_accuracy=0.98. Adds the columns
    /// epochs_to_target and seconds_to_target, empty for a run that never reached it.
    #[arg(long, value_name = "METRIC=VALUE")]
    pub target: Option<String>,
}

/// `--target METRIC=VALUE`, read.
struct Target {
    metric: String,
    value: f64,
    higher_is_better: bool,
}

impl Target {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (metric, value) = text.split_once('=').with_context(|| {
            format!("--target {text}: expected METRIC=VALUE, e.g. val_accuracy=0.98")
        })?;
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| format!("--target {text}: `{value}` is not a number"))?;
        let metric = metric.trim().to_string();
        let higher_is_better = epoch_metric_higher_is_better(&metric).with_context(|| {
            format!("--target {text}: `{metric}` is no per-epoch metric kiln records")
        })?;
        Ok(Target {
            metric,
            value,
            higher_is_better,
        })
    }

    /// Epochs and seconds until the first epoch at or past the target, from the epoch
    /// records of the run in `dir` (none if it never got there or has no records).
    fn reached(&self, dir: &std::path::Path) -> Option<(i64, f64)> {
        let run = crate::store::run_dir::RunDir::open(dir);
        let columns =
            crate::store::metrics_io::epoch_columns(&run, &[&self.metric, "epoch_seconds"]).ok()?;
        let (metric, seconds) = (&columns[0], &columns[1]);
        let at = metric.iter().position(|v| {
            v.is_some_and(|v| {
                if self.higher_is_better {
                    v >= self.value
                } else {
                    v <= self.value
                }
            })
        })?;
        let spent = seconds[..=at].iter().map(|s| s.unwrap_or(0.0)).sum();
        Some((at as i64 + 1, spent))
    }
}

/// The selected runs and the table made of them.
pub struct Comparison {
    pub runs: DataFrame,
    pub table: DataFrame,
    pub metrics: Vec<String>,
    /// The group-by columns; empty for one row per run.
    pub by: Vec<String>,
    /// Row indices into `runs` of each group (one per run when not grouped).
    pub groups: Vec<Vec<usize>>,
    /// What was selected, in words.
    pub description: String,
}

fn strings(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
    match frame.column(name) {
        Ok(c) => match c.cast(&DataType::String) {
            Ok(c) => c
                .str()
                .map(|s| s.iter().map(|v| v.map(str::to_string)).collect())
                .unwrap_or_default(),
            Err(_) => vec![None; frame.height()],
        },
        Err(_) => vec![None; frame.height()],
    }
}

fn keep_in(frame: &DataFrame, columns: &[&str], wanted: &[String]) -> anyhow::Result<DataFrame> {
    if wanted.is_empty() {
        return Ok(frame.clone());
    }
    let cols: Vec<Vec<Option<String>>> = columns.iter().map(|c| strings(frame, c)).collect();
    let mask: BooleanChunked = (0..frame.height())
        .map(|i| {
            Some(cols.iter().any(|c| {
                c[i].as_deref()
                    .is_some_and(|v| wanted.iter().any(|w| w == v))
            }))
        })
        .collect();
    Ok(frame.filter(&mask)?)
}

impl Selection {
    pub fn select(&self) -> anyhow::Result<DataFrame> {
        let all = index::read_live(&self.results)?;
        let mut runs = keep_in(&all, &["experiment"], &self.experiments)?;
        runs = keep_in(&runs, &["sweep"], &self.sweeps)?;
        runs = keep_in(&runs, &["run_id", "run"], &self.runs)?;
        match self.status.as_str() {
            "all" => {}
            "completed" | "pruned" | "failed" | "running" | index::INTERRUPTED => {
                runs = keep_in(&runs, &["status"], std::slice::from_ref(&self.status))?
            }
            other => anyhow::bail!(
                "--status {other}: expected completed, pruned, failed, running, interrupted or all"
            ),
        }
        let filters = self
            .filters
            .iter()
            .map(|f| Filter::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        runs = filter::apply(&runs, &filters).context("--where")?;
        if runs.height() == 0 {
            anyhow::bail!(
                "no runs match ({} in {}): {}",
                all.height(),
                index::path(&self.results).display(),
                self.describe()
            );
        }
        if let Some(target) = &self.target {
            let target = Target::parse(target)?;
            let reached: Vec<Option<(i64, f64)>> = strings(&runs, "run")
                .iter()
                .map(|run| target.reached(&self.results.join(run.as_deref()?)))
                .collect();
            runs.with_column(Column::new(
                "epochs_to_target".into(),
                reached.iter().map(|r| r.map(|r| r.0)).collect::<Vec<_>>(),
            ))?;
            runs.with_column(Column::new(
                "seconds_to_target".into(),
                reached.iter().map(|r| r.map(|r| r.1)).collect::<Vec<_>>(),
            ))?;
        }
        Ok(runs)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let list =
            |name: &str, v: &[String]| (!v.is_empty()).then(|| format!("{name} {}", v.join(", ")));
        parts.extend(list("experiment", &self.experiments));
        parts.extend(list("sweep", &self.sweeps));
        parts.extend(list("run", &self.runs));
        parts.extend(list("where", &self.filters));
        parts.push(format!("status {}", self.status));
        parts.join("; ")
    }

    fn band(&self) -> Band {
        match self.band {
            BandArg::Std => Band::Std,
            BandArg::Minmax => Band::MinMax,
        }
    }

    pub fn compare(&self) -> anyhow::Result<Comparison> {
        // Runs in folder order (by time, or by trial in a sweep) unless sorted otherwise.
        let runs = self
            .select()?
            .sort(["run"], SortMultipleOptions::default())?;
        // Only the columns some selected run has a value in.
        let filled = |c: &str| runs.column(c).is_ok_and(|v| v.null_count() < v.len());
        let metrics: Vec<String> = if self.metrics.is_empty() {
            let evaluations = runs
                .get_column_names()
                .into_iter()
                .filter(|c| {
                    c.starts_with(index::EVALUATION)
                        && (c.ends_with(".accuracy") || c.ends_with(".rmse"))
                        && filled(c)
                })
                .map(|c| c.to_string());
            let mut metrics: Vec<String> = DEFAULT_METRICS
                .iter()
                .filter(|m| filled(m))
                .map(|m| m.to_string())
                .collect();
            // Beside the run's own test accuracy and loss.
            let at = metrics
                .iter()
                .position(|m| m == "test_loss")
                .map_or(metrics.len().min(2), |p| p + 1);
            metrics.splice(at..at, evaluations);
            if self.target.is_some() {
                metrics.extend(["epochs_to_target".into(), "seconds_to_target".into()]);
            }
            metrics
        } else {
            for m in &self.metrics {
                filter::column(&runs, m).context("--metrics")?;
            }
            self.metrics.clone()
        };
        let by = self.group_by.clone();
        let (mut table, groups) = if by.is_empty() {
            let columns = per_run_columns(&runs, &metrics);
            let table = runs.select(columns)?;
            let groups = (0..runs.height()).map(|i| vec![i]).collect();
            (table, groups)
        } else {
            let table = group::summarise(&runs, &by, &metrics).context("--group-by")?;
            (table, group::groups(&runs, &by)?)
        };
        let mut groups = groups;
        if let Some(sort) = &self.sort {
            let column = if !by.is_empty() && metrics.contains(sort) {
                format!("{sort}_mean")
            } else {
                sort.clone()
            };
            filter::column(&table, &column).context("--sort")?;
            // Sort an index column along, so that the groups follow their rows.
            table.with_column(Column::new(
                "__order".into(),
                (0..table.height() as u32).collect::<Vec<_>>(),
            ))?;
            table = table.sort(
                [column.as_str()],
                SortMultipleOptions::default()
                    .with_order_descending(!self.ascending)
                    .with_nulls_last(true),
            )?;
            let order: Vec<usize> = table
                .column("__order")?
                .u32()?
                .iter()
                .map(|v| v.unwrap_or(0) as usize)
                .collect();
            groups = order.iter().map(|&i| groups[i].clone()).collect();
            table = table.drop("__order")?;
        }
        let description = format!(
            "{} run{}{} ({})",
            runs.height(),
            if runs.height() == 1 { "" } else { "s" },
            if by.is_empty() {
                String::new()
            } else {
                format!(" in {} groups by {}", groups.len(), by.join(", "))
            },
            self.describe()
        );
        Ok(Comparison {
            runs,
            table,
            metrics,
            by,
            groups,
            description,
        })
    }
}

/// Up to eight parameters that differ between the runs: the model's and the training's
/// before the data's, which differ mostly between experiments.
fn varying_parameters(runs: &DataFrame) -> Vec<String> {
    let varies = |name: &str| {
        let mut values = strings(runs, name);
        values.sort();
        values.dedup();
        values.len() > 1
    };
    let mut params: Vec<String> = runs
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .filter(|c| c.contains('.') && !c.starts_with(index::EVALUATION) && varies(c))
        .collect();
    params.sort_by_key(|c| {
        ["model.", "train.", "data."]
            .iter()
            .position(|p| c.starts_with(p))
    });
    params.truncate(8);
    params
}

/// Identity columns, then what tells the runs apart, then the metrics.
fn per_run_columns(runs: &DataFrame, metrics: &[String]) -> Vec<String> {
    let varies = |name: &str| {
        let mut values = strings(runs, name);
        values.sort();
        values.dedup();
        values.len() > 1
    };
    let mut cols = vec!["run_id".to_string()];
    for c in ["experiment", "sweep"] {
        if varies(c) {
            cols.push(c.into());
        }
    }
    // A population's lineage: which trial's weights a run took up, and after which epoch.
    if runs
        .column("parent")
        .is_ok_and(|c| c.null_count() < c.len())
    {
        cols.extend(["trial".to_string(), "parent".into(), "fork_epoch".into()]);
    }
    let in_sweeps = strings(runs, "configuration").iter().all(Option::is_some);
    if in_sweeps && runs.column("configuration").is_ok() {
        cols.push("configuration".into());
    } else {
        cols.extend(varying_parameters(runs));
    }
    for c in ["seed", "backend"] {
        if varies(c) || c == "seed" {
            cols.push(c.into());
        }
    }
    if varies("status") {
        cols.push("status".into());
    }
    if strings(runs, "error").iter().any(Option::is_some) {
        cols.push("error".into());
    }
    // A metric that is also a column shown above (`-m status,error`) is shown once.
    cols.retain(|c| !metrics.contains(c));
    cols.extend(metrics.iter().cloned());
    cols.dedup();
    cols
}

impl Comparison {
    /// Each group's label: its key values (or the run's id when not grouped).
    pub fn labels(&self) -> Vec<String> {
        if self.by.is_empty() {
            let ids = strings(&self.runs, "run_id");
            let conf = strings(&self.runs, "configuration");
            let seeds = strings(&self.runs, "seed");
            return self
                .groups
                .iter()
                .map(|g| match (&conf[g[0]], &seeds[g[0]]) {
                    (Some(c), Some(s)) => format!("{c} seed={s}"),
                    _ => ids[g[0]].clone().unwrap_or_default(),
                })
                .collect();
        }
        let keys: Vec<Vec<Option<String>>> =
            self.by.iter().map(|b| strings(&self.runs, b)).collect();
        self.groups
            .iter()
            .map(|g| {
                let values: Vec<String> = keys
                    .iter()
                    .map(|k| k[g[0]].clone().unwrap_or_else(|| "-".into()))
                    .collect();
                if values.len() == 1 {
                    values[0].clone()
                } else {
                    self.by
                        .iter()
                        .zip(&values)
                        .map(|(b, v)| format!("{}={v}", b.rsplit('.').next().unwrap_or(b)))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            })
            .collect()
    }

    pub fn render(&self, format: FormatArg) -> anyhow::Result<String> {
        let format = Format::from(format);
        let grouped: &[String] = if self.by.is_empty() {
            &[]
        } else {
            &self.metrics
        };
        Ok(render::render(&self.table, format, grouped)?)
    }

    /// The learning curves, the bars of the first metric, and the scatter when asked for.
    /// Best so far against the trial-seconds each sweep spent, and against its trials.
    fn progress_charts(&self, sel: &Selection) -> anyhow::Result<Vec<(String, Chart)>> {
        let mut found = Vec::new();
        if let Some(progress) = self.progress(sel)? {
            found.push(("progress".to_string(), progress));
            if let Some(higher) = epoch_metric_higher_is_better(&sel.curve) {
                let lines: Vec<(String, Vec<(f64, f64)>)> = self
                    .sweeps(sel)
                    .into_iter()
                    .map(|(name, dir)| {
                        let steps =
                            crate::engine::search::progress::by_trial(&dir, &sel.curve, higher);
                        (name, steps)
                    })
                    .filter(|(_, steps)| steps.len() >= 2)
                    .collect();
                if !lines.is_empty() {
                    found.push((
                        "progress-trials".to_string(),
                        Chart::Progress {
                            metric: sel.curve.clone(),
                            lines,
                            target: None,
                            per_trial: true,
                        },
                    ));
                }
            }
        }
        Ok(found)
    }

    /// The first metric against `--scatter`'s parameter (or the one numeric parameter the
    /// runs are grouped by), one colour a group.
    fn scatter(
        &self,
        sel: &Selection,
        metric: &str,
        values: &[Option<f64>],
        labels: &[String],
    ) -> anyhow::Result<Option<(String, Chart)>> {
        let parameter = sel.scatter.clone().or_else(|| {
            // Grouped by one numeric parameter: its scatter is the natural picture.
            (self.by.len() == 1
                && self.by[0].contains('.')
                && self
                    .runs
                    .column(&self.by[0])
                    .is_ok_and(|c| c.dtype().is_primitive_numeric()))
            .then(|| self.by[0].clone())
        });
        let Some(parameter) = parameter else {
            return Ok(None);
        };
        let column = filter::column(&self.runs, &parameter).context("--scatter")?;
        if !column.dtype().is_primitive_numeric() {
            anyhow::bail!(
                "--scatter {parameter}: holds text, and a scatter needs numbers; group by it instead (--group-by {parameter}) for bars"
            );
        }
        let xs = numbers(&self.runs, &parameter)?;
        let grouped = !self.by.is_empty();
        let (xs, values) = (&xs, &values);
        let points: Vec<Point> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.iter().filter_map(move |&i| {
                    Some(Point {
                        group: if grouped { gi.min(CHART_LIMIT) } else { 0 },
                        x: xs[i]?,
                        y: values[i]?,
                    })
                })
            })
            .collect();
        if points.is_empty() {
            anyhow::bail!("--scatter {parameter}: no run has both it and {metric}");
        }
        Ok(Some((
            "scatter".to_string(),
            Chart::Scatter {
                metric: metric.to_string(),
                parameter,
                groups: if grouped { labels.to_vec() } else { Vec::new() },
                points,
            },
        )))
    }

    pub fn charts(&self, sel: &Selection) -> anyhow::Result<Vec<(String, Chart)>> {
        let mut charts = Vec::new();
        let labels = self.labels();
        let band = sel.band();
        let shown = self.groups.len().min(CHART_LIMIT);
        if self.groups.len() > CHART_LIMIT {
            tracing::warn!(
                "charts show the first {CHART_LIMIT} of {} rows; narrow the selection or group the runs",
                self.groups.len()
            );
        }
        let paths = strings(&self.runs, "run");
        let curves: Vec<CurveGroup> = self.groups[..shown.min(CURVE_LIMIT)]
            .iter()
            .zip(&labels)
            .map(|(g, label)| CurveGroup {
                label: label.clone(),
                runs: g
                    .iter()
                    .filter_map(|&i| paths[i].as_ref())
                    .filter_map(|p| curve(&sel.results.join(p), &sel.curve))
                    .collect(),
            })
            .collect();
        if curves.iter().any(|c| !c.runs.is_empty()) {
            charts.push((
                "curves".to_string(),
                Chart::Curves {
                    metric: sel.curve.clone(),
                    groups: curves,
                    band,
                },
            ));
        }
        charts.extend(self.progress_charts(sel)?);
        charts.extend(self.lineages(sel));
        let Some(metric) = self.metrics.first() else {
            return Ok(charts);
        };
        let values = numbers(&self.runs, metric)?;
        let bars: Vec<Bar> = self.groups[..shown]
            .iter()
            .zip(&labels)
            .filter_map(|(g, label)| {
                let v: Vec<f64> = g.iter().filter_map(|&i| values[i]).collect();
                Stats::of(&v).map(|stats| Bar {
                    label: label.clone(),
                    stats,
                })
            })
            .collect();
        if !bars.is_empty() {
            charts.push((
                "bars".to_string(),
                Chart::Bars {
                    metric: metric.clone(),
                    bars,
                    band,
                },
            ));
        }
        // A search's (or sweep's) parameters against the first metric, or, where too few runs
        // have that (pruned trials have no test), the best of the curve's metric.
        if self.by.is_empty() {
            let params = varying_parameters(&self.runs);
            let best = format!("best_{}", sel.curve);
            for m in [metric, &best] {
                let Some(higher) = column_higher_is_better(m) else {
                    continue;
                };
                let found = kiln_report::params::parameter_charts(&self.runs, m, higher, &params);
                if !found.is_empty() {
                    charts.extend(found);
                    break;
                }
            }
        }
        charts.extend(self.scatter(sel, metric, &values, &labels[..shown])?);
        Ok(charts)
    }
}

impl Comparison {
    /// The sweeps (and searches) the selected runs belong to, each with its folder.
    fn sweeps(&self, sel: &Selection) -> Vec<(String, PathBuf)> {
        let (experiments, sweeps) = (
            strings(&self.runs, "experiment"),
            strings(&self.runs, "sweep"),
        );
        let mut out: Vec<(String, PathBuf)> = experiments
            .into_iter()
            .zip(sweeps)
            .filter_map(|(e, s)| {
                let (e, s) = (e?, s?);
                let dir = sel.results.join(&e).join(&s);
                Some((format!("{e}/{s}"), dir))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Best-so-far against trial-seconds for each sweep among the runs, on the curve's
    /// metric: how grids, random draws and searches compare for the compute they spend.
    fn progress(&self, sel: &Selection) -> anyhow::Result<Option<Chart>> {
        let Some(higher) = epoch_metric_higher_is_better(&sel.curve) else {
            return Ok(None);
        };
        let lines: Vec<(String, Vec<(f64, f64)>)> = self
            .sweeps(sel)
            .into_iter()
            .map(|(name, dir)| {
                let steps = crate::engine::search::progress::of_folder(&dir, &sel.curve, higher);
                (name, steps.iter().map(|s| (s.seconds, s.best)).collect())
            })
            .filter(|(_, points): &(String, Vec<(f64, f64)>)| !points.is_empty())
            .collect();
        if lines.is_empty() {
            return Ok(None);
        }
        let target = match &sel.target {
            Some(t) => Target::parse(t)?,
            None => {
                return Ok(Some(Chart::Progress {
                    metric: sel.curve.clone(),
                    lines,
                    target: None,
                    per_trial: false,
                }));
            }
        };
        Ok(Some(Chart::Progress {
            metric: sel.curve.clone(),
            lines,
            target: (target.metric == sel.curve).then_some(target.value),
            per_trial: false,
        }))
    }

    /// For each population among the runs, its family tree on the curve's metric and on its
    /// first numeric key: what the population found as it trained.
    fn lineages(&self, sel: &Selection) -> Vec<(String, Chart)> {
        let higher = epoch_metric_higher_is_better(&sel.curve).unwrap_or(false);
        let mut out = Vec::new();
        for (name, dir) in self.sweeps(sel) {
            let tree = |key: Option<&str>| {
                crate::engine::search::lineage::of_folder(&dir, &sel.curve, key, higher).map(
                    |branches| {
                        branches
                            .into_iter()
                            .map(|b| kiln_report::charts::Branch {
                                member: b.member,
                                forked: b.parent.is_some(),
                                points: b.points,
                                best_line: b.best_line,
                            })
                            .collect::<Vec<_>>()
                    },
                )
            };
            let Some(branches) = tree(None) else {
                continue;
            };
            let short = name.rsplit('/').next().unwrap_or(&name).to_string();
            out.push((
                format!("lineage-{short}"),
                Chart::Lineage {
                    title: format!("{} of each trial of population {short}", sel.curve),
                    value: sel.curve.clone(),
                    branches,
                },
            ));
            if let Some(key) = crate::engine::search::lineage::numeric_keys(&dir).first()
                && let Some(branches) = tree(Some(key))
            {
                let value = key.rsplit('.').next().unwrap_or(key).to_string();
                out.push((
                    format!("lineage-{short}-{value}"),
                    Chart::Lineage {
                        title: format!("{value} of each trial of population {short}"),
                        value,
                        branches,
                    },
                ));
            }
        }
        out
    }

    /// For each sweep among the runs, what it spent until any of its trials first reached
    /// the `--target` (every trial's epochs counted, pruned ones included).
    pub fn sweeps_to_target(&self, sel: &Selection) -> anyhow::Result<Vec<String>> {
        let Some(text) = &sel.target else {
            return Ok(Vec::new());
        };
        let target = Target::parse(text)?;
        Ok(self
            .sweeps(sel)
            .into_iter()
            .map(|(name, dir)| {
                let steps =
                    crate::engine::search::progress::of_folder(&dir, &target.metric, target.higher_is_better);
                let total = steps.last().map_or((0.0, 0), |s| (s.seconds, s.epochs));
                match crate::engine::search::progress::reached(&steps, target.value, target.higher_is_better) {
                    Some(s) => format!(
                        "{name}: {} reached {} after {:.1} trial-seconds and {} trial-epochs (of {:.1} s and {} epochs in all)",
                        target.metric, target.value, s.seconds, s.epochs, total.0, total.1
                    ),
                    None => format!(
                        "{name}: no trial reached {} {} in its {:.1} trial-seconds and {} trial-epochs",
                        target.metric, target.value, total.0, total.1
                    ),
                }
            })
            .collect())
    }
}

/// A run's own charts as its training drew them into its folder, the learning curves first:
/// (caption, SVG).
fn own_charts(run: &RunDir) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(run.root.join("charts"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "svg").then_some(())?;
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some((name, std::fs::read_to_string(&path).ok()?))
        })
        .collect();
    found.sort_by_key(|(name, _)| (!["loss", "accuracy"].contains(&name.as_str()), name.clone()));
    found
}

/// Whether higher is better for a per-epoch column (`val_accuracy`, `train_loss`) or a
/// metric's bare name.
fn epoch_metric_higher_is_better(column: &str) -> Option<bool> {
    let name = column
        .strip_prefix("val_")
        .or_else(|| column.strip_prefix("train_"))
        .unwrap_or(column);
    crate::config::spec::higher_is_better(name)
}

fn numbers(frame: &DataFrame, name: &str) -> anyhow::Result<Vec<Option<f64>>> {
    let c = filter::column(frame, name)?;
    let c = c
        .cast(&DataType::Float64)
        .map_err(|_| anyhow::anyhow!("`{name}` is not numeric"))?;
    Ok(c.f64()?.iter().collect())
}

/// One run's per-epoch `metric`, from its epochs table.
fn curve(run: &Path, metric: &str) -> Option<Vec<(f64, f64)>> {
    let f = read_parquet(&RunDir::open(run).metrics("epochs", "parquet")).ok()?;
    let x = f.column("epoch").ok()?.cast(&DataType::Float64).ok()?;
    let y = f.column(metric).ok()?.cast(&DataType::Float64).ok()?;
    let points: Vec<(f64, f64)> = x
        .f64()
        .ok()?
        .iter()
        .zip(y.f64().ok()?.iter())
        .filter_map(|(x, y)| Some((x?, y?)))
        .collect();
    (!points.is_empty()).then_some(points)
}

/// `kiln compare`.
pub fn compare(
    sel: &Selection,
    format: FormatArg,
    output: Option<&Path>,
    charts_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let c = sel.compare()?;
    let text = c.render(format)?;
    match output {
        Some(path) => {
            kiln_data::download::write_atomically(path, text.as_bytes())?;
            eprintln!("{}: {}", path.display(), c.description);
        }
        None => {
            if format == FormatArg::Table {
                println!("{}", c.description);
            }
            print!("{text}");
            if matches!(format, FormatArg::Table | FormatArg::Markdown) {
                for line in c.sweeps_to_target(sel)? {
                    println!("{line}");
                }
            }
        }
    }
    if let Some(dir) = charts_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, chart) in c.charts(sel)? {
            for ext in ["png", "svg"] {
                let path = dir.join(format!("{name}.{ext}"));
                chart.save(&path)?;
                eprintln!("chart: {}", path.display());
            }
        }
    }
    Ok(())
}

/// Whether a higher value of an index column is better: `test_accuracy`, `best_val_loss`,
/// `eval.x.rmse`, `samples_per_second`, `wall_s`...
fn column_higher_is_better(column: &str) -> Option<bool> {
    match column {
        "samples_per_second" => return Some(true),
        "wall_s" | "train_s" => return Some(false),
        _ => {}
    }
    let name = column.rsplit('.').next().unwrap_or(column);
    let name = ["best_", "test_"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    epoch_metric_higher_is_better(name)
}

/// What the report says under a chart named `name` of a comparison of `all_groups` groups.
fn caption(chart: &Chart, name: &str, all_groups: usize) -> String {
    match chart {
        Chart::Curves { metric, groups, .. } if groups.len() < all_groups => format!(
            "{metric} per epoch ({name}): the first {} rows of the table",
            groups.len()
        ),
        Chart::Curves { metric, .. } => format!("{metric} per epoch ({name})"),
        Chart::Bars { metric, .. } => format!("final {metric} per group"),
        Chart::Scatter {
            metric, parameter, ..
        } => format!("{metric} against {parameter}"),
        Chart::Confusion { title, .. } | Chart::Fit { title, .. } => title.clone(),
        Chart::Lineage { title, .. } => format!(
            "{title}: a dot where a trial took up a better one's weights, the best trial's line of descent bold"
        ),
        Chart::Progress {
            metric,
            per_trial: false,
            ..
        } => format!("best {metric} so far against the trial-seconds each sweep spent"),
        Chart::Progress { metric, .. } => {
            format!("best {metric} so far against the trials each sweep ran")
        }
        Chart::Parallel { metric, .. } => {
            format!("each trial's parameters and {metric}, one line per trial, the best brightest")
        }
        Chart::Importance { metric, .. } => format!(
            "the share of {metric}'s variance between the values (or quartiles) of each parameter: how much it matters alone, not with the others"
        ),
    }
}

/// The first `listed` runs of the comparison, each with its columns, config and last
/// sample image, for the report's list of runs.
fn run_entries(c: &Comparison, results: &Path, listed: usize) -> Vec<RunEntry> {
    let run_columns = per_run_columns(&c.runs, &c.metrics);
    let columns: Vec<Vec<Option<String>>> =
        run_columns.iter().map(|n| strings(&c.runs, n)).collect();
    let numeric: Vec<Vec<Option<f64>>> = run_columns
        .iter()
        .map(|n| {
            c.runs
                .column(n)
                .ok()
                .filter(|col| col.dtype().is_float())
                .and_then(|col| col.f64().ok().map(|f| f.iter().collect()))
                .unwrap_or_default()
        })
        .collect();
    let paths = strings(&c.runs, "run");
    (0..listed)
        .map(|i| {
            let path = paths[i].clone().unwrap_or_default();
            let folder = RunDir::open(&results.join(&path));
            let config = std::fs::read_to_string(folder.config())
                .unwrap_or_else(|e| format!("(no config.toml: {e})"));
            let image = folder
                .final_sample_image()
                .and_then(|(caption, png)| Some((caption, std::fs::read(png).ok()?)));
            RunEntry {
                id: path,
                cells: run_columns
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(j, name)| {
                        let text = match numeric[j].get(i).copied().flatten() {
                            Some(v) => render::number(v),
                            None => columns[j][i].clone().unwrap_or_else(|| "-".into()),
                        };
                        (name.clone(), text)
                    })
                    .collect(),
                config,
                image,
            }
        })
        .collect()
}

/// `kiln report`: writes the page and returns where. Unless `--sort` says otherwise, the
/// best runs (or groups) by the first metric come first, and the charts show the first.
pub fn report(sel: &Selection, out: Option<&Path>, title: Option<&str>) -> anyhow::Result<PathBuf> {
    let mut c = sel.compare()?;
    let sorted;
    let sel = match (&sel.sort, c.metrics.first()) {
        (None, Some(metric)) if c.groups.len() > 1 => match column_higher_is_better(metric) {
            Some(higher) => {
                sorted = Selection {
                    sort: Some(metric.clone()),
                    ascending: !higher,
                    ..sel.clone()
                };
                c = sorted.compare()?;
                &sorted
            }
            None => sel,
        },
        _ => sel,
    };
    let distinct = |column: &str| {
        let mut values = strings(&c.runs, column);
        values.sort();
        values.dedup();
        values
    };
    let (sweeps, experiments) = (distinct("sweep"), distinct("experiment"));
    let single_sweep = match (sweeps.as_slice(), experiments.as_slice()) {
        ([Some(s)], [Some(e)]) => Some((e.clone(), s.clone())),
        _ => None,
    };
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => match &single_sweep {
            Some((e, s)) => crate::store::run_dir::sweep_report(&sel.results, e, s),
            None => crate::store::run_dir::report_page(
                &sel.results,
                &chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string(),
            ),
        },
    };
    // One run: its own page (its learning curves, confusion matrix or fit, samples), not a
    // comparison of one.
    let single_run = (c.runs.height() == 1)
        .then(|| strings(&c.runs, "run").remove(0))
        .flatten();
    let title = title
        .map(str::to_string)
        .unwrap_or_else(|| match (&single_run, &single_sweep) {
            (Some(run), _) => format!("kiln run {run}"),
            (None, Some((e, s))) => format!("{e}: sweep {s}"),
            (None, None) => format!(
                "kiln: {}",
                experiments
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    let grouped: &[String] = if c.by.is_empty() { &[] } else { &c.metrics };
    let (table_header, table_rows) = render::readable(&c.table, grouped);
    let charts = match &single_run {
        Some(run) => own_charts(&RunDir::open(&sel.results.join(run))),
        None => c
            .charts(sel)?
            .into_iter()
            .map(|(name, chart)| {
                let caption = caption(&chart, &name, c.groups.len());
                Ok((caption, chart.svg()?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let listed = c.runs.height().min(REPORT_RUNS);
    let runs = run_entries(&c, &sel.results, listed);
    let mut subtitle = c.description.clone();
    for line in c.sweeps_to_target(sel)? {
        subtitle.push_str("; ");
        subtitle.push_str(&line);
    }
    if listed < c.runs.height() {
        subtitle.push_str(&format!(
            "; the first {listed} runs are listed with their configs"
        ));
    }
    let page = Page {
        title,
        subtitle,
        generated: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        table_header,
        table_rows,
        charts,
        runs,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    kiln_data::download::write_atomically(&path, page.to_html().as_bytes())?;
    Ok(path)
}
