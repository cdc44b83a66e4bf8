//! `kiln bench --against-pytorch`: kiln and its PyTorch twin on the same workloads, in one
//! session, alternately.
//!
//! Each workload is exported once (`bench::export`: the model's config and the exact batches
//! kiln's bench trains on), then every round times kiln (a fresh `kiln bench --one`), PyTorch
//! (`bench/pytorch_workload.py` on the export) and PyTorch with subnormal floats flushed to
//! zero (`torch.set_flush_denormal(True)`, which some CPUs need to run recurrent backward
//! passes at speed; kiln flushes its own tiny gradients). The ratio is kiln's median against
//! the faster PyTorch median, so kiln is held to PyTorch at its best.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::Deserialize;

use crate::bench::steps::{BenchResult, Measurement, measure_one};

/// What `pytorch_workload.py` prints.
#[derive(Debug, Clone, Deserialize)]
pub struct TorchResult {
    pub framework: String,
    pub threads: usize,
    pub samples_per_second: f64,
    pub seconds: f64,
    pub peak_rss_mib: Option<f64>,
}

/// How to run the PyTorch side.
pub struct Torch {
    pub python: PathBuf,
    pub script: PathBuf,
    pub threads: usize,
}

/// One workload's rounds.
pub struct Comparison {
    pub workload: String,
    pub batch: usize,
    /// The training FLOPs of the timed steps, where the model's count is known.
    pub timed_flops: Option<f64>,
    pub kiln: Vec<BenchResult>,
    pub torch: Vec<TorchResult>,
    pub torch_flushed: Vec<TorchResult>,
}

impl Torch {
    fn run(
        &self,
        dir: &Path,
        warmup: usize,
        steps: usize,
        flush: bool,
    ) -> anyhow::Result<TorchResult> {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .arg(dir)
            .args(["--warmup", &warmup.to_string()])
            .args(["--steps", &steps.to_string()])
            .args(["--threads", &self.threads.to_string()]);
        if flush {
            cmd.arg("--flush-denormal");
        }
        let shown = format!(
            "{} {} {}",
            self.python.display(),
            self.script.display(),
            dir.display()
        );
        eprintln!(
            "bench: pytorch{} {}",
            if flush { " (flushed)" } else { "" },
            dir.display()
        );
        let out = cmd
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("starting {shown}"))?;
        anyhow::ensure!(out.status.success(), "{shown} failed");
        let line = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(line.trim()).with_context(|| format!("reading {shown}: {line}"))
    }
}

