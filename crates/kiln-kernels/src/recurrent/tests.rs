//! The fused layer against the composed one: outputs, final states and every gradient.

use burn::tensor::{Distribution, Tensor};

use super::*;
use burn::tensor::Device;

const TOLERANCE: f32 = 1e-5;

use crate::testing::max_difference as worst;

fn as3<const D: usize>(t: Tensor<D>) -> Tensor<3> {
    let n = t.dims().iter().product::<usize>();
    t.reshape([1, 1, n])
}

struct Case {
    kind: Kind,
    batch: usize,
    time: usize,
    hidden: usize,
    /// Whether the initial state carries a gradient (a decoder's does; a classifier's zeros
    /// do not).
    tracked_state: bool,
    final_state: bool,
}

/// Runs `case` both ways from the same leaves and compares what comes out and every gradient.
fn compare(case: &Case, seed: u64) {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let Case {
        kind,
        batch,
        time,
        hidden,
        ..
    } = *case;
    let gh = kind.gates() * hidden;
    let normal = Distribution::Normal(0.0, 1.0);
    let xp = Tensor::<3>::random([batch, time, gh], normal, &device).require_grad();
    // A cell's own initialisation (PyTorch's): uniform in ±1/sqrt(hidden).
    let bound = 1.0 / (hidden as f64).sqrt();
    let uniform = Distribution::Uniform(-bound, bound);
    let w = Tensor::<2>::random([hidden, gh], uniform, &device).require_grad();
    let bias = Tensor::<1>::random([gh], uniform, &device).require_grad();
    let mut h0 = Tensor::<2>::random([batch, hidden], normal, &device);
    let mut c0 = Tensor::<2>::random([batch, hidden], normal, &device);
    if case.tracked_state {
        h0 = h0.require_grad();
        c0 = c0.require_grad();
    }
    // Random weights on every output, so that each one's gradient path is exercised.
    let r_out = Tensor::<3>::random([batch, time, hidden], normal, &device);
    let r_h = Tensor::<2>::random([batch, hidden], normal, &device);
    let r_c = Tensor::<2>::random([batch, hidden], normal, &device);
    let inputs = Inputs {
        kind,
        xp: xp.clone(),
        w: w.clone(),
        bias: bias.clone(),
        h0: h0.clone(),
        c0: c0.clone(),
    };
    assert_eq!(path(&inputs), Path::Fused);
    let run = |s: Sequence| {
        let mut loss = (s.outputs.clone() * r_out.clone()).sum();
        if case.final_state {
            loss = loss + (s.h.clone() * r_h.clone()).sum() + (s.c.clone() * r_c.clone()).sum();
        }
        let grads = loss.backward();
        let mut got = vec![
            ("outputs", s.outputs.detach()),
            ("xp grad", xp.grad(&grads).unwrap()),
            ("w grad", as3(w.grad(&grads).unwrap())),
            ("bias grad", as3(bias.grad(&grads).unwrap())),
        ];
        if case.final_state {
            got.push(("h", as3(s.h.detach())));
            got.push(("c", as3(s.c.detach())));
        }
        if case.tracked_state {
            got.push(("h0 grad", as3(h0.grad(&grads).unwrap())));
            if kind == Kind::Lstm || case.final_state {
                got.push(("c0 grad", as3(c0.grad(&grads).unwrap())));
            }
        }
        got
    };
    let fused = run(sequence(inputs.clone(), case.final_state));
    let composed = run(composed(inputs));
    for ((name, a), (_, b)) in fused.iter().zip(&composed) {
        let diff = worst(a, b);
        assert!(
            diff < TOLERANCE,
            "{kind:?} batch {batch} time {time} hidden {hidden} state tracked {} final {}: {name} differs by {diff}",
            case.tracked_state,
            case.final_state
        );
    }
}

#[test]
fn the_fused_layer_matches_the_composed_one_with_every_gradient() {
    let mut seed = 0;
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        for (batch, time, hidden) in [(1, 1, 1), (5, 7, 3), (9, 13, 8), (3, 30, 16)] {
            for tracked_state in [false, true] {
                for final_state in [false, true] {
                    seed += 1;
                    let case = Case {
                        kind,
                        batch,
                        time,
                        hidden,
                        tracked_state,
                        final_state,
                    };
                    compare(&case, seed);
                }
            }
        }
    }
}

