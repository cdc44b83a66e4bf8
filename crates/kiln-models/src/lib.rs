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

/// What the models' tests share.
#[cfg(test)]
mod testing {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::Tensor;

    /// Every float tensor's gradient in the module's order: `None` for those without one
    /// (batch norm's running statistics are visited as floats too).
    pub fn gradients<M: Module>(grads: &GradientsParams, m: &M) -> Vec<Option<Vec<f32>>> {
        struct Grads<'a>(&'a GradientsParams, Vec<Option<Vec<f32>>>);
        impl ModuleVisitor for Grads<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let g = self.0.get::<D>(p.id);
                self.1
                    .push(g.map(|g| g.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()));
            }
        }
        let mut got = Grads(grads, Vec::new());
        m.visit(&mut got);
        got.1
    }
}
