//! Reading a user's table file into a polars frame: CSV, TSV, Parquet or JSON lines, chosen
//! by the file's extension. Text is checked to be in the declared encoding first, so a bad
//! byte is named by its line and offset rather than by polars' parser.

use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

use crate::{Budget, DataError};

/// How a text file's bytes are characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is the character of the same number.
    Latin1,
}

/// The file formats a table may come in, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Tsv,
    Parquet,
    JsonLines,
}

impl TableFormat {
    pub const EXTENSIONS: &'static str = ".csv, .tsv, .tab, .parquet, .pq, .jsonl or .ndjson";

    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_string_lossy().to_lowercase();
        Some(match ext.as_str() {
            "csv" | "txt" => TableFormat::Csv,
            "tsv" | "tab" => TableFormat::Tsv,
            "parquet" | "pq" => TableFormat::Parquet,
            "jsonl" | "ndjson" => TableFormat::JsonLines,
            _ => return None,
        })
    }
}

/// Refuses table files that cannot be read in `budget`. A text table is held whole as text
/// while polars parses it into columns at least as large, so it needs twice its size on
/// disk; a Parquet file's columns are at least its compressed size. These are floors (once
/// encoded for training a table takes several times its size), so a file refused here could
/// not have been read, and one let through may still be too large.
pub fn within_budget(paths: &[&Path], budget: &Budget) -> Result<(), DataError> {
    let mut need = 0u128;
    for path in paths {
        let len = std::fs::metadata(path)
            .map_err(|e| DataError::io(path, e))?
            .len() as u128;
        need += match TableFormat::of(path) {
            Some(TableFormat::Parquet) => len,
            _ => 2 * len,
        };
    }
    let Some(short) = budget.shortfall(need) else {
        return Ok(());
    };
    let first = paths
        .first()
        .map_or_else(String::new, |p| p.display().to_string());
    Err(DataError::Invalid {
        what: first,
        message: format!(
            "reading {} takes at least {}, {short}; use a sample of the rows, or give the job \
             more memory",
            match paths.len() {
                1 => "this table".to_string(),
                n => format!("these {n} table files"),
            },
            crate::budget::bytes(need),
        ),
    })
}

/// The table in `path`, every column as the file types it (numbers, strings, booleans),
/// with empty cells as nulls.
pub fn read_table(path: &Path, encoding: Encoding) -> Result<DataFrame, DataError> {
    let invalid = |message: String| DataError::Invalid {
        what: path.display().to_string(),
        message,
    };
    let format = TableFormat::of(path).ok_or_else(|| {
        invalid(format!(
            "not a table file kiln reads: the name should end in {}",
            TableFormat::EXTENSIONS
        ))
    })?;
    let frame = match format {
        TableFormat::Parquet => {
            let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
            ParquetReader::new(file)
                .finish()
                .map_err(|e| invalid(format!("not a readable Parquet file: {e}")))?
        }
        TableFormat::Csv | TableFormat::Tsv => {
            let text = read_text(path, encoding)?;
            let separator = if format == TableFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            check_header(path, &text, separator)?;
            let parsed = CsvReadOptions::default()
                .with_has_header(true)
                // Every row decides a column's type: a code that turns into text on row
                // 50,000 must not fail the read or be cut to a number.
                .with_infer_schema_length(None)
                .with_parse_options(
                    CsvParseOptions::default()
                        .with_separator(separator)
                        .with_truncate_ragged_lines(false),
                )
                .into_reader_with_file_handle(Cursor::new(text.as_bytes()))
                .finish();
            match parsed {
                Ok(frame) => frame,
                Err(e) => {
                    if let Some(ragged) = ragged_row(&text, separator) {
                        return Err(DataError::Line {
                            path: path.into(),
                            line: ragged.line,
                            expected: format!(
                                "{} fields, as the header has (row {} of the data)",
                                ragged.expected, ragged.row
                            ),
                            found: format!(
                                "{} (check the row's quoting and separators)",
                                ragged.found
                            ),
                        });
                    }
                    return Err(invalid(format!("not a readable table: {e}")));
                }
            }
        }
        TableFormat::JsonLines => json_lines(path, &read_text(path, encoding)?)?,
    };
    if frame.width() == 0 {
        return Err(invalid("the table has no columns".into()));
    }
    Ok(frame)
}

