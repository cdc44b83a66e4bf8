//! Loading an experiment: the TOML file, then `KILN_*` environment variables, then `--set`
//! arguments, each overriding the one before. Every error names where the bad value came
//! from: the file and line, the variable, or the argument.

use std::ops::Range;
use std::path::Path;

use figment::error::Actual;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Metadata, Provider};
use kiln_models::Invalid;
use toml_edit::{Document, Item, Table, Value};

use super::lines::line_of;
use super::search::SearchSpec;
use super::sweep::{Assignment, SweepSpec, TrialSpec, compact};
use super::{Experiment, LoadedExperiment};
use crate::config::schema::{TOP_LEVEL_KEYS, did_you_mean};

/// Environment variables with this prefix override keys; `__` separates nesting levels,
/// e.g. `KILN_TRAIN__EPOCHS=3` sets `train.epochs` and `KILN_DATASETS` sets `datasets`.
pub const ENV_PREFIX: &str = "KILN_";

/// Whether the environment variable `name` overrides a key. A nested name (with `__`) always
/// does, so a typo in it is an error rather than silently ignored; a flat name only when it
/// is a top-level key, so unrelated `KILN_*` variables of other tools pass by.
fn is_override(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
        return false;
    };
    rest.contains("__") || TOP_LEVEL_KEYS.contains(&rest.to_lowercase().as_str())
}

/// A bad experiment, explained for a person.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub fn load(file: &Path, sets: &[String]) -> Result<LoadedExperiment, ConfigError> {
    match plan(file, sets)? {
        Plan::Single(loaded) => Ok(*loaded),
        Plan::Sweep(sweep) => Err(ConfigError(format!(
            "{}: has a [sweep] of {} trials; run it with `kiln run`, or list them with `kiln run --dry-run`",
            file.display(),
            sweep.trials.len()
        ))),
        Plan::Search(search) => Err(ConfigError(format!(
            "{}: has a [sweep.search] named `{}`; run it with `kiln run`",
            file.display(),
            search.name
        ))),
    }
}

/// What an experiment file asks for: one run, or a sweep of trials.
#[derive(Debug, Clone)]
pub enum Plan {
    Single(Box<LoadedExperiment>),
    Sweep(Sweep),
    Search(Box<Search>),
}

/// A `[sweep.search]`: its space and settings, and what loads a trial from its values.
#[derive(Debug, Clone)]
pub struct Search {
    pub name: String,
    pub spec: SearchSpec,
    /// The file with the space's first values, checked like any trial.
    pub base: LoadedExperiment,
    file: std::path::PathBuf,
    text: String,
    sets: Vec<String>,
}

impl Search {
    /// The experiment of a trial with these values, checked as any file is.
    pub fn load(&self, values: &[(String, toml::Value)]) -> Result<LoadedExperiment, ConfigError> {
        let doc = Document::parse(self.text.as_str())
            .map_err(|e| ConfigError(format!("{}: {}", self.file.display(), e.message())))?;
        let source = Source {
            file: &self.file,
            text: &self.text,
            doc: &doc,
        };
        let assignments: Vec<Assignment> = values
            .iter()
            .map(|(key, value)| Assignment {
                key: key.clone(),
                line: self
                    .spec
                    .params
                    .iter()
                    .find(|p| &p.key == key)
                    .map_or(self.spec.line, |p| p.line),
                value: value.clone(),
            })
            .collect();
        source.load(&self.sets, &assignments)
    }

