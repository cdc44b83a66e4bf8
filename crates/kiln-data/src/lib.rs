//! Datasets for kiln.
//!
//! Readers check what they read and say which file and byte is wrong; downloads go through
//! mirrors with a SHA-256 check of the decompressed content; splits and shuffles are seeded.
//! Nothing here knows about experiment files, the CLI or the results layout.

pub mod batch;
pub mod download;
pub mod error;
pub mod idx;
pub mod mnist;
pub mod split;

pub use batch::{ImageBatch, ImageBatcher, Normalization};
pub use error::DataError;
pub use mnist::{Digits, Mnist, MnistSource};
pub use split::train_validation_split;
