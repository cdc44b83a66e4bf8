//! The range checks of a training config that its types cannot express. Apart from the types
//! (`config.rs`) because they also ask the learning-rate schedulers (`schedule.rs`), which are
//! built from those types.

use kiln_models::Invalid;

use crate::config::{GradClip, OptimizerConfig, ScheduleConfig, TrainConfig};

impl TrainConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.epochs == 0 {
            return Err(Invalid::new("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Invalid::new("batch_size", "must be at least 1"));
        }
        if self.eval_batch_size == 0 {
            return Err(Invalid::new("eval_batch_size", "must be at least 1"));
        }
        positive("learning_rate", self.learning_rate)?;
        for (field, v) in [
            ("teacher_forcing", self.teacher_forcing),
            ("teacher_forcing_final", self.teacher_forcing_final),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(Invalid::new(field, format!("must be in [0, 1], got {v}")));
            }
        }

        non_negative("weight_decay", self.weight_decay)?;
        non_negative("warmup_epochs", self.warmup_epochs)?;
        if self.warmup_epochs >= self.epochs as f64 {
            return Err(Invalid::new(
                "warmup_epochs",
                format!("must be shorter than the {} training epochs", self.epochs),
            ));
        }
        validate_optimizer(&self.optimizer)?;
        validate_schedule(&self.schedule, self.learning_rate)?;
        if let Some(clip) = self.grad_clip {
            let (field, v) = match clip {
                GradClip::Norm(v) => ("grad_clip.norm", v),
                GradClip::Value(v) => ("grad_clip.value", v),
            };
            positive(field, v as f64)?;
        }
        // burn's schedulers check their own ranges (cosine and warm-up take rates in (0, 1]);
        // ask them now, so that a bad rate is refused before any run starts.
        crate::schedule::build(self, 100)?;
        if let Some(es) = self.early_stopping {
            if es.patience == 0 {
                return Err(Invalid::new(
                    "early_stopping.patience",
                    "must be at least 1",
                ));
            }
            non_negative("early_stopping.min_delta", es.min_delta)?;
        }
        Ok(())
    }
}

/// `v` is a finite number above zero.
fn positive(field: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("must be a positive number, got {v}"),
        ))
    }
}

/// `v` is a finite number, zero or more.
fn non_negative(field: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("must be zero or more, got {v}"),
        ))
    }
}

/// `v` is in [0, 1).
fn unit(field: &str, v: f64) -> Result<(), Invalid> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Invalid::new(field, format!("must be in [0, 1), got {v}")))
    }
}

/// The optimizer's own settings.
fn validate_optimizer(optimizer: &OptimizerConfig) -> Result<(), Invalid> {
    match optimizer {
        OptimizerConfig::Sgd {
            momentum,
            dampening,
            nesterov,
        } => {
            unit("optimizer.momentum", *momentum)?;
            unit("optimizer.dampening", *dampening)?;
            if *nesterov && (*momentum == 0.0 || *dampening != 0.0) {
                return Err(Invalid::new(
                    "optimizer.nesterov",
                    "needs a momentum above zero and zero dampening",
                ));
            }
        }
        OptimizerConfig::Adagrad { lr_decay, epsilon } => {
            non_negative("optimizer.lr_decay", *lr_decay)?;
            positive("optimizer.epsilon", *epsilon as f64)?;
        }
        OptimizerConfig::Rmsprop {
            alpha,
            momentum,
            epsilon,
            ..
        } => {
            unit("optimizer.alpha", *alpha as f64)?;
            unit("optimizer.momentum", *momentum as f64)?;
            positive("optimizer.epsilon", *epsilon as f64)?;
        }
        OptimizerConfig::Adam(p) | OptimizerConfig::Adamw(p) => {
            unit("optimizer.beta1", p.beta1 as f64)?;
            unit("optimizer.beta2", p.beta2 as f64)?;
            positive("optimizer.epsilon", p.epsilon as f64)?;
        }
    }
    Ok(())
}

/// The schedule's own settings; cosine's floor must sit below the learning rate.
fn validate_schedule(schedule: &ScheduleConfig, learning_rate: f64) -> Result<(), Invalid> {
    match schedule {
        ScheduleConfig::Constant => {}
        ScheduleConfig::Step { step_epochs, gamma } => {
            if *step_epochs == 0 {
                return Err(Invalid::new("schedule.step_epochs", "must be at least 1"));
            }
            positive("schedule.gamma", *gamma)?;
        }
        ScheduleConfig::Exponential { gamma } => {
            positive("schedule.gamma", *gamma)?;
            if *gamma > 1.0 {
                return Err(Invalid::new(
                    "schedule.gamma",
                    format!("must be at most 1, got {gamma}"),
                ));
            }
        }
        ScheduleConfig::Cosine { min_lr } => {
            non_negative("schedule.min_lr", *min_lr)?;
            if *min_lr >= learning_rate {
                return Err(Invalid::new(
                    "schedule.min_lr",
                    "must be below learning_rate",
                ));
            }
        }
    }
    Ok(())
}