    /// Value sets that between them give every key its extremes and every choice once, each
    /// loaded before anything runs, so a value the schema refuses is found at once.
    fn probes(&self) -> Vec<Vec<(String, toml::Value)>> {
        use super::sweep::Distribution as D;
        let extremes = |d: &D| -> Vec<toml::Value> {
            match d {
                D::Uniform(a, b) | D::LogUniform(a, b) => {
                    vec![toml::Value::Float(*a), toml::Value::Float(*b)]
                }
                D::Int(a, b, _) => vec![toml::Value::Integer(*a), toml::Value::Integer(*b)],
                D::Choice(v) => v.clone(),
            }
        };
        let params = &self.spec.params;
        let mut out = Vec::new();
        for (i, p) in params.iter().enumerate() {
            for v in extremes(&p.distribution) {
                let mut chosen: Vec<(String, toml::Value)> = Vec::new();
                for (j, q) in params.iter().enumerate() {
                    let value = if i == j {
                        v.clone()
                    } else {
                        extremes(&q.distribution).swap_remove(0)
                    };
                    chosen.push((q.key.clone(), value));
                }
                // A conditional key is set only where its condition holds.
                let active: Vec<(String, toml::Value)> = chosen
                    .iter()
                    .filter(|(key, _)| {
                        let q = params.iter().find(|q| &q.key == key).expect("a param");
                        q.when.as_ref().is_none_or(|c| {
                            chosen
                                .iter()
                                .any(|(k, val)| k == &c.key && c.values.contains(val))
                        })
                    })
                    .cloned()
                    .collect();
                if !out.contains(&active) {
                    out.push(active);
                }
            }
        }
        out
    }
}

/// A `[sweep]` expanded and every trial loaded and checked.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    pub trials: Vec<Trial>,
}

#[derive(Debug, Clone)]
pub struct Trial {
    pub spec: TrialSpec,
    pub loaded: LoadedExperiment,
}

