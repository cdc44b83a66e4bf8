//! burn's modules (which hold the weights and settings, so checkpoints keep burn's layout)
//! run through kiln's kernels: fused operations with handwritten backward passes on flex,
//! burn's own forward everywhere else and for settings the kernels do not cover.

use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::nn::{Dropout, activation::Activation};
use burn::tensor::Tensor;
use burn::tensor::activation::relu as burn_relu;
use kiln_kernels::{conv, dropout as drop, linear as dense, norm, pool};

/// `Dropout::forward`, with the same conditions: only in training, on an autodiff device.
pub(crate) fn dropout<const D: usize>(d: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !d.training.is_enabled() || !x.device().is_autodiff() || d.prob == 0.0 {
        return x;
    }
    drop::dropout(x, d.prob)
}

/// `Linear::forward`.
pub(crate) fn linear<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    dense::linear(x, l.weight.val(), l.bias.as_ref().map(|b| b.val()))
}

/// `Conv2d::forward`.
pub(crate) fn conv2d(c: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match &c.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([*top, *left])
        }
        PaddingConfig2d::Valid => Some([0, 0]),
        _ => None,
    };
    match padding {
        Some(padding) if c.groups == 1 && c.dilation == [1, 1] => conv::conv2d(
            x,
            c.weight.val(),
            c.bias.as_ref().map(|b| b.val()),
            conv::Geometry {
                stride: c.stride,
                padding,
            },
        ),
        _ => c.forward(x),
    }
}

/// `BatchNorm::forward`, then a ReLU when `relu`. In training (an autodiff device and the
/// layer not frozen) the batch's statistics normalise it and move the running ones, as in
/// burn; the kernel computes both in one operation.
pub(crate) fn batch_norm<const D: usize>(n: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    batch_norm_add(n, x, None, relu)
}

/// [`batch_norm`] with `residual` added before the ReLU: the end of a residual block, one
/// operation in training.
pub(crate) fn batch_norm_add<const D: usize>(
    n: &BatchNorm,
    x: Tensor<D>,
    residual: Option<Tensor<D>>,
    relu: bool,
) -> Tensor<D> {
    let training = x.device().is_autodiff() && n.training.is_enabled();
    if !training || norm::path(&x) == norm::Path::Composed {
        let y = n.forward(x);
        let y = match residual {
            Some(r) => y + r,
            None => y,
        };
        return if relu { burn_relu(y) } else { y };
    }
    let out = norm::batch_norm_train(x, n.gamma.val(), n.beta.val(), residual, n.epsilon, relu);
    let device = out.output.device();
    // burn's update of the running statistics, operation for operation.
    let moved = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - n.momentum)
            .add(batch.detach().mul_scalar(n.momentum))
            .detach()
    };
    n.running_mean
        .update(moved(n.running_mean.value_sync(), out.mean));
    n.running_var
        .update(moved(n.running_var.value_sync(), out.variance));
    out.output
}

/// `MaxPool2d::forward`.
pub(crate) fn max_pool2d(p: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let plain = matches!(p.padding, PaddingConfig2d::Valid)
        || matches!(p.padding, PaddingConfig2d::Explicit(0, 0, 0, 0));
    if plain && p.dilation == [1, 1] && !p.ceil_mode {
        pool::max_pool2d(
            x,
            pool::Window {
                kernel: p.kernel_size,
                stride: p.stride,
            },
        )
    } else {
        p.forward(x)
    }
}

/// Whether `pool(act(x)) == act(pool(x))`, so that a max pool can go first and the
/// activation run on a quarter of the values: true of the piecewise-linear increasing ones.
pub(crate) fn commutes_with_max(a: &Activation) -> bool {
    matches!(a, Activation::Relu(_) | Activation::LeakyRelu(_))
}
