//! A GAN on an IDX image set (MNIST, or any folder laid out like it): a grid of samples from
//! the same noise after every epoch (`samples/epoch_NNN.png`), both networks' losses, and
//! the digit FID against the held-out images when `generation.classifier` names a finished
//! classifier run. The test split is scored like validation, against the test images.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use kiln_data::{ImageBatcher, Mnist, Normalization};
use kiln_models::{Classifier, Gan, InputShape, Invalid, ModelConfig};
use kiln_train::gan::{Adversarial, FidScorer, evaluate_gan, fixed_noise};
use kiln_train::{StepObserver, TrainError, fit_task};

use super::{
    PreparedTask, RunContext, TaskKind, Trained, fit_and_record, fit_steps, model_error,
    write_metrics_report,
};
use crate::config::schema::{DataConfig, Experiment, LoadedExperiment, NormalizeKind};
use crate::config::spec::{FidSettings, GanTask};
use crate::platform::progress::DownloadBar;
use crate::store::finished::{Finished, GenerateArgs};
use crate::store::manifest::DataInfo;
use crate::store::observer::RunObserver;
use crate::store::run_dir::RunDir;
use crate::tasks::datasets;

/// Images in each per-epoch grid: 8 rows of 8.
const GRID: usize = 8;
/// Seeds the validation noise apart from the run's other streams.
const NOISE_SEED: u64 = 0x6a4e_0001;

impl TaskKind for GanTask {
    fn generate(&self, run: &Finished, args: &GenerateArgs) -> anyhow::Result<String> {
        let ModelConfig::Gan(config) = &run.experiment.model else {
            return Err(run.not_for("generate", "a gan run"));
        };
        let manifest = crate::store::manifest::Manifest::read(&run.run.manifest())?;
        let Some(image) = manifest.data.image else {
            anyhow::bail!(
                "{}: the manifest does not give the images' size",
                run.run.manifest().display()
            );
        };
        let device = Device::flex();
        let gan = run.load(config.init(image, &device)?)?;
        let noise = fixed_noise(GRID * GRID, gan.generator.latent(), args.seed, &device);
        let path = run.run.generated_image(args.seed);
        draw_grid(&path, &gan, noise, (image[1], image[2]))?;
        Ok(format!("{} samples: {}", GRID * GRID, path.display()))
    }
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let exp = &loaded.experiment;
        let ModelConfig::Gan(config) = &exp.model else {
            return Err(model_error(
                loaded,
                Invalid::new("kind", "this task trains a gan"),
            ));
        };
        let DataConfig::Mnist(data) = &exp.data else {
            anyhow::bail!("{}: a gan learns from IDX images", loaded.file.display());
        };
        let settings: FidSettings = exp.generation_as()?;
        let (mnist, source) =
            datasets::load_mnist(data, exp.datasets.as_deref(), &DownloadBar::default())?;
        let (train_idx, val_idx) = data.split().indices(mnist.train.len(), exp.seed);
        if train_idx.is_empty() {
            anyhow::bail!("{source}: no training images left after the validation split");
        }
        let device = Device::flex();
        device.seed(exp.seed);
        let image = [1, mnist.train.rows, mnist.train.cols];
        let model = config
            .init(image, &device)
            .map_err(|e| model_error(loaded, e))?;
        super::fits_in_memory(loaded, &model)?;
        kiln_models::portable::materialize(&model);
        let classifier = match &settings.classifier {
            None => None,
            Some(dir) => Some(scoring_classifier(loaded, dir, &mnist, &train_idx)?),
        };
        Ok(Box::new(Ready {
            mnist,
            source,
            train_idx,
            val_idx,
            model,
            classifier,
            fid_samples: settings.fid_samples,
        }))
    }
}

