//! A generative adversarial network as a [`Task`]: two optimizers, alternating steps as in
//! PyTorch's DCGAN example (the discriminator on a real and a generated batch, then the
//! generator through the updated discriminator, with the non-saturating loss), both losses
//! recorded, and the Fréchet distance of a fixed set of generated images to real ones in a
//! classifier's feature space after every epoch.

use burn::optim::GradientsParams;
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::ImageBatcher;
use kiln_models::{Classifier, Gan};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::fid::{Gaussian, frechet_distance};
use crate::fit::{Metric, Observer, Optimizers, SplitMetrics, StepOutcome, Task, TrainError};
use crate::resume::{Carried, CarriedReader};

/// What a GAN reports for a split. `loss` and `accuracy` are the discriminator's (its binary
/// cross-entropy over real and generated images, and how many of them it told apart);
/// `g_loss` is the generator's; `d_real` and `d_fake` are the discriminator's mean
/// probability of "real" on real and on generated images; `fid` is the Fréchet distance
/// (validation only, when a classifier scores it).
pub const GAN_METRICS: &[Metric] = &[
    Metric::lower("loss"),
    Metric::higher("accuracy"),
    Metric::lower("g_loss"),
    Metric::higher("d_real"),
    Metric::lower("d_fake"),
    Metric::lower("fid"),
];

/// Which optimizer steps which network.
pub const GENERATOR: usize = 0;
pub const DISCRIMINATOR: usize = 1;

/// Pixels in `[0, 1]` (as [`kiln_data::Normalization::Scale`] gives them) to the
/// generator's tanh range.
fn to_tanh_range(images: Tensor<4>) -> Tensor<4> {
    images * 2.0 - 1.0
}

/// `n` standard normal vectors of `latent` values from `seed`, drawn on the host (Box-Muller
/// over ChaCha8), so that the validation noise is the same on every backend and does not
/// move the device's random stream.
pub fn fixed_noise(n: usize, latent: usize, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * latent)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [n, latent]), device)
}

/// The digit FID: a trained classifier's penultimate features, the real images' Gaussian
/// in that space, and the affine map from pixels in `[0, 1]` to the classifier's inputs
/// (its training normalisation).
pub struct FidScorer {
    classifier: Classifier,
    affine: (f32, f32),
    real: Gaussian,
}

/// Generated images are scored in batches of this many.
const SCORE_BATCH: usize = 250;

/// `classifier`'s features of images in `[0, 1]` mapped by `(scale, shift)`, row after row,
/// and their dimension.
fn features(
    classifier: &Classifier,
    (scale, shift): (f32, f32),
    images: Tensor<4>,
) -> Option<(Vec<f32>, usize)> {
    let f = classifier.image_features(images * scale + shift)?;
    let dims = f.dims()[1];
    Some((f.into_data().try_into_vec::<f32>().ok()?, dims))
}

impl FidScorer {
    /// Fits the real Gaussian from every image of `real` (pixels in `[0, 1]`). `None` when
    /// the classifier does not read images or there are fewer than two images.
    pub fn new(
        classifier: Classifier,
        affine: (f32, f32),
        real: &ImageBatcher,
        device: &Device,
    ) -> Option<Self> {
        let mut all = Vec::new();
        let mut dims = 0;
        for indices in real.order(None) {
            let (f, d) = features(&classifier, affine, real.batch(&indices, device).images)?;
            all.extend(f);
            dims = d;
        }
        Some(Self {
            real: Gaussian::fit(&all, dims)?,
            classifier,
            affine,
        })
    }

    /// The distance of `generator`'s images for `noise` (as many rows as real images) to
    /// the real images.
    pub fn score(&self, gan: &Gan, noise: &Tensor<2>) -> Option<f64> {
        let mut all = Vec::new();
        let mut dims = 0;
        let n = noise.dims()[0];
        for start in (0..n).step_by(SCORE_BATCH) {
            let z = noise.clone().slice(start..(start + SCORE_BATCH).min(n));
            let images = (gan.generator.forward(z) + 1.0) * 0.5;
            let (f, d) = features(&self.classifier, self.affine, images)?;
            all.extend(f);
            dims = d;
        }
        Some(frechet_distance(&self.real, &Gaussian::fit(&all, dims)?))
    }
}

