//! A model of one's own, trained by kiln's usual commands: this crate defines a residual MLP
//! in its own code, registers it as a task plug-in, and its binary is the `kiln` command with
//! the model added:
//!
//! ```sh
//! cargo run --release -p kiln-custom-model -- run examples/custom-model/residual_mlp_mnist.toml
//! ```
//!
//! Everything else (config checking with file:line, the run folder, metrics, charts,
//! checkpoints, sweeps, `compare` and `report`) is kiln's.

mod model;

use std::process::ExitCode;

use burn::tensor::Device;
use kiln_models::{InputShape, Invalid, ModelConfig};
use kiln_runner::plugin::{
    DatasetKind, Experiment, LoadedExperiment, Prepared, PreparedTask, TaskKind, TaskSpec,
    fits_in_memory, main_with, prepared_classifier,
};
use kiln_train::{CLASSIFICATION_METRICS, Metric};

use crate::model::ResidualMlpConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Classification of images by a [`model::ResidualMlp`]: `[model] kind = "custom"`,
/// `name = "residual_mlp"`, its settings under `options`.
struct ResidualMlpClassification;

impl ResidualMlpClassification {
    fn config(exp: &Experiment) -> Result<ResidualMlpConfig, Invalid> {
        let ModelConfig::Custom(custom) = &exp.model else {
            return Err(Invalid::new("model.kind", "expected kind = \"custom\""));
        };
        let config: ResidualMlpConfig = custom.options_as().map_err(|e| e.within("model"))?;
        config.validate().map_err(|e| e.within("model.options"))?;
        Ok(config)
    }
}

impl TaskSpec for ResidualMlpClassification {
    fn name(&self) -> &'static str {
        "classification"
    }
    fn learns(&self) -> &'static [(DatasetKind, &'static [&'static str])] {
        &[(DatasetKind::Mnist, &["residual_mlp"])]
    }
    fn metrics(&self) -> &'static [Metric] {
        CLASSIFICATION_METRICS
    }
    fn check(&self, exp: &Experiment) -> Result<(), Invalid> {
        Self::config(exp).map(|_| ())
    }
}

impl TaskKind for ResidualMlpClassification {
    fn prepare(&self, loaded: &LoadedExperiment) -> anyhow::Result<Box<dyn PreparedTask>> {
        let exp = &loaded.experiment;
        let config =
            Self::config(exp).map_err(|e| anyhow::anyhow!("{}: {e}", loaded.file.display()))?;
        let prepared = Prepared::load(exp)?;
        let InputShape::Image(shape) = prepared.input_shape() else {
            anyhow::bail!("{}: residual_mlp reads images", loaded.file.display());
        };
        // Seeded on flex, as kiln's own models are, so a seed gives the same weights on
        // every backend.
        let device = Device::flex();
        device.seed(exp.seed);
        let model = config.init(
            shape.iter().product(),
            prepared.class_names().len(),
            &device,
        );
        fits_in_memory(loaded, &model)?;
        kiln_models::portable::materialize(&model);
        Ok(prepared_classifier(prepared, model))
    }
}

fn main() -> ExitCode {
    main_with(&[&ResidualMlpClassification])
}
