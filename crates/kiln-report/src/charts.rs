//! Charts across runs, drawn with plotters into PNG or SVG (by the file's extension):
//! overlaid learning curves with a band over seeds, a bar chart with error bars, a
//! scatter of a metric against a parameter, and a classifier's confusion matrix.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;
use crate::group::Stats;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (860, 520);

/// matplotlib's ten colours, which readers know.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Makes the embedded font plotters' `sans-serif`, so that no system font is needed.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVuSans.ttf is a valid font"));
    });
}

/// What a band around a grouped curve shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// Mean ± one sample standard deviation.
    Std,
    /// The lowest and highest run.
    MinMax,
}

/// One line of a curves chart: a single run, or a group of runs drawn as mean and band.
#[derive(Debug, Clone)]
pub struct CurveGroup {
    pub label: String,
    /// Each run's (epoch, value) points.
    pub runs: Vec<Vec<(f64, f64)>>,
}

/// One trial of a population: its values from the epoch it took up its parent's weights
/// (the parent's value there) on, coloured by its population member.
#[derive(Debug, Clone)]
pub struct Branch {
    pub member: usize,
    pub points: Vec<(f64, f64)>,
    /// It took up another trial's weights at its first point.
    pub forked: bool,
    /// On the line of descent of the population's best trial: drawn bold.
    pub best_line: bool,
}

/// One axis of a parallel-coordinates chart, with labels at places between 0 (its bottom)
/// and 1 (its top).
#[derive(Debug, Clone)]
pub struct ParallelAxis {
    pub name: String,
    pub ticks: Vec<(f64, String)>,
}

/// One trial across the axes: its place on each, between 0 and 1, and its metric.
#[derive(Debug, Clone)]
pub struct ParallelLine {
    pub places: Vec<f64>,
    pub value: f64,
}

/// One bar: a group's label and its statistics.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub stats: Stats,
}

/// One scatter point, coloured by its group.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub group: usize,
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone)]
pub enum Chart {
    Curves {
        metric: String,
        groups: Vec<CurveGroup>,
        band: Band,
    },
    Bars {
        metric: String,
        bars: Vec<Bar>,
        band: Band,
    },
    Scatter {
        metric: String,
        parameter: String,
        groups: Vec<String>,
        points: Vec<Point>,
    },
    /// A regression's test rows: predicted against actual values with the diagonal where
    /// they agree, or (`residuals`) actual minus predicted against predicted, around zero.
    Fit {
        title: String,
        target: String,
        actual: Vec<f64>,
        predicted: Vec<f64>,
        residuals: bool,
    },
    /// Searches and sweeps side by side: the best `metric` so far against the trial-seconds
    /// spent (or, `per_trial`, against the trials in the order they were proposed), each line
    /// one sweep's (x, best) steps, with the `target` as a dashed line.
    Progress {
        metric: String,
        lines: Vec<(String, Vec<(f64, f64)>)>,
        target: Option<f64>,
        per_trial: bool,
    },
    /// A search's parameters side by side, one vertical axis each, one line per trial through
    /// its values, coloured by `metric` (the best bright and drawn last).
    Parallel {
        metric: String,
        higher_is_better: bool,
        axes: Vec<ParallelAxis>,
        lines: Vec<ParallelLine>,
    },
    /// How much of `metric`'s variance each parameter explains alone, largest first.
    Importance {
        metric: String,
        shares: Vec<(String, f64)>,
    },
    /// A population-based search's family tree: `value` (a metric, or a searched key) per
    /// epoch for every trial, a dot where a trial took up another's weights, the best
    /// trial's line of descent bold.
    Lineage {
        title: String,
        value: String,
        branches: Vec<Branch>,
    },
    /// `counts[actual][predicted]`, shaded by the share of each actual class's items.
    Confusion {
        title: String,
        classes: Vec<String>,
        counts: Vec<Vec<u64>>,
    },
}

