//! Resolved configs written before experiments named their task (and before `[data]` and
//! `[generation]` were typed per dataset and task), brought to today's shape so that older
//! run folders still answer `generate`, `translate` and the GAN's `classifier`.

use toml::{Table, Value};

/// `table` in today's shape, when it is a config of the older shape (no `task`).
pub(super) fn upgrade(table: &mut Table) {
    if table.contains_key("task") {
        return;
    }
    let model = table
        .get("model")
        .and_then(|m| m.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Every model kind of that time and the one task that trained it.
    let task = match model {
        "language_model" => "language_modelling",
        "seq2seq" => "translation",
        "gan" => "gan",
        _ => "classification",
    };
    table.insert("task".into(), task.into());
    if let Some(Value::Table(data)) = table.get_mut("data") {
        upgrade_data(data);
    }
    // The old `[generation]` held every task's keys, with their defaults, in every config.
    let kept: &[&str] = match task {
        "language_modelling" => &["prompt", "length", "temperatures", "top_k"],
        "translation" => &["beam_width", "length_penalty", "max_len", "examples"],
        "gan" => &["classifier", "fid_samples"],
        _ => &[],
    };
    if let Some(Value::Table(generation)) = table.get_mut("generation") {
        generation.retain(|k, _| kept.contains(&k));
    }
}

/// The old `[data]` wrote `source`, `normalize`, `download` and `verify` for every dataset,
/// and a synthetic problem's settings beside `task`.
fn upgrade_data(data: &mut Table) {
    let dataset = data
        .get("dataset")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let unread: &[&str] = match dataset.as_str() {
        "mnist" => &[],
        "imdb" => &["normalize", "verify"],
        "corpus" => &["normalize"],
        "pairs" => &["normalize", "download", "verify"],
        _ => &["source", "normalize", "download", "verify"],
    };
    data.retain(|k, _| !unread.contains(&k));
    if dataset == "synthetic"
        && let Some(kind) = data.remove("task")
    {
        let mut problem = Table::new();
        problem.insert("kind".into(), kind);
        for key in ["digits", "reverse", "min_length", "max_length", "alphabet"] {
            if let Some(v) = data.remove(key) {
                problem.insert(key.into(), v);
            }
        }
        data.insert("problem".into(), Value::Table(problem));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::schema::{DataConfig, Experiment, Problem};

    const TRAIN: &str = "[train]\nepochs = 1\nbatch_size = 8\nlearning_rate = 0.01\n";
    /// Every `[generation]` of the older shape, a classifier's included.
    const OLD_GENERATION: &str = "[generation]\nprompt = \"\\n\"\nlength = 300\n\
        temperatures = [0.2, 1.0]\nbeam_width = 4\nlength_penalty = 1.0\nexamples = 10\n";

    #[test]
    fn configs_of_the_older_shape_are_read_as_today() {
        let old = format!(
            "name = \"s\"\n[data]\ndataset = \"synthetic\"\nsource = \"full\"\n\
             validation_fraction = 0.1\nnormalize = \"standardize\"\ndownload = true\n\
             verify = true\ntask = \"addition\"\ndigits = 2\nreverse = true\ncount = 500\n\
             [model]\nkind = \"seq2seq\"\ncell = \"gru\"\n{TRAIN}{OLD_GENERATION}"
        );
        let e = Experiment::from_resolved(&old).unwrap();
        assert_eq!(e.task, "translation");
        let DataConfig::Synthetic(d) = &e.data else {
            panic!("{:?}", e.data)
        };
        assert_eq!(d.count, 500);
        let Problem::Addition(a) = &d.problem else {
            panic!("{:?}", d.problem)
        };
        assert_eq!((a.digits, a.reverse), (2, true));
        assert_eq!(e.generation["beam_width"].as_integer(), Some(4));
        assert!(!e.generation.contains_key("prompt"));

        let old = format!(
            "name = \"c\"\n[data]\ndataset = \"imdb\"\nsource = \"sample\"\n\
             validation_fraction = 0.1\nnormalize = \"standardize\"\ndownload = true\n\
             verify = true\nmax_len = 50\n[model]\nkind = \"lstm\"\n{TRAIN}{OLD_GENERATION}"
        );
        let e = Experiment::from_resolved(&old).unwrap();
        assert_eq!(e.task, "classification");
        assert!(e.generation.is_empty());
        let DataConfig::Imdb(d) = &e.data else {
            panic!("{:?}", e.data)
        };
        assert_eq!((d.max_len, d.vocab_size), (50, 20_000));
    }

    #[test]
    fn todays_configs_are_left_as_they_are() {
        let today = format!(
            "task = \"classification\"\nname = \"c\"\n[data]\ndataset = \"mnist\"\n\
             verify = false\n[model]\nkind = \"mlp\"\nhidden = [4]\n{TRAIN}"
        );
        let e = Experiment::from_resolved(&today).unwrap();
        let DataConfig::Mnist(d) = &e.data else {
            panic!("{:?}", e.data)
        };
        assert!(!d.verify);
        // A key today's schema does not know is still refused.
        let bad = today.replace("verify = false", "seq_len = 3");
        assert!(Experiment::from_resolved(&bad).is_err());
    }
}
