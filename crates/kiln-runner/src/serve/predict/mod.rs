//! `kiln predict RUN [INPUTS]`: a trained classifier's answer for each new input, with the
//! top-k class probabilities. Inputs are prepared from the run folder alone: images decoded
//! as the run's were (channels, size, fit) and normalised with its training statistics
//! (`preprocessing.json`); text cut by the run's tokenizer into its vocabulary (`vocab.txt`)
//! and truncated as it was (`config.toml`); a table's rows encoded by the run's codec
//! (`table.rs`).

mod table;
mod values;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Device, activation::softmax};
use kiln_data::Digits;
use kiln_data::ImageBatcher;
use kiln_data::download::{write_atomically, write_folder_atomically};
use kiln_data::images::{Fit, FolderSettings};
use kiln_data::text::SequenceBatcher;
use kiln_models::{Classifier, InputShape, ModelConfig};
use kiln_train::{Batches, Classify};
use serde::Serialize;

use crate::store::finished::Finished;
use crate::store::preprocessing::{Outputs, Preprocessing};
use crate::tasks::prepare::{review_tokenizer, truncation};

/// How `predict` prints its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// What `kiln predict` was asked (its command-line options).
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// Image or text files, folders, CSV/TSV tables, or texts; none: the lines of stdin. A
    /// table run takes one table file and prints its rows with the predictions appended.
    pub inputs: Vec<String>,
    /// How many classes to list per input, most probable first.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// table, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The text column of a CSV or TSV input.
    #[arg(long, default_value = "text")]
    pub column: String,
    /// Images drawn dark on light (MNIST's digits are light on dark).
    #[arg(long)]
    pub invert: bool,
    /// Use a run that did not complete (its best checkpoint so far).
    #[arg(long)]
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

/// A classifier run opened for use: its config, preprocessing and best model.
pub(crate) struct Ready {
    pub run: Finished,
    pub pre: Preprocessing,
    pub model: Classifier,
    pub device: Device,
}

pub(crate) fn open(dir: &Path, unfinished: bool, command: &str) -> anyhow::Result<Ready> {
    let run = Finished::open(dir, unfinished)?;
    let exp = &run.experiment;
    if !matches!(exp.task.as_str(), "classification" | "regression") {
        anyhow::bail!(
            "{}: the run is a {} task; `{command}` needs a classification or regression run",
            run.run.root.display(),
            exp.task
        );
    }
    if !matches!(
        exp.model,
        ModelConfig::Mlp(_)
            | ModelConfig::Cnn(_)
            | ModelConfig::Resnet(_)
            | ModelConfig::Tabular(_)
            | ModelConfig::Rnn(_)
            | ModelConfig::Lstm(_)
            | ModelConfig::Gru(_)
    ) {
        return Err(run.not_for(
            command,
            "a classifier or regression run (mlp, cnn, resnet, tabular, rnn, lstm or gru)",
        ));
    }
    let pre = Preprocessing::read(&run.run)?;
    let device = Device::flex();
    let shape = match &pre {
        Preprocessing::Image { shape, .. } => InputShape::Image(*shape),
        Preprocessing::Text { .. } => InputShape::Tokens {
            vocab: run.vocabulary(run.run.vocabulary())?.len(),
        },
        Preprocessing::Table { codec, .. } => InputShape::Table {
            numeric: codec.numeric_width(),
            levels: codec.cardinalities(),
        },
    };
    let outputs = pre.outputs().width();
    let model = exp.model.init(shape, outputs, &device).map_err(|e| {
        anyhow::anyhow!(
            "{}: `model.{}`: {}",
            run.run.config().display(),
            e.field,
            e.message
        )
    })?;
    let model: Classifier = run.load(model)?;
    Ok(Ready {
        run,
        pre,
        model,
        device,
    })
}

