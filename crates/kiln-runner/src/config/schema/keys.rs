//! Every key of an experiment file, with its type, default, range and meaning: the one source
//! of `kiln help config [KEY]` and of the generated reference page. Its tests hold it to the
//! loader: each key the loader accepts is here, each key here is accepted, and each literal
//! default is what a loaded file resolves to.

use std::fmt::Write;

/// Which files a key belongs to: most tables take different keys for each dataset, model,
/// optimizer, schedule or task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    Task(&'static [&'static str]),
    Dataset(&'static [&'static str]),
    Model(&'static [&'static str]),
    Optimizer(&'static [&'static str]),
    Schedule(&'static [&'static str]),
    Problem(&'static [&'static str]),
}

impl When {
    fn describe(self) -> String {
        let (what, names) = match self {
            When::Always => return String::new(),
            When::Task(n) => ("task", n),
            When::Dataset(n) => ("data.dataset", n),
            When::Model(n) => ("model.kind", n),
            When::Optimizer(n) => ("train.optimizer.name", n),
            When::Schedule(n) => ("train.schedule.kind", n),
            When::Problem(n) => ("data.problem.kind", n),
        };
        format!("{what} = {}", names.join(", "))
    }
}

/// One key as the reference gives it. `default` is a TOML value where the loader fills one
/// in (tests compare it with a loaded file), or words in parentheses where it leaves the key
/// out, or `required`.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub key: &'static str,
    pub when: When,
    pub ty: &'static str,
    pub default: &'static str,
    pub range: &'static str,
    pub meaning: &'static str,
}

impl Key {
    /// The default as a TOML value, where the loader fills one in; `None` for `required`
    /// keys and for defaults in words (`(none)`), which leave the key out.
    pub fn literal_default(&self) -> Option<&'static str> {
        let words = self.default.starts_with('(') || self.default.starts_with("required");
        (!words).then_some(self.default)
    }
}

const fn k(
    key: &'static str,
    when: When,
    ty: &'static str,
    default: &'static str,
    range: &'static str,
    meaning: &'static str,
) -> Key {
    Key {
        key,
        when,
        ty,
        default,
        range,
        meaning,
    }
}

use When::{
    Always, Dataset as D, Model as M, Optimizer as O, Problem as P, Schedule as S, Task as T,
};

const FRACTION: &str = "[0, 1)";
const POSITIVE: &str = ">= 1";
const SPLIT_FILES: &[&str] = &["table", "texts"];
const TOKENS: &[&str] = &["imdb", "texts", "corpus", "pairs"];
const RECURRENT: &[&str] = &["rnn", "lstm", "gru"];
const CELLS: &[&str] = &["language_model", "seq2seq"];
const ADAM: &[&str] = &["adam", "adamw"];
const ACTIVATIONS: &str = "`relu`, `leaky_relu`, `sigmoid`, `tanh`, `gelu`";

/// The tables of an experiment file, in the order the reference shows them.
pub const SECTIONS: &[(&str, &str)] = &[
    ("", "what is learnt, where, and from which seed."),
    (
        "data",
        "The dataset and how it is split and prepared; `dataset` decides the other keys.",
    ),
    ("model", "The network; `kind` decides the other keys."),
    ("train", "The optimisation."),
    (
        "generation",
        "What a generative task samples, decodes or scores; `task` decides the keys.",
    ),
    (
        "checkpoint",
        "How often training state is saved for `run --resume`.",
    ),
    (
        "cluster",
        "What each trial asks of Slurm or Kubernetes (`kiln submit`).",
    ),
    (
        "sweep",
        "One experiment as many trials. Other keys are dotted config keys with a list of values (a grid axis).",
    ),
    (
        "sweep.search",
        "A search that learns from its trials. Other keys are dotted config keys with a distribution.",
    ),
];

