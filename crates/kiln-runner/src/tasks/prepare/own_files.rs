//! A user's own files as a classifier's (or regressor's) data: a table with a target
//! column, or texts with labels. Splits come from separate files or seeded (stratified)
//! shares of the training file; every encoding is learnt from the training rows only.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kiln_data::table::{
    self, EncodedTable, Roles, TableCodec, TargetKind, class_column, class_names, read_table,
    same_columns, stratified_split,
};
use kiln_data::text::{Vocabulary, load_glove};
use polars::prelude::DataFrame;

use super::{Data, ImageData, ImageValues, Prepared, TextData, review_tokenizer, truncation};
use crate::config::schema::{
    Experiment, ImagesSettings, NormalizeKind, TableSettings, TextsSettings,
};

/// An encoded table: the training file's rows, then a validation file's and a test file's
/// when given; the split index lists point into it.
pub struct TableData {
    pub codec: TableCodec,
    pub rows: EncodedTable,
    pub test_idx: Vec<usize>,
    /// Each test row's row in its own file (from 1, after the header), for the outputs.
    pub test_rows: Vec<usize>,
}

/// Where each split's rows come from.
struct Splits {
    train: Vec<usize>,
    validation: Vec<usize>,
    /// Rows of the training file held out for the test (empty with a test file).
    test: Vec<usize>,
}

/// Holds out `test_fraction` (unless there is a test file), then `validation_fraction` of
/// the rest (unless there is a validation file), stratified by `labels` when given.
fn split_rows(
    n: usize,
    labels: Option<&[u32]>,
    held_out: (f64, bool),
    validation: (f64, bool),
    seed: u64,
    limit: Option<usize>,
) -> Splits {
    let all: Vec<usize> = (0..n).collect();
    let cut = |rows: &[usize], fraction: f64, seed: u64| -> (Vec<usize>, Vec<usize>) {
        match labels {
            Some(labels) => {
                let sub: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
                let (kept, held) = stratified_split(&sub, fraction, seed);
                (
                    kept.iter().map(|&k| rows[k]).collect(),
                    held.iter().map(|&k| rows[k]).collect(),
                )
            }
            None => {
                let (kept, held) = kiln_data::train_validation_split(rows.len(), fraction, seed);
                let mut kept: Vec<usize> = kept.iter().map(|&k| rows[k]).collect();
                let mut held: Vec<usize> = held.iter().map(|&k| rows[k]).collect();
                kept.sort_unstable();
                held.sort_unstable();
                (kept, held)
            }
        }
    };
    let (rest, test) = match held_out {
        (_, true) => (all, Vec::new()),
        (fraction, false) => cut(&all, fraction, seed ^ 0x7e57),
    };
    let (mut train, validation) = match validation {
        (_, true) => (rest, Vec::new()),
        (fraction, false) => cut(&rest, fraction, seed),
    };
    if let Some(limit) = limit {
        train.truncate(limit);
    }
    Splits {
        train,
        validation,
        test,
    }
}

/// A training file with its optional validation and test files, refused together before
/// any is read when they cannot fit in the memory kiln may use.
fn fits(path: &Path, others: [&Option<std::path::PathBuf>; 2]) -> anyhow::Result<()> {
    let Some(budget) = crate::tasks::data_budget() else {
        return Ok(());
    };
    let paths: Vec<&Path> = std::iter::once(path)
        .chain(others.into_iter().flatten().map(|p| p.as_path()))
        .collect();
    Ok(kiln_data::table::within_budget(&paths, &budget)?)
}

fn read(path: &Path, encoding: crate::config::schema::TextEncoding) -> anyhow::Result<DataFrame> {
    Ok(read_table(path, encoding.into())?)
}

/// A second file, checked to have the training file's columns.
fn read_like<'a>(
    path: &'a Option<std::path::PathBuf>,
    train: &DataFrame,
    encoding: crate::config::schema::TextEncoding,
) -> anyhow::Result<Option<(DataFrame, &'a Path)>> {
    let Some(path) = path else { return Ok(None) };
    let frame = read(path, encoding)?;
    same_columns(train, &frame, path)?;
    Ok(Some((frame, path.as_path())))
}