/// Sums of one epoch's per-batch values, weighted by batch size.
#[derive(Default)]
struct Running {
    g_loss: f64,
    d_real: f64,
    d_fake: f64,
    samples: usize,
}

pub struct Adversarial<'a> {
    pub train: ImageBatcher<'a>,
    pub validation: Option<ImageBatcher<'a>>,
    pub scorer: Option<FidScorer>,
    /// The noise the validation scores and the per-epoch samples are drawn from, the same
    /// every epoch.
    pub noise: Tensor<2>,
    running: Running,
}

impl<'a> Adversarial<'a> {
    pub fn new(
        train: ImageBatcher<'a>,
        validation: Option<ImageBatcher<'a>>,
        scorer: Option<FidScorer>,
        noise: Tensor<2>,
    ) -> Self {
        Self {
            train,
            validation,
            scorer,
            noise,
            running: Running::default(),
        }
    }
}

/// Binary cross-entropy of logits against "real" (label 1) or "generated" (label 0).
fn bce(logits: Tensor<1>, real: bool) -> Tensor<1> {
    let signed = if real { -logits } else { logits };
    softplus(signed, 1.0).mean()
}

/// The discriminator's losses and judgement of one real and one generated batch.
struct Judged {
    loss: Tensor<1>,
    /// The discriminator's logits on the generated batch.
    on_fake: Tensor<1>,
    correct: usize,
    d_real: f64,
    d_fake: f64,
}

fn judge(gan: &Gan, real: Tensor<4>, fake: Tensor<4>) -> Judged {
    let on_real = gan.discriminator.forward(real);
    let on_fake = gan.discriminator.forward(fake);
    let host = |t: &Tensor<1>| {
        t.clone()
            .detach()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    };
    let (r, f) = (host(&on_real), host(&on_fake));
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x as f64).exp());
    let mean = |v: &[f32]| v.iter().map(|&x| sigmoid(x)).sum::<f64>() / v.len().max(1) as f64;
    Judged {
        correct: r.iter().filter(|&&x| x > 0.0).count() + f.iter().filter(|&&x| x < 0.0).count(),
        d_real: mean(&r),
        d_fake: mean(&f),
        loss: bce(on_real, true) + bce(on_fake.clone(), false),
        on_fake,
    }
}

