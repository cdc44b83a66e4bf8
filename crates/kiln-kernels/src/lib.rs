//! Operations that kiln runs faster than burn's composed tensor operations, as burn backend
//! extensions (`#[backend_extension]`): a kernel per backend that has one, an autodiff
//! implementation with a handwritten backward pass, and burn's own operations for every
//! other backend, which are also the reference the kernels are tested against.
//!
//! Knows nothing of models, configs or files: tensors in, tensors out.

mod activation;
pub mod adam;
pub mod conv;
pub mod dropout;
mod flex;
mod gemm;
mod layer_step;
pub mod linear;
pub mod norm;
mod packed;
pub mod pool;
pub mod recurrent;

use burn::backend::DispatchDevice;
use burn::tensor::Device;

pub use layer_step::Needed;

/// How a kernel's operation runs on its inputs' device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// kiln's kernel.
    Fused,
    /// burn's own operations.
    Composed,
}

/// Samples per block of work in the kernels that split a batch: evenly over rayon's threads.
pub(crate) fn samples_per_block(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// Whether kiln's flex kernels run on `device` (autodiff or not).
pub fn fused_on(device: &Device) -> bool {
    matches!(backend_of(device), Some(KernelBackend::Flex))
}

/// The backends kiln has kernels for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KernelBackend {
    Flex,
    /// libtorch, for the recurrent layers (`recurrent/primitive.rs`).
    #[cfg(feature = "tch")]
    LibTorch,
}

/// Whether the kernels are on: `KILN_KERNELS=off` runs burn's composed operations everywhere,
/// to compare the two or to rule a kernel out when something looks wrong.
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| !matches!(std::env::var("KILN_KERNELS").as_deref(), Ok("off")))
        && !OFF_HERE.get()
}

thread_local! {
    static OFF_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the kernels off on this thread, as `KILN_KERNELS=off` does for a process:
/// tests hold whole models to burn's composed operations this way. What `f` builds keeps the
/// path it was built with, backward pass included.
pub fn without_kernels<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            OFF_HERE.set(self.0);
        }
    }
    let _restore = Restore(OFF_HERE.replace(true));
    f()
}

/// Which of those `device` is on, autodiff or not (`None` with the kernels off).
pub(crate) fn backend_of(device: &Device) -> Option<KernelBackend> {
    if !enabled() {
        return None;
    }
    fn inner(d: &DispatchDevice) -> Option<KernelBackend> {
        match d {
            DispatchDevice::Flex(_) => Some(KernelBackend::Flex),
            #[cfg(feature = "tch")]
            DispatchDevice::LibTorch(_) => Some(KernelBackend::LibTorch),
            DispatchDevice::Autodiff(a) => inner(a),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
    inner(device.as_dispatch())
}

/// What the kernels' tests share.
#[cfg(test)]
mod testing {
    use burn::tensor::Tensor;

    /// The largest absolute difference between two tensors of one shape.
    pub fn max_difference<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let a = a.clone().into_data().try_to_vec::<f32>().unwrap();
        let b = b.clone().into_data().try_to_vec::<f32>().unwrap();
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }
}