/// The model's outputs for each of `items`: class probabilities, or a regression's
/// standardised values.
fn outputs(
    dir: &Path,
    run: &Finished,
    pre: &Preprocessing,
    model: &Classifier,
    device: &Device,
    items: &[Item],
) -> anyhow::Result<Vec<Vec<f64>>> {
    let exp = &run.experiment;
    let regression = matches!(pre.outputs(), Outputs::Values { .. });
    Ok(match pre {
        Preprocessing::Image {
            shape,
            normalization,
            ..
        } => {
            let mut digits = Digits {
                images: Vec::new(),
                labels: Vec::new(),
                channels: shape[0],
                rows: shape[1],
                cols: shape[2],
            };
            for item in items {
                if let Item::Image(_, pixels) = item {
                    digits.images.extend(pixels);
                    digits.labels.push(0);
                }
            }
            let batcher =
                ImageBatcher::all(&digits, exp.train.eval_batch_size, (*normalization).into());
            forward(model, &batcher, device, !regression)?
        }
        Preprocessing::Text { .. } => {
            let Some(d) = exp.data.text_shape() else {
                anyhow::bail!(
                    "{}: a text classifier that did not learn from labelled texts",
                    dir.display()
                );
            };
            let vocab = run.vocabulary(run.run.vocabulary())?;
            let tokenizer = review_tokenizer(d.tokenizer);
            let mut seqs = Vec::new();
            for item in items {
                if let Item::Text(name, text) = item {
                    let ids = vocab.encode(tokenizer.as_ref(), text);
                    anyhow::ensure!(!ids.is_empty(), "{name}: no tokens in it");
                    seqs.push(ids);
                }
            }
            let labels = vec![0u8; seqs.len()];
            let batcher = review_batches(&seqs, &labels, exp.train.eval_batch_size, d);
            forward(model, &batcher, device, !regression)?
        }
        // Answered above, by `table::predict`.
        Preprocessing::Table { .. } => anyhow::bail!("{}: a table run", dir.display()),
    })
}

pub fn predict(dir: &Path, args: &PredictArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.top_k >= 1, "--top-k must be at least 1");
    let Ready {
        run,
        pre,
        model,
        device,
    } = open(dir, args.unfinished, "predict")?;
    if matches!(pre, Preprocessing::Table { .. }) {
        let ready = Ready {
            run,
            pre,
            model,
            device,
        };
        return table::predict(&ready, args, out);
    }
    let exp = &run.experiment;
    let classes = pre.classes().to_vec();
    let items = match &pre {
        Preprocessing::Image { shape, .. } => {
            read_images(&args.inputs, image_settings(exp, *shape), args.invert)?
        }
        Preprocessing::Text { .. } => read_texts(&args.inputs, &args.column)?,
        Preprocessing::Table { .. } => Vec::new(),
    };
    anyhow::ensure!(!items.is_empty(), "nothing to predict: no inputs given");

    let probabilities = outputs(dir, &run, &pre, &model, &device, &items)?;

    let names = items.iter().map(|item| match item {
        Item::Image(name, _) | Item::Text(name, _) => name.clone(),
    });
    if let Outputs::Values { columns, mean, std } = pre.outputs() {
        let values = probabilities
            .iter()
            .map(|o| {
                (0..columns.len())
                    .map(|t| o[t] * std[t] + mean[t])
                    .collect()
            })
            .collect::<Vec<Vec<f64>>>();
        return print_values(names.collect(), columns, &values, args.format, out);
    }
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

/// Every review of `seqs`, in order, cut to the run's length as its test split was.
fn review_batches<'a>(
    seqs: &'a [Vec<u32>],
    labels: &'a [u8],
    size: usize,
    d: crate::config::schema::TextShape,
) -> SequenceBatcher<'a> {
    SequenceBatcher::new(seqs, labels, (0..seqs.len()).collect(), size, d.max_len)
        .truncate(truncation(d.truncate))
}