impl Chart {
    /// Draws into `path`; `.svg` gives SVG, anything else PNG. The file is drawn under a
    /// hidden name beside it and renamed into place, so a reader (or a crash) never sees
    /// half a chart; that name is reused, so no strays pile up.
    pub fn save(&self, path: &Path) -> Result<(), ReportError> {
        register_font();
        let fail = |e: String| ReportError::Chart(format!("{}: {e}", path.display()));
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("png");
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        let partial = path.with_file_name(format!(".{name}.partial.{ext}"));
        match ext {
            "svg" => self.draw(SVGBackend::new(&partial, SIZE).into_drawing_area()),
            _ => self.draw(BitMapBackend::new(&partial, SIZE).into_drawing_area()),
        }
        .map_err(fail)?;
        std::fs::rename(&partial, path).map_err(|e| fail(e.to_string()))
    }

    /// The chart as an SVG document, for embedding in a page.
    pub fn svg(&self) -> Result<String, ReportError> {
        register_font();
        let mut out = String::new();
        self.draw(SVGBackend::with_string(&mut out, SIZE).into_drawing_area())
            .map_err(ReportError::Chart)?;
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        match self {
            Chart::Curves {
                metric,
                groups,
                band,
            } => curves(&root, metric, groups, *band),
            Chart::Bars { metric, bars, band } => bar_chart(&root, metric, bars, *band),
            Chart::Scatter {
                metric,
                parameter,
                groups,
                points,
            } => scatter(&root, metric, parameter, groups, points),
            Chart::Fit {
                title,
                target,
                actual,
                predicted,
                residuals,
            } => fit(&root, title, target, actual, predicted, *residuals),
            Chart::Confusion {
                title,
                classes,
                counts,
            } => confusion(&root, title, classes, counts),
            Chart::Progress {
                metric,
                lines,
                target,
                per_trial,
            } => progress(&root, metric, lines, *target, *per_trial),
            Chart::Parallel {
                metric,
                higher_is_better,
                axes,
                lines,
            } => parallel(&root, metric, *higher_is_better, axes, lines),
            Chart::Importance { metric, shares } => importance(&root, metric, shares),
            Chart::Lineage {
                title,
                value,
                branches,
            } => lineage(&root, title, value, branches),
        }?;
        root.present().map_err(|e| e.to_string())
    }
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// A label short enough for an axis or a legend.
fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// (epoch, mean, low, high) of a band.
pub type BandPoint = (f64, f64, f64, f64);

/// Per epoch: the mean and the band's low and high, over the runs that reached that epoch.
pub fn band_points(runs: &[Vec<(f64, f64)>], band: Band) -> Vec<BandPoint> {
    let mut by_epoch: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
    for run in runs {
        for &(x, y) in run.iter().filter(|(_, y)| y.is_finite()) {
            by_epoch
                .entry((x * 1000.0).round() as i64)
                .or_insert((x, Vec::new()))
                .1
                .push(y);
        }
    }
    by_epoch
        .into_values()
        .filter_map(|(x, ys)| {
            let s = Stats::of(&ys)?;
            let (lo, hi) = spread(&s, band);
            Some((x, s.mean, lo, hi))
        })
        .collect()
}

fn spread(s: &Stats, band: Band) -> (f64, f64) {
    match band {
        Band::Std => {
            let d = s.std.unwrap_or(0.0);
            (s.mean - d, s.mean + d)
        }
        Band::MinMax => (s.min, s.max),
    }
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3).max(1e-6);
    (lo - pad, hi + pad)
}

/// The caption, margins and axis label areas every chart here shares.
fn frame<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: String,
    size: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, ("sans-serif", size))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70);
    builder
}

