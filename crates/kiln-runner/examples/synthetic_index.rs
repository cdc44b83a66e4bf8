//! Writes a synthetic `index.parquet` of many runs, for timing `kiln compare` at scale
//! (`cargo xtask bench compare` runs it).
//!
//!     synthetic_index RESULTS_DIR [RUNS=10000] [PARAMETERS=20]

use kiln_runner::store::index::{Cell, Row, replace};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        anyhow::bail!("usage: synthetic_index RESULTS_DIR [RUNS] [PARAMETERS]");
    };
    let runs: usize = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let params: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let optimizers = ["sgd", "rmsprop", "adam", "adamw"];
    let rows: Vec<Row> = (0..runs)
        .map(|i| {
            let mut r = Row::default();
            let s = |v: String| Cell::Str(Some(v));
            let experiment = format!("exp{}", i % 10);
            let sweep = format!("sweep{}", i % 50);
            r.set("run", s(format!("{experiment}/{sweep}/t{i:05}")));
            r.set("run_id", s(format!("t{i:05}")));
            r.set("experiment", s(experiment));
            r.set("sweep", s(sweep));
            r.set("trial", Cell::I64(Some(i as i64)));
            r.set("configuration", s(format!("config={}", i / 5)));
            let status = if i.is_multiple_of(20) {
                "failed"
            } else {
                "completed"
            };
            r.set("status", s(status.into()));
            r.set("seed", Cell::I64(Some((i % 5) as i64)));
            r.set("backend", s("flex".into()));
            r.set("device", s("cpu".into()));
            for m in ["test_accuracy", "best_val_accuracy", "final_val_accuracy"] {
                r.set(m, Cell::F64(Some(0.9 + 0.1 * rng.random::<f64>())));
            }
            for m in ["test_loss", "best_val_loss", "final_train_loss"] {
                r.set(m, Cell::F64(Some(rng.random::<f64>())));
            }
            r.set(
                "test_macro_f1",
                Cell::F64(Some(0.9 + 0.1 * rng.random::<f64>())),
            );
            r.set(
                "samples_per_second",
                Cell::F64(Some(1e5 * rng.random::<f64>())),
            );
            r.set("epochs", Cell::I64(Some(10)));
            r.set("best_epoch", Cell::I64(Some(rng.random_range(1..=10))));
            r.set("wall_s", Cell::F64(Some(100.0 * rng.random::<f64>())));
            r.set("git_commit", s("0123456789abcdef".into()));
            r.set("git_dirty", Cell::Bool(Some(false)));
            for p in 0..params {
                let name = format!("param.p{p:02}");
                let cell = match p % 4 {
                    0 => Cell::F64(Some(10f64.powf(-4.0 + 3.0 * rng.random::<f64>()))),
                    1 => Cell::I64(Some(1 << rng.random_range(4..9))),
                    2 => s(optimizers[rng.random_range(0..4)].into()),
                    _ => Cell::Bool(Some(rng.random())),
                };
                r.set(&name, cell);
            }
            r
        })
        .collect();
    replace(std::path::Path::new(dir), &rows)?;
    println!("{dir}/index.parquet: {runs} runs, {params} parameters");
    Ok(())
}
