//! A run stopped anywhere and resumed from its checkpoint ends with the same bits as one
//! that never stopped: weights after every epoch, best model, history.
//!
//! In a binary of its own, with the tests taking turns: flex's random generator is one per
//! process, and another test drawing from it between a step's reseed and its dropout would
//! change the masks.

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::text::{PairBatcher, Windows};
use kiln_data::{Digits, ImageBatcher, Normalization};
use kiln_models::{
    ActivationKind, AttentionKind, CellKind, InputShape, LanguageModelConfig, MlpConfig,
    ModelConfig, Seq2SeqConfig,
};
use kiln_train::{
    AdamParams, Decoding, EpochRecord, FitOutcome, GradClip, LanguageModeling, LossKind, Moment,
    Monitor, Observer, OptimizerConfig, ScheduleConfig, Splits, StepRecord, TrainConfig,
    TrainError, TrainingState, Translation, fit, fit_task,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Records the weights after every epoch and, when `stop_after` is set, takes a checkpoint
/// after that step (or at the end of the epoch it closes) and stops there.
struct Interrupting<M> {
    stop_after: Option<usize>,
    resume: Option<TrainingState>,
    taken: Option<TrainingState>,
    last_weights: Vec<TensorData>,
    step: usize,
    _model: std::marker::PhantomData<M>,
}

impl<M> Interrupting<M> {
    fn new(stop_after: Option<usize>, resume: Option<TrainingState>) -> Self {
        Self {
            stop_after,
            resume,
            taken: None,
            last_weights: Vec::new(),
            step: 0,
            _model: std::marker::PhantomData,
        }
    }
}

/// Every float parameter's values, in the module's order (ids aside: a resumed model has its
/// checkpoint's).
fn weights<M: Module>(model: &M) -> Vec<TensorData> {
    struct Values(Vec<TensorData>);
    impl ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data());
        }
    }
    let mut values = Values(Vec::new());
    model.visit(&mut values);
    values.0
}

impl<M: Module> Observer<M> for Interrupting<M> {
    fn on_step(&mut self, step: &StepRecord) {
        self.step = step.step;
    }
    fn on_epoch_model(&mut self, _epoch: usize, model: &M) {
        self.last_weights = weights(model);
    }
    fn take_resume(&mut self) -> Option<TrainingState> {
        self.resume.take()
    }
    fn checkpoint_due(&mut self, at: Moment) -> bool {
        at != Moment::Finished && self.taken.is_none() && Some(self.step) == self.stop_after
    }
    fn on_checkpoint(&mut self, checkpoint: TrainingState) -> Result<(), String> {
        self.taken = Some(round_trip(checkpoint));
        Ok(())
    }
    fn stop_requested(&self) -> bool {
        self.taken.is_some()
    }
}

/// `checkpoint` as it comes back from disk: the state through JSON, records through bytes.
fn round_trip(checkpoint: TrainingState) -> TrainingState {
    let record = |r: ModuleRecord| ModuleRecord::from_bytes(r.into_bytes().unwrap()).unwrap();
    TrainingState {
        state: serde_json::from_str(&serde_json::to_string(&checkpoint.state).unwrap()).unwrap(),
        model: record(checkpoint.model),
        optimizers: checkpoint
            .optimizers
            .into_iter()
            .map(|o| OptimizerRecord::from_bytes(o.into_bytes().unwrap()).unwrap())
            .collect(),
        best: checkpoint.best.map(record),
    }
}

fn without_timings(history: &[EpochRecord]) -> Vec<EpochRecord> {
    history
        .iter()
        .map(|e| EpochRecord {
            train_seconds: 0.0,
            samples_per_second: 0.0,
            epoch_seconds: 0.0,
            ..e.clone()
        })
        .collect()
}