/// The file as UTF-8, transcoded from Latin-1 when asked; invalid UTF-8 is named by line
/// and byte offset.
pub fn read_text(path: &Path, encoding: Encoding) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    match encoding {
        Encoding::Latin1 => Ok(bytes.iter().map(|&b| b as char).collect()),
        Encoding::Utf8 => {
            let bytes = bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .map(<[u8]>::to_vec)
                .unwrap_or(bytes);
            String::from_utf8(bytes).map_err(|e| {
                let offset = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
                DataError::Line {
                    path: path.into(),
                    line,
                    expected: "UTF-8 text (set data.encoding = \"latin-1\" for a Latin-1 file)"
                        .into(),
                    found: format!(
                        "byte 0x{:02X} at byte offset {offset}, which is not UTF-8",
                        bytes[offset]
                    ),
                }
            })
        }
    }
}

/// Refuses an empty file and duplicate or empty column names, which polars would rename
/// or accept silently.
fn check_header(path: &Path, text: &str, separator: u8) -> Result<(), DataError> {
    let first = text.lines().next().unwrap_or("");
    if first.trim().is_empty() {
        return Err(DataError::Line {
            path: path.into(),
            line: 1,
            expected: "a header row naming the columns".into(),
            found: "an empty line".into(),
        });
    }
    let names: Vec<&str> = first
        .split(separator as char)
        .map(|n| n.trim().trim_matches('"'))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        if !seen.insert(*name) {
            return Err(DataError::Line {
                path: path.into(),
                line: 1,
                expected: "a header with a different name for every column".into(),
                found: format!("column {} named `{name}` again", i + 1),
            });
        }
    }
    Ok(())
}

struct Ragged {
    line: usize,
    row: usize,
    expected: usize,
    found: usize,
}

/// The first record whose number of fields differs from the header's, for the error that
/// polars reports without a line. Quotes are followed as RFC 4180 has them (a quoted field
/// may hold separators, doubled quotes and line breaks); empty lines are skipped as polars
/// skips them.
fn ragged_row(text: &str, separator: u8) -> Option<Ragged> {
    let bytes = text.as_bytes();
    let (mut line, mut start_line) = (1usize, 1usize);
    let (mut fields, mut expected, mut row) = (1usize, None::<usize>, 0usize);
    let (mut quoted, mut empty) = (false, true);
    let mut i = 0;
    while i <= bytes.len() {
        let b = bytes.get(i).copied();
        match b {
            Some(b'"') => {
                if quoted && bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = !quoted;
                }
                empty = false;
            }
            Some(b) if b == separator && !quoted => {
                fields += 1;
                empty = false;
            }
            Some(b'\n') if quoted => line += 1,
            Some(b'\n') | None => {
                if !empty {
                    match expected {
                        None => expected = Some(fields),
                        Some(e) if e != fields => {
                            return Some(Ragged {
                                line: start_line,
                                row,
                                expected: e,
                                found: fields,
                            });
                        }
                        Some(_) => {}
                    }
                    row += 1;
                }
                line += 1;
                start_line = line;
                fields = 1;
                empty = true;
            }
            Some(b'\r') => {}
            Some(_) => empty = false,
        }
        i += 1;
    }
    None
}

/// One JSON object a line; a column for every key seen, null where a line lacks it.
fn json_lines(path: &Path, text: &str) -> Result<DataFrame, DataError> {
    use serde_json::Value;
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<std::collections::HashMap<String, Value>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let found = |what: String| DataError::Line {
            path: path.into(),
            line: i + 1,
            expected: "one JSON object per line".into(),
            found: what,
        };
        // Columns in the order the file first names them (serde_json's map sorts them).
        match serde_json::from_str::<Ordered>(line) {
            Ok(Ordered(pairs)) => {
                for (key, _) in &pairs {
                    if !names.contains(key) {
                        names.push(key.clone());
                    }
                }
                rows.push(pairs.into_iter().collect());
            }
            // Parsed again only to say what the line holds instead.
            Err(e) => {
                return Err(found(match serde_json::from_str::<Value>(line) {
                    Ok(other) => format!("a JSON {}", json_kind(&other)),
                    Err(_) => format!("invalid JSON ({e})"),
                }));
            }
        }
    }
    let columns = names
        .iter()
        .map(|name| {
            let values: Vec<Option<&Value>> = rows
                .iter()
                .map(|r| r.get(name).filter(|v| !v.is_null()))
                .collect();
            let all = |f: fn(&Value) -> bool| values.iter().flatten().all(|v| f(v));
            let name = PlSmallStr::from(name.as_str());
            if all(Value::is_i64) {
                Column::new(
                    name,
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_i64))
                        .collect::<Vec<_>>(),
                )
            } else if all(Value::is_number) {
                Column::new(
                    name,
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_f64))
                        .collect::<Vec<_>>(),
                )
            } else if all(Value::is_boolean) {
                Column::new(
                    name,
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_bool))
                        .collect::<Vec<_>>(),
                )
            } else {
                let text = |v: &Value| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Column::new(name, values.iter().map(|v| v.map(text)).collect::<Vec<_>>())
            }
        })
        .collect();
    DataFrame::new(rows.len(), columns).map_err(|e| DataError::Invalid {
        what: path.display().to_string(),
        message: e.to_string(),
    })
}

