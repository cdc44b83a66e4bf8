//! Runs killed where it hurts (mid-epoch, while writing a checkpoint, while validating) or
//! stopped by SIGTERM, then resumed with `run --resume`: the same folder ends with the same
//! bits as a run that was never stopped. Kills come from `KILN_FAULT` (see `src/fault.rs`):
//! the process sends itself SIGKILL at the named point, so nothing is cleaned up.

use std::path::{Path, PathBuf};

mod common;
use common::{Sandbox, json, stderr};

const CLASSIFIER: &str = r#"task = "classification"
name = "resume"
seed = 9

[data]
dataset = "mnist"
source = "sample"
train_limit = 600
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [32]
dropout = 0.3

[train]
epochs = 3
batch_size = 32
learning_rate = 1e-3
schedule = { kind = "cosine" }
monitor = "val_accuracy"
eval_batch_size = 50

[checkpoint]
every = "4 steps"
keep = 2
"#;

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(format!("{name}.toml"))
}

/// The newest run folder of `experiment`.
fn newest(sb: &Sandbox, experiment: &str) -> PathBuf {
    sb.runs(experiment).pop().expect("a run folder")
}

/// A CSV's rows without the columns that time things.
fn without_timings(csv: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let timing = |name: &str| name.ends_with("seconds") || name == "samples_per_second";
    let keep: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .filter(|&i| !timing(rows[0][i]))
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i].to_string()).collect())
        .collect()
}

/// Asserts that run `b` ended exactly as run `a`: test metrics, every epoch's and step's
/// metrics, and what the task wrote (samples, decoded test outputs).
fn same_results(a: &Path, b: &Path) {
    assert_eq!(json(&b.join("manifest.json"))["status"], "completed");
    assert_eq!(json(&a.join("test.json")), json(&b.join("test.json")));
    let read = |run: &Path, file: &str| std::fs::read_to_string(run.join(file)).unwrap();
    assert_eq!(
        without_timings(&read(a, "metrics/epochs.csv")),
        without_timings(&read(b, "metrics/epochs.csv"))
    );
    assert_eq!(read(a, "metrics/steps.csv"), read(b, "metrics/steps.csv"));
    for extra in ["test_outputs.tsv", "samples/epoch_002.txt", "confusion.csv"] {
        if a.join(extra).exists() {
            assert_eq!(read(a, extra), read(b, extra), "{extra}");
        }
    }
    assert_eq!(
        std::fs::read_dir(b.join("checkpoints")).unwrap().count(),
        1,
        "a completed run keeps only its best weights"
    );
}

fn resume(sb: &Sandbox, run: &Path) -> std::process::Output {
    sb.kiln(&["--quiet", "run", "--resume", run.to_str().unwrap()])
}

