//! `y = x @ w + b` and its gradients on plain `f32` slices, `x [rows, d_in]`, `w [d_in, d_out]`.
//!
//! The products are the ones burn's default `linear` makes, called the same way (one matrix
//! product over all rows, gemm's threads for large ones), so the values are burn's to the
//! bit. What differs is around them: outputs are buffers of kiln's own, zeroed by all threads,
//! where burn-flex allocates, zeroes and then copies each output on one thread; and the bias
//! (added, and summed for its gradient) runs over column or row ranges on every thread.

use rayon::prelude::*;

use crate::Needed;
use crate::flex::zeros;
use crate::gemm::{MatMut, MatRef, matmul};

/// The sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearDims {
    pub rows: usize,
    pub d_in: usize,
    pub d_out: usize,
}

/// burn-flex's threshold for spreading one product over threads: the same calls, so that
/// the same gemm code runs on the same blocks.
fn parallel(m: usize, n: usize, k: usize) -> bool {
    m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192
}

/// Values per parallel piece of the element-wise passes: below it one thread is faster.
const PIECE: usize = 1 << 16;

/// `a @ b` into a new row-major buffer.
fn product(a: MatRef<'_>, b: MatRef<'_>, (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    let mut out = zeros(m * n);
    matmul(MatMut::new(&mut out, m, n), a, b, false, parallel(m, n, k));
    out
}

/// `x @ w (+ bias)` as `[rows, d_out]`.
pub fn forward(d: &LinearDims, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let LinearDims { rows, d_in, d_out } = *d;
    assert_eq!(x.len(), rows * d_in, "linear input");
    assert_eq!(w.len(), d_in * d_out, "linear weight");
    let mut y = product(
        MatRef::new(x, rows, d_in),
        MatRef::new(w, d_in, d_out),
        (rows, d_in, d_out),
    );
    if let Some(b) = bias {
        assert_eq!(b.len(), d_out, "linear bias");
        if let Some(rows_per_piece) = PIECE.checked_div(d_out) {
            y.par_chunks_mut(rows_per_piece.max(1) * d_out)
                .for_each(|piece| {
                    for row in piece.chunks_exact_mut(d_out) {
                        for (v, b) in row.iter_mut().zip(b) {
                            *v += b;
                        }
                    }
                });
        }
    }
    y
}

/// Every column's sum over the rows, each summed in row order from zero (as burn-flex's
/// `sum_dim(0)` does), the columns split over threads.
fn column_sums(dy: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; cols];
    if cols == 0 {
        return sums;
    }
    // Enough columns per piece that each row's share is a few cache lines.
    let per = if rows * cols < PIECE {
        cols
    } else {
        cols.div_ceil(rayon::current_num_threads().max(1)).max(64)
    };
    sums.par_chunks_mut(per).enumerate().for_each(|(i, acc)| {
        let columns = i * per..i * per + acc.len();
        for row in dy.chunks_exact(cols) {
            for (a, v) in acc.iter_mut().zip(&row[columns.clone()]) {
                *a += v;
            }
        }
    });
    sums
}

/// The gradients of `x`, `w` and the bias from `dy [rows, d_out]`, those asked for.
#[allow(clippy::type_complexity)]
pub fn backward(
    d: &LinearDims,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    needed: Needed,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>) {
    let LinearDims { rows, d_in, d_out } = *d;
    assert_eq!(dy.len(), rows * d_out, "linear output gradient");
    let dx = needed.x.then(|| {
        product(
            MatRef::new(dy, rows, d_out),
            MatRef::new(w, d_in, d_out).t(),
            (rows, d_out, d_in),
        )
    });
    let dw = needed.w.then(|| {
        product(
            MatRef::new(x, rows, d_in).t(),
            MatRef::new(dy, rows, d_out),
            (d_in, rows, d_out),
        )
    });
    let db = needed.bias.then(|| column_sums(dy, rows, d_out));
    (dx, dw, db)
}
