//! The real `kiln run` path, as a user runs it: a binary, an experiment file, a results folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_runner::store::metrics_io::{EPOCH_COLUMNS, STEP_COLUMNS, read_parquet};

mod common;
use common::{Sandbox, json, stderr};

const QUICK: &str = r#"task = "classification"
name = "e2e"
seed = 7

[data]
dataset = "mnist"
source = "sample"
train_limit = 2000
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [64]
dropout = 0.1

[train]
epochs = 2
batch_size = 32
learning_rate = 2e-3
eval_batch_size = 500
"#;

/// A small recurrent model on the embedded IMDB sample: seconds, not minutes.
const TEXT: &str = r#"task = "classification"
name = "e2e"
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
epochs = 3
batch_size = 32
learning_rate = 1e-2
eval_batch_size = 250
"#;

#[test]
fn run_produces_metrics_charts_manifest_and_a_trained_model() {
    let sb = Sandbox::new();
    let file = sb.write("e2e.toml", QUICK);
    let out = sb.run(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test accuracy"), "{stdout}");

    let runs = sb.runs("e2e");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];

    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["status"], "completed");
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["backend"], "flex");
    assert_eq!(manifest["device"], "default");
    assert!(
        manifest["resolved_device"]
            .as_str()
            .is_some_and(|d| d.to_lowercase().contains("flex")),
        "{manifest}"
    );
    assert_eq!(manifest["crates"]["burn"], "0.22.1");
    for key in [
        "git",
        "host",
        "started_at",
        "finished_at",
        "timings",
        "config_file",
        "data",
    ] {
        assert!(manifest.get(key).is_some(), "manifest lacks {key}");
    }
    assert!(manifest["host"]["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(manifest["data"]["train"], 1600);

    let epochs = read_parquet(&run.join("metrics/epochs.parquet")).unwrap();
    let names: Vec<String> = epochs
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, EPOCH_COLUMNS);
    assert_eq!(epochs.height(), 2);
    let steps = read_parquet(&run.join("metrics/steps.parquet")).unwrap();
    let names: Vec<String> = steps
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, STEP_COLUMNS);
    assert_eq!(steps.height(), 2 * 1600usize.div_ceil(32));
    let csv = std::fs::read_to_string(run.join("metrics/epochs.csv")).unwrap();
    assert!(csv.starts_with("epoch,train_loss,"), "{csv}");
    assert_eq!(csv.lines().count(), 3);

    for chart in ["loss", "accuracy"] {
        for ext in ["png", "svg"] {
            let p = run.join(format!("charts/{chart}.{ext}"));
            assert!(
                std::fs::metadata(&p).unwrap().len() > 2000,
                "{} is too small",
                p.display()
            );
        }
    }

    let test = json(&run.join("test.json"));
    let accuracy = test["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.7,
        "test accuracy {accuracy} is not well above chance"
    );
    assert_eq!(test["samples"], 1000);
    assert_eq!(
        std::fs::read_to_string(run.join("confusion.csv"))
            .unwrap()
            .lines()
            .count(),
        11
    );
    assert!(
        std::fs::metadata(run.join("checkpoints/best.bpk"))
            .unwrap()
            .len()
            > 50_000
    );

    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let again = sb.write("resolved.toml", &resolved);
    let check = sb.kiln(&["check", again.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "the resolved config must load again: {}",
        stderr(&check)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout), resolved);

    // `show`: the run at a glance, from its own files.
    let show = sb.kiln(&["show", run.to_str().unwrap()]);
    assert!(show.status.success(), "{}", stderr(&show));
    let shown = String::from_utf8_lossy(&show.stdout);
    for needle in [
        "experiment  e2e (seed 7)",
        "status      completed",
        &format!("accuracy       {accuracy}"),
        "  [model]",
        "checkpoints/best.bpk",
        "metrics/epochs.parquet",
    ] {
        assert!(shown.contains(needle), "{needle} not in:\n{shown}");
    }
    let not_a_run = sb.kiln(&["show", sb.path().to_str().unwrap()]);
    assert!(!not_a_run.status.success());
    assert!(
        stderr(&not_a_run).contains("not a run folder"),
        "{}",
        stderr(&not_a_run)
    );
}

