//! `kiln export RUN`: a trained classifier for PyTorch. The folder it writes holds
//! `model.safetensors` (the best weights under PyTorch's names and layouts, from
//! `kiln_models::pytorch`), `model.py` (the `torch.nn` module they load into, the input
//! preparation, and a self-check), `example.safetensors` (inputs and the logits kiln gives
//! for them, which the self-check compares against), `preprocessing.json` and, for a text
//! model, `vocab.txt`. It is written under a hidden name and renamed, so it is whole or absent.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use kiln_data::download::{write_atomically, write_folder_atomically};
use kiln_data::text::Vocabulary;
use kiln_models::pytorch::{Named, Values};
use kiln_models::{Classifier, Inputs};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};

use crate::config::schema::{TokenizerKind, TruncateKind};
use crate::serve::predict::Ready;
use crate::store::preprocessing::{Normalize, Outputs, Preprocessing};
use crate::store::run_dir::ExportDir;

/// model.py's text preparation (kiln's tokenizers ported, vocab.txt, truncation), with the
/// run's settings put in for the `@NAME@` marks.
const TEXT_HELPERS: &str = include_str!("export_text.py");

/// model.py's table encoding (the run's fill values, statistics and levels, read from its
/// preprocessing.json).
const TABLE_HELPERS: &str = include_str!("export_table.py");

/// How many example inputs the self-check runs.
const EXAMPLES: usize = 8;

/// Writes the export of the run in `dir` to `out` (default: the run's `pytorch/`); returns
/// the folder.
pub fn export(dir: &Path, out: Option<&Path>, unfinished: bool) -> anyhow::Result<PathBuf> {
    let ready = crate::serve::predict::open(dir, unfinished, "export")?;
    let out = out.map_or_else(|| ready.run.run.pytorch_export(), Path::to_path_buf);
    if out.exists() {
        anyhow::bail!(
            "{}: already exists; remove it or pass another --out",
            out.display()
        );
    }
    let twin = ready.model.pytorch().map_err(|e| {
        anyhow::anyhow!(
            "{}: `model.{}` cannot be exported: {}",
            ready.run.run.config().display(),
            e.field,
            e.message
        )
    })?;
    let name = out
        .file_name()
        .with_context(|| format!("{}: not a folder name", out.display()))?;
    let hidden = out.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let run_id = ready
        .run
        .run
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("kiln_run".to_string(), run_id.clone()),
        (
            "kiln_model".to_string(),
            ready.run.experiment.model.kind().to_string(),
        ),
        match ready.pre.outputs() {
            Outputs::Classes(classes) => ("classes".to_string(), serde_json::to_string(classes)?),
            Outputs::Values { columns, .. } => {
                ("targets".to_string(), serde_json::to_string(columns)?)
            }
        },
    ]);
    let example = example(&ready)?;
    let python = python(&ready, &run_id, &twin.source)?;
    write_folder_atomically(&hidden, &out, |dir| {
        let export = ExportDir {
            root: dir.to_path_buf(),
        };
        write_tensors(&export.model(), &twin.tensors, metadata.clone())?;
        write_tensors(&export.example(), &example, metadata)?;
        write_atomically(&export.python(), python.as_bytes())?;
        let copy = |from: PathBuf, to: PathBuf| {
            std::fs::copy(&from, to).with_context(|| format!("copying {}", from.display()))
        };
        copy(ready.run.run.preprocessing(), export.preprocessing())?;
        if matches!(ready.pre, Preprocessing::Text { .. }) {
            copy(ready.run.run.vocabulary(), export.vocabulary())?;
        }
        anyhow::Ok(())
    })?;
    Ok(out)
}