/// The outputs for every item of `data`, in order: class probabilities when asked,
/// else the model's standardised values.
fn forward(
    model: &Classifier,
    data: &dyn Batches,
    device: &Device,
    probabilities: bool,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut all = Vec::new();
    for indices in data.order(None) {
        let batch = data.batch(&indices, device);
        let logits = model
            .logits(batch.inputs)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let [n, classes] = logits.dims();
        let outputs = if probabilities {
            softmax(logits, 1)
        } else {
            logits
        };
        let p: Vec<f32> = outputs
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

/// How the run's images were prepared: an image folder's own channels, size and fit; any
/// other image set's shape, resized.
fn image_settings(exp: &crate::config::schema::Experiment, shape: [usize; 3]) -> FolderSettings {
    let fit = match &exp.data {
        crate::config::schema::DataConfig::Images(d) => d.fit.into(),
        _ => Fit::Resize,
    };
    FolderSettings {
        channels: shape[0],
        size: [shape[1], shape[2]],
        fit,
        skip_unreadable: false,
    }
}

fn read_images(
    inputs: &[String],
    settings: FolderSettings,
    invert: bool,
) -> anyhow::Result<Vec<Item>> {
    let shape = [settings.channels, settings.size[0], settings.size[1]];
    anyhow::ensure!(
        !inputs.is_empty(),
        "an image classifier needs image files (PNG, JPEG), folders of them or IDX files"
    );
    let (rows, cols) = (shape[1], shape[2]);
    let mut items = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        let files: Vec<PathBuf> = if path.is_dir() {
            files_in(path, is_image, "PNG or JPEG file")?
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
                let mut pixels = kiln_data::images::decode(&file, &settings).map_err(|e| {
                    anyhow::anyhow!("{name}: not a readable PNG or JPEG image ({e})")
                })?;
                if invert {
                    pixels.iter_mut().for_each(|p| *p = 255 - *p);
                }
                items.push(Item::Image(name, pixels));
            } else {
                anyhow::ensure!(
                    shape[0] == 1,
                    "{name}: IDX images are grey, but the run trained on colour images"
                );
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

/// The files of folder `dir` that `keep` accepts, sorted; none is an error naming `what`.
fn files_in(dir: &Path, keep: impl Fn(&Path) -> bool, what: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "{}: no {what} in it", dir.display());
    Ok(files)
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
            let is_text = |p: &Path| p.extension().is_some_and(|e| e == "txt");
            for f in files_in(path, is_text, ".txt file")? {
                items.push(text_file(&f)?);
            }
        } else if path.is_file() {
            anyhow::ensure!(
                !is_image(path),
                "{}: an image, but the run is a text classifier (it reads texts)",
                path.display()
            );
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
    texts_of(&read_table(path, separator)?, path, column)
}

/// A CSV or TSV file with a header row.
fn read_table(path: &Path, separator: u8) -> anyhow::Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    CsvReadOptions::default()
        .with_has_header(true)
        .with_parse_options(CsvParseOptions::default().with_separator(separator))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| anyhow::anyhow!("{}: not a readable table: {e}", path.display()))
}

/// The non-empty texts of `column` of the table read from `path`, named by their rows.
fn texts_of(
    frame: &polars::prelude::DataFrame,
    path: &Path,
    column: &str,
) -> anyhow::Result<Vec<Item>> {
    use polars::prelude::*;
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

/// A regression's answers: each input with a value per target column.
fn print_values(
    inputs: Vec<String>,
    columns: &[String],
    values: &[Vec<f64>],
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(std::iter::once("input".to_string()).chain(columns.iter().cloned()));
            for (input, v) in inputs.iter().zip(values) {
                table.add_row(
                    std::iter::once(input.clone())
                        .chain(v.iter().map(|&x| kiln_report::render::number(x))),
                );
            }
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let header: Vec<String> = std::iter::once("input".to_string())
                .chain(
                    columns
                        .iter()
                        .map(|c| crate::tasks::regression::csv_field(&format!("predicted_{c}"))),
                )
                .collect();
            writeln!(out, "{}", header.join(","))?;
            for (input, v) in inputs.iter().zip(values) {
                let cells: Vec<String> = std::iter::once(quote(input))
                    .chain(v.iter().map(f64::to_string))
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Json => {
            let records: Vec<serde_json::Value> = inputs
                .iter()
                .zip(values)
                .map(|(input, v)| {
                    let mut record = serde_json::Map::new();
                    record.insert("input".into(), input.clone().into());
                    for (c, &x) in columns.iter().zip(v) {
                        record.insert(c.clone(), x.into());
                    }
                    serde_json::Value::Object(record)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &records)?;
            writeln!(out)?;
        }
    }
    Ok(())
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

/// What `kiln evaluate` was asked (its command-line options).
#[derive(Debug, Clone, clap::Args)]
pub struct EvaluateArgs {
    /// An IDX folder (MNIST-style runs), a folder of class folders (image-folder runs); an
    /// aclImdb folder or .tar.gz, or a CSV/TSV (text runs); a table file with the target
    /// column or columns (table runs); a table of image files and their values (image
    /// regressions).
    #[arg(long)]
    pub data: PathBuf,
    /// Where the files an image regression's `--data` table lists lie (default: the
    /// table's folder).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// The evaluation's name (default: the data's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// The text column of a CSV or TSV.
    #[arg(long, default_value = "text")]
    pub column: String,
    /// The label column of a CSV or TSV.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Map a label value to a class, e.g. --labels positive=pos (repeatable).
    #[arg(long = "labels", value_name = "VALUE=CLASS")]
    pub labels: Vec<String>,
    /// Use a run that did not complete (its best checkpoint so far).
    #[arg(long)]
    pub unfinished: bool,
}

/// The evaluation's name (`--name`, or the data's file name) and its folder, which must
/// not exist yet.
fn evaluation_folder(run: &Finished, args: &EvaluateArgs) -> anyhow::Result<(String, PathBuf)> {
    let data = &args.data;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => data
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_end_matches(".gz")
                    .replace(['.', ' '], "_")
            })
            .unwrap_or_else(|| "evaluation".into()),
    };
    anyhow::ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "--name `{name}`: letters, digits, `-` and `_` only (it names a folder)"
    );
    let folder = run.run.evaluation(&name);
    anyhow::ensure!(
        !folder.exists(),
        "{}: an evaluation of that name exists; give another with --name",
        folder.display()
    );
    Ok((name, folder))
}

