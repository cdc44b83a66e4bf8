//! `kiln predict RUN [INPUTS]`: a trained classifier's answer for each new input, with the
//! top-k class probabilities. Inputs are prepared from the run folder alone: images grey,
//! resized to the run's size and normalised with its training statistics
//! (`preprocessing.json`); text cut by the run's tokenizer into its vocabulary (`vocab.txt`)
//! and truncated as it was (`config.toml`).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Device, activation::softmax};
use kiln_data::Digits;
use kiln_data::ImageBatcher;
use kiln_data::text::SequenceBatcher;
use kiln_models::{Classifier, InputShape, ModelConfig};
use kiln_train::{Batches, Classify};
use serde::Serialize;

use crate::finished::Finished;
use crate::prepare::{review_tokenizer, truncation};
use crate::preprocessing::Preprocessing;
use crate::schema::DataConfig;

/// How `predict` prints its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

pub struct PredictArgs {
    pub inputs: Vec<String>,
    pub top_k: usize,
    pub format: Format,
    /// The text column of a CSV or TSV input.
    pub column: String,
    /// Images drawn dark on light, the reverse of MNIST's digits.
    pub invert: bool,
    pub unfinished: bool,
}

/// One input's answer.
#[derive(Debug, Serialize)]
pub struct Prediction {
    pub input: String,
    pub class: String,
    pub probability: f64,
    pub top: Vec<(String, f64)>,
}

/// A new input, named as the user gave it.
enum Item {
    Image(String, Vec<u8>),
    Text(String, String),
}

pub fn predict(dir: &Path, args: &PredictArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.top_k >= 1, "--top-k must be at least 1");
    let run = Finished::open(dir, args.unfinished)?;
    let exp = &run.experiment;
    if !matches!(
        exp.model,
        ModelConfig::Mlp(_)
            | ModelConfig::Cnn(_)
            | ModelConfig::Rnn(_)
            | ModelConfig::Lstm(_)
            | ModelConfig::Gru(_)
    ) {
        return Err(run.not_for("predict", "a classifier run (mlp, cnn, rnn, lstm or gru)"));
    }
    let pre = Preprocessing::read(&run.run)?;
    let device = Device::flex();
    let classes = pre.classes().to_vec();
    let (items, shape) = match &pre {
        Preprocessing::Image { shape, .. } => (
            read_images(&args.inputs, *shape, args.invert)?,
            InputShape::Image(*shape),
        ),
        Preprocessing::Text { .. } => {
            let vocab = run.vocabulary(run.run.vocabulary())?;
            let shape = InputShape::Tokens { vocab: vocab.len() };
            (read_texts(&args.inputs, &args.column)?, shape)
        }
    };
    anyhow::ensure!(!items.is_empty(), "nothing to predict: no inputs given");
    let model = exp.model.init(shape, classes.len(), &device).map_err(|e| {
        anyhow::anyhow!(
            "{}: `model.{}`: {}",
            run.run.config().display(),
            e.field,
            e.message
        )
    })?;
    let model: Classifier = run.load(model)?;

    let probabilities = match &pre {
        Preprocessing::Image {
            shape,
            normalization,
            ..
        } => {
            let mut digits = Digits {
                images: Vec::new(),
                labels: Vec::new(),
                rows: shape[1],
                cols: shape[2],
            };
            for item in &items {
                if let Item::Image(_, pixels) = item {
                    digits.images.extend(pixels);
                    digits.labels.push(0);
                }
            }
            let batcher = ImageBatcher::all(&digits, 256, (*normalization).into());
            forward(&model, &batcher, &device)?
        }
        Preprocessing::Text { .. } => {
            let DataConfig::Imdb(d) = &exp.data else {
                anyhow::bail!(
                    "{}: a text classifier that did not learn from reviews",
                    dir.display()
                );
            };
            let vocab = run.vocabulary(run.run.vocabulary())?;
            let tokenizer = review_tokenizer(d.tokenizer);
            let mut seqs = Vec::new();
            for item in &items {
                if let Item::Text(name, text) = item {
                    let ids = vocab.encode(tokenizer.as_ref(), text);
                    anyhow::ensure!(!ids.is_empty(), "{name}: no tokens in it");
                    seqs.push(ids);
                }
            }
            let labels = vec![0u8; seqs.len()];
            let batcher =
                SequenceBatcher::new(&seqs, &labels, (0..seqs.len()).collect(), 64, d.max_len)
                    .truncate(truncation(d.truncate));
            forward(&model, &batcher, &device)?
        }
    };

    let predictions: Vec<Prediction> = items
        .iter()
        .zip(probabilities)
        .map(|(item, p)| {
            let mut ranked: Vec<(String, f64)> = classes.iter().cloned().zip(p).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            ranked.truncate(args.top_k);
            let name = match item {
                Item::Image(name, _) | Item::Text(name, _) => name.clone(),
            };
            Prediction {
                input: name,
                class: ranked[0].0.clone(),
                probability: ranked[0].1,
                top: ranked,
            }
        })
        .collect();
    print(&predictions, args.format, out)
}

/// Class probabilities of every item of `data`, in order.
fn forward(
    model: &Classifier,
    data: &dyn Batches,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut all = Vec::new();
    for indices in data.order(None) {
        let batch = data.batch(&indices, device);
        let logits = model
            .logits(batch.inputs)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let [n, classes] = logits.dims();
        let p: Vec<f32> = softmax(logits, 1)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the probabilities: {e:?}"))?;
        all.extend((0..n).map(|i| {
            p[i * classes..(i + 1) * classes]
                .iter()
                .map(|&v| v as f64)
                .collect()
        }));
    }
    Ok(all)
}