/// Exports each measurement's workload into `exports`, then times kiln and PyTorch
/// alternately, `rounds` times.
pub fn compare(
    measurements: &[Measurement],
    (warmup, steps, rounds): (usize, usize, usize),
    torch: &Torch,
    exports: &Path,
) -> anyhow::Result<Vec<Comparison>> {
    anyhow::ensure!(rounds > 0, "--rounds: must be at least 1");
    let mut comparisons = Vec::new();
    let mut dirs = Vec::new();
    for m in measurements {
        let loaded = m.load()?;
        let exp = &loaded.experiment;
        anyhow::ensure!(
            exp.backend.name() == "flex",
            "{}: the comparison with PyTorch runs kiln on flex (on the same CPU), not {}",
            m.file.display(),
            exp.backend.name()
        );
        let dir = exports.join(&exp.name);
        let flops = crate::bench::export::export(&loaded, warmup + steps, &dir)?;
        let timed: Option<f64> = flops[warmup..].iter().copied().sum();
        comparisons.push(Comparison {
            workload: exp.name.clone(),
            batch: exp.train.batch_size,
            timed_flops: timed,
            kiln: Vec::new(),
            torch: Vec::new(),
            torch_flushed: Vec::new(),
        });
        dirs.push(dir);
    }
    for round in 0..rounds {
        eprintln!("bench: round {} of {rounds}", round + 1);
        for ((m, dir), c) in measurements.iter().zip(&dirs).zip(&mut comparisons) {
            // Alternate who goes first, so that neither always inherits a warm machine.
            if round % 2 == 0 {
                c.kiln.push(measure_one(m, warmup, steps)?);
                c.torch.push(torch.run(dir, warmup, steps, false)?);
                c.torch_flushed.push(torch.run(dir, warmup, steps, true)?);
            } else {
                c.torch_flushed.push(torch.run(dir, warmup, steps, true)?);
                c.torch.push(torch.run(dir, warmup, steps, false)?);
                c.kiln.push(measure_one(m, warmup, steps)?);
            }
        }
    }
    Ok(comparisons)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `1,234` for a count.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

/// Median, and the range over rounds when there is more than one.
fn spread(v: &[f64]) -> String {
    let m = median(v.to_vec());
    if v.len() < 2 {
        return thousands(m);
    }
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    format!("{} ({}–{})", thousands(m), thousands(lo), thousands(hi))
}

/// The comparison as a Markdown table, with what a reader needs to reproduce it.
pub fn table(comparisons: &[Comparison], rounds: usize) -> String {
    let mut out = String::from(
        "| workload | batch | kiln /s | PyTorch /s | PyTorch, flushed /s | kiln ÷ PyTorch | kiln GFLOP/s | PyTorch GFLOP/s | kiln peak MiB | PyTorch peak MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in comparisons {
        let rate = |v: &[f64]| median(v.to_vec());
        let kiln: Vec<f64> = c.kiln.iter().map(|r| r.samples_per_second).collect();
        let torch: Vec<f64> = c.torch.iter().map(|r| r.samples_per_second).collect();
        let flushed: Vec<f64> = c
            .torch_flushed
            .iter()
            .map(|r| r.samples_per_second)
            .collect();
        let best_torch = rate(&torch).max(rate(&flushed));
        // GFLOP/s from the median time of the same timed steps on both sides.
        let gflops = |seconds: Vec<f64>| {
            c.timed_flops
                .map(|f| format!("{:.0}", f / median(seconds) / 1e9))
                .unwrap_or_else(|| "–".into())
        };
        let kiln_gflops = gflops(c.kiln.iter().map(|r| r.seconds).collect());
        let torch_seconds = if rate(&flushed) > rate(&torch) {
            &c.torch_flushed
        } else {
            &c.torch
        };
        let torch_gflops = gflops(torch_seconds.iter().map(|r| r.seconds).collect());
        let peak = |v: Vec<Option<f64>>| {
            let v: Vec<f64> = v.into_iter().flatten().collect();
            if v.is_empty() {
                "–".to_string()
            } else {
                format!("{:.0}", v.iter().cloned().fold(f64::MIN, f64::max))
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |\n",
            c.workload,
            c.batch,
            spread(&kiln),
            spread(&torch),
            spread(&flushed),
            rate(&kiln) / best_torch,
            kiln_gflops,
            torch_gflops,
            peak(c.kiln.iter().map(|r| r.peak_rss_mib).collect()),
            peak(
                c.torch
                    .iter()
                    .chain(&c.torch_flushed)
                    .map(|r| r.peak_rss_mib)
                    .collect()
            ),
        ));
    }
    if let Some(t) = comparisons.iter().find_map(|c| c.torch.first()) {
        out.push_str(&format!(
            "\nMedians over {rounds} rounds (range in brackets), kiln and PyTorch alternately in one session; {} on {} threads; samples/s counts tokens for a language model. kiln ÷ PyTorch is against the faster PyTorch column. GFLOP/s: 6 × the forward pass's multiply-adds (`kiln_models::flops`) over the timed steps' median time.\n",
            t.framework, t.threads
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(spread(&[3.0, 1.0, 2.0]), "2 (1–3)");
        assert_eq!(spread(&[5.0]), "5");
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
