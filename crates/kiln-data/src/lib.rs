//! Datasets for kiln.
//!
//! Readers check what they read and say which file and byte is wrong; archives are untrusted
//! (no path leaves its folder, no links); downloads go through mirrors with a SHA-256 check;
//! splits and shuffles are seeded. Text becomes token ids through a tokenizer and a vocabulary.
//! Nothing here knows about experiment files, the CLI or the results layout.

pub mod batch;
pub mod budget;
pub mod cifar;
pub mod corpus;
pub mod download;
pub mod error;
pub mod idx;
pub mod images;
pub mod imdb;
pub mod mnist;
pub mod pairs;
pub mod split;
pub mod synthetic;
pub mod table;
pub mod text;

pub use batch::{Augment, ImageBatch, ImageBatcher, Normalization};
pub use budget::Budget;
pub use corpus::Corpus;
pub use error::DataError;
pub use imdb::{ImdbSource, Review, Reviews};
pub use mnist::{Digits, Mnist, MnistSource};
pub use pairs::{LengthFilter, Pair, Pairs};
pub use split::{k_fold_split, train_validation_split};
pub use synthetic::{Strings, Task};

/// The real datasets folder for tests marked as needing it (`cargo xtask test` passes
/// `KILN_DATASETS` when it is there).
#[cfg(test)]
pub(crate) fn real_datasets() -> std::path::PathBuf {
    std::env::var_os("KILN_DATASETS")
        .expect("KILN_DATASETS names the real datasets folder")
        .into()
}