/// A classifier's metrics on `--data`, prepared and batched as the run's own test was.
fn class_metrics(
    dir: &Path,
    run: &Finished,
    pre: &Preprocessing,
    model: &Classifier,
    device: &Device,
    args: &EvaluateArgs,
) -> anyhow::Result<kiln_train::SplitMetrics> {
    let exp = &run.experiment;
    let classes = pre.classes();
    let data = &args.data;
    Ok(match pre {
        Preprocessing::Image {
            shape,
            normalization,
            ..
        } => {
            let digits = if matches!(exp.data, crate::config::schema::DataConfig::Images(_)) {
                labelled_folder(data, image_settings(exp, *shape), classes)?
            } else {
                labelled_images(data, *shape, classes.len())?
            };
            // Batched as the run's own test was, so the figures are comparable to the bit.
            let batcher =
                ImageBatcher::all(&digits, exp.train.eval_batch_size, (*normalization).into());
            run_evaluation(model, &batcher, exp, classes.len(), device)?
        }
        Preprocessing::Text { .. } => {
            let Some(d) = exp.data.text_shape() else {
                anyhow::bail!(
                    "{}: a text classifier that did not learn from labelled texts",
                    dir.display()
                );
            };
            let (texts, labels) = labelled_texts(data, args, classes)?;
            let vocab = run.vocabulary(run.run.vocabulary())?;
            let tokenizer = review_tokenizer(d.tokenizer);
            let seqs = vocab.encode_all(tokenizer.as_ref(), &texts);
            // Bucketed as the run's test was: order does not matter for metrics.
            let batcher =
                review_batches(&seqs, &labels, exp.train.eval_batch_size, d).bucket(d.bucket);
            run_evaluation(model, &batcher, exp, classes.len(), device)?
        }
        Preprocessing::Table { codec, .. } => {
            let frame = kiln_data::table::read_table(data, exp.data.table_encoding())?;
            let rows = codec.encode(&frame, data, true)?;
            let batcher = kiln_data::table::TableBatcher::new(
                &rows,
                (0..rows.rows).collect(),
                exp.train.eval_batch_size,
            );
            run_evaluation(model, &batcher, exp, classes.len(), device)?
        }
    })
}

/// `kiln evaluate RUN --data ...`: the run's best model on another labelled set prepared as
/// its training data were, written as `evaluations/<name>/` (test.json, confusion.csv,
/// source.json) inside the run. Returns that folder.
pub fn evaluate(dir: &Path, args: &EvaluateArgs) -> anyhow::Result<PathBuf> {
    let Ready {
        run,
        pre,
        model,
        device,
    } = open(dir, args.unfinished, "evaluate")?;
    let classes = pre.classes().to_vec();
    let data = &args.data;
    anyhow::ensure!(
        data.exists(),
        "--data {}: no such file or folder",
        data.display()
    );
    let (name, folder) = evaluation_folder(&run, args)?;

    if let Outputs::Values { .. } = pre.outputs() {
        let ready = Ready {
            run,
            pre,
            model,
            device,
        };
        let (tested, predicted, loss) = values::evaluate(&ready, args)?;
        let items = tested.items.len();
        let mut scores = [0.0; 3];
        finish(&ready.run, &folder, &name, data, items as u64, |dir| {
            scores = crate::tasks::regression::write_report(
                dir,
                &tested,
                &predicted,
                best_epoch(&ready.run)?,
                loss,
            )?;
            Ok(())
        })?;
        println!(
            "{}: RMSE {}, MAE {}, R² {:.4} on {items} items of {}",
            folder.display(),
            kiln_report::render::number(scores[0]),
            kiln_report::render::number(scores[1]),
            scores[2],
            data.display()
        );
        return Ok(folder);
    }
    let metrics = class_metrics(dir, &run, &pre, &model, &device, args)?;

    let best_epoch = best_epoch(&run)?;
    let items = metrics.confusion.as_ref().map_or(0, |c| c.total());
    finish(&run, &folder, &name, data, items, |dir| {
        crate::tasks::classify::write_test_report(dir, &metrics, best_epoch, &classes)
    })?;
    println!(
        "{}: accuracy {:.2} %, loss {:.4}, macro F1 {:.4} on {items} items of {}",
        folder.display(),
        metrics.accuracy * 100.0,
        metrics.loss,
        metrics.macro_f1.unwrap_or(f64::NAN),
        data.display()
    );
    Ok(folder)
}

