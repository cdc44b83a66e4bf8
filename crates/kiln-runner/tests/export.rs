//! `kiln export` through the real binary: the weights under PyTorch's names and layouts, and
//! PyTorch itself (the venv of `cargo xtask setup tch`) giving kiln's logits within 1e-4 with
//! them, for MLPs, CNNs and RNN/LSTM/GRU classifiers of every pooling and direction; and
//! `predict`'s answers for real inputs equal to the twin's on the same inputs prepared by
//! model.py.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{Lcg, Sandbox, stderr};

/// The one test that needs torch; `cargo xtask test` runs it where `setup tch` was done.
const TORCH_TEST: &str = "pytorch_gives_kilns_logits_for_every_exported_classifier";

fn digits(model: &str) -> String {
    format!(
        r#"task = "classification"
name = "digits"
seed = 5

[data]
dataset = "mnist"
source = "sample"
train_limit = 600
validation_fraction = 0.2
normalize = "standardize"

[model]
{model}

[train]
epochs = 1
batch_size = 32
learning_rate = 2e-3
"#
    )
}

fn reviews(model: &str) -> String {
    format!(
        r#"task = "classification"
name = "reviews"
seed = 6

[data]
dataset = "imdb"
source = "sample"
train_limit = 600
validation_fraction = 0.1
vocab_size = 3000
max_len = 50

[model]
embedding_dim = 12
hidden = 10
dropout = 0.2
{model}

[train]
epochs = 1
batch_size = 32
learning_rate = 1e-2
"#
    )
}

/// The models exported: every layer kind and option the twins write.
fn models() -> Vec<(&'static str, String)> {
    vec![
        (
            "mlp",
            digits(
                r#"kind = "mlp"
hidden = [24, 16]
activation = "gelu"
batch_norm = true
dropout = 0.3"#,
            ),
        ),
        (
            "cnn",
            digits(
                r#"kind = "cnn"
activation = "leaky_relu"
blocks = [
  { channels = 6, kernel = 3, padding = 1, batch_norm = true },
  { channels = 8, kernel = 3, stride = 2, pool = 2, dropout = 0.25 },
]
dense = [16]
dense_batch_norm = true
dense_dropout = 0.5"#,
            ),
        ),
        // Option A shortcuts on 28x28 (the subsampling as x[:, :, ::2, ::2]), and option B.
        (
            "resnet",
            digits(
                r#"kind = "resnet"
depth = 8
width = 4"#,
            ),
        ),
        (
            "resnet_projection",
            digits(
                r#"kind = "resnet"
depth = 14
width = 3
shortcut = "projection""#,
            ),
        ),
        (
            "lstm",
            reviews(
                r#"kind = "lstm"
layers = 2
bidirectional = true
pooling = "last""#,
            ),
        ),
        (
            "gru",
            reviews(
                r#"kind = "gru"
pooling = "mean"
head = [8]
head_activation = "tanh""#,
            ),
        ),
        (
            "rnn",
            reviews(
                r#"kind = "rnn"
bidirectional = true
pooling = "max""#,
            ),
        ),
        (
            "gru-chars",
            reviews(
                r#"kind = "gru"
pooling = "last""#,
            )
            .replace(
                "max_len = 50",
                "max_len = 50\ntokenizer = \"char\"\ntruncate = \"tail\"",
            ),
        ),
    ]
}

fn trained(sb: &Sandbox, name: &str, config: &str) -> PathBuf {
    let file = sb.write(&format!("{name}.toml"), config);
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    sb.runs(config_name(config)).pop().unwrap()
}

fn config_name(config: &str) -> &str {
    if config.contains("\"digits\"") {
        "digits"
    } else {
        "reviews"
    }
}

fn export(sb: &Sandbox, run: &Path, out: &Path) {
    let o = sb.kiln(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        out.to_str().unwrap()
    );
}

fn tensors(path: &Path) -> Vec<(String, Vec<usize>, safetensors::Dtype)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec(), view.dtype()))
        .collect();
    all.sort();
    all
}

