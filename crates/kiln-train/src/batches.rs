//! What the training loop iterates over: any dataset split that serves labelled batches of
//! model inputs in a seeded order.

use burn::tensor::{Device, Int, Tensor};
use kiln_data::{ImageBatcher, table::TableBatcher, text::SequenceBatcher};
use kiln_models::Inputs;

/// A labelled batch of model inputs.
pub struct Batch {
    pub inputs: Inputs,
    pub targets: Tensor<1, Int>,
    /// The targets on the host, so metrics need not read them back from the device.
    pub labels: Vec<i64>,
    /// Numeric targets `[batch, targets]`, standardised, for a regression.
    pub values: Option<Tensor<2>>,
    pub len: usize,
}

pub trait Batches {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn num_batches(&self) -> usize;
    /// The batches' index lists: shuffled with `seed`, in a fixed order without one.
    fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>>;
    fn batch(&self, indices: &[usize], device: &Device) -> Batch;
    /// A training batch in the epoch whose order `epoch_seed` drew: where the data are
    /// augmented, each item changed as that seed and the item decide (so a resumed epoch
    /// sees the same items); otherwise [`Batches::batch`].
    fn train_batch(&self, indices: &[usize], device: &Device, _epoch_seed: u64) -> Batch {
        self.batch(indices, device)
    }
}

impl Batches for ImageBatcher<'_> {
    fn len(&self) -> usize {
        ImageBatcher::len(self)
    }
    fn num_batches(&self) -> usize {
        ImageBatcher::num_batches(self)
    }
    fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        ImageBatcher::order(self, seed)
    }
    fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        image_batch(ImageBatcher::batch(self, indices, device))
    }
    fn train_batch(&self, indices: &[usize], device: &Device, epoch_seed: u64) -> Batch {
        image_batch(self.augmented_batch(indices, device, epoch_seed))
    }
}

fn image_batch(b: kiln_data::ImageBatch) -> Batch {
    Batch {
        inputs: Inputs::Images(b.images),
        targets: b.targets,
        labels: b.labels,
        values: None,
        len: b.len,
    }
}

impl Batches for SequenceBatcher<'_> {
    fn len(&self) -> usize {
        SequenceBatcher::len(self)
    }
    fn num_batches(&self) -> usize {
        SequenceBatcher::num_batches(self)
    }
    fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        SequenceBatcher::order(self, seed)
    }
    fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        let b = SequenceBatcher::batch(self, indices, device);
        Batch {
            inputs: Inputs::Tokens {
                ids: b.tokens,
                lengths: b.lengths,
            },
            targets: b.targets,
            labels: b.labels,
            values: None,
            len: b.len,
        }
    }
}

impl Batches for TableBatcher<'_> {
    fn len(&self) -> usize {
        TableBatcher::len(self)
    }
    fn num_batches(&self) -> usize {
        TableBatcher::num_batches(self)
    }
    fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        TableBatcher::order(self, seed)
    }
    fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        let b = TableBatcher::batch(self, indices, device);
        Batch {
            inputs: Inputs::Table {
                numeric: b.numeric,
                categories: b.categories,
            },
            targets: b.targets,
            labels: b.labels,
            values: b.values,
            len: b.len,
        }
    }
}

/// A split of another kind with numeric targets beside it, for a regression on inputs that
/// carry no values of their own (images listed with a table of their values).
pub struct Valued<B> {
    pub inner: B,
    /// `items x targets` standardised values, indexed as `inner`'s items are.
    pub values: Vec<f32>,
    pub targets: usize,
}

impl<B: Batches> Batches for Valued<B> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn num_batches(&self) -> usize {
        self.inner.num_batches()
    }
    fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        self.inner.order(seed)
    }
    fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        self.with_values(self.inner.batch(indices, device), indices, device)
    }
    fn train_batch(&self, indices: &[usize], device: &Device, epoch_seed: u64) -> Batch {
        let b = self.inner.train_batch(indices, device, epoch_seed);
        self.with_values(b, indices, device)
    }
}

impl<B> Valued<B> {
    fn with_values(&self, mut batch: Batch, indices: &[usize], device: &Device) -> Batch {
        let k = self.targets;
        let values: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.values[i * k..(i + 1) * k].iter().copied())
            .collect();
        batch.values = Some(Tensor::from_data(
            burn::tensor::TensorData::new(values, [indices.len(), k]),
            device,
        ));
        batch
    }
}
