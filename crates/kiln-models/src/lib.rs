//! Models for kiln, as burn modules built from typed configs.
//!
//! Configs are plain serde types so that a front end can read them from anywhere; they check
//! their own ranges in `validate`, naming the offending field relative to the config.

mod activation;
pub mod cells;
mod classifier;
mod cnn;
pub mod decode;
pub mod flops;
pub mod gan;
mod invalid;
mod kernels;
pub mod language_model;
mod mlp;
pub mod portable;
pub mod pytorch;
mod recurrent;
mod resnet;
pub mod seq2seq;
mod tabular;

pub use activation::ActivationKind;
pub use cells::{CellKind, CellState};
pub use classifier::{Classifier, CustomConfig, InputShape, Inputs, ModelConfig};
pub use cnn::{Cnn, CnnConfig, ConvBlockConfig};
pub use gan::{Gan, GanConfig};
pub use invalid::Invalid;
pub use language_model::{LanguageModel, LanguageModelConfig};
pub use mlp::{Mlp, MlpConfig};
pub use recurrent::{Pooling, RecurrentClassifier, RecurrentConfig};
pub use resnet::{ResNet, ResNetConfig, Shortcut};
pub use seq2seq::{AttentionKind, Encoded, Seq2Seq, Seq2SeqConfig};
pub use tabular::{Tabular, TabularConfig, embedding_width};
