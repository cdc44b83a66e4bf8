//! The fused batch norm against burn's: output, statistics and the gradients of input, gamma
//! and beta (and the residual's), with and without the residual and the ReLU.

use burn::tensor::{Device, Distribution, Tensor};

use super::*;

use crate::testing::max_difference;

fn compare<const D: usize>(shape: [usize; D], relu: bool, seed: u64) {
    compare_with(shape, false, relu, seed);
    compare_with(shape, true, relu, seed);
}

fn compare_with<const D: usize>(shape: [usize; D], residual: bool, relu: bool, seed: u64) {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let channels = shape[1];
    // Away from zero mean and unit variance, so that both statistics matter.
    let x = Tensor::<D>::random(shape, Distribution::Normal(3.0, 2.0), &device).require_grad();
    let gamma =
        Tensor::<1>::random([channels], Distribution::Normal(1.0, 0.5), &device).require_grad();
    let beta =
        Tensor::<1>::random([channels], Distribution::Normal(0.0, 0.5), &device).require_grad();
    assert_eq!(path(&x), Path::Fused);
    let shortcut = residual.then(|| {
        Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad()
    });
    let r = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let run = |fused: bool| {
        let f = if fused { batch_norm_train } else { composed };
        let out = f(
            x.clone(),
            gamma.clone(),
            beta.clone(),
            shortcut.clone(),
            1e-5,
            relu,
        );
        let grads = (out.output.clone() * r.clone()).sum().backward();
        (
            out,
            x.grad(&grads).unwrap(),
            gamma.grad(&grads).unwrap(),
            beta.grad(&grads).unwrap(),
            shortcut.as_ref().map(|s| s.grad(&grads).unwrap()),
        )
    };
    let (a, dx1, dg1, db1, ds1) = run(true);
    let (b, dx2, dg2, db2, ds2) = run(false);
    let what = format!("{shape:?} residual {residual} relu {relu}");
    let close = |name: &str, d: f32, limit: f32| {
        assert!(d < limit, "{what}: {name} differs by {d}");
    };
    close("output", max_difference(&a.output, &b.output), 1e-5);
    close("mean", max_difference(&a.mean, &b.mean), 1e-5);
    close("variance", max_difference(&a.variance, &b.variance), 1e-4);
    close("input gradient", max_difference(&dx1, &dx2), 1e-4);
    close("gamma gradient", max_difference(&dg1, &dg2), 1e-3);
    close("beta gradient", max_difference(&db1, &db2), 1e-3);
    if let (Some(ds1), Some(ds2)) = (ds1, ds2) {
        close("residual gradient", max_difference(&ds1, &ds2), 1e-6);
    }
    if relu {
        let zeros = a
            .output
            .clone()
            .lower_equal_elem(0.0)
            .int()
            .sum()
            .into_scalar::<i64>();
        assert!(zeros > 0, "{what}: the ReLU cut nothing off");
    }
}

#[test]
fn images_match_burns_batch_norm() {
    // Feature maps whose planes are whole vectors, ragged ones, and ones shorter than a vector.
    compare([6, 4, 8, 8], false, 1);
    compare([5, 3, 7, 9], true, 2);
    compare([3, 5, 2, 2], false, 3);
    compare([33, 16, 28, 28], true, 4);
}

#[test]
fn other_ranks_match_burns_batch_norm() {
    compare([40, 24], false, 5);
    compare([7, 3, 10], true, 6);
}

#[test]
fn a_frozen_input_gets_no_gradient_but_gamma_and_beta_do() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let x = Tensor::<4>::random([4, 3, 5, 5], Distribution::Default, &device);
    let gamma = Tensor::<1>::ones([3], &device).require_grad();
    let beta = Tensor::<1>::zeros([3], &device).require_grad();
    let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), None, 1e-5, false);
    let grads = (out.output * x.clone()).sum().backward();
    assert!(x.grad(&grads).is_none());
    assert!(gamma.grad(&grads).is_some() && beta.grad(&grads).is_some());
}