impl Task for Adversarial<'_> {
    type Model = Gan;

    fn metrics(&self) -> &'static [Metric] {
        GAN_METRICS
    }

    fn optimizers(&self) -> usize {
        2
    }

    fn num_batches(&self) -> usize {
        self.train.num_batches()
    }

    fn has_validation(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| !v.is_empty())
    }

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> Vec<Vec<usize>> {
        self.running = Running::default();
        self.train.order(Some(seed))
    }

    fn optimize(
        &mut self,
        mut gan: Gan,
        indices: &[usize],
        device: &Device,
        optimizers: &mut Optimizers,
    ) -> Result<(Gan, StepOutcome), TrainError> {
        let batch = self.train.batch(indices, device);
        let n = batch.len;
        let real = to_tanh_range(batch.images);
        let fake = gan.generator.forward(gan.generator.noise(n, device));

        // The discriminator, on the generated batch detached from the generator.
        let judged = judge(&gan, real, fake.clone().detach());
        let d_loss = judged.loss.clone().into_scalar::<f32>();
        let mut outcome = StepOutcome {
            loss: d_loss,
            samples: n,
            predictions: 2 * n,
            correct: judged.correct,
        };
        if !d_loss.is_finite() {
            return Ok((gan, outcome));
        }
        let mut grads = judged.loss.backward();
        let grads = GradientsParams::from_module(&mut grads, &gan.discriminator);
        gan = optimizers.step(DISCRIMINATOR, gan, grads);

        // The generator, through the updated discriminator: make it say "real".
        let g_loss = bce(gan.discriminator.forward(fake), true);
        let g_value = g_loss.clone().into_scalar::<f32>();
        if !g_value.is_finite() {
            outcome.loss = g_value;
            return Ok((gan, outcome));
        }
        let mut grads = g_loss.backward();
        let grads = GradientsParams::from_module(&mut grads, &gan.generator);
        gan = optimizers.step(GENERATOR, gan, grads);

        let r = &mut self.running;
        r.g_loss += g_value as f64 * n as f64;
        r.d_real += judged.d_real * n as f64;
        r.d_fake += judged.d_fake * n as f64;
        r.samples += n;
        Ok((gan, outcome))
    }

    fn carried(&self) -> Carried {
        let r = &self.running;
        let mut carried = Carried::default();
        for v in [r.g_loss, r.d_real, r.d_fake] {
            carried.push_f64(v);
        }
        carried.words.push(r.samples as u64);
        carried
    }

    fn restore(&mut self, carried: &mut CarriedReader, _device: &Device) -> Result<(), String> {
        self.running = Running {
            g_loss: carried.f64()?,
            d_real: carried.f64()?,
            d_fake: carried.f64()?,
            samples: carried.usize()?,
        };
        Ok(())
    }

    fn train_metrics(&mut self, loss: f64, accuracy: f64) -> SplitMetrics {
        let r = &self.running;
        let n = r.samples.max(1) as f64;
        SplitMetrics {
            loss,
            accuracy,
            macro_f1: None,
            confusion: None,
            extra: vec![
                ("g_loss", r.g_loss / n),
                ("d_real", r.d_real / n),
                ("d_fake", r.d_fake / n),
            ],
        }
    }

    fn validate(
        &mut self,
        gan: &Gan,
        device: &Device,
        observer: &mut dyn Observer<Gan>,
    ) -> Result<SplitMetrics, TrainError> {
        let data = self.validation.as_ref().expect("has_validation checked it");
        evaluate_gan(
            gan,
            data,
            self.scorer.as_ref(),
            &self.noise,
            device,
            observer,
        )
    }
}

