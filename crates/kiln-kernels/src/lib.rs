//! Operations that kiln runs faster than burn's composed tensor operations, as burn backend
//! extensions (`#[backend_extension]`): a kernel per backend that has one, an autodiff
//! implementation with a handwritten backward pass, and the composed burn version for every
//! other backend, which is also the reference the kernels are tested against.
//!
//! Knows nothing of models, configs or files: tensors in, tensors out.

mod activation;
mod gemm;
pub mod recurrent;