fn curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    groups: &[CurveGroup],
    band: Band,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let lines: Vec<(String, usize, Vec<BandPoint>)> = groups
        .iter()
        .map(|g| (g.label.clone(), g.runs.len(), band_points(&g.runs, band)))
        .collect();
    let all = lines.iter().flat_map(|(_, _, p)| p.iter());
    let (x_max, lo, hi) = all.fold((1.0f64, f64::MAX, f64::MIN), |(x, lo, hi), p| {
        (x.max(p.0), lo.min(p.2), hi.max(p.3))
    });
    let (lo, hi) = padded(lo, hi);
    let grouped = groups.iter().any(|g| g.runs.len() > 1);
    let caption = if grouped {
        format!(
            "{metric} per epoch (mean, band: {})",
            match band {
                Band::Std => "± 1 std",
                Band::MinMax => "min to max",
            }
        )
    } else {
        format!("{metric} per epoch")
    };
    let mut chart = frame(root, caption, 22)
        .build_cartesian_2d(1f64..x_max.max(2.0), lo..hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels((x_max as usize).clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(metric)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    for (i, (label, n, points)) in lines.iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let c = color(i);
        if *n > 1 && points.len() > 1 {
            let mut outline: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.3)).collect();
            outline.extend(points.iter().rev().map(|p| (p.0, p.2)));
            chart
                .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))
                .map_err(e)?;
        }
        let legend = if *n > 1 {
            format!("{} (n={n})", short(label, 40))
        } else {
            short(label, 44)
        };
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(e)?
            .label(legend)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    metric_legend(&mut chart, metric)
}

