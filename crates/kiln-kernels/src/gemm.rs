//! A bounds-checked, safe face on the `gemm` crate (the matrix kernels burn-flex itself uses).
//!
//! This module holds kiln's only `unsafe` code: `gemm::gemm` takes raw pointers and strides.
//! Every call goes through [`matmul`], which checks the shapes and that the last element each
//! view can reach lies inside its slice; the borrow checker already keeps the destination
//! apart from the operands.
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
        let m = Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        };
        assert!(
            m.fits(data.len()),
            "matrix view {rows}x{cols} (strides {row_stride}, {col_stride}) overruns {} values",
            data.len()
        );
        m
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

    fn fits(&self, len: usize) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < len
    }
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
            rows == 0 || cols == 0 || (rows - 1) * row_stride + cols <= data.len(),
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
    // SAFETY: the constructors checked that every element the (rows, cols, strides) of each
    // view can address lies inside its slice, and the shapes were checked above, so gemm only
    // reads `lhs`/`rhs` and writes `dst` within bounds. `dst` is a unique borrow, so it
    // cannot alias the operands. Strides fit in isize because they index real slices.
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
