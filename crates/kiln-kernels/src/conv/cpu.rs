//! 2-D convolution (groups 1, no dilation) and its two gradients on plain `f32` slices.
//!
//! One sample at a time: its input is unfolded into `col [c_in * kh * kw, h_out * w_out]`
//! (im2col), a buffer of a few hundred KB that stays in the core's cache, and every product is
//! a matrix product with that buffer: `out = w @ col`, `dw += dy @ col^T`, `dcol = w^T @ dy`
//! folded back onto `dx` (col2im). The batch is split over threads, each with its own buffer
//! and its own share of `dw`; nothing of batch size is ever unfolded, and the output is
//! written in NCHW directly, with no layout conversions.

use rayon::prelude::*;

use pulp::Simd;

use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::zeros;
use crate::gemm::{MatMut, MatRef, matmul};
use crate::{Needed, samples_per_block};

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    pub batch: usize,
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zeros on each side, top/bottom and left/right.
    pub padding: [usize; 2],
}

impl ConvDims {
    /// Output height and width, or `None` when the kernel does not fit.
    pub fn out_hw(&self) -> Option<[usize; 2]> {
        let out = |input: usize, k: usize, s: usize, p: usize| {
            (input + 2 * p).checked_sub(k).map(|v| v / s + 1)
        };
        Some([
            out(self.h_in, self.kernel[0], self.stride[0], self.padding[0])?,
            out(self.w_in, self.kernel[1], self.stride[1], self.padding[1])?,
        ])
    }

    fn positions(&self) -> usize {
        let [h, w] = self.out_hw().expect("checked by the caller");
        h * w
    }

    /// Rows of `col`: one per input channel and kernel position.
    fn taps(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1]
    }

    fn in_size(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }

    /// A 1x1 convolution with stride 1 and no padding reads its input as `col` directly.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
}

/// The output columns `first..last` of kernel column `kj` whose input column
/// `ow * sw + kj - pw` lies inside the input row.
fn columns(d: &ConvDims, kj: usize, w_out: usize) -> (usize, usize) {
    let (sw, pw) = (d.stride[1], d.padding[1]);
    let first = pw.saturating_sub(kj).div_ceil(sw).min(w_out);
    let last = (d.w_in + pw).saturating_sub(kj).div_ceil(sw).min(w_out);
    (first, last.max(first))
}

/// `dst = src` in whole vectors: the runs are a few dozen values, where a call to `memcpy`
/// per run cost more than the copy. A run is rarely a whole number of vectors (a 28-pixel row
/// less its padded edge); its last vector is the one ending at its end, overlapping the one
/// before, since a masked load and store per run, out of line and slow on AMD's cores, took a
/// quarter of a ResNet's step. Runs shorter than a vector are copied value by value.
#[inline(always)]
fn copy<S: Simd>(v: Lanes<S>, dst: &mut [f32], src: &[f32]) {
    let (n, len) = (Lanes::<S>::N, dst.len());
    let src = &src[..len];
    if len < n {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        return;
    }
    let mut i = 0;
    while i + n < len {
        v.store(dst, i, v.load(src, i));
        i += n;
    }
    v.store(dst, len - n, v.load(src, len - n));
}

/// `dst += src`, the tail one value at a time as in [`copy`].
#[inline(always)]
fn add_into<S: Simd>(v: Lanes<S>, dst: &mut [f32], src: &[f32]) {
    let n = Lanes::<S>::N;
    let whole = dst.len() / n * n;
    let mut i = 0;
    while i < whole {
        v.store(dst, i, v.add(v.load(dst, i), v.load(src, i)));
        i += n;
    }
    for (d, s) in dst[whole..].iter_mut().zip(&src[whole..]) {
        *d += s;
    }
}

