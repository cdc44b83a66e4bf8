//! A bench workload written out for another framework: the model's config and the exact
//! batches, in order, that `kiln bench` trains on, so that the PyTorch twin
//! (`bench/pytorch_workload.py`) times the same model on the same data.
//!
//! The folder holds `workload.json` and, per batch, raw little-endian arrays: `bN_x.bin`
//! (f32 images or i64 token ids), `bN_y.bin` (i64 labels, or next tokens).

use std::path::Path;

use anyhow::Context;
use burn::tensor::{Device, Int, Tensor};

use kiln_models::flops::{BatchShape, training_flops};
use kiln_models::{InputShape, Inputs};
use kiln_train::{Batches, epoch_seed};
use serde::Serialize;

use crate::backend;
use crate::config::schema::{DataConfig, Experiment, LoadedExperiment};
use crate::tasks::prepare::{CorpusData, Prepared};

#[derive(Serialize)]
struct Workload<'a> {
    experiment: &'a str,
    model: &'a kiln_models::ModelConfig,
    train: &'a kiln_train::TrainConfig,
    /// Classes of a classifier, or the vocabulary of a language model's outputs.
    outputs: usize,
    /// The vocabulary of a model that reads tokens.
    vocab: Option<usize>,
    /// What `samples` counts: images and reviews, or tokens of a language model.
    unit: &'static str,
    batches: Vec<ExportedBatch>,
}

#[derive(Serialize)]
struct ExportedBatch {
    x: String,
    x_shape: Vec<usize>,
    x_dtype: &'static str,
    y: String,
    y_shape: Vec<usize>,
    /// Real lengths of padded token sequences.
    lengths: Option<Vec<usize>>,
    /// What this step counts towards samples/s.
    samples: usize,
    /// Training operations of the step (`kiln_models::flops`).
    flops: Option<f64>,
}

