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
pub mod pool;
pub mod recurrent;

use burn::backend::DispatchDevice;
use burn::tensor::Device;

/// Whether kiln's kernels run on `device` (autodiff or not): flex, for now.
pub fn fused_on(device: &Device) -> bool {
    fn inner(d: &DispatchDevice) -> bool {
        match d {
            DispatchDevice::Flex(_) => true,
            DispatchDevice::Autodiff(a) => inner(a),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
    inner(device.as_dispatch())
}