/// Images from PNG or JPEG files, folders of them, or IDX image files, each made grey and
/// `shape`'s size.
fn read_images(inputs: &[String], shape: [usize; 3], invert: bool) -> anyhow::Result<Vec<Item>> {
    anyhow::ensure!(
        !inputs.is_empty(),
        "an image classifier needs image files (PNG, JPEG), folders of them or IDX files"
    );
    let (rows, cols) = (shape[1], shape[2]);
    let mut items = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect();
            files.sort();
            anyhow::ensure!(
                !files.is_empty(),
                "{}: no PNG or JPEG file in it",
                path.display()
            );
            files
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            anyhow::bail!(
                "{input}: no such file or folder (an image classifier reads image files)"
            );
        };
        for file in files {
            let name = file.display().to_string();
            if is_image(&file) {
                let image = image::open(&file)
                    .with_context(|| format!("{name}: not a readable PNG or JPEG image"))?
                    .into_luma8();
                let image = if image.dimensions() == (cols as u32, rows as u32) {
                    image
                } else {
                    image::imageops::resize(
                        &image,
                        cols as u32,
                        rows as u32,
                        image::imageops::FilterType::Triangle,
                    )
                };
                let mut pixels = image.into_raw();
                if invert {
                    pixels.iter_mut().for_each(|p| *p = 255 - *p);
                }
                items.push(Item::Image(name, pixels));
            } else {
                let bytes = kiln_data::idx::read_maybe_gzip(&file)?;
                let idx = kiln_data::idx::parse(&file, &bytes, 3).with_context(|| {
                    format!("{name}: neither a PNG or JPEG image nor an IDX file of images")
                })?;
                anyhow::ensure!(
                    idx.dims[1..] == [rows, cols],
                    "{name}: images of {}x{}, but the run trained on {rows}x{cols}",
                    idx.dims[1],
                    idx.dims[2]
                );
                for (i, image) in idx.data.chunks(rows * cols).enumerate() {
                    let mut pixels = image.to_vec();
                    if invert {
                        pixels.iter_mut().for_each(|p| *p = 255 - *p);
                    }
                    items.push(Item::Image(format!("{name}#{i}"), pixels));
                }
            }
        }
    }
    Ok(items)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg"))
}

/// Texts: each argument, unless it names a file (its whole text; a CSV or TSV: its `column`)
/// or a folder (each `.txt` file in it); without arguments, each line of stdin.
fn read_texts(inputs: &[String], column: &str) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    if inputs.is_empty() {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("reading stdin")?;
            if !line.trim().is_empty() {
                items.push(Item::Text(format!("stdin:{}", n + 1), line));
            }
        }
        return Ok(items);
    }
    for (n, input) in inputs.iter().enumerate() {
        let path = Path::new(input);
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .collect();
            files.sort();
            anyhow::ensure!(!files.is_empty(), "{}: no .txt file in it", path.display());
            for f in files {
                items.push(text_file(&f)?);
            }
        } else if path.is_file() {
            match path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .as_deref()
            {
                Some("csv") => items.extend(table_column(path, column, b',')?),
                Some("tsv") => items.extend(table_column(path, column, b'\t')?),
                _ => items.push(text_file(path)?),
            }
        } else {
            anyhow::ensure!(!input.trim().is_empty(), "input {}: an empty text", n + 1);
            items.push(Item::Text(input.clone(), input.clone()));
        }
    }
    Ok(items)
}

fn text_file(path: &Path) -> anyhow::Result<Item> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: not a readable UTF-8 text file", path.display()))?;
    anyhow::ensure!(!text.trim().is_empty(), "{}: an empty text", path.display());
    Ok(Item::Text(path.display().to_string(), text))
}

/// The `column` of a CSV or TSV file with a header row, one input per row.
fn table_column(path: &Path, column: &str, separator: u8) -> anyhow::Result<Vec<Item>> {
    use polars::prelude::*;
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_parse_options(CsvParseOptions::default().with_separator(separator))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| anyhow::anyhow!("{}: not a readable table: {e}", path.display()))?;
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let values = frame
        .column(column)
        .map_err(|_| {
            anyhow::anyhow!(
                "{}: no column `{column}` (it has {}); name the text column with --column",
                path.display(),
                names.join(", ")
            )
        })?
        .cast(&DataType::String)?;
    let values = values.str()?;
    (0..values.len())
        .map(|row| {
            let text = values.get(row).unwrap_or_default();
            anyhow::ensure!(
                !text.trim().is_empty(),
                "{} row {}: an empty `{column}`",
                path.display(),
                row + 2
            );
            Ok(Item::Text(
                format!("{}:{}", path.display(), row + 2),
                text.to_string(),
            ))
        })
        .collect()
}

fn print(predictions: &[Prediction], format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let shown = |s: &str| {
        let one_line = s.replace(['\n', '\r', '\t'], " ");
        match one_line.char_indices().nth(60) {
            Some((i, _)) => format!("{}…", &one_line[..i]),
            None => one_line,
        }
    };
    let top = |p: &Prediction| {
        p.top
            .iter()
            .map(|(c, v)| format!("{c} {:.1} %", v * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match format {
        Format::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["input", "class", "probability", "top"]);
            for p in predictions {
                table.add_row([
                    shown(&p.input),
                    p.class.clone(),
                    format!("{:.2} %", p.probability * 100.0),
                    top(p),
                ]);
            }
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            writeln!(out, "input,class,probability,top")?;
            for p in predictions {
                writeln!(
                    out,
                    "{},{},{},{}",
                    quote(&p.input),
                    quote(&p.class),
                    p.probability,
                    quote(&top(p))
                )?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, predictions)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
