//! `[sweep.search]`: a search space, a sampler that proposes trials and a pruner that stops
//! the poor ones at epoch ends.
//!
//! ```toml
//! [sweep]
//! name = "asha"
//! [sweep.search]
//! sampler = "tpe"              # grid (the choices' product, shuffled), random or tpe
//! budget = 40                  # trials; or time = "2h"
//! seed = 1
//! pruner = "asha"              # none, median, asha or hyperband
//! min_epochs = 1
//! reduction = 3
//! train.learning_rate = { log_uniform = [1e-4, 1e-1] }
//! train.batch_size = { int = [32, 256], step = 32 }
//! train.optimizer.name = { choice = ["sgd", "adam"] }
//! train.optimizer.momentum = { uniform = [0.0, 0.99], when = { train.optimizer.name = "sgd" } }
//! ```

use std::time::Duration;

use toml_edit::{Item, Table, Value};

use super::ConfigError;
use super::sweep::{Distribution, Node, Reader, TableLike, distribution};

/// What proposes the next trial's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Every combination of the `choice` lists once, in an order shuffled by the seed.
    Grid,
    Random,
    /// The tree-structured Parzen estimator, after `startup` random trials.
    Tpe {
        startup: usize,
    },
}

/// What stops trials at epoch ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pruner {
    /// Every trial trains all its epochs.
    None,
    /// After `min_epochs` and every `interval` epochs, a trial goes on only while its
    /// value is no worse than the median of the other trials' at that epoch.
    Median { min_epochs: usize, interval: usize },
    /// Asynchronous successive halving: rungs at `min_epochs × reduction^k` epochs, the
    /// top `1 / reduction` of a rung going on to the next.
    Asha { min_epochs: usize, reduction: usize },
    /// Successive halving in brackets that start at different rungs.
    Hyperband { min_epochs: usize, reduction: usize },
    /// Population-based training: the `budget` trials train together, and every `interval`
    /// epochs each of the worst `quantile` takes up the weights of one of the best
    /// `quantile` with its values perturbed (x0.8 or x1.2, a neighbouring choice), or drawn
    /// anew with probability `resample`.
    Pbt {
        interval: usize,
        quantile: f64,
        resample: f64,
    },
}

/// When a key is used: only while another key of the space has one of these values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// One searched key.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub key: String,
    pub distribution: Distribution,
    pub when: Option<Condition>,
    pub line: usize,
}

/// A parsed `[sweep.search]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpec {
    pub sampler: Sampler,
    /// The number of trials to start; the grid's size for a grid search without one.
    pub budget: Option<usize>,
    /// No trial starts after this long (the trials of a time budget depend on the machine).
    pub time: Option<Duration>,
    pub seed: u64,
    /// Each trial is chosen as if this many ran at once, knowing the results of all but the
    /// last `parallel` decisions, so that any `-j` up to it keeps every worker busy and any
    /// `-j` at all gives the same trials.
    pub parallel: usize,
    pub pruner: Pruner,
    pub params: Vec<Param>,
    pub line: usize,
}

pub(crate) const SETTINGS: &[&str] = &[
    "sampler",
    "budget",
    "time",
    "seed",
    "parallel",
    "startup",
    "pruner",
    "min_epochs",
    "reduction",
    "interval",
    "quantile",
    "resample",
];

impl SearchSpec {
    /// The number of trials the search starts (when no time limit ends it first).
    pub fn trials(&self) -> usize {
        match (self.budget, &self.sampler) {
            (Some(b), _) => b,
            (None, Sampler::Grid) => self.grid_size(),
            (None, _) => usize::MAX,
        }
    }

    /// The number of combinations of the `choice` lists.
    pub fn grid_size(&self) -> usize {
        grid_size(&self.params)
    }
}

fn grid_size(params: &[Param]) -> usize {
    params
        .iter()
        .map(|p| match &p.distribution {
            Distribution::Choice(v) => v.len(),
            _ => 1,
        })
        .product()
}

fn whole(
    r: &Reader,
    table: &Table,
    key: &str,
    line: usize,
    min: i64,
) -> Result<Option<i64>, ConfigError> {
    match table.get(key) {
        None => Ok(None),
        Some(item) => item
            .as_integer()
            .filter(|v| *v >= min)
            .map(Some)
            .ok_or_else(|| {
                r.err(
                    line,
                    &format!("sweep.search.{key}"),
                    format!("expected a whole number, at least {min}"),
                )
            }),
    }
}

