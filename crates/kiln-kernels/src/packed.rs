//! A matrix product whose right-hand side is packed once and used for many products: the
//! recurrent layers multiply by the same hidden weight at every step of a sequence, a product
//! of a block of 16-64 rows, where gemm packs the small operand again on every call and
//! reads the weight in place, rows a whole weight row apart, at below its best rate.
//!
//! The weight is cut into panels of a few vectors' width, each stored row after row, so one
//! step of the inner loop reads one contiguous line per vector; a register tile of `MR` rows
//! by those vectors accumulates over `k` with fused multiply-adds. Each sum runs over `k` in
//! order, in passes of at most [`KC`] with the partial sums added to the destination after
//! each: the order of gemm's own kernels, so that a layer gives the same bits as it did
//! through gemm wherever gemm makes the same passes. Unlike gemm's, whose passes follow the
//! machine's cache sizes, that order is fixed: the bits do not depend on the CPU or the
//! vector width pulp picks (its test holds shapes with every kind of partial tile and panel
//! to a scalar sum in that order).

use pulp::Simd;

use crate::activation::Lanes;

/// Rows per register tile.
const MR: usize = 6;
/// Vectors per panel: `MR x NV` accumulators, the panel's line and one broadcast take 15 of
/// AVX2's 16 registers. (A 4 x 3 tile is as good alone, but spilled an accumulator to the
/// stack once inlined into the recurrent time loop.)
const NV: usize = 2;
/// The deepest pass over `k`; deeper products make `ceil(k / KC)` equal passes, as gemm does.
const KC: usize = 512;

/// A `[k, n]` matrix in panels of `NV` vectors (the last one of as few as its columns need),
/// padded with zeros to whole vectors.
#[derive(Debug, Clone)]
pub struct Packed {
    data: Vec<f32>,
    k: usize,
    n: usize,
    lanes: usize,
}

impl Packed {
    /// Packs `b` (`b(r, c)` its element at row `r < k`, column `c < n`) for vectors of `lanes`.
    pub fn new(k: usize, n: usize, lanes: usize, b: impl Fn(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(k * n.div_ceil(lanes) * lanes);
        for (c0, width) in panels(n, lanes) {
            for r in 0..k {
                data.extend((c0..c0 + width).map(|c| if c < n { b(r, c) } else { 0.0 }));
            }
        }
        Self { data, k, n, lanes }
    }

    /// Packs the row-major `[k, n]` matrix `b`.
    pub fn rows(b: &[f32], k: usize, n: usize, lanes: usize) -> Self {
        assert_eq!(b.len(), k * n, "packed: matrix shape");
        Self::new(k, n, lanes, |r, c| b[r * n + c])
    }

    /// Packs the transpose of the row-major `[n, k]` matrix `b`.
    pub fn transposed(b: &[f32], n: usize, k: usize, lanes: usize) -> Self {
        assert_eq!(b.len(), n * k, "packed: matrix shape");
        Self::new(k, n, lanes, |r, c| b[c * k + r])
    }
}

/// The panels of `n` columns: `(first column, width)`, widths whole vectors.
fn panels(n: usize, lanes: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = NV * lanes;
    (0..n.div_ceil(full)).map(move |p| {
        let c0 = p * full;
        (c0, full.min((n - c0).div_ceil(lanes) * lanes))
    })
}

/// `dst = a @ b`, or `dst += a @ b` when `accumulate`, for `a` with `m` rows of `b.k` values
/// `lda` apart and `dst` with `m` rows of `b.n` values `ldd` apart.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn product<S: Simd>(
    v: Lanes<S>,
    dst: &mut [f32],
    ldd: usize,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &Packed,
    accumulate: bool,
) {
    let (k, n, lanes) = (b.k, b.n, Lanes::<S>::N);
    assert_eq!(b.lanes, lanes, "packed: packed for other vectors");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        lda >= k && a.len() >= (m - 1) * lda + k,
        "packed: left side"
    );
    assert!(
        ldd >= n && dst.len() >= (m - 1) * ldd + n,
        "packed: destination"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * ldd..][..n].fill(0.0);
            }
        }
        return;
    }
    let passes = k.div_ceil(KC);
    let kc = k.div_ceil(passes);
    let mut offset = 0;
    for (c0, width) in panels(n, lanes) {
        let panel = &b.data[offset..offset + k * width];
        offset += k * width;
        for k0 in (0..k).step_by(kc) {
            let depth = kc.min(k - k0);
            let pass = Pass {
                panel: &panel[k0 * width..(k0 + depth) * width],
                a_col: k0,
                depth,
                lda,
                ldd,
                cols: width.min(n - c0),
                add: accumulate || k0 > 0,
            };
            if width / lanes == 1 {
                pass.rows::<S, 1>(v, a, &mut dst[c0..], m)
            } else {
                pass.rows::<S, NV>(v, a, &mut dst[c0..], m)
            }
        }
    }
}

