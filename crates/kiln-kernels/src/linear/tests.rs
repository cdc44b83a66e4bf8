//! The fused linear layer against burn's: outputs and the gradients of input, weight and
//! bias, to the bit.

use burn::tensor::{Device, Distribution, Tensor};

use super::*;

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
    values(t).iter().map(|x| x.to_bits()).collect()
}

/// `x` of shape `dims`, through a layer of `d_out` outputs, fused and burn's, compared.
fn compare<const D: usize>(dims: [usize; D], d_out: usize, bias: bool, input_grad: bool) {
    let device = Device::flex().autodiff();
    device.seed(7);
    let normal = Distribution::Normal(0.0, 1.0);
    let d_in = dims[D - 1];
    let x = Tensor::<D>::random(dims, normal, &device);
    let x = if input_grad { x.require_grad() } else { x };
    let w = Tensor::<2>::random([d_in, d_out], normal, &device).require_grad();
    let b = bias.then(|| Tensor::<1>::random([d_out], normal, &device).require_grad());
    assert_eq!(path(&x), Path::Fused, "{dims:?}");
    let fused = linear(x.clone(), w.clone(), b.clone());
    let reference = composed(x.clone(), w.clone(), b.clone());
    let what = format!("{dims:?} -> {d_out}, bias {bias}");
    assert_eq!(fused.dims(), reference.dims(), "{what}");
    let r = Tensor::<D>::random(fused.dims(), normal, &device);
    let grads_of = |y: Tensor<D>| {
        let grads = (y.clone() * r.clone()).sum().backward();
        (
            bits(&y.detach()),
            input_grad.then(|| bits(&x.grad(&grads).unwrap())),
            bits(&w.grad(&grads).unwrap()),
            b.as_ref().map(|b| bits(&b.grad(&grads).unwrap())),
        )
    };
    let (y1, dx1, dw1, db1) = grads_of(fused);
    let (y2, dx2, dw2, db2) = grads_of(reference);
    assert!(y1 == y2, "{what}: outputs differ");
    assert!(dx1 == dx2, "{what}: input gradients differ");
    assert!(dw1 == dw2, "{what}: weight gradients differ");
    assert!(db1 == db2, "{what}: bias gradients differ");
}

#[test]
fn the_fused_layer_gives_burns_values_and_gradients_to_the_bit() {
    // Small; one row; no bias; no input gradient (a first layer).
    compare([5, 3], 4, true, true);
    compare([1, 9], 7, true, true);
    compare([6, 11], 5, false, true);
    compare([8, 16], 10, true, false);
    // An MLP's first layer: a deep product (784 terms) that gemm splits, over threads.
    compare([128, 784], 100, true, true);
    // Wide enough for the bias's passes to run on several threads (more than 2^16 values).
    compare([640, 128], 512, true, true);
    compare([150, 64], 65, true, true);
    // One sample, as a vector.
    compare([13], 9, true, true);
}

/// Inputs of more than two dimensions stay on burn's path: its gradients there are sums of
/// per-sample products, which a product over all rows would round differently.
#[test]
fn sequences_of_vectors_run_burns_layer() {
    let x = Tensor::<3>::zeros([2, 3, 4], &Device::flex());
    assert_eq!(path(&x), Path::Composed);
    let x = Tensor::<2>::zeros([6, 4], &Device::flex());
    assert_eq!(path(&x), Path::Fused);
}

#[test]
fn empty_inputs_give_empty_outputs_and_zero_gradients() {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::zeros([0, 3], &device).require_grad();
    let w = Tensor::<2>::ones([3, 2], &device).require_grad();
    let b = Tensor::<1>::ones([2], &device).require_grad();
    let y = linear(x.clone(), w.clone(), Some(b.clone()));
    assert_eq!(y.dims(), [0, 2]);
    let grads = y.sum().backward();
    assert_eq!(values(&w.grad(&grads).unwrap()), vec![0.0; 6]);
    assert_eq!(values(&b.grad(&grads).unwrap()), vec![0.0; 2]);
}
