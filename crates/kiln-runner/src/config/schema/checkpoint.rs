//! `[checkpoint]`: how often a run saves its training state, so that `run --resume` can go on
//! from it. Not part of what a trial is: two runs that differ only here give the same bits.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSettings {
    /// How often: a period (`"30s"`, `"10m"`, `"1h"`), a number of steps (`"500 steps"`) or
    /// `"never"`. A run also saves one when training ends and when a signal stops it.
    #[serde(default)]
    pub every: Every,
    /// How many of the newest checkpoints are kept.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    2
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            every: Every::default(),
            keep: default_keep(),
        }
    }
}

impl CheckpointSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How often a checkpoint is taken during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Every {
    Period(Duration),
    Steps(usize),
    Never,
}

/// Five minutes: on a 2-core machine a checkpoint of the largest README model costs well
/// under a second, and a crash loses at most five minutes of work.
impl Default for Every {
    fn default() -> Self {
        Every::Period(Duration::from_secs(300))
    }
}

impl TryFrom<String> for Every {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a checkpoint period: expected e.g. \"10m\", \"30s\", \"1h\", \"500 steps\" or \"never\""
            )
        };
        if t == "never" {
            return Ok(Every::Never);
        }
        if let Some(n) = t.strip_suffix("steps").or_else(|| t.strip_suffix("step")) {
            let n: usize = n.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(format!("`{text}`: at least 1 step"));
            }
            return Ok(Every::Steps(n));
        }
        let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
        let seconds = match unit {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let n: f64 = number.trim().parse().map_err(|_| bad())?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("`{text}`: the period must be positive"));
        }
        Ok(Every::Period(Duration::from_secs_f64(n * seconds)))
    }
}

impl From<Every> for String {
    fn from(every: Every) -> String {
        every.to_string()
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Every::Never => write!(f, "never"),
            Every::Steps(n) => write!(f, "{n} steps"),
            Every::Period(d) => {
                let s = d.as_secs_f64();
                if s >= 3600.0 && s % 3600.0 == 0.0 {
                    write!(f, "{}h", s / 3600.0)
                } else if s >= 60.0 && s % 60.0 == 0.0 {
                    write!(f, "{}m", s / 60.0)
                } else {
                    write!(f, "{s}s")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_step_counts_read_and_write_back() {
        for (text, every) in [
            ("10m", Every::Period(Duration::from_secs(600))),
            ("30s", Every::Period(Duration::from_secs(30))),
            ("1.5h", Every::Period(Duration::from_secs(5400))),
            ("500 steps", Every::Steps(500)),
            ("1 step", Every::Steps(1)),
            ("never", Every::Never),
        ] {
            assert_eq!(Every::try_from(text.to_string()), Ok(every), "{text}");
            let back = Every::try_from(String::from(every)).unwrap();
            assert_eq!(back, every);
        }
        for bad in ["", "10", "5x", "0 steps", "-1m", "ten minutes", "0s"] {
            assert!(Every::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
