//! Metrics as tables: per-step and per-epoch, written as Parquet and CSV with polars.

use std::fs::File;
use std::path::Path;

use kiln_data::download::write_atomically;
use kiln_train::{EpochRecord, StepRecord};
use polars::prelude::*;

use crate::store::run_dir::RunDir;

/// The per-epoch columns, in order. Validation columns are null when there is no validation split.
pub const EPOCH_COLUMNS: &[&str] = &[
    "epoch",
    "train_loss",
    "train_accuracy",
    "train_macro_f1",
    "val_loss",
    "val_accuracy",
    "val_macro_f1",
    "learning_rate",
    "samples_per_second",
    "train_seconds",
    "epoch_seconds",
    "improved",
];

pub const STEP_COLUMNS: &[&str] = &[
    "step",
    "epoch",
    "loss",
    "accuracy",
    "learning_rate",
    "samples",
];

pub fn steps_frame(steps: &[StepRecord]) -> PolarsResult<DataFrame> {
    df!(
        "step" => steps.iter().map(|s| s.step as u64).collect::<Vec<_>>(),
        "epoch" => steps.iter().map(|s| s.epoch as u32).collect::<Vec<_>>(),
        "loss" => steps.iter().map(|s| s.loss).collect::<Vec<_>>(),
        "accuracy" => steps.iter().map(|s| s.accuracy).collect::<Vec<_>>(),
        "learning_rate" => steps.iter().map(|s| s.learning_rate).collect::<Vec<_>>(),
        "samples" => steps.iter().map(|s| s.samples as u32).collect::<Vec<_>>(),
    )
}

/// The per-epoch table; generative runs add their own metrics (`val_bleu`, `train_perplexity`...)
/// after [`EPOCH_COLUMNS`], and their macro F1 columns are null.
pub fn epochs_frame(epochs: &[EpochRecord]) -> PolarsResult<DataFrame> {
    let val = |f: fn(&kiln_train::SplitMetrics) -> Option<f64>| {
        epochs
            .iter()
            .map(|e| e.validation.as_ref().and_then(f))
            .collect::<Vec<_>>()
    };
    let mut frame = df!(
        "epoch" => epochs.iter().map(|e| e.epoch as u32).collect::<Vec<_>>(),
        "train_loss" => epochs.iter().map(|e| e.train.loss).collect::<Vec<_>>(),
        "train_accuracy" => epochs.iter().map(|e| e.train.accuracy).collect::<Vec<_>>(),
        "train_macro_f1" => epochs.iter().map(|e| e.train.macro_f1).collect::<Vec<_>>(),
        "val_loss" => val(|m| Some(m.loss)),
        "val_accuracy" => val(|m| Some(m.accuracy)),
        "val_macro_f1" => val(|m| m.macro_f1),
        "learning_rate" => epochs.iter().map(|e| e.learning_rate).collect::<Vec<_>>(),
        "samples_per_second" => epochs.iter().map(|e| e.samples_per_second).collect::<Vec<_>>(),
        "train_seconds" => epochs.iter().map(|e| e.train_seconds).collect::<Vec<_>>(),
        "epoch_seconds" => epochs.iter().map(|e| e.epoch_seconds).collect::<Vec<_>>(),
        "improved" => epochs.iter().map(|e| e.improved).collect::<Vec<_>>(),
    )?;
    let mut names: Vec<(&str, &'static str)> = Vec::new();
    for e in epochs {
        let splits = [("train", Some(&e.train)), ("val", e.validation.as_ref())];
        for (split, metrics) in splits {
            for (name, _) in metrics.map_or(&[][..], |m| &m.extra[..]) {
                if !names.contains(&(split, *name)) {
                    names.push((split, name));
                }
            }
        }
    }
    for (split, name) in names {
        let values: Vec<Option<f64>> = epochs
            .iter()
            .map(|e| match split {
                "train" => e.train.get(name),
                _ => e.validation.as_ref().and_then(|v| v.get(name)),
            })
            .collect();
        frame.with_column(Column::new(format!("{split}_{name}").into(), values))?;
    }
    Ok(frame)
}

/// Writes both tables in both formats into the run folder.
pub fn write(run: &RunDir, steps: &[StepRecord], epochs: &[EpochRecord]) -> anyhow::Result<()> {
    for (name, mut frame) in [
        ("steps", steps_frame(steps)?),
        ("epochs", epochs_frame(epochs)?),
    ] {
        write_frame(
            &mut frame,
            &run.metrics(name, "parquet"),
            &run.metrics(name, "csv"),
        )?;
    }
    Ok(())
}

/// Both files written whole to a temporary name and renamed, so a crash or a full disk
/// leaves the previous version (or none), never a truncated table.
fn write_frame(frame: &mut DataFrame, parquet: &Path, csv: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(frame)?;
    write_atomically(parquet, &bytes)?;
    bytes.clear();
    CsvWriter::new(&mut bytes).finish(frame)?;
    write_atomically(csv, &bytes)?;
    Ok(())
}

/// The step table as Parquet bytes, for a checkpoint.
pub fn steps_parquet(steps: &[StepRecord]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut steps_frame(steps)?)?;
    Ok(bytes)
}

/// Step records back from a table [`steps_parquet`] wrote.
pub fn read_steps(path: &Path) -> anyhow::Result<Vec<StepRecord>> {
    let frame = read_parquet(path)?;
    let column = |name: &str| frame.column(name).and_then(|c| c.cast(&DataType::Float64));
    let (step, epoch, loss) = (column("step")?, column("epoch")?, column("loss")?);
    let (accuracy, lr, samples) = (
        column("accuracy")?,
        column("learning_rate")?,
        column("samples")?,
    );
    let (step, epoch, loss) = (step.f64()?, epoch.f64()?, loss.f64()?);
    let (accuracy, lr, samples) = (accuracy.f64()?, lr.f64()?, samples.f64()?);
    (0..frame.height())
        .map(|i| {
            let get = |c: &Float64Chunked| {
                c.get(i)
                    .ok_or_else(|| anyhow::anyhow!("{}: a null in row {i}", path.display()))
            };
            Ok(StepRecord {
                step: get(step)? as usize,
                epoch: get(epoch)? as usize,
                loss: get(loss)?,
                accuracy: get(accuracy)?,
                learning_rate: get(lr)?,
                samples: get(samples)? as usize,
            })
        })
        .collect()
}

pub fn read_parquet(path: &Path) -> PolarsResult<DataFrame> {
    ParquetReader::new(File::open(path)?).finish()
}

/// Columns of a run's epoch table as numbers (nulls as `None`), one list per name.
pub fn epoch_columns(run: &RunDir, names: &[&str]) -> anyhow::Result<Vec<Vec<Option<f64>>>> {
    let path = run.metrics("epochs", "parquet");
    let frame =
        read_parquet(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    names
        .iter()
        .map(|name| {
            let column = frame
                .column(name)
                .map_err(|_| anyhow::anyhow!("{}: no `{name}` column", path.display()))?
                .cast(&DataType::Float64)?;
            Ok(column.f64()?.iter().collect())
        })
        .collect()
}

/// Each epoch's value of `column` (e.g. `val_accuracy`) in a run's epoch table; epochs
/// without one are left out.
pub fn epoch_values(run: &RunDir, column: &str) -> anyhow::Result<Vec<(usize, f64)>> {
    let [epochs, values]: [Vec<Option<f64>>; 2] = epoch_columns(run, &["epoch", column])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("two columns asked, two given"))?;
    Ok(epochs
        .into_iter()
        .zip(values)
        .filter_map(|(e, v)| Some((e? as usize, v?)))
        .collect())
}