/// `[sweep.search]`'s table with where its keys are, for the errors of its readers.
struct Settings<'a> {
    r: &'a Reader<'a>,
    table: &'a Table,
    /// The table's header.
    line: usize,
}

impl Settings<'_> {
    fn line_of(&self, key: &str) -> usize {
        self.r
            .line(
                self.table
                    .key(key)
                    .and_then(|k| k.span())
                    .or_else(|| self.table.get(key).and_then(|i| i.span())),
            )
            .max(self.line)
    }

    fn err(&self, key: &str, what: impl std::fmt::Display) -> ConfigError {
        self.r
            .err(self.line_of(key), &format!("sweep.search.{key}"), what)
    }

    fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(i) => i
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| self.err(key, "expected a string")),
        }
    }

    fn int(&self, key: &str, min: i64) -> Result<Option<i64>, ConfigError> {
        whole(self.r, self.table, key, self.line_of(key), min)
    }
}

/// Reads `[sweep.search]` from `table`, whose header is at `line`.
pub(super) fn parse(r: &Reader, table: &Table, line: usize) -> Result<SearchSpec, ConfigError> {
    let s = Settings { r, table, line };
    let sampler = sampler(&s)?;
    let pruner = pruner(&s)?;
    let time = match s.text("time")? {
        None => None,
        Some(t) => match crate::config::schema::Every::try_from(t.clone()) {
            Ok(crate::config::schema::Every::Period(d)) => Some(d),
            _ => {
                return Err(s.err(
                    "time",
                    format!("`{t}` is not a duration: expected e.g. \"30m\" or \"2h\""),
                ));
            }
        },
    };
    let seed = s.int("seed", 0)?.unwrap_or(0) as u64;
    let parallel = s.int("parallel", 1)?.unwrap_or(4) as usize;
    let budget = s.int("budget", 1)?.map(|b| b as usize);
    let params = space(&s, &pruner)?;
    if let Pruner::Pbt { .. } = pruner {
        pbt_checks(r, &sampler, budget, &params, s.line_of("sampler"), line)?;
    }
    if sampler == Sampler::Grid {
        grid_checks(&s, budget, &params)?;
    } else if budget.is_none() && time.is_none() {
        return Err(r.err(
            line,
            "sweep.search",
            "expected `budget = N` trials or `time = \"2h\"` to say when the search ends",
        ));
    }
    Ok(SearchSpec {
        sampler,
        budget,
        time,
        seed,
        parallel,
        pruner,
        params,
        line,
    })
}

/// `sampler` (and the tpe sampler's `startup`).
fn sampler(s: &Settings) -> Result<Sampler, ConfigError> {
    let startup = s.int("startup", 0)?;
    let pbt = s.table.get("pruner").and_then(|p| p.as_str()) == Some("pbt");
    let sampler = match s.text("sampler")?.as_deref() {
        None if pbt => Sampler::Random,
        None | Some("tpe") => Sampler::Tpe {
            startup: startup.unwrap_or(10) as usize,
        },
        Some("random") => Sampler::Random,
        Some("grid") => Sampler::Grid,
        Some(other) => {
            return Err(s.err(
                "sampler",
                format!("`{other}` is not a sampler: expected grid, random or tpe"),
            ));
        }
    };
    if startup.is_some() && !matches!(sampler, Sampler::Tpe { .. }) {
        return Err(s.err("startup", "only the tpe sampler has startup trials"));
    }
    Ok(sampler)
}