fn best_epoch(run: &Finished) -> anyhow::Result<usize> {
    let manifest = crate::store::manifest::Manifest::read(&run.run.manifest())?;
    Ok(manifest.best_epoch.unwrap_or(0))
}

/// Writes an evaluation's folder whole or not at all (`report` writes its test report
/// into it, beside `source.json`), and adds it to the run's index row.
fn finish(
    run: &Finished,
    folder: &Path,
    name: &str,
    data: &Path,
    items: u64,
    report: impl FnOnce(&crate::store::run_dir::RunDir) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let source = serde_json::json!({
        "data": std::path::absolute(data).unwrap_or_else(|_| data.to_path_buf()),
        "items": items,
        "evaluated_at": chrono::Utc::now(),
        "checkpoint": "best",
    });
    let hidden = folder.with_file_name(format!(".{name}.partial"));
    write_folder_atomically(&hidden, folder, |dir| {
        let evaluation = crate::store::run_dir::RunDir::open(dir);
        report(&evaluation)?;
        write_atomically(
            &evaluation.evaluation_source(),
            &serde_json::to_vec_pretty(&source)?,
        )?;
        anyhow::Ok(())
    })?;
    // The run's index row gains it, for compare to show beside the run's own test.
    let results = crate::store::index::results_of(&run.run.root);
    if crate::store::index::path(&results).exists() {
        crate::store::index::update_or_warn(
            &results,
            &run.run.root,
            &crate::config::spec::all_metrics(),
        );
    }
    Ok(())
}

/// An evaluation's observer: it records nothing and stops when the user interrupts.
struct Quiet;

impl kiln_train::Observer<Classifier> for Quiet {
    fn stop_requested(&self) -> bool {
        crate::platform::interrupt::requested()
    }
}

fn run_evaluation(
    model: &Classifier,
    data: &dyn Batches,
    exp: &crate::config::schema::Experiment,
    classes: usize,
    device: &Device,
) -> anyhow::Result<kiln_train::SplitMetrics> {
    Ok(kiln_train::evaluate(
        model,
        data,
        exp.train.loss,
        classes,
        device,
        &mut Quiet,
    )?)
}

/// Images and labels from an IDX folder: one `*images-idx3-ubyte[.gz]` and its
/// `*labels-idx1-ubyte[.gz]` (the `t10k` pair when there are several).
/// A folder of class folders named as the run's classes (some may be absent), decoded as
/// the run's images were.
fn labelled_folder(
    folder: &Path,
    settings: FolderSettings,
    classes: &[String],
) -> anyhow::Result<Digits> {
    let budget = crate::tasks::data_budget();
    let read = kiln_data::images::load_folder(folder, &settings, None, budget.as_ref())?;
    let mut digits = read.train;
    for split in [read.validation, read.test].into_iter().flatten() {
        digits.images.extend(split.images);
        digits.labels.extend(split.labels);
    }
    // The folder's own class ids to the run's.
    let mut map = Vec::with_capacity(read.classes.len());
    for name in &read.classes {
        let Some(i) = classes.iter().position(|c| c == name) else {
            anyhow::bail!(
                "{}: class folder `{name}` is not one of the run's classes ({})",
                folder.display(),
                classes.join(", ")
            );
        };
        map.push(i as u8);
    }
    digits.labels.iter_mut().for_each(|l| *l = map[*l as usize]);
    Ok(digits)
}