#[test]
fn the_export_has_pytorch_names_and_layouts() {
    let sb = Sandbox::new();
    let (_, mlp) = &models()[0];
    let run = trained(&sb, "mlp", mlp);
    let out = sb.path().join("exported");
    export(&sb, &run, &out);
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "example.safetensors",
            "model.py",
            "model.safetensors",
            "preprocessing.json"
        ]
    );
    use safetensors::Dtype::{F32, I64};
    let t = |name: &str, shape: &[usize], dtype| (name.to_string(), shape.to_vec(), dtype);
    // nn.Sequential(Flatten, Linear, BatchNorm1d, GELU, Dropout, Linear, ...): PyTorch's
    // [out, in] weights, batch norm's weight/bias/running statistics and step count.
    assert_eq!(
        tensors(&out.join("model.safetensors")),
        [
            t("layers.1.bias", &[24], F32),
            t("layers.1.weight", &[24, 784], F32),
            t("layers.2.bias", &[24], F32),
            t("layers.2.num_batches_tracked", &[], I64),
            t("layers.2.running_mean", &[24], F32),
            t("layers.2.running_var", &[24], F32),
            t("layers.2.weight", &[24], F32),
            t("layers.5.bias", &[16], F32),
            t("layers.5.weight", &[16, 24], F32),
            t("layers.6.bias", &[16], F32),
            t("layers.6.num_batches_tracked", &[], I64),
            t("layers.6.running_mean", &[16], F32),
            t("layers.6.running_var", &[16], F32),
            t("layers.6.weight", &[16], F32),
            t("layers.9.bias", &[10], F32),
            t("layers.9.weight", &[10, 16], F32),
        ]
    );
    assert_eq!(
        tensors(&out.join("example.safetensors")),
        [
            t("images", &[8, 1, 28, 28], F32),
            t("logits", &[8, 10], F32),
        ]
    );
    let py = std::fs::read_to_string(out.join("model.py")).unwrap();
    for line in [
        "nn.Linear(784, 24)",
        "nn.BatchNorm1d(24, eps=1e-5, momentum=0.1)",
        "nn.GELU()",
        "nn.Dropout(0.3)",
        "nn.Linear(16, 10)",
        "(pixels.to(torch.float32) / 255 - ",
    ] {
        assert!(py.contains(line), "{line} not in\n{py}");
    }

    // The metadata names the run and the classes.
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["kiln_model"], "mlp");
    assert_eq!(meta["kiln_run"], run.file_name().unwrap().to_str().unwrap());
    assert!(meta["classes"].contains("\"9\""), "{meta:?}");

    // The default folder is the run's pytorch/; an existing folder is never overwritten.
    let o = sb.kiln(&["export", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run.join("pytorch").join("model.safetensors").is_file());
    let o = sb.kiln(&["export", run.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

#[test]
fn a_text_export_carries_its_vocabulary_and_recurrent_weights() {
    let sb = Sandbox::new();
    let (_, lstm) = &models().into_iter().find(|(k, _)| *k == "lstm").unwrap();
    let run = trained(&sb, "lstm", lstm);
    let out = sb.path().join("lstm");
    export(&sb, &run, &out);
    assert_eq!(
        std::fs::read(out.join("vocab.txt")).unwrap(),
        std::fs::read(run.join("vocab.txt")).unwrap()
    );
    let names: Vec<(String, Vec<usize>)> = tensors(&out.join("model.safetensors"))
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let vocab = std::fs::read_to_string(run.join("vocab.txt"))
        .unwrap()
        .lines()
        .count();
    // nn.LSTM(12, 10, num_layers=2, bidirectional=True): [4 * hidden, in] per direction,
    // the second layer reading both directions.
    for (name, shape) in [
        ("embedding.weight", vec![vocab, 12]),
        ("rnn.weight_ih_l0", vec![40, 12]),
        ("rnn.weight_hh_l0_reverse", vec![40, 10]),
        ("rnn.bias_ih_l1", vec![40]),
        ("rnn.weight_ih_l1_reverse", vec![40, 20]),
        ("head.1.weight", vec![2, 20]),
    ] {
        assert!(
            names.contains(&(name.to_string(), shape.clone())),
            "{name} {shape:?} not in {names:?}"
        );
    }
    assert_eq!(names.len(), 1 + 2 * 2 * 4 + 2);
    let example = tensors(&out.join("example.safetensors"));
    assert_eq!(example[0].0, "ids");
    assert_eq!(example[0].2, safetensors::Dtype::I64);
    assert_eq!(example[1].0, "lengths");
}

#[test]
fn export_refuses_what_it_cannot_export_and_leaves_nothing() {
    let sb = Sandbox::new();
    // Not a run.
    let o = sb.kiln(&["export", sb.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    // A generative run: not a classifier.
    sb.write(
        "text.txt",
        &"to be or not to be, that is the question\n".repeat(40),
    );
    let file = sb.write(
        "lm.toml",
        r#"task = "language_modelling"
name = "lm"
seed = 1

[data]
dataset = "corpus"
path = "text.txt"

[model]
kind = "language_model"
cell = "lstm"
embedding_dim = 8
hidden = 8

[train]
epochs = 1
batch_size = 4
learning_rate = 1e-2
"#,
    );
    let o = sb.run(&file, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lm = sb.runs("lm").pop().unwrap();
    let o = sb.kiln(&["export", lm.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("`export` needs"), "{}", stderr(&o));
    assert!(!lm.join("pytorch").exists());

    // A classifier whose weights are gone.
    let (_, mlp) = &models()[0];
    let run = trained(&sb, "mlp", mlp);
    std::fs::rename(
        run.join("checkpoints"),
        sb.path().join("checkpoints-elsewhere"),
    )
    .unwrap();
    let out = sb.path().join("out");
    let o = sb.kiln(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("best.bpk"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(sb.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n == "out")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The Python of the torch venv, with safetensors.
fn torch_python() -> PathBuf {
    PathBuf::from(std::env::var_os("KILN_TORCH_PYTHON").unwrap_or_else(|| {
        panic!(
            "{TORCH_TEST} needs KILN_TORCH_PYTHON, a Python with torch and safetensors \
             (`cargo xtask setup tch` makes one; `cargo xtask test` passes it)"
        )
    }))
}

fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(torch_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The twin's output on kiln's example inputs, strictly loaded; prints the largest
/// difference and how much the logits vary, so that a constant model cannot pass.
const CHECK: &str = r#"
import sys, torch
sys.path.insert(0, sys.argv[1])
import model
from safetensors.torch import load_file
example = load_file(sys.argv[1] + "/example.safetensors")
print(model.check(sys.argv[1]), example["logits"].std(0).max().item())
"#;

/// For each exported folder (`argv[1..]` in threes: the folder, `predict`'s answers, the
/// inputs), in one Python so that torch is imported once: the twin's output on kiln's example
/// inputs, strictly loaded, as the largest difference and how much the logits vary (so that
/// a constant model cannot pass); then `predict`'s probabilities for real inputs against the
/// twin's on the same inputs, which model.py prepares: IDX pixels through `preprocess`, raw
/// texts through `encode` (kiln's tokenizers ported). One line per folder.
const CHECK_TWINS: &str = r#"
import importlib.util, json, sys, torch
from safetensors.torch import load_file
args = sys.argv[1:]
for i in range(0, len(args), 3):
    folder, answers, inputs = args[i:i + 3]
    spec = importlib.util.spec_from_file_location(f"model{i}", folder + "/model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    example = load_file(folder + "/example.safetensors")
    diff, spread = model.check(folder), example["logits"].std(0).max().item()
    twin = model.load(folder)
    predicted = json.load(open(answers))
    with torch.no_grad():
        if hasattr(model, "preprocess"):
            raw = open(inputs, "rb").read()
            count = int.from_bytes(raw[4:8], "big")
            pixels = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8)
            logits = twin(model.preprocess(pixels.reshape(count, *model.INPUT_SHAPE)))
        else:
            texts = json.load(open(inputs))
            logits = twin(*model.encode(texts, model.vocabulary(folder)))
    p = torch.softmax(logits, 1)
    worst = 0.0
    for row, answer in zip(p, predicted):
        for name, q in answer["top"]:
            worst = max(worst, abs(row[model.CLASSES.index(name)].item() - q))
    print(diff, spread, len(predicted), worst)
"#;

#[test]
#[ignore = "needs torch and safetensors: KILN_TORCH_PYTHON (cargo xtask test sets it after `setup tch`)"]
fn pytorch_gives_kilns_logits_for_every_exported_classifier() {
    let sb = Sandbox::new();
    // Six test digits as an IDX file, and reviews with what kiln's tokenizers handle:
    // markup, entities, apostrophes, punctuation, accents, unknown words, and more tokens
    // than the run keeps (50).
    let images = kiln_data::idx::read_maybe_gzip(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/samples/mnist/t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let mut idx = images[..16].to_vec();
    idx[4..8].copy_from_slice(&6u32.to_be_bytes());
    idx.extend_from_slice(&images[16..16 + 6 * 784]);
    let digits = sb.path().join("six-digits-idx3-ubyte");
    std::fs::write(&digits, idx).unwrap();
    let long = "a great film, ".repeat(20) + "but the ending is terrible and boring.";
    let reviews = [
        "A wonderful film with a great cast.",
        "Don't miss it!<br /><br />A 10/10 film... Really.",
        "<i>Terrible</i> &quot;acting&quot;, a plot that&#39;s a mess &amp; l\u{2019}ennui \u{2014} 1/10",
        "CAF\u{c9} na\u{ef}ve \u{ab}Ok\u{bb} 'quoted' zzzunknownword < not a tag > x<3",
        // U+001C: a space to Python's `isspace`, a token to kiln.
        "\tboring\u{a0}and far\u{2003}too long\u{1c}\n",
        long.as_str(),
    ];
    let texts = sb.write("reviews.json", &serde_json::to_string(&reviews).unwrap());
    let mut checks: Vec<(&str, usize, [PathBuf; 3])> = Vec::new();
    for (kind, config) in models() {
        let run = trained(&sb, kind, &config);
        let out = sb.path().join(format!("{kind}-pytorch"));
        export(&sb, &run, &out);
        let is_digits = config_name(&config) == "digits";
        let input = if is_digits { &digits } else { &texts };
        let mut args = vec!["predict", run.to_str().unwrap(), "--format", "json"];
        args.extend(["--top-k", "10"]);
        if is_digits {
            args.push(digits.to_str().unwrap());
        } else {
            args.extend(reviews);
        }
        let answers = sb.kiln(&args);
        let answers_file = sb.path().join(format!("{kind}-answers.json"));
        assert!(answers.status.success(), "{}", stderr(&answers));
        std::fs::write(&answers_file, &answers.stdout).unwrap();
        let expected = if is_digits { 6 } else { reviews.len() };
        checks.push((kind, expected, [out, answers_file, input.clone()]));
    }
    let args: Vec<&Path> = checks
        .iter()
        .flat_map(|(_, _, paths)| paths.iter().map(PathBuf::as_path))
        .collect();
    let printed = python(CHECK_TWINS, &args);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), checks.len(), "{printed}");
    for ((kind, expected, _), line) in checks.iter().zip(lines) {
        let values: Vec<f64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        let [diff, spread, count, worst] = values[..] else {
            panic!("{kind}: {line}")
        };
        assert!(diff < 1e-4, "{kind}: largest logit difference {diff}");
        assert!(
            spread > 1e-3,
            "{kind}: the logits barely depend on the input"
        );
        assert_eq!(count as usize, *expected, "{kind}");
        assert!(worst < 1e-4, "{kind}: probabilities differ by {worst}");
    }
    tables_give_kilns_answers_in_pytorch(&sb);
    an_image_regression_gives_kilns_values_in_pytorch(&sb);
}

fn an_image_regression_gives_kilns_values_in_pytorch(sb: &Sandbox) {
    let root = sb.path().join("bars");
    std::fs::create_dir_all(&root).unwrap();
    let mut csv = String::from("file,width\n");
    for i in 0..60u32 {
        let width = 2 + i % 9;
        image::GrayImage::from_fn(12, 12, |x, _| {
            image::Luma([if x < width { 230 } else { 10 }])
        })
        .save(root.join(format!("{i}.png")))
        .unwrap();
        csv.push_str(&format!("{i}.png,{width}\n"));
    }
    std::fs::write(root.join("widths.csv"), csv).unwrap();
    let file = sb.write(
        "bars.toml",
        r#"task = "regression"
name = "bars"
seed = 4

[data]
dataset = "images"
path = "bars"
size = [12, 12]
targets = "bars/widths.csv"
target = "width"

[model]
kind = "cnn"
blocks = [{ channels = 4, kernel = 3, padding = 1, pool = 2 }]
dense = [8]

[train]
epochs = 2
batch_size = 16
learning_rate = 0.003
"#,
    );
    let out = sb.run(&file, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = sb.runs("bars").pop().unwrap();
    let out_dir = sb.path().join("bars-pytorch");
    export(sb, &run, &out_dir);
    let model = std::fs::read_to_string(out_dir.join("model.py")).unwrap();
    assert!(model.contains("TARGETS = [\"width\"]"), "{model}");
    let printed = python(CHECK, &[&out_dir]);
    let (diff, _) = printed.trim().split_once(' ').unwrap();
    let diff: f64 = diff.parse().unwrap();
    assert!(
        diff < 1e-4,
        "image regression: largest output difference {diff}"
    );
}

/// A table of a category (`colour`), a number with gaps (`size`), an integer code read as a
/// category (`grade`) and targets for both tasks; rows from `seed`.
fn table(rows: usize, seed: u64) -> String {
    let mut r = Lcg(seed);
    let mut next = move || r.next();
    let mut s = String::from("colour,size,grade,label,y\n");
    for _ in 0..rows {
        let c = ["red", "green", "blue"][(next() * 3.0) as usize];
        let size = next() * 10.0;
        let grade = (next() * 4.0) as usize;
        let label = if size > 5.0 || c == "blue" {
            "big"
        } else {
            "small"
        };
        let y = 3.0 * size + grade as f64;
        let size = if next() < 0.15 {
            String::new()
        } else {
            format!("{size:.3}")
        };
        s.push_str(&format!("{c},{size},{grade},{label},{y:.3}\n"));
    }
    s
}

/// `predict`'s answers for a table's rows (missing numbers, an unseen and a missing
/// category among them) against the twin's on the same rows, which model.py encodes.
const SAME_TABLE_ANSWERS: &str = r#"
import csv, sys, torch
sys.path.insert(0, sys.argv[1])
import model
twin = model.load(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2])))
answers = list(csv.DictReader(open(sys.argv[3])))
with torch.no_grad():
    outputs = twin(*model.encode(rows))
worst = 0.0
if hasattr(model, "CLASSES"):
    p = torch.softmax(outputs, 1)
    for row, answer in zip(p, answers):
        assert model.CLASSES[row.argmax().item()] == answer["predicted"]
        worst = max(worst, abs(row.max().item() - float(answer["probability"])))
else:
    for row, answer in zip(model.values(outputs), answers):
        for t, name in enumerate(model.TARGETS):
            got, want = row[t].item(), float(answer["predicted_" + name])
            worst = max(worst, abs(got - want) / max(1.0, abs(want)))
print(len(answers), worst)
"#;

fn tables_give_kilns_answers_in_pytorch(sb: &Sandbox) {
    sb.write("rows.csv", &table(400, 7));
    let mut new = table(12, 8);
    new.push_str("purple,4.2,1,small,13.6\n,,,big,0\nred,7.5,9,big,23.5\n");
    let new_rows = sb.write("new.csv", &new);
    for (task, target) in [("classification", "label"), ("regression", "y")] {
        let ignore = if task == "regression" { "label" } else { "y" };
        let config = format!(
            r#"task = "{task}"
name = "{task}"
seed = 9

[data]
dataset = "table"
path = "rows.csv"
target = "{target}"
ignore = ["{ignore}"]
categorical = ["grade"]

[model]
kind = "tabular"
hidden = [16, 8]
dropout = 0.1
embedding_dropout = 0.1

[train]
epochs = 3
batch_size = 32
learning_rate = 0.01
"#
        );
        let file = sb.write(&format!("{task}.toml"), &config);
        let out = sb.run(&file, &["--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let run = sb.runs(task).pop().unwrap();
        let out_dir = sb.path().join(format!("{task}-pytorch"));
        export(sb, &run, &out_dir);
        let printed = python(CHECK, &[&out_dir]);
        let (diff, spread) = printed.trim().split_once(' ').unwrap();
        let (diff, spread): (f64, f64) = (diff.parse().unwrap(), spread.parse().unwrap());
        assert!(diff < 1e-4, "{task}: largest output difference {diff}");
        assert!(
            spread > 1e-3,
            "{task}: the outputs barely depend on the input"
        );
        let answers = sb.kiln(&[
            "predict",
            run.to_str().unwrap(),
            new_rows.to_str().unwrap(),
            "--format",
            "csv",
        ]);
        assert!(answers.status.success(), "{}", stderr(&answers));
        let answers_file = sb.write(
            &format!("{task}-answers.csv"),
            &String::from_utf8(answers.stdout).unwrap(),
        );
        let printed = python(SAME_TABLE_ANSWERS, &[&out_dir, &new_rows, &answers_file]);
        let (count, worst) = printed.trim().split_once(' ').unwrap();
        assert_eq!(count, "15", "{task}");
        let worst: f64 = worst.parse().unwrap();
        assert!(worst < 1e-4, "{task}: answers differ by {worst}");
    }
}