/// The statistics and the output are the same bits whatever the number of threads.
#[test]
fn threads_do_not_change_a_bit() {
    let d = cpu::NormDims {
        batch: 13,
        channels: 5,
        inner: 37,
    };
    let x: Vec<f32> = (0..13 * 5 * 37)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 3.0)
        .collect();
    let gamma = [0.5, 1.0, 1.5, -1.0, 2.0];
    let beta = [0.0, 0.1, -0.2, 0.3, 1.0];
    let dy: Vec<f32> = x.iter().map(|v| (v * 1.7).sin()).collect();
    let needed = crate::Needed {
        x: true,
        w: true,
        bias: true,
    };
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (y, stats) = cpu::forward(&d, &x, &gamma, &beta, 1e-5, Some(&dy), true);
                let mut g = dy.clone();
                let relu = cpu::OutputGradient::Relu { dy: &mut g, y: &y };
                let grads = cpu::backward(&d, &x, &gamma, &stats, 1e-5, relu, needed);
                (y, stats, grads, g)
            })
    };
    let one = on(1);
    for threads in [2, 3, 5] {
        assert!(
            one == on(threads),
            "{threads} threads gave other bits than one"
        );
    }
}

/// Empty batches, channels or maps give empty results (statistics of nothing are NaN, as in
/// burn), not a panic.
#[test]
fn empty_shapes_run() {
    let needed = crate::Needed {
        x: true,
        w: true,
        bias: true,
    };
    for (batch, channels, inner) in [(0, 3, 4), (2, 0, 4), (2, 3, 0)] {
        let d = cpu::NormDims {
            batch,
            channels,
            inner,
        };
        let (gamma, beta) = (vec![1.0; channels], vec![0.0; channels]);
        let (y, stats) = cpu::forward(&d, &[], &gamma, &beta, 1e-5, Some(&[]), true);
        assert!(y.is_empty() && stats.mean.len() == channels);
        let relu = cpu::OutputGradient::Relu { dy: &mut [], y: &y };
        let g = cpu::backward(&d, &[], &gamma, &stats, 1e-5, relu, needed);
        assert_eq!(g.x.map(|v| v.len()), Some(0));
        assert_eq!(
            (g.gamma.unwrap().len(), g.beta.unwrap().len()),
            (channels, channels)
        );
    }
}

/// A residual block's end as one operation gives the bits of its parts: the normalisation,
/// burn's addition and burn's ReLU, forward and backward (the gradient of every input).
#[test]
fn the_residual_form_gives_the_bits_of_norm_add_and_relu() {
    let device = Device::flex().autodiff();
    device.seed(11);
    for (shape, relu) in [
        ([9, 6, 11, 13], true),
        ([9, 6, 11, 13], false),
        ([4, 3, 2, 3], true),
    ] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(1.0, 2.0), &device).require_grad();
        let gamma =
            Tensor::<1>::random([shape[1]], Distribution::Normal(1.0, 0.5), &device).require_grad();
        let beta =
            Tensor::<1>::random([shape[1]], Distribution::Normal(0.0, 0.5), &device).require_grad();
        let s = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let run = |together: bool| {
            let (g, b) = (gamma.clone(), beta.clone());
            let y = if together {
                batch_norm_train(x.clone(), g, b, Some(s.clone()), 1e-5, relu).output
            } else {
                let y = batch_norm_train(x.clone(), g, b, None, 1e-5, false).output + s.clone();
                if relu { burn_relu(y) } else { y }
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            let grad = |t: &Tensor<4>| t.grad(&grads).unwrap().into_data();
            (
                y.into_data(),
                grad(&x),
                gamma.grad(&grads).unwrap().into_data(),
                beta.grad(&grads).unwrap().into_data(),
                grad(&s),
            )
        };
        let (a, b) = (run(true), run(false));
        let what = format!("{shape:?} relu {relu}");
        assert_eq!(a.0, b.0, "{what}: output");
        assert_eq!(a.1, b.1, "{what}: input gradient");
        assert_eq!(a.2, b.2, "{what}: gamma gradient");
        assert_eq!(a.3, b.3, "{what}: beta gradient");
        assert_eq!(a.4, b.4, "{what}: residual gradient");
    }
}
