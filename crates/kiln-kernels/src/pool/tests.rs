use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::*;

use crate::testing::max_difference;

#[test]
fn the_fused_pooling_matches_burns_with_its_gradient() {
    let device = Device::flex().autodiff();
    for (i, (shape, kernel, stride)) in [
        ([2, 3, 8, 8], [2, 2], [2, 2]),
        ([3, 2, 9, 7], [2, 2], [2, 2]),
        ([1, 4, 10, 11], [3, 3], [2, 2]),
        ([2, 1, 6, 6], [3, 2], [1, 2]),
        ([2, 2, 5, 5], [5, 5], [1, 1]),
    ]
    .into_iter()
    .enumerate()
    {
        device.seed(i as u64);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let window = Window { kernel, stride };
        let fused = max_pool2d(x.clone(), window);
        let r = Tensor::<4>::random(fused.dims(), Distribution::Normal(0.0, 1.0), &device);
        let g1 = x
            .grad(&(fused.clone() * r.clone()).sum().backward())
            .unwrap();
        let reference = composed(x.clone(), window);
        let g2 = x.grad(&(reference.clone() * r).sum().backward()).unwrap();
        assert_eq!(
            max_difference(&fused, &reference),
            0.0,
            "{shape:?} {window:?}"
        );
        assert_eq!(
            max_difference(&g1, &g2),
            0.0,
            "{shape:?} {window:?} gradient"
        );
    }
}

#[test]
fn ties_send_the_gradient_to_one_place_and_nan_wins() {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            vec![1.0f32, 1.0, 1.0, 1.0, 0.0, f32::NAN, 2.0, 3.0],
            [1, 2, 2, 2],
        ),
        &device,
    )
    .require_grad();
    let window = Window {
        kernel: [2, 2],
        stride: [2, 2],
    };
    let y = max_pool2d(x.clone(), window);
    let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(values[0], 1.0);
    assert!(values[1].is_nan());
    let g = x.grad(&y.sum().backward()).unwrap();
    let g = g.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(&g[..4], &[1.0, 0.0, 0.0, 0.0]);
}