fn labelled_images(folder: &Path, shape: [usize; 3], classes: usize) -> anyhow::Result<Digits> {
    anyhow::ensure!(
        folder.is_dir(),
        "--data {}: an image run is evaluated on a folder of IDX files (images and labels)",
        folder.display()
    );
    let mut images: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("images-idx3-ubyte"))
        })
        .collect();
    images.sort();
    if images.len() > 1 {
        images.retain(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("t10k"))
        });
    }
    let [images] = images.as_slice() else {
        anyhow::bail!(
            "{}: expected one `*-images-idx3-ubyte[.gz]` file (or a `t10k-` one among several)",
            folder.display()
        );
    };
    let labels_name = images
        .file_name()
        .map(|n| n.to_string_lossy().replace("images-idx3", "labels-idx1"))
        .unwrap_or_default();
    let labels = folder.join(&labels_name);
    let labels = if labels.exists() {
        labels
    } else {
        folder.join(labels_name.trim_end_matches(".gz"))
    };
    anyhow::ensure!(
        labels.exists(),
        "{}: no labels file {} beside it",
        images.display(),
        labels.display()
    );
    let digits = kiln_data::mnist::read_pair(images, &labels)?;
    anyhow::ensure!(
        [digits.rows, digits.cols] == [shape[1], shape[2]],
        "{}: images of {}x{}, but the run trained on {}x{}",
        images.display(),
        digits.rows,
        digits.cols,
        shape[1],
        shape[2]
    );
    if let Some((i, l)) = digits
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        anyhow::bail!(
            "{} at item {i}: label {l}, but the run knows {classes} classes (0 to {})",
            labels.display(),
            classes - 1
        );
    }
    anyhow::ensure!(!digits.labels.is_empty(), "{}: no images", images.display());
    Ok(digits)
}

/// Texts and class indices from an aclImdb folder or archive (its test split) or a CSV/TSV
/// (`--column`, `--label-column`, label values mapped by `--labels value=class`, or equal to
/// the class names or their indices).
fn labelled_texts(
    data: &Path,
    args: &EvaluateArgs,
    classes: &[String],
) -> anyhow::Result<(Vec<String>, Vec<u8>)> {
    let extension = data
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if data.is_dir() || extension == "gz" {
        let reviews = if data.is_dir() {
            kiln_data::imdb::read_folder(data)?
        } else {
            kiln_data::imdb::read_archive(
                data,
                &std::fs::read(data).with_context(|| format!("reading {}", data.display()))?,
            )?
        };
        anyhow::ensure!(
            !reviews.test.is_empty(),
            "{}: no test reviews",
            data.display()
        );
        return Ok(reviews
            .test
            .into_iter()
            .map(|r| (r.text, r.positive as u8))
            .unzip());
    }
    let separator = match extension.as_str() {
        "csv" => b',',
        "tsv" => b'\t',
        _ => anyhow::bail!(
            "--data {}: a text run is evaluated on an aclImdb folder or .tar.gz archive, or a .csv/.tsv table",
            data.display()
        ),
    };
    let table = read_table(data, separator)?;
    let column = |name: &str| -> anyhow::Result<Vec<String>> {
        Ok(texts_of(&table, data, name)?
            .into_iter()
            .filter_map(|item| match item {
                Item::Text(_, t) => Some(t),
                Item::Image(..) => None,
            })
            .collect())
    };
    let texts = column(&args.column)?;
    let mut mapping: Vec<(String, u8)> = Vec::new();
    for pair in &args.labels {
        let (value, class) = pair.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--labels `{pair}`: expected value=class, e.g. positive=pos")
        })?;
        let index = classes.iter().position(|c| c == class).ok_or_else(|| {
            anyhow::anyhow!(
                "--labels `{pair}`: `{class}` is not a class of the run ({})",
                classes.join(", ")
            )
        })?;
        mapping.push((value.to_string(), index as u8));
    }
    let labels = column(&args.label_column)?;
    let labels = labels
        .iter()
        .enumerate()
        .map(|(row, value)| {
            let value = value.trim();
            mapping
                .iter()
                .find(|(v, _)| v == value)
                .map(|(_, i)| *i)
                .or_else(|| classes.iter().position(|c| c == value).map(|i| i as u8))
                .or_else(|| value.parse::<u8>().ok().filter(|&i| (i as usize) < classes.len()))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} row {}: label `{value}` is not a class of the run ({}); map it with --labels {value}=<class>",
                        data.display(),
                        row + 2,
                        classes.join(", ")
                    )
                })
        })
        .collect::<anyhow::Result<Vec<u8>>>()?;
    Ok((texts, labels))
}
