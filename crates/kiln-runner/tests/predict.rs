//! `kiln predict` through the real binary: new inputs prepared from the run folder alone give
//! the answers the run's own test gave (the same items predicted through `predict` reach
//! exactly test.json's accuracy), in every input form and output format; bad inputs are
//! named.

use std::path::{Path, PathBuf};

mod common;
use common::{Sandbox, json, stderr};

const DIGITS: &str = r#"task = "classification"
name = "digits"
seed = 4

[data]
dataset = "mnist"
source = "sample"
train_limit = 1500
validation_fraction = 0.2
normalize = "standardize"
classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 2
batch_size = 32
learning_rate = 2e-3
"#;

const REVIEWS: &str = r#"task = "classification"
name = "reviews"
seed = 3

[data]
dataset = "imdb"
source = "sample"
validation_fraction = 0.1
vocab_size = 5000
max_len = 120

[model]
kind = "gru"
embedding_dim = 16
hidden = 16
pooling = "mean"

[train]
epochs = 2
batch_size = 32
learning_rate = 1e-2
eval_batch_size = 250
"#;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/samples")
}

fn trained(sb: &Sandbox, name: &str, config: &str) -> PathBuf {
    let file = sb.write(&format!("{name}.toml"), config);
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    sb.runs(name).pop().unwrap()
}

fn predict(sb: &Sandbox, run: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["predict", run.to_str().unwrap()];
    all.extend(args);
    sb.kiln(&all)
}