/// A finished classifier run's best model, with the affine map from pixels in `[0, 1]` to
/// the inputs it was trained on.
fn scoring_classifier(
    loaded: &LoadedExperiment,
    dir: &Path,
    mnist: &Mnist,
    train_idx: &[usize],
) -> anyhow::Result<(Classifier, (f32, f32))> {
    let key = || format!("{}: `generation.classifier`", loaded.file.display());
    let run = newest_completed(dir).unwrap_or_else(|| RunDir::open(dir));
    let text = std::fs::read_to_string(run.config()).with_context(|| {
        format!(
            "{}: {} is not a run folder (no config.toml)",
            key(),
            dir.display()
        )
    })?;
    let exp = Experiment::from_resolved(&text).with_context(|| {
        format!(
            "{}: {} is not a config this kiln reads",
            key(),
            dir.display()
        )
    })?;
    if !matches!(exp.model, ModelConfig::Mlp(_) | ModelConfig::Cnn(_)) {
        anyhow::bail!(
            "{}: {} trained a {} model; the FID needs an image classifier (mlp or cnn)",
            key(),
            dir.display(),
            exp.model.kind()
        );
    }
    let shape = InputShape::Image([1, mnist.train.rows, mnist.train.cols]);
    let model = exp.model.init(shape, 10, &Device::flex()).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}: model.{}: {}",
            key(),
            dir.display(),
            e.field,
            e.message
        )
    })?;
    let checkpoint = run.best_checkpoint();
    tracing::info!("FID classifier: {}", run.root.display());
    let model = model.try_load_file(&checkpoint).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}: {e} (a classifier for {}x{} images with 10 classes was expected)",
            key(),
            checkpoint.display(),
            mnist.train.rows,
            mnist.train.cols
        )
    })?;
    // A checkpoint of other sizes may load into this model and only fail in its first
    // forward pass: try one image now, while nothing is written.
    let (rows, cols) = (mnist.train.rows, mnist.train.cols);
    let probe = crate::backend::quietly(std::panic::AssertUnwindSafe(|| {
        let image = Tensor::<4>::zeros([1, 1, rows, cols], &Device::flex());
        model.image_features(image).map(|f| f.dims()[1])
    }));
    if !matches!(probe, Ok(Some(n)) if n > 0) {
        anyhow::bail!(
            "{}: {} does not read {rows}x{cols} images into features (its checkpoint was trained on images of another size)",
            key(),
            dir.display()
        );
    }
    // The classifier's own normalisation, from this data's training split: for the same
    // MNIST and seed it is the classifier's (0.1307, 0.3081 for the full set).
    let normalize = match &exp.data {
        DataConfig::Mnist(d) => d.normalize,
        other => anyhow::bail!(
            "{}: {} learnt from the {} dataset, not images",
            key(),
            dir.display(),
            other.kind().name()
        ),
    };
    let affine = match normalize {
        NormalizeKind::Scale => (1.0, 0.0),
        NormalizeKind::Standardize => {
            match Normalization::standardize_from(&mnist.train, train_idx) {
                Normalization::Standardize { mean, std } => (1.0 / std, -mean / std),
                // The GAN learns MNIST's grey digits, which have one channel.
                Normalization::Scale | Normalization::Channels { .. } => (1.0, 0.0),
            }
        }
    };
    Ok((model, affine))
}

/// `dir` itself when it is a run folder; else, when it holds run folders (an experiment's
/// folder), the newest of them that completed.
fn newest_completed(dir: &Path) -> Option<RunDir> {
    if RunDir::open(dir).config().exists() {
        return None;
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m =
                crate::store::manifest::Manifest::read(&RunDir::open(&e.path()).manifest()).ok()?;
            (m.status == crate::store::manifest::Status::Completed)
                .then_some((m.started_at, e.path()))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, path)| RunDir::open(&path))
}

struct Ready {
    mnist: Mnist,
    source: String,
    train_idx: Vec<usize>,
    val_idx: Vec<usize>,
    model: Gan,
    classifier: Option<(Classifier, (f32, f32))>,
    fid_samples: usize,
}

impl PreparedTask for Ready {
    fn data(&self) -> DataInfo {
        DataInfo {
            source: self.source.clone(),
            train: self.train_idx.len(),
            validation: self.val_idx.len(),
            test: self.mnist.test.len(),
            image: Some([1, self.mnist.train.rows, self.mnist.train.cols]),
            skipped: 0,
        }
    }