fn write_tensors(
    path: &Path,
    tensors: &[Named],
    metadata: HashMap<String, String>,
) -> anyhow::Result<()> {
    let bytes: Vec<(Vec<u8>, Dtype)> = tensors
        .iter()
        .map(|t| match &t.values {
            Values::F32(v) => (v.iter().flat_map(|x| x.to_le_bytes()).collect(), Dtype::F32),
            Values::I64(v) => (v.iter().flat_map(|x| x.to_le_bytes()).collect(), Dtype::I64),
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, (data, dtype))| {
            TensorView::new(*dtype, t.shape.clone(), data).map(|view| (t.name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(write_atomically(path, &bytes)?)
}

/// Seeded inputs of the model's kind (standard-normal images, as pixels are after
/// normalisation; token ids in rows of falling lengths, padded) and kiln's logits for
/// them: what `model.py`'s `check()` compares the twin against.
fn example(ready: &Ready) -> anyhow::Result<Vec<Named>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let device = &ready.device;
    let (inputs, mut named) = match &ready.pre {
        Preprocessing::Image { shape, .. } => {
            let dims = [EXAMPLES, shape[0], shape[1], shape[2]];
            device.seed(0);
            let images = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), device);
            let values = images
                .to_data()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading the example images: {e:?}"))?;
            let named = vec![Named {
                name: "images".into(),
                shape: dims.to_vec(),
                values: Values::F32(values),
            }];
            (Inputs::Images(images), named)
        }
        Preprocessing::Text { .. } => text_example(ready, &mut rng)?,
        Preprocessing::Table { codec, .. } => table_example(codec, &mut rng, device)?,
    };
    let logits = ready
        .model
        .forward(inputs)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let shape = logits.dims().to_vec();
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the logits: {e:?}"))?;
    named.push(Named {
        name: "logits".into(),
        shape,
        values: Values::F32(values),
    });
    Ok(named)
}

/// Seeded token ids of falling lengths, padded as the run pads, and their lengths.
fn text_example(ready: &Ready, rng: &mut ChaCha8Rng) -> anyhow::Result<(Inputs, Vec<Named>)> {
    let vocab = ready.run.vocabulary(ready.run.run.vocabulary())?.len() as u32;
    let time = match ready.run.experiment.data.text_shape() {
        Some(d) => d.max_len.min(24),
        None => 24,
    };
    let lengths: Vec<usize> = (0..EXAMPLES)
        .map(|i| (time - i * time / EXAMPLES).max(1))
        .collect();
    let mut ids = Vec::with_capacity(EXAMPLES * time);
    for &len in &lengths {
        for t in 0..time {
            ids.push(if t < len {
                rng.random_range(Vocabulary::UNK..vocab.max(Vocabulary::UNK + 1)) as i64
            } else {
                Vocabulary::PAD as i64
            });
        }
    }
    let tensor = Tensor::<2, Int>::from_data(
        TensorData::new(ids.clone(), [EXAMPLES, time]),
        &ready.device,
    );
    let named = vec![
        Named {
            name: "ids".into(),
            shape: vec![EXAMPLES, time],
            values: Values::I64(ids),
        },
        Named {
            name: "lengths".into(),
            shape: vec![EXAMPLES],
            values: Values::I64(lengths.iter().map(|&l| l as i64).collect()),
        },
    ];
    Ok((
        Inputs::Tokens {
            ids: tensor,
            lengths,
        },
        named,
    ))
}

/// Seeded standardised numbers and category ids within each column's levels.
fn table_example(
    codec: &kiln_data::table::TableCodec,
    rng: &mut ChaCha8Rng,
    device: &burn::tensor::Device,
) -> anyhow::Result<(Inputs, Vec<Named>)> {
    let width = codec.numeric_width();
    let levels = codec.cardinalities();
    device.seed(0);
    let numeric = Tensor::<2>::random([EXAMPLES, width], Distribution::Normal(0.0, 1.0), device);
    let values = numeric
        .to_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the example numbers: {e:?}"))?;
    let ids: Vec<i64> = (0..EXAMPLES)
        .flat_map(|_| &levels)
        .map(|&n| rng.random_range(0..n.max(1) as i64))
        .collect();
    let categories = Tensor::<2, Int>::from_data(
        TensorData::new(ids.clone(), [EXAMPLES, levels.len()]),
        device,
    );
    let named = vec![
        Named {
            name: "numeric".into(),
            shape: vec![EXAMPLES, width],
            values: Values::F32(values),
        },
        Named {
            name: "categories".into(),
            shape: vec![EXAMPLES, levels.len()],
            values: Values::I64(ids),
        },
    ];
    Ok((
        Inputs::Table {
            numeric,
            categories,
        },
        named,
    ))
}

/// Strings as a Python list literal (JSON's string escapes are Python's).
fn python_list(items: &[String]) -> anyhow::Result<String> {
    let items = items
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("[{}]", items.join(", ")))
}

/// The Python that prepares the model's inputs as the run prepared its training data.
fn input_preparation(ready: &Ready) -> anyhow::Result<String> {
    let mut s = String::new();
    match &ready.pre {
        Preprocessing::Image {
            shape,
            normalization,
            ..
        } => {
            let [c, h, w] = shape;
            writeln!(
                s,
                "INPUT_SHAPE = ({c}, {h}, {w})  # channels, height, width\n"
            )?;
            let body = match normalization {
                Normalize::Scale => "return pixels.to(torch.float32) / 255".to_string(),
                Normalize::Standardize { mean, std } => format!(
                    "return (pixels.to(torch.float32) / 255 - {mean:?}) / {std:?}  # the training split's mean and std"
                ),
                Normalize::Channels { mean, std } => format!(
                    "mean = torch.tensor({mean:?}).view(1, 3, 1, 1)\n    std = torch.tensor({std:?}).view(1, 3, 1, 1)\n    return (pixels.to(torch.float32) / 255 - mean) / std  # the training split's, per channel"
                ),
            };
            writeln!(
                s,
                r#"
def preprocess(pixels):
    """uint8 pixels `[batch, *INPUT_SHAPE]` (grey, resized to the run's size, light
    strokes on dark as the training data) as the model reads them."""
    {body}
"#
            )?;
        }
        Preprocessing::Text { .. } => {
            let Some(d) = ready.run.experiment.data.text_shape() else {
                anyhow::bail!("a text classifier that did not learn from labelled texts");
            };
            let (keep, cut) = match d.truncate {
                TruncateKind::Head => ("ids[-MAX_LEN:]", "their beginning"),
                TruncateKind::Tail => ("ids[:MAX_LEN]", "their end"),
            };
            let tokenizer = match d.tokenizer {
                TokenizerKind::Word => "word",
                TokenizerKind::Char => "char",
            };
            s.push_str(
                &TEXT_HELPERS
                    .replace("@TOKENIZER@", tokenizer)
                    .replace("@MAX_LEN@", &d.max_len.to_string())
                    .replace("@CUT@", cut)
                    .replace("@PAD@", &Vocabulary::PAD.to_string())
                    .replace("@UNK@", &Vocabulary::UNK.to_string())
                    .replace("@KEEP@", keep),
            );
        }
        Preprocessing::Table { .. } => {
            s.push('\n');
            s.push_str(TABLE_HELPERS);
        }
    }
    Ok(s)
}

