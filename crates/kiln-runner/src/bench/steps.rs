//! `kiln bench`: the training throughput of an experiment on its backend, through the same
//! `fit` loop a run uses, without a run folder, evaluation or checkpoints.
//!
//! The first `warmup` steps are left out of the figure: wgpu compiles its kernels there (12 to
//! 19 s of the standard workloads on lavapipe) and every backend fills its allocator. Peak
//! memory is the process's peak resident set, which covers flex, libtorch on the CPU and
//! lavapipe, but not a GPU's own memory. One process per measurement keeps one workload's
//! peak out of the next.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use kiln_report::render::{Format, render};
use polars::prelude::*;

use kiln_train::{StepObserver, StepRecord};
use serde::Serialize;

use crate::backend;
use crate::config::LoadedExperiment;

/// What one measurement found; `kiln bench` prints it as one JSON line.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BenchResult {
    pub experiment: String,
    pub backend: String,
    pub device: String,
    pub batch_size: usize,
    pub warmup_steps: usize,
    pub steps: usize,
    pub samples: usize,
    pub seconds: f64,
    pub samples_per_second: f64,
    /// Wall time of the warm-up steps, kernel compilation included.
    pub warmup_seconds: f64,
    /// Peak resident memory of the process (VmHWM), in MiB; `None` off Linux.
    pub peak_rss_mib: Option<f64>,
    /// Resident memory once the data and the model were ready, before the first step: what
    /// the peak adds to it is training's own.
    pub ready_rss_mib: Option<f64>,
}

