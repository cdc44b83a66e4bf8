//! One run's learning curves: loss and accuracy against epoch, train and validation, drawn
//! by kiln-report like the charts across runs.

use kiln_report::charts::{Band, Chart, CurveGroup};
use kiln_train::EpochRecord;

/// `<name>.png` and `<name>.svg` for `loss` and `accuracy`, at the paths `out` gives.
pub fn learning_curves(
    epochs: &[EpochRecord],
    out: impl Fn(&str, &str) -> std::path::PathBuf,
) -> anyhow::Result<()> {
    let curve = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<Vec<(f64, f64)>> {
        let points: Vec<(f64, f64)> = epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, v)))
            .collect();
        if points.is_empty() {
            Vec::new()
        } else {
            vec![points]
        }
    };
    let charts = [
        (
            "loss",
            curve(&|e| Some(e.train.loss)),
            curve(&|e| e.validation.as_ref().map(|v| v.loss)),
        ),
        (
            "accuracy",
            curve(&|e| Some(e.train.accuracy)),
            curve(&|e| e.validation.as_ref().map(|v| v.accuracy)),
        ),
    ];
    for (name, train, validation) in charts {
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
