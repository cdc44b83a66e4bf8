//! Models for kiln, as burn modules built from typed configs.
//!
//! Configs are plain serde types so that a front end can read them from anywhere; they check
//! their own ranges in `validate`, naming the offending field relative to the config.

mod activation;
mod classifier;
mod cnn;
mod invalid;
mod mlp;

pub use activation::ActivationKind;
pub use classifier::{Classifier, ClassifierConfig};
pub use cnn::{Cnn, CnnConfig, ConvBlockConfig};
pub use invalid::Invalid;
pub use mlp::{Mlp, MlpConfig};
