//! Learning curves drawn with plotters, as PNG and SVG, with an embedded font so that no
//! system font (or fontconfig) is needed.

use std::path::Path;
use std::sync::Once;

use kiln_train::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (800, 500);
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALIDATION: RGBColor = RGBColor(255, 127, 14);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVuSans.ttf is a valid font"));
    });
}

pub struct Series {
    pub label: &'static str,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
}

/// Loss and accuracy against epoch, train and validation, into `<name>.png` and `<name>.svg`.
pub fn learning_curves(
    epochs: &[EpochRecord],
    out: impl Fn(&str, &str) -> std::path::PathBuf,
) -> anyhow::Result<()> {
    let curve = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, v)))
            .collect()
    };
    let charts = [
        (
            "loss",
            "Loss",
            vec![
                Series {
                    label: "train",
                    points: curve(&|e| Some(e.train.loss)),
                    color: TRAIN,
                },
                Series {
                    label: "validation",
                    points: curve(&|e| e.validation.as_ref().map(|v| v.loss)),
                    color: VALIDATION,
                },
            ],
        ),
        (
            "accuracy",
            "Accuracy",
            vec![
                Series {
                    label: "train",
                    points: curve(&|e| Some(e.train.accuracy)),
                    color: TRAIN,
                },
                Series {
                    label: "validation",
                    points: curve(&|e| e.validation.as_ref().map(|v| v.accuracy)),
                    color: VALIDATION,
                },
            ],
        ),
    ];
    for (name, label, series) in &charts {
        line_chart(&out(name, "png"), label, series)?;
        line_chart(&out(name, "svg"), label, series)?;
    }
    Ok(())
}

/// One chart of `series` against epoch; the format follows the file extension.
pub fn line_chart(path: &Path, y_label: &str, series: &[Series]) -> anyhow::Result<()> {
    register_font();
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            y_label,
            series,
        ),
        _ => draw(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            y_label,
            series,
        ),
    }
    .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    y_label: &str,
    series: &[Series],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let all = series.iter().flat_map(|s| s.points.iter());
    let (x_max, (y_min, y_max)) = all.fold(
        (1.0f64, (f64::MAX, f64::MIN)),
        |(x, (lo, hi)), &(px, py)| (x.max(px), (lo.min(py), hi.max(py))),
    );
    let (y_min, y_max) = if y_min > y_max {
        (0.0, 1.0)
    } else {
        (y_min, y_max)
    };
    let pad = ((y_max - y_min) * 0.08).max(1e-3);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{y_label} per epoch"), ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(1f64..x_max.max(2.0), (y_min - pad)..(y_max + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        // One tick per epoch (up to a dozen), never fractional epochs.
        .x_labels((x_max as usize).clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_png_and_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let series = [Series {
            label: "train",
            points: vec![(1.0, 0.5), (2.0, 0.3), (3.0, 0.2)],
            color: TRAIN,
        }];
        for ext in ["png", "svg"] {
            let path = dir.path().join(format!("c.{ext}"));
            line_chart(&path, "Loss", &series).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.len() > 1000, "{ext}: {} bytes", bytes.len());
        }
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("epoch"));
        assert!(
            std::fs::read(dir.path().join("c.png"))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
    }
}
