//! Grouping runs by parameters and summarising metrics over each group (usually its seeds).

use std::collections::HashMap;

use polars::prelude::*;

use crate::ReportError;
use crate::filter::column;

/// Count, mean, sample standard deviation (n - 1), minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    /// `None` below two values: one seed says nothing about spread.
    pub std: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            n,
            mean,
            std,
            min,
            max,
        })
    }
}

/// The suffixes of the summary columns made for each metric.
pub const SUMMARY_SUFFIXES: [&str; 4] = ["mean", "std", "min", "max"];

/// Rows of `frame` grouped by the `by` columns, in order of first appearance: one output row
/// per group with the `by` values, `runs` (the group's size) and, for each metric,
/// `<metric>_mean`, `_std`, `_min` and `_max` over the group's non-null values.
pub fn summarise(
    frame: &DataFrame,
    by: &[String],
    metrics: &[String],
) -> Result<DataFrame, ReportError> {
    let groups = groups(frame, by)?;
    let firsts: Vec<IdxSize> = groups.iter().map(|g| g[0] as IdxSize).collect();
    let keys = frame
        .select(by.iter().map(String::as_str))?
        .take(&IdxCa::from_vec("idx".into(), firsts))?;
    let mut columns: Vec<Column> = keys.columns().to_vec();
    columns.push(Column::new(
        "runs".into(),
        groups.iter().map(|g| g.len() as u32).collect::<Vec<_>>(),
    ));
    for metric in metrics {
        let values = column(frame, metric)?
            .cast(&DataType::Float64)
            .map_err(|_| {
                ReportError::Filter(format!("`{metric}` is not numeric and cannot be averaged"))
            })?;
        let values = values.f64()?;
        let stats: Vec<Option<Stats>> = groups
            .iter()
            .map(|g| {
                let present: Vec<f64> = g.iter().filter_map(|&i| values.get(i)).collect();
                Stats::of(&present)
            })
            .collect();
        let pick = |f: fn(&Stats) -> Option<f64>| -> Vec<Option<f64>> {
            stats.iter().map(|s| s.as_ref().and_then(f)).collect()
        };
        for (suffix, f) in SUMMARY_SUFFIXES.iter().zip([
            (|s: &Stats| Some(s.mean)) as fn(&Stats) -> Option<f64>,
            |s| s.std,
            |s| Some(s.min),
            |s| Some(s.max),
        ]) {
            columns.push(Column::new(format!("{metric}_{suffix}").into(), pick(f)));
        }
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// Row indices of each group, groups in order of first appearance.
pub fn groups(frame: &DataFrame, by: &[String]) -> Result<Vec<Vec<usize>>, ReportError> {
    let keys: Vec<&Series> = by
        .iter()
        .map(|b| column(frame, b))
        .collect::<Result<_, _>>()?;
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for row in 0..frame.height() {
        let key: Vec<String> = keys
            .iter()
            .map(|s| s.get(row).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        let next = groups.len();
        let g = *index.entry(key).or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        groups[g].push(row);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_hand_computed_values() {
        // mean 0.96; deviations -0.02, 0, 0.02: sum of squares 0.0008 over n-1 = 2 -> 0.0004.
        let s = Stats::of(&[0.94, 0.96, 0.98]).unwrap();
        assert_eq!(s.n, 3);
        assert!((s.mean - 0.96).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!((s.min, s.max), (0.94, 0.98));
        let one = Stats::of(&[0.5]).unwrap();
        assert_eq!((one.mean, one.std), (0.5, None));
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn groups_summarise_in_order_of_first_appearance() {
        let frame = df!(
            "opt" => ["sgd", "adam", "sgd", "adam", "sgd", "rmsprop"],
            "seed" => [1i64, 1, 2, 2, 3, 1],
            "acc" => [Some(0.90), Some(0.97), Some(0.92), Some(0.99), Some(0.94), None],
        )
        .unwrap();
        let out = summarise(&frame, &["opt".into()], &["acc".into()]).unwrap();
        let opt: Vec<&str> = out
            .column("opt")
            .unwrap()
            .str()
            .unwrap()
            .no_null_iter()
            .collect();
        assert_eq!(opt, ["sgd", "adam", "rmsprop"]);
        let runs: Vec<u32> = out
            .column("runs")
            .unwrap()
            .u32()
            .unwrap()
            .no_null_iter()
            .collect();
        assert_eq!(runs, [3, 2, 1]);
        let get = |name: &str| -> Vec<Option<f64>> {
            out.column(name).unwrap().f64().unwrap().iter().collect()
        };
        let mean = get("acc_mean");
        assert!((mean[0].unwrap() - 0.92).abs() < 1e-12);
        assert!((mean[1].unwrap() - 0.98).abs() < 1e-12);
        assert_eq!(mean[2], None, "rmsprop has no value");
        let std = get("acc_std");
        // sgd: 0.90, 0.92, 0.94 -> 0.02. adam: 0.97, 0.99 -> sqrt(0.0002 / 1) = 0.014142...
        assert!((std[0].unwrap() - 0.02).abs() < 1e-12);
        assert!((std[1].unwrap() - 0.000_2f64.sqrt()).abs() < 1e-12);
        assert_eq!(get("acc_min")[0], Some(0.90));
        assert_eq!(get("acc_max")[1], Some(0.99));
    }

    #[test]
    fn grouping_by_several_columns_and_nulls() {
        let frame = df!(
            "a" => [Some("x"), Some("x"), None, None],
            "b" => [1i64, 2, 1, 1],
        )
        .unwrap();
        let g = groups(&frame, &["a".into(), "b".into()]).unwrap();
        assert_eq!(g, vec![vec![0], vec![1], vec![2, 3]]);
    }
}
