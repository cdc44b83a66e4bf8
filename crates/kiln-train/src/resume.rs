//! Training state between two steps: everything the loop needs to go on as if it had never
//! stopped. The loop hands it out when its observer asks for a checkpoint and takes it back
//! from the observer when it starts; where it is kept is the caller's business.
//!
//! What makes a resumed run bit-identical to an uninterrupted one: the weights and every
//! optimizer's state (burn records, keyed by parameter ids that loading restores), the step
//! count (the LR schedule is replayed to it), the batch order (a function of the seed and the
//! epoch), the backend's random stream (reseeded before every step from the seed and the
//! step, so nothing depends on how many numbers were drawn before), the task's own carried
//! state ([`Carried`]: a stateful model's hidden state, a random stream, running sums), the
//! epoch's running sums, the history and the best-so-far.

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::{Device, TensorData};
use serde::{Deserialize, Serialize};

use crate::records::EpochRecord;

/// When the loop offers a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// After an optimisation step inside an epoch.
    Step,
    /// After an epoch, its validation and its record.
    EpochEnd,
    /// After the last epoch (or an early stop): a run resumed from here goes straight to
    /// testing.
    Finished,
}

/// What a task carries from one batch to the next inside an epoch. Tensors are kept as
/// host data; numbers are stored exactly (integers as `u64`, floats as their bits).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    pub words: Vec<u64>,
    pub tensors: Vec<TensorData>,
}

impl Carried {
    pub fn push_f64(&mut self, value: f64) {
        self.words.push(value.to_bits());
    }
}

/// Reads a [`Carried`] back in the order it was written.
pub struct CarriedReader {
    words: std::vec::IntoIter<u64>,
    tensors: std::vec::IntoIter<TensorData>,
}

impl CarriedReader {
    pub fn new(carried: Carried) -> Self {
        Self {
            words: carried.words.into_iter(),
            tensors: carried.tensors.into_iter(),
        }
    }

    pub fn word(&mut self) -> Result<u64, String> {
        self.words
            .next()
            .ok_or_else(|| "the checkpoint's task state is shorter than expected".to_string())
    }

    pub fn usize(&mut self) -> Result<usize, String> {
        let w = self.word()?;
        usize::try_from(w).map_err(|_| format!("{w} is not a count"))
    }

    pub fn f64(&mut self) -> Result<f64, String> {
        self.word().map(f64::from_bits)
    }

    pub fn tensor(&mut self) -> Result<TensorData, String> {
        self.tensors
            .next()
            .ok_or_else(|| "the checkpoint's task state lacks a tensor".to_string())
    }
}

/// The sums an epoch's training metrics are the means of, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    pub loss: f64,
    pub samples: usize,
    pub predictions: usize,
    pub correct: usize,
    pub learning_rate: f64,
    /// Training seconds of this epoch before the checkpoint (timings are the only figures a
    /// resumed run does not reproduce).
    pub seconds: f64,
}

/// Where the loop stands, apart from the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// The epoch in progress (1-based) and how many of its batches are done; after an epoch
    /// end, the next epoch with 0 batches done.
    pub epoch: usize,
    pub batch: usize,
    /// Optimisation steps taken since the start of the run.
    pub step: usize,
    /// Training is over (every epoch ran, or early stopping ended it).
    pub finished: bool,
    pub stopped_early: bool,
    /// The monitored value and epoch of the best epoch so far.
    pub best: Option<(f64, usize)>,
    pub since_best: usize,
    pub history: Vec<EpochRecord>,
    pub sums: EpochSums,
    pub carried: Carried,
}

/// A checkpoint: the loop's state and its tensors as burn records.
pub struct TrainingState {
    pub state: LoopState,
    /// The training model's weights.
    pub model: ModuleRecord,
    /// One record per optimizer, in the order the task's step uses them.
    pub optimizers: Vec<OptimizerRecord>,
    /// The best epoch's weights, when an epoch has ended.
    pub best: Option<ModuleRecord>,
}

/// Why a checkpoint cannot be taken up.
#[derive(Debug, thiserror::Error)]
#[error("the checkpoint does not fit this run: {0}")]
pub struct Unfit(pub String);

/// `model` (freshly built, on the inner device) with the weights of `record`.
pub(crate) fn load<M: Module>(model: M, record: ModuleRecord) -> Result<M, Unfit> {
    model
        .try_load_record(record)
        .map_err(|e| Unfit(format!("its weights do not fit the model: {e}")))
}

/// The seed the backend's generator starts step `step` from, in a run seeded with `seed`:
/// dropout masks and a GAN's noise of a step depend on nothing else, so a resumed run draws
/// the same numbers as one that never stopped.
pub fn step_seed(seed: u64, step: usize) -> u64 {
    // SplitMix64's finaliser: neighbouring steps get unrelated seeds.
    let mut z = seed
        .wrapping_add(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(step as u64 + 1))
        .wrapping_add(0x5eed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seeds `device`'s generator for step `step`.
pub(crate) fn seed_step(device: &Device, seed: u64, step: usize) {
    device.seed(step_seed(seed, step));
}
