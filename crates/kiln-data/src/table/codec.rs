//! A table's columns as model inputs, learnt from the training rows only: numbers filled
//! where missing (with a was-missing column) and standardised, categories as level ids
//! (0 for missing or unseen), and the target as class ids or standardised values.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::DataError;

/// Which columns play which part; names are checked against the training file.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// One column for classification; one or more for regression.
    pub target: Vec<String>,
    /// The feature columns; `None`: every column but the targets and `ignore`.
    pub features: Option<Vec<String>>,
    /// Columns read as categories / as numbers whatever their type.
    pub categorical: Vec<String>,
    pub numeric: Vec<String>,
    pub ignore: Vec<String>,
    /// Integer columns with at most this many distinct values (in the training rows) are
    /// categories: codes, not quantities.
    pub max_levels: usize,
}

/// What the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Classes,
    Values,
    /// Yes/no labels, any number of them: 0/1 (or boolean) columns, kept as 0 and 1.
    Labels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericColumn {
    pub name: String,
    /// What a missing value becomes: the training rows' median.
    pub fill: f64,
    pub mean: f64,
    pub std: f64,
    /// Whether a `<name>_na` input says the value was missing (the training rows had some).
    pub missing_flag: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalColumn {
    pub name: String,
    /// The training rows' levels, sorted; a value's id is its place here plus one, and id 0
    /// stands for a missing value or one the training rows never had.
    pub levels: Vec<String>,
}

impl CategoricalColumn {
    /// Levels including the missing/unseen one.
    pub fn cardinality(&self) -> usize {
        self.levels.len() + 1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    Classes {
        column: String,
        names: Vec<String>,
    },
    /// Trained on `(y - mean) / std`, reported in the column's own units.
    Values {
        columns: Vec<String>,
        mean: Vec<f64>,
        std: Vec<f64>,
    },
}

impl Target {
    /// Yes/no label columns, learnt as they are (0 and 1, not standardised).
    pub fn labels(columns: Vec<String>) -> Target {
        let k = columns.len();
        Target::Values {
            columns,
            mean: vec![0.0; k],
            std: vec![1.0; k],
        }
    }

    /// Numeric targets `columns` standardised by the mean and standard deviation of the
    /// training `values` (`rows x columns`); a constant column keeps a scale of 1.
    pub fn values(columns: Vec<String>, values: &[f64]) -> Target {
        let k = columns.len().max(1);
        let n = (values.len() / k).max(1) as f64;
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for t in 0..columns.len() {
            let column = || values.iter().skip(t).step_by(k);
            let m = column().sum::<f64>() / n;
            let s = (column().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
            mean.push(m);
            std.push(if s > 1e-12 { s } else { 1.0 });
        }
        Target::Values { columns, mean, std }
    }

    /// `rows x targets` values as the model learns them, `(y - mean) / std` per target;
    /// empty for classes.
    pub fn standardise(&self, values: &[f64]) -> Vec<f32> {
        let Target::Values { mean, std, .. } = self else {
            return Vec::new();
        };
        let k = mean.len().max(1);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| ((v - mean[i % k]) / std[i % k]) as f32)
            .collect()
    }
}

/// Each row's file name (`file_column`) and its `targets` values (`rows x targets`), as a
/// regression on files listed in a table reads them; a missing name or value is refused by
/// row.
pub fn listed_values(
    frame: &DataFrame,
    path: &Path,
    file_column: &str,
    targets: &[String],
) -> Result<(Vec<String>, Vec<f64>), DataError> {
    let files = texts(frame, file_column, path)?
        .into_iter()
        .enumerate()
        .map(|(row, f)| match f {
            Some(f) if !f.trim().is_empty() => Ok(f.trim().to_owned()),
            _ => Err(at(path, row, file_column, "no file named")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let k = targets.len();
    let mut values = vec![0f64; files.len() * k];
    for (t, name) in targets.iter().enumerate() {
        for (row, v) in numbers(frame, name, path)?.into_iter().enumerate() {
            values[row * k + t] = v.ok_or_else(|| at(path, row, name, "the target is missing"))?;
        }
    }
    Ok((files, values))
}

/// Everything needed to turn rows of a file like the training one into inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableCodec {
    pub numeric: Vec<NumericColumn>,
    pub categorical: Vec<CategoricalColumn>,
    pub target: Target,
}

/// Rows as model inputs.
#[derive(Debug, Clone, Default)]
pub struct EncodedTable {
    pub rows: usize,
    /// `rows x numeric_width`: each numeric column standardised, then its missing flags.
    pub numeric: Vec<f32>,
    pub numeric_width: usize,
    /// `rows x categorical columns` level ids.
    pub categories: Vec<u32>,
    pub category_columns: usize,
    /// Class ids (classification), else empty.
    pub labels: Vec<u32>,
    /// `rows x targets` standardised values (regression), else empty.
    pub values: Vec<f32>,
    /// The same values as the file has them.
    pub raw_values: Vec<f64>,
}

impl EncodedTable {
    /// Adds `other`'s rows after these (both encoded by one codec).
    pub fn append(&mut self, other: EncodedTable) {
        self.rows += other.rows;
        self.numeric.extend(other.numeric);
        self.categories.extend(other.categories);
        self.labels.extend(other.labels);
        self.values.extend(other.values);
        self.raw_values.extend(other.raw_values);
    }
}

fn invalid(path: &Path, message: String) -> DataError {
    DataError::Invalid {
        what: path.display().to_string(),
        message,
    }
}

/// Data rows count from 1 after the header.
fn at(path: &Path, row: usize, column: &str, message: impl std::fmt::Display) -> DataError {
    invalid(
        path,
        format!("row {}, column `{column}`: {message}", row + 1),
    )
}

fn column<'a>(frame: &'a DataFrame, name: &str, path: &Path) -> Result<&'a Column, DataError> {
    frame.column(name).map_err(|_| {
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let close = names
            .iter()
            .min_by_key(|n| strsim::levenshtein(n, name))
            .filter(|n| strsim::levenshtein(n, name) <= 2)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        invalid(
            path,
            format!(
                "no column `{name}`{close}; the columns are {}",
                names.join(", ")
            ),
        )
    })
}

/// A column's values as numbers (booleans as 0/1, text parsed), missing as `None`; NaN and
/// infinity refused by row.
pub fn numbers(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<Option<f64>>, DataError> {
    let col = column(frame, name, path)?;
    let values: Vec<Option<f64>> = match col.dtype() {
        DataType::String => {
            let s = col.str().map_err(|e| invalid(path, e.to_string()))?;
            s.iter()
                .enumerate()
                .map(|(row, v)| match v.map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(text) => text
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| at(path, row, name, format!("`{text}` is not a number"))),
                })
                .collect::<Result<_, _>>()?
        }
        dtype if dtype.is_primitive_numeric() || dtype.is_bool() => {
            let cast = col
                .cast(&DataType::Float64)
                .map_err(|e| invalid(path, format!("column `{name}`: {e}")))?;
            cast.f64()
                .map_err(|e| invalid(path, e.to_string()))?
                .iter()
                .collect()
        }
        other => {
            return Err(invalid(
                path,
                format!("column `{name}`: values of type {other}, not numbers"),
            ));
        }
    };
    if let Some(row) = values
        .iter()
        .position(|v| v.is_some_and(|x| !x.is_finite()))
    {
        return Err(at(
            path,
            row,
            name,
            format!(
                "{} is not a finite number (leave the cell empty for a missing value)",
                values[row].unwrap_or_default()
            ),
        ));
    }
    Ok(values)
}

/// A column's values as text, missing as `None`.
pub fn texts(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<Option<String>>, DataError> {
    let col = column(frame, name, path)?;
    let cast = col
        .cast(&DataType::String)
        .map_err(|e| invalid(path, format!("column `{name}`: {e}")))?;
    Ok(cast
        .str()
        .map_err(|e| invalid(path, e.to_string()))?
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect())
}

/// The class of every row, by name; a missing target is refused by row.
pub fn class_column(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>, DataError> {
    texts(frame, name, path)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            _ => Err(at(path, row, name, "the target is missing")),
        })
        .collect()
}

/// Class names in order: numerically when every name is a number, else alphabetically.
pub fn class_names<'a>(labels: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let set: BTreeSet<&String> = labels.into_iter().collect();
    let mut names: Vec<String> = set.into_iter().cloned().collect();
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| {
            let (a, b) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            a.total_cmp(&b)
        });
    }
    names
}