/// Every key. Keys inside a list of tables are written `list[].key`.
#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    // The top level.
    k("task", Always, "string", "required", "`classification`, `regression`, `multilabel`, `language_modelling`, `translation`, `gan`, or a plug-in's task",
      "What is learnt; it decides which datasets, models, metrics and `[generation]` keys apply."),
    k("name", Always, "string", "required", "letters, digits, `-`, `_`",
      "The experiment's name: its runs go to `results/<name>/`."),
    k("description", Always, "string", "\"\"", "",
      "Free text for the reader, kept in the run's resolved `config.toml`; it changes nothing."),
    k("seed", Always, "integer", "42", ">= 0",
      "Fixes initialisation, the validation split, batch order, dropout and augmentation: on the CPU backend a seed fully determines a run."),
    k("backend", Always, "string", "\"flex\"", "`flex`, `wgpu`, `tch`, `cuda`",
      "The burn backend: `flex` is the CPU backend with kiln's fused kernels, always built; the others are built when a file asks for them."),
    k("device", Always, "string", "\"default\"", "`default`, `cpu`, `cuda:N`, `discrete-gpu:N`, `integrated-gpu:N`...",
      "The backend's device; `default` is the backend's best."),
    k("datasets", Always, "path", "(the download cache, `datasets/`)", "",
      "A folder of existing datasets (e.g. `../shared/datasets`) read instead of the download cache; `KILN_DATASETS` sets it too."),
    k("backends", Always, "list of strings", "(none)", "backend names",
      "The experiment once per backend, as a sweep; each trial has one `backend`."),
    // [data], every dataset.
    k("data.dataset", Always, "string", "required", "`mnist`, `fashion_mnist`, `cifar10`, `cifar100`, `images`, `imdb`, `texts`, `table`, `corpus`, `pairs`, `synthetic`",
      "Which dataset; the other `[data]` keys are that dataset's own."),
    k("data.validation_fraction", Always, "float", "0.1", FRACTION,
      "The share of the training data held out for validation, by a split seeded with `seed` (for a corpus: the end of the text)."),
    k("data.train_limit", Always, "integer", "(all)", POSITIVE,
      "Train on the first N items only (characters for a corpus), for quick runs."),
    k("data.source", D(&["mnist", "imdb", "corpus", "pairs"]), "string", "\"full\"", "`full`, `sample`",
      "`full` reads (or downloads) the whole dataset; `sample` the small one compiled into kiln."),
    k("data.source", D(&["fashion_mnist"]), "string", "\"full\"", "`full`",
      "Fashion-MNIST is read (or downloaded) whole: kiln has no sample of it compiled in."),
    k("data.download", D(&["mnist", "fashion_mnist", "imdb", "corpus", "cifar10", "cifar100"]), "boolean", "true", "",
      "Whether missing files may be downloaded into `datasets/` (downloads are always checked against their checksums)."),
    k("data.verify", D(&["mnist", "corpus"]), "boolean", "true", "",
      "Check the SHA-256 of files found on disk, over their decompressed content."),
    k("data.verify", D(&["fashion_mnist"]), "boolean", "true", "",
      "Check the MD5 its authors publish of each `.gz` file found on disk (unpacked files cannot be checked: set `false` to use them)."),
    k("data.folds", D(&["mnist", "fashion_mnist", "imdb"]), "integer", "(no cross-validation)", ">= 2",
      "Cross-validation: the training set cut into this many seeded parts, part `fold` held out for validation instead of `validation_fraction`. `[sweep] folds = k` sets both and runs every fold."),
    k("data.fold", D(&["mnist", "fashion_mnist", "imdb"]), "integer", "(none)", "0 to folds - 1",
      "The fold validated on; needs `folds`."),
    k("data.normalize", D(&["mnist", "fashion_mnist", "cifar10", "cifar100", "images"]), "string", "\"standardize\"", "`standardize`, `scale`",
      "`scale` maps pixels to [0, 1]; `standardize` then subtracts the training split's mean and divides by its std (per channel)."),
    k("data.classes", D(&["mnist"]), "list of strings", "(the digits)", "one name per label",
      "Class names, label 0 first (e.g. Fashion-MNIST's); test.json, confusion.csv and `kiln predict` show them."),
    k("data.classes", D(&["fashion_mnist"]), "list of strings", "(T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot)", "one name per label",
      "Class names, label 0 first; test.json, confusion.csv and `kiln predict` show them."),
    k("data.extract", D(&["imdb"]), "boolean", "false", "",
      "Unpack the downloaded archive once and read the folder from then on instead of streaming the archive every run (an archive found through `datasets` is never unpacked)."),
    k("data.path", D(&["corpus"]), "path", "(tiny Shakespeare from the datasets folder)", "",
      "The UTF-8 text to model; relative to the working directory."),
    k("data.path", D(&["pairs"]), "path", "(`parallel/eng-spa.tsv` in the datasets folder)", "",
      "The `source<TAB>target` file; relative to the working directory."),
    k("data.path", D(SPLIT_FILES), "path", "required", ".csv, .tsv, .parquet, .jsonl",
      "The training file; relative to the working directory."),
    k("data.path", D(&["images"]), "path", "required", "",
      "The folder: `<class>/<images>`, or `train/`, `test/` (and optionally `validation/`) with class folders in each; class names are the folder names."),
    k("data.test", D(SPLIT_FILES), "path", "(held out of `path`)", "",
      "A test file with the same columns; without one `test_fraction` of `path`'s rows are held out."),
    k("data.validation", D(SPLIT_FILES), "path", "(held out of the training rows)", "",
      "A validation file with the same columns; without one `validation_fraction` of the training rows are held out."),
    k("data.test_fraction", D(&["pairs", "synthetic"]), "float", "0.1", FRACTION,
      "The share held out for the final test; validation takes `validation_fraction` of the rest."),
    k("data.test_fraction", D(&["table", "texts", "images"]), "float", "0.2", FRACTION,
      "Without a test file (or `test/` folder), this share is held out for the final test."),
    k("data.stratify", D(&["table", "texts", "images"]), "boolean", "true", "",
      "Hold out the same share of every class (classification only)."),
    k("data.encoding", D(SPLIT_FILES), "string", "\"utf-8\"", "`utf-8`, `latin-1`",
      "The text encoding of CSV, TSV and JSON-lines files."),
    // Tokens.
    k("data.tokenizer", D(&["imdb", "texts", "pairs"]), "string", "\"word\"", "`word`, `char`",
      "`word`: lower-cased words and punctuation (HTML removed); `char`: characters, case kept."),
    k("data.tokenizer", D(&["corpus"]), "string", "\"char\"", "`char`, `word`",
      "`char`: characters, case kept; `word`: lower-cased words and punctuation."),
    k("data.vocab_size", D(TOKENS), "integer", "20000", ">= 5",
      "The vocabulary's size, the four special tokens `<pad> <unk> <bos> <eos>` included, from the training split only."),
    k("data.min_freq", D(TOKENS), "integer", "1", ">= 1",
      "Tokens seen fewer times in the training split become `<unk>`."),
    k("data.max_len", D(&["imdb", "texts"]), "integer", "200", POSITIVE,
      "Texts are cut to this many tokens."),
    k("data.truncate", D(&["imdb", "texts"]), "string", "\"head\"", "`head`, `tail`",
      "Which end of a long text is cut: `head` cuts the beginning (keeps the last `max_len` tokens), `tail` the end."),
    k("data.bucket", D(&["imdb", "texts"]), "boolean", "true", "",
      "Batch texts of similar length together: faster, and the same result for each text."),
    k("data.pretrained_embeddings", D(&["imdb", "texts"]), "path", "(none)", "GloVe text format",
      "Word vectors that initialise the embedding rows of the words they know (`model.embedding_dim` must match); coverage is logged."),
    k("data.seq_len", D(&["corpus"]), "integer", "100", POSITIVE,
      "Tokens per training window."),
    k("data.stateful", D(&["corpus"]), "boolean", "false", "",
      "Read the text as `batch_size` contiguous lanes and carry the model's state from one window to the next, instead of shuffled windows each from a fresh state."),
    k("data.max_chars", D(&["pairs"]), "integer", "(no limit)", POSITIVE,
      "Drop pairs with a side longer than this many characters."),
    k("data.max_words", D(&["pairs"]), "integer", "(no limit)", POSITIVE,
      "Drop pairs with a side longer than this many words."),
    // Tables and texts.
    k("data.target", D(&["table"]), "string or list of strings", "required", "column names",
      "The column to predict: a class for classification, one or more numeric columns for regression, one or more 0/1 label columns for multilabel."),
    k("data.features", D(&["table"]), "list of strings", "(every column but the target and `ignore`)", "column names",
      "The feature columns."),
    k("data.categorical", D(&["table"]), "list of strings", "(none)", "column names",
      "Columns read as categories whatever their type (e.g. numeric codes)."),
    k("data.numeric", D(&["table"]), "list of strings", "(none)", "column names",
      "Columns read as numbers whatever their type."),
    k("data.ignore", D(&["table"]), "list of strings", "(none)", "column names",
      "Columns that are not features (identifiers, leaks)."),
    k("data.max_levels", D(&["table"]), "integer", "10", ">= 0",
      "Integer columns with at most this many distinct values are categories, not numbers; text and true/false columns always are."),
    k("data.text", D(&["texts"]), "string", "\"text\"", "a column name",
      "The column holding the texts."),
    k("data.label", D(&["texts"]), "string", "\"label\"", "a column name",
      "The column holding each text's class name."),
    // Images.
    k("data.channels", D(&["images"]), "integer", "3", "1 or 3",
      "1 (grey) or 3 (RGB); transparent pixels are laid on white."),
    k("data.size", D(&["images"]), "[height, width]", "[32, 32]", ">= 1 each",
      "The size every image is brought to."),
    k("data.fit", D(&["images"]), "string", "\"resize\"", "`resize`, `crop`, `pad`",
      "How an image of another shape gets there: stretch, cover then cut the centre, or fit inside and fill the rest with 0."),
    k("data.skip_unreadable", D(&["images"]), "boolean", "false", "",
      "Skip files that do not decode (counted in the log and the manifest) instead of refusing the folder."),
    k("data.cache", D(&["images"]), "boolean", "true", "",
      "Keep the decoded images in `datasets/.cache/`, so the next run of the same folder and settings skips decoding."),
    k("data.targets", D(&["images"]), "path", "(classes from the folders)", ".csv, .tsv, .parquet, .jsonl",
      "Regression or multilabel: a table with a row per image, its file (relative to `path`) in `file_column` and its values (0/1 labels for multilabel) in `target`."),
    k("data.file_column", D(&["images"]), "string", "(`file`)", "a column name",
      "The column of `targets` naming each image's file."),
    k("data.target", D(&["images"]), "string or list of strings", "(none)", "column names",
      "The column or columns of `targets` to predict."),
    k("data.augment", D(&["images", "cifar10", "cifar100"]), "table", "{ flip = false, crop_padding = 0 }", "",
      "Random changes to the training images, drawn from the seed, the epoch and the image."),
    k("data.augment.flip", D(&["images", "cifar10", "cifar100"]), "boolean", "false", "",
      "Mirror left to right half of the time."),
    k("data.augment.crop_padding", D(&["images", "cifar10", "cifar100"]), "integer", "0", "below the image's size",
      "Pad each side by this many pixels and crop the original size at a random place."),
    // Synthetic problems.
    k("data.count", D(&["synthetic"]), "integer", "50000", POSITIVE,
      "How many distinct problems, split into train, validation and test."),
    k("data.problem", D(&["synthetic"]), "table", "required", "",
      "The problem, `[data.problem]` with its `kind` and that kind's keys."),
    k("data.problem.kind", D(&["synthetic"]), "string", "required", "`addition`, `reversal`, `sorting`",
      "`a+b` to its sum; a string to itself backwards; a string to its symbols in order."),
    k("data.problem.digits", P(&["addition"]), "integer", "3", POSITIVE,
      "The operands' largest number of digits."),
    k("data.problem.reverse", P(&["addition"]), "boolean", "false", "",
      "Write the question backwards."),
    k("data.problem.min_length", P(&["reversal", "sorting"]), "integer", "3", POSITIVE,
      "The shortest string."),
    k("data.problem.max_length", P(&["reversal", "sorting"]), "integer", "10", ">= min_length",
      "The longest string."),
    k("data.problem.alphabet", P(&["reversal", "sorting"]), "integer", "10", POSITIVE,
      "How many symbols the strings draw from."),
    // [model]
    k("model.kind", Always, "string", "required", "`mlp`, `cnn`, `resnet`, `rnn`, `lstm`, `gru`, `tabular`, `language_model`, `seq2seq`, `gan`, `custom`",
      "Which network; it must read what the dataset gives (images, tokens, table rows) and suit the task."),
    k("model.hidden", M(&["mlp"]), "list of integers", "required", ">= 1 each",
      "Sizes of the hidden layers, e.g. `[128]` for 784-128-10."),
    k("model.hidden", M(&["tabular"]), "list of integers", "[200, 100]", ">= 1 each",
      "Sizes of the hidden layers (fastai's default)."),
    k("model.hidden", M(RECURRENT), "integer", "128", POSITIVE,
      "The recurrent state's size (per direction)."),
    k("model.hidden", M(&["language_model"]), "integer", "128", POSITIVE,
      "The recurrent state's size."),
    k("model.hidden", M(&["seq2seq"]), "integer", "256", POSITIVE,
      "The recurrent state's size, in the encoder and the decoder."),
    k("model.activation", M(&["mlp", "cnn", "tabular"]), "string", "\"relu\"", ACTIVATIONS,
      "The activation after each hidden layer (leaky_relu has slope 0.01, as PyTorch's)."),
    k("model.dropout", M(&["mlp", "tabular"]), "float", "0.0", FRACTION,
      "Dropout after each hidden layer."),
    k("model.dropout", M(RECURRENT), "float", "0.0", FRACTION,
      "Dropout between recurrent layers and on the pooled vector before the head."),
    k("model.dropout", M(CELLS), "float", "0.0", FRACTION,
      "Dropout between recurrent layers and before the output projection."),
    k("model.batch_norm", M(&["mlp"]), "boolean", "false", "",
      "Batch norm after each hidden layer's linear."),
    k("model.batch_norm", M(&["tabular"]), "boolean", "true", "",
      "Batch norm after each hidden layer's linear."),
    k("model.batch_norm", M(&["gan"]), "boolean", "true", "",
      "Batch norm in both networks, as DCGAN (not on the discriminator's first layer nor the generator's last)."),
    k("model.embedding_dropout", M(&["tabular"]), "float", "0.0", FRACTION,
      "Dropout on the concatenated category embeddings."),
    k("model.embedding_dropout", M(RECURRENT), "float", "0.0", FRACTION,
      "Dropout on the embedded tokens."),
    k("model.embedding_dim", M(&["tabular"]), "integer", "(fastai's `min(600, round(1.6 n^0.56))` per column)", POSITIVE,
      "Every category embedding this wide."),
    k("model.embedding_dim", M(RECURRENT), "integer", "128", POSITIVE,
      "The token embedding's width."),
    k("model.embedding_dim", M(CELLS), "integer", "64", POSITIVE,
      "The token embedding's width."),
    k("model.blocks", M(&["cnn"]), "list of tables", "required", "at least one",
      "The convolution blocks: convolution, activation, optional batch norm, max-pool and dropout."),
    k("model.blocks[].channels", M(&["cnn"]), "integer", "required", POSITIVE,
      "Output channels."),
    k("model.blocks[].kernel", M(&["cnn"]), "integer", "required", POSITIVE,
      "Square kernel size."),
    k("model.blocks[].stride", M(&["cnn"]), "integer", "1", POSITIVE,
      "The convolution's stride."),
    k("model.blocks[].padding", M(&["cnn"]), "integer", "0", ">= 0",
      "Zero padding on every side."),
    k("model.blocks[].pool", M(&["cnn"]), "integer", "(no pooling)", "no larger than the feature map",
      "Square max-pool window (and stride) after the activation."),
    k("model.blocks[].batch_norm", M(&["cnn"]), "boolean", "false", "",
      "Batch norm after the convolution."),
    k("model.blocks[].dropout", M(&["cnn"]), "float", "0.0", FRACTION,
      "Dropout at the block's end."),
    k("model.dense", M(&["cnn"]), "list of integers", "[]", ">= 1 each",
      "Hidden sizes of the dense head."),
    k("model.dense_dropout", M(&["cnn"]), "float", "0.0", FRACTION,
      "Dropout after each hidden dense layer."),
    k("model.dense_batch_norm", M(&["cnn"]), "boolean", "false", "",
      "Batch norm after each hidden dense layer."),
    k("model.depth", M(&["resnet"]), "integer", "20", "6n + 2: 20, 32, 44, 56, 110...",
      "Layers with weights, as He et al.'s CIFAR ResNets."),
    k("model.width", M(&["resnet"]), "integer", "16", POSITIVE,
      "Channels of the first stage (16 in the paper)."),
    k("model.shortcut", M(&["resnet"]), "string", "\"identity\"", "`identity`, `projection`",
      "Where the shape changes: the input subsampled with zero channels added (option A), or a 1x1 convolution with batch norm (option B)."),
    k("model.layers", M(RECURRENT), "integer", "1", POSITIVE,
      "Stacked recurrent layers."),
    k("model.layers", M(&["language_model"]), "integer", "2", POSITIVE,
      "Stacked recurrent layers."),
    k("model.layers", M(&["seq2seq"]), "integer", "1", POSITIVE,
      "Layers in the encoder and as many in the decoder; decoder layer i starts from encoder layer i's final state."),
    k("model.bidirectional", M(RECURRENT), "boolean", "false", "",
      "Read each text both ways."),
    k("model.pooling", M(RECURRENT), "string", "\"last\"", "`last`, `mean`, `max`",
      "What the head sees: the state after the last real token (both directions), or the mean or maximum over real tokens."),
    k("model.head", M(RECURRENT), "list of integers", "[]", ">= 1 each",
      "Sizes of hidden dense layers between the pooled vector and the output."),
    k("model.head_activation", M(RECURRENT), "string", "\"relu\"", ACTIVATIONS,
      "The activation of the head's hidden layers."),
    k("model.freeze_embedding", M(RECURRENT), "boolean", "false", "",
      "Keep the embedding fixed (with pre-trained vectors)."),
    k("model.cell", M(CELLS), "string", "required", "`rnn`, `lstm`, `gru`",
      "The recurrent cell."),
    k("model.attention", M(&["seq2seq"]), "string", "\"none\"", "`none`, `dot`, `additive`",
      "How the decoder reads the encoder: its last state only, Luong's dot score or Bahdanau's additive score."),
    k("model.latent", M(&["gan"]), "integer", "64", POSITIVE,
      "Size of the noise vector the generator starts from."),
    k("model.channels", M(&["gan"]), "integer", "32", POSITIVE,
      "Feature maps of the widest convolution at full resolution; a quarter of the resolution has twice as many (DCGAN's layout)."),
    k("model.name", M(&["custom"]), "string", "required", "a registered plug-in",
      "The plug-in model, as its crate registers it."),
    k("model.options", M(&["custom"]), "table", "(none)", "",
      "The plug-in's own settings, checked by the plug-in."),
    // [train]
    k("train.epochs", Always, "integer", "required", POSITIVE,
      "Passes over the training split."),
    k("train.batch_size", Always, "integer", "required", POSITIVE,
      "Training examples per step."),
    k("train.learning_rate", Always, "float", "required", "(0, 1]",
      "The learning rate before warm-up and schedule."),
    k("train.optimizer", Always, "table", "{ name = \"adam\" }", "",
      "The optimizer: `name` and that optimizer's keys."),
    k("train.optimizer.name", Always, "string", "\"adam\"", "`sgd`, `adagrad`, `rmsprop`, `adam`, `adamw`",
      "Which optimizer; `adamw` decouples `weight_decay`."),
    k("train.optimizer.momentum", O(&["sgd"]), "float", "0.0", ">= 0",
      "SGD's momentum."),
    k("train.optimizer.dampening", O(&["sgd"]), "float", "0.0", "[0, 1]",
      "Dampening of the momentum."),
    k("train.optimizer.nesterov", O(&["sgd"]), "boolean", "false", "needs momentum > 0 and no dampening",
      "Nesterov momentum."),
    k("train.optimizer.lr_decay", O(&["adagrad"]), "float", "0.0", ">= 0",
      "Adagrad's learning-rate decay."),
    k("train.optimizer.epsilon", O(&["adagrad"]), "float", "1e-10", "> 0",
      "Added to the denominator."),
    k("train.optimizer.alpha", O(&["rmsprop"]), "float", "0.99", "[0, 1)",
      "Smoothing of the squared gradients."),
    k("train.optimizer.momentum", O(&["rmsprop"]), "float", "0.0", ">= 0",
      "RMSprop's momentum."),
    k("train.optimizer.epsilon", O(&["rmsprop"]), "float", "1e-8", "> 0",
      "Added to the denominator."),
    k("train.optimizer.centered", O(&["rmsprop"]), "boolean", "false", "",
      "Normalise by the gradient's estimated variance."),
    k("train.optimizer.beta1", O(ADAM), "float", "0.9", "[0, 1)",
      "Decay of the first moment."),
    k("train.optimizer.beta2", O(ADAM), "float", "0.999", "[0, 1)",
      "Decay of the second moment."),
    k("train.optimizer.epsilon", O(ADAM), "float", "1e-8", "> 0",
      "Added to the denominator."),
    k("train.optimizer.amsgrad", O(ADAM), "boolean", "false", "",
      "Use the maximum of past second moments."),
    k("train.weight_decay", Always, "float", "0.0", ">= 0",
      "L2 penalty added to the gradient; AdamW applies it to the weights directly."),
    k("train.schedule", Always, "table", "{ kind = \"constant\" }", "",
      "The learning rate after warm-up, stepped every batch: `kind` and that schedule's keys."),
    k("train.schedule.kind", Always, "string", "\"constant\"", "`constant`, `step`, `exponential`, `cosine`",
      "Constant; times `gamma` every `step_epochs`; times `gamma` every epoch, smoothly; cosine annealing to `min_lr`."),
    k("train.schedule.step_epochs", S(&["step"]), "integer", "required", POSITIVE,
      "Epochs between steps."),
    k("train.schedule.gamma", S(&["step"]), "float", "0.1", "(0, 1]",
      "The factor at each step."),
    k("train.schedule.gamma", S(&["exponential"]), "float", "required", "(0, 1]",
      "The factor per epoch."),
    k("train.schedule.min_lr", S(&["cosine"]), "float", "0.0", "below learning_rate",
      "Where the cosine ends."),
    k("train.warmup_epochs", Always, "float", "0.0", "below epochs",
      "Linear warm-up to `learning_rate`, in epochs (fractions allowed), before the schedule starts."),
    k("train.loss", T(&["classification", "language_modelling", "translation", "gan"]), "string", "\"cross_entropy\"", "`cross_entropy`, `mse`, `hinge`",
      "`mse`: between the softmax and one-hot targets; `hinge`: multi-class margin 1, as PyTorch's MultiMarginLoss."),
    k("train.loss", T(&["regression"]), "string", "\"mse\"", "`mse`, `mae`, `huber`",
      "Mean squared or absolute error, or Huber's loss with delta 1 (one standard deviation of the target)."),
    k("train.loss", T(&["multilabel"]), "string", "\"cross_entropy\"", "`cross_entropy`",
      "Binary cross-entropy of each label's sigmoid, averaged over the labels."),
    k("train.grad_clip", Always, "table", "(no clipping)", "`{ norm = x }` or `{ value = x }`, x > 0",
      "Clip each parameter tensor's gradient to this L2 norm, or each element to this value, as burn clips."),
    k("train.monitor", Always, "string", "\"val_loss\"", "`val_` or `train_` and a metric of the task",
      "The metric that picks the best epoch and that early stopping watches. Metrics: classification `loss`, `accuracy`, `macro_f1`; regression `loss`, `rmse`, `mae`, `r2`; multilabel `loss`, `accuracy` (of each row's each label), `macro_f1`, `micro_f1`, `subset_accuracy` (every label of a row right); language modelling `loss`, `accuracy`, `bits_per_char`, `perplexity`; translation `loss`, `accuracy`, `exact_match`, `bleu`; gan `loss`, `accuracy`, `g_loss`, `d_real`, `d_fake`, `fid`."),
    k("train.early_stopping", Always, "table", "(none)", "",
      "Stop when the monitored metric has not improved by `min_delta` for `patience` epochs."),
    k("train.early_stopping.patience", Always, "integer", "required", POSITIVE,
      "Epochs without improvement before stopping."),
    k("train.early_stopping.min_delta", Always, "float", "0.0", ">= 0",
      "The smallest change that counts as an improvement."),
    k("train.eval_batch_size", Always, "integer", "1000", POSITIVE,
      "Batch size for evaluation, which keeps no activations for a backward pass."),
    k("train.teacher_forcing", Always, "float", "(1: always)", "[0, 1]; seq2seq models only",
      "The share of decoder steps fed the true previous token rather than the model's own prediction."),
    k("train.teacher_forcing_final", Always, "float", "(as `teacher_forcing`)", "[0, 1]; seq2seq models only",
      "Where `teacher_forcing` ends, moving there linearly from the first epoch to the last."),
    // [generation]
    k("generation.prompt", T(&["language_modelling"]), "string", "\"\\n\"", "",
      "The text each sample starts from."),
    k("generation.length", T(&["language_modelling"]), "integer", "300", POSITIVE,
      "Tokens drawn per sample."),
    k("generation.temperatures", T(&["language_modelling"]), "list of floats", "[0.2, 0.5, 1.0, 1.2]", "> 0 each",
      "One sample per temperature after every epoch."),
    k("generation.top_k", T(&["language_modelling"]), "integer", "(all tokens)", POSITIVE,
      "Draw only among the k likeliest tokens."),
    k("generation.beam_width", T(&["translation"]), "integer", "1", POSITIVE,
      "1 decodes greedily, a batch at once; wider beams search pair by pair."),
    k("generation.length_penalty", T(&["translation"]), "float", "1.0", ">= 0",
      "Beam scores are log-probability / length^this."),
    k("generation.max_len", T(&["translation"]), "integer", "(the longest target + 10)", POSITIVE,
      "Output tokens at most."),
    k("generation.examples", T(&["translation"]), "integer", "10", ">= 0",
      "Validation pairs written with their outputs after every epoch."),
    k("generation.classifier", T(&["gan"]), "path", "(no FID)", "a run folder or an experiment's folder of runs",
      "A finished image-classifier run (mlp or cnn), or the newest completed one in a folder, whose penultimate features give the Fréchet distance `fid`."),
    k("generation.fid_samples", T(&["gan"]), "integer", "2000", ">= 2",
      "Generated and real images each FID compares (at most the split's size)."),
    // [checkpoint]
    k("checkpoint.every", Always, "string", "\"5m\"", "`30s`, `10m`, `1h`, `500 steps`, `never`",
      "How often training state is saved; a run also saves when training ends and when a signal stops it."),
    k("checkpoint.keep", Always, "integer", "2", POSITIVE,
      "How many of the newest checkpoints are kept while the run is unfinished."),
    // [cluster]
    k("cluster.partition", Always, "string", "(the default)", "",
      "Slurm `--partition`."),
    k("cluster.time", Always, "string", "(the default)", "minutes, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`",
      "Each trial's time limit; a trial gets SIGUSR1 90 s before it, checkpoints and is requeued to go on."),
    k("cluster.cpus", Always, "integer", "(the default)", POSITIVE,
      "CPUs per trial (Slurm `--cpus-per-task`, Kubernetes `cpu`)."),
    k("cluster.memory", Always, "string", "(the default)", "a number with K, M, G or T",
      "Memory per trial (Slurm `--mem`, Kubernetes `memory`)."),
    k("cluster.gpus", Always, "integer", "(none)", ">= 0",
      "GPUs per trial (Slurm `--gres=gpu:N`, Kubernetes `nvidia.com/gpu`)."),
    k("cluster.account", Always, "string", "(the default)", "",
      "Slurm `--account`."),
    k("cluster.parallel", Always, "integer", "(no limit)", POSITIVE,
      "At most this many trials at once (Slurm `--array=...%N`, Kubernetes `parallelism`)."),
    k("cluster.extra", Always, "list of strings", "(none)", "",
      "More `#SBATCH` options, each as sbatch takes it, e.g. `\"--qos=high\"`."),
    k("cluster.image", Always, "string", "required on Kubernetes", "",
      "Kubernetes: the container image with the checkout and a built kiln."),
    k("cluster.namespace", Always, "string", "(the default)", "",
      "Kubernetes: the Job's namespace."),
    k("cluster.volume", Always, "string", "required on Kubernetes", "",
      "Kubernetes: the PersistentVolumeClaim mounted as the results folder."),
    // [sweep]
    k("sweep.name", Always, "string", "(`sweep`)", "letters, digits, `-`, `_`",
      "The trials go to `results/<experiment>/<name>/`."),
    k("sweep.seeds", Always, "list of integers", "(the file's `seed`)", "",
      "Every configuration once per seed (seeds outermost)."),
    k("sweep.folds", Always, "integer", "(none)", ">= 2",
      "Every configuration once per fold of k-fold cross-validation (`data.folds`, `data.fold`)."),
    k("sweep.zip", Always, "table", "(none)", "lists of one length",
      "Dotted keys whose lists move together: one trial per column, crossed with the grid."),
    k("sweep.random", Always, "table", "(none)", "",
      "`count` samples of dotted keys with a distribution, fixed by its own `seed` (default 0)."),
    k("sweep.random.count", Always, "integer", "required", POSITIVE,
      "How many samples."),
    k("sweep.random.seed", Always, "integer", "(0)", ">= 0",
      "The samples' seed."),
    k("sweep.search", Always, "table", "(none)", "",
      "A search: its settings below and dotted keys with `{ uniform = [lo, hi] }`, `{ log_uniform = [lo, hi] }`, `{ int = [lo, hi], step = n }` or `{ choice = [...] }`, each optionally `when = { key = value }`."),
    k("sweep.search.sampler", Always, "string", "(`tpe`)", "`grid`, `random`, `tpe`",
      "`grid`: every combination of the choices once, shuffled by seed; `tpe`: the tree-structured Parzen estimator, as Optuna's multivariate TPESampler."),
    k("sweep.search.budget", Always, "integer", "(the grid's size)", POSITIVE,
      "Trials to start (a population's size for `pbt`); `random` and `tpe` need it or `time`."),
    k("sweep.search.time", Always, "string", "(none)", "e.g. `90m`, `2h`",
      "Start no trial after this long."),
    k("sweep.search.seed", Always, "integer", "(0)", ">= 0",
      "The sampler's seed; each trial keeps the file's `seed`."),
    k("sweep.search.parallel", Always, "integer", "(4)", POSITIVE,
      "Each trial is decided as if this many ran at once, so any `-j` gives the same trials."),
    k("sweep.search.startup", Always, "integer", "(10)", ">= 0",
      "TPE's random trials before it models the results."),
    k("sweep.search.pruner", Always, "string", "(`none`)", "`none`, `median`, `asha`, `hyperband`, `pbt`",
      "Stops poor trials at epoch ends: below the median, successive halving (asynchronous, or in Hyperband's brackets), or population-based training."),
    k("sweep.search.min_epochs", Always, "integer", "(1)", POSITIVE,
      "`median`: epochs before the first check; `asha`, `hyperband`: the first rung."),
    k("sweep.search.reduction", Always, "integer", "(3)", ">= 2",
      "`asha`, `hyperband`: the top 1/reduction of a rung goes on; rungs at min_epochs x reduction^k."),
    k("sweep.search.interval", Always, "integer", "(1)", POSITIVE,
      "`median`: epochs between checks; `pbt`: epochs between exploit and explore (below `train.epochs`)."),
    k("sweep.search.quantile", Always, "float", "(0.25)", "(0, 0.5]",
      "`pbt`: the share of the population replaced at each interval by copies of the best."),
    k("sweep.search.resample", Always, "float", "(0.25)", "[0, 1]",
      "`pbt`: the chance that a value is drawn anew instead of perturbed."),
];

