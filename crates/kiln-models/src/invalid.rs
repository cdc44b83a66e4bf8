/// A config value out of its range: `field` is a dotted path relative to the config checked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same problem seen from an enclosing config, e.g. `blocks[1]` + `kernel`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// Sizes (units, layers, dimensions) must be at least 1; the first that is not is named.
pub(crate) fn check_positive(sizes: &[(&str, usize)]) -> Result<(), Invalid> {
    match sizes.iter().find(|(_, v)| *v == 0) {
        Some((field, _)) => Err(Invalid::new(*field, "must be at least 1")),
        None => Ok(()),
    }
}

/// Dropout probabilities must be in `[0, 1)`: 1 would zero every activation.
pub(crate) fn check_dropout(field: &str, p: f64) -> Result<(), Invalid> {
    if p.is_finite() && (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Invalid::new(field, format!("must be in [0, 1), got {p}")))
    }
}
