//! Encoded table rows as burn tensors, one batch at a time.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::EncodedTable;
use crate::split::batch_order;

/// One batch: numbers `[n, numeric_width]`, level ids `[n, categorical columns]`, and the
/// targets: class ids `[n]` (with a host copy) or standardised values `[n, targets]`.
pub struct TableBatch {
    pub numeric: Tensor<2>,
    pub categories: Tensor<2, Int>,
    pub targets: Tensor<1, Int>,
    pub labels: Vec<i64>,
    pub values: Option<Tensor<2>>,
    pub len: usize,
}

/// Serves batches of some rows of an encoded table in a seeded order.
pub struct TableBatcher<'a> {
    table: &'a EncodedTable,
    indices: Vec<usize>,
    batch_size: usize,
}

impl<'a> TableBatcher<'a> {
    pub fn new(table: &'a EncodedTable, indices: Vec<usize>, batch_size: usize) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        TableBatcher {
            table,
            indices,
            batch_size,
        }
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn num_batches(&self) -> usize {
        self.indices.len().div_ceil(self.batch_size)
    }

    pub fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        batch_order(&self.indices, self.batch_size, seed)
    }

    pub fn batch(&self, indices: &[usize], device: &Device) -> TableBatch {
        let t = self.table;
        let n = indices.len();
        let (w, c) = (t.numeric_width, t.category_columns);
        let mut numeric = Vec::with_capacity(n * w);
        let mut categories = Vec::with_capacity(n * c);
        for &i in indices {
            numeric.extend_from_slice(&t.numeric[i * w..(i + 1) * w]);
            categories.extend(t.categories[i * c..(i + 1) * c].iter().map(|&v| v as i64));
        }
        let labels: Vec<i64> = if t.labels.is_empty() {
            vec![0; n]
        } else {
            indices.iter().map(|&i| t.labels[i] as i64).collect()
        };
        let values = (!t.values.is_empty()).then(|| {
            let k = t.values.len() / t.rows.max(1);
            let v: Vec<f32> = indices
                .iter()
                .flat_map(|&i| t.values[i * k..(i + 1) * k].iter().copied())
                .collect();
            Tensor::from_data(TensorData::new(v, [n, k]), device)
        });
        TableBatch {
            numeric: Tensor::from_data(TensorData::new(numeric, [n, w]), device),
            categories: Tensor::from_data(TensorData::new(categories, [n, c]), device),
            targets: Tensor::from_data(TensorData::new(labels.clone(), [n]), device),
            labels,
            values,
            len: n,
        }
    }
}