/// `pruner` with its own settings; another pruner's setting is refused.
fn pruner(s: &Settings) -> Result<Pruner, ConfigError> {
    let min_epochs = s.int("min_epochs", 1)?;
    let reduction = s.int("reduction", 2)?;
    let interval = s.int("interval", 1)?;
    let name = s.text("pruner")?;
    let pruner = match name.as_deref() {
        None | Some("none") => Pruner::None,
        Some("median") => Pruner::Median {
            min_epochs: min_epochs.unwrap_or(1) as usize,
            interval: interval.unwrap_or(1) as usize,
        },
        Some("asha") => Pruner::Asha {
            min_epochs: min_epochs.unwrap_or(1) as usize,
            reduction: reduction.unwrap_or(3) as usize,
        },
        Some("hyperband") => Pruner::Hyperband {
            min_epochs: min_epochs.unwrap_or(1) as usize,
            reduction: reduction.unwrap_or(3) as usize,
        },
        Some("pbt") => Pruner::Pbt {
            interval: interval.unwrap_or(1) as usize,
            quantile: fraction(s.r, s.table, "quantile", s.line_of("quantile"), 0.25, 0.5)?,
            resample: fraction(s.r, s.table, "resample", s.line_of("resample"), 0.25, 1.0)?,
        },
        Some(other) => {
            return Err(s.err(
                "pruner",
                format!("`{other}` is not a pruner: expected none, median, asha, hyperband or pbt"),
            ));
        }
    };
    let misplaced = match pruner {
        Pruner::None => [
            "min_epochs",
            "reduction",
            "interval",
            "quantile",
            "resample",
        ]
        .as_slice(),
        Pruner::Median { .. } => ["reduction", "quantile", "resample"].as_slice(),
        Pruner::Asha { .. } | Pruner::Hyperband { .. } => {
            ["interval", "quantile", "resample"].as_slice()
        }
        Pruner::Pbt { .. } => ["min_epochs", "reduction", "time"].as_slice(),
    };
    if let Some(key) = misplaced.iter().find(|k| s.table.contains_key(k)) {
        return Err(s.err(
            key,
            if *key == "time" {
                "a population trains together to its last epoch, so it is sized by `budget`, not by a time".to_string()
            } else {
                format!(
                    "the {} pruner has no `{key}`",
                    name.as_deref().unwrap_or("none")
                )
            },
        ));
    }
    Ok(pruner)
}

/// The searched keys: every key of the table that is not a setting, each checked alone and
/// against the others.
fn space(s: &Settings, pruner: &Pruner) -> Result<Vec<Param>, ConfigError> {
    let r = s.r;
    let mut params = Vec::new();
    let mut space = s.table.clone();
    for key in SETTINGS {
        space.remove(key);
    }
    collect(r, &space, "", &mut params)?;
    if params.is_empty() {
        return Err(r.err(
            s.line,
            "sweep.search",
            "searches nothing: add keys such as train.learning_rate = { log_uniform = [1e-4, 1e-1] }",
        ));
    }
    for (i, p) in params.iter().enumerate() {
        let err = |what: String| r.err(p.line, &format!("sweep.search.{}", p.key), what);
        if let Some(other) = params[..i].iter().find(|o| {
            p.key.starts_with(&format!("{}.", o.key)) || o.key.starts_with(&format!("{}.", p.key))
        }) {
            return Err(err(format!(
                "overlaps `{}`: search a table's keys or the table, not both",
                other.key
            )));
        }
        if ["name", "seed"].contains(&p.key.as_str()) {
            return Err(err(
                "cannot be searched: a search is one experiment, and each trial keeps the file's seed".into(),
            ));
        }
        if p.key == "train.epochs" && *pruner != Pruner::None {
            return Err(err(
                "a pruner's rungs are counted in train.epochs, so it cannot be searched with one"
                    .into(),
            ));
        }
        if let Some(c) = &p.when {
            let Some(parent) = params.iter().find(|o| o.key == c.key) else {
                return Err(err(format!(
                    "`when` names `{}`, which the search does not search",
                    c.key
                )));
            };
            let Distribution::Choice(options) = &parent.distribution else {
                return Err(err(format!("`when` needs `{}` to be a choice", c.key)));
            };
            if let Some(v) = c.values.iter().find(|v| !options.contains(v)) {
                return Err(err(format!(
                    "`when`: `{}` is not one of `{}`'s choices",
                    v, c.key
                )));
            }
        }
    }
    Ok(params)
}

/// The grid sampler takes unconditional choices only, and no more trials than combinations.
fn grid_checks(s: &Settings, budget: Option<usize>, params: &[Param]) -> Result<(), ConfigError> {
    if let Some(p) = params
        .iter()
        .find(|p| !matches!(p.distribution, Distribution::Choice(_)) || p.when.is_some())
    {
        return Err(s.r.err(
            p.line,
            &format!("sweep.search.{}", p.key),
            "the grid sampler takes unconditional choice lists only; use random or tpe",
        ));
    }
    let size = grid_size(params);
    if let Some(b) = budget.filter(|b| *b > size) {
        return Err(s.err(
            "budget",
            format!("{b} trials, but the grid has {size} combinations"),
        ));
    }
    Ok(())
}