/// Reads `file` with its overrides; a `[sweep]` is expanded and each trial loaded, so that a
/// bad value in any trial is refused before the first one runs.
pub fn plan(file: &Path, sets: &[String]) -> Result<Plan, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError(format!(
            "{}: cannot read the experiment file: {e}",
            file.display()
        ))
    })?;
    let doc = Document::parse(text.as_str()).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!(":{}", line_of(&text, s.start)))
            .unwrap_or_default();
        ConfigError(format!(
            "{}{at}: not valid TOML: {}",
            file.display(),
            e.message()
        ))
    })?;
    let source = Source {
        file,
        text: &text,
        doc: &doc,
    };
    let shown = file.display().to_string();
    let (set_backends, sets): (Vec<&String>, Vec<&String>) = sets.iter().partition(|s| {
        s.split_once('=')
            .is_some_and(|(k, _)| k.trim() == "backends")
    });
    let sets: Vec<String> = sets.into_iter().cloned().collect();
    if let Some(set) = sets.iter().find(|s| {
        s.split_once('=')
            .is_some_and(|(k, _)| k.trim() == "sweep" || k.trim().starts_with("sweep."))
    }) {
        return Err(ConfigError(format!(
            "--set {set}: the [sweep] table is read from the file with its lines; edit it there (or in a copy of the file)"
        )));
    }
    let set_backends = set_backends
        .last()
        .and_then(|s| s.split_once('='))
        .map(|(_, v)| v.trim());
    let Some(spec) = SweepSpec::parse(&shown, &text, &doc, set_backends)? else {
        return source.load(&sets, &[]).map(|l| Plan::Single(Box::new(l)));
    };
    let set_keys: Vec<String> = sets
        .iter()
        .filter_map(|s| s.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect();
    if let Some(space) = spec.search {
        return plan_search(&source, spec.name, space, sets, &set_keys);
    }
    let trials = spec
        .expand()
        .into_iter()
        .map(|t| {
            if let Some(a) = t.assignments.iter().find(|a| overlaps(&set_keys, &a.key)) {
                return Err(ConfigError(format!(
                    "{shown}:{}: `{}` is swept by [sweep] and also given with --set; drop one of them",
                    a.line, a.key
                )));
            }
            let loaded = source.load(&sets, &t.assignments).map_err(|e| {
                ConfigError(format!(
                    "sweep trial {} ({}): {}",
                    t.index + 1,
                    t.label(),
                    e.0
                ))
            })?;
            Ok(Trial { spec: t, loaded })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !spec.is_random() {
        no_repeated_trials(&trials, &shown)?;
    }
    Ok(Plan::Sweep(Sweep {
        name: spec.name,
        trials,
    }))
}

/// A `[sweep.search]`: its space loaded at its extremes and every choice before anything
/// runs, so that a bad value is refused now, naming the search.
fn plan_search(
    source: &Source,
    name: String,
    space: super::search::SearchSpec,
    sets: Vec<String>,
    set_keys: &[String],
) -> Result<Plan, ConfigError> {
    let shown = source.file.display().to_string();
    if let Some(p) = space.params.iter().find(|p| overlaps(set_keys, &p.key)) {
        return Err(ConfigError(format!(
            "{shown}:{}: `{}` is searched by [sweep.search] and also given with --set; drop one of them",
            p.line, p.key
        )));
    }
    let mut search = Search {
        name,
        spec: space,
        base: source.load(&sets, &[])?,
        file: source.file.to_path_buf(),
        text: source.text.to_string(),
        sets,
    };
    for (i, values) in search.probes().into_iter().enumerate() {
        let loaded = search.load(&values).map_err(|e| {
            let shown: Vec<String> = values
                .iter()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect();
            ConfigError(format!("sweep.search with {}: {}", shown.join(" "), e.0))
        })?;
        if i == 0 {
            search.base = loaded;
        }
    }
    if let super::search::Pruner::Pbt { interval, .. } = search.spec.pruner {
        let epochs = search.base.experiment.train.epochs;
        if interval >= epochs {
            return Err(ConfigError(format!(
                "{shown}:{}: sweep.search.interval: {interval} epochs between exploits, but trials train {epochs} epochs; use an interval below train.epochs",
                search.spec.line
            )));
        }
    }
    Ok(Plan::Search(Box::new(search)))
}

/// Whether a `--set` key names `key`, a table above it or a key inside it.
fn overlaps(set_keys: &[String], key: &str) -> bool {
    set_keys
        .iter()
        .any(|k| k == key || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}.")))
}

// Two equal trials would share one digest, so the second would never run: a list that
// repeats a value is a mistake to point at, not to run around. (Random draws may repeat
// by chance; the repeat is then simply done once.)
fn no_repeated_trials(trials: &[Trial], shown: &str) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashMap::new();
    for (i, t) in trials.iter().enumerate() {
        let key = (t.spec.label(), t.loaded.experiment.seed);
        if let Some(first) = seen.insert(key, i) {
            return Err(ConfigError(format!(
                "{shown}: sweep trials {} and {} are the same ({}, seed {}); a list repeats a value",
                first + 1,
                i + 1,
                t.spec.label(),
                t.loaded.experiment.seed
            )));
        }
    }
    Ok(())
}

/// A swept value as a figment provider, so that errors name the sweep's line.
struct SweptValue<'a> {
    assignment: &'a Assignment,
    origin: String,
}

impl Provider for SweptValue<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.assignment.key, &self.assignment.value).data()
    }
}

/// Metadata names of swept values start with this; errors print them as they are.
const SWEPT: &str = "[sweep] at ";

/// `key=value`, the value read as a TOML value (`3`, `1e-3`, `true`, `[64, 32]`, `"adam"`)
/// or else taken as a bare string.
fn parse_set(set: &str) -> Result<(String, toml::Value), ConfigError> {
    let Some((key, raw)) = set.split_once('=') else {
        return Err(ConfigError(format!(
            "--set {set}: expected KEY=VALUE, e.g. --set train.epochs=3"
        )));
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(ConfigError(format!(
            "--set {set}: `{key}` is not a dotted key like train.epochs"
        )));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    Ok((key.to_string(), value))
}

struct Source<'a> {
    file: &'a Path,
    text: &'a str,
    doc: &'a Document<&'a str>,
}

