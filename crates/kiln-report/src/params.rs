//! What a search's parameters did to its metric, as Optuna's and W&B's sweep panels show it:
//! a slice per numeric parameter (the metric against it), the parameters in parallel
//! coordinates coloured by the metric, and each parameter's share of the metric's variance.

use polars::prelude::*;

use crate::charts::{Chart, ParallelAxis, ParallelLine, Point};
use crate::render;

/// Fewer trials than this say little about their parameters: no charts.
pub const MIN_TRIALS: usize = 6;
/// Slices drawn at most, the first parameters' (the others are in parallel coordinates).
const SLICES: usize = 6;

/// One parameter's values over the trials kept.
enum Values {
    Numbers(Vec<f64>),
    Categories(Vec<String>),
}

impl Values {
    fn read(frame: &DataFrame, name: &str, rows: &[usize]) -> Option<Self> {
        let column = frame.column(name).ok()?;
        if column.dtype().is_primitive_numeric() {
            let c = column.cast(&DataType::Float64).ok()?;
            let all: Vec<Option<f64>> = c.f64().ok()?.iter().collect();
            return rows
                .iter()
                .map(|&i| all[i])
                .collect::<Option<Vec<f64>>>()
                .map(Values::Numbers);
        }
        let c = column.cast(&DataType::String).ok()?;
        let all: Vec<Option<String>> = c
            .str()
            .ok()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect();
        Some(Values::Categories(
            rows.iter()
                .map(|&i| all[i].clone().unwrap_or_else(|| "-".into()))
                .collect(),
        ))
    }

    /// Each trial's group for the variance share: a category, a value when there are few,
    /// else the quartile of its rank.
    fn groups(&self) -> Vec<usize> {
        match self {
            Values::Categories(v) => {
                let mut distinct: Vec<&String> = v.iter().collect();
                distinct.sort();
                distinct.dedup();
                v.iter()
                    .map(|x| distinct.binary_search(&x).unwrap_or(0))
                    .collect()
            }
            Values::Numbers(v) => {
                let mut distinct: Vec<f64> = v.clone();
                distinct.sort_by(f64::total_cmp);
                distinct.dedup();
                if distinct.len() <= 6 {
                    return v
                        .iter()
                        .map(|x| distinct.partition_point(|d| d < x))
                        .collect();
                }
                let mut order: Vec<usize> = (0..v.len()).collect();
                order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
                let mut out = vec![0; v.len()];
                for (rank, &i) in order.iter().enumerate() {
                    out[i] = rank * 4 / v.len();
                }
                out
            }
        }
    }
}

/// The correlation ratio η²: the share of `y`'s variance between the groups.
pub fn variance_share(groups: &[usize], y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let total: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let k = groups.iter().max().map_or(0, |m| m + 1);
    let mut sums = vec![(0.0, 0usize); k];
    for (g, v) in groups.iter().zip(y) {
        sums[*g].0 += v;
        sums[*g].1 += 1;
    }
    let between: f64 = sums
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|(s, c)| *c as f64 * (s / *c as f64 - mean).powi(2))
        .sum();
    between / total
}

/// A numeric axis's place for `v` in `lo..=hi`: logarithmic when the values span decades.
fn placer(lo: f64, hi: f64) -> (bool, impl Fn(f64) -> f64) {
    let log = lo > 0.0 && hi / lo >= 50.0;
    let f = move |v: f64| {
        if hi <= lo {
            0.5
        } else if log {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    (log, f)
}

/// The slices, the parallel coordinates and the variance shares of `metric` over the
/// `params` of the runs in `frame` that have a value of each; nothing for fewer than
/// [`MIN_TRIALS`] such runs or when no parameter varies.
pub fn parameter_charts(
    frame: &DataFrame,
    metric: &str,
    higher_is_better: bool,
    params: &[String],
) -> Vec<(String, Chart)> {
    let Ok(column) = frame
        .column(metric)
        .and_then(|c| c.cast(&DataType::Float64))
    else {
        return Vec::new();
    };
    let Ok(values) = column.f64() else {
        return Vec::new();
    };
    let all: Vec<Option<f64>> = values.iter().collect();
    let rows: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].is_some_and(f64::is_finite))
        .collect();
    if rows.len() < MIN_TRIALS {
        return Vec::new();
    }
    let y: Vec<f64> = rows.iter().map(|&i| all[i].unwrap_or(f64::NAN)).collect();
    let read: Vec<(&String, Values)> = params
        .iter()
        .filter_map(|p| Some((p, Values::read(frame, p, &rows)?)))
        .filter(|(_, v)| v.groups().iter().any(|g| *g != 0))
        .collect();
    if read.is_empty() {
        return Vec::new();
    }
    let mut charts = Vec::new();
    let mut shares: Vec<(String, f64)> = read
        .iter()
        .map(|(name, v)| ((*name).clone(), variance_share(&v.groups(), &y)))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    charts.push((
        "importance".to_string(),
        Chart::Importance {
            metric: metric.to_string(),
            shares,
        },
    ));
    let mut axes = Vec::new();
    let mut places: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    // The metric's own axis goes last.
    let metric_values = Values::Numbers(y.clone());
    for (name, v) in read
        .iter()
        .map(|(name, v)| ((*name).clone(), v))
        .chain([(metric.to_string(), &metric_values)])
    {
        axes.push(parallel_axis(name, v, &mut places));
    }
    charts.push((
        "parallel".to_string(),
        Chart::Parallel {
            metric: metric.to_string(),
            higher_is_better,
            axes,
            lines: places
                .into_iter()
                .zip(&y)
                .map(|(places, value)| ParallelLine {
                    places,
                    value: *value,
                })
                .collect(),
        },
    ));
    for (name, v) in read.iter().take(SLICES) {
        if let Values::Numbers(x) = v {
            charts.push((
                format!("slice-{}", name.rsplit('.').next().unwrap_or(name)),
                Chart::Scatter {
                    metric: metric.to_string(),
                    parameter: (*name).clone(),
                    groups: Vec::new(),
                    points: x
                        .iter()
                        .zip(&y)
                        .map(|(x, y)| Point {
                            group: 0,
                            x: *x,
                            y: *y,
                        })
                        .collect(),
                },
            ));
        }
    }
    charts
}

