//! A ResNet-20 step's layers timed alone on flex: the 3x3 convolution and the batch norm
//! (with its ReLU) of each stage, batch 128 of 28x28 maps, forward and backward, the fastest
//! of 15 calls each. `KILN_KERNELS=off` times burn's own operations instead.
//!
//!     cargo run --release -p kiln-kernels --example resnet_layers
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use kiln_kernels::conv::{self, Geometry};
use kiln_kernels::norm;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fastest forward pass of `layer` on `x` and the fastest backward pass, in ms.
fn fastest(x: &Tensor<4>, layer: impl Fn(Tensor<4>) -> Tensor<4>) -> (f64, f64) {
    let (mut forward, mut backward) = (f64::MAX, f64::MAX);
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
        let _ = y.sum().backward();
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
            norm::batch_norm_train(x, gamma.clone(), beta.clone(), 1e-5, true).output
        });
        let flops = 2.0 * 128.0 * (c * c * 9 * hw * hw) as f64;
        println!(
            "c {c} hw {hw}: conv fwd {cf:.1} ms ({:.0} GFLOP/s) bwd {cb:.1} ms ({:.0} GFLOP/s); bn fwd {nf:.1} bwd {nb:.1} ms",
            flops / cf / 1e6,
            2.0 * flops / cb / 1e6
        );
    }
}
