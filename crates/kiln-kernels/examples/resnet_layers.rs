//! A ResNet-20 step's layers timed alone on flex: the 3x3 convolution, the batch norm (with
//! its ReLU) and a block's end (batch norm, the shortcut added, ReLU: one operation, and in
//! parts) of each stage, batch 128 of 28x28 maps, forward and backward, the fastest of 15
//! calls each. `KILN_KERNELS=off` times burn's own operations instead. `kiln` tells mimalloc
//! to keep freed pages; set `MIMALLOC_PURGE_DELAY=-1` to time the layers as it runs them
//! (otherwise fresh pages are faulted in and cleared at every call).
//!
//!     MIMALLOC_PURGE_DELAY=-1 cargo run --release -p kiln-kernels --example resnet_layers
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use kiln_kernels::conv::{self, Geometry};
use kiln_kernels::norm;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fastest forward pass of `layer` on `x` and the fastest backward pass, in ms. The
/// backward pass starts from a dense gradient, as a network's would (a sum's gradient is one
/// value broadcast), at the cost of one multiplication's backward pass in every layer's time.
fn fastest(x: &Tensor<4>, layer: impl Fn(Tensor<4>) -> Tensor<4>) -> (f64, f64) {
    let (mut forward, mut backward) = (f64::MAX, f64::MAX);
    let weights = Tensor::<4>::random(x.dims(), Distribution::Normal(0.0, 1.0), &x.device());
    for _ in 0..15 {
        let x = x.clone().detach().require_grad();
        let start = Instant::now();
        let y = layer(x);
        // Reading one value waits for the whole output.
        let _ = y
            .clone()
            .slice([0..1, 0..1, 0..1, 0..1])
            .into_scalar::<f32>();
        let f = start.elapsed().as_secs_f64();
        let _ = (y * weights.clone()).sum().backward();
        forward = forward.min(f * 1e3);
        backward = backward.min((start.elapsed().as_secs_f64() - f) * 1e3);
    }
    (forward, backward)
}

fn main() {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    for (c, hw) in [(16usize, 28usize), (32, 14), (64, 7)] {
        let x = Tensor::<4>::random([128, c, hw, hw], normal, &device);
        let w = Tensor::<4>::random([c, c, 3, 3], normal, &device).require_grad();
        let gamma = Tensor::<1>::ones([c], &device).require_grad();
        let beta = Tensor::<1>::zeros([c], &device).require_grad();
        let same = Geometry {
            stride: [1, 1],
            padding: [1, 1],
        };
        let (cf, cb) = fastest(&x, |x| conv::conv2d(x, w.clone(), None, same));
        let (nf, nb) = fastest(&x, |x| {
            norm::batch_norm_train(x, gamma.clone(), beta.clone(), None, 1e-5, true).output
        });
        // A residual block's end: norm, the shortcut added, ReLU; as one operation and as
        // the normalisation followed by burn's addition and ReLU.
        let shortcut = Tensor::<4>::random([128, c, hw, hw], normal, &device).require_grad();
        let (ef, eb) = fastest(&x, |x| {
            let (g, b, s) = (gamma.clone(), beta.clone(), Some(shortcut.clone()));
            norm::batch_norm_train(x, g, b, s, 1e-5, true).output
        });
        let (pf, pb) = fastest(&x, |x| {
            let (g, b) = (gamma.clone(), beta.clone());
            let y = norm::batch_norm_train(x, g, b, None, 1e-5, false).output;
            burn::tensor::activation::relu(y + shortcut.clone())
        });
        let flops = 2.0 * 128.0 * (c * c * 9 * hw * hw) as f64;
        println!(
            "c {c} hw {hw}: conv fwd {cf:.1} ms ({:.0} GFLOP/s) bwd {cb:.1} ms ({:.0} GFLOP/s); bn fwd {nf:.1} bwd {nb:.1} ms; block end fwd {ef:.1} bwd {eb:.1} ms, in parts fwd {pf:.1} bwd {pb:.1} ms",
            flops / cf / 1e6,
            2.0 * flops / cb / 1e6
        );
    }
}