fn predictions(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

#[test]
fn an_image_classifier_predicts_idx_and_png_inputs_as_its_test_did() {
    let sb = Sandbox::new();
    let run = trained(&sb, "digits", DIGITS);
    let report = json(&run.join("test.json"));

    // The run's own test images, through predict: the same accuracy to the item.
    let images = samples().join("mnist/t10k-images-idx3-ubyte.gz");
    let labels = kiln_data::idx::parse(
        Path::new("labels"),
        &kiln_data::idx::read_maybe_gzip(&samples().join("mnist/t10k-labels-idx1-ubyte.gz"))
            .unwrap(),
        1,
    )
    .unwrap()
    .data;
    let out = predict(
        &sb,
        &run,
        &[
            images.to_str().unwrap(),
            "--format",
            "json",
            "--top-k",
            "10",
        ],
    );
    let answers = predictions(&out);
    assert_eq!(answers.len(), labels.len());
    let names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let right = answers
        .iter()
        .zip(&labels)
        .filter(|(a, l)| a["class"] == names[**l as usize])
        .count();
    assert_eq!(
        right as f64 / labels.len() as f64,
        report["accuracy"].as_f64().unwrap()
    );
    let total: f64 = answers[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[1].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    // Class names flow into the test report too.
    let confusion = std::fs::read_to_string(run.join("confusion.csv")).unwrap();
    assert!(confusion.contains("seven"), "{confusion}");

    // The same digits as PNG files, one at the run's size and one drawn 3x larger: the
    // first is answered exactly as from the IDX file.
    let idx = kiln_data::idx::parse(
        Path::new("images"),
        &kiln_data::idx::read_maybe_gzip(&images).unwrap(),
        3,
    )
    .unwrap();
    let folder = sb.path().join("pngs");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..3 {
        let pixels = idx.data[i * 784..(i + 1) * 784].to_vec();
        let img = image::GrayImage::from_raw(28, 28, pixels).unwrap();
        img.save(folder.join(format!("digit{i}.png"))).unwrap();
    }
    let big = image::imageops::resize(
        &image::open(folder.join("digit0.png")).unwrap().into_luma8(),
        84,
        84,
        image::imageops::FilterType::Nearest,
    );
    big.save(sb.path().join("big.png")).unwrap();
    let out = predict(&sb, &run, &["pngs", "big.png", "--format", "json"]);
    let from_png = predictions(&out);
    assert_eq!(from_png.len(), 4);
    let p = |v: &serde_json::Value| v["probability"].as_f64().unwrap();
    for i in 0..3 {
        assert_eq!(from_png[i]["class"], answers[i]["class"], "digit{i}");
        assert!((p(&from_png[i]) - p(&answers[i])).abs() < 1e-5, "digit{i}");
    }
    let table = predict(&sb, &run, &["big.png"]);
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(String::from_utf8_lossy(&table.stdout).contains("big.png"));

    // evaluate on the same test set, as an IDX folder: test.json's figures again, in the
    // run's evaluations/.
    let mnist = samples().join("mnist");
    let out = sb.kiln(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        mnist.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluated = json(&run.join("evaluations/mnist/test.json"));
    assert_eq!(evaluated["accuracy"], report["accuracy"]);
    assert_eq!(evaluated["loss"], report["loss"]);
    assert!(run.join("evaluations/mnist/confusion.csv").is_file());
    // A confusion chart beside the run's own, with the class names.
    for chart in [
        run.join("charts/confusion.svg"),
        run.join("evaluations/mnist/charts/confusion.svg"),
    ] {
        let svg = std::fs::read_to_string(&chart).unwrap();
        assert!(
            svg.contains("seven") && svg.contains("predicted"),
            "{}",
            chart.display()
        );
    }
    assert!(run.join("evaluations/mnist/charts/confusion.png").is_file());
    let again = sb.kiln(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        mnist.to_str().unwrap(),
    ]);
    assert!(
        stderr(&again).contains("an evaluation of that name exists"),
        "{}",
        stderr(&again)
    );
    // Labels the run does not know, and a folder without IDX images: nothing written.
    let odd = sb.path().join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::copy(&images, odd.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let mut twelves = vec![12u8; labels.len()];
    twelves[0] = 1;
    std::fs::write(
        odd.join("t10k-labels-idx1-ubyte"),
        kiln_data::idx::encode(&[labels.len()], &twelves),
    )
    .unwrap();
    for (data, needle) in [
        (
            odd.to_str().unwrap(),
            "at item 1: label 12, but the run knows 10 classes",
        ),
        (
            sb.path().join("pngs").to_str().unwrap(),
            "expected one `*-images-idx3-ubyte[.gz]` file",
        ),
    ] {
        let out = sb.kiln(&[
            "evaluate",
            run.to_str().unwrap(),
            "--data",
            data,
            "--name",
            "bad",
        ]);
        assert!(!out.status.success(), "{data}");
        assert!(stderr(&out).contains(needle), "{data}: {}", stderr(&out));
        assert!(!run.join("evaluations/bad").exists());
    }

    // Bad inputs: named, non-zero, nothing printed as an answer.
    sb.write("note.txt", "not an image");
    let label_file = samples()
        .join("mnist/t10k-labels-idx1-ubyte.gz")
        .display()
        .to_string();
    for (args, needle) in [
        (
            vec!["note.txt"],
            "neither a PNG or JPEG image nor an IDX file",
        ),
        (vec!["missing.png"], "missing.png: no such file"),
        (vec![], "needs image files"),
        (vec![label_file.as_str()], "IDX file of images"),
    ] {
        let out = predict(&sb, &run, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_text_classifier_predicts_arguments_files_tables_and_stdin_as_its_test_did() {
    let sb = Sandbox::new();
    let run = trained(&sb, "reviews", REVIEWS);
    let report = json(&run.join("test.json"));

    // The run's test reviews written as a CSV with their labels: predict reaches test.json's
    // accuracy exactly (same tokenizer, vocabulary, length and truncation).
    let archive = samples().join("imdb/aclImdb_sample.tar.gz");
    let reviews =
        kiln_data::imdb::read_archive(&archive, &std::fs::read(&archive).unwrap()).unwrap();
    let mut csv = String::from("label,review\n");
    for r in &reviews.test {
        csv.push_str(&format!(
            "{},\"{}\"\n",
            r.positive as u8,
            r.text.replace('"', "\"\"")
        ));
    }
    sb.write("test.csv", &csv);
    let out = predict(
        &sb,
        &run,
        &["test.csv", "--column", "review", "--format", "json"],
    );
    let answers = predictions(&out);
    assert_eq!(answers.len(), reviews.test.len());
    let right = answers
        .iter()
        .zip(&reviews.test)
        .filter(|(a, r)| a["class"] == if r.positive { "pos" } else { "neg" })
        .count();
    assert_eq!(
        right as f64 / reviews.test.len() as f64,
        report["accuracy"].as_f64().unwrap()
    );

    // evaluate on the sample archive (its test split) and on the CSV: test.json's figures.
    let out = sb.kiln(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        archive.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluated = json(&run.join("evaluations/aclImdb_sample_tar/test.json"));
    assert_eq!(evaluated["accuracy"], report["accuracy"]);
    let run_s = run.to_str().unwrap();
    let csv_args = [
        "evaluate", run_s, "--data", "test.csv", "--column", "review",
    ];
    let out = sb.kiln(&csv_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluated = json(&run.join("evaluations/test_csv/test.json"));
    assert_eq!(evaluated["accuracy"], report["accuracy"]);
    // Label values mapped by --labels; values the run does not know are refused.
    sb.write(
        "words.csv",
        "text,label\n\"Great fun.\",positive\n\"Awful.\",negative\n",
    );
    let mapped = sb.kiln(&[
        "evaluate",
        run_s,
        "--data",
        "words.csv",
        "--labels",
        "positive=pos",
        "--labels",
        "negative=neg",
    ]);
    assert!(mapped.status.success(), "{}", stderr(&mapped));
    assert_eq!(
        json(&run.join("evaluations/words_csv/test.json"))["samples"],
        2
    );
    // compare shows each evaluation beside the run's test metrics, and can filter on them.
    let out = sb.kiln(&["compare", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    for name in ["aclImdb_sample_tar", "test_csv", "words_csv"] {
        assert_eq!(
            rows[0][format!("eval.{name}.accuracy")],
            json(&run.join(format!("evaluations/{name}/test.json")))["accuracy"],
            "{name}: {}",
            rows[0]
        );
    }
    let out = sb.kiln(&[
        "compare",
        "--metrics",
        "eval.words_csv.samples,test_accuracy",
        "--where",
        "eval.test_csv.accuracy>=0",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("run_id,seed,eval.words_csv.samples,test_accuracy\n"),
        "{text}"
    );
    assert!(text.contains(",2"), "{text}");
    for (extra, needle) in [
        (
            vec![],
            "row 2: label `positive` is not a class of the run (neg, pos)",
        ),
        (
            vec!["--labels", "positive=good"],
            "`good` is not a class of the run",
        ),
    ] {
        let mut args = vec!["evaluate", run_s, "--data", "words.csv", "--name", "bad"];
        args.extend(extra);
        let out = sb.kiln(&args);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
        assert!(!run.join("evaluations/bad").exists());
    }

    // Arguments, a folder of .txt files, stdin; table and CSV.
    let out = predict(
        &sb,
        &run,
        &[
            "A wonderful film, moving and beautifully acted.",
            "Dull, badly written and far too long.",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        table.contains("A wonderful film") && table.contains("%"),
        "{table}"
    );
    std::fs::create_dir_all(sb.path().join("mine")).unwrap();
    sb.write("mine/a.txt", "I loved every minute of it.");
    sb.write("mine/b.txt", "I want those two hours back.");
    let folder = predictions(&predict(&sb, &run, &["mine", "--format", "json"]));
    assert_eq!(folder.len(), 2);
    assert!(folder[0]["input"].as_str().unwrap().ends_with("a.txt"));
    use std::io::Write;
    let mut child = sb
        .command(&["predict", run.to_str().unwrap(), "--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"I loved every minute of it.\n\nGreat cast, great story.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "input,class,probability,top");
    assert!(lines[1].starts_with("\"stdin:1\",") && lines[2].starts_with("\"stdin:3\","));
    // The answer for a text is the same however it comes in.
    let by_arg = predictions(&predict(
        &sb,
        &run,
        &["I loved every minute of it.", "--format", "json"],
    ));
    let p = |v: &serde_json::Value| v["probability"].as_f64().unwrap();
    assert!((p(&by_arg[0]) - p(&folder[0])).abs() < 1e-5);

    // Bad inputs.
    std::fs::write(sb.path().join("binary.dat"), [0xff, 0xfe, 0x00, 0x9f]).unwrap();
    image::GrayImage::new(28, 28)
        .save(sb.path().join("pic.png"))
        .unwrap();
    for (args, needle) in [
        (vec![""], "input 1: an empty text"),
        (
            vec!["binary.dat"],
            "binary.dat: not a readable UTF-8 text file",
        ),
        (
            vec!["pic.png"],
            "pic.png: an image, but the run is a text classifier",
        ),
        (
            vec!["test.csv", "--column", "text"],
            "no column `text` (it has label, review)",
        ),
        (vec!["x", "--top-k", "0"], "--top-k must be at least 1"),
    ] {
        let out = predict(&sb, &run, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // A run without its checkpoint, and a run of another task.
    std::fs::remove_file(run.join("checkpoints/best.bpk")).unwrap();
    let out = predict(&sb, &run, &["x"]);
    assert!(stderr(&out).contains("no checkpoint"), "{}", stderr(&out));
}