/// Trains once without a stop, then again stopped after each step of `stops` in turn, each
/// time resumed from the checkpoint taken at the previous stop; the weights at the last
/// epoch's end, the best model and the history must be the same bits.
fn resumes_bit_identically<M: Module>(
    stops: &[usize],
    mut fit: impl FnMut(&mut Interrupting<M>) -> Result<FitOutcome<M>, TrainError>,
) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut whole = Interrupting::new(None, None);
    let expected = fit(&mut whole).unwrap();
    let mut resume = None;
    let mut last_weights = Vec::new();
    let mut outcome = None;
    for stop in stops.iter().copied().map(Some).chain([None]) {
        let mut observer = Interrupting::new(stop, resume.take());
        match fit(&mut observer) {
            Err(TrainError::Interrupted { step, .. }) => {
                assert_eq!(Some(step), stop);
                resume = observer.taken.take();
                assert!(resume.is_some(), "stopped without a checkpoint at {step}");
            }
            Ok(done) => {
                assert!(stop.is_none(), "not stopped at {stop:?}");
                outcome = Some(done);
            }
            Err(e) => panic!("{e}"),
        }
        if !observer.last_weights.is_empty() {
            last_weights = observer.last_weights;
        }
    }
    let outcome = outcome.unwrap();
    assert_eq!(
        without_timings(&outcome.history),
        without_timings(&expected.history)
    );
    assert_eq!(last_weights, whole.last_weights, "final weights");
    assert_eq!(
        weights(&outcome.best),
        weights(&expected.best),
        "best weights"
    );
    assert_eq!(outcome.best_epoch, expected.best_epoch);
}

fn config(epochs: usize, batch_size: usize, monitor: Monitor) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        learning_rate: 0.01,
        optimizer: OptimizerConfig::Adam(AdamParams::default()),
        weight_decay: 1e-4,
        schedule: ScheduleConfig::Constant,
        warmup_epochs: 0.0,
        loss: LossKind::CrossEntropy,
        grad_clip: Some(GradClip::Norm(5.0)),
        monitor,
        early_stopping: None,
        eval_batch_size: 64,
        teacher_forcing: None,
        teacher_forcing_final: None,
    }
}

/// Two classes of 4x4 images: dark ones (class 0) and bright ones (class 1), with noise.
fn digits(n: usize) -> Digits {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let class = (i % 2) as u8;
        labels.push(class);
        images.extend((0..16).map(|p| (40 + 150 * class as usize + (i * 7 + p * 13) % 60) as u8));
    }
    Digits {
        images,
        labels,
        channels: 1,
        rows: 4,
        cols: 4,
    }
}

#[test]
fn a_stopped_classifier_resumes_to_the_same_bits() {
    // Dropout (the backend's generator), batch norm's running statistics, Adam's moments, a
    // cosine schedule with warm-up and the training confusion matrix all cross the stops. 8 batches an epoch: stops mid-epoch
    // (3, 13), at an epoch's end (16) and twice in one epoch (19, 21).
    let data = digits(160);
    let mut config = config(4, 16, Monitor::val("accuracy"));
    config.schedule = ScheduleConfig::Cosine { min_lr: 1e-4 };
    config.warmup_epochs = 0.5;
    resumes_bit_identically(&[3, 13, 16, 19, 21], |observer| {
        let device = Device::flex();
        device.seed(3);
        let model = ModelConfig::Mlp(MlpConfig {
            hidden: vec![8],
            activation: ActivationKind::Tanh,
            dropout: 0.3,
            batch_norm: true,
        })
        .init(InputShape::Image([1, 4, 4]), 2, &device)
        .unwrap();
        let train = ImageBatcher::new(&data, (0..128).collect(), 16, Normalization::Scale);
        let val = ImageBatcher::new(&data, (128..160).collect(), 64, Normalization::Scale);
        let splits = Splits {
            train: &train,
            validation: Some(&val),
            classes: 2,
        };
        fit(model, &config, splits, &device, 3, observer)
    });
}

/// Asks to stop after step `at`, as a signal does: every checkpoint is due from then on.
struct Signalled {
    at: usize,
    step: usize,
    checkpoints: Vec<usize>,
}

impl<M> Observer<M> for Signalled {
    fn on_step(&mut self, step: &StepRecord) {
        self.step = step.step;
    }
    fn checkpoint_due(&mut self, _at: Moment) -> bool {
        self.step >= self.at
    }
    fn on_checkpoint(&mut self, checkpoint: TrainingState) -> Result<(), String> {
        self.checkpoints.push(checkpoint.state.step);
        Ok(())
    }
    fn stop_requested(&self) -> bool {
        self.step >= self.at
    }
}