/// The legend of lines of `metric`, out of the way of curves that fall (losses) or rise
/// (accuracies).
fn metric_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    metric: &str,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(if metric.contains("loss") {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()
        .map_err(e)
}

fn progress<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    target: Option<f64>,
    per_trial: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let points = || lines.iter().flat_map(|(_, p)| p.iter());
    let x_max = points().fold(1.0f64, |m, p| m.max(p.0));
    let (lo, hi) = points()
        .map(|p| p.1)
        .chain(target)
        .fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = padded(lo, hi);
    let x_name = if per_trial {
        "trials"
    } else {
        "the trial-seconds spent"
    };
    let mut chart = frame(root, format!("best {metric} so far against {x_name}"), 22)
        .build_cartesian_2d(0f64..x_max * 1.02, lo..hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(if per_trial {
            "trials, in the order they were proposed"
        } else {
            "trial-seconds (training and validation, every trial, pruned ones included)"
        })
        .x_label_formatter(&|v| {
            if per_trial {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .y_desc(metric)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    if let Some(t) = target {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, t), (x_max * 1.02, t)],
                6,
                4,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(e)?;
    }
    for (i, (label, steps)) in lines.iter().enumerate() {
        let c = color(i);
        // A step line: the best holds until the next improvement.
        let mut path: Vec<(f64, f64)> = Vec::new();
        for &(x, y) in steps {
            if let Some(&(_, previous)) = path.last() {
                path.push((x, previous));
            }
            path.push((x, y));
        }
        chart
            .draw_series(LineSeries::new(path, c.stroke_width(2)))
            .map_err(e)?
            .label(short(label, 44))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    metric_legend(&mut chart, metric)
}

fn lineage<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    value: &str,
    branches: &[Branch],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let points = || branches.iter().flat_map(|b| b.points.iter());
    let x_max = points().fold(2.0f64, |m, p| m.max(p.0));
    let (lo, hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    // Values over more than a factor of ten (learning rates, say) on a log axis.
    let log = lo > 0.0 && hi / lo > 10.0;
    let y = |v: f64| if log { v.log10() } else { v };
    let (lo, hi) = padded(y(lo), y(hi));
    let mut chart = frame(root, title.to_string(), 22)
        .build_cartesian_2d(1f64..x_max, lo..hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels((x_max as usize).clamp(2, 12))
        .y_desc(if log {
            format!("{value} (log scale)")
        } else {
            value.to_string()
        })
        .y_label_formatter(&|v| {
            if log {
                format!("{:.1e}", 10f64.powf(*v))
            } else {
                format!("{v:.3}")
            }
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let members = branches.iter().map(|b| b.member + 1).max().unwrap_or(0);
    for m in 0..members {
        let c = color(m);
        for (i, b) in branches.iter().filter(|b| b.member == m).enumerate() {
            let style = if b.best_line {
                c.stroke_width(4)
            } else {
                c.mix(0.7).stroke_width(1)
            };
            let drawn = chart
                .draw_series(LineSeries::new(
                    b.points.iter().map(|p| (p.0, y(p.1))),
                    style,
                ))
                .map_err(e)?;
            if i == 0 {
                drawn
                    .label(format!("member {}", m + 1))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
        }
    }
    // Where a trial took up another's weights.
    let forks = branches
        .iter()
        .filter(|b| b.forked && !b.points.is_empty())
        .map(|b| {
            Circle::new(
                (b.points[0].0, y(b.points[0].1)),
                4,
                color(b.member).filled(),
            )
        });
    chart.draw_series(forks).map_err(e)?;
    metric_legend(&mut chart, value)
}

fn parallel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    higher_is_better: bool,
    axes: &[ParallelAxis],
    lines: &[ParallelLine],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    use plotters::style::colors::colormaps::ViridisRGB;
    let last = axes.len().saturating_sub(1).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("parameters of each trial, coloured by {metric} (brightest best)"),
            ("sans-serif", 22),
        )
        .margin(16)
        .margin_left(40)
        .margin_right(40)
        .build_cartesian_2d(-0.15f64..last + 0.15, -0.12f64..1.12)
        .map_err(e)?;
    let (lo, hi) = lines.iter().fold((f64::MAX, f64::MIN), |(lo, hi), l| {
        (lo.min(l.value), hi.max(l.value))
    });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let goodness = |v: f64| {
        let g = (v - lo) / span;
        if higher_is_better { g } else { 1.0 - g }
    };
    let mut order: Vec<&ParallelLine> = lines.iter().collect();
    order.sort_by(|a, b| goodness(a.value).total_cmp(&goodness(b.value)));
    for line in order {
        let c = ViridisRGB::get_color(goodness(line.value) as f32);
        let path: Vec<(f64, f64)> = line
            .places
            .iter()
            .enumerate()
            .map(|(i, y)| (i as f64, *y))
            .collect();
        chart
            .draw_series(LineSeries::new(path, c.mix(0.8).stroke_width(2)))
            .map_err(e)?;
    }
    for (i, axis) in axes.iter().enumerate() {
        let x = i as f64;
        chart
            .draw_series(LineSeries::new([(x, 0.0), (x, 1.0)], BLACK.stroke_width(1)))
            .map_err(e)?;
        let centred = ("sans-serif", 14)
            .into_font()
            .into_text_style(root)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series([Text::new(short(&axis.name, 24), (x, 1.08), centred.clone())])
            .map_err(e)?;
        let ticks = ("sans-serif", 12)
            .into_font()
            .into_text_style(root)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (y, label) in &axis.ticks {
            chart
                .draw_series([
                    PathElement::new(vec![(x - 0.02, *y), (x, *y)], BLACK),
                    PathElement::new(vec![(x, *y), (x, *y)], BLACK),
                ])
                .map_err(e)?;
            chart
                .draw_series([Text::new(short(label, 14), (x + 0.02, *y), ticks.clone())])
                .map_err(e)?;
        }
    }
    Ok(())
}

fn importance<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    shares: &[(String, f64)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let n = shares.len().max(1);
    let mut chart = frame(
        root,
        format!("share of {metric}'s variance each parameter explains alone"),
        22,
    )
    .y_label_area_size(190)
    .build_cartesian_2d(0f64..1.0, (0..n - 1).into_segmented())
    .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("correlation ratio η² (between-group variance / total variance)")
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => shares
                .get(n - 1 - *i)
                .map(|s| short(&s.0, 26))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(shares.iter().enumerate().map(|(i, (_, v))| {
            let row = n - 1 - i;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row)),
                    (v.clamp(0.0, 1.0), SegmentValue::Exact(row + 1)),
                ],
                color(0).mix(0.8).filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            bar
        }))
        .map_err(e)?;
    Ok(())
}

fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    bars: &[Bar],
    band: Band,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let spans: Vec<(f64, f64)> = bars.iter().map(|b| spread(&b.stats, band)).collect();
    let lo = spans.iter().map(|s| s.0).fold(f64::MAX, f64::min);
    let hi = spans.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    // Bars start at zero unless that would squash the differences between them; then the
    // axis is zoomed and the caption says so.
    let from_zero = lo >= 0.0 && (hi - lo) > 0.25 * hi;
    let (y_lo, y_hi) = if from_zero {
        (0.0, padded(0.0, hi).1)
    } else {
        padded(lo, hi)
    };
    let whiskers = match band {
        Band::Std => "± 1 std",
        Band::MinMax => "min to max",
    };
    let caption = format!(
        "{metric} by group (mean, whiskers {whiskers}){}",
        if from_zero { "" } else { ", axis zoomed" }
    );
    let labels: Vec<String> = bars.iter().map(|b| short(&b.label, 22)).collect();
    let n = bars.len().max(1) as u32;
    let mut chart = frame(root, caption, 20)
        // plotters' integer ranges include their end: n bars are 0..n-1.
        .build_cartesian_2d((0u32..n - 1).into_segmented(), y_lo..y_hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n as usize)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(metric)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    let margin = (600 / n / 6).clamp(4, 40);
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let i = i as u32;
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), y_lo),
                    (SegmentValue::Exact(i + 1), b.stats.mean),
                ],
                color(i as usize).mix(0.85).filled(),
            );
            r.set_margin(0, 0, margin, margin);
            r
        }))
        .map_err(e)?;
    chart
        .draw_series(bars.iter().zip(&spans).enumerate().map(|(i, (b, s))| {
            ErrorBar::new_vertical(
                SegmentValue::CenterOf(i as u32),
                s.0,
                b.stats.mean,
                s.1,
                BLACK.stroke_width(2),
                12,
            )
        }))
        .map_err(e)?;
    Ok(())
}