enum Kind {
    Numeric,
    Categorical,
}

impl TableCodec {
    /// Learns the encoding from the rows `train` of `frame` (read from `path`).
    pub fn learn(
        frame: &DataFrame,
        train: &[usize],
        roles: &Roles,
        target: TargetKind,
        path: &Path,
    ) -> Result<Self, DataError> {
        if train.is_empty() {
            return Err(invalid(path, "no training rows".into()));
        }
        for name in roles
            .target
            .iter()
            .chain(roles.features.iter().flatten())
            .chain(&roles.categorical)
            .chain(&roles.numeric)
            .chain(&roles.ignore)
        {
            column(frame, name, path)?;
        }
        if let Some(both) = roles.categorical.iter().find(|c| roles.numeric.contains(c)) {
            return Err(invalid(
                path,
                format!("column `{both}` is listed as both categorical and numeric"),
            ));
        }
        let features = feature_columns(frame, roles, path)?;
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        for name in &features {
            let col = column(frame, name, path)?;
            // An integer column's numbers are read once, to count its levels and to use.
            let mut read = None;
            let kind = if roles.categorical.contains(name) {
                Kind::Categorical
            } else if roles.numeric.contains(name) {
                Kind::Numeric
            } else {
                match col.dtype() {
                    d if d.is_float() => Kind::Numeric,
                    d if d.is_integer() => {
                        let values = numbers(frame, name, path)?;
                        let distinct: HashSet<i64> = train
                            .iter()
                            .filter_map(|&i| values[i])
                            .map(|v| v as i64)
                            .collect();
                        read = Some(values);
                        if distinct.len() <= roles.max_levels {
                            Kind::Categorical
                        } else {
                            Kind::Numeric
                        }
                    }
                    _ => Kind::Categorical,
                }
            };
            match kind {
                Kind::Numeric => {
                    let values = match read {
                        Some(values) => values,
                        None => numbers(frame, name, path)?,
                    };
                    numeric.push(numeric_column(name, &values, train, path)?);
                }
                Kind::Categorical => {
                    let values = texts(frame, name, path)?;
                    let levels: BTreeSet<&str> = train
                        .iter()
                        .filter_map(|&i| values[i].as_deref())
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .collect();
                    categorical.push(CategoricalColumn {
                        name: name.clone(),
                        levels: levels.into_iter().map(str::to_owned).collect(),
                    });
                }
            }
        }
        let target = learn_target(frame, train, roles, target, path)?;
        Ok(TableCodec {
            numeric,
            categorical,
            target,
        })
    }

