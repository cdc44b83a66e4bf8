//! A bounds-checked, safe face on the `gemm` crate (the matrix kernels burn-flex itself uses).
//!
//! This module holds kiln's only `unsafe` code: `gemm::gemm` takes raw pointers and strides.
//! Every call goes through [`matmul`], whose views were checked when made: the last element
//! each view can reach lies inside its slice (computed with checked arithmetic, so a shape
//! that overflows is refused, not wrapped), every stride fits in `isize`, and a destination's
//! rows never overlap (row stride at least its width), so the threads gemm splits a product
//! over never write one element twice. The borrow checker keeps the destination apart from
//! the operands.
#![allow(unsafe_code)]

/// A read-only matrix view over a slice: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A view with explicit strides, e.g. every other block of columns.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(
            reach(rows, cols, row_stride, col_stride).is_some_and(|last| last <= data.len()),
            "matrix view {rows}x{cols} (strides {row_stride}, {col_stride}) overruns {} values",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// The transpose, as a view: no copy.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// How many values a view needs: one past the last element it can address (0 when empty), or
/// `None` when that overflows or a stride does not fit the `isize` gemm takes.
fn reach(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    if isize::try_from(row_stride).is_err() || isize::try_from(col_stride).is_err() {
        return None;
    }
    (rows - 1)
        .checked_mul(row_stride)?
        .checked_add((cols - 1).checked_mul(col_stride)?)?
        .checked_add(1)
}

/// A writable row-major matrix view: element `(r, c)` is `data[r * row_stride + c]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            rows <= 1 || row_stride >= cols,
            "matrix {rows}x{cols}: row stride {row_stride} would overlap its rows"
        );
        assert!(
            reach(rows, cols, row_stride, 1).is_some_and(|last| last <= data.len()),
            "matrix {rows}x{cols} (row stride {row_stride}) overruns {} values",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate`. `parallel` lets gemm spread one
/// large product over rayon's threads; callers that already run one product per thread pass
/// `false`.
pub fn matmul(dst: MatMut<'_>, lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool, parallel: bool) {
    assert_eq!(lhs.cols, rhs.rows, "matmul: inner dimensions differ");
    assert_eq!(
        (dst.rows, dst.cols),
        (lhs.rows, rhs.cols),
        "matmul: destination shape"
    );
    let (m, n, k) = (dst.rows, dst.cols, lhs.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst.data[r * dst.row_stride..r * dst.row_stride + n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = if parallel && m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the constructors checked, without overflow, that every element the (rows, cols,
    // strides) of each view can address lies inside its slice, and the shapes were checked
    // above, so gemm only reads `lhs`/`rhs` and writes `dst` within bounds. Every stride fits
    // in isize (checked), `dst`'s rows do not overlap (row stride >= cols), so no element is
    // written by two threads, and `dst` is a unique borrow, so it cannot alias the operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn products_transposes_and_accumulation_agree_with_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![1.0; m * n];
        matmul(
            MatMut::new(&mut got, m, n),
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            false,
            false,
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5);
        }
        // (b^T a^T)^T = a b: through transposed views of the same buffers, accumulated twice.
        let mut twice = vec![0.0; n * m];
        for _ in 0..2 {
            matmul(
                MatMut::new(&mut twice, n, m),
                MatRef::new(&b, k, n).t(),
                MatRef::new(&a, m, k).t(),
                true,
                true,
            );
        }
        for i in 0..m {
            for j in 0..n {
                assert!((twice[j * m + i] - 2.0 * want[i * n + j]).abs() < 1e-4);
            }
        }
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0.0; 11];
        let _ = MatRef::new(&a, 3, 4);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_shape_whose_extent_overflows_is_refused_not_wrapped() {
        // (rows - 1) * row_stride wraps to a small number in unchecked arithmetic.
        let a = vec![0.0; 16];
        let _ = MatRef::strided(&a, usize::MAX / 2 + 2, 1, 2, 1);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_stride_past_isize_is_refused() {
        let a = vec![0.0; 16];
        let _ = MatRef::strided(&a, 1, 2, 1, usize::MAX);
    }

    #[test]
    #[should_panic(expected = "overlap its rows")]
    fn a_destination_whose_rows_overlap_is_refused() {
        let mut d = vec![0.0; 16];
        let _ = MatMut::strided(&mut d, 3, 4, 3);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_destination_whose_extent_overflows_is_refused() {
        let mut d = vec![0.0; 16];
        let _ = MatMut::strided(&mut d, usize::MAX / 4, 4, usize::MAX / 8);
    }

    #[test]
    fn views_that_end_exactly_at_their_slice_and_empty_views_are_taken() {
        let a = vec![1.0; 12];
        let _ = MatRef::strided(&a, 3, 2, 5, 1); // last element at 2 * 5 + 1 = 11
        let _ = MatRef::strided(&a, 0, 7, usize::MAX, 1);
        let _ = MatRef::strided(&a, 4, 3, 3, 0); // a broadcast column stride reads repeats
        let mut d = vec![0.0; 12];
        let _ = MatMut::strided(&mut d, 1, 12, 0); // one row: its stride is never used
        let _ = MatMut::strided(&mut d, 2, 4, 8);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_shapes_are_refused() {
        let a = vec![0.0; 12];
        let mut d = vec![0.0; 9];
        matmul(
            MatMut::new(&mut d, 3, 3),
            MatRef::new(&a, 3, 4),
            MatRef::new(&a, 3, 4),
            false,
            false,
        );
    }
}