/// A number in `(0, max]` at `sweep.search.<key>`, `default` when absent.
fn fraction(
    r: &Reader,
    table: &Table,
    key: &str,
    line: usize,
    default: f64,
    max: f64,
) -> Result<f64, ConfigError> {
    let Some(item) = table.get(key) else {
        return Ok(default);
    };
    item.as_float()
        .or_else(|| item.as_integer().map(|i| i as f64))
        .filter(|v| *v > 0.0 && *v <= max || key == "resample" && *v == 0.0)
        .ok_or_else(|| {
            r.err(
                line,
                &format!("sweep.search.{key}"),
                format!("expected a number above 0 and at most {max}"),
            )
        })
}

/// The keys a member of a population may change while it trains: its weights and optimizer
/// state are taken up by another member, so nothing that shapes them, the data's order or
/// the number of steps may differ.
fn pbt_checks(
    r: &Reader,
    sampler: &Sampler,
    budget: Option<usize>,
    params: &[Param],
    sampler_line: usize,
    line: usize,
) -> Result<(), ConfigError> {
    if matches!(sampler, Sampler::Tpe { .. }) {
        return Err(r.err(
            sampler_line,
            "sweep.search.sampler",
            "population-based training draws its population with the random or grid sampler",
        ));
    }
    if budget.is_some_and(|b| b < 2) {
        return Err(r.err(
            line,
            "sweep.search.budget",
            "a population needs at least 2 trials",
        ));
    }
    const FIXED: &[&str] = &[
        "train.batch_size",
        "train.epochs",
        "train.optimizer.name",
        "train.monitor",
        "train.schedule.kind",
        "train.early_stopping",
    ];
    for p in params {
        let k = p.key.as_str();
        let changes_weights = k.starts_with("model.") && !k.ends_with("dropout");
        let fixed = FIXED
            .iter()
            .any(|f| k == *f || k.starts_with(&format!("{f}.")) || f.starts_with(&format!("{k}.")));
        if changes_weights || fixed || !(k.starts_with("train.") || k.starts_with("model.")) {
            return Err(r.err(
                p.line,
                &format!("sweep.search.{k}"),
                "population-based training hands weights and optimizer state from one trial to another mid-run, so it searches only keys that leave them fitting: train.learning_rate, train.weight_decay, train.grad_clip, optimizer settings other than its name, dropout",
            ));
        }
        if p.when.is_some() {
            return Err(r.err(
                p.line,
                &format!("sweep.search.{k}"),
                "population-based training searches unconditional keys only",
            ));
        }
    }
    Ok(())
}

fn collect(
    r: &Reader,
    table: &dyn TableLike,
    prefix: &str,
    out: &mut Vec<Param>,
) -> Result<(), ConfigError> {
    const KINDS: &[&str] = &["uniform", "log_uniform", "int", "choice"];
    let shape = "expected a distribution: { uniform = [lo, hi] }, { log_uniform = [lo, hi] }, { int = [lo, hi], step = 1 } or { choice = [...] }, optionally with when = { key = value }";
    for (key, span, node) in table.entries() {
        let path = format!("{prefix}{key}");
        let line = r.line(span);
        let full = format!("sweep.search.{path}");
        let Node::Table(t) = node else {
            return Err(r.err(line, &full, shape));
        };
        let entries = t.entries();
        let Some((kind, _, Node::Value(Value::Array(list)))) =
            entries.iter().find(|(k, _, _)| KINDS.contains(&k.as_str()))
        else {
            if entries.iter().any(|(k, _, _)| KINDS.contains(&k.as_str())) {
                return Err(r.err(line, &full, shape));
            }
            collect(r, t.as_ref(), &format!("{path}."), out)?;
            continue;
        };
        let values: Vec<toml::Value> = list
            .iter()
            .map(|v| r.value(v, line, &full))
            .collect::<Result<_, _>>()?;
        let mut step = 1;
        let mut when = None;
        for (k, _, node) in &entries {
            match (k.as_str(), node) {
                (k, _) if k == kind => {}
                ("step", Node::Value(v)) if kind == "int" => {
                    step = v.as_integer().filter(|s| *s >= 1).ok_or_else(|| {
                        r.err(line, &full, "step: expected a whole number, at least 1")
                    })?;
                }
                ("when", Node::Table(c)) => when = Some(condition(r, c.as_ref(), line, &full)?),
                (other, _) => {
                    return Err(r.err(
                        line,
                        &full,
                        format!(
                            "`{other}` does not belong here: {}",
                            if kind == "int" {
                                "step and when do"
                            } else {
                                "when does"
                            }
                        ),
                    ));
                }
            }
        }
        out.push(Param {
            key: path,
            distribution: distribution(r, kind, &values, step, line, &full)?,
            when,
            line,
        });
    }
    Ok(())
}

