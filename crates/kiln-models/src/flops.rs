//! How much arithmetic a training step does: the multiply-adds of the forward pass's matrix
//! products and convolutions, times 2 (a multiply-add is two operations), times 3 (the
//! backward pass computes two products of the forward's size: the inputs' and the weights'
//! gradients). Element-wise work, pooling and embedding lookups are left out, the usual
//! convention, so that figures compare across frameworks.

use crate::cells::CellKind;
use crate::{CnnConfig, MlpConfig, ModelConfig, RecurrentConfig};

/// The shape of one batch a model trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchShape {
    /// `[batch, channels, height, width]` images, `classes` outputs.
    Images { dims: [usize; 4], classes: usize },
    /// `[batch, time]` token ids (padding included: the models compute over it), and the
    /// number of classes, or of next tokens for a language model.
    Tokens { dims: [usize; 2], outputs: usize },
}

/// Training operations (see the module's documentation) of one step on a batch of `shape`,
/// or `None` for a model whose count this does not know (the encoder-decoder) or a shape it
/// does not read.
pub fn training_flops(model: &ModelConfig, shape: BatchShape) -> Option<f64> {
    let macs = match (model, shape) {
        (ModelConfig::Mlp(c), BatchShape::Images { dims, classes }) => {
            dims[0] * mlp_macs(c, dims[1] * dims[2] * dims[3], classes)
        }
        (ModelConfig::Cnn(c), BatchShape::Images { dims, classes }) => {
            dims[0] * cnn_macs(c, [dims[1], dims[2], dims[3]], classes)?
        }
        (ModelConfig::Resnet(c), BatchShape::Images { dims, classes }) => {
            dims[0] * resnet_macs(c, [dims[1], dims[2], dims[3]], classes)?
        }
        (ModelConfig::Rnn(c), BatchShape::Tokens { dims, outputs }) => {
            recurrent_macs(CellKind::Rnn, c, dims, outputs)
        }
        (ModelConfig::Lstm(c), BatchShape::Tokens { dims, outputs }) => {
            recurrent_macs(CellKind::Lstm, c, dims, outputs)
        }
        (ModelConfig::Gru(c), BatchShape::Tokens { dims, outputs }) => {
            recurrent_macs(CellKind::Gru, c, dims, outputs)
        }
        (ModelConfig::LanguageModel(c), BatchShape::Tokens { dims, outputs }) => {
            let [n, t] = dims;
            let stack = stack_macs(c.cell, c.embedding_dim, c.hidden, c.layers, 1);
            n * t * (stack + c.hidden * outputs)
        }
        _ => return None,
    };
    Some(6.0 * macs as f64)
}

/// Per image: every 3x3 (and projection 1x1) convolution at its output's resolution, and
/// the linear layer.
fn resnet_macs(
    c: &crate::ResNetConfig,
    [channels, h, w]: [usize; 3],
    classes: usize,
) -> Option<usize> {
    c.validate().ok()?;
    let width = c.width;
    let mut macs = h * w * channels * width * 9;
    let (mut h, mut w, mut cin) = (h, w, width);
    for (stage, cout) in [width, 2 * width, 4 * width].into_iter().enumerate() {
        for b in 0..c.blocks() {
            if stage > 0 && b == 0 {
                h = h.div_ceil(2);
                w = w.div_ceil(2);
                if c.shortcut == crate::Shortcut::Projection {
                    macs += h * w * cin * cout;
                }
            }
            macs += h * w * (cin * cout + cout * cout) * 9;
            cin = cout;
        }
    }
    Some(macs + 4 * width * classes)
}

fn dense_macs(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1]).sum()
}

fn mlp_macs(c: &MlpConfig, inputs: usize, classes: usize) -> usize {
    let mut sizes = vec![inputs];
    sizes.extend(&c.hidden);
    sizes.push(classes);
    dense_macs(&sizes)
}

