//! `kiln bench`: measurement processes, the table they make, and what it refuses.

mod common;
use common::{Sandbox, stderr};

const MLP: &str = r#"task = "classification"
name = "bench_mlp"
seed = 1

[data]
dataset = "mnist"
source = "sample"
train_limit = 320
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 1
batch_size = 32
learning_rate = 1e-3
"#;

#[test]
fn bench_times_steps_past_the_warmup_and_reports_memory() {
    let sb = Sandbox::new();
    let file = sb.write("mlp.toml", MLP);
    // 256 training items are 8 full batches of 32: the 14 steps run into a second epoch.
    let out = sb.kiln(&[
        "--quiet",
        "bench",
        "--one",
        file.to_str().unwrap(),
        "--warmup",
        "2",
        "--steps",
        "12",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["steps"], 12);
    assert_eq!(r["samples"], 12 * 32);
    assert_eq!(r["backend"], "flex");
    let sps = r["samples_per_second"].as_f64().unwrap();
    let seconds = r["seconds"].as_f64().unwrap();
    assert!((sps - 384.0 / seconds).abs() < 1e-6 * sps, "{r}");
    assert!(r["peak_rss_mib"].as_f64().unwrap() > 1.0, "{r}");
    // Nothing is written: a bench is not a run.
    assert!(!sb.path().join("results").exists());
}

#[test]
fn bench_writes_one_row_per_file_and_backend() {
    let sb = Sandbox::new();
    let file = sb.write("mlp.toml", MLP);
    let out = sb.kiln(&[
        "--quiet",
        "bench",
        file.to_str().unwrap(),
        file.to_str().unwrap(),
        "--backends",
        "flex",
        "--warmup",
        "1",
        "--steps",
        "3",
        "--format",
        "markdown",
        "-o",
        "bench/table.md",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(sb.path().join("bench/table.md")).unwrap();
    assert!(
        table.contains("samples/s") && table.contains("peak RSS MiB"),
        "{table}"
    );
    assert_eq!(table.matches("| bench_mlp").count(), 2, "{table}");
}

#[test]
fn bench_refuses_sweeps_and_unbuilt_backends_before_measuring() {
    let sb = Sandbox::new();
    let sweep = sb.write("sweep.toml", &format!("{MLP}\n[sweep]\nseeds = [1, 2]\n"));
    let out = sb.kiln(&["bench", sweep.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is a sweep"), "{}", stderr(&out));

    let file = sb.write("mlp.toml", MLP);
    let out = sb.kiln(&["bench", file.to_str().unwrap(), "--backends", "flex,nope"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("nope") && e.contains("expected one of"), "{e}");
    assert!(!e.contains("bench: "), "no measurement may start: {e}");
}
