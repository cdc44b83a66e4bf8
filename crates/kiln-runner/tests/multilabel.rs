//! Multi-label classification through the real binary: a table's 0/1 label columns learnt
//! together, reported per label and per row, and bad labels refused by file, row and column.

mod common;

use std::fmt::Write as _;

use common::{Lcg, Sandbox, json, stderr};

/// `rows` rows of numbers `a`, `b` in [0, 1) and a colour, with four labels that follow
/// from them (any number true at once): `high_a`, `high_b`, `red` and `sum`
/// (`a + b > 1`). Seeded, so the same on every machine.
fn table(rows: usize, seed: u64) -> String {
    let mut r = Lcg(seed);
    let mut next = move || r.next();
    let mut s = String::from("a,b,colour,high_a,high_b,red,sum\n");
    for _ in 0..rows {
        let (a, b) = (next(), next());
        let colour = ["red", "green", "blue"][(next() * 3.0) as usize];
        let flag = |x: bool| u8::from(x);
        writeln!(
            s,
            "{a:.4},{b:.4},{colour},{},{},{},{}",
            flag(a > 0.5),
            flag(b > 0.3),
            flag(colour == "red"),
            flag(a + b > 1.0)
        )
        .unwrap();
    }
    s
}

fn experiment(data: &str) -> String {
    format!(
        r#"task = "multilabel"
name = "tags"
seed = 5

[data]
dataset = "table"
target = ["high_a", "high_b", "red", "sum"]
{data}

[model]
kind = "tabular"
hidden = [32]

[train]
epochs = 40
batch_size = 16
learning_rate = 0.01
optimizer = {{ name = "adam" }}
monitor = "val_macro_f1"
"#
    )
}

