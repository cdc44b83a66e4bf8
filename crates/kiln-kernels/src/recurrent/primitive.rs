//! The fused layer on any backend, from the backend's own primitive operations: the same
//! forward and backward pass through time as `cpu.rs`, one backend operation per step and
//! gate instead of slices of `f32`, and no autodiff graph (the backward pass is this file's).
//! It serves backends whose per-operation cost is high but whose kernels are good (libtorch):
//! a step's autodiff bookkeeping, not its arithmetic, is what the composed cells pay there.

use burn::backend::Backend;
use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Scalar, Shape, Slice};

use super::cpu::Kind;

/// What the backward pass reads again.
#[derive(Debug, Clone)]
pub struct Saved<B: Backend> {
    kind: Kind,
    final_cell: bool,
    w: FloatTensor<B>,
    h0: FloatTensor<B>,
    c0: FloatTensor<B>,
    /// The output after every step, `[B, H]` each.
    hs: Vec<FloatTensor<B>>,
    /// Per step: the activated gates (`[i, f, g, o]`, `[r, z, n]`, nothing for the RNN).
    gates: Vec<Vec<FloatTensor<B>>>,
    /// Per step: the LSTM's cell state, the GRU's `W_hn h + b_hn`.
    aux: Vec<FloatTensor<B>>,
}

fn dims<B: Backend>(t: &FloatTensor<B>) -> Vec<usize> {
    t.shape().to_vec()
}

fn range(a: usize, b: usize) -> Slice {
    Slice::new(a as isize, Some(b as isize), 1)
}

/// Columns `[k * h, (k + 1) * h)` of `[batch, gates * h]`.
fn block<B: Backend>(t: &FloatTensor<B>, k: usize, h: usize) -> FloatTensor<B> {
    let [b, _] = dims::<B>(t)[..] else {
        unreachable!("gate rows are 2-D")
    };
    B::float_slice(t.clone(), &[range(0, b), range(k * h, (k + 1) * h)])
}

/// Step `s` of `[batch, time, features]`, as `[batch, features]`.
fn step<B: Backend>(t: &FloatTensor<B>, s: usize) -> FloatTensor<B> {
    let d = dims::<B>(t);
    let one = B::float_slice(
        t.clone(),
        &[range(0, d[0]), range(s, s + 1), range(0, d[2])],
    );
    B::float_reshape(one, Shape::new([d[0], d[2]]))
}

fn one_minus<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_add_scalar(B::float_neg(x), Scalar::Float(1.0))
}

fn mul<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(a, b)
}

fn add<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    B::float_add(a, b)
}

/// `[B, H]` tensors as `[B, T, H]`.
fn stack<B: Backend>(steps: Vec<FloatTensor<B>>) -> FloatTensor<B> {
    let rows: Vec<_> = steps
        .into_iter()
        .map(|t| {
            let d = dims::<B>(&t);
            B::float_reshape(t, Shape::new([d[0], 1, d[1]]))
        })
        .collect();
    B::float_cat(rows, 1)
}