/// The input preparation `model.py` exports, how its docstring calls the model, and how
/// `check()` calls it on the saved example.
fn calls(model: &Classifier) -> (&'static str, &'static str, &'static str) {
    match model {
        Classifier::Recurrent(_) => (
            "encode",
            "model(*encode([\"A fine film.\"]))  # ids and lengths",
            "model(example[\"ids\"], example[\"lengths\"])",
        ),
        Classifier::Tabular(_) => (
            "encode",
            "model(*encode(csv.DictReader(open(\"rows.csv\"))))  # numbers and level ids",
            "model(example[\"numeric\"], example[\"categories\"])",
        ),
        _ => (
            "preprocess",
            "model(preprocess(pixels))  # pixels: uint8 [batch, *INPUT_SHAPE]",
            "model(example[\"images\"])",
        ),
    }
}

/// `model.py`: the docstring with the lines that load the weights, the input preparation,
/// the twin's class, `load()` and `check()`.
fn python(ready: &Ready, run_id: &str, twin: &str) -> anyhow::Result<String> {
    let kind = ready.run.experiment.model.kind();
    let (inputs, call, example_call) = calls(&ready.model);
    let (imports, result, show, answers) = match ready.pre.outputs() {
        Outputs::Classes(classes) => (
            format!("Model, CLASSES, {inputs}"),
            "logits",
            "print(CLASSES[logits.argmax(1)[0]])",
            format!("CLASSES = {}", python_list(classes)?),
        ),
        Outputs::Values { columns, mean, std } => (
            format!("Model, TARGETS, values, {inputs}"),
            "outputs",
            "print(dict(zip(TARGETS, values(outputs)[0].tolist())))",
            format!(
                "TARGETS = {}\nMEAN = {mean:?}  # the training split's, per target\nSTD = {std:?}\n\n\n\
                 def values(outputs):\n    \"\"\"The model's standardised `[batch, targets]` outputs in the data's units.\"\"\"\n    \
                 return outputs * torch.tensor(STD) + torch.tensor(MEAN)\n",
                python_list(columns)?
            ),
        ),
    };
    let imports_csv = if matches!(ready.model, Classifier::Tabular(_)) {
        "\n    import csv"
    } else {
        ""
    };
    let (model_file, example_file) = (ExportDir::MODEL, ExportDir::EXAMPLE);
    let mut s = String::new();
    writeln!(
        s,
        r#""""PyTorch twin of the kiln run `{run_id}` ({kind}), written by `kiln export`.
{imports_csv}
    from safetensors.torch import load_file
    from model import {imports}

    model = Model()
    model.load_state_dict(load_file("{model_file}"))
    model.eval()
    {result} = {call}
    {show}

`python model.py` loads the weights and prints the largest difference between this
module's outputs and kiln's on the inputs saved in example.safetensors.
"""

from pathlib import Path

import torch
from torch import nn

{answers}"#,
    )?;
    s.push_str(&input_preparation(ready)?);
    // PEP 8's two blank lines before a top-level definition.
    s.truncate(s.trim_end().len());
    writeln!(s, "\n\n\n{twin}")?;
    writeln!(
        s,
        r#"
def load(folder=Path(__file__).parent):
    """The module with the exported weights, in evaluation mode."""
    from safetensors.torch import load_file

    model = Model()
    model.load_state_dict(load_file(Path(folder) / "{model_file}"))
    return model.eval()


def check(folder=Path(__file__).parent):
    """Largest absolute difference between this module's outputs and kiln's."""
    from safetensors.torch import load_file

    example = load_file(Path(folder) / "{example_file}")
    model = load(folder)
    with torch.no_grad():
        logits = {example_call}
    return (logits - example["logits"]).abs().max().item()


if __name__ == "__main__":
    print(f"largest difference from kiln's outputs: {{check():.3g}}")"#
    )?;
    Ok(s)
}
