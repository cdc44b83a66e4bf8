//! `kiln predict` on a table run: the rows of a file like the training one (CSV, TSV,
//! Parquet or JSON lines; the target column may be there or not), encoded with the run's
//! own fill values, statistics and levels, printed back with the predictions appended: the
//! class and its probability for a classifier, `predicted_<target>` for a regression.

use std::io::Write;
use std::path::Path;

use burn::tensor::activation::softmax;
use kiln_data::table::{TableBatcher, Target, read_table};
use kiln_train::{Batches, Classify};
use polars::prelude::*;

use super::{Format, PredictArgs, Ready};
use crate::store::preprocessing::Preprocessing;

pub(crate) fn predict(
    ready: &Ready,
    args: &PredictArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Preprocessing::Table { codec, .. } = &ready.pre else {
        anyhow::bail!("not a table run");
    };
    let [input] = args.inputs.as_slice() else {
        anyhow::bail!(
            "a table run predicts the rows of one file (.csv, .tsv, .parquet or .jsonl); got {} inputs",
            args.inputs.len()
        );
    };
    let path = Path::new(input);
    let mut frame = read_table(path, ready.run.experiment.data.table_encoding())?;
    let missing: Vec<&str> = codec
        .columns(false)
        .into_iter()
        .filter(|c| frame.column(c).is_err())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{}: lacks the column(s) the run learnt from: {}",
        path.display(),
        missing.join(", ")
    );
    anyhow::ensure!(frame.height() > 0, "{}: no rows", path.display());
    let rows = codec.encode(&frame, path, false)?;
    let batches = TableBatcher::new(
        &rows,
        (0..rows.rows).collect(),
        ready.run.experiment.train.eval_batch_size,
    );
    let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(rows.rows);
    for indices in batches.order(None) {
        let batch = Batches::batch(&batches, &indices, &ready.device);
        let y = ready
            .model
            .logits(batch.inputs)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let [n, k] = y.dims();
        let y = match codec.target {
            Target::Classes { .. } => softmax(y, 1),
            Target::Values { .. } => y,
        };
        let v: Vec<f32> = y
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the outputs: {e:?}"))?;
        outputs.extend((0..n).map(|i| v[i * k..(i + 1) * k].to_vec()));
    }
    match &codec.target {
        Target::Classes { names, .. } => {
            let best: Vec<(usize, f32)> = outputs
                .iter()
                .map(|p| {
                    p.iter()
                        .copied()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap_or((0, 0.0))
                })
                .collect();
            let class: Vec<&str> = best.iter().map(|(c, _)| names[*c].as_str()).collect();
            let probability: Vec<f64> = best.iter().map(|(_, p)| *p as f64).collect();
            frame.with_column(Column::new(unique(&frame, "predicted"), class))?;
            frame.with_column(Column::new(unique(&frame, "probability"), probability))?;
        }
        Target::Values { columns, mean, std } => {
            for (t, name) in columns.iter().enumerate() {
                let values: Vec<f64> = outputs
                    .iter()
                    .map(|o| o[t] as f64 * std[t] + mean[t])
                    .collect();
                let column = unique(&frame, &format!("predicted_{name}"));
                frame.with_column(Column::new(column, values))?;
            }
        }
    }
    write_rows(&mut frame, args.format, path, out)
}

/// The rows with their predictions, as `--format` says.
fn write_rows(
    frame: &mut DataFrame,
    format: Format,
    path: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            CsvWriter::new(&mut *out)
                .include_header(true)
                .finish(frame)?;
        }
        Format::Table => writeln!(out, "{frame}")?,
        Format::Json => {
            let names: Vec<String> = frame
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect();
            let strings: Vec<Vec<Option<String>>> = names
                .iter()
                .map(|n| kiln_data::table::codec::texts(frame, n, path).unwrap_or_default())
                .collect();
            let records: Vec<Record> = (0..frame.height())
                .map(|r| {
                    names
                        .iter()
                        .zip(&strings)
                        .map(|(n, col)| {
                            let v = col.get(r).cloned().flatten();
                            let value = match v.as_deref().map(str::parse::<f64>) {
                                Some(Ok(x)) if x.is_finite() => serde_json::json!(x),
                                _ => v.map_or(serde_json::Value::Null, serde_json::Value::String),
                            };
                            (n.clone(), value)
                        })
                        .collect::<Vec<_>>()
                })
                .map(Record)
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?;
        }
    }
    Ok(())
}

/// One row as a JSON object, its columns in the file's order.
struct Record(Vec<(String, serde_json::Value)>);

impl serde::Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `name`, or `name_2`... when the input has a column called that already.
fn unique(frame: &DataFrame, name: &str) -> PlSmallStr {
    let mut candidate = name.to_string();
    let mut n = 2;
    while frame.column(&candidate).is_ok() {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate.into()
}