/// The layer over the sequence (see `cpu::forward` for the shapes); `out` is `[B, T (+1), H]`.
#[allow(clippy::too_many_arguments)]
pub fn forward<B: Backend>(
    xp: FloatTensor<B>,
    w: FloatTensor<B>,
    bias: FloatTensor<B>,
    h0: FloatTensor<B>,
    c0: FloatTensor<B>,
    kind: Kind,
    final_cell: bool,
    save: bool,
) -> (FloatTensor<B>, Option<Saved<B>>) {
    let d = dims::<B>(&xp);
    let (batch, time) = (d[0], d[1]);
    let h = dims::<B>(&h0)[1];
    let gh = kind.gates() * h;
    let bias = B::float_expand(
        B::float_reshape(bias, Shape::new([1, gh])),
        Shape::new([batch, gh]),
    );
    let (mut hs, mut gates, mut aux) = (Vec::new(), Vec::new(), Vec::new());
    let (mut h_t, mut c_t) = (h0.clone(), c0.clone());
    for s in 0..time {
        let p = add::<B>(B::float_matmul(h_t.clone(), w.clone()), bias.clone());
        let x = step::<B>(&xp, s);
        match kind {
            Kind::Rnn => {
                h_t = B::float_tanh(add::<B>(x, p));
                gates.push(Vec::new());
            }
            Kind::Lstm => {
                let a = add::<B>(x, p);
                let i = B::sigmoid(block::<B>(&a, 0, h));
                let f = B::sigmoid(block::<B>(&a, 1, h));
                let g = B::float_tanh(block::<B>(&a, 2, h));
                let o = B::sigmoid(block::<B>(&a, 3, h));
                c_t = add::<B>(mul::<B>(f.clone(), c_t), mul::<B>(i.clone(), g.clone()));
                h_t = mul::<B>(o.clone(), B::float_tanh(c_t.clone()));
                aux.push(c_t.clone());
                gates.push(vec![i, f, g, o]);
            }
            Kind::Gru => {
                let r = B::sigmoid(add::<B>(block::<B>(&x, 0, h), block::<B>(&p, 0, h)));
                let z = B::sigmoid(add::<B>(block::<B>(&x, 1, h), block::<B>(&p, 1, h)));
                let pn = block::<B>(&p, 2, h);
                let n = B::float_tanh(add::<B>(
                    block::<B>(&x, 2, h),
                    mul::<B>(r.clone(), pn.clone()),
                ));
                // h' = n + z (h - n)
                h_t = add::<B>(n.clone(), mul::<B>(z.clone(), B::float_sub(h_t, n.clone())));
                aux.push(pn);
                gates.push(vec![r, z, n]);
            }
        }
        hs.push(h_t.clone());
    }
    let mut rows = hs.clone();
    if final_cell {
        rows.push(c_t);
    }
    let out = if rows.is_empty() {
        B::float_zeros(Shape::new([batch, 0, h]), &h0.device(), h0.dtype().into())
    } else {
        stack::<B>(rows)
    };
    let saved = save.then(|| Saved {
        kind,
        final_cell,
        w,
        h0,
        c0,
        hs,
        gates,
        aux,
    });
    (out, saved)
}

/// Gradients of `xp, w, bias, h0, c0` from the output's.
pub fn backward<B: Backend>(s: Saved<B>, dout: FloatTensor<B>) -> [FloatTensor<B>; 5] {
    let d = dims::<B>(&dout);
    let (batch, time) = (d[0], s.hs.len());
    let h = dims::<B>(&s.h0)[1];
    let gh = s.kind.gates() * h;
    let device = s.h0.device();
    let dtype = s.h0.dtype().into();
    let zeros = |shape: [usize; 2]| B::float_zeros(Shape::new(shape), &device, dtype);
    let mut dnext = zeros([batch, h]);
    let mut dc = if s.final_cell {
        step::<B>(&dout, time)
    } else {
        zeros([batch, h])
    };
    let wt = B::float_transpose(s.w.clone());
    // Every step's gate gradients go straight into the layer's `[B, T, gates * h]`
    // gradients (in place: each buffer has one owner), not into per-step tensors stacked at
    // the end, which would hold the largest buffer of the backward pass twice. The RNN's and
    // LSTM's input gradient is the recurrent one; the GRU's differs in its `n` block.
    let buffer = || B::float_zeros(Shape::new([batch, time, gh]), &device, dtype);
    let mut grad_xp = buffer();
    let mut grad_hp = (s.kind == Kind::Gru).then(buffer);
    let put = |into: FloatTensor<B>, t: usize, rows: FloatTensor<B>| {
        B::float_slice_assign(
            into,
            &[range(0, batch), range(t, t + 1), range(0, gh)],
            B::float_reshape(rows, Shape::new([batch, 1, gh])),
        )
    };
    for t in (0..time).rev() {
        let dh = add::<B>(step::<B>(&dout, t), dnext);
        let prev = if t == 0 {
            s.h0.clone()
        } else {
            s.hs[t - 1].clone()
        };
        let (dx, dp, direct) = match s.kind {
            Kind::Rnn => {
                let y = s.hs[t].clone();
                let da = mul::<B>(dh, one_minus::<B>(mul::<B>(y.clone(), y)));
                (None, da, None)
            }
            Kind::Lstm => {
                let (dp, dc_before) = lstm_step(&s, t, dh, dc);
                dc = dc_before;
                (None, dp, None)
            }
            Kind::Gru => gru_step(&s, t, dh, prev),
        };
        let through_w = B::float_matmul(dp.clone(), wt.clone());
        dnext = match direct {
            Some(direct) => add::<B>(direct, through_w),
            None => through_w,
        };
        grad_hp = grad_hp.map(|g| put(g, t, dp.clone()));
        grad_xp = put(grad_xp, t, dx.unwrap_or(dp));
    }
    let (grad_w, grad_b) = if time == 0 {
        (
            zeros([h, gh]),
            B::float_zeros(Shape::new([gh]), &device, dtype),
        )
    } else {
        // dW = sum over steps of prev^T @ dhp: one product over all (row, step) pairs.
        let prevs: Vec<_> = std::iter::once(s.h0.clone())
            .chain(s.hs[..time - 1].iter().cloned())
            .collect();
        let prevs = B::float_reshape(stack::<B>(prevs), Shape::new([batch * time, h]));
        let dhp = grad_hp.unwrap_or_else(|| grad_xp.clone());
        let dhp = B::float_reshape(dhp, Shape::new([batch * time, gh]));
        let grad_w = B::float_matmul(B::float_transpose(prevs), dhp.clone());
        let grad_b = B::float_reshape(B::float_sum_dim(dhp, 0), Shape::new([gh]));
        (grad_w, grad_b)
    };
    [grad_xp, grad_w, grad_b, dnext, dc]
}

