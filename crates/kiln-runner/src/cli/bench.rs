//! `kiln bench`: training steps timed, alone or beside PyTorch.

use std::path::PathBuf;

use super::args::Sets;
use crate::compare::FormatArg;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Experiment files, e.g. experiments/cnn_mnist.toml.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    sets: Sets,
    /// Comma-separated backends to time each file on; by default the file's own.
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// Steps to leave out first (kernel compilation, allocator warm-up).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Steps to time after the warm-up.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// table, markdown, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Also write the table here.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Measure one file in this process and print one JSON line (what each measurement
    /// process is asked to do).
    #[arg(long, hide = true)]
    one: bool,
    /// Instead of timing, write the warm-up and timed steps' batches (in training order)
    /// and the model's description into this folder, for the PyTorch twin
    /// (`bench/pytorch_workload.py`; `cargo xtask bench --against-pytorch` runs both).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Time each file beside its PyTorch twin, alternately, with this Python (one that
    /// has torch, e.g. the venv `cargo xtask setup tch` makes); prints a Markdown table.
    #[arg(long, value_name = "PYTHON")]
    against_pytorch: Option<PathBuf>,
    /// With --against-pytorch: rounds of kiln and PyTorch, alternately.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// With --against-pytorch: the twin script.
    #[arg(long, value_name = "FILE", default_value = "bench/pytorch_workload.py")]
    pytorch_script: PathBuf,
}

impl BenchArgs {
    pub fn run(self) -> anyhow::Result<()> {
        use crate::bench::steps::{self, Measurement};
        let (warmup, steps, rounds) = (self.warmup, self.steps as usize, self.rounds);
        let output = self.output.as_deref();
        let measurements = Measurement::all(&self.files, &self.backends, &self.sets.sets);
        if let Some(python) = &self.against_pytorch {
            let script = self.pytorch_script.as_path();
            anyhow::ensure!(
                script.is_file(),
                "--pytorch-script {}: no such file (run from the kiln checkout, or name the script)",
                script.display()
            );
            let torch = crate::bench::pytorch::Torch {
                python: python.clone(),
                script: script.to_path_buf(),
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            };
            let exports = std::path::Path::new("results")
                .join("bench")
                .join("workloads");
            let comparisons = crate::bench::pytorch::compare(
                &measurements,
                (warmup, steps, rounds),
                &torch,
                &exports,
            )?;
            let table = crate::bench::pytorch::table(&comparisons, rounds);
            print!("{table}");
            if let Some(path) = output {
                steps::write(path, &table)?;
                println!("written to {}", path.display());
            }
            return Ok(());
        }
        if let Some(dir) = self.export.as_deref() {
            let [only] = measurements.as_slice() else {
                anyhow::bail!(
                    "--export writes one file's workload; give one file and no --backends"
                );
            };
            crate::bench::export::export(&only.load()?, warmup + steps, dir)?;
            println!("{}", dir.display());
            return Ok(());
        }
        if self.one {
            let [only] = measurements.as_slice() else {
                anyhow::bail!("--one measures one file on one backend");
            };
            let r = steps::bench(&only.load()?, warmup, steps)?;
            println!("{}", serde_json::to_string(&r)?);
            return Ok(());
        }
        for m in &measurements {
            m.check()?;
        }
        let results = steps::measure_all(&measurements, warmup, steps)?;
        let table = steps::table(&results, self.format.into())?;
        print!("{table}");
        if let Some(path) = output {
            steps::write(path, &table)?;
            println!("written to {}", path.display());
        }
        Ok(())
    }
}