/// Actual classes top to bottom, predicted left to right; a cell's shade is its share of
/// the actual class (its recall on the diagonal), its number the count (up to 30 classes).
fn confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    classes: &[String],
    counts: &[Vec<u64>],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let n = classes.len().max(1) as u32;
    let labels: Vec<String> = classes.iter().map(|c| short(c, 12)).collect();
    let label = |v: &SegmentValue<u32>, flip: bool| match v {
        SegmentValue::CenterOf(i) => {
            let i = if flip { n - 1 - i } else { *i };
            labels.get(i as usize).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    let mut chart = frame(root, title.to_string(), 20)
        .build_cartesian_2d(
            (0u32..n - 1).into_segmented(),
            (0u32..n - 1).into_segmented(),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n as usize)
        .y_labels(n as usize)
        .x_label_formatter(&|v| label(v, false))
        .y_label_formatter(&|v| label(v, true))
        .x_desc("predicted")
        .y_desc("actual")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    let mut cells = Vec::new();
    for (a, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            cells.push((p as u32, n - 1 - a as u32, count, share));
        }
    }
    let blue = color(0);
    let shade = |share: f64| {
        let mix = |c: u8| (255.0 - share * (255.0 - c as f64)).round() as u8;
        RGBColor(mix(blue.0), mix(blue.1), mix(blue.2))
    };
    chart
        .draw_series(cells.iter().map(|&(x, y, _, share)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                shade(share).filled(),
            )
        }))
        .map_err(e)?;
    if n <= 30 {
        let size = if n <= 12 { 14 } else { 10 };
        chart
            .draw_series(cells.iter().map(|&(x, y, count, share)| {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    ("sans-serif", size)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(e)?;
    }
    Ok(())
}

fn scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    parameter: &str,
    groups: &[String],
    points: &[Point],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (x_lo, x_hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.x), hi.max(p.x))
    });
    let (y_lo, y_hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.y), hi.max(p.y))
    });
    let (y_lo, y_hi) = padded(y_lo, y_hi);
    // Learning rates and weight decays span decades: read them on a log axis.
    if x_lo > 0.0 && x_hi / x_lo >= 50.0 {
        let x = (x_lo / 1.5..x_hi * 1.5).log_scale();
        scatter_on(root, x, (y_lo, y_hi), metric, parameter, groups, points)
    } else {
        let (x_lo, x_hi) = padded(x_lo, x_hi);
        scatter_on(
            root,
            x_lo..x_hi,
            (y_lo, y_hi),
            metric,
            parameter,
            groups,
            points,
        )
    }
}