impl Source<'_> {
    fn load(&self, sets: &[String], swept: &[Assignment]) -> Result<LoadedExperiment, ConfigError> {
        let env = Env::prefixed(ENV_PREFIX)
            .filter_map(|key| {
                is_override(&format!("{ENV_PREFIX}{key}"))
                    .then(|| key.as_str().to_lowercase().into())
            })
            .split("__");
        let env_overrides: Vec<String> = std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| is_override(k))
            .collect();
        let mut figment = Figment::from(Toml::string(self.text)).merge(env);
        for set in sets {
            let (key, value) = parse_set(set)?;
            figment = figment.merge(Serialized::default(&key, value));
        }
        for assignment in swept {
            figment = figment.merge(SweptValue {
                assignment,
                origin: if assignment.line == 0 {
                    format!("{SWEPT}--set backends")
                } else {
                    format!("{SWEPT}{}:{}", self.file.display(), assignment.line)
                },
            });
        }
        let described = |errors: figment::Error| {
            let lines: Vec<String> = errors
                .into_iter()
                .map(|e| self.describe(&figment, &e))
                .collect();
            ConfigError(lines.join("\n"))
        };
        let mut experiment: Experiment = figment.extract().map_err(described)?;
        // The task first: a wrong pairing of task, model and dataset explains the other
        // complaints. Then its `[generation]`, typed and with its defaults.
        let task = super::spec::spec_named(&experiment)
            .map_err(|invalid| self.invalid(&figment, &invalid))?;
        match task.generation(&figment) {
            Some(generation) => {
                experiment.generation = generation.map_err(|e| described(*e))?;
            }
            None if !experiment.generation.is_empty() => {
                return Err(self.invalid(
                    &figment,
                    &Invalid::new(
                        "generation",
                        format!("the {} task has no generation settings", task.name()),
                    ),
                ));
            }
            None => {}
        }
        if figment.find_value("train.loss").is_err() {
            experiment.train.loss = task.default_loss();
        }
        super::spec::spec_for(&experiment)
            .map(|_| ())
            .and_then(|()| experiment.validate())
            .map_err(|invalid| self.invalid(&figment, &invalid))?;
        Ok(LoadedExperiment {
            experiment,
            file: self.file.to_path_buf(),
            overrides: sets.to_vec(),
            env_overrides,
        })
    }

    fn describe(&self, figment: &Figment, e: &figment::Error) -> String {
        use figment::error::Kind;
        let path = e.path.join(".");
        // figment's path ends with the field itself, except inside tagged enums (the model),
        // where serde buffers the table and the path stops at the enum.
        let joined = |field: &str| match e.path.last() {
            Some(last) if last == field => path.clone(),
            None => field.to_string(),
            Some(_) => format!("{path}.{field}"),
        };
        let (key, what) = match &e.kind {
            Kind::MissingField(field) if path.is_empty() && field == "task" => (
                "task".to_string(),
                format!(
                    "missing: the file names what it learns, one of {} (files from before \
                     kiln named tasks need this line)",
                    super::spec::names().join(", ")
                ),
            ),
            Kind::UnknownField(field, expected) => {
                let hint = did_you_mean(field, expected)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                (
                    nested(figment, &joined(field), field),
                    format!(
                        "unknown key{hint} (expected one of: {})",
                        expected.join(", ")
                    ),
                )
            }
            Kind::MissingField(field) => {
                (joined(field), "missing, and it has no default".to_string())
            }
            Kind::UnknownVariant(v, expected) => {
                let hint = did_you_mean(v, expected)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                (
                    holding(figment, &path, &Actual::Str(v.clone()))
                        .unwrap_or_else(|| path.clone()),
                    format!(
                        "unknown value `{v}`{hint} (expected one of: {})",
                        expected.join(", ")
                    ),
                )
            }
            Kind::InvalidType(actual, expected) => (
                holding(figment, &path, actual).unwrap_or_else(|| path.clone()),
                format!("wrong type: found {actual}, expected {expected}"),
            ),
            other => (path.clone(), other.to_string()),
        };
        format!(
            "{}: `{key}`: {what}",
            self.origin(e.metadata.as_ref(), &key)
        )
    }

    fn invalid(&self, figment: &Figment, invalid: &Invalid) -> ConfigError {
        let metadata = figment.find_metadata(&invalid.field.replace('[', ".").replace(']', ""));
        ConfigError(format!(
            "{}: `{}`: {}",
            self.origin(metadata, &invalid.field),
            invalid.field,
            invalid.message
        ))
    }

    /// `file:line` when the key is in the file, else the environment variable or argument.
    fn origin(&self, metadata: Option<&Metadata>, key: &str) -> String {
        let name = metadata.map(|m| m.name.as_ref()).unwrap_or("");
        if name.starts_with(SWEPT) {
            return name.to_string();
        }
        if name.contains("environment") {
            let var = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
            return format!("environment variable {var}");
        }
        if !name.is_empty() && !name.contains("TOML") {
            return format!("--set {key}");
        }
        match key_span(self.doc, key) {
            Some(span) => format!("{}:{}", self.file.display(), line_of(self.text, span.start)),
            None => self.file.display().to_string(),
        }
    }
}

