//! The table printed when a run ends.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};

use crate::engine::run::RunSummary;

pub fn table(s: &RunSummary) -> Table {
    if s.test.accuracy.is_nan() {
        return regression_table(s);
    }
    let mut epochs = Table::new();
    epochs.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "epoch",
        "train loss",
        "train acc %",
        "val loss",
        "val acc %",
        "val macro F1",
        "lr",
        "samples/s",
        "time s",
    ]);
    for e in &s.outcome_epochs {
        let val = e.validation.as_ref();
        let mark = if e.epoch == s.best_epoch { " *" } else { "" };
        epochs.add_row(
            vec![
                format!("{}{mark}", e.epoch),
                format!("{:.4}", e.train.loss),
                format!("{:.2}", e.train.accuracy * 100.0),
                val.map_or("-".into(), |v| format!("{:.4}", v.loss)),
                val.map_or("-".into(), |v| format!("{:.2}", v.accuracy * 100.0)),
                val.and_then(|v| v.macro_f1)
                    .map_or("-".into(), |f1| format!("{f1:.4}")),
                format!("{:.2e}", e.learning_rate),
                format!("{:.0}", e.samples_per_second),
                format!("{:.1}", e.epoch_seconds),
            ]
            .into_iter()
            .map(|c| Cell::new(c).set_alignment(CellAlignment::Right)),
        );
    }
    epochs
}

/// A regression's epochs: losses, then RMSE and R² in the targets' units.
fn regression_table(s: &RunSummary) -> Table {
    let mut epochs = Table::new();
    epochs.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "epoch",
        "train loss",
        "train RMSE",
        "val loss",
        "val RMSE",
        "val MAE",
        "val R²",
        "lr",
        "samples/s",
        "time s",
    ]);
    let show = |m: Option<&kiln_train::SplitMetrics>, name: &str| {
        m.and_then(|m| m.get(name))
            .map_or("-".into(), kiln_report::render::number)
    };
    for e in &s.outcome_epochs {
        let val = e.validation.as_ref();
        let mark = if e.epoch == s.best_epoch { " *" } else { "" };
        epochs.add_row(
            vec![
                format!("{}{mark}", e.epoch),
                format!("{:.4}", e.train.loss),
                show(Some(&e.train), "rmse"),
                val.map_or("-".into(), |v| format!("{:.4}", v.loss)),
                show(val, "rmse"),
                show(val, "mae"),
                val.and_then(|v| v.get("r2"))
                    .map_or("-".into(), |r2| format!("{r2:.4}")),
                format!("{:.2e}", e.learning_rate),
                format!("{:.0}", e.samples_per_second),
                format!("{:.1}", e.epoch_seconds),
            ]
            .into_iter()
            .map(|c| Cell::new(c).set_alignment(CellAlignment::Right)),
        );
    }
    epochs
}

pub fn print(s: &RunSummary) {
    let mean_sps = s
        .outcome_epochs
        .iter()
        .map(|e| e.samples_per_second)
        .sum::<f64>()
        / s.outcome_epochs.len().max(1) as f64;
    println!("{}", table(s));
    let scores: String = s
        .test
        .macro_f1
        .map(|f1| format!(", macro F1 {f1:.4}"))
        .into_iter()
        .chain(
            s.test
                .extra
                .iter()
                .map(|(name, v)| format!(", {name} {v:.4}")),
        )
        .collect();
    let accuracy = if s.test.accuracy.is_nan() {
        String::new()
    } else {
        format!(" accuracy {:.2}%,", s.test.accuracy * 100.0)
    };
    println!(
        "{}: {}{accuracy} loss {:.4}{scores} (best epoch {} of {}{}), {:.0} samples/s, training {:.1} s",
        s.experiment.name,
        s.test_split,
        s.test.loss,
        s.best_epoch,
        s.outcome_epochs.len(),
        if s.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        mean_sps,
        s.train_seconds
    );
    println!("results: {}", s.run.root.display());
}
