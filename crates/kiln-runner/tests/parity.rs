//! The backends agree: from the same initial weights, flex and every other backend built in
//! (`--features wgpu`, `--features tch`, `--features cuda` where a GPU is present) compute the same forward pass, loss and optimizer step
//! for an MLP, a CNN and an LSTM (and the forward passes of a language model and an
//! encoder-decoder with attention), within the tolerances below; a seed gives the same initial
//! weights on every backend; and `kiln run` with a seed follows the same loss curve step by
//! step (the same weights, the same batches in the same order) on every backend.
//!
//! Tolerances are absolute, on values of order one: float32 sums in a different order
//! (another backend's kernels) differ in the last bits, and a CNN or a recurrence sums more.
#![cfg(any(feature = "wgpu", feature = "tch", feature = "cuda"))]

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_models::portable::{float_params, materialize};
use kiln_models::{Classifier, InputShape, Inputs, ModelConfig};
use kiln_runner::backend;
use kiln_runner::config::BackendKind;
use kiln_train::LossKind;

/// Logits and losses.
const FORWARD_TOLERANCE: f32 = 1e-4;
/// Weights after one Adam step at lr 1e-2 (Adam's step is about lr in size, whatever the
/// gradient, so this also bounds how far the gradients' signs and ratios may differ).
const STEP_TOLERANCE: f32 = 1e-4;

/// The other backends this test binary was built with, on their default devices.
fn others() -> Vec<(&'static str, Device)> {
    let mut out = Vec::new();
    if cfg!(feature = "wgpu") {
        out.push((
            "wgpu",
            backend::device(BackendKind::Wgpu, "default", 1).expect("a wgpu adapter"),
        ));
    }
    if cfg!(feature = "tch") {
        out.push((
            "tch",
            backend::device(BackendKind::Tch, "cpu", 1).expect("libtorch"),
        ));
    }
    if cfg!(feature = "cuda") {
        // Built everywhere, compared where there is a GPU: a machine without an NVIDIA driver
        // says so and compares the rest (the refusal itself is tested in backend.rs).
        match backend::device(BackendKind::Cuda, "default", 1) {
            Ok(device) => out.push(("cuda", device)),
            Err(e) => eprintln!("parity: cuda not compared: {e}"),
        }
    }
    out
}

struct Case {
    name: &'static str,
    config: &'static str,
    shape: InputShape,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "mlp",
            config: r#"{"kind": "mlp", "hidden": [32]}"#,
            shape: InputShape::Image([1, 8, 8]),
        },
        Case {
            name: "cnn",
            config: r#"{"kind": "cnn", "blocks": [{"channels": 4, "kernel": 3}, {"channels": 8, "kernel": 3, "pool": 2}], "dense": [16]}"#,
            shape: InputShape::Image([1, 8, 8]),
        },
        Case {
            name: "lstm",
            config: r#"{"kind": "lstm", "embedding_dim": 8, "hidden": 8, "pooling": "max"}"#,
            shape: InputShape::Tokens { vocab: 20 },
        },
        Case {
            name: "resnet",
            config: r#"{"kind": "resnet", "depth": 8, "width": 4}"#,
            shape: InputShape::Image([3, 8, 8]),
        },
        Case {
            name: "tabular",
            config: r#"{"kind": "tabular", "hidden": [16]}"#,
            shape: InputShape::Table {
                numeric: 3,
                levels: vec![4, 5],
            },
        },
    ]
}

/// A fixed batch of 6 inputs and their targets, made on the host.
fn batch(shape: &InputShape, device: &Device) -> (Inputs, Tensor<1, Int>) {
    let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 1, 0, 2]), device);
    let inputs = match shape {
        InputShape::Image([c, h, w]) => {
            let n = 6 * c * h * w;
            let values: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
            Inputs::Images(Tensor::from_data(
                TensorData::new(values, [6, *c, *h, *w]),
                device,
            ))
        }
        InputShape::Tokens { vocab } => {
            let lengths = vec![5, 3, 5, 1, 4, 2];
            let ids: Vec<i64> = (0..30)
                .map(|i| {
                    let (row, col) = (i / 5, i % 5);
                    if col < lengths[row] {
                        1 + (i as i64 * 7) % (*vocab as i64 - 1)
                    } else {
                        0
                    }
                })
                .collect();
            Inputs::Tokens {
                ids: Tensor::from_data(TensorData::new(ids, [6, 5]), device),
                lengths,
            }
        }
        InputShape::Table { numeric, levels } => {
            let values: Vec<f32> = (0..6 * numeric)
                .map(|i| ((i as f32) * 0.53).cos())
                .collect();
            let ids: Vec<i64> = (0..6 * levels.len())
                .map(|i| (i as i64 * 3) % levels[i % levels.len()] as i64)
                .collect();
            Inputs::Table {
                numeric: Tensor::from_data(TensorData::new(values, [6, *numeric]), device),
                categories: Tensor::from_data(TensorData::new(ids, [6, levels.len()]), device),
            }
        }
    };
    (inputs, targets)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// flex's random generator is global: tests that seed it and draw take turns.