fn fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    target: &str,
    actual: &[f64],
    predicted: &[f64],
    residuals: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let points: Vec<(f64, f64)> = if residuals {
        predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (*p, a - p))
            .collect()
    } else {
        actual
            .iter()
            .zip(predicted)
            .map(|(a, p)| (*a, *p))
            .collect()
    };
    let span = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let (x_lo, x_hi) = span(&mut points.iter().map(|p| p.0));
    let (y_lo, y_hi) = span(&mut points.iter().map(|p| p.1));
    // Predicted against actual: one scale on both axes, so the diagonal is at 45 degrees.
    let ((x_lo, x_hi), (y_lo, y_hi)) = if residuals {
        (padded(x_lo, x_hi), padded(y_lo.min(0.0), y_hi.max(0.0)))
    } else {
        let both = padded(x_lo.min(y_lo), x_hi.max(y_hi));
        (both, both)
    };
    let (x_desc, y_desc) = if residuals {
        (
            format!("predicted {target}"),
            "actual - predicted".to_string(),
        )
    } else {
        (format!("actual {target}"), format!("predicted {target}"))
    };
    let mut chart = frame(root, title.to_string(), 22)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| crate::render::number(*v))
        .y_label_formatter(&|v| crate::render::number(*v))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let line = if residuals {
        vec![(x_lo, 0.0), (x_hi, 0.0)]
    } else {
        vec![(x_lo, x_lo), (x_hi, x_hi)]
    };
    chart
        .draw_series(LineSeries::new(line, BLACK.stroke_width(1)))
        .map_err(e)?;
    let c = color(0);
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 2, c.mix(0.5).filled())),
        )
        .map_err(e)?;
    Ok(())
}