    /// Inputs per row: the numbers then one was-missing flag per flagged column.
    pub fn numeric_width(&self) -> usize {
        self.numeric.len() + self.numeric.iter().filter(|c| c.missing_flag).count()
    }

    pub fn cardinalities(&self) -> Vec<usize> {
        self.categorical
            .iter()
            .map(CategoricalColumn::cardinality)
            .collect()
    }

    /// The columns a file must have to be encoded (with its target when `with_target`).
    pub fn columns(&self, with_target: bool) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .numeric
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.categorical.iter().map(|c| c.name.as_str()))
            .collect();
        if with_target {
            match &self.target {
                Target::Classes { column, .. } => names.push(column),
                Target::Values { columns, .. } => names.extend(columns.iter().map(String::as_str)),
            }
        }
        names
    }

    pub fn class_names(&self) -> Option<&[String]> {
        match &self.target {
            Target::Classes { names, .. } => Some(names),
            Target::Values { .. } => None,
        }
    }

    /// Every row of `frame` (read from `path`) as inputs, with its target when `with_target`
    /// (a class the training rows did not have is refused by row).
    pub fn encode(
        &self,
        frame: &DataFrame,
        path: &Path,
        with_target: bool,
    ) -> Result<EncodedTable, DataError> {
        let rows = frame.height();
        let width = self.numeric_width();
        let mut numeric = vec![0f32; rows * width];
        let flags: Vec<usize> = self
            .numeric
            .iter()
            .enumerate()
            .filter(|(_, c)| c.missing_flag)
            .map(|(i, _)| i)
            .collect();
        for (j, c) in self.numeric.iter().enumerate() {
            let values = numbers(frame, &c.name, path)?;
            let flag = flags
                .iter()
                .position(|&f| f == j)
                .map(|k| self.numeric.len() + k);
            for (r, v) in values.iter().enumerate() {
                numeric[r * width + j] = ((v.unwrap_or(c.fill) - c.mean) / c.std) as f32;
                if let Some(k) = flag {
                    numeric[r * width + k] = f32::from(u8::from(v.is_none()));
                }
            }
        }
        let ncat = self.categorical.len();
        let mut categories = vec![0u32; rows * ncat];
        for (j, c) in self.categorical.iter().enumerate() {
            let ids: HashMap<&str, u32> = c
                .levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i as u32 + 1))
                .collect();
            for (r, v) in texts(frame, &c.name, path)?.iter().enumerate() {
                categories[r * ncat + j] = v
                    .as_deref()
                    .and_then(|v| ids.get(v.trim()).copied())
                    .unwrap_or(0);
            }
        }
        let (mut labels, mut values, mut raw_values) = (Vec::new(), Vec::new(), Vec::new());
        if with_target {
            match &self.target {
                Target::Classes { column, names } => {
                    let ids: HashMap<&str, u32> = names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.as_str(), i as u32))
                        .collect();
                    labels = class_column(frame, column, path)?
                        .iter()
                        .enumerate()
                        .map(|(r, v)| {
                            ids.get(v.as_str()).copied().ok_or_else(|| {
                                at(
                                    path,
                                    r,
                                    column,
                                    format!(
                                        "class `{v}` is not among the training rows' classes ({})",
                                        names.join(", ")
                                    ),
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                Target::Values { columns, mean, std } => {
                    let t = columns.len();
                    values = vec![0f32; rows * t];
                    raw_values = vec![0f64; rows * t];
                    for (k, name) in columns.iter().enumerate() {
                        for (r, v) in numbers(frame, name, path)?.iter().enumerate() {
                            let v = v.ok_or_else(|| at(path, r, name, "the target is missing"))?;
                            values[r * t + k] = ((v - mean[k]) / std[k]) as f32;
                            raw_values[r * t + k] = v;
                        }
                    }
                }
            }
        }
        Ok(EncodedTable {
            rows,
            numeric,
            numeric_width: width,
            categories,
            category_columns: ncat,
            labels,
            values,
            raw_values,
        })
    }
}

/// Refuses label columns (`columns`, one or more) with a value other than 0 or 1, or with
/// none, naming the first such row.
pub fn check_labels(frame: &DataFrame, columns: &[String], path: &Path) -> Result<(), DataError> {
    if columns.is_empty() {
        return Err(invalid(path, "no label column".into()));
    }
    for name in columns {
        for (r, v) in numbers(frame, name, path)?.into_iter().enumerate() {
            match v {
                Some(v) if v == 0.0 || v == 1.0 => {}
                Some(v) => return Err(at(path, r, name, format!("{v} is not a label (0 or 1)"))),
                None => return Err(at(path, r, name, "the label is missing (0 or 1)")),
            }
        }
    }
    Ok(())
}

/// Refuses a second file (test, validation) whose columns are not the training file's.
pub fn same_columns(train: &DataFrame, other: &DataFrame, path: &Path) -> Result<(), DataError> {
    let names = |f: &DataFrame| -> Vec<String> {
        f.get_column_names().iter().map(|n| n.to_string()).collect()
    };
    let (a, b) = (names(train), names(other));
    let missing: Vec<&String> = a.iter().filter(|n| !b.contains(n)).collect();
    let extra: Vec<&String> = b.iter().filter(|n| !a.contains(n)).collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let list = |v: &[&String]| {
        v.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut message = String::from("its columns differ from the training file's:");
    if !missing.is_empty() {
        message.push_str(&format!(" lacks {}", list(&missing)));
    }
    if !extra.is_empty() {
        if !missing.is_empty() {
            message.push(';');
        }
        message.push_str(&format!(" has {} besides", list(&extra)));
    }
    Err(invalid(path, message))
}

/// A stratified split of `0..labels.len()`: `fraction` of each class held out (at least one
/// item of a class with two or more), seeded.
pub fn stratified_split(labels: &[u32], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for (class, items) in by_class {
        let items = crate::split::shuffled(
            &items,
            seed ^ (u64::from(class) + 1).wrapping_mul(0x9E37_79B9),
        );
        let mut n = ((items.len() as f64) * fraction).round() as usize;
        if fraction > 0.0 && n == 0 && items.len() >= 2 {
            n = 1;
        }
        held.extend_from_slice(&items[..n]);
        kept.extend_from_slice(&items[n..]);
    }
    kept.sort_unstable();
    held.sort_unstable();
    (kept, held)
}

/// The feature columns: those `features` names, or every column but the target and the
/// ignored ones.
fn feature_columns(
    frame: &DataFrame,
    roles: &Roles,
    path: &Path,
) -> Result<Vec<String>, DataError> {
    let features: Vec<String> = match &roles.features {
        Some(f) => f.clone(),
        None => frame
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| !roles.target.contains(n) && !roles.ignore.contains(n))
            .collect(),
    };
    if let Some(t) = features.iter().find(|f| roles.target.contains(f)) {
        return Err(invalid(
            path,
            format!("column `{t}` is the target, so it cannot be a feature too"),
        ));
    }
    if features.is_empty() {
        return Err(invalid(
            path,
            "no feature columns left besides the target".into(),
        ));
    }
    Ok(features)
}

/// A numeric column as learnt from the training rows: the median fills a missing value
/// (flagged when any is missing), then the mean and standard deviation standardise it.
fn numeric_column(
    name: &str,
    values: &[Option<f64>],
    train: &[usize],
    path: &Path,
) -> Result<NumericColumn, DataError> {
    let mut seen: Vec<f64> = train.iter().filter_map(|&i| values[i]).collect();
    if seen.is_empty() {
        return Err(invalid(
            path,
            format!("column `{name}` has no values in the training rows"),
        ));
    }
    let missing_flag = seen.len() < train.len();
    seen.sort_by(f64::total_cmp);
    let fill = seen[seen.len() / 2];
    let filled = train.iter().map(|&i| values[i].unwrap_or(fill));
    let n = train.len() as f64;
    let mean = filled.clone().sum::<f64>() / n;
    let var = filled.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Ok(NumericColumn {
        name: name.to_string(),
        fill,
        mean,
        std: if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 },
        missing_flag,
    })
}

/// The target as learnt from the training rows: the class names, or the values' scales.
fn learn_target(
    frame: &DataFrame,
    train: &[usize],
    roles: &Roles,
    target: TargetKind,
    path: &Path,
) -> Result<Target, DataError> {
    Ok(match target {
        TargetKind::Classes => {
            let [name] = roles.target.as_slice() else {
                return Err(invalid(
                    path,
                    format!(
                        "a classifier learns one target column, got {}",
                        roles.target.len()
                    ),
                ));
            };
            let labels = class_column(frame, name, path)?;
            let names = class_names(train.iter().map(|&i| &labels[i]));
            if names.len() < 2 {
                return Err(invalid(
                    path,
                    format!(
                        "the target `{name}` has one class ({}) in the training rows; a classifier needs two or more",
                        names.first().map_or("none", String::as_str)
                    ),
                ));
            }
            Target::Classes {
                column: name.clone(),
                names,
            }
        }
        // Their values are checked in every file by `check_labels`.
        TargetKind::Labels => Target::labels(roles.target.clone()),
        TargetKind::Values => {
            if roles.target.is_empty() {
                return Err(invalid(path, "no target column".into()));
            }
            let k = roles.target.len();
            let mut seen = vec![0f64; train.len() * k];
            for (t, name) in roles.target.iter().enumerate() {
                let values = numbers(frame, name, path)?;
                for (r, &i) in train.iter().enumerate() {
                    seen[r * k + t] =
                        values[i].ok_or_else(|| at(path, i, name, "the target is missing"))?;
                }
            }
            Target::values(roles.target.clone(), &seen)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "size" => [Some(1.0), None, Some(3.0), Some(5.0), Some(7.0), Some(9.0)],
            "colour" => [Some("red"), Some("blue"), None, Some("red"), Some("green"), Some("blue")],
            "code" => [1i64, 2, 1, 2, 1, 3],
            "y" => ["a", "b", "a", "b", "a", "b"],
        )
        .unwrap()
    }

    fn roles() -> Roles {
        Roles {
            target: vec!["y".into()],
            max_levels: 10,
            ..Roles::default()
        }
    }

    #[test]
    fn learns_from_training_rows_only_and_encodes_unseen_as_zero() {
        let path = Path::new("t.csv");
        let f = frame();
        let codec =
            TableCodec::learn(&f, &[0, 1, 2, 3], &roles(), TargetKind::Classes, path).unwrap();
        assert_eq!(codec.numeric.len(), 1);
        let size = &codec.numeric[0];
        // Training values 1, 3, 5 (one missing): median 3, filled 1, 3, 3, 5.
        assert_eq!(size.fill, 3.0);
        assert!(size.missing_flag);
        assert!((size.mean - 3.0).abs() < 1e-12);
        // colour and code (an integer code with 2 levels in training) are categories.
        assert_eq!(codec.categorical.len(), 2);
        assert_eq!(codec.categorical[0].levels, ["blue", "red"]);
        assert_eq!(codec.categorical[1].levels, ["1", "2"]);
        let e = codec.encode(&f, path, true).unwrap();
        assert_eq!(e.numeric_width, 2);
        assert_eq!(e.numeric[2..4], [0.0, 1.0], "row 1 was filled and flagged");
        // green (row 4) and code 3 (row 5) never trained: level 0; missing colour too.
        assert_eq!(e.categories[4 * 2], 0);
        assert_eq!(e.categories[5 * 2 + 1], 0);
        assert_eq!(e.categories[2 * 2], 0);
        assert_eq!(e.categories[0], 2, "red is the second level");
        assert_eq!(e.labels, [0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn labels_are_kept_as_zero_and_one_and_anything_else_is_refused_at_its_row() {
        let path = Path::new("t.csv");
        let f = df!(
            "x" => [1.0, 2.0, 3.0],
            "a" => [1i64, 0, 1],
            "b" => [true, true, false],
        )
        .unwrap();
        let r = Roles {
            target: vec!["a".into(), "b".into()],
            ..roles()
        };
        let codec = TableCodec::learn(&f, &[0, 1, 2], &r, TargetKind::Labels, path).unwrap();
        let e = codec.encode(&f, path, true).unwrap();
        assert_eq!(e.values, [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let bad = df!("x" => [1.0, 2.0], "a" => [1.0, 0.5], "b" => [0, 1]).unwrap();
        let err = check_labels(&bad, &r.target, path).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 2, column `a`: 0.5 is not a label"),
            "{err}"
        );
        let gap = df!("x" => [1.0, 2.0], "a" => [Some(1i64), Some(0)], "b" => [Some(0i64), None])
            .unwrap();
        let err = check_labels(&gap, &r.target, path).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 2, column `b`: the label is missing"),
            "{err}"
        );
    }

    #[test]
    fn refuses_one_class_and_names_rows_of_bad_values() {
        let path = Path::new("t.csv");
        let f = frame();
        let err = TableCodec::learn(&f, &[0, 2], &roles(), TargetKind::Classes, path).unwrap_err();
        assert!(err.to_string().contains("one class (a)"), "{err}");
        let bad = df!("x" => [1.0, f64::NAN], "y" => ["a", "b"]).unwrap();
        let err =
            TableCodec::learn(&bad, &[0, 1], &roles(), TargetKind::Classes, path).unwrap_err();
        assert!(err.to_string().contains("row 2, column `x`: NaN"), "{err}");
        let err = numbers(&f, "colour", path).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 1, column `colour`: `red` is not a number"),
            "{err}"
        );
        let mut r = roles();
        r.target = vec!["why".into()];
        let err = TableCodec::learn(&f, &[0, 1], &r, TargetKind::Classes, path).unwrap_err();
        assert!(
            err.to_string()
                .contains("no column `why` (did you mean `y`?)"),
            "{err}"
        );
    }

    #[test]
    fn regression_targets_are_standardised() {
        let path = Path::new("t.csv");
        let f = df!("x" => [1.0, 2.0, 3.0, 4.0], "y" => [10.0, 20.0, 30.0, 40.0]).unwrap();
        let codec =
            TableCodec::learn(&f, &[0, 1, 2, 3], &roles(), TargetKind::Values, path).unwrap();
        let Target::Values { mean, std, .. } = &codec.target else {
            panic!()
        };
        assert_eq!(mean[0], 25.0);
        let e = codec.encode(&f, path, true).unwrap();
        assert!((e.values[0] as f64 - (10.0 - 25.0) / std[0]).abs() < 1e-6);
    }

    #[test]
    fn stratified_split_keeps_class_shares() {
        let labels: Vec<u32> = (0..100).map(|i| if i < 80 { 0 } else { 1 }).collect();
        let (kept, held) = stratified_split(&labels, 0.25, 3);
        assert_eq!(held.len(), 25);
        assert_eq!(held.iter().filter(|&&i| labels[i] == 1).count(), 5);
        assert_eq!(kept.len() + held.len(), 100);
        assert_eq!(stratified_split(&labels, 0.25, 3), (kept, held));
    }
}
