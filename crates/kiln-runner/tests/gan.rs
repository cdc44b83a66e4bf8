//! The GAN through the real `kiln run` path on the embedded MNIST sample, shrunk with `--set`:
//! a classifier run first (its features score the samples), then the GAN with its grids,
//! its FID and `kiln generate`, and the inputs it must refuse.

use std::path::{Path, PathBuf};

mod common;
use common::{Sandbox, json, stderr};

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(format!("{name}.toml"))
}

/// A small GAN on 512 sample digits, scored against 100 held-out ones.
const SMALL: &[&str] = &[
    "--quiet",
    "--set",
    "data.source=sample",
    "--set",
    "data.train_limit=640",
    "--set",
    "data.validation_fraction=0.2",
    "--set",
    "model.channels=4",
    "--set",
    "model.latent=8",
    "--set",
    "train.epochs=2",
    "--set",
    "generation.fid_samples=100",
];

fn classifier(sb: &Sandbox) {
    let out = sb.run(
        &experiment("mlp_mnist"),
        &[
            "--quiet",
            "--set",
            "data.source=sample",
            "--set",
            "train.epochs=1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_gan_trains_draws_grids_scores_its_samples_and_generates() {
    let sb = Sandbox::new();
    classifier(&sb);
    let out = sb.run(&experiment("gan_mnist"), SMALL);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = sb.runs("gan_mnist");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(json(&run.join("manifest.json"))["status"], "completed");
    for epoch in [0, 1, 2] {
        let grid = run.join(format!("samples/epoch_{epoch:03}.png"));
        let bytes = std::fs::read(&grid).unwrap_or_else(|e| panic!("{}: {e}", grid.display()));
        assert_eq!(&bytes[1..4], b"PNG");
    }
    let test = json(&run.join("test.json"));
    for metric in ["loss", "accuracy", "g_loss", "d_real", "d_fake", "fid"] {
        let v = test[metric].as_f64();
        assert!(v.is_some_and(f64::is_finite), "{metric}: {test}");
    }
    assert!(test["fid"].as_f64().unwrap() > 0.0);
    let epochs = std::fs::read_to_string(run.join("metrics/epochs.csv")).unwrap();
    let header = epochs.lines().next().unwrap();
    for column in ["train_g_loss", "val_fid", "val_d_fake"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(run.join("charts/fid.png").is_file());

    // New samples from the best generator, the same for the same seed.
    let generate = |seed: &str| {
        let out = sb.kiln(&["generate", run.to_str().unwrap(), "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read(run.join(format!("samples/generated_seed{seed}.png"))).unwrap()
    };
    let first = generate("5");
    assert_eq!(first, generate("5"));
    assert_ne!(first, generate("6"));
}

#[test]
fn the_same_seed_trains_the_same_gan() {
    let sb = Sandbox::new();
    // No classifier: a run without an FID, monitored on the discriminator's loss.
    let file = sb.write(
        "gan.toml",
        &std::fs::read_to_string(experiment("gan_mnist"))
            .unwrap()
            .replace("classifier = \"results/mlp_mnist\"\n", "")
            .replace("monitor = \"val_fid\"", "monitor = \"val_loss\""),
    );
    let losses = || {
        let out = sb.run(&file, &SMALL[..SMALL.len() - 2]);
        assert!(out.status.success(), "{}", stderr(&out));
        let run = sb.runs("gan_mnist").pop().unwrap();
        let test = json(&run.join("test.json"));
        assert!(test.get("fid").is_none(), "no classifier, no FID: {test}");
        (
            test["loss"].as_f64().unwrap(),
            test["g_loss"].as_f64().unwrap(),
        )
    };
    let first = losses();
    assert_eq!(first, losses());
}

#[test]
fn bad_gan_inputs_are_named_and_leave_no_run() {
    let sb = Sandbox::new();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--set", "generation.classifier=results/nothing_here"],
            &[
                "generation.classifier",
                "results/nothing_here",
                "not a run folder",
            ],
        ),
        (
            &["--set", "generation.fid_samples=1"],
            &["generation.fid_samples", "at least 2"],
        ),
        (
            &["--set", "train.monitor=val_bleu"],
            &["train.monitor", "val_bleu", "val_fid"],
        ),
        (
            &["--set", "data.dataset=imdb"],
            &[
                "data.dataset",
                "trains gan on mnist, not on the imdb dataset",
            ],
        ),
    ];
    for (sets, needles) in cases {
        let mut extra = SMALL.to_vec();
        extra.extend_from_slice(sets);
        let out = sb.run(&experiment("gan_mnist"), &extra);
        let err = stderr(&out);
        assert!(!out.status.success(), "{sets:?} should fail");
        for n in *needles {
            assert!(err.contains(n), "{sets:?}: message lacks `{n}`:\n{err}");
        }
        assert!(sb.runs("gan_mnist").is_empty(), "{sets:?} left a run");
    }
    // A classifier whose config no longer matches its checkpoint (or whose checkpoint was
    // trained on other images) is refused before a run exists, whether burn notices at
    // loading or only in the first forward pass.
    classifier(&sb);
    let mlp = sb.runs("mlp_mnist").pop().unwrap();
    let config = mlp.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("hidden = [128]"), "{text}");
    std::fs::write(&config, text.replace("hidden = [128]", "hidden = [64, 32]")).unwrap();
    let mut extra = SMALL.to_vec();
    extra.extend(["--set", "generation.classifier=results/mlp_mnist"]);
    let out = sb.run(&experiment("gan_mnist"), &extra);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a mismatched classifier was accepted"
    );
    assert!(err.contains("generation.classifier"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(sb.runs("gan_mnist").is_empty());

    // A classifier run has nothing to generate.
    let out = sb.kiln(&["generate", mlp.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`generate` needs a language_model or gan run"),
        "{}",
        stderr(&out)
    );

    // A classifier of text cannot score images.
    let lstm = sb.run(
        &experiment("quickstart_imdb"),
        &["--quiet", "--set", "train.epochs=1"],
    );
    assert!(lstm.status.success(), "{}", stderr(&lstm));
    let mut extra = SMALL.to_vec();
    extra.extend(["--set", "generation.classifier=results/quickstart_imdb"]);
    let out = sb.run(&experiment("gan_mnist"), &extra);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("the FID needs an image classifier"), "{err}");
    assert!(sb.runs("gan_mnist").is_empty());
}
