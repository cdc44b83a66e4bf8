//! The CIFAR ResNets of He et al. 2016 ("Deep Residual Learning", section 4.2): a 3x3
//! convolution, three stages of `n` basic blocks with `width`, `2 width` and `4 width`
//! channels (the second and third halve the resolution), global average pooling and a
//! linear layer: `6n + 2` layers with weights. Where a block changes shape, its shortcut is
//! the paper's option A (the input subsampled and padded with zero channels) or option B
//! (a strided 1x1 convolution with batch norm).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::kernels;
use crate::pytorch::{Twin, TwinBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// Option A: no weights; the input subsampled, with zero channels added.
    #[default]
    Identity,
    /// Option B: a 1x1 convolution and batch norm where the shape changes.
    Projection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// Layers with weights, `6n + 2`: 20, 32, 44, 56, 110...
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Channels of the first stage (16 in the paper).
    #[serde(default = "default_width")]
    pub width: usize,
    #[serde(default)]
    pub shortcut: Shortcut,
}

fn default_depth() -> usize {
    20
}

fn default_width() -> usize {
    16
}

impl ResNetConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.depth < 8 || !(self.depth - 2).is_multiple_of(6) {
            return Err(Invalid::new(
                "depth",
                format!(
                    "must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110...), got {}",
                    self.depth
                ),
            ));
        }
        if self.width == 0 {
            return Err(Invalid::new("width", "must be at least 1"));
        }
        Ok(())
    }

    /// Blocks per stage.
    pub fn blocks(&self) -> usize {
        (self.depth - 2) / 6
    }

    /// A ResNet for `[channels, height, width]` images and `outputs` classes.
    pub fn init(
        &self,
        input: [usize; 3],
        outputs: usize,
        device: &Device,
    ) -> Result<ResNet, Invalid> {
        self.validate()?;
        if input[1] < 4 || input[2] < 4 {
            return Err(Invalid::new(
                "kind",
                format!(
                    "a resnet halves {}x{} images twice; it needs at least 4x4",
                    input[1], input[2]
                ),
            ));
        }
        let w = self.width;
        let mut blocks = Vec::new();
        let mut channels = w;
        for (stage, out) in [w, 2 * w, 4 * w].into_iter().enumerate() {
            for b in 0..self.blocks() {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(Block::new(channels, out, stride, self.shortcut, device));
                channels = out;
            }
        }
        Ok(ResNet {
            stem: conv3x3(input[0], w, 1, device),
            stem_norm: BatchNormConfig::new(w).init(device),
            blocks,
            head: LinearConfig::new(4 * w, outputs).init(device),
        })
    }
}

