//! One Adam (or AdamW) step for one parameter tensor in one pass over memory.
//!
//! burn's Adam updates the two moments and the parameter through about twenty tensor
//! operations, each reading and writing the whole tensor; on the IMDB LSTM, whose embedding
//! holds 2.6 M values, that was a fifth of a training step. Here each value is read once,
//! updated in registers and written once. The arithmetic is burn's, in the same order.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, ExtensionType, Flex, backend_extension};
use burn::tensor::{DType, Tensor};
use pulp::Simd;
use rayon::prelude::*;

use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::{contiguous, owned, tensor, values};

/// The step's settings, with the bias corrections of its step number worked out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// The step number, from 1.
    pub time: usize,
    pub decay: Decay,
}

/// How weight decay enters the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// Adam's L2 penalty: `penalty * param` added to the gradient.
    L2(f32),
    /// AdamW's: the parameter shrinks by `learning_rate * rate` beside the update.
    Decoupled(f32),
}

/// The parameter and both moments after the step.
#[derive(ExtensionType)]
pub struct Updated<B: Backend> {
    pub param: FloatTensor<B>,
    pub moment1: FloatTensor<B>,
    pub moment2: FloatTensor<B>,
}

#[backend_extension(Flex)]
pub trait AdamBackend: Backend {
    fn adam_fused(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment1: FloatTensor<Self>,
        moment2: FloatTensor<Self>,
        step: Step,
    ) -> Updated<Self>;
}

/// Whether [`step`] runs fused for a parameter on this device (else the caller keeps burn's
/// optimizer).
pub fn fused_for<const D: usize>(param: &Tensor<D>) -> bool {
    crate::fused_on(&param.device()) && param.dtype() == DType::F32
}

/// The step for `param` with gradient `grad` and moments `moments` (zeros on the first step):
/// the new parameter and moments. Only where [`fused_for`] says so.
pub fn step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: Step,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (m, v) = moments.unwrap_or_else(|| (param.zeros_like(), param.zeros_like()));
    let out = <burn::backend::Dispatch as AdamBackend>::adam_fused(
        param.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        step,
    );
    (
        Tensor::from_dispatch(out.param),
        Tensor::from_dispatch(out.moment1),
        Tensor::from_dispatch(out.moment2),
    )
}

/// Values per parallel task.
const CHUNK: usize = 1 << 15;

/// One chunk of the step, updating the parameter and the moments in place.
struct Chunk<'a> {
    step: Step,
    g: &'a [f32],
    p: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

impl Vectorised for Chunk<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, l: Lanes<S>) {
        let s = self.step;
        let t = s.time as i32;
        // burn's Adam: m c / (sqrt(v) + eps sqrt(1 - b2^t)), c = sqrt(1 - b2^t) / (1 - b1^t).
        let bc2 = (1.0 - s.beta2.powi(t)).sqrt();
        let c = bc2 / (1.0 - s.beta1.powi(t));
        let (penalty, keep) = match s.decay {
            Decay::L2(p) => (p, 1.0),
            Decay::Decoupled(rate) => (0.0, 1.0 - s.learning_rate * rate),
        };
        let (b1, b2) = (l.splat(s.beta1), l.splat(s.beta2));
        let (nb1, nb2) = (l.splat(1.0 - s.beta1), l.splat(1.0 - s.beta2));
        let (c, eps, lr) = (
            l.splat(c),
            l.splat(s.epsilon * bc2),
            l.splat(s.learning_rate),
        );
        let (penalty, keep) = (l.splat(penalty), l.splat(keep));
        let mut i = 0;
        while i < self.p.len() {
            let p = l.load(self.p, i);
            // Once a model fits its batches, gradients fade and g^2 and the decaying moments
            // become subnormal floats, on which this loop ran several times slower (an MLP's
            // steps slowed by half over 40 epochs). Below these sizes they move nothing: an
            // update is m / (sqrt(v) + eps) with eps ~1e-8.
            let g = l.flush_below(l.mul_add(penalty, p, l.load(self.g, i)), 1e-18);
            let m = l.flush(l.mul_add(b1, l.load(self.m, i), l.mul(nb1, g)));
            let v = l.flush(l.mul_add(b2, l.load(self.v, i), l.mul(nb2, l.mul(g, g))));
            let update = l.div(l.mul(m, c), l.add(l.0.sqrt_f32s(v), eps));
            l.store(self.p, i, l.sub(l.mul(p, keep), l.mul(lr, update)));
            l.store(self.m, i, m);
            l.store(self.v, i, v);
            i += Lanes::<S>::N;
        }
    }
}

impl AdamBackend for Flex {
    fn adam_fused(
        param: FlexTensor,
        grad: FlexTensor,
        moment1: FlexTensor,
        moment2: FlexTensor,
        step: Step,
    ) -> Updated<Flex> {
        let shape = param.layout().shape().clone();
        // The moments are the optimizer's alone, so their buffers are updated in place; the
        // parameter is copied once when the module still holds it.
        let (mut p, mut m, mut v) = (owned(param), owned(moment1), owned(moment2));
        let g = contiguous(grad);
        let g = values(&g);
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| vectorised(Chunk { step, g, p, m, v }));
        Updated {
            param: tensor(p, shape.clone()),
            moment1: tensor(m, shape.clone()),
            moment2: tensor(v, shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    /// The reference: burn's Adam arithmetic written out with tensor operations.
    fn reference(
        p: Tensor<2>,
        g: Tensor<2>,
        m: Tensor<2>,
        v: Tensor<2>,
        s: Step,
    ) -> [Tensor<2>; 3] {
        let t = s.time as i32;
        let g = match s.decay {
            Decay::L2(penalty) => g + p.clone() * penalty,
            Decay::Decoupled(_) => g,
        };
        let m = m * s.beta1 + g.clone() * (1.0 - s.beta1);
        let v = v * s.beta2 + g.clone() * g * (1.0 - s.beta2);
        let bc2 = (1.0 - s.beta2.powi(t)).sqrt();
        let c = bc2 / (1.0 - s.beta1.powi(t));
        let update = m.clone() * c / (v.clone().sqrt() + s.epsilon * bc2);
        let keep = match s.decay {
            Decay::L2(_) => 1.0,
            Decay::Decoupled(rate) => 1.0 - s.learning_rate * rate,
        };
        [p * keep - update * s.learning_rate, m, v]
    }

    #[test]
    fn the_fused_step_matches_the_arithmetic() {
        let device = Device::flex();
        device.seed(9);
        let n = Distribution::Normal(0.0, 1.0);
        for (shape, decay, time) in [
            ([3, 5], Decay::L2(0.0), 1),
            ([70, 1001], Decay::L2(0.01), 7),
            ([1, 1], Decay::Decoupled(0.1), 3),
            ([33, 17], Decay::Decoupled(0.0), 1000),
        ] {
            let step = Step {
                learning_rate: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                time,
                decay,
            };
            let t = || Tensor::<2>::random(shape, n, &device);
            let (p, g, m, v) = (t(), t(), t(), t().abs());
            let got = super::step(p.clone(), g.clone(), Some((m.clone(), v.clone())), step);
            let want = reference(p, g, m, v, step);
            for (a, b) in [got.0, got.1, got.2].into_iter().zip(want) {
                let diff = (a - b).abs().max().into_scalar::<f32>();
                assert!(
                    diff < 1e-5,
                    "{shape:?} {decay:?} step {time}: differs by {diff}"
                );
            }
        }
    }
}