    fn train(self: Box<Self>, ctx: RunContext) -> anyhow::Result<Trained> {
        let Ready {
            mnist,
            train_idx,
            val_idx,
            model,
            classifier,
            fid_samples,
            ..
        } = *self;
        let (exp, run, device) = (ctx.exp, ctx.run, ctx.device);
        let scale = Normalization::Scale;
        let scored = |digits, idx: &[usize]| {
            let idx: Vec<usize> = idx.iter().copied().take(fid_samples).collect();
            ImageBatcher::new(digits, idx, ctx.eval_size, scale)
        };
        let classifier = classifier.map(|(c, affine)| (c.fork(device), affine));
        let scorer = |real: &ImageBatcher| {
            classifier
                .as_ref()
                .and_then(|(c, affine)| FidScorer::new(c.clone(), *affine, real, device))
        };
        let validation = scored(&mnist.train, &val_idx);
        let latent = model.generator.latent();
        let noise = fixed_noise(
            validation.len().max(GRID * GRID),
            latent,
            exp.seed ^ NOISE_SEED,
            device,
        );
        let validation_scorer = scorer(&validation);
        if classifier.is_some() && validation_scorer.is_none() {
            anyhow::bail!("the FID needs at least two validation images");
        }
        let mut task = Adversarial::new(
            train_images(&mnist, train_idx, exp),
            (!validation.is_empty()).then_some(validation),
            validation_scorer,
            noise.clone(),
        );
        let (rows, cols) = (mnist.train.rows, mnist.train.cols);
        let grid_noise = noise.clone().slice(0..GRID * GRID);
        let mut observer = RunObserver::<Gan>::new(run, exp.train.epochs, ctx.checkpointing)
            .with_epoch_hook(Box::new(move |epoch, gan: &Gan| {
                write_grid(run, epoch, gan, grid_noise.clone(), (rows, cols))
            }));
        let (outcome, train_seconds) = fit_and_record(run, ctx.manifest, &mut observer, |o| {
            fit_task(model, &exp.train, &mut task, device, exp.seed, o)
        })?;

        let clock = Instant::now();
        let test_data = scored(&mnist.test, &(0..mnist.test.len()).collect::<Vec<_>>());
        let test_scorer = scorer(&test_data);
        let test_noise = fixed_noise(
            test_data.len().max(1),
            latent,
            exp.seed ^ NOISE_SEED ^ 0x7e57,
            device,
        );
        let test = evaluate_gan(
            &outcome.best,
            &test_data,
            test_scorer.as_ref(),
            &test_noise,
            device,
            &mut observer,
        )?;
        ctx.manifest.timings.test_s = Some(clock.elapsed().as_secs_f64());
        write_grid(
            run,
            0,
            &outcome.best,
            noise.slice(0..GRID * GRID),
            (rows, cols),
        )?;
        write_metrics_report(run, &test, outcome.best_epoch, "test", test_data.len())?;
        Ok(Trained::new(
            &outcome,
            observer.epochs,
            test,
            "test",
            train_seconds,
        ))
    }

    fn train_steps(
        self: Box<Self>,
        exp: &Experiment,
        steps: usize,
        device: &Device,
        observer: &mut dyn StepObserver,
    ) -> Result<(), TrainError> {
        let Ready {
            mnist,
            train_idx,
            model,
            ..
        } = *self;
        let noise = fixed_noise(1, model.generator.latent(), exp.seed, device);
        let mut task = Adversarial::new(train_images(&mnist, train_idx, exp), None, None, noise);
        fit_steps(model, &mut task, exp, steps, device, observer)
    }
}

/// The training batches, one builder for a run and for the bench: real images scaled to
/// [-1, 1], as the generator's tanh outputs are.
fn train_images<'a>(mnist: &'a Mnist, train_idx: Vec<usize>, exp: &Experiment) -> ImageBatcher<'a> {
    ImageBatcher::new(
        &mnist.train,
        train_idx,
        exp.train.batch_size,
        Normalization::Scale,
    )
}

/// The generator's images for `noise` as a PNG grid: `samples/epoch_NNN.png` (`epoch` 0 is
/// the best model after training).
fn write_grid(
    run: &RunDir,
    epoch: usize,
    gan: &Gan,
    noise: Tensor<2>,
    side: (usize, usize),
) -> anyhow::Result<()> {
    let path = run.sample_image(epoch);
    draw_grid(&path, gan, noise, side)
}

/// Draws `gan`'s images for `noise` into `path`, through a temporary file renamed into place.
fn draw_grid(path: &Path, gan: &Gan, noise: Tensor<2>, side: (usize, usize)) -> anyhow::Result<()> {
    let images = (gan.generator.forward(noise) + 1.0) * 0.5;
    let pixels = images
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading generated images: {e:?}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = crate::store::run_dir::temporary_image(path);
    let drawn = kiln_report::grid::image_grid(&tmp, &pixels, side, GRID)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
        });
    if drawn.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drawn
}
