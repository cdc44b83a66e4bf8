//! A run's training checkpoints on disk: each written whole into a hidden folder and renamed
//! into place, so a crash while writing leaves the previous ones intact; the newest
//! `[checkpoint] keep` are kept. What is in one is [`kiln_train::TrainingState`] and the step
//! records so far (see [`crate::store::run_dir::TrainingCheckpoint`]).

use std::path::Path;

use anyhow::Context;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use kiln_data::download::{write_atomically, write_folder_atomically};
use kiln_train::resume::LoopState;
use kiln_train::{StepRecord, TrainingState};

use crate::store::run_dir::{RunDir, TrainingCheckpoint};
use crate::{platform::fault, store::metrics_io};

/// Writes `checkpoint` (and `steps`) into `run`, then removes all but the newest `keep`.
/// Returns the bytes written.
pub fn write(
    run: &RunDir,
    checkpoint: TrainingState,
    steps: &[StepRecord],
    keep: usize,
) -> anyhow::Result<u64> {
    let step = checkpoint.state.step;
    let partial = run.partial_checkpoint(step);
    let mut bytes = 0;
    write_folder_atomically(&partial.dir, &run.training_checkpoint(step).dir, |dir| {
        let partial = TrainingCheckpoint {
            dir: dir.to_path_buf(),
        };
        let saved = |what: &Path, r: Result<(), burn::store::RecordError>| {
            r.map_err(|e| anyhow::anyhow!("writing {}: {e}", what.display()))
        };
        saved(&partial.model(), checkpoint.model.save(partial.model()))?;
        fault::point("checkpoint");
        for (i, o) in checkpoint.optimizers.into_iter().enumerate() {
            saved(&partial.optimizer(i), o.save(partial.optimizer(i)))?;
        }
        if let Some(best) = checkpoint.best {
            saved(&partial.best(), best.save(partial.best()))?;
        }
        write_atomically(&partial.steps(), &metrics_io::steps_parquet(steps)?)?;
        let state =
            serde_json::to_vec(&checkpoint.state).context("serialising the loop's state")?;
        write_atomically(&partial.state(), &state)?;
        bytes = folder_size(dir);
        anyhow::Ok(())
    })?;
    prune(run, keep);
    Ok(bytes)
}

/// The run's checkpoints, newest first.
pub fn list(run: &RunDir) -> Vec<(usize, TrainingCheckpoint)> {
    let mut found: Vec<(usize, TrainingCheckpoint)> = std::fs::read_dir(run.checkpoints())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let step = RunDir::checkpoint_step(&e.file_name().to_string_lossy())?;
            Some((step, run.training_checkpoint(step)))
        })
        .collect();
    found.sort_by_key(|(step, _)| std::cmp::Reverse(*step));
    found
}

/// Keeps the newest `keep` checkpoints and removes the folders of unfinished writes.
fn prune(run: &RunDir, keep: usize) {
    for (_, old) in list(run).into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(&old.dir);
    }
    for entry in std::fs::read_dir(run.checkpoints())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
    {
        if RunDir::is_partial_checkpoint(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A checkpoint as read back: the loop's state and the step records up to it.
pub struct Loaded {
    pub step: usize,
    pub state: TrainingState,
    pub steps: Vec<StepRecord>,
}

/// The newest checkpoint that reads back whole, `None` when there is none; one that does
/// not read (a damaged disk) is reported and the one before it taken.
pub fn newest(run: &RunDir) -> anyhow::Result<Option<Loaded>> {
    let mut problems = Vec::new();
    for (step, checkpoint) in list(run) {
        match read(&checkpoint) {
            Ok((state, steps)) => {
                for p in &problems {
                    tracing::warn!("{p}; taking an older checkpoint");
                }
                return Ok(Some(Loaded { step, state, steps }));
            }
            Err(e) => problems.push(format!("{}: {e:#}", checkpoint.dir.display())),
        }
    }
    if problems.is_empty() {
        Ok(None)
    } else {
        anyhow::bail!("no checkpoint reads back: {}", problems.join("; "))
    }
}

/// Keeps the run's newest checkpoint, which must be the one taken at the end of `epoch`, as
/// its snapshot there: hard links (copies across filesystems), so that it costs no space
/// until the checkpoint itself is pruned. Nothing to do when the snapshot exists.
pub fn snapshot(run: &RunDir, epoch: usize) -> anyhow::Result<()> {
    let dest = run.snapshot(epoch);
    if dest.state().exists() {
        return Ok(());
    }
    let (_, newest) = list(run)
        .into_iter()
        .next()
        .with_context(|| format!("{}: no checkpoint to keep", run.root.display()))?;
    let state: LoopState = serde_json::from_slice(
        &std::fs::read(newest.state())
            .with_context(|| format!("reading {}", newest.state().display()))?,
    )
    .with_context(|| format!("{}: not a kiln checkpoint state", newest.state().display()))?;
    anyhow::ensure!(
        state.batch == 0 && state.epoch == epoch + 1,
        "{}: the newest checkpoint is in epoch {} (batch {}), not at the end of epoch {epoch}",
        run.root.display(),
        state.epoch,
        state.batch
    );
    clone_folder(
        &newest.dir,
        &run.partial_snapshot(epoch).dir,
        &dest.dir,
        true,
    )
}

/// Copies (or hard-links) the files of checkpoint folder `from` into `to`, whole or not at
/// all, through the hidden folder `partial`.
pub fn clone_folder(from: &Path, partial: &Path, to: &Path, link: bool) -> anyhow::Result<()> {
    if let Some(parent) = partial.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    write_folder_atomically(partial, to, |dir| {
        for entry in
            std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?
        {
            let entry = entry?;
            let target = dir.join(entry.file_name());
            let linked = link && std::fs::hard_link(entry.path(), &target).is_ok();
            if !linked {
                std::fs::copy(entry.path(), &target).with_context(|| {
                    format!("copying {} to {}", entry.path().display(), target.display())
                })?;
            }
        }
        anyhow::Ok(())
    })
}

/// The checkpoint in folder `dir` (a snapshot), read whole.
pub fn read_folder(dir: &Path) -> anyhow::Result<Loaded> {
    let (state, steps) = read(&TrainingCheckpoint {
        dir: dir.to_path_buf(),
    })?;
    Ok(Loaded {
        step: state.state.step,
        state,
        steps,
    })
}

fn read(c: &TrainingCheckpoint) -> anyhow::Result<(TrainingState, Vec<StepRecord>)> {
    let bytes =
        std::fs::read(c.state()).with_context(|| format!("reading {}", c.state().display()))?;
    let state: LoopState = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a kiln checkpoint state", c.state().display()))?;
    let record = |path: &Path| {
        ModuleRecord::load(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
    };
    let model = record(&c.model())?;
    let best = if c.best().exists() {
        Some(record(&c.best())?)
    } else {
        None
    };
    let optimizers = (0..)
        .take_while(|&i| c.optimizer(i).exists())
        .map(|i| {
            OptimizerRecord::load(c.optimizer(i))
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", c.optimizer(i).display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let steps = metrics_io::read_steps(&c.steps())?;
    anyhow::ensure!(
        steps.len() == state.step,
        "{}: {} step records for a checkpoint after step {}",
        c.steps().display(),
        steps.len(),
        state.step
    );
    Ok((
        TrainingState {
            state,
            model,
            optimizers,
            best,
        },
        steps,
    ))
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}
