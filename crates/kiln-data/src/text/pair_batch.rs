//! Encoded source/target pairs into encoder-decoder batches.
//!
//! Sources are padded on the left, so a recurrent encoder ends on the last real token.
//! Targets are framed as the decoder sees them under teacher forcing: inputs `<bos> y1 .. yn`,
//! labels `y1 .. yn <eos>`, both padded on the right.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::split::shuffled;
use crate::text::Vocabulary;

/// One batch of pairs.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// `[batch, source]`, left-padded.
    pub sources: Tensor<2, Int>,
    /// `[batch, target + 1]`: `<bos>` then the target, right-padded.
    pub decoder_inputs: Tensor<2, Int>,
    /// `[batch, target + 1]`: the target then `<eos>`, right-padded.
    pub labels: Tensor<2, Int>,
    /// `labels` on the host, padding included.
    pub label_ids: Vec<Vec<u32>>,
    pub len: usize,
}

/// Serves batches of `pairs[i]` for the indices it was given.
pub struct PairBatcher<'a> {
    sources: &'a [Vec<u32>],
    targets: &'a [Vec<u32>],
    indices: Vec<usize>,
    batch_size: usize,
}

impl<'a> PairBatcher<'a> {
    /// # Panics
    /// If `batch_size` is 0 or the two sides differ in length.
    pub fn new(
        sources: &'a [Vec<u32>],
        targets: &'a [Vec<u32>],
        indices: Vec<usize>,
        batch_size: usize,
    ) -> Self {
        assert!(batch_size > 0, "batch_size is positive");
        assert_eq!(sources.len(), targets.len(), "one target per source");
        Self {
            sources,
            targets,
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

    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn source(&self, i: usize) -> &[u32] {
        &self.sources[i]
    }

    pub fn target(&self, i: usize) -> &[u32] {
        &self.targets[i]
    }

    /// Batches of similar target length, in a seeded order; the stored order without a seed.
    /// With a seed, pairs are shuffled, sorted by length within runs of 50 batches, cut into
    /// batches and the batches shuffled: little padding, and still a different mix each epoch.
    pub fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        let Some(seed) = seed else {
            return self
                .indices
                .chunks(self.batch_size)
                .map(<[usize]>::to_vec)
                .collect();
        };
        let mut mixed = shuffled(&self.indices, seed);
        for run in mixed.chunks_mut(self.batch_size * 50) {
            run.sort_by_key(|&i| (self.targets[i].len(), self.sources[i].len()));
        }
        let batches: Vec<Vec<usize>> = mixed
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        let order = shuffled(&(0..batches.len()).collect::<Vec<_>>(), seed ^ 0x5eed);
        order.into_iter().map(|b| batches[b].clone()).collect()
    }

    pub fn batch(&self, indices: &[usize], device: &Device) -> PairBatch {
        let n = indices.len();
        let pad = Vocabulary::PAD as i64;
        let s_len = indices
            .iter()
            .map(|&i| self.sources[i].len())
            .max()
            .unwrap_or(0)
            .max(1);
        let t_len = indices
            .iter()
            .map(|&i| self.targets[i].len())
            .max()
            .unwrap_or(0)
            + 1;
        let mut sources = Vec::with_capacity(n * s_len);
        let mut inputs = Vec::with_capacity(n * t_len);
        let mut labels = Vec::with_capacity(n * t_len);
        let mut label_ids = Vec::with_capacity(n);
        for &i in indices {
            let s = &self.sources[i];
            sources.extend(std::iter::repeat_n(pad, s_len - s.len()));
            sources.extend(s.iter().map(|&t| t as i64));
            let t = &self.targets[i];
            inputs.push(Vocabulary::BOS as i64);
            inputs.extend(t.iter().map(|&x| x as i64));
            let mut row: Vec<u32> = t.clone();
            row.push(Vocabulary::EOS);
            row.resize(t_len, Vocabulary::PAD);
            inputs.extend(std::iter::repeat_n(pad, t_len - 1 - t.len()));
            labels.extend(row.iter().map(|&x| x as i64));
            label_ids.push(row);
        }
        let tensor =
            |v: Vec<i64>, cols: usize| Tensor::from_data(TensorData::new(v, [n, cols]), device);
        PairBatch {
            sources: tensor(sources, s_len),
            decoder_inputs: tensor(inputs, t_len),
            labels: tensor(labels, t_len),
            label_ids,
            len: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(t: Tensor<2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap()
    }

    #[test]
    fn sources_pad_left_and_targets_are_framed_for_teacher_forcing() {
        let sources = vec![vec![7, 8], vec![9]];
        let targets = vec![vec![5], vec![6, 6, 4]];
        let b = PairBatcher::new(&sources, &targets, vec![0, 1], 2);
        let batch = b.batch(&[0, 1], &Device::flex());
        assert_eq!(ints(batch.sources), vec![7, 8, 0, 9]);
        assert_eq!(ints(batch.decoder_inputs), vec![2, 5, 0, 0, 2, 6, 6, 4]);
        assert_eq!(ints(batch.labels), vec![5, 3, 0, 0, 6, 6, 4, 3]);
        assert_eq!(batch.label_ids[0], vec![5, 3, 0, 0]);
    }

    #[test]
    fn a_seeded_order_covers_every_pair_once_and_groups_lengths() {
        let sources: Vec<Vec<u32>> = (0..400).map(|i| vec![5; 1 + i % 13]).collect();
        let targets = sources.clone();
        let b = PairBatcher::new(&sources, &targets, (0..400).collect(), 8);
        let order = b.order(Some(3));
        assert_eq!(order.len(), 50);
        let mut all: Vec<usize> = order.concat();
        all.sort();
        assert_eq!(all, (0..400).collect::<Vec<_>>());
        let spread: usize = order
            .iter()
            .map(|batch| {
                let lens: Vec<usize> = batch.iter().map(|&i| targets[i].len()).collect();
                lens.iter().max().unwrap() - lens.iter().min().unwrap()
            })
            .sum();
        // Unsorted batches of 8 from 13 lengths would spread about 10 each.
        assert!(spread < 50 * 3, "{spread}");
        assert_ne!(order, b.order(Some(4)));
        assert_eq!(order, b.order(Some(3)));
    }
}