fn conv3x3(inputs: usize, outputs: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([inputs, outputs], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

#[derive(Module, Debug)]
pub struct Projection {
    conv: Conv2d,
    norm: BatchNorm,
}

#[derive(Module, Debug)]
pub struct Block {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    projection: Option<Projection>,
    stride: usize,
    /// Zero channels the identity shortcut adds.
    pad: usize,
}

impl Block {
    fn new(
        inputs: usize,
        outputs: usize,
        stride: usize,
        shortcut: Shortcut,
        device: &Device,
    ) -> Self {
        let reshapes = stride != 1 || inputs != outputs;
        let projection = (reshapes && shortcut == Shortcut::Projection).then(|| Projection {
            conv: Conv2dConfig::new([inputs, outputs], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(outputs).init(device),
        });
        Block {
            conv1: conv3x3(inputs, outputs, stride, device),
            norm1: BatchNormConfig::new(outputs).init(device),
            conv2: conv3x3(outputs, outputs, 1, device),
            norm2: BatchNormConfig::new(outputs).init(device),
            pad: if projection.is_some() {
                0
            } else {
                outputs - inputs
            },
            projection,
            stride,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = kernels::batch_norm(&self.norm1, kernels::conv2d(&self.conv1, x.clone()), true);
        let y = kernels::conv2d(&self.conv2, y);
        let shortcut = match &self.projection {
            Some(p) => kernels::batch_norm(&p.norm, kernels::conv2d(&p.conv, x), false),
            None => {
                let mut s = x;
                if self.stride > 1 {
                    let [n, c, h, w] = s.dims();
                    // Every stride-th row and column: a reshape and a slice, as x[:, :, ::2, ::2].
                    let (h2, w2) = (h.div_ceil(self.stride), w.div_ceil(self.stride));
                    let padded = if h % self.stride != 0 || w % self.stride != 0 {
                        Tensor::cat(
                            vec![
                                s,
                                Tensor::zeros([n, c, h2 * self.stride - h, w], &y.device()),
                            ],
                            2,
                        )
                    } else {
                        s
                    };
                    let padded = if w % self.stride != 0 {
                        let [_, _, hp, _] = padded.dims();
                        Tensor::cat(
                            vec![
                                padded,
                                Tensor::zeros([n, c, hp, w2 * self.stride - w], &y.device()),
                            ],
                            3,
                        )
                    } else {
                        padded
                    };
                    s = padded
                        .reshape([n, c, h2, self.stride, w2, self.stride])
                        .slice([0..n, 0..c, 0..h2, 0..1, 0..w2, 0..1])
                        .reshape([n, c, h2, w2]);
                }
                if self.pad > 0 {
                    let [n, _, h, w] = s.dims();
                    s = Tensor::cat(vec![s, Tensor::zeros([n, self.pad, h, w], &y.device())], 1);
                }
                s
            }
        };
        // relu(norm2(y) + shortcut), one operation in training.
        kernels::batch_norm_add(&self.norm2, y, Some(shortcut), true)
    }
}

#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_norm: BatchNorm,
    blocks: Vec<Block>,
    head: Linear,
}

impl ResNet {
    /// `[batch, channels, height, width]` images to `[batch, outputs]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        kernels::linear(&self.head, self.features(x))
    }

    /// The pooled features the linear layer reads, `[batch, 4 width]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = kernels::batch_norm(&self.stem_norm, kernels::conv2d(&self.stem, x), true);
        let x = self.blocks.iter().fold(x, |x, b| b.forward(x));
        let [n, c, _, _] = x.dims();
        x.flatten::<3>(2, 3).mean_dim(2).reshape([n, c])
    }

    /// The same network as a `torch.nn` module: `Block`s as the paper draws them.
    pub fn pytorch(&self) -> Result<Twin, Invalid> {
        let mut twin = TwinBuilder::default();
        let stem = twin.conv2d("stem", &self.stem)?;
        let stem_norm = twin.batch_norm("stem_norm", &self.stem_norm, 2);
        let mut blocks = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let at = |part: &str| format!("blocks.{i}.{part}");
            let conv1 = twin.conv2d(&at("conv1"), &b.conv1)?;
            let norm1 = twin.batch_norm(&at("norm1"), &b.norm1, 2);
            let conv2 = twin.conv2d(&at("conv2"), &b.conv2)?;
            let norm2 = twin.batch_norm(&at("norm2"), &b.norm2, 2);
            let projection = match &b.projection {
                Some(p) => format!(
                    "nn.Sequential({}, {})",
                    twin.conv2d(&at("projection.0"), &p.conv)?,
                    twin.batch_norm(&at("projection.1"), &p.norm, 2)
                ),
                None => "None".into(),
            };
            blocks.push(format!(
                "            Block({conv1}, {norm1}, {conv2}, {norm2}, {projection}, {}, {}),",
                b.stride, b.pad
            ));
        }
        let head = twin.linear("head", &self.head);
        let source = format!(
            r#"class Block(nn.Module):
    """A basic residual block: two 3x3 convolutions with batch norm, and a shortcut that
    is a projection, or the input subsampled by `stride` with `pad` zero channels added."""

    def __init__(self, conv1, norm1, conv2, norm2, projection, stride, pad):
        super().__init__()
        self.conv1, self.norm1, self.conv2, self.norm2 = conv1, norm1, conv2, norm2
        self.projection = projection
        self.stride, self.pad = stride, pad

    def forward(self, x):
        y = torch.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        if self.projection is not None:
            s = self.projection(x)
        else:
            s = x[:, :, :: self.stride, :: self.stride]
            if self.pad:
                s = nn.functional.pad(s, (0, 0, 0, 0, 0, self.pad))
        return torch.relu(y + s)


class Model(nn.Module):
    """A kiln ResNet, exported by `kiln export`."""

    def __init__(self):
        super().__init__()
        self.stem = {stem}
        self.stem_norm = {stem_norm}
        self.blocks = nn.Sequential(
{}
        )
        self.head = {head}

    def forward(self, x):
        x = torch.relu(self.stem_norm(self.stem(x)))
        x = self.blocks(x)
        return self.head(x.mean(dim=(2, 3)))
"#,
            blocks.join("\n")
        );
        Ok(Twin {
            tensors: twin.tensors,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(depth: usize, shortcut: Shortcut) -> ResNetConfig {
        ResNetConfig {
            depth,
            width: 16,
            shortcut,
        }
    }

    #[test]
    fn resnet_20_has_the_papers_size() {
        let device = Device::flex();
        let m = config(20, Shortcut::Identity)
            .init([3, 32, 32], 10, &device)
            .unwrap();
        // The paper's 0.27M: 269,722 trainable parameters, as PyTorch counts them for the
        // usual CIFAR ResNet-20; burn also counts batch norm's running mean and variance
        // (2 x 688 channels).
        assert_eq!(m.num_params(), 269_722 + 2 * 688);
        let y = m.forward(Tensor::zeros([2, 3, 32, 32], &device));
        assert_eq!(y.dims(), [2, 10]);
    }

    #[test]
    fn odd_sizes_and_projections_run() {
        let device = Device::flex();
        let m = config(8, Shortcut::Projection)
            .init([1, 15, 13], 4, &device)
            .unwrap();
        assert_eq!(
            m.forward(Tensor::ones([3, 1, 15, 13], &device)).dims(),
            [3, 4]
        );
        let m = config(8, Shortcut::Identity)
            .init([1, 15, 13], 4, &device)
            .unwrap();
        assert_eq!(
            m.forward(Tensor::ones([3, 1, 15, 13], &device)).dims(),
            [3, 4]
        );
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// A training step through kiln's kernels (the fused batch norm and its ReLU included)
    /// against burn's own operations: the logits, every parameter's gradient and every
    /// running statistic agree, with identity and projection shortcuts, on odd sizes.
    #[test]
    fn kernels_and_burns_operations_train_alike() {
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        for (seed, shortcut) in [(1, Shortcut::Identity), (2, Shortcut::Projection)] {
            device.seed(seed);
            let images = Tensor::<4>::random(
                [5, 2, 11, 9],
                burn::tensor::Distribution::Normal(0.5, 1.0),
                &device,
            );
            let weights = Tensor::<2>::random(
                [5, 3],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let build = || config(8, shortcut).init([2, 11, 9], 3, &device).unwrap();
            let first = build();
            let run = || {
                // A model of its own each time (clones share their running statistics), with
                // the same weights.
                let m = build().load_record(first.clone().into_record());
                let logits = m.forward(images.clone());
                let grads = (logits.clone() * weights.clone()).sum().backward();
                // The running statistics have none: an empty gradient stands for that.
                let grads = crate::testing::gradients(&GradientsParams::from_grads(grads, &m), &m)
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>();
                let mut running = Vec::new();
                for norm in std::iter::once(&m.stem_norm).chain(m.blocks.iter().flat_map(|b| {
                    [&b.norm1, &b.norm2]
                        .into_iter()
                        .chain(b.projection.as_ref().map(|p| &p.norm))
                })) {
                    running.push(values(norm.running_mean.value_sync()));
                    running.push(values(norm.running_var.value_sync()));
                }
                (values(logits), grads, running)
            };
            let fused = run();
            let composed = kiln_kernels::without_kernels(run);
            let what = format!("{shortcut:?}");
            let groups = [
                ("logits", vec![fused.0], vec![composed.0]),
                ("gradient", fused.1, composed.1),
                ("running statistic", fused.2, composed.2),
            ];
            for (name, a, b) in groups {
                assert_eq!(a.len(), b.len(), "{what}: {name}s");
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    let diff = x
                        .iter()
                        .zip(y)
                        .map(|(p, q)| (p - q).abs())
                        .fold(0.0, f32::max);
                    assert!(diff < 1e-4, "{what}: {name} {i} differs by {diff}");
                }
            }
        }
    }

    #[test]
    fn depth_must_be_six_n_plus_two() {
        assert_eq!(
            config(21, Shortcut::Identity).validate().unwrap_err().field,
            "depth"
        );
        assert!(config(2, Shortcut::Identity).validate().is_err());
        assert!(config(110, Shortcut::Identity).validate().is_ok());
    }
}