static FLEX_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn flex_model(case: &Case) -> Classifier {
    let config: ModelConfig = serde_json::from_str(case.config).unwrap();
    let flex = Device::flex();
    let m = config.init(case.shape.clone(), 3, &flex).unwrap();
    materialize(&m);
    m
}

/// Forward, loss, backward and one Adam step on `device`; returns logits, loss and weights.
fn one_step(model: Classifier, case: &Case, device: &Device) -> (Vec<f32>, f32, Vec<Vec<f32>>) {
    let ad = device.clone().autodiff();
    let model = model.fork(&ad).train();
    let (inputs, targets) = batch(&case.shape, &ad);
    let logits = model.forward(inputs).unwrap();
    let logit_values = values(logits.clone());
    let loss = LossKind::CrossEntropy.forward(logits, targets);
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optimizer = AdamConfig::new().init();
    let model = optimizer.step(1e-2, model, grads);
    (logit_values, loss_value, float_params(&model))
}

#[test]
fn forward_loss_and_one_optimizer_step_agree_with_flex() {
    let _rng = FLEX_RNG.lock().unwrap_or_else(|p| p.into_inner());
    for case in cases() {
        let start = flex_model(&case);
        let (logits, loss, weights) = one_step(start.clone(), &case, &Device::flex());
        for (name, device) in others() {
            let (l, s, w) = one_step(start.clone(), &case, &device);
            let what = format!("{} on {name}", case.name);
            let d = max_diff(&logits, &l);
            assert!(d <= FORWARD_TOLERANCE, "{what}: logits differ by {d}");
            let d = (loss - s).abs();
            assert!(d <= FORWARD_TOLERANCE, "{what}: loss {loss} against {s}");
            assert_eq!(weights.len(), w.len(), "{what}");
            let mut worst = 0f32;
            for (i, (a, b)) in weights.iter().zip(&w).enumerate() {
                let d = max_diff(a, b);
                assert!(
                    d <= STEP_TOLERANCE,
                    "{what}: parameter {i} differs by {d} after a step"
                );
                worst = worst.max(d);
            }
            eprintln!(
                "{what}: logits within {:.1e}, loss within {:.1e}, weights after a step within {worst:.1e}",
                max_diff(&logits, &l),
                (loss - s).abs()
            );
        }
    }
}

#[test]
fn a_seed_gives_the_same_initial_weights_on_every_backend() {
    let _rng = FLEX_RNG.lock().unwrap_or_else(|p| p.into_inner());
    let flex = Device::flex();
    let init = |case: &Case| {
        let config: ModelConfig = serde_json::from_str(case.config).unwrap();
        flex.seed(5);
        config.init(case.shape.clone(), 3, &flex).unwrap()
    };
    for case in cases() {
        let reference = float_params(&init(&case));
        for (name, device) in others() {
            // As `kiln run` does it: initialised on flex with the seed, then moved. (Moved
            // without `materialize`, burn would initialise on the destination, with its own
            // generator.)
            let model = init(&case);
            materialize(&model);
            let moved = float_params(&model.fork(&device));
            assert_eq!(reference.len(), moved.len());
            for (i, (a, b)) in reference.iter().zip(&moved).enumerate() {
                assert!(
                    a == b,
                    "{} on {name}: parameter {i} differs (by up to {})",
                    case.name,
                    max_diff(a, b)
                );
            }
        }
    }
}

/// An MLP without dropout on the embedded MNIST sample: 20 steps of plain SGD.
const RUN: &str = r#"task = "classification"
name = "parity"
seed = 11

[data]
dataset = "mnist"
source = "sample"
train_limit = 800
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 1
batch_size = 32
learning_rate = 0.05
optimizer = { name = "sgd" }
"#;

/// Losses of consecutive steps: the same weights and the same batches in the same order give
/// the same curve; drift compounds over 20 steps, so the bound is looser than one step's.
const CURVE_TOLERANCE: f64 = 1e-3;

