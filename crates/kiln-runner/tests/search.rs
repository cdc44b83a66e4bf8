//! `[sweep.search]` through the real binary: the same trials at any `-j`, promoted trials
//! that end as if never stopped, and workers killed at random that lose nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Sandbox, json, stderr};

const SEARCH: &str = r#"task = "classification"
name = "e2e"
seed = 5

[data]
dataset = "mnist"
source = "sample"
train_limit = 1000
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 9
batch_size = 32
learning_rate = 2e-3
eval_batch_size = 500
monitor = "val_accuracy"
schedule = { kind = "cosine" }

[sweep]
name = "asha"

[sweep.search]
sampler = "tpe"
startup = 4
budget = 9
seed = 3
pruner = "asha"
min_epochs = 1
reduction = 3
train.learning_rate = { log_uniform = [1e-4, 1e-1] }
model.hidden = { choice = [[16], [32]] }
model.dropout = { uniform = [0.0, 0.5] }
train.optimizer.name = { choice = ["sgd", "adam"] }
train.optimizer.momentum = { uniform = [0.0, 0.95], when = { train.optimizer.name = "sgd" } }
"#;

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

/// `kiln --quiet run FILE --results RESULTS EXTRA...`.
fn run_into(sb: &Sandbox, file: &Path, results: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--quiet",
        "run",
        file.to_str().unwrap(),
        "--results",
        results,
    ];
    args.extend(extra);
    sb.kiln(&args)
}