fn ensure_rows(split: &str, rows: usize, path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        rows > 0,
        "{}: no rows left for the {split} split (check data.test_fraction, data.validation_fraction and data.train_limit)",
        path.display()
    );
    Ok(())
}

/// The table the settings name, split and encoded; `target` says what the task predicts.
pub fn load_table(
    exp: &Experiment,
    d: &TableSettings,
    target: TargetKind,
) -> anyhow::Result<Prepared> {
    let clock = Instant::now();
    fits(&d.path, [&d.validation, &d.test])?;
    let frame = read(&d.path, d.encoding)?;
    let val_file = read_like(&d.validation, &frame, d.encoding)?;
    let test_file = read_like(&d.test, &frame, d.encoding)?;
    let read_s = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        frame.height() > 0,
        "{}: the table has no rows",
        d.path.display()
    );
    if target == TargetKind::Labels {
        let others = val_file.iter().chain(&test_file).map(|(f, p)| (f, *p));
        for (f, path) in std::iter::once((&frame, d.path.as_path())).chain(others) {
            table::check_labels(f, &d.target, path)?;
        }
    }
    let labels = match target {
        TargetKind::Classes if d.stratify => {
            let [column] = d.target.as_slice() else {
                anyhow::bail!(
                    "`data.target`: a classifier learns one column, got {}",
                    d.target.len()
                );
            };
            Some(class_ids(&class_column(&frame, column, &d.path)?))
        }
        _ => None,
    };
    let splits = split_rows(
        frame.height(),
        labels.as_deref(),
        (d.test_fraction, test_file.is_some()),
        (d.validation_fraction, val_file.is_some()),
        exp.seed,
        d.train_limit,
    );
    ensure_rows("training", splits.train.len(), &d.path)?;
    let roles = Roles {
        target: d.target.clone(),
        features: d.features.clone(),
        categorical: d.categorical.clone(),
        numeric: d.numeric.clone(),
        ignore: d.ignore.clone(),
        max_levels: d.max_levels,
    };
    let clock = Instant::now();
    let codec = TableCodec::learn(&frame, &splits.train, &roles, target, &d.path)?;
    let mut rows = codec.encode(&frame, &d.path, true)?;
    let mut val_idx = splits.validation;
    if let Some((f, path)) = &val_file {
        let start = rows.rows;
        rows.append(codec.encode(f, path, true)?);
        val_idx = (start..rows.rows).collect();
    }
    let mut test_idx = splits.test;
    let mut test_rows: Vec<usize> = test_idx.iter().map(|&i| i + 1).collect();
    if let Some((f, path)) = &test_file {
        let start = rows.rows;
        rows.append(codec.encode(f, path, true)?);
        test_idx = (start..rows.rows).collect();
        test_rows = (1..=f.height()).collect();
    }
    ensure_rows("test", test_idx.len(), d.test.as_deref().unwrap_or(&d.path))?;
    tracing::info!(
        "table: read {} rows in {read_s:.2} s and encoded them in {:.2} s: {} numeric inputs, {} categorical columns ({} levels in all); {} train, {} validation, {} test",
        rows.rows,
        clock.elapsed().as_secs_f64(),
        codec.numeric_width(),
        codec.categorical.len(),
        codec.cardinalities().iter().sum::<usize>(),
        splits.train.len(),
        val_idx.len(),
        test_idx.len(),
    );
    Ok(Prepared {
        test_len: test_idx.len(),
        data: Data::Table(TableData {
            codec,
            rows,
            test_idx,
            test_rows,
        }),
        train_idx: splits.train,
        val_idx,
        source: described(&d.path),
    })
}

/// Each row's class as an id, classes in [`class_names`] order.
fn class_ids(labels: &[String]) -> Vec<u32> {
    let names = class_names(labels);
    labels
        .iter()
        .map(|l| names.binary_search_by(|n| order(n, l)).unwrap_or(0) as u32)
        .collect()
}

/// The order [`class_names`] sorts in.
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

