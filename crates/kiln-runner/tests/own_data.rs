//! Training on a user's own files through the real binary: tables (CSV, TSV, Parquet, JSON
//! lines) for classification and regression, labelled texts in UTF-8 and Latin-1, and every
//! bad input refused by name with no run folder left behind.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Lcg, Sandbox, json, stderr};

/// `rows` rows of a learnable table: a class from a colour (a category), a size (a number,
/// sometimes missing) and a noise column; the regression target is `3 * size + colour`.
fn table(rows: usize, seed: u64, separator: char) -> String {
    let mut r = Lcg(seed);
    let colours = ["red", "green", "blue"];
    let mut s = ["colour", "size", "noise", "label", "y"].join(&separator.to_string());
    s.push('\n');
    for _ in 0..rows {
        let c = (r.next() * 3.0) as usize;
        let size = r.next() * 10.0;
        let missing = r.next() < 0.1;
        let label = if size > 5.0 { "big" } else { "small" };
        let label = if c == 2 { "blue" } else { label };
        let y = 3.0 * size + c as f64 * 5.0;
        let size = if missing {
            String::new()
        } else {
            format!("{size:.3}")
        };
        let sep = separator;
        writeln!(
            s,
            "{}{sep}{size}{sep}{:.3}{sep}{label}{sep}{y:.3}",
            colours[c],
            r.next()
        )
        .unwrap();
    }
    s
}

fn experiment(task: &str, data: &str, epochs: usize) -> String {
    format!(
        r#"task = "{task}"
name = "own"
seed = 3

[data]
{data}

[model]
kind = "tabular"
hidden = [32]

[train]
epochs = {epochs}
batch_size = 16
learning_rate = 0.01
optimizer = {{ name = "adam" }}
"#
    )
}