/// A JSON object's members in the order written.
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Ordered(pairs))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "boolean",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ragged_row_is_found_past_quoted_separators_and_line_breaks() {
        let text = "a,b,c\n1,\"x, y\",3\n\n4,\"two\nlines\",6\n7,8\n";
        let r = ragged_row(text, b',').unwrap();
        assert_eq!((r.line, r.row, r.expected, r.found), (6, 3, 3, 2));
        assert!(ragged_row("a\tb\n1\t2\n", b'\t').is_none());
    }

    #[test]
    fn tables_read_from_every_format_agree() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "x,name,flag\n1.5,caf\u{e9},true\n2,,false\n").unwrap();
        let jsonl = dir.path().join("t.jsonl");
        std::fs::write(
            &jsonl,
            "{\"x\": 1.5, \"name\": \"caf\u{e9}\", \"flag\": true}\n{\"x\": 2, \"flag\": false}\n",
        )
        .unwrap();
        let latin = dir.path().join("l.tsv");
        std::fs::write(&latin, b"x\tname\tflag\n1.5\tcaf\xe9\ttrue\n2\t\tfalse\n").unwrap();
        let a = read_table(&csv, Encoding::Utf8).unwrap();
        let b = read_table(&jsonl, Encoding::Utf8).unwrap();
        let c = read_table(&latin, Encoding::Latin1).unwrap();
        for f in [&b, &c] {
            assert_eq!(f.get_column_names(), a.get_column_names());
            for name in ["x", "name"] {
                assert!(
                    f.column(name)
                        .unwrap()
                        .as_materialized_series()
                        .equals_missing(a.column(name).unwrap().as_materialized_series()),
                    "{name}"
                );
            }
        }
        let err = read_table(&latin, Encoding::Utf8).unwrap_err().to_string();
        assert!(
            err.contains("l.tsv:2") && err.contains("0xE9 at byte offset 19"),
            "{err}"
        );
        let err = read_table(&dir.path().join("t.xlsx"), Encoding::Utf8).unwrap_err();
        assert!(err.to_string().contains("should end in .csv"), "{err}");
    }

    #[test]
    fn a_table_file_larger_than_the_budget_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "a,b\n1,2\n").unwrap(); // 8 bytes: 16 needed as text
        let pq = dir.path().join("t.parquet");
        std::fs::write(&pq, [0u8; 10]).unwrap(); // its size only
        let room = |bytes| Budget {
            bytes,
            limited_by: "its memory cgroup (/sys/fs/cgroup/job/memory.max)".into(),
        };
        assert!(within_budget(&[&csv], &room(16)).is_ok());
        assert!(within_budget(&[&csv, &pq], &room(26)).is_ok());
        let err = within_budget(&[&csv], &room(15)).unwrap_err().to_string();
        assert!(
            err.contains("t.csv")
                && err.contains("reading this table takes at least 1 MiB")
                && err.contains("its memory cgroup (/sys/fs/cgroup/job/memory.max) leaves 1 MiB"),
            "{err}"
        );
        let err = within_budget(&[&csv, &pq], &room(25))
            .unwrap_err()
            .to_string();
        assert!(err.contains("these 2 table files"), "{err}");
        let missing = dir.path().join("none.csv");
        assert!(within_budget(&[&missing], &room(1 << 40)).is_err());
    }
}
