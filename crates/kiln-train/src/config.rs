use serde::{Deserialize, Serialize};

/// How to train: every knob of the loop, with PyTorch's defaults where it has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// L2 penalty. Added to the gradient for every optimizer but AdamW, which decouples it.
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Linear warm-up from `learning_rate / warmup steps` to `learning_rate`, in epochs
    /// (fractions allowed), before the schedule starts.
    #[serde(default)]
    pub warmup_epochs: f64,
    #[serde(default)]
    pub loss: LossKind,
    #[serde(default)]
    pub grad_clip: Option<GradClip>,
    /// The metric that picks the best epoch (and that early stopping watches).
    #[serde(default)]
    pub monitor: Monitor,
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Batch size for evaluation, which keeps no activations for a backward pass.
    #[serde(default = "default_eval_batch_size")]
    pub eval_batch_size: usize,
    /// Encoder-decoders only: the share of decoder steps fed the true previous token rather
    /// than the model's own prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_forcing: Option<f64>,
    /// Encoder-decoders only: where `teacher_forcing` ends, moving there linearly from the first
    /// epoch to the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_forcing_final: Option<f64>,
}

impl TrainConfig {
    /// The teacher-forcing ratio of `epoch` (1-based): 1 unless configured.
    pub fn teacher_forcing_at(&self, epoch: usize) -> f64 {
        let start = self.teacher_forcing.unwrap_or(1.0);
        match self.teacher_forcing_final {
            None => start,
            Some(end) if self.epochs <= 1 => end,
            Some(end) => {
                start + (end - start) * (epoch.saturating_sub(1)) as f64 / (self.epochs - 1) as f64
            }
        }
    }
}

fn default_eval_batch_size() -> usize {
    1000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    Sgd {
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        dampening: f64,
        #[serde(default)]
        nesterov: bool,
    },
    Adagrad {
        #[serde(default)]
        lr_decay: f64,
        #[serde(default = "eps_adagrad")]
        epsilon: f32,
    },
    Rmsprop {
        #[serde(default = "alpha")]
        alpha: f32,
        #[serde(default)]
        momentum: f32,
        #[serde(default = "eps")]
        epsilon: f32,
        #[serde(default)]
        centered: bool,
    },
    Adam(AdamParams),
    /// Adam with decoupled weight decay: `weight_decay` is applied to the weights directly.
    Adamw(AdamParams),
}

impl OptimizerConfig {
    /// How many values the optimizer keeps per parameter (momentum, moments...).
    pub fn state_per_parameter(&self) -> usize {
        match self {
            OptimizerConfig::Sgd { momentum, .. } => usize::from(*momentum != 0.0),
            OptimizerConfig::Adagrad { .. } => 1,
            OptimizerConfig::Rmsprop {
                momentum, centered, ..
            } => 1 + usize::from(*momentum != 0.0) + usize::from(*centered),
            OptimizerConfig::Adam(p) | OptimizerConfig::Adamw(p) => 2 + usize::from(p.amsgrad),
        }
    }
}

/// The moments of Adam and AdamW, with PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamParams {
    #[serde(default = "beta1")]
    pub beta1: f32,
    #[serde(default = "beta2")]
    pub beta2: f32,
    #[serde(default = "eps")]
    pub epsilon: f32,
    #[serde(default)]
    pub amsgrad: bool,
}

impl Default for AdamParams {
    fn default() -> Self {
        Self {
            beta1: beta1(),
            beta2: beta2(),
            epsilon: eps(),
            amsgrad: false,
        }
    }
}

fn eps_adagrad() -> f32 {
    1e-10
}
fn eps() -> f32 {
    1e-8
}
fn alpha() -> f32 {
    0.99
}
fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(AdamParams::default())
    }
}

/// The learning-rate schedule after warm-up, stepped every batch; lengths are in epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ScheduleConfig {
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_epochs`.
    Step {
        step_epochs: usize,
        #[serde(default = "gamma_step")]
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch, smoothly.
    Exponential { gamma: f64 },
    /// Cosine annealing from the learning rate to `min_lr` over the remaining epochs.
    Cosine {
        #[serde(default)]
        min_lr: f64,
    },
}

fn gamma_step() -> f64 {
    0.1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    #[default]
    CrossEntropy,
    /// Mean squared error: between the softmax of the logits and one-hot targets for a
    /// classifier; between prediction and target for a regression.
    Mse,
    /// Multi-class hinge (margin 1), as PyTorch's `MultiMarginLoss`.
    Hinge,
    /// Regression: mean absolute error.
    Mae,
    /// Regression: Huber's loss with delta 1 (one standard deviation of the target).
    Huber,
}

/// Gradient clipping, applied per parameter tensor as burn does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GradClip {
    Norm(f32),
    Value(f32),
}

/// The metric that picks the best epoch and drives early stopping: `val_` or `train_` and one
/// of the metrics the task defines (`val_loss`, `val_bleu`, `val_fid`...). Which names exist
/// and which way is better is the task's business ([`crate::Metric`]), so this only holds
/// the split and the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Monitor {
    validation: bool,
    metric: String,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor::val("loss")
    }
}

impl Monitor {
    /// `metric` on the validation split.
    pub fn val(metric: &str) -> Self {
        Self {
            validation: true,
            metric: metric.into(),
        }
    }

    /// `metric` as the training epoch measured it.
    pub fn train(metric: &str) -> Self {
        Self {
            validation: false,
            metric: metric.into(),
        }
    }

    /// The name as written in a config, e.g. `val_accuracy`.
    pub fn name(&self) -> String {
        format!(
            "{}_{}",
            if self.validation { "val" } else { "train" },
            self.metric
        )
    }

    /// The task's metric name, without the split.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    pub fn needs_validation(&self) -> bool {
        self.validation
    }
}

impl TryFrom<String> for Monitor {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let parsed = match s.split_once('_') {
            Some(("val", m)) if !m.is_empty() => Monitor::val(m),
            Some(("train", m)) if !m.is_empty() => Monitor::train(m),
            _ => {
                return Err(format!(
                    "`{s}` is not a metric: expected `val_` or `train_` and the metric's name, e.g. val_loss"
                ));
            }
        };
        Ok(parsed)
    }
}

impl From<Monitor> for String {
    fn from(m: Monitor) -> String {
        m.name()
    }
}

/// Stop when the monitored metric has not improved by `min_delta` for `patience` epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    pub patience: usize,
    #[serde(default)]
    pub min_delta: f64,
}
