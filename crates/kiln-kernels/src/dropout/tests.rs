use burn::tensor::{Device, Tensor};

use super::*;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn about_the_asked_share_is_dropped_and_the_rest_scaled() {
    let device = Device::flex().autodiff();
    device.seed(3);
    for prob in [0.1, 0.25, 0.5, 0.9] {
        let x = Tensor::<2>::ones([200, 500], &device);
        let y = values(dropout(x, prob));
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((zeros - prob).abs() < 0.01, "prob {prob}: dropped {zeros}");
        let scale = (1.0 / (1.0 - prob)) as f32;
        assert!(y.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
    }
}

#[test]
fn the_gradient_flows_through_the_same_mask() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let x = Tensor::<3>::ones([4, 30, 70], &device).require_grad();
    let y = dropout(x.clone(), 0.3);
    let g = values(x.grad(&(y.clone() * 2.0).sum().backward()).unwrap());
    let y = values(y);
    for (g, y) in g.iter().zip(&y) {
        assert!((g - 2.0 * y).abs() < 1e-6, "gradient {g} for output {y}");
    }
}

/// The mask is a function of the seed alone (the device's generator picks the seed, and a
/// run's seed fixes the generator, which the runner's own tests check).
#[test]
fn a_seed_repeats_the_mask_and_another_seed_changes_it() {
    let device = Device::flex();
    let x = Tensor::<1>::ones([10_000], &device);
    let mask = |seed| values(extension::fused(x.clone(), seed, 0.5));
    let differing = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    assert_eq!(differing(&mask(7), &mask(7)), 0);
    let other = differing(&mask(7), &mask(8));
    assert!((4_000..6_000).contains(&other), "{other} of 10000 differ");
}

#[test]
fn neighbouring_elements_are_independent() {
    // Pairs (i, i + 1) of a 50 % mask: every combination about a quarter of the time.
    let t = threshold(0.5);
    let mut counts = [0usize; 4];
    for i in (0..200_000).step_by(2) {
        let k = usize::from(kept(12345, i, t)) * 2 + usize::from(kept(12345, i + 1, t));
        counts[k] += 1;
    }
    for c in counts {
        assert!((c as f64 / 100_000.0 - 0.25).abs() < 0.01, "{counts:?}");
    }
}

/// The vector kernel draws exactly the mask that `kept` defines.
#[test]
fn the_kernel_keeps_what_the_definition_keeps() {
    let device = Device::flex();
    let n = 70_001;
    let y = values(extension::fused(
        Tensor::<1>::ones([n], &device),
        0xDEAD_BEEF_1234,
        0.6,
    ));
    let t = threshold(0.6);
    for (i, v) in y.iter().enumerate() {
        assert_eq!(*v != 0.0, kept(0xDEAD_BEEF_1234, i, t), "element {i}");
    }
}