#[test]
fn a_table_of_labels_trains_a_multilabel_classifier_reported_per_label() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table(600, 1));
    sb.write("test.csv", &table(120, 2));
    let file = sb.write(
        "e.toml",
        &experiment("path = \"t.csv\"\ntest = \"test.csv\""),
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = sb.runs("tags");
    let run = &runs[0];
    let test = json(&run.join("test.json"));
    let metric = |k: &str| test[k].as_f64().unwrap();
    assert!(metric("accuracy") > 0.9, "{test}");
    assert!(metric("macro_f1") > 0.85, "{test}");
    // Every label right in a row is rarer than each label right.
    assert!(metric("subset_accuracy") <= metric("accuracy"), "{test}");
    assert!(metric("subset_accuracy") > 0.5, "{test}");
    assert_eq!(test["samples"].as_u64(), Some(120));
    let per = test["per_label"].as_array().unwrap();
    let names: Vec<&str> = per.iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(names, ["high_a", "high_b", "red", "sum"]);
    // Support is how many test rows have the label, counted from the file itself.
    let file_rows = table(120, 2);
    let reds = file_rows
        .lines()
        .skip(1)
        .filter(|l| l.contains(",red,"))
        .count();
    assert_eq!(per[2]["support"].as_u64(), Some(reds as u64));
    assert!(per[2]["f1"].as_f64().unwrap() > 0.95, "{test}");

    let outputs = std::fs::read_to_string(run.join("test_outputs.csv")).unwrap();
    let lines: Vec<&str> = outputs.lines().collect();
    assert_eq!(
        lines[0],
        "row,high_a,probability_high_a,high_b,probability_high_b,red,probability_red,sum,probability_sum"
    );
    assert_eq!(lines.len(), 121);
    for (line, row) in lines[1..].iter().zip(file_rows.lines().skip(1)) {
        let cells: Vec<&str> = line.split(',').collect();
        let labels: Vec<&str> = row.split(',').skip(3).collect();
        for (t, label) in labels.iter().enumerate() {
            assert_eq!(cells[1 + 2 * t], *label, "{line} against {row}");
            let p: f64 = cells[2 + 2 * t].parse().unwrap();
            assert!((0.0..=1.0).contains(&p), "{line}");
        }
    }
    // The epochs' table has the task's own metrics, and compare shows them.
    let epochs = std::fs::read_to_string(run.join("metrics/epochs.csv")).unwrap();
    let header = epochs.lines().next().unwrap();
    for column in ["val_micro_f1", "val_subset_accuracy", "train_macro_f1"] {
        assert!(header.split(',').any(|c| c == column), "{header}");
    }
    let out = sb.kiln(&[
        "compare",
        "-m",
        "test_subset_accuracy,test_micro_f1",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let compared = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = compared.lines().nth(1).unwrap().split(',').collect();
    let shown = |i: usize| row[i].parse::<f64>().unwrap();
    assert_eq!(shown(2), metric("subset_accuracy"), "{compared}");
    assert_eq!(shown(3), metric("micro_f1"), "{compared}");
    // The same seed gives the same run.
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = sb
        .runs("tags")
        .into_iter()
        .find(|r| r != run)
        .expect("a second run");
    assert_eq!(
        std::fs::read(run.join("test.json")).unwrap(),
        std::fs::read(again.join("test.json")).unwrap()
    );
    // Serving a multi-label run is refused by name, not answered as a regression.
    let out = sb.kiln(&["predict", run.to_str().unwrap(), "test.csv"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the run is a multilabel task; `predict` needs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_labels_and_settings_are_refused_by_name_with_no_run_folder() {
    let refused = |files: &[(&str, String)], data: &str, sets: &[&str]| {
        let sb = Sandbox::new();
        for (name, text) in files {
            sb.write(name, text);
        }
        let file = sb.write("e.toml", &experiment(data));
        let mut args = vec!["--quiet"];
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = sb.run(&file, &args);
        assert!(!out.status.success(), "accepted: {data} {sets:?}");
        assert!(!sb.path().join("results/tags").exists(), "{data}");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    let good = table(60, 3);
    // A 2 in the training file, row 4.
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[4] = lines[4].rsplit_once(',').unwrap().0.to_string() + ",2";
    let err = refused(&[("t.csv", lines.join("\n"))], "path = \"t.csv\"", &[]);
    assert!(
        err.contains("t.csv") && err.contains("row 4, column `sum`: 2 is not a label (0 or 1)"),
        "{err}"
    );
    // An empty label in the test file, row 2.
    let mut lines: Vec<String> = table(20, 4).lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen(",0,", ",,", 1).replacen(",1,", ",,", 1);
    let err = refused(
        &[("t.csv", good.clone()), ("test.csv", lines.join("\n"))],
        "path = \"t.csv\"\ntest = \"test.csv\"",
        &[],
    );
    assert!(
        err.contains("test.csv")
            && err.contains("row 2, column `high_")
            && err.contains("the label is missing"),
        "{err}"
    );
    // A regression loss, a metric the task does not report, a model it does not train.
    let files = [("t.csv", good)];
    let err = refused(&files, "path = \"t.csv\"", &["train.loss=\"mse\""]);
    assert!(
        err.contains("`train.loss`") && err.contains("binary cross-entropy"),
        "{err}"
    );
    let err = refused(&files, "path = \"t.csv\"", &["train.monitor=\"val_rmse\""]);
    assert!(err.contains("val_subset_accuracy"), "{err}");
    let sb = Sandbox::new();
    sb.write("t.csv", &files[0].1);
    let mlp = experiment("path = \"t.csv\"").replace("kind = \"tabular\"", "kind = \"mlp\"");
    let out = sb.run(&sb.write("e.toml", &mlp), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("multilabel task trains mlp on images") && err.contains("data.dataset"),
        "{err}"
    );
}

/// `count` 12x12 grey images in `imgs/`, each with a bright bar on its left, its right, both
/// or neither, listed in `imgs/labels.csv` with a 0/1 column for each bar.
fn bars(sb: &Sandbox, count: usize) {
    let mut r = Lcg(9);
    let root = sb.path().join("imgs");
    std::fs::create_dir_all(&root).unwrap();
    let mut csv = String::from("file,left,right\n");
    for i in 0..count {
        let (left, right) = (r.next() < 0.5, r.next() < 0.4);
        let noise: Vec<u8> = (0..144).map(|_| (r.next() * 60.0) as u8).collect();
        image::GrayImage::from_fn(12, 12, |x, y| {
            let bar = (left && x < 3) || (right && x >= 9);
            image::Luma([if bar {
                230
            } else {
                noise[(y * 12 + x) as usize]
            }])
        })
        .save(root.join(format!("{i}.png")))
        .unwrap();
        writeln!(csv, "{i}.png,{},{}", u8::from(left), u8::from(right)).unwrap();
    }
    std::fs::write(root.join("labels.csv"), csv).unwrap();
}

#[test]
fn images_listed_with_labels_train_a_multilabel_classifier() {
    let sb = Sandbox::new();
    bars(&sb, 120);
    let file = sb.write(
        "e.toml",
        r#"task = "multilabel"
name = "tags"
seed = 5

[data]
dataset = "images"
path = "imgs"
targets = "imgs/labels.csv"
target = ["left", "right"]
size = [12, 12]
channels = 1
test_fraction = 0.25

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 30
batch_size = 16
learning_rate = 0.003
optimizer = { name = "adam" }
"#,
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = &sb.runs("tags")[0];
    let test = json(&run.join("test.json"));
    assert_eq!(test["samples"].as_u64(), Some(30));
    assert!(test["subset_accuracy"].as_f64().unwrap() > 0.9, "{test}");
    let outputs = std::fs::read_to_string(run.join("test_outputs.csv")).unwrap();
    let lines: Vec<&str> = outputs.lines().collect();
    assert_eq!(
        lines[0],
        "file,left,probability_left,right,probability_right"
    );
    assert_eq!(lines.len(), 31);
    // Each test image's labels are the table's.
    let table = std::fs::read_to_string(sb.path().join("imgs/labels.csv")).unwrap();
    for line in &lines[1..] {
        let (file, rest) = line.split_once(',').unwrap();
        let cells: Vec<&str> = rest.split(',').collect();
        let listed = table
            .lines()
            .find(|l| l.starts_with(&format!("{file},")))
            .unwrap();
        assert_eq!(
            listed,
            format!("{file},{},{}", cells[0], cells[2]),
            "{line}"
        );
    }
    // A label that is not 0 or 1 is refused by the table's row; images need the table.
    std::fs::write(
        sb.path().join("imgs/labels.csv"),
        table.replacen(",0\n", ",3\n", 1),
    )
    .unwrap();
    let out = sb.run(&file, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("labels.csv") && stderr(&out).contains("3 is not a label"),
        "{}",
        stderr(&out)
    );
    let out = sb.run(&file, &["--set", "data.targets=\"\""]);
    assert!(!out.status.success());
    let out = sb.kiln(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sb.runs("tags").len(), 1);
}