/// The keys named `key`, or under it (`data`, `train.optimizer`); `None` when there are none.
pub fn lookup(key: &str) -> Vec<&'static Key> {
    let key = key.trim().trim_start_matches('[').trim_end_matches(']');
    let exact: Vec<_> = KEYS.iter().filter(|k| k.key == key).collect();
    let under: Vec<_> = KEYS
        .iter()
        .filter(|k| {
            k.key
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]"))
        })
        .collect();
    exact.into_iter().chain(under).collect()
}

/// `kiln help config [KEY]`: every table with one line a key, or the keys a name matches.
pub fn help(key: Option<&str>) -> Result<String, String> {
    let Some(key) = key else {
        let mut s = String::from(
            "The keys of an experiment file; `kiln help config KEY` says more of one key or table \
             (e.g. `kiln help config data.vocab_size`, `kiln help config train.optimizer`).\n",
        );
        for (section, about) in SECTIONS {
            let title = match *section {
                "" => "The top level".to_string(),
                section => format!("[{section}]"),
            };
            let _ = write!(s, "\n{title}: {}\n", about.replace('`', ""));
            for k in KEYS.iter().filter(|k| section_of(k.key) == *section) {
                let when = match k.when {
                    Always => String::new(),
                    w => format!(" ({})", w.describe()),
                };
                let default = match k.default {
                    d if d.starts_with("required") => d.to_string(),
                    d => format!("default {}", d.replace('`', "")),
                };
                let _ = writeln!(s, "  {:<32} {}, {default}{when}", k.key, k.ty);
            }
        }
        return Ok(s);
    };
    let found = lookup(key);
    if found.is_empty() {
        let names: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
        let hint = super::did_you_mean(key, &names)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        return Err(format!(
            "no key `{key}` in an experiment file{hint} (`kiln help config` lists them all)"
        ));
    }
    let mut s = String::new();
    for k in found {
        let _ = writeln!(s, "{}", k.key);
        if k.when != Always {
            let _ = writeln!(s, "  when:    {}", k.when.describe());
        }
        let _ = writeln!(s, "  type:    {}", k.ty);
        let _ = writeln!(s, "  default: {}", k.default);
        if !k.range.is_empty() {
            let _ = writeln!(s, "  range:   {}", k.range.replace('`', ""));
        }
        let _ = writeln!(s, "{}\n", wrapped(&k.meaning.replace('`', ""), "  ", 92));
    }
    Ok(s.trim_end().to_string() + "\n")
}

