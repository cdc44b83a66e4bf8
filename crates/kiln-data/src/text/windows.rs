//! A token stream into language-model batches: each row is `seq_len` tokens and its target the
//! same window shifted by one.
//!
//! Two layouts. Shuffled: windows start every `seq_len` tokens and batches take them in a
//! seeded order, each window on its own. Stateful (char-rnn's, and PyTorch's
//! `word_language_model`): the stream is cut into `batch_size` contiguous lanes and batch `j`
//! is window `j` of every lane, so a model that keeps its hidden state from one batch to the
//! next reads each lane as one long text.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::split::shuffled;

/// One batch: `inputs[i, t]` is followed by `targets[i, t]` in the text.
#[derive(Debug, Clone)]
pub struct WindowBatch {
    pub inputs: Tensor<2, Int>,
    pub targets: Tensor<2, Int>,
    /// Rows in this batch (the last one of a shuffled epoch may be short).
    pub len: usize,
}

/// Serves windows of one token stream.
pub struct Windows<'a> {
    tokens: &'a [u32],
    seq_len: usize,
    batch_size: usize,
    stateful: bool,
}

impl<'a> Windows<'a> {
    /// # Panics
    /// If `seq_len` or `batch_size` is 0 (configs check them first).
    pub fn new(tokens: &'a [u32], seq_len: usize, batch_size: usize, stateful: bool) -> Self {
        assert!(
            seq_len > 0 && batch_size > 0,
            "seq_len and batch_size are positive"
        );
        Self {
            tokens,
            seq_len,
            batch_size,
            stateful,
        }
    }

    /// How many whole windows there are: a window needs `seq_len + 1` tokens (its last input's
    /// target), and a stateful layout uses only what divides evenly into lanes.
    fn windows(&self) -> usize {
        if self.stateful {
            self.lane_len().saturating_sub(1) / self.seq_len
        } else {
            self.tokens.len().saturating_sub(1) / self.seq_len
        }
    }

    fn lane_len(&self) -> usize {
        self.tokens.len() / self.batch_size
    }

    /// Batches per epoch.
    /// Whether batch `j + 1` continues batch `j`'s rows, so a state may be carried.
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }

    pub fn num_batches(&self) -> usize {
        if self.stateful {
            self.windows()
        } else {
            self.windows().div_ceil(self.batch_size)
        }
    }

    /// Targets predicted per epoch, for characters per second.
    pub fn tokens_per_epoch(&self) -> usize {
        let rows = if self.stateful {
            self.windows() * self.batch_size
        } else {
            self.windows()
        };
        rows * self.seq_len
    }

    /// The start offsets of each batch's rows, in the order an epoch serves them; `seed`
    /// shuffles the windows (ignored when stateful, whose order is the text's).
    pub fn order(&self, seed: Option<u64>) -> Vec<Vec<usize>> {
        if self.stateful {
            let lane = self.lane_len();
            return (0..self.windows())
                .map(|j| {
                    (0..self.batch_size)
                        .map(|b| b * lane + j * self.seq_len)
                        .collect()
                })
                .collect();
        }
        let starts: Vec<usize> = (0..self.windows()).map(|w| w * self.seq_len).collect();
        let starts = match seed {
            Some(seed) => shuffled(&starts, seed),
            None => starts,
        };
        starts
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// The batch whose rows start at `starts`.
    pub fn batch(&self, starts: &[usize], device: &Device) -> WindowBatch {
        let (n, t) = (starts.len(), self.seq_len);
        let mut inputs = Vec::with_capacity(n * t);
        let mut targets = Vec::with_capacity(n * t);
        for &s in starts {
            inputs.extend(self.tokens[s..s + t].iter().map(|&id| id as i64));
            targets.extend(self.tokens[s + 1..s + t + 1].iter().map(|&id| id as i64));
        }
        let tensor = |v: Vec<i64>| Tensor::from_data(TensorData::new(v, [n, t]), device);
        WindowBatch {
            inputs: tensor(inputs),
            targets: tensor(targets),
            len: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(t: Tensor<2, Int>) -> Vec<Vec<i64>> {
        let [_, cols] = t.dims();
        let flat = t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        flat.chunks(cols).map(<[i64]>::to_vec).collect()
    }

    #[test]
    fn targets_are_the_inputs_shifted_by_one() {
        let tokens: Vec<u32> = (0..23).collect();
        let w = Windows::new(&tokens, 5, 2, false);
        // 22 usable pairs: 4 windows of 5, starting at 0, 5, 10, 15.
        assert_eq!((w.num_batches(), w.tokens_per_epoch()), (2, 20));
        let order = w.order(None);
        assert_eq!(order, [vec![0, 5], vec![10, 15]]);
        let b = w.batch(&order[1], &Device::flex());
        assert_eq!(
            rows(b.inputs),
            [vec![10, 11, 12, 13, 14], vec![15, 16, 17, 18, 19]]
        );
        assert_eq!(
            rows(b.targets),
            [vec![11, 12, 13, 14, 15], vec![16, 17, 18, 19, 20]]
        );
    }

    #[test]
    fn shuffled_windows_cover_the_text_once_in_a_seeded_order() {
        let tokens: Vec<u32> = (0..101).collect();
        let w = Windows::new(&tokens, 10, 3, false);
        let a = w.order(Some(1));
        assert_eq!(a, w.order(Some(1)));
        assert_ne!(a, w.order(Some(2)));
        let mut starts: Vec<usize> = a.concat();
        starts.sort();
        assert_eq!(starts, (0..10).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(
            a.last().unwrap().len(),
            1,
            "the last batch holds the remainder"
        );
    }

    #[test]
    fn stateful_batches_continue_each_lane() {
        // 3 lanes of 10 tokens: 0..10, 10..20, 20..30 (tokens 30, 31 unused).
        let tokens: Vec<u32> = (0..32).collect();
        let w = Windows::new(&tokens, 4, 3, true);
        // Each lane has 9 usable pairs: 2 windows of 4.
        assert_eq!(w.num_batches(), 2);
        assert_eq!(w.order(Some(5)), [vec![0, 10, 20], vec![4, 14, 24]]);
        let first = w.batch(&w.order(None)[0], &Device::flex());
        let second = w.batch(&w.order(None)[1], &Device::flex());
        let (first, second) = (rows(first.inputs), rows(second.inputs));
        for lane in 0..3 {
            // The second batch's row starts where the first's row stopped.
            assert_eq!(second[lane][0], first[lane][3] + 1);
        }
        assert_eq!(w.tokens_per_epoch(), 2 * 3 * 4);
    }

    #[test]
    fn too_short_a_text_has_no_window() {
        let tokens: Vec<u32> = (0..5).collect();
        assert_eq!(Windows::new(&tokens, 5, 1, false).num_batches(), 0);
        assert_eq!(Windows::new(&tokens, 4, 1, false).num_batches(), 1);
        assert_eq!(Windows::new(&tokens, 2, 3, true).num_batches(), 0);
    }
}