#[test]
fn the_same_seed_gives_identical_metrics() {
    let sb = Sandbox::new();
    let file = sb.write("e2e.toml", &QUICK.replace("epochs = 2", "epochs = 1"));
    for _ in 0..2 {
        let out = sb.run(&file, &["--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let runs = sb.runs("e2e");
    assert_eq!(runs.len(), 2);
    let values = |run: &Path| {
        let steps = read_parquet(&run.join("metrics/steps.parquet")).unwrap();
        let loss: Vec<f64> = steps
            .column("loss")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let test = json(&run.join("test.json"));
        (
            loss,
            test["loss"].as_f64().unwrap(),
            test["accuracy"].as_f64().unwrap(),
        )
    };
    assert_eq!(values(&runs[0]), values(&runs[1]));

    let out = sb.run(&file, &["--quiet", "--set", "seed=8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = sb.runs("e2e");
    assert_ne!(
        values(&runs[0]).0,
        values(&runs[2]).0,
        "another seed must change the run"
    );
}

/// A refused input: non-zero exit, a message naming what is wrong, and no run folder.
fn assert_refused(sb: &Sandbox, file: &Path, extra: &[&str], needles: &[&str]) {
    let out = sb.run(file, extra);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "message lacks `{n}`:\n{err}");
    }
    assert!(
        sb.runs("e2e").is_empty(),
        "a refused run left a folder behind"
    );
}

#[test]
fn bad_configs_are_refused_before_anything_is_written() {
    let sb = Sandbox::new();
    let edits = [
        (
            "unknown.toml",
            "batch_size = 32",
            "batch_sise = 32",
            [
                "unknown.toml:18",
                "train.batch_sise",
                "did you mean `batch_size`",
            ],
        ),
        (
            "type.toml",
            "epochs = 2",
            "epochs = \"two\"",
            ["type.toml:17", "train.epochs", "wrong type"],
        ),
        (
            "lr.toml",
            "learning_rate = 2e-3",
            "learning_rate = -2e-3",
            ["lr.toml:19", "train.learning_rate", "positive"],
        ),
    ];
    for (name, from, to, needles) in edits {
        let f = sb.write(name, &QUICK.replace(from, to));
        assert_refused(&sb, &f, &[], &needles);
    }
    let f = sb.write("ok.toml", QUICK);
    assert_refused(
        &sb,
        &f,
        &["--set", "model.dropout=1.0"],
        &["--set model.dropout", "[0, 1)"],
    );
    // A backend this test binary's kiln lacks; CI builds wgpu and tch in, never cuda.
    let unbuilt = [
        ("cuda", cfg!(feature = "cuda")),
        ("tch", cfg!(feature = "tch")),
        ("wgpu", cfg!(feature = "wgpu")),
    ]
    .into_iter()
    .find_map(|(name, built)| (!built).then_some(name));
    if let Some(name) = unbuilt {
        let set = format!("backend={name}");
        assert_refused(&sb, &f, &["--set", &set], &[name, "not built"]);
    }
}

/// A datasets folder holding MNIST files made from the embedded sample, then damaged.
fn damaged_datasets(sb: &Sandbox, damage: impl Fn(&mut Vec<u8>)) -> PathBuf {
    use kiln_data::idx;
    let root = sb.path().join("data");
    let mnist = root.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let sample = kiln_data::Mnist::load(
        &kiln_data::MnistSource::EmbeddedSample,
        &kiln_data::download::NoProgress,
    )
    .unwrap();
    let (train, test) = (&sample.train, &sample.test);
    let files = [
        (
            "train-images-idx3-ubyte",
            idx::encode(&[train.len(), 28, 28], &train.images),
        ),
        (
            "train-labels-idx1-ubyte",
            idx::encode(&[train.len()], &train.labels),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx::encode(&[test.len(), 28, 28], &test.images),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx::encode(&[test.len()], &test.labels),
        ),
    ];
    for (i, (name, mut bytes)) in files.into_iter().enumerate() {
        if i == 0 {
            damage(&mut bytes);
        }
        std::fs::write(mnist.join(name), bytes).unwrap();
    }
    root
}

#[test]
fn bad_data_is_refused_with_the_file_and_offset() {
    let sb = Sandbox::new();
    let full = QUICK.replace("source = \"sample\"", "source = \"full\"\nverify = false");
    let f = sb.write("e2e.toml", &full);

    let empty = sb.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let set = format!("datasets={}", empty.display());
    assert_refused(
        &sb,
        &f,
        &["--set", &set],
        &["train-images-idx3-ubyte.gz", "missing from"],
    );

    let truncated = damaged_datasets(&sb, |b| b.truncate(b.len() - 100));
    let set = format!("datasets={}", truncated.display());
    assert_refused(
        &sb,
        &f,
        &["--set", &set],
        &["train-images-idx3-ubyte", "truncated"],
    );

    std::fs::remove_dir_all(&truncated).unwrap();
    let magic = damaged_datasets(&sb, |b| b[0] = 0x1f);
    let set = format!("datasets={}", magic.display());
    assert_refused(
        &sb,
        &f,
        &["--set", &set],
        &["train-images-idx3-ubyte", "byte 0", "magic"],
    );
}

#[test]
fn imdb_sample_trains_a_recurrent_model_and_keeps_its_vocabulary() {
    let sb = Sandbox::new();
    // A GloVe-format fixture: 16-d vectors for three common words and one absent one.
    let vector = |v: f32| vec![format!("{v}"); 16].join(" ");
    let glove = format!(
        "the {}\nmovie {}\nfilm {}\nqqqzzz {}\n",
        vector(0.1),
        vector(0.2),
        vector(0.3),
        vector(0.4)
    );
    sb.write("glove.tiny.16d.txt", &glove);
    let file = sb.write(
        "e2e.toml",
        &TEXT.replace(
            "max_len = 120\n",
            "max_len = 120\npretrained_embeddings = \"glove.tiny.16d.txt\"\n",
        ),
    );
    let out = sb.run(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("embeddings: 3 of 4996 vocabulary words found"),
        "{err}"
    );
    let run = &sb.runs("e2e")[0];
    let vocab = kiln_data::text::Vocabulary::load(&run.join("vocab.txt")).unwrap();
    assert_eq!(vocab.len(), 5000);
    assert_eq!(
        &vocab.tokens()[..5],
        ["<pad>", "<unk>", "<bos>", "<eos>", "the"]
    );
    let test = json(&run.join("test.json"));
    assert_eq!(test["samples"], 1000);
    assert_eq!(test["per_class"][1]["name"], "pos");
    for key in ["precision", "recall", "f1"] {
        let v = test["binary"][key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let accuracy = test["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.6,
        "a GRU on 1,800 reviews should beat chance clearly, got {accuracy}"
    );
    let confusion = std::fs::read_to_string(run.join("confusion.csv")).unwrap();
    assert!(
        confusion.starts_with("actual,predicted_neg,predicted_pos\nneg,"),
        "{confusion}"
    );
    let counts: u64 = confusion
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').skip(1))
        .map(|c| c.parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 1000);
}

#[test]
fn text_and_image_settings_do_not_mix() {
    let sb = Sandbox::new();
    let cnn = sb.write(
        "cnn.toml",
        &TEXT.replace(
            "kind = \"gru\"\nembedding_dim = 16\nhidden = 16\npooling = \"mean\"",
            "kind = \"cnn\"\nblocks = []",
        ),
    );
    assert_refused(
        &sb,
        &cnn,
        &[],
        &[
            "cnn.toml:6",
            "data.dataset",
            "trains cnn on mnist, fashion_mnist, images, cifar10 or cifar100, not on the imdb dataset",
        ],
    );
    let mnist = sb.write("mnist.toml", QUICK);
    assert_refused(
        &sb,
        &mnist,
        &["--set", "data.max_len=100"],
        &["--set data.max_len", "unknown key", "normalize"],
    );
    let missing = sb.write(
        "glove.toml",
        &TEXT.replace(
            "max_len = 120\n",
            "max_len = 120\npretrained_embeddings = \"nope.txt\"\n",
        ),
    );
    assert_refused(&sb, &missing, &[], &["nope.txt", "pretrained_embeddings"]);
}

#[test]
#[ignore = "real data: needs KILN_DATASETS (cargo xtask test sets it up)"]
fn real_imdb_archive_is_read_whole() {
    let sb = Sandbox::new();
    sb.one_real_epoch(&TEXT.replace(
        "source = \"sample\"\n",
        "source = \"full\"\ntrain_limit = 2000\n",
    ));
    let run = &sb.runs("e2e")[0];
    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["data"]["train"], 1_800);
    assert_eq!(manifest["data"]["validation"], 200);
    assert_eq!(manifest["data"]["test"], 25_000);
    let test = json(&run.join("test.json"));
    assert_eq!(test["per_class"][0]["support"], 12_500);
}

#[test]
#[ignore = "real data: needs KILN_DATASETS (cargo xtask test sets it up)"]
fn real_mnist_mlp_learns_in_one_epoch() {
    let sb = Sandbox::new();
    sb.one_real_epoch(&QUICK.replace(
        "source = \"sample\"\ntrain_limit = 2000\n",
        "source = \"full\"\n",
    ));
    let run = &sb.runs("e2e")[0];
    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["data"]["train"], 48_000);
    assert_eq!(manifest["data"]["test"], 10_000);
    let accuracy = json(&run.join("test.json"))["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.93,
        "one epoch of a 784-64-10 MLP on full MNIST reached only {accuracy}"
    );
}

#[test]
fn ctrl_c_stops_the_run_resumable_with_its_metrics_so_far() {
    stopped_run_is_recorded_as_interrupted("-INT", "SIGINT");
}

#[test]
fn sigterm_and_sigusr1_stop_a_run_like_ctrl_c() {
    stopped_run_is_recorded_as_interrupted("-TERM", "SIGTERM");
    stopped_run_is_recorded_as_interrupted("-USR1", "SIGUSR1");
}

/// A signal stops the run at its next step with a checkpoint there: exit status 75, the
/// manifest `interrupted`, the metrics so far on disk.
fn stopped_run_is_recorded_as_interrupted(signal: &str, name: &str) {
    let sb = Sandbox::new();
    let long = QUICK
        .replace("epochs = 2", "epochs = 500")
        .replace("train_limit = 2000\n", "");
    let file = sb.write("e2e.toml", &long);
    let mut child = sb
        .run_command(&file, &["--quiet"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let manifest = loop {
        if let Some(run) = sb.runs("e2e").first()
            && run.join("metrics").is_dir()
        {
            break run.join("manifest.json");
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "kiln exited before training"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75), "{signal}");
    let m = json(&manifest);
    assert_eq!(m["status"], "interrupted");
    let error = m["error"].as_str().unwrap();
    // After a step, or while validating (then with a checkpoint of the epoch's last step).
    assert!(
        error.contains(&format!("stopped by {name} after step"))
            || error.contains(&format!("stopped by {name} while evaluating")),
        "{m}"
    );
    let checkpoints: Vec<String> = std::fs::read_dir(manifest.with_file_name("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    assert!(
        manifest
            .with_file_name("metrics")
            .join("steps.parquet")
            .is_file()
    );
}

/// A `fashion_mnist` folder in the published layout (gzipped IDX), made from the first
/// digits of the embedded sample; `gzip` false writes the files unpacked.
fn fashion_datasets(sb: &Sandbox, gzip: bool) -> PathBuf {
    use kiln_data::idx;
    use std::io::Write;
    let root = sb
        .path()
        .join(if gzip { "fashion-gz" } else { "fashion-raw" });
    let dir = root.join("fashion_mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let sample = kiln_data::Mnist::load(
        &kiln_data::MnistSource::EmbeddedSample,
        &kiln_data::download::NoProgress,
    )
    .unwrap();
    let (train, test) = (&sample.train, &sample.test);
    let (n, m) = (400, 100);
    let files = [
        (
            "train-images-idx3-ubyte",
            idx::encode(&[n, 28, 28], &train.images[..n * 784]),
        ),
        (
            "train-labels-idx1-ubyte",
            idx::encode(&[n], &train.labels[..n]),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx::encode(&[m, 28, 28], &test.images[..m * 784]),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx::encode(&[m], &test.labels[..m]),
        ),
    ];
    for (name, bytes) in files {
        if gzip {
            let file = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut z = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            z.write_all(&bytes).unwrap();
            z.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    root
}

#[test]
fn fashion_mnist_is_read_from_its_folder_with_its_class_names_and_its_published_md5_checked() {
    let sb = Sandbox::new();
    let file = sb.write(
        "fashion.toml",
        r#"task = "classification"
name = "e2e"
seed = 3

[data]
dataset = "fashion_mnist"

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 1
batch_size = 50
learning_rate = 1e-3
"#,
    );
    // Files of other content than the published ones: the MD5 check names the file and
    // both digests; unpacked files cannot be checked at all.
    let packed = fashion_datasets(&sb, true);
    let datasets = format!("datasets={}", packed.display());
    assert_refused(
        &sb,
        &file,
        &["--set", &datasets],
        &[
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ],
    );
    let unpacked = fashion_datasets(&sb, false);
    let loose = format!("datasets={}", unpacked.display());
    assert_refused(
        &sb,
        &file,
        &["--set", &loose],
        &[
            "train-images-idx3-ubyte",
            "published .gz archive",
            "data.verify = false",
        ],
    );
    assert_refused(
        &sb,
        &file,
        &["--set", "data.source=sample"],
        &["data.source", "no sample of Fashion-MNIST"],
    );
    // Unchecked, it trains, and the classes are Fashion-MNIST's.
    let out = sb.run(&file, &["--set", &datasets, "--set", "data.verify=false"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = sb.runs("e2e");
    let report = std::fs::read_to_string(runs[0].join("confusion.csv")).unwrap();
    assert!(
        report.contains("T-shirt/top") && report.contains("Ankle boot"),
        "{report}"
    );
    let manifest = json(&runs[0].join("manifest.json"));
    assert_eq!(
        manifest["data"]["train"].as_u64().unwrap()
            + manifest["data"]["validation"].as_u64().unwrap(),
        400
    );
}