fn described(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Texts and their labels from one table file.
fn texts_of(
    frame: &DataFrame,
    d: &TextsSettings,
    path: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let texts = table::codec::texts(frame, &d.text, path)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let labels = class_column(frame, &d.label, path)?;
    Ok((texts, labels))
}

/// The class id of `label` at `row` of `path`: its place among the training rows' classes.
fn class_id(
    classes: &[String],
    column: &str,
    label: &str,
    row: usize,
    path: &Path,
) -> anyhow::Result<u8> {
    classes
        .iter()
        .position(|c| c == label)
        .map(|c| c as u8)
        .with_context(|| {
            format!(
                "{}: row {}, column `{column}`: class `{label}` is not among the training rows' classes ({})",
                path.display(),
                row + 1,
                classes.join(", ")
            )
        })
}

/// A separate file's texts and class ids.
fn labelled(
    frame: &DataFrame,
    d: &TextsSettings,
    path: &Path,
    class_of: &dyn Fn(&str, usize, &Path) -> anyhow::Result<u8>,
) -> anyhow::Result<(Vec<String>, Vec<u8>)> {
    let (texts, labels) = texts_of(frame, d, path)?;
    let ids = labels
        .iter()
        .enumerate()
        .map(|(r, label)| class_of(label, r, path))
        .collect::<anyhow::Result<_>>()?;
    Ok((texts, ids))
}

/// The classes of the training rows' labels: two or more, at most 256 (a class is a byte).
fn text_classes<'a>(
    labels: impl Iterator<Item = &'a String>,
    d: &TextsSettings,
) -> anyhow::Result<Vec<String>> {
    let classes = class_names(labels);
    anyhow::ensure!(
        classes.len() >= 2,
        "{}: the label column `{}` has one class ({}) in the training rows; a classifier needs two or more",
        d.path.display(),
        d.label,
        classes.first().map_or("none", String::as_str)
    );
    anyhow::ensure!(
        classes.len() <= 256,
        "{}: the label column `{}` has {} classes; kiln's text classifiers take at most 256",
        d.path.display(),
        d.label,
        classes.len()
    );
    Ok(classes)
}

