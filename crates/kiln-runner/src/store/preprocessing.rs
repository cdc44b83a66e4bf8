//! `preprocessing.json`: what a classifier run learnt about its inputs besides its weights,
//! so that `kiln predict` prepares new inputs exactly as the training data were, never from
//! the new data: the image size and normalisation statistics (which come from the training
//! split) and the class names. A text run's tokenizer, length and truncation are in its
//! config.toml and its vocabulary in vocab.txt.

use anyhow::Context;
use kiln_data::Normalization;
use kiln_data::download::write_atomically;
use serde::{Deserialize, Serialize};

use crate::store::run_dir::RunDir;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "lowercase")]
pub enum Preprocessing {
    Image {
        /// `[channels, height, width]`.
        shape: [usize; 3],
        normalization: Normalize,
        classes: Vec<String>,
        /// A regression's value columns and their training statistics (then no classes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<kiln_data::table::Target>,
    },
    Text {
        classes: Vec<String>,
    },
    /// A table's columns, fill values, statistics and category levels, learnt from the
    /// training rows.
    Table {
        codec: kiln_data::table::TableCodec,
        classes: Vec<String>,
    },
}

/// What a model's outputs mean.
pub enum Outputs<'a> {
    Classes(&'a [String]),
    /// Standardised values: `output * std + mean` is in the data's units.
    Values {
        columns: &'a [String],
        mean: &'a [f64],
        std: &'a [f64],
    },
}

impl Outputs<'_> {
    /// How many numbers the model gives per input.
    pub fn width(&self) -> usize {
        match self {
            Outputs::Classes(c) => c.len(),
            Outputs::Values { columns, .. } => columns.len(),
        }
    }
}

/// [`Normalization`] as the record writes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Normalize {
    /// `x / 255`.
    Scale,
    /// `(x / 255 - mean) / std`, the training split's.
    Standardize { mean: f32, std: f32 },
    /// The same per colour channel (red, green, blue).
    Channels { mean: [f32; 3], std: [f32; 3] },
}

impl From<Normalization> for Normalize {
    fn from(n: Normalization) -> Self {
        match n {
            Normalization::Scale => Normalize::Scale,
            Normalization::Standardize { mean, std } => Normalize::Standardize { mean, std },
            Normalization::Channels { mean, std } => Normalize::Channels { mean, std },
        }
    }
}

impl From<Normalize> for Normalization {
    fn from(n: Normalize) -> Self {
        match n {
            Normalize::Scale => Normalization::Scale,
            Normalize::Standardize { mean, std } => Normalization::Standardize { mean, std },
            Normalize::Channels { mean, std } => Normalization::Channels { mean, std },
        }
    }
}

impl Preprocessing {
    pub fn classes(&self) -> &[String] {
        match self {
            Preprocessing::Image { classes, .. }
            | Preprocessing::Text { classes }
            | Preprocessing::Table { classes, .. } => classes,
        }
    }

    /// What the model's outputs are: class names, or a regression's value columns with the
    /// scale that brings them back to the data's units.
    pub fn outputs(&self) -> Outputs<'_> {
        use kiln_data::table::Target;
        let target = match self {
            Preprocessing::Image {
                target: Some(t), ..
            } => Some(t),
            Preprocessing::Table { codec, .. } => Some(&codec.target),
            _ => None,
        };
        match target {
            Some(Target::Values { columns, mean, std }) => Outputs::Values { columns, mean, std },
            Some(Target::Classes { names, .. }) => Outputs::Classes(names),
            None => Outputs::Classes(self.classes()),
        }
    }

    pub fn write(&self, run: &RunDir) -> anyhow::Result<()> {
        let path = run.preprocessing();
        write_atomically(&path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(run: &RunDir) -> anyhow::Result<Self> {
        let path = run.preprocessing();
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{}: the run has no preprocessing record (runs trained before `kiln predict` \
                 existed lack it; train it again)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a kiln preprocessing record", path.display()))
    }
}
