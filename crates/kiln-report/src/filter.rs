//! `--where` filters: `key=value`, `key!=value`, `key<value` (and `<=`, `>`, `>=`) and
//! `key~text` (contains), applied to a frame of runs.

use polars::prelude::*;

use crate::ReportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "~",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: String,
}

impl Filter {
    /// Reads `key OP value`; the operator is the first of `! < > = ~` in the text.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let bad = |why: &str| {
            ReportError::Filter(format!(
                "`{text}`: {why}; expected KEY=VALUE, KEY!=VALUE, KEY<VALUE, KEY<=VALUE, KEY>VALUE, KEY>=VALUE or KEY~TEXT, e.g. train.learning_rate<=0.01"
            ))
        };
        let at = text
            .find(['!', '<', '>', '=', '~'])
            .ok_or_else(|| bad("no operator"))?;
        let rest = &text[at..];
        let (op, len) = [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("~", Op::Contains),
        ]
        .iter()
        .find(|(s, _)| rest.starts_with(s))
        .map(|(s, op)| (*op, s.len()))
        .ok_or_else(|| bad("`!` must be followed by `=`"))?;
        let column = text[..at].trim();
        if column.is_empty() {
            return Err(bad("no key before the operator"));
        }
        Ok(Self {
            column: column.to_string(),
            op,
            value: rest[len..].trim().to_string(),
        })
    }

    /// Which rows of `frame` pass. Nulls pass only `!=`.
    pub fn mask(&self, frame: &DataFrame) -> Result<BooleanChunked, ReportError> {
        let series = column(frame, &self.column)?;
        let refuse = |why: String| {
            ReportError::Filter(format!(
                "`{}{}{}`: {why}",
                self.column,
                self.op.symbol(),
                self.value
            ))
        };
        let dtype = series.dtype().clone();
        if dtype.is_primitive_numeric() {
            let target: f64 = self.value.parse().map_err(|_| {
                refuse(format!(
                    "`{}` holds numbers and `{}` is not one",
                    self.column, self.value
                ))
            })?;
            if self.op == Op::Contains {
                return Err(refuse("`~` applies to text columns".into()));
            }
            let values = series.cast(&DataType::Float64)?;
            Ok(values
                .f64()?
                .iter()
                .map(|v| Some(v.map_or(self.op == Op::Ne, |v| compare(self.op, v, target))))
                .collect())
        } else if dtype == DataType::Boolean {
            let target: bool = self.value.parse().map_err(|_| {
                refuse(format!(
                    "`{}` holds true or false, not `{}`",
                    self.column, self.value
                ))
            })?;
            if !matches!(self.op, Op::Eq | Op::Ne) {
                return Err(refuse("true/false columns take only = and !=".into()));
            }
            Ok(series
                .bool()?
                .iter()
                .map(|v| {
                    Some(v.map_or(self.op == Op::Ne, |v| (v == target) == (self.op == Op::Eq)))
                })
                .collect())
        } else {
            let values = series.cast(&DataType::String)?;
            let target = self.value.trim_matches('"');
            let keep = |v: &str| match self.op {
                Op::Eq => Ok(v == target),
                Op::Ne => Ok(v != target),
                Op::Contains => Ok(v.contains(target)),
                _ => Err(()),
            };
            values
                .str()?
                .iter()
                .map(|v| match v {
                    None => Ok(Some(self.op == Op::Ne)),
                    Some(v) => keep(v).map(Some),
                })
                .collect::<Result<BooleanChunked, ()>>()
                .map_err(|()| refuse(format!("`{}` holds text: use =, != or ~", self.column)))
        }
    }
}

fn compare(op: Op, v: f64, target: f64) -> bool {
    match op {
        Op::Eq => v == target,
        Op::Ne => v != target,
        Op::Lt => v < target,
        Op::Le => v <= target,
        Op::Gt => v > target,
        Op::Ge => v >= target,
        Op::Contains => false,
    }
}

/// The column `name`, or an error that suggests the nearest one.
pub fn column<'a>(frame: &'a DataFrame, name: &str) -> Result<&'a Series, ReportError> {
    match frame.column(name) {
        Ok(c) => Ok(c.as_materialized_series()),
        Err(_) => Err(ReportError::UnknownColumn {
            name: name.to_string(),
            hint: nearest(name, frame.get_column_names().iter().map(|c| c.as_str()))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default(),
        }),
    }
}

/// The most similar name, or else one with `given` as a dotted segment (`optimizer` finds
/// `train.optimizer.name` among `train.optimizer.*`).
fn nearest<'a>(given: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let names: Vec<&str> = names.collect();
    names
        .iter()
        .map(|n| (strsim::jaro_winkler(given, n), *n))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
        .or_else(|| {
            // A tagged table's tag (`.name`, `.kind`) says the most; else the shortest.
            names
                .iter()
                .filter(|n| n.split('.').any(|segment| segment == given))
                .min_by_key(|n| (!(n.ends_with(".name") || n.ends_with(".kind")), n.len()))
                .copied()
        })
}

/// The rows of `frame` that pass every filter.
pub fn apply(frame: &DataFrame, filters: &[Filter]) -> Result<DataFrame, ReportError> {
    let mut out = frame.clone();
    for f in filters {
        let mask = f.mask(&out)?;
        out = out.filter(&mask)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs() -> DataFrame {
        df!(
            "run" => ["a", "b", "c", "d"],
            "train.learning_rate" => [Some(0.1), Some(0.01), Some(0.001), None],
            "train.optimizer.beta1" => [None, Some(0.9), Some(0.9), Some(0.9)],
            "train.optimizer.name" => ["sgd", "adam", "adamw", "adam"],
            "git_dirty" => [true, false, false, false],
        )
        .unwrap()
    }

    fn kept(filter: &str) -> Vec<String> {
        let f = Filter::parse(filter).unwrap();
        let out = apply(&runs(), &[f]).unwrap();
        out.column("run")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect()
    }

    #[test]
    fn operators_read_and_select() {
        assert_eq!(kept("train.learning_rate<=0.01"), ["b", "c"]);
        assert_eq!(kept("train.learning_rate>0.01"), ["a"]);
        assert_eq!(kept("train.learning_rate = 1e-3"), ["c"]);
        assert_eq!(kept("train.learning_rate!=0.1"), ["b", "c", "d"]);
        assert_eq!(kept("train.optimizer.name=adam"), ["b", "d"]);
        assert_eq!(kept("train.optimizer.name==\"adam\""), ["b", "d"]);
        assert_eq!(kept("train.optimizer.name~adam"), ["b", "c", "d"]);
        assert_eq!(kept("git_dirty=false"), ["b", "c", "d"]);
    }

    #[test]
    fn mistakes_are_explained() {
        let e = Filter::parse("train.learning_rate")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no operator"), "{e}");
        let f = Filter::parse("train.learnin_rate<1").unwrap();
        let e = apply(&runs(), &[f]).unwrap_err().to_string();
        assert!(e.contains("did you mean `train.learning_rate`"), "{e}");
        let e = apply(&runs(), &[Filter::parse("optimizer=adam").unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `train.optimizer.name`"), "{e}");
        let f = Filter::parse("train.learning_rate<big").unwrap();
        let e = apply(&runs(), &[f]).unwrap_err().to_string();
        assert!(e.contains("not one"), "{e}");
        let f = Filter::parse("train.optimizer.name<b").unwrap();
        let e = apply(&runs(), &[f]).unwrap_err().to_string();
        assert!(e.contains("holds text"), "{e}");
    }
}