/// Step `t` of an LSTM's backward pass: the gates' gradients from the output's `dh` and the
/// cell's `dc`, and the cell's gradient at the step before.
fn lstm_step<B: Backend>(
    s: &Saved<B>,
    t: usize,
    dh: FloatTensor<B>,
    dc: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let [i, f, g, o] = [0, 1, 2, 3].map(|k| s.gates[t][k].clone());
    let c = s.aux[t].clone();
    let c_prev = if t == 0 {
        s.c0.clone()
    } else {
        s.aux[t - 1].clone()
    };
    let tc = B::float_tanh(c);
    let dct = add::<B>(
        dc,
        mul::<B>(
            mul::<B>(dh.clone(), o.clone()),
            one_minus::<B>(mul::<B>(tc.clone(), tc.clone())),
        ),
    );
    let d_o = mul::<B>(mul::<B>(dh, tc), mul::<B>(o.clone(), one_minus::<B>(o)));
    let d_i = mul::<B>(
        mul::<B>(dct.clone(), g.clone()),
        mul::<B>(i.clone(), one_minus::<B>(i.clone())),
    );
    let d_f = mul::<B>(
        mul::<B>(dct.clone(), c_prev),
        mul::<B>(f.clone(), one_minus::<B>(f.clone())),
    );
    let d_g = mul::<B>(
        mul::<B>(dct.clone(), i),
        one_minus::<B>(mul::<B>(g.clone(), g)),
    );
    (B::float_cat(vec![d_i, d_f, d_g, d_o], 1), mul::<B>(dct, f))
}

/// Step `t` of a GRU's backward pass: the input projection's and the recurrent one's gate
/// gradients (they differ in the `n` block) and the part of `dh` that reaches the previous
/// state directly.
fn gru_step<B: Backend>(
    s: &Saved<B>,
    t: usize,
    dh: FloatTensor<B>,
    prev: FloatTensor<B>,
) -> (
    Option<FloatTensor<B>>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
) {
    let [r, z, n] = [0, 1, 2].map(|k| s.gates[t][k].clone());
    let pn = s.aux[t].clone();
    let dn = mul::<B>(dh.clone(), one_minus::<B>(z.clone()));
    let dz = mul::<B>(dh.clone(), B::float_sub(prev.clone(), n.clone()));
    let dan = mul::<B>(dn, one_minus::<B>(mul::<B>(n.clone(), n)));
    let dar = mul::<B>(
        mul::<B>(dan.clone(), pn),
        mul::<B>(r.clone(), one_minus::<B>(r.clone())),
    );
    let daz = mul::<B>(dz, mul::<B>(z.clone(), one_minus::<B>(z.clone())));
    let dx = B::float_cat(vec![dar.clone(), daz.clone(), dan.clone()], 1);
    let dp = B::float_cat(vec![dar, daz, mul::<B>(dan, r)], 1);
    (Some(dx), dp, Some(mul::<B>(dh, z)))
}