/// `when = { train.optimizer.name = "sgd" }` (or a list of values) as one condition.
fn condition(
    r: &Reader,
    table: &dyn TableLike,
    line: usize,
    full: &str,
) -> Result<Condition, ConfigError> {
    let mut leaves = Vec::new();
    fn walk(t: &dyn TableLike, prefix: &str, out: &mut Vec<(String, Value)>) {
        for (k, _, node) in t.entries() {
            match node {
                Node::Table(inner) => walk(inner.as_ref(), &format!("{prefix}{k}."), out),
                Node::Value(v) => out.push((format!("{prefix}{k}"), v.clone())),
            }
        }
    }
    walk(table, "", &mut leaves);
    let [(key, value)] = leaves.as_slice() else {
        return Err(r.err(
            line,
            full,
            "when: expected one key and its value(s), e.g. when = { train.optimizer.name = \"sgd\" }",
        ));
    };
    let values = match value {
        Value::Array(a) => a
            .iter()
            .map(|v| r.value(v, line, full))
            .collect::<Result<Vec<_>, _>>()?,
        v => vec![r.value(v, line, full)?],
    };
    Ok(Condition {
        key: key.clone(),
        values,
    })
}

/// A `[sweep.search]` item as a table.
pub(super) fn as_table(item: &Item) -> Option<Table> {
    match item {
        Item::Table(t) => Some(t.clone()),
        Item::Value(Value::InlineTable(t)) => Some(t.clone().into_table()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use toml_edit::Document;

    use super::*;
    use crate::config::sweep::SweepSpec;

    fn spec(search: &str) -> Result<SearchSpec, ConfigError> {
        let text = format!("name = \"x\"\n[sweep]\nname = \"s\"\n[sweep.search]\n{search}");
        let doc = Document::parse(text.as_str()).unwrap();
        SweepSpec::parse("exp.toml", &text, &doc, None)
            .map(|s| s.unwrap().search.expect("a search"))
    }

    #[test]
    fn a_space_with_settings_conditions_and_steps_reads_whole() {
        let s = spec(
            "sampler = \"tpe\"\nstartup = 5\nbudget = 30\nseed = 7\npruner = \"asha\"\nmin_epochs = 2\nreduction = 4\ntrain.learning_rate = { log_uniform = [1e-4, 1e-1] }\ntrain.batch_size = { int = [32, 256], step = 32 }\ntrain.optimizer.name = { choice = [\"sgd\", \"adam\"] }\ntrain.optimizer.momentum = { uniform = [0.0, 0.99], when = { train.optimizer.name = \"sgd\" } }\n",
        )
        .unwrap();
        assert_eq!(s.sampler, Sampler::Tpe { startup: 5 });
        assert_eq!((s.budget, s.seed, s.parallel), (Some(30), 7, 4));
        assert_eq!(
            s.pruner,
            Pruner::Asha {
                min_epochs: 2,
                reduction: 4
            }
        );
        let keys: Vec<&str> = s.params.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "train.learning_rate",
                "train.batch_size",
                "train.optimizer.name",
                "train.optimizer.momentum"
            ]
        );
        assert_eq!(s.params[1].distribution, Distribution::Int(32, 256, 32));
        assert_eq!(s.params[1].line, 13);
        let when = s.params[3].when.as_ref().unwrap();
        assert_eq!(when.key, "train.optimizer.name");
        assert_eq!(when.values, [toml::Value::String("sgd".into())]);
    }

    #[test]
    fn a_grid_search_counts_its_combinations() {
        let s = spec(
            "sampler = \"grid\"\na.b = { choice = [1, 2, 3] }\na.c = { choice = [true, false] }\n",
        )
        .unwrap();
        assert_eq!((s.grid_size(), s.trials()), (6, 6));
        let e = spec("sampler = \"grid\"\nbudget = 7\na.b = { choice = [1, 2, 3] }\na.c = { choice = [true, false] }\n")
            .unwrap_err()
            .0;
        assert!(e.contains("grid has 6"), "{e}");
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let cases = [
            ("budget = 3\n", "searches nothing"),
            ("a.b = { uniform = [0, 1] }\n", "`budget = N` trials"),
            (
                "budget = 3\nsampler = \"bayes\"\na.b = { uniform = [0, 1] }\n",
                "not a sampler",
            ),
            (
                "budget = 4\npruner = \"pbt\"\nsampler = \"tpe\"\ntrain.learning_rate = { uniform = [0, 1] }\n",
                "random or grid sampler",
            ),
            (
                "budget = 4\npruner = \"pbt\"\nmodel.hidden = { choice = [[8], [16]] }\n",
                "leave them fitting",
            ),
            (
                "budget = 4\npruner = \"pbt\"\ntrain.batch_size = { int = [8, 64] }\n",
                "leave them fitting",
            ),
            (
                "budget = 1\npruner = \"pbt\"\ntrain.learning_rate = { uniform = [0, 1] }\n",
                "at least 2 trials",
            ),
            (
                "budget = 4\npruner = \"pbt\"\nquantile = 0.75\ntrain.learning_rate = { uniform = [0, 1] }\n",
                "at most 0.5",
            ),
            (
                "budget = 4\npruner = \"pbt\"\ntime = \"1h\"\ntrain.learning_rate = { uniform = [0, 1] }\n",
                "sized by `budget`",
            ),
            (
                "budget = 4\npruner = \"asha\"\nresample = 0.5\ntrain.learning_rate = { uniform = [0, 1] }\n",
                "has no `resample`",
            ),
            (
                "budget = 3\npruner = \"asha\"\ninterval = 2\na.b = { uniform = [0, 1] }\n",
                "has no `interval`",
            ),
            (
                "budget = 3\na.b = { int = [1, 10], step = 4 }\n",
                "not a multiple of step 4",
            ),
            (
                "budget = 3\na.b = { uniform = [0, 1], when = { a.c = 1 } }\n",
                "does not search",
            ),
            (
                "budget = 3\na.c = { uniform = [0, 1] }\na.b = { uniform = [0, 1], when = { a.c = 1 } }\n",
                "to be a choice",
            ),
            (
                "budget = 3\na.c = { choice = [1, 2] }\na.b = { uniform = [0, 1], when = { a.c = 3 } }\n",
                "not one of",
            ),
            (
                "budget = 3\nsampler = \"grid\"\na.b = { uniform = [0, 1] }\n",
                "choice lists only",
            ),
            (
                "budget = 3\npruner = \"asha\"\ntrain.epochs = { int = [1, 9] }\n",
                "cannot be searched",
            ),
            (
                "budget = 3\na.b = { uniform = [0, 1], step = 2 }\n",
                "does not belong",
            ),
            (
                "budget = 3\ntime = \"soon\"\na.b = { uniform = [0, 1] }\n",
                "not a duration",
            ),
            ("budget = 3\na.b = 4\n", "expected a distribution"),
        ];
        for (text, expected) in cases {
            let e = match spec(text) {
                Ok(s) => panic!("{text}: accepted as {s:?}"),
                Err(e) => e.0,
            };
            assert!(
                e.contains(expected) && e.contains("exp.toml:"),
                "{text}: {e}"
            );
        }
        let e = spec("budget = 3\n\nx.y = { uniform = [1, 0] }\n")
            .unwrap_err()
            .0;
        assert!(e.contains("exp.toml:7") && e.contains("low < high"), "{e}");
        let text = "name = \"x\"\n[sweep]\nseeds = [1, 2]\n[sweep.search]\nbudget = 2\na.b = { uniform = [0, 1] }\n";
        let doc = Document::parse(text).unwrap();
        let e = SweepSpec::parse("exp.toml", text, &doc, None)
            .unwrap_err()
            .0;
        assert!(
            e.contains("sweep.seeds") && e.contains("cannot go with it"),
            "{e}"
        );
    }
}