/// The discriminator's and generator's losses of a validation-mode `gan` on every real image
/// of `data` against as many generated from `noise` (cycled), and the FID when `scorer` is
/// given.
pub fn evaluate_gan(
    gan: &Gan,
    data: &ImageBatcher,
    scorer: Option<&FidScorer>,
    noise: &Tensor<2>,
    device: &Device,
    observer: &mut dyn Observer<Gan>,
) -> Result<SplitMetrics, TrainError> {
    let order = data.order(None);
    observer.on_evaluation_start(order.len() + usize::from(scorer.is_some()));
    let rows = noise.dims()[0];
    let (mut d_loss, mut g_loss, mut correct, mut seen) = (0.0, 0.0, 0usize, 0usize);
    let (mut d_real, mut d_fake) = (0.0, 0.0);
    for (batch, indices) in order.iter().enumerate() {
        if observer.stop_requested() {
            return Err(TrainError::EvaluationInterrupted {
                batch,
                batches: order.len(),
            });
        }
        let n = indices.len();
        let start = seen % rows;
        let z = noise.clone().slice(start..(start + n).min(rows));
        let fake = gan.generator.forward(z);
        let real = to_tanh_range(data.batch(indices, device).images);
        let k = fake.dims()[0];
        let real = if k < n { real.slice(0..k) } else { real };
        let judged = judge(gan, real, fake);
        // Validation changes nothing, so the discriminator's judgement of the generated
        // batch is also what the generator is scored by.
        let g = bce(judged.on_fake.clone(), true).into_scalar::<f32>();
        d_loss += judged.loss.into_scalar::<f32>() as f64 * k as f64;
        g_loss += g as f64 * k as f64;
        d_real += judged.d_real * k as f64;
        d_fake += judged.d_fake * k as f64;
        correct += judged.correct;
        seen += k;
        observer.on_evaluation_batch();
    }
    let n = seen.max(1) as f64;
    let mut extra = vec![
        ("g_loss", g_loss / n),
        ("d_real", d_real / n),
        ("d_fake", d_fake / n),
    ];
    if let Some(scorer) = scorer {
        if let Some(fid) = scorer.score(gan, noise) {
            extra.push(("fid", fid));
        }
        observer.on_evaluation_batch();
    }
    Ok(SplitMetrics {
        loss: d_loss / n,
        accuracy: correct as f64 / (2.0 * n),
        macro_f1: None,
        confusion: None,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdamParams, LossKind, Monitor, OptimizerConfig, ScheduleConfig, TrainConfig};
    use kiln_data::{Digits, Normalization};
    use kiln_models::GanConfig;
    use kiln_models::portable::float_params;

    struct Quiet;
    impl Observer<Gan> for Quiet {}

    /// Bright squares on a dark ground, 8x8, in two positions.
    fn squares(n: usize) -> Digits {
        let mut images = vec![0u8; n * 64];
        for i in 0..n {
            let at = if i % 2 == 0 { 1 } else { 4 };
            for y in at..at + 3 {
                for x in at..at + 3 {
                    images[i * 64 + y * 8 + x] = 250;
                }
            }
        }
        Digits {
            images,
            labels: vec![0; n],
            channels: 1,
            rows: 8,
            cols: 8,
        }
    }

    fn config(epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: 16,
            learning_rate: 2e-3,
            optimizer: OptimizerConfig::Adam(AdamParams {
                beta1: 0.5,
                ..AdamParams::default()
            }),
            weight_decay: 0.0,
            schedule: ScheduleConfig::Constant,
            warmup_epochs: 0.0,
            loss: LossKind::CrossEntropy,
            grad_clip: None,
            monitor: Monitor::val("loss"),
            early_stopping: None,
            eval_batch_size: 32,
            teacher_forcing: None,
            teacher_forcing_final: None,
        }
    }

    #[test]
    fn both_networks_learn_and_every_gan_metric_is_reported() {
        let device = Device::flex();
        device.seed(3);
        let digits = squares(96);
        let gan = GanConfig {
            latent: 4,
            channels: 4,
            batch_norm: true,
        }
        .init([1, 8, 8], &device)
        .unwrap();
        let (g0, d0) = (
            float_params(&gan.generator),
            float_params(&gan.discriminator),
        );
        let batcher =
            |idx: Vec<usize>, size| ImageBatcher::new(&digits, idx, size, Normalization::Scale);
        let noise = fixed_noise(32, 4, 9, &device);
        let mut task = Adversarial::new(
            batcher((0..64).collect(), 16),
            Some(batcher((64..96).collect(), 32)),
            None,
            noise,
        );
        let outcome = crate::fit_task(gan, &config(6), &mut task, &device, 1, &mut Quiet).unwrap();
        let (g1, d1) = (
            float_params(&outcome.best.generator),
            float_params(&outcome.best.discriminator),
        );
        assert_ne!(g0, g1, "the generator never stepped");
        assert_ne!(d0, d1, "the discriminator never stepped");
        let last = outcome.history.last().unwrap();
        for name in ["g_loss", "d_real", "d_fake"] {
            assert!(last.train.get(name).is_some_and(f64::is_finite), "{name}");
            let val = last.validation.as_ref().unwrap().get(name);
            assert!(val.is_some_and(f64::is_finite), "val {name}");
        }
        // No scorer, no FID; a discriminator that tells squares from noise (6 epochs: other
        // tests draw from flex's one generator meanwhile, so the run is not the same each time).
        assert!(last.validation.as_ref().unwrap().get("fid").is_none());
        assert!(last.train.accuracy > 0.5, "{}", last.train.accuracy);
    }

    #[test]
    fn fixed_noise_is_standard_normal_and_repeatable() {
        let device = Device::flex();
        let v = fixed_noise(100, 50, 4, &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        let again = fixed_noise(100, 50, 4, &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(v, again);
    }
}