fn scatter_on<DB: DrawingBackend, X>(
    root: &DrawingArea<DB, Shift>,
    x: X,
    (y_lo, y_hi): (f64, f64),
    metric: &str,
    parameter: &str,
    groups: &[String],
    points: &[Point],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = frame(root, format!("{metric} against {parameter}"), 22)
        .build_cartesian_2d(x, y_lo..y_hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(parameter)
        .x_label_formatter(&|v| crate::render::number(*v))
        .y_desc(metric)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let groups: Vec<&str> = if groups.is_empty() {
        vec![""]
    } else {
        groups.iter().map(String::as_str).collect()
    };
    for (g, label) in groups.iter().enumerate() {
        let c = color(g);
        let series = chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.group == g)
                    .map(|p| Circle::new((p.x, p.y), 5, c.filled())),
            )
            .map_err(e)?;
        if !label.is_empty() {
            series
                .label(short(label, 40))
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
        }
    }
    if groups.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f64]) -> Stats {
        Stats::of(v).unwrap()
    }

    #[test]
    fn bands_follow_the_runs_that_reached_each_epoch() {
        let runs = vec![
            vec![(1.0, 0.5), (2.0, 0.7), (3.0, 0.8)],
            vec![(1.0, 0.7), (2.0, 0.9)],
        ];
        let p = band_points(&runs, Band::MinMax);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], (1.0, 0.6, 0.5, 0.7));
        assert_eq!(p[2], (3.0, 0.8, 0.8, 0.8), "one run left at epoch 3");
        let p = band_points(&runs, Band::Std);
        let sd = (0.02f64).sqrt();
        assert!((p[1].3 - (0.8 + sd)).abs() < 1e-12, "{:?}", p[1]);
    }

    #[test]
    fn every_chart_draws_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let charts = [
            Chart::Curves {
                metric: "val_accuracy".into(),
                groups: vec![
                    CurveGroup {
                        label: "adam".into(),
                        runs: vec![
                            vec![(1.0, 0.9), (2.0, 0.95)],
                            vec![(1.0, 0.92), (2.0, 0.96)],
                        ],
                    },
                    CurveGroup {
                        label: "sgd".into(),
                        runs: vec![vec![(1.0, 0.8), (2.0, 0.9)]],
                    },
                ],
                band: Band::Std,
            },
            Chart::Bars {
                metric: "test_accuracy".into(),
                bars: vec![
                    Bar {
                        label: "adam".into(),
                        stats: stats(&[0.97, 0.98]),
                    },
                    Bar {
                        label: "sgd".into(),
                        stats: stats(&[0.95, 0.96, 0.955]),
                    },
                ],
                band: Band::Std,
            },
            Chart::Scatter {
                metric: "test_accuracy".into(),
                parameter: "train.learning_rate".into(),
                groups: vec!["adam".into(), "sgd".into()],
                points: vec![
                    Point {
                        group: 0,
                        x: 1e-4,
                        y: 0.9,
                    },
                    Point {
                        group: 0,
                        x: 1e-3,
                        y: 0.97,
                    },
                    Point {
                        group: 1,
                        x: 1e-1,
                        y: 0.95,
                    },
                ],
            },
            Chart::Confusion {
                title: "test: accuracy 75.00 %".into(),
                classes: vec!["neg".into(), "pos".into()],
                counts: vec![vec![40, 10], vec![15, 35]],
            },
            Chart::Progress {
                metric: "val_accuracy".into(),
                lines: vec![
                    ("grid".into(), vec![(1.0, 0.9), (5.0, 0.95), (9.0, 0.97)]),
                    ("asha".into(), vec![(0.5, 0.92), (2.0, 0.96)]),
                ],
                target: Some(0.96),
                per_trial: false,
            },
            Chart::Lineage {
                title: "val_accuracy of each trial of the population".into(),
                value: "val_accuracy".into(),
                branches: vec![
                    Branch {
                        member: 0,
                        points: vec![(1.0, 0.5), (2.0, 0.7), (3.0, 0.8)],
                        forked: false,
                        best_line: true,
                    },
                    Branch {
                        member: 1,
                        points: vec![(1.0, 0.4), (2.0, 0.45)],
                        forked: false,
                        best_line: false,
                    },
                    Branch {
                        member: 1,
                        points: vec![(2.0, 0.7), (3.0, 0.75)],
                        forked: true,
                        best_line: false,
                    },
                ],
            },
        ];
        for (i, chart) in charts.iter().enumerate() {
            let svg = chart.svg().unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("accuracy"), "{svg}");
            let png = dir.path().join(format!("{i}.png"));
            chart.save(&png).unwrap();
            assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        }
        let bars = charts[1].svg().unwrap();
        assert!(bars.contains("adam") && bars.contains("sgd") && bars.contains("axis zoomed"));
        let progress = charts[4].svg().unwrap();
        for text in ["grid", "asha", "trial-seconds", "so far"] {
            assert!(progress.contains(text), "{text} not in {progress}");
        }
        let lineage = charts[5].svg().unwrap();
        for text in ["member 1", "member 2", "epoch", "population", "<circle"] {
            assert!(lineage.contains(text), "{text} not in {lineage}");
        }
        // The bold line of descent and one dot where member 2 took up member 1's weights.
        assert!(lineage.contains("stroke-width=\"4\""), "{lineage}");
        assert_eq!(lineage.matches("<circle").count(), 1);
        let confusion = charts[3].svg().unwrap();
        for text in ["neg", "pos", "predicted", "actual", "\n40\n", "\n15\n"] {
            assert!(confusion.contains(text), "{text} not in {confusion}");
        }
    }
}