fn journal(sb: &Sandbox, results: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(sb.path().join(results).join("e2e/asha/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The decided jobs: trial, epoch to reach and, for a new trial, its values.
fn jobs(records: &[serde_json::Value]) -> Vec<(u64, u64, serde_json::Value)> {
    records
        .iter()
        .filter(|r| r["event"] == "job")
        .map(|r| {
            (
                r["trial"].as_u64().unwrap(),
                r["until"].as_u64().unwrap(),
                r["values"].clone(),
            )
        })
        .collect()
}

/// Trial folders of the search, by name.
fn folders(sb: &Sandbox, results: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(sb.path().join(results).join("e2e/asha"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// A CSV's rows without the columns that time things.
fn without_timings(csv: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let timing = |name: &str| name.ends_with("seconds") || name == "samples_per_second";
    let keep: Vec<usize> = (0..rows[0].len())
        .filter(|&i| !timing(rows[0][i]))
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i].to_string()).collect())
        .collect()
}

/// The tensors of a run's PyTorch export, by name.
fn weights(sb: &Sandbox, run: &Path) -> BTreeMap<String, Vec<u8>> {
    ok(&sb.kiln(&["--quiet", "export", run.to_str().unwrap()]));
    let bytes = std::fs::read(run.join("pytorch/model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

#[test]
fn a_search_decides_the_same_trials_at_any_j_and_promoted_trials_end_as_if_never_stopped() {
    let sb = Sandbox::new();
    let file = sb.write("search.toml", SEARCH);
    ok(&sb.kiln(&["check", file.to_str().unwrap()]));
    let one = sb.run(&file, &["--quiet"]);
    ok(&one);
    let out = String::from_utf8_lossy(&one.stdout).into_owned();
    assert!(out.contains("promoted at epoch 1"), "{out}");
    let two = run_into(&sb, &file, "results2", &["-j", "2"]);
    ok(&two);
    let (a, b) = (journal(&sb, "results"), journal(&sb, "results2"));
    assert_eq!(jobs(&a), jobs(&b), "the same jobs with -j 1 and -j 2");
    let trials = jobs(&a).iter().filter(|j| !j.2.is_null()).count();
    assert_eq!(trials, 9);
    // Every job ended, once.
    let ends = a.iter().filter(|r| r["event"] == "end").count();
    assert_eq!(ends, jobs(&a).len());

    // Each trial is one folder; the rungs stopped most of them.
    let runs = folders(&sb, "results");
    assert_eq!(runs.len(), 9, "{runs:?}");
    let status = |run: &Path| {
        json(&run.join("manifest.json"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pruned = runs.iter().filter(|r| status(r) == "pruned").count();
    let completed: Vec<&PathBuf> = runs.iter().filter(|r| status(r) == "completed").collect();
    assert!(
        pruned >= 6 && !completed.is_empty(),
        "{pruned} pruned, {completed:?}"
    );
    assert!(
        runs.iter().filter(|r| status(r) == "pruned").all(|r| r
            .join("checkpoints")
            .read_dir()
            .unwrap()
            .count()
            >= 2
            && r.join("checkpoints/best.bpk").is_file())
    );

    // A promoted trial, resumed at every rung, ends with the bits of the same configuration
    // trained straight through.
    let promoted = completed
        .iter()
        .find(|r| {
            json(&r.join("manifest.json"))["resumptions"]
                .as_array()
                .unwrap()
                .len()
                == 2
        })
        .expect("a trial promoted through both rungs");
    let config = std::fs::read_to_string(promoted.join("config.toml")).unwrap();
    let straight = sb.write("straight.toml", &config);
    ok(&run_into(&sb, &straight, "straight", &[]));
    let single = std::fs::read_dir(sb.path().join("straight/e2e"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let read = |run: &Path, f: &str| std::fs::read_to_string(run.join(f)).unwrap();
    assert_eq!(
        without_timings(&read(promoted, "metrics/epochs.csv")),
        without_timings(&read(&single, "metrics/epochs.csv"))
    );
    assert_eq!(
        read(promoted, "metrics/steps.csv"),
        read(&single, "metrics/steps.csv")
    );
    assert_eq!(
        json(&promoted.join("test.json")),
        json(&single.join("test.json"))
    );
    assert_eq!(weights(&sb, promoted), weights(&sb, &single));

    // A trial stopped by a signal just as it reached its rung (its first epoch's end) is
    // recorded there when the search goes on, not trained past it.
    let stopped = sb
        .command(&[
            "--quiet",
            "run",
            file.to_str().unwrap(),
            "--results",
            "stopped",
        ])
        .env("KILN_FAULT", "sigterm-epoch:1")
        .output()
        .unwrap();
    assert_eq!(stopped.status.code(), Some(75), "{}", stderr(&stopped));
    ok(&run_into(&sb, &file, "stopped", &[]));
    assert_eq!(jobs(&journal(&sb, "stopped")), jobs(&a));

    // Run again: nothing to do. `status` shows the rungs and the best trial.
    let again = sb.run(&file, &["--quiet"]);
    ok(&again);
    assert_eq!(jobs(&journal(&sb, "results")), jobs(&a));
    let status = sb.kiln(&["status", file.to_str().unwrap(), "--results", "results"]);
    ok(&status);
    let shown = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        shown.contains("rungs: epoch 1: 9, epoch 3: ") && shown.contains("the search is done"),
        "{shown}"
    );

    // compare: what the search spent until it first reached a target, pruned trials
    // included, and the best-so-far chart.
    let compare = sb.kiln(&[
        "compare",
        "--sweep",
        "asha",
        "--target",
        "val_accuracy=0.3",
        "--charts",
        "charts",
    ]);
    ok(&compare);
    let said = String::from_utf8_lossy(&compare.stdout).into_owned();
    let line = said
        .lines()
        .find(|l| l.starts_with("e2e/asha: val_accuracy reached 0.3 after"))
        .unwrap_or_else(|| panic!("{said}"));
    let epochs_in_all = |text: &str, before: &str| -> u64 {
        let at = text.find(before).unwrap_or_else(|| panic!("{text}"));
        text[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        epochs_in_all(line, "epochs in all"),
        epochs_in_all(&shown, "trial-epochs trained"),
        "{line}\n{shown}"
    );
    assert!(sb.path().join("charts/progress.svg").is_file());
    // The report puts the best trials first.
    ok(&sb.kiln(&[
        "report",
        "--sweep",
        "asha",
        "--status",
        "all",
        "--metrics",
        "best_val_accuracy",
        "--out",
        "report.html",
    ]));
    let html = std::fs::read_to_string(sb.path().join("report.html")).unwrap();
    let table = html
        .split("id=\"comparison\"")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    // The last number of each row is its best_val_accuracy.
    let values: Vec<f64> = table
        .split("<tr>")
        .filter_map(|row| {
            row.rsplit("data-sort=\"")
                .next()?
                .split('"')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(values.len(), 9, "{table}");
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");

    // Another space in the same folder is refused, and so is a bad value in the space.
    let other = sb.write("other.toml", &SEARCH.replace("budget = 9", "budget = 10"));
    let refused = sb.run(&other, &["--quiet"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("holds another search"),
        "{}",
        stderr(&refused)
    );
    let bad = sb.write(
        "bad.toml",
        &SEARCH
            .replace("[[16], [32]]", "[[16], [0]]")
            .replace("\"asha\"\n\n", "\"bad\"\n\n"),
    );
    let refused = sb.run(&bad, &["--quiet"]);
    assert!(!refused.status.success());
    let e = stderr(&refused);
    assert!(
        e.contains("sweep.search with") && e.contains("hidden=[0]"),
        "{e}"
    );
    assert!(!sb.path().join("results/e2e/bad").exists());
}

fn worker(sb: &Sandbox, file: &Path) -> Child {
    sb.run_command(file, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn workers_killed_at_random_lose_nothing_and_every_trial_runs_once() {
    let sb = Sandbox::new();
    let slow = SEARCH
        .replace("train_limit = 1000", "train_limit = 3000")
        .replace("hidden = [32]\n", "hidden = [256, 256]\n")
        .replace("[[16], [32]]", "[[256, 256], [512, 256]]")
        .replace("budget = 9", "budget = 12");
    let file = sb.write("search.toml", &slow);
    let mut workers = [worker(&sb, &file), worker(&sb, &file)];
    let clock = Instant::now();
    // Kill -9 a worker now and then (its trial's process lives on), and start another.
    let mut kills = 0;
    for round in 0..8 {
        std::thread::sleep(Duration::from_millis(150 + 97 * (round % 5)));
        let w = &mut workers[round as usize % 2];
        if w.try_wait().unwrap().is_some() {
            continue;
        }
        w.kill().unwrap();
        w.wait().unwrap();
        kills += 1;
        *w = worker(&sb, &file);
    }
    for w in &mut workers {
        let status = w.wait().unwrap();
        assert!(status.success(), "a worker failed");
    }
    assert!(kills >= 3, "the search ended before it was killed");
    assert!(clock.elapsed() < Duration::from_secs(600));
    // A last run finds everything done.
    let last = sb.run(&file, &["--quiet"]);
    ok(&last);
    let records = journal(&sb, "results");
    let decided = jobs(&records);
    let ended: Vec<u64> = records
        .iter()
        .filter(|r| r["event"] == "end")
        .map(|r| r["job"].as_u64().unwrap())
        .collect();
    let starts = records.iter().filter(|r| r["event"] == "start").count();
    assert!(
        starts > decided.len(),
        "no job was taken over from a killed worker"
    );
    let mut unique = ended.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique,
        (0..decided.len() as u64).collect::<Vec<_>>(),
        "every job ended"
    );
    let runs = folders(&sb, "results");
    assert_eq!(runs.len(), 12, "one folder a trial: {runs:?}");
    for run in &runs {
        let status = json(&run.join("manifest.json"))["status"].clone();
        assert!(
            status == "pruned" || status == "completed",
            "{run:?}: {status}"
        );
    }
    // And the kills changed nothing: the same jobs as an undisturbed search.
    ok(&run_into(&sb, &file, "calm", &[]));
    assert_eq!(jobs(&journal(&sb, "calm")), decided);
}

#[test]
fn a_population_hands_its_best_weights_on_the_same_way_at_any_j_and_keeps_the_lineage() {
    let sb = Sandbox::new();
    let population = SEARCH
        .replace("epochs = 9", "epochs = 6")
        .replace("name = \"asha\"", "name = \"pbt\"")
        .replace("schedule = { kind = \"cosine\" }\n", "");
    let head = population.split("[sweep.search]").next().unwrap();
    let file = sb.write(
        "pbt.toml",
        &format!(
            "{head}[sweep.search]\npruner = \"pbt\"\nbudget = 4\ninterval = 2\nseed = 2\ntrain.learning_rate = {{ log_uniform = [1e-4, 1e-1] }}\nmodel.dropout = {{ uniform = [0.0, 0.5] }}\n"
        ),
    );
    ok(&sb.kiln(&["check", file.to_str().unwrap()]));
    let one = sb.run(&file, &["--quiet"]);
    ok(&one);
    ok(&run_into(&sb, &file, "results2", &["-j", "3"]));
    let read_journal = |results: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(sb.path().join(results).join("e2e/pbt/journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let decided = |records: &[serde_json::Value]| -> Vec<(serde_json::Value, serde_json::Value)> {
        records
            .iter()
            .filter(|r| r["event"] == "job")
            .map(|r| (r["values"].clone(), r["from"].clone()))
            .collect()
    };
    // Every new member killed as it takes up its parent's checkpoint goes on from it.
    let killed = sb
        .command(&[
            "--quiet",
            "run",
            file.to_str().unwrap(),
            "--results",
            "results3",
        ])
        .env("KILN_FAULT", "fork:1")
        .output()
        .unwrap();
    ok(&killed);
    let (a, b) = (read_journal("results"), read_journal("results2"));
    assert_eq!(jobs(&a), jobs(&b), "the same jobs with -j 1 and -j 3");
    assert_eq!(decided(&a), decided(&b));
    assert_eq!(decided(&a), decided(&read_journal("results3")));
    // 4 members, 6 epochs in steps of 2: one member of four replaced at epochs 2 and 4.
    let forks: Vec<&serde_json::Value> = a
        .iter()
        .filter(|r| r["event"] == "job" && !r["from"].is_null())
        .collect();
    assert_eq!(forks.len(), 2, "{forks:?}");
    assert_eq!(
        forks
            .iter()
            .map(|f| f["from"]["epoch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 4]
    );

    let dir = sb.path().join("results/e2e/pbt");
    let run_of = |trial: u64| dir.join(format!("t{trial:03}-s5"));
    let read = |run: &Path, f: &str| std::fs::read_to_string(run.join(f)).unwrap();
    for f in &forks {
        let child = run_of(f["trial"].as_u64().unwrap() + 1);
        let parent = f["from"]["trial"].as_u64().unwrap() + 1;
        let epoch = f["from"]["epoch"].as_u64().unwrap() as usize;
        let lineage = &json(&child.join("manifest.json"))["sweep"]["from"];
        assert_eq!(lineage["trial"].as_u64(), Some(parent), "{lineage}");
        assert_eq!(lineage["epoch"].as_u64(), Some(epoch as u64));
        assert_eq!(json(&child.join("manifest.json"))["status"], "completed");
        // Its history up to the fork is its parent's: it went on from the parent's weights,
        // with a learning rate of its own after that.
        let mine = without_timings(&read(&child, "metrics/epochs.csv"));
        let theirs = without_timings(&read(&run_of(parent), "metrics/epochs.csv"));
        assert_eq!(mine.len(), 7, "a header and 6 epochs");
        assert_eq!(mine[..=epoch], theirs[..=epoch]);
        let lr = mine[0].iter().position(|c| c == "learning_rate").unwrap();
        let own: f64 = f["values"][0][1].as_f64().unwrap();
        for row in &mine[epoch + 1..] {
            assert_eq!(row[lr].parse::<f64>().unwrap(), own);
        }
        assert_ne!(mine[epoch + 1], theirs[epoch + 1]);
        let again = sb
            .path()
            .join("results3/e2e/pbt")
            .join(child.file_name().unwrap());
        assert_eq!(
            without_timings(&read(&again, "metrics/epochs.csv")),
            mine,
            "killed as it started"
        );
        let first = &json(&again.join("manifest.json"))["resumptions"][0];
        assert_eq!(first["from_epoch"].as_u64(), Some(epoch as u64), "{first}");
        assert!(
            first["after"].as_str().unwrap().starts_with("killed"),
            "{first}"
        );
    }
    // The snapshots kept for the members were removed once the population finished.
    assert!(
        std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| !e.unwrap().path().join("snapshots").exists())
    );
    // compare shows the lineage.
    let table = sb.kiln(&[
        "compare",
        "--results",
        "results",
        "--sweep",
        "pbt",
        "--status",
        "all",
        "--format",
        "csv",
    ]);
    ok(&table);
    let csv = String::from_utf8_lossy(&table.stdout);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(
        header.contains(&"parent") && header.contains(&"fork_epoch"),
        "{csv}"
    );
    let out = String::from_utf8_lossy(&one.stdout);
    assert!(out.contains("takes up trial"), "{out}");
    // The report draws the family tree, on the metric and on the learning rate.
    let page = sb.path().join("pbt.html");
    ok(&sb.kiln(&[
        "report",
        "--results",
        "results",
        "--sweep",
        "pbt",
        "--out",
        page.to_str().unwrap(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    for caption in [
        "val_accuracy of each trial of population pbt",
        "learning_rate of each trial of population pbt",
    ] {
        assert!(html.contains(caption), "{caption}");
    }
    // The report of one run shows that run: its own charts, no bars.
    ok(&sb.kiln(&[
        "report",
        "--results",
        "results",
        "--run",
        "e2e/pbt/t001-s5",
        "--status",
        "all",
        "--out",
        page.to_str().unwrap(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    for text in ["<h2>The run</h2>", "loss per epoch", "accuracy per epoch"] {
        assert!(html.contains(text), "{text}");
    }
    assert!(!html.contains("per group"), "no bar chart of one run");
}

#[test]
#[ignore = "needs a headless chromium (Debian's `chromium`): `cargo xtask test` runs it when one is installed"]
fn a_search_report_opens_in_headless_chromium() {
    let sb = Sandbox::new();
    let head = SEARCH.split("[sweep.search]").next().unwrap();
    let file = sb.write(
        "random.toml",
        &format!(
            "{}[sweep.search]\nsampler = \"random\"\nbudget = 8\nseed = 4\ntrain.learning_rate = {{ log_uniform = [1e-4, 1e-1] }}\nmodel.dropout = {{ uniform = [0.0, 0.5] }}\ntrain.optimizer.name = {{ choice = [\"sgd\", \"adam\"] }}\n",
            head.replace("epochs = 9", "epochs = 2")
                .replace("name = \"asha\"", "name = \"random\"")
        ),
    );
    ok(&sb.run(&file, &["--quiet", "-j", "2"]));
    let page = sb.path().join("report.html");
    ok(&sb.kiln(&[
        "report",
        "--sweep",
        "random",
        "--out",
        page.to_str().unwrap(),
    ]));
    let dom = common::page_in_chromium(&page);
    // Curves, best so far against time and against trials, bars, the parameters' importance
    // and parallel coordinates, and a slice per number (learning rate, dropout).
    assert!(
        dom.contains("data-charts-drawn=\"8\""),
        "{}",
        &dom[..dom.len().min(400)]
    );
    for caption in [
        "so far against the trials",
        "variance between the values",
        "each trial's parameters",
        "against train.learning_rate",
        "against model.dropout",
    ] {
        assert!(dom.contains(caption), "{caption}");
    }
}
