//! The plug-in's binary trains its own model from a TOML file through kiln's commands, and
//! kiln's checks reach into its options.

use std::path::Path;
use std::process::{Command, Output};

fn kiln_custom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln-custom"))
        .args(args)
        .current_dir(dir)
        .env_remove("KILN_DATASETS")
        .output()
        .unwrap()
}

fn experiment() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("residual_mlp_mnist.toml")
        .display()
        .to_string()
}

#[test]
fn the_custom_model_trains_into_an_ordinary_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = experiment();
    let out = kiln_custom(
        dir.path(),
        &[
            "run",
            &file,
            "--quiet",
            "--set",
            "data.source=sample",
            "--set",
            "train.epochs=2",
            "--set",
            "model.options.width=64",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("results/residual_mlp_mnist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(runs[0].join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("manifest.json")["status"], "completed");
    // Two epochs on 4,500 digits: far above the 10 % of chance.
    let accuracy = read("test.json")["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "{accuracy}");
    assert!(runs[0].join("checkpoints/best.bpk").is_file());
    assert!(runs[0].join("charts/accuracy.png").is_file());
    // The index and compare know the run like any other.
    let out = kiln_custom(
        dir.path(),
        &[
            "compare",
            "--where",
            "model.name=residual_mlp",
            "--format",
            "csv",
        ],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table.lines().count(), 2, "{table}");
}

#[test]
fn bad_options_are_refused_with_their_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(experiment())
        .unwrap()
        .replace("width = 256", "widht = 256");
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let out = kiln_custom(
        dir.path(),
        &["run", "bad.toml", "--set", "data.source=sample"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for needle in ["bad.toml:18", "model.options", "unknown field `widht`"] {
        assert!(err.contains(needle), "lacks {needle}: {err}");
    }
    assert!(
        !dir.path().join("results").exists(),
        "a refused run left files"
    );
}
