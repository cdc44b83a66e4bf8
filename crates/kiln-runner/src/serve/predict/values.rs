//! `kiln evaluate` on a regression run: a table with the run's target columns, or a table
//! of image files and their values, prepared as the run's data were and scored in the
//! data's own units (RMSE, MAE and R² per target, each item's prediction).

use std::path::Path;

use anyhow::Context;

use kiln_data::ImageBatcher;
use kiln_data::table::{TableBatcher, Target, listed_values, read_table};
use kiln_train::{Batches, TargetScale, Valued, evaluate_regression};

use super::{EvaluateArgs, Quiet, Ready, image_settings};
use crate::config::schema::DataConfig;
use crate::store::preprocessing::Preprocessing;
use crate::tasks::prepare::own_files::listed_file;
use crate::tasks::regression::Tested;

/// The items evaluated with their actual values, the predictions (in the data's units)
/// and the loss on standardised values, as the run's test reports it.
pub(super) fn evaluate(
    ready: &Ready,
    args: &EvaluateArgs,
) -> anyhow::Result<(Tested, Vec<f64>, f64)> {
    let exp = &ready.run.experiment;
    let data = args.data.as_path();
    let batch = exp.train.eval_batch_size;
    match &ready.pre {
        Preprocessing::Table { codec, .. } => {
            let Target::Values { columns, .. } = &codec.target else {
                anyhow::bail!("not a regression run");
            };
            let frame = read_table(data, exp.data.table_encoding())?;
            anyhow::ensure!(frame.height() > 0, "{}: no rows", data.display());
            let rows = codec.encode(&frame, data, true)?;
            let batcher = TableBatcher::new(&rows, (0..rows.rows).collect(), batch);
            let (loss, predicted) = score(ready, &batcher, &codec.target)?;
            let tested = Tested {
                key: "row",
                items: (1..=rows.rows).map(|r| r.to_string()).collect(),
                columns: columns.clone(),
                actual: rows.raw_values,
            };
            Ok((tested, predicted, loss))
        }
        Preprocessing::Image {
            shape,
            normalization,
            target: Some(target @ Target::Values { columns, .. }),
            ..
        } => {
            let DataConfig::Images(d) = &exp.data else {
                anyhow::bail!("an image regression that did not learn from listed images");
            };
            let frame = read_table(data, Default::default())?;
            let column = d.file_column();
            let (files, values) = listed_values(&frame, data, column, columns)?;
            anyhow::ensure!(!files.is_empty(), "{}: no rows", data.display());
            let root = match &args.images {
                Some(root) => root.clone(),
                None => data
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            };
            let paths = files
                .iter()
                .enumerate()
                .map(|(row, file)| {
                    listed_file(&root, file, || {
                        format!("{}: row {}, column `{column}`", data.display(), row + 1)
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let settings = image_settings(exp, *shape);
            let folder = kiln_data::images::load_files(
                &root,
                &[("train", paths)],
                &settings,
                None,
                crate::tasks::data_budget().as_ref(),
            )?;
            let batcher = Valued {
                inner: ImageBatcher::all(&folder.train, batch, (*normalization).into()),
                values: target.standardise(&values),
                targets: columns.len(),
            };
            let (loss, predicted) = score(ready, &batcher, target)?;
            let tested = Tested {
                key: "file",
                items: files,
                columns: columns.clone(),
                actual: values,
            };
            Ok((tested, predicted, loss))
        }
        _ => anyhow::bail!("not a regression run"),
    }
}

fn score(ready: &Ready, data: &dyn Batches, target: &Target) -> anyhow::Result<(f64, Vec<f64>)> {
    let scale = TargetScale::of(target).context("not a regression run")?;
    let (metrics, predicted) = evaluate_regression(
        &ready.model,
        data,
        ready.run.experiment.train.loss,
        &scale,
        &ready.device,
        &mut Quiet,
    )?;
    Ok((metrics.loss, predicted))
}
