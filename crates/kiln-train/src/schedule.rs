use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use kiln_models::Invalid;

use crate::{ScheduleConfig, TrainConfig};

/// burn's scheduler for the whole run, stepped once per batch: optional linear warm-up, then
/// the configured schedule with its epoch lengths turned into steps.
pub(crate) fn build(
    config: &TrainConfig,
    steps_per_epoch: usize,
) -> Result<ModuleLrScheduler, Invalid> {
    let lr = config.learning_rate;
    let total = config.epochs * steps_per_epoch;
    let warmup = if config.warmup_epochs > 0.0 && total > 1 {
        ((config.warmup_epochs * steps_per_epoch as f64).round() as usize).clamp(1, total - 1)
    } else {
        0
    };
    let main = match config.schedule {
        ScheduleConfig::Constant => LrSchedulerConfig::Constant(lr),
        ScheduleConfig::Step { step_epochs, gamma } => {
            StepLrSchedulerConfig::new(lr, step_epochs * steps_per_epoch)
                .with_gamma(gamma)
                .into()
        }
        ScheduleConfig::Exponential { gamma } => {
            ExponentialLrSchedulerConfig::new(lr, gamma.powf(1.0 / steps_per_epoch as f64)).into()
        }
        ScheduleConfig::Cosine { min_lr } => {
            CosineAnnealingLrSchedulerConfig::new(lr, total - warmup)
                .with_min_lr(min_lr)
                .into()
        }
    };
    let whole = if warmup > 0 {
        let ramp = LinearLrSchedulerConfig::new(lr / warmup as f64, lr, warmup).into();
        SequentialLrSchedulerConfig::new(vec![ramp, main], vec![warmup]).into()
    } else {
        main
    };
    ModuleLrSchedulerConfig::new(whole)
        .init()
        .map_err(|message| Invalid::new("learning_rate", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schedule: ScheduleConfig, warmup_epochs: f64) -> TrainConfig {
        TrainConfig {
            epochs: 4,
            batch_size: 1,
            learning_rate: 0.1,
            optimizer: Default::default(),
            weight_decay: 0.0,
            schedule,
            warmup_epochs,
            loss: Default::default(),
            grad_clip: None,
            monitor: Default::default(),
            early_stopping: None,
            eval_batch_size: 1,
            teacher_forcing: None,
            teacher_forcing_final: None,
        }
    }

    fn rates(config: &TrainConfig, steps_per_epoch: usize) -> Vec<f64> {
        let mut s = build(config, steps_per_epoch).unwrap();
        (0..config.epochs * steps_per_epoch)
            .map(|_| s.step().base())
            .collect()
    }

    #[test]
    fn step_schedule_decays_at_epoch_boundaries() {
        let r = rates(
            &config(
                ScheduleConfig::Step {
                    step_epochs: 2,
                    gamma: 0.1,
                },
                0.0,
            ),
            3,
        );
        assert!(r[..6].iter().all(|&v| (v - 0.1).abs() < 1e-12), "{r:?}");
        assert!(r[6..].iter().all(|&v| (v - 0.01).abs() < 1e-12), "{r:?}");
    }

    #[test]
    fn exponential_schedule_multiplies_by_gamma_per_epoch() {
        let r = rates(&config(ScheduleConfig::Exponential { gamma: 0.5 }, 0.0), 4);
        assert!((r[0] - 0.1).abs() < 1e-12);
        assert!((r[4] - 0.05).abs() < 1e-9, "{r:?}");
        assert!((r[8] - 0.025).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn warmup_ramps_up_then_cosine_anneals_to_min() {
        let r = rates(&config(ScheduleConfig::Cosine { min_lr: 0.0 }, 1.0), 4);
        // Four warm-up steps climb from lr/4; the first cosine step is the full rate.
        assert!((r[0] - 0.025).abs() < 1e-9, "{r:?}");
        assert!(
            r[0] < r[1] && r[1] < r[2] && r[2] < r[3] && r[3] < 0.1,
            "{r:?}"
        );
        assert!((r[4] - 0.1).abs() < 1e-9, "{r:?}");
        assert!(r[5..].windows(2).all(|w| w[1] < w[0]), "{r:?}");
        assert!(*r.last().unwrap() < 0.01, "{r:?}");
    }

    #[test]
    fn rates_burn_cannot_anneal_are_refused_by_validation() {
        let mut c = config(ScheduleConfig::Cosine { min_lr: 0.0 }, 0.0);
        c.learning_rate = 2.0;
        assert_eq!(c.validate().unwrap_err().field, "learning_rate");
        c.schedule = ScheduleConfig::Constant;
        assert!(
            c.validate().is_ok(),
            "a constant rate above 1 is the user's business"
        );
    }

    #[test]
    fn constant_stays_constant() {
        assert!(
            rates(&config(ScheduleConfig::Constant, 0.0), 2)
                .iter()
                .all(|&v| v == 0.1)
        );
    }
}
