//! The `[sweep]` table of an experiment file and its expansion into trials.
//!
//! ```toml
//! [sweep]
//! name = "lr"                                   # folder under results/<experiment>/
//! seeds = [1, 2, 3]                             # every configuration once per seed
//! train.batch_size = [32, 64]                   # grid axes: every combination
//! [sweep.zip]                                   # lists that move together
//! train.optimizer = [{ name = "sgd", momentum = 0.9 }, { name = "adam" }]
//! train.learning_rate = [0.05, 1e-3]
//! [sweep.random]                                # `count` samples, drawn with `seed`
//! count = 8
//! model.dropout = { uniform = [0.0, 0.5] }      # also log_uniform, int (inclusive), choice
//! ```
//!
//! Trials are the grid product × the zip rows × the random samples, repeated for each seed
//! (seeds outermost, so the first seed of every configuration finishes first).

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use toml_edit::{Document, Item, Table, Value};

use super::ConfigError;
use super::lines::line_of;

/// One key set to one value in a trial, with the line of the file that asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub key: String,
    pub value: toml::Value,
    pub line: usize,
}

/// One configuration of a sweep before it is loaded: its position and its assignments.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialSpec {
    pub index: usize,
    pub assignments: Vec<Assignment>,
}

impl TrialSpec {
    /// `key=value` pairs of the swept keys (seed last), short enough for a table.
    pub fn label(&self) -> String {
        let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        let names: Vec<String> = self
            .assignments
            .iter()
            .map(|a| {
                let short = last(&a.key);
                let clash = self
                    .assignments
                    .iter()
                    .filter(|b| last(&b.key) == short)
                    .count()
                    > 1;
                if clash { a.key.clone() } else { short }
            })
            .collect();
        let mut parts: Vec<(String, String)> = self
            .assignments
            .iter()
            .zip(names)
            .map(|(a, n)| (n, compact(&a.value)))
            .collect();
        // The seed goes last: a label reads as "configuration, then repetition".
        parts.sort_by_key(|(n, _)| n == "seed");
        parts
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The label without the seed and the fold: the same for every repetition of a
    /// configuration, so that `compare` groups over seeds and folds.
    pub fn configuration(&self) -> String {
        let without = TrialSpec {
            index: self.index,
            assignments: self
                .assignments
                .iter()
                .filter(|a| a.key != "seed" && a.key != "data.fold")
                .cloned()
                .collect(),
        };
        without.label()
    }
}

/// A value on one line: strings bare, tables as `{k=v,...}`.
pub fn compact(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(t) => {
            // The tag (`name` of an optimizer, `kind` of a model or schedule) says the most.
            let mut entries: Vec<(&String, &toml::Value)> = t.iter().collect();
            entries.sort_by_key(|(k, _)| !matches!(k.as_str(), "name" | "kind"));
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        toml::Value::Array(a) => {
            let inner: Vec<String> = a.iter().map(compact).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// Where a sampled key's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    /// Whole numbers from low to high inclusive, every `step`-th.
    Int(i64, i64, i64),
    Choice(Vec<toml::Value>),
}

#[derive(Debug, Clone, PartialEq)]
struct Axis {
    key: String,
    values: Vec<toml::Value>,
    line: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Random {
    count: usize,
    seed: u64,
    dims: Vec<(String, Distribution, usize)>,
}

/// A parsed `[sweep]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub name: String,
    seeds: Option<(Vec<u64>, usize)>,
    /// `folds = k`: every configuration once per fold of k-fold cross-validation.
    folds: Option<(usize, usize)>,
    grid: Vec<Axis>,
    zip: Vec<Axis>,
    random: Option<Random>,
    /// `[sweep.search]`: trials proposed one by one instead of listed.
    pub search: Option<super::search::SearchSpec>,
}

/// `name`, `seeds` and `folds` of `[sweep]`.
fn read_name_seeds_folds(
    r: &Reader,
    table: &Table,
    spec: &mut SweepSpec,
) -> Result<(), ConfigError> {
    let span_of = |key: &str| {
        table
            .key(key)
            .and_then(|k| k.span())
            .or_else(|| table.get(key).and_then(|i| i.span()))
    };
    if let Some(name) = table.get("name") {
        let line = r.line(span_of("name"));
        let name = name
            .as_str()
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .ok_or_else(|| {
                r.err(
                    line,
                    "sweep.name",
                    "expected letters, digits, `-` or `_` (it names a folder)",
                )
            })?;
        spec.name = name.to_string();
    }
    if let Some(seeds) = table.get("seeds") {
        let line = r.line(span_of("seeds"));
        let list: Option<Vec<u64>> = seeds.as_array().and_then(|a| {
            a.iter()
                .map(|v| v.as_integer().and_then(|i| u64::try_from(i).ok()))
                .collect()
        });
        match list {
            Some(l) if !l.is_empty() => spec.seeds = Some((l, line)),
            _ => {
                return Err(r.err(
                    line,
                    "sweep.seeds",
                    "expected a non-empty list of whole numbers, e.g. [1, 2, 3]",
                ));
            }
        }
    }
    if let Some(folds) = table.get("folds") {
        let line = r.line(span_of("folds"));
        match folds.as_integer().and_then(|k| usize::try_from(k).ok()) {
            Some(k) if k >= 2 => spec.folds = Some((k, line)),
            _ => {
                return Err(r.err(
                    line,
                    "sweep.folds",
                    "expected a whole number of folds, at least 2, e.g. 5",
                ));
            }
        }
    }
    Ok(())
}

/// `[sweep.zip]`: lists that move together, equally long.
fn read_zip(r: &Reader, zip: &Item, line: usize) -> Result<Vec<Axis>, ConfigError> {
    let zip = match zip {
        Item::Table(t) => t.clone(),
        Item::Value(Value::InlineTable(t)) => t.clone().into_table(),
        _ => return Err(r.err(line, "sweep.zip", "expected a table of lists")),
    };
    let mut axes = Vec::new();
    r.axes(&zip, "", &mut axes)?;
    if let Some(first) = axes.first() {
        for axis in &axes[1..] {
            if axis.values.len() != first.values.len() {
                return Err(r.err(
                    axis.line,
                    &format!("sweep.zip.{}", axis.key),
                    format!(
                        "has {} values but `{}` has {}: lists in [sweep.zip] move together and must be equally long",
                        axis.values.len(),
                        first.key,
                        first.values.len()
                    ),
                ));
            }
        }
    }
    Ok(axes)
}

/// What a sweep's keys may not be: the name, the seed, a key swept twice; and a sweep must
/// sweep something.
fn check_keys(r: &Reader, spec: &SweepSpec, sweep_line: usize) -> Result<(), ConfigError> {
    let keys: Vec<&str> = spec.keys().collect();
    for (i, key) in keys.iter().enumerate() {
        if *key == "name" || *key == "seed" {
            return Err(r.err(
                sweep_line,
                &format!("sweep.{key}"),
                if *key == "seed" {
                    "sweep seeds with `seeds = [...]` in [sweep]"
                } else {
                    "the experiment's name cannot be swept: a sweep is one experiment"
                },
            ));
        }
        if let Some(other) = keys[..i].iter().find(|o| {
            o == &key || key.starts_with(&format!("{o}.")) || o.starts_with(&format!("{key}."))
        }) {
            return Err(r.err(
                sweep_line,
                &format!("sweep.{key}"),
                format!("is swept twice (also as `{other}`)"),
            ));
        }
    }
    if keys.is_empty() && spec.seeds.is_none() && spec.folds.is_none() {
        return Err(r.err(
            sweep_line,
            "sweep",
            "sweeps nothing: give lists of values to try, `seeds = [...]`, `folds = k`, [sweep.zip] or [sweep.random]",
        ));
    }
    Ok(())
}

pub(super) struct Reader<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Reader<'_> {
    pub(super) fn line(&self, item_span: Option<std::ops::Range<usize>>) -> usize {
        item_span.map_or(0, |s| line_of(self.text, s.start))
    }

    pub(super) fn err(&self, line: usize, key: &str, what: impl std::fmt::Display) -> ConfigError {
        let at = if line > 0 {
            format!("{}:{line}", self.file)
        } else {
            self.file.to_string()
        };
        ConfigError(format!("{at}: `{key}`: {what}"))
    }

    pub(super) fn value(
        &self,
        v: &Value,
        line: usize,
        key: &str,
    ) -> Result<toml::Value, ConfigError> {
        let raw = v
            .span()
            .and_then(|s| self.text.get(s))
            .ok_or_else(|| self.err(line, key, "cannot find this value in the file"))?;
        toml::from_str::<toml::Table>(&format!("v = {raw}\n"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| self.err(line, key, "cannot read this value"))
    }

    /// The leaves of `table` as dotted keys under `prefix`, each a list of values.
    fn axes(
        &self,
        table: &dyn TableLike,
        prefix: &str,
        out: &mut Vec<Axis>,
    ) -> Result<(), ConfigError> {
        for (key, span, node) in table.entries() {
            let path = format!("{prefix}{key}");
            let line = self.line(span);
            match node {
                Node::Table(t) => self.axes(t.as_ref(), &format!("{path}."), out)?,
                Node::Value(Value::Array(a)) => {
                    if a.is_empty() {
                        return Err(self.err(line, &path, "an empty list gives no trials"));
                    }
                    let values = a
                        .iter()
                        .map(|v| self.value(v, line, &path))
                        .collect::<Result<_, _>>()?;
                    out.push(Axis {
                        key: path,
                        values,
                        line,
                    });
                }
                Node::Value(_) => {
                    return Err(self.err(
                        line,
                        &path,
                        "expected a list of values to try, e.g. [1e-3, 1e-2]",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A `[table]` or an inline `{ table }`, walked in the order it was written.
pub(super) trait TableLike {
    fn entries(&self) -> Vec<(String, Option<std::ops::Range<usize>>, Node<'_>)>;
}

pub(super) enum Node<'a> {
    Table(Box<dyn TableLike + 'a>),
    Value(&'a Value),
}

impl TableLike for Table {
    fn entries(&self) -> Vec<(String, Option<std::ops::Range<usize>>, Node<'_>)> {
        self.iter()
            .filter_map(|(k, item)| {
                let span = self.key(k).and_then(|k| k.span()).or_else(|| item.span());
                let node = match item {
                    Item::Table(t) => Node::Table(Box::new(t.clone())),
                    Item::Value(Value::InlineTable(t)) => Node::Table(Box::new(t.clone())),
                    Item::Value(v) => Node::Value(v),
                    _ => return None,
                };
                Some((k.to_string(), span, node))
            })
            .collect()
    }
}

impl TableLike for toml_edit::InlineTable {
    fn entries(&self) -> Vec<(String, Option<std::ops::Range<usize>>, Node<'_>)> {
        self.iter()
            .map(|(k, v)| {
                let span = self.key(k).and_then(|k| k.span()).or_else(|| v.span());
                let node = match v {
                    Value::InlineTable(t) => Node::Table(Box::new(t.clone())),
                    v => Node::Value(v),
                };
                (k.to_string(), span, node)
            })
            .collect()
    }
}

/// The top-level `backends` list as a sweep axis over `backend`.
fn backends_axis(r: &Reader, doc: &Document<&str>) -> Result<Option<Axis>, ConfigError> {
    let Some(item) = doc.as_table().get("backends") else {
        return Ok(None);
    };
    let line = r.line(doc.as_table().key("backends").and_then(|k| k.span()));
    let list = item
        .as_array()
        .filter(|a| !a.is_empty() && a.iter().all(|v| v.as_str().is_some()))
        .ok_or_else(|| {
            r.err(
                line,
                "backends",
                "expected a list of backends, e.g. [\"flex\", \"tch\", \"wgpu\"]",
            )
        })?;
    let values = list
        .iter()
        .map(|v| r.value(v, line, "backends"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Axis {
        key: "backend".into(),
        values,
        line,
    }))
}

/// The value of `--set backends=...` as a sweep axis: `flex,tch` as well as `["flex", "tch"]`,
/// like other bare --set strings.
fn backends_from_set(raw: &str) -> Result<Option<Axis>, ConfigError> {
    let list = if raw.starts_with('[') {
        raw.to_string()
    } else {
        let names: Vec<String> = raw.split(',').map(|b| format!("{:?}", b.trim())).collect();
        format!("[{}]", names.join(", "))
    };
    let text = format!("backends = {list}\n");
    let doc = Document::parse(text.as_str()).map_err(|e| {
        ConfigError(format!(
            "--set backends={raw}: expected a list of backends, e.g. [\"flex\", \"tch\", \"wgpu\"]: {}",
            e.message()
        ))
    })?;
    let set = Reader {
        file: "--set backends",
        text: &text,
    };
    // Line 0: the axis comes from the command line, not from a line of the file.
    Ok(backends_axis(&set, &doc)?.map(|axis| Axis { line: 0, ..axis }))
}

pub(crate) const RESERVED: &[&str] = &["name", "seeds", "folds", "zip", "random", "search"];
const DISTRIBUTIONS: &[&str] = &["uniform", "log_uniform", "int", "choice"];

impl SweepSpec {
    /// What `doc` sweeps: its `[sweep]` table and its `backends` list, if any. `set_backends`,
    /// the value of `--set backends=[...]`, stands in for the file's list, so that any
    /// experiment can be run across backends without editing it.
    pub fn parse(
        file: &str,
        text: &str,
        doc: &Document<&str>,
        set_backends: Option<&str>,
    ) -> Result<Option<Self>, ConfigError> {
        let r = Reader { file, text };
        let backends = match set_backends {
            None => backends_axis(&r, doc)?,
            Some(raw) => backends_from_set(raw)?,
        };
        let spec = Self::parse_table(file, text, doc)?;
        Ok(match (spec, backends) {
            (spec, None) => spec,
            (None, Some(axis)) => Some(SweepSpec {
                name: "backends".into(),
                seeds: None,
                folds: None,
                grid: vec![axis],
                zip: Vec::new(),
                random: None,
                search: None,
            }),
            (Some(spec), Some(axis)) if spec.search.is_some() => {
                return Err(r.err(
                    axis.line,
                    "backends",
                    "a [sweep.search] runs on one backend; set `backend` instead",
                ));
            }
            (Some(mut spec), Some(axis)) => {
                if spec.keys().any(|k| k == "backend") {
                    return Err(r.err(
                        axis.line,
                        "backends",
                        "the [sweep] sweeps `backend` too; keep one of them",
                    ));
                }
                // Outermost, so that each backend's trials sit together.
                spec.grid.insert(0, axis);
                Some(spec)
            }
        })
    }

    /// Whether trials are drawn at random, where a repeated draw is chance, not a mistake.
    pub fn is_random(&self) -> bool {
        self.random.is_some()
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.grid
            .iter()
            .chain(&self.zip)
            .map(|a| a.key.as_str())
            .chain(
                self.random
                    .iter()
                    .flat_map(|r| r.dims.iter().map(|d| d.0.as_str())),
            )
    }

    /// The `[sweep]` table of `doc`, if there is one.
    fn parse_table(
        file: &str,
        text: &str,
        doc: &Document<&str>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(item) = doc.as_table().get("sweep") else {
            return Ok(None);
        };
        let r = Reader { file, text };
        let sweep_line = r.line(doc.as_table().key("sweep").and_then(|k| k.span()));
        if item.as_table_like().is_none() {
            return Err(r.err(sweep_line, "sweep", "expected a table of keys to sweep"));
        }
        let mut spec = SweepSpec {
            name: "sweep".into(),
            seeds: None,
            folds: None,
            grid: Vec::new(),
            zip: Vec::new(),
            random: None,
            search: None,
        };
        let owned: Table = match item {
            Item::Table(t) => t.clone(),
            Item::Value(Value::InlineTable(t)) => t.clone().into_table(),
            _ => return Err(r.err(sweep_line, "sweep", "expected a table")),
        };
        let span_of = |key: &str| {
            owned
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| owned.get(key).and_then(|i| i.span()))
        };
        read_name_seeds_folds(&r, &owned, &mut spec)?;
        let mut grid_table = owned.clone();
        for key in RESERVED {
            grid_table.remove(key);
        }
        r.axes(&grid_table, "", &mut spec.grid)?;
        if let Some(zip) = owned.get("zip") {
            spec.zip = read_zip(&r, zip, r.line(span_of("zip")))?;
        }
        if let Some(random) = owned.get("random") {
            let line = r.line(span_of("random"));
            let random = match random {
                Item::Table(t) => t.clone(),
                Item::Value(Value::InlineTable(t)) => t.clone().into_table(),
                _ => return Err(r.err(line, "sweep.random", "expected a table")),
            };
            spec.random = Some(parse_random(&r, &random, line)?);
        }
        if let Some(search) = owned.get("search") {
            let line = r.line(span_of("search"));
            let table = super::search::as_table(search)
                .ok_or_else(|| r.err(line, "sweep.search", "expected a table"))?;
            if let Some(other) = ["seeds", "folds", "zip", "random"]
                .iter()
                .find(|k| owned.contains_key(k))
                .map(|k| k.to_string())
                .or_else(|| spec.grid.first().map(|a| a.key.clone()))
            {
                return Err(r.err(
                    line,
                    "sweep.search",
                    format!(
                        "a search proposes its own trials; `sweep.{other}` cannot go with it (search it in [sweep.search] instead)"
                    ),
                ));
            }
            spec.search = Some(super::search::parse(&r, &table, line)?);
            return Ok(Some(spec));
        }
        check_keys(&r, &spec, sweep_line)?;
        Ok(Some(spec))
    }

    /// Every trial, in the order they run.
    pub fn expand(&self) -> Vec<TrialSpec> {
        let mut configs: Vec<Vec<Assignment>> = vec![Vec::new()];
        for axis in &self.grid {
            configs = configs
                .into_iter()
                .flat_map(|c| {
                    axis.values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(Assignment {
                            key: axis.key.clone(),
                            value: v.clone(),
                            line: axis.line,
                        });
                        c
                    })
                })
                .collect();
        }
        let mut rows: Vec<Vec<Assignment>> = Vec::new();
        if let Some(first) = self.zip.first() {
            for i in 0..first.values.len() {
                rows.push(
                    self.zip
                        .iter()
                        .map(|a| Assignment {
                            key: a.key.clone(),
                            value: a.values[i].clone(),
                            line: a.line,
                        })
                        .collect(),
                );
            }
            configs = cross(&configs, &rows);
        }
        if let Some(random) = &self.random {
            configs = cross(&configs, &random.samples());
        }
        let int = |key: &str, value: usize, line: usize| Assignment {
            key: key.into(),
            value: toml::Value::Integer(value as i64),
            line,
        };
        let seeds: Vec<Vec<Assignment>> = match &self.seeds {
            Some((s, line)) => s
                .iter()
                .map(|&s| vec![int("seed", s as usize, *line)])
                .collect(),
            None => vec![Vec::new()],
        };
        let folds: Vec<Vec<Assignment>> = match self.folds {
            Some((k, line)) => (0..k)
                .map(|f| vec![int("data.folds", k, line), int("data.fold", f, line)])
                .collect(),
            None => vec![Vec::new()],
        };
        // Seeds outermost, then folds, then configurations; each trial's own values first.
        cross(&seeds, &folds)
            .iter()
            .flat_map(|repetition| configs.iter().map(move |c| [&c[..], repetition].concat()))
            .enumerate()
            .map(|(index, assignments)| TrialSpec { index, assignments })
            .collect()
    }
}

fn cross(a: &[Vec<Assignment>], b: &[Vec<Assignment>]) -> Vec<Vec<Assignment>> {
    a.iter()
        .flat_map(|x| {
            b.iter().map(move |y| {
                let mut c = x.clone();
                c.extend(y.iter().cloned());
                c
            })
        })
        .collect()
}

fn parse_random(r: &Reader, table: &Table, line: usize) -> Result<Random, ConfigError> {
    let count = table
        .get("count")
        .and_then(|c| c.as_integer())
        .filter(|&c| c >= 1)
        .ok_or_else(|| {
            r.err(
                line,
                "sweep.random.count",
                "expected the number of samples, at least 1",
            )
        })? as usize;
    let seed = match table.get("seed") {
        None => 0,
        Some(s) => s
            .as_integer()
            .and_then(|s| u64::try_from(s).ok())
            .ok_or_else(|| r.err(line, "sweep.random.seed", "expected a whole number"))?,
    };
    let mut dims = Vec::new();
    collect_dims(r, table, "", &mut dims, true)?;
    if dims.is_empty() {
        return Err(r.err(
            line,
            "sweep.random",
            "samples nothing: add keys such as train.learning_rate = { log_uniform = [1e-4, 1e-2] }",
        ));
    }
    Ok(Random { count, seed, dims })
}

fn collect_dims(
    r: &Reader,
    table: &dyn TableLike,
    prefix: &str,
    out: &mut Vec<(String, Distribution, usize)>,
    top: bool,
) -> Result<(), ConfigError> {
    for (key, span, node) in table.entries() {
        if top && (key == "count" || key == "seed") {
            continue;
        }
        let path = format!("{prefix}{key}");
        let line = r.line(span);
        let full = format!("sweep.random.{path}");
        let Node::Table(t) = node else {
            return Err(r.err(
                line,
                &full,
                "expected a distribution: { uniform = [lo, hi] }, { log_uniform = [lo, hi] }, { int = [lo, hi] } or { choice = [...] }",
            ));
        };
        let entries = t.entries();
        let dist = entries
            .iter()
            .find(|(k, _, _)| DISTRIBUTIONS.contains(&k.as_str()));
        match dist {
            None => collect_dims(r, t.as_ref(), &format!("{path}."), out, false)?,
            Some((kind, _, Node::Value(Value::Array(a)))) if entries.len() == 1 => {
                let values: Vec<toml::Value> = a
                    .iter()
                    .map(|v| r.value(v, line, &full))
                    .collect::<Result<_, _>>()?;
                let d = distribution(r, kind, &values, 1, line, &full)?;
                out.push((path, d, line));
            }
            Some(_) => {
                return Err(r.err(
                    line,
                    &full,
                    "expected exactly one of uniform, log_uniform, int or choice, with a list",
                ));
            }
        }
    }
    Ok(())
}

/// The distribution `kind` (uniform, log_uniform, int or choice) over `values`; `step`
/// spaces an `int`'s values.
pub(super) fn distribution(
    r: &Reader,
    kind: &str,
    values: &[toml::Value],
    step: i64,
    line: usize,
    full: &str,
) -> Result<Distribution, ConfigError> {
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let pair = || -> Option<(f64, f64)> {
        match values {
            [a, b] => Some((num(a)?, num(b)?)).filter(|(a, b)| a < b),
            _ => None,
        }
    };
    let bad = |what: &str| r.err(line, full, format!("{kind}: {what}"));
    Ok(match kind {
        "uniform" => pair()
            .map(|(a, b)| Distribution::Uniform(a, b))
            .ok_or_else(|| bad("expected [low, high] with low < high"))?,
        "log_uniform" => pair()
            .filter(|(a, _)| *a > 0.0)
            .map(|(a, b)| Distribution::LogUniform(a, b))
            .ok_or_else(|| bad("expected [low, high] with 0 < low < high"))?,
        "int" => match values {
            [toml::Value::Integer(a), toml::Value::Integer(b)] if a <= b => {
                if (b - a) % step != 0 {
                    return Err(bad(&format!(
                        "high - low ({}) is not a multiple of step {step}",
                        b - a
                    )));
                }
                Distribution::Int(*a, *b, step)
            }
            _ => return Err(bad("expected [low, high], whole numbers, low <= high")),
        },
        _ => {
            if values.is_empty() {
                return Err(bad("expected a non-empty list"));
            }
            Distribution::Choice(values.to_vec())
        }
    })
}

/// Four significant digits: sampled learning rates stay readable in labels and tables.
pub fn round4(v: f64) -> f64 {
    format!("{v:.3e}").parse().unwrap_or(v)
}

impl Random {
    fn samples(&self) -> Vec<Vec<Assignment>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        (0..self.count)
            .map(|_| {
                self.dims
                    .iter()
                    .map(|(key, d, line)| {
                        let value = match d {
                            Distribution::Uniform(a, b) => {
                                toml::Value::Float(round4(a + (b - a) * rng.random::<f64>()))
                            }
                            Distribution::LogUniform(a, b) => {
                                let (la, lb) = (a.ln(), b.ln());
                                toml::Value::Float(round4(
                                    (la + (lb - la) * rng.random::<f64>()).exp(),
                                ))
                            }
                            Distribution::Int(a, b, step) => toml::Value::Integer(
                                a + step * rng.random_range(0..=(b - a) / step),
                            ),
                            Distribution::Choice(values) => {
                                values[rng.random_range(0..values.len())].clone()
                            }
                        };
                        Assignment {
                            key: key.clone(),
                            value,
                            line: *line,
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sweep: &str) -> Result<Option<SweepSpec>, ConfigError> {
        let text = format!("name = \"x\"\n{sweep}");
        let doc = Document::parse(text.as_str()).unwrap();
        SweepSpec::parse("exp.toml", &text, &doc, None)
    }

    fn labels(sweep: &str) -> Vec<String> {
        spec(sweep)
            .unwrap()
            .unwrap()
            .expand()
            .iter()
            .map(TrialSpec::label)
            .collect()
    }

    #[test]
    fn grid_is_the_product_in_written_order() {
        let l =
            labels("[sweep]\ntrain.learning_rate = [0.1, 0.01]\nmodel.hidden = [[64], [128]]\n");
        assert_eq!(
            l,
            [
                "learning_rate=0.1 hidden=[64]",
                "learning_rate=0.1 hidden=[128]",
                "learning_rate=0.01 hidden=[64]",
                "learning_rate=0.01 hidden=[128]",
            ]
        );
        let l = labels("[sweep.train]\nbatch_size = [32, 64]\n");
        assert_eq!(l, ["batch_size=32", "batch_size=64"]);
    }

    #[test]
    fn zip_moves_lists_together_and_crosses_the_grid() {
        let l = labels(
            "[sweep]\ntrain.epochs = [1, 2]\n[sweep.zip]\ntrain.optimizer = [{ name = \"sgd\", momentum = 0.9 }, { name = \"adam\" }]\ntrain.learning_rate = [0.05, 1e-3]\n",
        );
        assert_eq!(
            l,
            [
                "epochs=1 optimizer={name=sgd,momentum=0.9} learning_rate=0.05",
                "epochs=1 optimizer={name=adam} learning_rate=0.001",
                "epochs=2 optimizer={name=sgd,momentum=0.9} learning_rate=0.05",
                "epochs=2 optimizer={name=adam} learning_rate=0.001",
            ]
        );
        let e = spec("[sweep.zip]\na.b = [1, 2]\na.c = [1]\n")
            .unwrap_err()
            .0;
        assert!(
            e.contains("exp.toml:4") && e.contains("equally long"),
            "{e}"
        );
    }

    #[test]
    fn folds_run_every_configuration_once_per_fold_and_group_together() {
        let trials = spec("[sweep]\nfolds = 3\ntrain.epochs = [1, 2]\n")
            .unwrap()
            .unwrap()
            .expand();
        assert_eq!(trials.len(), 6);
        let labels: Vec<String> = trials.iter().map(|t| t.label()).collect();
        assert_eq!(labels[0], "epochs=1 folds=3 fold=0");
        assert_eq!(labels[5], "epochs=2 folds=3 fold=2");
        let configurations: std::collections::BTreeSet<String> =
            trials.iter().map(|t| t.configuration()).collect();
        assert_eq!(configurations.len(), 2, "{configurations:?}");
        for bad in ["folds = 1", "folds = \"5\"", "folds = -2"] {
            let e = spec(&format!("[sweep]\n{bad}\n")).unwrap_err().0;
            assert!(e.contains("sweep.folds"), "{e}");
        }
    }

    #[test]
    fn seeds_repeat_every_configuration_outermost() {
        let trials = spec("[sweep]\nseeds = [7, 8]\ntrain.epochs = [1, 2]\n")
            .unwrap()
            .unwrap()
            .expand();
        let l: Vec<String> = trials.iter().map(TrialSpec::label).collect();
        assert_eq!(
            l,
            [
                "epochs=1 seed=7",
                "epochs=2 seed=7",
                "epochs=1 seed=8",
                "epochs=2 seed=8"
            ]
        );
        assert_eq!(trials[3].index, 3);
        assert_eq!(trials[3].configuration(), "epochs=2");
        assert_eq!(labels("[sweep]\nseeds = [1, 2, 3]\n").len(), 3);
    }

    #[test]
    fn random_samples_are_in_range_and_fixed_by_their_seed() {
        let text = "[sweep.random]\ncount = 20\nseed = 5\ntrain.learning_rate = { log_uniform = [1e-4, 1e-1] }\nmodel.dropout = { uniform = [0.1, 0.5] }\ntrain.batch_size = { int = [16, 18] }\nmodel.activation = { choice = [\"relu\", \"tanh\"] }\n";
        let a = spec(text).unwrap().unwrap().expand();
        let b = spec(text).unwrap().unwrap().expand();
        assert_eq!(a, b, "the same seed gives the same samples");
        assert_eq!(a.len(), 20);
        let other = spec(&text.replace("seed = 5", "seed = 6"))
            .unwrap()
            .unwrap()
            .expand();
        assert_ne!(a, other);
        let mut batch_sizes = std::collections::BTreeSet::new();
        let mut decades = std::collections::BTreeSet::new();
        for t in &a {
            let get = |k: &str| {
                t.assignments
                    .iter()
                    .find(|x| x.key == k)
                    .unwrap()
                    .value
                    .clone()
            };
            let lr = get("train.learning_rate").as_float().unwrap();
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
            decades.insert(lr.log10().floor() as i32);
            let p = get("model.dropout").as_float().unwrap();
            assert!((0.1..=0.5).contains(&p), "{p}");
            batch_sizes.insert(get("train.batch_size").as_integer().unwrap());
            assert!(["relu", "tanh"].contains(&get("model.activation").as_str().unwrap()));
        }
        assert_eq!(batch_sizes.into_iter().collect::<Vec<_>>(), [16, 17, 18]);
        assert!(
            decades.len() >= 3,
            "log-uniform covers the decades: {decades:?}"
        );
    }

    #[test]
    fn set_backends_replaces_the_files_list() {
        let text = "backends = [\"flex\", \"tch\"]\n";
        let doc = Document::parse(text).unwrap();
        for set in ["[\"wgpu\", \"flex\"]", "wgpu, flex"] {
            let s = SweepSpec::parse("exp.toml", text, &doc, Some(set))
                .unwrap()
                .unwrap();
            let labels: Vec<String> = s.expand().iter().map(|t| t.label()).collect();
            assert_eq!(labels, ["backend=wgpu", "backend=flex"], "{set}");
        }
        let e = SweepSpec::parse("exp.toml", text, &doc, Some("[1, 2]"))
            .unwrap_err()
            .0;
        assert!(
            e.contains("--set backends") && e.contains("list of backends"),
            "{e}"
        );
    }

    #[test]
    fn a_backends_list_is_a_sweep_over_the_backend() {
        let l = labels("backends = [\"flex\", \"tch\"]\n");
        assert_eq!(l, ["backend=flex", "backend=tch"]);
        let s = spec("backends = [\"flex\", \"wgpu\"]\n").unwrap().unwrap();
        assert_eq!(s.name, "backends");
        let l = labels(
            "backends = [\"flex\", \"tch\"]\n[sweep]\nseeds = [1, 2]\ntrain.epochs = [1, 2]\n",
        );
        assert_eq!(
            l[..3],
            [
                "backend=flex epochs=1 seed=1",
                "backend=flex epochs=2 seed=1",
                "backend=tch epochs=1 seed=1"
            ]
        );
        let e = spec("backends = \"flex\"\n").unwrap_err().0;
        assert!(
            e.contains("exp.toml:2") && e.contains("list of backends"),
            "{e}"
        );
        let e = spec("backends = [\"flex\"]\n[sweep]\nbackend = [\"tch\"]\n")
            .unwrap_err()
            .0;
        assert!(e.contains("keep one"), "{e}");
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let e = spec("[sweep]\ntrain.epochs = 3\n").unwrap_err().0;
        assert!(
            e.contains("exp.toml:3") && e.contains("`train.epochs`") && e.contains("list"),
            "{e}"
        );
        let e = spec("[sweep]\nseeds = [-1]\n").unwrap_err().0;
        assert!(e.contains("sweep.seeds"), "{e}");
        let e = spec("[sweep.random]\ncount = 2\nx = { uniform = [1, 0] }\n")
            .unwrap_err()
            .0;
        assert!(e.contains("exp.toml:4") && e.contains("low < high"), "{e}");
        let e = spec("[sweep]\ntrain.epochs = [1]\n[sweep.zip]\ntrain.epochs = [2]\n")
            .unwrap_err()
            .0;
        assert!(e.contains("swept twice"), "{e}");
        let e = spec("[sweep]\nname = \"a b\"\nseeds = [1]\n")
            .unwrap_err()
            .0;
        assert!(e.contains("sweep.name"), "{e}");
        let e = spec("[sweep]\n").unwrap_err().0;
        assert!(e.contains("sweeps nothing"), "{e}");
        assert!(spec("[data]\nx = 1\n").unwrap().is_none());
    }
}
