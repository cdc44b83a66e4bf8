//! A DCGAN-style generator and discriminator (Radford et al., 2016) for small images: strided
//! convolutions down, batch norm, LeakyReLU in the discriminator, ReLU and a final tanh in
//! the generator. The generator grows its maps by nearest-neighbour upsampling and a 3x3
//! convolution rather than a transposed convolution (Odena et al., 2016, "Deconvolution and
//! checkerboard artifacts"): the same shapes without checkerboard patterns, and every
//! convolution runs through kiln's fused conv2d kernel.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Invalid, kernels};

/// `kind = "gan"`: sizes of both networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    /// Size of the noise vector the generator starts from.
    #[serde(default = "default_latent")]
    pub latent: usize,
    /// Feature maps of the widest convolution at full resolution; the maps at a quarter of
    /// the resolution have twice as many (DCGAN's layout).
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Batch norm in both networks (DCGAN's choice; not on the discriminator's first layer
    /// nor the generator's last).
    #[serde(default = "yes")]
    pub batch_norm: bool,
}

fn default_latent() -> usize {
    64
}
fn default_channels() -> usize {
    32
}
fn yes() -> bool {
    true
}

impl GanConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.latent == 0 {
            return Err(Invalid::new("latent", "must be at least 1"));
        }
        if self.channels == 0 {
            return Err(Invalid::new("channels", "must be at least 1"));
        }
        Ok(())
    }

    /// Both networks for `[channels, height, width]` images; the sides must be multiples of
    /// 4, since each network halves (or doubles) them twice.
    pub fn init(&self, image: [usize; 3], device: &Device) -> Result<Gan, Invalid> {
        self.validate()?;
        let [c, h, w] = image;
        if !h.is_multiple_of(4) || !w.is_multiple_of(4) || h == 0 || w == 0 {
            return Err(Invalid::new(
                "kind",
                format!(
                    "a gan needs images whose height and width are multiples of 4, got {h}x{w}"
                ),
            ));
        }
        let wide = self.channels * 2;
        let conv = |from: usize, to: usize, stride: usize| {
            Conv2dConfig::new([from, to], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let norm = |n: usize| {
            self.batch_norm
                .then(|| BatchNormConfig::new(n).init(device))
        };
        let generator = Generator {
            project: LinearConfig::new(self.latent, wide * (h / 4) * (w / 4)).init(device),
            project_norm: norm(wide),
            up1: conv(wide, self.channels, 1),
            up1_norm: norm(self.channels),
            up2: conv(self.channels, c, 1),
            height: h / 4,
            width: w / 4,
        };
        let discriminator = Discriminator {
            down1: conv(c, self.channels, 2),
            down2: conv(self.channels, wide, 2),
            down2_norm: norm(wide),
            head: LinearConfig::new(wide * (h / 4) * (w / 4), 1).init(device),
        };
        Ok(Gan {
            generator,
            discriminator,
        })
    }
}

/// Noise `[batch, latent]` to images `[batch, channels, height, width]` in [-1, 1].
#[derive(Module, Debug)]
pub struct Generator {
    project: Linear,
    project_norm: Option<BatchNorm>,
    up1: Conv2d,
    up1_norm: Option<BatchNorm>,
    up2: Conv2d,
    /// Height and width of the projected noise: a quarter of the image's.
    height: usize,
    width: usize,
}

impl Generator {
    pub fn latent(&self) -> usize {
        self.project.weight.dims()[0]
    }

    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [b, _] = z.dims();
        let (c, h, w) = (self.up1.weight.dims()[1], self.height, self.width);
        let mut x = kernels::linear(&self.project, z).reshape([b, c, h, w]);
        if let Some(n) = &self.project_norm {
            x = kernels::batch_norm(n, x, false);
        }
        let mut x = kernels::conv2d(&self.up1, upsample2(relu(x)));
        if let Some(n) = &self.up1_norm {
            x = kernels::batch_norm(n, x, false);
        }
        tanh(kernels::conv2d(&self.up2, upsample2(relu(x))))
    }

    /// `count` noise vectors from the device's generator (seed it for a fixed draw).
    pub fn noise(&self, count: usize, device: &Device) -> Tensor<2> {
        Tensor::random(
            [count, self.latent()],
            Distribution::Normal(0.0, 1.0),
            device,
        )
    }
}

/// Images to one logit each, `[batch]`: real (positive) or generated.
#[derive(Module, Debug)]
pub struct Discriminator {
    down1: Conv2d,
    down2: Conv2d,
    down2_norm: Option<BatchNorm>,
    head: Linear,
}

impl Discriminator {
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        let x = leaky_relu(kernels::conv2d(&self.down1, images), 0.2);
        let mut x = kernels::conv2d(&self.down2, x);
        if let Some(n) = &self.down2_norm {
            x = kernels::batch_norm(n, x, false);
        }
        let x = leaky_relu(x, 0.2).flatten::<2>(1, 3);
        let [b, _] = x.dims();
        kernels::linear(&self.head, x).reshape([b])
    }
}

/// Both networks, as one module so that a checkpoint holds them together; each is trained by
/// its own optimizer.
#[derive(Module, Debug)]
pub struct Gan {
    pub generator: Generator,
    pub discriminator: Discriminator,
}

/// Nearest-neighbour upsampling by 2 in both spatial dimensions, from reshapes and a
/// broadcast, whose backward pass every backend has.
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_image_and_generated_pixels_lie_in_the_tanh_range() {
        let device = Device::flex();
        device.seed(1);
        let gan = GanConfig {
            latent: 8,
            channels: 4,
            batch_norm: true,
        }
        .init([1, 28, 20], &device)
        .unwrap();
        let z = gan.generator.noise(3, &device);
        let images = gan.generator.forward(z);
        assert_eq!(images.dims(), [3, 1, 28, 20]);
        let values = images.clone().into_data().try_into_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(gan.discriminator.forward(images).dims(), [3]);
    }

    #[test]
    fn upsampling_repeats_each_pixel_in_a_square() {
        let device = Device::flex();
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &device);
        let up = upsample2(x).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(
            up,
            vec![
                1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0
            ]
        );
    }

    #[test]
    fn image_sides_that_are_not_multiples_of_four_are_refused() {
        let e = GanConfig {
            latent: 8,
            channels: 4,
            batch_norm: false,
        }
        .init([1, 30, 28], &Device::flex())
        .unwrap_err();
        assert!(e.message.contains("30x28"), "{e:?}");
    }
}
