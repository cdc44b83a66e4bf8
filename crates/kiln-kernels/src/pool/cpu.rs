//! Max pooling over `f32` planes, one `(sample, channel)` plane per task.
//!
//! Each output row is found in two passes: the maximum down the window's rows for every
//! input column, in whole vectors (and which row held it), then across each window's columns.
//! The winner's place in its window is kept as one byte per output for the backward pass.

use pulp::Simd;
use rayon::prelude::*;

use super::Window;
use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::zeros;

/// Output height and width of `window` over an `h x w` plane, `None` if it does not fit.
pub fn out_hw(h: usize, w: usize, window: Window) -> Option<[usize; 2]> {
    let [kh, kw] = window.kernel;
    let [sh, sw] = window.stride;
    Some([h.checked_sub(kh)? / sh + 1, w.checked_sub(kw)? / sw + 1])
}

/// Windows whose positions fit in the one-byte winners.
pub fn supported(window: Window) -> bool {
    window.kernel[0] * window.kernel[1] <= 256
}

/// One plane's pooling: `out` and `winners` hold its output rows of `ow` values.
struct Rows<'a> {
    plane: &'a [f32],
    w: usize,
    ow: usize,
    window: Window,
    out: &'a mut [f32],
    winners: &'a mut [u8],
}

impl Vectorised for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let Rows {
            plane,
            w,
            ow,
            window,
            out,
            winners,
        } = self;
        let [kh, kw] = window.kernel;
        let [sh, sw] = window.stride;
        let s = v.0;
        let mut column = vec![0.0f32; w];
        // The window row that holds each column's maximum.
        let mut row_of = vec![0u32; w];
        // Both, before the pass across columns overwrites them.
        let (mut first_column, mut first_row_of) = (vec![0.0f32; w], vec![0u32; w]);
        for (i, (out, winners)) in out
            .chunks_exact_mut(ow)
            .zip(winners.chunks_exact_mut(ow))
            .enumerate()
        {
            column.copy_from_slice(&plane[i * sh * w..][..w]);
            row_of.fill(0);
            for a in 1..kh {
                let row = &plane[(i * sh + a) * w..][..w];
                let here = s.splat_u32s(a as u32);
                let mut x = 0;
                while x < w {
                    let (m, r) = (v.load(&column, x), v.load(row, x));
                    // r wins where it is larger, or NaN where m is not (NaN wins, as in burn
                    // and PyTorch); ties keep the earlier row.
                    let take = s.or_m32s(
                        s.greater_than_f32s(r, m),
                        s.and_m32s(s.not_m32s(s.equal_f32s(r, r)), s.equal_f32s(m, m)),
                    );
                    v.store(&mut column, x, s.select_f32s(take, r, m));
                    let end = (x + Lanes::<S>::N).min(w);
                    let at = s.partial_load_u32s(&row_of[x..end]);
                    s.partial_store_u32s(&mut row_of[x..end], s.select_u32s(take, here, at));
                    x += Lanes::<S>::N;
                }
            }
            // Across the window's columns, also in whole vectors: `column[x]` becomes the
            // maximum of columns x..x + kw (and `row_of[x]` its place a * kw + b in the
            // window); the outputs are then every sw-th of them.
            for r in row_of.iter_mut() {
                *r *= kw as u32;
            }
            let span = w + 1 - kw;
            if kw > 1 {
                first_column.copy_from_slice(&column);
                first_row_of.copy_from_slice(&row_of);
            }
            for b in 1..kw {
                let mut x = 0;
                while x < span {
                    let end = (x + Lanes::<S>::N).min(span);
                    let m = v.load(&column[..span], x);
                    let r = v.load(&first_column[b..b + span], x);
                    let take = s.or_m32s(
                        s.greater_than_f32s(r, m),
                        s.and_m32s(s.not_m32s(s.equal_f32s(r, r)), s.equal_f32s(m, m)),
                    );
                    v.store(&mut column[..span], x, s.select_f32s(take, r, m));
                    let at = s.partial_load_u32s(&row_of[x..end]);
                    let there = s.add_u32s(
                        s.partial_load_u32s(&first_row_of[x + b..end + b]),
                        s.splat_u32s(b as u32),
                    );
                    s.partial_store_u32s(&mut row_of[x..end], s.select_u32s(take, there, at));
                    x += Lanes::<S>::N;
                }
            }
            for j in 0..ow {
                out[j] = column[j * sw];
                winners[j] = row_of[j * sw] as u8;
            }
        }
    }
}

/// `x` as `planes` planes of `h x w` to the pooled planes, and each output's winner as its
/// position `a * kw + b` in the window.
pub fn forward(
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
    window: Window,
) -> (Vec<f32>, Vec<u8>) {
    let [oh, ow] = out_hw(h, w, window).expect("checked by the caller");
    let mut out = zeros(planes * oh * ow);
    let mut winners = vec![0u8; planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(winners.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(h * w))
        .for_each(|((out, winners), plane)| {
            vectorised(Rows {
                plane,
                w,
                ow,
                window,
                out,
                winners,
            })
        });
    (out, winners)
}

/// The input's gradient: each output's gradient added at its window's winner.
pub fn backward(
    dy: &[f32],
    winners: &[u8],
    planes: usize,
    h: usize,
    w: usize,
    window: Window,
) -> Vec<f32> {
    let [oh, ow] = out_hw(h, w, window).expect("checked by the caller");
    let [kw, sh, sw] = [window.kernel[1], window.stride[0], window.stride[1]];
    let mut dx = zeros(planes * h * w);
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(oh * ow).zip(winners.par_chunks(oh * ow)))
        .for_each(|(dx, (dy, winners))| {
            for i in 0..oh {
                for j in 0..ow {
                    let k = winners[i * ow + j] as usize;
                    dx[(i * sh + k / kw) * w + j * sw + k % kw] += dy[i * ow + j];
                }
            }
        });
    dx
}