/// `text` in lines of at most `width` characters, each after `indent`.
fn wrapped(text: &str, indent: &str, width: usize) -> String {
    let mut lines = vec![String::from(indent)];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}{word}"));
        } else {
            if line.len() > indent.len() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

/// The table a key belongs to, as [`SECTIONS`] names it.
fn section_of(key: &str) -> &str {
    if key.starts_with("sweep.search") {
        return "sweep.search";
    }
    match key.split_once('.') {
        Some((section, _)) => section,
        None if SECTIONS.iter().any(|(s, _)| *s == key) => key,
        None => "",
    }
}

/// docs/src/reference/config.md.
pub fn reference() -> String {
    let mut s = String::from(
        "# Experiment file reference\n\n\
         Every key of an experiment file: its type, its default, the values it takes and what it \
         does. `kiln help config KEY` prints the same for one key or table. Generated from kiln's \
         table of keys by `cargo xtask docs`; a test fails when this page lags that table, and \
         another when the loader accepts a key the table lacks or resolves a default it does not \
         say. A default in parentheses is what happens when the key is left out; `required` \
         keys have none. Unknown keys are errors everywhere, with the line and a suggestion.\n",
    );
    let cell = |t: &str| t.replace('|', "\\|");
    for (section, about) in SECTIONS {
        let title = if section.is_empty() {
            "Top level".to_string()
        } else {
            format!("[{section}]")
        };
        let _ = write!(
            s,
            "\n## {title}\n\n{about}\n\n| key | when | type | default | range | meaning |\n|---|---|---|---|---|---|\n"
        );
        for k in KEYS.iter().filter(|k| section_of(k.key) == *section) {
            let default = match k.literal_default() {
                Some(value) => format!("`{value}`"),
                None => k.default.to_string(),
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} |",
                k.key,
                cell(&k.when.describe()),
                cell(k.ty),
                cell(&default),
                cell(k.range),
                cell(k.meaning)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// One file per dataset and model kind, with the optimizers, schedules and tables that
    /// have keys of their own: (task, `[data]`, `[model]`, more of `[train]`).
    const FILES: &[(&str, &str, &str, &str)] = &[
        (
            "classification",
            r#"dataset = "mnist""#,
            r#"kind = "mlp"
hidden = [8]"#,
            r#"optimizer = { name = "sgd" }
schedule = { kind = "step", step_epochs = 1 }
early_stopping = { patience = 2 }"#,
        ),
        (
            "classification",
            r#"dataset = "mnist""#,
            CNN,
            r#"optimizer = { name = "adagrad" }
schedule = { kind = "exponential", gamma = 0.9 }"#,
        ),
        (
            "classification",
            r#"dataset = "cifar10""#,
            r#"kind = "resnet""#,
            r#"optimizer = { name = "rmsprop" }
schedule = { kind = "cosine" }"#,
        ),
        (
            "classification",
            r#"dataset = "cifar100""#,
            CNN,
            r#"optimizer = { name = "adamw" }"#,
        ),
        (
            "classification",
            r#"dataset = "images"
path = "folder""#,
            CNN,
            "",
        ),
        (
            "regression",
            r#"dataset = "images"
path = "folder"
targets = "values.csv"
target = "y""#,
            CNN,
            "",
        ),
        (
            "multilabel",
            r#"dataset = "images"
path = "folder"
targets = "labels.csv"
target = "y""#,
            CNN,
            "",
        ),
        (
            "classification",
            r#"dataset = "imdb""#,
            r#"kind = "lstm""#,
            "",
        ),
        (
            "classification",
            r#"dataset = "texts"
path = "texts.csv""#,
            r#"kind = "gru""#,
            "",
        ),
        (
            "classification",
            r#"dataset = "imdb""#,
            r#"kind = "rnn""#,
            "",
        ),
        ("classification", TABLE, r#"kind = "tabular""#, ""),
        ("regression", TABLE, r#"kind = "tabular""#, ""),
        ("multilabel", TABLE, r#"kind = "tabular""#, ""),
        (
            "language_modelling",
            r#"dataset = "corpus""#,
            r#"kind = "language_model"
cell = "lstm""#,
            "",
        ),
        (
            "translation",
            r#"dataset = "pairs""#,
            r#"kind = "seq2seq"
cell = "gru""#,
            "",
        ),
        (
            "translation",
            r#"dataset = "synthetic"
problem = { kind = "addition" }"#,
            SEQ2SEQ,
            "",
        ),
        (
            "translation",
            r#"dataset = "synthetic"
problem = { kind = "sorting" }"#,
            SEQ2SEQ,
            "",
        ),
        ("gan", r#"dataset = "mnist""#, r#"kind = "gan""#, ""),
        (
            "classification",
            r#"dataset = "fashion_mnist""#,
            r#"kind = "mlp"
hidden = [8]"#,
            "",
        ),
    ];
    const CNN: &str = r#"kind = "cnn"
blocks = [{ channels = 4, kernel = 3 }]"#;
    const TABLE: &str = r#"dataset = "table"
path = "t.csv"
target = "y""#;
    const SEQ2SEQ: &str = r#"kind = "seq2seq"
cell = "lstm""#;

    fn file((task, data, model, train): (&str, &str, &str, &str)) -> String {
        format!(
            "task = \"{task}\"\nname = \"a\"\n[data]\n{data}\n[model]\n{model}\n\
             [train]\nepochs = 1\nbatch_size = 8\nlearning_rate = 0.1\n{train}\n"
        )
    }

    /// The tables whose keys the loader lists when it meets an unknown one.
    const PROBED: &[&str] = &[
        "",
        "data",
        "data.augment",
        "data.problem",
        "model",
        "train",
        "train.optimizer",
        "train.schedule",
        "train.early_stopping",
        "generation",
        "checkpoint",
        "cluster",
    ];

    struct Context {
        file: String,
        resolved: toml::Table,
    }

    fn write(dir: &std::path::Path, i: usize, text: &str) -> std::path::PathBuf {
        let path = dir.join(format!("{i}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn contexts(test: &str) -> (std::path::PathBuf, Vec<(std::path::PathBuf, Context)>) {
        let dir = std::env::temp_dir().join(format!("kiln-keys-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let contexts = FILES
            .iter()
            .enumerate()
            .map(|(i, parts)| {
                let text = file(*parts);
                let path = write(&dir, i, &text);
                let loaded =
                    crate::config::load(&path, &[]).unwrap_or_else(|e| panic!("{text}\n{e}"));
                let mut resolved = toml::Table::try_from(&loaded.experiment).unwrap();
                // Left out of the resolved file while it is the default.
                let checkpoint = toml::Value::try_from(&loaded.experiment.checkpoint).unwrap();
                resolved.insert("checkpoint".into(), checkpoint);
                (
                    path,
                    Context {
                        file: text,
                        resolved,
                    },
                )
            })
            .collect();
        (dir, contexts)
    }

    fn get<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
        let mut value: Option<&toml::Value> = None;
        for part in dotted.split('.') {
            let (name, first) = match part.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (part, false),
            };
            let found = match value {
                None => table.get(name)?,
                Some(v) => v.as_table()?.get(name)?,
            };
            value = Some(if first {
                found.as_array()?.first()?
            } else {
                found
            });
        }
        value
    }

    fn text_of(table: &toml::Table, dotted: &str) -> String {
        get(table, dotted)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    }

    fn applies(when: When, resolved: &toml::Table) -> bool {
        let is = |key: &str, names: &[&str]| names.contains(&text_of(resolved, key).as_str());
        match when {
            Always => true,
            When::Task(n) => is("task", n),
            When::Dataset(n) => is("data.dataset", n),
            When::Model(n) => is("model.kind", n),
            When::Optimizer(n) => is("train.optimizer.name", n),
            When::Schedule(n) => is("train.schedule.kind", n),
            When::Problem(n) => is("data.problem.kind", n),
        }
    }

    /// The key names the loader expects in `table`, from its unknown-key message.
    fn probe(path: &std::path::Path, table: &str) -> Vec<String> {
        let key = if table.is_empty() {
            "zz_probe".to_string()
        } else {
            format!("{table}.zz_probe")
        };
        let Err(e) = crate::config::load(path, &[format!("{key}=1")]) else {
            panic!("{key} was accepted");
        };
        let message = e.to_string();
        if !message.contains(&format!("`{key}`: unknown key")) {
            return Vec::new(); // the table itself does not apply to this file
        }
        match message.split_once("expected one of: ") {
            Some((_, list)) => list
                .trim_end_matches(|c: char| c == ')' || c.is_whitespace())
                .split(", ")
                .map(|name| {
                    if table.is_empty() {
                        name.to_string()
                    } else {
                        format!("{table}.{name}")
                    }
                })
                .collect(),
            None => Vec::new(),
        }
    }

    #[test]
    fn every_key_the_loader_accepts_is_documented_and_every_documented_key_is_accepted() {
        let (dir, contexts) = contexts("accepted");
        let mut matched = BTreeSet::new();
        for (path, context) in &contexts {
            for table in PROBED {
                for key in probe(path, table) {
                    if table.is_empty() && SECTIONS.iter().any(|(s, _)| *s == key) {
                        continue;
                    }
                    let docs: Vec<usize> = (0..KEYS.len())
                        .filter(|&i| KEYS[i].key == key && applies(KEYS[i].when, &context.resolved))
                        .collect();
                    assert_eq!(
                        docs.len(),
                        1,
                        "`{key}` is documented {} times for this file:\n{}",
                        docs.len(),
                        context.file
                    );
                    matched.insert(docs[0]);
                }
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
        // Keys the probes cannot reach: a table's tag, keys inside lists, a plug-in's model,
        // the sweep's keys (held to the sweep reader's lists below).
        let unreachable = |k: &Key| {
            k.key.contains("[]")
                || k.when == M(&["custom"])
                || k.key.starts_with("sweep.")
                || [
                    "data.dataset",
                    "model.kind",
                    "train.optimizer.name",
                    "train.schedule.kind",
                    "data.problem.kind",
                ]
                .contains(&k.key)
        };
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                matched.contains(&i) || unreachable(k),
                "`{}` ({}) is documented but no file accepts it",
                k.key,
                k.when.describe()
            );
        }
    }

    #[test]
    fn the_sweep_keys_are_the_ones_the_sweep_reader_knows() {
        let documented = |prefix: &str| -> BTreeSet<String> {
            KEYS.iter()
                .filter_map(|k| k.key.strip_prefix(prefix))
                .filter(|rest| !rest.contains('.'))
                .map(str::to_string)
                .collect()
        };
        let known = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        assert_eq!(documented("sweep."), known(crate::config::sweep::RESERVED));
        assert_eq!(
            documented("sweep.search."),
            known(crate::config::search::SETTINGS)
        );
    }

    /// `found` agrees with `expected`: floats to f32's precision (several settings are f32),
    /// and a table in every key `expected` names (its other keys have defaults of their own).
    fn same(found: &toml::Value, expected: &toml::Value) -> bool {
        let (a, b) = (found, expected);
        use toml::Value::{Array, Float, Integer, Table};
        match (a, b) {
            (Float(x), Float(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()),
            (Float(x), Integer(i)) | (Integer(i), Float(x)) => *x == *i as f64,
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
            (Table(x), Table(y)) => y.iter().all(|(k, v)| x.get(k).is_some_and(|w| same(w, v))),
            _ => a == b,
        }
    }

    #[test]
    fn every_default_the_reference_gives_is_what_a_file_resolves_to() {
        let (dir, contexts) = contexts("defaults");
        let mut checked = 0;
        for (_, context) in &contexts {
            let written: toml::Table = toml::from_str(&context.file).unwrap();
            for k in KEYS.iter().filter(|k| applies(k.when, &context.resolved)) {
                let Some(default) = k.literal_default() else {
                    continue;
                };
                // Set by the file, or inside an optional table the file leaves out.
                let parent = k.key.rsplit_once('.').map(|(p, _)| p);
                if get(&written, k.key).is_some()
                    || parent.is_some_and(|p| get(&context.resolved, p).is_none())
                {
                    continue;
                }
                let expected: toml::Table = toml::from_str(&format!("v = {default}"))
                    .unwrap_or_else(|e| panic!("`{}`'s default `{}`: {e}", k.key, k.default));
                let found = get(&context.resolved, k.key).unwrap_or_else(|| {
                    panic!("`{}` is not in the resolved file:\n{}", k.key, context.file)
                });
                assert!(
                    same(found, &expected["v"]),
                    "`{}`'s default is {} but resolves to {found} in:\n{}",
                    k.key,
                    k.default,
                    context.file
                );
                checked += 1;
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
        assert!(checked > 100, "only {checked} defaults checked");
    }

    #[test]
    fn help_finds_a_key_a_table_and_suggests_for_a_typo() {
        let one = help(Some("data.vocab_size")).unwrap();
        assert!(
            one.contains("default: 20000") && one.contains("data.dataset = imdb"),
            "{one}"
        );
        let table = help(Some("train.optimizer")).unwrap();
        assert!(
            table.contains("train.optimizer.beta1") && table.contains("train.optimizer.momentum")
        );
        let typo = help(Some("data.vocab_sise")).unwrap_err();
        assert!(typo.contains("did you mean `data.vocab_size`"), "{typo}");
        let all = help(None).unwrap();
        assert!(KEYS.iter().all(|k| all.contains(k.key)));
    }
}
