//! The fused convolution against burn's: outputs and the gradients of input, weight and bias.

use burn::tensor::{Device, Distribution, Tensor};

use super::*;

use crate::testing::max_difference;

struct Case {
    batch: usize,
    c_in: usize,
    hw: [usize; 2],
    c_out: usize,
    kernel: [usize; 2],
    geometry: Geometry,
    bias: bool,
    input_grad: bool,
}

fn compare(case: &Case, seed: u64) {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let normal = Distribution::Normal(0.0, 1.0);
    let [h, w] = case.hw;
    let x = Tensor::<4>::random([case.batch, case.c_in, h, w], normal, &device);
    let x = if case.input_grad { x.require_grad() } else { x };
    let weight = Tensor::<4>::random(
        [case.c_out, case.c_in, case.kernel[0], case.kernel[1]],
        normal,
        &device,
    )
    .require_grad();
    let bias = case
        .bias
        .then(|| Tensor::<1>::random([case.c_out], normal, &device).require_grad());
    assert_eq!(path(&x), Path::Fused);
    let forward = |fused: bool| {
        if fused {
            conv2d(x.clone(), weight.clone(), bias.clone(), case.geometry)
        } else {
            composed(x.clone(), weight.clone(), bias.clone(), case.geometry)
        }
    };
    let (fused, reference) = (forward(true), forward(false));
    // Weights on every output, so that each position's gradient differs; drawn once for both
    // (the generator is shared with the tests running beside this one).
    let r = Tensor::<4>::random(fused.dims(), normal, &device);
    let grads_of = |y: Tensor<4>| {
        let grads = (y.clone() * r.clone()).sum().backward();
        (
            y.detach(),
            case.input_grad.then(|| x.grad(&grads).unwrap()),
            weight.grad(&grads).unwrap(),
            bias.as_ref().map(|b| b.grad(&grads).unwrap()),
        )
    };
    let (y1, dx1, dw1, db1) = grads_of(fused);
    let (y2, dx2, dw2, db2) = grads_of(reference);
    let what = format!(
        "batch {} c_in {} {:?} c_out {} kernel {:?} {:?} bias {}",
        case.batch, case.c_in, case.hw, case.c_out, case.kernel, case.geometry, case.bias
    );
    let tolerance = 1e-4;
    let d = max_difference(&y1, &y2);
    assert!(d < tolerance, "{what}: outputs differ by {d}");
    if let (Some(a), Some(b)) = (dx1, dx2) {
        let d = max_difference(&a, &b);
        assert!(d < tolerance, "{what}: input gradients differ by {d}");
    }
    let d = max_difference(&dw1, &dw2);
    assert!(d < tolerance, "{what}: weight gradients differ by {d}");
    if let (Some(a), Some(b)) = (db1, db2) {
        let d = max_difference(&a, &b);
        assert!(d < tolerance, "{what}: bias gradients differ by {d}");
    }
}

#[test]
fn the_fused_convolution_matches_burns_with_every_gradient() {
    let g = |stride, padding| Geometry {
        stride: [stride, stride],
        padding: [padding, padding],
    };
    let cases = [
        // The Keras MNIST CNN's two layers, small.
        (3, 1, [12, 12], 4, [3, 3], g(1, 0)),
        (2, 4, [10, 10], 6, [3, 3], g(1, 0)),
        // Padding, strides, rectangles, pointwise, a kernel as large as the input.
        (2, 3, [9, 7], 5, [3, 3], g(1, 1)),
        (3, 2, [11, 8], 4, [3, 3], g(2, 1)),
        (1, 3, [8, 9], 2, [5, 3], g(2, 2)),
        (4, 5, [6, 6], 3, [1, 1], g(1, 0)),
        (2, 2, [7, 7], 3, [1, 1], g(2, 0)),
        (2, 2, [5, 5], 3, [5, 5], g(1, 0)),
        (5, 3, [4, 4], 2, [2, 2], g(3, 1)),
    ];
    let mut seed = 0;
    for (batch, c_in, hw, c_out, kernel, geometry) in cases {
        for bias in [true, false] {
            for input_grad in [true, false] {
                seed += 1;
                compare(
                    &Case {
                        batch,
                        c_in,
                        hw,
                        c_out,
                        kernel,
                        geometry,
                        bias,
                        input_grad,
                    },
                    seed,
                );
            }
        }
    }
}