fn cnn_macs(c: &CnnConfig, input: [usize; 3], classes: usize) -> Option<usize> {
    let [mut channels, mut h, mut w] = input;
    let mut macs = 0;
    for b in &c.blocks {
        let out = |x: usize| {
            (x + 2 * b.padding)
                .checked_sub(b.kernel)
                .map(|v| v / b.stride + 1)
        };
        let (oh, ow) = (out(h)?, out(w)?);
        macs += b.channels * channels * b.kernel * b.kernel * oh * ow;
        (channels, h, w) = (b.channels, oh, ow);
        if let Some(p) = b.pool {
            (h, w) = (h / p, w / p);
        }
    }
    let mut sizes = vec![channels * h * w];
    sizes.extend(&c.dense);
    sizes.push(classes);
    Some(macs + dense_macs(&sizes))
}

/// Per time step and sequence: every layer's input and hidden products, each direction.
fn stack_macs(cell: CellKind, input: usize, hidden: usize, layers: usize, dirs: usize) -> usize {
    let gates = match cell {
        CellKind::Rnn => 1,
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
    };
    (0..layers)
        .map(|i| {
            let d_in = if i == 0 { input } else { hidden * dirs };
            dirs * gates * hidden * (d_in + hidden)
        })
        .sum()
}

fn recurrent_macs(
    cell: CellKind,
    c: &RecurrentConfig,
    [n, t]: [usize; 2],
    classes: usize,
) -> usize {
    let dirs = if c.bidirectional { 2 } else { 1 };
    let mut head = vec![c.hidden * dirs];
    head.extend(&c.head);
    head.push(classes);
    n * (t * stack_macs(cell, c.embedding_dim, c.hidden, c.layers, dirs) + dense_macs(&head))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand counts of the bench's workloads.
    #[test]
    fn counts_match_the_hand_arithmetic() {
        let mlp: ModelConfig = serde_json::from_str(r#"{"kind":"mlp","hidden":[128]}"#).unwrap();
        let images = BatchShape::Images {
            dims: [64, 1, 28, 28],
            classes: 10,
        };
        let want = 6.0 * 64.0 * (784.0 * 128.0 + 128.0 * 10.0);
        assert_eq!(training_flops(&mlp, images), Some(want));

        let cnn: ModelConfig = serde_json::from_str(
            r#"{"kind":"cnn","blocks":[{"channels":32,"kernel":3},{"channels":64,"kernel":3,"pool":2}],"dense":[128]}"#,
        )
        .unwrap();
        let conv = 32.0 * 9.0 * 26.0 * 26.0 + 64.0 * 32.0 * 9.0 * 24.0 * 24.0;
        let dense = 9216.0 * 128.0 + 128.0 * 10.0;
        assert_eq!(
            training_flops(&cnn, images),
            Some(6.0 * 64.0 * (conv + dense))
        );

        let lstm: ModelConfig =
            serde_json::from_str(r#"{"kind":"lstm","embedding_dim":128,"hidden":128}"#).unwrap();
        let tokens = BatchShape::Tokens {
            dims: [64, 200],
            outputs: 2,
        };
        let per_step = 4.0 * 128.0 * (128.0 + 128.0);
        let want = 6.0 * 64.0 * (200.0 * per_step + 128.0 * 2.0);
        assert_eq!(training_flops(&lstm, tokens), Some(want));

        let bi: ModelConfig = serde_json::from_str(
            r#"{"kind":"lstm","embedding_dim":100,"hidden":256,"layers":2,"bidirectional":true}"#,
        )
        .unwrap();
        let per_step = 2.0 * 4.0 * 256.0 * (100.0 + 256.0) + 2.0 * 4.0 * 256.0 * (512.0 + 256.0);
        let want = 6.0 * 64.0 * (200.0 * per_step + 512.0 * 2.0);
        assert_eq!(training_flops(&bi, tokens), Some(want));

        let lm: ModelConfig = serde_json::from_str(
            r#"{"kind":"language_model","cell":"lstm","embedding_dim":64,"hidden":128,"layers":2}"#,
        )
        .unwrap();
        let chars = BatchShape::Tokens {
            dims: [64, 100],
            outputs: 65,
        };
        let per_step = 4.0 * 128.0 * (64.0 + 128.0) + 4.0 * 128.0 * (128.0 + 128.0) + 128.0 * 65.0;
        assert_eq!(
            training_flops(&lm, chars),
            Some(6.0 * 64.0 * 100.0 * per_step)
        );
        assert_eq!(training_flops(&mlp, chars), None);
    }
}
