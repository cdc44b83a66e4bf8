//! A frame of runs or groups as text: an aligned terminal table, Markdown, CSV or JSON.
//!
//! The terminal and Markdown tables are for reading: a grouped metric shows as one
//! `mean ± std` cell. CSV and JSON are for other programs and keep every column as a number.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, Table};
use polars::prelude::*;

use crate::ReportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

impl Format {
    pub const NAMES: &[&str] = &["table", "markdown", "csv", "json"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "table" => Some(Format::Table),
            "markdown" | "md" => Some(Format::Markdown),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The widest text cell of a terminal table, in characters.
const TERMINAL_CELL: usize = 60;

/// `frame` in `format`. `grouped` names the metrics summarised by [`crate::group::summarise`],
/// whose `_mean` and `_std` columns the readable formats join into one.
pub fn render(
    frame: &DataFrame,
    format: Format,
    grouped: &[String],
) -> Result<String, ReportError> {
    match format {
        Format::Table | Format::Markdown => {
            let (header, rows) = readable(frame, grouped);
            let mut table = Table::new();
            table
                .load_preset(if format == Format::Table {
                    UTF8_FULL_CONDENSED
                } else {
                    ASCII_MARKDOWN
                })
                .set_header(header);
            for row in rows {
                table.add_row(row.into_iter().map(|(text, numeric)| {
                    // A terminal is narrow: long texts (CNN blocks, errors) are cut there, and
                    // kept whole in Markdown, CSV and JSON.
                    let text = match format {
                        Format::Table if text.chars().count() > TERMINAL_CELL => {
                            let mut t: String = text.chars().take(TERMINAL_CELL - 1).collect();
                            t.push('…');
                            t
                        }
                        _ => text,
                    };
                    let cell = Cell::new(text);
                    if numeric {
                        cell.set_alignment(CellAlignment::Right)
                    } else {
                        cell
                    }
                }));
            }
            Ok(format!("{table}\n"))
        }
        Format::Csv => {
            let mut out = Vec::new();
            CsvWriter::new(&mut out).finish(&mut frame.clone())?;
            Ok(String::from_utf8(out).expect("polars writes UTF-8 CSV"))
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> = (0..frame.height())
                .map(|i| {
                    frame
                        .columns()
                        .iter()
                        .map(|c| {
                            (
                                c.name().to_string(),
                                json(c.get(i).unwrap_or(AnyValue::Null)),
                            )
                        })
                        .collect::<serde_json::Map<_, _>>()
                        .into()
                })
                .collect();
            Ok(serde_json::to_string_pretty(&rows).expect("values serialise") + "\n")
        }
    }
}

/// Headers and cells (text, is-a-number) for a person to read.
pub fn readable(frame: &DataFrame, grouped: &[String]) -> (Vec<String>, Vec<Vec<(String, bool)>>) {
    enum Col<'a> {
        Plain(&'a Column),
        MeanStd(&'a Column, Option<&'a Column>),
    }
    let mut cols: Vec<(String, Col)> = Vec::new();
    for c in frame.columns() {
        let name = c.name().as_str();
        let metric = grouped.iter().find(|m| {
            name.strip_prefix(m.as_str())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|suffix| crate::group::SUMMARY_SUFFIXES.contains(&suffix))
        });
        match metric {
            Some(m) if name.ends_with("_mean") => {
                let std = frame.column(&format!("{m}_std")).ok();
                cols.push((m.clone(), Col::MeanStd(c, std)));
            }
            Some(_) => {}
            None => cols.push((name.to_string(), Col::Plain(c))),
        }
    }
    let header = cols.iter().map(|(n, _)| n.clone()).collect();
    let rows = (0..frame.height())
        .map(|i| {
            cols.iter()
                .map(|(_, col)| match col {
                    Col::Plain(c) => cell(c.get(i).unwrap_or(AnyValue::Null)),
                    Col::MeanStd(mean, std) => {
                        let (m, numeric) = cell(mean.get(i).unwrap_or(AnyValue::Null));
                        let s = std
                            .and_then(|s| s.get(i).ok())
                            .and_then(|v| v.extract::<f64>());
                        let mean = mean.get(i).ok().and_then(|v| v.extract::<f64>());
                        match (s, mean) {
                            (Some(s), Some(mean)) => {
                                (format!("{m} ± {}", number_like(s, mean)), numeric)
                            }
                            _ => (m, numeric),
                        }
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn cell(v: AnyValue) -> (String, bool) {
    match v {
        AnyValue::Null => ("-".into(), false),
        AnyValue::Float64(f) => (number(f), true),
        AnyValue::Float32(f) => (number(f as f64), true),
        AnyValue::Boolean(b) => (b.to_string(), false),
        AnyValue::String(s) => (s.to_string(), false),
        AnyValue::StringOwned(s) => (s.to_string(), false),
        v if v.is_primitive_numeric() => (v.to_string(), true),
        v => (v.to_string(), false),
    }
}

/// Four decimals for values near one (accuracies, losses), fewer digits for big ones, and
/// scientific notation for small ones (learning rates) so they stay distinct.
pub fn number(f: f64) -> String {
    let a = f.abs();
    if f == 0.0 || !f.is_finite() {
        format!("{f}")
    } else if a >= 1000.0 {
        format!("{f:.0}")
    } else if a >= 10.0 {
        format!("{f:.2}")
    } else if a >= 1e-3 {
        format!("{f:.4}")
    } else {
        format!("{f:.2e}")
    }
}

/// `spread` with as many decimals as [`number`] gives `center`, so that `0.9790 ± 0.0006`
/// lines up instead of reading `0.9790 ± 5.77e-4`.
pub fn number_like(spread: f64, center: f64) -> String {
    let text = number(center);
    match text.split_once('.') {
        Some((_, decimals)) if !text.contains('e') => {
            format!("{spread:.*}", decimals.len())
        }
        _ if text.contains('e') => format!("{spread:.2e}"),
        _ => format!("{spread:.0}"),
    }
}

fn json(v: AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => b.into(),
        AnyValue::String(s) => s.into(),
        AnyValue::StringOwned(s) => s.to_string().into(),
        AnyValue::Float64(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        AnyValue::Float32(f) => {
            serde_json::Number::from_f64(f as f64).map_or(Value::Null, Value::Number)
        }
        v => match (v.extract::<i64>(), v.extract::<u64>()) {
            (Some(i), _) if v.is_integer() => i.into(),
            (_, Some(u)) if v.is_integer() => u.into(),
            _ => v.to_string().into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouped() -> DataFrame {
        df!(
            "opt" => ["sgd", "adam"],
            "runs" => [3u32, 1],
            "acc_mean" => [0.92, 0.98],
            "acc_std" => [Some(0.02), None],
            "acc_min" => [0.90, 0.98],
            "acc_max" => [0.94, 0.98],
        )
        .unwrap()
    }

    #[test]
    fn readable_tables_join_mean_and_std() {
        let text = render(&grouped(), Format::Table, &["acc".into()]).unwrap();
        assert!(text.contains("0.9200 ± 0.0200"), "{text}");
        assert!(!text.contains("acc_min"), "{text}");
        let md = render(&grouped(), Format::Markdown, &["acc".into()]).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines[0].starts_with("| opt") && lines[1].starts_with("|--"),
            "{md}"
        );
        assert!(md.contains("| adam |") && md.contains("0.9800 "), "{md}");
    }

    #[test]
    fn machine_formats_keep_numbers() {
        let csv = render(&grouped(), Format::Csv, &["acc".into()]).unwrap();
        assert!(
            csv.starts_with("opt,runs,acc_mean,acc_std,acc_min,acc_max\n"),
            "{csv}"
        );
        assert!(csv.contains("sgd,3,0.92,0.02,0.9,0.94"), "{csv}");
        let json: serde_json::Value =
            serde_json::from_str(&render(&grouped(), Format::Json, &[]).unwrap()).unwrap();
        assert_eq!(json[0]["acc_std"], 0.02);
        assert_eq!(json[1]["acc_std"], serde_json::Value::Null);
        assert_eq!(json[1]["runs"], 1);
        assert_eq!(json[1]["opt"], "adam");
    }

    #[test]
    fn numbers_keep_their_distinctions() {
        assert_eq!(number(0.98123), "0.9812");
        assert_eq!(number(1e-4), "1.00e-4");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(12.345), "12.35");
        assert_eq!(number_like(5.77e-4, 0.879), "0.0006");
        assert_eq!(number_like(0.0, 0.879), "0.0000");
        assert_eq!(number_like(34366.2, 246493.0), "34366");
        assert_eq!(number_like(2e-5, 1e-4), "2.00e-5");
    }
}