/// Labelled texts from the file the settings name, split, tokenised with a vocabulary
/// learnt from the training texts.
pub fn load_texts(exp: &Experiment, d: &TextsSettings) -> anyhow::Result<Prepared> {
    let clock = Instant::now();
    fits(&d.path, [&d.validation, &d.test])?;
    let frame = read(&d.path, d.encoding)?;
    anyhow::ensure!(
        frame.height() > 0,
        "{}: the file has no rows",
        d.path.display()
    );
    let (texts, labels) = texts_of(&frame, d, &d.path)?;
    let val_file = read_like(&d.validation, &frame, d.encoding)?;
    let test_file = read_like(&d.test, &frame, d.encoding)?;
    let read_s = clock.elapsed().as_secs_f64();
    let ids = class_ids(&labels);
    let splits = split_rows(
        frame.height(),
        d.stratify.then_some(ids.as_slice()),
        (d.test_fraction, test_file.is_some()),
        (d.validation_fraction, val_file.is_some()),
        exp.seed,
        d.train_limit,
    );
    ensure_rows("training", splits.train.len(), &d.path)?;
    let classes = text_classes(splits.train.iter().map(|&i| &labels[i]), d)?;
    let class_of =
        |label: &str, row: usize, path: &Path| class_id(&classes, &d.label, label, row, path);
    let tokenizer = review_tokenizer(d.tokenizer);
    let clock = Instant::now();
    let train_texts: Vec<&str> = splits.train.iter().map(|&i| texts[i].as_str()).collect();
    let counts = Vocabulary::count(tokenizer.as_ref(), &train_texts);
    let vocab = Vocabulary::build(&counts, Some(d.vocab_size), d.min_freq);
    // Training and validation items in one list (the split's indices point into it), the
    // test items in another, as the batchers take them.
    let mut pool: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut pool_labels = labels
        .iter()
        .enumerate()
        .map(|(r, l)| class_of(l, r, &d.path))
        .collect::<anyhow::Result<Vec<u8>>>()?;
    let mut val_idx = splits.validation;
    let extra;
    if let Some((f, path)) = &val_file {
        let (t, l) = labelled(f, d, path, &class_of)?;
        let start = pool.len();
        pool_labels.extend(l);
        extra = t;
        pool.extend(extra.iter().map(String::as_str));
        val_idx = (start..pool.len()).collect();
    }
    let (test_texts, test_labels) = match &test_file {
        Some((f, path)) => labelled(f, d, path, &class_of)?,
        None => (
            splits.test.iter().map(|&i| texts[i].clone()).collect(),
            splits.test.iter().map(|&i| pool_labels[i]).collect(),
        ),
    };
    ensure_rows(
        "test",
        test_texts.len(),
        d.test.as_deref().unwrap_or(&d.path),
    )?;
    let train = vocab.encode_all(tokenizer.as_ref(), &pool);
    let test_refs: Vec<&str> = test_texts.iter().map(String::as_str).collect();
    let test = vocab.encode_all(tokenizer.as_ref(), &test_refs);
    tracing::info!(
        "texts: read {} rows in {read_s:.2} s, tokenised them with a vocabulary of {} in {:.2} s; {} classes; {} train, {} validation, {} test",
        pool.len() + test_file.as_ref().map_or(0, |(f, _)| f.height()),
        vocab.len(),
        clock.elapsed().as_secs_f64(),
        classes.len(),
        splits.train.len(),
        val_idx.len(),
        test.len()
    );
    let pretrained = match &d.pretrained_embeddings {
        None => None,
        Some(path) => Some(load_glove(path, &vocab).context("reading data.pretrained_embeddings")?),
    };
    Ok(Prepared {
        test_len: test.len(),
        data: Data::Text(TextData {
            vocab,
            tokenizer,
            train,
            train_labels: pool_labels,
            test,
            test_labels,
            pretrained,
            max_len: d.max_len,
            truncate: truncation(d.truncate),
            bucket: d.bucket,
            classes,
        }),
        train_idx: splits.train,
        val_idx,
        source: described(&d.path),
    })
}

/// Where decoded image folders are kept between runs.
const IMAGE_CACHE: &str = "datasets/.cache";

/// The images of `digits` at `indices`, in that order.
fn select(digits: &kiln_data::Digits, indices: &[usize]) -> kiln_data::Digits {
    let mut out = kiln_data::Digits {
        images: Vec::with_capacity(indices.len() * digits.pixels_per_image()),
        labels: Vec::with_capacity(indices.len()),
        channels: digits.channels,
        rows: digits.rows,
        cols: digits.cols,
    };
    for &i in indices {
        out.images.extend_from_slice(digits.image(i));
        out.labels.push(digits.labels[i]);
    }
    out
}

/// An image folder decoded (or read from the cache), split and normalised from the
/// training images; or the images a table lists with their values (`target` says how the
/// table's value columns are read: numbers or labels).
pub fn load_images(
    exp: &Experiment,
    d: &ImagesSettings,
    target: TargetKind,
) -> anyhow::Result<Prepared> {
    let settings = kiln_data::images::FolderSettings {
        channels: d.channels,
        size: d.size,
        fit: d.fit.into(),
        skip_unreadable: d.skip_unreadable,
    };
    let cache = d.cache.then(|| Path::new(IMAGE_CACHE));
    let (folder, listed) = match &d.targets {
        None => (
            kiln_data::images::load_folder(
                &d.path,
                &settings,
                cache,
                crate::tasks::data_budget().as_ref(),
            )?,
            None,
        ),
        Some(targets) => {
            let (folder, listed) = load_listed(d, targets, target, &settings, cache)?;
            (folder, Some(listed))
        }
    };
    log_loaded(&folder);
    let mut pool = folder.train;
    let labels: Vec<u32> = pool.labels.iter().map(|&l| u32::from(l)).collect();
    let stratify = d.stratify && listed.is_none();
    let splits = split_rows(
        pool.len(),
        stratify.then_some(labels.as_slice()),
        (d.test_fraction, folder.test.is_some()),
        (d.validation_fraction, folder.validation.is_some()),
        exp.seed,
        d.train_limit,
    );
    ensure_rows("training", splits.train.len(), &d.path)?;
    let values = listed.map(|l| l.split(&splits));
    let test = match folder.test {
        Some(test) => test,
        None => select(&pool, &splits.test),
    };
    ensure_rows("test", test.len(), &d.path)?;
    let mut val_idx = splits.validation;
    if let Some(v) = folder.validation {
        let start = pool.len();
        pool.images.extend(v.images);
        pool.labels.extend(v.labels);
        val_idx = (start..pool.len()).collect();
    }
    let normalization = match d.normalize {
        NormalizeKind::Scale => kiln_data::Normalization::Scale,
        NormalizeKind::Standardize => {
            kiln_data::Normalization::standardize_from(&pool, &splits.train)
        }
    };
    let skipped = folder.skipped.len();
    Ok(Prepared {
        test_len: test.len(),
        data: Data::Images(ImageData {
            mnist: kiln_data::Mnist { train: pool, test },
            normalization,
            classes: folder.classes,
            augment: d.augment.into(),
            skipped,
            values,
        }),
        train_idx: splits.train,
        val_idx,
        source: described(d.targets.as_deref().unwrap_or(&d.path)),
    })
}