#[test]
fn a_classifier_killed_anywhere_resumes_to_the_same_bits() {
    let sb = Sandbox::new();
    let file = sb.write("resume.toml", CLASSIFIER);
    let whole = sb.run(&file, &["--quiet"]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let reference = newest(&sb, "resume");

    // 15 batches an epoch, a checkpoint every 4 steps: killed mid-epoch after step 10 (the
    // newest checkpoint is step 8's), while writing the 3rd checkpoint (step 12's: the
    // unfinished folder must be ignored), while validating epoch 1 (3 batches of 50), and
    // twice in a row.
    for faults in [
        &["step:10"][..],
        &["checkpoint:3"],
        &["evaluation:2"],
        &["step:7", "step:30"],
    ] {
        let first = sb
            .run_command(&file, &["--quiet"])
            .env("KILN_FAULT", faults[0])
            .output()
            .unwrap();
        assert_eq!(first.status.code(), None, "{faults:?}: killed by a signal");
        let run = newest(&sb, "resume");
        assert_eq!(json(&run.join("manifest.json"))["status"], "running");
        for fault in &faults[1..] {
            let again = sb
                .command(&["--quiet", "run", "--resume", run.to_str().unwrap()])
                .env("KILN_FAULT", fault)
                .output()
                .unwrap();
            assert_eq!(again.status.code(), None, "{fault}");
        }
        let out = resume(&sb, &run);
        assert!(out.status.success(), "{faults:?}: {}", stderr(&out));
        same_results(&reference, &run);
        let manifest = json(&run.join("manifest.json"));
        let resumptions = manifest["resumptions"].as_array().unwrap();
        assert_eq!(resumptions.len(), faults.len(), "{manifest}");
        assert!(
            resumptions[0]["after"]
                .as_str()
                .unwrap()
                .starts_with("killed")
        );
        let from = resumptions[0]["from_step"].as_u64().unwrap();
        let expected = match faults[0] {
            "step:10" => 8,
            "checkpoint:3" => 8,
            "evaluation:2" => 12,
            _ => 4,
        };
        assert_eq!(from, expected, "{faults:?}");
    }
    // One index row per run folder, each completed.
    let out = sb.kiln(&["compare", "--results", "results", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 1 + 5, "{table}");
}

#[test]
fn sigterm_checkpoints_and_exits_resumable() {
    let sb = Sandbox::new();
    let file = sb.write("resume.toml", CLASSIFIER);
    let whole = sb.run(&file, &["--quiet"]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let reference = newest(&sb, "resume");

    let stopped = sb
        .run_command(&file, &["--quiet"])
        .env("KILN_FAULT", "sigterm:21")
        .output()
        .unwrap();
    assert_eq!(stopped.status.code(), Some(75), "{}", stderr(&stopped));
    let run = newest(&sb, "resume");
    assert!(
        stderr(&stopped).contains("stopped by SIGTERM after step 21")
            && stderr(&stopped).contains("run --resume"),
        "{}",
        stderr(&stopped)
    );
    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["status"], "interrupted");
    assert!(run.join("checkpoints/step-000000021/state.json").is_file());
    let out = sb.kiln(&["compare", "--results", "results", "--status", "interrupted"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("interrupted"),
        "{}",
        stderr(&out)
    );

    let out = resume(&sb, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    same_results(&reference, &run);
    let manifest = json(&run.join("manifest.json"));
    assert_eq!(manifest["resumptions"][0]["from_step"], 21);
    assert!(
        manifest["resumptions"][0]["after"]
            .as_str()
            .unwrap()
            .contains("SIGTERM")
    );

    // Stopped while validating epoch 1: a checkpoint of its last step (15), then validated
    // again when resumed.
    let stopped = sb
        .run_command(&file, &["--quiet"])
        .env("KILN_FAULT", "sigterm-evaluation:2")
        .output()
        .unwrap();
    assert_eq!(stopped.status.code(), Some(75), "{}", stderr(&stopped));
    assert!(
        stderr(&stopped).contains("while evaluating"),
        "{}",
        stderr(&stopped)
    );
    let during = newest(&sb, "resume");
    assert!(
        during
            .join("checkpoints/step-000000015/state.json")
            .is_file()
    );
    let out = resume(&sb, &during);
    assert!(out.status.success(), "{}", stderr(&out));
    same_results(&reference, &during);

    // Nothing to resume in a completed run, a folder that is no run, or both a file and a run.
    let again = resume(&sb, &run);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("completed; there is nothing to resume"));
    let nothing = resume(&sb, &sb.path().join("results"));
    assert!(!nothing.status.success());
    assert!(
        stderr(&nothing).contains("not a run folder"),
        "{}",
        stderr(&nothing)
    );
    let both = sb.kiln(&["run", "resume.toml", "--resume", run.to_str().unwrap()]);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

#[test]
fn bad_checkpoint_settings_are_named() {
    let sb = Sandbox::new();
    for (setting, needle) in [
        ("every = \"5x\"", "is not a checkpoint period"),
        ("every = \"0 steps\"", "at least 1 step"),
        ("keep = 0", "`checkpoint.keep`: at least 1"),
        ("evry = \"1m\"", "did you mean `every`"),
    ] {
        let text = CLASSIFIER.replace("every = \"4 steps\"\nkeep = 2", setting);
        let file = sb.write("bad.toml", &text);
        let out = sb.run(&file, &["--quiet"]);
        assert!(!out.status.success(), "{setting}");
        let err = stderr(&out);
        assert!(
            err.contains(needle) && err.contains("bad.toml"),
            "{setting}: {err}"
        );
        assert!(sb.runs("resume").is_empty(), "{setting}: no run folder");
    }
}

/// Runs the shipped `name` with `sets`; then, for each of three kills (after step
/// `kill_after`, while writing the second checkpoint, in the second evaluation batch),
/// runs it again killed there, resumes it, and checks that it ends as the first run did.
/// The first kill must resume from the checkpoint after step `from`. `before` prepares the
/// sandbox (runs the experiment needs).
fn killed_and_resumed(
    name: &str,
    sets: &[&str],
    (kill_after, from): (usize, usize),
    before: impl Fn(&Sandbox),
) {
    let sb = Sandbox::new();
    before(&sb);
    let file = experiment(name);
    let mut extra = vec!["--quiet"];
    for s in sets {
        extra.extend(["--set", s]);
    }
    let whole = sb.run(&file, &extra);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let reference = newest(&sb, name);
    for fault in [
        format!("step:{kill_after}"),
        "checkpoint:2".into(),
        "evaluation:2".into(),
    ] {
        let killed = sb
            .run_command(&file, &extra)
            .env("KILN_FAULT", &fault)
            .output()
            .unwrap();
        assert_eq!(killed.status.code(), None, "{fault}: {}", stderr(&killed));
        let run = newest(&sb, name);
        let out = resume(&sb, &run);
        assert!(out.status.success(), "{fault}: {}", stderr(&out));
        same_results(&reference, &run);
        let resumed_from = &json(&run.join("manifest.json"))["resumptions"][0]["from_step"];
        if fault.starts_with("step") {
            assert_eq!(resumed_from, from, "{fault}");
        }
    }
}

/// Two classes of 12x14 colour PNGs (a bright bar left or right on noise) in `imgs/`.
fn image_folder(sb: &Sandbox) {
    let mut state = 5u32;
    let mut noise = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 24) as u8
    };
    for (class, left) in [("left", true), ("right", false)] {
        let dir = sb.path().join("imgs").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..40 {
            let img = image::RgbImage::from_fn(14, 12, |x, _| {
                let bar = if left { x < 4 } else { x >= 10 };
                let v = if bar { 220 } else { noise() / 3 };
                image::Rgb([v, noise() / 2, 255 - v])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn an_augmented_image_folder_run_killed_anywhere_resumes_to_the_same_bits() {
    // Flips and shifts drawn per epoch and image, batch norm, dropout: 64 training images,
    // 8 batches an epoch.
    let sets = [
        "data.path=\"imgs\"",
        "data.size=[12, 12]",
        "data.test_fraction=0.1",
        "data.validation_fraction=0.1",
        "data.augment={ flip = true, crop_padding = 2 }",
        "model.blocks=[{ channels = 4, kernel = 3, padding = 1, batch_norm = true, pool = 2 }]",
        "model.dense=[8]",
        "train.epochs=2",
        "train.batch_size=8",
        "checkpoint.every=\"3 steps\"",
    ];
    killed_and_resumed("cnn_stamps", &sets, (7, 6), image_folder);
}

#[test]
fn a_stateful_char_lm_killed_anywhere_resumes_to_the_same_bits() {
    // 27 windows an epoch; two LSTM layers whose state runs on from batch to batch.
    let sets = [
        "train.epochs=2",
        "data.source=sample",
        "data.train_limit=12000",
        "data.stateful=true",
        "data.seq_len=50",
        "train.batch_size=8",
        "model.hidden=24",
        "model.layers=2",
        "model.dropout=0.2",
        "model.embedding_dim=8",
        "generation.length=30",
        "checkpoint.every=\"5 steps\"",
    ];
    killed_and_resumed("charlstm_shakespeare", &sets, (13, 10), |_| {});
}

#[test]
fn a_seq2seq_model_killed_anywhere_resumes_to_the_same_bits() {
    // Teacher forcing at 0.5: the coin's tosses must be put back where they were.
    let sets = [
        "train.epochs=2",
        "data.count=1500",
        "model.hidden=24",
        "model.dropout=0.1",
        "train.teacher_forcing=0.5",
        "generation.examples=2",
        "checkpoint.every=\"6 steps\"",
    ];
    killed_and_resumed("seq2seq_addition", &sets, (15, 12), |_| {});
}

#[test]
fn a_gan_killed_anywhere_resumes_to_the_same_bits() {
    // Two optimizers, noise from the backend's generator, running sums of D(x) and D(G(z)).
    let sets = [
        "data.source=sample",
        "data.train_limit=640",
        "data.validation_fraction=0.2",
        "model.channels=4",
        "model.latent=8",
        "train.epochs=2",
        "generation.fid_samples=100",
        "checkpoint.every=\"3 steps\"",
    ];
    // Its FID is measured in the features of a classifier run.
    let classifier = |sb: &Sandbox| {
        let sets = [
            "--quiet",
            "--set",
            "data.source=sample",
            "--set",
            "train.epochs=1",
        ];
        let out = sb.run(&experiment("mlp_mnist"), &sets);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    killed_and_resumed("gan_mnist", &sets, (5, 3), classifier);
}

#[test]
fn a_sweep_run_again_resumes_its_interrupted_trials() {
    let sb = Sandbox::new();
    let sweep = format!("{CLASSIFIER}\n[sweep]\nname = \"s\"\nseeds = [1, 2]\n");
    let file = sb.write("sweep.toml", &sweep);
    // Every trial gets SIGTERM after its 6th step, checkpoints there and exits resumable.
    let first = sb
        .run_command(&file, &["--quiet"])
        .env("KILN_FAULT", "sigterm:6")
        .output()
        .unwrap();
    assert!(!first.status.success());
    let trials = sb.path().join("results/resume/s");
    let folders = |status: &str| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&trials)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| json(&p.join("manifest.json"))["status"] == status)
            .collect();
        found.sort();
        found
    };
    assert_eq!(folders("interrupted").len(), 2, "{}", stderr(&first));

    let dry = sb.run(&file, &["--dry-run"]);
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout)
            .matches("to resume")
            .count(),
        2,
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    let second = sb.run(&file, &["--quiet"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let done = folders("completed");
    assert_eq!(done.len(), 2, "the same two folders, completed");
    for run in done {
        let m = json(&run.join("manifest.json"));
        assert_eq!(m["resumptions"][0]["from_step"], 6, "{m}");
    }
}

#[test]
fn a_multilabel_run_killed_anywhere_resumes_to_the_same_bits() {
    // Per-label counts carried between batches: 72 training rows, 9 batches an epoch.
    let table = |sb: &Sandbox| {
        let mut s = String::from("x,y,z,a,b\n");
        for i in 0..100u32 {
            let (x, y) = ((i * 37 % 100) as f64 / 100.0, (i * 61 % 100) as f64 / 100.0);
            let z = (i * 13 % 7) as f64;
            s.push_str(&format!(
                "{x},{y},{z},{},{}\n",
                u8::from(x > 0.4),
                u8::from(x + y > 1.0)
            ));
        }
        sb.write("labels.csv", &s);
    };
    let sets = [
        "data.path=\"labels.csv\"",
        "data.target=[\"a\", \"b\"]",
        "data.test_fraction=0.2",
        "data.validation_fraction=0.1",
        "train.epochs=2",
        "train.batch_size=8",
        "checkpoint.every=\"3 steps\"",
    ];
    killed_and_resumed("multilabel_yeast", &sets, (7, 6), table);
}
