//! Moving flex tensors in and out of the kernels' plain slices.

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// A contiguous copy of `t` where it is not one already (a clone of the handle otherwise).
pub fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 values of a contiguous flex tensor, without a copy.
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("kiln's fused operations run on contiguous f32 tensors")
}

/// The f32 values of a contiguous flex tensor to write over: its own buffer where nothing else
/// holds it, a copy of it otherwise (copy on write).
pub fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = t
        .layout()
        .contiguous_offsets()
        .expect("kiln's fused operations run on contiguous f32 tensors");
    &mut t.storage_mut::<f32>()[start..end]
}

/// The values of `t` as a vector of our own: its buffer when nothing else holds it, a copy
/// otherwise.
pub fn owned(t: FlexTensor) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("kiln's fused operations run on f32 tensors")
}

/// A flex tensor that takes `values` over without copying them.
pub fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// `n` zeros, written by all threads when `n` is large: a single thread zeroing (and faulting
/// in) tens of megabytes left the other core idle for milliseconds per operation.
pub fn zeros(n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if n < 1 << 18 {
        return vec![0.0; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend((0..n).into_par_iter().map(|_| 0.0f32));
    v
}
