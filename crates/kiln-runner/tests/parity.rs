//! The backends agree: from the same initial weights, flex and every other backend built in
//! (`--features wgpu`, `--features tch`) compute the same forward pass, loss and optimizer step
//! for an MLP, a CNN and an LSTM, within the tolerances below; and a seed gives the same
//! initial weights on every backend.
//!
//! Tolerances are absolute, on values of order one: float32 sums in a different order
//! (another backend's kernels) differ in the last bits, and a CNN or a recurrence sums more.
#![cfg(any(feature = "wgpu", feature = "tch"))]

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_models::portable::{float_params, materialize};
use kiln_models::{Classifier, ClassifierConfig, InputShape, Inputs};
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
    };
    (inputs, targets)
}

fn values(t: Tensor<2>) -> Vec<f32> {
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
    let config: ClassifierConfig = serde_json::from_str(case.config).unwrap();
    let flex = Device::flex();
    let m = config.init(case.shape, 3, &flex).unwrap();
    materialize(&m);
    m
}

/// Forward, loss, backward and one Adam step on `device`; returns logits, loss and weights.
fn one_step(model: Classifier, case: &Case, device: &Device) -> (Vec<f32>, f32, Vec<Vec<f32>>) {
    let ad = device.clone().autodiff();
    let model = model.fork(&ad).train();
    let (inputs, targets) = batch(&case.shape, &ad);
    let logits = model.forward(inputs);
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
        let config: ClassifierConfig = serde_json::from_str(case.config).unwrap();
        flex.seed(5);
        config.init(case.shape, 3, &flex).unwrap()
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