/// One parameter's axis of the parallel-coordinates chart, each row's place on it (0 to 1)
/// appended to `places`: numbers from their least to their largest, categories evenly.
fn parallel_axis(name: String, v: &Values, places: &mut [Vec<f64>]) -> ParallelAxis {
    match v {
        Values::Numbers(x) => {
            let (lo, hi) = x
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let (_, place) = placer(lo, hi);
            for (row, v) in places.iter_mut().zip(x) {
                row.push(place(*v));
            }
            ParallelAxis {
                name,
                ticks: vec![(0.0, render::number(lo)), (1.0, render::number(hi))],
            }
        }
        Values::Categories(x) => {
            let mut distinct: Vec<&String> = x.iter().collect();
            distinct.sort();
            distinct.dedup();
            let spread = (distinct.len().max(2) - 1) as f64;
            let place = |i: usize| {
                if distinct.len() == 1 {
                    0.5
                } else {
                    i as f64 / spread
                }
            };
            for (row, v) in places.iter_mut().zip(x) {
                row.push(place(distinct.binary_search(&v).unwrap_or(0)));
            }
            ParallelAxis {
                name,
                ticks: distinct
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (place(i), (*c).clone()))
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_variance_is_one_for_a_parameter_that_decides_all_and_zero_for_noise() {
        assert!((variance_share(&[0, 0, 1, 1], &[1.0, 1.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!(variance_share(&[0, 1, 0, 1], &[1.0, 1.0, 3.0, 3.0]).abs() < 1e-12);
        let half = variance_share(&[0, 0, 1, 1], &[1.0, 3.0, 3.0, 5.0]);
        assert!((half - 0.5).abs() < 1e-12, "{half}");
    }

    #[test]
    fn a_search_gets_importance_parallel_coordinates_and_a_slice_per_number() {
        let lr = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1];
        let opt = ["sgd", "adam", "sgd", "adam", "sgd", "adam", "sgd", "adam"];
        // The metric follows the learning rate; the optimizer does nothing.
        let acc: Vec<f64> = lr.iter().map(|l: &f64| 1.0 + l.log10() / 10.0).collect();
        let frame = df!(
            "train.learning_rate" => lr.to_vec(),
            "train.optimizer.name" => opt.to_vec(),
            "model.hidden" => vec!["[8]"; 8],
            "test_accuracy" => acc,
        )
        .unwrap();
        let params: Vec<String> = [
            "train.learning_rate",
            "train.optimizer.name",
            "model.hidden",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let charts = parameter_charts(&frame, "test_accuracy", true, &params);
        let names: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["importance", "parallel", "slice-learning_rate"]);
        let Chart::Importance { shares, .. } = &charts[0].1 else {
            panic!()
        };
        // A parameter that never varies is left out; the learning rate explains most.
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].0, "train.learning_rate");
        assert!(shares[0].1 > 0.8 && shares[1].1 < 0.1, "{shares:?}");
        let Chart::Parallel { axes, lines, .. } = &charts[1].1 else {
            panic!()
        };
        assert_eq!(axes.len(), 3);
        assert_eq!(axes[2].name, "test_accuracy");
        // The learning rate's axis is logarithmic: 1e-3 sits between 1e-4 and 3e-1 by decades.
        let mid = lines[2].places[0];
        assert!((mid - (1.0 / 3.477)).abs() < 0.01, "{mid}");
        assert_eq!(axes[1].ticks.len(), 2);
        for chart in &charts {
            assert!(chart.1.svg().unwrap().starts_with("<svg"));
        }
        assert!(parameter_charts(&frame.head(Some(5)), "test_accuracy", true, &params).is_empty());
    }
}