#[test]
fn a_stop_asked_at_any_step_leaves_a_checkpoint_there() {
    // 8 batches an epoch: mid-epoch, an epoch's last step (whose checkpoint is the epoch
    // end's, after validation) and the last step of all.
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let data = digits(160);
    let config = config(2, 16, Monitor::val("accuracy"));
    for at in [5, 8, 16] {
        let device = Device::flex();
        device.seed(3);
        let model = ModelConfig::Mlp(MlpConfig {
            hidden: vec![8],
            activation: ActivationKind::Relu,
            dropout: 0.0,
            batch_norm: false,
        })
        .init(InputShape::Image([1, 4, 4]), 2, &device)
        .unwrap();
        let train = ImageBatcher::new(&data, (0..128).collect(), 16, Normalization::Scale);
        let val = ImageBatcher::new(&data, (128..160).collect(), 64, Normalization::Scale);
        let splits = Splits {
            train: &train,
            validation: Some(&val),
            classes: 2,
        };
        let mut observer = Signalled {
            at,
            step: 0,
            checkpoints: Vec::new(),
        };
        match fit(model, &config, splits, &device, 3, &mut observer) {
            Err(TrainError::Interrupted { .. } | TrainError::EvaluationInterrupted { .. }) => {}
            other => panic!("step {at}: {:?}", other.map(|_| ())),
        }
        assert_eq!(observer.checkpoints, [at], "a stop after step {at}");
    }
}

#[test]
fn a_stopped_stateful_language_model_resumes_to_the_same_bits() {
    // Stateful windows carry two layers' LSTM state from batch to batch; dropout between the
    // layers draws from the backend. 20 batches an epoch.
    let tokens: Vec<u32> = (0..2000).map(|i| 2 + ((i * 7) % 5) as u32).collect();
    let (train, val) = tokens.split_at(1600);
    let config = config(3, 8, Monitor::val("loss"));
    resumes_bit_identically(&[5, 20, 31, 33], |observer| {
        let device = Device::flex();
        device.seed(1);
        let model = LanguageModelConfig {
            cell: CellKind::Lstm,
            embedding_dim: 8,
            hidden: 16,
            layers: 2,
            dropout: 0.2,
        }
        .init(7, &device)
        .unwrap();
        let mut task = LanguageModeling::new(
            Windows::new(train, 10, 8, true),
            Some(Windows::new(val, 10, 8, true)),
            LossKind::CrossEntropy,
        );
        fit_task(model, &config, &mut task, &device, 1, observer)
    });
}

#[test]
fn a_stopped_seq2seq_model_resumes_to_the_same_bits() {
    // Teacher forcing at 0.5 draws from the task's own coin, which must be put back where it
    // was mid-epoch. 6 batches an epoch.
    let sources: Vec<Vec<u32>> = (0..81u32)
        .map(|i| vec![4 + i % 3, 4 + (i / 3) % 3, 4 + (i / 9) % 3, 4 + i / 27])
        .collect();
    let targets: Vec<Vec<u32>> = sources
        .iter()
        .map(|s| s.iter().rev().copied().collect())
        .collect();
    let mut config = config(3, 16, Monitor::val("exact_match"));
    config.teacher_forcing = Some(0.5);
    resumes_bit_identically(&[4, 6, 9, 10], |observer| {
        let device = Device::flex();
        device.seed(5);
        let model = Seq2SeqConfig {
            cell: CellKind::Gru,
            embedding_dim: 8,
            hidden: 16,
            layers: 1,
            dropout: 0.1,
            attention: AttentionKind::Dot,
        }
        .init(7, 7, &device)
        .unwrap();
        let decoding = Decoding {
            beam_width: 1,
            length_penalty: 0.0,
            max_len: 6,
        };
        let mut task = Translation::new(
            PairBatcher::new(&sources, &targets, (0..81).collect(), 16),
            Some(PairBatcher::new(&sources, &targets, (0..81).collect(), 81)),
            decoding,
            &config,
        );
        fit_task(model, &config, &mut task, &device, 5, observer)
    });
}