fn only_run(sb: &Sandbox) -> std::path::PathBuf {
    let runs = sb.runs("own");
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_csv_table_trains_a_classifier_that_learns_its_rule() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table(600, 1, ','));
    let file = sb.write(
        "e.toml",
        &experiment(
            "classification",
            "dataset = \"table\"\npath = \"t.csv\"\ntarget = \"label\"\nignore = [\"y\"]",
            12,
        ),
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    let accuracy = test["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "{accuracy}");
    // 20 % of 600 rows held out, the same share of each class.
    assert_eq!(test["samples"].as_u64(), Some(120));
    let pre = json(&run.join("preprocessing.json"));
    assert_eq!(pre["input"], "table");
    assert_eq!(pre["classes"], serde_json::json!(["big", "blue", "small"]));
    let codec = &pre["codec"];
    assert_eq!(
        codec["categorical"][0]["levels"],
        serde_json::json!(["blue", "green", "red"])
    );
    assert_eq!(codec["numeric"][0]["name"], "size");
    assert_eq!(codec["numeric"][0]["missing_flag"], true);
    // All 600 rows of the training file, labelled, through evaluate.
    let confusion = std::fs::read_to_string(run.join("confusion.csv")).unwrap();
    assert!(confusion.starts_with("actual,predicted_big"), "{confusion}");
    sb.write("all.csv", &table(600, 1, ','));
    let out = sb.kiln(&["evaluate", run.to_str().unwrap(), "--data", "all.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = json(&run.join("evaluations/all_csv/test.json"));
    assert_eq!(all["samples"].as_u64(), Some(600));
    assert!(all["accuracy"].as_f64().unwrap() > 0.9, "{all}");
    sb.write("bad.csv", "colour,size,noise,label,y\nred,1,0.5,huge,3\n");
    let out = sb.kiln(&["evaluate", run.to_str().unwrap(), "--data", "bad.csv"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad.csv: row 1, column `label`: class `huge`"),
        "{}",
        stderr(&out)
    );
    // New rows without the target: each gets its class and probability.
    let rows: String = table(5, 8, ',')
        .lines()
        .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string() + "\n")
        .collect();
    sb.write("new.csv", &rows);
    let out = sb.kiln(&[
        "predict",
        run.to_str().unwrap(),
        "new.csv",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        answer.lines().next().unwrap(),
        "colour,size,noise,predicted,probability"
    );
    assert_eq!(answer.lines().count(), 6);
    let p: f64 = answer
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.0 / 3.0..=1.0).contains(&p), "{p}");
    sb.write("lacking.csv", "colour,noise\nred,0.5\n");
    let out = sb.kiln(&["predict", run.to_str().unwrap(), "lacking.csv"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lacking.csv: lacks the column(s) the run learnt from: size"),
        "{}",
        stderr(&out)
    );
    // The resolved config names the defaults it used.
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("max_levels = 10"), "{config}");
    assert!(config.contains("loss = \"cross_entropy\""), "{config}");
}

#[test]
fn every_table_format_and_encoding_gives_the_same_run() {
    let sb = Sandbox::new();
    let csv = table(300, 2, ',');
    sb.write("t.csv", &csv);
    sb.write("t.tsv", &table(300, 2, '\t'));
    // JSON lines with the same rows.
    let mut lines = String::new();
    for row in csv.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let size = if f[1].is_empty() { "null" } else { f[1] };
        writeln!(
            lines,
            r#"{{"colour": "{}", "size": {size}, "noise": {}, "label": "{}", "y": {}}}"#,
            f[0], f[2], f[3], f[4]
        )
        .unwrap();
    }
    sb.write("t.jsonl", &lines);
    // Parquet written by polars from the CSV.
    use polars::prelude::SerReader;
    let mut frame = polars::prelude::CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(sb.path().join("t.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let file = std::fs::File::create(sb.path().join("t.parquet")).unwrap();
    polars::prelude::ParquetWriter::new(file)
        .finish(&mut frame)
        .unwrap();
    let mut losses = Vec::new();
    for name in ["t.csv", "t.tsv", "t.jsonl", "t.parquet"] {
        let dir = format!("results_{}", name.replace('.', "_"));
        let file = sb.write(
            "e.toml",
            &experiment(
                "classification",
                &format!(
                    "dataset = \"table\"\npath = \"{name}\"\ntarget = \"label\"\nignore = [\"y\"]"
                ),
                2,
            ),
        );
        let out = sb
            .command(&["run", file.to_str().unwrap(), "--results", &dir, "--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let runs: Vec<_> = std::fs::read_dir(sb.path().join(&dir).join("own"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        losses.push(json(&runs[0].join("test.json"))["loss"].as_f64().unwrap());
    }
    assert!(losses.iter().all(|l| *l == losses[0]), "{losses:?}");
}

#[test]
fn a_regression_reports_its_targets_units_and_every_test_row() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table(500, 4, ','));
    sb.write("test.csv", &table(50, 5, ','));
    let file = sb.write(
        "e.toml",
        &format!(
            "{}\n",
            experiment(
                "regression",
                "dataset = \"table\"\npath = \"t.csv\"\ntest = \"test.csv\"\ntarget = \"y\"\nignore = [\"label\"]",
                30,
            )
        ),
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    // A tenth of the sizes are missing, so no model explains every row.
    let r2 = test["r2"].as_f64().unwrap();
    assert!(r2 > 0.5, "{test}");
    assert_eq!(test["samples"].as_u64(), Some(50));
    // y spans 0..40: the RMSE is in those units, not standardised ones.
    let rmse = test["rmse"].as_f64().unwrap();
    assert!(rmse > 0.05 && rmse < 6.0, "{rmse}");
    let outputs = std::fs::read_to_string(run.join("test_outputs.csv")).unwrap();
    let lines: Vec<&str> = outputs.lines().collect();
    assert_eq!(lines[0], "row,y,predicted_y");
    assert_eq!(lines.len(), 51);
    // Row 1 of test.csv, its target as written.
    let first_y = table(50, 5, ',')
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .to_string();
    assert!(
        lines[1].starts_with(&format!(
            "1,{}",
            first_y.trim_end_matches('0').trim_end_matches('.')
        )),
        "{}",
        lines[1]
    );
    for chart in ["fit.png", "residuals.svg", "rmse.png", "r2.png"] {
        assert!(run.join("charts").join(chart).is_file(), "{chart}");
    }
    assert!(!run.join("charts/accuracy.png").exists());
    // predict on the test file gives test_outputs.csv's predictions, appended to each row.
    let out = sb.kiln(&[
        "predict",
        run.to_str().unwrap(),
        "test.csv",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let predicted = String::from_utf8(out.stdout).unwrap();
    let header = predicted.lines().next().unwrap();
    assert_eq!(header, "colour,size,noise,label,y,predicted_y");
    for (row, (p, o)) in predicted
        .lines()
        .skip(1)
        .zip(lines.iter().skip(1))
        .enumerate()
    {
        let p: f64 = p.rsplit(',').next().unwrap().parse().unwrap();
        let o: f64 = o.rsplit(',').next().unwrap().parse().unwrap();
        assert!(
            (p - o).abs() < 1e-4 * o.abs().max(1.0),
            "row {row}: {p} against {o}"
        );
    }
    // evaluate on the run's own test file gives its test figures back, in a folder of
    // their own, and the index row gains them.
    let out = sb.kiln(&["evaluate", run.to_str().unwrap(), "--data", "test.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluation = json(&run.join("evaluations/test_csv/test.json"));
    for key in ["rmse", "mae", "r2", "loss"] {
        let (a, b) = (
            evaluation[key].as_f64().unwrap(),
            test[key].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-9 * b.abs().max(1.0),
            "{key}: {a} against {b}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(run.join("evaluations/test_csv/test_outputs.csv")).unwrap(),
        outputs
    );
    let out = sb.kiln(&["compare", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let compared = String::from_utf8(out.stdout).unwrap();
    assert!(compared.contains("eval.test_csv.rmse"), "{compared}");
    // A regression's table leaves out the classification columns no run has.
    assert!(!compared.contains("test_accuracy"), "{compared}");
    // Time to a target: a loss-like metric is reached at or below it, from the epochs'
    // own records; a target never reached leaves the cells empty.
    let epochs = std::fs::read_to_string(run.join("metrics/epochs.csv")).unwrap();
    let header: Vec<&str> = epochs.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<f64>> = epochs
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|c| c.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let third = rows[2][column("val_rmse")];
    let reached = rows
        .iter()
        .position(|r| r[column("val_rmse")] <= third)
        .unwrap();
    let seconds: f64 = rows[..=reached]
        .iter()
        .map(|r| r[column("epoch_seconds")])
        .sum();
    let target = format!("val_rmse={third}");
    let out = sb.kiln(&["compare", "--target", &target, "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    let mut lines = table.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cells: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |name: &str| cells[names.iter().position(|n| *n == name).unwrap()];
    assert_eq!(
        cell("epochs_to_target"),
        (reached + 1).to_string(),
        "{table}"
    );
    let got: f64 = cell("seconds_to_target").parse().unwrap();
    assert!((got - seconds).abs() < 1e-6, "{got} against {seconds}");
    let out = sb.kiln(&["compare", "--target", "val_r2=2", "--format", "csv"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().nth(1).unwrap().ends_with(",,"), "{table}");
    // An output path that cannot take a file is named whole, with the reason.
    if Path::new("/proc/self").is_dir() {
        let out = sb.kiln(&["compare", "-o", "/proc/kiln.csv"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("/proc/kiln.csv: /proc exists but takes no new files"),
            "{}",
            stderr(&out)
        );
    }
    let out = sb.kiln(&["compare", "--target", "val_rsme=2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`val_rsme`"), "{}", stderr(&out));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("loss = \"mse\""), "{config}");
    // A classification loss is refused for a regression.
    let out = sb.run(&file, &["--set", "train.loss=\"hinge\""]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`train.loss`"), "{}", stderr(&out));
}

/// Texts of three classes, with accented words, as a CSV with quoted multi-line fields.
fn texts(rows: usize, seed: u64) -> String {
    let mut r = Lcg(seed);
    let words = [
        ("sport", ["match", "équipe", "but", "joueur"]),
        ("cuisine", ["crème", "café", "gâteau", "sucre"]),
        ("météo", ["pluie", "soleil", "vent", "orage"]),
    ];
    let mut s = String::from("id,text,label\n");
    for i in 0..rows {
        let (label, vocab) = &words[(r.next() * 3.0) as usize];
        let text: Vec<&str> = (0..6).map(|_| vocab[(r.next() * 4.0) as usize]).collect();
        writeln!(s, "{i},\"{}, ok\nsuite\",{label}", text.join(" ")).unwrap();
    }
    s
}

fn text_experiment(data: &str) -> String {
    format!(
        r#"task = "classification"
name = "own"
seed = 3

[data]
dataset = "texts"
{data}

[model]
kind = "gru"
embedding_dim = 8
hidden = 8

[train]
epochs = 6
batch_size = 16
learning_rate = 0.02
optimizer = {{ name = "adam" }}
"#
    )
}

#[test]
fn labelled_texts_in_latin_1_train_a_three_class_classifier() {
    let sb = Sandbox::new();
    let text = texts(300, 7);
    let latin: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    std::fs::write(sb.path().join("t.csv"), &latin).unwrap();
    let file = sb.write(
        "e.toml",
        &text_experiment("path = \"t.csv\"\nencoding = \"latin-1\""),
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    assert!(test["accuracy"].as_f64().unwrap() > 0.9, "{test}");
    let names: Vec<&str> = test["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cuisine", "météo", "sport"]);
    let vocab = std::fs::read_to_string(run.join("vocab.txt")).unwrap();
    assert!(
        vocab.contains("gâteau"),
        "the vocabulary holds the decoded words"
    );
    // Read as UTF-8, the same bytes are refused at their line and offset.
    let file = sb.write("u.toml", &text_experiment("path = \"t.csv\""));
    let out = sb.run(&file, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("t.csv:2:") && err.contains("not UTF-8"),
        "{err}"
    );
    assert!(err.contains("latin-1"), "{err}");
}

/// Runs `data` (a `[data]` body for a table classifier) in a fresh sandbox holding `files`,
/// and returns the error, checking that it failed and left no run folder.
fn refused(files: &[(&str, &[u8])], data: &str) -> String {
    let sb = Sandbox::new();
    for (name, bytes) in files {
        std::fs::write(sb.path().join(name), bytes).unwrap();
    }
    let file = sb.write("e.toml", &experiment("classification", data, 1));
    let out = sb.run(&file, &[]);
    assert!(!out.status.success(), "accepted: {data}");
    assert!(
        !sb.path().join("results").join("own").exists(),
        "a run folder was left for: {data}"
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn table_at(path: &str) -> String {
    format!("dataset = \"table\"\npath = \"{path}\"\ntarget = \"y\"\ntest_fraction = 0.3")
}

#[test]
fn bad_tables_are_refused_by_file_row_and_column() {
    let good = b"a,b,y\n1,2,x\n3,4,z\n5,6,x\n7,8,z\n9,1,x\n2,3,z\n";
    let cases: &[(&str, &[u8], &str, &[&str])] = &[
        (
            "ragged.csv",
            b"a,b,y\n1,2,x\n3,4,z\n5,6,7,x\n8,9,z\n",
            "ragged",
            &["ragged.csv:4:", "3 fields", "found 4"],
        ),
        (
            "encoding.csv",
            b"a,b,y\n1,2,x\n3,4,z\n5,caf\xe9,x\n",
            "encoding",
            &["encoding.csv:4:", "0xE9", "byte offset 23"],
        ),
        (
            "dup.csv",
            b"a,a,y\n1,2,x\n3,4,z\n",
            "duplicate columns",
            &["dup.csv:1:", "column 2 named `a` again"],
        ),
        (
            "nan.csv",
            b"a,b,y\n1,2,x\n3,NaN,z\n5,6,x\n7,8,z\n",
            "NaN",
            &["nan.csv: row 2, column `b`: NaN is not a finite number"],
        ),
        (
            "inf.csv",
            b"a,b,y\n1,2,x\n3,4,z\n5,-inf,x\n7,8,z\n",
            "infinity",
            &["inf.csv: row 3, column `b`: -inf is not a finite number"],
        ),
        (
            "one.csv",
            b"a,b,y\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n",
            "one class",
            &["one.csv", "target `y` has one class (x)"],
        ),
        (
            "empty_target.csv",
            b"a,b,y\n1,2,x\n3,4,\n5,6,z\n7,8,x\n",
            "missing target",
            &["empty_target.csv: row 2, column `y`: the target is missing"],
        ),
        ("empty.csv", b"", "empty file", &["empty.csv:1:", "header"]),
    ];
    for (name, bytes, what, expected) in cases {
        let err = refused(&[(name, bytes)], &table_at(name));
        for e in *expected {
            assert!(err.contains(e), "{what}: expected `{e}` in: {err}");
        }
    }
    let err = refused(
        &[("t.csv", good)],
        "dataset = \"table\"\npath = \"t.csv\"\ntarget = \"why\"",
    );
    assert!(
        err.contains("t.csv: no column `why`") && err.contains("a, b, y"),
        "{err}"
    );
    let err = refused(
        &[("t.csv", good), ("test.csv", b"a,c,y\n1,2,x\n")],
        "dataset = \"table\"\npath = \"t.csv\"\ntest = \"test.csv\"\ntarget = \"y\"",
    );
    assert!(
        err.contains(
            "test.csv: its columns differ from the training file's: lacks `b`; has `c` besides"
        ),
        "{err}"
    );
    let err = refused(
        &[("t.csv", good), ("test.csv", b"a,b,y\n1,2,x\n3,4,w\n")],
        "dataset = \"table\"\npath = \"t.csv\"\ntest = \"test.csv\"\ntarget = \"y\"",
    );
    assert!(
        err.contains(
            "test.csv: row 2, column `y`: class `w` is not among the training rows' classes (x, z)"
        ),
        "{err}"
    );
    let err = refused(&[("t.csv", good)], &table_at("missing.csv"));
    assert!(
        err.contains("missing.csv") && err.contains("No such file"),
        "{err}"
    );
    let err = refused(&[("t.xlsx", good)], &table_at("t.xlsx"));
    assert!(err.contains("t.xlsx: not a table file kiln reads"), "{err}");
    let err = refused(
        &[("t.jsonl", b"{\"a\": 1, \"y\": \"x\"}\n[1, 2]\n")],
        &table_at("t.jsonl"),
    );
    assert!(
        err.contains("t.jsonl:2:") && err.contains("a JSON array"),
        "{err}"
    );
    // A numeric override on a text column names the value.
    let err = refused(
        &[("t.csv", b"a,b,y\n1,red,x\n3,4,z\n5,6,x\n7,8,z\n")],
        "dataset = \"table\"\npath = \"t.csv\"\ntarget = \"y\"\nnumeric = [\"b\"]",
    );
    assert!(
        err.contains("row 1, column `b`: `red` is not a number"),
        "{err}"
    );
}

#[test]
fn bad_text_files_are_refused_by_name() {
    let texts_at = |path: &str, extra: &str| format!("path = \"{path}\"\n{extra}");
    let run = |files: &[(&str, &[u8])], data: &str| -> String {
        let sb = Sandbox::new();
        for (name, bytes) in files {
            std::fs::write(sb.path().join(name), bytes).unwrap();
        }
        let file = sb.write("e.toml", &text_experiment(data));
        let out = sb.run(&file, &[]);
        assert!(!out.status.success(), "accepted: {data}");
        assert!(!sb.path().join("results").join("own").exists());
        stderr(&out)
    };
    let good: &[u8] = b"text,label\nhello there,a\nbye now,b\nhi,a\nciao,b\nyo,a\n";
    let err = run(&[("t.csv", good)], &texts_at("t.csv", "label = \"class\""));
    assert!(err.contains("t.csv: no column `class`"), "{err}");
    let err = run(
        &[("t.csv", b"text,label\nhello,a\nbye,a\nhi,a\n")],
        &texts_at("t.csv", ""),
    );
    assert!(err.contains("has one class (a)"), "{err}");
    let err = run(&[("t.csv", good)], &texts_at("t.csv", "text = \"label\""));
    assert!(err.contains("`data.label`"), "{err}");
}

#[test]
fn a_table_run_is_reproducible_from_its_seed() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table(200, 9, ','));
    let file = sb.write(
        "e.toml",
        &experiment(
            "classification",
            "dataset = \"table\"\npath = \"t.csv\"\ntarget = \"label\"",
            3,
        ),
    );
    for _ in 0..2 {
        let out = sb.run(&file, &["--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let runs = sb.runs("own");
    let metrics = |run: &Path| std::fs::read_to_string(run.join("test.json")).unwrap();
    assert_eq!(metrics(&runs[0]), metrics(&runs[1]));
}

/// Three classes of PNGs in several modes and sizes: a dark disc, a dark square or a dark
/// cross on a light or transparent ground.
fn shapes(root: &Path, per_class: usize) {
    for (class, inside) in [
        (
            "disc",
            (|x: f64, y: f64| x * x + y * y < 0.4) as fn(f64, f64) -> bool,
        ),
        ("square", |x: f64, y: f64| x.abs() < 0.55 && y.abs() < 0.55),
        ("cross", |x: f64, y: f64| x.abs() < 0.18 || y.abs() < 0.18),
    ] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let (w, h) = (16 + (i % 5) as u32 * 3, 14 + (i % 3) as u32 * 4);
            let at = |x: u32, y: u32| {
                inside(
                    (x as f64 + 0.5) / w as f64 * 2.0 - 1.0,
                    (y as f64 + 0.5) / h as f64 * 2.0 - 1.0,
                )
            };
            let path = dir.join(format!("{i}.png"));
            match i % 3 {
                0 => image::GrayImage::from_fn(w, h, |x, y| {
                    image::Luma([if at(x, y) { 30 } else { 230 }])
                })
                .save(path),
                1 => image::RgbaImage::from_fn(w, h, |x, y| {
                    if at(x, y) {
                        image::Rgba([20, 40, 200, 255])
                    } else {
                        image::Rgba([0, 0, 0, 0])
                    }
                })
                .save(path),
                _ => image::RgbImage::from_fn(w, h, |x, y| {
                    image::Rgb(if at(x, y) {
                        [90, 10, 10]
                    } else {
                        [250, 240, 200]
                    })
                })
                .save(path),
            }
            .unwrap();
        }
    }
}

fn image_experiment(data: &str) -> String {
    format!(
        r#"task = "classification"
name = "own"
seed = 3

[data]
dataset = "images"
path = "imgs"
size = [12, 12]
{data}

[model]
kind = "cnn"
blocks = [{{ channels = 8, kernel = 3, padding = 1, pool = 2 }}]
dense = [16]

[train]
epochs = 12
batch_size = 16
learning_rate = 0.005
optimizer = {{ name = "adam" }}
"#
    )
}

#[test]
fn an_image_folder_of_mixed_modes_trains_and_starts_from_its_cache() {
    let sb = Sandbox::new();
    shapes(&sb.path().join("imgs"), 30);
    let file = sb.write("e.toml", &image_experiment("channels = 3\nfit = \"pad\""));
    let out = sb.run(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("decoded 90 images of 3 classes"),
        "{}",
        stderr(&out)
    );
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    // Chance is a third.
    assert!(test["accuracy"].as_f64().unwrap() > 0.6, "{test}");
    assert_eq!(test["samples"].as_u64(), Some(18));
    let pre = json(&run.join("preprocessing.json"));
    assert_eq!(pre["shape"], serde_json::json!([3, 12, 12]));
    assert_eq!(
        pre["classes"],
        serde_json::json!(["cross", "disc", "square"])
    );
    assert_eq!(pre["normalization"]["kind"], "channels");
    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["data"]["image"], serde_json::json!([3, 12, 12]));
    // The second run reads the decoded images back and trains the same.
    let out = sb.run(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read from the cache"),
        "{}",
        stderr(&out)
    );
    let runs = sb.runs("own");
    assert_eq!(json(&runs[1].join("test.json")), test);
    // Grey, cropped: another shape, no cache hit.
    let out = sb.run(
        &file,
        &["--set", "data.channels=1", "--set", "data.fit=\"crop\""],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("decoded 90 images"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_image_folders_are_refused_by_path_or_skipped_and_counted() {
    let sb = Sandbox::new();
    let imgs = sb.path().join("imgs");
    shapes(&imgs, 6);
    std::fs::create_dir_all(imgs.join("empty")).unwrap();
    let file = sb.write("e.toml", &image_experiment(""));
    let out = sb.run(&file, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("empty: the class folder `empty` holds no image"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        imgs.join("empty/broken.png"),
        b"\x89PNG\r\n\x1a\n cut short",
    )
    .unwrap();
    let out = sb.run(&file, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("broken.png: does not decode") && err.contains("skip_unreadable"),
        "{err}"
    );
    assert!(
        !sb.path().join("results").exists(),
        "nothing written for a refused folder"
    );
    // Skipped: the empty class then has no image left, which is named too.
    let out = sb.run(&file, &["--set", "data.skip_unreadable=true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no image of the class `empty` decodes"),
        "{}",
        stderr(&out)
    );
    std::fs::copy(imgs.join("disc/0.png"), imgs.join("empty/fine.png")).unwrap();
    let out = sb.run(
        &file,
        &[
            "--set",
            "data.skip_unreadable=true",
            "--set",
            "train.epochs=1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped 1 files that do not decode"),
        "{}",
        stderr(&out)
    );
    let manifest = json(&only_run(&sb).join("manifest.json"));
    assert_eq!(manifest["data"]["skipped"], 1);
    for (set, expected) in [
        (
            "data.channels=2",
            "`data.channels`: must be 1 (grey) or 3 (RGB)",
        ),
        (
            "data.augment={ crop_padding = 12 }",
            "`data.augment.crop_padding`",
        ),
        ("data.path=\"nowhere\"", "nowhere: no such folder"),
    ] {
        let out = sb.run(&file, &["--set", set]);
        assert!(!out.status.success(), "{set}");
        assert!(stderr(&out).contains(expected), "{set}: {}", stderr(&out));
    }
}

/// A CIFAR-10 archive in the real binary format with `per_file` images in each file.
fn cifar10_archive(dir: &Path, per_file: usize) {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).unwrap();
    let file = std::fs::File::create(dir.join("cifar-10-binary.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), bytes)
            .unwrap();
    };
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    add("batches.meta.txt", names.as_bytes());
    let mut r = Lcg(11);
    let mut batch = |n: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            // The class is the image's brightness band: learnable from its pixels.
            let label = (i % 10) as u8;
            out.push(label);
            out.extend((0..3072).map(|_| label * 25 + (r.next() * 20.0) as u8));
        }
        out
    };
    for i in 1..=5 {
        let b = batch(per_file);
        add(&format!("data_batch_{i}.bin"), &b);
    }
    let b = batch(per_file);
    add("test_batch.bin", &b);
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

#[test]
fn a_cifar_archive_in_the_real_format_trains_a_resnet() {
    let sb = Sandbox::new();
    cifar10_archive(&sb.path().join("data"), 40);
    let file = sb.write(
        "e.toml",
        r#"task = "classification"
name = "own"
seed = 3

[data]
dataset = "cifar10"
augment = { flip = true, crop_padding = 2 }

[model]
kind = "resnet"
depth = 8
width = 4

[train]
epochs = 3
batch_size = 20
learning_rate = 0.01
optimizer = { name = "adam" }
"#,
    );
    let out = sb
        .run_command(&file, &["--quiet"])
        .env("KILN_DATASETS", sb.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    assert_eq!(test["samples"].as_u64(), Some(40));
    assert_eq!(test["per_class"][9]["name"], "truck");
    // Chance is a tenth.
    assert!(test["accuracy"].as_f64().unwrap() > 0.2, "{test}");
    let pre = json(&run.join("preprocessing.json"));
    assert_eq!(pre["shape"], serde_json::json!([3, 32, 32]));
    // Without the archive and with downloads off: named, nothing written.
    let out = sb.run(&file, &["--set", "data.download=false"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cifar-10-binary.tar.gz: missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_folder_run_predicts_and_evaluates_new_images_as_it_trained() {
    let sb = Sandbox::new();
    shapes(&sb.path().join("imgs/train"), 24);
    shapes(&sb.path().join("imgs/test"), 6);
    let file = sb.write("e.toml", &image_experiment("channels = 3\nfit = \"crop\""));
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    let run_arg = run.to_str().unwrap();
    // The test/ folder again, through evaluate: the same figures to the bit.
    let out = sb.kiln(&[
        "evaluate",
        run_arg,
        "--data",
        "imgs/test",
        "--name",
        "again",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = json(&run.join("evaluations/again/test.json"));
    assert_eq!(again["accuracy"], test["accuracy"]);
    assert_eq!(again["loss"], test["loss"]);
    // New files in colour, with their probabilities.
    let out = sb.kiln(&[
        "predict",
        run_arg,
        "imgs/test/disc/1.png",
        "imgs/test/cross",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1 + 6, "{csv}");
    // A folder whose classes the run does not know.
    std::fs::create_dir_all(sb.path().join("other/blob")).unwrap();
    std::fs::copy(
        sb.path().join("imgs/test/disc/1.png"),
        sb.path().join("other/blob/1.png"),
    )
    .unwrap();
    std::fs::create_dir_all(sb.path().join("other/disc")).unwrap();
    std::fs::copy(
        sb.path().join("imgs/test/disc/1.png"),
        sb.path().join("other/disc/1.png"),
    )
    .unwrap();
    let out = sb.kiln(&["evaluate", run_arg, "--data", "other"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("class folder `blob` is not one of the run's classes"),
        "{}",
        stderr(&out)
    );
}

/// Grey discs of a known radius at a known column, listed in `values.csv` (`file`,
/// `radius`, `x`) under `root`, in two sub-folders that are not classes; every fifth image
/// is larger, to be resized.
fn discs(root: &Path, count: usize, seed: u64) {
    let mut r = Lcg(seed);
    let mut csv = String::from("file,radius,x\n");
    for i in 0..count {
        let radius = 1.5 + r.next() * 4.0;
        let x = 5.0 + r.next() * 6.0;
        let size = if i % 5 == 0 { 20 } else { 16 };
        let scale = size as f64 / 16.0;
        let file = format!("{}/{i}.png", if i % 2 == 0 { "a" } else { "b" });
        let path = root.join(&file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_fn(size, size, |px, py| {
            let (dx, dy) = (
                (px as f64 + 0.5) / scale - x,
                (py as f64 + 0.5) / scale - 8.0,
            );
            image::Luma([if dx * dx + dy * dy < radius * radius {
                240
            } else {
                20
            }])
        })
        .save(&path)
        .unwrap();
        writeln!(csv, "{file},{radius:.3},{x:.3}").unwrap();
    }
    std::fs::write(root.join("values.csv"), csv).unwrap();
}

fn disc_experiment(data: &str) -> String {
    format!(
        r#"task = "regression"
name = "own"
seed = 3

[data]
dataset = "images"
path = "imgs"
size = [16, 16]
{data}

[model]
kind = "cnn"
blocks = [{{ channels = 8, kernel = 3, padding = 1, pool = 2 }}]
dense = [32]

[train]
epochs = 25
batch_size = 16
learning_rate = 0.003
optimizer = {{ name = "adam" }}
"#
    )
}

#[test]
fn images_listed_with_values_train_a_regression_that_predicts_and_evaluates() {
    let sb = Sandbox::new();
    discs(&sb.path().join("imgs"), 200, 11);
    discs(&sb.path().join("new"), 40, 12);
    let data = "targets = \"imgs/values.csv\"\ntarget = [\"radius\", \"x\"]";
    let file = sb.write("e.toml", &disc_experiment(data));
    let out = sb.run(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("decoded 200 images listed"),
        "{}",
        stderr(&out)
    );
    let run = only_run(&sb);
    let test = json(&run.join("test.json"));
    assert_eq!(test["samples"].as_u64(), Some(40), "{test}");
    for target in test["per_target"].as_array().unwrap() {
        // Chance (the mean) has R² 0; the radius spans 4 pixels and x 6.
        assert!(target["r2"].as_f64().unwrap() > 0.5, "{test}");
    }
    let outputs = std::fs::read_to_string(run.join("test_outputs.csv")).unwrap();
    let lines: Vec<&str> = outputs.lines().collect();
    assert_eq!(lines[0], "file,radius,predicted_radius,x,predicted_x");
    assert_eq!(lines.len(), 41);
    let pre = json(&run.join("preprocessing.json"));
    assert_eq!(pre["target"]["columns"], serde_json::json!(["radius", "x"]));
    assert_eq!(pre["classes"], serde_json::json!([]));
    assert!(run.join("charts/fit.png").is_file());

    // predict answers a test image as the run's own test did.
    let first: Vec<&str> = lines[1].split(',').collect();
    let image = sb.path().join("imgs").join(first[0]);
    let out = sb.kiln(&[
        "predict",
        run.to_str().unwrap(),
        image.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer = String::from_utf8(out.stdout).unwrap();
    let mut answer = answer.lines();
    assert_eq!(answer.next(), Some("input,predicted_radius,predicted_x"));
    let cells: Vec<f64> = answer
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .map(|c| c.parse().unwrap())
        .collect();
    let expected: [f64; 2] = [first[2].parse().unwrap(), first[4].parse().unwrap()];
    for (got, want) in cells.iter().zip(expected) {
        assert!((got - want).abs() < 1e-4, "{got} against {want}");
    }

    // evaluate scores new listed images; on the run's own test images it gives the test's
    // figures back.
    let out = sb.kiln(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        "new/values.csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluation = json(&run.join("evaluations/values_csv/test.json"));
    assert_eq!(evaluation["samples"].as_u64(), Some(40));
    assert!(evaluation["r2"].as_f64().unwrap() > 0.3, "{evaluation}");
    let own: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", c[0], c[1], c[3])
        })
        .collect();
    sb.write("own.csv", &format!("file,radius,x\n{}\n", own.join("\n")));
    let out = sb.kiln(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        "own.csv",
        "--images",
        "imgs",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = json(&run.join("evaluations/own_csv/test.json"));
    for key in ["rmse", "mae", "r2"] {
        let (a, b) = (again[key].as_f64().unwrap(), test[key].as_f64().unwrap());
        assert!(
            (a - b).abs() < 1e-9 * b.abs().max(1.0),
            "{key}: {a} against {b}"
        );
    }

    // Bad tables and settings are refused by file, row and key, with no run left behind.
    sb.write("bad.csv", "file,radius,x\na/0.png,2,6\nmissing.png,2,6\n");
    let out = sb.run(&file, &["--set", "data.targets=\"bad.csv\""]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad.csv: row 2, column `file`"),
        "{}",
        stderr(&out)
    );
    sb.write("outside.csv", "file,radius,x\n../e.toml,2,6\n");
    let out = sb.run(&file, &["--set", "data.targets=\"outside.csv\""]);
    assert!(
        stderr(&out).contains("is not a path inside"),
        "{}",
        stderr(&out)
    );
    sb.write("gap.csv", "file,radius,x\na/0.png,,6\n");
    let out = sb.run(&file, &["--set", "data.targets=\"gap.csv\""]);
    assert!(
        stderr(&out).contains("row 1, column `radius`: the target is missing"),
        "{}",
        stderr(&out)
    );
    let out = sb.run(&file, &["--set", "task=\"classification\""]);
    assert!(stderr(&out).contains("`data.targets`"), "{}", stderr(&out));
    let untargeted = sb.write("u.toml", &disc_experiment(""));
    let out = sb.run(&untargeted, &[]);
    assert!(stderr(&out).contains("`data.targets`"), "{}", stderr(&out));
    assert_eq!(sb.runs("own").len(), 1);
}