/// What was decoded (or read from the cache) and skipped, for the log.
fn log_loaded(folder: &kiln_data::images::ImageFolder) {
    let what = if folder.classes.is_empty() {
        "listed".to_string()
    } else {
        format!("of {} classes", folder.classes.len())
    };
    if folder.cached {
        tracing::info!(
            "images: {} images {what} read from the cache in {:.2} s",
            folder.images,
            folder.seconds
        );
    } else {
        tracing::info!(
            "images: decoded {} images {what} in {:.2} s ({:.0} images/s)",
            folder.images,
            folder.seconds,
            folder.images as f64 / folder.seconds.max(1e-9)
        );
    }
    if !folder.skipped.is_empty() {
        tracing::warn!(
            "images: skipped {} files that do not decode, e.g. {}: {}",
            folder.skipped.len(),
            folder.skipped[0].0.display(),
            folder.skipped[0].1
        );
    }
}

/// The values of the images a table lists, per split, in the order their images were
/// decoded (files that did not decode left out).
struct Listed {
    columns: Vec<String>,
    /// Numbers (standardised) or yes/no labels (kept as they are).
    kind: TargetKind,
    /// `[train, validation, test]`: each kept image's file and values (`targets` apiece).
    splits: [(Vec<String>, Vec<f64>); 3],
}

impl Listed {
    /// The training split's statistics and each split's values, once `splits` has cut the
    /// training images (held-out test and validation images come from them unless the
    /// folder had its own).
    fn split(self, splits: &Splits) -> ImageValues {
        let k = self.columns.len();
        let [(train_files, train), (_, validation), (test_files, test)] = self.splits;
        let rows = |values: &[f64], idx: &[usize]| -> Vec<f64> {
            idx.iter()
                .flat_map(|&i| values[i * k..(i + 1) * k].iter().copied())
                .collect()
        };
        let (test, test_files) = if test_files.is_empty() {
            (
                rows(&train, &splits.test),
                splits
                    .test
                    .iter()
                    .map(|&i| train_files[i].clone())
                    .collect(),
            )
        } else {
            (test, test_files)
        };
        let target = match self.kind {
            TargetKind::Labels => kiln_data::table::Target::labels(self.columns),
            _ => kiln_data::table::Target::values(self.columns, &rows(&train, &splits.train)),
        };
        let mut pool = train;
        pool.extend(validation);
        ImageValues {
            target,
            pool,
            test,
            test_files,
        }
    }
}

/// The file a table names as `file` under `root`, which it must lie inside; `at` says which
/// row of which table names it.
pub(crate) fn listed_file(
    root: &Path,
    file: &str,
    at: impl Fn() -> String,
) -> anyhow::Result<std::path::PathBuf> {
    use std::path::Component;
    let relative = Path::new(file);
    anyhow::ensure!(
        relative.is_relative()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "{}: `{file}` is not a path inside {} (name files relative to it)",
        at(),
        root.display()
    );
    let full = root.join(relative);
    anyhow::ensure!(full.is_file(), "{}: {} is not a file", at(), full.display());
    Ok(full)
}