#[test]
fn an_empty_sequence_passes_the_state_through() {
    let device = Device::flex();
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        let gh = kind.gates() * 4;
        let h0 = Tensor::<2>::ones([2, 4], &device);
        let c0 = Tensor::<2>::ones([2, 4], &device) * 2.0;
        let s = sequence(
            Inputs {
                kind,
                xp: Tensor::zeros([2, 0, gh], &device),
                w: Tensor::zeros([4, gh], &device),
                bias: Tensor::zeros([gh], &device),
                h0: h0.clone(),
                c0: c0.clone(),
            },
            true,
        );
        assert_eq!(s.outputs.dims(), [2, 0, 4]);
        assert_eq!(worst(&as3(s.h), &as3(h0.clone())), 0.0);
        assert_eq!(worst(&as3(s.c), &as3(c0.clone())), 0.0);
    }
}

#[test]
fn without_autodiff_the_fused_layer_gives_the_same_outputs() {
    let device = Device::flex();
    device.seed(3);
    let normal = Distribution::Normal(0.0, 1.0);
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        let gh = kind.gates() * 6;
        let inputs = Inputs {
            kind,
            xp: Tensor::random([7, 11, gh], normal, &device),
            w: Tensor::random([6, gh], normal, &device),
            bias: Tensor::random([gh], normal, &device),
            h0: Tensor::random([7, 6], normal, &device),
            c0: Tensor::random([7, 6], normal, &device),
        };
        let fused = sequence(inputs.clone(), true);
        let reference = composed(inputs);
        assert!(worst(&fused.outputs, &reference.outputs) < TOLERANCE);
        assert!(worst(&as3(fused.c), &as3(reference.c)) < TOLERANCE);
    }
}

/// The primitive-operation layer (what libtorch runs) gives the flex kernel's outputs and
/// gradients; both run here on flex.
#[test]
fn the_primitive_layer_matches_the_kernel() {
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;

    use super::extension::RecurrentKernels;

    fn flex<const D: usize>(t: &Tensor<D>) -> FlexTensor {
        t.clone().try_into_primitive::<Flex>().unwrap()
    }
    fn back(t: FlexTensor) -> Tensor<3> {
        let t = Tensor::<1>::from_primitive::<Flex>(t.reshape([t.layout().num_elements()].into()));
        as3(t)
    }
    let device = Device::flex();
    device.seed(21);
    let normal = Distribution::Normal(0.0, 1.0);
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        for final_cell in [false, true] {
            let (b, t, h) = (3, 6, 5);
            let gh = kind.gates() * h;
            let xp = Tensor::<3>::random([b, t, gh], normal, &device);
            let w = Tensor::<2>::random([h, gh], normal, &device) * 0.3;
            let bias = Tensor::<1>::random([gh], normal, &device);
            let h0 = Tensor::<2>::random([b, h], normal, &device);
            let c0 = Tensor::<2>::random([b, h], normal, &device);
            let dout = Tensor::<3>::random([b, t + usize::from(final_cell), h], normal, &device);
            let args = || (flex(&xp), flex(&w), flex(&bias), flex(&h0), flex(&c0));
            let (x1, w1, b1, h1, c1) = args();
            let (out1, saved1) = <Flex as RecurrentKernels>::recurrent_forward(
                x1, w1, b1, h1, c1, kind, final_cell, true,
            );
            let (x2, w2, b2, h2, c2) = args();
            let (out2, saved2) =
                primitive::forward::<Flex>(x2, w2, b2, h2, c2, kind, final_cell, true);
            let what = format!("{kind:?} final_cell {final_cell}");
            assert!(
                worst(&back(out1), &back(out2)) < TOLERANCE,
                "{what}: outputs"
            );
            let g1 = <Flex as RecurrentKernels>::recurrent_backward(saved1.unwrap(), flex(&dout));
            let g2 = primitive::backward::<Flex>(saved2.unwrap(), flex(&dout));
            for (i, (a, b)) in g1.into_iter().zip(g2).enumerate() {
                let diff = worst(&back(a), &back(b));
                assert!(diff < TOLERANCE, "{what}: gradient {i} differs by {diff}");
            }
        }
    }
}