fn floats(t: Tensor<4>) -> anyhow::Result<Vec<u8>> {
    let v = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn ints<const D: usize>(t: Tensor<D, Int>) -> anyhow::Result<Vec<u8>> {
    let v = t
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// The index lists of the first `count` training batches, epoch after epoch, in the order
/// a run with `seed` trains them.
fn first_batches(
    count: usize,
    seed: u64,
    order: impl Fn(u64) -> Vec<Vec<usize>>,
) -> Vec<Vec<usize>> {
    let mut batches = Vec::with_capacity(count);
    let mut epoch = 1;
    while batches.len() < count {
        let before = batches.len();
        batches.extend(
            order(epoch_seed(seed, epoch))
                .into_iter()
                .take(count - before),
        );
        if batches.len() == before {
            break;
        }
        epoch += 1;
    }
    batches
}

/// The language model's first `count` training batches, in the order a run trains them.
fn corpus_batches(
    exp: &Experiment,
    c: &CorpusData,
    count: usize,
    write: &impl Fn(usize, Vec<u8>, Vec<u8>) -> anyhow::Result<(String, String)>,
) -> anyhow::Result<Vec<ExportedBatch>> {
    let device = Device::flex();
    let mut batches = Vec::new();
    let windows = crate::tasks::language::train_windows(c, exp);
    anyhow::ensure!(
        windows.num_batches() > 0,
        "the corpus has no training window"
    );
    for starts in first_batches(count, exp.seed, |seed| windows.order(Some(seed))) {
        let b = windows.batch(&starts, &device);
        let [n, t] = b.inputs.dims();
        let (x, y) = write(batches.len(), ints(b.inputs)?, ints(b.targets)?)?;
        batches.push(ExportedBatch {
            x,
            x_shape: vec![n, t],
            x_dtype: "i64",
            y,
            y_shape: vec![n, t],
            lengths: None,
            samples: n * t,
            flops: training_flops(
                &exp.model,
                BatchShape::Tokens {
                    dims: [n, t],
                    outputs: c.vocab.len(),
                },
            ),
        });
    }
    Ok(batches)
}

/// A classifier's first `count` training batches, in the order a run trains them.
fn classifier_batches(
    exp: &Experiment,
    train: &dyn Batches,
    classes: usize,
    count: usize,
    write: &impl Fn(usize, Vec<u8>, Vec<u8>) -> anyhow::Result<(String, String)>,
) -> anyhow::Result<Vec<ExportedBatch>> {
    let device = Device::flex();
    let mut batches = Vec::new();
    for indices in first_batches(count, exp.seed, |seed| train.order(Some(seed))) {
        let b = train.batch(&indices, &device);
        let y = ints(b.targets)?;
        let i = batches.len();
        let (x, x_shape, x_dtype, lengths, shape) = match b.inputs {
            Inputs::Images(images) => {
                let dims = images.dims();
                let shape = BatchShape::Images { dims, classes };
                (floats(images)?, dims.to_vec(), "f32", None, shape)
            }
            Inputs::Tokens { ids, lengths } => {
                let dims = ids.dims();
                let outputs = classes;
                let shape = BatchShape::Tokens { dims, outputs };
                (ints(ids)?, dims.to_vec(), "i64", Some(lengths), shape)
            }
            Inputs::Table { .. } => {
                anyhow::bail!("table rows have no PyTorch workload")
            }
        };
        let y_shape = vec![x_shape[0]];
        let (x, y) = write(i, x, y)?;
        batches.push(ExportedBatch {
            x,
            x_shape,
            x_dtype,
            y,
            y_shape,
            lengths,
            samples: b.len,
            flops: training_flops(&exp.model, shape),
        });
    }
    Ok(batches)
}

/// Writes the first `count` training batches of `loaded` (the order `fit` takes them in,
/// across epochs if need be) and the model's description into `dir`. Returns each batch's
/// training FLOPs, where the model's count is known.
pub fn export(
    loaded: &LoadedExperiment,
    count: usize,
    dir: &Path,
) -> anyhow::Result<Vec<Option<f64>>> {
    let exp = &loaded.experiment;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let batches;
    let write = |i: usize, x: Vec<u8>, y: Vec<u8>| -> anyhow::Result<(String, String)> {
        let (xn, yn) = (format!("b{i}_x.bin"), format!("b{i}_y.bin"));
        for (name, bytes) in [(&xn, x), (&yn, y)] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok((xn, yn))
    };
    let (outputs, vocab, unit) = match &exp.data {
        DataConfig::Corpus(d) => {
            let (c, _) = CorpusData::load(exp, d)?;
            batches = corpus_batches(exp, &c, count, &write)?;
            (c.vocab.len(), Some(c.vocab.len()), "tokens")
        }
        DataConfig::Pairs(_) | DataConfig::Synthetic(_) => anyhow::bail!(
            "{}: there is no PyTorch twin of the encoder-decoder; compare it on kiln's backends with `bench --backends`",
            loaded.file.display()
        ),
        DataConfig::Table(_) => anyhow::bail!(
            "{}: there is no PyTorch twin of the tabular model; compare it on kiln's backends with `bench --backends`",
            loaded.file.display()
        ),
        // Every other dataset is a classifier's, loaded as its task loads it.
        _ => {
            let prepared = Prepared::load(exp)?;
            let eval_size = backend::eval_batch_size(exp.backend, exp.train.eval_batch_size);
            let [train, _, _] = prepared.batches(exp, eval_size);
            anyhow::ensure!(train.num_batches() > 0, "the training split has no batch");
            let classes = prepared.class_names().len();
            batches = classifier_batches(exp, train.as_ref(), classes, count, &write)?;
            let vocab = match prepared.input_shape() {
                InputShape::Tokens { vocab } => Some(vocab),
                _ => None,
            };
            (classes, vocab, "samples")
        }
    };
    let workload = Workload {
        experiment: &exp.name,
        model: &exp.model,
        train: &exp.train,
        outputs,
        vocab,
        unit,
        batches,
    };
    let path = crate::store::run_dir::bench_workload(dir);
    std::fs::write(&path, serde_json::to_string_pretty(&workload)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(workload.batches.iter().map(|b| b.flops).collect())
}