/// Through the real `kiln run`: a seed gives the same initial weights and the same data order
/// on every backend, so the per-step training losses follow each other.
#[test]
fn kiln_run_follows_the_same_loss_curve_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("parity.toml");
    std::fs::write(&file, RUN).unwrap();
    let losses = |backend: &str| -> Vec<f64> {
        let results = dir.path().join(backend);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("--quiet")
            .arg("run")
            .arg(&file)
            .args(["--set", &format!("backend={backend}"), "--results"])
            .arg(&results)
            .env_remove("KILN_DATASETS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = std::fs::read_dir(results.join("parity"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let steps = kiln_runner::store::metrics_io::read_parquet(
            &run.join("metrics").join("steps.parquet"),
        )
        .unwrap();
        steps
            .column("loss")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    let reference = losses("flex");
    assert_eq!(reference.len(), 20);
    for (name, _) in others() {
        let curve = losses(name);
        assert_eq!(curve.len(), reference.len(), "{name}");
        let worst = reference
            .iter()
            .zip(&curve)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("{name}: the 20 step losses differ from flex's by up to {worst:e}");
        assert!(
            worst < CURVE_TOLERANCE,
            "{name}: losses differ by up to {worst}\nflex: {reference:?}\n{name}: {curve:?}"
        );
    }
}

/// `[rows, cols]` ids made on the host, the same on every device.
fn ids(values: &[i64], rows: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [rows, values.len() / rows]),
        device,
    )
}

#[test]
fn generative_models_agree_with_flex() {
    use kiln_models::decode::Bounds;
    use kiln_models::{AttentionKind, CellKind, LanguageModelConfig, Seq2SeqConfig};
    let flex = Device::flex();
    flex.seed(5);
    let lm = LanguageModelConfig {
        cell: CellKind::Lstm,
        embedding_dim: 8,
        hidden: 12,
        layers: 2,
        dropout: 0.0,
    }
    .init(15, &flex)
    .unwrap();
    materialize(&lm);
    let tokens = [3i64, 7, 1, 9, 4, 4, 12, 5, 6, 2, 8, 14];
    // Two windows in a row, the state carried from the first to the second.
    let lm_logits = |m: &kiln_models::LanguageModel, device: &Device| {
        let (first, state) = m.forward(ids(&tokens[..6], 2, device), None);
        let (second, _) = m.forward(ids(&tokens[6..], 2, device), Some(state));
        [values(first), values(second)].concat()
    };
    let reference = lm_logits(&lm, &flex);
    let s2s: Vec<_> = [AttentionKind::Dot, AttentionKind::Additive]
        .into_iter()
        .map(|attention| {
            let m = Seq2SeqConfig {
                cell: CellKind::Gru,
                embedding_dim: 8,
                hidden: 12,
                layers: 1,
                dropout: 0.0,
                attention,
            }
            .init(15, 11, &flex)
            .unwrap();
            materialize(&m);
            m
        })
        .collect();
    // Left-padded sources (0 is padding), teacher-forced targets.
    let sources = [0i64, 0, 5, 6, 7, 9, 10, 11, 12, 13];
    let inputs = [2i64, 4, 5, 2, 9, 10];
    let bounds = Bounds {
        start: 2,
        end: 3,
        max_len: 8,
    };
    let s2s_out = |m: &kiln_models::Seq2Seq, device: &Device| {
        let encoded = m.encode(ids(&sources, 2, device), 0);
        let (logits, _) = m.decode(ids(&inputs, 2, device), &encoded, encoded.states.clone());
        (
            values(logits),
            m.greedy(ids(&sources, 2, device), 0, bounds),
        )
    };
    let s2s_reference: Vec<_> = s2s.iter().map(|m| s2s_out(m, &flex)).collect();
    for (name, device) in others() {
        let moved = lm.clone().fork(&device);
        let worst = max_diff(&reference, &lm_logits(&moved, &device));
        assert!(worst < FORWARD_TOLERANCE, "{name} language model: {worst}");
        eprintln!("language model on {name}: logits within {worst:.1e}");
        for (m, (logits, greedy)) in s2s.iter().zip(&s2s_reference) {
            let (l, g) = s2s_out(&m.clone().fork(&device), &device);
            let worst = max_diff(logits, &l);
            assert!(worst < FORWARD_TOLERANCE, "{name} seq2seq: {worst}");
            assert_eq!(greedy, &g, "{name}: greedy decoding");
            eprintln!("seq2seq on {name}: logits within {worst:.1e}, the same greedy outputs");
        }
    }
}
