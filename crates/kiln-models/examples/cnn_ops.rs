//! Where a Keras-CNN training step's time goes on flex: each operation of the step timed on
//! its own (forward, then forward + backward), batch 128 of 28x28 digits.
//!
//!     cargo run --release -p kiln-models --example cnn_ops
use std::time::Instant;

use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{DropoutConfig, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use kiln_kernels::conv::{self, Geometry};
use kiln_kernels::{dropout, pool};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn time<const D: usize>(name: &str, input: &Tensor<D>, f: impl Fn(Tensor<D>) -> Tensor<4>) {
    let run = |backward: bool| {
        let mut t = Vec::new();
        for _ in 0..12 {
            let x = input.clone().detach().require_grad();
            let start = Instant::now();
            let y = f(x);
            if backward {
                let _ = y.sum().backward();
            } else {
                let _ = y.sum().into_scalar::<f32>();
            }
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    println!(
        "{name:<28} forward {:7.2} ms   forward+backward {:7.2} ms",
        run(false),
        run(true)
    );
}

fn main() {
    whole_model();
    let device = Device::flex().autodiff();
    let b = 128;
    let n = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random([b, 1, 28, 28], n, &device);
    let w1 = Tensor::<4>::random([32, 1, 3, 3], n, &device).require_grad();
    let w2 = Tensor::<4>::random([64, 32, 3, 3], n, &device).require_grad();
    let bias = |c| Some(Tensor::<1>::random([c], n, &device).require_grad());
    let g = Geometry {
        stride: [1, 1],
        padding: [0, 0],
    };
    let a1 = Tensor::<4>::random([b, 32, 26, 26], n, &device);
    let a2 = Tensor::<4>::random([b, 64, 24, 24], n, &device);
    let p = Tensor::<4>::random([b, 64, 12, 12], n, &device);
    time("conv1 1->32 (fused)", &x, |x| {
        conv::conv2d(x, w1.clone(), bias(32), g)
    });
    time("conv1 1->32 (burn)", &x, |x| {
        conv::composed(x, w1.clone(), bias(32), g)
    });
    time("conv2 32->64 (fused)", &a1, |x| {
        conv::conv2d(x, w2.clone(), bias(64), g)
    });
    time("conv2 32->64 (burn)", &a1, |x| {
        conv::composed(x, w2.clone(), bias(64), g)
    });
    time("relu [128,64,24,24]", &a2, relu);
    let window = pool::Window {
        kernel: [2, 2],
        stride: [2, 2],
    };
    time("max pool 2x2 (fused)", &a2, |x| pool::max_pool2d(x, window));
    let burn_pool = MaxPool2dConfig::new([2, 2]).init();
    time("max pool 2x2 (burn)", &a2, |x| burn_pool.forward(x));
    time("dropout 0.25 (fused)", &p, |x| dropout::dropout(x, 0.25));
    let drop = DropoutConfig::new(0.25).init();
    time("dropout 0.25 (burn)", &p, |x| drop.forward(x));
    let fc = LinearConfig::new(9216, 128).init(&device);
    time("dense 9216->128", &p, |x| {
        fc.forward(x.flatten::<2>(1, 3)).unsqueeze::<4>()
    });
}

/// The whole Keras CNN as kiln builds it: forward, backward, and Adam's step.
fn whole_model() {
    use burn::optim::{AdamConfig, GradientsParams};
    let device = Device::flex().autodiff();
    let config: kiln_models::CnnConfig = serde_json::from_str(
        r#"{"blocks":[{"channels":32,"kernel":3},{"channels":64,"kernel":3,"pool":2,"dropout":0.25}],"dense":[128],"dense_dropout":0.5}"#,
    )
    .unwrap();
    let mut model = config.init([1, 28, 28], 10, &device).unwrap();
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<4>::random([128, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new((0..128).map(|i| i % 10).collect::<Vec<i64>>(), [128]),
        &device,
    );
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..15 {
        let t = Instant::now();
        let logits = model.forward(x.clone());
        let loss = burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let f = t.elapsed();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let b = t.elapsed();
        model = optim.step(1e-3, model, grads);
        let o = t.elapsed();
        for (v, d) in times.iter_mut().zip([f, b - f, o - b]) {
            v.push(d.as_secs_f64() * 1e3);
        }
    }
    for (name, mut v) in ["forward", "backward", "adam"].into_iter().zip(times) {
        v.sort_by(f64::total_cmp);
        println!("whole model {name:<10} {:7.2} ms", v[v.len() / 2]);
    }
}