/// Unfolds one sample `x [c_in, h_in, w_in]` into `col [taps, h_out * w_out]`.
#[inline(always)]
fn im2col<S: Simd>(v: Lanes<S>, d: &ConvDims, x: &[f32], col: &mut [f32]) {
    let [h_out, w_out] = d.out_hw().expect("checked");
    let [kh, kw] = d.kernel;
    let [sh, sw] = d.stride;
    let [ph, pw] = d.padding;
    let p = h_out * w_out;
    for c in 0..d.c_in {
        let plane = &x[c * d.h_in * d.w_in..(c + 1) * d.h_in * d.w_in];
        for ki in 0..kh {
            for kj in 0..kw {
                let row = &mut col[((c * kh + ki) * kw + kj) * p..][..p];
                let (first, last) = columns(d, kj, w_out);
                for oh in 0..h_out {
                    let dst = &mut row[oh * w_out..(oh + 1) * w_out];
                    let ih = (oh * sh + ki).wrapping_sub(ph);
                    if ih >= d.h_in {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih * d.w_in..(ih + 1) * d.w_in];
                    dst[..first].fill(0.0);
                    dst[last..].fill(0.0);
                    if sw == 1 {
                        let start = first + kj - pw;
                        copy(v, &mut dst[first..last], &src[start..start + last - first]);
                    } else {
                        for (ow, x) in dst.iter_mut().enumerate().take(last).skip(first) {
                            *x = src[ow * sw + kj - pw];
                        }
                    }
                }
            }
        }
    }
}

/// Adds `col [taps, h_out * w_out]` back onto one sample's `dx [c_in, h_in, w_in]`: the
/// adjoint of [`im2col`].
#[inline(always)]
fn col2im_add<S: Simd>(v: Lanes<S>, d: &ConvDims, col: &[f32], dx: &mut [f32]) {
    let [h_out, w_out] = d.out_hw().expect("checked");
    let [kh, kw] = d.kernel;
    let [sh, sw] = d.stride;
    let [ph, pw] = d.padding;
    let p = h_out * w_out;
    for c in 0..d.c_in {
        let plane = &mut dx[c * d.h_in * d.w_in..(c + 1) * d.h_in * d.w_in];
        for ki in 0..kh {
            for kj in 0..kw {
                let row = &col[((c * kh + ki) * kw + kj) * p..][..p];
                let (first, last) = columns(d, kj, w_out);
                for oh in 0..h_out {
                    let ih = (oh * sh + ki).wrapping_sub(ph);
                    if ih >= d.h_in {
                        continue;
                    }
                    let src = &row[oh * w_out..(oh + 1) * w_out];
                    let dst = &mut plane[ih * d.w_in..(ih + 1) * d.w_in];
                    if sw == 1 {
                        let start = first + kj - pw;
                        add_into(v, &mut dst[start..start + last - first], &src[first..last]);
                    } else {
                        for ow in first..last {
                            dst[ow * sw + kj - pw] += src[ow];
                        }
                    }
                }
            }
        }
    }
}

/// `x [B, c_in, h_in, w_in]`, `w [c_out, c_in, kh, kw]`, `bias [c_out]` (or none) to
/// `[B, c_out, h_out, w_out]`.
pub fn forward(d: &ConvDims, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, p) = (d.taps(), d.positions());
    assert_eq!(x.len(), d.batch * d.in_size(), "conv input");
    assert_eq!(w.len(), d.c_out * k, "conv weight");
    let out_size = d.c_out * p;
    let mut out = zeros(d.batch * out_size);
    if d.batch == 0 || out_size == 0 {
        return out;
    }
    let per = samples_per_block(d.batch);
    out.par_chunks_mut(per * out_size)
        .enumerate()
        .for_each(|(i, out)| {
            vectorised(ForwardBlock {
                d,
                x: &x[i * per * d.in_size()..],
                w,
                bias,
                out,
            })
        });
    out
}

/// The forward pass over one block of samples: `x` starts at the block's first sample.
struct ForwardBlock<'a> {
    d: &'a ConvDims,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl Vectorised for ForwardBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let ForwardBlock { d, x, w, bias, out } = self;
        let (k, p) = (d.taps(), d.positions());
        let mut col = vec![0.0f32; if d.pointwise() { 0 } else { k * p }];
        for (s, y) in out.chunks_exact_mut(d.c_out * p).enumerate() {
            let xs = &x[s * d.in_size()..(s + 1) * d.in_size()];
            let col: &[f32] = if d.pointwise() {
                xs
            } else {
                im2col(v, d, xs, &mut col);
                &col
            };
            if let Some(bias) = bias {
                for (row, b) in y.chunks_exact_mut(p).zip(bias) {
                    row.fill(*b);
                }
            }
            matmul(
                MatMut::new(y, d.c_out, p),
                MatRef::new(w, d.c_out, k),
                MatRef::new(col, k, p),
                bias.is_some(),
                false,
            );
        }
    }
}

