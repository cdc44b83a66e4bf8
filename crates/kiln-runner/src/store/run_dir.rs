//! The results layout: `results/<experiment>/<run-id>/` and the names of what goes in it.
//! Only the runner knows this layout.

use std::io;
use std::path::{Path, PathBuf};

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
    pub id: String,
}

impl RunDir {
    /// Creates a fresh folder named after the start time and seed, never reusing one.
    pub fn create(
        results: &Path,
        experiment: &str,
        seed: u64,
        started: chrono::DateTime<chrono::Utc>,
    ) -> io::Result<Self> {
        let base = format!("{}-s{seed}", started.format("%Y%m%d-%H%M%S"));
        Self::create_named(&results.join(experiment), &base)
    }

    /// The folder name of a sweep's trial (1-based) before any `-2` suffix.
    pub fn trial_base(trial: usize, seed: u64) -> String {
        format!("t{trial:03}-s{seed}")
    }

    /// Whether `name` is a folder [`RunDir::create_named`] made from `base`.
    pub fn is_attempt_of(name: &str, base: &str) -> bool {
        name.strip_prefix(base).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('-')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    /// A fresh folder `<parent>/<base>`, or `<base>-2`, `-3`... when taken.
    pub fn create_named(parent: &Path, base: &str) -> io::Result<Self> {
        std::fs::create_dir_all(parent)?;
        for attempt in 1.. {
            let id = if attempt == 1 {
                base.to_string()
            } else {
                format!("{base}-{attempt}")
            };
            let root = parent.join(&id);
            match std::fs::create_dir(&root) {
                Ok(()) => {
                    for sub in ["metrics", "charts", "checkpoints"] {
                        std::fs::create_dir(root.join(sub))?;
                    }
                    return Ok(Self { root, id });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("attempts are unbounded")
    }

    /// An existing run folder, named by its path.
    pub fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            id: root
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    pub fn metrics(&self, table: &str, ext: &str) -> PathBuf {
        self.root.join("metrics").join(format!("{table}.{ext}"))
    }
    pub fn chart(&self, name: &str, ext: &str) -> PathBuf {
        self.root.join("charts").join(format!("{name}.{ext}"))
    }
    pub fn best_checkpoint(&self) -> PathBuf {
        self.root.join("checkpoints").join("best.bpk")
    }
    /// Where training checkpoints go, one folder each (see [`TrainingCheckpoint`]).
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// The training checkpoint taken after `step` steps.
    pub fn training_checkpoint(&self, step: usize) -> TrainingCheckpoint {
        TrainingCheckpoint {
            dir: self.checkpoints().join(format!("step-{step:09}")),
        }
    }
    /// The folder a checkpoint is written into before it is renamed into place.
    pub fn partial_checkpoint(&self, step: usize) -> TrainingCheckpoint {
        TrainingCheckpoint {
            dir: self.checkpoints().join(format!(".step-{step:09}.partial")),
        }
    }
    /// A population member's checkpoint at the end of `epoch`, kept (hard links) while the
    /// trial trains on, for the members that take up its weights there.
    pub fn snapshot(&self, epoch: usize) -> TrainingCheckpoint {
        TrainingCheckpoint {
            dir: self
                .root
                .join("snapshots")
                .join(format!("epoch-{epoch:04}")),
        }
    }
    pub fn partial_snapshot(&self, epoch: usize) -> TrainingCheckpoint {
        TrainingCheckpoint {
            dir: self
                .root
                .join("snapshots")
                .join(format!(".epoch-{epoch:04}.partial")),
        }
    }
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// The step of a training checkpoint's folder name, `None` for anything else.
    pub fn checkpoint_step(name: &str) -> Option<usize> {
        name.strip_prefix("step-")?.parse().ok()
    }
    /// Whether `name` is a checkpoint folder still being written (or left by a crash).
    pub fn is_partial_checkpoint(name: &str) -> bool {
        name.starts_with(".step-") && name.ends_with(".partial")
    }
    pub fn test_report(&self) -> PathBuf {
        self.root.join("test.json")
    }
    /// The vocabulary of a text run, one token per line in id order.
    pub fn vocabulary(&self) -> PathBuf {
        self.root.join(VOCABULARY)
    }
    /// An encoder-decoder's vocabularies, `source` or `target`, laid out like `vocab.txt`.
    pub fn side_vocabulary(&self, side: &str) -> PathBuf {
        self.root.join(format!("vocab_{side}.txt"))
    }
    /// `kiln evaluate`'s results on another labelled set, `name`d.
    pub fn evaluation(&self, name: &str) -> PathBuf {
        self.root.join("evaluations").join(name)
    }

    /// The names of the run's finished evaluations (not those being written), sorted.
    pub fn evaluations(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("evaluations"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }
    /// An evaluation's record of what it read (inside `evaluation(name)`, opened as a run).
    pub fn evaluation_source(&self) -> PathBuf {
        self.root.join("source.json")
    }
    /// Where `kiln export` puts the PyTorch twin unless told otherwise.
    pub fn pytorch_export(&self) -> PathBuf {
        self.root.join("pytorch")
    }
    /// How a classifier's inputs were prepared (see `preprocessing.rs`).
    pub fn preprocessing(&self) -> PathBuf {
        self.root.join(PREPROCESSING)
    }
    pub fn confusion(&self) -> PathBuf {
        self.root.join("confusion.csv")
    }
    /// What a generative model wrote after `epoch`: samples or decoded examples.
    pub fn samples(&self, epoch: usize) -> PathBuf {
        self.root
            .join("samples")
            .join(format!("epoch_{epoch:03}.txt"))
    }
    /// A grid of images a generative model drew after `epoch` (0: after training).
    pub fn sample_image(&self, epoch: usize) -> PathBuf {
        self.root
            .join("samples")
            .join(format!("epoch_{epoch:03}.png"))
    }
    /// New images drawn from a finished run with `seed` (`kiln generate`).
    pub fn generated_image(&self, seed: u64) -> PathBuf {
        self.root
            .join("samples")
            .join(format!("generated_seed{seed}.png"))
    }
    /// The grid of images that shows the run's result best, with a caption: the best model's
    /// after training, else the last epoch's; `None` for a run that draws no images.
    pub fn final_sample_image(&self) -> Option<(String, PathBuf)> {
        let best = self.sample_image(0);
        if best.is_file() {
            return Some(("the best model's samples".into(), best));
        }
        let mut grids: Vec<PathBuf> = std::fs::read_dir(self.root.join("samples"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "png")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("epoch_"))
            })
            .collect();
        grids.sort();
        let last = grids.pop()?;
        let name = last.file_stem()?.to_string_lossy().replace('_', " ");
        Some((format!("samples after {name}"), last))
    }
    /// Every test pair with the model's output, tab-separated.
    /// A table run's test rows: their row in the source file, actual and predicted values.
    pub fn test_predictions(&self) -> PathBuf {
        self.root.join("test_outputs.csv")
    }

    pub fn test_outputs(&self) -> PathBuf {
        self.root.join("test_outputs.tsv")
    }
}

/// A sweep's folder, `results/<experiment>/<sweep>/`: its trials' run folders, and what was
/// submitted to a cluster.
const PREPROCESSING: &str = "preprocessing.json";
const VOCABULARY: &str = "vocab.txt";

/// The folder `kiln export` writes: the PyTorch twin, an example batch with kiln's outputs,
/// and copies of the run's preparation files under the run's own names.
#[derive(Debug, Clone)]
pub struct ExportDir {
    pub root: PathBuf,
}

impl ExportDir {
    /// The weights, also named by the `model.py` that loads them.
    pub const MODEL: &'static str = "model.safetensors";
    /// The example batch and kiln's outputs for it, also named by `model.py`'s self-check.
    pub const EXAMPLE: &'static str = "example.safetensors";

    pub fn model(&self) -> PathBuf {
        self.root.join(Self::MODEL)
    }
    pub fn example(&self) -> PathBuf {
        self.root.join(Self::EXAMPLE)
    }
    pub fn python(&self) -> PathBuf {
        self.root.join("model.py")
    }
    pub fn preprocessing(&self) -> PathBuf {
        self.root.join(PREPROCESSING)
    }
    pub fn vocabulary(&self) -> PathBuf {
        self.root.join(VOCABULARY)
    }
}

/// The run index in a results folder, and the lock its writers share.
pub fn index(results: &Path) -> PathBuf {
    results.join("index.parquet")
}
pub fn index_lock(results: &Path) -> PathBuf {
    results.join(".index.lock")
}

/// `kiln report`'s page for one sweep, in the sweep's folder.
pub fn sweep_report(results: &Path, experiment: &str, sweep: &str) -> PathBuf {
    results.join(experiment).join(sweep).join("report.html")
}

/// `kiln report`'s page for any other selection, named by the time it was written.
pub fn report_page(results: &Path, stamp: &str) -> PathBuf {
    results.join("reports").join(format!("report-{stamp}.html"))
}

/// A hidden sibling of the image `path`, to draw it whole before it is renamed into place;
/// plotters names the format by the extension, so the temporary name ends in `.png`.
pub fn temporary_image(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!(".{name}.{}.tmp.png", std::process::id()))
}

/// What `kiln bench --export` writes for the PyTorch twin of a workload.
pub fn bench_workload(dir: &Path) -> PathBuf {
    dir.join("workload.json")
}

#[derive(Debug, Clone)]
pub struct SweepDir {
    pub root: PathBuf,
}

impl SweepDir {
    /// What was submitted to a cluster: scripts, manifests, the job list and its lock.
    pub fn cluster(&self) -> PathBuf {
        self.root.join("cluster")
    }
    /// Every job submitted for the sweep, oldest first.
    pub fn jobs(&self) -> PathBuf {
        self.cluster().join("jobs.json")
    }
    /// Held by `submit` while it reads the queue and records its job.
    pub fn jobs_lock(&self) -> PathBuf {
        self.cluster().join(".jobs.lock")
    }
    /// The sbatch script of a submission made at `stamp`.
    pub fn slurm_script(&self, stamp: &str) -> PathBuf {
        self.cluster().join(format!("submit-{stamp}.sbatch"))
    }
    /// The Kubernetes Indexed Job of a submission made at `stamp`.
    pub fn kubernetes_job(&self, stamp: &str) -> PathBuf {
        self.cluster().join(format!("job-{stamp}.json"))
    }
    /// Held by the process that trains trial `trial` (1-based), so that two processes never
    /// train one trial at once, whoever started them.
    pub fn trial_lock(&self, trial: usize) -> PathBuf {
        self.root.join(format!(".trial-{trial:03}.lock"))
    }
    /// A search worker's heartbeat, touched while it runs (see `search::journal::Heartbeat`).
    pub fn heartbeat(&self, host: &str, pid: u32) -> PathBuf {
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join(format!(".worker-{host}-{pid}"))
    }
    /// The journal of a search.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }
    /// Held while a search's journal is read and appended to.
    pub fn journal_lock(&self) -> PathBuf {
        self.root.join(".journal.lock")
    }
    /// The trials' logs on a cluster.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// Trial `trial`'s log on a cluster (1-based; every attempt appends).
    pub fn trial_log(&self, trial: &str) -> PathBuf {
        self.logs().join(format!("trial-{trial}.log"))
    }
}

/// One training checkpoint's folder: the weights, each optimizer's state, the best epoch's
/// weights, the step records so far and the loop's state, which is written last.
#[derive(Debug, Clone)]
pub struct TrainingCheckpoint {
    pub dir: PathBuf,
}

impl TrainingCheckpoint {
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.bpk")
    }
    pub fn optimizer(&self, index: usize) -> PathBuf {
        self.dir.join(format!("optimizer-{index}.bpk"))
    }
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.bpk")
    }
    pub fn steps(&self) -> PathBuf {
        self.dir.join("steps.parquet")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_second_and_seed_get_distinct_folders() {
        let dir = tempfile::tempdir().unwrap();
        let t = chrono::Utc::now();
        let a = RunDir::create(dir.path(), "exp", 7, t).unwrap();
        let b = RunDir::create(dir.path(), "exp", 7, t).unwrap();
        assert_ne!(a.root, b.root);
        assert!(b.id.ends_with("-2") && a.id.contains("-s7"));
        assert!(a.root.join("metrics").is_dir() && a.root.join("charts").is_dir());
    }

    #[test]
    fn attempts_of_a_trial_are_told_apart_from_other_seeds() {
        let base = RunDir::trial_base(1, 1);
        assert_eq!(base, "t001-s1");
        assert!(RunDir::is_attempt_of("t001-s1", &base));
        assert!(RunDir::is_attempt_of("t001-s1-2", &base));
        assert!(!RunDir::is_attempt_of("t001-s10", &base));
        assert!(!RunDir::is_attempt_of("t001-s1-", &base));
    }
}