/// Times `steps` training steps after `warmup` ones.
pub fn bench(
    loaded: &LoadedExperiment,
    warmup: usize,
    steps: usize,
) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(steps > 0, "--steps: must be at least 1");
    let exp = &loaded.experiment;
    let task = crate::tasks::for_file(exp, &loaded.file)?;
    let device = backend::device(exp.backend, &exp.device, exp.seed)?;
    let prepared = task.prepare(loaded)?;
    let mut timer = StepTimer::new(warmup, warmup + steps);
    let fitted = prepared.train_steps(exp, warmup + steps, &device, &mut timer);
    let ready_rss_mib = timer.ready_rss_mib;
    match fitted {
        Ok(()) | Err(kiln_train::TrainError::Interrupted { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    anyhow::ensure!(
        timer.timed_steps > 0,
        "the training split has too few batches for {warmup} warm-up steps; lower --warmup"
    );
    let seconds = timer.timed.as_secs_f64();
    Ok(BenchResult {
        experiment: exp.name.clone(),
        backend: exp.backend.name().to_string(),
        device: backend::describe(&device),
        batch_size: exp.train.batch_size,
        warmup_steps: warmup,
        steps: timer.timed_steps,
        samples: timer.timed_samples,
        seconds,
        samples_per_second: timer.timed_samples as f64 / seconds,
        warmup_seconds: timer.warmup.as_secs_f64(),
        peak_rss_mib: rss_mib("VmHWM:"),
        ready_rss_mib,
    })
}

/// One measurement to make: an experiment file with its overrides (the backend's included).
pub struct Measurement {
    pub file: PathBuf,
    pub sets: Vec<String>,
}

impl Measurement {
    /// Every file on every backend (each file's own backend when `backends` is empty).
    pub fn all(files: &[PathBuf], backends: &[String], sets: &[String]) -> Vec<Self> {
        let per_backend: Vec<Vec<String>> = if backends.is_empty() {
            vec![sets.to_vec()]
        } else {
            backends
                .iter()
                .map(|b| [sets, &[format!("backend={b}")]].concat())
                .collect()
        };
        files
            .iter()
            .flat_map(|file| {
                per_backend.iter().map(|sets| Measurement {
                    file: file.clone(),
                    sets: sets.clone(),
                })
            })
            .collect()
    }

    /// The experiment this measures, which must be one configuration, not a sweep.
    pub fn load(&self) -> anyhow::Result<LoadedExperiment> {
        match crate::config::plan(&self.file, &self.sets)? {
            crate::config::Plan::Single(loaded) => Ok(*loaded),
            crate::config::Plan::Sweep(_) | crate::config::Plan::Search(_) => anyhow::bail!(
                "{}: bench times one configuration at a time, and this file is a sweep; use --backends instead of a backends list, and --set for the rest",
                self.file.display()
            ),
        }
    }

    /// Loads the experiment and opens its device, so that a typo or a missing backend is
    /// found before the first measurement starts.
    pub fn check(&self) -> anyhow::Result<()> {
        let exp = self.load()?.experiment;
        backend::device(exp.backend, &exp.device, exp.seed)?;
        Ok(())
    }
}

/// Makes each measurement in its own `kiln bench --one` process, one after another, and
/// returns the results in order.
pub fn measure_all(
    measurements: &[Measurement],
    warmup: usize,
    steps: usize,
) -> anyhow::Result<Vec<BenchResult>> {
    measurements
        .iter()
        .map(|m| measure_one(m, warmup, steps))
        .collect()
}

/// One measurement in a fresh `kiln bench --one` process.
pub fn measure_one(m: &Measurement, warmup: usize, steps: usize) -> anyhow::Result<BenchResult> {
    let exe = std::env::current_exe().context("finding the kiln binary")?;
    let shown = format!("{} {}", m.file.display(), m.sets.join(" "));
    let shown = shown.trim_end();
    eprintln!("bench: {shown}");
    let mut cmd = Command::new(&exe);
    cmd.args(["--quiet", "bench", "--one"])
        .arg(&m.file)
        .args(["--warmup", &warmup.to_string()])
        .args(["--steps", &steps.to_string()]);
    for set in &m.sets {
        cmd.args(["--set", set]);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", exe.display()))?;
    anyhow::ensure!(out.status.success(), "bench of {shown} failed");
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .with_context(|| format!("reading the bench of {shown}: {line}"))
}

/// The measurements as a table in `format`.
pub fn table(results: &[BenchResult], format: Format) -> anyhow::Result<String> {
    let text = |f: fn(&BenchResult) -> String| -> Vec<String> { results.iter().map(f).collect() };
    let num = |f: fn(&BenchResult) -> f64| -> Vec<f64> { results.iter().map(f).collect() };
    let mib = |f: fn(&BenchResult) -> Option<f64>| -> Vec<Option<i64>> {
        results
            .iter()
            .map(|r| f(r).map(|m| m.round() as i64))
            .collect()
    };
    let frame = DataFrame::new_infer_height(vec![
        Column::new("workload".into(), text(|r| r.experiment.clone())),
        Column::new("backend".into(), text(|r| r.backend.clone())),
        Column::new("device".into(), text(|r| r.device.clone())),
        Column::new(
            "batch".into(),
            results
                .iter()
                .map(|r| r.batch_size as u64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "samples/s".into(),
            results
                .iter()
                .map(|r| r.samples_per_second.round() as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "ms/step".into(),
            num(|r| 1000.0 * r.seconds / r.steps as f64),
        ),
        Column::new("warm-up s".into(), num(|r| r.warmup_seconds)),
        Column::new("ready RSS MiB".into(), mib(|r| r.ready_rss_mib)),
        Column::new("peak RSS MiB".into(), mib(|r| r.peak_rss_mib)),
    ])?;
    Ok(render(&frame, format, &[])?)
}

/// Writes `text` to `path`, making its folder.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    kiln_data::download::write_atomically(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Times each step from the end of the one before (or the start of its epoch), so that the
/// end-of-epoch snapshot is not counted.
struct StepTimer {
    warmup_steps: usize,
    total_steps: usize,
    last: Instant,
    seen: usize,
    warmup: Duration,
    timed: Duration,
    timed_steps: usize,
    timed_samples: usize,
    /// Resident memory when the first epoch starts: data and model ready.
    ready_rss_mib: Option<f64>,
}

impl StepTimer {
    fn new(warmup_steps: usize, total_steps: usize) -> Self {
        Self {
            warmup_steps,
            total_steps,
            last: Instant::now(),
            seen: 0,
            warmup: Duration::ZERO,
            timed: Duration::ZERO,
            timed_steps: 0,
            timed_samples: 0,
            ready_rss_mib: None,
        }
    }
}

impl StepObserver for StepTimer {
    fn on_epoch_start(&mut self) {
        if self.seen == 0 {
            self.ready_rss_mib = rss_mib("VmRSS:");
        }
        self.last = Instant::now();
    }

    fn on_step(&mut self, step: &StepRecord) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        self.seen += 1;
        if self.seen <= self.warmup_steps {
            self.warmup += took;
        } else {
            self.timed += took;
            self.timed_steps += 1;
            self.timed_samples += step.samples;
        }
    }

    fn stop_requested(&self) -> bool {
        self.seen >= self.total_steps
    }
}

/// A memory line of /proc/self/status (`VmHWM:` the peak resident set, `VmRSS:` the
/// current one), in MiB.
fn rss_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(samples: usize) -> StepRecord {
        StepRecord {
            step: 0,
            epoch: 1,
            loss: 1.0,
            accuracy: 0.5,
            learning_rate: 1e-3,
            samples,
        }
    }

    #[test]
    fn warmup_steps_are_left_out_and_the_timer_stops_the_loop() {
        let mut t = StepTimer::new(2, 5);
        let o: &mut dyn StepObserver = &mut t;
        for n in [64, 64, 64, 64] {
            o.on_step(&step(n));
            assert!(!o.stop_requested());
        }
        o.on_step(&step(10));
        assert!(o.stop_requested());
        assert_eq!((t.timed_steps, t.timed_samples), (3, 138));
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            // The current size first: other tests' threads may grow it between the reads.
            let now = rss_mib("VmRSS:").expect("VmRSS in /proc/self/status");
            let peak = rss_mib("VmHWM:").expect("VmHWM in /proc/self/status");
            assert!(now > 1.0 && peak >= now && peak < 1e6, "{now} {peak}");
        }
    }
}