/// The backward pass over one block of samples: its share of the weight and bias gradients,
/// and its samples' input gradients written into `dx`.
struct BackwardBlock<'a> {
    d: &'a ConvDims,
    x: &'a [f32],
    w: &'a [f32],
    dy: &'a [f32],
    needed: Needed,
    dx: &'a mut [f32],
}

impl Vectorised for BackwardBlock<'_> {
    type Output = (Vec<f32>, Vec<f32>);

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) -> Self::Output {
        let BackwardBlock {
            d,
            x,
            w,
            dy,
            needed,
            dx,
        } = self;
        let (k, p) = (d.taps(), d.positions());
        let out_size = d.c_out * p;
        let mut col = vec![0.0f32; if d.pointwise() { 0 } else { k * p }];
        let mut dcol = vec![0.0f32; if needed.x && !d.pointwise() { k * p } else { 0 }];
        let mut dw = vec![0.0f32; if needed.w { d.c_out * k } else { 0 }];
        let mut db = vec![0.0f32; if needed.bias { d.c_out } else { 0 }];
        for (s, gy) in dy.chunks_exact(out_size).enumerate() {
            if needed.w {
                let xs = &x[s * d.in_size()..(s + 1) * d.in_size()];
                let col: &[f32] = if d.pointwise() {
                    xs
                } else {
                    im2col(v, d, xs, &mut col);
                    &col
                };
                matmul(
                    MatMut::new(&mut dw, d.c_out, k),
                    MatRef::new(gy, d.c_out, p),
                    MatRef::new(col, k, p).t(),
                    true,
                    false,
                );
            }
            if needed.bias {
                for (acc, row) in db.iter_mut().zip(gy.chunks_exact(p)) {
                    *acc += row.iter().sum::<f32>();
                }
            }
            if needed.x {
                let dxs = &mut dx[s * d.in_size()..(s + 1) * d.in_size()];
                let wt = MatRef::new(w, d.c_out, k).t();
                let gy = MatRef::new(gy, d.c_out, p);
                if d.pointwise() {
                    matmul(MatMut::new(dxs, k, p), wt, gy, false, false);
                } else {
                    matmul(MatMut::new(&mut dcol, k, p), wt, gy, false, false);
                    col2im_add(v, d, &dcol, dxs);
                }
            }
        }
        (dw, db)
    }
}

/// The gradients of `x`, `w` and `bias` from `dy [B, c_out, h_out, w_out]`, those asked for.
#[allow(clippy::type_complexity)]
pub fn backward(
    d: &ConvDims,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    needed: Needed,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>) {
    let (k, p) = (d.taps(), d.positions());
    let out_size = d.c_out * p;
    assert_eq!(dy.len(), d.batch * out_size, "conv output gradient");
    let mut dx = zeros(if needed.x { d.batch * d.in_size() } else { 0 });
    if d.batch == 0 || out_size == 0 {
        return (
            needed.x.then_some(dx),
            needed.w.then(|| vec![0.0; d.c_out * k]),
            needed.bias.then(|| vec![0.0; d.c_out]),
        );
    }
    let per = samples_per_block(d.batch);
    let blocks = d.batch.div_ceil(per);
    let dx_blocks: Vec<&mut [f32]> = if needed.x {
        dx.chunks_mut(per * d.in_size()).collect()
    } else {
        (0..blocks).map(|_| <&mut [f32]>::default()).collect()
    };
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx_blocks
        .into_par_iter()
        .enumerate()
        .map(|(i, dx)| {
            let first = i * per;
            let count = per.min(d.batch - first);
            vectorised(BackwardBlock {
                d,
                x: &x[first * d.in_size()..(first + count) * d.in_size()],
                w,
                dy: &dy[first * out_size..(first + count) * out_size],
                needed,
                dx,
            })
        })
        .collect();
    let sum = |pick: fn(&(Vec<f32>, Vec<f32>)) -> &Vec<f32>| {
        let mut acc = pick(&partial[0]).clone();
        for part in &partial[1..] {
            for (a, v) in acc.iter_mut().zip(pick(part)) {
                *a += v;
            }
        }
        acc
    };
    (
        needed.x.then_some(dx),
        needed.w.then(|| sum(|p| &p.0)),
        needed.bias.then(|| sum(|p| &p.1)),
    )
}