/// Reads the table `targets` and decodes the images it lists under `d.path`: a file under
/// `train/`, `validation/` (`val/`, `valid/`) or `test/` belongs to that split when the
/// folder has a `train/` folder; otherwise every image is a training image.
fn load_listed(
    d: &ImagesSettings,
    targets: &Path,
    target: TargetKind,
    settings: &kiln_data::images::FolderSettings,
    cache: Option<&Path>,
) -> anyhow::Result<(kiln_data::images::ImageFolder, Listed)> {
    use std::path::Component;
    let frame = read(targets, crate::config::schema::TextEncoding::default())?;
    let column = d.file_column();
    if target == TargetKind::Labels {
        table::check_labels(&frame, &d.target, targets)?;
    }
    let (files, values) = table::listed_values(&frame, targets, column, &d.target)?;
    anyhow::ensure!(!files.is_empty(), "{}: no rows", targets.display());
    anyhow::ensure!(
        d.path.is_dir(),
        "{}: no such folder (data.path, where the images of {} lie)",
        d.path.display(),
        targets.display()
    );
    let k = d.target.len();
    let by_split = d.path.join("train").is_dir();
    // Each split's images: the file as the table names it, its path and its row.
    let mut lists: [Vec<(String, std::path::PathBuf, usize)>; 3] = Default::default();
    for (row, file) in files.into_iter().enumerate() {
        let at = || format!("{}: row {}, column `{column}`", targets.display(), row + 1);
        let path = listed_file(&d.path, &file, at)?;
        let split = if by_split {
            let first = Path::new(&file)
                .components()
                .find_map(|c| match c {
                    Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                    _ => None,
                })
                .unwrap_or_default();
            match first.as_str() {
                "train" => 0,
                name if kiln_data::images::VALIDATION_FOLDERS.contains(&name) => 1,
                "test" => 2,
                _ => anyhow::bail!(
                    "{}: `{file}` lies outside train/, validation/ and test/, which {} is split into",
                    at(),
                    d.path.display()
                ),
            }
        } else {
            0
        };
        lists[split].push((file, path, row));
    }
    anyhow::ensure!(
        !lists[0].is_empty(),
        "{}: lists no image under {}",
        targets.display(),
        d.path.join("train").display()
    );
    let names = ["train", "validation", "test"];
    let splits: Vec<(&'static str, Vec<std::path::PathBuf>)> = names
        .iter()
        .zip(&lists)
        .filter(|(_, list)| !list.is_empty())
        .map(|(name, list)| (*name, list.iter().map(|(_, p, _)| p.clone()).collect()))
        .collect();
    let budget = crate::tasks::data_budget();
    let folder = kiln_data::images::load_files(&d.path, &splits, settings, cache, budget.as_ref())?;
    let skipped: std::collections::HashSet<&Path> =
        folder.skipped.iter().map(|(p, _)| p.as_path()).collect();
    let splits = lists.map(|list| {
        let mut kept = (Vec::new(), Vec::new());
        for (file, path, row) in list {
            if !skipped.contains(path.as_path()) {
                kept.0.push(file);
                kept.1.extend_from_slice(&values[row * k..(row + 1) * k]);
            }
        }
        kept
    });
    Ok((
        folder,
        Listed {
            columns: d.target.clone(),
            kind: target,
            splits,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_hold_out_by_class_and_respect_files() {
        let labels: Vec<u32> = (0..200).map(|i| (i % 4 == 0) as u32).collect();
        let s = split_rows(200, Some(&labels), (0.2, false), (0.1, false), 5, None);
        assert_eq!(s.test.len(), 40);
        assert_eq!(s.test.iter().filter(|&&i| labels[i] == 1).count(), 10);
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.validation)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        let s = split_rows(200, None, (0.2, true), (0.1, true), 5, Some(50));
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (50, 0, 0)
        );
    }
}