/// `key` when it is set; else, inside a tagged enum whose errors stop at the enum, the one
/// key named `field` in a table below the enum's.
fn nested(figment: &Figment, key: &str, field: &str) -> String {
    if figment.find_value(key).is_ok() {
        return key.to_string();
    }
    let parent = key.rsplit_once('.').map_or("", |(p, _)| p);
    the_one_below(figment, parent, |k, _| k == field).unwrap_or_else(|| key.to_string())
}

/// Inside a tagged enum (`[data]`, `[model]`) serde reports the enum's path, not the field's:
/// the one field of the table at `path` (or of a table inside it) that holds `actual`.
fn holding(figment: &Figment, path: &str, actual: &Actual) -> Option<String> {
    use figment::value::Value as V;
    the_one_below(figment, path, |_, value| match (value, actual) {
        (V::String(_, s), Actual::Str(a)) => s == a,
        (V::Bool(_, b), Actual::Bool(a)) => b == a,
        (V::Num(_, n), Actual::Signed(a)) => n.to_i128() == Some(*a),
        (V::Num(_, n), Actual::Unsigned(a)) => n.to_u128() == Some(*a),
        (V::Num(_, n), Actual::Float(a)) => n.to_f64() == Some(*a),
        (V::Dict(..), Actual::Map) | (V::Array(..), Actual::Seq) => true,
        _ => false,
    })
}

/// The dotted key of the only entry, at any depth below the table at `path`, that `wanted`
/// picks; `None` when none or several do.
fn the_one_below(
    figment: &Figment,
    path: &str,
    wanted: impl Fn(&str, &figment::value::Value) -> bool,
) -> Option<String> {
    fn search(
        table: &figment::value::Dict,
        at: &str,
        wanted: &dyn Fn(&str, &figment::value::Value) -> bool,
        found: &mut Vec<String>,
    ) {
        for (key, value) in table {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if wanted(key, value) {
                found.push(here.clone());
            }
            if let Some(inner) = value.as_dict() {
                search(inner, &here, wanted, found);
            }
        }
    }
    let table = figment.find_value(path).ok()?.into_dict()?;
    let mut found = Vec::new();
    search(&table, path, &wanted, &mut found);
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn get(&self, name: &str) -> Option<(Option<Range<usize>>, Node<'a>)> {
        let (key, item) = match *self {
            Node::Table(t) | Node::Item(Item::Table(t)) => t.get_key_value(name)?,
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                t.get_key_value(name)?
            }
            _ => return None,
        };
        Some((key.span().or_else(|| item.span()), Node::Item(item)))
    }

    fn index(&self, i: usize) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match *self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(|t| (t.span(), Node::Table(t))),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.get(i).map(|v| (v.span(), Node::Value(v)))
            }
            _ => None,
        }
    }
}

