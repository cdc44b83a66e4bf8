//! One run's learning curves: every metric its task reported (loss, accuracy, and its own:
//! perplexity, BLEU, the GAN's FID...) against epoch, train and validation, drawn by
//! kiln-report like the charts across runs.

use kiln_report::charts::{Band, Chart, CurveGroup};
use kiln_train::EpochRecord;

/// `<name>.png` and `<name>.svg` for `loss`, `accuracy` and every metric of the task's own,
/// at the paths `out` gives.
pub fn learning_curves(
    epochs: &[EpochRecord],
    out: impl Fn(&str, &str) -> std::path::PathBuf,
) -> anyhow::Result<()> {
    let curve = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<Vec<(f64, f64)>> {
        let points: Vec<(f64, f64)> = epochs
            .iter()
            .filter_map(|e| f(e).filter(|v| !v.is_nan()).map(|v| (e.epoch as f64, v)))
            .collect();
        if points.is_empty() {
            Vec::new()
        } else {
            vec![points]
        }
    };
    let mut names: Vec<&str> = vec!["loss", "accuracy"];
    for e in epochs {
        for (name, _) in e
            .train
            .extra
            .iter()
            .chain(e.validation.iter().flat_map(|v| &v.extra))
        {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
    let charts = names.into_iter().map(|name| {
        (
            name,
            curve(&|e| e.train.get(name)),
            curve(&|e| e.validation.as_ref().and_then(|v| v.get(name))),
        )
    });
    for (name, train, validation) in charts {
        // A metric the task does not report (a regression's accuracy) has no chart.
        if train.is_empty() && validation.is_empty() {
            continue;
        }
        let chart = Chart::Curves {
            metric: name.to_string(),
            groups: vec![
                CurveGroup {
                    label: "train".into(),
                    runs: train,
                },
                CurveGroup {
                    label: "validation".into(),
                    runs: validation,
                },
            ],
            band: Band::Std,
        };
        for ext in ["png", "svg"] {
            chart.save(&out(name, ext))?;
        }
    }
    Ok(())
}