/// One pass over part of `k` for one panel.
struct Pass<'a> {
    panel: &'a [f32],
    /// The column of `a` the pass starts at.
    a_col: usize,
    depth: usize,
    lda: usize,
    ldd: usize,
    /// The panel's columns that are in the destination.
    cols: usize,
    /// Whether the sums are added to the destination (or replace it).
    add: bool,
}

impl Pass<'_> {
    /// All `m` rows, `MR` at a time, `dst` starting at the panel's first column.
    #[inline(always)]
    fn rows<S: Simd, const W: usize>(&self, v: Lanes<S>, a: &[f32], dst: &mut [f32], m: usize) {
        let mut r = 0;
        while r + MR <= m {
            self.tile::<S, MR, W>(v, a, dst, r);
            r += MR;
        }
        match m - r {
            5 => self.tile::<S, 5, W>(v, a, dst, r),
            4 => self.tile::<S, 4, W>(v, a, dst, r),
            3 => self.tile::<S, 3, W>(v, a, dst, r),
            2 => self.tile::<S, 2, W>(v, a, dst, r),
            1 => self.tile::<S, 1, W>(v, a, dst, r),
            _ => {}
        }
    }

    /// Rows `r0..r0 + R` by `W` vectors.
    #[inline(always)]
    fn tile<S: Simd, const R: usize, const W: usize>(
        &self,
        v: Lanes<S>,
        a: &[f32],
        dst: &mut [f32],
        r0: usize,
    ) {
        let s = v.0;
        let lanes = Lanes::<S>::N;
        let depth = self.depth;
        // Slices of exactly `depth` values, so that the loop below indexes them unchecked.
        let rows: [&[f32]; R] = std::array::from_fn(|r| {
            let start = (r0 + r) * self.lda + self.a_col;
            &a[start..start + depth]
        });
        let panel = &self.panel[..depth * W * lanes];
        let mut acc = [[s.splat_f32s(0.0); W]; R];
        for p in 0..depth {
            let line = &panel[p * W * lanes..(p + 1) * W * lanes];
            let bv: [S::f32s; W] =
                std::array::from_fn(|j| S::as_simd_f32s(&line[j * lanes..(j + 1) * lanes]).0[0]);
            for r in 0..R {
                let x = s.splat_f32s(rows[r][p]);
                for j in 0..W {
                    acc[r][j] = s.mul_add_f32s(x, bv[j], acc[r][j]);
                }
            }
        }
        for (r, sums) in acc.iter().enumerate() {
            let out = &mut dst[(r0 + r) * self.ldd..][..self.cols];
            for (j, &sum) in sums.iter().enumerate() {
                let c = j * lanes;
                if c >= out.len() {
                    break;
                }
                let x = if self.add {
                    v.add(v.load(out, c), sum)
                } else {
                    sum
                };
                v.store(out, c, x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Vectorised, vectorised};

    /// The kernel's order, written out: each sum over `k` in order with fused multiply-adds,
    /// in equal passes of at most `KC`, each pass's sum added to the destination.
    fn reference(a: &[f32], b: &[f32], dst: &mut [f32], m: usize, k: usize, n: usize, acc: bool) {
        let passes = k.div_ceil(KC).max(1);
        let kc = k.div_ceil(passes).max(1);
        for i in 0..m {
            for j in 0..n {
                let mut d = dst[i * n + j];
                for k0 in (0..k).step_by(kc) {
                    let sum = (k0..k.min(k0 + kc))
                        .fold(0.0f32, |s, p| a[i * k + p].mul_add(b[p * n + j], s));
                    d = if acc || k0 > 0 { d + sum } else { sum };
                }
                if k == 0 && !acc {
                    d = 0.0;
                }
                dst[i * n + j] = d;
            }
        }
    }

    struct Product<'a> {
        a: &'a [f32],
        b: &'a [f32],
        dst: &'a mut [f32],
        dims: (usize, usize, usize),
        accumulate: bool,
        transposed: bool,
    }

    impl Vectorised for Product<'_> {
        type Output = ();

        #[inline(always)]
        fn run<S: Simd>(self, v: Lanes<S>) {
            let (m, k, n) = self.dims;
            let lanes = Lanes::<S>::N;
            let packed = if self.transposed {
                let bt: Vec<f32> = (0..n * k).map(|i| self.b[(i % k) * n + i / k]).collect();
                Packed::transposed(&bt, n, k, lanes)
            } else {
                Packed::rows(self.b, k, n, lanes)
            };
            product(v, self.dst, n, self.a, k, m, &packed, self.accumulate);
        }
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_shape_sums_in_the_stated_order_to_the_bit() {
        // Rows and columns that fill no tile or panel, three passes over k (367, 367, 366),
        // and k = 0.
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 7, 5),
            (5, 128, 512),
            (32, 128, 512),
            (9, 512, 100),
            (6, 1100, 37),
            (4, 0, 9),
            (17, 33, 49),
            (11, 40, 30),
            (7, 9, 24),
        ] {
            for accumulate in [false, true] {
                for transposed in [false, true] {
                    let a = values(m * k, 1);
                    let b = values(k * n, 2);
                    let start = values(m * n, 3);
                    let mut want = start.clone();
                    reference(&a, &b, &mut want, m, k, n, accumulate);
                    let mut got = start.clone();
                    vectorised(Product {
                        a: &a,
                        b: &b,
                        dst: &mut got,
                        dims: (m, k, n),
                        accumulate,
                        transposed,
                    });
                    let differ = got
                        .iter()
                        .zip(&want)
                        .filter(|(g, w)| g.to_bits() != w.to_bits())
                        .count();
                    assert_eq!(differ, 0, "{m}x{k}x{n} accumulate={accumulate}");
                }
            }
        }
    }

    struct Strided<'a>(&'a mut [f32]);

    impl Vectorised for Strided<'_> {
        type Output = ();

        #[inline(always)]
        fn run<S: Simd>(self, v: Lanes<S>) {
            // a: 3 rows of 2 values, 5 apart; dst: 3 rows of 3 values, 4 apart.
            let a = [1.0, 2.0, 9.0, 9.0, 9.0, 3.0, 4.0, 9.0, 9.0, 9.0, 5.0, 6.0];
            let b = Packed::rows(&[1.0, 0.0, 2.0, 0.0, 1.0, 3.0], 2, 3, Lanes::<S>::N);
            product(v, self.0, 4, &a, 5, 3, &b, false);
        }
    }

    #[test]
    fn strided_rows_read_and_write_only_their_own_values() {
        let mut dst = vec![-1.0; 11];
        vectorised(Strided(&mut dst));
        let want = [1.0, 2.0, 8.0, -1.0, 3.0, 4.0, 18.0, -1.0, 5.0, 6.0, 28.0];
        assert_eq!(dst, want);
    }
}