/// Where `key` (dotted, with `[i]` for array elements) is written in the document, as far
/// down the path as the document goes.
fn key_span(doc: &Document<&str>, key: &str) -> Option<Range<usize>> {
    let mut node = Node::Table(doc.as_table());
    let mut span = None;
    for segment in key.split('.') {
        let (name, indices) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        let Some((s, next)) = node.get(name) else {
            break;
        };
        span = s.or(span);
        node = next;
        for i in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some((s, next)) = i.parse().ok().and_then(|i| node.index(i)) else {
                return span;
            };
            span = s.or(span);
            node = next;
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"task = "classification"
name = "t"

[data]
dataset = "mnist"
source = "sample"

[model]
kind = "cnn"
blocks = [
  { channels = 4, kernel = 3 },
  { channels = 8, kernel = 3, pool = 2 },
]

[train]
epochs = 1
batch_size = 32
learning_rate = 1e-3
"#;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exp.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn err(text: &str, sets: &[&str]) -> String {
        let (_dir, path) = write(text);
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load(&path, &sets).unwrap_err().0
    }

    #[test]
    fn a_sweep_that_repeats_a_trial_is_refused() {
        let plan_err = |text: &str, sets: &[&str]| {
            let (_dir, path) = write(text);
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            match plan(&path, &sets) {
                Ok(_) => String::new(),
                Err(e) => e.0,
            }
        };
        let e = plan_err(GOOD, &["backends=flex,flex"]);
        assert!(e.contains("trials 1 and 2 are the same"), "{e}");
        let grid = format!("{GOOD}\n[sweep]\ntrain.batch_size = [16, 32, 16]\n");
        let e = plan_err(&grid, &[]);
        assert!(
            e.contains("trials 1 and 3 are the same (batch_size=16"),
            "{e}"
        );
        // Zipped lists may repeat a value as long as the tuples differ.
        let zip = format!(
            "{GOOD}\n[sweep.zip]\ntrain.batch_size = [16, 16]\ntrain.learning_rate = [1e-3, 1e-2]\n"
        );
        assert_eq!(plan_err(&zip, &[]), "");
        // Random draws may repeat by chance: four draws from two choices must repeat.
        let random = format!(
            "{GOOD}\n[sweep.random]\ncount = 4\nseed = 1\ntrain.batch_size = {{ choice = [16, 32] }}\n"
        );
        assert_eq!(plan_err(&random, &[]), "");
    }

    #[test]
    fn good_file_loads_with_defaults() {
        let (_dir, path) = write(GOOD);
        let e = load(&path, &[]).unwrap().experiment;
        assert_eq!(e.seed, 42);
        assert_eq!(e.train.eval_batch_size, 1000);
        assert_eq!(e.data.validation_fraction(), 0.1);
        let crate::config::schema::DataConfig::Mnist(mnist) = &e.data else {
            panic!("{:?}", e.data)
        };
        assert!(mnist.download && mnist.verify && mnist.train_limit.is_none());
    }

    const LANGUAGE: &str = r#"task = "language_modelling"
name = "t"
[data]
dataset = "corpus"
source = "sample"
[model]
kind = "language_model"
cell = "lstm"
[train]
epochs = 1
batch_size = 8
learning_rate = 1e-3
[generation]
prompt = "ROMEO:"
"#;

    #[test]
    fn a_key_of_another_dataset_is_unknown_at_its_line() {
        let e = err(&GOOD.replace("source = \"sample\"", "seq_len = 50"), &[]);
        assert!(
            e.contains("exp.toml:6: `data.seq_len`: unknown key")
                && e.contains("normalize")
                && !e.contains("tokenizer"),
            "{e}"
        );
        let e = err(LANGUAGE, &["data.normalize=scale"]);
        assert!(
            e.contains("--set data.normalize") && e.contains("seq_len, stateful"),
            "{e}"
        );
        let e = err(
            &LANGUAGE.replace("source = \"sample\"", "seq_len = \"long\""),
            &[],
        );
        assert!(e.contains("exp.toml:5: `data.seq_len`: wrong type"), "{e}");
    }

    #[test]
    fn generation_is_the_tasks_own_typed_table() {
        let (_dir, path) = write(LANGUAGE);
        let e = load(&path, &[]).unwrap().experiment;
        assert_eq!(e.generation["prompt"].as_str(), Some("ROMEO:"));
        assert_eq!(e.generation["length"].as_integer(), Some(300));
        let e = err(
            &LANGUAGE.replace("prompt = ", "beam_width = 2\nprompt = "),
            &[],
        );
        assert!(
            e.contains("exp.toml:14: `generation.beam_width`: unknown key")
                && e.contains("prompt, length, temperatures, top_k"),
            "{e}"
        );
        let e = err(
            &LANGUAGE.replace("prompt = \"ROMEO:\"", "temperatures = [0.5, -1]"),
            &[],
        );
        assert!(e.contains("exp.toml:14: `generation.temperatures`"), "{e}");
        let e = err(&format!("{GOOD}[generation]\nprompt = \"x\"\n"), &[]);
        assert!(
            e.contains("`generation`: the classification task has no generation settings"),
            "{e}"
        );
    }

    #[test]
    fn the_task_is_named_and_must_fit_the_model_and_data() {
        let e = err(&GOOD.replace("task = \"classification\"\n", ""), &[]);
        assert!(
            e.contains("`task`: missing") && e.contains("language_modelling"),
            "{e}"
        );
        let e = err(&GOOD.replace("\"classification\"", "\"translaton\""), &[]);
        assert!(
            e.contains("exp.toml:1: `task`") && e.contains("did you mean `translation`"),
            "{e}"
        );
        let e = err(
            &LANGUAGE.replace("dataset = \"corpus\"", "dataset = \"mnist\""),
            &[],
        );
        assert!(e.contains("exp.toml:4: `data.dataset`"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_suggestion() {
        let text = GOOD.replace("learning_rate = 1e-3", "learning_rat = 1e-3");
        let e = err(&text, &[]);
        assert!(e.contains("exp.toml:18"), "{e}");
        assert!(
            e.contains("`train.learning_rat`") && e.contains("did you mean `learning_rate`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_inside_the_model_is_found_too() {
        let e = err(
            &GOOD.replace("kind = \"cnn\"", "kind = \"cnn\"\ndens = [10]"),
            &[],
        );
        assert!(
            e.contains("`model.dens`") && e.contains("did you mean `dense`"),
            "{e}"
        );
        assert!(e.contains("exp.toml:10"), "{e}");
    }

    #[test]
    fn a_bad_value_inside_the_model_names_its_field() {
        let e = err(GOOD, &["model.activation=rellu"]);
        assert!(
            e.contains("--set model.activation") && e.contains("did you mean `relu`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_line() {
        let e = err(&GOOD.replace("epochs = 1", "epochs = \"three\""), &[]);
        assert!(
            e.contains("exp.toml:16") && e.contains("`train.epochs`") && e.contains("wrong type"),
            "{e}"
        );
    }

    #[test]
    fn out_of_range_values_name_the_key_and_line() {
        let e = err(
            &GOOD.replace("learning_rate = 1e-3", "learning_rate = -0.1"),
            &[],
        );
        assert!(
            e.contains("exp.toml:18")
                && e.contains("`train.learning_rate`")
                && e.contains("positive"),
            "{e}"
        );
        let text = GOOD.replace("pool = 2 }", "pool = 2, dropout = 1.0 }");
        let e = err(&text, &[]);
        assert!(
            e.contains("exp.toml:12") && e.contains("`model.blocks[1].dropout`"),
            "{e}"
        );
    }

    #[test]
    fn set_overrides_the_file_and_is_named_in_errors() {
        let (_dir, path) = write(GOOD);
        let sets = [
            "train.epochs=3".to_string(),
            "model.dense=[16, 8]".to_string(),
        ];
        let e = load(&path, &sets).unwrap().experiment;
        assert_eq!(e.train.epochs, 3);
        let kiln_models::ModelConfig::Cnn(cnn) = e.model else {
            panic!()
        };
        assert_eq!(cnn.dense, vec![16, 8]);
        let e = err(GOOD, &["train.batch_size=0"]);
        assert!(e.contains("--set train.batch_size"), "{e}");
        let e = err(GOOD, &["train.epochs"]);
        assert!(e.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn missing_section_and_bad_enum_value_are_explained() {
        let e = err(
            &GOOD.replace("[data]\ndataset = \"mnist\"\nsource = \"sample\"\n", ""),
            &[],
        );
        assert!(e.contains("`data`") && e.contains("missing"), "{e}");
        let e = err(
            &GOOD.replace("source = \"sample\"", "source = \"sampel\""),
            &[],
        );
        assert!(e.contains("did you mean `sample`"), "{e}");
    }

    #[test]
    fn optimizers_and_schedules_read_their_own_keys() {
        use kiln_train::{OptimizerConfig, ScheduleConfig};
        let (_dir, path) = write(GOOD);
        let sets = [
            "train.optimizer={ name = \"adamw\", beta1 = 0.8 }".to_string(),
            "train.schedule={ kind = \"step\", step_epochs = 2 }".to_string(),
        ];
        let e = load(&path, &sets).unwrap().experiment;
        let OptimizerConfig::Adamw(p) = e.train.optimizer else {
            panic!("{:?}", e.train.optimizer)
        };
        assert_eq!((p.beta1, p.beta2), (0.8, 0.999));
        assert_eq!(
            e.train.schedule,
            ScheduleConfig::Step {
                step_epochs: 2,
                gamma: 0.1
            }
        );
        let e = err(
            GOOD,
            &["train.optimizer={ name = \"sgd\", momentun = 0.9 }"],
        );
        assert!(e.contains("did you mean `momentum`"), "{e}");
        let e = err(
            GOOD,
            &["train.optimizer={ name = \"sgd\", nesterov = true }"],
        );
        assert!(
            e.contains("`train.optimizer.nesterov`") && e.contains("momentum above zero"),
            "{e}"
        );
    }

    #[test]
    fn top_level_keys_match_the_schema() {
        let (_dir, path) = write(GOOD);
        let e = load(&path, &["datasets=/x".into()]).unwrap().experiment;
        let table: toml::Table = toml::from_str(&toml::to_string(&e).unwrap()).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        // A classification has no `[generation]` to write; default checkpoint settings are
        // not written.
        let mut expected: Vec<&str> = TOP_LEVEL_KEYS
            .iter()
            .copied()
            .filter(|k| !["generation", "checkpoint", "cluster"].contains(k))
            .collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn only_nested_or_top_level_variables_are_overrides() {
        assert!(is_override("KILN_TRAIN__EPOCHS"));
        assert!(is_override("KILN_DATASETS"));
        assert!(is_override("KILN_SEED"));
        assert!(!is_override("KILN_LOG"));
        assert!(!is_override("OTHER_TRAIN__EPOCHS"));
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = err("name = \"t\"\n[data\n", &[]);
        assert!(
            e.contains("exp.toml:2") && e.contains("not valid TOML"),
            "{e}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let e = load(Path::new("/nonexistent/x.toml"), &[]).unwrap_err().0;
        assert!(e.contains("/nonexistent/x.toml"), "{e}");
    }
}
